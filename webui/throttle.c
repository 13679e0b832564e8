/* throttle.c - sign-in throttling per (source, user) by turns that grow apart. */
#include "throttle.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define THROTTLE_V4_PREFIX_BYTES 3 /* a /24 */
#define THROTTLE_V6_PREFIX_BYTES 8 /* a /64 */
#define THROTTLE_V4_LOOPBACK_NET 127
#define THROTTLE_V4_MAPPED_AT	 12 /* where ::ffff:a.b.c.d keeps a.b.c.d */

static void throttle_source_v4(const uint8_t a[4], char *out, size_t len)
{
	if (a[0] == THROTTLE_V4_LOOPBACK_NET)
		snprintf(out, len, "%s", THROTTLE_SOURCE_LOOPBACK);
	else
		snprintf(out, len, "%u.%u.%u.0/%d", a[0], a[1], a[2], THROTTLE_V4_PREFIX_BYTES * 8);
}

void throttle_source(const char *addr, char *out, size_t len)
{
	struct in6_addr v6;
	struct in_addr v4;
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, addr, &v4) == 1) {
		throttle_source_v4((const uint8_t *)&v4.s_addr, out, len);
		return;
	}
	if (inet_pton(AF_INET6, addr, &v6) != 1) {
		snprintf(out, len, "%s", addr);
		return;
	}
	if (IN6_IS_ADDR_LOOPBACK(&v6)) {
		snprintf(out, len, "%s", THROTTLE_SOURCE_LOOPBACK);
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED(&v6)) {
		throttle_source_v4(v6.s6_addr + THROTTLE_V4_MAPPED_AT, out, len);
		return;
	}
	memset(v6.s6_addr + THROTTLE_V6_PREFIX_BYTES, 0,
	       sizeof(v6.s6_addr) - THROTTLE_V6_PREFIX_BYTES);
	inet_ntop(AF_INET6, &v6, text, sizeof(text));
	snprintf(out, len, "%s/%d", text, THROTTLE_V6_PREFIX_BYTES * 8);
}

static bool throttle_matches(const struct throttle_entry *e, const char *source, const char *user)
{
	return e->source[0] != '\0' && strcmp(e->source, source) == 0 &&
	       strncmp(e->user, user, sizeof(e->user) - 1) == 0;
}

static struct throttle_entry *throttle_find(struct throttle *t, const char *source,
					    const char *user)
{
	if (source[0] == '\0')
		return NULL; /* the mark of a free entry, never a source */
	for (size_t i = 0; i < THROTTLE_ENTRIES; i++) {
		if (throttle_matches(&t->entries[i], source, user))
			return &t->entries[i];
	}
	return NULL;
}

/*
 * The pair's entry, made when new: a free entry, else the one seen longest
 * ago that no try is waiting on. NULL when every entry has tries in flight.
 */
static struct throttle_entry *throttle_make(struct throttle *t, const char *source,
					    const char *user, uint64_t now)
{
	struct throttle_entry *e = throttle_find(t, source, user);

	if (e != NULL || source[0] == '\0')
		return e;
	for (size_t i = 0; i < THROTTLE_ENTRIES; i++) {
		struct throttle_entry *c = &t->entries[i];

		if (c->source[0] == '\0') {
			e = c;
			break;
		}
		if (c->in_flight == 0 && (e == NULL || c->last_seen < e->last_seen))
			e = c;
	}
	if (e == NULL)
		return NULL;
	memset(e, 0, sizeof(*e));
	snprintf(e->source, sizeof(e->source), "%s", source);
	snprintf(e->user, sizeof(e->user), "%s", user);
	e->window_start = now;
	return e;
}

/* The spacing of turns after the n-th failure past the free ones (n >= 1). */
static uint64_t throttle_delay(const struct throttle_config *cfg, uint32_t n)
{
	uint32_t doublings = n - 1;
	uint64_t d;

	if (doublings > THROTTLE_DOUBLINGS_MAX)
		doublings = THROTTLE_DOUBLINGS_MAX;
	d = (uint64_t)THROTTLE_FIRST_DELAY_MS << doublings;
	return d < cfg->max_delay_ms ? d : cfg->max_delay_ms;
}

static uint64_t throttle_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Starts a new window for the pair, or everyone, once the old one is over. */
static void throttle_roll(struct throttle *t, struct throttle_entry *e, uint64_t now)
{
	if (e != NULL && now - e->window_start > THROTTLE_WINDOW_MS && now >= e->next_turn) {
		e->failures = 0;
		e->window_start = now;
	}
	if (now - t->global_start > THROTTLE_GLOBAL_WINDOW_MS) {
		t->global_failures = 0;
		t->global_start = now;
	}
}

enum throttle_verdict throttle_begin(struct throttle *t, const struct throttle_config *cfg,
				     const char *source, const char *user, uint64_t now,
				     uint32_t *wait_ms)
{
	struct throttle_entry *e = throttle_make(t, source, user, now);
	uint64_t limit = (uint64_t)THROTTLE_WAIT_FACTOR * cfg->max_delay_ms;
	uint64_t turn = now, pair_next = 0, global_next = t->global_next_turn;
	bool slowed = false;

	*wait_ms = 0;
	if (e == NULL) {
		/* Every entry has tries in flight: the caller's own bound was passed. */
		*wait_ms = cfg->max_delay_ms;
		return THROTTLE_REFUSE;
	}
	throttle_roll(t, e, now);
	/* Tries in flight count as failures until they end: a burst is no way round. */
	if (e->failures + e->in_flight >= cfg->free_failures) {
		uint32_t past = e->failures + e->in_flight + 1 - cfg->free_failures;

		turn = throttle_max(now, e->next_turn);
		pair_next = turn + throttle_delay(cfg, past);
		slowed = true;
	}
	if (t->global_failures >= cfg->global_failures) {
		uint64_t global_turn = throttle_max(now, t->global_next_turn);

		global_next = global_turn + THROTTLE_GLOBAL_SPACING_MS;
		turn = throttle_max(turn, global_turn);
		slowed = true;
	}
	if (turn - now > limit) {
		*wait_ms = (uint32_t)(turn - now - limit);
		return THROTTLE_REFUSE;
	}
	/* Admitted: its turn is taken, the next try of the pair (and everyone's) comes after. */
	if (pair_next != 0)
		e->next_turn = pair_next;
	t->global_next_turn = global_next;
	e->in_flight++;
	e->last_seen = now;
	*wait_ms = (uint32_t)(turn - now);
	return slowed ? THROTTLE_SLOWED : THROTTLE_GO;
}

void throttle_end(struct throttle *t, const struct throttle_config *cfg, const char *source,
		  const char *user, enum throttle_outcome outcome, uint64_t now)
{
	struct throttle_entry *e = throttle_find(t, source, user);

	if (e == NULL)
		return; /* never admitted: nothing to end */
	if (e->in_flight > 0)
		e->in_flight--;
	e->last_seen = now;
	throttle_roll(t, e, now);
	if (outcome == THROTTLE_UNCHECKED)
		return;
	if (outcome == THROTTLE_SUCCESS) {
		e->failures = 0;
		e->next_turn = 0;
		e->window_start = now;
		return;
	}
	e->failures++;
	t->global_failures++;
	if (e->failures >= cfg->free_failures)
		e->next_turn = throttle_max(
		    e->next_turn, now + throttle_delay(cfg, e->failures + 1 - cfg->free_failures));
}

uint32_t throttle_failures(const struct throttle *t, const char *source, const char *user)
{
	for (size_t i = 0; i < THROTTLE_ENTRIES; i++) {
		if (throttle_matches(&t->entries[i], source, user))
			return t->entries[i].failures;
	}
	return 0;
}
