/*
 * webui_request.c - one request from arrival to answer, in order: what
 * libevent refused while reading, the peer, the Host check, the target and
 * query, the route (404/405), then for every route but static files who is
 * asking and whether they may (webui_auth.c), the JSON body, and the route's
 * handler. It sits above webui_auth.c and webui_http.c, which it calls.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "webui.h"
#include "webui_private.h"

/* Parses the body as one JSON object; false with the error sent. */
static bool webui_request_read_body(struct webui_call *c)
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

static unsigned webui_request_method(enum evhttp_cmd_type type)
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
static void webui_request_allow_header(struct webui_call *c, unsigned allowed)
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

static void webui_request_peer(struct webui_call *c)
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
static bool webui_request_route(struct webui_call *c)
{
	if (webui_route_match(c->method, c->path, &c->route))
		return true;
	if (c->route.allowed != 0) {
		webui_request_allow_header(c, c->route.allowed);
		webui_http_send_error(c, 405, "invalid", NULL, "method not allowed here");
	} else {
		webui_http_send_error(c, 404, "not_found", NULL, "no such resource");
	}
	return false;
}

void webui_request_handle(struct evhttp_request *req, void *arg)
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
	webui_request_peer(&c);
	c.method = webui_request_method(evhttp_request_get_command(req));
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
	if (!webui_request_route(&c))
		goto done;
	/* A static file is the same for everyone: no one is identified, no body read. */
	if (!(c.route.route->flags & ROUTE_STATIC) &&
	    (!webui_auth_admit(&c) || !webui_request_read_body(&c)))
		goto done;
	c.route.route->handler(&c);
done:
	json_decref(c.body);
	evhttp_clear_headers(&c.query);
}
