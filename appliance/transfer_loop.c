/*
 * transfer_loop.c - the glue between a libcurl multi handle and a libevent
 * base (see transfer_loop.h).
 */
#include "transfer_loop.h"

#include <stdlib.h>

#include <event2/event.h>

#define TRANSFER_LOOP_MS_PER_S	1000
#define TRANSFER_LOOP_US_PER_MS 1000

struct transfer_loop {
	struct event_base *base;
	CURLM *multi;
	struct event *timeout; /* curl's own timeout (CURLMOPT_TIMERFUNCTION) */
	transfer_loop_collect_fn *collect;
	void *arg;
};

/* One socket curl asked us to watch. */
struct transfer_loop_socket {
	struct event *ev;
};

static void transfer_loop_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct transfer_loop *loop = arg;
	int mask = 0, running;

	if (what & EV_READ)
		mask |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		mask |= CURL_CSELECT_OUT;
	curl_multi_socket_action(loop->multi, fd, mask, &running);
	loop->collect(loop->arg);
}

static void transfer_loop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct transfer_loop *loop = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	loop->collect(loop->arg);
}

/* CURLMOPT_SOCKETFUNCTION: keeps one persistent libevent event per socket curl watches. */
static int transfer_loop_socket_cb(CURL *easy, curl_socket_t fd, int action, void *arg, void *sockp)
{
	struct transfer_loop *loop = arg;
	struct transfer_loop_socket *s = sockp;
	short what = EV_PERSIST;

	(void)easy;
	if (action == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
		}
		return 0;
	}
	if (action & CURL_POLL_IN)
		what |= EV_READ;
	if (action & CURL_POLL_OUT)
		what |= EV_WRITE;
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		curl_multi_assign(loop->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	/* Recreated rather than modified: libevent cannot change a pending event's flags. */
	s->ev = event_new(loop->base, fd, what, transfer_loop_event_cb, loop);
	if (s->ev == NULL || event_add(s->ev, NULL) < 0) {
		if (s->ev != NULL)
			event_free(s->ev);
		curl_multi_assign(loop->multi, fd, NULL);
		free(s);
		return -1;
	}
	return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: curl wants transfer_loop_timeout_cb in timeout_ms
 * (-1: never). curl must not be re-entered from here, so even 0 goes
 * through the loop.
 */
static int transfer_loop_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct transfer_loop *loop = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0)
		return event_del(loop->timeout) < 0 ? -1 : 0;
	tv.tv_sec = timeout_ms / TRANSFER_LOOP_MS_PER_S;
	tv.tv_usec = (timeout_ms % TRANSFER_LOOP_MS_PER_S) * TRANSFER_LOOP_US_PER_MS;
	return event_add(loop->timeout, &tv) < 0 ? -1 : 0;
}

struct transfer_loop *transfer_loop_new(struct event_base *base, CURLM *multi,
					transfer_loop_collect_fn *collect, void *arg)
{
	struct transfer_loop *loop = calloc(1, sizeof(*loop));

	if (loop == NULL)
		return NULL;
	loop->base = base;
	loop->multi = multi;
	loop->collect = collect;
	loop->arg = arg;
	loop->timeout = evtimer_new(base, transfer_loop_timeout_cb, loop);
	if (loop->timeout == NULL)
		goto fail;
	if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, transfer_loop_socket_cb) !=
		CURLM_OK ||
	    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, loop) != CURLM_OK ||
	    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, transfer_loop_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, loop) != CURLM_OK)
		goto fail;
	return loop;
fail:
	/* The multi handle must not call back into a freed loop. */
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, NULL);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, NULL);
	if (loop->timeout != NULL)
		event_free(loop->timeout);
	free(loop);
	return NULL;
}

void transfer_loop_free(struct transfer_loop *loop)
{
	if (loop == NULL)
		return;
	event_free(loop->timeout);
	free(loop);
}
