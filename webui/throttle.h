/*
 * throttle.h - sign-in throttling per (source, user), by slowing down, never
 * by locking out.
 *
 * A source is a network, not an address: every loopback address is one
 * source (through an SSH tunnel every admin comes from 127.0.0.1, and any
 * local user can pick any 127.x address), an IPv4 address counts with its
 * /24 and an IPv6 address with its /64 (a host picks freely within them).
 *
 * Up to free_failures failed sign-ins of a user from a source in
 * THROTTLE_WINDOW_MS cost nothing. After that the pair's tries are checked
 * one at a time, each waiting for its turn: turns are spaced by a delay
 * that starts at THROTTLE_FIRST_DELAY_MS and doubles with every further
 * failure, up to max_delay_ms. A try is held until its turn, then checked:
 * the right password still signs in, after the wait; a wrong one moves the
 * next turn further out. Only a try whose turn is more than
 * THROTTLE_WAIT_FACTOR times max_delay_ms away (a flood of the same pair) is
 * refused, with the time to retry. A success clears the pair.
 *
 * Above global_failures failed sign-ins in THROTTLE_GLOBAL_WINDOW_MS (all
 * sources and users together), every try also waits for a global turn,
 * spaced THROTTLE_GLOBAL_SPACING_MS apart: an attacker spread over many
 * sources or user names slows everyone, and still locks no one out.
 *
 * Pure: the caller passes monotonic milliseconds and the settings.
 */
#ifndef DROVER_THROTTLE_H
#define DROVER_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THROTTLE_ENTRIES	   256
#define THROTTLE_SOURCE_MAX	   48 /* "ffff:ffff:ffff:ffff::/64" and the like */
#define THROTTLE_USER_MAX	   64 /* bytes of a user name compared, with the NUL */
#define THROTTLE_SOURCE_LOOPBACK   "loopback"
#define THROTTLE_WINDOW_MS	   (900U * 1000U)
#define THROTTLE_FIRST_DELAY_MS	   1000U
#define THROTTLE_WAIT_FACTOR	   2U
#define THROTTLE_GLOBAL_WINDOW_MS  (60U * 1000U)
#define THROTTLE_GLOBAL_SPACING_MS 250U
#define THROTTLE_DOUBLINGS_MAX	   20U /* beyond this a doubled delay is past any max_delay_ms */

/* The settings the throttle works with (login_* in settings.h). */
struct throttle_config {
	uint32_t free_failures;
	uint32_t max_delay_ms;
	uint32_t global_failures;
};

enum throttle_verdict {
	THROTTLE_GO,	 /* check it now */
	THROTTLE_SLOWED, /* check it when its turn comes: *wait_ms from now (may be 0) */
	THROTTLE_REFUSE, /* too many tries queued already: retry in *wait_ms */
};

/* How an admitted try ended. */
enum throttle_outcome {
	THROTTLE_SUCCESS,   /* the right password: the pair's failures are forgiven */
	THROTTLE_FAILURE,   /* a wrong one: counted */
	THROTTLE_UNCHECKED, /* never checked (no room, out of memory): not counted */
};

struct throttle_entry {
	char source[THROTTLE_SOURCE_MAX]; /* empty: free */
	char user[THROTTLE_USER_MAX];
	uint32_t failures;  /* in the window that began at window_start */
	uint32_t in_flight; /* admitted tries not yet ended: the entry is kept for them */
	uint64_t window_start;
	uint64_t next_turn; /* when the next try of a slowed pair may be checked */
	uint64_t last_seen;
};

struct throttle {
	struct throttle_entry entries[THROTTLE_ENTRIES];
	uint64_t global_start;
	uint32_t global_failures;
	uint64_t global_next_turn;
};

/*
 * The source of a peer address ("127.0.0.1", "2001:db8::5", "::ffff:1.2.3.4")
 * as this throttle counts it: "loopback", "198.18.1.0/24", "2001:db8::/64".
 * Text that is no address is taken as it is. Always writes a string to out.
 */
void throttle_source(const char *addr, char *out, size_t len);

/*
 * A try of user from source (throttle_source) at now. GO and SLOWED admit
 * it: the caller checks the password (after *wait_ms for SLOWED) and then
 * calls throttle_end exactly once. REFUSE admits nothing; *wait_ms is then
 * the time until a try would be taken again.
 */
enum throttle_verdict throttle_begin(struct throttle *t, const struct throttle_config *cfg,
				     const char *source, const char *user, uint64_t now,
				     uint32_t *wait_ms);
/*
 * Ends a try admitted by throttle_begin. A success clears the pair's
 * failures; a failure counts, for the pair and for everyone, and moves the
 * pair's next turn out once it is past its free failures.
 */
void throttle_end(struct throttle *t, const struct throttle_config *cfg, const char *source,
		  const char *user, enum throttle_outcome outcome, uint64_t now);

/* The failures counted for user from source in its window (tests, metrics). */
uint32_t throttle_failures(const struct throttle *t, const char *source, const char *user);

#endif
