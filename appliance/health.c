/* health.c - the rise/fall state machine of a proxy's health, and check result names. */
#include "health.h"

#include <string.h>

static const char *const health_state_names[] = {
    [HEALTH_DOWN] = "down",
    [HEALTH_GOING_UP] = "going-up",
    [HEALTH_UP] = "up",
    [HEALTH_GOING_DOWN] = "going-down",
};

static const char *const check_result_names[CHECK_RESULT_COUNT] = {
    [CHECK_NONE] = "",	       [CHECK_L4OK] = "L4OK",	[CHECK_L4TOUT] = "L4TOUT",
    [CHECK_L4CON] = "L4CON",   [CHECK_L7OK] = "L7OK",	[CHECK_L7STS] = "L7STS",
    [CHECK_L7TOUT] = "L7TOUT", [CHECK_L7RSP] = "L7RSP", [CHECK_SOCKERR] = "SOCKERR",
    [CHECK_LOCAL] = "LOCAL",
};

void health_init(struct health *h, bool assume_up, uint64_t now_ms)
{
	memset(h, 0, sizeof(*h));
	h->state = assume_up ? HEALTH_UP : HEALTH_DOWN;
	h->last_result = CHECK_NONE;
	h->last_change_ms = now_ms;
}

bool check_result_ok(enum check_result r)
{
	return r == CHECK_L4OK || r == CHECK_L7OK;
}

bool check_result_local(enum check_result r)
{
	return r == CHECK_LOCAL;
}

/*
 * The state flips to up or down, restarting both counts so the next change
 * needs a full rise or fall again.
 */
static void health_flip(struct health *h, enum health_state to, uint64_t now_ms)
{
	h->state = to;
	h->successes = 0;
	h->failures = 0;
	h->last_change_ms = now_ms;
	h->changes++;
}

/*
 * A rise or fall of 0 would mean "change before any evidence"; it is read as
 * 1 so that one result is always needed.
 */
bool health_record(struct health *h, enum check_result result, uint32_t duration_ms, unsigned rise,
		   unsigned fall, uint64_t now_ms)
{
	bool ok = check_result_ok(result);
	bool was_up = health_is_up(h);

	if (rise == 0)
		rise = 1;
	if (fall == 0)
		fall = 1;
	h->last_result = result;
	h->last_duration_ms = duration_ms;
	/*
	 * Our own shortage must not take a proxy out of service (its clients
	 * would lose their proxy, or bypass the filters): nor does it count
	 * as the success that would bring a down proxy back.
	 */
	if (check_result_local(result)) {
		h->local_checks++;
		return false;
	}
	h->checks++;
	if (!ok)
		h->failed_checks++;

	if (!was_up) {
		if (!ok) {
			/* Rise counts consecutive successes only. */
			h->successes = 0;
			h->state = HEALTH_DOWN;
		} else if (++h->successes >= rise) {
			health_flip(h, HEALTH_UP, now_ms);
		} else {
			h->state = HEALTH_GOING_UP;
		}
	} else {
		if (ok) {
			h->failures = 0;
			h->state = HEALTH_UP;
		} else if (++h->failures >= fall) {
			health_flip(h, HEALTH_DOWN, now_ms);
		} else {
			h->state = HEALTH_GOING_DOWN;
		}
	}
	return health_is_up(h) != was_up;
}

bool health_is_up(const struct health *h)
{
	return h->state == HEALTH_UP || h->state == HEALTH_GOING_DOWN;
}

const char *health_state_name(enum health_state s)
{
	if ((unsigned)s >= sizeof(health_state_names) / sizeof(health_state_names[0]))
		return "unknown";
	return health_state_names[s];
}

const char *check_result_name(enum check_result r)
{
	if ((unsigned)r >= CHECK_RESULT_COUNT)
		return "unknown";
	return check_result_names[r];
}
