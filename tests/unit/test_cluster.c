/*
 * test_cluster.c - configuration replication without a network: a primary
 * and a replica manager on two temporary databases (no queues, no probes, no
 * loop). The primary's snapshot is handed to the replica as the pull would
 * hand it (manager_replicate). What is checked: which settings are
 * replicated (scope), when the generation moves, what a replica refuses,
 * and that a damaged or mislabelled snapshot leaves the replica as it was.
 * The peers' bookkeeping and the parsers of cluster.c are checked directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "cluster.h"
#include "log.h"
#include "manager.h"

#define TEST_ACTOR	 "test"
#define TEST_PRIMARY_URL "https://198.51.100.1:8443"
#define TEST_LOOKUPS	 2000

struct world {
	char dir[64];
	char primary_db[128];
	char replica_db[128];
	char snapshot[160];
	struct manager *primary;
	struct manager *replica;
};

static int no_queues(void *arg, uint16_t base, unsigned count, char *err, size_t errlen)
{
	(void)arg;
	(void)base;
	(void)count;
	(void)err;
	(void)errlen;
	return 0;
}

static struct manager *start(const char *db)
{
	struct manager_options opt = {.db_path = db, .queue_binder = no_queues};
	char err[MANAGER_ERR_MAX];
	struct manager *m = manager_start(&opt, err, sizeof(err));

	if (m == NULL)
		fail_msg("manager_start: %s", err);
	return m;
}

/* Small tables before the first start, so that starts stay cheap. */
static void seed(const char *path)
{
	struct store *store;
	char err[256];

	if (store_open(path, &store, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_setting_set(store, "affinity_max_clients", "1024", TEST_ACTOR), 0);
	assert_int_equal(store_setting_set(store, "maglev_table_size", "251", TEST_ACTOR), 0);
	store_close(store);
}

static void set(struct manager *m, const char *key, const char *value)
{
	char err[MANAGER_ERR_MAX];

	if (manager_setting_set(m, key, value, TEST_ACTOR, err, sizeof(err)) != 0)
		fail_msg("settings set %s %s: %s", key, value, err);
}

static int64_t add_proxy(struct manager *m, const char *address, uint32_t weight)
{
	struct proxy_config p = {.weight = weight, .admin = PROXY_ADMIN_ENABLED};
	char err[MANAGER_ERR_MAX];

	assert_int_equal(inet_pton(AF_INET, address, &p.address), 1);
	if (manager_proxy_add(m, &p, TEST_ACTOR, err, sizeof(err)) != 0)
		fail_msg("proxy add %s: %s", address, err);
	return p.id;
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	log_init("test_cluster", LOG_LEVEL_ERROR);
	assert_non_null(scratch_make(w->dir, sizeof(w->dir), "cluster"));
	snprintf(w->primary_db, sizeof(w->primary_db), "%s/primary.db", w->dir);
	snprintf(w->replica_db, sizeof(w->replica_db), "%s/replica.db", w->dir);
	snprintf(w->snapshot, sizeof(w->snapshot), "%s/snapshot.db", w->dir);
	seed(w->primary_db);
	seed(w->replica_db);
	w->primary = start(w->primary_db);
	w->replica = start(w->replica_db);
	set(w->primary, "cluster_role", "primary");
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	manager_stop(w->primary);
	manager_stop(w->replica);
	scratch_remove(w->dir);
	free(w);
	return 0;
}

/* The primary's snapshot as a replica receives it, in w->snapshot; returns its generation. */
static uint64_t take_snapshot(struct world *w)
{
	const uint8_t *data;
	const char *digest;
	uint64_t generation;
	char err[MANAGER_ERR_MAX];
	size_t len;
	FILE *f;

	if (manager_cluster_snapshot(w->primary, &data, &len, &generation, &digest, err,
				     sizeof(err)) != 0)
		fail_msg("snapshot: %s", err);
	assert_int_equal(strlen(digest), CLUSTER_DIGEST_HEX - 1);
	f = fopen(w->snapshot, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return generation;
}

static int replicate(struct world *w, uint64_t generation, char *err, size_t errlen)
{
	struct manager_restore_result res;

	return manager_replicate(w->replica, w->snapshot, generation, &res, err, errlen);
}

/* One query's first column on a database file, as text into out. */
static void query_text(const char *path, const char *sql, char *out, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;

	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

/* The generation moves with every replicated change, in its transaction, and only then. */
static void test_generation_bumps(void **state)
{
	struct world *w = *state;
	struct manager *m = w->primary;
	char err[MANAGER_ERR_MAX];
	uint64_t g = manager_config_generation(m);
	const struct proxy_config *cur;
	struct proxy_config p;
	int64_t id;

	assert_true(g >= 1); /* the seed's settings and the hash key made at first start */
	id = add_proxy(m, "198.51.100.10", 100);
	assert_int_equal(manager_config_generation(m), g + 1);
	cur = manager_proxy_find(m, id, NULL);
	assert_non_null(cur);
	p = *cur;
	p.weight = 50;
	assert_int_equal(manager_proxy_update(m, &p, 0, TEST_ACTOR, err, sizeof(err)), 0);
	assert_int_equal(manager_config_generation(m), g + 2);
	set(m, "probe_rise", "4"); /* cluster-scoped */
	assert_int_equal(manager_config_generation(m), g + 3);
	set(m, "queue_maxlen", "1000"); /* node-scoped: not replicated, no move */
	set(m, "cluster_node_name", "drover-a");
	assert_int_equal(manager_config_generation(m), g + 3);
	/* A refused change moves nothing. */
	assert_int_equal(manager_setting_set(m, "probe_rise", "0", TEST_ACTOR, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(manager_config_generation(m), g + 3);
	assert_int_equal(manager_proxy_delete(m, id, 0, TEST_ACTOR, err, sizeof(err)), 0);
	assert_int_equal(manager_config_generation(m), g + 4);

	/* A restore moves past both the live generation and the file's. */
	int64_t bytes;
	struct manager_restore_result res;

	assert_int_equal(manager_backup(m, w->snapshot, &bytes, err, sizeof(err)), 0);
	add_proxy(m, "198.51.100.11", 100);
	assert_int_equal(manager_config_generation(m), g + 5);
	assert_int_equal(manager_restore(m, w->snapshot, TEST_ACTOR, &res, err, sizeof(err)), 0);
	assert_int_equal(manager_config_generation(m), g + 6);
	assert_int_equal(manager_proxy_count(m), 0);
}

/* A snapshot carries what is replicated and nothing of the primary's own. */
static void test_snapshot_scope(void **state)
{
	struct world *w = *state;
	struct store_user u = {.must_change = false};
	char text[256], sql[160];
	uint64_t generation;

	add_proxy(w->primary, "198.51.100.20", 100);
	set(w->primary, "probe_rise", "5");
	set(w->primary, "queue_maxlen", "1000");
	set(w->primary, "http_listen", "127.0.0.1:18443");
	snprintf(u.name, sizeof(u.name), "admin");
	snprintf(u.password_hash, sizeof(u.password_hash), "$argon2id$v=19$fake");
	assert_int_equal(store_user_add(manager_store(w->primary), &u, TEST_ACTOR), 0);
	generation = take_snapshot(w);
	assert_int_equal(generation, manager_config_generation(w->primary));

	query_text(w->snapshot, "SELECT value FROM settings WHERE key = 'probe_rise'", text,
		   sizeof(text));
	assert_string_equal(text, "5");
	query_text(w->snapshot, "SELECT address FROM proxies", text, sizeof(text));
	assert_string_equal(text, "198.51.100.20");
	query_text(w->snapshot, "SELECT length(value) FROM meta WHERE key = 'hash_key'", text,
		   sizeof(text));
	assert_string_equal(text, "16");
	snprintf(sql, sizeof(sql), "SELECT value FROM meta WHERE key = 'config_generation'");
	query_text(w->snapshot, sql, text, sizeof(text));
	snprintf(sql, sizeof(sql), "%llu", (unsigned long long)generation);
	assert_string_equal(text, sql);
	/* Not replicated: node-scoped settings (cluster_role included), accounts, the audit log. */
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_def *d = settings_def_at(i);

		if (d->scope != SETTING_SCOPE_NODE)
			continue;
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM settings WHERE key = '%s'",
			 d->key);
		query_text(w->snapshot, sql, text, sizeof(text));
		if (strcmp(text, "0") != 0)
			fail_msg("node-scoped %s is in the snapshot", d->key);
	}
	query_text(w->snapshot, "SELECT count(*) FROM users", text, sizeof(text));
	assert_string_equal(text, "0");
	query_text(w->snapshot, "SELECT count(*) FROM audit", text, sizeof(text));
	assert_string_equal(text, "0");
}

/* A replica takes the cluster-scoped part and the hash key, keeps its own part. */
static void test_replica_applies(void **state)
{
	struct world *w = *state;
	struct store_user u = {.must_change = false}, got;
	struct manager_stats ps, rs;
	char err[MANAGER_ERR_MAX];
	uint64_t generation;

	int64_t with6 = add_proxy(w->primary, "198.51.100.30", 100);
	add_proxy(w->primary, "198.51.100.31", 200);
	{
		/* Schema v7: a proxy's IPv6 address travels in the snapshot. */
		struct proxy_config p = *manager_proxy_find(w->primary, with6, NULL);

		assert_true(proxy_address6_parse("2001:db8:30::1", p.address6, NULL));
		p.squid_stats = true; /* schema v8: so does its squid_stats */
		assert_int_equal(
		    manager_proxy_update(w->primary, &p, 0, TEST_ACTOR, err, sizeof(err)), 0);
	}
	set(w->primary, "probe_rise", "4");
	set(w->primary, "queue_maxlen", "1000");
	set(w->replica, "queue_maxlen", "2048");
	set(w->replica, "cluster_primary", TEST_PRIMARY_URL);
	set(w->replica, "cluster_role", "replica");
	snprintf(u.name, sizeof(u.name), "replica-admin");
	snprintf(u.password_hash, sizeof(u.password_hash), "$argon2id$v=19$fake");
	assert_int_equal(store_user_add(manager_store(w->replica), &u, TEST_ACTOR), 0);

	generation = take_snapshot(w);
	if (replicate(w, generation, err, sizeof(err)) != 0)
		fail_msg("replicate: %s", err);
	assert_int_equal(manager_config_generation(w->replica), generation);
	assert_int_equal(manager_proxy_count(w->replica), 2);
	{
		const struct proxy_config *r = manager_proxy_find(w->replica, with6, NULL);
		char text[INET6_ADDRSTRLEN];

		assert_non_null(r);
		assert_string_equal(proxy_address6_text(r, text, sizeof(text)), "2001:db8:30::1");
		assert_true(r->squid_stats);
	}
	assert_int_equal(manager_settings(w->replica)->probe_rise, 4);
	/* Its own: node-scoped settings, its role and primary, its accounts. */
	assert_int_equal(manager_settings(w->replica)->queue_maxlen, 2048);
	assert_int_equal(manager_settings(w->replica)->cluster_role, CLUSTER_ROLE_REPLICA);
	assert_string_equal(manager_settings(w->replica)->cluster_primary, TEST_PRIMARY_URL);
	assert_int_equal(store_user_get(manager_store(w->replica), "replica-admin", &got), 0);
	/* The primary's hash key, in force at once: the same fingerprint, the same mapping. */
	manager_stats(w->primary, &ps);
	manager_stats(w->replica, &rs);
	assert_memory_equal(ps.key_id, rs.key_id, sizeof(ps.key_id));
	assert_memory_equal(ps.table_digest, rs.table_digest, sizeof(ps.table_digest));
	for (uint32_t i = 0; i < TEST_LOOKUPS; i++) {
		const struct proxy_config *a, *b;
		uint32_t idle, client = htonl(0x0a000000U + i * 7919U);

		manager_lookup(w->primary, client, &a, &idle);
		manager_lookup(w->replica, client, &b, &idle);
		assert_true((a == NULL) == (b == NULL));
		if (a != NULL)
			assert_int_equal(a->address, b->address);
	}
	/* The primary tells a replica it is current only by generation and snapshot digest. */
	{
		const uint8_t *data;
		const char *digest;
		size_t len;
		uint64_t g;

		assert_int_equal(manager_cluster_snapshot(w->primary, &data, &len, &g, &digest, err,
							  sizeof(err)),
				 0);
		assert_true(manager_cluster_current(w->primary, generation, digest));
		assert_false(manager_cluster_current(w->primary, generation, NULL));
		assert_false(manager_cluster_current(
		    w->primary, generation,
		    "0000000000000000000000000000000000000000000000000000000000000000"));
		assert_false(manager_cluster_current(w->primary, generation - 1, digest));
	}
	/* Restarted, it starts from what it took. */
	manager_stop(w->replica);
	w->replica = start(w->replica_db);
	assert_int_equal(manager_config_generation(w->replica), generation);
	assert_int_equal(manager_proxy_count(w->replica), 2);
	manager_stats(w->replica, &rs);
	assert_memory_equal(ps.key_id, rs.key_id, sizeof(ps.key_id));
}

/* A replica refuses every cluster-scoped write, naming its primary; its own stay writable. */
static void test_replica_refuses(void **state)
{
	struct world *w = *state;
	struct proxy_config p = {.weight = 100, .admin = PROXY_ADMIN_ENABLED};
	struct manager_restore_result res;
	char err[MANAGER_ERR_MAX];
	uint64_t before;
	int64_t bytes;
	json_t *req, *reply;

	assert_int_equal(manager_backup(w->replica, w->snapshot, &bytes, err, sizeof(err)), 0);
	set(w->replica, "cluster_primary", TEST_PRIMARY_URL);
	set(w->replica, "cluster_role", "replica");
	before = manager_config_generation(w->replica);

	assert_int_equal(inet_pton(AF_INET, "198.51.100.40", &p.address), 1);
	assert_int_equal(manager_proxy_add(w->replica, &p, TEST_ACTOR, err, sizeof(err)), -EROFS);
	assert_non_null(strstr(err, "replica of " TEST_PRIMARY_URL));
	assert_int_equal(
	    manager_setting_set(w->replica, "probe_rise", "4", TEST_ACTOR, err, sizeof(err)),
	    -EROFS);
	assert_int_equal(
	    manager_restore(w->replica, w->snapshot, TEST_ACTOR, &res, err, sizeof(err)), -EROFS);
	assert_int_equal(manager_proxy_count(w->replica), 0);
	assert_int_equal(manager_config_generation(w->replica), before);
	/* Node-scoped: still its own to change. */
	set(w->replica, "queue_maxlen", "3000");
	assert_int_equal(manager_settings(w->replica)->queue_maxlen, 3000);

	/* The API says so by kind, with the primary named: the web API's 409. */
	req = json_pack("{s:s, s:s}", "cmd", "proxy.add", "address", "198.51.100.41");
	reply = api_handle(w->replica, req, TEST_ACTOR);
	json_decref(req);
	assert_false(json_is_true(json_object_get(reply, "ok")));
	assert_string_equal(json_string_value(json_object_get(reply, "kind")), "replica");
	assert_string_equal(json_string_value(json_object_get(reply, "primary")), TEST_PRIMARY_URL);
	json_decref(reply);
	req = json_pack("{s:s, s:s, s:s}", "cmd", "settings.set", "key", "ports", "value", "80");
	reply = api_handle(w->replica, req, TEST_ACTOR);
	json_decref(req);
	assert_string_equal(json_string_value(json_object_get(reply, "kind")), "replica");
	json_decref(reply);

	/* Promoted, it takes writes again. */
	set(w->replica, "cluster_role", "primary");
	add_proxy(w->replica, "198.51.100.42", 100);
	assert_int_equal(manager_config_generation(w->replica), before + 1);
}

/* Overwrites len bytes of path at offset with a pattern. */
static void damage(const char *path, long offset, size_t len)
{
	uint8_t junk[4096];
	FILE *f = fopen(path, "r+");

	assert_non_null(f);
	assert_true(len <= sizeof(junk));
	for (size_t i = 0; i < len; i++)
		junk[i] = (uint8_t)(0xa5 ^ i);
	assert_int_equal(fseek(f, offset, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, len, f), len);
	fclose(f);
}

/* A truncated, damaged or mislabelled snapshot leaves the replica on its generation, intact. */
static void test_snapshot_refused(void **state)
{
	struct world *w = *state;
	char err[MANAGER_ERR_MAX];
	struct stat st;
	uint64_t generation, held;

	set(w->replica, "cluster_primary", TEST_PRIMARY_URL);
	set(w->replica, "cluster_role", "replica");
	add_proxy(w->primary, "198.51.100.50", 100);
	generation = take_snapshot(w);
	if (replicate(w, generation, err, sizeof(err)) != 0)
		fail_msg("replicate: %s", err);
	held = manager_config_generation(w->replica);
	assert_int_equal(held, generation);

	/* The primary moves on; the downloads of its new generation go wrong in three ways. */
	add_proxy(w->primary, "198.51.100.51", 100);
	add_proxy(w->primary, "198.51.100.52", 100);
	generation = take_snapshot(w);
	assert_int_equal(stat(w->snapshot, &st), 0);

	/* Cut short: half the file. */
	assert_int_equal(truncate(w->snapshot, st.st_size / 2), 0);
	assert_true(replicate(w, generation, err, sizeof(err)) < 0);
	assert_int_equal(manager_config_generation(w->replica), held);
	assert_int_equal(manager_proxy_count(w->replica), 1);

	/* Damaged inside: every page but the header overwritten. */
	take_snapshot(w);
	for (long off = 4096; off + 1024 <= st.st_size; off += 4096)
		damage(w->snapshot, off, 1024);
	assert_true(replicate(w, generation, err, sizeof(err)) < 0);
	assert_int_equal(manager_config_generation(w->replica), held);
	assert_int_equal(manager_proxy_count(w->replica), 1);

	/* Sound, but not the generation announced. */
	take_snapshot(w);
	assert_int_equal(replicate(w, generation + 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not the"));
	assert_int_equal(manager_config_generation(w->replica), held);
	assert_int_equal(manager_proxy_count(w->replica), 1);

	/* And the right one goes in. */
	assert_int_equal(replicate(w, generation, err, sizeof(err)), 0);
	assert_int_equal(manager_config_generation(w->replica), generation);
	assert_int_equal(manager_proxy_count(w->replica), 3);
}

/*
 * A primary given another hash key by a restore uses it at once, as its
 * replicas will after their next pull (a standalone appliance waits for its
 * restart, as before: test_manager_settings).
 */
static void test_primary_restore_key(void **state)
{
	struct world *w = *state;
	struct manager_restore_result res;
	struct manager_stats before, after, other;
	char err[MANAGER_ERR_MAX];
	int64_t bytes;

	/* A file with another key, whose settings keep the one restoring it a primary. */
	set(w->replica, "cluster_role", "primary");
	manager_stats(w->replica, &other);
	assert_int_equal(manager_backup(w->replica, w->snapshot, &bytes, err, sizeof(err)), 0);
	manager_stats(w->primary, &before);
	assert_memory_not_equal(before.key_id, other.key_id, sizeof(before.key_id));
	assert_int_equal(
	    manager_restore(w->primary, w->snapshot, TEST_ACTOR, &res, err, sizeof(err)), 0);
	assert_false(res.restart_needed);
	manager_stats(w->primary, &after);
	assert_memory_equal(after.key_id, other.key_id, sizeof(after.key_id));
	assert_memory_equal(after.table_digest, other.table_digest, sizeof(after.table_digest));
}

/* The cluster view: VRRP state in memory, the replicas a primary heard from. */
static void test_cluster_view(void **state)
{
	struct world *w = *state;
	struct cluster_node n = {.generation = 7, .last_seen = 1000};
	struct manager_cluster_view *v = calloc(1, sizeof(*v));
	json_t *req, *reply;

	assert_non_null(v);
	req = json_pack("{s:s, s:s}", "cmd", "cluster.vrrp", "state", "MASTER");
	reply = api_handle(w->primary, req, TEST_ACTOR);
	json_decref(req);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	req = json_pack("{s:s, s:s}", "cmd", "cluster.vrrp", "state", "LEADER");
	reply = api_handle(w->primary, req, TEST_ACTOR);
	json_decref(req);
	assert_string_equal(json_string_value(json_object_get(reply, "field")), "state");
	json_decref(reply);

	snprintf(n.name, sizeof(n.name), "drover-b");
	manager_cluster_peer_seen(w->primary, &n);
	manager_cluster_view(w->primary, v);
	assert_int_equal(v->role, CLUSTER_ROLE_PRIMARY);
	assert_int_equal(v->self.vrrp, CLUSTER_VRRP_MASTER);
	assert_int_equal(v->self.generation, manager_config_generation(w->primary));
	assert_int_equal(v->peers.n, 1);
	assert_string_equal(v->peers.peer[0].name, "drover-b");
	assert_false(cluster_node_agrees(&v->peers.peer[0], v->self.generation, v->self.digest));
	free(v);

	req = json_pack("{s:s}", "cmd", "cluster");
	reply = api_handle(w->primary, req, TEST_ACTOR);
	json_decref(req);
	json_t *c = json_object_get(reply, "cluster");
	assert_string_equal(json_string_value(json_object_get(c, "role")), "primary");
	assert_string_equal(json_string_value(json_object_get(c, "vrrp")), "MASTER");
	assert_int_equal(json_array_size(json_object_get(c, "peers")), 1);
	json_decref(reply);
}

static void test_cluster_pure(void **state)
{
	struct cluster_peers peers = {0};
	struct cluster_node n = {0};
	enum cluster_vrrp v;
	uint64_t u;

	(void)state;
	assert_true(cluster_vrrp_parse("MASTER", &v) && v == CLUSTER_VRRP_MASTER);
	assert_true(cluster_vrrp_parse("backup", &v) && v == CLUSTER_VRRP_BACKUP);
	assert_true(cluster_vrrp_parse("STOP", &v) && v == CLUSTER_VRRP_STOP);
	assert_false(cluster_vrrp_parse("MASTERS", &v));
	assert_false(cluster_vrrp_parse(NULL, &v));
	assert_string_equal(cluster_vrrp_name(CLUSTER_VRRP_FAULT), "FAULT");

	assert_true(cluster_node_name_valid("drover-b.lan_1"));
	assert_false(cluster_node_name_valid(""));
	assert_false(cluster_node_name_valid("a b"));
	assert_false(cluster_node_name_valid("a\"b"));
	assert_true(cluster_parse_u64("18446744073709551615", &u) && u == UINT64_MAX);
	assert_false(cluster_parse_u64("18446744073709551616", &u));
	assert_false(cluster_parse_u64("01", &u));
	assert_false(cluster_parse_u64("-1", &u));
	assert_false(cluster_parse_u64("", &u));
	assert_false(cluster_digest_valid("abc"));

	/* A full table makes room by forgetting the peer heard from longest ago. */
	for (int i = 0; i < CLUSTER_PEERS_MAX; i++) {
		snprintf(n.name, sizeof(n.name), "n%d", i);
		n.last_seen = 100 + i;
		cluster_peers_seen(&peers, &n);
	}
	assert_int_equal(peers.n, CLUSTER_PEERS_MAX);
	snprintf(n.name, sizeof(n.name), "n5");
	n.last_seen = 500;
	n.generation = 9;
	cluster_peers_seen(&peers, &n);
	assert_int_equal(peers.n, CLUSTER_PEERS_MAX);
	assert_int_equal(peers.peer[5].generation, 9);
	snprintf(n.name, sizeof(n.name), "new");
	cluster_peers_seen(&peers, &n);
	assert_int_equal(peers.n, CLUSTER_PEERS_MAX);
	assert_string_equal(peers.peer[0].name, "new");

	snprintf(n.digest, sizeof(n.digest), "%s", "ab");
	assert_true(cluster_node_agrees(&n, 9, "ab"));
	assert_false(cluster_node_agrees(&n, 8, "ab"));
	assert_false(cluster_node_agrees(&n, 9, "ac"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cluster_pure),
	    cmocka_unit_test_setup_teardown(test_generation_bumps, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_scope, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_replica_applies, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_replica_refuses, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_refused, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_primary_restore_key, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_view, world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
