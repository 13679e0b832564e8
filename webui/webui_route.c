/* webui_route.c - the web server's URL map: one table, and the matcher that walks it. */
#include "webui_route.h"

#include <string.h>

#include "webui_private.h"

#define ROUTE_READ	(ROUTE_GET | ROUTE_HEAD)
#define ROUTE_API	ROUTE_AUTH
#define ROUTE_WRITE	(ROUTE_SAME_ORIGIN | ROUTE_CSRF)
#define ROUTE_WRITE_API (ROUTE_AUTH | ROUTE_WRITE)

#define ROUTE_ID_DIGITS_MAX 18 /* so that any id fits an int64_t */

static const char *const webui_route_lookup_params[] = {"client", NULL};
static const char *const webui_route_audit_params[] = {"before", "limit", NULL};
static const char *const webui_route_delete_params[] = {"version", NULL};
static const char *const webui_route_script_params[] = {"mode", NULL};
static const char *const webui_route_snapshot_params[] = {"have", "digest", NULL};

/*
 * Matched in order, first hit wins. Sign-in needs the same origin but no
 * CSRF token (there is no session yet to hold one); /metrics stays readable
 * while the password must still change, as scrapers cannot change it.
 */
static const struct webui_route webui_routes[] = {
    {ROUTE_READ, "/metrics", ROUTE_PWCHANGE_OK, "stats", NULL, webui_api_metrics},
    {ROUTE_POST, "/api/v1/login", ROUTE_SAME_ORIGIN | ROUTE_PWCHANGE_OK, NULL, NULL,
     webui_signin_login},
    {ROUTE_POST, "/api/v1/logout", ROUTE_WRITE_API | ROUTE_PWCHANGE_OK, NULL, NULL,
     webui_signin_logout},
    {ROUTE_READ, "/api/v1/session", ROUTE_PWCHANGE_OK, NULL, NULL, webui_signin_session},
    {ROUTE_POST, "/api/v1/account/password", ROUTE_WRITE_API | ROUTE_PWCHANGE_OK, NULL, NULL,
     webui_signin_password},
    {ROUTE_READ, "/api/v1/tokens", ROUTE_API, NULL, NULL, webui_token_list},
    {ROUTE_POST, "/api/v1/tokens", ROUTE_WRITE_API, NULL, NULL, webui_token_add},
    {ROUTE_DELETE, "/api/v1/tokens/{id}", ROUTE_WRITE_API, NULL, NULL, webui_token_del},
    {ROUTE_READ, "/api/v1/proxies", ROUTE_API, "proxy.list", NULL, webui_api_query},
    {ROUTE_POST, "/api/v1/proxies", ROUTE_WRITE_API, "proxy.add", NULL, webui_api_create},
    {ROUTE_READ, "/api/v1/proxies/{id}", ROUTE_API, "proxy.get", NULL, webui_api_query},
    {ROUTE_PUT | ROUTE_PATCH, "/api/v1/proxies/{id}", ROUTE_WRITE_API, "proxy.set", NULL,
     webui_api_change},
    {ROUTE_DELETE, "/api/v1/proxies/{id}", ROUTE_WRITE_API, "proxy.del", webui_route_delete_params,
     webui_api_change},
    {ROUTE_READ, "/api/v1/proxies/{id}/setup-script", ROUTE_API, "proxy.setup_script",
     webui_route_script_params, webui_api_script},
    {ROUTE_READ, "/api/v1/stats", ROUTE_API, "stats", NULL, webui_api_query},
    {ROUTE_READ, "/api/v1/history", ROUTE_API, NULL, NULL, webui_api_history},
    {ROUTE_READ, "/api/v1/settings", ROUTE_API, "settings.list", NULL, webui_api_query},
    {ROUTE_READ, "/api/v1/settings/{key}", ROUTE_API, "settings.get", NULL, webui_api_read_key},
    {ROUTE_PUT, "/api/v1/settings/{key}", ROUTE_WRITE_API, "settings.set", NULL,
     webui_api_write_key},
    {ROUTE_READ, "/api/v1/lookup", ROUTE_API, "lookup", webui_route_lookup_params, webui_api_query},
    {ROUTE_READ, "/api/v1/audit", ROUTE_API, "audit", webui_route_audit_params,
     webui_api_query_numbers},
    {ROUTE_READ, "/api/v1/rules", ROUTE_API, "rules", NULL, webui_api_query},
    {ROUTE_READ, "/api/v1/cluster", ROUTE_API, "cluster", NULL, webui_api_query},
    {ROUTE_POST, "/api/v1/cluster/vrrp", ROUTE_WRITE_API, "cluster.vrrp", NULL,
     webui_api_create_ok},
    {ROUTE_READ, "/api/v1/cluster/snapshot", ROUTE_API, NULL, webui_route_snapshot_params,
     webui_cluster_snapshot},
    {ROUTE_POST, "/api/v1/cluster/deviations", ROUTE_WRITE_API, NULL, NULL,
     webui_cluster_deviations},
    /* Last: the page itself ("/") and files of the form /name.ext, read-only. */
    {ROUTE_READ, "/{file}", ROUTE_STATIC, NULL, NULL, webui_asset_serve},
};

/* Parses one path segment as a decimal id in 1..INT64_MAX, without sign or leading zero. */
static bool webui_route_parse_id(const char *seg, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > ROUTE_ID_DIGITS_MAX || seg[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (seg[i] < '0' || seg[i] > '9')
			return false;
		v = v * 10 + (seg[i] - '0');
	}
	*out = v;
	return true;
}

static bool webui_route_parse_key(const char *seg, size_t len, char *out)
{
	if (len == 0 || len >= ROUTE_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((seg[i] >= 'a' && seg[i] <= 'z') || (seg[i] >= '0' && seg[i] <= '9') ||
		      seg[i] == '_'))
			return false;
	}
	memcpy(out, seg, len);
	out[len] = '\0';
	return true;
}

/*
 * A static file's name: empty (the page itself) or with a dot in it; never
 * "..", so no name can climb out of the asset table.
 */
static bool webui_route_is_file(const char *seg, size_t len)
{
	const char *dot = memchr(seg, '.', len);

	if (len == 0)
		return true;
	if (dot == NULL)
		return false;
	for (size_t i = 0; i + 1 < len; i++) {
		if (seg[i] == '.' && seg[i + 1] == '.')
			return false;
	}
	return true;
}

/* True when the pattern's segment is the placeholder name, "{id}" and the like. */
static bool webui_route_is_placeholder(const char *seg, size_t len, const char *name)
{
	return len == strlen(name) && strncmp(seg, name, len) == 0;
}

/* Compares path with pattern segment by segment, filling the placeholders into m. */
static bool webui_route_path_matches(const char *pattern, const char *path,
				     struct webui_route_match *m)
{
	while (*pattern != '\0') {
		const char *pend, *send;
		size_t plen, slen;

		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		pend = strchr(pattern, '/');
		send = strchr(path, '/');
		plen = pend ? (size_t)(pend - pattern) : strlen(pattern);
		slen = send ? (size_t)(send - path) : strlen(path);
		if (webui_route_is_placeholder(pattern, plen, "{id}")) {
			if (!webui_route_parse_id(path, slen, &m->object))
				return false;
		} else if (webui_route_is_placeholder(pattern, plen, "{key}")) {
			if (!webui_route_parse_key(path, slen, m->key))
				return false;
		} else if (webui_route_is_placeholder(pattern, plen, "{file}")) {
			if (!webui_route_is_file(path, slen))
				return false;
		} else if (plen != slen || strncmp(pattern, path, plen) != 0) {
			return false;
		}
		pattern += plen;
		path += slen;
	}
	return *path == '\0';
}

bool webui_route_match(unsigned method, const char *path, struct webui_route_match *out)
{
	memset(out, 0, sizeof(*out));
	if (path == NULL)
		return false;
	for (size_t i = 0; i < sizeof(webui_routes) / sizeof(webui_routes[0]); i++) {
		const struct webui_route *r = &webui_routes[i];
		struct webui_route_match m;

		memset(&m, 0, sizeof(m));
		if (!webui_route_path_matches(r->pattern, path, &m))
			continue;
		out->allowed |= r->methods;
		if ((r->methods & method) == 0)
			continue;
		m.route = r;
		m.allowed = out->allowed;
		*out = m;
		return true;
	}
	return false;
}

const struct webui_route *webui_route_table(size_t *count)
{
	*count = sizeof(webui_routes) / sizeof(webui_routes[0]);
	return webui_routes;
}
