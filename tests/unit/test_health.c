/* test_health.c - rise/fall state machine driven by a fake clock; result and state names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "health.h"

#define RISE 3
#define FALL 2

/* A fake clock: every record advances it by one check interval. */
struct clocked_health {
	struct health h;
	uint64_t now_ms;
};

static bool record(struct clocked_health *c, enum check_result r)
{
	c->now_ms += 2000;
	return health_record(&c->h, r, 7, RISE, FALL, c->now_ms);
}

static void test_starts_down(void **state)
{
	struct health h;

	(void)state;
	health_init(&h, false, 1000);
	assert_int_equal(h.state, HEALTH_DOWN);
	assert_false(health_is_up(&h));
	assert_int_equal(h.last_result, CHECK_NONE);
	assert_int_equal(h.last_change_ms, 1000);
	assert_int_equal(h.checks, 0);
	assert_int_equal(h.changes, 0);
}

static void test_assume_up(void **state)
{
	struct health h;

	(void)state;
	health_init(&h, true, 1000);
	assert_int_equal(h.state, HEALTH_UP);
	assert_true(health_is_up(&h));
	assert_int_equal(h.changes, 0);
}

static void test_rise_needs_exactly_rise_successes(void **state)
{
	struct clocked_health c = {.now_ms = 1000};

	(void)state;
	health_init(&c.h, false, c.now_ms);
	for (unsigned i = 1; i < RISE; i++) {
		assert_false(record(&c, CHECK_L7OK));
		assert_int_equal(c.h.state, HEALTH_GOING_UP);
		assert_int_equal(c.h.successes, i);
		assert_false(health_is_up(&c.h));
		assert_int_equal(c.h.last_change_ms, 1000);
	}
	assert_true(record(&c, CHECK_L7OK));
	assert_int_equal(c.h.state, HEALTH_UP);
	assert_true(health_is_up(&c.h));
	assert_int_equal(c.h.last_change_ms, c.now_ms);
	assert_int_equal(c.h.changes, 1);
	assert_int_equal(c.h.successes, 0);
	assert_int_equal(c.h.checks, RISE);
	assert_int_equal(c.h.failed_checks, 0);
}

static void test_failure_while_going_up_resets(void **state)
{
	struct clocked_health c = {.now_ms = 1000};

	(void)state;
	health_init(&c.h, false, c.now_ms);
	for (unsigned i = 1; i < RISE; i++)
		record(&c, CHECK_L4OK);
	assert_int_equal(c.h.state, HEALTH_GOING_UP);
	assert_false(record(&c, CHECK_L4CON));
	assert_int_equal(c.h.state, HEALTH_DOWN);
	assert_int_equal(c.h.successes, 0);
	assert_int_equal(c.h.last_change_ms, 1000);

	/* The count starts over: rise - 1 successes are not enough again. */
	for (unsigned i = 1; i < RISE; i++)
		assert_false(record(&c, CHECK_L4OK));
	assert_int_equal(c.h.state, HEALTH_GOING_UP);
	assert_true(record(&c, CHECK_L4OK));
	assert_int_equal(c.h.state, HEALTH_UP);
	assert_int_equal(c.h.changes, 1);
	assert_int_equal(c.h.failed_checks, 1);
}

static void test_fall_needs_consecutive_failures(void **state)
{
	struct clocked_health c = {.now_ms = 5000};
	uint64_t up_since;

	(void)state;
	health_init(&c.h, true, c.now_ms);
	up_since = c.h.last_change_ms;

	/* A failure then a success: going-down and back up, no change. */
	for (unsigned i = 1; i < FALL; i++) {
		assert_false(record(&c, CHECK_L7STS));
		assert_int_equal(c.h.state, HEALTH_GOING_DOWN);
		assert_int_equal(c.h.failures, i);
		assert_true(health_is_up(&c.h));
	}
	assert_false(record(&c, CHECK_L7OK));
	assert_int_equal(c.h.state, HEALTH_UP);
	assert_int_equal(c.h.failures, 0);
	assert_int_equal(c.h.last_change_ms, up_since);
	assert_int_equal(c.h.changes, 0);

	/* fall consecutive failures take it down. */
	for (unsigned i = 1; i < FALL; i++)
		assert_false(record(&c, CHECK_L7TOUT));
	assert_true(record(&c, CHECK_L7TOUT));
	assert_int_equal(c.h.state, HEALTH_DOWN);
	assert_false(health_is_up(&c.h));
	assert_int_equal(c.h.last_change_ms, c.now_ms);
	assert_int_equal(c.h.changes, 1);
	assert_int_equal(c.h.failures, 0);
	assert_int_equal(c.h.last_result, CHECK_L7TOUT);
	assert_int_equal(c.h.last_duration_ms, 7);
}

static void test_changes_counted_both_ways(void **state)
{
	struct clocked_health c = {.now_ms = 0};

	(void)state;
	health_init(&c.h, false, c.now_ms);
	for (int cycle = 0; cycle < 4; cycle++) {
		for (unsigned i = 0; i < RISE; i++)
			record(&c, CHECK_L7OK);
		assert_true(health_is_up(&c.h));
		for (unsigned i = 0; i < FALL; i++)
			record(&c, CHECK_SOCKERR);
		assert_false(health_is_up(&c.h));
	}
	assert_int_equal(c.h.changes, 8);
	assert_int_equal(c.h.checks, 4 * (RISE + FALL));
	assert_int_equal(c.h.failed_checks, 4 * FALL);
	assert_int_equal(c.h.last_change_ms, c.now_ms);
}

static void test_down_stays_down_on_failures(void **state)
{
	struct clocked_health c = {.now_ms = 100};

	(void)state;
	health_init(&c.h, false, c.now_ms);
	for (int i = 0; i < 10; i++)
		assert_false(record(&c, CHECK_L4TOUT));
	assert_int_equal(c.h.state, HEALTH_DOWN);
	assert_int_equal(c.h.changes, 0);
	assert_int_equal(c.h.last_change_ms, 100);
	assert_int_equal(c.h.failed_checks, 10);
}

static void test_zero_rise_fall_read_as_one(void **state)
{
	struct health h;

	(void)state;
	health_init(&h, false, 0);
	assert_true(health_record(&h, CHECK_L4OK, 1, 0, 0, 10));
	assert_int_equal(h.state, HEALTH_UP);
	assert_true(health_record(&h, CHECK_L4CON, 1, 0, 0, 20));
	assert_int_equal(h.state, HEALTH_DOWN);
}

/*
 * The appliance out of descriptors: any number of LOCAL results leave an up
 * proxy up and a down one down, and break neither run of results; they are
 * counted apart and shown as the last result.
 */
static void test_local_neither_rises_nor_falls(void **state)
{
	struct clocked_health c = {.now_ms = 0};

	(void)state;
	health_init(&c.h, true, c.now_ms);
	for (unsigned i = 1; i < FALL; i++)
		record(&c, CHECK_L4CON);
	assert_int_equal(c.h.state, HEALTH_GOING_DOWN);
	for (int i = 0; i < 100; i++) {
		assert_false(record(&c, CHECK_LOCAL));
		assert_true(health_is_up(&c.h));
	}
	assert_int_equal(c.h.state, HEALTH_GOING_DOWN);
	assert_int_equal(c.h.failures, FALL - 1);
	assert_int_equal(c.h.last_result, CHECK_LOCAL);
	assert_int_equal(c.h.local_checks, 100);
	assert_int_equal(c.h.checks, FALL - 1);
	assert_int_equal(c.h.failed_checks, FALL - 1);
	assert_int_equal(c.h.changes, 0);
	/* The run of failures goes on where it was: one more takes it down. */
	assert_true(record(&c, CHECK_L4CON));
	assert_false(health_is_up(&c.h));

	/* Nor do LOCAL results bring a down proxy up, or break its run of successes. */
	for (unsigned i = 1; i < RISE; i++)
		record(&c, CHECK_L7OK);
	for (int i = 0; i < 100; i++)
		assert_false(record(&c, CHECK_LOCAL));
	assert_int_equal(c.h.state, HEALTH_GOING_UP);
	assert_int_equal(c.h.successes, RISE - 1);
	assert_true(record(&c, CHECK_L7OK));
	assert_true(health_is_up(&c.h));
	assert_int_equal(c.h.local_checks, 200);
	assert_true(check_result_local(CHECK_LOCAL));
	assert_false(check_result_local(CHECK_L4CON));
	assert_false(check_result_ok(CHECK_LOCAL));
}

static void test_ok_results(void **state)
{
	(void)state;
	for (int r = 0; r < CHECK_RESULT_COUNT; r++)
		assert_int_equal(check_result_ok(r), r == CHECK_L4OK || r == CHECK_L7OK);
}

static void test_names(void **state)
{
	static const char *const results[CHECK_RESULT_COUNT] = {
	    "", "L4OK", "L4TOUT", "L4CON", "L7OK", "L7STS", "L7TOUT", "L7RSP", "SOCKERR", "LOCAL",
	};

	(void)state;
	assert_string_equal(health_state_name(HEALTH_UP), "up");
	assert_string_equal(health_state_name(HEALTH_DOWN), "down");
	assert_string_equal(health_state_name(HEALTH_GOING_UP), "going-up");
	assert_string_equal(health_state_name(HEALTH_GOING_DOWN), "going-down");
	for (int r = 0; r < CHECK_RESULT_COUNT; r++)
		assert_string_equal(check_result_name(r), results[r]);
	/* Out-of-range values still name something printable. */
	assert_non_null(check_result_name(CHECK_RESULT_COUNT));
	assert_non_null(health_state_name((enum health_state)42));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_starts_down),
	    cmocka_unit_test(test_assume_up),
	    cmocka_unit_test(test_rise_needs_exactly_rise_successes),
	    cmocka_unit_test(test_failure_while_going_up_resets),
	    cmocka_unit_test(test_fall_needs_consecutive_failures),
	    cmocka_unit_test(test_changes_counted_both_ways),
	    cmocka_unit_test(test_down_stays_down_on_failures),
	    cmocka_unit_test(test_zero_rise_fall_read_as_one),
	    cmocka_unit_test(test_local_neither_rises_nor_falls),
	    cmocka_unit_test(test_ok_results),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
