/* ratelimit.c - a token bucket on a millisecond clock. */
#include "ratelimit.h"

bool ratelimit_take(struct ratelimit *b, uint64_t now_ms, uint32_t rate)
{
	/* rate tokens a second is rate thousandths a millisecond. */
	uint64_t cap = (uint64_t)rate * RATELIMIT_MILLI;

	if (!b->started) {
		b->started = true;
		b->milli_tokens = cap;
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		uint64_t elapsed = now_ms - b->last_ms;

		/* A second or more refills it whole: no product below can overflow. */
		if (elapsed >= RATELIMIT_MILLI)
			b->milli_tokens = cap;
		else
			b->milli_tokens += elapsed * rate;
		b->last_ms = now_ms;
	}
	/* Never more than a second's worth, also when the rate was lowered live. */
	if (b->milli_tokens > cap)
		b->milli_tokens = cap;
	if (b->milli_tokens < RATELIMIT_MILLI)
		return false;
	b->milli_tokens -= RATELIMIT_MILLI;
	return true;
}
