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

int store_snapshot(struct store *s, const char *path, int64_t *bytes, uint64_t *generation)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *del = NULL;
	struct stat st;
	int rc, ret;

	ret = store_backup(s, path, bytes);
	if (ret < 0)
		return ret;
	/* The copy is ours alone until it is served: strip it in place. */
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db,
				  "PRAGMA foreign_keys=ON;"
				  "BEGIN;"
				  "DELETE FROM audit;"
				  "DELETE FROM proxy_health;"
				  "DELETE FROM api_tokens;"
				  "DELETE FROM users;",
				  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "DELETE FROM settings WHERE key = ?", -1, &del, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < settings_count(); i++) {
		const struct setting_def *d = settings_def_at(i);

		if (d->scope != SETTING_SCOPE_NODE)
			continue;
		sqlite3_reset(del);
		sqlite3_bind_text(del, 1, d->key, -1, SQLITE_STATIC);
		rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	sqlite3_finalize(del);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT; VACUUM;", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = store_generation_of(db, generation) == 0 ? SQLITE_OK : SQLITE_CORRUPT;
	if (rc != SQLITE_OK) {
		store_seterr(s, "snapshot: %s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		ret = store_errno(rc);
	}
	if (sqlite3_close(db) != SQLITE_OK && ret == 0) {
		store_seterr(s, "snapshot: closing the copy failed");
		ret = -EIO;
	}
	if (ret == 0 && stat(path, &st) < 0) {
		ret = -errno;
		store_seterr(s, "snapshot: %s: %s", path, strerror(errno));
	}
	if (ret < 0) {
		unlink(path);
		return ret;
	}
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
 * The settings a connection to a file nobody vouches for runs with: no
 * schema-borne code (triggers, views, functions a schema names that are not
 * innocuous), no writes to the schema through the back door (defensive
 * mode), no extensions. Returns SQLITE_OK or the first failure.
 */
static int store_restore_harden(sqlite3 *db)
{
	static const struct {
		int op;
		int value;
	} config[] = {
	    {SQLITE_DBCONFIG_DEFENSIVE, 1},
	    {SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0},
	    {SQLITE_DBCONFIG_ENABLE_TRIGGER, 0},
	    {SQLITE_DBCONFIG_ENABLE_VIEW, 0},
	    {SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0},
	};

	for (size_t i = 0; i < sizeof(config) / sizeof(config[0]); i++) {
		int now = -1;
		int rc = sqlite3_db_config(db, config[i].op, config[i].value, &now);

		if (rc != SQLITE_OK)
			return rc;
		if (now != config[i].value)
			return SQLITE_MISUSE;
	}
	/* The same as TRUSTED_SCHEMA off, said again for an SQLite that only knows the pragma. */
	return sqlite3_exec(db, "PRAGMA trusted_schema=OFF", NULL, NULL, NULL);
}

/* Opens path (or ":memory:") with store_restore_harden's settings. */
static int store_restore_open(const char *path, int flags, sqlite3 **db)
{
	int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOFOLLOW, NULL);

	if (rc == SQLITE_OK)
		rc = store_restore_harden(*db);
	return rc;
}

/*
 * Replaces every control character of msg (names and values quoted from the
 * file may hold any byte) with \xHH, so the message is one line on a
 * terminal and in the journal.
 */
static void store_restore_escape(char *msg, size_t size)
{
	char copy[STORE_ERROR_MAX];
	size_t used = 0;

	snprintf(copy, sizeof(copy), "%s", msg);
	for (const unsigned char *c = (const unsigned char *)copy; *c != '\0'; c++) {
		bool plain = *c >= ' ' && *c != 0x7f;
		int n = plain ? snprintf(msg + used, size - used, "%c", *c)
			      : snprintf(msg + used, size - used, "\\x%02x", *c);

		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	msg[used] = '\0';
}

/* More schema objects than drover makes many times over: not a file of ours. */
#define STORE_RESTORE_SCHEMA_MAX 256
/* What separates the fields of a schema object's description. */
#define STORE_RESTORE_FIELD_SEP '\x1f'

/* A database's schema objects, each "type SEP name SEP table SEP canonical SQL". */
struct store_restore_schema {
	char *objects[STORE_RESTORE_SCHEMA_MAX];
	size_t n;
};

static bool store_restore_sql_punct(char c)
{
	return c == '(' || c == ')' || c == ',' || c == ';';
}

/*
 * Appends sql to out in a canonical spelling: outside quotes, each run of
 * white space becomes one space, and none is kept at either end or next to
 * ( ) , ; so that the same statement laid out differently (as SQLite's
 * ALTER TABLE and older hand-made files do) compares equal, while no two
 * tokens are ever joined.
 */
static void store_restore_sql_canonical(const char *sql, char *out)
{
	char quote = '\0';
	bool space = false;
	size_t n = 0;

	for (const char *c = sql; *c != '\0'; c++) {
		if (quote != '\0') {
			out[n++] = *c;
			if (*c == quote)
				quote = '\0';
			continue;
		}
		if (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r' || *c == '\f' ||
		    *c == '\v') {
			space = true;
			continue;
		}
		if (space && n > 0 && !store_restore_sql_punct(out[n - 1]) &&
		    !store_restore_sql_punct(*c))
			out[n++] = ' ';
		space = false;
		if (*c == '\'' || *c == '"' || *c == '`')
			quote = *c;
		else if (*c == '[')
			quote = ']';
		out[n++] = *c;
	}
	out[n] = '\0';
}

static void store_restore_schema_free(struct store_restore_schema *schema)
{
	for (size_t i = 0; i < schema->n; i++)
		free(schema->objects[i]);
	schema->n = 0;
}

/* Reads db's sqlite_master into schema; SQLITE_OK, SQLITE_NOMEM, SQLITE_TOOBIG or db's error. */
static int store_restore_schema_read(sqlite3 *db, struct store_restore_schema *schema)
{
	sqlite3_stmt *stmt;
	int rc;

	schema->n = 0;
	rc = sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_master", -1,
				&stmt, NULL);
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *field[4];
		size_t len = 0, used;
		char *object;

		if (schema->n == STORE_RESTORE_SCHEMA_MAX) {
			rc = SQLITE_TOOBIG;
			break;
		}
		for (int i = 0; i < 4; i++) {
			field[i] = (const char *)sqlite3_column_text(stmt, i) ?: "";
			len += strlen(field[i]) + 1;
		}
		object = malloc(len);
		if (object == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		used = (size_t)sprintf(object, "%s%c%s%c%s%c", field[0], STORE_RESTORE_FIELD_SEP,
				       field[1], STORE_RESTORE_FIELD_SEP, field[2],
				       STORE_RESTORE_FIELD_SEP);
		store_restore_sql_canonical(field[3], object + used);
		schema->objects[schema->n++] = object;
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE)
		return SQLITE_OK;
	store_restore_schema_free(schema);
	return rc;
}

/* Length of an object's "type SEP name" part: what two objects must share to be one object. */
static size_t store_restore_schema_key_len(const char *object)
{
	const char *sep = strchr(object, STORE_RESTORE_FIELD_SEP);

	sep = sep ? strchr(sep + 1, STORE_RESTORE_FIELD_SEP) : NULL;
	return sep ? (size_t)(sep - object) : strlen(object);
}

/*
 * Finds the first object of from that in does not hold identically. Returns
 * true and describes it in what ("trigger `x' on audit"), with *differs true
 * when in holds an object of that type and name spelled otherwise.
 */
static bool store_restore_schema_extra(const struct store_restore_schema *from,
				       const struct store_restore_schema *in, char *what,
				       size_t len, bool *differs)
{
	for (size_t i = 0; i < from->n; i++) {
		const char *object = from->objects[i];
		size_t key = store_restore_schema_key_len(object);
		const char *name, *table;
		bool same = false;

		*differs = false;
		for (size_t j = 0; j < in->n && !same; j++) {
			same = strcmp(object, in->objects[j]) == 0;
			if (strncmp(object, in->objects[j], key) == 0 &&
			    in->objects[j][key] == STORE_RESTORE_FIELD_SEP)
				*differs = true;
		}
		if (same)
			continue;
		name = strchr(object, STORE_RESTORE_FIELD_SEP) + 1;
		table = strchr(name, STORE_RESTORE_FIELD_SEP) + 1;
		snprintf(what, len, "%.*s `%.*s' on %.*s", (int)(name - 1 - object), object,
			 (int)(table - 1 - name), name,
			 (int)(strchr(table, STORE_RESTORE_FIELD_SEP) - table), table);
		return true;
	}
	return false;
}

/*
 * Refuses a file whose schema is not exactly the one drover made for its
 * version: any trigger, view, index or table drover never creates (a
 * trigger would come along into the live file and run on our own writes),
 * or a table of ours with a different definition (other constraints, other
 * defaults). Message in s.
 */
static int store_restore_schema_check(struct store *s, sqlite3 *src, int version, const char *path)
{
	struct store_restore_schema want = {0}, have = {0};
	struct store ref = {0};
	char what[STORE_ERROR_MAX / 2];
	bool differs = false;
	int rc, ret;

	rc = store_restore_open(":memory:", SQLITE_OPEN_READWRITE, &ref.db);
	if (rc != SQLITE_OK) {
		store_seterr(s, "restore: cannot build the reference schema: %s",
			     ref.db ? sqlite3_errmsg(ref.db) : sqlite3_errstr(rc));
		sqlite3_close(ref.db);
		return store_errno(rc);
	}
	ret = store_schema_build(&ref, version);
	if (ret == 0 && store_restore_schema_read(ref.db, &want) != SQLITE_OK) {
		store_seterr(&ref, "%s", sqlite3_errmsg(ref.db));
		ret = -ENOMEM;
	}
	if (ret < 0) {
		store_seterr(s, "restore: cannot build the reference schema: %s", ref.error);
		sqlite3_close(ref.db);
		return ret;
	}
	sqlite3_close(ref.db);
	rc = store_restore_schema_read(src, &have);
	if (rc != SQLITE_OK) {
		store_seterr(s, "restore: cannot read the schema of `%s': %s", path,
			     rc == SQLITE_TOOBIG ? "too many objects" : sqlite3_errstr(rc));
		store_restore_schema_free(&want);
		return rc == SQLITE_TOOBIG ? -EINVAL : store_errno(rc);
	}
	ret = -EINVAL;
	if (store_restore_schema_extra(&have, &want, what, sizeof(what), &differs)) {
		if (differs)
			store_seterr(
			    s,
			    "restore: `%s' is refused: its %s differs from drover's schema "
			    "(version %d)",
			    path, what, version);
		else
			store_seterr(s,
				     "restore: `%s' is refused: it holds %s, which is not part of "
				     "drover's schema (version %d)",
				     path, what, version);
	} else if (store_restore_schema_extra(&want, &have, what, sizeof(what), &differs)) {
		store_seterr(s, "restore: `%s' is not a drover database: it lacks %s", path, what);
	} else {
		ret = 0;
	}
	store_restore_schema_free(&want);
	store_restore_schema_free(&have);
	return ret;
}

/*
 * Every row of the migrated copy through the checks a live change of it
 * makes (store_private.h: the *_verify functions), and its references
 * whole. The file's audit log is not checked: the live one replaces it.
 */
static int store_restore_verify(struct store *s, struct store *mem, const char *path)
{
	struct settings settings;
	sqlite3_stmt *stmt;
	int ret;

	ret = store_proxy_verify(mem);
	if (ret == 0)
		ret = store_settings_verify(mem, &settings);
	if (ret == 0)
		ret = store_account_verify(mem);
	if (ret == 0)
		ret = store_hash_key_verify(mem);
	if (ret == 0) {
		ret = store_prepare(mem, "PRAGMA foreign_key_check", &stmt);
		if (ret == 0) {
			int rc = sqlite3_step(stmt);

			if (rc == SQLITE_ROW) {
				store_seterr(mem, "a row of %s that refers to no row of %s",
					     (const char *)sqlite3_column_text(stmt, 0) ?: "?",
					     (const char *)sqlite3_column_text(stmt, 2) ?: "?");
				ret = -EINVAL;
			} else if (rc != SQLITE_DONE) {
				ret = store_sqlerr(mem, rc, "foreign key check");
			}
			sqlite3_finalize(stmt);
		}
	}
	if (ret < 0)
		store_seterr(s, "restore: `%s' is refused: it holds %s", path, mem->error);
	return ret;
}

/*
 * Loads path into a private in-memory database, checked and migrated to our
 * schema; *out is that connection (close it). The file itself is only read,
 * through a connection that runs nothing the file's schema carries; every
 * check is made before anything live is touched.
 */
static int store_restore_load(struct store *s, const char *path, sqlite3 **out, int *version)
{
	struct store mem = {0};
	sqlite3 *src = NULL;
	char problem[256];
	int rc, ret;

	*out = NULL;
	rc = store_restore_open(path, SQLITE_OPEN_READONLY, &src);
	if (rc != SQLITE_OK) {
		store_seterr(s, "restore: cannot open `%s': %s", path,
			     src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
		sqlite3_close(src);
		return store_errno(rc);
	}
	/* The file may attach nothing: it is only ever read through this connection. */
	sqlite3_limit(src, SQLITE_LIMIT_ATTACHED, 0);
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
	if (*version < 1) {
		store_seterr(s, "restore: `%s' is not a drover database", path);
		sqlite3_close(src);
		return -EINVAL;
	}
	ret = store_restore_schema_check(s, src, *version, path);
	if (ret < 0) {
		sqlite3_close(src);
		return ret;
	}
	rc = store_restore_open(":memory:", SQLITE_OPEN_READWRITE, &mem.db);
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
	ret = store_restore_verify(s, &mem, path);
	if (ret < 0) {
		sqlite3_close(mem.db);
		return ret;
	}
	*out = mem.db;
	return 0;
}

/*
 * A replica keeps its own accounts, tokens and node-scoped settings: the
 * copy gets the live ones in place of the file's (a primary's snapshot has
 * none of them anyway). Inside keep_local's transaction, live attached.
 */
static int store_restore_keep_node(sqlite3 *mem)
{
	sqlite3_stmt *del = NULL, *ins = NULL;
	int rc;

	rc = sqlite3_exec(mem,
			  "DELETE FROM main.api_tokens;"
			  "DELETE FROM main.users;"
			  "INSERT INTO main.users SELECT * FROM live.users;"
			  "INSERT INTO main.api_tokens SELECT * FROM live.api_tokens;",
			  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(mem, "DELETE FROM main.settings WHERE key = ?", -1, &del,
					NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(mem,
					"INSERT INTO main.settings (key, value)"
					" SELECT key, value FROM live.settings WHERE key = ?",
					-1, &ins, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < settings_count(); i++) {
		const struct setting_def *d = settings_def_at(i);

		if (d->scope != SETTING_SCOPE_NODE)
			continue;
		sqlite3_reset(del);
		sqlite3_reset(ins);
		sqlite3_bind_text(del, 1, d->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 1, d->key, -1, SQLITE_STATIC);
		rc = sqlite3_step(del) == SQLITE_DONE && sqlite3_step(ins) == SQLITE_DONE
			 ? SQLITE_OK
			 : sqlite3_errcode(mem);
	}
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	return rc;
}

/*
 * The generation the copy carries in: the file's for a replica (checked
 * against the one announced), else one past both the live one and the
 * file's, so that a restore is a change like any other.
 */
static int store_restore_generation(struct store *s, sqlite3 *mem, enum store_restore_mode mode,
				    uint64_t expect, uint64_t *out)
{
	struct store copy = {.db = mem};
	uint64_t live = 0, file = 0;
	int ret;

	ret = store_generation_of(mem, &file);
	if (ret == 0)
		ret = store_generation_of(s->db, &live);
	if (ret < 0) {
		store_seterr(s, "restore: unreadable configuration generation");
		return ret;
	}
	if (mode == STORE_RESTORE_REPLICA && file != expect) {
		store_seterr(s,
			     "restore: the snapshot holds generation %llu, not the %llu "
			     "announced",
			     (unsigned long long)file, (unsigned long long)expect);
		return -EINVAL;
	}
	*out = mode == STORE_RESTORE_REPLICA ? file : (live > file ? live : file) + 1;
	ret = store_generation_write(&copy, *out, false);
	if (ret < 0)
		store_seterr(s, "restore: %s", copy.error);
	return ret;
}

/*
 * The audit log is history, not configuration: the restored copy gets the
 * live log in place of its own, so a restore never erases what happened.
 * The proxies' last known health is this appliance's view, not the file's
 * (which may come from another appliance, or from long ago): the copy keeps
 * the live verdict of each of its proxies with the same id and address, and
 * none of its own. A replica (STORE_RESTORE_REPLICA) keeps more of its own:
 * store_restore_keep_node.
 */
static int store_restore_keep_local(struct store *s, sqlite3 *mem, enum store_restore_mode mode)
{
	const char *live = sqlite3_db_filename(s->db, "main");
	sqlite3_stmt *stmt;
	int rc;

	if (live == NULL || live[0] == '\0') {
		/*
		 * A live database in memory (tests): nothing to keep, and nothing
		 * of the file's either; no node-scoped part to keep apart.
		 */
		rc = sqlite3_exec(mem, "DELETE FROM main.proxy_health", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		store_seterr(s, "restore: proxy health: %s", sqlite3_errmsg(mem));
		return store_errno(rc);
	}
	rc = sqlite3_prepare_v2(mem, "ATTACH DATABASE ? AS live", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, live, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(mem);
		sqlite3_finalize(stmt);
	}
	if (rc == SQLITE_OK)
		rc =
		    sqlite3_exec(mem,
				 "BEGIN;"
				 "DELETE FROM main.audit;"
				 "INSERT INTO main.audit (id, time, actor, action, detail)"
				 " SELECT id, time, actor, action, detail FROM live.audit;"
				 "DELETE FROM main.proxy_health;"
				 "INSERT INTO main.proxy_health (proxy_id, address, up, changed_at)"
				 " SELECT h.proxy_id, h.address, h.up, h.changed_at"
				 " FROM live.proxy_health h JOIN main.proxies p"
				 " ON p.id = h.proxy_id AND p.address = h.address;",
				 NULL, NULL, NULL);
	if (rc == SQLITE_OK && mode == STORE_RESTORE_REPLICA)
		rc = store_restore_keep_node(mem);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(mem, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		store_seterr(s, "restore: keeping the audit log and proxy health: %s",
			     sqlite3_errmsg(mem));
		sqlite3_exec(mem, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_exec(mem, "DETACH DATABASE live", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : store_errno(rc);
}

int store_restore(struct store *s, const char *path, const char *actor,
		  struct store_restore_info *info)
{
	return store_restore_as(s, path, actor, STORE_RESTORE_FILE, 0, info);
}

int store_restore_as(struct store *s, const char *path, const char *actor,
		     enum store_restore_mode mode, uint64_t expect_generation,
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
	if (ret < 0) {
		store_restore_escape(s->error, sizeof(s->error));
		return ret;
	}
	ret = store_restore_keep_local(s, mem, mode);
	if (ret == 0)
		ret = store_restore_generation(s, mem, mode, expect_generation, &info->generation);
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
	if (mode == STORE_RESTORE_REPLICA) {
		snprintf(detail, sizeof(detail),
			 "took the primary's configuration, generation %llu%s",
			 (unsigned long long)info->generation,
			 info->hash_key_changed ? ", with its hash key" : "");
		return store_audit_write(s, actor, "cluster.replicate", detail);
	}
	snprintf(detail, sizeof(detail),
		 "restored the configuration from %s (schema version %d), generation %llu", path,
		 info->file_version, (unsigned long long)info->generation);
	return store_audit_write(s, actor, "config.restore", detail);
}
