/*
 * deadline.h - a request must arrive whole within a time limit counted from
 * its first byte; one that does not is answered 408 Request Timeout and its
 * connection closed, over HTTP and HTTPS alike.
 *
 * evhttp (libevent 2.1) has only an inactivity timeout, and when that fires
 * on an incoming connection it closes the socket without a word. So the web
 * server hands evhttp bufferevents of its own (evhttp_set_bevcb), each one
 * watched here: the first byte of a request starts its deadline, the
 * complete request stops it. When the deadline passes first, the
 * bufferevent is taken back from evhttp, the 408 written into it, and the
 * connection freed once it is sent. A keep-alive connection silent between
 * requests starts no deadline; evhttp's own timeout closes it.
 *
 * Runs on the web server's event loop only.
 */
#ifndef DROVER_DEADLINE_H
#define DROVER_DEADLINE_H

#include <stdbool.h>
#include <sys/queue.h>
#include <sys/time.h>

struct bufferevent;
struct evbuffer;
struct event_base;
struct evhttp_connection;
struct evhttp_request;
struct deadline_conn;

/* Appends a whole 408 response (status line, headers, body) to out. */
typedef void (*deadline_refusal_fn)(struct evbuffer *out, void *arg);

/*
 * A watched connection's life, for the server's connection accounting.
 * bound: evhttp has built its connection (its peer is known); false drops
 * it at once. closed: the connection is gone (evcon NULL when evhttp never
 * built it; bound tells whether bound accepted it). Either may be NULL.
 */
struct deadline_hooks {
	bool (*bound)(struct evhttp_connection *evcon, void *arg);
	void (*closed)(struct evhttp_connection *evcon, bool bound, void *arg);
	void *arg;
};

/* The watched connections of one server. */
struct deadline_set {
	LIST_HEAD(, deadline_conn) conns;
	struct timeval limit;
	deadline_refusal_fn refusal;
	void *arg;
	struct deadline_hooks hooks;
};

/* Prepares set: requests get limit_secs; refusal(out, arg) writes the 408. */
void deadline_init(struct deadline_set *set, unsigned limit_secs, deadline_refusal_fn refusal,
		   void *arg);

/* Tells hooks of each connection watched from now on (deadline_hooks). */
void deadline_set_hooks(struct deadline_set *set, const struct deadline_hooks *hooks);

/*
 * Watches bev, just made in the server's bufferevent callback and about to
 * be given to evhttp. Returns 0, or -ENOMEM (bev is then served unwatched).
 */
int deadline_watch(struct deadline_set *set, struct event_base *base, struct bufferevent *bev);

/*
 * req has arrived whole and is being answered: its deadline stops, and the
 * next request's cannot start before this answer is sent. A request on a
 * connection the set does not watch is ignored.
 */
void deadline_request_done(struct deadline_set *set, struct evhttp_request *req);

/* Forgets every connection still watched; call after evhttp_free(). */
void deadline_clear(struct deadline_set *set);

#endif
