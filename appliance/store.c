/*
 * store.c - the database under drover's configuration: open and close,
 * schema migrations (PRAGMA user_version), transactions, error text, and the
 * statement helpers the other store_*.c files share (store_private.h).
 *
 * Each function that changes something runs BEGIN IMMEDIATE ... COMMIT, so
 * the checks it makes (version, duplicates) and the write plus its audit row
 * happen under the same write lock: droverctl and the web UI may write to the
 * same file at once, and neither can slip in between.
 */
#include "store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* How long a writer waits for another (droverctl, a backup) before giving up. */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_DIR_MODE	      0750
#define STORE_FILE_MODE	      0600
/* The first allocation of a growing result array, in elements. */
#define STORE_GROW_FIRST 16

/*
 * Migrations, in order: entry i takes the schema from user_version i to i+1.
 * A new version is one more entry here and STORE_SCHEMA_VERSION bumped.
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

    /*
     * v5: an API token may expire (unix seconds). Tokens made before it
     * keep NULL, never expiring, as they were issued.
     */
    "ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER CHECK(expires_at IS NULL OR"
    " expires_at > 0);",

    /*
     * v6: each proxy's last known health on this appliance, so a restarted
     * droverd starts from it. Not configuration: the address it was seen at
     * is kept with it (a proxy moved since is not known), a deleted proxy
     * takes its row along, and a restore keeps this appliance's own rows.
     */
    "CREATE TABLE proxy_health ("
    " proxy_id INTEGER PRIMARY KEY REFERENCES proxies(id) ON DELETE CASCADE,"
    " address TEXT NOT NULL,"
    " up INTEGER NOT NULL CHECK(up IN (0, 1)),"
    " changed_at INTEGER NOT NULL);",

    /*
     * v7: a proxy may have an IPv6 address beside its IPv4 one (IPv6 clients
     * then reach it in IPv6-in-IPv6). NULL: none, as every proxy before it.
     * Unique as the IPv4 address is; SQLite's UNIQUE lets NULLs repeat.
     */
    "ALTER TABLE proxies ADD COLUMN address6 TEXT;"
    "CREATE UNIQUE INDEX proxies_address6 ON proxies(address6);",

    /*
     * v8: whether droverd reads the proxy's Squid cache manager for its own
     * figures. Off for every proxy before it: a Squid allows the manager only
     * once its operator said so.
     */
    "ALTER TABLE proxies ADD COLUMN squid_stats INTEGER NOT NULL DEFAULT 0"
    " CHECK(squid_stats IN (0, 1));",
};

_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

void store_seterr(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

/* Maps an SQLite result to the errno our callers act on (EBUSY: try again later). */
int store_errno(int rc)
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
int store_sqlerr(struct store *s, int rc, const char *what)
{
	store_seterr(s, "database: %s: %s", what, sqlite3_errmsg(s->db));
	return store_errno(rc);
}

/* Runs sql (one or more statements, no parameters, no rows wanted). */
static int store_exec(struct store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_sqlerr(s, rc, sql);
	return 0;
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **stmt)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return store_sqlerr(s, rc, "prepare");
	}
	return 0;
}

/* Steps a statement expected to return no row (INSERT, UPDATE, DELETE). */
int store_step_done(struct store *s, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	if (rc != SQLITE_DONE)
		return store_sqlerr(s, rc, what);
	return 0;
}

/* Checks every bind of one statement at once: a failed bind is an SQLITE_RANGE or NOMEM. */
int store_bind_check(struct store *s, int rc)
{
	if (rc != SQLITE_OK)
		return store_sqlerr(s, rc, "bind");
	return 0;
}

int store_begin(struct store *s)
{
	return store_exec(s, "BEGIN IMMEDIATE");
}

int store_commit(struct store *s)
{
	return store_exec(s, "COMMIT");
}

/* Keeps the first error message: the rollback is cleanup, not the news. */
void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_schema_version(struct store *s, int *version)
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

/*
 * Runs each missing migration in its own transaction. The version is read
 * again under the write lock because another process may have migrated the
 * file between our first look and our BEGIN.
 */
int store_migrate(struct store *s)
{
	for (;;) {
		char sql[64];
		int version, ret;

		ret = store_begin(s);
		if (ret < 0)
			return ret;
		ret = store_schema_version(s, &version);
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

/*
 * Builds, on an empty database, the schema of version (migrations 0..version
 * - 1, without user_version or transactions): the reference a file to
 * restore is compared against. Returns 0 or -errno with the message set.
 */
int store_schema_build(struct store *s, int version)
{
	if (version < 0 || version > STORE_SCHEMA_VERSION) {
		store_seterr(s, "database schema version %d is invalid", version);
		return -EPROTO;
	}
	for (int i = 0; i < version; i++) {
		int ret = store_exec(s, store_migrations[i]);

		if (ret < 0)
			return ret;
	}
	return 0;
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
	ret = store_schema_version(s, &version);
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

const char *store_path(const struct store *s)
{
	const char *path = sqlite3_db_filename(s->db, "main");

	return path ? path : "";
}

void store_copy_text(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src ? (const char *)src : "");
}

/*
 * True when column col of the current row is TEXT without a NUL inside:
 * what sqlite3_column_text returns is then the whole stored value.
 */
bool store_column_is_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *text;

	if (sqlite3_column_type(stmt, col) != SQLITE_TEXT)
		return false;
	text = sqlite3_column_text(stmt, col);
	return text != NULL &&
	       strlen((const char *)text) == (size_t)sqlite3_column_bytes(stmt, col);
}

/*
 * Makes room for one more element in a growing result array: doubles *cap
 * when n has reached it. Returns 0, or -ENOMEM with the message set (the
 * array is left as it was, for the caller to free).
 */
int store_grow(struct store *s, void **array, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *grown;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : STORE_GROW_FIRST;
	grown = realloc(*array, ncap * size);
	if (grown == NULL) {
		store_seterr(s, "out of memory");
		return -ENOMEM;
	}
	*array = grown;
	*cap = ncap;
	return 0;
}
