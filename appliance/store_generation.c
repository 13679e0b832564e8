/*
 * store_generation.c - the configuration generation: a counter in the meta
 * table, one more at every change of what a cluster replicates (proxies,
 * cluster-scoped settings, the hash key, a restore), written in the same
 * transaction as the change itself. Two appliances at the same generation
 * hold the same replicated configuration. Not to be confused with the
 * snapshots the manager counts (pool.h), which are local and also grow at
 * every health change.
 */
#include "store_private.h"

#include <errno.h>
#include <inttypes.h>

/* The stored generation of db (0 when none was ever written); -EIO when the row is damaged. */
static int store_generation_read_db(sqlite3 *db, uint64_t *generation)
{
	sqlite3_stmt *stmt;
	int rc, ret = 0;

	*generation = 0;
	rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store_errno(rc);
	sqlite3_bind_text(stmt, 1, STORE_GENERATION_KEY, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(stmt, 0) != SQLITE_INTEGER ||
		    sqlite3_column_int64(stmt, 0) < 0)
			ret = -EIO;
		else
			*generation = (uint64_t)sqlite3_column_int64(stmt, 0);
	} else if (rc != SQLITE_DONE) {
		ret = store_errno(rc);
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_generation(struct store *s, uint64_t *generation)
{
	int ret = store_generation_read_db(s->db, generation);

	if (ret == -EIO)
		store_seterr(s, "database: the stored configuration generation is not a number");
	else if (ret < 0)
		store_seterr(s, "database: read generation: %s", sqlite3_errmsg(s->db));
	return ret;
}

int store_generation_bump(struct store *s)
{
	return store_generation_write(s, 0, true);
}

int store_generation_write(struct store *s, uint64_t generation, bool bump)
{
	sqlite3_stmt *stmt;
	int ret;

	ret = store_prepare(s,
			    bump ? "INSERT INTO meta (key, value) VALUES (?, 1)"
				   " ON CONFLICT(key) DO UPDATE SET value = value + 1"
				 : "INSERT INTO meta (key, value) VALUES (?, ?)"
				   " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
			    &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, STORE_GENERATION_KEY, -1, SQLITE_STATIC) |
		   (bump ? SQLITE_OK : sqlite3_bind_int64(stmt, 2, (sqlite3_int64)generation)));
	if (ret == 0)
		ret = store_step_done(s, stmt, "store generation");
	sqlite3_finalize(stmt);
	return ret;
}

int store_generation_of(sqlite3 *db, uint64_t *generation)
{
	return store_generation_read_db(db, generation);
}
