/*
 * route.h - the web server's URL map: which handler a method and path reach,
 * and what that route demands (a signed-in user, a write). Pure: no I/O, so
 * a unit test can walk the whole table.
 */
#ifndef DROVER_ROUTE_H
#define DROVER_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

enum route_method {
	ROUTE_GET = 1U << 0,
	ROUTE_HEAD = 1U << 1,
	ROUTE_POST = 1U << 2,
	ROUTE_PUT = 1U << 3,
	ROUTE_PATCH = 1U << 4,
	ROUTE_DELETE = 1U << 5,
};

enum route_id {
	ROUTE_NONE,
	ROUTE_ASSET,
	ROUTE_METRICS,
	ROUTE_LOGIN,
	ROUTE_LOGOUT,
	ROUTE_SESSION,
	ROUTE_PASSWORD,
	ROUTE_TOKENS,
	ROUTE_TOKEN_ADD,
	ROUTE_TOKEN_DEL,
	ROUTE_PROXIES,
	ROUTE_PROXY_ADD,
	ROUTE_PROXY_GET,
	ROUTE_PROXY_SET,
	ROUTE_PROXY_DEL,
	ROUTE_PROXY_SCRIPT,
	ROUTE_STATS,
	ROUTE_HISTORY,
	ROUTE_SETTINGS,
	ROUTE_SETTING_GET,
	ROUTE_SETTING_SET,
	ROUTE_LOOKUP,
	ROUTE_AUDIT,
	ROUTE_RULES,
};

/* What a route asks of the caller before its handler runs. */
enum route_flag {
	ROUTE_AUTH = 1U << 0,	     /* a session or an API token */
	ROUTE_WRITE = 1U << 1,	     /* changes state: CSRF token and same origin */
	ROUTE_PWCHANGE_OK = 1U << 2, /* allowed while the password must still be changed */
};

#define ROUTE_KEY_MAX 64

struct route_match {
	enum route_id id;
	unsigned flags;		 /* enum route_flag */
	int64_t object;		 /* the {id} of the path, when it has one */
	char key[ROUTE_KEY_MAX]; /* the {key} of the path, when it has one */
	unsigned allowed;	 /* for a 405: the methods this path takes (enum route_method) */
};

/*
 * Matches method (one enum route_method bit) and path (no query string).
 * Returns true with *out filled; false when nothing matches, with
 * out->allowed non-zero when the path exists under other methods (405) and
 * zero when it does not (404).
 */
bool route_match(unsigned method, const char *path, struct route_match *out);

#endif
