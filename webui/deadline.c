/*
 * deadline.c - the time limit on a request's arrival, and the 408 that
 * answers a request too slow to arrive (see deadline.h).
 *
 * Ownership: evhttp owns each connection and its bufferevent, and frees
 * them when it is done; a watched connection's state here is freed from the
 * connection's close callback. Until evhttp has built its connection around
 * the bufferevent, the state holds a reference on the bufferevent, so that
 * a connection evhttp gives up while setting it up is never reached freed.
 */
#include "deadline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "log.h"

/* How soon to look again when evhttp is itself writing on the connection. */
#define DEADLINE_RECHECK_SECS 1

enum deadline_state {
	DEADLINE_UNBOUND,   /* evhttp has not yet built its connection around bev */
	DEADLINE_WAITING,   /* between requests: nothing of the next one yet */
	DEADLINE_RECEIVING, /* a request is arriving; the timer runs */
	DEADLINE_ANSWERING, /* the request is complete; its answer is on its way */
	DEADLINE_REFUSING,  /* the 408 is being written; evhttp no longer drives bev */
};

struct deadline_conn {
	LIST_ENTRY(deadline_conn) entry;
	struct deadline_set *set;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL while unbound */
	struct evbuffer_cb_entry *input_cb;
	struct event *timer; /* binds first, then times each request */
	enum deadline_state state;
	bool admitted; /* the bound hook accepted it */
};

void deadline_init(struct deadline_set *set, unsigned limit_secs, deadline_refusal_fn refusal,
		   void *arg)
{
	LIST_INIT(&set->conns);
	set->limit.tv_sec = (time_t)limit_secs;
	set->limit.tv_usec = 0;
	set->refusal = refusal;
	set->arg = arg;
	memset(&set->hooks, 0, sizeof(set->hooks));
}

void deadline_set_hooks(struct deadline_set *set, const struct deadline_hooks *hooks)
{
	set->hooks = *hooks;
}

/* Frees conn's state; bev stays evhttp's (only an unbound conn holds a reference). */
static void deadline_forget(struct deadline_conn *conn)
{
	const struct deadline_hooks *hooks = &conn->set->hooks;

	if (hooks->closed != NULL)
		hooks->closed(conn->evcon, conn->admitted, hooks->arg);
	evbuffer_remove_cb_entry(bufferevent_get_input(conn->bev), conn->input_cb);
	LIST_REMOVE(conn, entry);
	event_free(conn->timer);
	if (conn->state == DEADLINE_UNBOUND)
		bufferevent_decref(conn->bev);
	free(conn);
}

static void deadline_start(struct deadline_conn *conn)
{
	conn->state = DEADLINE_RECEIVING;
	evtimer_add(conn->timer, &conn->set->limit);
}

/* evhttp frees the connection: the state goes with it. */
static void deadline_on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	deadline_forget(arg);
}

static void deadline_bind(struct deadline_conn *conn)
{
	void *evcon = NULL;

	/*
	 * evhttp passes its connection as the bufferevent's callback argument,
	 * and libevent 2.1 offers no other way to reach it before a request is
	 * complete. NULL: evhttp failed to set the connection up and let go of
	 * the bufferevent (which our reference still keeps).
	 */
	bufferevent_getcb(conn->bev, NULL, NULL, NULL, &evcon);
	if (evcon == NULL) {
		deadline_forget(conn);
		return;
	}
	conn->evcon = evcon;
	evhttp_connection_set_closecb(conn->evcon, deadline_on_close, conn);
	conn->state = DEADLINE_WAITING;
	bufferevent_decref(conn->bev);
	conn->admitted = conn->set->hooks.bound == NULL ||
			 conn->set->hooks.bound(conn->evcon, conn->set->hooks.arg);
	if (!conn->admitted) {
		/* Nothing has been read yet: the connection just closes. */
		evhttp_connection_free(conn->evcon);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(conn->bev)) > 0)
		deadline_start(conn);
}

/* The first byte of a request starts its clock; later ones do not move it. */
static void deadline_on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct deadline_conn *conn = arg;

	(void)buf;
	if (info->n_added > 0 && conn->state == DEADLINE_WAITING)
		deadline_start(conn);
}

/* Frees the connection, and with it conn (through deadline_on_close). */
static void deadline_drop(struct deadline_conn *conn)
{
	evhttp_connection_free(conn->evcon);
}

static void deadline_on_refused_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		deadline_drop(arg);
}

/* The client is gone or does not read its 408: nothing more to wait for. */
static void deadline_on_refused_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	deadline_drop(arg);
}

/*
 * Takes bev back from evhttp and writes the 408. evhttp's callbacks are
 * replaced, not wrapped: left in place they would go on parsing, or finish
 * an earlier answer's bookkeeping, on a connection being refused. Reading
 * stops so a client cannot pile up input meanwhile; the write gets the
 * same limit as the request had.
 */
static void deadline_refuse(struct deadline_conn *conn)
{
	struct bufferevent *bev = conn->bev;
	char *peer = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(conn->evcon, &peer, &port);
	log_debug("web UI: no whole request from %s:%u within %ld s, answered 408",
		  peer ? peer : "?", port, (long)conn->set->limit.tv_sec);
	conn->state = DEADLINE_REFUSING;
	bufferevent_setcb(bev, NULL, deadline_on_refused_written, deadline_on_refused_event, conn);
	bufferevent_disable(bev, EV_READ);
	bufferevent_set_timeouts(bev, NULL, &conn->set->limit);
	conn->set->refusal(bufferevent_get_output(bev), conn->set->arg);
	bufferevent_enable(bev, EV_WRITE);
}

static void deadline_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct deadline_conn *conn = arg;
	struct timeval again = {DEADLINE_RECHECK_SECS, 0};

	(void)fd;
	(void)what;
	if (conn->state == DEADLINE_UNBOUND) {
		deadline_bind(conn);
		return;
	}
	if (conn->state != DEADLINE_RECEIVING)
		return;
	/*
	 * evhttp writes on the connection only to answer: its own refusal of
	 * a bad request (the connection then closes) or a "100 Continue".
	 * Neither may be cut short by a second status line.
	 */
	if (bufferevent_get_enabled(conn->bev) & EV_WRITE) {
		evtimer_add(conn->timer, &again);
		return;
	}
	deadline_refuse(conn);
}

int deadline_watch(struct deadline_set *set, struct event_base *base, struct bufferevent *bev)
{
	struct deadline_conn *conn = calloc(1, sizeof(*conn));

	if (conn == NULL)
		return -ENOMEM;
	conn->set = set;
	conn->bev = bev;
	conn->state = DEADLINE_UNBOUND;
	conn->timer = evtimer_new(base, deadline_on_timer, conn);
	conn->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), deadline_on_input, conn);
	if (conn->timer == NULL || conn->input_cb == NULL) {
		if (conn->input_cb != NULL)
			evbuffer_remove_cb_entry(bufferevent_get_input(bev), conn->input_cb);
		if (conn->timer != NULL)
			event_free(conn->timer);
		free(conn);
		return -ENOMEM;
	}
	bufferevent_incref(bev);
	LIST_INSERT_HEAD(&set->conns, conn, entry);
	/*
	 * evhttp builds its connection around bev only after the server's
	 * callback returns: bind on the loop's next turn, which comes before
	 * any byte can be read from the socket.
	 */
	event_active(conn->timer, EV_TIMEOUT, 1);
	return 0;
}

/*
 * The answer is sent. A request the client sent meanwhile (pipelined) has
 * been arriving already: its clock starts now.
 */
static void deadline_on_answered(struct evhttp_request *req, void *arg)
{
	struct deadline_conn *conn = arg;

	(void)req;
	conn->state = DEADLINE_WAITING;
	if (evbuffer_get_length(bufferevent_get_input(conn->bev)) > 0)
		deadline_start(conn);
}

void deadline_request_done(struct deadline_set *set, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct deadline_conn *conn;

	if (evcon == NULL)
		return;
	/* A walk: the web UI has few connections, and evhttp keeps no user data on them. */
	LIST_FOREACH(conn, &set->conns, entry)
	{
		if (conn->evcon == evcon)
			break;
	}
	if (conn == NULL)
		return;
	event_del(conn->timer);
	conn->state = DEADLINE_ANSWERING;
	evhttp_request_set_on_complete_cb(req, deadline_on_answered, conn);
}

void deadline_clear(struct deadline_set *set)
{
	while (!LIST_EMPTY(&set->conns))
		deadline_forget(LIST_FIRST(&set->conns));
}
