/*
 * webui_auth.c - who is asking and whether they may: the Host a request
 * names, the Bearer token or session cookie of a request, the same-origin
 * and CSRF checks of a state change, sign-in (throttled per peer),
 * sign-out, the password change, and the API token routes. Accounts, tokens and their audit lines
 * go through account.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sodium.h>

#include "account.h"
#include "clock.h"
#include "log.h"
#include "manager.h"
#include "webui_private.h"

#define WEBUI_AUTH_BEARER	  "Bearer "
#define WEBUI_AUTH_COOKIE_MAX	  256 /* bytes of a Set-Cookie value */
#define WEBUI_AUTH_DETAIL_MAX	  160 /* bytes of an audit line */
#define WEBUI_AUTH_ORIGIN_MAX	  300 /* bytes of the Origin this server expects */
#define WEBUI_AUTH_SHOWN_USER_MAX 64  /* characters of a typed user name an audit line quotes */

/* A Host header's name: a DNS name, an IPv4 address or a bracketed IPv6 one. */
#define WEBUI_AUTH_HOST_MAX	 (SETTINGS_HOST_NAME_MAX + 2)
#define WEBUI_AUTH_PORT_DIGITS	 5
#define WEBUI_AUTH_SHOWN_HOST	 80 /* characters of a refused Host an error quotes */
#define WEBUI_AUTH_SECS_PER_DAY	 86400
#define WEBUI_AUTH_TIME_TEXT_MAX 32 /* "2025-01-31T12:00:00Z" */

/* The names every appliance answers to: the loopback a tunnel or a local browser uses. */
static const char *const webui_auth_loopback_names[] = {"localhost", "127.0.0.1", "[::1]", NULL};

/* The store, for account.h only: webui never reads it itself. */
static struct store *webui_auth_store(const struct webui_call *c)
{
	return manager_store(c->w->m);
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
			      : account_token_check(webui_auth_store(c), auth + bearer,
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

static void webui_auth_set_cookie(struct webui_call *c, const char *value, bool expire)
{
	char cookie[WEBUI_AUTH_COOKIE_MAX];

	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
		 SESSION_COOKIE, value, c->w->https ? "; Secure" : "", expire ? "; Max-Age=0" : "");
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Set-Cookie", cookie);
}

/* The signed-in caller as the page sees it; s is NULL for an API token. */
static json_t *webui_auth_session_json(struct webui_call *c, struct session *s)
{
	json_t *j = json_pack("{s:b, s:b, s:s, s:s, s:b, s:b}", "ok", 1, "signed_in", 1, "user",
			      c->user, "via", s ? "session" : "token", "must_change_password",
			      s ? s->must_change : 0, "https", c->w->https);

	if (s != NULL)
		json_object_set_new(j, "csrf", json_string(s->csrf));
	json_object_set_new(j, "version", json_string(DROVER_VERSION));
	return j;
}

/*
 * POST /api/v1/login {"username", "password"}: a new session (and cookie)
 * at every sign-in; 401 for a wrong pair, 429 while the peer is throttled.
 */
void webui_auth_login(struct webui_call *c)
{
	static const char *const allowed[] = {"username", "password", NULL};
	const char *user, *password;
	struct account_user u;
	struct session *s;
	uint32_t wait;
	char detail[WEBUI_AUTH_DETAIL_MAX];

	if (!webui_http_body_only(c, allowed) || !webui_http_body_string(c, "username", &user) ||
	    !webui_http_body_string(c, "password", &password))
		return;
	if (!throttle_allow(&c->w->throttle, c->peer, (uint64_t)clock_now_s(), &wait)) {
		char after[16];

		snprintf(after, sizeof(after), "%u", wait);
		evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", after);
		webui_http_send_error(c, 429, "throttled", NULL,
				      "too many failed sign-ins from %s: try again in %u seconds",
				      c->peer, wait);
		return;
	}
	if (!account_verify(webui_auth_store(c), user, password, &u)) {
		throttle_failure(&c->w->throttle, c->peer, (uint64_t)clock_now_s());
		snprintf(detail, sizeof(detail), "failed sign-in as %.*s from %s",
			 WEBUI_AUTH_SHOWN_USER_MAX, user, c->peer);
		account_audit(webui_auth_store(c), "webui", "login.failed", detail);
		log_info("web UI: %s", detail);
		webui_http_send_error(c, 401, "unauthorized", NULL, "wrong user name or password");
		return;
	}
	throttle_success(&c->w->throttle, c->peer);
	/* A new id at every sign-in: an id planted before it is worth nothing after. */
	s = session_create(&c->w->sessions, u.name, (uint64_t)clock_now_s());
	s->must_change = u.must_change;
	snprintf(c->user, sizeof(c->user), "%s", u.name);
	snprintf(detail, sizeof(detail), "%s signed in from %s", u.name, c->peer);
	account_audit(webui_auth_store(c), "webui", "login", detail);
	webui_auth_set_cookie(c, s->id, false);
	webui_http_send_json(c, 200, webui_auth_session_json(c, s));
}

/* POST /api/v1/logout: ends the session, if any, and expires its cookie. */
void webui_auth_logout(struct webui_call *c)
{
	if (c->session != NULL)
		session_close(c->session);
	webui_auth_set_cookie(c, "", true);
	webui_http_send_json(c, 200, json_pack("{s:b}", "ok", 1));
}

/*
 * GET /api/v1/session: who is signed in, with the CSRF token of a session.
 * Answered even when signed out, so the page can ask without an error.
 */
void webui_auth_session(struct webui_call *c)
{
	if (c->session == NULL && !c->token)
		webui_http_send_json(c, 200,
				     json_pack("{s:b, s:b, s:s}", "ok", 1, "signed_in", 0,
					       "version", DROVER_VERSION));
	else
		webui_http_send_json(c, 200, webui_auth_session_json(c, c->session));
}

/*
 * POST /api/v1/account/password {"current", "new"}: a session only (not a
 * token). Every session of the user ends; the caller's goes on under a new id.
 */
void webui_auth_password(struct webui_call *c)
{
	static const char *const allowed[] = {"current", "new", NULL};
	static const char field_prefix[] = "password: ";
	const char *current, *fresh, *problem;
	struct account_user u;
	struct session *s;
	char err[WEBUI_ERROR_MAX];
	uint32_t wait;

	if (c->session == NULL) {
		webui_http_send_error(c, 403, "forbidden", NULL,
				      "sign in with the password to change it (not with a token)");
		return;
	}
	if (!webui_http_body_only(c, allowed) || !webui_http_body_string(c, "current", &current) ||
	    !webui_http_body_string(c, "new", &fresh))
		return;
	if (!throttle_allow(&c->w->throttle, c->peer, (uint64_t)clock_now_s(), &wait)) {
		webui_http_send_error(c, 429, "throttled", NULL,
				      "too many failed tries: wait %u seconds", wait);
		return;
	}
	if (!account_verify(webui_auth_store(c), c->user, current, &u)) {
		throttle_failure(&c->w->throttle, c->peer, (uint64_t)clock_now_s());
		webui_http_send_error(c, 400, "invalid", "current",
				      "current: not your current password");
		return;
	}
	problem = account_password_problem(fresh);
	if (problem == NULL && strcmp(current, fresh) == 0)
		problem = "new: must differ from the current password";
	if (problem != NULL) {
		/* account.h names the field "password"; here it is "new". */
		if (strncmp(problem, field_prefix, sizeof(field_prefix) - 1) == 0)
			problem += sizeof(field_prefix) - 1;
		webui_http_send_error(c, 400, "invalid", "new", "new %s", problem);
		return;
	}
	if (account_set_password(webui_auth_store(c), c->user, fresh, c->actor, err, sizeof(err)) <
	    0) {
		webui_http_send_error(c, 500, "internal", NULL, "%s", err);
		return;
	}
	/* Every other session of this user ends; this one continues under a new id. */
	session_close_user(&c->w->sessions, c->user);
	c->session = NULL;
	s = session_create(&c->w->sessions, c->user, (uint64_t)clock_now_s());
	webui_auth_set_cookie(c, s->id, false);
	webui_http_send_json(c, 200, webui_auth_session_json(c, s));
}

/* GET /api/v1/tokens: every API token, without its text. */
void webui_auth_tokens(struct webui_call *c)
{
	struct account_token *tokens = NULL;
	size_t n = 0;
	char err[WEBUI_ERROR_MAX];
	json_t *list;

	if (account_token_list(webui_auth_store(c), &tokens, &n, err, sizeof(err)) < 0) {
		webui_http_send_error(c, 500, "internal", NULL, "%s", err);
		return;
	}
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		int64_t expires = tokens[i].expires_at;

		json_array_append_new(
		    list, json_pack("{s:I, s:s, s:s, s:I, s:o, s:b}", "id",
				    (json_int_t)tokens[i].id, "name", tokens[i].name, "user",
				    tokens[i].user, "created_at", (json_int_t)tokens[i].created_at,
				    "expires_at", expires ? json_integer(expires) : json_null(),
				    "expired", expires != 0 && expires <= clock_wall_s()));
	}
	free(tokens);
	webui_http_send_json(c, 200, json_pack("{s:b, s:o}", "ok", 1, "tokens", list));
}

/*
 * The optional "expires_in_days" of a new token: *expires_at is 0 (never)
 * when it is absent or null. False (400 sent) for anything but a whole
 * number of days in 1..ACCOUNT_TOKEN_DAYS_MAX.
 */
static bool webui_auth_token_expiry(struct webui_call *c, int64_t *expires_at)
{
	json_t *v = json_object_get(c->body, "expires_in_days");
	json_int_t days;

	*expires_at = 0;
	if (v == NULL || json_is_null(v))
		return true;
	days = json_is_integer(v) ? json_integer_value(v) : 0;
	if (days < 1 || days > ACCOUNT_TOKEN_DAYS_MAX) {
		webui_http_send_error(c, 400, "invalid", "expires_in_days",
				      "expires_in_days: a whole number of days, 1..%d (or leave it "
				      "out for a token that never expires)",
				      ACCOUNT_TOKEN_DAYS_MAX);
		return false;
	}
	*expires_at = clock_wall_s() + (int64_t)days * WEBUI_AUTH_SECS_PER_DAY;
	return true;
}

/*
 * POST /api/v1/tokens {"name", "expires_in_days"}: 201 with the token's
 * text, shown this once. Sessions only: a token that could mint tokens
 * would let whoever stole one outlive its expiry and its revocation.
 */
void webui_auth_token_add(struct webui_call *c)
{
	static const char *const allowed[] = {"name", "expires_in_days", NULL};
	char token[ACCOUNT_TOKEN_TEXT];
	const char *name;
	char err[WEBUI_ERROR_MAX];
	int64_t id = 0, expires_at;
	int ret;

	if (c->token) {
		webui_http_send_error(c, 403, "forbidden", NULL,
				      "an API token cannot create API tokens: sign in with the "
				      "password to create one");
		return;
	}
	if (!webui_http_body_only(c, allowed) || !webui_http_body_string(c, "name", &name) ||
	    !webui_auth_token_expiry(c, &expires_at))
		return;
	ret = account_token_create(webui_auth_store(c), c->user, name, expires_at, c->actor, token,
				   &id, err, sizeof(err));
	if (ret == -EINVAL) {
		webui_http_send_error(c, 400, "invalid", "name", "%s", err);
		return;
	}
	if (ret < 0) {
		webui_http_send_error(c, 500, "internal", NULL, "%s", err);
		return;
	}
	webui_http_send_json(c, 201,
			     json_pack("{s:b, s:I, s:s, s:s, s:o}", "ok", 1, "id", (json_int_t)id,
				       "name", name, "token", token, "expires_at",
				       expires_at ? json_integer(expires_at) : json_null()));
	sodium_memzero(token, sizeof(token));
}

/* DELETE /api/v1/tokens/{id}: 404 when there is no such token. */
void webui_auth_token_del(struct webui_call *c)
{
	char err[WEBUI_ERROR_MAX];
	int ret =
	    account_token_delete(webui_auth_store(c), c->route.object, c->actor, err, sizeof(err));

	if (ret == -ENOENT)
		webui_http_send_error(c, 404, "not_found", "id", "%s", err);
	else if (ret < 0)
		webui_http_send_error(c, 500, "internal", NULL, "%s", err);
	else
		webui_http_send_json(c, 200, json_pack("{s:b}", "ok", 1));
}
