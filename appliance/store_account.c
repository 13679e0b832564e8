/*
 * store_account.c - web UI accounts (users) and API tokens, schema v4 (v5: a
 * token's expiry).
 *
 * Only hashes are kept: a libsodium crypto_pwhash_str string per user and a
 * BLAKE2b hash per API token, made by the caller (webui/account.c); this
 * file never sees a password or a token. Names follow the proxy-name rules
 * because they end up in the audit log and in actor strings.
 */
#include "clock.h"
#include "store_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
static int store_account_name_check(struct store *s, const char *name)
{
	if (name == NULL || strlen(name) > STORE_USER_NAME_MAX || !proxy_name_valid(name)) {
		store_seterr(s, "name: `%s' is not 1..%d characters of A-Z a-z 0-9 . _ -",
			     name ? name : "", STORE_USER_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

static int store_user_check(struct store *s, const char *name, const char *hash)
{
	int ret = store_account_name_check(s, name);

	if (ret < 0)
		return ret;
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
	int64_t now = clock_wall_s();
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

/*
 * Deletes every API token of user name, inside the caller's transaction;
 * *count says how many there were.
 */
static int store_token_revoke_user(struct store *s, const char *name, int *count)
{
	sqlite3_stmt *stmt;
	int ret;

	*count = 0;
	ret = store_prepare(
	    s, "DELETE FROM api_tokens WHERE user_id = (SELECT id FROM users WHERE name = ?)",
	    &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT));
	if (ret == 0)
		ret = store_step_done(s, stmt, "revoke API tokens");
	sqlite3_finalize(stmt);
	if (ret == 0)
		*count = sqlite3_changes(s->db);
	return ret;
}

int store_user_set_password(struct store *s, const char *name, const char *password_hash,
			    bool must_change, const char *actor)
{
	sqlite3_stmt *stmt;
	char detail[160];
	int revoked = 0;
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
				      sqlite3_bind_int64(stmt, 3, (sqlite3_int64)clock_wall_s()) |
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
	ret = store_token_revoke_user(s, name, &revoked);
	if (ret < 0)
		goto fail;
	if (revoked > 0)
		snprintf(detail, sizeof(detail),
			 "changed the password of %s; revoked their %d API tokens", name, revoked);
	else
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
		    const uint8_t hash[STORE_TOKEN_HASH], int64_t expires_at, const char *actor,
		    int64_t *id)
{
	sqlite3_stmt *stmt;
	char detail[224];
	int ret;

	ret = store_account_name_check(s, name);
	if (ret < 0)
		return ret;
	if (expires_at < 0) {
		store_seterr(s, "expires_at: %lld is not a time", (long long)expires_at);
		return -EINVAL;
	}
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_prepare(
	    s,
	    "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at)"
	    " SELECT id, ?, ?, ?, ? FROM users WHERE name = ?",
	    &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_blob(stmt, 2, hash, STORE_TOKEN_HASH, SQLITE_TRANSIENT) |
		   sqlite3_bind_int64(stmt, 3, (sqlite3_int64)clock_wall_s()) |
		   (expires_at > 0 ? sqlite3_bind_int64(stmt, 4, expires_at)
				   : sqlite3_bind_null(stmt, 4)) |
		   sqlite3_bind_text(stmt, 5, user, -1, SQLITE_TRANSIENT));
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
	if (expires_at > 0)
		snprintf(detail, sizeof(detail),
			 "created API token %lld %s for %s, expiring at %lld", (long long)*id, name,
			 user, (long long)expires_at);
	else
		snprintf(detail, sizeof(detail), "created API token %lld %s for %s", (long long)*id,
			 name, user);
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
	/* NULL (never) reads as 0. */
	t->expires_at = sqlite3_column_int64(stmt, 4);
}

#define STORE_TOKEN_SELECT                                                                         \
	"SELECT t.id, u.name, t.name, t.created_at, t.expires_at FROM api_tokens t JOIN users u "  \
	"ON u.id = t.user_id"

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

/*
 * Every user and token through the checks their live changes make: names
 * (they end up in actor strings and the audit log), password hashes, and
 * token hashes of exactly STORE_TOKEN_HASH bytes.
 */
int store_account_verify(struct store *s)
{
	static const char *const queries[] = {
	    "SELECT id, name, password_hash FROM users ORDER BY id",
	    "SELECT id, name, token_hash FROM api_tokens ORDER BY id",
	};
	char why[STORE_ERROR_MAX];
	int ret = 0;

	for (size_t q = 0; ret == 0 && q < sizeof(queries) / sizeof(queries[0]); q++) {
		const char *what = q == 0 ? "user" : "API token";
		sqlite3_stmt *stmt;
		int rc = SQLITE_DONE;

		ret = store_prepare(s, queries[q], &stmt);
		if (ret < 0)
			return ret;
		while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			long long id = (long long)sqlite3_column_int64(stmt, 0);
			const char *name = store_column_is_text(stmt, 1)
					       ? (const char *)sqlite3_column_text(stmt, 1)
					       : NULL;

			if (q == 0)
				ret = store_user_check(
				    s, name,
				    store_column_is_text(stmt, 2)
					? (const char *)sqlite3_column_text(stmt, 2)
					: NULL);
			else
				ret = store_account_name_check(s, name);
			if (ret == 0 && q == 1 &&
			    (sqlite3_column_type(stmt, 2) != SQLITE_BLOB ||
			     sqlite3_column_bytes(stmt, 2) != STORE_TOKEN_HASH)) {
				store_seterr(s, "token hash: not %d bytes", STORE_TOKEN_HASH);
				ret = -EINVAL;
			}
			if (ret < 0) {
				snprintf(why, sizeof(why), "%s", s->error);
				store_seterr(s, "%s %lld: %s", what, id, why);
				ret = -EINVAL;
			}
		}
		if (ret == 0 && rc != SQLITE_DONE)
			ret = store_sqlerr(s, rc, "verify accounts");
		sqlite3_finalize(stmt);
	}
	return ret;
}
