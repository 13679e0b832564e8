/*
 * webui_private.h - what the web server's own files (webui_*.c) share: the
 * server and the request under way, and the functions each file offers the
 * others. Nothing outside webui_*.c includes it.
 *
 *   webui.c         start and stop: listener, TLS, connection limits and timing,
 *                   hit sampler
 *   webui_request.c a request from arrival to answer, in order
 *   webui_http.c    body and query fields, responses, error documents,
 *                   security headers, the 408
 *   webui_auth.c    who is asking and may they: Host, token or session,
 *                   same origin and CSRF
 *   webui_signin.c  sign-in and out, sessions, the password change
 *   webui_token.c   the API token routes
 *   webui_api.c     the routes that run an API command (api.h), and /metrics
 *   webui_asset.c   the static files
 *   webui_route.c   the table that maps a request onto one of the above
 *
 * Everything here runs on the control loop.
 */
#ifndef DROVER_WEBUI_PRIVATE_H
#define DROVER_WEBUI_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include <sys/queue.h>

#include "account.h"
#include "deadline.h"
#include "hasher.h"
#include "history.h"
#include "session.h"
#include "throttle.h"
#include "webui_route.h"

#define WEBUI_JSON_TYPE "application/json; charset=utf-8"
#define WEBUI_ACTOR_MAX 96
#define WEBUI_PEER_MAX	64
#define WEBUI_ERROR_MAX 512 /* bytes of an error message, as the store's */
/*
 * The methods evhttp hands to the routes: all it knows, so that OPTIONS,
 * TRACE and CONNECT get the routes' 405 (with the security headers), not
 * evhttp's bare 501.
 */
#define WEBUI_HTTP_METHODS                                                                         \
	(EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |  \
	 EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT)

struct manager;
struct evbuffer;
struct event_base;
struct webui_signin_try;
struct evconnlistener;

/* Open web UI connections from one client address. */
struct webui_source {
	char addr[WEBUI_PEER_MAX];
	unsigned conns;
};

struct webui {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct manager *m; /* read through manager_settings and manager_store only */
	SSL_CTX *ssl;
	bool https;
	struct event_base *base;
	struct session_table sessions;
	struct throttle throttle;
	struct hasher *hasher;			  /* password checks, off the loop */
	LIST_HEAD(, webui_signin_try) auth_tries; /* sign-ins and password changes under way */
	size_t auth_pending;			  /* how many */
	struct account_fold fold;		  /* failed sign-ins' audit rows */
	struct history history;
	struct event *sampler;
	struct deadline_set deadlines;

	/* Connection accounting (webui.c): http_max_connections, ..._per_source. */
	struct evconnlistener *listener; /* evhttp's, paused when full or short */
	struct event *resume;		 /* ends a pause for want of descriptors */
	size_t conns;			 /* accepted and not yet closed */
	struct webui_source *sources;	 /* addresses with connections open */
	size_t nsources, sources_cap;
	bool full;	   /* not accepting: http_max_connections open */
	bool short_paused; /* not accepting: accept() ran out of descriptors */
	bool short_logged; /* that shortage has been logged */
	uint64_t turned_away;
	uint64_t last_turned_away_log_s;
};

/* One request on its way through the checks. */
struct webui_call {
	struct webui *w;
	struct evhttp_request *req;
	unsigned method; /* enum route_method */
	const char *path;
	struct webui_route_match route;
	struct evkeyvalq query;
	char peer[WEBUI_PEER_MAX];
	struct session *session; /* signed in by cookie */
	bool token;		 /* signed in by API token */
	char user[SESSION_USER_MAX];
	char actor[WEBUI_ACTOR_MAX];
	json_t *body; /* the request's JSON object, when it has a body */
};

/* webui_request.c */

/* evhttp's request callback: every request the server takes arrives here. */
void webui_request_handle(struct evhttp_request *req, void *arg);

/* webui_http.c */
/* The deadline's refusal (deadline.h): a 408 written by hand into out; arg is the server. */
void webui_http_on_late(struct evbuffer *out, void *arg);
/* The security headers and, unless NULL, the Content-Type of an answer. */
void webui_http_headers(struct webui_call *c, const char *content_type);
/*
 * Sends body (NULL: none; still the caller's) with status, the headers set
 * before. Every answer goes through here: a HEAD gets the length, not the body.
 */
void webui_http_send_body(struct webui_call *c, int status, struct evbuffer *body);
/* Sends j (consumed) with status; JSON answers are never cached. */
void webui_http_send_json(struct webui_call *c, int status, json_t *j);
/* Sends {"ok": false, "error": message, "kind": kind, "field": field (unless NULL)}. */
void webui_http_send_error(struct webui_call *c, int status, const char *kind, const char *field,
			   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A string field of the body in *out; false (400 sent) when missing or not a string. */
bool webui_http_body_string(struct webui_call *c, const char *key, const char **out);
/* True when the body has no field outside allowed (NULL-terminated); else false, 400 sent. */
bool webui_http_body_only(struct webui_call *c, const char *const *allowed);
/*
 * True when every query parameter is one of allowed (NULL-terminated; NULL
 * takes none); else false, 400 sent: a typo should not be silently ignored.
 */
bool webui_http_query_known(struct webui_call *c, const char *const *allowed);
/*
 * Copies query parameter name, a decimal whole number, into request; true
 * when it is absent too. False (400 sent) when it is malformed.
 */
bool webui_http_query_int(struct webui_call *c, const char *name, json_t *request);

/* webui_auth.c */

/*
 * DNS rebinding: refuses (421, sent) a request whose Host is not a name of
 * this appliance (loopback names, the listen address, the address the
 * connection reached, the web_hosts setting), and (400) one with a
 * malformed or repeated Host. True when the request may go on.
 */
bool webui_auth_host(struct webui_call *c);

/*
 * Identifies the caller and applies the route's demands (sign-in, same
 * origin, CSRF token, changed password). False with the refusal sent.
 */
bool webui_auth_admit(struct webui_call *c);

/* The store, for handing to account.h only: the web UI never reads it itself. */
struct store *webui_auth_store(const struct webui *w);

/* webui.c */

/*
 * A web server with everything but a listener, TLS and the hit sampler:
 * sign-in (hasher, throttle), deadlines, and the evhttp with its limits and
 * callbacks. webui_start builds on it; the fuzz harness accepts on a socket
 * of its own. NULL with a message in err; webui_stop frees it.
 */
struct webui *webui_new(struct event_base *base, struct manager *m, char *err, size_t errlen);

/* webui_signin.c */

/* Starts the password work of the server (hasher.h). Returns 0, or -errno with err. */
int webui_signin_start(struct webui *w, char *err, size_t errlen);
/* Drops the sign-ins under way, unanswered, and stops the password work. */
void webui_signin_stop(struct webui *w);

/*
 * The route handlers (webui_route.h), listed in the table of
 * webui_route.c. Each one answers the request, success or refusal; the
 * route's demands have been met before it runs.
 */

/* Sign-in (a new session and cookie), sign-out, who is signed in. */
webui_route_handler webui_signin_login;
webui_route_handler webui_signin_logout;
webui_route_handler webui_signin_session;
/* The password change: sessions only; every session of the user ends but the caller's. */
webui_route_handler webui_signin_password;
/*
 * API tokens: the list (with each one's expiry), a new one (its text shown
 * once; sessions only, never a token), a revocation.
 */
webui_route_handler webui_token_list;
/*
 * GET /api/v1/cluster/snapshot?have=N&digest=HEX: a replica's pull
 * (cluster_role primary only, else 409). Records the replica as it
 * describes itself in its X-Drover-* headers; 204 when it holds the
 * snapshot in force (manager_cluster_current), else 200 with the snapshot
 * (store_snapshot) and its generation and digest.
 */
webui_route_handler webui_cluster_snapshot;
/*
 * POST /api/v1/cluster/deviations {"deviations": TEXT}: a replica's
 * deviations merged here (cluster_role primary only, else 409); answers
 * this appliance's own, text/plain (manager_cluster_deviations_exchange).
 */
webui_route_handler webui_cluster_deviations;
/* A write whose success is a plain 200 (POST /api/v1/cluster/vrrp). */
webui_route_handler webui_api_create_ok;
webui_route_handler webui_token_add;
webui_route_handler webui_token_del;

/* webui_api.c: each runs the route's API command as the caller */

/* A read; the route's query parameters become arguments, as text or as whole numbers. */
webui_route_handler webui_api_query;
webui_route_handler webui_api_query_numbers;
/* A creation from the body's fields: 201. */
webui_route_handler webui_api_create;
/* A change from the body's fields and the route's query parameters: "version" required. */
webui_route_handler webui_api_change;
/* A read or a write ({"value"}) of the path's {key}. */
webui_route_handler webui_api_read_key;
webui_route_handler webui_api_write_key;
/* The proxy set-up script as a file to save. */
webui_route_handler webui_api_script;
/* The dashboard's hit history (no API command: the server samples it). */
webui_route_handler webui_api_history;
/* /metrics: the route's command rendered for Prometheus, behind metrics_access. */
webui_route_handler webui_api_metrics;

/* webui_asset.c */

/* A static file by its path, revalidated by ETag. */
webui_route_handler webui_asset_serve;

#endif
