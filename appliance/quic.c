/* quic.c - the QUIC policy's decision for one datagram. */
#include "quic.h"

enum quic_action quic_decide(enum quic_policy policy, bool may_answer, struct ratelimit *bucket,
			     uint64_t now_ms, uint32_t rate)
{
	switch (policy) {
	case QUIC_POLICY_PASS:
		return QUIC_ACTION_PASS;
	case QUIC_POLICY_DROP:
		return QUIC_ACTION_DROP;
	case QUIC_POLICY_REJECT:
	default:
		if (!may_answer)
			return QUIC_ACTION_REJECT_UNANSWERED;
		if (!ratelimit_take(bucket, now_ms, rate))
			return QUIC_ACTION_REJECT_LIMITED;
		return QUIC_ACTION_REJECT;
	}
}
