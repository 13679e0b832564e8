/*
 * test_probe.c - probes on a real libevent loop against responders the test
 * runs on 127.0.0.1 in the same loop: result names and durations for each
 * way a proxy can answer or fail, the explicit-proxy request line, spreading
 * of a round over the interval, one probe in flight per target, the cap on
 * probes in flight, LOCAL for a probe this process has no descriptor for,
 * and cancellation when targets are removed.
 *
 * Nothing here asserts that something was quick: a busy machine stalls the
 * loop. Durations and schedules are checked from below (a timeout is not
 * reported before it has run out, a probe does not start before its place
 * in the interval), and the probe timeout is long enough that a stall does
 * not turn an answer into a timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

#define TIMEOUT_MS	  1000
#define LONG_TIMEOUT_MS	  60000	 /* for probes the test never waits out */
#define LONG_INTERVAL_MS  60000	 /* one probe per test unless the test says otherwise */
#define DEADLINE_MS	  120000 /* only stops a test whose event never comes */
#define MAX_RESULTS	  64
#define MAX_CONNS	  32
#define MAX_RESPONDERS	  4
#define MAX_SOLO	  5
#define REQUEST_MAX	  1024
#define SPREAD_TARGETS	  10
#define SPREAD_INTERVAL	  1000
#define SPREAD_ROUNDS	  3
#define CLOCK_ROUNDING_MS 5 /* millisecond clocks: a start may read a little early */
#define CAP_TARGETS	  4
#define CAP_IN_FLIGHT	  2
#define CAP_INTERVAL_MS	  400

enum responder_mode {
	RESPOND_STATUS,	 /* answer every request with a fixed status */
	RESPOND_SILENT,	 /* accept, read, never answer */
	RESPOND_GARBAGE, /* answer with something that is not HTTP */
	RESPOND_HANGUP,	 /* close right after accepting */
};

struct responder;

struct conn {
	struct responder *r;
	struct bufferevent *bev;
	size_t slot;
};

struct responder {
	struct event_base *base;
	struct evconnlistener *listener;
	uint16_t port;
	enum responder_mode mode;
	int status;
	unsigned accepted;
	char request[REQUEST_MAX]; /* head of the last complete request */
	struct conn *conns[MAX_CONNS];
};

struct result {
	int64_t id;
	enum probe_family family;
	enum check_result result;
	uint32_t duration_ms;
	uint64_t at_ms;
};

struct world {
	struct event_base *base;
	struct event *wake;
	struct prober *prober;
	struct prober *solo[MAX_SOLO];
	size_t n_solo;
	struct responder responders[MAX_RESPONDERS];
	size_t n_responders;
	int raw_fds[4]; /* sockets of hand-made listeners and their clients */
	size_t n_raw_fds;
	struct result results[MAX_RESULTS];
	size_t n_results;
	size_t max_in_flight;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void conn_free(struct conn *c)
{
	c->r->conns[c->slot] = NULL;
	bufferevent_free(c->bev);
	free(c);
}

/* Closes once the answer has left. */
static void conn_written(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_free(arg);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct responder *r = c->r;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	size_t len;

	if (end.pos < 0)
		return;
	len = (size_t)end.pos < sizeof(r->request) - 1 ? (size_t)end.pos : sizeof(r->request) - 1;
	evbuffer_remove(in, r->request, len);
	r->request[len] = '\0';
	evbuffer_drain(in, evbuffer_get_length(in));
	if (r->mode == RESPOND_SILENT)
		return;
	if (r->mode == RESPOND_GARBAGE)
		evbuffer_add_printf(bufferevent_get_output(bev), "hello there\r\n\r\n");
	else
		evbuffer_add_printf(bufferevent_get_output(bev),
				    "HTTP/1.1 %d Test\r\nContent-Length: 4\r\n"
				    "Connection: close\r\n\r\nbody",
				    r->status);
	bufferevent_setcb(bev, conn_read, conn_written, conn_event, c);
}

static void responder_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			     int salen, void *arg)
{
	struct responder *r = arg;
	struct conn *c;
	size_t slot;

	(void)l;
	(void)sa;
	(void)salen;
	r->accepted++;
	if (r->mode == RESPOND_HANGUP) {
		evutil_closesocket(fd);
		return;
	}
	for (slot = 0; slot < MAX_CONNS && r->conns[slot] != NULL; slot++)
		;
	assert_true(slot < MAX_CONNS);
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->r = r;
	c->slot = slot;
	c->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(c->bev);
	r->conns[slot] = c;
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET,
	    .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	return sin;
}

static uint16_t socket_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static struct responder *responder_start(struct world *w, enum responder_mode mode, int status)
{
	struct responder *r;
	struct sockaddr_in sin = loopback(0);

	assert_true(w->n_responders < MAX_RESPONDERS);
	r = &w->responders[w->n_responders++];
	r->base = w->base;
	r->mode = mode;
	r->status = status;
	r->listener = evconnlistener_new_bind(w->base, responder_accept, r,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					      (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(r->listener);
	r->port = socket_port(evconnlistener_get_fd(r->listener));
	return r;
}

static void responder_stop(struct responder *r)
{
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (r->conns[i] != NULL)
			conn_free(r->conns[i]);
	evconnlistener_free(r->listener);
}

static void keep_fd(struct world *w, int fd)
{
	assert_true(w->n_raw_fds < sizeof(w->raw_fds) / sizeof(w->raw_fds[0]));
	w->raw_fds[w->n_raw_fds++] = fd;
}

/* A port with nothing listening: bound for a moment to learn a free number, then closed. */
static uint16_t closed_port(void)
{
	struct sockaddr_in sin = loopback(0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	port = socket_port(fd);
	close(fd);
	return port;
}

/*
 * A listener whose accept queue is full: with a backlog of 0 the kernel
 * queues one connection (made here) and drops every later SYN, so a probe's
 * connect never completes - the loopback stand-in for a host that does not
 * answer.
 */
static uint16_t full_listener(struct world *w)
{
	struct sockaddr_in sin = loopback(0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int client = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0 && client >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 0), 0);
	sin.sin_port = htons(socket_port(fd));
	assert_int_equal(connect(client, (struct sockaddr *)&sin, sizeof(sin)), 0);
	keep_fd(w, fd);
	keep_fd(w, client);
	return ntohs(sin.sin_port);
}

static void on_result(void *arg, int64_t id, enum probe_family family, enum check_result result,
		      uint32_t duration_ms)
{
	struct world *w = arg;

	assert_true(w->n_results < MAX_RESULTS);
	w->results[w->n_results++] = (struct result){
	    .id = id,
	    .family = family,
	    .result = result,
	    .duration_ms = duration_ms,
	    .at_ms = now_ms(),
	};
}

/* Keeps EVLOOP_ONCE from blocking forever, and samples the in-flight count. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;
	size_t in_flight = prober_in_flight(w->prober);

	(void)fd;
	(void)what;
	if (in_flight > w->max_in_flight)
		w->max_in_flight = in_flight;
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct timeval tick = {.tv_sec = 0, .tv_usec = 5000};

	if (w == NULL)
		return -1;
	w->base = event_base_new();
	if (w->base == NULL)
		return -1;
	w->prober = prober_new(w->base, on_result, w);
	w->wake = event_new(w->base, -1, EV_PERSIST, on_wake, w);
	if (w->prober == NULL || w->wake == NULL || event_add(w->wake, &tick) < 0)
		return -1;
	*state = w;
	return 0;
}

/* Frees the prober first, with whatever it still has in flight. */
static int world_teardown(void **state)
{
	struct world *w = *state;

	prober_free(w->prober);
	for (size_t i = 0; i < w->n_solo; i++)
		prober_free(w->solo[i]);
	for (size_t i = 0; i < w->n_responders; i++)
		responder_stop(&w->responders[i]);
	for (size_t i = 0; i < w->n_raw_fds; i++)
		close(w->raw_fds[i]);
	event_free(w->wake);
	event_base_free(w->base);
	free(w);
	return 0;
}

/* Runs the loop until done(w) holds; false if the deadline passed first. */
static bool run_until(struct world *w, bool (*done)(const struct world *w), uint64_t budget_ms)
{
	uint64_t deadline = now_ms() + budget_ms;

	while (!done(w)) {
		if (now_ms() > deadline)
			return false;
		event_base_loop(w->base, EVLOOP_ONCE);
	}
	return true;
}

static bool never(const struct world *w)
{
	(void)w;
	return false;
}

static void run_for(struct world *w, uint64_t ms)
{
	run_until(w, never, ms);
}

static size_t want_results;

static bool have_results(const struct world *w)
{
	return w->n_results >= want_results;
}

static bool probe_in_flight(const struct world *w)
{
	return prober_in_flight(w->prober) > 0;
}

/* The first responder has read a whole request: the probe connected and sent. */
static bool first_responder_has_request(const struct world *w)
{
	return w->n_responders > 0 && w->responders[0].request[0] != '\0';
}

static struct probe_target make_target(int64_t id, enum probe_kind kind, uint16_t port,
				       const char *url)
{
	struct probe_target t = {
	    .id = id,
	    .address = htonl(INADDR_LOOPBACK),
	    .config =
		{
		    .kind = kind,
		    .interval_ms = LONG_INTERVAL_MS,
		    .timeout_ms = TIMEOUT_MS,
		    .port = port,
		    .status_min = 200,
		    .status_max = 399,
		},
	};

	snprintf(t.config.url, sizeof(t.config.url), "%s", url);
	return t;
}

static const struct result *result_of(const struct world *w, int64_t id)
{
	for (size_t i = 0; i < w->n_results; i++)
		if (w->results[i].id == id)
			return &w->results[i];
	fail_msg("no result for target %lld", (long long)id);
	return NULL;
}

/*
 * Probes every target once, at once, and waits for all their results. One
 * prober would spread the targets over their long interval, so each gets a
 * prober of its own on the same loop.
 */
static void probe_once(struct world *w, const struct probe_target *targets, size_t n)
{
	assert_true(n <= MAX_SOLO);
	for (size_t i = 0; i < n; i++) {
		w->solo[i] = prober_new(w->base, on_result, w);
		assert_non_null(w->solo[i]);
		w->n_solo = i + 1;
		assert_int_equal(prober_set_targets(w->solo[i], &targets[i], 1), 0);
	}
	want_results = n;
	assert_true(run_until(w, have_results, DEADLINE_MS));
	assert_int_equal(w->n_results, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(prober_in_flight(w->solo[i]), 0);
		assert_int_equal(prober_started(w->solo[i]), 1);
	}
}

/* The result of target id is want, and took at least min_ms (how much longer is only shown). */
static void expect(const struct world *w, int64_t id, enum check_result want, uint32_t min_ms)
{
	const struct result *r = result_of(w, id);

	printf("    target %lld: %s in %u ms\n", (long long)id, check_result_name(r->result),
	       r->duration_ms);
	assert_string_equal(check_result_name(r->result), check_result_name(want));
	assert_true(r->duration_ms >= min_ms);
}

static void test_kind_names(void **state)
{
	enum probe_kind k;

	(void)state;
	assert_string_equal(probe_kind_name(PROBE_HTTP_PROXY), "http-proxy");
	assert_string_equal(probe_kind_name(PROBE_HTTP), "http");
	assert_string_equal(probe_kind_name(PROBE_TCP), "tcp");
	for (int i = PROBE_HTTP_PROXY; i <= PROBE_TCP; i++) {
		assert_true(probe_kind_parse(probe_kind_name(i), &k));
		assert_int_equal(k, i);
	}
	assert_false(probe_kind_parse("icmp", &k));
	assert_false(probe_kind_parse("", &k));
}

static void test_http_status(void **state)
{
	struct world *w = *state;
	struct responder *ok = responder_start(w, RESPOND_STATUS, 200);
	struct responder *unavailable = responder_start(w, RESPOND_STATUS, 503);
	struct probe_target t[3] = {
	    make_target(1, PROBE_HTTP, ok->port, "/healthz"),
	    make_target(2, PROBE_HTTP, unavailable->port, "/"),
	    make_target(3, PROBE_HTTP, unavailable->port, ""),
	};

	snprintf(t[0].config.host, sizeof(t[0].config.host), "proxy-a.drover.test");
	/* A 5xx accepted on purpose: the range decides, not a fixed 200. */
	t[2].config.status_min = 500;
	t[2].config.status_max = 599;
	probe_once(w, t, 3);
	expect(w, 1, CHECK_L7OK, 0);
	expect(w, 2, CHECK_L7STS, 0);
	expect(w, 3, CHECK_L7OK, 0);
	assert_non_null(strstr(ok->request, "GET /healthz HTTP/1.1\r\n"));
	assert_non_null(strstr(ok->request, "\r\nHost: proxy-a.drover.test"));
	assert_non_null(strstr(unavailable->request, "GET / HTTP/1.1\r\n"));
}

/* A responder on ::1 only, or NULL when this host has no IPv6 loopback. */
static struct responder *responder_start6(struct world *w, int status)
{
	struct responder *r;
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t len = sizeof(sin6);

	assert_true(w->n_responders < MAX_RESPONDERS);
	r = &w->responders[w->n_responders];
	r->base = w->base;
	r->mode = RESPOND_STATUS;
	r->status = status;
	r->listener = evconnlistener_new_bind(w->base, responder_accept, r,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					      (struct sockaddr *)&sin6, sizeof(sin6));
	if (r->listener == NULL)
		return NULL;
	w->n_responders++;
	assert_int_equal(
	    getsockname(evconnlistener_get_fd(r->listener), (struct sockaddr *)&sin6, &len), 0);
	r->port = ntohs(sin6.sin6_port);
	return r;
}

static struct probe_target make_target6(int64_t id, enum probe_kind kind, uint16_t port,
					const char *url)
{
	struct probe_target t = make_target(id, kind, port, url);

	t.family = PROBE_FAMILY_IPV6;
	t.address = 0;
	memcpy(t.address6, &in6addr_loopback, sizeof(t.address6));
	return t;
}

/*
 * IPv6 targets: every kind reaches the IPv6 literal (in brackets in the URL
 * and the explicit-proxy address) and reports its family with its result.
 * A proxy's two families are two targets with one id, each with its own
 * result: here its IPv4 address answers and its IPv6 address refuses.
 */
static void test_ipv6_targets(void **state)
{
	struct world *w = *state;
	struct responder *v6 = responder_start6(w, 200);
	struct responder *v4only = responder_start(w, RESPOND_STATUS, 200);
	struct probe_target t[5];

	if (v6 == NULL) {
		print_message("no IPv6 loopback on this host\n");
		skip();
	}
	t[0] = make_target6(1, PROBE_HTTP, v6->port, "/healthz");
	t[1] = make_target6(2, PROBE_TCP, v6->port, "");
	t[2] = make_target6(3, PROBE_HTTP_PROXY, v6->port, "http://canary.drover.test/");
	t[3] = make_target(4, PROBE_HTTP, v4only->port, "/");
	t[4] = make_target6(4, PROBE_HTTP, v4only->port, "/");
	probe_once(w, t, 5);
	for (size_t i = 0; i < w->n_results; i++) {
		const struct result *r = &w->results[i];
		bool ipv6 = r->family == PROBE_FAMILY_IPV6;

		printf("    target %lld %s: %s\n", (long long)r->id, ipv6 ? "IPv6" : "IPv4",
		       check_result_name(r->result));
		if (r->id == 4 && !ipv6)
			assert_int_equal(r->result, CHECK_L7OK);
		else if (r->id == 4)
			assert_int_equal(r->result, CHECK_L4CON);
		else if (r->id == 2)
			assert_int_equal(r->result, CHECK_L4OK);
		else
			assert_int_equal(r->result, CHECK_L7OK);
		assert_true(ipv6 || r->id == 4);
	}
	/* Whichever request came last: the http probe's named the bracketed literal. */
	assert_int_equal(v6->accepted, 3);
	assert_true(strstr(v6->request, "GET http://canary.drover.test/ HTTP/1.1\r\n") != NULL ||
		    (strstr(v6->request, "GET /healthz HTTP/1.1\r\n") != NULL &&
		     strstr(v6->request, "\r\nHost: [::1]:") != NULL));
}

static void test_silent_listener(void **state)
{
	struct world *w = *state;
	struct responder *silent = responder_start(w, RESPOND_SILENT, 0);
	struct probe_target t[3] = {
	    make_target(1, PROBE_HTTP, silent->port, "/"),
	    make_target(2, PROBE_HTTP_PROXY, silent->port, "http://canary.drover.test/"),
	    make_target(3, PROBE_TCP, silent->port, ""),
	};

	probe_once(w, t, 3);
	expect(w, 1, CHECK_L7TOUT, TIMEOUT_MS - CLOCK_ROUNDING_MS);
	expect(w, 2, CHECK_L7TOUT, TIMEOUT_MS - CLOCK_ROUNDING_MS);
	expect(w, 3, CHECK_L4OK, 0);
	assert_int_equal(silent->accepted, 3);
}

static void test_closed_port(void **state)
{
	struct world *w = *state;
	uint16_t port = closed_port();
	struct probe_target t[3] = {
	    make_target(1, PROBE_TCP, port, ""),
	    make_target(2, PROBE_HTTP, port, "/"),
	    make_target(3, PROBE_HTTP_PROXY, port, "http://canary.drover.test/"),
	};

	probe_once(w, t, 3);
	for (int64_t id = 1; id <= 3; id++)
		expect(w, id, CHECK_L4CON, 0);
}

static void test_connect_timeout(void **state)
{
	struct world *w = *state;
	uint16_t port = full_listener(w);
	struct probe_target t[2] = {
	    make_target(1, PROBE_TCP, port, ""),
	    make_target(2, PROBE_HTTP, port, "/"),
	};

	probe_once(w, t, 2);
	expect(w, 1, CHECK_L4TOUT, TIMEOUT_MS - CLOCK_ROUNDING_MS);
	expect(w, 2, CHECK_L4TOUT, TIMEOUT_MS - CLOCK_ROUNDING_MS);
}

static void test_not_http(void **state)
{
	struct world *w = *state;
	struct responder *garbage = responder_start(w, RESPOND_GARBAGE, 0);
	struct responder *hangup = responder_start(w, RESPOND_HANGUP, 0);
	struct probe_target t[3] = {
	    make_target(1, PROBE_HTTP, garbage->port, "/"),
	    make_target(2, PROBE_HTTP, hangup->port, "/"),
	    make_target(3, PROBE_HTTP_PROXY, hangup->port, "http://canary.drover.test/"),
	};

	probe_once(w, t, 3);
	for (int64_t id = 1; id <= 3; id++)
		expect(w, id, CHECK_L7RSP, 0);
}

static void test_explicit_proxy(void **state)
{
	struct world *w = *state;
	struct responder *proxy = responder_start(w, RESPOND_STATUS, 200);
	struct probe_target t =
	    make_target(7, PROBE_HTTP_PROXY, proxy->port, "http://canary.drover.test/probe?n=1");

	probe_once(w, &t, 1);
	expect(w, 7, CHECK_L7OK, 0);
	/* The absolute URI in the request line shows the canary went through the proxy. */
	assert_non_null(
	    strstr(proxy->request, "GET http://canary.drover.test/probe?n=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(proxy->request, "\r\nHost: canary.drover.test"));
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Every spread target has had SPREAD_ROUNDS results. */
static bool spread_rounds_done(const struct world *w)
{
	size_t rounds[SPREAD_TARGETS] = {0};

	for (size_t k = 0; k < w->n_results; k++) {
		size_t i = (size_t)(w->results[k].id - 100);

		if (i < SPREAD_TARGETS)
			rounds[i]++;
	}
	for (int i = 0; i < SPREAD_TARGETS; i++)
		if (rounds[i] < SPREAD_ROUNDS)
			return false;
	return true;
}

/*
 * Target i of n has its place at i * interval / n in the interval, and is
 * probed at most once per interval from there: its k-th probe never starts
 * before t0 + i * interval / n + k * interval. A stalled loop may start a
 * probe late or skip a round (it never bunches them), so only the lower
 * bound is asserted; the gaps are shown.
 */
static void test_spread_over_interval(void **state)
{
	struct world *w = *state;
	struct responder *ok = responder_start(w, RESPOND_STATUS, 200);
	struct probe_target t[SPREAD_TARGETS];
	uint64_t first[SPREAD_TARGETS] = {0};
	size_t rounds[SPREAD_TARGETS] = {0};
	const uint64_t spacing = SPREAD_INTERVAL / SPREAD_TARGETS;
	uint64_t t0, max_gap = 0;

	for (int i = 0; i < SPREAD_TARGETS; i++) {
		t[i] = make_target(100 + i, PROBE_HTTP, ok->port, "/");
		t[i].config.interval_ms = SPREAD_INTERVAL;
		/* The responder answers at once: a busy machine must not turn a slow
		 * answer into a timeout, which this test does not look at. */
		t[i].config.timeout_ms = LONG_TIMEOUT_MS;
	}
	t0 = now_ms();
	assert_int_equal(prober_set_targets(w->prober, t, SPREAD_TARGETS), 0);
	assert_true(run_until(w, spread_rounds_done, DEADLINE_MS));

	for (size_t k = 0; k < w->n_results; k++) {
		const struct result *r = &w->results[k];
		size_t i = (size_t)(r->id - 100);
		uint64_t start = r->at_ms - r->duration_ms - t0;

		assert_string_equal(check_result_name(r->result), "L7OK");
		assert_true(i < SPREAD_TARGETS);
		assert_true(start + CLOCK_ROUNDING_MS >= i * spacing + rounds[i] * SPREAD_INTERVAL);
		if (rounds[i] == 0)
			first[i] = start;
		rounds[i]++;
	}
	qsort(first, SPREAD_TARGETS, sizeof(first[0]), compare_u64);
	printf("    first probes at");
	for (int i = 0; i < SPREAD_TARGETS; i++)
		printf(" %llu", (unsigned long long)first[i]);
	printf(" ms\n");
	for (int i = 1; i < SPREAD_TARGETS; i++)
		if (first[i] - first[i - 1] > max_gap)
			max_gap = first[i] - first[i - 1];
	printf("    largest gap between first probes: %llu ms (even spacing %llu ms)\n",
	       (unsigned long long)max_gap, (unsigned long long)spacing);
}

/* A probe longer than the interval is not doubled: the next fires are skipped. */
static void test_one_in_flight_per_target(void **state)
{
	struct world *w = *state;
	struct responder *silent = responder_start(w, RESPOND_SILENT, 0);
	struct probe_target t = make_target(1, PROBE_HTTP, silent->port, "/");

	t.config.interval_ms = 100;
	assert_int_equal(prober_set_targets(w->prober, &t, 1), 0);
	want_results = 3;
	assert_true(run_until(w, have_results, DEADLINE_MS));
	assert_int_equal(w->max_in_flight, 1);
	/* Fires came while a probe ran, and were skipped (how many depends on the loop's pace). */
	assert_true(prober_skipped(w->prober) >= 1);
	assert_true(prober_started(w->prober) <= w->n_results + 1);
	for (size_t i = 0; i < w->n_results; i++) {
		assert_string_equal(check_result_name(w->results[i].result), "L7TOUT");
		/* Each probe ran to its own timeout: none was cut short by the next fire. */
		assert_true(w->results[i].duration_ms >= TIMEOUT_MS - CLOCK_ROUNDING_MS);
	}
}

static void test_remove_cancels(void **state)
{
	struct world *w = *state;
	struct responder *silent = responder_start(w, RESPOND_SILENT, 0);
	struct probe_target t = make_target(1, PROBE_HTTP, silent->port, "/");

	t.config.timeout_ms = LONG_TIMEOUT_MS;
	assert_int_equal(prober_set_targets(w->prober, &t, 1), 0);
	assert_true(run_until(w, probe_in_flight, DEADLINE_MS));
	/* Let it connect and send, so the cancel tears down a live transfer. */
	assert_true(run_until(w, first_responder_has_request, DEADLINE_MS));
	assert_int_equal(silent->accepted, 1);
	assert_int_equal(prober_in_flight(w->prober), 1);

	assert_int_equal(prober_set_targets(w->prober, NULL, 0), 0);
	assert_int_equal(prober_in_flight(w->prober), 0);
	run_for(w, 300);
	assert_int_equal(w->n_results, 0);
}

/* Teardown frees the prober with this probe still running: ASan checks nothing leaks. */
static void test_free_with_probe_in_flight(void **state)
{
	struct world *w = *state;
	struct responder *silent = responder_start(w, RESPOND_SILENT, 0);
	struct probe_target t = make_target(1, PROBE_HTTP_PROXY, silent->port, "http://c.test/");

	t.config.timeout_ms = LONG_TIMEOUT_MS;
	assert_int_equal(prober_set_targets(w->prober, &t, 1), 0);
	assert_true(run_until(w, probe_in_flight, DEADLINE_MS));
	assert_true(run_until(w, first_responder_has_request, DEADLINE_MS));
	assert_int_equal(prober_in_flight(w->prober), 1);
}

/* Re-setting the same target keeps its probe in flight; a changed one starts over. */
static void test_unchanged_target_kept(void **state)
{
	struct world *w = *state;
	struct responder *silent = responder_start(w, RESPOND_SILENT, 0);
	struct responder *ok = responder_start(w, RESPOND_STATUS, 200);
	struct probe_target t[2] = {
	    make_target(2, PROBE_HTTP, ok->port, "/"),
	    make_target(1, PROBE_HTTP, silent->port, "/"),
	};
	struct probe_target changed;

	assert_int_equal(prober_set_targets(w->prober, &t[1], 1), 0);
	assert_true(run_until(w, probe_in_flight, DEADLINE_MS));
	assert_true(run_until(w, first_responder_has_request, DEADLINE_MS));

	/* Target 2 is new and first in the list, so it is probed at once. */
	assert_int_equal(prober_set_targets(w->prober, t, 2), 0);
	want_results = 2;
	assert_true(run_until(w, have_results, DEADLINE_MS));
	expect(w, 2, CHECK_L7OK, 0);
	/* Target 1's probe ran its whole timeout from the first start: it was not restarted. */
	expect(w, 1, CHECK_L7TOUT, TIMEOUT_MS - CLOCK_ROUNDING_MS);
	assert_int_equal(prober_started(w->prober), 2);

	/* A new port is a new probe: the old schedule goes, the new one starts within an interval.
	 */
	changed = t[0];
	changed.config.port = closed_port();
	changed.config.interval_ms = 200;
	assert_int_equal(prober_set_targets(w->prober, &changed, 1), 0);
	want_results = 3;
	assert_true(run_until(w, have_results, DEADLINE_MS));
	assert_int_equal(w->results[2].id, 2);
	assert_string_equal(check_result_name(w->results[2].result), "L4CON");
}

/* Every target 1..CAP_TARGETS has at least one result. */
static bool every_capped_target_reported(const struct world *w)
{
	for (int64_t id = 1; id <= CAP_TARGETS; id++) {
		bool seen = false;

		for (size_t i = 0; i < w->n_results && !seen; i++)
			seen = w->results[i].id == id;
		if (!seen)
			return false;
	}
	return true;
}

/*
 * More targets than room in flight, each probe running its whole timeout
 * against a silent responder: never more than the cap at once, and every
 * target is probed in its turn (the waiting ones are not starved, and
 * waiting is no failure: every result is the responder's L7TOUT).
 */
static void test_max_in_flight(void **state)
{
	struct world *w = *state;
	struct responder *silent = responder_start(w, RESPOND_SILENT, 0);
	struct probe_target t[CAP_TARGETS];

	for (int i = 0; i < CAP_TARGETS; i++) {
		t[i] = make_target(i + 1, PROBE_HTTP, silent->port, "/");
		t[i].config.interval_ms = CAP_INTERVAL_MS;
	}
	prober_set_max_in_flight(w->prober, CAP_IN_FLIGHT);
	assert_int_equal(prober_set_targets(w->prober, t, CAP_TARGETS), 0);
	assert_true(run_until(w, every_capped_target_reported, DEADLINE_MS));
	printf("    %zu results, at most %zu in flight, %llu probes waited for room, %zu "
	       "waiting now\n",
	       w->n_results, w->max_in_flight, (unsigned long long)prober_deferred(w->prober),
	       prober_waiting(w->prober));
	assert_true(w->max_in_flight <= CAP_IN_FLIGHT);
	assert_true(prober_in_flight(w->prober) <= CAP_IN_FLIGHT);
	assert_true(prober_deferred(w->prober) >= CAP_TARGETS - CAP_IN_FLIGHT);
	for (size_t i = 0; i < w->n_results; i++)
		assert_string_equal(check_result_name(w->results[i].result), "L7TOUT");
	/* Freed with probes waiting and in flight: ASan checks the line is emptied. */
}

/*
 * This process out of descriptors: the probes cannot make their sockets,
 * which says nothing of the proxies. LOCAL, for a tcp and an http-proxy
 * probe alike; with descriptors back, the same targets pass.
 */
static void test_no_descriptor_is_local(void **state)
{
	struct world *w = *state;
	struct responder *ok = responder_start(w, RESPOND_STATUS, 200);
	struct probe_target t[2] = {
	    make_target(1, PROBE_TCP, ok->port, ""),
	    make_target(2, PROBE_HTTP_PROXY, ok->port, "http://canary.test/"),
	};
	struct rlimit saved, none;
	int lowest_free;

	for (size_t i = 0; i < 2; i++) {
		w->solo[i] = prober_new(w->base, on_result, w);
		assert_non_null(w->solo[i]);
		w->n_solo = i + 1;
		assert_int_equal(prober_set_targets(w->solo[i], &t[i], 1), 0);
	}
	/* Every descriptor below the limit in use: the next socket() fails with EMFILE. */
	lowest_free = dup(0);
	assert_true(lowest_free >= 0);
	close(lowest_free);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	none = saved;
	none.rlim_cur = (rlim_t)lowest_free;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
	want_results = 2;
	assert_true(run_until(w, have_results, DEADLINE_MS));
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	expect(w, 1, CHECK_LOCAL, 0);
	expect(w, 2, CHECK_LOCAL, 0);
	assert_int_equal(ok->accepted, 0);

	/* Descriptors back: the next probes of the same targets reach the responder. */
	w->n_results = 0;
	for (size_t i = 0; i < 2; i++) {
		prober_free(w->solo[i]);
		w->solo[i] = prober_new(w->base, on_result, w);
		assert_non_null(w->solo[i]);
		assert_int_equal(prober_set_targets(w->solo[i], &t[i], 1), 0);
	}
	assert_true(run_until(w, have_results, DEADLINE_MS));
	expect(w, 1, CHECK_L4OK, 0);
	expect(w, 2, CHECK_L7OK, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kind_names),
	    cmocka_unit_test_setup_teardown(test_http_status, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_targets, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_silent_listener, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_closed_port, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_connect_timeout, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_not_http, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_explicit_proxy, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_spread_over_interval, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_one_in_flight_per_target, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_remove_cancels, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_free_with_probe_in_flight, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_unchanged_target_kept, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_max_in_flight, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_no_descriptor_is_local, world_setup,
					    world_teardown),
	};
	int failed;

	if (probe_global_init() < 0)
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	probe_global_cleanup();
	return failed;
}
