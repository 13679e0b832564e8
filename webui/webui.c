/*
 * webui.c - the web server on droverd's control loop: request limits,
 * security headers, authentication (session cookie + CSRF, or Bearer
 * token), and the mapping of /api/v1 routes onto api_handle.
 */
#include "webui.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "account.h"
#include "api.h"
#include "assets.h"
#include "deadline.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "session.h"
#include "throttle.h"
#include "tls.h"

#define WEBUI_JSON_TYPE "application/json; charset=utf-8"
#define WEBUI_ACTOR_MAX 96
#define WEBUI_PEER_MAX	64

/*
 * No inline script or style anywhere: the pages load app.js and style.css
 * from here and nothing else. frame-ancestors keeps the UI out of frames.
 */
#define WEBUI_CSP                                                                                  \
	"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "           \
	"form-action 'self'; frame-ancestors 'none'"

struct webui {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct manager *m;
	SSL_CTX *ssl;
	bool https;
	struct session_table sessions;
	struct throttle throttle;
	struct history history;
	struct event *sampler;
	struct deadline_set deadlines;
};

/* One request on its way through the checks. */
struct webui_call {
	struct webui *w;
	struct evhttp_request *req;
	unsigned method;
	struct route_match route;
	struct evkeyvalq query;
	char peer[WEBUI_PEER_MAX];
	struct session *session; /* signed in by cookie */
	bool token;		 /* signed in by API token */
	char user[SESSION_USER_MAX];
	char actor[WEBUI_ACTOR_MAX];
	json_t *body; /* the request's JSON object, when it has a body */
};

static uint64_t webui_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* The headers every response carries, evhttp's or written by hand. */
static void webui_security_headers(struct webui *w, struct evkeyvalq *h)
{
	evhttp_add_header(h, "Content-Security-Policy", WEBUI_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
	if (w->https)
		evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
}

static void webui_headers(struct webui_call *c, const char *content_type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);

	webui_security_headers(c->w, h);
	if (content_type != NULL)
		evhttp_add_header(h, "Content-Type", content_type);
}

static const char *webui_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	default:
		return "Error";
	}
}

/* Sends j (consumed) with status; API answers are never cached. */
static void webui_send_json(struct webui_call *c, int status, json_t *j)
{
	struct evbuffer *buf = evbuffer_new();
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	webui_headers(c, WEBUI_JSON_TYPE);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-store");
	if (buf != NULL && text != NULL) {
		evbuffer_add(buf, text, strlen(text));
		evbuffer_add(buf, "\n", 1);
	}
	free(text);
	evhttp_send_reply(c->req, status, webui_reason(status), buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

/* {"ok": false, "error": msg, "kind": kind, "field": field} */
static void webui_send_error(struct webui_call *c, int status, const char *kind, const char *field,
			     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void webui_send_error(struct webui_call *c, int status, const char *kind, const char *field,
			     const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "kind", kind);
	if (field != NULL)
		json_object_set_new(j, "field", json_string(field));
	webui_send_json(c, status, j);
}

/* The status an api_handle reply stands for. */
static int webui_api_status(json_t *reply)
{
	const char *kind;

	if (json_is_true(json_object_get(reply, "ok")))
		return 200;
	kind = json_string_value(json_object_get(reply, "kind"));
	if (kind == NULL || strcmp(kind, "invalid") == 0)
		return 400;
	if (strcmp(kind, "not_found") == 0)
		return 404;
	if (strcmp(kind, "exists") == 0 || strcmp(kind, "conflict") == 0)
		return 409;
	return 500;
}

static void webui_send_api(struct webui_call *c, json_t *reply, int ok_status)
{
	int status = webui_api_status(reply);

	if (status != 200) {
		if (json_object_get(reply, "kind") == NULL)
			json_object_set_new(reply, "kind", json_string("invalid"));
	} else {
		status = ok_status;
	}
	webui_send_json(c, status, reply);
}

/* Runs one api_handle command as the caller; consumes request. */
static void webui_run(struct webui_call *c, json_t *request, int ok_status)
{
	json_t *reply = api_handle(c->w->m, request, c->actor);

	json_decref(request);
	webui_send_api(c, reply, ok_status);
}

/*
 * The API command for this route, from the body's fields: "cmd" and "id"
 * come from the route alone, so a body naming them is refused like any
 * other unknown field.
 */
static json_t *webui_command(struct webui_call *c, const char *cmd, bool take_body)
{
	json_t *request = json_object();
	const char *key;
	json_t *value;

	if (take_body && c->body != NULL) {
		json_object_foreach(c->body, key, value)
		{
			if (strcmp(key, "cmd") == 0 || strcmp(key, "id") == 0) {
				webui_send_error(c, 400, "invalid", key, "unknown field `%s'", key);
				json_decref(request);
				return NULL;
			}
			json_object_set(request, key, value);
		}
	}
	json_object_set_new(request, "cmd", json_string(cmd));
	if (c->route.object != 0)
		json_object_set_new(request, "id", json_integer(c->route.object));
	return request;
}

/* A query parameter as a decimal integer; false (with a 400 sent) when malformed. */
static bool webui_query_int(struct webui_call *c, const char *name, json_t *request)
{
	const char *text = evhttp_find_header(&c->query, name);
	char *end;
	long long v;

	if (text == NULL)
		return true;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0) {
		webui_send_error(c, 400, "invalid", name, "%s: `%s' is not a whole number", name,
				 text);
		return false;
	}
	json_object_set_new(request, name, json_integer(v));
	return true;
}

/* Every query parameter must be one of allowed: a typo should not be silently ignored. */
static bool webui_query_known(struct webui_call *c, const char *const *allowed)
{
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, &c->query, next)
	{
		bool known = false;

		for (size_t i = 0; allowed[i] != NULL && !known; i++)
			known = strcmp(kv->key, allowed[i]) == 0;
		if (!known) {
			webui_send_error(c, 400, "invalid", kv->key, "unknown parameter `%s'",
					 kv->key);
			return false;
		}
	}
	return true;
}

static void webui_set_cookie(struct webui_call *c, const char *value, bool expire)
{
	char cookie[256];

	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
		 SESSION_COOKIE, value, c->w->https ? "; Secure" : "", expire ? "; Max-Age=0" : "");
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Set-Cookie", cookie);
}

static json_t *webui_session_json(struct webui_call *c, struct session *s)
{
	json_t *j = json_pack("{s:b, s:b, s:s, s:s, s:b, s:b}", "ok", 1, "signed_in", 1, "user",
			      c->user, "via", s ? "session" : "token", "must_change_password",
			      s ? s->must_change : 0, "https", c->w->https);

	if (s != NULL)
		json_object_set_new(j, "csrf", json_string(s->csrf));
	json_object_set_new(j, "version", json_string(DROVER_VERSION));
	return j;
}

/* Reads a string field of the body; false (400 sent) when missing or not a string. */
static bool webui_body_string(struct webui_call *c, const char *key, const char **out)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;

	if (!json_is_string(v)) {
		webui_send_error(c, 400, "invalid", key,
				 v ? "%s: expected a string" : "missing field `%s'", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static bool webui_body_only(struct webui_call *c, const char *const *allowed)
{
	const char *key;
	json_t *value;

	if (c->body == NULL)
		return true;
	json_object_foreach(c->body, key, value)
	{
		bool known = false;

		for (size_t i = 0; allowed[i] != NULL && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known) {
			webui_send_error(c, 400, "invalid", key, "unknown field `%s'", key);
			return false;
		}
	}
	return true;
}

static void webui_login(struct webui_call *c)
{
	static const char *const allowed[] = {"username", "password", NULL};
	const char *user, *password;
	struct store_user u;
	struct session *s;
	uint32_t wait;
	char detail[160];

	if (!webui_body_only(c, allowed) || !webui_body_string(c, "username", &user) ||
	    !webui_body_string(c, "password", &password))
		return;
	if (!throttle_allow(&c->w->throttle, c->peer, webui_now(), &wait)) {
		char after[16];

		snprintf(after, sizeof(after), "%u", wait);
		evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", after);
		webui_send_error(c, 429, "throttled", NULL,
				 "too many failed sign-ins from %s: try again in %u seconds",
				 c->peer, wait);
		return;
	}
	if (!account_verify(c->w->m->store, user, password, &u)) {
		throttle_failure(&c->w->throttle, c->peer, webui_now());
		snprintf(detail, sizeof(detail), "failed sign-in as %.64s from %s", user, c->peer);
		store_audit_add(c->w->m->store, "webui", "login.failed", detail);
		log_info("web UI: %s", detail);
		webui_send_error(c, 401, "unauthorized", NULL, "wrong user name or password");
		return;
	}
	throttle_success(&c->w->throttle, c->peer);
	/* A new id at every sign-in: an id planted before it is worth nothing after. */
	s = session_create(&c->w->sessions, u.name, webui_now());
	s->must_change = u.must_change;
	snprintf(c->user, sizeof(c->user), "%s", u.name);
	snprintf(detail, sizeof(detail), "%s signed in from %s", u.name, c->peer);
	store_audit_add(c->w->m->store, "webui", "login", detail);
	webui_set_cookie(c, s->id, false);
	webui_send_json(c, 200, webui_session_json(c, s));
}

static void webui_logout(struct webui_call *c)
{
	if (c->session != NULL)
		session_close(c->session);
	webui_set_cookie(c, "", true);
	webui_send_json(c, 200, json_pack("{s:b}", "ok", 1));
}

static void webui_password(struct webui_call *c)
{
	static const char *const allowed[] = {"current", "new", NULL};
	const char *current, *fresh, *problem;
	struct store_user u;
	struct session *s;
	char err[256];
	uint32_t wait;

	if (c->session == NULL) {
		webui_send_error(c, 403, "forbidden", NULL,
				 "sign in with the password to change it (not with a token)");
		return;
	}
	if (!webui_body_only(c, allowed) || !webui_body_string(c, "current", &current) ||
	    !webui_body_string(c, "new", &fresh))
		return;
	if (!throttle_allow(&c->w->throttle, c->peer, webui_now(), &wait)) {
		webui_send_error(c, 429, "throttled", NULL,
				 "too many failed tries: wait %u seconds", wait);
		return;
	}
	if (!account_verify(c->w->m->store, c->user, current, &u)) {
		throttle_failure(&c->w->throttle, c->peer, webui_now());
		webui_send_error(c, 400, "invalid", "current",
				 "current: not your current password");
		return;
	}
	problem = account_password_problem(fresh);
	if (problem == NULL && strcmp(current, fresh) == 0)
		problem = "new: must differ from the current password";
	if (problem != NULL) {
		webui_send_error(c, 400, "invalid", "new", "new %s",
				 strncmp(problem, "password: ", 10) == 0 ? problem + 10 : problem);
		return;
	}
	if (account_set_password(c->w->m->store, c->user, fresh, c->actor, err, sizeof(err)) < 0) {
		webui_send_error(c, 500, "internal", NULL, "%s", err);
		return;
	}
	/* Every other session of this user ends; this one continues under a new id. */
	session_close_user(&c->w->sessions, c->user);
	c->session = NULL;
	s = session_create(&c->w->sessions, c->user, webui_now());
	webui_set_cookie(c, s->id, false);
	webui_send_json(c, 200, webui_session_json(c, s));
}

static void webui_tokens(struct webui_call *c)
{
	struct store_token *tokens = NULL;
	size_t n = 0;
	json_t *list, *j;

	if (store_token_list(c->w->m->store, &tokens, &n) < 0) {
		webui_send_error(c, 500, "internal", NULL, "%s", store_error(c->w->m->store));
		return;
	}
	list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    list, json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)tokens[i].id, "name",
				    tokens[i].name, "user", tokens[i].user, "created_at",
				    (json_int_t)tokens[i].created_at));
	free(tokens);
	j = json_pack("{s:b, s:o}", "ok", 1, "tokens", list);
	webui_send_json(c, 200, j);
}

static void webui_token_add(struct webui_call *c)
{
	static const char *const allowed[] = {"name", NULL};
	char token[ACCOUNT_TOKEN_TEXT];
	const char *name;
	int64_t id = 0;
	int ret;

	if (!webui_body_only(c, allowed) || !webui_body_string(c, "name", &name))
		return;
	ret = account_token_create(c->w->m->store, c->user, name, c->actor, token, &id);
	if (ret == -EINVAL) {
		webui_send_error(c, 400, "invalid", "name", "%s", store_error(c->w->m->store));
		return;
	}
	if (ret < 0) {
		webui_send_error(c, 500, "internal", NULL, "%s", store_error(c->w->m->store));
		return;
	}
	webui_send_json(c, 201,
			json_pack("{s:b, s:I, s:s, s:s}", "ok", 1, "id", (json_int_t)id, "name",
				  name, "token", token));
	sodium_memzero(token, sizeof(token));
}

static void webui_token_del(struct webui_call *c)
{
	int ret = store_token_delete(c->w->m->store, c->route.object, c->actor);

	if (ret == -ENOENT)
		webui_send_error(c, 404, "not_found", "id", "%s", store_error(c->w->m->store));
	else if (ret < 0)
		webui_send_error(c, 500, "internal", NULL, "%s", store_error(c->w->m->store));
	else
		webui_send_json(c, 200, json_pack("{s:b}", "ok", 1));
}

/* Proxies: writes must name the version they were based on, so a stale one gets a 409. */
static void webui_proxy_write(struct webui_call *c, const char *cmd)
{
	json_t *request = webui_command(c, cmd, true);

	if (request == NULL)
		return;
	if (strcmp(cmd, "proxy.del") == 0) {
		static const char *const allowed[] = {"version", NULL};

		if (!webui_query_known(c, allowed) || !webui_query_int(c, "version", request)) {
			json_decref(request);
			return;
		}
	}
	if (strcmp(cmd, "proxy.add") != 0 && json_object_get(request, "version") == NULL) {
		json_decref(request);
		webui_send_error(c, 400, "invalid", "version",
				 "version: required (the version of the proxy you changed)");
		return;
	}
	webui_run(c, request, strcmp(cmd, "proxy.add") == 0 ? 201 : 200);
}

static void webui_setting_set(struct webui_call *c)
{
	static const char *const allowed[] = {"value", NULL};
	json_t *request;

	if (!webui_body_only(c, allowed))
		return;
	request = webui_command(c, "settings.set", true);
	if (request == NULL)
		return;
	json_object_set_new(request, "key", json_string(c->route.key));
	webui_run(c, request, 200);
}

static void webui_query_command(struct webui_call *c, const char *cmd, const char *const *allowed,
				bool integers)
{
	json_t *request;

	if (!webui_query_known(c, allowed))
		return;
	request = webui_command(c, cmd, false);
	for (size_t i = 0; allowed[i] != NULL; i++) {
		const char *v = evhttp_find_header(&c->query, allowed[i]);

		if (v == NULL)
			continue;
		if (integers) {
			if (!webui_query_int(c, allowed[i], request)) {
				json_decref(request);
				return;
			}
		} else {
			json_object_set_new(request, allowed[i], json_string(v));
		}
	}
	webui_run(c, request, 200);
}

/*
 * The proxy's set-up script as a file to save (?mode=kernel|decap): the
 * same text droverctl proxy setup-script prints.
 */
static void webui_proxy_script(struct webui_call *c)
{
	static const char *const allowed[] = {"mode", NULL};
	json_t *request, *reply;
	struct evbuffer *buf;
	const char *mode, *text, *name;
	char disposition[160];

	if (!webui_query_known(c, allowed))
		return;
	request = webui_command(c, "proxy.setup_script", false);
	mode = evhttp_find_header(&c->query, "mode");
	if (mode != NULL)
		json_object_set_new(request, "mode", json_string(mode));
	reply = api_handle(c->w->m, request, c->actor);
	json_decref(request);
	text = json_string_value(json_object_get(reply, "script"));
	name = json_string_value(json_object_get(reply, "filename"));
	if (text == NULL || name == NULL || (buf = evbuffer_new()) == NULL) {
		webui_send_api(c, reply, 200);
		return;
	}
	webui_headers(c, "text/x-shellscript; charset=utf-8");
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", name);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Disposition",
			  disposition);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-store");
	evbuffer_add(buf, text, strlen(text));
	evhttp_send_reply(c->req, 200, "OK", buf);
	evbuffer_free(buf);
	json_decref(reply);
}

static bool webui_is_loopback(const char *peer)
{
	return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
	       strncmp(peer, "::ffff:127.", 11) == 0;
}

static void webui_metrics(struct webui_call *c)
{
	enum metrics_access access = (enum metrics_access)c->w->m->settings.metrics_access;
	bool signed_in = c->session != NULL || c->token;
	json_t *request, *stats;
	struct evbuffer *buf;
	char *text;

	if (access == METRICS_ACCESS_AUTH ||
	    (access == METRICS_ACCESS_LOCAL && !webui_is_loopback(c->peer))) {
		if (!signed_in) {
			webui_send_error(c, 401, "unauthorized", NULL,
					 "/metrics needs an API token from here (metrics_access)");
			return;
		}
	}
	request = json_pack("{s:s}", "cmd", "stats");
	stats = api_handle(c->w->m, request, "metrics");
	json_decref(request);
	text = metrics_render(stats, DROVER_VERSION);
	json_decref(stats);
	if (text == NULL) {
		webui_send_error(c, 500, "internal", NULL, "out of memory");
		return;
	}
	buf = evbuffer_new();
	webui_headers(c, METRICS_CONTENT_TYPE);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-store");
	if (buf != NULL)
		evbuffer_add(buf, text, strlen(text));
	free(text);
	evhttp_send_reply(c->req, 200, "OK", buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

static void webui_asset(struct webui_call *c, const char *path)
{
	const struct asset *a = assets_find(path);
	struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
	const char *match;
	struct evbuffer *buf;

	if (a == NULL) {
		webui_send_error(c, 404, "not_found", NULL, "no such page");
		return;
	}
	webui_headers(c, a->content_type);
	/* File names carry no hash, so the browser revalidates each time; a match costs a 304. */
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_add_header(out, "ETag", a->etag);
	match = evhttp_find_header(evhttp_request_get_input_headers(c->req), "If-None-Match");
	if (match != NULL && strcmp(match, a->etag) == 0) {
		evhttp_send_reply(c->req, 304, "Not Modified", NULL);
		return;
	}
	buf = evbuffer_new();
	if (buf != NULL)
		evbuffer_add_reference(buf, a->data, a->len, NULL, NULL);
	evhttp_send_reply(c->req, 200, "OK", buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

static void webui_dispatch(struct webui_call *c)
{
	static const char *const lookup_params[] = {"client", NULL};
	static const char *const audit_params[] = {"before", "limit", NULL};
	static const char *const none[] = {NULL};

	switch (c->route.id) {
	case ROUTE_LOGIN:
		webui_login(c);
		return;
	case ROUTE_LOGOUT:
		webui_logout(c);
		return;
	case ROUTE_SESSION:
		/* Answered even when signed out, so the page can ask without an error. */
		if (c->session == NULL && !c->token)
			webui_send_json(c, 200,
					json_pack("{s:b, s:b, s:s}", "ok", 1, "signed_in", 0,
						  "version", DROVER_VERSION));
		else
			webui_send_json(c, 200, webui_session_json(c, c->session));
		return;
	case ROUTE_PASSWORD:
		webui_password(c);
		return;
	case ROUTE_TOKENS:
		webui_tokens(c);
		return;
	case ROUTE_TOKEN_ADD:
		webui_token_add(c);
		return;
	case ROUTE_TOKEN_DEL:
		webui_token_del(c);
		return;
	case ROUTE_PROXIES:
		webui_query_command(c, "proxy.list", none, false);
		return;
	case ROUTE_PROXY_GET:
		webui_query_command(c, "proxy.get", none, false);
		return;
	case ROUTE_PROXY_ADD:
		webui_proxy_write(c, "proxy.add");
		return;
	case ROUTE_PROXY_SET:
		webui_proxy_write(c, "proxy.set");
		return;
	case ROUTE_PROXY_SCRIPT:
		webui_proxy_script(c);
		return;
	case ROUTE_PROXY_DEL:
		webui_proxy_write(c, "proxy.del");
		return;
	case ROUTE_STATS:
		webui_query_command(c, "stats", none, false);
		return;
	case ROUTE_HISTORY:
		if (webui_query_known(c, none)) {
			json_t *h = history_json(&c->w->history);

			json_object_set_new(h, "ok", json_true());
			webui_send_json(c, 200, h);
		}
		return;
	case ROUTE_SETTINGS:
		webui_query_command(c, "settings.list", none, false);
		return;
	case ROUTE_SETTING_GET: {
		json_t *request = webui_command(c, "settings.get", false);

		json_object_set_new(request, "key", json_string(c->route.key));
		webui_run(c, request, 200);
		return;
	}
	case ROUTE_SETTING_SET:
		webui_setting_set(c);
		return;
	case ROUTE_LOOKUP:
		webui_query_command(c, "lookup", lookup_params, false);
		return;
	case ROUTE_AUDIT:
		webui_query_command(c, "audit", audit_params, true);
		return;
	case ROUTE_RULES:
		webui_query_command(c, "rules", none, false);
		return;
	case ROUTE_METRICS:
		webui_metrics(c);
		return;
	case ROUTE_ASSET:
	case ROUTE_NONE:
		break;
	}
	webui_send_error(c, 404, "not_found", NULL, "no such resource");
}

static unsigned webui_method(enum evhttp_cmd_type type)
{
	switch (type) {
	case EVHTTP_REQ_GET:
		return ROUTE_GET;
	case EVHTTP_REQ_HEAD:
		return ROUTE_HEAD;
	case EVHTTP_REQ_POST:
		return ROUTE_POST;
	case EVHTTP_REQ_PUT:
		return ROUTE_PUT;
	case EVHTTP_REQ_PATCH:
		return ROUTE_PATCH;
	case EVHTTP_REQ_DELETE:
		return ROUTE_DELETE;
	default:
		return 0;
	}
}

static void webui_allow_header(struct webui_call *c, unsigned allowed)
{
	static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
	char text[64] = "";
	size_t used = 0;

	for (unsigned i = 0; i < 6; i++) {
		if (allowed & (1U << i))
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s",
						 used ? ", " : "", names[i]);
	}
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow", text);
}

/*
 * Who is asking: a Bearer token, else the session cookie. A request that
 * presents a bad token is not quietly treated as anonymous: it is refused.
 */
static bool webui_identify(struct webui_call *c)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *auth = evhttp_find_header(in, "Authorization");
	char id[SESSION_ID_HEX + 1];

	if (auth != NULL) {
		struct store_token t;

		if (strncasecmp(auth, "Bearer ", 7) != 0 ||
		    !account_token_check(c->w->m->store, auth + 7, &t)) {
			webui_send_error(c, 401, "unauthorized", NULL, "invalid API token");
			return false;
		}
		c->token = true;
		snprintf(c->user, sizeof(c->user), "%s", t.user);
		snprintf(c->actor, sizeof(c->actor), "token:%s", t.name);
		return true;
	}
	if (session_cookie_value(evhttp_find_header(in, "Cookie"), SESSION_COOKIE, id, sizeof(id)))
		c->session = session_find(&c->w->sessions, id, webui_now(),
					  c->w->m->settings.session_idle_seconds);
	if (c->session != NULL) {
		snprintf(c->user, sizeof(c->user), "%s", c->session->user);
		snprintf(c->actor, sizeof(c->actor), "webui:%s", c->session->user);
	}
	return true;
}

/*
 * A state change must come from our own pages: the Origin (sent by browsers
 * on every POST, PUT, PATCH and DELETE) must be this server, and a browser
 * session must echo its CSRF token. API tokens are not sent by browsers on
 * their own, so they need no CSRF token.
 */
static bool webui_same_origin(struct webui_call *c)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *origin = evhttp_find_header(in, "Origin");
	const char *host = evhttp_find_header(in, "Host");
	const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
	char want[300];

	if (origin != NULL) {
		snprintf(want, sizeof(want), "%s://%s", c->w->https ? "https" : "http",
			 host ? host : "");
		if (host == NULL || strcmp(origin, want) != 0) {
			webui_send_error(c, 403, "forbidden", NULL, "foreign origin `%s' refused",
					 origin);
			return false;
		}
	}
	if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
		webui_send_error(c, 403, "forbidden", NULL, "cross-site request refused");
		return false;
	}
	if (c->session != NULL && c->route.id != ROUTE_LOGIN &&
	    !session_token_equal(evhttp_find_header(in, "X-CSRF-Token"), c->session->csrf)) {
		webui_send_error(c, 403, "forbidden", NULL, "missing or wrong X-CSRF-Token");
		return false;
	}
	return true;
}

/* Parses the body as one JSON object; false with the error sent. */
static bool webui_read_body(struct webui_call *c)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t len = evbuffer_get_length(in);
	const char *type;
	json_error_t jerr;
	unsigned char *data;

	if (len == 0)
		return true;
	type = evhttp_find_header(evhttp_request_get_input_headers(c->req), "Content-Type");
	/* Only JSON: an HTML form (which a foreign page can post) cannot send it. */
	if (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
	    (type[16] != '\0' && type[16] != ';')) {
		webui_send_error(c, 415, "invalid", NULL, "the body must be application/json");
		return false;
	}
	data = evbuffer_pullup(in, (ev_ssize_t)len);
	c->body = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (c->body == NULL) {
		webui_send_error(c, 400, "invalid", NULL, "invalid JSON at line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
		return false;
	}
	if (!json_is_object(c->body)) {
		webui_send_error(c, 400, "invalid", NULL, "the body must be a JSON object");
		return false;
	}
	return true;
}

static void webui_peer(struct webui_call *c)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (conn != NULL)
		evhttp_connection_get_peer(conn, &addr, &port);
	snprintf(c->peer, sizeof(c->peer), "%s", addr ? addr : "unknown");
}

static void webui_on_request(struct evhttp_request *req, void *arg)
{
	struct webui_call c = {.w = arg, .req = req};
	const struct evhttp_uri *uri;
	const char *path, *query;

	TAILQ_INIT(&c.query);
	deadline_request_done(&c.w->deadlines, req);
	/* libevent hands over requests it refused while reading (too large, malformed). */
	if (evhttp_request_get_uri(req) == NULL) {
		int code = evhttp_request_get_response_code(req);

		if (code == 413)
			webui_send_error(&c, 413, "invalid", NULL, "request too large");
		else
			webui_send_error(&c, 400, "invalid", NULL, "malformed request");
		return;
	}
	webui_peer(&c);
	c.method = webui_method(evhttp_request_get_command(req));
	uri = evhttp_request_get_evhttp_uri(req);
	path = uri ? evhttp_uri_get_path(uri) : NULL;
	query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (path == NULL || path[0] != '/') {
		webui_send_error(&c, 400, "invalid", NULL, "malformed request target");
		return;
	}
	if (query != NULL && evhttp_parse_query_str(query, &c.query) < 0) {
		webui_send_error(&c, 400, "invalid", NULL, "malformed query string");
		return;
	}
	if (!route_match(c.method, path, &c.route)) {
		if (c.route.allowed != 0) {
			webui_allow_header(&c, c.route.allowed);
			webui_send_error(&c, 405, "invalid", NULL, "method not allowed here");
		} else {
			webui_send_error(&c, 404, "not_found", NULL, "no such resource");
		}
		goto done;
	}
	if (c.route.id == ROUTE_ASSET) {
		webui_asset(&c, path);
		goto done;
	}
	if (!webui_identify(&c))
		goto done;
	if ((c.route.flags & ROUTE_AUTH) && c.session == NULL && !c.token) {
		webui_send_error(&c, 401, "unauthorized", NULL, "sign in first");
		goto done;
	}
	if ((c.route.flags & ROUTE_WRITE) && !webui_same_origin(&c))
		goto done;
	if (c.session != NULL && c.session->must_change && !(c.route.flags & ROUTE_PWCHANGE_OK) &&
	    c.route.id != ROUTE_METRICS) {
		webui_send_error(&c, 403, "password_change_required", NULL,
				 "change the initial password first");
		goto done;
	}
	if (!webui_read_body(&c))
		goto done;
	webui_dispatch(&c);
done:
	json_decref(c.body);
	evhttp_clear_headers(&c.query);
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
	if (history_record(&w->history, (int64_t)time(NULL), json_object_get(reply, "proxies")) < 0)
		log_warnx("web UI: out of memory recording hit history");
	json_decref(reply);
}

/*
 * The 408 for a request that did not arrive in time. Written by hand, as
 * evhttp has no request object to answer with; the connection closes after
 * it, as the rest of the request may still be on its way.
 */
static void webui_on_late(struct evbuffer *out, void *arg)
{
	struct webui *w = arg;
	struct evkeyvalq headers;
	struct evkeyval *kv;
	char length[24], msg[96];
	char *text;
	json_t *j;

	snprintf(msg, sizeof(msg), "the request did not arrive whole within %d seconds",
		 WEBUI_REQUEST_SECS);
	j = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "kind", "timeout");
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	TAILQ_INIT(&headers);
	webui_security_headers(w, &headers);
	evhttp_add_header(&headers, "Content-Type", WEBUI_JSON_TYPE);
	evhttp_add_header(&headers, "Cache-Control", "no-store");
	evhttp_add_header(&headers, "Connection", "close");
	snprintf(length, sizeof(length), "%zu", text ? strlen(text) + 1 : 0);
	evhttp_add_header(&headers, "Content-Length", length);
	evbuffer_add_printf(out, "HTTP/1.1 408 %s\r\n", webui_reason(408));
	TAILQ_FOREACH(kv, &headers, next)
	{
		evbuffer_add_printf(out, "%s: %s\r\n", kv->key, kv->value);
	}
	evbuffer_add(out, "\r\n", 2);
	if (text != NULL)
		evbuffer_add_printf(out, "%s\n", text);
	free(text);
	evhttp_clear_headers(&headers);
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

struct webui *webui_start(struct event_base *base, struct manager *m, const char *db_path,
			  char *err, size_t errlen)
{
	const struct settings *s = &m->settings;
	struct timeval every = {HISTORY_INTERVAL_SECS, 0};
	char host[INET_ADDRSTRLEN], dir[PATH_MAX];
	struct in_addr a;
	const char *slash;
	uint16_t port;
	struct webui *w;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		return NULL;
	}
	if (!settings_parse_listen(s->http_listen, &a.s_addr, &port)) {
		snprintf(err, errlen, "http_listen: invalid `%s'", s->http_listen);
		return NULL;
	}
	inet_ntop(AF_INET, &a, host, sizeof(host));
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->m = m;
	w->https = s->https;
	deadline_init(&w->deadlines, WEBUI_REQUEST_SECS, webui_on_late, w);
	slash = strrchr(db_path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - db_path) : 1,
		 slash ? db_path : ".");
	if (w->https) {
		w->ssl = tls_context_new(s->tls_cert, s->tls_key, dir, err, errlen);
		if (w->ssl == NULL)
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
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
						EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |
						EVHTTP_REQ_DELETE);
	evhttp_set_gencb(w->http, webui_on_request, w);
	evhttp_set_bevcb(w->http, webui_on_connection, w);
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
	if (w->http != NULL)
		evhttp_free(w->http);
	deadline_clear(&w->deadlines);
	if (w->ssl != NULL)
		SSL_CTX_free(w->ssl);
	history_free(&w->history);
	sodium_memzero(&w->sessions, sizeof(w->sessions));
	free(w);
}
