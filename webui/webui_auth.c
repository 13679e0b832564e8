/*
 * webui_auth.c - who is asking and whether they may: the Host a request
 * names, the Bearer token or session cookie of a request, the same-origin
 * and CSRF checks of a state change, sign-in (throttled per source and user,
 * its password checked off the loop by hasher.h), sign-out, the password
 * change, and the API token routes. Accounts, tokens and their audit lines
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
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sodium.h>

#include "account.h"
#include "clock.h"
#include "hasher.h"
#include "log.h"
#include "manager.h"
#include "webui_private.h"

#define WEBUI_AUTH_BEARER	   "Bearer "
#define WEBUI_AUTH_COOKIE_MAX	   256 /* bytes of a Set-Cookie value */
#define WEBUI_AUTH_DETAIL_MAX	   160 /* bytes of an audit line */
#define WEBUI_AUTH_ORIGIN_MAX	   300 /* bytes of the Origin this server expects */
#define WEBUI_AUTH_SHOWN_USER_MAX  64  /* characters of a typed user name a log line quotes */
#define WEBUI_AUTH_PENDING_MAX	   64  /* sign-ins and password changes under way at once */
#define WEBUI_AUTH_BUSY_RETRY_SECS 2   /* the Retry-After of a 503 */
#define WEBUI_AUTH_MS_PER_S	   1000
#define WEBUI_AUTH_NUMBER_MAX	   16 /* bytes of a header's number */

_Static_assert(WEBUI_AUTH_PENDING_MAX < THROTTLE_ENTRIES,
	       "a try in flight keeps its throttle entry: there is always one to reuse");
_Static_assert(ACCOUNT_PASSWORD_MAX < HASHER_PASSWORD_MAX, "a password fits a hasher job");

/* A Host header's name: a DNS name, an IPv4 address or a bracketed IPv6 one. */
#define WEBUI_AUTH_HOST_MAX	 (SETTINGS_HOST_NAME_MAX + 2)
#define WEBUI_AUTH_PORT_DIGITS	 5
#define WEBUI_AUTH_SHOWN_HOST	 80 /* characters of a refused Host an error quotes */
#define WEBUI_AUTH_SECS_PER_DAY	 86400
#define WEBUI_AUTH_TIME_TEXT_MAX 32 /* "2025-01-31T12:00:00Z" */

/* The names every appliance answers to: the loopback a tunnel or a local browser uses. */
static const char *const webui_auth_loopback_names[] = {"localhost", "127.0.0.1", "[::1]", NULL};

/* The store, for account.h only: webui never reads it itself. */
static struct store *webui_auth_store_of(const struct webui *w)
{
	return manager_store(w->m);
}

static struct store *webui_auth_store(const struct webui_call *c)
{
	return webui_auth_store_of(c->w);
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

/* What a try is for, and which of its password steps is under way. */
enum webui_auth_step {
	WEBUI_AUTH_SIGN_IN,	  /* check the password of a sign-in */
	WEBUI_AUTH_CHECK_CURRENT, /* password change: check the current one */
	WEBUI_AUTH_HASH_NEW,	  /* password change: hash the new one */
};

/*
 * A sign-in or password change under way: held until its throttle turn,
 * then its password work on the hasher, then answered on the loop. The
 * request stays libevent's; a client that leaves meanwhile is answered
 * into the void, which frees its request.
 */
struct webui_auth_try {
	struct hasher_job job; /* first: the hasher hands this back */
	struct webui *w;
	struct evhttp_request *req;
	enum webui_auth_step step;
	bool slowed;		      /* it waited for a throttle turn */
	bool name_fits;		      /* the typed name can be a user's at all */
	char typed[ACCOUNT_NAME_MAX]; /* the user name, as typed (cut to fit) */
	char peer[WEBUI_PEER_MAX];
	char source[THROTTLE_SOURCE_MAX];
	char session_id[SESSION_ID_HEX + 1]; /* password change: the caller's session */
	char actor[WEBUI_ACTOR_MAX];
	char fresh[HASHER_PASSWORD_MAX]; /* password change: the new password, until hashed */
	struct event *turn;
	LIST_ENTRY(webui_auth_try) link;
};

int webui_auth_start(struct webui *w, char *err, size_t errlen)
{
	w->hasher = hasher_start(w->base, HASHER_QUEUE_MAX, err, errlen);
	return w->hasher != NULL ? 0 : -ENOMEM;
}

static void webui_auth_free(struct webui_auth_try *t)
{
	LIST_REMOVE(t, link);
	t->w->auth_pending--;
	if (t->turn != NULL)
		event_free(t->turn);
	sodium_memzero(t, sizeof(*t));
	free(t);
}

void webui_auth_stop(struct webui *w)
{
	/* The workers first: after this no job is looked at any more. */
	hasher_stop(w->hasher);
	w->hasher = NULL;
	while (!LIST_EMPTY(&w->auth_tries)) {
		struct webui_auth_try *t = LIST_FIRST(&w->auth_tries);

		/* A request whose client left is no connection's any more: ours to free. */
		if (evhttp_request_get_connection(t->req) == NULL)
			evhttp_request_free(t->req);
		webui_auth_free(t);
	}
}

static struct throttle_config webui_auth_throttle_config(const struct webui *w)
{
	const struct settings *s = manager_settings(w->m);

	return (struct throttle_config){
	    .free_failures = s->login_free_failures,
	    .max_delay_ms = s->login_delay_max_seconds * WEBUI_AUTH_MS_PER_S,
	    .global_failures = s->login_global_failures,
	};
}

/* Ends t's throttled try with outcome. */
static void webui_auth_throttle_end(struct webui_auth_try *t, enum throttle_outcome outcome)
{
	struct throttle_config cfg = webui_auth_throttle_config(t->w);

	throttle_end(&t->w->throttle, &cfg, t->source, t->typed, outcome, clock_now_ms());
}

/* An answer to the request t holds, sent through the same doors as any other. */
static struct webui_call webui_auth_call_of(struct webui_auth_try *t)
{
	return (struct webui_call){.w = t->w, .req = t->req};
}

/* 503 with Retry-After: the password work has no room now; the try is not counted. */
static void webui_auth_busy(struct webui_call *c)
{
	char after[WEBUI_AUTH_NUMBER_MAX];

	snprintf(after, sizeof(after), "%d", WEBUI_AUTH_BUSY_RETRY_SECS);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", after);
	webui_http_send_error(c, 503, "busy", NULL,
			      "too many password checks under way: try again in %d seconds",
			      WEBUI_AUTH_BUSY_RETRY_SECS);
}

static void webui_auth_on_done(struct hasher_job *job);

/*
 * Hands t's password work to the hasher; false when it could not (t is then
 * answered, and the caller frees it).
 */
static bool webui_auth_submit(struct webui_auth_try *t)
{
	struct webui_call c = webui_auth_call_of(t);

	t->job.done = webui_auth_on_done;
	if (hasher_submit(t->w->hasher, &t->job) == 0)
		return true;
	if (t->step != WEBUI_AUTH_HASH_NEW)
		webui_auth_throttle_end(t, THROTTLE_UNCHECKED);
	webui_auth_busy(&c);
	return false;
}

/* A try's turn has come: a sign-in reads the stored hash now, as it is at this moment. */
static void webui_auth_on_turn(evutil_socket_t fd, short what, void *arg)
{
	struct webui_auth_try *t = arg;
	struct account_user u;

	(void)fd;
	(void)what;
	if (t->step == WEBUI_AUTH_SIGN_IN) {
		t->job.task = HASHER_VERIFY;
		if (!t->name_fits || !account_lookup(webui_auth_store_of(t->w), t->typed, &u,
						     t->job.hash, sizeof(t->job.hash)))
			t->job.hash[0] = '\0'; /* checked anyway, against nothing: the same time */
	}
	if (!webui_auth_submit(t))
		webui_auth_free(t);
}

/*
 * Admits a try of t->typed from t->source through the throttle: its check
 * now, or when its turn comes. False when it is refused (429 sent, t freed).
 */
static bool webui_auth_admit_try(struct webui_auth_try *t)
{
	struct throttle_config cfg = webui_auth_throttle_config(t->w);
	struct webui_call c = webui_auth_call_of(t);
	enum throttle_verdict v;
	uint32_t wait_ms;

	v = throttle_begin(&t->w->throttle, &cfg, t->source, t->typed, clock_now_ms(), &wait_ms);
	if (v == THROTTLE_REFUSE) {
		uint32_t secs = (wait_ms + WEBUI_AUTH_MS_PER_S - 1) / WEBUI_AUTH_MS_PER_S;
		char after[WEBUI_AUTH_NUMBER_MAX];

		snprintf(after, sizeof(after), "%u", secs ? secs : 1);
		evhttp_add_header(evhttp_request_get_output_headers(c.req), "Retry-After", after);
		webui_http_send_error(&c, 429, "throttled", NULL,
				      "too many sign-ins as this user from %s under way: try "
				      "again in %s seconds",
				      t->source, after);
		webui_auth_free(t);
		return false;
	}
	t->slowed = v == THROTTLE_SLOWED;
	if (wait_ms > 0) {
		struct timeval tv = {(time_t)(wait_ms / WEBUI_AUTH_MS_PER_S),
				     (suseconds_t)(wait_ms % WEBUI_AUTH_MS_PER_S) * 1000};

		t->turn = evtimer_new(t->w->base, webui_auth_on_turn, t);
		if (t->turn == NULL || evtimer_add(t->turn, &tv) < 0) {
			webui_auth_throttle_end(t, THROTTLE_UNCHECKED);
			webui_auth_busy(&c);
			webui_auth_free(t);
			return false;
		}
		return true;
	}
	webui_auth_on_turn(-1, 0, t);
	return true;
}

/*
 * A new try for request c, or NULL with the refusal sent (503: too many
 * under way, or no memory).
 */
static struct webui_auth_try *webui_auth_try_new(struct webui_call *c, enum webui_auth_step step,
						 const char *user, const char *password)
{
	struct webui_auth_try *t;

	if (c->w->auth_pending >= WEBUI_AUTH_PENDING_MAX || (t = calloc(1, sizeof(*t))) == NULL) {
		webui_auth_busy(c);
		return NULL;
	}
	t->w = c->w;
	t->req = c->req;
	t->step = step;
	t->name_fits = strlen(user) < sizeof(t->typed);
	snprintf(t->typed, sizeof(t->typed), "%s", user);
	snprintf(t->peer, sizeof(t->peer), "%s", c->peer);
	throttle_source(c->peer, t->source, sizeof(t->source));
	snprintf(t->job.password, sizeof(t->job.password), "%s", password);
	LIST_INSERT_HEAD(&c->w->auth_tries, t, link);
	c->w->auth_pending++;
	return t;
}

/* The 401 of a wrong pair, saying whether the try had to wait for its turn. */
static void webui_auth_refuse(struct webui_call *c, bool slowed)
{
	json_t *j =
	    json_pack("{s:b, s:s, s:s, s:b}", "ok", 0, "error", "wrong user name or password",
		      "kind", "unauthorized", "throttled", slowed);

	webui_http_send_json(c, 401, j);
}

static void webui_auth_sign_in_done(struct webui_auth_try *t)
{
	struct webui_call c = webui_auth_call_of(t);
	struct store *st = webui_auth_store_of(t->w);
	char detail[WEBUI_AUTH_DETAIL_MAX], stored[HASHER_HASH_MAX];
	struct account_user u;
	struct session *s;
	json_t *j;

	if (t->job.result == HASHER_NO_MEMORY) {
		webui_auth_throttle_end(t, THROTTLE_UNCHECKED);
		webui_auth_busy(&c);
		return;
	}
	/* Looked up again: a user removed meanwhile does not sign in. */
	if (t->job.result != HASHER_MATCH || !t->name_fits ||
	    !account_lookup(st, t->typed, &u, stored, sizeof(stored))) {
		webui_auth_throttle_end(t, THROTTLE_FAILURE);
		if (account_audit_failure(st, &t->w->fold, t->source, t->typed, t->peer,
					  clock_now_s()) < 0)
			log_warnx("web UI: cannot audit a failed sign-in: %s", store_error(st));
		/* log.h escapes the line: a typed name cannot make a line of its own. */
		log_info("web UI: failed sign-in as %.*s from %s", WEBUI_AUTH_SHOWN_USER_MAX,
			 t->typed, t->peer);
		webui_auth_refuse(&c, t->slowed);
		return;
	}
	webui_auth_throttle_end(t, THROTTLE_SUCCESS);
	/* A new id at every sign-in: an id planted before it is worth nothing after. */
	s = session_create(&t->w->sessions, u.name, (uint64_t)clock_now_s());
	s->must_change = u.must_change;
	snprintf(c.user, sizeof(c.user), "%s", u.name);
	snprintf(detail, sizeof(detail), "%s signed in from %s", u.name, t->peer);
	account_audit(st, "webui", "login", detail);
	sodium_memzero(stored, sizeof(stored));
	webui_auth_set_cookie(&c, s->id, false);
	j = webui_auth_session_json(&c, s);
	json_object_set_new(j, "throttled", json_boolean(t->slowed));
	webui_http_send_json(&c, 200, j);
}

/* The caller's session, if it is still there; else the answer is sent. */
static struct session *webui_auth_session_of(struct webui_auth_try *t, struct webui_call *c)
{
	struct session *s = session_find(&t->w->sessions, t->session_id, (uint64_t)clock_now_s(),
					 manager_settings(t->w->m)->session_idle_seconds);

	if (s == NULL)
		webui_http_send_error(c, 401, "unauthorized", NULL, "sign in first");
	return s;
}

/* Returns true when t goes on (its next step submitted). */
static bool webui_auth_password_done(struct webui_auth_try *t)
{
	struct webui_call c = webui_auth_call_of(t);
	char err[WEBUI_ERROR_MAX];
	struct session *s;

	if (t->job.result == HASHER_NO_MEMORY) {
		if (t->step == WEBUI_AUTH_CHECK_CURRENT)
			webui_auth_throttle_end(t, THROTTLE_UNCHECKED);
		webui_auth_busy(&c);
		return false;
	}
	if (t->step == WEBUI_AUTH_CHECK_CURRENT) {
		if (t->job.result != HASHER_MATCH) {
			webui_auth_throttle_end(t, THROTTLE_FAILURE);
			webui_http_send_error(&c, 400, "invalid", "current",
					      "current: not your current password");
			return false;
		}
		webui_auth_throttle_end(t, THROTTLE_SUCCESS);
		if (webui_auth_session_of(t, &c) == NULL)
			return false;
		/* The second step: the new password's hash, off the loop too. */
		t->step = WEBUI_AUTH_HASH_NEW;
		t->job.task = HASHER_HASH;
		memcpy(t->job.password, t->fresh, sizeof(t->job.password));
		sodium_memzero(t->fresh, sizeof(t->fresh));
		return webui_auth_submit(t);
	}
	s = webui_auth_session_of(t, &c);
	if (s == NULL)
		return false;
	snprintf(c.user, sizeof(c.user), "%s", s->user);
	if (account_store_password(webui_auth_store_of(t->w), c.user, t->job.hash, t->actor, err,
				   sizeof(err)) < 0) {
		webui_http_send_error(&c, 500, "internal", NULL, "%s", err);
		return false;
	}
	/* Every other session of this user ends; this one continues under a new id. */
	session_close_user(&t->w->sessions, c.user);
	s = session_create(&t->w->sessions, c.user, (uint64_t)clock_now_s());
	webui_auth_set_cookie(&c, s->id, false);
	webui_http_send_json(&c, 200, webui_auth_session_json(&c, s));
	return false;
}

/* On the loop: the hasher is done with a try's password work. */
static void webui_auth_on_done(struct hasher_job *job)
{
	struct webui_auth_try *t = (struct webui_auth_try *)job;

	if (t->step == WEBUI_AUTH_SIGN_IN) {
		webui_auth_sign_in_done(t);
	} else if (webui_auth_password_done(t)) {
		return; /* its next step is under way */
	}
	webui_auth_free(t);
}

/*
 * POST /api/v1/login {"username", "password"}: a new session (and cookie)
 * at every sign-in; 401 for a wrong pair ("throttled" says whether it had
 * to wait for its turn), 429 while too many tries of the same user and
 * source are queued, 503 while the password checks have no room.
 */
void webui_auth_login(struct webui_call *c)
{
	static const char *const allowed[] = {"username", "password", NULL};
	const char *user, *password;
	struct webui_auth_try *t;

	if (!webui_http_body_only(c, allowed) || !webui_http_body_string(c, "username", &user) ||
	    !webui_http_body_string(c, "password", &password))
		return;
	if (strlen(password) > ACCOUNT_PASSWORD_MAX) {
		webui_auth_refuse(c, false);
		return;
	}
	t = webui_auth_try_new(c, WEBUI_AUTH_SIGN_IN, user, password);
	if (t != NULL)
		webui_auth_admit_try(t);
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
 * token). The current password is checked (throttled like a sign-in) and
 * the new one hashed off the loop; every session of the user ends, the
 * caller's goes on under a new id.
 */
void webui_auth_password(struct webui_call *c)
{
	static const char *const allowed[] = {"current", "new", NULL};
	static const char field_prefix[] = "password: ";
	const char *current, *fresh, *problem;
	struct webui_auth_try *t;
	struct account_user u;

	if (c->session == NULL) {
		webui_http_send_error(c, 403, "forbidden", NULL,
				      "sign in with the password to change it (not with a token)");
		return;
	}
	if (!webui_http_body_only(c, allowed) || !webui_http_body_string(c, "current", &current) ||
	    !webui_http_body_string(c, "new", &fresh))
		return;
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
	if (strlen(current) > ACCOUNT_PASSWORD_MAX) {
		webui_http_send_error(c, 400, "invalid", "current",
				      "current: not your current password");
		return;
	}
	t = webui_auth_try_new(c, WEBUI_AUTH_CHECK_CURRENT, c->user, current);
	if (t == NULL)
		return;
	snprintf(t->session_id, sizeof(t->session_id), "%s", c->session->id);
	snprintf(t->actor, sizeof(t->actor), "%s", c->actor);
	snprintf(t->fresh, sizeof(t->fresh), "%s", fresh);
	t->job.task = HASHER_VERIFY;
	if (!account_lookup(webui_auth_store(c), c->user, &u, t->job.hash, sizeof(t->job.hash)))
		t->job.hash[0] = '\0';
	webui_auth_admit_try(t);
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
