/*
 * store_private.h - what the store*.c files share and nobody else sees.
 *
 * The store is one concept split over several files (store.c: the database
 * itself; store_audit.c, store_proxy.c, store_setting.c, store_hash_key.c,
 * store_account.c, store_backup.c: one table or task each). Only those files
 * include this header: every other layer goes through store.h and never
 * reads struct store or an SQLite handle.
 *
 * Error contract, as in store.h: int helpers return 0 or -errno and leave
 * the message for the user in s->error.
 */
#ifndef DROVER_STORE_PRIVATE_H
#define DROVER_STORE_PRIVATE_H

#include <sqlite3.h>
#include <stddef.h>

#include "store.h"

#define STORE_ERROR_MAX 512

struct store {
	sqlite3 *db;
	char error[STORE_ERROR_MAX];
};

/* store.c: error text. */

/* Formats the message store_error() will return. */
void store_seterr(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Maps an SQLite result to the errno our callers act on (EBUSY: try again later). */
int store_errno(int rc);
/* Records the failing call and SQLite's own words; returns the errno. */
int store_sqlerr(struct store *s, int rc, const char *what);

/* store.c: statements. Each statement is finalized by the function that prepared it. */

/* Prepares sql; on failure *stmt is NULL. */
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **stmt);
/* Steps a statement expected to return no row (INSERT, UPDATE, DELETE); what names it. */
int store_step_done(struct store *s, sqlite3_stmt *stmt, const char *what);
/* Checks every bind of one statement at once: rc is the OR of the sqlite3_bind_* results. */
int store_bind_check(struct store *s, int rc);
/* Copies a text column into dst (len bytes, truncated); NULL becomes "". */
void store_copy_text(char *dst, size_t len, const unsigned char *src);
/* True when column col of the current row is TEXT with no NUL inside (all of it is readable). */
bool store_column_is_text(sqlite3_stmt *stmt, int col);
/*
 * Makes room for one more element in a growing result array: doubles *cap
 * when n has reached it. Returns 0, or -ENOMEM with the message set (the
 * array is left as it was, for the caller to free).
 */
int store_grow(struct store *s, void **array, size_t *cap, size_t n, size_t size);

/* store.c: transactions. */

/* BEGIN IMMEDIATE: the write lock, taken before the checks a change depends on. */
int store_begin(struct store *s);
int store_commit(struct store *s);
/* Rolls back when a transaction is open; keeps the first error message. */
void store_rollback(struct store *s);

/*
 * store.c: brings s->db up to STORE_SCHEMA_VERSION, one transaction per
 * migration; -EPROTO for a newer or invalid schema. Restore runs it on a
 * private in-memory copy as well as open on the live file.
 */
int store_migrate(struct store *s);

/*
 * store.c: applies the migrations up to version to an empty database, so it
 * holds exactly the tables and indexes a drover database of that version
 * has (restore compares a file's sqlite_master against it).
 */
int store_schema_build(struct store *s, int version);

/*
 * Checks every stored row of one table with the rules a live change is
 * checked with, for a file to restore (already migrated to our schema).
 * Each returns 0, or -EINVAL with the message naming the row and field.
 */
/* store_proxy.c: name, address, weight, admin, probe, and the column types. */
int store_proxy_verify(struct store *s);
/* store_setting.c: each row parses (settings_set) and together they pass settings_check; *out. */
int store_settings_verify(struct store *s, struct settings *out);
/* store_account.c: user and token names, password hashes, token hash sizes. */
int store_account_verify(struct store *s);
/* store_hash_key.c: the hash key's size; meta holds no other key. */
int store_hash_key_verify(struct store *s);

/*
 * store_audit.c: writes one audit row, inside the caller's transaction when
 * it has one, so a change and its row commit or vanish together.
 */
int store_audit_write(struct store *s, const char *actor, const char *action, const char *detail);

/* store_hash_key.c: reads the stored key: 0 with *found, or -errno (-EIO for a wrong size). */
int store_hash_key_read(struct store *s, uint8_t key[STORE_HASH_KEY_LEN], bool *found);

/*
 * store_generation.c: the configuration generation, inside the caller's
 * transaction. bump adds one; otherwise the row is set to generation.
 */
int store_generation_bump(struct store *s);
int store_generation_write(struct store *s, uint64_t generation, bool bump);
/* The generation stored in db (0 when none); -EIO when its row is not a whole number >= 0. */
int store_generation_of(sqlite3 *db, uint64_t *generation);
#define STORE_GENERATION_KEY "config_generation"

#endif
