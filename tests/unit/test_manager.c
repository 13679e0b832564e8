/*
 * test_manager.c - the control plane through its face: a manager on a
 * temporary database, started without binding queues (no NFQUEUE, no root),
 * without rules and without probes. Proxies are on documentation addresses
 * (198.51.100.0/24); what needs a route to them (a tunnel MTU, a place in
 * the Maglev table) is skipped on a host without one.
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
#include <inttypes.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "client.h"
#include "clock.h"
#include "log.h"
#include "manager.h"

#define TEST_ACTOR "test"

struct world {
	char dir[64];
	char db[128];
	struct manager *m;
	unsigned hook_calls;
	char hook_key[64]; /* the key of the last call */
};

static void on_setting(void *arg, const char *key)
{
	struct world *w = arg;

	w->hook_calls++;
	snprintf(w->hook_key, sizeof(w->hook_key), "%s", key);
}

/* The seam: the manager asks for queues and none is bound; the test counts what it asked. */
static int count_queues(void *arg, uint16_t base, unsigned count, char *err, size_t errlen)
{
	(void)arg;
	(void)base;
	(void)count;
	(void)err;
	(void)errlen;
	return 0;
}

/* A manager as droverd runs it, with a control loop for probes (never dispatched here). */
static struct manager *start_on(struct world *w, struct event_base *base)
{
	struct manager_options opt = {
	    .db_path = w->db,
	    .base = base,
	    .queue_binder = count_queues,
	    .setting_hook = on_setting,
	    .setting_hook_arg = w,
	};
	char err[MANAGER_ERR_MAX];
	struct manager *m = manager_start(&opt, err, sizeof(err));

	if (m == NULL)
		fail_msg("manager_start: %s", err);
	return m;
}

static struct manager *start(struct world *w)
{
	return start_on(w, NULL);
}

/* Small tables, written before the manager opens the database: starts stay cheap. */
static void seed_database(const char *path)
{
	static const char *const small[][2] = {
	    {"affinity_max_clients", "1024"},
	    {"maglev_table_size", "251"},
	};
	struct store *store;
	char err[256];

	if (store_open(path, &store, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		assert_int_equal(store_setting_set(store, small[i][0], small[i][1], TEST_ACTOR), 0);
	store_close(store);
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	log_init("test_manager", LOG_LEVEL_ERROR);
	assert_non_null(scratch_make(w->dir, sizeof(w->dir), "manager"));
	snprintf(w->db, sizeof(w->db), "%s/drover.db", w->dir);
	seed_database(w->db);
	w->m = start(w);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	manager_stop(w->m);
	scratch_remove(w->dir);
	free(w);
	return 0;
}

static void restart(struct world *w)
{
	manager_stop(w->m);
	w->m = start(w);
}

static uint32_t addr(const char *text)
{
	uint32_t a;

	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	return a;
}

static int64_t add(struct world *w, const char *name, const char *address, uint32_t weight)
{
	struct proxy_config p = {.weight = weight, .admin = PROXY_ADMIN_ENABLED};
	char err[MANAGER_ERR_MAX];

	snprintf(p.name, sizeof(p.name), "%s", name);
	p.address = addr(address);
	if (manager_proxy_add(w->m, &p, TEST_ACTOR, err, sizeof(err)) != 0)
		fail_msg("manager_proxy_add %s: %s", name, err);
	assert_true(p.id > 0);
	return p.id;
}

static void set(struct world *w, const char *key, const char *value)
{
	char err[MANAGER_ERR_MAX];

	if (manager_setting_set(w->m, key, value, TEST_ACTOR, err, sizeof(err)) != 0)
		fail_msg("manager_setting_set %s=%s: %s", key, value, err);
}

/* Proxies take clients only with a route to them; without one, the test is skipped. */
static void need_route(const char *address)
{
	uint32_t source;
	uint16_t mtu;

	if (pool_route(addr(address), &source, &mtu) != 0) {
		print_message("no route to %s on this host\n", address);
		skip();
	}
}

static struct manager_proxy_view view(struct world *w, int64_t id)
{
	struct manager_proxy_view v;

	assert_int_equal(manager_proxy_view(w->m, id, &v), 0);
	return v;
}

/* Entries in the audit log, and the newest one's action in newest (when not NULL). */
static size_t audit_count(struct world *w, char *newest, size_t len)
{
	struct audit_entry *entries = NULL;
	char err[MANAGER_ERR_MAX];
	size_t n = 0;

	if (manager_audit_page(w->m, 0, 500, &entries, &n, err, sizeof(err)) != 0)
		fail_msg("manager_audit_page: %s", err);
	if (newest != NULL)
		snprintf(newest, len, "%s", n > 0 ? entries[0].action : "");
	free(entries);
	return n;
}

static void test_start_empty(void **state)
{
	struct world *w = *state;
	struct manager_stats st;
	const struct pool_snapshot *snap = manager_snapshot(w->m);

	assert_int_equal(manager_proxy_count(w->m), 0);
	assert_non_null(snap);
	assert_int_equal(snap->table.size, 251);
	manager_stats(w->m, &st);
	/* Not bound, but counted as the settings ask: rules and stats speak of them. */
	assert_int_equal(st.queues, manager_effective_queues(manager_settings(w->m)));
	assert_false(st.fast_path_on);
	assert_string_equal(st.fast_path_error, "");
	assert_int_equal(st.fast_clients, 0);
	for (unsigned i = 0; i < DP_COUNTER_COUNT; i++) {
		assert_non_null(st.counters[i].name);
		assert_int_equal(st.counters[i].value, 0);
	}
	assert_string_equal(st.counters[DP_PACKETS].name, "packets");
	for (unsigned e = 0; e < MANAGER_MALFORMED_REASONS; e++) {
		assert_non_null(st.malformed[e].name);
		assert_int_equal(st.malformed[e].value, 0);
	}
	assert_int_equal(st.kernel_queue_full_drops + st.kernel_socket_full_drops, 0);
	assert_false(manager_rules_managed(w->m));
	assert_int_equal(manager_progress(w->m), 0);
	assert_non_null(manager_store(w->m));
}

static void test_start_refused_without_database(void **state)
{
	struct manager_options opt = {.db_path = "/proc/drover-nowhere/drover.db"};
	char err[MANAGER_ERR_MAX] = "";

	(void)state;
	assert_null(manager_start(&opt, err, sizeof(err)));
	assert_true(err[0] != '\0');
}

static void test_proxy_add_view(void **state)
{
	struct world *w = *state;
	int64_t id = add(w, "alpha", "198.51.100.11", 100);
	struct manager_proxy_view v = view(w, id), at;
	const struct pool_target *target;
	char action[64];

	assert_int_equal(manager_proxy_count(w->m), 1);
	assert_string_equal(v.config.name, "alpha");
	assert_int_equal(v.config.address, addr("198.51.100.11"));
	assert_int_equal(v.config.version, 1);
	assert_true(v.slot > 0 && v.slot < PROXY_SLOTS_MAX);
	assert_int_equal(v.probe, PROBE_HTTP_PROXY);
	assert_int_equal(v.active_clients, 0);
	assert_int_equal(v.counters.hits + v.counters.packets + v.counters.bytes, 0);
	/* Not probed, not assumed up: down, and nothing in the table. */
	assert_false(health_is_up(&v.health));
	manager_proxy_view_at(w->m, 0, &at);
	assert_int_equal(at.config.id, id);
	assert_int_equal(at.slot, v.slot);
	target = manager_proxy_target(w->m, v.slot);
	assert_non_null(target);
	assert_int_equal(target->id, id);
	assert_int_equal(target->flags, 0);
	need_route("198.51.100.11");
	assert_true(target->tunnel_mtu > 0);
	assert_int_equal(audit_count(w, action, sizeof(action)), 3);
	assert_string_equal(action, "proxy.add");
	assert_int_equal(manager_proxy_view(w->m, id + 1, &v), -ENOENT);
}

/* One API request; the reply (decref it). */
static json_t *api_call_json(struct world *w, json_t *req)
{
	json_t *reply = api_handle(w->m, req, TEST_ACTOR);

	json_decref(req);
	assert_non_null(reply);
	return reply;
}

/* A refusal naming field, whose message holds want. */
static void assert_api_refused(json_t *reply, const char *field, const char *want)
{
	const char *error = json_string_value(json_object_get(reply, "error"));

	assert_false(json_is_true(json_object_get(reply, "ok")));
	assert_string_equal(json_string_value(json_object_get(reply, "field")), field);
	if (error == NULL || strstr(error, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", error ? error : "(none)", want);
	json_decref(reply);
}

/* The API's address6: added, shown, refused when bad (naming the field), cleared. */
static void test_api_proxy_address6(void **state)
{
	struct world *w = *state;
	json_t *reply, *p;
	json_int_t id;

	reply = api_call_json(w, json_pack("{s:s, s:s, s:s}", "cmd", "proxy.add", "address",
					   "198.51.100.11", "address6", "2001:db8:5::11"));
	assert_true(json_is_true(json_object_get(reply, "ok")));
	p = json_object_get(reply, "proxy");
	assert_string_equal(json_string_value(json_object_get(p, "address6")), "2001:db8:5::11");
	id = json_integer_value(json_object_get(p, "id"));
	json_decref(reply);

	/* Without one: null. */
	reply = api_call_json(
	    w, json_pack("{s:s, s:s}", "cmd", "proxy.add", "address", "198.51.100.12"));
	assert_true(json_is_null(json_object_get(json_object_get(reply, "proxy"), "address6")));
	json_decref(reply);

	assert_api_refused(
	    api_call_json(w, json_pack("{s:s, s:s, s:s}", "cmd", "proxy.add", "address",
				       "198.51.100.13", "address6", "2001:db8::zz")),
	    "address6", "address6: `2001:db8::zz' is not an IPv6 address");
	assert_api_refused(
	    api_call_json(w, json_pack("{s:s, s:s, s:s}", "cmd", "proxy.add", "address",
				       "198.51.100.13", "address6", "fe80::1")),
	    "address6", "is a link-local address");
	assert_api_refused(api_call_json(w, json_pack("{s:s, s:s, s:i}", "cmd", "proxy.add",
						      "address", "198.51.100.13", "address6", 6)),
			   "address6", "address6: expected a string");
	/* Taken by another proxy. */
	reply = api_call_json(w, json_pack("{s:s, s:s, s:s}", "cmd", "proxy.add", "address",
					   "198.51.100.13", "address6", "2001:db8:5::11"));
	assert_false(json_is_true(json_object_get(reply, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(reply, "error")),
			       "address6: `2001:db8:5::11' is already used by proxy"));
	json_decref(reply);
	assert_int_equal(manager_proxy_count(w->m), 2);

	/* Changed, then cleared with null. */
	reply = api_call_json(w, json_pack("{s:s, s:I, s:s}", "cmd", "proxy.set", "id", id,
					   "address6", "2001:db8:5::21"));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(reply, "proxy"), "address6")),
	    "2001:db8:5::21");
	json_decref(reply);
	reply = api_call_json(
	    w, json_pack("{s:s, s:I, s:n}", "cmd", "proxy.set", "id", id, "address6"));
	assert_true(json_is_null(json_object_get(json_object_get(reply, "proxy"), "address6")));
	json_decref(reply);
}

/*
 * The API's "squid": null while squid_stats is off; on, the contract's
 * fields (not read yet here: no control loop, so ok false and why);
 * disabled, not read; squid_stats must be a boolean.
 */
static void test_api_proxy_squid(void **state)
{
	static const char *const fields[] = {"requests_per_second", "hit_ratio", "clients",
					     "median_service_ms", "age_s"};
	struct world *w = *state;
	json_t *reply, *p, *q;
	json_int_t id;

	reply = api_call_json(
	    w, json_pack("{s:s, s:s}", "cmd", "proxy.add", "address", "198.51.100.31"));
	p = json_object_get(reply, "proxy");
	assert_true(json_is_false(json_object_get(p, "squid_stats")));
	assert_true(json_is_null(json_object_get(p, "squid")));
	id = json_integer_value(json_object_get(p, "id"));
	json_decref(reply);

	reply = api_call_json(
	    w, json_pack("{s:s, s:I, s:b}", "cmd", "proxy.set", "id", id, "squid_stats", 1));
	p = json_object_get(reply, "proxy");
	q = json_object_get(p, "squid");
	assert_true(json_is_true(json_object_get(p, "squid_stats")));
	assert_true(json_is_object(q));
	assert_true(json_is_false(json_object_get(q, "ok")));
	assert_string_equal(json_string_value(json_object_get(q, "error")), "not read yet");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		assert_true(json_is_number(json_object_get(q, fields[i])));
	assert_true(json_is_integer(json_object_get(q, "clients")));
	assert_true(json_is_integer(json_object_get(q, "age_s")));
	json_decref(reply);

	reply = api_call_json(
	    w, json_pack("{s:s, s:I, s:s}", "cmd", "proxy.set", "id", id, "admin", "disabled"));
	q = json_object_get(json_object_get(reply, "proxy"), "squid");
	assert_string_equal(json_string_value(json_object_get(q, "state")), "disabled");
	json_decref(reply);

	assert_api_refused(api_call_json(w, json_pack("{s:s, s:I, s:i}", "cmd", "proxy.set", "id",
						      id, "squid_stats", 1)),
			   "squid_stats", "squid_stats: expected true or false");
	/* Off again: null, and no health, no weight, nothing else moved. */
	reply = api_call_json(
	    w, json_pack("{s:s, s:I, s:b}", "cmd", "proxy.set", "id", id, "squid_stats", 0));
	assert_true(json_is_null(json_object_get(json_object_get(reply, "proxy"), "squid")));
	json_decref(reply);
}

static void test_proxy_add_refused_leaves_no_trace(void **state)
{
	struct world *w = *state;
	struct proxy_config p = {.weight = 100, .admin = PROXY_ADMIN_ENABLED};
	char err[MANAGER_ERR_MAX] = "";
	size_t before;

	add(w, "alpha", "198.51.100.11", 100);
	before = audit_count(w, NULL, 0);
	snprintf(p.name, sizeof(p.name), "beta");
	p.address = addr("198.51.100.11"); /* alpha's */
	assert_int_equal(manager_proxy_add(w->m, &p, TEST_ACTOR, err, sizeof(err)), -EEXIST);
	assert_true(err[0] != '\0');
	assert_int_equal(manager_proxy_count(w->m), 1);
	assert_int_equal(audit_count(w, NULL, 0), before);
	restart(w);
	assert_int_equal(manager_proxy_count(w->m), 1);
}

static void test_proxy_update_and_stale_version(void **state)
{
	struct world *w = *state;
	int64_t id = add(w, "alpha", "198.51.100.11", 100);
	struct manager_proxy_view v = view(w, id);
	struct proxy_config p = v.config;
	char err[MANAGER_ERR_MAX];
	uint16_t slot = v.slot;

	p.weight = 250;
	p.probe_override = true;
	p.probe = PROBE_TCP;
	assert_int_equal(manager_proxy_update(w->m, &p, 1, TEST_ACTOR, err, sizeof(err)), 0);
	v = view(w, id);
	assert_int_equal(v.config.weight, 250);
	assert_int_equal(v.config.version, 2);
	assert_int_equal(v.probe, PROBE_TCP);
	assert_int_equal(v.slot, slot); /* a proxy keeps its slot while it exists */

	/* Someone else's change in between: version 1 is stale now. */
	p = v.config;
	p.weight = 7;
	assert_int_equal(manager_proxy_update(w->m, &p, 1, TEST_ACTOR, err, sizeof(err)), -ESTALE);
	assert_int_equal(view(w, id).config.weight, 250);
	assert_int_equal(manager_proxy_delete(w->m, id, 1, TEST_ACTOR, err, sizeof(err)), -ESTALE);
	assert_int_equal(manager_proxy_count(w->m), 1);
}

static void test_proxy_delete(void **state)
{
	struct world *w = *state;
	int64_t a = add(w, "alpha", "198.51.100.11", 100);
	int64_t b = add(w, "beta", "198.51.100.12", 100);
	uint16_t slot_a = view(w, a).slot;
	struct manager_proxy_view v;
	char err[MANAGER_ERR_MAX], action[64];

	assert_int_equal(manager_proxy_delete(w->m, a, 0, TEST_ACTOR, err, sizeof(err)), 0);
	assert_int_equal(manager_proxy_count(w->m), 1);
	assert_int_equal(manager_proxy_view(w->m, a, &v), -ENOENT);
	assert_non_null(manager_proxy_target(w->m, view(w, b).slot));
	audit_count(w, action, sizeof(action));
	assert_string_equal(action, "proxy.delete");
	assert_int_equal(manager_proxy_delete(w->m, a, 0, TEST_ACTOR, err, sizeof(err)), -ENOENT);

	/* A new proxy does not inherit the deleted one's slot (nor its clients). */
	int64_t c = add(w, "gamma", "198.51.100.13", 100);
	assert_int_not_equal(view(w, c).slot, slot_a);
	assert_int_equal(view(w, c).counters.packets, 0);
}

static void test_setting_set(void **state)
{
	struct world *w = *state;
	char err[MANAGER_ERR_MAX] = "", action[64];
	size_t before;

	set(w, "no_proxy_policy", "drop");
	assert_int_equal(manager_settings(w->m)->no_proxy_policy, NO_PROXY_DROP);
	assert_int_equal(manager_snapshot(w->m)->no_proxy, NO_PROXY_DROP);
	assert_int_equal(w->hook_calls, 1);
	assert_string_equal(w->hook_key, "no_proxy_policy");
	audit_count(w, action, sizeof(action));
	assert_string_equal(action, "setting.set");

	before = audit_count(w, NULL, 0);
	assert_int_equal(
	    manager_setting_set(w->m, "no_proxy_policy", "maybe", TEST_ACTOR, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "no_proxy_policy"));
	/* The timeout may not exceed the interval: refused before it is stored. */
	assert_int_equal(
	    manager_setting_set(w->m, "probe_timeout_ms", "999999", TEST_ACTOR, err, sizeof(err)),
	    -EINVAL);
	assert_int_equal(audit_count(w, NULL, 0), before);
	assert_int_equal(w->hook_calls, 1);
	assert_int_equal(manager_settings(w->m)->no_proxy_policy, NO_PROXY_DROP);

	restart(w);
	assert_int_equal(manager_settings(w->m)->no_proxy_policy, NO_PROXY_DROP);
}

static void test_queues_without_binding(void **state)
{
	struct world *w = *state;
	struct manager_stats st;
	char rules[16384];

	set(w, "queues", "3");
	manager_stats(w->m, &st);
	assert_int_equal(st.queues, 3);
	set(w, "queue_base", "10");
	set(w, "queues", "1");
	manager_stats(w->m, &st);
	assert_int_equal(st.queues, 1);
	assert_true(manager_render_rules(w->m, rules, sizeof(rules)) > 0);
	assert_non_null(strstr(rules, "--queue-num 10"));
}

static void test_render_rules_exclude_proxies(void **state)
{
	struct world *w = *state;
	char rules[16384];

	add(w, "alpha", "198.51.100.11", 100);
	add(w, "beta", "198.51.100.12", 100);
	assert_true(manager_render_rules(w->m, rules, sizeof(rules)) > 0);
	assert_non_null(strstr(rules, "-A DROVER -s 198.51.100.11/32 -j RETURN"));
	assert_non_null(strstr(rules, "-A DROVER -s 198.51.100.12/32 -j RETURN"));
}

static void test_lookup(void **state)
{
	struct world *w = *state;
	const struct proxy_config *p;
	uint32_t idle;
	int64_t a, b;

	/* No proxy at all. */
	assert_int_equal(manager_lookup(w->m, addr("198.18.0.10"), &p, &idle), MANAGER_LOOKUP_NONE);
	assert_null(p);

	need_route("198.51.100.11");
	need_route("198.51.100.12");
	set(w, "assume_up_at_start", "true");
	a = add(w, "alpha", "198.51.100.11", 100);
	b = add(w, "beta", "198.51.100.12", 100);
	struct manager_proxy_view v = view(w, a);
	assert_true(health_is_up(&v.health));
	for (unsigned i = 1; i < 64; i++) {
		char client[INET_ADDRSTRLEN];

		snprintf(client, sizeof(client), "198.18.0.%u", i);
		assert_int_equal(manager_lookup(w->m, addr(client), &p, &idle),
				 MANAGER_LOOKUP_TABLE);
		assert_non_null(p);
		assert_true(p->id == a || p->id == b);
		assert_int_equal(idle, 0);
	}
	/* A disabled proxy takes no one: every client goes to the other. */
	struct proxy_config off = view(w, a).config;
	char err[MANAGER_ERR_MAX];
	off.admin = PROXY_ADMIN_DISABLED;
	assert_int_equal(manager_proxy_update(w->m, &off, 0, TEST_ACTOR, err, sizeof(err)), 0);
	for (unsigned i = 1; i < 64; i++) {
		char client[INET_ADDRSTRLEN];

		snprintf(client, sizeof(client), "198.18.1.%u", i);
		assert_int_equal(manager_lookup(w->m, addr(client), &p, &idle),
				 MANAGER_LOOKUP_TABLE);
		assert_int_equal(p->id, b);
	}
}

/* Health starts down when not assumed up, and nothing probes here: no one is chosen. */
static void test_lookup_waits_for_health(void **state)
{
	struct world *w = *state;
	const struct proxy_config *p;
	uint32_t idle;

	add(w, "alpha", "198.51.100.11", 100);
	assert_int_equal(manager_lookup(w->m, addr("198.18.0.10"), &p, &idle), MANAGER_LOOKUP_NONE);
	assert_null(p);
}

/* Rows written to proxy_health, counted by triggers a raw connection adds. */
static void count_health_writes(struct world *w)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(w->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE health_writes (what TEXT);"
				      "CREATE TRIGGER hw_i AFTER INSERT ON proxy_health BEGIN"
				      " INSERT INTO health_writes VALUES ('insert'); END;"
				      "CREATE TRIGGER hw_u AFTER UPDATE ON proxy_health BEGIN"
				      " INSERT INTO health_writes VALUES ('update'); END;"
				      "CREATE TRIGGER hw_d AFTER DELETE ON proxy_health BEGIN"
				      " INSERT INTO health_writes VALUES ('delete'); END;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
}

static int64_t db_int(struct world *w, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t v;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(w->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

static void probes(struct world *w, int64_t id, enum check_result r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		manager_probe_done(w->m, id, r, 1);
}

/* Which of the proxies the clients 198.18.2.1..63 get: a bit per proxy id (1U << id). */
static unsigned chosen(struct world *w)
{
	const struct proxy_config *p;
	unsigned seen = 0;
	uint32_t idle;

	for (unsigned i = 1; i < 64; i++) {
		char client[INET_ADDRSTRLEN];

		snprintf(client, sizeof(client), "198.18.2.%u", i);
		if (manager_lookup(w->m, addr(client), &p, &idle) != MANAGER_LOOKUP_NONE)
			seen |= 1U << p->id;
	}
	return seen;
}

/* A proxy's verdict is stored when it changes, never per probe. */
static void test_health_stored_on_change_only(void **state)
{
	struct world *w = *state;
	struct proxy_config moved;
	char err[MANAGER_ERR_MAX];
	int64_t a;

	set(w, "probe_rise", "2");
	set(w, "probe_fall", "3");
	a = add(w, "alpha", "198.51.100.11", 100);
	count_health_writes(w);
	probes(w, a, CHECK_L4OK, 1); /* going up: no verdict yet */
	assert_int_equal(db_int(w, "SELECT count(*) FROM health_writes"), 0);
	probes(w, a, CHECK_L4OK, 20);
	assert_int_equal(db_int(w, "SELECT count(*) FROM health_writes"), 1);
	assert_int_equal(db_int(w, "SELECT up FROM proxy_health"), 1);
	probes(w, a, CHECK_L4TOUT, 2); /* going down: still up */
	probes(w, a, CHECK_L4OK, 5);
	probes(w, a, CHECK_LOCAL, 5);
	assert_int_equal(db_int(w, "SELECT count(*) FROM health_writes"), 1);
	probes(w, a, CHECK_L4CON, 20);
	assert_int_equal(db_int(w, "SELECT count(*) FROM health_writes"), 2);
	assert_int_equal(db_int(w, "SELECT up FROM proxy_health"), 0);
	/* Moved: what was known of the old address is forgotten, once. */
	moved = view(w, a).config;
	moved.address = addr("198.51.100.21");
	assert_int_equal(manager_proxy_update(w->m, &moved, 0, TEST_ACTOR, err, sizeof(err)), 0);
	assert_int_equal(db_int(w, "SELECT count(*) FROM proxy_health"), 0);
	assert_int_equal(db_int(w, "SELECT count(*) FROM health_writes"), 3);
}

/*
 * Each family has its own rise/fall. A failing IPv6 address while IPv4 passes:
 * the proxy stays up and keeps its clients, its IPv6 health is down (shown in
 * the API, audited once), and, with a route to it, the snapshot sends its
 * IPv6 clients in 6in4 (no POOL_TARGET_IPV6); IPv6 up again: 6in6 again.
 * IPv4 failing takes the proxy down as before, whatever IPv6 says.
 */
static void test_health6_per_family(void **state)
{
	struct world *w = *state;
	struct manager_proxy_view v;
	uint8_t source6[16];
	uint16_t mtu6;
	char action[64];
	json_t *reply, *h6;
	int64_t a;
	bool routed6;

	need_route("198.51.100.11");
	set(w, "probe_rise", "2");
	set(w, "probe_fall", "3");
	reply =
	    api_call_json(w, json_pack("{s:s, s:s, s:s, s:s}", "cmd", "proxy.add", "name", "alpha",
				       "address", "198.51.100.11", "address6", "2001:db8:5::11"));
	assert_true(json_is_true(json_object_get(reply, "ok")));
	a = json_integer_value(json_object_get(json_object_get(reply, "proxy"), "id"));
	json_decref(reply);
	v = view(w, a);
	routed6 = pool_route6(v.config.address6, source6, &mtu6) == 0;

	probes(w, a, CHECK_L7OK, 2);
	for (int i = 0; i < 2; i++)
		manager_probe6_done(w->m, a, CHECK_L7OK, 1);
	v = view(w, a);
	assert_true(health_is_up(&v.health));
	assert_true(health_is_up(&v.health6));
	assert_int_equal(chosen(w), 1U << a);
	if (routed6)
		assert_true(manager_snapshot(w->m)->targets[v.slot].flags & POOL_TARGET_IPV6);

	/* IPv6 fails, IPv4 passes: down after fall, the proxy stays up for everyone. */
	for (int i = 0; i < 2; i++)
		manager_probe6_done(w->m, a, CHECK_L4CON, 1);
	v = view(w, a);
	assert_true(health_is_up(&v.health6)); /* going down */
	manager_probe6_done(w->m, a, CHECK_L4CON, 1);
	probes(w, a, CHECK_L7OK, 3);
	v = view(w, a);
	assert_false(health_is_up(&v.health6));
	assert_true(health_is_up(&v.health));
	assert_int_equal(v.health6.changes, 2); /* up from its start, then down */
	assert_int_equal(chosen(w), 1U << a);
	assert_true(manager_snapshot(w->m)->targets[v.slot].flags & POOL_TARGET_TAKES);
	assert_false(manager_snapshot(w->m)->targets[v.slot].flags & POOL_TARGET_IPV6);
	audit_count(w, action, sizeof(action));
	assert_string_equal(action, "proxy.ipv6-down");
	reply = api_call_json(w, json_pack("{s:s, s:I}", "cmd", "proxy.get", "id", (json_int_t)a));
	h6 = json_object_get(json_object_get(reply, "proxy"), "health6");
	assert_true(json_is_object(h6));
	assert_string_equal(json_string_value(json_object_get(h6, "state")), "down");
	assert_true(json_is_false(json_object_get(h6, "up")));
	assert_true(json_is_true(json_object_get(json_object_get(reply, "proxy"), "up")));
	json_decref(reply);

	/* Back after rise: 6in6 again, the same proxy all along. */
	for (int i = 0; i < 2; i++)
		manager_probe6_done(w->m, a, CHECK_L7OK, 1);
	v = view(w, a);
	assert_true(health_is_up(&v.health6));
	assert_int_equal(v.health6.changes, 3);
	if (routed6)
		assert_true(manager_snapshot(w->m)->targets[v.slot].flags & POOL_TARGET_IPV6);
	audit_count(w, action, sizeof(action));
	assert_string_equal(action, "proxy.ipv6-up");

	/* IPv4 fails: the proxy is down, IPv6 passing or not. */
	probes(w, a, CHECK_L4CON, 3);
	manager_probe6_done(w->m, a, CHECK_L7OK, 1);
	v = view(w, a);
	assert_false(health_is_up(&v.health));
	assert_true(health_is_up(&v.health6));
	assert_int_equal(chosen(w), 0);
}

/* Up only by assume_up_at_start is no verdict: nothing is stored before a good probe. */
static void test_health_assumed_up_not_stored(void **state)
{
	struct world *w = *state;
	int64_t a;

	set(w, "assume_up_at_start", "true");
	set(w, "probe_fall", "3");
	a = add(w, "alpha", "198.51.100.11", 100);
	probes(w, a, CHECK_LOCAL, 3);
	probes(w, a, CHECK_L4TOUT, 1); /* going down */
	assert_int_equal(db_int(w, "SELECT count(*) FROM proxy_health"), 0);
	probes(w, a, CHECK_L4OK, 1);
	assert_int_equal(db_int(w, "SELECT count(*) FROM proxy_health WHERE up = 1"), 1);
}

/*
 * A restart starts from the stored verdicts: the proxy stored up takes clients
 * at once, the one stored down takes none, and a proxy never seen before
 * waits for its first verdict as before; the probes then correct all of them.
 */
static void test_restart_starts_with_stored_health(void **state)
{
	struct world *w = *state;
	struct event_base *base = event_base_new();
	int64_t a, b, c;

	assert_non_null(base);
	need_route("198.51.100.11");
	/* The settling's deadline lies far beyond the test, however slow the machine. */
	set(w, "probe_interval_ms", "600000");
	set(w, "probe_rise", "2");
	set(w, "probe_fall", "2");
	a = add(w, "alpha", "198.51.100.11", 100);
	b = add(w, "beta", "198.51.100.12", 100);
	probes(w, a, CHECK_L4OK, 2);
	probes(w, b, CHECK_L4CON, 1);
	manager_stop(w->m);
	w->m = start_on(w, base);
	/* Droverd's start: nothing probed yet, clients already go to alpha. */
	{
		struct manager_proxy_view va = view(w, a);
		assert_true(health_is_up(&va.health));
	}
	{
		struct manager_proxy_view vb = view(w, b);
		assert_false(health_is_up(&vb.health));
	}
	assert_int_equal(chosen(w), 1U << a);

	/* A proxy never seen settles: it takes no clients before its first verdict. */
	c = add(w, "gamma", "198.51.100.13", 100);
	manager_stop(w->m);
	w->m = start_on(w, base);
	assert_int_equal(chosen(w), 1U << a);
	probes(w, c, CHECK_L4OK, 2);
	assert_int_equal(chosen(w), (1U << a) | (1U << c));
	/* Stored up, dead now: it keeps clients until fall probes failed. */
	probes(w, a, CHECK_L4TOUT, 1);
	assert_true((chosen(w) & (1U << a)) != 0);
	probes(w, a, CHECK_L4TOUT, 1);
	assert_int_equal(chosen(w), 1U << c);
	/* Stored down, alive now: it takes clients after rise probes. */
	probes(w, b, CHECK_L4OK, 2);
	assert_int_equal(chosen(w), (1U << b) | (1U << c));
	manager_stop(w->m);
	w->m = start_on(w, base);
	assert_int_equal(chosen(w), (1U << b) | (1U << c));
	manager_stop(w->m);
	w->m = start(w);
	event_base_free(base);
}

/* Nothing stored: as before, no proxy takes clients until every one has a verdict. */
static void test_never_seen_settles(void **state)
{
	struct world *w = *state;
	struct event_base *base = event_base_new();
	int64_t a, b;

	assert_non_null(base);
	need_route("198.51.100.11");
	/* The settling's deadline lies far beyond the test, however slow the machine. */
	set(w, "probe_interval_ms", "600000");
	set(w, "probe_rise", "2");
	a = add(w, "alpha", "198.51.100.11", 100);
	b = add(w, "beta", "198.51.100.12", 100);
	manager_stop(w->m);
	w->m = start_on(w, base);
	assert_int_equal(chosen(w), 0);
	probes(w, a, CHECK_L4OK, 2);
	{
		struct manager_proxy_view va = view(w, a);
		assert_true(health_is_up(&va.health));
	}
	assert_int_equal(chosen(w), 0); /* beta has no verdict yet */
	probes(w, b, CHECK_L4CON, 1);
	assert_int_equal(chosen(w), 1U << a);
	manager_stop(w->m);
	w->m = start(w);
	event_base_free(base);
}

static void test_drain_completes_once(void **state)
{
	struct world *w = *state;
	int64_t id = add(w, "alpha", "198.51.100.11", 100);
	struct proxy_config p = view(w, id).config;
	const struct pool_target *target;
	char err[MANAGER_ERR_MAX], action[64];
	size_t before;

	set(w, "assume_up_at_start", "true");
	/* Moved away and back: its health starts again, as assumed up. */
	p.admin = PROXY_ADMIN_DISABLED;
	assert_int_equal(manager_proxy_update(w->m, &p, 0, TEST_ACTOR, err, sizeof(err)), 0);
	p = view(w, id).config;
	p.admin = PROXY_ADMIN_DRAIN;
	assert_int_equal(manager_proxy_update(w->m, &p, 0, TEST_ACTOR, err, sizeof(err)), 0);
	target = manager_proxy_target(w->m, view(w, id).slot);
	assert_non_null(target);
	/* Draining: keeps its clients, takes no new ones. */
	if (target->tunnel_mtu != 0)
		assert_int_equal(target->flags, POOL_TARGET_KEEPS);
	else
		assert_int_equal(target->flags, 0); /* no route from this host */

	before = audit_count(w, NULL, 0);
	manager_tick(w->m);
	assert_int_equal(audit_count(w, action, sizeof(action)), before + 1);
	assert_string_equal(action, "proxy.drained");
	manager_tick(w->m);
	assert_int_equal(audit_count(w, NULL, 0), before + 1);
}

static void test_backup_restore(void **state)
{
	struct world *w = *state;
	struct manager_restore_result res;
	char path[160], err[MANAGER_ERR_MAX];
	int64_t bytes = 0;

	add(w, "alpha", "198.51.100.11", 100);
	snprintf(path, sizeof(path), "%s/backup.db", w->dir);
	assert_int_equal(manager_backup(w->m, path, &bytes, err, sizeof(err)), 0);
	assert_true(bytes > 0);

	add(w, "beta", "198.51.100.12", 100);
	set(w, "no_proxy_policy", "reject");
	w->hook_calls = 0;
	if (manager_restore(w->m, path, TEST_ACTOR, &res, err, sizeof(err)) != 0)
		fail_msg("manager_restore: %s", err);
	assert_int_equal(res.file_version, STORE_SCHEMA_VERSION);
	assert_int_equal(res.settings_changed, 1);
	assert_int_equal(w->hook_calls, 1);
	assert_string_equal(w->hook_key, "no_proxy_policy");
	assert_int_equal(res.proxies, 1);
	assert_false(res.restart_needed);
	assert_int_equal(manager_proxy_count(w->m), 1);
	assert_int_equal(manager_settings(w->m)->no_proxy_policy, NO_PROXY_BYPASS);
	assert_int_equal(manager_snapshot(w->m)->no_proxy, NO_PROXY_BYPASS);
}

static void test_restore_refused_leaves_no_trace(void **state)
{
	struct world *w = *state;
	static const char junk[] = "this is not a database";
	struct manager_restore_result res;
	char path[160], err[MANAGER_ERR_MAX] = "";
	size_t before;
	int fd;

	add(w, "alpha", "198.51.100.11", 100);
	set(w, "no_proxy_policy", "drop");
	before = audit_count(w, NULL, 0);
	snprintf(path, sizeof(path), "%s/junk.db", w->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);

	assert_true(manager_restore(w->m, path, TEST_ACTOR, &res, err, sizeof(err)) < 0);
	assert_int_equal(res.file_version, 0);
	assert_true(err[0] != '\0');
	/* A missing file and a relative path are refused alike. */
	assert_true(manager_restore(w->m, "/proc/drover-nowhere.db", TEST_ACTOR, &res, err,
				    sizeof(err)) < 0);
	assert_true(manager_restore(w->m, "backup.db", TEST_ACTOR, &res, err, sizeof(err)) < 0);
	assert_int_equal(manager_proxy_count(w->m), 1);
	assert_int_equal(manager_settings(w->m)->no_proxy_policy, NO_PROXY_DROP);
	assert_int_equal(audit_count(w, NULL, 0), before);
	restart(w);
	assert_int_equal(manager_proxy_count(w->m), 1);
	assert_int_equal(manager_settings(w->m)->no_proxy_policy, NO_PROXY_DROP);
}

/* A backup of the live configuration at path, then changed by sql behind drover's back. */
static void tampered_backup(struct world *w, char *path, size_t len, const char *sql)
{
	char err[MANAGER_ERR_MAX];
	int64_t bytes;
	sqlite3 *db;

	snprintf(path, len, "%s/tampered.db", w->dir);
	unlink(path);
	assert_int_equal(manager_backup(w->m, path, &bytes, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * The two restores reproduced against the appliance: a proxy name that
 * would have run a command in the proxy's set-up script, and a trigger
 * that would have emptied the audit log on every later write. Both are
 * refused whole; what runs and what is stored stay as they were, and the
 * audit log keeps recording.
 */
static void test_restore_refuses_tampered_backup(void **state)
{
	static const struct {
		const char *sql;
		const char *want;
	} attacks[] = {
	    {"UPDATE proxies SET name = 'alpha' || char(10) || 'touch /tmp/PWNED_BY_NAME'",
	     "proxy 1: name: invalid proxy name `alpha\\x0atouch /tmp/PWNED_BY_NAME'"},
	    {"CREATE TRIGGER quiet AFTER INSERT ON audit BEGIN DELETE FROM audit; END",
	     "it holds trigger `quiet' on audit, which is not part of drover's schema"},
	};
	struct world *w = *state;
	struct manager_restore_result res;
	char path[160], err[MANAGER_ERR_MAX];
	struct manager_proxy_view v;
	int64_t id;
	size_t before;

	id = add(w, "alpha", "198.51.100.11", 100);
	set(w, "no_proxy_policy", "drop");
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		tampered_backup(w, path, sizeof(path), attacks[i].sql);
		before = audit_count(w, NULL, 0);
		err[0] = '\0';
		assert_int_equal(manager_restore(w->m, path, TEST_ACTOR, &res, err, sizeof(err)),
				 -EINVAL);
		if (strstr(err, attacks[i].want) == NULL || strchr(err, '\n') != NULL)
			fail_msg("unexpected message: %s", err);
		assert_int_equal(manager_proxy_count(w->m), 1);
		v = view(w, id);
		assert_string_equal(v.config.name, "alpha");
		assert_int_equal(manager_settings(w->m)->no_proxy_policy, NO_PROXY_DROP);
		assert_int_equal(audit_count(w, NULL, 0), before);
		/* The log still records: nothing of the file came along. */
		set(w, "no_proxy_policy", "reject");
		set(w, "no_proxy_policy", "drop");
		assert_int_equal(audit_count(w, NULL, 0), before + 2);
	}
	restart(w);
	v = view(w, id);
	assert_string_equal(v.config.name, "alpha");
}

static void test_audit_pages(void **state)
{
	struct world *w = *state;
	struct audit_entry *page = NULL, *next = NULL;
	char err[MANAGER_ERR_MAX];
	size_t n = 0, m = 0;

	add(w, "alpha", "198.51.100.11", 100);
	add(w, "beta", "198.51.100.12", 100);
	add(w, "gamma", "198.51.100.13", 100);
	assert_int_equal(manager_audit_page(w->m, 0, 2, &page, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_true(page[0].id > page[1].id);
	assert_int_equal(manager_audit_page(w->m, page[1].id, 2, &next, &m, err, sizeof(err)), 0);
	assert_int_equal(m, 2);
	assert_true(next[0].id < page[1].id);
	assert_string_equal(next[0].action, "proxy.add");
	free(page);
	free(next);
}

/* ---- previews of a proxy change ---- */

#define PREVIEW_CLIENTS	 600
#define PREVIEW_CLIENTS6 60
#define PREVIEW_ALL	 (PREVIEW_CLIENTS + PREVIEW_CLIENTS6)

/* What a packet thread does with a client's packet (dp_choose): the proxy id it goes to. */
static int64_t place(const struct pool_snapshot *snap, uint32_t client)
{
	uint64_t hash = hash_client(snap->hash_key, client);
	uint32_t now = clock_now_s();
	uint16_t slot;

	if (affinity_lookup(snap->affinity, client, hash, now, &slot) && slot < snap->nslots &&
	    (snap->targets[slot].flags & POOL_TARGET_KEEPS))
		return snap->targets[slot].id;
	slot = maglev_lookup(&snap->table, hash);
	if (slot == MAGLEV_EMPTY)
		return 0;
	affinity_insert(snap->affinity, client, hash, slot, now, NULL);
	return snap->targets[slot].id;
}

/* The same for an IPv6 client (dp_handle6): held under a tag of its keyed hash. */
static int64_t place6(const struct pool_snapshot *snap, unsigned i)
{
	uint8_t a[WIRE_IPV6_ADDR_LEN];
	char text[INET6_ADDRSTRLEN];
	uint32_t now = clock_now_s();
	uint16_t slot;

	snprintf(text, sizeof(text), "2001:db8:5::%x", i + 1);
	assert_int_equal(inet_pton(AF_INET6, text, a), 1);
	const struct client_id id = client_from_ipv6(a);
	uint64_t hash = pool_client6_hash(snap, &id);
	uint32_t tag = pool_affinity_tag6(hash);

	if (affinity_lookup(snap->affinity, tag, hash, now, &slot) && slot < snap->nslots &&
	    (snap->targets[slot].flags & POOL_TARGET_KEEPS))
		return snap->targets[slot].id;
	slot = maglev_lookup(&snap->table, hash);
	if (slot == MAGLEV_EMPTY)
		return 0;
	affinity_insert(snap->affinity, tag, hash, slot, now, NULL);
	return snap->targets[slot].id;
}

static uint32_t preview_client(unsigned i)
{
	return htonl(ntohl(addr("198.18.0.0")) + 1 + i);
}

/*
 * Every client sends a packet; owners[i] gets the proxy id client i went
 * to: the IPv4 clients first, then PREVIEW_CLIENTS6 IPv6 ones.
 */
static void place_all(struct world *w, int64_t *owners)
{
	const struct pool_snapshot *snap = manager_snapshot(w->m);

	for (unsigned i = 0; i < PREVIEW_CLIENTS; i++)
		owners[i] = place(snap, preview_client(i));
	for (unsigned i = 0; i < PREVIEW_CLIENTS6; i++)
		owners[PREVIEW_CLIENTS + i] = place6(snap, i);
}

/* The proxy id owning each table entry now. */
static int64_t *table_owners(struct world *w)
{
	const struct pool_snapshot *snap = manager_snapshot(w->m);
	int64_t *ids = calloc(snap->table.size, sizeof(*ids));

	assert_non_null(ids);
	for (uint32_t e = 0; e < snap->table.size; e++)
		ids[e] = snap->table.entries[e] ? snap->targets[snap->table.entries[e]].id : 0;
	return ids;
}

enum preview_kind { PREVIEW_ADD, PREVIEW_UPDATE, PREVIEW_DELETE };

/*
 * Previews a change, checks that the preview changed nothing, applies the
 * change, then checks the preview's figures against what it did: the table
 * entries that changed owner (in all and per proxy) and the clients whose
 * next packet went to another proxy. Returns the id the change concerned.
 */
static int64_t preview_then_apply(struct world *w, enum preview_kind kind, struct proxy_config *p,
				  const char *what)
{
	int64_t before[PREVIEW_ALL], after[PREVIEW_ALL];
	struct manager_preview pv;
	struct manager_stats st0, st1;
	char err[MANAGER_ERR_MAX];
	size_t audit0 = audit_count(w, NULL, 0);
	uint64_t moved = 0, moved6 = 0, entries = 0;
	int ret;

	place_all(w, before);
	int64_t *table0 = table_owners(w);
	uint32_t size = manager_snapshot(w->m)->table.size;

	manager_stats(w->m, &st0);
	ret = kind == PREVIEW_ADD ? manager_preview_add(w->m, p, &pv, err, sizeof(err))
	      : kind == PREVIEW_UPDATE
		  ? manager_preview_update(w->m, p, 0, &pv, err, sizeof(err))
		  : manager_preview_delete(w->m, p->id, 0, &pv, err, sizeof(err));
	if (ret != 0)
		fail_msg("preview of %s: %s", what, err);
	manager_stats(w->m, &st1);
	assert_int_equal(st1.generation, st0.generation);
	assert_int_equal(audit_count(w, NULL, 0), audit0);

	ret = kind == PREVIEW_ADD ? manager_proxy_add(w->m, p, TEST_ACTOR, err, sizeof(err))
	      : kind == PREVIEW_UPDATE
		  ? manager_proxy_update(w->m, p, 0, TEST_ACTOR, err, sizeof(err))
		  : manager_proxy_delete(w->m, p->id, 0, TEST_ACTOR, err, sizeof(err));
	if (ret != 0)
		fail_msg("%s: %s", what, err);
	int64_t *table1 = table_owners(w);
	place_all(w, after);

	for (uint32_t e = 0; e < size; e++)
		entries += table0[e] != table1[e];
	for (unsigned i = 0; i < PREVIEW_ALL; i++) {
		moved += before[i] != after[i];
		moved6 += i >= PREVIEW_CLIENTS && before[i] != after[i];
	}
	print_message(
	    "%-28s preview: %5u of %u entries (%5.1f %%), %3" PRIu64 " of %" PRIu64
	    " clients (%" PRIu64 " IPv6); after: %5" PRIu64 " entries, %3" PRIu64 " clients\n",
	    what, pv.entries_moved, pv.table_size, 100.0 * pv.entries_moved / pv.table_size,
	    pv.clients_moved, pv.active_clients, pv.clients_to_unknown, entries, moved);
	assert_int_equal(pv.table_size, size);
	assert_int_equal(pv.entries_moved, entries);
	assert_int_equal(pv.active_clients, PREVIEW_ALL);
	assert_int_equal(pv.clients_moved, moved);
	/* An IPv6 client is held under a tag: it is counted, its new proxy is not told. */
	assert_int_equal(pv.clients_to_unknown, moved6);

	/* Per proxy: the entries it owns after, and the clients it gains and loses. */
	for (size_t i = 0; i < pv.nproxies; i++) {
		const struct manager_preview_proxy *x = &pv.proxies[i];
		int64_t id = x->id != 0 ? x->id : p->id;
		uint32_t owned0 = 0, owned1 = 0;
		uint64_t from = 0, to = 0;

		for (uint32_t e = 0; e < size; e++) {
			owned0 += table0[e] == id;
			owned1 += table1[e] == id;
		}
		for (unsigned c = 0; c < PREVIEW_ALL; c++) {
			from += before[c] == id && after[c] != id;
			to += c < PREVIEW_CLIENTS && after[c] == id && before[c] != id;
		}
		assert_int_equal(x->slots_before, owned0);
		assert_int_equal(x->slots_after, owned1);
		assert_int_equal((int64_t)x->slots_after - x->slots_before,
				 (int64_t)x->slots_gained - x->slots_lost);
		assert_int_equal(x->clients_from, from);
		assert_int_equal(x->clients_to, to);
	}
	manager_preview_free(&pv);
	free(table0);
	free(table1);
	return p->id;
}

/*
 * Each kind of change, with an affinity table of 600 active IPv4 clients
 * and 60 IPv6 ones, some of them held off the table's choice by an earlier
 * change: the preview equals what the change then did.
 */
static void test_preview_matches_apply(void **state)
{
	struct world *w = *state;
	static const char *const addresses[] = {"198.51.100.11", "198.51.100.12", "198.51.100.13",
						"198.51.100.14", "198.51.100.15"};
	int64_t ids[5];
	struct proxy_config p;

	for (size_t i = 0; i < 5; i++)
		need_route(addresses[i]);
	set(w, "assume_up_at_start", "true");
	/* Room for every client: none is pushed out of a full bucket meanwhile. */
	set(w, "affinity_max_clients", "65536");
	set(w, "client_subnets", "198.18.0.0/16");
	ids[0] = add(w, "alpha", addresses[0], 100);
	ids[1] = add(w, "beta", addresses[1], 100);
	ids[2] = add(w, "gamma", addresses[2], 100);
	ids[3] = add(w, "delta", addresses[3], 100);

	/* add: the table gives the new proxy about a fifth; no active client moves. */
	p = (struct proxy_config){.weight = 100, .admin = PROXY_ADMIN_ENABLED};
	snprintf(p.name, sizeof(p.name), "epsilon");
	p.address = addr(addresses[4]);
	ids[4] = preview_then_apply(w, PREVIEW_ADD, &p, "add epsilon");
	assert_true(ids[4] > 0);

	/* weight: alpha takes more of the table; its active clients and the others' stay. */
	p = view(w, ids[0]).config;
	p.weight = 300;
	preview_then_apply(w, PREVIEW_UPDATE, &p, "alpha weight 100 -> 300");

	/* drain: beta leaves the table, its clients stay on it. */
	p = view(w, ids[1]).config;
	p.admin = PROXY_ADMIN_DRAIN;
	preview_then_apply(w, PREVIEW_UPDATE, &p, "drain beta");

	/* disable: gamma's clients move at their next packet. */
	p = view(w, ids[2]).config;
	p.admin = PROXY_ADMIN_DISABLED;
	preview_then_apply(w, PREVIEW_UPDATE, &p, "disable gamma");

	/* weight 0: delta keeps its clients and takes no new ones. */
	p = view(w, ids[3]).config;
	p.weight = 0;
	preview_then_apply(w, PREVIEW_UPDATE, &p, "delta weight 100 -> 0");

	/* delete: epsilon's clients move. */
	p = view(w, ids[4]).config;
	preview_then_apply(w, PREVIEW_DELETE, &p, "delete epsilon");

	/* delete the draining one too: its kept clients move now. */
	p = view(w, ids[1]).config;
	preview_then_apply(w, PREVIEW_DELETE, &p, "delete beta (draining)");
}

/* The API's dry run answers the figures and changes nothing: no version, audit or generation. */
static void test_api_dry_run_changes_nothing(void **state)
{
	struct world *w = *state;
	struct manager_stats st0, st1;
	int64_t id;

	need_route("198.51.100.11");
	need_route("198.51.100.12");
	set(w, "assume_up_at_start", "true");
	id = add(w, "alpha", "198.51.100.11", 100);
	add(w, "beta", "198.51.100.12", 100);
	size_t audit0 = audit_count(w, NULL, 0);
	int64_t version = view(w, id).config.version;

	manager_stats(w->m, &st0);
	json_t *reqs[] = {
	    json_pack("{s:s, s:I, s:i, s:b}", "cmd", "proxy.set", "id", (json_int_t)id, "weight",
		      50, "dry_run", 1),
	    json_pack("{s:s, s:I, s:s, s:b}", "cmd", "proxy.set", "id", (json_int_t)id, "admin",
		      "disabled", "dry_run", 1),
	    json_pack("{s:s, s:I, s:b}", "cmd", "proxy.del", "id", (json_int_t)id, "dry_run", 1),
	    json_pack("{s:s, s:s, s:b}", "cmd", "proxy.add", "address", "198.51.100.13", "dry_run",
		      1),
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		json_t *r = api_handle(w->m, reqs[i], TEST_ACTOR);
		json_t *pv = json_object_get(r, "preview");

		assert_true(json_is_true(json_object_get(r, "ok")));
		assert_true(json_is_true(json_object_get(r, "dry_run")));
		assert_non_null(pv);
		assert_int_equal(json_integer_value(json_object_get(pv, "table_size")), 251);
		assert_true(json_integer_value(json_object_get(pv, "entries_moved")) > 0);
		assert_int_equal(json_array_size(json_object_get(pv, "proxies")), i == 3 ? 3 : 2);
		json_decref(r);
		json_decref(reqs[i]);
	}
	/* A stale version and a bad dry_run are refused as the change would be. */
	json_t *req =
	    json_pack("{s:s, s:I, s:I, s:i, s:b}", "cmd", "proxy.set", "id", (json_int_t)id,
		      "version", (json_int_t)(version + 5), "weight", 5, "dry_run", 1);
	json_t *r = api_handle(w->m, req, TEST_ACTOR);
	assert_string_equal(json_string_value(json_object_get(r, "kind")), "conflict");
	json_decref(r);
	json_decref(req);
	req = json_pack("{s:s, s:I, s:s}", "cmd", "proxy.del", "id", (json_int_t)id, "dry_run",
			"yes");
	r = api_handle(w->m, req, TEST_ACTOR);
	assert_string_equal(json_string_value(json_object_get(r, "field")), "dry_run");
	json_decref(r);
	json_decref(req);

	manager_stats(w->m, &st1);
	assert_int_equal(st1.generation, st0.generation);
	assert_int_equal(audit_count(w, NULL, 0), audit0);
	assert_int_equal(view(w, id).config.version, version);
	assert_int_equal(view(w, id).config.weight, 100);
	assert_int_equal(manager_proxy_count(w->m), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_start_empty, world_setup, world_teardown),
	    cmocka_unit_test(test_start_refused_without_database),
	    cmocka_unit_test_setup_teardown(test_proxy_add_view, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_api_proxy_address6, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_api_proxy_squid, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_health6_per_family, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_add_refused_leaves_no_trace, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_update_and_stale_version, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_delete, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_setting_set, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_queues_without_binding, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_render_rules_exclude_proxies, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_lookup, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_lookup_waits_for_health, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_health_stored_on_change_only, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_health_assumed_up_not_stored, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_restart_starts_with_stored_health, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_never_seen_settles, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_drain_completes_once, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_backup_restore, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_restore_refused_leaves_no_trace, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_restore_refuses_tampered_backup, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_audit_pages, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_preview_matches_apply, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_api_dry_run_changes_nothing, world_setup,
					    world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
