/*
 * ratelimit.h - a token bucket: at most `rate' events a second on average,
 * and at most one second's worth (`rate') at once after a quiet spell.
 * Pure: no globals, no I/O, no allocation; the caller owns the bucket and
 * passes the time, so one thread may keep its own without locks.
 */
#ifndef DROVER_RATELIMIT_H
#define DROVER_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* Tokens are kept in thousandths, so a bucket refills smoothly from a millisecond clock. */
#define RATELIMIT_MILLI 1000U

struct ratelimit {
	uint64_t milli_tokens; /* tokens held, in thousandths */
	uint64_t last_ms;      /* the time of the last refill */
	bool started;	       /* false: a new bucket, full at its first use */
};

/*
 * Takes one token from b at now_ms (a monotonic millisecond clock) for a
 * rate of rate tokens a second: refills what the time since the last call
 * earned, capped at rate tokens, then takes one if there is one. A new
 * bucket starts full. A clock that goes back earns nothing. rate 0 never
 * gives a token. Returns whether a token was taken.
 */
bool ratelimit_take(struct ratelimit *b, uint64_t now_ms, uint32_t rate);

#endif
