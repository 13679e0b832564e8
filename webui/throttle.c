/* throttle.c - login throttling per source address. */
#include "throttle.h"

#include <stdio.h>
#include <string.h>

static struct throttle_entry *throttle_find(struct throttle *t, const char *addr)
{
	if (addr[0] == '\0')
		return NULL; /* the mark of a free entry, never an address */
	for (size_t i = 0; i < THROTTLE_ENTRIES; i++) {
		if (strcmp(t->entries[i].addr, addr) == 0)
			return &t->entries[i];
	}
	return NULL;
}

bool throttle_allow(struct throttle *t, const char *addr, uint64_t now, uint32_t *retry_after)
{
	struct throttle_entry *e = throttle_find(t, addr);

	*retry_after = 0;
	if (e == NULL || now >= e->blocked_until)
		return true;
	*retry_after = (uint32_t)(e->blocked_until - now);
	return false;
}

void throttle_failure(struct throttle *t, const char *addr, uint64_t now)
{
	struct throttle_entry *e = throttle_find(t, addr);

	if (e == NULL) {
		/*
		 * A new address takes a free entry or the one whose block ended
		 * longest ago; an attacker cycling addresses can only push out
		 * entries that no longer block anyone first.
		 */
		for (size_t i = 0; i < THROTTLE_ENTRIES; i++) {
			struct throttle_entry *c = &t->entries[i];

			if (c->addr[0] == '\0') {
				e = c;
				break;
			}
			if (e == NULL || c->blocked_until < e->blocked_until ||
			    (c->blocked_until == e->blocked_until &&
			     c->first_failure < e->first_failure))
				e = c;
		}
		memset(e, 0, sizeof(*e));
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->first_failure = now;
	}
	if (now - e->first_failure > THROTTLE_WINDOW_SECS && now >= e->blocked_until) {
		e->failures = 0;
		e->first_failure = now;
	}
	e->failures++;
	if (e->failures >= THROTTLE_FREE_FAILURES) {
		uint32_t shift = e->failures - THROTTLE_FREE_FAILURES;
		uint64_t wait =
		    shift >= 6 ? THROTTLE_MAX_WAIT_SECS : (uint64_t)THROTTLE_FIRST_WAIT << shift;

		if (wait > THROTTLE_MAX_WAIT_SECS)
			wait = THROTTLE_MAX_WAIT_SECS;
		e->blocked_until = now + wait;
	}
}

void throttle_success(struct throttle *t, const char *addr)
{
	struct throttle_entry *e = throttle_find(t, addr);

	if (e != NULL)
		memset(e, 0, sizeof(*e));
}
