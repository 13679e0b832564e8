/*
 * webui_asset.c - the admin UI's static files (assets.h), compiled into
 * droverd and revalidated by ETag.
 */
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "assets.h"
#include "webui_private.h"

/* GET / and /name.ext: the file, 304 when the browser holds it already, 404 when unknown. */
void webui_asset_serve(struct webui_call *c)
{
	const struct asset *a = assets_find(c->path);
	struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
	const char *match;
	struct evbuffer *buf;

	if (a == NULL) {
		webui_http_send_error(c, 404, "not_found", NULL, "no such page");
		return;
	}
	webui_http_headers(c, a->content_type);
	/* File names carry no hash, so the browser revalidates each time; a match costs a 304. */
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_add_header(out, "ETag", a->etag);
	match = evhttp_find_header(evhttp_request_get_input_headers(c->req), "If-None-Match");
	if (match != NULL && strcmp(match, a->etag) == 0) {
		webui_http_send_body(c, 304, NULL);
		return;
	}
	buf = evbuffer_new();
	if (buf != NULL)
		evbuffer_add_reference(buf, a->data, a->len, NULL, NULL);
	webui_http_send_body(c, 200, buf);
	if (buf != NULL)
		evbuffer_free(buf);
}
