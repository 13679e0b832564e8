/*
 * webui_http.c - the HTTP plumbing the route handlers share: query and body
 * fields, and every kind of answer (JSON, error documents, the hand-written
 * 408), each with the security headers.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
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
	case 204:
		return "No Content";
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
