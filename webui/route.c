/* route.c - the web server's URL map. */
#include "route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct route_entry {
	unsigned methods;
	const char *pattern; /* "{id}" is a decimal id >= 1, "{key}" a setting key */
	enum route_id id;
	unsigned flags;
};

#define ROUTE_READ	(ROUTE_GET | ROUTE_HEAD)
#define ROUTE_API	ROUTE_AUTH
#define ROUTE_WRITE_API (ROUTE_AUTH | ROUTE_WRITE)

static const struct route_entry route_table[] = {
    {ROUTE_READ, "/metrics", ROUTE_METRICS, 0},
    {ROUTE_POST, "/api/v1/login", ROUTE_LOGIN, ROUTE_WRITE | ROUTE_PWCHANGE_OK},
    {ROUTE_POST, "/api/v1/logout", ROUTE_LOGOUT, ROUTE_WRITE_API | ROUTE_PWCHANGE_OK},
    {ROUTE_READ, "/api/v1/session", ROUTE_SESSION, ROUTE_PWCHANGE_OK},
    {ROUTE_POST, "/api/v1/account/password", ROUTE_PASSWORD, ROUTE_WRITE_API | ROUTE_PWCHANGE_OK},
    {ROUTE_READ, "/api/v1/tokens", ROUTE_TOKENS, ROUTE_API},
    {ROUTE_POST, "/api/v1/tokens", ROUTE_TOKEN_ADD, ROUTE_WRITE_API},
    {ROUTE_DELETE, "/api/v1/tokens/{id}", ROUTE_TOKEN_DEL, ROUTE_WRITE_API},
    {ROUTE_READ, "/api/v1/proxies", ROUTE_PROXIES, ROUTE_API},
    {ROUTE_POST, "/api/v1/proxies", ROUTE_PROXY_ADD, ROUTE_WRITE_API},
    {ROUTE_READ, "/api/v1/proxies/{id}", ROUTE_PROXY_GET, ROUTE_API},
    {ROUTE_PUT | ROUTE_PATCH, "/api/v1/proxies/{id}", ROUTE_PROXY_SET, ROUTE_WRITE_API},
    {ROUTE_DELETE, "/api/v1/proxies/{id}", ROUTE_PROXY_DEL, ROUTE_WRITE_API},
    {ROUTE_READ, "/api/v1/proxies/{id}/setup-script", ROUTE_PROXY_SCRIPT, ROUTE_API},
    {ROUTE_READ, "/api/v1/stats", ROUTE_STATS, ROUTE_API},
    {ROUTE_READ, "/api/v1/history", ROUTE_HISTORY, ROUTE_API},
    {ROUTE_READ, "/api/v1/settings", ROUTE_SETTINGS, ROUTE_API},
    {ROUTE_READ, "/api/v1/settings/{key}", ROUTE_SETTING_GET, ROUTE_API},
    {ROUTE_PUT, "/api/v1/settings/{key}", ROUTE_SETTING_SET, ROUTE_WRITE_API},
    {ROUTE_READ, "/api/v1/lookup", ROUTE_LOOKUP, ROUTE_API},
    {ROUTE_READ, "/api/v1/audit", ROUTE_AUDIT, ROUTE_API},
    {ROUTE_READ, "/api/v1/rules", ROUTE_RULES, ROUTE_API},
};

/* Parses one path segment as a decimal id in 1..INT64_MAX, without sign or leading zero. */
static bool route_parse_id(const char *seg, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 18 || seg[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (seg[i] < '0' || seg[i] > '9')
			return false;
		v = v * 10 + (seg[i] - '0');
	}
	*out = v;
	return true;
}

static bool route_parse_key(const char *seg, size_t len, char *out)
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

/* Compares path with pattern segment by segment, filling the placeholders into m. */
static bool route_path_matches(const char *pattern, const char *path, struct route_match *m)
{
	while (*pattern != '\0') {
		const char *pend = strchr(pattern, '/');
		const char *send = strchr(path, '/');
		size_t plen, slen;

		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		pend = strchr(pattern, '/');
		send = strchr(path, '/');
		plen = pend ? (size_t)(pend - pattern) : strlen(pattern);
		slen = send ? (size_t)(send - path) : strlen(path);
		if (plen == 4 && strncmp(pattern, "{id}", 4) == 0) {
			if (!route_parse_id(path, slen, &m->object))
				return false;
		} else if (plen == 5 && strncmp(pattern, "{key}", 5) == 0) {
			if (!route_parse_key(path, slen, m->key))
				return false;
		} else if (plen != slen || strncmp(pattern, path, plen) != 0) {
			return false;
		}
		pattern += plen;
		path += slen;
	}
	return *path == '\0';
}

/* Static assets: the page itself and files of the form /name.ext, served read-only. */
static bool route_is_asset(const char *path)
{
	if (strcmp(path, "/") == 0)
		return true;
	if (path[0] != '/' || strchr(path + 1, '/') != NULL || strstr(path, "..") != NULL)
		return false;
	return strchr(path + 1, '.') != NULL;
}

bool route_match(unsigned method, const char *path, struct route_match *out)
{
	memset(out, 0, sizeof(*out));
	if (path == NULL)
		return false;
	for (size_t i = 0; i < sizeof(route_table) / sizeof(route_table[0]); i++) {
		const struct route_entry *e = &route_table[i];
		struct route_match m;

		memset(&m, 0, sizeof(m));
		if (!route_path_matches(e->pattern, path, &m))
			continue;
		out->allowed |= e->methods;
		if ((e->methods & method) == 0)
			continue;
		m.id = e->id;
		m.flags = e->flags;
		m.allowed = out->allowed;
		*out = m;
		return true;
	}
	if (out->allowed == 0 && route_is_asset(path)) {
		out->allowed = ROUTE_READ;
		if (method & ROUTE_READ) {
			out->id = ROUTE_ASSET;
			return true;
		}
	}
	return false;
}
