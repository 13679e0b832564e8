/*
 * store_backup.c - backup and restore of the whole database, both through
 * SQLite's online backup API.
 *
 * A backup is one read transaction on the live file, so it is a consistent
 * snapshot while droverd and droverctl keep writing. A restore is checked
 * and migrated in memory first, then copied in under one write lock: the
 * live file holds the old configuration or the new one, never a mix, and a
 * file that fails a check leaves nothing changed.
 */
#include "store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Rounds of waiting for a lock another connection holds a moment longer. */
#define STORE_BACKUP_BUSY_TRIES	   100
#define STORE_BACKUP_BUSY_SLEEP_MS 50

/* Copies every page of src into dst; SQLITE_OK or the error, with dst's message. */
static int store_backup_copy(sqlite3 *dst, sqlite3 *src)
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
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= STORE_BACKUP_BUSY_TRIES)
			break;
		sqlite3_sleep(STORE_BACKUP_BUSY_SLEEP_MS);
	}
	sqlite3_backup_finish(b);
	if (rc == SQLITE_DONE)
		return sqlite3_errcode(dst);
	return rc;
}

/* fsyncs the directory holding path, so a rename into it survives a crash. */
static void store_backup_sync_dir(const char *path)
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
		rc = store_backup_copy(dst, s->db);
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
	store_backup_sync_dir(path);
	*bytes = (int64_t)st.st_size;
	return 0;
}

/* The first column of a one-row query on db, as an int; -1 when it fails. */
static int store_restore_query_int(sqlite3 *db, const char *sql)
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
static bool store_restore_integrity_ok(sqlite3 *db, char *problem, size_t len)
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
	if (!store_restore_integrity_ok(src, problem, sizeof(problem))) {
		store_seterr(s, "restore: `%s' fails the integrity check: %s", path, problem);
		sqlite3_close(src);
		return -EIO;
	}
	*version = store_restore_query_int(src, "PRAGMA user_version");
	if (*version > STORE_SCHEMA_VERSION) {
		store_seterr(s, "restore: `%s' has schema version %d, newer than this drover (%d)",
			     path, *version, STORE_SCHEMA_VERSION);
		sqlite3_close(src);
		return -EPROTO;
	}
	if (*version < 1 ||
	    store_restore_query_int(src, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
					 " AND name IN ('proxies', 'settings')") != 2) {
		store_seterr(s, "restore: `%s' is not a drover database", path);
		sqlite3_close(src);
		return -EINVAL;
	}
	rc = sqlite3_open_v2(":memory:", &mem.db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = store_backup_copy(mem.db, src);
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
	rc = store_backup_copy(s->db, mem);
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
