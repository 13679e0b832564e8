/* test_webui_pure.c - the web server's pure parts: routes, cookies, CSRF compare, sessions,
 * metrics, history (throttling: test_signin.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "metrics.h"
#include "webui_route.h"
#include "session.h"

/* The route a method and path reach, checked by its pattern and API command. */
static const struct webui_route *route_of(unsigned method, const char *path,
					  struct webui_route_match *m)
{
	assert_true(webui_route_match(method, path, m));
	assert_non_null(m->route);
	return m->route;
}

static void test_routes(void **state)
{
	struct webui_route_match m;
	const struct webui_route *r;

	(void)state;
	r = route_of(ROUTE_GET, "/api/v1/proxies", &m);
	assert_string_equal(r->command, "proxy.list");
	assert_true(r->flags & ROUTE_AUTH);
	assert_false(r->flags & (ROUTE_SAME_ORIGIN | ROUTE_CSRF));
	r = route_of(ROUTE_POST, "/api/v1/proxies", &m);
	assert_string_equal(r->command, "proxy.add");
	assert_true(r->flags & ROUTE_SAME_ORIGIN);
	assert_true(r->flags & ROUTE_CSRF);
	r = route_of(ROUTE_PUT, "/api/v1/proxies/42", &m);
	assert_string_equal(r->command, "proxy.set");
	assert_int_equal(m.object, 42);
	r = route_of(ROUTE_PATCH, "/api/v1/proxies/42", &m);
	assert_string_equal(r->command, "proxy.set");
	r = route_of(ROUTE_DELETE, "/api/v1/proxies/7", &m);
	assert_string_equal(r->command, "proxy.del");
	assert_string_equal(r->params[0], "version");
	assert_null(r->params[1]);
	r = route_of(ROUTE_PUT, "/api/v1/settings/probe_url", &m);
	assert_string_equal(r->command, "settings.set");
	assert_string_equal(m.key, "probe_url");
	r = route_of(ROUTE_HEAD, "/metrics", &m);
	assert_string_equal(r->pattern, "/metrics");
	assert_string_equal(r->command, "stats");
	assert_false(r->flags & ROUTE_AUTH);
	r = route_of(ROUTE_GET, "/", &m);
	assert_true(r->flags & ROUTE_STATIC);
	r = route_of(ROUTE_GET, "/app.js", &m);
	assert_true(r->flags & ROUTE_STATIC);
	assert_null(r->command);

	/* Sign-in comes from our own pages, but there is no session yet to hold a CSRF token. */
	r = route_of(ROUTE_POST, "/api/v1/login", &m);
	assert_true(r->flags & ROUTE_SAME_ORIGIN);
	assert_false(r->flags & (ROUTE_CSRF | ROUTE_AUTH));
	r = route_of(ROUTE_DELETE, "/api/v1/tokens/3", &m);
	assert_null(r->command);
	assert_int_equal(m.object, 3);

	/* Existing path, other method: 405 with what it takes. */
	assert_false(webui_route_match(ROUTE_POST, "/api/v1/stats", &m));
	assert_null(m.route);
	assert_true(m.allowed & ROUTE_GET);
	assert_false(webui_route_match(ROUTE_GET, "/api/v1/logout", &m));
	assert_int_equal(m.allowed, ROUTE_POST);
	assert_false(webui_route_match(ROUTE_POST, "/app.js", &m));
	assert_int_equal(m.allowed, ROUTE_GET | ROUTE_HEAD);
	assert_false(webui_route_match(ROUTE_POST, "/api/v1/proxies/5", &m));
	assert_int_equal(m.allowed,
			 ROUTE_GET | ROUTE_HEAD | ROUTE_PUT | ROUTE_PATCH | ROUTE_DELETE);

	/* No such path: 404. */
	assert_false(webui_route_match(ROUTE_GET, "/api/v1/proxies/0", &m));
	assert_int_equal(m.allowed, 0);
	assert_false(webui_route_match(ROUTE_GET, "/api/v1/proxies/01", &m));
	assert_false(webui_route_match(ROUTE_GET, "/api/v1/proxies/-1", &m));
	assert_false(webui_route_match(ROUTE_GET, "/api/v1/proxies/1/", &m));
	assert_false(webui_route_match(ROUTE_GET, "/api/v1/proxies/99999999999999999999", &m));
	assert_false(webui_route_match(ROUTE_GET, "/api/v1/settings/Ports", &m));
	assert_false(webui_route_match(ROUTE_GET, "/api/v1/proxiesX", &m));
	assert_false(webui_route_match(ROUTE_GET, "/static/../etc/passwd", &m));
	assert_int_equal(m.allowed, 0);
	assert_false(webui_route_match(ROUTE_GET, "/..js", &m));
	assert_false(webui_route_match(ROUTE_GET, "/a..b.js", &m));
	assert_false(webui_route_match(ROUTE_GET, "/static/app.js", &m));
	assert_false(webui_route_match(ROUTE_GET, "/favicon", &m));
	assert_false(webui_route_match(ROUTE_GET, "", &m));
	assert_false(webui_route_match(ROUTE_GET, NULL, &m));
	assert_null(m.route);

	/* Sign-in and the password change stay reachable while the password must change. */
	r = route_of(ROUTE_POST, "/api/v1/account/password", &m);
	assert_true(r->flags & ROUTE_PWCHANGE_OK);
	r = route_of(ROUTE_POST, "/api/v1/proxies", &m);
	assert_false(r->flags & ROUTE_PWCHANGE_OK);
	r = route_of(ROUTE_GET, "/metrics", &m);
	assert_true(r->flags & ROUTE_PWCHANGE_OK);
}

/* Every entry of the table is whole, and every write is guarded. */
static void test_route_table(void **state)
{
	size_t n = 0;
	const struct webui_route *t = webui_route_table(&n);

	(void)state;
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		struct webui_route_match m;
		bool writes = (t[i].methods & ~(unsigned)(ROUTE_GET | ROUTE_HEAD)) != 0;

		assert_non_null(t[i].handler);
		assert_true(t[i].methods != 0);
		assert_int_equal(t[i].pattern[0], '/');
		/* A write comes from our own pages; one by a signed-in caller also needs the
		 * CSRF token. */
		if (writes)
			assert_true(t[i].flags & ROUTE_SAME_ORIGIN);
		if (writes && (t[i].flags & ROUTE_AUTH))
			assert_true(t[i].flags & ROUTE_CSRF);
		/* A static file is never an API route, nor asks for anything. */
		if (t[i].flags & ROUTE_STATIC)
			assert_true(t[i].command == NULL && t[i].flags == ROUTE_STATIC);
		/* A literal pattern reaches its own entry (or an earlier one of that path). */
		if (strchr(t[i].pattern, '{') == NULL) {
			unsigned method = t[i].methods & -t[i].methods;

			assert_true(webui_route_match(method, t[i].pattern, &m));
			assert_string_equal(m.route->pattern, t[i].pattern);
		}
	}
}

static void test_cookies(void **state)
{
	char v[80];

	(void)state;
	assert_true(session_cookie_value("drover_session=abc", "drover_session", v, sizeof(v)));
	assert_string_equal(v, "abc");
	assert_true(
	    session_cookie_value("a=1; drover_session=xyz ; b=2", "drover_session", v, sizeof(v)));
	assert_string_equal(v, "xyz");
	assert_true(session_cookie_value("x_drover_session=no; drover_session=yes",
					 "drover_session", v, sizeof(v)));
	assert_string_equal(v, "yes");
	assert_false(session_cookie_value("drover_sessionx=1", "drover_session", v, sizeof(v)));
	assert_false(session_cookie_value("drover_session=", "drover_session", v, sizeof(v)));
	assert_false(session_cookie_value("", "drover_session", v, sizeof(v)));
	assert_false(session_cookie_value(NULL, "drover_session", v, sizeof(v)));
	assert_false(session_cookie_value("drover_session=0123456789", "drover_session", v, 5));
}

static void test_token_equal(void **state)
{
	(void)state;
	assert_true(session_token_equal("abcd", "abcd"));
	assert_false(session_token_equal("abcd", "abce"));
	assert_false(session_token_equal("abcd", "abc"));
	assert_false(session_token_equal("", ""));
	assert_false(session_token_equal(NULL, "abcd"));
	assert_false(session_token_equal("abcd", NULL));
}

static void test_sessions(void **state)
{
	struct session_table *t = calloc(1, sizeof(*t));
	struct session *a, *b;
	char id[SESSION_ID_HEX + 1];

	(void)state;
	assert_non_null(t);
	a = session_create(t, "admin", 100);
	assert_int_equal(strlen(a->id), SESSION_ID_HEX);
	assert_int_equal(strlen(a->csrf), SESSION_ID_HEX);
	assert_string_not_equal(a->id, a->csrf);
	memcpy(id, a->id, sizeof(id));
	b = session_create(t, "admin", 100);
	assert_string_not_equal(b->id, id);
	assert_ptr_equal(session_find(t, id, 150, 60), a);
	/* Idle longer than allowed: gone, and stays gone. */
	assert_null(session_find(t, id, 211, 60));
	assert_null(session_find(t, id, 212, 6000));
	assert_null(session_find(t, "short", 100, 60));
	/* Even a busy session ends after its lifetime. */
	a = session_create(t, "admin", 1000);
	memcpy(id, a->id, sizeof(id));
	for (uint64_t now = 1000; now < 1000 + SESSION_LIFETIME_SECS; now += 1000)
		assert_non_null(session_find(t, id, now, 1800));
	assert_null(session_find(t, id, 1001 + SESSION_LIFETIME_SECS, 1800));
	/* A password change ends all of the user's sessions. */
	a = session_create(t, "admin", 5000);
	memcpy(id, a->id, sizeof(id));
	session_close_user(t, "admin");
	assert_null(session_find(t, id, 5000, 60));
	/* A full table evicts the least recently seen. */
	for (int i = 0; i < SESSION_MAX + 5; i++)
		assert_non_null(session_create(t, "u", 6000 + (uint64_t)i));
	free(t);
}

static json_t *stats_fixture(json_int_t hits)
{
	return json_pack("{s:b, s:{s:I, s:I, s:I, s:I, s:I, s:{s:I}}, s:[{s:I, s:s, s:I, s:I, s:I, "
			 "s:i, s:i, s:s, s:b, s:i, s:I, s:I, s:I}]}",
			 "ok", 1, "global", "packets", (json_int_t)10, "bytes", (json_int_t)1000,
			 "enobufs", (json_int_t)0, "kernel_queue_full_drops", (json_int_t)2,
			 "queues", (json_int_t)2, "malformed_by_reason", "truncated", (json_int_t)3,
			 "proxies", "id", (json_int_t)1, "name", "squid-\"a\"", "hits", hits,
			 "packets", (json_int_t)5, "bytes", (json_int_t)700, "active_clients", 4,
			 "weight", 100, "admin", "drain", "up", 1, "last_check_ms", 12,
			 "state_changes", (json_int_t)1, "checks", (json_int_t)9, "failed_checks",
			 (json_int_t)0);
}

static void test_metrics(void **state)
{
	json_t *stats = stats_fixture(42);
	char *text = metrics_render(stats, "1.2.3");

	(void)state;
	assert_non_null(text);
	assert_non_null(strstr(text, "drover_build_info{version=\"1.2.3\"} 1\n"));
	assert_non_null(strstr(text, "# TYPE drover_proxy_hits_total counter\n"));
	assert_non_null(strstr(text, "drover_proxy_hits_total{proxy=\"squid-\\\"a\\\"\"} 42\n"));
	assert_non_null(strstr(text, "drover_proxy_active_clients{proxy=\"squid-\\\"a\\\"\"} 4\n"));
	assert_non_null(strstr(text, "drover_proxy_up{proxy=\"squid-\\\"a\\\"\"} 1\n"));
	assert_non_null(
	    strstr(text, "drover_proxy_check_duration_seconds{proxy=\"squid-\\\"a\\\"\"} 0.012\n"));
	assert_non_null(strstr(
	    text, "drover_proxy_admin_state{proxy=\"squid-\\\"a\\\"\",state=\"drain\"} 1\n"));
	assert_non_null(strstr(text, "drover_datapath_packets_total 10\n"));
	assert_non_null(strstr(text, "drover_kernel_queue_full_drops_total 2\n"));
	assert_non_null(
	    strstr(text, "drover_datapath_malformed_by_reason_total{reason=\"truncated\"} 3\n"));
	assert_non_null(strstr(text, "drover_queues 2\n"));
	assert_null(strstr(text, "drover_datapath_queues_total"));
	assert_null(strstr(text, "drover_maglev_table_info"));
	/* No IPv6 address (no health6): no IPv6 series for it. */
	assert_non_null(strstr(text, "# TYPE drover_proxy_ipv6_up gauge\n"));
	assert_null(strstr(text, "drover_proxy_ipv6_up{"));
	assert_null(strstr(text, "drover_fast_path_interface_info"));
	free(text);
	/* The fast path's program per interface: an info gauge each. */
	json_object_set_new(stats, "fast_path_paths",
			    json_pack("[{s:s, s:s, s:n}, {s:s, s:s, s:s}]", "interface", "lan0",
				      "path", "xdp", "xdp_error", "interface", "wan0", "path", "tc",
				      "xdp_error", "Operation not supported"));
	text = metrics_render(stats, "1.2.3");
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE drover_fast_path_interface_info gauge\n"));
	assert_non_null(
	    strstr(text, "drover_fast_path_interface_info{interface=\"lan0\",path=\"xdp\"} 1\n"));
	assert_non_null(
	    strstr(text, "drover_fast_path_interface_info{interface=\"wan0\",path=\"tc\"} 1\n"));
	free(text);
	json_object_del(stats, "fast_path_paths");
	/* Its IPv6 address down while it is up: a gauge of its own, drover_proxy_up unchanged. */
	json_object_set_new(json_array_get(json_object_get(stats, "proxies"), 0), "health6",
			    json_pack("{s:s, s:b}", "state", "down", "up", 0));
	text = metrics_render(stats, "1.2.3");
	assert_non_null(text);
	assert_non_null(strstr(text, "drover_proxy_ipv6_up{proxy=\"squid-\\\"a\\\"\"} 0\n"));
	assert_non_null(strstr(text, "drover_proxy_up{proxy=\"squid-\\\"a\\\"\"} 1\n"));
	free(text);
	json_object_del(json_array_get(json_object_get(stats, "proxies"), 0), "health6");
	/* squid_stats off ("squid": null): no Squid series for it. */
	json_object_set_new(json_array_get(json_object_get(stats, "proxies"), 0), "squid",
			    json_null());
	text = metrics_render(stats, "1.2.3");
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE drover_proxy_squid_read_ok gauge\n"));
	assert_null(strstr(text, "drover_proxy_squid_read_ok{"));
	assert_null(strstr(text, "drover_proxy_squid_hit_ratio{"));
	free(text);
	/* On, never read yet: read_ok 0 and no figures. */
	json_object_set_new(json_array_get(json_object_get(stats, "proxies"), 0), "squid",
			    json_pack("{s:b, s:s, s:f, s:f, s:I, s:f, s:I, s:I, s:I, s:I}", "ok", 0,
				      "error", "HTTP 403", "requests_per_second", 0.0, "hit_ratio",
				      0.0, "clients", (json_int_t)0, "median_service_ms", 0.0,
				      "age_s", (json_int_t)3, "requests", (json_int_t)0, "reads",
				      (json_int_t)2, "failures", (json_int_t)2));
	text = metrics_render(stats, "1.2.3");
	assert_non_null(text);
	assert_non_null(strstr(text, "drover_proxy_squid_read_ok{proxy=\"squid-\\\"a\\\"\"} 0\n"));
	assert_null(strstr(text, "drover_proxy_squid_hit_ratio{"));
	free(text);
	/* Read: the figures in base units (the median in seconds). */
	json_object_set_new(json_array_get(json_object_get(stats, "proxies"), 0), "squid",
			    json_pack("{s:b, s:n, s:f, s:f, s:I, s:f, s:I, s:I, s:I, s:I}", "ok", 1,
				      "error", "requests_per_second", 4.5, "hit_ratio", 0.25,
				      "clients", (json_int_t)12, "median_service_ms", 3.07, "age_s",
				      (json_int_t)1, "requests", (json_int_t)8123, "reads",
				      (json_int_t)5, "failures", (json_int_t)2));
	text = metrics_render(stats, "1.2.3");
	assert_non_null(text);
	assert_non_null(strstr(text, "drover_proxy_squid_read_ok{proxy=\"squid-\\\"a\\\"\"} 1\n"));
	assert_non_null(strstr(
	    text, "drover_proxy_squid_requests_per_second{proxy=\"squid-\\\"a\\\"\"} 4.5\n"));
	assert_non_null(
	    strstr(text, "drover_proxy_squid_hit_ratio{proxy=\"squid-\\\"a\\\"\"} 0.25\n"));
	assert_non_null(strstr(text, "drover_proxy_squid_clients{proxy=\"squid-\\\"a\\\"\"} 12\n"));
	assert_non_null(strstr(
	    text,
	    "drover_proxy_squid_median_service_seconds{proxy=\"squid-\\\"a\\\"\"} 0.00307\n"));
	assert_non_null(strstr(text, "# TYPE drover_proxy_squid_requests_total counter\n"));
	assert_non_null(
	    strstr(text, "drover_proxy_squid_requests_total{proxy=\"squid-\\\"a\\\"\"} 8123\n"));
	free(text);
	json_object_del(json_array_get(json_object_get(stats, "proxies"), 0), "squid");
	/* The mapping: digest and key fingerprint as labels, the generation a gauge. */
	json_object_set_new(stats, "mapping",
			    json_pack("{s:s, s:s, s:I, s:I, s:I}", "table_digest", "ab01",
				      "hash_key_id", "cd02", "table_size", (json_int_t)65537,
				      "table_proxies", (json_int_t)3, "generation",
				      (json_int_t)17));
	text = metrics_render(stats, "1.2.3");
	assert_non_null(text);
	assert_non_null(
	    strstr(text, "drover_maglev_table_info{digest=\"ab01\",hash_key=\"cd02\"} 1\n"));
	assert_non_null(strstr(text, "drover_maglev_table_size 65537\n"));
	assert_non_null(strstr(text, "drover_maglev_table_proxies 3\n"));
	assert_non_null(strstr(text, "# TYPE drover_snapshot_generation gauge\n"));
	assert_non_null(strstr(text, "drover_snapshot_generation 17\n"));
	free(text);
	/* The cluster: the replicated generation, role, VRRP state, peers and agreement. */
	json_object_set_new(
	    stats, "cluster",
	    json_pack("{s:s, s:s, s:I, s:s, s:o, s:[{s:s, s:I, s:b, s:I}]}", "role", "replica",
		      "node", "b", "config_generation", (json_int_t)42, "vrrp", "BACKUP", "primary",
		      json_pack("{s:s, s:I, s:b, s:b, s:I, s:I, s:I}", "node", "a", "generation",
				(json_int_t)42, "agree", 1, "reachable", 1, "seen_seconds_ago",
				(json_int_t)1, "applied", (json_int_t)3, "refused", (json_int_t)1),
		      "peers", "node", "c\"x", "generation", (json_int_t)41, "agree", 0,
		      "seen_seconds_ago", (json_int_t)5));
	text = metrics_render(stats, "1.2.3");
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE drover_config_generation gauge\n"));
	assert_non_null(strstr(text, "drover_config_generation 42\n"));
	assert_non_null(strstr(text, "drover_cluster_role{role=\"replica\"} 1\n"));
	assert_non_null(strstr(text, "drover_cluster_role{role=\"primary\"} 0\n"));
	assert_non_null(strstr(text, "drover_vrrp_state{state=\"BACKUP\"} 1\n"));
	assert_non_null(strstr(text, "drover_vrrp_state{state=\"MASTER\"} 0\n"));
	assert_non_null(strstr(text, "drover_cluster_primary_reachable 1\n"));
	assert_non_null(strstr(text, "drover_cluster_snapshots_refused_total 1\n"));
	assert_non_null(
	    strstr(text, "drover_cluster_peer_generation{peer=\"a\",role=\"primary\"} 42\n"));
	assert_non_null(
	    strstr(text, "drover_cluster_peer_agree{peer=\"c\\\"x\",role=\"replica\"} 0\n"));
	/* Every counter family ends in _total. */
	for (const char *p = strstr(text, "# TYPE "); p != NULL; p = strstr(p + 1, "# TYPE ")) {
		const char *end = strchr(p, '\n');
		const char *sp = memchr(p + 7, ' ', (size_t)(end - p - 7));

		if (strncmp(sp + 1, "counter", 7) == 0)
			assert_memory_equal(sp - 6, "_total", 6);
	}
	free(text);
	json_decref(stats);

	/* An empty pool still renders the families. */
	stats = json_pack("{s:{}, s:[]}", "global", "proxies");
	text = metrics_render(stats, "x");
	assert_non_null(strstr(text, "# TYPE drover_proxy_up gauge"));
	free(text);
	json_decref(stats);
}

static void test_history(void **state)
{
	struct history *h = calloc(1, sizeof(*h));
	json_t *j, *series, *points;

	(void)state;
	assert_non_null(h);
	j = history_json(h);
	assert_int_equal(json_array_size(json_object_get(j, "series")), 0);
	json_decref(j);
	for (int i = 0; i < HISTORY_SAMPLES + 10; i++) {
		json_t *stats = stats_fixture((json_int_t)i * 50);

		assert_int_equal(
		    history_record(h, 1000 + i * 10, json_object_get(stats, "proxies")), 0);
		json_decref(stats);
	}
	assert_int_equal(h->count, HISTORY_SAMPLES);
	j = history_json(h);
	series = json_object_get(j, "series");
	assert_int_equal(json_array_size(series), 1);
	points = json_object_get(json_array_get(series, 0), "points");
	assert_int_equal(json_array_size(points), HISTORY_SAMPLES - 1);
	/* 50 hits per 10 s sample: 5 per second; the oldest point is the ring's second sample. */
	assert_true(json_real_value(json_array_get(json_array_get(points, 0), 1)) == 5.0);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(points, 0), 0)),
			 1000 + 11 * 10);
	json_decref(j);

	/* A counter that went back (re-added proxy) gives no point, not a negative rate. */
	json_t *stats = stats_fixture(0);
	assert_int_equal(history_record(h, 999999, json_object_get(stats, "proxies")), 0);
	json_decref(stats);
	j = history_json(h);
	points = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
	assert_int_equal(json_array_size(points), HISTORY_SAMPLES - 2);
	json_decref(j);
	history_free(h);
	free(h);
}

/*
 * The chart's series as history_json built them before it had an index:
 * for every proxy of the newest sample, every pair of samples searched
 * from the start. Kept here to show the indexed build answers the same.
 */
static const struct history_point *reference_find(const struct history_sample *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->points[i].id == id)
			return &s->points[i];
	}
	return NULL;
}

static const struct history_sample *reference_at(const struct history *h, size_t age)
{
	size_t first = (h->next + HISTORY_SAMPLES - h->count) % HISTORY_SAMPLES;

	return &h->ring[(first + age) % HISTORY_SAMPLES];
}

static json_t *reference_history_json(const struct history *h)
{
	json_t *series = json_array();

	if (h->count > 0) {
		const struct history_sample *newest = reference_at(h, h->count - 1);

		for (size_t i = 0; i < newest->n; i++) {
			const struct history_point *want = &newest->points[i];
			json_t *points = json_array();

			for (size_t age = 1; age < h->count; age++) {
				const struct history_sample *a = reference_at(h, age - 1);
				const struct history_sample *b = reference_at(h, age);
				const struct history_point *pa = reference_find(a, want->id);
				const struct history_point *pb = reference_find(b, want->id);

				if (pa == NULL || pb == NULL || pb->hits < pa->hits ||
				    b->time <= a->time)
					continue;
				json_array_append_new(points,
						      json_pack("[I, f]", (json_int_t)b->time,
								(double)(pb->hits - pa->hits) /
								    (double)(b->time - a->time)));
			}
			json_array_append_new(series, json_pack("{s:I, s:s, s:o}", "id",
								(json_int_t)want->id, "name",
								want->name, "points", points));
		}
	}
	return json_pack("{s:i, s:i, s:o}", "interval", HISTORY_INTERVAL_SECS, "samples",
			 (int)h->count, "series", series);
}

/*
 * Sample `sample' of a pool of n proxies as proxy.list gives it, with the
 * churn a real pool has: proxies missing from some samples (removed, then
 * added again), a counter that goes back, a repeated id, a clock that
 * stands still once, and an order that is not the ids' order.
 */
static json_t *churning_proxies(size_t n, size_t sample)
{
	json_t *list = json_array();

	for (size_t k = 0; k < n; k++) {
		size_t j = (k * 7 + sample) % n; /* a rotating order */
		int64_t id = (int64_t)j * 3 + 1;
		char name[32];
		json_int_t hits = (json_int_t)(sample * (j % 17 + 1) * 10);

		if ((sample * 5 + j) % 11 == 0)
			continue;
		if (j % 29 == 0 && sample % 40 == 20)
			hits = 0;
		snprintf(name, sizeof(name), "squid-%lld", (long long)id);
		json_array_append_new(list, json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id,
						      "name", name, "hits", hits));
		if (j == 5 && sample % 3 == 0)
			json_array_append_new(list,
					      json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id,
							"name", "again", "hits", hits + 1));
	}
	return list;
}

static void fill_history(struct history *h, size_t proxies, size_t samples)
{
	for (size_t i = 0; i < samples; i++) {
		json_t *list = churning_proxies(proxies, i);
		int64_t time = 1000 + (int64_t)i * HISTORY_INTERVAL_SECS - (i == 30 ? 10 : 0);

		assert_int_equal(history_record(h, time, list), 0);
		json_decref(list);
	}
}

static uint64_t monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000U + (uint64_t)ts.tv_nsec / 1000U;
}

/*
 * The dashboard's history of a large pool costs work in proportion to the
 * points it holds: 1,000 proxies x a full hour of samples, counted in
 * steps (no clock is asserted; the time per call is printed as a figure).
 * The answer is the one the unindexed build gave, churn included.
 */
static void test_history_indexed(void **state)
{
	enum { SMALL = 120, LARGE = 1000 };
	struct history *h = calloc(1, sizeof(*h));
	json_t *got, *want;
	uint64_t steps, points = 0, t0, t1;
	char *text;

	(void)state;
	assert_non_null(h);
	fill_history(h, SMALL, HISTORY_SAMPLES + 7);
	got = history_json_counted(h, &steps);
	want = reference_history_json(h);
	assert_non_null(got);
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
	history_free(h);

	fill_history(h, LARGE, HISTORY_SAMPLES);
	for (size_t i = 0; i < HISTORY_SAMPLES; i++)
		points += h->ring[i].n;
	t0 = monotonic_us();
	got = history_json_counted(h, &steps);
	t1 = monotonic_us();
	assert_non_null(got);
	assert_int_equal(json_array_size(json_object_get(got, "series")),
			 h->ring[HISTORY_SAMPLES - 1].n);
	/*
	 * Each point is visited once and found in a few slots: at most 4 steps
	 * a point, where searching every sample for every proxy took about
	 * proxies / 2 (500) a point.
	 */
	if (steps > 4 * points + 2 * LARGE)
		fail_msg("%llu steps for %llu points", (unsigned long long)steps,
			 (unsigned long long)points);
	text = json_dumps(got, JSON_COMPACT);
	assert_non_null(text);
	print_message("history of %d proxies x %d samples: %llu points, %llu steps, built in "
		      "%.1f ms, %zu bytes\n",
		      LARGE, HISTORY_SAMPLES, (unsigned long long)points, (unsigned long long)steps,
		      (double)(t1 - t0) / 1000.0, strlen(text));
	free(text);
	json_decref(got);
	history_free(h);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes),   cmocka_unit_test(test_route_table),
	    cmocka_unit_test(test_cookies),  cmocka_unit_test(test_token_equal),
	    cmocka_unit_test(test_sessions), cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_history),  cmocka_unit_test(test_history_indexed),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
