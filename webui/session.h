/*
 * session.h - browser sessions of the web UI, kept in memory (a restart of
 * droverd signs everyone out), plus the small parsers that decide whether a
 * request belongs to one: the Cookie header and the CSRF token compare.
 *
 * A session id is 32 random bytes (hex in the cookie), replaced at every
 * login and password change; its CSRF token is another 32 random bytes the
 * page must echo in a header on every state change. Times are monotonic
 * seconds passed in by the caller, so tests can move the clock.
 */
#ifndef DROVER_SESSION_H
#define DROVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_MAX	      64
#define SESSION_ID_HEX	      64 /* characters of an id or CSRF token */
#define SESSION_USER_MAX      64
#define SESSION_COOKIE	      "drover_session"
#define SESSION_LIFETIME_SECS (12 * 3600) /* even an active session ends after this */

struct session {
	char id[SESSION_ID_HEX + 1]; /* empty: a free entry */
	char csrf[SESSION_ID_HEX + 1];
	char user[SESSION_USER_MAX];
	uint64_t created;
	uint64_t last_seen;
	bool must_change; /* signed in with a password that must be changed first */
};

struct session_table {
	struct session entries[SESSION_MAX];
};

/*
 * Opens a session for user at now; when the table is full the least recently
 * seen session gives way. Returns the new entry (never NULL).
 */
struct session *session_create(struct session_table *t, const char *user, uint64_t now);
/*
 * The live session with this id, its last_seen moved to now; NULL when there
 * is none or it has been idle for more than idle_secs (it is then closed).
 */
struct session *session_find(struct session_table *t, const char *id, uint64_t now,
			     uint32_t idle_secs);
void session_close(struct session *s);
/* Closes every session of user (after a password change). */
void session_close_user(struct session_table *t, const char *user);

/*
 * Finds cookie name in a Cookie header ("a=1; drover_session=ab12") and
 * copies its value to out. False when absent, empty or longer than len - 1.
 */
bool session_cookie_value(const char *header, const char *name, char *out, size_t len);

/* Constant-time compare of two tokens; false when either is NULL or lengths differ. */
bool session_token_equal(const char *a, const char *b);

#endif
