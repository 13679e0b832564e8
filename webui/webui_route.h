/*
 * webui_route.h - the web server's URL map: one table whose every entry is a
 * route (methods and path pattern), what it demands of the caller (a
 * signed-in user, a same-origin write), the API command it runs when it maps
 * onto one, and the handler that answers it. Matching is pure: no I/O, so a
 * unit test or a fuzzer can walk the whole table.
 */
#ifndef DROVER_WEBUI_ROUTE_H
#define DROVER_WEBUI_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum route_method {
	ROUTE_GET = 1U << 0,
	ROUTE_HEAD = 1U << 1,
	ROUTE_POST = 1U << 2,
	ROUTE_PUT = 1U << 3,
	ROUTE_PATCH = 1U << 4,
	ROUTE_DELETE = 1U << 5,
};

#define ROUTE_METHODS 6 /* bits of enum route_method */

/* What a route asks of the caller before its handler runs. */
enum route_flag {
	ROUTE_AUTH = 1U << 0,	     /* a session or an API token */
	ROUTE_SAME_ORIGIN = 1U << 1, /* changes state: from this server's own pages only */
	ROUTE_CSRF = 1U << 2,	     /* a browser session must echo its CSRF token */
	ROUTE_PWCHANGE_OK = 1U << 3, /* allowed while the password must still be changed */
	ROUTE_STATIC = 1U << 4,	     /* a static file: answered before the caller is identified */
};

#define ROUTE_KEY_MAX 64

/* One request on its way through the checks (webui_private.h). */
struct webui_call;

/* Answers a request that reached its route and passed the route's checks. */
typedef void webui_route_handler(struct webui_call *c);

struct webui_route {
	unsigned methods; /* enum route_method */
	/*
	 * Segments of the path; "{id}" is a decimal id >= 1, "{key}" a setting
	 * key, "{file}" a static file name ("" or "name.ext").
	 */
	const char *pattern;
	unsigned flags;		   /* enum route_flag */
	const char *command;	   /* the API command it runs (api.h), or NULL */
	const char *const *params; /* the query parameters it takes, NULL-terminated, or NULL */
	webui_route_handler *handler;
};

struct webui_route_match {
	const struct webui_route *route; /* NULL when nothing matched */
	int64_t object;			 /* the {id} of the path, when it has one */
	char key[ROUTE_KEY_MAX];	 /* the {key} of the path, when it has one */
	unsigned allowed; /* for a 405: the methods this path takes (enum route_method) */
};

/*
 * Matches method (one enum route_method bit) and path (no query string).
 * Returns true with *out filled; false with out->route NULL, and
 * out->allowed non-zero when the path exists under other methods (405) or
 * zero when it does not (404).
 */
bool webui_route_match(unsigned method, const char *path, struct webui_route_match *out);

/* The whole table, *count entries, in the order it is matched. */
const struct webui_route *webui_route_table(size_t *count);

#endif
