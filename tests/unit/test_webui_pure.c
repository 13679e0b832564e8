/* test_webui_pure.c - the web server's pure parts: routes, cookies, CSRF compare, sessions,
 * metrics, history (throttling: test_signin.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes),   cmocka_unit_test(test_route_table),
	    cmocka_unit_test(test_cookies),  cmocka_unit_test(test_token_equal),
	    cmocka_unit_test(test_sessions), cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_history),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
