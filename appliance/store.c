/*
 * store.c - drover's configuration (proxies, settings, audit log, hash key)
 * in one SQLite database.
 *
 * Each function that changes something runs BEGIN IMMEDIATE ... COMMIT, so
 * the checks it makes (version, duplicates) and the write plus its audit row
 * happen under the same write lock: droverctl and the web UI may write to the
 * same file at once, and neither can slip in between.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* How long a writer waits for another (droverctl, a backup) before giving up. */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_DIR_MODE	      0750
#define STORE_FILE_MODE	      0600
#define STORE_HASH_KEY_NAME   "hash_key"
#define STORE_HASH_KEY_LEN    16

struct store {
	sqlite3 *db;
	char error[512];
};

/*
 * Migrations, in order: entry i takes the schema from user_version i to i+1.
 * Adding v3 is one more entry here and STORE_SCHEMA_VERSION bumped.
 */
static const char *const store_migrations[] = {
    /* v1: proxies and settings. */
    "CREATE TABLE proxies ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " address TEXT NOT NULL UNIQUE,"
    " weight INTEGER NOT NULL,"
    " admin TEXT NOT NULL CHECK(admin IN ('enabled','drain','disabled')));"
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",

    /*
     * v2: optimistic versioning and timestamps on proxies, the audit log,
     * and meta for secrets. Rows from v1 keep NULL timestamps: when they
     * were made is not known, and inventing a time would mislead.
     */
    "ALTER TABLE proxies ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE proxies ADD COLUMN created_at INTEGER;"
    "ALTER TABLE proxies ADD COLUMN updated_at INTEGER;"
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB);",

    /* v3: a proxy may override the pool's probe kind; NULL follows the pool. */
    "ALTER TABLE proxies ADD COLUMN probe TEXT"
    " CHECK(probe IS NULL OR probe IN ('http-proxy','http','tcp'));",

    /*
     * v4: web UI accounts and API tokens. Only hashes are kept: an Argon2id
     * string per user, a keyed-free BLAKE2b of each token (tokens are random,
     * so a plain hash cannot be reversed by guessing).
     */
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " password_hash TEXT NOT NULL,"
    " must_change INTEGER NOT NULL DEFAULT 1,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE api_tokens ("
    " id INTEGER PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " token_hash BLOB NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL);",
};

_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

static void store_seterr(struct store *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void store_seterr(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

/* Maps an SQLite result to the errno our callers act on (EBUSY: try again later). */
static int store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/* Records the failing call and SQLite's own words; returns the errno. */
static int store_sqlerr(struct store *s, int rc, const char *what)
{
	store_seterr(s, "database: %s: %s", what, sqlite3_errmsg(s->db));
	return store_errno(rc);
}

static int store_exec(struct store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_sqlerr(s, rc, sql);
	return 0;
}

static int store_prepare(struct store *s, const char *sql, sqlite3_stmt **stmt)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return store_sqlerr(s, rc, "prepare");
	}
	return 0;
}

/* Steps a statement expected to return no row (INSERT, UPDATE, DELETE). */
static int store_step_done(struct store *s, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	if (rc != SQLITE_DONE)
		return store_sqlerr(s, rc, what);
	return 0;
}

/* Checks every bind of one statement at once: a failed bind is an SQLITE_RANGE or NOMEM. */
static int store_bind_check(struct store *s, int rc)
{
	if (rc != SQLITE_OK)
		return store_sqlerr(s, rc, "bind");
	return 0;
}

static int store_begin(struct store *s)
{
	return store_exec(s, "BEGIN IMMEDIATE");
}

static int store_commit(struct store *s)
{
	return store_exec(s, "COMMIT");
}

/* Keeps the first error message: the rollback is cleanup, not the news. */
static void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int store_user_version(struct store *s, int *version)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	ret = store_prepare(s, "PRAGMA user_version", &stmt);
	if (ret < 0)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(stmt, 0);
		ret = 0;
	} else {
		ret = store_sqlerr(s, rc, "read schema version");
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_schema_version(struct store *s, int *version)
{
	return store_user_version(s, version);
}

/*
 * Runs each missing migration in its own transaction. The version is read
 * again under the write lock because another process may have migrated the
 * file between our first look and our BEGIN.
 */
static int store_migrate(struct store *s)
{
	for (;;) {
		char sql[64];
		int version, ret;

		ret = store_begin(s);
		if (ret < 0)
			return ret;
		ret = store_user_version(s, &version);
		if (ret < 0)
			goto fail;
		if (version >= STORE_SCHEMA_VERSION) {
			/* Re-checked here too: a newer drover may have got in first. */
			if (version > STORE_SCHEMA_VERSION) {
				store_seterr(
				    s, "database schema version %d is newer than this drover (%d)",
				    version, STORE_SCHEMA_VERSION);
				ret = -EPROTO;
				goto fail;
			}
			return store_commit(s);
		}
		if (version < 0) {
			store_seterr(s, "database schema version %d is invalid", version);
			ret = -EPROTO;
			goto fail;
		}
		ret = store_exec(s, store_migrations[version]);
		if (ret < 0)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		ret = store_exec(s, sql);
		if (ret < 0)
			goto fail;
		ret = store_commit(s);
		if (ret < 0)
			goto fail;
		log_info("database schema migrated to version %d", version + 1);
		continue;
	fail:
		store_rollback(s);
		return ret;
	}
}

/* mkdir -p for the database's directory; new directories get STORE_DIR_MODE. */
static int store_make_parent(struct store *s, const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	size_t len = strlen(path);

	if (len >= sizeof(dir)) {
		store_seterr(s, "database path `%s' is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(dir, path, len + 1);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0; /* the current or root directory: nothing to make */
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, STORE_DIR_MODE) < 0 && errno != EEXIST) {
			int err = errno;

			store_seterr(s, "cannot create directory `%s': %s", dir, strerror(err));
			return -err;
		}
		if (last)
			return 0;
		*p = '/';
	}
}

/*
 * Creates the file ourselves so it is 0600 whatever the umask: it holds the
 * hash secret. SQLite gives the -wal and -shm files the same mode.
 */
static int store_create_file(struct store *s, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, STORE_FILE_MODE);

	if (fd < 0) {
		int err = errno;

		if (err == EEXIST)
			return 0;
		store_seterr(s, "cannot create `%s': %s", path, strerror(err));
		return -err;
	}
	if (fchmod(fd, STORE_FILE_MODE) < 0) {
		int err = errno;

		store_seterr(s, "cannot set the mode of `%s': %s", path, strerror(err));
		close(fd);
		return -err;
	}
	close(fd);
	return 0;
}

static int store_configure(struct store *s)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	/* WAL: readers (droverctl, backups) never block the writer, nor it them. */
	ret = store_prepare(s, "PRAGMA journal_mode=WAL", &stmt);
	if (ret < 0)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		ret = store_sqlerr(s, rc, "PRAGMA journal_mode=WAL");
		sqlite3_finalize(stmt);
		return ret;
	}
	if (strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") != 0)
		log_warnx("database: journal mode is %s, not wal",
			  (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	/* FULL: a setting reported as saved is on disk, even across a power cut. */
	return store_exec(s, "PRAGMA synchronous=FULL");
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *s;
	int rc, ret, version;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = store_make_parent(s, path);
	if (ret < 0)
		goto fail;
	ret = store_create_file(s, path);
	if (ret < 0)
		goto fail;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		store_seterr(s, "cannot open `%s': %s", path,
			     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		ret = store_errno(rc);
		goto fail;
	}
	rc = sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK) {
		ret = store_sqlerr(s, rc, "busy timeout");
		goto fail;
	}
	ret = store_exec(s, "PRAGMA foreign_keys=ON");
	if (ret < 0)
		goto fail;
	/*
	 * Look before changing anything: even switching to WAL rewrites the
	 * header, and a newer drover's database must be left exactly as it is.
	 */
	ret = store_user_version(s, &version);
	if (ret < 0)
		goto fail;
	if (version > STORE_SCHEMA_VERSION) {
		store_seterr(s, "database schema version %d is newer than this drover (%d)",
			     version, STORE_SCHEMA_VERSION);
		ret = -EPROTO;
		goto fail;
	}
	ret = store_configure(s);
	if (ret < 0)
		goto fail;
	ret = store_migrate(s);
	if (ret < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, s->error);
	store_close(s);
	return ret;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	/* Every statement is finalized where it is used, so close cannot be refused as busy. */
	if (sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("database: close: %s", sqlite3_errmsg(s->db));
	free(s);
}

const char *store_error(const struct store *s)
{
	return s->error;
}

static const char *store_actor(const char *actor)
{
	return actor && actor[0] ? actor : "unknown";
}

/* Writes one audit row; inside the caller's transaction when it has one. */
static int store_audit_write(struct store *s, const char *actor, const char *action,
			     const char *detail)
{
	sqlite3_stmt *stmt;
	int ret;

	ret = store_prepare(
	    s, "INSERT INTO audit (time, actor, action, detail) VALUES (?, ?, ?, ?)", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(
	    s, sqlite3_bind_int64(stmt, 1, (sqlite3_int64)time(NULL)) |
		   sqlite3_bind_text(stmt, 2, store_actor(actor), -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_text(stmt, 3, action, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_text(stmt, 4, detail, -1, SQLITE_TRANSIENT));
	if (ret == 0)
		ret = store_step_done(s, stmt, "write audit entry");
	sqlite3_finalize(stmt);
	return ret;
}

int store_audit_add(struct store *s, const char *actor, const char *action, const char *detail)
{
	if (action == NULL || action[0] == '\0' || detail == NULL) {
		store_seterr(s, "audit: action and detail are required");
		return -EINVAL;
	}
	return store_audit_write(s, actor, action, detail);
}

static void store_copy_text(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src ? (const char *)src : "");
}

/*
 * Makes room for one more element in a growing result array: doubles *cap
 * when n has reached it. Returns 0, or -ENOMEM with the message set (the
 * array is left as it was, for the caller to free).
 */
static int store_grow(struct store *s, void **array, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *grown;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	grown = realloc(*array, ncap * size);
	if (grown == NULL) {
		store_seterr(s, "out of memory");
		return -ENOMEM;
	}
	*array = grown;
	*cap = ncap;
	return 0;
}

int store_audit_list(struct store *s, int64_t before_id, size_t limit, struct audit_entry **out,
		     size_t *count)
{
	struct audit_entry *entries = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc = SQLITE_DONE, ret;

	*out = NULL;
	*count = 0;
	if (limit > INT64_MAX)
		limit = INT64_MAX;
	ret = store_prepare(s,
			    "SELECT id, time, actor, action, detail FROM audit"
			    " WHERE ?1 <= 0 OR id < ?1 ORDER BY id DESC LIMIT ?2",
			    &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, before_id) |
				      sqlite3_bind_int64(stmt, 2, (sqlite3_int64)limit));
	while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct audit_entry *e;

		ret = store_grow(s, (void **)&entries, &cap, n, sizeof(*entries));
		if (ret < 0)
			break;
		e = &entries[n++];
		e->id = sqlite3_column_int64(stmt, 0);
		e->time = sqlite3_column_int64(stmt, 1);
		store_copy_text(e->actor, sizeof(e->actor), sqlite3_column_text(stmt, 2));
		store_copy_text(e->action, sizeof(e->action), sqlite3_column_text(stmt, 3));
		store_copy_text(e->detail, sizeof(e->detail), sqlite3_column_text(stmt, 4));
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "read audit log");
	sqlite3_finalize(stmt);
	if (ret < 0) {
		free(entries);
		return ret;
	}
	*out = entries;
	*count = n;
	return 0;
}

/* Text of a network-order IPv4 address; buf holds INET_ADDRSTRLEN. */
static const char *store_ipv4_text(uint32_t addr, char *buf)
{
	struct in_addr a = {.s_addr = addr};

	if (inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN) == NULL)
		snprintf(buf, INET_ADDRSTRLEN, "?");
	return buf;
}

/* A proxy address must reach one real host: not "this network", loopback, multicast or broadcast.
 */
static const char *store_address_problem(uint32_t addr)
{
	uint32_t h = ntohl(addr);

	if ((h >> 24) == 0)
		return "is not a host address";
	if ((h >> 24) == 127)
		return "is a loopback address";
	if ((h >> 28) == 0xe)
		return "is a multicast address";
	if (h == UINT32_MAX)
		return "is the broadcast address";
	return NULL;
}

/* Validates every field of p; an empty name passes only when allow_empty_name. */
static int store_proxy_check(struct store *s, const struct proxy_config *p, bool allow_empty_name)
{
	char text[INET_ADDRSTRLEN];
	const char *problem;

	if (strnlen(p->name, sizeof(p->name)) == sizeof(p->name)) {
		store_seterr(s, "name: longer than %d characters", PROXY_NAME_MAX);
		return -EINVAL;
	}
	if (!(allow_empty_name && p->name[0] == '\0') && !proxy_name_valid(p->name)) {
		store_seterr(
		    s, "name: invalid proxy name `%s' (1..%d characters from A-Z a-z 0-9 . _ -)",
		    p->name, PROXY_NAME_MAX);
		return -EINVAL;
	}
	problem = store_address_problem(p->address);
	if (problem != NULL) {
		store_seterr(s, "address: `%s' %s", store_ipv4_text(p->address, text), problem);
		return -EINVAL;
	}
	if (p->weight > PROXY_WEIGHT_MAX) {
		store_seterr(s, "weight: `%u' is above the maximum %d", p->weight,
			     PROXY_WEIGHT_MAX);
		return -EINVAL;
	}
	if (strcmp(proxy_probe_name(p->probe), "unknown") == 0) {
		store_seterr(s, "probe: invalid probe kind %u", (unsigned int)p->probe);
		return -EINVAL;
	}
	if ((unsigned int)p->admin > PROXY_ADMIN_DISABLED) {
		store_seterr(s, "admin: invalid state %d (enabled, drain or disabled)",
			     (int)p->admin);
		return -EINVAL;
	}
	return 0;
}

#define STORE_PROXY_COLUMNS "id, name, address, weight, admin, version, probe"

/* Reads one row selected with STORE_PROXY_COLUMNS; a row that does not parse is -EIO. */
static int store_proxy_row(struct store *s, sqlite3_stmt *stmt, struct proxy_config *p)
{
	const char *name = (const char *)sqlite3_column_text(stmt, 1);
	const char *address = (const char *)sqlite3_column_text(stmt, 2);
	const char *admin = (const char *)sqlite3_column_text(stmt, 4);
	sqlite3_int64 weight = sqlite3_column_int64(stmt, 3);
	const char *probe = (const char *)sqlite3_column_text(stmt, 6);

	memset(p, 0, sizeof(*p));
	if (probe != NULL &&
	    (!proxy_probe_parse(probe, &p->probe) || p->probe == PROXY_PROBE_DEFAULT)) {
		store_seterr(s, "database: stored proxy %lld has an unknown probe kind",
			     (long long)sqlite3_column_int64(stmt, 0));
		return -EIO;
	}
	p->id = sqlite3_column_int64(stmt, 0);
	p->version = sqlite3_column_int64(stmt, 5);
	if (name == NULL || strlen(name) > PROXY_NAME_MAX || address == NULL ||
	    !settings_parse_ipv4(address, &p->address) || admin == NULL ||
	    !proxy_admin_parse(admin, &p->admin) || weight < 0 || weight > PROXY_WEIGHT_MAX) {
		store_seterr(s, "database: stored proxy %lld is damaged", (long long)p->id);
		return -EIO;
	}
	memcpy(p->name, name, strlen(name) + 1);
	p->weight = (uint32_t)weight;
	return 0;
}

/* The probe column: NULL follows the pool's kind. */
static int store_bind_probe(sqlite3_stmt *stmt, int col, uint8_t probe)
{
	if (probe == PROXY_PROBE_DEFAULT)
		return sqlite3_bind_null(stmt, col);
	return sqlite3_bind_text(stmt, col, proxy_probe_name(probe), -1, SQLITE_STATIC);
}

/* Reads proxy id into p: 0, -ENOENT, or another -errno. */
static int store_proxy_read(struct store *s, int64_t id, struct proxy_config *p)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	ret = store_prepare(s, "SELECT " STORE_PROXY_COLUMNS " FROM proxies WHERE id = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, id));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			ret = store_proxy_row(s, stmt, p);
		} else if (rc == SQLITE_DONE) {
			store_seterr(s, "no proxy %lld", (long long)id);
			ret = -ENOENT;
		} else {
			ret = store_sqlerr(s, rc, "read proxy");
		}
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_proxy_get(struct store *s, int64_t id, struct proxy_config *out)
{
	return store_proxy_read(s, id, out);
}

int store_proxy_list(struct store *s, struct proxy_config **out, size_t *count)
{
	struct proxy_config *list = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc = SQLITE_DONE, ret;

	*out = NULL;
	*count = 0;
	ret = store_prepare(s, "SELECT " STORE_PROXY_COLUMNS " FROM proxies ORDER BY id", &stmt);
	if (ret < 0)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ret = store_grow(s, (void **)&list, &cap, n, sizeof(*list));
		if (ret < 0)
			break;
		ret = store_proxy_row(s, stmt, &list[n]);
		if (ret < 0)
			break;
		n++;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "list proxies");
	sqlite3_finalize(stmt);
	if (ret < 0) {
		free(list);
		return ret;
	}
	*out = list;
	*count = n;
	return 0;
}

/*
 * Refuses a name or address another proxy (not except_id) already has, with
 * a message that says which. Checked before writing so the user learns the
 * field; the UNIQUE constraints remain the last word.
 */
static int store_proxy_unique(struct store *s, const struct proxy_config *p, const char *address,
			      int64_t except_id)
{
	static const char *const columns[] = {"name", "address"};
	const char *values[] = {p->name, address};

	for (size_t i = 0; i < 2; i++) {
		char sql[96];
		sqlite3_stmt *stmt;
		int rc, ret;

		if (values[i][0] == '\0')
			continue;
		snprintf(sql, sizeof(sql), "SELECT id FROM proxies WHERE %s = ? AND id != ?",
			 columns[i]);
		ret = store_prepare(s, sql, &stmt);
		if (ret < 0)
			return ret;
		ret = store_bind_check(s,
				       sqlite3_bind_text(stmt, 1, values[i], -1, SQLITE_TRANSIENT) |
					   sqlite3_bind_int64(stmt, 2, except_id));
		if (ret == 0) {
			rc = sqlite3_step(stmt);
			if (rc == SQLITE_ROW) {
				store_seterr(s, "%s: `%s' is already used by proxy %lld",
					     columns[i], values[i],
					     (long long)sqlite3_column_int64(stmt, 0));
				ret = -EEXIST;
			} else if (rc != SQLITE_DONE) {
				ret = store_sqlerr(s, rc, "check proxy");
			}
		}
		sqlite3_finalize(stmt);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Gives a nameless new proxy "proxy-<id>", unless someone already took that name. */
static int store_proxy_default_name(struct store *s, struct proxy_config *p)
{
	sqlite3_stmt *stmt;
	int ret;

	snprintf(p->name, sizeof(p->name), "proxy-%lld", (long long)p->id);
	ret = store_proxy_unique(s, p, "", p->id);
	if (ret < 0)
		return ret;
	ret = store_prepare(s, "UPDATE proxies SET name = ? WHERE id = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_TRANSIENT) |
				      sqlite3_bind_int64(stmt, 2, p->id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "name proxy");
	sqlite3_finalize(stmt);
	return ret;
}

int store_proxy_add(struct store *s, struct proxy_config *p, const char *actor)
{
	char address[INET_ADDRSTRLEN], detail[256];
	sqlite3_stmt *stmt = NULL;
	bool unnamed = p->name[0] == '\0';
	int64_t now = (int64_t)time(NULL);
	int ret;

	ret = store_proxy_check(s, p, true);
	if (ret < 0)
		return ret;
	store_ipv4_text(p->address, address);
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_proxy_unique(s, p, address, 0);
	if (ret < 0)
		goto fail;
	/*
	 * A nameless proxy is inserted under a placeholder that proxy_name_valid
	 * never accepts (so it cannot clash), then renamed once its id is known.
	 */
	ret =
	    store_prepare(s,
			  "INSERT INTO proxies (name, address, weight, admin, version, created_at,"
			  " updated_at, probe) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
			  &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, unnamed ? "<new>" : p->name, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_text(stmt, 2, address, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_int64(stmt, 3, p->weight) |
		   sqlite3_bind_text(stmt, 4, proxy_admin_name(p->admin), -1, SQLITE_STATIC) |
		   sqlite3_bind_int64(stmt, 5, now) | sqlite3_bind_int64(stmt, 6, now) |
		   store_bind_probe(stmt, 7, p->probe));
	if (ret == 0)
		ret = store_step_done(s, stmt, "add proxy");
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	p->id = sqlite3_last_insert_rowid(s->db);
	if (unnamed) {
		ret = store_proxy_default_name(s, p);
		if (ret < 0)
			goto fail;
	}
	snprintf(detail, sizeof(detail), "added proxy %lld %s %s weight %u %s", (long long)p->id,
		 p->name, address, p->weight, proxy_admin_name(p->admin));
	ret = store_audit_write(s, actor, "proxy.add", detail);
	if (ret < 0)
		goto fail;
	ret = store_commit(s);
	if (ret < 0)
		goto fail;
	p->version = 1;
	return 0;
fail:
	store_rollback(s);
	if (unnamed)
		p->name[0] = '\0';
	p->id = 0;
	return ret;
}

/* Refuses a write based on an old read: expected 0 means "whatever is there". */
static int store_version_check(struct store *s, const struct proxy_config *stored,
			       int64_t expected_version)
{
	if (expected_version != 0 && stored->version != expected_version) {
		store_seterr(
		    s, "proxy %lld was changed by someone else (version %lld, you sent %lld)",
		    (long long)stored->id, (long long)stored->version, (long long)expected_version);
		return -ESTALE;
	}
	return 0;
}

/* Appends one ", "-separated change to buf; a full buffer just truncates the description. */
static void store_diff_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void store_diff_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used > 0 && *used < len) {
		n = snprintf(buf + *used, len - *used, ", ");
		if (n > 0)
			*used += (size_t)n;
	}
	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
}

/* Describes what an update changes, e.g. "weight 100 -> 50, admin enabled -> drain". */
static void store_proxy_diff(const struct proxy_config *old, const struct proxy_config *new,
			     char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	size_t used = 0;

	buf[0] = '\0';
	if (strcmp(old->name, new->name) != 0)
		store_diff_add(buf, len, &used, "name %s -> %s", old->name, new->name);
	if (old->address != new->address)
		store_diff_add(buf, len, &used, "address %s -> %s",
			       store_ipv4_text(old->address, a), store_ipv4_text(new->address, b));
	if (old->weight != new->weight)
		store_diff_add(buf, len, &used, "weight %u -> %u", old->weight, new->weight);
	if (old->admin != new->admin)
		store_diff_add(buf, len, &used, "admin %s -> %s", proxy_admin_name(old->admin),
			       proxy_admin_name(new->admin));
	if (old->probe != new->probe)
		store_diff_add(buf, len, &used, "probe %s -> %s", proxy_probe_name(old->probe),
			       proxy_probe_name(new->probe));
	if (used == 0)
		snprintf(buf, len, "no field changed");
}

int store_proxy_update(struct store *s, struct proxy_config *p, int64_t expected_version,
		       const char *actor)
{
	char address[INET_ADDRSTRLEN], changes[256], detail[512];
	struct proxy_config stored;
	sqlite3_stmt *stmt;
	int ret;

	ret = store_proxy_check(s, p, false);
	if (ret < 0)
		return ret;
	store_ipv4_text(p->address, address);
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_proxy_read(s, p->id, &stored);
	if (ret < 0)
		goto fail;
	ret = store_version_check(s, &stored, expected_version);
	if (ret < 0)
		goto fail;
	ret = store_proxy_unique(s, p, address, p->id);
	if (ret < 0)
		goto fail;
	ret = store_prepare(s,
			    "UPDATE proxies SET name = ?, address = ?, weight = ?, admin = ?,"
			    " version = version + 1, updated_at = ?, probe = ? WHERE id = ?",
			    &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_text(stmt, 2, address, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_int64(stmt, 3, p->weight) |
		   sqlite3_bind_text(stmt, 4, proxy_admin_name(p->admin), -1, SQLITE_STATIC) |
		   sqlite3_bind_int64(stmt, 5, (sqlite3_int64)time(NULL)) |
		   store_bind_probe(stmt, 6, p->probe) | sqlite3_bind_int64(stmt, 7, p->id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "update proxy");
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	store_proxy_diff(&stored, p, changes, sizeof(changes));
	snprintf(detail, sizeof(detail), "updated proxy %lld %s: %s", (long long)p->id, p->name,
		 changes);
	ret = store_audit_write(s, actor, "proxy.update", detail);
	if (ret < 0)
		goto fail;
	ret = store_commit(s);
	if (ret < 0)
		goto fail;
	p->version = stored.version + 1;
	return 0;
fail:
	store_rollback(s);
	return ret;
}

int store_proxy_delete(struct store *s, int64_t id, int64_t expected_version, const char *actor)
{
	char address[INET_ADDRSTRLEN], detail[256];
	struct proxy_config stored;
	sqlite3_stmt *stmt;
	int ret;

	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_proxy_read(s, id, &stored);
	if (ret < 0)
		goto fail;
	ret = store_version_check(s, &stored, expected_version);
	if (ret < 0)
		goto fail;
	ret = store_prepare(s, "DELETE FROM proxies WHERE id = ?", &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "delete proxy");
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "deleted proxy %lld %s %s", (long long)id, stored.name,
		 store_ipv4_text(stored.address, address));
	ret = store_audit_write(s, actor, "proxy.delete", detail);
	if (ret < 0)
		goto fail;
	ret = store_commit(s);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	store_rollback(s);
	return ret;
}

int store_settings_load(struct store *s, struct settings *out)
{
	struct settings loaded;
	sqlite3_stmt *stmt;
	int rc, ret;

	settings_defaults(&loaded);
	ret = store_prepare(s, "SELECT key, value FROM settings ORDER BY key", &stmt);
	if (ret < 0)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(stmt, 0);
		const char *value = (const char *)sqlite3_column_text(stmt, 1);
		char err[256];

		/*
		 * A value written by an older drover (or by hand) may no longer
		 * be valid; the default is safer than refusing to start.
		 */
		if (!settings_set(&loaded, key ? key : "", value ? value : "", err, sizeof(err)))
			log_warnx("database: ignoring stored setting: %s", err);
	}
	if (rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "load settings");
	sqlite3_finalize(stmt);
	if (ret < 0)
		return ret;
	*out = loaded;
	return 0;
}

/* The stored text for key, or the default when there is no row; value holds SETTINGS_VALUE_MAX. */
static int store_setting_read(struct store *s, const struct setting_def *def, char *value,
			      bool *stored)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	ret = store_prepare(s, "SELECT value FROM settings WHERE key = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, def->key, -1, SQLITE_STATIC));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		*stored = rc == SQLITE_ROW;
		if (rc == SQLITE_ROW)
			store_copy_text(value, SETTINGS_VALUE_MAX, sqlite3_column_text(stmt, 0));
		else if (rc == SQLITE_DONE)
			snprintf(value, SETTINGS_VALUE_MAX, "%s", def->default_value);
		else
			ret = store_sqlerr(s, rc, "read setting");
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_setting_set(struct store *s, const char *key, const char *value, const char *actor)
{
	char canonical[SETTINGS_VALUE_MAX], old[SETTINGS_VALUE_MAX],
	    detail[2 * SETTINGS_VALUE_MAX + 64];
	const struct setting_def *def;
	struct settings check;
	sqlite3_stmt *stmt;
	bool stored;
	int ret;

	settings_defaults(&check);
	if (!settings_set(&check, key, value, s->error, sizeof(s->error)))
		return -EINVAL;
	def = settings_find(key);
	/* Store the canonical text, so "80, 443" and "80,443" are the same value. */
	if (!settings_format(&check, def->key, canonical, sizeof(canonical))) {
		store_seterr(s, "%s: cannot format `%s'", def->key, value);
		return -EINVAL;
	}
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_setting_read(s, def, old, &stored);
	if (ret < 0)
		goto fail;
	ret = store_prepare(s,
			    "INSERT INTO settings (key, value) VALUES (?, ?)"
			    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
			    &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, def->key, -1, SQLITE_STATIC) |
				      sqlite3_bind_text(stmt, 2, canonical, -1, SQLITE_TRANSIENT));
	if (ret == 0)
		ret = store_step_done(s, stmt, "store setting");
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "set %s = %s (was %s%s)", def->key, canonical, old,
		 stored ? "" : ", the default");
	ret = store_audit_write(s, actor, "setting.set", detail);
	if (ret < 0)
		goto fail;
	ret = store_commit(s);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	store_rollback(s);
	return ret;
}

/* Reads the stored key: 0 with *found, or -errno (-EIO when its size is wrong). */
static int store_hash_key_read(struct store *s, uint8_t key[STORE_HASH_KEY_LEN], bool *found)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	*found = false;
	ret = store_prepare(s, "SELECT value FROM meta WHERE key = ?", &stmt);
	if (ret < 0)
		return ret;
	ret =
	    store_bind_check(s, sqlite3_bind_text(stmt, 1, STORE_HASH_KEY_NAME, -1, SQLITE_STATIC));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			const void *blob = sqlite3_column_blob(stmt, 0);

			if (blob == NULL || sqlite3_column_bytes(stmt, 0) != STORE_HASH_KEY_LEN) {
				store_seterr(s, "database: stored hash key has the wrong size");
				ret = -EIO;
			} else {
				memcpy(key, blob, STORE_HASH_KEY_LEN);
				*found = true;
			}
		} else if (rc != SQLITE_DONE) {
			ret = store_sqlerr(s, rc, "read hash key");
		}
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_hash_key(struct store *s, uint8_t key[16])
{
	uint8_t fresh[STORE_HASH_KEY_LEN];
	sqlite3_stmt *stmt;
	bool found;
	int ret;

	/* Under the write lock, so two first starts cannot each make their own key. */
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_hash_key_read(s, key, &found);
	if (ret < 0 || found)
		goto done;
	if (sodium_init() < 0) {
		store_seterr(s, "cannot initialise libsodium");
		ret = -EIO;
		goto done;
	}
	randombytes_buf(fresh, sizeof(fresh));
	ret = store_prepare(s, "INSERT INTO meta (key, value) VALUES (?, ?)", &stmt);
	if (ret < 0)
		goto done;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, STORE_HASH_KEY_NAME, -1, SQLITE_STATIC) |
		   sqlite3_bind_blob(stmt, 2, fresh, sizeof(fresh), SQLITE_TRANSIENT));
	if (ret == 0)
		ret = store_step_done(s, stmt, "store hash key");
	sqlite3_finalize(stmt);
	if (ret == 0)
		memcpy(key, fresh, sizeof(fresh));
done:
	sodium_memzero(fresh, sizeof(fresh));
	if (ret < 0) {
		store_rollback(s);
		return ret;
	}
	return store_commit(s);
}

int store_user_get(struct store *s, const char *name, struct store_user *out)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	ret = store_prepare(
	    s, "SELECT id, name, password_hash, must_change FROM users WHERE name = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			memset(out, 0, sizeof(*out));
			out->id = sqlite3_column_int64(stmt, 0);
			store_copy_text(out->name, sizeof(out->name), sqlite3_column_text(stmt, 1));
			store_copy_text(out->password_hash, sizeof(out->password_hash),
					sqlite3_column_text(stmt, 2));
			out->must_change = sqlite3_column_int(stmt, 3) != 0;
		} else if (rc == SQLITE_DONE) {
			store_seterr(s, "no user `%s'", name);
			ret = -ENOENT;
		} else {
			ret = store_sqlerr(s, rc, "read user");
		}
	}
	sqlite3_finalize(stmt);
	return ret;
}

/* Names as for proxies: they end up in the audit log and in actor strings. */
static int store_user_check(struct store *s, const char *name, const char *hash)
{
	if (name == NULL || strlen(name) > STORE_USER_NAME_MAX || !proxy_name_valid(name)) {
		store_seterr(s, "name: `%s' is not 1..%d characters of A-Z a-z 0-9 . _ -",
			     name ? name : "", STORE_USER_NAME_MAX);
		return -EINVAL;
	}
	if (hash == NULL || hash[0] == '\0' || strlen(hash) >= STORE_PWHASH_MAX) {
		store_seterr(s, "password hash: missing or too long");
		return -EINVAL;
	}
	return 0;
}

int store_user_add(struct store *s, struct store_user *u, const char *actor)
{
	sqlite3_stmt *stmt;
	char detail[128];
	int64_t now = (int64_t)time(NULL);
	int ret;

	ret = store_user_check(s, u->name, u->password_hash);
	if (ret < 0)
		return ret;
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_prepare(s,
			    "INSERT INTO users (name, password_hash, must_change, created_at,"
			    " updated_at) VALUES (?, ?, ?, ?, ?)",
			    &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, u->name, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_text(stmt, 2, u->password_hash, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_int(stmt, 3, u->must_change) | sqlite3_bind_int64(stmt, 4, now) |
		   sqlite3_bind_int64(stmt, 5, now));
	if (ret == 0) {
		ret = store_step_done(s, stmt, "add user");
		if (ret == -EEXIST)
			store_seterr(s, "name: user `%s' exists", u->name);
	}
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	u->id = sqlite3_last_insert_rowid(s->db);
	snprintf(detail, sizeof(detail), "added user %s", u->name);
	ret = store_audit_write(s, actor, "user.add", detail);
	if (ret < 0)
		goto fail;
	return store_commit(s);
fail:
	store_rollback(s);
	return ret;
}

int store_user_set_password(struct store *s, const char *name, const char *password_hash,
			    bool must_change, const char *actor)
{
	sqlite3_stmt *stmt;
	char detail[128];
	int ret;

	ret = store_user_check(s, name, password_hash);
	if (ret < 0)
		return ret;
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_prepare(s,
			    "UPDATE users SET password_hash = ?, must_change = ?, updated_at = ?"
			    " WHERE name = ?",
			    &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, password_hash, -1, SQLITE_TRANSIENT) |
				      sqlite3_bind_int(stmt, 2, must_change) |
				      sqlite3_bind_int64(stmt, 3, (sqlite3_int64)time(NULL)) |
				      sqlite3_bind_text(stmt, 4, name, -1, SQLITE_TRANSIENT));
	if (ret == 0)
		ret = store_step_done(s, stmt, "set password");
	sqlite3_finalize(stmt);
	if (ret == 0 && sqlite3_changes(s->db) == 0) {
		store_seterr(s, "no user `%s'", name);
		ret = -ENOENT;
	}
	if (ret < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "changed the password of %s", name);
	ret = store_audit_write(s, actor, "user.password", detail);
	if (ret < 0)
		goto fail;
	return store_commit(s);
fail:
	store_rollback(s);
	return ret;
}

int store_token_add(struct store *s, const char *user, const char *name,
		    const uint8_t hash[STORE_TOKEN_HASH], const char *actor, int64_t *id)
{
	sqlite3_stmt *stmt;
	char detail[192];
	int ret;

	if (name == NULL || strlen(name) > STORE_USER_NAME_MAX || !proxy_name_valid(name)) {
		store_seterr(s, "name: `%s' is not 1..%d characters of A-Z a-z 0-9 . _ -",
			     name ? name : "", STORE_USER_NAME_MAX);
		return -EINVAL;
	}
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_prepare(s,
			    "INSERT INTO api_tokens (user_id, name, token_hash, created_at)"
			    " SELECT id, ?, ?, ? FROM users WHERE name = ?",
			    &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_blob(stmt, 2, hash, STORE_TOKEN_HASH, SQLITE_TRANSIENT) |
		   sqlite3_bind_int64(stmt, 3, (sqlite3_int64)time(NULL)) |
		   sqlite3_bind_text(stmt, 4, user, -1, SQLITE_TRANSIENT));
	if (ret == 0)
		ret = store_step_done(s, stmt, "add API token");
	sqlite3_finalize(stmt);
	if (ret == 0 && sqlite3_changes(s->db) == 0) {
		store_seterr(s, "no user `%s'", user);
		ret = -ENOENT;
	}
	if (ret < 0)
		goto fail;
	*id = sqlite3_last_insert_rowid(s->db);
	snprintf(detail, sizeof(detail), "created API token %lld %s for %s", (long long)*id, name,
		 user);
	ret = store_audit_write(s, actor, "token.add", detail);
	if (ret < 0)
		goto fail;
	return store_commit(s);
fail:
	store_rollback(s);
	return ret;
}

static void store_token_row(sqlite3_stmt *stmt, struct store_token *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(stmt, 0);
	store_copy_text(t->user, sizeof(t->user), sqlite3_column_text(stmt, 1));
	store_copy_text(t->name, sizeof(t->name), sqlite3_column_text(stmt, 2));
	t->created_at = sqlite3_column_int64(stmt, 3);
}

#define STORE_TOKEN_SELECT                                                                         \
	"SELECT t.id, u.name, t.name, t.created_at FROM api_tokens t JOIN users u ON u.id = "      \
	"t.user_id"

int store_token_find(struct store *s, const uint8_t hash[STORE_TOKEN_HASH], struct store_token *out)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	ret = store_prepare(s, STORE_TOKEN_SELECT " WHERE t.token_hash = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(
	    s, sqlite3_bind_blob(stmt, 1, hash, STORE_TOKEN_HASH, SQLITE_TRANSIENT));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			store_token_row(stmt, out);
		} else if (rc == SQLITE_DONE) {
			store_seterr(s, "no such API token");
			ret = -ENOENT;
		} else {
			ret = store_sqlerr(s, rc, "read API token");
		}
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_token_list(struct store *s, struct store_token **out, size_t *count)
{
	struct store_token *tokens = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc = SQLITE_DONE, ret;

	*out = NULL;
	*count = 0;
	ret = store_prepare(s, STORE_TOKEN_SELECT " ORDER BY t.id", &stmt);
	if (ret < 0)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ret = store_grow(s, (void **)&tokens, &cap, n, sizeof(*tokens));
		if (ret < 0)
			break;
		store_token_row(stmt, &tokens[n++]);
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "list API tokens");
	sqlite3_finalize(stmt);
	if (ret < 0) {
		free(tokens);
		return ret;
	}
	*out = tokens;
	*count = n;
	return 0;
}

int store_token_delete(struct store *s, int64_t id, const char *actor)
{
	sqlite3_stmt *stmt;
	char detail[96];
	int ret;

	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_prepare(s, "DELETE FROM api_tokens WHERE id = ?", &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "revoke API token");
	sqlite3_finalize(stmt);
	if (ret == 0 && sqlite3_changes(s->db) == 0) {
		store_seterr(s, "no API token with id %lld", (long long)id);
		ret = -ENOENT;
	}
	if (ret < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "revoked API token %lld", (long long)id);
	ret = store_audit_write(s, actor, "token.revoke", detail);
	if (ret < 0)
		goto fail;
	return store_commit(s);
fail:
	store_rollback(s);
	return ret;
}

/* Copies every page of src into dst; SQLITE_OK or the error, with dst's message. */
static int store_copy_db(sqlite3 *dst, sqlite3 *src)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc;

	if (b == NULL)
		return sqlite3_errcode(dst);
	/*
	 * All pages in one step: the copy is one read transaction on src, so
	 * it is a consistent snapshot however many writers there are. BUSY
	 * means another connection holds a lock a moment longer.
	 */
	for (int tries = 0;; tries++) {
		rc = sqlite3_backup_step(b, -1);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 100)
			break;
		sqlite3_sleep(50);
	}
	sqlite3_backup_finish(b);
	if (rc == SQLITE_DONE)
		return sqlite3_errcode(dst);
	return rc;
}

/* fsyncs the directory holding path, so a rename into it survives a crash. */
static void store_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int store_backup(struct store *s, const char *path, int64_t *bytes)
{
	char tmp[PATH_MAX];
	sqlite3 *dst = NULL;
	struct stat st = {0};
	int fd, rc, ret = 0;

	if (path == NULL || path[0] != '/') {
		store_seterr(s, "backup: `%s' is not an absolute path", path ? path : "");
		return -EINVAL;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= sizeof(tmp)) {
		store_seterr(s, "backup: path `%s' is too long", path);
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		ret = -errno;
		store_seterr(s, "backup: cannot create a file beside `%s': %s", path,
			     strerror(errno));
		return ret;
	}
	close(fd);
	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK)
		rc = store_copy_db(dst, s->db);
	/* The copy carries our WAL flag; a plain file is what people move around. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		store_seterr(s, "backup: %s", dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
		ret = store_errno(rc);
	}
	if (sqlite3_close(dst) != SQLITE_OK && ret == 0) {
		store_seterr(s, "backup: closing the copy failed");
		ret = -EIO;
	}
	if (ret == 0) {
		fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fsync(fd) < 0 || fstat(fd, &st) < 0) {
			ret = -errno;
			store_seterr(s, "backup: %s: %s", tmp, strerror(errno));
		}
		if (fd >= 0)
			close(fd);
	}
	if (ret == 0 && rename(tmp, path) < 0) {
		ret = -errno;
		store_seterr(s, "backup: cannot rename to `%s': %s", path, strerror(errno));
	}
	if (ret < 0) {
		unlink(tmp);
		return ret;
	}
	store_sync_dir(path);
	*bytes = (int64_t)st.st_size;
	return 0;
}

/* The first column of a one-row query on db, as an int; -1 when it fails. */
static int store_query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	int v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* integrity_check's first line is "ok" exactly when the file is sound; else its first problem. */
static bool store_integrity_ok(sqlite3 *db, char *problem, size_t len)
{
	sqlite3_stmt *stmt;
	bool ok = false;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		snprintf(problem, len, "%s", sqlite3_errmsg(db));
		return false;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(stmt, 0);
		ok = text != NULL && strcmp(text, "ok") == 0;
		snprintf(problem, len, "%s", text ? text : "no answer");
		for (char *c = problem; *c != '\0'; c++)
			if (*c == '\n')
				*c = ' ';
	} else {
		snprintf(problem, len, "%s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(stmt);
	return ok;
}

/*
 * Loads path into a private in-memory database, checked and migrated to our
 * schema; *out is that connection (close it). The file itself is only read.
 */
static int store_restore_load(struct store *s, const char *path, sqlite3 **out, int *version)
{
	struct store mem = {0};
	sqlite3 *src = NULL;
	char problem[256];
	int rc, ret;

	*out = NULL;
	rc = sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		store_seterr(s, "restore: cannot open `%s': %s", path,
			     src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
		sqlite3_close(src);
		return store_errno(rc);
	}
	if (!store_integrity_ok(src, problem, sizeof(problem))) {
		store_seterr(s, "restore: `%s' fails the integrity check: %s", path, problem);
		sqlite3_close(src);
		return -EIO;
	}
	*version = store_query_int(src, "PRAGMA user_version");
	if (*version > STORE_SCHEMA_VERSION) {
		store_seterr(s, "restore: `%s' has schema version %d, newer than this drover (%d)",
			     path, *version, STORE_SCHEMA_VERSION);
		sqlite3_close(src);
		return -EPROTO;
	}
	if (*version < 1 ||
	    store_query_int(src, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				 " AND name IN ('proxies', 'settings')") != 2) {
		store_seterr(s, "restore: `%s' is not a drover database", path);
		sqlite3_close(src);
		return -EINVAL;
	}
	rc = sqlite3_open_v2(":memory:", &mem.db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = store_copy_db(mem.db, src);
	sqlite3_close(src);
	if (rc != SQLITE_OK) {
		store_seterr(s, "restore: cannot read `%s': %s", path,
			     mem.db ? sqlite3_errmsg(mem.db) : sqlite3_errstr(rc));
		sqlite3_close(mem.db);
		return store_errno(rc);
	}
	ret = store_migrate(&mem);
	if (ret < 0) {
		store_seterr(s, "restore: migrating `%s' from version %d: %s", path, *version,
			     mem.error);
		sqlite3_close(mem.db);
		return ret;
	}
	*out = mem.db;
	return 0;
}

/*
 * The audit log is history, not configuration: the restored copy gets the
 * live log in place of its own, so a restore never erases what happened.
 */
static int store_restore_keep_audit(struct store *s, sqlite3 *mem)
{
	const char *live = sqlite3_db_filename(s->db, "main");
	sqlite3_stmt *stmt;
	int rc;

	if (live == NULL || live[0] == '\0')
		return 0;
	rc = sqlite3_prepare_v2(mem, "ATTACH DATABASE ? AS live", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, live, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(mem);
		sqlite3_finalize(stmt);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(mem,
				  "BEGIN;"
				  "DELETE FROM main.audit;"
				  "INSERT INTO main.audit (id, time, actor, action, detail)"
				  " SELECT id, time, actor, action, detail FROM live.audit;"
				  "COMMIT;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		store_seterr(s, "restore: keeping the audit log: %s", sqlite3_errmsg(mem));
		sqlite3_exec(mem, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_exec(mem, "DETACH DATABASE live", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : store_errno(rc);
}

int store_restore(struct store *s, const char *path, const char *actor,
		  struct store_restore_info *info)
{
	uint8_t before[STORE_HASH_KEY_LEN], after[STORE_HASH_KEY_LEN];
	bool had_key = false, has_key = false;
	char detail[PATH_MAX + 128];
	sqlite3 *mem;
	int rc, ret;

	memset(info, 0, sizeof(*info));
	if (path == NULL || path[0] != '/') {
		store_seterr(s, "restore: `%s' is not an absolute path", path ? path : "");
		return -EINVAL;
	}
	ret = store_restore_load(s, path, &mem, &info->file_version);
	if (ret < 0)
		return ret;
	ret = store_restore_keep_audit(s, mem);
	if (ret < 0) {
		sqlite3_close(mem);
		return ret;
	}
	if (store_hash_key_read(s, before, &had_key) < 0)
		had_key = false;
	/*
	 * The backup API takes the write lock for the whole copy and commits
	 * once: a crash leaves the old database or the new one.
	 */
	rc = store_copy_db(s->db, mem);
	sqlite3_close(mem);
	if (rc != SQLITE_OK) {
		ret = store_sqlerr(s, rc, "restore");
		sodium_memzero(before, sizeof(before));
		return ret;
	}
	if (store_hash_key_read(s, after, &has_key) < 0)
		has_key = false;
	info->hash_key_changed =
	    had_key != has_key || (had_key && sodium_memcmp(before, after, sizeof(before)) != 0);
	sodium_memzero(before, sizeof(before));
	sodium_memzero(after, sizeof(after));
	snprintf(detail, sizeof(detail), "restored the configuration from %s (schema version %d)",
		 path, info->file_version);
	return store_audit_write(s, actor, "config.restore", detail);
}
