/*
 * test_store.c - the SQLite store: schema, migrations, proxies, settings, audit, hash key,
 * accounts and API tokens.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

/* Each test gets its own directory; the database lives in a subdirectory store_open must create. */
struct world {
	char dir[64];
	char path[128];
	struct store *store;
};

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[256];

	assert_non_null(w);
	assert_non_null(scratch_make(w->dir, sizeof(w->dir), "store"));
	snprintf(w->path, sizeof(w->path), "%s/state/drover.db", w->dir);
	if (store_open(w->path, &w->store, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	store_close(w->store);
	scratch_remove(w->dir);
	free(w);
	return 0;
}

/* A second, raw connection: sees only what was committed. */
static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db;

	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char copy[256];

		snprintf(copy, sizeof(copy), "%s", msg ? msg : "?");
		sqlite3_free(msg);
		fail_msg("%s: %s", sql, copy);
	}
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *stmt;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

static void raw_text(const char *path, const char *sql, char *buf, size_t len)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *stmt;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	snprintf(buf, len, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static int64_t count_rows(struct world *w, const char *table)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return raw_int(w->path, sql);
}

static struct proxy_config make_proxy(const char *name, const char *address, uint32_t weight,
				      enum proxy_admin admin)
{
	struct proxy_config p;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	assert_true(settings_parse_ipv4(address, &p.address));
	p.weight = weight;
	p.admin = admin;
	return p;
}

static void assert_error_contains(struct store *s, const char *want)
{
	if (strstr(store_error(s), want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", store_error(s), want);
}

static void test_fresh_database(void **state)
{
	struct world *w = *state;
	char mode[16], dir[160];
	struct stat st;
	int version;

	assert_int_equal(store_schema_version(w->store, &version), 0);
	assert_int_equal(version, STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(w->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	raw_text(w->path, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	assert_int_equal(stat(w->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(dir, sizeof(dir), "%s/state", w->dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(count_rows(w, "proxies"), 0);
	assert_int_equal(count_rows(w, "audit"), 0);
}

static void test_proxy_round_trip(void **state)
{
	struct world *w = *state;
	struct proxy_config a = make_proxy("squid-a", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config b = make_proxy("squid-b", "198.18.1.12", 50, PROXY_ADMIN_DRAIN);
	struct proxy_config got, *list;
	size_t n;

	assert_int_equal(store_proxy_add(w->store, &a, "test"), 0);
	assert_int_equal(store_proxy_add(w->store, &b, "test"), 0);
	assert_true(a.id > 0 && b.id > a.id);
	assert_int_equal(a.version, 1);

	assert_int_equal(store_proxy_get(w->store, b.id, &got), 0);
	assert_string_equal(got.name, "squid-b");
	assert_int_equal(got.address, b.address);
	assert_int_equal(got.weight, 50);
	assert_int_equal(got.admin, PROXY_ADMIN_DRAIN);
	assert_int_equal(got.version, 1);
	assert_int_equal(raw_int(w->path, "SELECT count(*) FROM proxies WHERE address = "
					  "'198.18.1.12' AND created_at > 0"),
			 1);

	assert_int_equal(store_proxy_list(w->store, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, a.id);
	assert_string_equal(list[0].name, "squid-a");
	assert_int_equal(list[1].id, b.id);
	free(list);

	b.weight = 0;
	b.admin = PROXY_ADMIN_DISABLED;
	snprintf(b.name, sizeof(b.name), "squid-b2");
	assert_int_equal(store_proxy_update(w->store, &b, 1, "test"), 0);
	assert_int_equal(b.version, 2);
	assert_int_equal(store_proxy_get(w->store, b.id, &got), 0);
	assert_string_equal(got.name, "squid-b2");
	assert_int_equal(got.weight, 0);
	assert_int_equal(got.admin, PROXY_ADMIN_DISABLED);
	assert_int_equal(got.version, 2);

	/* Version 0 skips the check but still bumps it. */
	assert_int_equal(store_proxy_update(w->store, &b, 0, "test"), 0);
	assert_int_equal(b.version, 3);

	assert_int_equal(store_proxy_delete(w->store, a.id, 1, "test"), 0);
	assert_int_equal(store_proxy_get(w->store, a.id, &got), -ENOENT);
	assert_int_equal(store_proxy_list(w->store, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].id, b.id);
	free(list);
}

static void test_missing_proxy(void **state)
{
	struct world *w = *state;
	struct proxy_config p = make_proxy("ghost", "198.18.1.20", 1, PROXY_ADMIN_ENABLED);

	p.id = 42;
	assert_int_equal(store_proxy_get(w->store, 42, &p), -ENOENT);
	assert_int_equal(store_proxy_update(w->store, &p, 0, "test"), -ENOENT);
	assert_error_contains(w->store, "no proxy 42");
	assert_int_equal(store_proxy_delete(w->store, 42, 0, "test"), -ENOENT);
	assert_int_equal(count_rows(w, "audit"), 0);
}

static void test_proxy_duplicates(void **state)
{
	struct world *w = *state;
	struct proxy_config a = make_proxy("squid-a", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config b = make_proxy("squid-b", "198.18.1.12", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config dup;

	assert_int_equal(store_proxy_add(w->store, &a, "test"), 0);
	assert_int_equal(store_proxy_add(w->store, &b, "test"), 0);

	dup = make_proxy("squid-a", "198.18.1.99", 100, PROXY_ADMIN_ENABLED);
	assert_int_equal(store_proxy_add(w->store, &dup, "test"), -EEXIST);
	assert_error_contains(w->store, "name: `squid-a' is already used by proxy");
	dup = make_proxy("squid-c", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	assert_int_equal(store_proxy_add(w->store, &dup, "test"), -EEXIST);
	assert_error_contains(w->store, "address: `198.18.1.11' is already used by proxy");
	assert_int_equal(count_rows(w, "proxies"), 2);

	/* An update may not take another proxy's name or address either. */
	b.address = a.address;
	assert_int_equal(store_proxy_update(w->store, &b, 1, "test"), -EEXIST);
	assert_error_contains(w->store, "address");
	assert_int_equal(raw_int(w->path, "SELECT version FROM proxies WHERE name = 'squid-b'"), 1);
	assert_int_equal(count_rows(w, "audit"), 2);
}

static void test_proxy_bad_fields(void **state)
{
	struct world *w = *state;
	static const char *const bad_addresses[] = {"0.0.0.0", "127.0.0.1", "224.0.0.5",
						    "255.255.255.255"};
	struct proxy_config p;

	p = make_proxy("bad name", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	assert_int_equal(store_proxy_add(w->store, &p, "test"), -EINVAL);
	assert_error_contains(w->store, "name: ");
	assert_error_contains(w->store, "`bad name'");

	for (size_t i = 0; i < sizeof(bad_addresses) / sizeof(bad_addresses[0]); i++) {
		p = make_proxy("squid-a", bad_addresses[i], 100, PROXY_ADMIN_ENABLED);
		assert_int_equal(store_proxy_add(w->store, &p, "test"), -EINVAL);
		assert_error_contains(w->store, "address: ");
		assert_error_contains(w->store, bad_addresses[i]);
	}

	p = make_proxy("squid-a", "198.18.1.11", PROXY_WEIGHT_MAX + 1, PROXY_ADMIN_ENABLED);
	assert_int_equal(store_proxy_add(w->store, &p, "test"), -EINVAL);
	assert_error_contains(w->store, "weight: ");

	p = make_proxy("squid-a", "198.18.1.11", 100, (enum proxy_admin)7);
	assert_int_equal(store_proxy_add(w->store, &p, "test"), -EINVAL);
	assert_error_contains(w->store, "admin: ");

	assert_int_equal(count_rows(w, "proxies"), 0);
	assert_int_equal(count_rows(w, "audit"), 0);

	/* An update needs a name: the default applies to new proxies only. */
	p = make_proxy("squid-a", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	assert_int_equal(store_proxy_add(w->store, &p, "test"), 0);
	p.name[0] = '\0';
	assert_int_equal(store_proxy_update(w->store, &p, 1, "test"), -EINVAL);
	assert_error_contains(w->store, "name: ");
	p = make_proxy("squid-a", "198.18.1.11", 1001, PROXY_ADMIN_ENABLED);
	p.id = 1;
	assert_int_equal(store_proxy_update(w->store, &p, 1, "test"), -EINVAL);
	assert_int_equal(raw_int(w->path, "SELECT weight FROM proxies"), 100);
	assert_int_equal(count_rows(w, "audit"), 1);
}

static void test_proxy_default_name(void **state)
{
	struct world *w = *state;
	struct proxy_config a = make_proxy("", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config squatter =
	    make_proxy("proxy-3", "198.18.1.12", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config c = make_proxy("", "198.18.1.13", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config got;

	assert_int_equal(store_proxy_add(w->store, &a, "test"), 0);
	assert_int_equal(a.id, 1);
	assert_string_equal(a.name, "proxy-1");
	assert_int_equal(store_proxy_get(w->store, a.id, &got), 0);
	assert_string_equal(got.name, "proxy-1");

	/* Someone named proxy 2 "proxy-3"; the next nameless proxy (id 3) cannot take it. */
	assert_int_equal(store_proxy_add(w->store, &squatter, "test"), 0);
	assert_int_equal(store_proxy_add(w->store, &c, "test"), -EEXIST);
	assert_error_contains(w->store, "proxy-3");
	assert_string_equal(c.name, "");
	assert_int_equal(count_rows(w, "proxies"), 2);
	assert_int_equal(count_rows(w, "audit"), 2);
}

static void test_stale_version(void **state)
{
	struct world *w = *state;
	struct proxy_config p = make_proxy("squid-a", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config mine;

	assert_int_equal(store_proxy_add(w->store, &p, "test"), 0);
	p.weight = 10;
	assert_int_equal(store_proxy_update(w->store, &p, 1, "webui:admin"), 0);
	p.weight = 20;
	assert_int_equal(store_proxy_update(w->store, &p, 2, "webui:admin"), 0);
	p.weight = 30;
	assert_int_equal(store_proxy_update(w->store, &p, 3, "webui:admin"), 0);
	assert_int_equal(p.version, 4);

	mine = p;
	mine.weight = 99;
	assert_int_equal(store_proxy_update(w->store, &mine, 3, "droverctl"), -ESTALE);
	assert_error_contains(w->store,
			      "proxy 1 was changed by someone else (version 4, you sent 3)");
	assert_int_equal(store_proxy_delete(w->store, p.id, 2, "droverctl"), -ESTALE);
	assert_int_equal(raw_int(w->path, "SELECT weight FROM proxies"), 30);
	assert_int_equal(raw_int(w->path, "SELECT version FROM proxies"), 4);
	assert_int_equal(count_rows(w, "audit"), 4);
	assert_int_equal(store_proxy_delete(w->store, p.id, 4, "droverctl"), 0);
	assert_int_equal(count_rows(w, "proxies"), 0);
}

static void test_audit_rows(void **state)
{
	struct world *w = *state;
	struct proxy_config p = make_proxy("squid-a", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	struct audit_entry *log;
	size_t n;

	assert_int_equal(store_proxy_add(w->store, &p, "droverctl"), 0);
	p.weight = 50;
	p.admin = PROXY_ADMIN_DRAIN;
	assert_int_equal(store_proxy_update(w->store, &p, 1, "webui:admin"), 0);
	assert_int_equal(store_setting_set(w->store, "ports", "80", "droverctl"), 0);
	assert_int_equal(store_setting_set(w->store, "ports", "80, 443", "droverctl"), 0);
	assert_int_equal(store_proxy_delete(w->store, p.id, 2, NULL), 0);
	assert_int_equal(store_audit_add(w->store, "droverd", "daemon.start", "started"), 0);

	assert_int_equal(store_audit_list(w->store, 0, 100, &log, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(log[0].action, "daemon.start");
	assert_string_equal(log[1].action, "proxy.delete");
	assert_string_equal(log[1].actor, "unknown");
	assert_string_equal(log[1].detail, "deleted proxy 1 squid-a 198.18.1.11");
	assert_string_equal(log[2].detail, "set ports = 80,443 (was 80)");
	assert_string_equal(log[3].detail, "set ports = 80 (was 80,443, the default)");
	assert_string_equal(log[4].action, "proxy.update");
	assert_string_equal(log[4].actor, "webui:admin");
	assert_string_equal(log[4].detail,
			    "updated proxy 1 squid-a: weight 100 -> 50, admin enabled -> drain");
	assert_string_equal(log[5].action, "proxy.add");
	assert_string_equal(log[5].detail, "added proxy 1 squid-a 198.18.1.11 weight 100 enabled");
	assert_true(log[5].time > 0);
	assert_true(log[0].id > log[1].id);

	/* Paging: entries older than the third, two at a time. */
	{
		struct audit_entry *page;
		size_t m;

		assert_int_equal(store_audit_list(w->store, log[2].id, 2, &page, &m), 0);
		assert_int_equal(m, 2);
		assert_int_equal(page[0].id, log[3].id);
		assert_int_equal(page[1].id, log[4].id);
		free(page);
	}
	free(log);
}

static void test_settings_round_trip(void **state)
{
	struct world *w = *state;
	struct settings s, defaults;
	char buf[SETTINGS_VALUE_MAX];

	assert_int_equal(store_settings_load(w->store, &s), 0);
	settings_defaults(&defaults);
	assert_memory_equal(&s, &defaults, sizeof(s));

	assert_int_equal(store_setting_set(w->store, "ports", " 8080 ,3128", "test"), 0);
	assert_int_equal(store_setting_set(w->store, "no_proxy_policy", "reject", "test"), 0);
	assert_int_equal(store_setting_set(w->store, "queues", "4", "test"), 0);
	assert_int_equal(store_settings_load(w->store, &s), 0);
	assert_int_equal(s.nports, 2);
	assert_int_equal(s.ports[0], 8080);
	assert_int_equal(s.ports[1], 3128);
	assert_int_equal(s.no_proxy_policy, NO_PROXY_REJECT);
	assert_int_equal(s.queues, 4);
	assert_true(settings_format(&s, "ports", buf, sizeof(buf)));
	assert_string_equal(buf, "8080,3128");
	raw_text(w->path, "SELECT value FROM settings WHERE key = 'ports'", buf, sizeof(buf));
	assert_string_equal(buf, "8080,3128");
	assert_int_equal(count_rows(w, "audit"), 3);
}

static void test_settings_refused(void **state)
{
	struct world *w = *state;
	struct settings s;

	assert_int_equal(store_setting_set(w->store, "ports", "70000", "test"), -EINVAL);
	assert_string_equal(store_error(w->store), "ports: invalid port `70000' (1..65535)");
	assert_int_equal(store_setting_set(w->store, "foo", "1", "test"), -EINVAL);
	assert_string_equal(store_error(w->store), "unknown setting `foo'");
	assert_int_equal(store_setting_set(w->store, "client_subnets", "10.0.0.1/8", "test"),
			 -EINVAL);
	assert_error_contains(w->store, "host bits");
	assert_int_equal(count_rows(w, "settings"), 0);
	assert_int_equal(count_rows(w, "audit"), 0);

	/* A stored value that no longer parses is skipped; the rest still loads. */
	{
		sqlite3 *db = raw_open(w->path);

		raw_exec(db, "INSERT INTO settings VALUES ('ports', '80,,443'), ('gone', 'x'),"
			     " ('affinity_timeout', '60')");
		sqlite3_close(db);
	}
	assert_int_equal(store_settings_load(w->store, &s), 0);
	assert_int_equal(s.nports, 2);
	assert_int_equal(s.ports[1], 443);
	assert_int_equal(s.affinity_timeout, 60);
}

static void test_hash_key(void **state)
{
	struct world *w = *state;
	uint8_t first[16], again[16], zero[16] = {0};
	char err[256];

	assert_int_equal(store_hash_key(w->store, first), 0);
	assert_memory_not_equal(first, zero, sizeof(first));
	assert_int_equal(store_hash_key(w->store, again), 0);
	assert_memory_equal(first, again, sizeof(first));
	store_close(w->store);
	w->store = NULL;
	assert_int_equal(store_open(w->path, &w->store, err, sizeof(err)), 0);
	memset(again, 0, sizeof(again));
	assert_int_equal(store_hash_key(w->store, again), 0);
	assert_memory_equal(first, again, sizeof(first));
	/* The key and the configuration generation its making moved (once). */
	assert_int_equal(count_rows(w, "meta"), 2);
	uint64_t generation = 0;
	assert_int_equal(store_generation(w->store, &generation), 0);
	assert_int_equal(generation, 1);
}

/* Builds a database as drover's first schema left it, by hand. */
static void make_v1_database(const char *path)
{
	sqlite3 *db = raw_open(path);

	raw_exec(db, "CREATE TABLE proxies (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
		     " address TEXT NOT NULL UNIQUE, weight INTEGER NOT NULL,"
		     " admin TEXT NOT NULL CHECK(admin IN ('enabled','drain','disabled')));"
		     "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
		     "INSERT INTO proxies VALUES (1, 'squid-a', '198.18.1.11', 100, 'enabled');"
		     "INSERT INTO proxies VALUES (4, 'squid-b', '198.18.1.12', 30, 'drain');"
		     "INSERT INTO settings VALUES ('ports', '8080');"
		     "INSERT INTO settings VALUES ('fail_open', 'false');"
		     "PRAGMA user_version = 1;");
	sqlite3_close(db);
}

static void test_migrate_from_v1(void **state)
{
	struct world *w = *state;
	struct proxy_config *list, p;
	struct settings s;
	struct store *st;
	char path[160], err[256];
	size_t n;
	int version;

	(void)w;
	snprintf(path, sizeof(path), "%s/v1.db", w->dir);
	make_v1_database(path);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(st, &version), 0);
	assert_int_equal(version, STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);

	assert_int_equal(store_proxy_list(st, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, 1);
	assert_string_equal(list[0].name, "squid-a");
	assert_int_equal(list[0].weight, 100);
	assert_int_equal(list[0].version, 1);
	assert_int_equal(list[1].id, 4);
	assert_string_equal(list[1].name, "squid-b");
	assert_int_equal(list[1].admin, PROXY_ADMIN_DRAIN);
	assert_int_equal(list[1].version, 1);
	/* v7: proxies from before it have no IPv6 address. */
	assert_false(proxy_has_address6(&list[0]));
	assert_false(proxy_has_address6(&list[1]));
	free(list);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM proxies WHERE address6 IS NULL"), 2);

	assert_int_equal(store_settings_load(st, &s), 0);
	assert_int_equal(s.nports, 1);
	assert_int_equal(s.ports[0], 8080);
	assert_false(s.fail_open);

	/* The v2 parts work on migrated data. */
	p = make_proxy("squid-c", "198.18.1.13", 1, PROXY_ADMIN_ENABLED);
	assert_int_equal(store_proxy_add(st, &p, "test"), 0);
	assert_int_equal(p.id, 5);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM audit"), 1);
	store_close(st);

	/* Opening again is a no-op. */
	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM proxies"), 3);
	store_close(st);
}

static void test_newer_schema_refused(void **state)
{
	struct world *w = *state;
	struct store *st = NULL;
	char path[160], err[256], mode[16];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/future.db", w->dir);
	db = raw_open(path);
	raw_exec(db, "CREATE TABLE future (x); PRAGMA user_version = 99;");
	sqlite3_close(db);

	assert_int_equal(store_open(path, &st, err, sizeof(err)), -EPROTO);
	assert_null(st);
	char want[96];
	snprintf(want, sizeof(want), "database schema version 99 is newer than this drover (%d)",
		 STORE_SCHEMA_VERSION);
	if (strstr(err, want) == NULL)
		fail_msg("unexpected message: %s", err);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 99);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master"), 1);
	raw_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "delete");
}

static void test_open_failures(void **state)
{
	struct world *w = *state;
	struct store *st = NULL;
	char path[160], err[256];
	FILE *f;

	/* Not a database at all. */
	snprintf(path, sizeof(path), "%s/junk.db", w->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not an SQLite database, just text that is long enough to matter\n", f);
	fclose(f);
	assert_true(store_open(path, &st, err, sizeof(err)) < 0);
	assert_null(st);
	assert_non_null(strstr(err, path));

	/* The parent exists but is a file. */
	snprintf(path, sizeof(path), "%s/junk.db/drover.db", w->dir);
	assert_true(store_open(path, &st, err, sizeof(err)) < 0);
	assert_null(st);
}

/* droverctl and droverd share the file: two connections both write, and the -wal file stays
 * private. */
static void test_two_connections(void **state)
{
	struct world *w = *state;
	struct proxy_config a = make_proxy("squid-a", "198.18.1.11", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config b = make_proxy("squid-b", "198.18.1.12", 100, PROXY_ADMIN_ENABLED);
	struct proxy_config *list;
	struct store *other;
	char err[256], wal[160];
	struct stat st;
	size_t n;

	assert_int_equal(store_open(w->path, &other, err, sizeof(err)), 0);
	assert_int_equal(store_proxy_add(w->store, &a, "droverd"), 0);
	assert_int_equal(store_proxy_add(other, &b, "droverctl"), 0);
	assert_int_equal(store_proxy_list(w->store, &list, &n), 0);
	assert_int_equal(n, 2);
	free(list);
	a.weight = 5;
	assert_int_equal(store_proxy_update(other, &a, 1, "droverctl"), 0);
	a.weight = 6;
	assert_int_equal(store_proxy_update(w->store, &a, 1, "droverd"), -ESTALE);
	snprintf(wal, sizeof(wal), "%s-wal", w->path);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	store_close(other);
}

/* v3: a proxy's own probe kind is stored, read back, audited, and NULL means the pool's. */
static void test_proxy_probe_override(void **state)
{
	struct world *w = *state;
	struct proxy_config p = {.weight = 100, .admin = PROXY_ADMIN_ENABLED}, got;
	struct audit_entry *entries = NULL;
	size_t n = 0;
	char text[32];

	inet_pton(AF_INET, "198.18.1.20", &p.address);
	snprintf(p.name, sizeof(p.name), "squid-probe");
	assert_int_equal(store_proxy_add(w->store, &p, "test"), 0);
	assert_int_equal(store_proxy_get(w->store, p.id, &got), 0);
	assert_false(got.probe_override);
	raw_text(w->path, "SELECT coalesce(probe, 'null') FROM proxies", text, sizeof(text));
	assert_string_equal(text, "null");

	assert_true(proxy_probe_parse("tcp", &p));
	assert_int_equal(store_proxy_update(w->store, &p, 0, "test"), 0);
	assert_int_equal(store_proxy_get(w->store, p.id, &got), 0);
	assert_string_equal(proxy_probe_name(&got), "tcp");
	raw_text(w->path, "SELECT probe FROM proxies", text, sizeof(text));
	assert_string_equal(text, "tcp");
	assert_int_equal(store_audit_list(w->store, 0, 1, &entries, &n), 0);
	assert_int_equal(n, 1);
	assert_non_null(strstr(entries[0].detail, "probe default -> tcp"));
	free(entries);

	p.probe = (enum probe_kind)9;
	assert_int_equal(store_proxy_update(w->store, &p, 0, "test"), -EINVAL);
	assert_int_equal(store_proxy_get(w->store, p.id, &got), 0);
	assert_string_equal(proxy_probe_name(&got), "tcp");
}

/* v4: users with their password hash, API tokens kept only as hashes. */
static void test_users_and_tokens(void **state)
{
	struct world *w = *state;
	struct store_user u = {.must_change = true}, got;
	struct store_token t, *list = NULL;
	uint8_t hash[STORE_TOKEN_HASH], other[STORE_TOKEN_HASH];
	int64_t id = 0;
	size_t n = 0;

	snprintf(u.name, sizeof(u.name), "admin");
	snprintf(u.password_hash, sizeof(u.password_hash), "$argon2id$v=19$fake");
	assert_int_equal(store_user_get(w->store, "admin", &got), -ENOENT);
	assert_int_equal(store_user_add(w->store, &u, "test"), 0);
	assert_true(u.id > 0);
	assert_int_equal(store_user_add(w->store, &u, "test"), -EEXIST);
	assert_int_equal(store_user_get(w->store, "admin", &got), 0);
	assert_string_equal(got.password_hash, "$argon2id$v=19$fake");
	assert_true(got.must_change);
	assert_int_equal(store_user_set_password(w->store, "admin", "$argon2id$new", false, "test"),
			 0);
	assert_int_equal(store_user_get(w->store, "admin", &got), 0);
	assert_string_equal(got.password_hash, "$argon2id$new");
	assert_false(got.must_change);
	assert_int_equal(store_user_set_password(w->store, "nobody", "$x", false, "test"), -ENOENT);
	snprintf(u.name, sizeof(u.name), "bad name");
	assert_int_equal(store_user_add(w->store, &u, "test"), -EINVAL);

	memset(hash, 7, sizeof(hash));
	memset(other, 8, sizeof(other));
	assert_int_equal(store_token_add(w->store, "admin", "backup-script", hash, 0, "test", &id),
			 0);
	assert_true(id > 0);
	assert_int_equal(store_token_add(w->store, "nobody", "x", other, 0, "test", &id), -ENOENT);
	assert_int_equal(store_token_find(w->store, other, &t), -ENOENT);
	assert_int_equal(store_token_find(w->store, hash, &t), 0);
	assert_string_equal(t.user, "admin");
	assert_string_equal(t.name, "backup-script");
	assert_int_equal(store_token_list(w->store, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].id, t.id);
	free(list);
	assert_int_equal(store_token_delete(w->store, t.id, "test"), 0);
	assert_int_equal(store_token_delete(w->store, t.id, "test"), -ENOENT);
	assert_int_equal(store_token_find(w->store, hash, &t), -ENOENT);
	assert_int_equal(count_rows(w, "api_tokens"), 0);
}

/* Adds a user with a stand-in hash (the store never checks it is one). */
static void add_user(struct store *st, const char *name)
{
	struct store_user u = {.must_change = false};

	snprintf(u.name, sizeof(u.name), "%s", name);
	snprintf(u.password_hash, sizeof(u.password_hash), "$argon2id$v=19$%s", name);
	assert_int_equal(store_user_add(st, &u, "test"), 0);
}

/*
 * v5: a token keeps its expiry (NULL for never); a password change revokes
 * every token of its user, in its own transaction, and no one else's.
 */
static void test_token_expiry_and_revocation(void **state)
{
	struct world *w = *state;
	uint8_t a[STORE_TOKEN_HASH], b[STORE_TOKEN_HASH], c[STORE_TOKEN_HASH];
	struct audit_entry *entries = NULL;
	struct store_token t;
	int64_t id = 0;
	size_t n = 0;

	add_user(w->store, "admin");
	add_user(w->store, "ops");
	memset(a, 1, sizeof(a));
	memset(b, 2, sizeof(b));
	memset(c, 3, sizeof(c));
	assert_int_equal(store_token_add(w->store, "admin", "nightly", a, 1900000000, "test", &id),
			 0);
	assert_int_equal(store_token_add(w->store, "admin", "forever", b, 0, "test", &id), 0);
	assert_int_equal(store_token_add(w->store, "ops", "theirs", c, 0, "test", &id), 0);
	assert_int_equal(store_token_add(w->store, "admin", "bad", c, -5, "test", &id), -EINVAL);
	assert_error_contains(w->store, "expires_at");
	assert_int_equal(store_token_find(w->store, a, &t), 0);
	assert_int_equal(t.expires_at, 1900000000);
	assert_int_equal(store_token_find(w->store, b, &t), 0);
	assert_int_equal(t.expires_at, 0);
	assert_int_equal(
	    raw_int(w->path, "SELECT count(*) FROM api_tokens WHERE expires_at IS NULL"), 2);
	assert_int_equal(store_audit_list(w->store, 0, 10, &entries, &n), 0);
	assert_non_null(strstr(entries[2].detail, "expiring at 1900000000"));
	free(entries);

	/* The attack: the old password's holder made tokens; the new password ends them. */
	assert_int_equal(store_user_set_password(w->store, "admin", "$argon2id$new", false, "test"),
			 0);
	assert_int_equal(store_token_find(w->store, a, &t), -ENOENT);
	assert_int_equal(store_token_find(w->store, b, &t), -ENOENT);
	assert_int_equal(store_token_find(w->store, c, &t), 0);
	assert_string_equal(t.user, "ops");
	assert_int_equal(count_rows(w, "api_tokens"), 1);
	assert_int_equal(store_audit_list(w->store, 0, 1, &entries, &n), 0);
	assert_non_null(strstr(entries[0].detail, "revoked their 2 API tokens"));
	free(entries);
	/* Nothing to revoke: said nothing of tokens. */
	assert_int_equal(store_user_set_password(w->store, "admin", "$argon2id$newer", false, "t"),
			 0);
	assert_int_equal(store_audit_list(w->store, 0, 1, &entries, &n), 0);
	assert_null(strstr(entries[0].detail, "revoked"));
	free(entries);
}

/* A v4 database's tokens come through the v5 migration, never expiring. */
static void test_migrate_v4_tokens(void **state)
{
	struct world *w = *state;
	uint8_t hash[STORE_TOKEN_HASH];
	struct store_token t;
	struct store *st;
	char err[256];
	sqlite3 *db;

	store_close(w->store);
	w->store = NULL;
	db = raw_open(w->path);
	/* Back to v4 by hand: what v5 to v8 added goes, a token is made as v4 made them. */
	raw_exec(db, "ALTER TABLE proxies DROP COLUMN squid_stats;"
		     "DROP INDEX proxies_address6;"
		     "ALTER TABLE proxies DROP COLUMN address6;"
		     "DROP TABLE proxy_health;"
		     "ALTER TABLE api_tokens DROP COLUMN expires_at;"
		     "INSERT INTO users (id, name, password_hash, must_change, created_at, "
		     "updated_at) VALUES (1, 'admin', '$argon2id$x', 0, 1, 1);"
		     "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES "
		     "(1, 'old', zeroblob(32), 1);"
		     "PRAGMA user_version = 4;");
	sqlite3_close(db);
	assert_int_equal(store_open(w->path, &st, err, sizeof(err)), 0);
	w->store = st;
	assert_int_equal(raw_int(w->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	memset(hash, 0, sizeof(hash));
	assert_int_equal(store_token_find(st, hash, &t), 0);
	assert_string_equal(t.name, "old");
	assert_int_equal(t.expires_at, 0);
}

/* Backup, change, restore: the backup's contents return, the audit log keeps its history. */
static void test_backup_restore(void **state)
{
	struct world *w = *state;
	struct store_restore_info info;
	struct settings s;
	char backup[192], newer[192];
	int64_t bytes = 0;
	sqlite3 *db;

	snprintf(backup, sizeof(backup), "%s/backup.db", w->dir);
	snprintf(newer, sizeof(newer), "%s/newer.db", w->dir);
	assert_int_equal(store_setting_set(w->store, "affinity_timeout", "111", "test"), 0);
	assert_int_equal(store_backup(w->store, "relative.db", &bytes), -EINVAL);
	assert_int_equal(store_backup(w->store, backup, &bytes), 0);
	assert_true(bytes > 0);
	assert_int_equal(raw_int(backup, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(store_setting_set(w->store, "affinity_timeout", "222", "test"), 0);

	assert_int_equal(store_restore(w->store, backup, "test", &info), 0);
	assert_int_equal(info.file_version, STORE_SCHEMA_VERSION);
	assert_false(info.hash_key_changed);
	assert_int_equal(store_settings_load(w->store, &s), 0);
	assert_int_equal(s.affinity_timeout, 111);
	/* Both writes and the restore itself stay in the log. */
	assert_int_equal(
	    raw_int(w->path, "SELECT count(*) FROM audit WHERE action = 'setting.set'"), 2);
	assert_int_equal(
	    raw_int(w->path, "SELECT count(*) FROM audit WHERE action = 'config.restore'"), 1);

	assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
	raw_exec(db, "CREATE TABLE proxies (x); CREATE TABLE settings (key, value);"
		     "PRAGMA user_version = 99;");
	sqlite3_close(db);
	assert_int_equal(store_restore(w->store, newer, "test", &info), -EPROTO);
	assert_error_contains(w->store, "newer than this drover");
	assert_int_equal(store_settings_load(w->store, &s), 0);
	assert_int_equal(s.affinity_timeout, 111);
}

/* What a refused restore must leave exactly as it was: schema, rows, audit log. */
static void live_fingerprint(struct world *w, char *buf, size_t len)
{
	raw_text(
	    w->path,
	    "SELECT (SELECT group_concat(type || ' ' || name || ' ' || ifnull(sql, ''), '|')"
	    " FROM sqlite_master) || '#' ||"
	    " (SELECT ifnull(group_concat(id || name || address || weight || admin, '|'), '')"
	    " FROM proxies) || '#' ||"
	    " (SELECT ifnull(group_concat(key || '=' || value, '|'), '') FROM settings) || '#' ||"
	    " (SELECT count(*) || ' ' || ifnull(max(id), 0) FROM audit)",
	    buf, len);
}

/* A backup of the live database at path, then tampered with by sql on a raw connection. */
static void make_tampered_backup(struct world *w, char *path, size_t len, const char *name,
				 const char *sql)
{
	int64_t bytes;
	sqlite3 *db;

	snprintf(path, len, "%s/%s", w->dir, name);
	assert_int_equal(store_backup(w->store, path, &bytes), 0);
	db = raw_open(path);
	raw_exec(db, sql);
	sqlite3_close(db);
}

/* The restore of path is refused with want in the message, on one line, and no trace is left. */
static void expect_refused(struct world *w, const char *path, const char *want)
{
	char before[4096], after[4096];
	struct store_restore_info info;

	live_fingerprint(w, before, sizeof(before));
	assert_int_equal(store_restore(w->store, path, "test", &info), -EINVAL);
	assert_error_contains(w->store, want);
	if (strpbrk(store_error(w->store), "\n\r\x1b") != NULL)
		fail_msg("the message holds a control character: %s", store_error(w->store));
	live_fingerprint(w, after, sizeof(after));
	assert_string_equal(after, before);
	assert_int_equal(
	    raw_int(w->path, "SELECT count(*) FROM audit WHERE action = 'config.restore'"), 0);
}

/*
 * The reproduced attack: a proxy name with a newline and a shell command.
 * Restored, it would have reached the proxy's set-up script as a line.
 */
static void test_restore_refuses_bad_proxy_name(void **state)
{
	struct world *w = *state;
	struct proxy_config p = make_proxy("squid-a", "198.18.1.11", 10, PROXY_ADMIN_ENABLED);
	char backup[192];

	assert_int_equal(store_proxy_add(w->store, &p, "test"), 0);
	make_tampered_backup(w, backup, sizeof(backup), "name.db",
			     "UPDATE proxies SET name = 'squid-a' || char(10) ||"
			     " 'touch /tmp/PWNED_BY_NAME'");
	expect_refused(w, backup, "proxy 1: name: invalid proxy name `squid-a\\x0atouch");
}

/*
 * The other reproduced attack: a trigger that empties the audit log on
 * every write. It is refused by name; nothing of it reaches the live file,
 * and the live log keeps recording.
 */
static void test_restore_refuses_trigger(void **state)
{
	struct world *w = *state;
	char backup[192];
	int64_t rows;

	assert_int_equal(store_audit_add(w->store, "test", "test.event", "before"), 0);
	make_tampered_backup(w, backup, sizeof(backup), "trigger.db",
			     "CREATE TRIGGER quiet AFTER INSERT ON audit BEGIN DELETE FROM audit;"
			     " END");
	expect_refused(w, backup, "it holds trigger `quiet' on audit, which is not part of");
	assert_int_equal(raw_int(w->path, "SELECT count(*) FROM sqlite_master WHERE type ="
					  " 'trigger'"),
			 0);
	rows = count_rows(w, "audit");
	assert_int_equal(store_audit_add(w->store, "test", "test.event", "after"), 0);
	assert_int_equal(count_rows(w, "audit"), rows + 1);
}

/* Any schema object drover does not make, or makes differently, is refused by name. */
static void test_restore_refuses_unknown_schema(void **state)
{
	static const struct {
		const char *sql;
		const char *want;
	} cases[] = {
	    {"CREATE VIEW peek AS SELECT * FROM users", "it holds view `peek' on peek"},
	    {"CREATE TABLE extra (x)", "it holds table `extra' on extra"},
	    {"CREATE INDEX by_weight ON proxies (weight)", "it holds index `by_weight' on proxies"},
	    {"DROP TABLE settings; CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)",
	     "its table `settings' on settings differs from drover's schema"},
	    {"DROP TABLE api_tokens", "is not a drover database: it lacks table `api_tokens'"},
	};
	struct world *w = *state;
	char backup[192], name[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "schema%zu.db", i);
		make_tampered_backup(w, backup, sizeof(backup), name, cases[i].sql);
		expect_refused(w, backup, cases[i].want);
	}
}

/* Every row is checked as a live change of it would be. */
static void test_restore_refuses_bad_rows(void **state)
{
	static const struct {
		const char *sql;
		const char *want;
	} cases[] = {
	    {"UPDATE proxies SET address = '127.0.0.1'", "proxy 1: address: `127.0.0.1' is a"},
	    {"UPDATE proxies SET weight = 5000",
	     "proxy 1: name, address, address6, weight, admin, probe or squid_stats out of"},
	    {"UPDATE proxies SET address6 = 'fe80::1'",
	     "proxy 1: name, address, address6, weight, admin, probe or squid_stats out of"},
	    {"UPDATE proxies SET address6 = '2001:db8::zz'",
	     "proxy 1: name, address, address6, weight, admin, probe or squid_stats out of"},
	    {"UPDATE proxies SET weight = '7; id'", "proxy 1: a column holds a value of the wrong"},
	    {"UPDATE proxies SET name = CAST('squid' || char(0) || 'x' AS TEXT)",
	     "proxy 1: a column holds a value of the wrong type"},
	    {"INSERT INTO settings VALUES ('ports', '80;id')", "a setting that does not parse"},
	    {"INSERT INTO settings VALUES ('no_such_key', '1')", "a setting that does not parse"},
	    {"INSERT INTO settings VALUES ('probe_interval_ms', '500')",
	     "settings that do not go together"},
	    {"INSERT INTO users VALUES (1, 'ad' || char(27) || 'min', 'h', 1, 0, 0)",
	     "user 1: name: `ad\\x1bmin'"},
	    {"INSERT INTO users VALUES (1, 'admin', '', 1, 0, 0)", "user 1: password hash"},
	    {"INSERT INTO users VALUES (1, 'admin', 'h', 1, 0, 0);"
	     "INSERT INTO api_tokens VALUES (1, 1, 'ci', x'00', 0, NULL)",
	     "API token 1: token hash: not 32 bytes"},
	    {"INSERT INTO api_tokens VALUES (1, 9, 'ci', zeroblob(32), 0, NULL)",
	     "a row of api_tokens that refers to no row of users"},
	    {"INSERT INTO meta VALUES ('hash_key', x'0011')", "hash key has the wrong size"},
	    {"INSERT INTO meta VALUES ('other', 1)", "meta: unknown key `other'"},
	};
	struct world *w = *state;
	struct proxy_config p = make_proxy("squid-a", "198.18.1.11", 10, PROXY_ADMIN_ENABLED);
	char backup[192], name[32];

	assert_int_equal(store_proxy_add(w->store, &p, "test"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "rows%zu.db", i);
		make_tampered_backup(w, backup, sizeof(backup), name, cases[i].sql);
		expect_refused(w, backup, cases[i].want);
	}
}

/* An older drover's file (schema v1) is compared with the v1 schema, then migrated and restored. */
static void test_restore_old_schema(void **state)
{
	struct world *w = *state;
	struct store_restore_info info;
	struct proxy_config *list;
	char path[160];
	size_t n;

	snprintf(path, sizeof(path), "%s/v1.db", w->dir);
	make_v1_database(path);
	if (store_restore(w->store, path, "test", &info) != 0)
		fail_msg("restore: %s", store_error(w->store));
	assert_int_equal(info.file_version, 1);
	assert_int_equal(store_proxy_list(w->store, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].name, "squid-b");
	free(list);
}

/* A proxy's last known health: written, read back, forgotten, gone with its proxy; no audit. */
static void test_health_round_trip(void **state)
{
	struct world *w = *state;
	struct proxy_config a = make_proxy("squid-a", "198.18.1.11", 10, PROXY_ADMIN_ENABLED);
	struct proxy_config b = make_proxy("squid-b", "198.18.1.12", 10, PROXY_ADMIN_ENABLED);
	struct store_health *list;
	int64_t audit;
	size_t n;

	assert_int_equal(store_proxy_add(w->store, &a, "test"), 0);
	assert_int_equal(store_proxy_add(w->store, &b, "test"), 0);
	assert_int_equal(store_health_list(w->store, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
	audit = count_rows(w, "audit");
	assert_int_equal(store_health_set(w->store, a.id, a.address, true), 0);
	assert_int_equal(store_health_set(w->store, b.id, b.address, true), 0);
	assert_int_equal(store_health_set(w->store, b.id, b.address, false), 0);
	assert_int_equal(store_health_set(w->store, b.id + 100, b.address, true), -ENOENT);
	assert_int_equal(count_rows(w, "audit"), audit);
	assert_int_equal(count_rows(w, "proxy_health"), 2);

	assert_int_equal(store_health_list(w->store, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].proxy_id, a.id);
	assert_int_equal(list[0].address, a.address);
	assert_true(list[0].up);
	assert_true(list[0].changed_at > 0);
	assert_int_equal(list[1].proxy_id, b.id);
	assert_false(list[1].up);
	free(list);

	assert_int_equal(store_health_forget(w->store, b.id), 0);
	assert_int_equal(store_health_forget(w->store, b.id), 0);
	assert_int_equal(store_proxy_delete(w->store, a.id, 0, "test"), 0);
	assert_int_equal(count_rows(w, "proxy_health"), 0);
}

/*
 * Health belongs to the appliance: a restore keeps the live verdicts of the
 * file's proxies with the same id and address, and ignores the file's own.
 */
static void test_restore_keeps_own_health(void **state)
{
	struct world *w = *state;
	struct proxy_config a = make_proxy("squid-a", "198.18.1.11", 10, PROXY_ADMIN_ENABLED);
	struct proxy_config b = make_proxy("squid-b", "198.18.1.12", 10, PROXY_ADMIN_ENABLED);
	struct proxy_config c = make_proxy("squid-c", "198.18.1.13", 10, PROXY_ADMIN_ENABLED);
	struct store_restore_info info;
	struct store_health *list;
	char backup[192], sql[256];
	size_t n;

	assert_int_equal(store_proxy_add(w->store, &a, "test"), 0);
	assert_int_equal(store_proxy_add(w->store, &b, "test"), 0);
	assert_int_equal(store_proxy_add(w->store, &c, "test"), 0);
	assert_int_equal(store_health_set(w->store, a.id, a.address, true), 0);
	assert_int_equal(store_health_set(w->store, c.id, c.address, true), 0);
	/* The file says otherwise of a, knows b, and has c at another address. */
	snprintf(sql, sizeof(sql),
		 "UPDATE proxy_health SET up = 0 WHERE proxy_id = %lld;"
		 "INSERT INTO proxy_health VALUES (%lld, '198.18.1.12', 1, 1);"
		 "UPDATE proxies SET address = '198.18.1.99' WHERE id = %lld;",
		 (long long)a.id, (long long)b.id, (long long)c.id);
	make_tampered_backup(w, backup, sizeof(backup), "health.db", sql);

	assert_int_equal(store_restore(w->store, backup, "test", &info), 0);
	assert_int_equal(store_health_list(w->store, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].proxy_id, a.id);
	assert_true(list[0].up);
	free(list);
}

/* Schema v7: a proxy's IPv6 address, stored, changed, cleared, unique, validated. */
static void test_proxy_address6(void **state)
{
	struct world *w = *state;
	struct proxy_config a = make_proxy("squid-a", "198.18.1.11", 10, PROXY_ADMIN_ENABLED);
	struct proxy_config b = make_proxy("squid-b", "198.18.1.12", 10, PROXY_ADMIN_ENABLED);
	struct proxy_config got;
	char text[64], detail[512];
	const char *why = NULL;

	assert_true(proxy_address6_parse("2001:db8:1::11", a.address6, &why));
	assert_int_equal(store_proxy_add(w->store, &a, "test"), 0);
	assert_int_equal(store_proxy_get(w->store, a.id, &got), 0);
	assert_true(proxy_has_address6(&got));
	assert_string_equal(proxy_address6_text(&got, text, sizeof(text)), "2001:db8:1::11");
	raw_text(w->path, "SELECT address6 FROM proxies WHERE name = 'squid-a'", text,
		 sizeof(text));
	assert_string_equal(text, "2001:db8:1::11");
	raw_text(w->path, "SELECT detail FROM audit ORDER BY id DESC LIMIT 1", detail,
		 sizeof(detail));
	assert_non_null(strstr(detail, "address6 2001:db8:1::11"));

	/* Without one: NULL, and IPv6 clients go in 6in4. */
	assert_int_equal(store_proxy_add(w->store, &b, "test"), 0);
	assert_int_equal(raw_int(w->path, "SELECT count(*) FROM proxies WHERE address6 IS NULL"),
			 1);

	/* Another proxy's IPv6 address is refused, naming the field. */
	assert_true(proxy_address6_parse("2001:db8:1::11", b.address6, NULL));
	assert_int_equal(store_proxy_update(w->store, &b, 0, "test"), -EEXIST);
	assert_error_contains(w->store, "address6: `2001:db8:1::11' is already used by proxy");

	/* Set, audited as a change, then cleared. */
	assert_true(proxy_address6_parse("2001:db8:1::12", b.address6, NULL));
	assert_int_equal(store_proxy_update(w->store, &b, 0, "test"), 0);
	raw_text(w->path, "SELECT detail FROM audit ORDER BY id DESC LIMIT 1", detail,
		 sizeof(detail));
	assert_non_null(strstr(detail, "address6 none -> 2001:db8:1::12"));
	assert_true(proxy_address6_parse("none", b.address6, NULL));
	assert_false(proxy_has_address6(&b));
	assert_int_equal(store_proxy_update(w->store, &b, 0, "test"), 0);
	assert_int_equal(store_proxy_get(w->store, b.id, &got), 0);
	assert_false(proxy_has_address6(&got));

	/* What is no IPv6 host address is refused by the parser, saying why. */
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
	    {"198.18.1.11", "is not an IPv6 address"},
	    {"2001:db8::zz", "is not an IPv6 address"},
	    {"::", "is not a host address"},
	    {"::1", "is a loopback address"},
	    {"ff02::1", "is a multicast address"},
	    {"fe80::1", "is a link-local address"},
	    {"::ffff:198.18.1.11", "is an IPv4 address in IPv6 form"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t out[PROXY_ADDRESS6_LEN] = {1};

		why = NULL;
		assert_false(proxy_address6_parse(bad[i].text, out, &why));
		assert_non_null(why);
		assert_non_null(strstr(why, bad[i].why));
		assert_int_equal(out[0], 1); /* untouched */
	}

	/* A backup carries it back; a v6 file (before address6) restores, migrated, without. */
	struct store_restore_info info;
	char backup[192], older[192];
	int64_t bytes = 0;
	sqlite3 *db;

	snprintf(backup, sizeof(backup), "%s/backup6.db", w->dir);
	snprintf(older, sizeof(older), "%s/v6.db", w->dir);
	assert_int_equal(store_backup(w->store, backup, &bytes), 0);
	assert_int_equal(store_backup(w->store, older, &bytes), 0);
	memset(a.address6, 0, sizeof(a.address6));
	assert_int_equal(store_proxy_update(w->store, &a, 0, "test"), 0);
	assert_int_equal(store_restore(w->store, backup, "test", &info), 0);
	assert_int_equal(store_proxy_get(w->store, a.id, &got), 0);
	assert_string_equal(proxy_address6_text(&got, text, sizeof(text)), "2001:db8:1::11");
	db = raw_open(older);
	raw_exec(db, "ALTER TABLE proxies DROP COLUMN squid_stats;"
		     "DROP INDEX proxies_address6; ALTER TABLE proxies DROP COLUMN address6;"
		     "PRAGMA user_version = 6;");
	sqlite3_close(db);
	assert_int_equal(store_restore(w->store, older, "test", &info), 0);
	assert_int_equal(info.file_version, 6);
	assert_int_equal(store_proxy_get(w->store, a.id, &got), 0);
	assert_false(proxy_has_address6(&got));
	assert_int_equal(raw_int(w->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

/*
 * Schema v8: a proxy's squid_stats flag, off unless set; stored, audited,
 * carried by a backup; a v7 file (before it) restores, migrated, with it off.
 */
static void test_proxy_squid_stats(void **state)
{
	struct world *w = *state;
	struct proxy_config a = make_proxy("squid-a", "198.18.1.11", 10, PROXY_ADMIN_ENABLED);
	struct proxy_config b = make_proxy("squid-b", "198.18.1.12", 10, PROXY_ADMIN_ENABLED);
	struct proxy_config got;
	struct store_restore_info info;
	char detail[512], backup[192], older[192];
	int64_t bytes = 0;
	sqlite3 *db;

	a.squid_stats = true;
	assert_int_equal(store_proxy_add(w->store, &a, "test"), 0);
	raw_text(w->path, "SELECT detail FROM audit ORDER BY id DESC LIMIT 1", detail,
		 sizeof(detail));
	assert_non_null(strstr(detail, "squid_stats on"));
	assert_int_equal(store_proxy_add(w->store, &b, "test"), 0);
	assert_int_equal(store_proxy_get(w->store, a.id, &got), 0);
	assert_true(got.squid_stats);
	assert_int_equal(store_proxy_get(w->store, b.id, &got), 0);
	assert_false(got.squid_stats);
	assert_int_equal(raw_int(w->path, "SELECT squid_stats FROM proxies WHERE name = 'squid-b'"),
			 0);

	b.squid_stats = true;
	assert_int_equal(store_proxy_update(w->store, &b, 0, "test"), 0);
	raw_text(w->path, "SELECT detail FROM audit ORDER BY id DESC LIMIT 1", detail,
		 sizeof(detail));
	assert_non_null(strstr(detail, "squid_stats off -> on"));

	snprintf(backup, sizeof(backup), "%s/backup8.db", w->dir);
	snprintf(older, sizeof(older), "%s/v7.db", w->dir);
	assert_int_equal(store_backup(w->store, backup, &bytes), 0);
	assert_int_equal(store_backup(w->store, older, &bytes), 0);
	a.squid_stats = false;
	assert_int_equal(store_proxy_update(w->store, &a, 0, "test"), 0);
	assert_int_equal(store_restore(w->store, backup, "test", &info), 0);
	assert_int_equal(store_proxy_get(w->store, a.id, &got), 0);
	assert_true(got.squid_stats);

	/* Back to v7 by hand: the column goes; the restore migrates it in, off. */
	db = raw_open(older);
	raw_exec(db, "ALTER TABLE proxies DROP COLUMN squid_stats; PRAGMA user_version = 7;");
	sqlite3_close(db);
	assert_int_equal(store_restore(w->store, older, "test", &info), 0);
	assert_int_equal(info.file_version, 7);
	assert_int_equal(store_proxy_get(w->store, a.id, &got), 0);
	assert_false(got.squid_stats);
	assert_int_equal(store_proxy_get(w->store, b.id, &got), 0);
	assert_false(got.squid_stats);
	assert_int_equal(raw_int(w->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);

	/* A value the column's CHECK refuses cannot be stored at all. */
	db = raw_open(w->path);
	assert_int_not_equal(
	    sqlite3_exec(db, "UPDATE proxies SET squid_stats = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

#define WORLD_TEST(fn) cmocka_unit_test_setup_teardown(fn, world_setup, world_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    WORLD_TEST(test_fresh_database),
	    WORLD_TEST(test_proxy_round_trip),
	    WORLD_TEST(test_missing_proxy),
	    WORLD_TEST(test_proxy_duplicates),
	    WORLD_TEST(test_proxy_bad_fields),
	    WORLD_TEST(test_proxy_default_name),
	    WORLD_TEST(test_stale_version),
	    WORLD_TEST(test_audit_rows),
	    WORLD_TEST(test_settings_round_trip),
	    WORLD_TEST(test_settings_refused),
	    WORLD_TEST(test_hash_key),
	    WORLD_TEST(test_migrate_from_v1),
	    WORLD_TEST(test_newer_schema_refused),
	    WORLD_TEST(test_open_failures),
	    WORLD_TEST(test_two_connections),
	    WORLD_TEST(test_proxy_probe_override),
	    WORLD_TEST(test_users_and_tokens),
	    WORLD_TEST(test_token_expiry_and_revocation),
	    WORLD_TEST(test_migrate_v4_tokens),
	    WORLD_TEST(test_backup_restore),
	    WORLD_TEST(test_restore_refuses_bad_proxy_name),
	    WORLD_TEST(test_restore_refuses_trigger),
	    WORLD_TEST(test_restore_refuses_unknown_schema),
	    WORLD_TEST(test_restore_refuses_bad_rows),
	    WORLD_TEST(test_restore_old_schema),
	    WORLD_TEST(test_health_round_trip),
	    WORLD_TEST(test_restore_keeps_own_health),
	    WORLD_TEST(test_proxy_address6),
	    WORLD_TEST(test_proxy_squid_stats),
	};

	/* The directory mode test expects exactly 0750; a stricter umask would only narrow it. */
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
