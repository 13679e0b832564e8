/*
 * store_audit.c - the audit log: who changed what, and when.
 *
 * Every change the store makes writes its row through store_audit_write in
 * the change's own transaction, so the log never claims a change that was
 * rolled back nor misses one that was committed. A restore keeps the live
 * log (store_backup.c): the log is history, not configuration.
 */
#include "clock.h"
#include "log.h"
#include "store_private.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* What a struct audit_entry holds of a row: the stored text is cut to fit, whole escapes only. */
#define STORE_AUDIT_ACTOR_MAX  sizeof(((struct audit_entry *)0)->actor)
#define STORE_AUDIT_DETAIL_MAX sizeof(((struct audit_entry *)0)->detail)

/* Who did it, as the log shows it: an unnamed caller is "unknown", never blank. */
static const char *store_audit_actor(const char *actor)
{
	return actor && actor[0] ? actor : "unknown";
}

/* Writes one audit row; inside the caller's transaction when it has one. */
int store_audit_write(struct store *s, const char *actor, const char *action, const char *detail)
{
	char shown_actor[STORE_AUDIT_ACTOR_MAX], shown_detail[STORE_AUDIT_DETAIL_MAX];
	sqlite3_stmt *stmt;
	int ret;

	ret = store_prepare(
	    s, "INSERT INTO audit (time, actor, action, detail) VALUES (?, ?, ?, ?)", &stmt);
	if (ret < 0)
		return ret;
	log_escape(store_audit_actor(actor), shown_actor, sizeof(shown_actor));
	log_escape(detail, shown_detail, sizeof(shown_detail));
	ret =
	    store_bind_check(s, sqlite3_bind_int64(stmt, 1, (sqlite3_int64)clock_wall_s()) |
				    sqlite3_bind_text(stmt, 2, shown_actor, -1, SQLITE_TRANSIENT) |
				    sqlite3_bind_text(stmt, 3, action, -1, SQLITE_TRANSIENT) |
				    sqlite3_bind_text(stmt, 4, shown_detail, -1, SQLITE_TRANSIENT));
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

int store_audit_append(struct store *s, const char *actor, const char *action, const char *detail,
		       int64_t *id)
{
	int ret = store_audit_add(s, actor, action, detail);

	if (ret == 0)
		*id = (int64_t)sqlite3_last_insert_rowid(s->db);
	return ret;
}

int store_audit_redetail(struct store *s, int64_t id, const char *detail)
{
	char shown[STORE_AUDIT_DETAIL_MAX];
	sqlite3_stmt *stmt;
	int ret;

	ret = store_prepare(s, "UPDATE audit SET detail = ? WHERE id = ?", &stmt);
	if (ret < 0)
		return ret;
	log_escape(detail, shown, sizeof(shown));
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, shown, -1, SQLITE_TRANSIENT) |
				      sqlite3_bind_int64(stmt, 2, id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "update audit entry");
	sqlite3_finalize(stmt);
	if (ret == 0 && sqlite3_changes(s->db) == 0) {
		store_seterr(s, "audit: no entry %lld", (long long)id);
		ret = -ENOENT;
	}
	return ret;
}

/* Runs one DELETE with two int64 parameters; adds the rows it removed to *removed. */
static int store_audit_delete(struct store *s, const char *sql, int64_t a, int64_t b,
			      size_t *removed)
{
	sqlite3_stmt *stmt;
	int ret = store_prepare(s, sql, &stmt);

	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, a) | sqlite3_bind_int64(stmt, 2, b));
	if (ret == 0)
		ret = store_step_done(s, stmt, "prune audit log");
	sqlite3_finalize(stmt);
	if (ret == 0)
		*removed += (size_t)sqlite3_changes(s->db);
	return ret;
}

int store_audit_prune(struct store *s, uint32_t max_entries, int64_t oldest, size_t *removed)
{
	size_t gone = 0;
	int ret;

	/*
	 * Both walk the rowid from the oldest row and stop early, so a call costs
	 * what it removes (plus one look at the newest id), never a scan of the
	 * whole log. Rows are numbered in time order, so the oldest by id are the
	 * oldest by time: the age rule looks at the first rows only.
	 */
	ret = store_audit_delete(
	    s,
	    "DELETE FROM audit WHERE id IN (SELECT id FROM audit"
	    " WHERE id <= (SELECT MAX(id) FROM audit) - ?1 ORDER BY id LIMIT ?2)",
	    (int64_t)max_entries, STORE_AUDIT_PRUNE_BATCH, &gone);
	if (ret == 0 && oldest > 0)
		ret = store_audit_delete(s,
					 "DELETE FROM audit WHERE id IN (SELECT id FROM audit"
					 " ORDER BY id LIMIT ?2) AND time < ?1",
					 oldest, STORE_AUDIT_PRUNE_BATCH, &gone);
	if (removed != NULL)
		*removed = gone;
	return ret;
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
