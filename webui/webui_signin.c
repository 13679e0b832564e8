/*
 * webui_signin.c - sign-in (throttled per source and user, its password
 * checked off the loop by hasher.h), sign-out, who is signed in, and the
 * password change. Accounts and their audit lines go through account.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>

#include "account.h"
#include "clock.h"
#include "hasher.h"
#include "log.h"
#include "manager.h"
#include "webui_private.h"

#define WEBUI_SIGNIN_COOKIE_MAX	     256 /* bytes of a Set-Cookie value */
#define WEBUI_SIGNIN_DETAIL_MAX	     160 /* bytes of an audit line */
#define WEBUI_SIGNIN_SHOWN_USER_MAX  64	 /* characters of a typed user name a log line quotes */
#define WEBUI_SIGNIN_PENDING_MAX     64	 /* sign-ins and password changes under way at once */
#define WEBUI_SIGNIN_BUSY_RETRY_SECS 2	 /* the Retry-After of a 503 */
#define WEBUI_SIGNIN_MS_PER_S	     1000
#define WEBUI_SIGNIN_NUMBER_MAX	     16 /* bytes of a header's number */

_Static_assert(WEBUI_SIGNIN_PENDING_MAX < THROTTLE_ENTRIES,
	       "a try in flight keeps its throttle entry: there is always one to reuse");
_Static_assert(ACCOUNT_PASSWORD_MAX < HASHER_PASSWORD_MAX, "a password fits a hasher job");

static void webui_signin_set_cookie(struct webui_call *c, const char *value, bool expire)
{
	char cookie[WEBUI_SIGNIN_COOKIE_MAX];

	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
		 SESSION_COOKIE, value, c->w->https ? "; Secure" : "", expire ? "; Max-Age=0" : "");
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Set-Cookie", cookie);
}

/* The signed-in caller as the page sees it; s is NULL for an API token. */
static json_t *webui_signin_session_json(struct webui_call *c, struct session *s)
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
enum webui_signin_step {
	WEBUI_SIGNIN_SIGN_IN,	    /* check the password of a sign-in */
	WEBUI_SIGNIN_CHECK_CURRENT, /* password change: check the current one */
	WEBUI_SIGNIN_HASH_NEW,	    /* password change: hash the new one */
};

/*
 * A sign-in or password change under way: held until its throttle turn,
 * then its password work on the hasher, then answered on the loop. The
 * request stays libevent's; a client that leaves meanwhile is answered
 * into the void, which frees its request.
 */
struct webui_signin_try {
	struct hasher_job job; /* first: the hasher hands this back */
	struct webui *w;
	struct evhttp_request *req;
	enum webui_signin_step step;
	bool slowed;		      /* it waited for a throttle turn */
	bool name_fits;		      /* the typed name can be a user's at all */
	char typed[ACCOUNT_NAME_MAX]; /* the user name, as typed (cut to fit) */
	char peer[WEBUI_PEER_MAX];
	char source[THROTTLE_SOURCE_MAX];
	char session_id[SESSION_ID_HEX + 1]; /* password change: the caller's session */
	char actor[WEBUI_ACTOR_MAX];
	char fresh[HASHER_PASSWORD_MAX]; /* password change: the new password, until hashed */
	struct event *turn;
	LIST_ENTRY(webui_signin_try) link;
};

int webui_signin_start(struct webui *w, char *err, size_t errlen)
{
	w->hasher = hasher_start(w->base, HASHER_QUEUE_MAX, err, errlen);
	return w->hasher != NULL ? 0 : -ENOMEM;
}

static void webui_signin_free(struct webui_signin_try *t)
{
	LIST_REMOVE(t, link);
	t->w->auth_pending--;
	if (t->turn != NULL)
		event_free(t->turn);
	sodium_memzero(t, sizeof(*t));
	free(t);
}

void webui_signin_stop(struct webui *w)
{
	/* The workers first: after this no job is looked at any more. */
	hasher_stop(w->hasher);
	w->hasher = NULL;
	while (!LIST_EMPTY(&w->auth_tries)) {
		struct webui_signin_try *t = LIST_FIRST(&w->auth_tries);

		/* A request whose client left is no connection's any more: ours to free. */
		if (evhttp_request_get_connection(t->req) == NULL)
			evhttp_request_free(t->req);
		webui_signin_free(t);
	}
}

static struct throttle_config webui_signin_throttle_config(const struct webui *w)
{
	const struct settings *s = manager_settings(w->m);

	return (struct throttle_config){
	    .free_failures = s->login_free_failures,
	    .max_delay_ms = s->login_delay_max_seconds * WEBUI_SIGNIN_MS_PER_S,
	    .global_failures = s->login_global_failures,
	};
}

/* Ends t's throttled try with outcome. */
static void webui_signin_throttle_end(struct webui_signin_try *t, enum throttle_outcome outcome)
{
	struct throttle_config cfg = webui_signin_throttle_config(t->w);

	throttle_end(&t->w->throttle, &cfg, t->source, t->typed, outcome, clock_now_ms());
}

/* An answer to the request t holds, sent through the same doors as any other. */
static struct webui_call webui_signin_call_of(struct webui_signin_try *t)
{
	return (struct webui_call){.w = t->w, .req = t->req};
}

/* 503 with Retry-After: the password work has no room now; the try is not counted. */
static void webui_signin_busy(struct webui_call *c)
{
	char after[WEBUI_SIGNIN_NUMBER_MAX];

	snprintf(after, sizeof(after), "%d", WEBUI_SIGNIN_BUSY_RETRY_SECS);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", after);
	webui_http_send_error(c, 503, "busy", NULL,
			      "too many password checks under way: try again in %d seconds",
			      WEBUI_SIGNIN_BUSY_RETRY_SECS);
}

static void webui_signin_on_done(struct hasher_job *job);

/*
 * Hands t's password work to the hasher; false when it could not (t is then
 * answered, and the caller frees it).
 */
static bool webui_signin_submit(struct webui_signin_try *t)
{
	struct webui_call c = webui_signin_call_of(t);

	t->job.done = webui_signin_on_done;
	if (hasher_submit(t->w->hasher, &t->job) == 0)
		return true;
	if (t->step != WEBUI_SIGNIN_HASH_NEW)
		webui_signin_throttle_end(t, THROTTLE_UNCHECKED);
	webui_signin_busy(&c);
	return false;
}

/* A try's turn has come: a sign-in reads the stored hash now, as it is at this moment. */
static void webui_signin_on_turn(evutil_socket_t fd, short what, void *arg)
{
	struct webui_signin_try *t = arg;
	struct account_user u;

	(void)fd;
	(void)what;
	if (t->step == WEBUI_SIGNIN_SIGN_IN) {
		t->job.task = HASHER_VERIFY;
		if (!t->name_fits || !account_lookup(webui_auth_store(t->w), t->typed, &u,
						     t->job.hash, sizeof(t->job.hash)))
			t->job.hash[0] = '\0'; /* checked anyway, against nothing: the same time */
	}
	if (!webui_signin_submit(t))
		webui_signin_free(t);
}

/*
 * Admits a try of t->typed from t->source through the throttle: its check
 * now, or when its turn comes. False when it is refused (429 sent, t freed).
 */
static bool webui_signin_admit_try(struct webui_signin_try *t)
{
	struct throttle_config cfg = webui_signin_throttle_config(t->w);
	struct webui_call c = webui_signin_call_of(t);
	enum throttle_verdict v;
	uint32_t wait_ms;

	v = throttle_begin(&t->w->throttle, &cfg, t->source, t->typed, clock_now_ms(), &wait_ms);
	if (v == THROTTLE_REFUSE) {
		uint32_t secs = (wait_ms + WEBUI_SIGNIN_MS_PER_S - 1) / WEBUI_SIGNIN_MS_PER_S;
		char after[WEBUI_SIGNIN_NUMBER_MAX];

		snprintf(after, sizeof(after), "%u", secs ? secs : 1);
		evhttp_add_header(evhttp_request_get_output_headers(c.req), "Retry-After", after);
		webui_http_send_error(&c, 429, "throttled", NULL,
				      "too many sign-ins as this user from %s under way: try "
				      "again in %s seconds",
				      t->source, after);
		webui_signin_free(t);
		return false;
	}
	t->slowed = v == THROTTLE_SLOWED;
	if (wait_ms > 0) {
		struct timeval tv = {(time_t)(wait_ms / WEBUI_SIGNIN_MS_PER_S),
				     (suseconds_t)(wait_ms % WEBUI_SIGNIN_MS_PER_S) * 1000};

		t->turn = evtimer_new(t->w->base, webui_signin_on_turn, t);
		if (t->turn == NULL || evtimer_add(t->turn, &tv) < 0) {
			webui_signin_throttle_end(t, THROTTLE_UNCHECKED);
			webui_signin_busy(&c);
			webui_signin_free(t);
			return false;
		}
		return true;
	}
	webui_signin_on_turn(-1, 0, t);
	return true;
}

/*
 * A new try for request c, or NULL with the refusal sent (503: too many
 * under way, or no memory).
 */
static struct webui_signin_try *webui_signin_try_new(struct webui_call *c,
						     enum webui_signin_step step, const char *user,
						     const char *password)
{
	struct webui_signin_try *t;

	if (c->w->auth_pending >= WEBUI_SIGNIN_PENDING_MAX || (t = calloc(1, sizeof(*t))) == NULL) {
		webui_signin_busy(c);
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
static void webui_signin_refuse(struct webui_call *c, bool slowed)
{
	json_t *j =
	    json_pack("{s:b, s:s, s:s, s:b}", "ok", 0, "error", "wrong user name or password",
		      "kind", "unauthorized", "throttled", slowed);

	webui_http_send_json(c, 401, j);
}

static void webui_signin_sign_in_done(struct webui_signin_try *t)
{
	struct webui_call c = webui_signin_call_of(t);
	struct store *st = webui_auth_store(t->w);
	char detail[WEBUI_SIGNIN_DETAIL_MAX], stored[HASHER_HASH_MAX];
	struct account_user u;
	struct session *s;
	json_t *j;

	if (t->job.result == HASHER_NO_MEMORY) {
		webui_signin_throttle_end(t, THROTTLE_UNCHECKED);
		webui_signin_busy(&c);
		return;
	}
	/* Looked up again: a user removed meanwhile does not sign in. */
	if (t->job.result != HASHER_MATCH || !t->name_fits ||
	    !account_lookup(st, t->typed, &u, stored, sizeof(stored))) {
		webui_signin_throttle_end(t, THROTTLE_FAILURE);
		if (account_audit_failure(st, &t->w->fold, t->source, t->typed, t->peer,
					  clock_now_s()) < 0)
			log_warnx("web UI: cannot audit a failed sign-in: %s", store_error(st));
		/* log.h escapes the line: a typed name cannot make a line of its own. */
		log_info("web UI: failed sign-in as %.*s from %s", WEBUI_SIGNIN_SHOWN_USER_MAX,
			 t->typed, t->peer);
		webui_signin_refuse(&c, t->slowed);
		return;
	}
	webui_signin_throttle_end(t, THROTTLE_SUCCESS);
	/* A new id at every sign-in: an id planted before it is worth nothing after. */
	s = session_create(&t->w->sessions, u.name, (uint64_t)clock_now_s());
	s->must_change = u.must_change;
	snprintf(c.user, sizeof(c.user), "%s", u.name);
	snprintf(detail, sizeof(detail), "%s signed in from %s", u.name, t->peer);
	account_audit(st, "webui", "login", detail);
	sodium_memzero(stored, sizeof(stored));
	webui_signin_set_cookie(&c, s->id, false);
	j = webui_signin_session_json(&c, s);
	json_object_set_new(j, "throttled", json_boolean(t->slowed));
	webui_http_send_json(&c, 200, j);
}

/* The caller's session, if it is still there; else the answer is sent. */
static struct session *webui_signin_session_of(struct webui_signin_try *t, struct webui_call *c)
{
	struct session *s = session_find(&t->w->sessions, t->session_id, (uint64_t)clock_now_s(),
					 manager_settings(t->w->m)->session_idle_seconds);

	if (s == NULL)
		webui_http_send_error(c, 401, "unauthorized", NULL, "sign in first");
	return s;
}

/* Returns true when t goes on (its next step submitted). */
static bool webui_signin_password_done(struct webui_signin_try *t)
{
	struct webui_call c = webui_signin_call_of(t);
	char err[WEBUI_ERROR_MAX];
	struct session *s;

	if (t->job.result == HASHER_NO_MEMORY) {
		if (t->step == WEBUI_SIGNIN_CHECK_CURRENT)
			webui_signin_throttle_end(t, THROTTLE_UNCHECKED);
		webui_signin_busy(&c);
		return false;
	}
	if (t->step == WEBUI_SIGNIN_CHECK_CURRENT) {
		if (t->job.result != HASHER_MATCH) {
			webui_signin_throttle_end(t, THROTTLE_FAILURE);
			webui_http_send_error(&c, 400, "invalid", "current",
					      "current: not your current password");
			return false;
		}
		webui_signin_throttle_end(t, THROTTLE_SUCCESS);
		if (webui_signin_session_of(t, &c) == NULL)
			return false;
		/* The second step: the new password's hash, off the loop too. */
		t->step = WEBUI_SIGNIN_HASH_NEW;
		t->job.task = HASHER_HASH;
		memcpy(t->job.password, t->fresh, sizeof(t->job.password));
		sodium_memzero(t->fresh, sizeof(t->fresh));
		return webui_signin_submit(t);
	}
	s = webui_signin_session_of(t, &c);
	if (s == NULL)
		return false;
	snprintf(c.user, sizeof(c.user), "%s", s->user);
	if (account_store_password(webui_auth_store(t->w), c.user, t->job.hash, t->actor, err,
				   sizeof(err)) < 0) {
		webui_http_send_error(&c, 500, "internal", NULL, "%s", err);
		return false;
	}
	/* Every other session of this user ends; this one continues under a new id. */
	session_close_user(&t->w->sessions, c.user);
	s = session_create(&t->w->sessions, c.user, (uint64_t)clock_now_s());
	webui_signin_set_cookie(&c, s->id, false);
	webui_http_send_json(&c, 200, webui_signin_session_json(&c, s));
	return false;
}

/* On the loop: the hasher is done with a try's password work. */
static void webui_signin_on_done(struct hasher_job *job)
{
	struct webui_signin_try *t = (struct webui_signin_try *)job;

	if (t->step == WEBUI_SIGNIN_SIGN_IN) {
		webui_signin_sign_in_done(t);
	} else if (webui_signin_password_done(t)) {
		return; /* its next step is under way */
	}
	webui_signin_free(t);
}

/*
 * POST /api/v1/login {"username", "password"}: a new session (and cookie)
 * at every sign-in; 401 for a wrong pair ("throttled" says whether it had
 * to wait for its turn), 429 while too many tries of the same user and
 * source are queued, 503 while the password checks have no room.
 */
void webui_signin_login(struct webui_call *c)
{
	static const char *const allowed[] = {"username", "password", NULL};
	const char *user, *password;
	struct webui_signin_try *t;

	if (!webui_http_body_only(c, allowed) || !webui_http_body_string(c, "username", &user) ||
	    !webui_http_body_string(c, "password", &password))
		return;
	if (strlen(password) > ACCOUNT_PASSWORD_MAX) {
		webui_signin_refuse(c, false);
		return;
	}
	t = webui_signin_try_new(c, WEBUI_SIGNIN_SIGN_IN, user, password);
	if (t != NULL)
		webui_signin_admit_try(t);
}

/* POST /api/v1/logout: ends the session, if any, and expires its cookie. */
void webui_signin_logout(struct webui_call *c)
{
	if (c->session != NULL)
		session_close(c->session);
	webui_signin_set_cookie(c, "", true);
	webui_http_send_json(c, 200, json_pack("{s:b}", "ok", 1));
}

/*
 * GET /api/v1/session: who is signed in, with the CSRF token of a session.
 * Answered even when signed out, so the page can ask without an error.
 */
void webui_signin_session(struct webui_call *c)
{
	if (c->session == NULL && !c->token)
		webui_http_send_json(c, 200,
				     json_pack("{s:b, s:b, s:s}", "ok", 1, "signed_in", 0,
					       "version", DROVER_VERSION));
	else
		webui_http_send_json(c, 200, webui_signin_session_json(c, c->session));
}

/*
 * POST /api/v1/account/password {"current", "new"}: a session only (not a
 * token). The current password is checked (throttled like a sign-in) and
 * the new one hashed off the loop; every session of the user ends, the
 * caller's goes on under a new id.
 */
void webui_signin_password(struct webui_call *c)
{
	static const char *const allowed[] = {"current", "new", NULL};
	static const char field_prefix[] = "password: ";
	const char *current, *fresh, *problem;
	struct webui_signin_try *t;
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
	t = webui_signin_try_new(c, WEBUI_SIGNIN_CHECK_CURRENT, c->user, current);
	if (t == NULL)
		return;
	snprintf(t->session_id, sizeof(t->session_id), "%s", c->session->id);
	snprintf(t->actor, sizeof(t->actor), "%s", c->actor);
	snprintf(t->fresh, sizeof(t->fresh), "%s", fresh);
	t->job.task = HASHER_VERIFY;
	if (!account_lookup(webui_auth_store(c->w), c->user, &u, t->job.hash, sizeof(t->job.hash)))
		t->job.hash[0] = '\0';
	webui_signin_admit_try(t);
}
