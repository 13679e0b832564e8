/*
 * control.h - the droverctl socket: a Unix stream socket (mode 0600, root
 * only) on droverd's libevent loop. One JSON request per line, one JSON
 * response per line, handled by api_handle.
 */
#ifndef DROVER_CONTROL_H
#define DROVER_CONTROL_H

#include <stddef.h>

struct event_base;
struct manager;
struct control;

#define CONTROL_DEFAULT_SOCKET "/run/drover/drover.sock"
/* A request line longer than this is refused and the connection closed. */
#define CONTROL_LINE_MAX (64 * 1024)

/* Creates the socket's directory (0750) when missing, replaces a stale socket. NULL + err on
 * failure. */
struct control *control_open(struct event_base *base, struct manager *m, const char *path,
			     char *err, size_t errlen);
void control_close(struct control *c);

#endif
