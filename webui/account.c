/* account.c - the admin account, password hashing, API tokens and their audit lines. */
#include "account.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

_Static_assert(ACCOUNT_NAME_MAX == STORE_USER_NAME_MAX + 1, "user and token names");

#define ACCOUNT_GENERATED_LEN	 20
#define ACCOUNT_AUDIT_DETAIL_MAX 256
#define ACCOUNT_SHOWN_USER_MAX	 64 /* bytes of a typed user name an audit line quotes */
#define ACCOUNT_FILE_MODE	 0600

/* Letters and digits without look-alikes (0/O, 1/l/I), so a person can copy it by hand. */
static const char account_alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

static void account_generate(char *out, size_t len)
{
	size_t n = sizeof(account_alphabet) - 1;

	for (size_t i = 0; i + 1 < len; i++)
		out[i] = account_alphabet[randombytes_uniform((uint32_t)n)];
	out[len - 1] = '\0';
}

static int account_hash(const char *password, char hash[STORE_PWHASH_MAX])
{
	_Static_assert(STORE_PWHASH_MAX == crypto_pwhash_STRBYTES, "hash string size");
	if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return -ENOMEM; /* libsodium's only failure here: it could not get the memory */
	return 0;
}

/* Reads the first line of path into buf, without its line end. */
static int account_read_file(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL) {
		int e = errno;

		snprintf(err, errlen, "cannot read the admin password file `%s': %s", path,
			 strerror(e));
		return -e;
	}
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return 0;
}

/* Where the generated first password is kept: beside the database at db_path. */
static void account_initial_path(const char *db_path, char *file, size_t filelen)
{
	const char *slash = strrchr(db_path, '/');

	if (slash == NULL)
		snprintf(file, filelen, "%s", ACCOUNT_INITIAL_FILE);
	else
		snprintf(file, filelen, "%.*s/%s", (int)(slash - db_path), db_path,
			 ACCOUNT_INITIAL_FILE);
}

/*
 * Removes the first password's file once that password is no longer the
 * admin's: a copy of a dead password only misleads, and a live one left
 * lying around is a gift. Says so in the log when there was one.
 */
static void account_initial_remove(const char *db_path)
{
	char file[PATH_MAX];

	if (db_path == NULL || db_path[0] == '\0')
		return;
	account_initial_path(db_path, file, sizeof(file));
	if (unlink(file) == 0)
		log_info("web UI: the first password was changed; removed %s", file);
	else if (errno != ENOENT)
		log_warn("web UI: cannot remove %s", file);
}

/* Writes the generated password where only root can read it. */
static int account_write_initial(const char *db_path, const char *password, char *file,
				 size_t filelen, char *err, size_t errlen)
{
	int fd;

	account_initial_path(db_path, file, filelen);
	unlink(file);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, ACCOUNT_FILE_MODE);
	if (fd < 0 || fchmod(fd, ACCOUNT_FILE_MODE) < 0 ||
	    dprintf(fd, "%s\n", password) != (int)strlen(password) + 1) {
		int e = errno;

		snprintf(err, errlen, "cannot write `%s': %s", file, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

int account_init(struct store *st, const char *db_path, const char *password_file, char *err,
		 size_t errlen)
{
	struct store_user u = {.must_change = true};
	char password[ACCOUNT_PASSWORD_MAX + 2], file[PATH_MAX];
	const char *problem;
	int ret;

	ret = store_user_get(st, ACCOUNT_ADMIN, &u);
	if (ret == 0) {
		if (password_file != NULL)
			log_info("web UI: the admin account exists; %s is not used", password_file);
		if (!u.must_change)
			account_initial_remove(db_path);
		sodium_memzero(&u, sizeof(u));
		return 0;
	}
	if (ret != -ENOENT) {
		snprintf(err, errlen, "%s", store_error(st));
		return ret;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		return -EIO;
	}
	if (password_file != NULL) {
		ret = account_read_file(password_file, password, sizeof(password), err, errlen);
		if (ret < 0)
			return ret;
		problem = account_password_problem(password);
		if (problem != NULL) {
			snprintf(err, errlen, "%s: %s", password_file, problem);
			sodium_memzero(password, sizeof(password));
			return -EINVAL;
		}
	} else {
		account_generate(password, ACCOUNT_GENERATED_LEN + 1);
		ret = account_write_initial(db_path, password, file, sizeof(file), err, errlen);
		if (ret < 0) {
			sodium_memzero(password, sizeof(password));
			return ret;
		}
	}
	snprintf(u.name, sizeof(u.name), "%s", ACCOUNT_ADMIN);
	u.must_change = true;
	ret = account_hash(password, u.password_hash);
	sodium_memzero(password, sizeof(password));
	if (ret == 0)
		ret = store_user_add(st, &u, "droverd");
	if (ret < 0) {
		snprintf(err, errlen, "cannot create the admin account: %s",
			 ret == -ENOMEM ? "out of memory" : store_error(st));
		return ret;
	}
	if (password_file != NULL)
		log_info("web UI: admin account created with the password from %s", password_file);
	else
		log_info("web UI: admin account created; its first password is in %s", file);
	return 0;
}

bool account_lookup(struct store *st, const char *user, struct account_user *out, char *hash,
		    size_t hash_len)
{
	struct store_user u;

	hash[0] = '\0';
	if (store_user_get(st, user, &u) < 0)
		return false;
	snprintf(hash, hash_len, "%s", u.password_hash);
	snprintf(out->name, sizeof(out->name), "%s", u.name);
	out->must_change = u.must_change;
	sodium_memzero(&u, sizeof(u));
	return true;
}

const char *account_password_problem(const char *password)
{
	size_t len = strlen(password);

	if (len < ACCOUNT_PASSWORD_MIN)
		return "password: must be at least 10 characters";
	if (len > ACCOUNT_PASSWORD_MAX)
		return "password: must be at most 256 characters";
	return NULL;
}

int account_store_password(struct store *st, const char *user, const char *hash, const char *actor,
			   char *err, size_t errlen)
{
	char copy[STORE_PWHASH_MAX];
	int ret;

	if (strlen(hash) >= sizeof(copy)) {
		snprintf(err, errlen, "password: the hash does not fit");
		return -EINVAL;
	}
	snprintf(copy, sizeof(copy), "%s", hash);
	ret = store_user_set_password(st, user, copy, false, actor);
	if (ret < 0) {
		snprintf(err, errlen, "%s", store_error(st));
		return ret;
	}
	if (strcmp(user, ACCOUNT_ADMIN) == 0)
		account_initial_remove(store_path(st));
	return 0;
}

static void account_token_hash(const char *token, uint8_t hash[STORE_TOKEN_HASH])
{
	crypto_generichash(hash, STORE_TOKEN_HASH, (const unsigned char *)token, strlen(token),
			   NULL, 0);
}

int account_token_create(struct store *st, const char *user, const char *name, int64_t expires_at,
			 const char *actor, char token[ACCOUNT_TOKEN_TEXT], int64_t *id, char *err,
			 size_t errlen)
{
	unsigned char raw[32];
	uint8_t hash[STORE_TOKEN_HASH];
	int ret;

	randombytes_buf(raw, sizeof(raw));
	memcpy(token, ACCOUNT_TOKEN_PREFIX, 4);
	sodium_bin2hex(token + 4, ACCOUNT_TOKEN_TEXT - 4, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	account_token_hash(token, hash);
	ret = store_token_add(st, user, name, hash, expires_at, actor, id);
	if (ret < 0)
		snprintf(err, errlen, "%s", store_error(st));
	return ret;
}

/* The people's view of a stored token. */
static void account_token_copy(const struct store_token *from, struct account_token *to)
{
	to->id = from->id;
	snprintf(to->user, sizeof(to->user), "%s", from->user);
	snprintf(to->name, sizeof(to->name), "%s", from->name);
	to->created_at = from->created_at;
	to->expires_at = from->expires_at;
}

int account_token_check(struct store *st, const char *token, int64_t now, struct account_token *out)
{
	uint8_t hash[STORE_TOKEN_HASH];
	struct store_token t;

	if (strlen(token) != ACCOUNT_TOKEN_TEXT - 1 || strncmp(token, ACCOUNT_TOKEN_PREFIX, 4) != 0)
		return -ENOENT;
	account_token_hash(token, hash);
	if (store_token_find(st, hash, &t) < 0)
		return -ENOENT;
	account_token_copy(&t, out);
	if (t.expires_at != 0 && t.expires_at <= now)
		return -EKEYEXPIRED;
	return 0;
}

int account_token_list(struct store *st, struct account_token **out, size_t *count, char *err,
		       size_t errlen)
{
	struct store_token *stored = NULL;
	struct account_token *list;
	size_t n = 0;
	int ret;

	ret = store_token_list(st, &stored, &n);
	if (ret < 0) {
		snprintf(err, errlen, "%s", store_error(st));
		return ret;
	}
	/* One more than asked, so that no tokens is not mistaken for out of memory. */
	list = calloc(n + 1, sizeof(*list));
	if (list == NULL) {
		free(stored);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		account_token_copy(&stored[i], &list[i]);
	free(stored);
	*out = list;
	*count = n;
	return 0;
}

int account_token_delete(struct store *st, int64_t id, const char *actor, char *err, size_t errlen)
{
	int ret = store_token_delete(st, id, actor);

	if (ret < 0)
		snprintf(err, errlen, "%s", store_error(st));
	return ret;
}

int account_audit(struct store *st, const char *actor, const char *action, const char *detail)
{
	return store_audit_add(st, actor, action, detail);
}

/* The pair's fold entry: its own, else a free one, else the one begun longest ago. */
static struct account_fold_entry *account_fold_entry(struct account_fold *f, const char *source,
						     const char *user)
{
	struct account_fold_entry *e = NULL;

	for (size_t i = 0; i < ACCOUNT_FOLD_ENTRIES; i++) {
		struct account_fold_entry *c = &f->entries[i];

		if (c->source[0] != '\0' && strcmp(c->source, source) == 0 &&
		    strncmp(c->user, user, sizeof(c->user) - 1) == 0)
			return c;
	}
	for (size_t i = 0; i < ACCOUNT_FOLD_ENTRIES; i++) {
		struct account_fold_entry *c = &f->entries[i];

		if (c->source[0] == '\0')
			return c;
		if (e == NULL || c->since < e->since)
			e = c;
	}
	return e;
}

int account_audit_failure(struct store *st, struct account_fold *f, const char *source,
			  const char *user, const char *peer, uint64_t now)
{
	struct account_fold_entry *e = account_fold_entry(f, source, user);
	char detail[ACCOUNT_AUDIT_DETAIL_MAX];
	int ret;

	if (e->source[0] != '\0' && strcmp(e->source, source) == 0 &&
	    strncmp(e->user, user, sizeof(e->user) - 1) == 0 &&
	    now - e->since < ACCOUNT_FOLD_SECS) {
		e->count++;
		snprintf(detail, sizeof(detail),
			 "%u failed sign-ins as %.*s from %s within %d s (the latest from %s)",
			 e->count, ACCOUNT_SHOWN_USER_MAX, user, source, ACCOUNT_FOLD_SECS, peer);
		ret = store_audit_redetail(st, e->row, detail);
		if (ret != -ENOENT)
			return ret;
		/* Its row was pruned: this failure starts a new one. */
	}
	memset(e, 0, sizeof(*e));
	snprintf(detail, sizeof(detail), "failed sign-in as %.*s from %s", ACCOUNT_SHOWN_USER_MAX,
		 user, peer);
	ret = store_audit_append(st, "webui", "login.failed", detail, &e->row);
	if (ret < 0)
		return ret;
	snprintf(e->source, sizeof(e->source), "%s", source);
	snprintf(e->user, sizeof(e->user), "%s", user);
	e->since = now;
	e->count = 1;
	return 0;
}
