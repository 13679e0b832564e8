/*
 * store_audit.c - the audit log: who changed what, and when.
 *
 * Every change the store makes writes its row through store_audit_write in
 * the change's own transaction, so the log never claims a change that was
 * rolled back nor misses one that was committed. A restore keeps the live
 * log (store_backup.c): the log is history, not configuration.
 */
#include "clock.h"
#include "store_private.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* Who did it, as the log shows it: an unnamed caller is "unknown", never blank. */
static const char *store_audit_actor(const char *actor)
{
	return actor && actor[0] ? actor : "unknown";
}

/* Writes one audit row; inside the caller's transaction when it has one. */
int store_audit_write(struct store *s, const char *actor, const char *action, const char *detail)
{
	sqlite3_stmt *stmt;
	int ret;

	ret = store_prepare(
	    s, "INSERT INTO audit (time, actor, action, detail) VALUES (?, ?, ?, ?)", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(
	    s, sqlite3_bind_int64(stmt, 1, (sqlite3_int64)clock_wall_s()) |
		   sqlite3_bind_text(stmt, 2, store_audit_actor(actor), -1, SQLITE_TRANSIENT) |
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
