/*
 * webui_auth.c - who is asking and whether they may: the Host a request
 * names, the Bearer token or session cookie of a request, the same-origin
 * and CSRF checks of a state change. Sign-in lives in webui_signin.c, the
 * API token routes in webui_token.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "account.h"
#include "clock.h"
#include "manager.h"
#include "webui_private.h"

#define WEBUI_AUTH_BEARER     "Bearer "
#define WEBUI_AUTH_ORIGIN_MAX 300 /* bytes of the Origin this server expects */

/* A Host header's name: a DNS name, an IPv4 address or a bracketed IPv6 one. */
#define WEBUI_AUTH_HOST_MAX	 (SETTINGS_HOST_NAME_MAX + 2)
#define WEBUI_AUTH_PORT_DIGITS	 5
#define WEBUI_AUTH_SHOWN_HOST	 80 /* characters of a refused Host an error quotes */
#define WEBUI_AUTH_TIME_TEXT_MAX 32 /* "2025-01-31T12:00:00Z" */

/* The names every appliance answers to: the loopback a tunnel or a local browser uses. */
static const char *const webui_auth_loopback_names[] = {"localhost", "127.0.0.1", "[::1]", NULL};

/* The store, for account.h only: webui never reads it itself. */
struct store *webui_auth_store(const struct webui *w)
{
	return manager_store(w->m);
}

/*
 * Splits a Host header ("name", "name:port", "[v6]:port") into its name,
 * lower case, without a trailing dot; false when it is malformed.
 */
static bool webui_auth_host_name(const char *host, char *name, size_t len)
{
	const char *close = host[0] == '[' ? strchr(host, ']') : NULL;
	size_t n = close ? (size_t)(close - host) + 1 : strcspn(host, ":");
	const char *port = host + n;

	if (host[0] == '[' && close == NULL)
		return false;
	if (*port == ':') {
		size_t digits = strspn(port + 1, "0123456789");

		if (digits == 0 || digits > WEBUI_AUTH_PORT_DIGITS || port[1 + digits] != '\0' ||
		    atoi(port + 1) > UINT16_MAX)
			return false;
	} else if (*port != '\0') {
		return false;
	}
	if (n > 1 && host[n - 1] == '.')
		n--;
	if (n == 0 || n >= len)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)host[i];

		if (ch <= ' ' || ch >= 0x7f)
			return false;
		name[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
	}
	name[n] = '\0';
	return true;
}

/* True when name is one item of list, a web_hosts value (comma-separated). */
static bool webui_auth_host_listed(const char *name, const char *list)
{
	size_t len = strlen(name);

	for (const char *item = list; *item != '\0';) {
		size_t n = strcspn(item, ",");

		if (n == len && strncasecmp(item, name, n) == 0)
			return true;
		item += n;
		if (*item == ',')
			item++;
	}
	return false;
}

/* The address the request arrived at, as a Host would name it; "" when unknown. */
static void webui_auth_local_address(struct webui_call *c, char *out, size_t len)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char text[INET6_ADDRSTRLEN];

	out[0] = '\0';
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
		return;
	if (ss.ss_family == AF_INET &&
	    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text)))
		snprintf(out, len, "%s", text);
	else if (ss.ss_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof(text)))
		snprintf(out, len, "[%s]", text);
}

/*
 * Whether name is one this server goes by: the loopback names, the listen
 * address, the address the connection reached, or one the operator listed
 * in web_hosts. The port is not compared: SSH tunnels and port forwards
 * change it, and it is the name a rebinding attacker controls.
 */
static bool webui_auth_host_known(struct webui_call *c, const char *name)
{
	const struct settings *s = manager_settings(c->w->m);
	char local[INET6_ADDRSTRLEN + 2];
	struct in_addr listen;
	uint16_t port;

	for (size_t i = 0; webui_auth_loopback_names[i] != NULL; i++) {
		if (strcmp(name, webui_auth_loopback_names[i]) == 0)
			return true;
	}
	if (settings_parse_listen(s->http_listen, &listen.s_addr, &port) &&
	    listen.s_addr != htonl(INADDR_ANY) &&
	    inet_ntop(AF_INET, &listen, local, sizeof(local)) && strcmp(name, local) == 0)
		return true;
	webui_auth_local_address(c, local, sizeof(local));
	if (local[0] != '\0' && strcmp(name, local) == 0)
		return true;
	return webui_auth_host_listed(name, s->web_hosts);
}

bool webui_auth_host(struct webui_call *c)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *host = NULL;
	char name[WEBUI_AUTH_HOST_MAX];
	struct evkeyval *kv;
	unsigned hosts = 0;

	TAILQ_FOREACH(kv, in, next)
	{
		if (strcasecmp(kv->key, "Host") == 0) {
			host = kv->value;
			hosts++;
		}
	}
	/* No browser sends a request without a Host: there is no page to rebind. */
	if (hosts == 0)
		return true;
	if (hosts > 1) {
		webui_http_send_error(c, 400, "invalid", NULL, "more than one Host header");
		return false;
	}
	if (!webui_auth_host_name(host, name, sizeof(name))) {
		webui_http_send_error(c, 400, "invalid", NULL, "malformed Host header");
		return false;
	}
	if (webui_auth_host_known(c, name))
		return true;
	webui_http_send_error(c, 421, "misdirected", NULL,
			      "`%.*s' is not a name of this appliance: to reach the web UI under "
			      "it, add it to the web_hosts setting",
			      WEBUI_AUTH_SHOWN_HOST, name);
	return false;
}

/* Writes unix time t as UTC, ISO 8601 ("2025-01-31T12:00:00Z"). */
static void webui_auth_time_text(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, len, "%lld", (long long)t);
}

/*
 * Who is asking: a Bearer token, else the session cookie. A request that
 * presents a bad token is not quietly treated as anonymous: it is refused.
 */
static bool webui_auth_identify(struct webui_call *c)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *auth = evhttp_find_header(in, "Authorization");
	size_t bearer = strlen(WEBUI_AUTH_BEARER);
	char id[SESSION_ID_HEX + 1];

	if (auth != NULL) {
		struct account_token t;
		char when[WEBUI_AUTH_TIME_TEXT_MAX];
		int ret = strncasecmp(auth, WEBUI_AUTH_BEARER, bearer) != 0
			      ? -ENOENT
			      : account_token_check(webui_auth_store(c->w), auth + bearer,
						    clock_wall_s(), &t);

		if (ret == -EKEYEXPIRED) {
			webui_auth_time_text(t.expires_at, when, sizeof(when));
			webui_http_send_error(c, 401, "unauthorized", NULL,
					      "API token `%s' expired at %s: create a new one",
					      t.name, when);
			return false;
		}
		if (ret < 0) {
			webui_http_send_error(c, 401, "unauthorized", NULL, "invalid API token");
			return false;
		}
		c->token = true;
		snprintf(c->user, sizeof(c->user), "%s", t.user);
		snprintf(c->actor, sizeof(c->actor), "token:%s", t.name);
		return true;
	}
	if (session_cookie_value(evhttp_find_header(in, "Cookie"), SESSION_COOKIE, id, sizeof(id)))
		c->session = session_find(&c->w->sessions, id, (uint64_t)clock_now_s(),
					  manager_settings(c->w->m)->session_idle_seconds);
	if (c->session != NULL) {
		snprintf(c->user, sizeof(c->user), "%s", c->session->user);
		snprintf(c->actor, sizeof(c->actor), "webui:%s", c->session->user);
	}
	return true;
}

/*
 * A state change must come from our own pages: the Origin (sent by browsers
 * on every POST, PUT, PATCH and DELETE) must be this server, and the fetch
 * must not be cross-site.
 */
static bool webui_auth_same_origin(struct webui_call *c)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *origin = evhttp_find_header(in, "Origin");
	const char *host = evhttp_find_header(in, "Host");
	const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
	char want[WEBUI_AUTH_ORIGIN_MAX];

	if (origin != NULL) {
		snprintf(want, sizeof(want), "%s://%s", c->w->https ? "https" : "http",
			 host ? host : "");
		if (host == NULL || strcmp(origin, want) != 0) {
			webui_http_send_error(c, 403, "forbidden", NULL,
					      "foreign origin `%s' refused", origin);
			return false;
		}
	}
	if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
		webui_http_send_error(c, 403, "forbidden", NULL, "cross-site request refused");
		return false;
	}
	return true;
}

/*
 * A browser session must echo its CSRF token. API tokens are not sent by
 * browsers on their own, so they need none.
 */
static bool webui_auth_csrf(struct webui_call *c)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);

	if (c->session != NULL &&
	    !session_token_equal(evhttp_find_header(in, "X-CSRF-Token"), c->session->csrf)) {
		webui_http_send_error(c, 403, "forbidden", NULL, "missing or wrong X-CSRF-Token");
		return false;
	}
	return true;
}

bool webui_auth_admit(struct webui_call *c)
{
	unsigned flags = c->route.route->flags;

	if (!webui_auth_identify(c))
		return false;
	if ((flags & ROUTE_AUTH) && c->session == NULL && !c->token) {
		webui_http_send_error(c, 401, "unauthorized", NULL, "sign in first");
		return false;
	}
	if ((flags & ROUTE_SAME_ORIGIN) && !webui_auth_same_origin(c))
		return false;
	if ((flags & ROUTE_CSRF) && !webui_auth_csrf(c))
		return false;
	if (c->session != NULL && c->session->must_change && !(flags & ROUTE_PWCHANGE_OK)) {
		webui_http_send_error(c, 403, "password_change_required", NULL,
				      "change the initial password first");
		return false;
	}
	return true;
}
