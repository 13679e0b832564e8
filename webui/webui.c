/*
 * webui.c - the web server's life: start (listener, limits, TLS, the timing
 * of each connection's requests, the hit sampler) and stop. A request's way
 * from arrival to answer is webui_http.c's.
 */
#include "webui.h"

#include <errno.h>
#include <limits.h>
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
#include <jansson.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "api.h"
#include "log.h"
#include "manager.h"
#include "tls.h"
#include "webui_private.h"

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
 * so that its requests can be timed (deadline.h). An unwatched one (out of
 * memory) is still served, only without the 408.
 */
static struct bufferevent *webui_on_connection(struct event_base *base, void *arg)
{
	struct webui *w = arg;
	struct bufferevent *bev;

	if (w->ssl != NULL) {
		SSL *ssl = SSL_new(w->ssl);

		if (ssl == NULL)
			return NULL;
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev != NULL && deadline_watch(&w->deadlines, base, bev) < 0)
		log_warnx("web UI: out of memory timing a connection's requests");
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
	if (webui_auth_start(w, err, errlen) < 0)
		goto fail;
	deadline_init(&w->deadlines, WEBUI_REQUEST_SECS, webui_http_on_late, w);
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
	evhttp_set_gencb(w->http, webui_http_on_request, w);
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
	/* Before evhttp_free, which frees the requests the sign-ins under way answer. */
	webui_auth_stop(w);
	if (w->http != NULL)
		evhttp_free(w->http);
	deadline_clear(&w->deadlines);
	if (w->ssl != NULL)
		SSL_CTX_free(w->ssl);
	history_free(&w->history);
	sodium_memzero(&w->sessions, sizeof(w->sessions));
	free(w);
}
