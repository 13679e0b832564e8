/*
 * webui.c - the web server's life: start (listener, limits, TLS, the timing
 * of each connection's requests, the hit sampler) and stop, and the count of
 * its connections. A request's way from arrival to answer is webui_http.c's.
 *
 * Connections are bounded so that idle ones cannot take the descriptors the
 * probes need: at most http_max_connections at once (the listener stops
 * accepting meanwhile, so further ones wait in the kernel's queue, costing
 * droverd nothing), and at most http_max_connections_per_source from one
 * address (one more is closed as soon as its peer is known, before anything
 * is read from it).
 */
#include "webui.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "api.h"
#include "log.h"
#include "manager.h"
#include "tls.h"
#include "webui_private.h"

/* After accept() ran out of descriptors, the listener tries again this much later. */
#define WEBUI_ACCEPT_PAUSE_SECS 1
/* Warnings about connections turned away: at most one per this many seconds. */
#define WEBUI_LIMIT_LOG_SECS 10

/*
 * The server running, for the listener's error callback alone: evhttp
 * gives its listener its own pointer as the callbacks' argument, not ours.
 */
static struct webui *webui_running;

/* Accepts while neither full nor short of descriptors. */
static void webui_listen_update(struct webui *w)
{
	if (w->listener == NULL)
		return;
	if (w->full || w->short_paused)
		evconnlistener_disable(w->listener);
	else
		evconnlistener_enable(w->listener);
}

/* A warning about the limits, unless one was given within WEBUI_LIMIT_LOG_SECS. */
static void webui_limit_warn(struct webui *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void webui_limit_warn(struct webui *w, const char *fmt, ...)
{
	uint64_t now_s = clock_now_ms() / 1000;
	char msg[256];
	va_list ap;

	if (w->last_turned_away_log_s != 0 &&
	    now_s - w->last_turned_away_log_s < WEBUI_LIMIT_LOG_SECS)
		return;
	w->last_turned_away_log_s = now_s;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("web UI: %s", msg);
}

static struct webui_source *webui_source_find(struct webui *w, const char *addr)
{
	for (size_t i = 0; i < w->nsources; i++) {
		if (strcmp(w->sources[i].addr, addr) == 0)
			return &w->sources[i];
	}
	return NULL;
}

/* The address evhttp knows evcon's peer by ("" when it knows none). */
static void webui_peer_of(struct evhttp_connection *evcon, char *addr, size_t len)
{
	char *host = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(addr, len, "%s", host ? host : "");
}

/*
 * deadline's bound hook: the peer is known, nothing is read yet. Admits the
 * connection unless its address has its share open already, or the total
 * is over a limit lowered since the listener paused.
 */
static bool webui_on_bound(struct evhttp_connection *evcon, void *arg)
{
	struct webui *w = arg;
	const struct settings *s = manager_settings(w->m);
	struct webui_source *src;
	char addr[WEBUI_PEER_MAX];

	webui_peer_of(evcon, addr, sizeof(addr));
	src = webui_source_find(w, addr);
	if (w->conns > s->http_max_connections) {
		w->turned_away++;
		webui_limit_warn(w,
				 "closed a connection from %s: %zu open, more than "
				 "http_max_connections (%u) (%" PRIu64 " closed so far)",
				 addr, w->conns, s->http_max_connections, w->turned_away);
		return false;
	}
	if (src != NULL && src->conns >= s->http_max_connections_per_source) {
		w->turned_away++;
		webui_limit_warn(w,
				 "closed a connection from %s: %u open from there already "
				 "(http_max_connections_per_source) (%" PRIu64 " closed so far)",
				 addr, src->conns, w->turned_away);
		return false;
	}
	if (src == NULL) {
		if (w->nsources == w->sources_cap) {
			size_t cap = w->sources_cap ? 2 * w->sources_cap : 16;
			struct webui_source *more = realloc(w->sources, cap * sizeof(*more));

			if (more == NULL) {
				w->turned_away++;
				return false;
			}
			w->sources = more;
			w->sources_cap = cap;
		}
		src = &w->sources[w->nsources++];
		snprintf(src->addr, sizeof(src->addr), "%s", addr);
		src->conns = 0;
	}
	src->conns++;
	return true;
}

/* deadline's closed hook: one connection fewer, of its address too when it was admitted. */
static void webui_on_closed(struct evhttp_connection *evcon, bool bound, void *arg)
{
	struct webui *w = arg;
	struct webui_source *src;
	char addr[WEBUI_PEER_MAX];

	w->conns--;
	if (bound && evcon != NULL) {
		webui_peer_of(evcon, addr, sizeof(addr));
		src = webui_source_find(w, addr);
		if (src != NULL && --src->conns == 0)
			*src = w->sources[--w->nsources];
	}
	if (w->full && w->conns < manager_settings(w->m)->http_max_connections) {
		w->full = false;
		webui_listen_update(w);
	}
}

static void webui_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct webui *w = arg;

	(void)fd;
	(void)what;
	w->short_paused = false;
	webui_listen_update(w);
}

/*
 * accept() failed, and not for a reason retrying cures (no descriptor, no
 * memory): the listening socket stays readable, so the loop would spin on
 * it and log each turn. Pause a second at a time instead, logging once.
 */
static void webui_on_accept_error(struct evconnlistener *l, void *arg)
{
	struct webui *w = webui_running;
	struct timeval pause = {WEBUI_ACCEPT_PAUSE_SECS, 0};
	int err = errno;

	(void)arg;
	if (w == NULL || w->listener != l) {
		evconnlistener_disable(l);
		return;
	}
	if (!w->short_logged)
		log_warnx("web UI: cannot accept: %s; pausing %d s at a time until it can",
			  strerror(err), WEBUI_ACCEPT_PAUSE_SECS);
	w->short_logged = true;
	w->short_paused = true;
	webui_listen_update(w);
	evtimer_add(w->resume, &pause);
}

/* Samples every proxy's hit counter for the dashboard's chart. */
static void webui_on_sample(evutil_socket_t fd, short what, void *arg)
{
	struct webui *w = arg;
	json_t *request = json_pack("{s:s}", "cmd", "proxy.list");
	json_t *reply = api_handle(w->m, request, "webui");

	(void)fd;
	(void)what;
	json_decref(request);
	if (history_record(&w->history, clock_wall_s(), json_object_get(reply, "proxies")) < 0)
		log_warnx("web UI: out of memory recording hit history");
	json_decref(reply);
}

/*
 * Every connection gets a bufferevent of ours, over TLS when https is on,
 * so that its requests can be timed (deadline.h) and it can be counted. An
 * unwatched one (out of memory) is still served, only without the 408, and
 * is not counted. The listener stops once the count reaches
 * http_max_connections: libevent then accepts nothing more in this round.
 */
static struct bufferevent *webui_on_connection(struct event_base *base, void *arg)
{
	struct webui *w = arg;
	struct bufferevent *bev;

	w->short_logged = false;
	if (w->ssl != NULL) {
		SSL *ssl = SSL_new(w->ssl);

		if (ssl == NULL)
			return NULL;
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL)
		return NULL;
	if (deadline_watch(&w->deadlines, base, bev) < 0) {
		log_warnx("web UI: out of memory timing a connection's requests");
		return bev;
	}
	if (++w->conns >= manager_settings(w->m)->http_max_connections && !w->full) {
		w->full = true;
		webui_listen_update(w);
		webui_limit_warn(w,
				 "%zu connections open (http_max_connections): accepting "
				 "no more until one closes",
				 w->conns);
	}
	return bev;
}

struct webui *webui_new(struct event_base *base, struct manager *m, char *err, size_t errlen)
{
	struct webui *w;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->m = m;
	w->base = base;
	LIST_INIT(&w->auth_tries);
	if (webui_signin_start(w, err, errlen) < 0)
		goto fail;
	deadline_init(&w->deadlines, WEBUI_REQUEST_SECS, webui_http_on_late, w);
	deadline_set_hooks(
	    &w->deadlines,
	    &(struct deadline_hooks){.bound = webui_on_bound, .closed = webui_on_closed, .arg = w});
	w->resume = evtimer_new(base, webui_on_resume, w);
	if (w->resume == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	w->http = evhttp_new(base);
	if (w->http == NULL) {
		snprintf(err, errlen, "cannot create the web server");
		goto fail;
	}
	evhttp_set_max_headers_size(w->http, WEBUI_MAX_HEADERS);
	evhttp_set_max_body_size(w->http, WEBUI_MAX_BODY);
	/* Longer than a request's deadline, so that a slow request meets the 408 first. */
	evhttp_set_timeout(w->http, WEBUI_IDLE_SECS);
	/* Every method evhttp knows reaches the routes, which answer 405 with Allow. */
	evhttp_set_allowed_methods(w->http, WEBUI_HTTP_METHODS);
	evhttp_set_gencb(w->http, webui_request_handle, w);
	evhttp_set_bevcb(w->http, webui_on_connection, w);
	return w;
fail:
	webui_stop(w);
	return NULL;
}

struct webui *webui_start(struct event_base *base, struct manager *m, const char *db_path,
			  char *err, size_t errlen)
{
	const struct settings *s = manager_settings(m);
	struct timeval every = {HISTORY_INTERVAL_SECS, 0};
	char host[INET_ADDRSTRLEN], dir[PATH_MAX];
	struct in_addr a;
	const char *slash;
	uint16_t port;
	struct webui *w;

	if (!settings_parse_listen(s->http_listen, &a.s_addr, &port)) {
		snprintf(err, errlen, "http_listen: invalid `%s'", s->http_listen);
		return NULL;
	}
	inet_ntop(AF_INET, &a, host, sizeof(host));
	w = webui_new(base, m, err, errlen);
	if (w == NULL)
		return NULL;
	w->https = s->https;
	slash = strrchr(db_path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - db_path) : 1,
		 slash ? db_path : ".");
	if (w->https) {
		w->ssl = tls_context_new(s->tls_cert, s->tls_key, dir, err, errlen);
		if (w->ssl == NULL)
			goto fail;
	}
	w->bound = evhttp_bind_socket_with_handle(w->http, host, port);
	if (w->bound == NULL) {
		snprintf(err, errlen, "web UI: cannot listen on %s: %s", s->http_listen,
			 strerror(errno));
		goto fail;
	}
	w->listener = evhttp_bound_socket_get_listener(w->bound);
	evconnlistener_set_error_cb(w->listener, webui_on_accept_error);
	webui_running = w;
	w->sampler = event_new(base, -1, EV_PERSIST, webui_on_sample, w);
	if (w->sampler == NULL || event_add(w->sampler, &every) < 0) {
		snprintf(err, errlen, "cannot start the hit sampler");
		goto fail;
	}
	webui_on_sample(-1, 0, w);
	log_info("web UI on %s://%s", w->https ? "https" : "http", s->http_listen);
	return w;
fail:
	webui_stop(w);
	return NULL;
}

void webui_stop(struct webui *w)
{
	if (w == NULL)
		return;
	if (w->sampler != NULL)
		event_free(w->sampler);
	if (webui_running == w)
		webui_running = NULL;
	/* Before evhttp_free, which frees the requests the sign-ins under way answer. */
	webui_signin_stop(w);
	/*
	 * evhttp_free frees the listener first, then closes every connection,
	 * which runs the closed hook: it must find the count, and no listener.
	 */
	w->listener = NULL;
	if (w->http != NULL)
		evhttp_free(w->http);
	deadline_clear(&w->deadlines);
	if (w->resume != NULL)
		event_free(w->resume);
	free(w->sources);
	if (w->ssl != NULL)
		SSL_CTX_free(w->ssl);
	history_free(&w->history);
	sodium_memzero(&w->sessions, sizeof(w->sessions));
	free(w);
}
