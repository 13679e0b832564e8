/*
 * squid_stats.c - reads of the proxies' Squid cache managers on the control
 * loop (see squid_stats.h).
 *
 * Each target owns a libevent timer that fires once per interval, its first
 * fire offset by its place in the list so that a round's reads are spread
 * over the interval; a fire starts one curl transfer unless the previous
 * read is still running. transfer_loop.c runs the multi handle on the loop
 * and calls squid_stats_collect after each hand-back to curl.
 */
#include "squid_stats.h"

#include "clock.h"
#include "transfer_loop.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DROVER_VERSION
#define DROVER_VERSION "0.0.0"
#endif
#define SQUID_STATS_USER_AGENT "drover-squid-stats/" DROVER_VERSION
/* Guards against a zero interval spinning the loop; the setting's own bounds are wider. */
#define SQUID_STATS_INTERVAL_MIN_MS 100
#define SQUID_STATS_HTTP_OK	    200
#define SQUID_STATS_HTTP_FORBIDDEN  403
#define SQUID_STATS_US_PER_MS	    1000

static const char *const squid_stats_state_names[] = {
    [SQUID_STATS_PENDING] = "pending",	       [SQUID_STATS_OK] = "ok",
    [SQUID_STATS_REFUSED] = "refused",	       [SQUID_STATS_TIMEOUT] = "timeout",
    [SQUID_STATS_HTTP_STATUS] = "http-status", [SQUID_STATS_UNPARSABLE] = "unparsable",
    [SQUID_STATS_TRANSFER] = "transfer",       [SQUID_STATS_LOCAL] = "local",
    [SQUID_STATS_DISABLED] = "disabled",
};

_Static_assert(sizeof(squid_stats_state_names) / sizeof(squid_stats_state_names[0]) ==
		   SQUID_STATS_STATE_COUNT,
	       "one name per state");

struct squid_stats_reader;

struct squid_stats {
	struct event_base *base;
	CURLM *multi;
	struct transfer_loop *loop; /* runs multi on base */
	struct squid_stats_reader **readers;
	size_t n;
	uint32_t interval_ms;
};

/* One proxy's reads: its schedule, the read in flight, and what it learnt. */
struct squid_stats_reader {
	struct squid_stats *owner;
	struct squid_stats_target target;
	struct event *tick;
	uint64_t next_due_ms; /* CLOCK_MONOTONIC */
	CURL *easy;	      /* non-NULL while a read is in flight */
	char *body;	      /* SQUID_STATS_BODY_MAX + 1 bytes while in flight */
	size_t body_len;
	bool too_big;
	struct squid_series series;
	struct squid_stats_view view;
	uint64_t since_ms; /* when its last good read was made, or when reading began */
	bool keep;	   /* scratch for squid_stats_set_targets */
};

/* A read's whole time: SQUID_STATS_TIMEOUT_MS, or the interval when that is shorter. */
static long squid_stats_timeout_ms(const struct squid_stats *s)
{
	return s->interval_ms < SQUID_STATS_TIMEOUT_MS ? (long)s->interval_ms
						       : SQUID_STATS_TIMEOUT_MS;
}

const char *squid_stats_state_name(enum squid_stats_state state)
{
	if ((unsigned)state >= SQUID_STATS_STATE_COUNT)
		return "unknown";
	return squid_stats_state_names[state];
}

static size_t squid_stats_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct squid_stats_reader *r = arg;
	size_t n = size * nmemb;

	if (r->body_len + n > SQUID_STATS_BODY_MAX) {
		r->too_big = true;
		return 0; /* curl ends the transfer with a write error */
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	return n;
}

/* Drops the read in flight, if any, without a verdict. */
static void squid_stats_reader_stop(struct squid_stats_reader *r)
{
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->owner->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	r->too_big = false;
}

/* A read that gave no figures: the state and the words for it; the figures stay. */
static void squid_stats_failed(struct squid_stats_reader *r, enum squid_stats_state state,
			       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void squid_stats_failed(struct squid_stats_reader *r, enum squid_stats_state state,
			       const char *fmt, ...)
{
	va_list ap;

	r->view.state = state;
	r->view.failures++;
	va_start(ap, fmt);
	vsnprintf(r->view.error, sizeof(r->view.error), fmt, ap);
	va_end(ap);
}

/* Turns a finished transfer into figures or an error. */
static void squid_stats_finish(struct squid_stats_reader *r, CURLcode code)
{
	char why[SQUID_INFO_WHY_MAX];
	struct squid_info info;
	long status = 0, os_errno = 0;
	curl_off_t connect_us = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
	r->view.reads++;
	if (code == CURLE_OPERATION_TIMEDOUT) {
		squid_stats_failed(r, SQUID_STATS_TIMEOUT, "no answer within %ld ms (%s)",
				   squid_stats_timeout_ms(r->owner),
				   connect_us > 0 ? "connected" : "connecting");
	} else if (code == CURLE_OUT_OF_MEMORY || os_errno == EMFILE || os_errno == ENFILE ||
		   os_errno == ENOMEM || os_errno == ENOBUFS) {
		squid_stats_failed(r, SQUID_STATS_LOCAL, "this appliance ran short: %s",
				   os_errno ? strerror((int)os_errno) : curl_easy_strerror(code));
	} else if (code == CURLE_COULDNT_CONNECT) {
		squid_stats_failed(r, SQUID_STATS_REFUSED, "cannot connect: %s",
				   os_errno ? strerror((int)os_errno) : curl_easy_strerror(code));
	} else if (code == CURLE_WRITE_ERROR && r->too_big) {
		squid_stats_failed(r, SQUID_STATS_UNPARSABLE,
				   "answer larger than %d bytes: not Squid's info page",
				   SQUID_STATS_BODY_MAX);
	} else if (code != CURLE_OK) {
		squid_stats_failed(r, SQUID_STATS_TRANSFER, "%s", curl_easy_strerror(code));
	} else if (status == SQUID_STATS_HTTP_FORBIDDEN) {
		squid_stats_failed(r, SQUID_STATS_HTTP_STATUS,
				   "HTTP 403: Squid's manager ACL refuses this appliance (see "
				   "drover-proxy-setup.sh --squid-manager)");
	} else if (status != SQUID_STATS_HTTP_OK) {
		squid_stats_failed(r, SQUID_STATS_HTTP_STATUS, "HTTP %ld from the cache manager",
				   status);
	} else if (!squid_info_parse(r->body, r->body_len, &info, why, sizeof(why))) {
		squid_stats_failed(r, SQUID_STATS_UNPARSABLE, "unparsable answer: %s", why);
	} else {
		uint64_t now_ms = clock_now_ms();

		/* Counts this read itself too. */
		squid_series_update(&r->series, &info, now_ms, &r->view.figures);
		r->view.have_figures = true;
		r->view.state = SQUID_STATS_OK;
		r->view.error[0] = '\0';
		r->since_ms = now_ms;
		return;
	}
	/* No figures, but an answer: Squid counted the request, whatever it said. */
	if (status > 0)
		squid_series_answered(&r->series);
}

/* Reads every finished transfer. */
static void squid_stats_collect(void *arg)
{
	struct squid_stats *s = arg;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
		struct squid_stats_reader *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r == NULL || r->easy != msg->easy_handle)
			continue;
		squid_stats_finish(r, msg->data.result);
		squid_stats_reader_stop(r);
	}
}

/* Starts one read of r. Returns 0 or -errno (the read did not start). */
static int squid_stats_reader_start(struct squid_stats_reader *r)
{
	char addr[INET_ADDRSTRLEN],
	    url[sizeof("http://:65535") + INET_ADDRSTRLEN + sizeof(SQUID_STATS_PATH)];
	long timeout_ms = squid_stats_timeout_ms(r->owner);
	CURLcode rc = CURLE_OK;

	r->body = malloc(SQUID_STATS_BODY_MAX + 1);
	r->easy = curl_easy_init();
	if (r->body == NULL || r->easy == NULL) {
		curl_easy_cleanup(r->easy); /* never added to the multi handle */
		r->easy = NULL;
		squid_stats_reader_stop(r);
		return -ENOMEM;
	}
	inet_ntop(AF_INET, &r->target.address, addr, sizeof(addr));
	snprintf(url, sizeof(url), "http://%s:%u%s", addr, r->target.port, SQUID_STATS_PATH);
	rc |= curl_easy_setopt(r->easy, CURLOPT_URL, url);
	/* Straight to the proxy, whatever the environment says. */
	rc |= curl_easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
#if LIBCURL_VERSION_NUM >= 0x075500
	rc |= curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http");
#else
	rc |= curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP);
#endif
	rc |= curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	rc |= curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	/* One connection a read: nothing held open on the proxy between reads. */
	rc |= curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
	rc |= curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
	rc |= curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(r->easy, CURLOPT_USERAGENT, SQUID_STATS_USER_AGENT);
	rc |= curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, squid_stats_on_body);
	rc |= curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	rc |= curl_easy_setopt(r->easy, CURLOPT_PRIVATE, (char *)r);
	if (rc != CURLE_OK || curl_multi_add_handle(r->owner->multi, r->easy) != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		squid_stats_reader_stop(r);
		return -ENOMEM;
	}
	return 0;
}

static void squid_stats_schedule(struct squid_stats_reader *r, uint64_t now_ms)
{
	uint64_t wait_ms = r->next_due_ms > now_ms ? r->next_due_ms - now_ms : 0;
	struct timeval tv = {
	    .tv_sec = (time_t)(wait_ms / SQUID_INFO_MS_PER_S),
	    .tv_usec = (suseconds_t)(wait_ms % SQUID_INFO_MS_PER_S) * SQUID_STATS_US_PER_MS,
	};

	evtimer_add(r->tick, &tv);
}

/*
 * The reader's timer: a read unless one is still in flight, then re-arm on
 * whole intervals from the first due time (a stalled loop skips reads rather
 * than bunching them).
 */
static void squid_stats_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct squid_stats_reader *r = arg;
	uint64_t now_ms = clock_now_ms();

	(void)fd;
	(void)what;
	do
		r->next_due_ms += r->owner->interval_ms;
	while (r->next_due_ms <= now_ms);
	squid_stats_schedule(r, now_ms);
	if (r->easy != NULL)
		return;
	if (squid_stats_reader_start(r) < 0) {
		r->view.reads++;
		squid_stats_failed(r, SQUID_STATS_LOCAL, "this appliance ran short: %s",
				   strerror(ENOMEM));
	}
}

static struct squid_stats_reader *squid_stats_reader_new(struct squid_stats *s,
							 const struct squid_stats_target *t,
							 uint64_t now_ms, uint64_t first_due_ms)
{
	struct squid_stats_reader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->owner = s;
	r->target = *t;
	r->next_due_ms = first_due_ms;
	r->since_ms = now_ms;
	r->view.state = SQUID_STATS_PENDING;
	snprintf(r->view.error, sizeof(r->view.error), "not read yet");
	r->tick = evtimer_new(s->base, squid_stats_tick_cb, r);
	if (r->tick == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

static void squid_stats_reader_free(struct squid_stats_reader *r)
{
	squid_stats_reader_stop(r);
	event_free(r->tick);
	free(r);
}

struct squid_stats *squid_stats_new(struct event_base *base)
{
	struct squid_stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->base = base;
	s->multi = curl_multi_init();
	if (s->multi == NULL)
		goto fail;
	s->loop = transfer_loop_new(base, s->multi, squid_stats_collect, s);
	if (s->loop == NULL)
		goto fail;
	return s;
fail:
	if (s->multi != NULL)
		curl_multi_cleanup(s->multi);
	free(s);
	return NULL;
}

static bool squid_stats_target_same(const struct squid_stats_target *a,
				    const struct squid_stats_target *b)
{
	return a->id == b->id && a->address == b->address && a->port == b->port;
}

/* Builds the new list before touching the old one, so -ENOMEM changes nothing. */
int squid_stats_set_targets(struct squid_stats *s, const struct squid_stats_target *targets,
			    size_t n, uint32_t interval_ms)
{
	struct squid_stats_reader **next = NULL;
	uint64_t now_ms = clock_now_ms();
	size_t i, j;

	if (interval_ms < SQUID_STATS_INTERVAL_MIN_MS)
		interval_ms = SQUID_STATS_INTERVAL_MIN_MS;
	if (n > 0) {
		next = calloc(n, sizeof(*next));
		if (next == NULL)
			return -ENOMEM;
	}
	for (j = 0; j < s->n; j++)
		s->readers[j]->keep = false;
	for (i = 0; i < n; i++) {
		for (j = 0; j < s->n; j++) {
			struct squid_stats_reader *old = s->readers[j];

			if (!old->keep && squid_stats_target_same(&old->target, &targets[i])) {
				old->keep = true;
				next[i] = old;
				break;
			}
		}
		if (next[i] == NULL) {
			next[i] = squid_stats_reader_new(s, &targets[i], now_ms,
							 now_ms + i * interval_ms / n);
			if (next[i] == NULL)
				goto fail;
		}
	}
	for (j = 0; j < s->n; j++)
		if (!s->readers[j]->keep)
			squid_stats_reader_free(s->readers[j]);
	free(s->readers);
	s->readers = next;
	s->n = n;
	s->interval_ms = interval_ms;
	for (i = 0; i < n; i++)
		if (!evtimer_pending(next[i]->tick, NULL))
			squid_stats_schedule(next[i], now_ms);
	return 0;
fail:
	for (i = 0; i < n && next[i] != NULL; i++)
		if (!next[i]->keep)
			squid_stats_reader_free(next[i]);
	free(next);
	return -ENOMEM;
}

bool squid_stats_get(const struct squid_stats *s, int64_t id, struct squid_stats_view *out)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct squid_stats_reader *r = s->readers[i];

		if (r->target.id != id)
			continue;
		*out = r->view;
		out->age_ms = clock_now_ms() - r->since_ms;
		return true;
	}
	return false;
}

void squid_stats_free(struct squid_stats *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		squid_stats_reader_free(s->readers[i]);
	free(s->readers);
	/* After every handle is removed, so no socket event outlives the multi handle. */
	curl_multi_cleanup(s->multi);
	transfer_loop_free(s->loop);
	free(s);
}
