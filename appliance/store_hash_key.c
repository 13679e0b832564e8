/*
 * store_hash_key.c - the keyed-hash secret, one row in the meta table.
 *
 * The secret keys the hash that spreads clients over proxies. It is made
 * once, at first use, and kept in the database so a restart spreads clients
 * as before; a restore brings the backup's key along (store_backup.c says
 * whether it changed).
 */
#include "store_private.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define STORE_HASH_KEY_NAME "hash_key"

/* Reads the stored key: 0 with *found, or -errno (-EIO when its size is wrong). */
int store_hash_key_read(struct store *s, uint8_t key[STORE_HASH_KEY_LEN], bool *found)
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

int store_hash_key(struct store *s, uint8_t key[STORE_HASH_KEY_LEN])
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
		ret = store_generation_bump(s);
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

/*
 * The key, when there is one, has its size; meta holds nothing else but the
 * configuration generation (store_generation.c), a whole number.
 */
int store_hash_key_verify(struct store *s)
{
	uint8_t key[STORE_HASH_KEY_LEN];
	uint64_t generation;
	sqlite3_stmt *stmt;
	bool found;
	int rc, ret;

	ret = store_hash_key_read(s, key, &found);
	sodium_memzero(key, sizeof(key));
	if (ret < 0) {
		if (ret == -EIO)
			ret = -EINVAL;
		return ret;
	}
	ret = store_generation_of(s->db, &generation);
	if (ret < 0) {
		store_seterr(s, "meta: a configuration generation that is not a whole number");
		return -EINVAL;
	}
	ret = store_prepare(s, "SELECT key FROM meta WHERE key IS NOT ? AND key IS NOT ? LIMIT 1",
			    &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, STORE_HASH_KEY_NAME, -1, SQLITE_STATIC) |
		   sqlite3_bind_text(stmt, 2, STORE_GENERATION_KEY, -1, SQLITE_STATIC));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			store_seterr(s, "meta: unknown key `%s'",
				     store_column_is_text(stmt, 0)
					 ? (const char *)sqlite3_column_text(stmt, 0)
					 : "(not text)");
			ret = -EINVAL;
		} else if (rc != SQLITE_DONE) {
			ret = store_sqlerr(s, rc, "verify meta");
		}
	}
	sqlite3_finalize(stmt);
	return ret;
}
