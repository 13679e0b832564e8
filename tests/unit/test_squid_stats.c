/*
 * test_squid_stats.c - the reads of Squid's cache manager on a real libevent
 * loop, against an HTTP server the test runs on 127.0.0.1 in the same loop:
 * Squid 5.7's info page (the captured fixture) gives the figures; a 403 (the
 * manager ACL), an answer that is not the info page, a closed port and a
 * port that never answers (a timeout) each give their state and words, never
 * figures; a target taken away is no longer read.
 *
 * Nothing here asserts that something was quick: the waits only stop a test
 * whose event never comes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"
#include "source_file.h"
#include "squid_stats.h"

#define INTERVAL_MS 1000
#define DEADLINE_MS 120000 /* only stops a test whose event never comes */
#define TICK_MS	    20
#define FIXTURE	    "tests/unit/fixtures/squid-5.7-info-busy.txt"

/* What the server answers on each path: /ok, /denied, /garbage (each + SQUID_STATS_PATH). */
struct world {
	struct event_base *base;
	struct evhttp *http;
	uint16_t port;
	char *info;
	size_t info_len;
	unsigned requests;
	struct squid_stats *stats;
};

/*
 * The server: every request's Host decides the answer, as each target is a
 * different loopback address: 127.0.0.2 the info page, 127.0.0.3 a 403,
 * 127.0.0.4 a page that is not it.
 */
static void serve(struct evhttp_request *req, void *arg)
{
	struct world *w = arg;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	const char *host = evhttp_request_get_host(req);
	const char *uri = evhttp_request_get_uri(req);

	w->requests++;
	if (uri == NULL || strcmp(uri, SQUID_STATS_PATH) != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (host != NULL && strncmp(host, "127.0.0.3", strlen("127.0.0.3")) == 0) {
		evbuffer_add_printf(out, "<html>Access Denied.</html>\n");
		evhttp_send_reply(req, 403, "Forbidden", out);
	} else if (host != NULL && strncmp(host, "127.0.0.4", strlen("127.0.0.4")) == 0) {
		evbuffer_add_printf(out, "<html>It works!</html>\n");
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	} else {
		evbuffer_add(out, w->info, w->info_len);
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	}
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	assert_non_null(w);
	assert_int_equal(probe_global_init(), 0);
	w->info = source_file_read(FIXTURE, &w->info_len);
	w->base = event_base_new();
	assert_non_null(w->base);
	w->http = evhttp_new(w->base);
	assert_non_null(w->http);
	/* Every 127.0.0.0/8 address is this host's: one listener on 0 answers them all. */
	bound = evhttp_bind_socket_with_handle(w->http, "0.0.0.0", 0);
	assert_non_null(bound);
	assert_int_equal(
	    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &len), 0);
	w->port = ntohs(sa.sin_port);
	evhttp_set_gencb(w->http, serve, w);
	w->stats = squid_stats_new(w->base);
	assert_non_null(w->stats);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	squid_stats_free(w->stats);
	evhttp_free(w->http);
	event_base_free(w->base);
	free(w->info);
	free(w);
	probe_global_cleanup();
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct squid_stats_target target(int64_t id, const char *address, uint16_t port)
{
	struct squid_stats_target t = {.id = id, .port = port};

	assert_int_equal(inet_pton(AF_INET, address, &t.address), 1);
	return t;
}

/* Runs the loop until proxy id has had reads reads (false when the deadline passes first). */
static bool run_until_reads(struct world *w, int64_t id, uint64_t reads)
{
	uint64_t deadline = now_ms() + DEADLINE_MS;
	struct squid_stats_view v;

	while (now_ms() < deadline) {
		struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};

		if (squid_stats_get(w->stats, id, &v) && v.reads >= reads)
			return true;
		event_base_loopexit(w->base, &tv);
		event_base_dispatch(w->base);
	}
	return false;
}

static uint16_t closed_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd); /* bound, never listening: nothing takes a connection there now */
	return port;
}

/* A port that takes connections (the kernel's backlog) and never answers: *fd to close. */
static uint16_t silent_port(int *fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*fd >= 0);
	assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(*fd, 8), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

static void test_states(void **state)
{
	struct world *w = *state;
	struct squid_stats_target t[] = {
	    target(1, "127.0.0.2", w->port), target(2, "127.0.0.3", w->port),
	    target(3, "127.0.0.4", w->port), target(4, "127.0.0.1", closed_port()),
	    target(5, "127.0.0.1", 0),
	};
	struct squid_stats_view v;
	int silent;

	t[4].port = silent_port(&silent);
	assert_int_equal(squid_stats_set_targets(w->stats, t, 5, INTERVAL_MS), 0);
	/* Before the first read: pending, no figures. */
	assert_true(squid_stats_get(w->stats, 1, &v));
	assert_int_equal(v.state, SQUID_STATS_PENDING);
	assert_false(v.have_figures);
	assert_false(squid_stats_get(w->stats, 6, &v));
	for (int64_t id = 1; id <= 5; id++)
		assert_true(run_until_reads(w, id, 1));

	assert_true(squid_stats_get(w->stats, 1, &v));
	assert_int_equal(v.state, SQUID_STATS_OK);
	assert_string_equal(v.error, "");
	assert_true(v.have_figures);
	/*
	 * The first read: Squid's average since start (60.6 a minute), its own
	 * count. The page never moves, so each later read finds only our read
	 * before it: one less each time, and no rate (the others' reads may have
	 * taken long enough for more than one).
	 */
	assert_true(v.reads >= 1);
	assert_int_equal(v.figures.requests, 157 - (v.reads - 1));
	if (v.reads == 1)
		assert_true(v.figures.requests_per_second > 1.009 &&
			    v.figures.requests_per_second < 1.011);
	else
		assert_true(v.figures.requests_per_second == 0.0);
	assert_true(v.figures.hit_ratio > 0.6219 && v.figures.hit_ratio < 0.6221);
	assert_int_equal(v.figures.clients, 1);
	assert_true(v.figures.median_service_ms > 3.069 && v.figures.median_service_ms < 3.071);

	assert_true(squid_stats_get(w->stats, 2, &v));
	assert_int_equal(v.state, SQUID_STATS_HTTP_STATUS);
	assert_non_null(strstr(v.error, "HTTP 403"));
	assert_false(v.have_figures);
	assert_int_equal(v.failures, v.reads);

	assert_true(squid_stats_get(w->stats, 3, &v));
	assert_int_equal(v.state, SQUID_STATS_UNPARSABLE);
	assert_non_null(strstr(v.error, "not Squid's info page"));

	assert_true(squid_stats_get(w->stats, 4, &v));
	assert_int_equal(v.state, SQUID_STATS_REFUSED);
	assert_non_null(strstr(v.error, "cannot connect"));
	assert_string_equal(squid_stats_state_name(SQUID_STATS_REFUSED), "refused");

	/* Accepted by the kernel, never answered: a timeout (the interval, shorter than 5 s). */
	assert_true(squid_stats_get(w->stats, 5, &v));
	assert_int_equal(v.state, SQUID_STATS_TIMEOUT);
	assert_string_equal(v.error, "no answer within 1000 ms (connected)");
	assert_false(v.have_figures);
	close(silent);

	/* A next read of the same page: the counted reads since are ours, no one else's. */
	assert_true(squid_stats_get(w->stats, 1, &v));
	assert_true(run_until_reads(w, 1, v.reads + 1));
	assert_true(squid_stats_get(w->stats, 1, &v));
	assert_int_equal(v.figures.requests, 157 - (v.reads - 1));
	assert_true(v.figures.requests_per_second == 0.0);

	/* Taken away: no longer read, nothing known of it. */
	assert_int_equal(squid_stats_set_targets(w->stats, t, 1, INTERVAL_MS), 0);
	assert_false(squid_stats_get(w->stats, 2, &v));
	assert_true(squid_stats_get(w->stats, 1, &v));
	assert_int_equal(v.state, SQUID_STATS_OK); /* kept with its figures */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_states, world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
