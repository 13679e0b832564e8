/*
 * throttle.h - login throttling per source address. After
 * THROTTLE_FREE_FAILURES failed logins in THROTTLE_WINDOW_SECS, an address
 * must wait before its next try, the wait doubling with each further failure
 * up to THROTTLE_MAX_WAIT_SECS. A success clears the address. Pure: the
 * caller passes monotonic seconds.
 */
#ifndef DROVER_THROTTLE_H
#define DROVER_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#define THROTTLE_ENTRIES       256
#define THROTTLE_ADDR_MAX      48
#define THROTTLE_FREE_FAILURES 5
#define THROTTLE_WINDOW_SECS   900
#define THROTTLE_FIRST_WAIT    30
#define THROTTLE_MAX_WAIT_SECS 900

struct throttle_entry {
	char addr[THROTTLE_ADDR_MAX]; /* empty: free */
	uint32_t failures;
	uint64_t first_failure;
	uint64_t blocked_until;
};

struct throttle {
	struct throttle_entry entries[THROTTLE_ENTRIES];
};

/* False while addr must wait; *retry_after is then the seconds left. */
bool throttle_allow(struct throttle *t, const char *addr, uint64_t now, uint32_t *retry_after);
void throttle_failure(struct throttle *t, const char *addr, uint64_t now);
void throttle_success(struct throttle *t, const char *addr);

#endif
