/*
 * test_quic.c - the QUIC policy's decision for one datagram, and the token
 * bucket that bounds the port unreachables it sends. Time is the test's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "quic.h"
#include "ratelimit.h"

#define TEST_T0 5000 /* ms: any monotonic time */

/* Only UDP with ports to 443 is QUIC: not TCP 443, not UDP 53, not a later fragment. */
static void test_is_datagram(void **state)
{
	(void)state;
	assert_true(quic_is_datagram(IPPROTO_UDP, true, 443));
	assert_false(quic_is_datagram(IPPROTO_TCP, true, 443));
	assert_false(quic_is_datagram(IPPROTO_UDP, true, 53));
	assert_false(quic_is_datagram(IPPROTO_UDP, false, 0));
}

/* Each policy's action; only reject looks at may_answer and spends tokens. */
static void test_decide(void **state)
{
	struct ratelimit b = {0};

	(void)state;
	assert_int_equal(quic_decide(QUIC_POLICY_PASS, true, &b, TEST_T0, 0), QUIC_ACTION_PASS);
	assert_int_equal(quic_decide(QUIC_POLICY_DROP, true, &b, TEST_T0, 0), QUIC_ACTION_DROP);
	assert_false(b.started);
	/* A datagram RFC 1122 forbids answering spends no token. */
	assert_int_equal(quic_decide(QUIC_POLICY_REJECT, false, &b, TEST_T0, 1),
			 QUIC_ACTION_REJECT_UNANSWERED);
	assert_false(b.started);
	assert_int_equal(quic_decide(QUIC_POLICY_REJECT, true, &b, TEST_T0, 1), QUIC_ACTION_REJECT);
	assert_int_equal(quic_decide(QUIC_POLICY_REJECT, true, &b, TEST_T0, 1),
			 QUIC_ACTION_REJECT_LIMITED);
	/* Rate 0: reject drops silently, every datagram counted as over the limit. */
	struct ratelimit none = {0};
	assert_int_equal(quic_decide(QUIC_POLICY_REJECT, true, &none, TEST_T0, 0),
			 QUIC_ACTION_REJECT_LIMITED);
}

/*
 * A flood against a bucket of 100 a second: 100 at once (full at start),
 * then one per 10 ms, never more than one second's worth after a pause.
 */
static void test_token_bucket(void **state)
{
	struct ratelimit b = {0};
	unsigned taken = 0;

	(void)state;
	for (int i = 0; i < 1000; i++)
		taken += ratelimit_take(&b, TEST_T0, 100);
	assert_int_equal(taken, 100);
	/* 9 ms earn 0.9 of a token: none yet; the 10th ms makes it one. */
	assert_false(ratelimit_take(&b, TEST_T0 + 9, 100));
	assert_true(ratelimit_take(&b, TEST_T0 + 10, 100));
	assert_false(ratelimit_take(&b, TEST_T0 + 10, 100));
	/* A flood for 2 s more, a datagram every ms: 200 tokens earned, 200 taken. */
	taken = 0;
	for (uint64_t ms = TEST_T0 + 11; ms < TEST_T0 + 2011; ms++)
		taken += ratelimit_take(&b, ms, 100);
	assert_in_range(taken, 199, 200);
	/* An hour of silence fills it to one second's worth, no more. */
	taken = 0;
	for (int i = 0; i < 1000; i++)
		taken += ratelimit_take(&b, TEST_T0 + 3600000, 100);
	assert_int_equal(taken, 100);
	/* A clock that goes back earns nothing. */
	assert_false(ratelimit_take(&b, TEST_T0, 100));
	/* A rate lowered live: what is held is cut to the new second's worth. */
	taken = 0;
	for (int i = 0; i < 100; i++)
		taken += ratelimit_take(&b, TEST_T0 + 7200000, 100);
	assert_int_equal(taken, 100);
	taken = 0;
	for (int i = 0; i < 100; i++)
		taken += ratelimit_take(&b, TEST_T0 + 9000000, 5);
	assert_int_equal(taken, 5);
}

/* The largest rate over the longest earning gap: no overflow, exactly the rate. */
static void test_token_bucket_large(void **state)
{
	struct ratelimit b = {0};
	unsigned taken = 0;

	(void)state;
	for (int i = 0; i < 200000; i++)
		taken += ratelimit_take(&b, TEST_T0, 100000);
	assert_int_equal(taken, 100000);
	taken = 0;
	for (int i = 0; i < 200000; i++)
		taken += ratelimit_take(&b, TEST_T0 + 999, 100000);
	assert_int_equal(taken, 99900);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_datagram),
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test(test_token_bucket),
	    cmocka_unit_test(test_token_bucket_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
