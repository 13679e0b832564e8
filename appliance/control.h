/*
 * control.h - the droverctl socket: a Unix stream socket (mode 0600) on
 * droverd's libevent loop. One JSON request per line, one JSON response per
 * line, handled by api_handle.
 *
 * Only root and droverd's own user are served, by the peer's credentials
 * (SO_PEERCRED), whatever the socket's mode: anyone else gets one answer,
 * {"ok": false, "kind": "forbidden", "error": "not allowed: ..."}, and is
 * disconnected. At most CONTROL_MAX_ROOT connections of root are open at
 * once, and apart from them CONTROL_MAX_OTHERS of every other user together,
 * CONTROL_MAX_PER_USER of any one: other users can never take root's places.
 * A connection beyond a limit is closed at once (after a best-effort
 * {"kind": "busy"} line).
 */
#ifndef DROVER_CONTROL_H
#define DROVER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct manager;
struct control;

#define CONTROL_DEFAULT_SOCKET "/run/drover/drover.sock"
/* A request line longer than this is refused and the connection closed. */
#define CONTROL_LINE_MAX     (64 * 1024)
#define CONTROL_MAX_ROOT     64
#define CONTROL_MAX_OTHERS   32
#define CONTROL_MAX_PER_USER 16

/*
 * Whether a peer running as uid peer may use the socket of a droverd
 * running as uid self: root, or self (the service user, under systemd's
 * User= or --user).
 */
bool control_peer_allowed(uid_t peer, uid_t self);

/* Creates the socket's directory (0750) when missing, replaces a stale socket. NULL + err on
 * failure. */
struct control *control_open(struct event_base *base, struct manager *m, const char *path,
			     char *err, size_t errlen);
void control_close(struct control *c);

#endif
