/*
 * control.c - the droverctl Unix socket: JSON lines in, JSON lines out.
 *
 * Who may talk is decided by the peer's credentials (SO_PEERCRED), not by
 * the socket file's mode alone: root and the user droverd runs as. Anyone
 * else is answered once, "not allowed", and disconnected. How many may be
 * connected is bounded in all and per user, so that idle connections cannot
 * take the descriptors the probes and the web UI need.
 */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "api.h"
#include "clock.h"
#include "log.h"

/* An idle connection is closed after this long. */
#define CONTROL_IDLE_SECONDS 60
/* A refused peer gets this long to send its request and read the refusal. */
#define CONTROL_REFUSED_SECONDS 5
/* After accept() failed for lack of descriptors or memory, listen again after this long. */
#define CONTROL_ACCEPT_PAUSE_SECONDS 1
/* Refusals logged at most once per this many seconds (they cost the peer nothing). */
#define CONTROL_LOG_EVERY_SECONDS 10
#define CONTROL_BACKLOG		  16

struct control_conn;

struct control {
	struct evconnlistener *listener;
	struct event *resume; /* re-enables the listener after a pause */
	struct manager *m;
	LIST_HEAD(, control_conn) conns;
	size_t nroot;	/* connections of root */
	size_t nothers; /* connections of every other user */
	uid_t self;	/* droverd's own user: served besides root */
	uint64_t refusals;
	uint64_t last_refusal_log_s;
	bool short_logged; /* the current shortage of descriptors has been logged */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* One accepted connection. */
struct control_conn {
	LIST_ENTRY(control_conn) entry;
	struct control *c;
	struct bufferevent *bev;
	uid_t uid;
	bool allowed; /* control_peer_allowed */
	bool closing; /* its last answer is on its way; then it closes */
};

bool control_peer_allowed(uid_t peer, uid_t self)
{
	return peer == 0 || peer == self;
}

static void control_conn_free(struct control_conn *conn)
{
	LIST_REMOVE(conn, entry);
	if (conn->uid == 0)
		conn->c->nroot--;
	else
		conn->c->nothers--;
	bufferevent_free(conn->bev);
	free(conn);
}

static void control_reply(struct bufferevent *bev, json_t *response)
{
	char *text = json_dumps(response, JSON_COMPACT);

	if (text != NULL) {
		bufferevent_write(bev, text, strlen(text));
		bufferevent_write(bev, "\n", 1);
		free(text);
	}
	json_decref(response);
}

static json_t *control_not_allowed(const struct control *c, uid_t uid)
{
	char msg[160];

	if (c->self == 0)
		snprintf(msg, sizeof(msg),
			 "not allowed: droverd's control socket serves root only, not uid %u",
			 (unsigned)uid);
	else
		snprintf(msg, sizeof(msg),
			 "not allowed: droverd's control socket serves root and uid %u (droverd's "
			 "own user) only, not uid %u",
			 (unsigned)c->self, (unsigned)uid);
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "kind", "forbidden");
}

/* Answers with response, then closes once it is written; nothing more is read. */
static void control_close_after(struct control_conn *conn, json_t *response)
{
	control_reply(conn->bev, response);
	conn->closing = true;
	bufferevent_disable(conn->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(conn->bev),
		       evbuffer_get_length(bufferevent_get_input(conn->bev)));
}

static void control_on_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *conn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	if (conn->closing)
		return;
	/*
	 * A refused peer is answered only once its request is in: one that
	 * is still writing when the socket closes would die of SIGPIPE
	 * before it could read why.
	 */
	if (!conn->allowed) {
		if (evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF).pos >= 0 ||
		    evbuffer_get_length(in) > CONTROL_LINE_MAX)
			control_close_after(conn, control_not_allowed(conn->c, conn->uid));
		return;
	}
	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		json_error_t jerr;
		json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
		json_t *resp;

		if (req == NULL)
			resp =
			    json_pack("{s:b, s:s}", "ok", 0, "error", "request is not valid JSON");
		else
			resp = api_handle(conn->c->m, req, "droverctl");
		json_decref(req);
		free(line);
		control_reply(bev, resp);
	}
	if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
		control_close_after(conn,
				    json_pack("{s:b, s:s}", "ok", 0, "error", "request too long"));
}

static void control_on_write(struct bufferevent *bev, void *arg)
{
	struct control_conn *conn = arg;

	if (conn->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_conn_free(conn);
}

static void control_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		control_conn_free(arg);
}

/* Connections of uid open now. */
static size_t control_count_uid(const struct control *c, uid_t uid)
{
	const struct control_conn *conn;
	size_t n = 0;

	LIST_FOREACH(conn, &c->conns, entry)
	{
		if (conn->uid == uid)
			n++;
	}
	return n;
}

/*
 * Counts a peer turned away, and logs it unless another was logged within
 * CONTROL_LOG_EVERY_SECONDS: a peer can connect as often as it likes.
 */
static void control_note_refusal(struct control *c, uid_t uid, const char *why)
{
	uint64_t now_s = clock_now_ms() / 1000;

	c->refusals++;
	if (c->last_refusal_log_s != 0 && now_s - c->last_refusal_log_s < CONTROL_LOG_EVERY_SECONDS)
		return;
	log_warnx("control socket: uid %u turned away: %s (%" PRIu64 " so far)", (unsigned)uid, why,
		  c->refusals);
	c->last_refusal_log_s = now_s;
}

/* A line to a peer turned away before it is served; best effort, never blocks. */
static void control_turn_away(struct control *c, evutil_socket_t fd, uid_t uid, const char *why)
{
	char line[160];
	int len;

	len = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\",\"kind\":\"busy\"}\n",
		       why);
	if (len > 0 && (size_t)len < sizeof(line))
		(void)send(fd, line, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	control_note_refusal(c, uid, why);
}

static void control_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int salen, void *arg)
{
	struct control *c = arg;
	struct event_base *base = evconnlistener_get_base(l);
	struct timeval idle = {CONTROL_IDLE_SECONDS, 0};
	struct timeval refused = {CONTROL_REFUSED_SECONDS, 0};
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	struct control_conn *conn;

	(void)sa;
	(void)salen;
	c->short_logged = false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0 ||
	    credlen != sizeof(cred)) {
		log_warnx("control socket: cannot tell who is connecting: %s", strerror(errno));
		close(fd);
		return;
	}
	if (cred.uid == 0 ? c->nroot >= CONTROL_MAX_ROOT : c->nothers >= CONTROL_MAX_OTHERS) {
		control_turn_away(c, fd, cred.uid, "too many connections to droverd");
		return;
	}
	if (cred.uid != 0 && control_count_uid(c, cred.uid) >= CONTROL_MAX_PER_USER) {
		control_turn_away(c, fd, cred.uid, "too many connections from this user");
		return;
	}
	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		close(fd);
		return;
	}
	conn->c = c;
	conn->uid = cred.uid;
	conn->allowed = control_peer_allowed(cred.uid, c->self);
	conn->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (conn->bev == NULL) {
		close(fd);
		free(conn);
		return;
	}
	LIST_INSERT_HEAD(&c->conns, conn, entry);
	if (cred.uid == 0)
		c->nroot++;
	else
		c->nothers++;
	if (!conn->allowed)
		control_note_refusal(c, cred.uid, "neither root nor droverd's user");
	bufferevent_setcb(conn->bev, control_on_read, control_on_write, control_on_event, conn);
	bufferevent_set_timeouts(conn->bev, conn->allowed ? &idle : &refused,
				 conn->allowed ? &idle : &refused);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
}

static void control_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(c->listener);
}

/*
 * accept() failed for a reason retrying at once will not cure (no
 * descriptor, no memory): the listening socket stays readable, so the loop
 * would spin on it. Pause, and log once per shortage.
 */
static void control_on_accept_error(struct evconnlistener *l, void *arg)
{
	struct control *c = arg;
	struct timeval pause = {CONTROL_ACCEPT_PAUSE_SECONDS, 0};
	int err = errno;

	if (!c->short_logged)
		log_warnx("control socket: cannot accept: %s; pausing %d s at a time until it can",
			  strerror(err), CONTROL_ACCEPT_PAUSE_SECONDS);
	c->short_logged = true;
	evconnlistener_disable(l);
	evtimer_add(c->resume, &pause);
}

struct control *control_open(struct event_base *base, struct manager *m, const char *path,
			     char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct control *c;
	char dir[sizeof(sun.sun_path)];
	char *slash;
	mode_t old_mask;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path `%s' is too long", path);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->m = m;
	c->self = geteuid();
	LIST_INIT(&c->conns);
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	c->resume = evtimer_new(base, control_on_resume, c);
	if (c->resume == NULL) {
		snprintf(err, errlen, "out of memory");
		free(c);
		return NULL;
	}
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			event_free(c->resume);
			free(c);
			return NULL;
		}
	}
	/* A socket file left by a crashed droverd would make bind fail. */
	unlink(path);
	old_mask = umask(0077);
	c->listener = evconnlistener_new_bind(
	    base, control_on_accept, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    CONTROL_BACKLOG, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (c->listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		event_free(c->resume);
		free(c);
		return NULL;
	}
	evconnlistener_set_error_cb(c->listener, control_on_accept_error);
	chmod(path, 0600);
	return c;
}

void control_close(struct control *c)
{
	if (c == NULL)
		return;
	evconnlistener_free(c->listener);
	while (!LIST_EMPTY(&c->conns))
		control_conn_free(LIST_FIRST(&c->conns));
	event_free(c->resume);
	unlink(c->path);
	free(c);
}
