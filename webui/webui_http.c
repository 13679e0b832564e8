/*
 * webui_http.c - a request from arrival to answer: what libevent refused,
 * the request target and query, the route and its checks, the JSON body,
 * and every kind of answer (JSON, error documents, the hand-written 408),
 * each with the security headers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "webui.h"
#include "webui_private.h"

/*
 * No inline script or style anywhere: the pages load app.js and style.css
 * from here and nothing else. frame-ancestors keeps the UI out of frames.
 */
#define WEBUI_HTTP_CSP                                                                             \
	"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "           \
	"form-action 'self'; frame-ancestors 'none'"

/* The headers every response carries, evhttp's or written by hand. */
static void webui_http_security_headers(const struct webui *w, struct evkeyvalq *h)
{
	evhttp_add_header(h, "Content-Security-Policy", WEBUI_HTTP_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
	if (w->https)
		evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
}

void webui_http_headers(struct webui_call *c, const char *content_type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);

	webui_http_security_headers(c->w, h);
	if (content_type != NULL)
		evhttp_add_header(h, "Content-Type", content_type);
}

/* Digits of a Content-Length. */
#define WEBUI_HTTP_LENGTH_MAX 24

static const char *webui_http_reason(int status)
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
	case 421:
		return "Misdirected Request";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	default:
		return "Error";
	}
}

void webui_http_send_body(struct webui_call *c, int status, struct evbuffer *body)
{
	/*
	 * evhttp writes a HEAD answer's body anyway and drops its length: the
	 * client would read the body as the start of the next answer. So a HEAD
	 * answer says the length a GET would have and sends no body.
	 */
	if (evhttp_request_get_command(c->req) == EVHTTP_REQ_HEAD) {
		char length[WEBUI_HTTP_LENGTH_MAX];

		snprintf(length, sizeof(length), "%zu", body ? evbuffer_get_length(body) : 0);
		evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Length",
				  length);
		body = NULL;
	}
	evhttp_send_reply(c->req, status, webui_http_reason(status), body);
}

void webui_http_send_json(struct webui_call *c, int status, json_t *j)
{
	struct evbuffer *buf = evbuffer_new();
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	webui_http_headers(c, WEBUI_JSON_TYPE);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-store");
	if (buf != NULL && text != NULL) {
		evbuffer_add(buf, text, strlen(text));
		evbuffer_add(buf, "\n", 1);
	}
	free(text);
	webui_http_send_body(c, status, buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

void webui_http_send_error(struct webui_call *c, int status, const char *kind, const char *field,
			   const char *fmt, ...)
{
	char msg[WEBUI_ERROR_MAX];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "kind", kind);
	if (field != NULL)
		json_object_set_new(j, "field", json_string(field));
	webui_http_send_json(c, status, j);
}

/*
 * The 408 for a request that did not arrive in time. Written by hand, as
 * evhttp has no request object to answer with; the connection closes after
 * it, as the rest of the request may still be on its way.
 */
void webui_http_on_late(struct evbuffer *out, void *arg)
{
	const struct webui *w = arg;
	struct evkeyvalq headers;
	struct evkeyval *kv;
	char length[WEBUI_HTTP_LENGTH_MAX], msg[96];
	char *text;
	json_t *j;

	snprintf(msg, sizeof(msg), "the request did not arrive whole within %d seconds",
		 WEBUI_REQUEST_SECS);
	j = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "kind", "timeout");
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	TAILQ_INIT(&headers);
	webui_http_security_headers(w, &headers);
	evhttp_add_header(&headers, "Content-Type", WEBUI_JSON_TYPE);
	evhttp_add_header(&headers, "Cache-Control", "no-store");
	evhttp_add_header(&headers, "Connection", "close");
	snprintf(length, sizeof(length), "%zu", text ? strlen(text) + 1 : 0);
	evhttp_add_header(&headers, "Content-Length", length);
	evbuffer_add_printf(out, "HTTP/1.1 408 %s\r\n", webui_http_reason(408));
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

/* True when name is one of allowed (NULL-terminated; NULL holds none). */
static bool webui_http_listed(const char *name, const char *const *allowed)
{
	for (size_t i = 0; allowed != NULL && allowed[i] != NULL; i++) {
		if (strcmp(name, allowed[i]) == 0)
			return true;
	}
	return false;
}

bool webui_http_query_int(struct webui_call *c, const char *name, json_t *request)
{
	const char *text = evhttp_find_header(&c->query, name);
	char *end;
	long long v;

	if (text == NULL)
		return true;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0) {
		webui_http_send_error(c, 400, "invalid", name, "%s: `%s' is not a whole number",
				      name, text);
		return false;
	}
	json_object_set_new(request, name, json_integer(v));
	return true;
}

bool webui_http_query_known(struct webui_call *c, const char *const *allowed)
{
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, &c->query, next)
	{
		if (!webui_http_listed(kv->key, allowed)) {
			webui_http_send_error(c, 400, "invalid", kv->key, "unknown parameter `%s'",
					      kv->key);
			return false;
		}
	}
	return true;
}

bool webui_http_body_string(struct webui_call *c, const char *key, const char **out)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;

	if (!json_is_string(v)) {
		webui_http_send_error(c, 400, "invalid", key,
				      v ? "%s: expected a string" : "missing field `%s'", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

bool webui_http_body_only(struct webui_call *c, const char *const *allowed)
{
	const char *key;
	json_t *value;

	if (c->body == NULL)
		return true;
	json_object_foreach(c->body, key, value)
	{
		if (!webui_http_listed(key, allowed)) {
			webui_http_send_error(c, 400, "invalid", key, "unknown field `%s'", key);
			return false;
		}
	}
	return true;
}

/* Parses the body as one JSON object; false with the error sent. */
static bool webui_http_read_body(struct webui_call *c)
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
		webui_http_send_error(c, 415, "invalid", NULL, "the body must be application/json");
		return false;
	}
	data = evbuffer_pullup(in, (ev_ssize_t)len);
	c->body = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (c->body == NULL) {
		webui_http_send_error(c, 400, "invalid", NULL,
				      "invalid JSON at line %d column %d: %s", jerr.line,
				      jerr.column, jerr.text);
		return false;
	}
	if (!json_is_object(c->body)) {
		webui_http_send_error(c, 400, "invalid", NULL, "the body must be a JSON object");
		return false;
	}
	return true;
}

static unsigned webui_http_method(enum evhttp_cmd_type type)
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

/* The Allow header of a 405: the methods the path takes, in enum route_method order. */
static void webui_http_allow_header(struct webui_call *c, unsigned allowed)
{
	static const char *const names[ROUTE_METHODS] = {"GET", "HEAD",	 "POST",
							 "PUT", "PATCH", "DELETE"};
	char text[64] = "";
	size_t used = 0;

	for (unsigned i = 0; i < ROUTE_METHODS; i++) {
		if (allowed & (1U << i))
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s",
						 used ? ", " : "", names[i]);
	}
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow", text);
}

static void webui_http_peer(struct webui_call *c)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (conn != NULL)
		evhttp_connection_get_peer(conn, &addr, &port);
	snprintf(c->peer, sizeof(c->peer), "%s", addr ? addr : "unknown");
}

/*
 * Finds the route of c; false with the 404 or 405 sent. A 405 names in
 * Allow the methods the path does take.
 */
static bool webui_http_route(struct webui_call *c)
{
	if (webui_route_match(c->method, c->path, &c->route))
		return true;
	if (c->route.allowed != 0) {
		webui_http_allow_header(c, c->route.allowed);
		webui_http_send_error(c, 405, "invalid", NULL, "method not allowed here");
	} else {
		webui_http_send_error(c, 404, "not_found", NULL, "no such resource");
	}
	return false;
}

void webui_http_on_request(struct evhttp_request *req, void *arg)
{
	struct webui_call c = {.w = arg, .req = req};
	const struct evhttp_uri *uri;
	const char *query;

	TAILQ_INIT(&c.query);
	deadline_request_done(&c.w->deadlines, req);
	/* libevent hands over requests it refused while reading (too large, malformed). */
	if (evhttp_request_get_uri(req) == NULL) {
		int code = evhttp_request_get_response_code(req);

		if (code == 413)
			webui_http_send_error(&c, 413, "invalid", NULL, "request too large");
		else
			webui_http_send_error(&c, 400, "invalid", NULL, "malformed request");
		return;
	}
	webui_http_peer(&c);
	c.method = webui_http_method(evhttp_request_get_command(req));
	/* Before anything is looked up: a page under a foreign name learns nothing. */
	if (!webui_auth_host(&c))
		goto done;
	uri = evhttp_request_get_evhttp_uri(req);
	c.path = uri ? evhttp_uri_get_path(uri) : NULL;
	query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (c.path == NULL || c.path[0] != '/') {
		webui_http_send_error(&c, 400, "invalid", NULL, "malformed request target");
		return;
	}
	if (query != NULL && evhttp_parse_query_str(query, &c.query) < 0) {
		webui_http_send_error(&c, 400, "invalid", NULL, "malformed query string");
		return;
	}
	if (!webui_http_route(&c))
		goto done;
	/* A static file is the same for everyone: no one is identified, no body read. */
	if (!(c.route.route->flags & ROUTE_STATIC) &&
	    (!webui_auth_admit(&c) || !webui_http_read_body(&c)))
		goto done;
	c.route.route->handler(&c);
done:
	json_decref(c.body);
	evhttp_clear_headers(&c.query);
}
