/*
 * webui_api.c - the routes that run an API command: the command named by the
 * route, its "id" and "key" from the path, its other arguments from the query
 * or the JSON body, run through api_handle as the signed-in caller, its reply
 * sent with the status its "kind" stands for. Also the hit history of the
 * dashboard and /metrics, which render the "stats" command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "api.h"
#include "manager.h"
#include "metrics.h"
#include "webui_private.h"

#define WEBUI_API_DISPOSITION_MAX 160 /* bytes of a Content-Disposition header */

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
	/* A replica's refusal: the write belongs on the primary the reply names. */
	if (strcmp(kind, "exists") == 0 || strcmp(kind, "conflict") == 0 ||
	    strcmp(kind, "replica") == 0)
		return 409;
	return 500;
}

/* Sends reply (consumed): ok_status when it succeeded, a refusal always with a "kind". */
static void webui_api_send(struct webui_call *c, json_t *reply, int ok_status)
{
	int status = webui_api_status(reply);

	if (status != 200) {
		if (json_object_get(reply, "kind") == NULL)
			json_object_set_new(reply, "kind", json_string("invalid"));
	} else if (!json_is_true(json_object_get(reply, "dry_run"))) {
		status = ok_status; /* a preview creates nothing: 200, not 201 */
	}
	webui_http_send_json(c, status, reply);
}

/* Runs one api_handle command as the caller; consumes request. */
static void webui_api_run(struct webui_call *c, json_t *request, int ok_status)
{
	json_t *reply = api_handle(c->w->m, request, c->actor);

	json_decref(request);
	webui_api_send(c, reply, ok_status);
}

/*
 * The route's API command, with the body's fields when take_body: "cmd" and
 * "id" come from the route alone, so a body naming them is refused (NULL,
 * 400 sent) like any other unknown field.
 */
static json_t *webui_api_request(struct webui_call *c, bool take_body)
{
	json_t *request = json_object();
	const char *key;
	json_t *value;

	if (take_body && c->body != NULL) {
		json_object_foreach(c->body, key, value)
		{
			if (strcmp(key, "cmd") == 0 || strcmp(key, "id") == 0) {
				webui_http_send_error(c, 400, "invalid", key, "unknown field `%s'",
						      key);
				json_decref(request);
				return NULL;
			}
			json_object_set(request, key, value);
		}
	}
	json_object_set_new(request, "cmd", json_string(c->route.route->command));
	if (c->route.object != 0)
		json_object_set_new(request, "id", json_integer(c->route.object));
	return request;
}

/* A read: the route's query parameters become arguments, as text or as whole numbers. */
static void webui_api_read(struct webui_call *c, bool numbers)
{
	const char *const *params = c->route.route->params;
	json_t *request;

	if (!webui_http_query_known(c, params))
		return;
	request = webui_api_request(c, false);
	for (size_t i = 0; params != NULL && params[i] != NULL; i++) {
		const char *v = evhttp_find_header(&c->query, params[i]);

		if (v == NULL)
			continue;
		if (numbers) {
			if (!webui_http_query_int(c, params[i], request)) {
				json_decref(request);
				return;
			}
		} else {
			json_object_set_new(request, params[i], json_string(v));
		}
	}
	webui_api_run(c, request, 200);
}

/* A read whose query parameters are passed on as text (GET /api/v1/lookup?client=...). */
void webui_api_query(struct webui_call *c)
{
	webui_api_read(c, false);
}

/* A read whose query parameters must be whole numbers (GET /api/v1/audit?limit=...). */
void webui_api_query_numbers(struct webui_call *c)
{
	webui_api_read(c, true);
}

/* A creation from the body's fields: 201 when it succeeds. */
void webui_api_create(struct webui_call *c)
{
	json_t *request = webui_api_request(c, true);

	if (request != NULL)
		webui_api_run(c, request, 201);
}

void webui_api_create_ok(struct webui_call *c)
{
	json_t *request = webui_api_request(c, true);

	if (request != NULL)
		webui_api_run(c, request, 200);
}

/*
 * A change to an existing object, from the body's fields and the route's
 * query parameters (whole numbers). It must name the version it was based
 * on, so that a stale one gets a 409.
 */
void webui_api_change(struct webui_call *c)
{
	const char *const *params = c->route.route->params;
	json_t *request = webui_api_request(c, true);

	if (request == NULL)
		return;
	if (params != NULL) {
		if (!webui_http_query_known(c, params)) {
			json_decref(request);
			return;
		}
		for (size_t i = 0; params[i] != NULL; i++) {
			if (!webui_http_query_int(c, params[i], request)) {
				json_decref(request);
				return;
			}
		}
	}
	if (json_object_get(request, "version") == NULL) {
		json_decref(request);
		webui_http_send_error(c, 400, "invalid", "version",
				      "version: required (the version of the proxy you changed)");
		return;
	}
	webui_api_run(c, request, 200);
}

/* A read of the {key} of the path (GET /api/v1/settings/{key}). */
void webui_api_read_key(struct webui_call *c)
{
	json_t *request = webui_api_request(c, false);

	json_object_set_new(request, "key", json_string(c->route.key));
	webui_api_run(c, request, 200);
}

/* A write of the {key} of the path: the body holds its "value" and nothing else. */
void webui_api_write_key(struct webui_call *c)
{
	static const char *const allowed[] = {"value", NULL};
	json_t *request;

	if (!webui_http_body_only(c, allowed))
		return;
	request = webui_api_request(c, true);
	if (request == NULL)
		return;
	json_object_set_new(request, "key", json_string(c->route.key));
	webui_api_run(c, request, 200);
}

/*
 * The proxy's set-up script as a file to save (?mode=kernel|decap): the
 * same text droverctl proxy setup-script prints. A refusal is a JSON error.
 */
void webui_api_script(struct webui_call *c)
{
	json_t *request, *reply;
	struct evbuffer *buf;
	const char *mode, *text, *name;
	char disposition[WEBUI_API_DISPOSITION_MAX];

	if (!webui_http_query_known(c, c->route.route->params))
		return;
	request = webui_api_request(c, false);
	mode = evhttp_find_header(&c->query, "mode");
	if (mode != NULL)
		json_object_set_new(request, "mode", json_string(mode));
	reply = api_handle(c->w->m, request, c->actor);
	json_decref(request);
	text = json_string_value(json_object_get(reply, "script"));
	name = json_string_value(json_object_get(reply, "filename"));
	if (text == NULL || name == NULL || (buf = evbuffer_new()) == NULL) {
		webui_api_send(c, reply, 200);
		return;
	}
	webui_http_headers(c, "text/x-shellscript; charset=utf-8");
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", name);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Disposition",
			  disposition);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-store");
	evbuffer_add(buf, text, strlen(text));
	webui_http_send_body(c, 200, buf);
	evbuffer_free(buf);
	json_decref(reply);
}

/* GET /api/v1/history: the last hour of hits per proxy (history.h), for the chart. */
void webui_api_history(struct webui_call *c)
{
	json_t *h;

	if (!webui_http_query_known(c, c->route.route->params))
		return;
	/* Indexed by proxy (history.h): work grows with the points held, not their square. */
	h = history_json(&c->w->history);
	if (h == NULL) {
		webui_http_send_error(c, 500, "internal", NULL, "out of memory");
		return;
	}
	json_object_set_new(h, "ok", json_true());
	webui_http_send_json(c, 200, h);
}

static bool webui_api_is_loopback(const char *peer)
{
	return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
	       strncmp(peer, "::ffff:127.", 11) == 0;
}

/*
 * GET /metrics: the route's command rendered for Prometheus. Who may read it
 * without signing in is the metrics_access setting: anyone, the loopback
 * only, or no one.
 */
void webui_api_metrics(struct webui_call *c)
{
	enum metrics_access access = (enum metrics_access)manager_settings(c->w->m)->metrics_access;
	bool signed_in = c->session != NULL || c->token;
	json_t *request, *stats;
	struct evbuffer *buf;
	char *text;

	if (access == METRICS_ACCESS_AUTH ||
	    (access == METRICS_ACCESS_LOCAL && !webui_api_is_loopback(c->peer))) {
		if (!signed_in) {
			webui_http_send_error(
			    c, 401, "unauthorized", NULL,
			    "/metrics needs an API token from here (metrics_access)");
			return;
		}
	}
	request = json_pack("{s:s}", "cmd", c->route.route->command);
	stats = api_handle(c->w->m, request, "metrics");
	json_decref(request);
	text = metrics_render(stats, DROVER_VERSION);
	json_decref(stats);
	if (text == NULL) {
		webui_http_send_error(c, 500, "internal", NULL, "out of memory");
		return;
	}
	buf = evbuffer_new();
	webui_http_headers(c, METRICS_CONTENT_TYPE);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-store");
	if (buf != NULL)
		evbuffer_add(buf, text, strlen(text));
	free(text);
	webui_http_send_body(c, 200, buf);
	if (buf != NULL)
		evbuffer_free(buf);
}
