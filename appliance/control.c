/* control.c - the droverctl Unix socket: JSON lines in, JSON lines out. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "api.h"
#include "log.h"

/* An idle connection is closed after this long. */
#define CONTROL_IDLE_SECONDS 60

struct control {
	struct evconnlistener *listener;
	struct manager *m;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

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

static void control_on_read(struct bufferevent *bev, void *arg)
{
	struct control *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		json_error_t jerr;
		json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
		json_t *resp;

		if (req == NULL)
			resp =
			    json_pack("{s:b, s:s}", "ok", 0, "error", "request is not valid JSON");
		else
			resp = api_handle(c->m, req, "droverctl");
		json_decref(req);
		free(line);
		control_reply(bev, resp);
	}
	if (evbuffer_get_length(in) > CONTROL_LINE_MAX) {
		control_reply(bev, json_pack("{s:b, s:s}", "ok", 0, "error", "request too long"));
		bufferevent_disable(bev, EV_READ);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

static void control_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		bufferevent_free(bev);
}

static void control_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int salen, void *arg)
{
	struct event_base *base = evconnlistener_get_base(l);
	struct timeval idle = {CONTROL_IDLE_SECONDS, 0};
	struct bufferevent *bev;

	(void)sa;
	(void)salen;
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, control_on_read, NULL, control_on_event, arg);
	bufferevent_set_timeouts(bev, &idle, &idle);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
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
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			free(c);
			return NULL;
		}
	}
	/* A socket file left by a crashed droverd would make bind fail. */
	unlink(path);
	old_mask = umask(0077);
	c->listener = evconnlistener_new_bind(base, control_on_accept, c,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					      (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (c->listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		free(c);
		return NULL;
	}
	chmod(path, 0600);
	return c;
}

void control_close(struct control *c)
{
	if (c == NULL)
		return;
	evconnlistener_free(c->listener);
	unlink(c->path);
	free(c);
}
