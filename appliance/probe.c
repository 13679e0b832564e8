/*
 * probe.c - health probes of the proxies: libcurl's multi interface driven
 * by the caller's libevent loop.
 *
 * Each target owns a libevent timer that fires once per interval; its first
 * fire is offset by the target's position in the list so a round's probes
 * are spread over the interval instead of leaving at once. A fire starts one
 * curl easy transfer unless the previous one is still running: a probe that
 * overruns is left to its own timeout rather than stacked. At most
 * max_in_flight transfers run at once (each holds a socket); a fire beyond
 * that waits in line and starts when a running probe ends.
 *
 * transfer_loop.c runs the multi handle on the loop: it watches the sockets
 * curl asks for and keeps curl's timer, and after each hand-back to curl
 * calls prober_collect, which reads the finished transfers with
 * curl_multi_info_read.
 */
#include "clock.h"
#include "probe.h"
#include "transfer_loop.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

/*
 * Guards against configurations that would spin the loop (interval 0) or
 * disable curl's timeout (0 means "none" to curl); the settings layer
 * validates the real bounds.
 */
#define PROBE_INTERVAL_MIN_MS 10
#define PROBE_TIMEOUT_MIN_MS  1
#ifndef DROVER_VERSION
#define DROVER_VERSION "0.0.0"
#endif
#define PROBE_USER_AGENT "drover-probe/" DROVER_VERSION

struct prober {
	struct event_base *base;
	CURLM *multi;
	struct transfer_loop *loop; /* runs multi on base */
	probe_result_fn fn;
	void *arg;
	struct prober_target **targets;
	size_t n_targets;
	size_t in_flight;
	size_t max_in_flight;		     /* 0: no cap */
	TAILQ_HEAD(, prober_target) waiting; /* due, but no room in flight yet; oldest first */
	uint64_t started;
	uint64_t skipped;
	uint64_t deferred;
};

/* Runtime state of one target: its schedule and the transfer in flight, if any. */
struct prober_target {
	struct prober *prober;
	struct probe_target target;
	struct event *tick;
	uint64_t next_due_ms; /* CLOCK_MONOTONIC */
	CURL *easy;	      /* non-NULL while a probe is in flight */
	struct curl_slist *headers;
	uint64_t started_ms;
	int local_errno; /* why the probe's socket could not be made, when that was our shortage */
	bool waiting;	 /* in the prober's waiting line */
	TAILQ_ENTRY(prober_target) wait_entry;
	bool keep; /* scratch for prober_set_targets */
};

int probe_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void probe_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Bodies only cost memory; the status line and a complete transfer are the evidence. */
static size_t probe_discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/*
 * The errors that mean this host ran short (descriptors, socket buffers,
 * memory), whatever the state of the proxy being probed.
 */
static bool probe_errno_local(long err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: makes the probe's socket as curl would, and
 * remembers a local reason for failing, which curl would report as a
 * failed connect (L4CON) like a proxy that refuses.
 */
static curl_socket_t probe_open_socket(void *arg, curlsocktype purpose,
				       struct curl_sockaddr *address)
{
	struct prober_target *t = arg;
	curl_socket_t fd;

	(void)purpose;
	fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
	if (fd == CURL_SOCKET_BAD && probe_errno_local(errno))
		t->local_errno = errno;
	return fd;
}

static enum check_result probe_status_result(const struct probe_config *c, long status)
{
	if (status <= 0)
		return CHECK_L7RSP;
	if (status >= c->status_min && status <= c->status_max)
		return CHECK_L7OK;
	return CHECK_L7STS;
}

/*
 * Names a finished transfer the way operators read HAProxy's checks. Whether
 * the TCP connection had been made (to the proxy, for http-proxy probes)
 * decides between the L4 and L7 names:
 * - a timeout before connecting is L4TOUT, after it L7TOUT;
 * - a peer that accepted and then sent no answer, garbage, or a reset
 *   (GOT_NOTHING, WEIRD_SERVER_REPLY, UNSUPPORTED_PROTOCOL for a reply with
 *   no status line, RECV_ERROR, SEND_ERROR, TLS errors towards an https
 *   canary) is L7RSP: the proxy is there but not serving;
 * - an https canary whose CONNECT the proxy refused is L7STS on the
 *   CONNECT status;
 * - errors in setting up the transfer (bad URL) are SOCKERR, as nothing
 *   was sent; any other failure before connecting is L4CON;
 * - but a failure before connecting that was this host's own shortage (no
 *   descriptor, no buffer, no memory) is LOCAL: it says nothing of the
 *   proxy, and must not take it down.
 */
static enum check_result probe_classify(const struct prober_target *t, CURLcode code)
{
	const struct probe_config *c = &t->target.config;
	curl_off_t connect_us = 0;
	long status = 0, connect_status = 0, os_errno = 0;
	bool connected;

	curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(t->easy, CURLINFO_HTTP_CONNECTCODE, &connect_status);
	curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno);
	connected = connect_us > 0;
	if (code != CURLE_OK && !connected &&
	    (t->local_errno != 0 || probe_errno_local(os_errno) || code == CURLE_OUT_OF_MEMORY))
		return CHECK_LOCAL;

	switch (code) {
	case CURLE_OK:
		if (c->kind == PROBE_TCP)
			return CHECK_L4OK;
		return probe_status_result(c, status);
	case CURLE_OPERATION_TIMEDOUT:
		return connected ? CHECK_L7TOUT : CHECK_L4TOUT;
	case CURLE_COULDNT_CONNECT:
		return CHECK_L4CON;
	default:
		break;
	}
	if (connect_status != 0 && (connect_status < 200 || connect_status > 299))
		return CHECK_L7STS;
	/* Includes UNSUPPORTED_PROTOCOL: curl's name for an answer without an HTTP status line. */
	if (connected)
		return CHECK_L7RSP;
	switch (code) {
	case CURLE_FAILED_INIT:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
		return CHECK_SOCKERR;
	default:
		return CHECK_L4CON;
	}
}

static void prober_start_waiting(struct prober *p);

/* Drops the transfer in flight, if any, without reporting it. */
static void prober_target_stop(struct prober_target *t)
{
	if (t->easy == NULL)
		return;
	curl_multi_remove_handle(t->prober->multi, t->easy);
	curl_easy_cleanup(t->easy);
	t->easy = NULL;
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	t->prober->in_flight--;
}

/* Reports every finished transfer. The callback may replace the target list. */
static void prober_collect(void *arg)
{
	struct prober *p = arg;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
		struct prober_target *t = NULL;
		enum check_result result;
		uint64_t elapsed;
		int64_t id;
		enum probe_family family;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t == NULL || t->easy != msg->easy_handle)
			continue;
		result = probe_classify(t, msg->data.result);
		elapsed = clock_now_ms() - t->started_ms;
		id = t->target.id;
		family = t->target.family;
		prober_target_stop(t);
		/*
		 * Last, since the callback may call prober_set_targets and free
		 * t; curl drops the queued messages of removed handles, so the
		 * loop never sees a freed target.
		 */
		p->fn(p->arg, id, family, result,
		      elapsed > UINT32_MAX ? UINT32_MAX : (uint32_t)elapsed);
	}
	prober_start_waiting(p);
}

static int probe_easy_setup(struct prober_target *t)
{
	const struct probe_config *c = &t->target.config;
	/* An IPv6 literal goes in brackets wherever a URL holds it (RFC 3986). */
	char addr[INET6_ADDRSTRLEN + sizeof("[]")];
	char url[PROBE_URL_MAX + sizeof("http://[]:65535/") + INET6_ADDRSTRLEN];
	char proxy[sizeof("http://[]:65535") + INET6_ADDRSTRLEN];
	long timeout_ms =
	    c->timeout_ms < PROBE_TIMEOUT_MIN_MS ? PROBE_TIMEOUT_MIN_MS : c->timeout_ms;
	CURL *e = t->easy;
	CURLcode rc = CURLE_OK;

	if (t->target.family == PROBE_FAMILY_IPV6) {
		char text6[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, t->target.address6, text6, sizeof(text6));
		snprintf(addr, sizeof(addr), "[%s]", text6);
	} else {
		inet_ntop(AF_INET, &t->target.address, addr, sizeof(addr));
	}
	switch (c->kind) {
	case PROBE_TCP:
		snprintf(url, sizeof(url), "http://%s:%u/", addr, c->port);
		rc |= curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
		break;
	case PROBE_HTTP:
		snprintf(url, sizeof(url), "http://%s:%u%s%s", addr, c->port,
			 c->url[0] == '/' ? "" : "/", c->url);
		break;
	case PROBE_HTTP_PROXY:
		snprintf(url, sizeof(url), "%s", c->url);
		snprintf(proxy, sizeof(proxy), "http://%s:%u", addr, c->port);
		rc |= curl_easy_setopt(e, CURLOPT_PROXY, proxy);
		break;
	default:
		return -EINVAL;
	}
	rc |= curl_easy_setopt(e, CURLOPT_URL, url);
	/*
	 * The environment decides nothing: direct probes never go through a
	 * proxy ("*"), and http-proxy probes always use the one being probed
	 * ("" overrides any no_proxy that would bypass it).
	 */
	rc |= curl_easy_setopt(e, CURLOPT_NOPROXY, c->kind == PROBE_HTTP_PROXY ? "" : "*");
	/* A canary URL from the settings must not make us read files or speak other protocols. */
#if LIBCURL_VERSION_NUM >= 0x075500
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	/* Each probe must prove the proxy accepts connections now, not that one stayed open. */
	rc |= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, PROBE_USER_AGENT);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, probe_discard);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
	rc |= curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, probe_open_socket);
	rc |= curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
	if (c->host[0] != '\0' && c->kind != PROBE_TCP) {
		char header[sizeof("Host: ") + PROBE_HOST_MAX];

		snprintf(header, sizeof(header), "Host: %s", c->host);
		t->headers = curl_slist_append(NULL, header);
		if (t->headers == NULL)
			return -ENOMEM;
		rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	}
	return rc == CURLE_OK ? 0 : -EINVAL;
}

/* Starts one probe of t. Returns 0 or -errno (the probe did not start). */
static int prober_target_start(struct prober_target *t)
{
	struct prober *p = t->prober;
	int err;

	t->local_errno = 0;
	t->easy = curl_easy_init();
	if (t->easy == NULL)
		return -ENOMEM;
	err = probe_easy_setup(t);
	if (err == 0 && curl_multi_add_handle(p->multi, t->easy) != CURLM_OK)
		err = -ENOMEM;
	if (err < 0) {
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
		curl_slist_free_all(t->headers);
		t->headers = NULL;
		return err;
	}
	t->started_ms = clock_now_ms();
	p->in_flight++;
	p->started++;
	return 0;
}

/*
 * Starts a probe of t, or reports why it could not start: LOCAL when we
 * lacked memory, else SOCKERR (a configuration curl refused), which counts
 * against the proxy as HAProxy's does. The report may free t.
 */
static void prober_target_launch(struct prober_target *t)
{
	struct prober *p = t->prober;
	int err = prober_target_start(t);

	if (err < 0)
		p->fn(p->arg, t->target.id, t->target.family,
		      err == -ENOMEM ? CHECK_LOCAL : CHECK_SOCKERR, 0);
}

/* Takes t out of the waiting line, if it is in it. */
static void prober_target_unwait(struct prober_target *t)
{
	if (!t->waiting)
		return;
	TAILQ_REMOVE(&t->prober->waiting, t, wait_entry);
	t->waiting = false;
}

/*
 * Starts waiting probes, oldest first, while there is room in flight. Each
 * start may report (and the report may replace the targets), so the line is
 * read afresh every time.
 */
static void prober_start_waiting(struct prober *p)
{
	struct prober_target *t;

	while ((t = TAILQ_FIRST(&p->waiting)) != NULL &&
	       (p->max_in_flight == 0 || p->in_flight < p->max_in_flight)) {
		prober_target_unwait(t);
		prober_target_launch(t);
	}
}

static void prober_target_schedule(struct prober_target *t, uint64_t now_ms)
{
	uint64_t wait_ms = t->next_due_ms > now_ms ? t->next_due_ms - now_ms : 0;
	struct timeval tv = {
	    .tv_sec = (time_t)(wait_ms / 1000),
	    .tv_usec = (suseconds_t)(wait_ms % 1000) * 1000,
	};

	evtimer_add(t->tick, &tv);
}

static uint32_t probe_interval(const struct probe_config *c)
{
	return c->interval_ms < PROBE_INTERVAL_MIN_MS ? PROBE_INTERVAL_MIN_MS : c->interval_ms;
}

/*
 * The target's timer: start a probe unless one is still in flight, then
 * re-arm. The next due time advances by whole intervals from the first one,
 * so the phase chosen at creation holds and a stalled loop skips rounds
 * rather than bunching them.
 */
static void prober_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct prober_target *t = arg;
	struct prober *p = t->prober;
	uint32_t interval = probe_interval(&t->target.config);
	uint64_t now_ms = clock_now_ms();

	(void)fd;
	(void)what;
	do
		t->next_due_ms += interval;
	while (t->next_due_ms <= now_ms);
	prober_target_schedule(t, now_ms);

	if (t->easy != NULL || t->waiting) {
		p->skipped++;
		return;
	}
	if (p->max_in_flight != 0 && p->in_flight >= p->max_in_flight) {
		t->waiting = true;
		TAILQ_INSERT_TAIL(&p->waiting, t, wait_entry);
		p->deferred++;
		return;
	}
	prober_target_launch(t);
}

static struct prober_target *prober_target_new(struct prober *p, const struct probe_target *src,
					       uint64_t first_due_ms)
{
	struct prober_target *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->prober = p;
	t->target = *src;
	/* The strings come from outside: make sure curl sees them terminated. */
	t->target.config.url[PROBE_URL_MAX - 1] = '\0';
	t->target.config.host[PROBE_HOST_MAX - 1] = '\0';
	t->next_due_ms = first_due_ms;
	t->tick = evtimer_new(p->base, prober_tick_cb, t);
	if (t->tick == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

static void prober_target_free(struct prober_target *t)
{
	prober_target_unwait(t);
	prober_target_stop(t);
	event_free(t->tick);
	free(t);
}

static bool probe_target_same(const struct probe_target *a, const struct probe_target *b)
{
	const struct probe_config *x = &a->config, *y = &b->config;

	return a->id == b->id && a->family == b->family && a->address == b->address &&
	       memcmp(a->address6, b->address6, sizeof(a->address6)) == 0 && x->kind == y->kind &&
	       x->interval_ms == y->interval_ms && x->timeout_ms == y->timeout_ms &&
	       x->port == y->port && x->status_min == y->status_min &&
	       x->status_max == y->status_max && strncmp(x->url, y->url, PROBE_URL_MAX) == 0 &&
	       strncmp(x->host, y->host, PROBE_HOST_MAX) == 0;
}

struct prober *prober_new(struct event_base *base, probe_result_fn fn, void *arg)
{
	struct prober *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->base = base;
	p->fn = fn;
	p->arg = arg;
	p->max_in_flight = PROBE_MAX_IN_FLIGHT_DEFAULT;
	TAILQ_INIT(&p->waiting);
	p->multi = curl_multi_init();
	if (p->multi == NULL)
		goto fail;
	p->loop = transfer_loop_new(base, p->multi, prober_collect, p);
	if (p->loop == NULL)
		goto fail;
	return p;
fail:
	if (p->multi != NULL)
		curl_multi_cleanup(p->multi);
	free(p);
	return NULL;
}

/*
 * Builds the whole new list before touching the old one, so -ENOMEM leaves
 * the prober as it was. A new target i of n has its first probe at
 * i * interval / n from now: the round is spread evenly over the interval.
 */
int prober_set_targets(struct prober *p, const struct probe_target *targets, size_t n)
{
	struct prober_target **next = NULL;
	uint64_t now_ms = clock_now_ms();
	size_t i, j;

	if (n > 0) {
		next = calloc(n, sizeof(*next));
		if (next == NULL)
			return -ENOMEM;
	}
	for (j = 0; j < p->n_targets; j++)
		p->targets[j]->keep = false;
	for (i = 0; i < n; i++) {
		for (j = 0; j < p->n_targets; j++) {
			struct prober_target *old = p->targets[j];

			if (!old->keep && probe_target_same(&old->target, &targets[i])) {
				old->keep = true;
				next[i] = old;
				break;
			}
		}
		if (next[i] == NULL) {
			uint64_t offset = i * probe_interval(&targets[i].config) / n;

			next[i] = prober_target_new(p, &targets[i], now_ms + offset);
			if (next[i] == NULL)
				goto fail;
		}
	}

	for (j = 0; j < p->n_targets; j++)
		if (!p->targets[j]->keep)
			prober_target_free(p->targets[j]);
	free(p->targets);
	p->targets = next;
	p->n_targets = n;
	for (i = 0; i < n; i++)
		if (!evtimer_pending(next[i]->tick, NULL))
			prober_target_schedule(next[i], now_ms);
	return 0;
fail:
	for (i = 0; i < n && next[i] != NULL; i++)
		if (!next[i]->keep)
			prober_target_free(next[i]);
	free(next);
	return -ENOMEM;
}

size_t prober_in_flight(const struct prober *p)
{
	return p->in_flight;
}

uint64_t prober_started(const struct prober *p)
{
	return p->started;
}

uint64_t prober_skipped(const struct prober *p)
{
	return p->skipped;
}

uint64_t prober_deferred(const struct prober *p)
{
	return p->deferred;
}

size_t prober_waiting(const struct prober *p)
{
	const struct prober_target *t;
	size_t n = 0;

	TAILQ_FOREACH(t, &p->waiting, wait_entry)
	{
		n++;
	}
	return n;
}

void prober_set_max_in_flight(struct prober *p, size_t max)
{
	p->max_in_flight = max;
	/* More room: the line need not wait for the next probe to end. */
	prober_start_waiting(p);
}

void prober_free(struct prober *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_targets; i++)
		prober_target_free(p->targets[i]);
	free(p->targets);
	/* After every handle is removed, so no socket event outlives the multi handle. */
	curl_multi_cleanup(p->multi);
	transfer_loop_free(p->loop);
	free(p);
}
