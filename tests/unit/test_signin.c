/*
 * test_signin.c - the sign-in's defences, each attacked directly: control
 * characters in what is logged, stored and printed (log_escape, the logger,
 * the audit store), the throttle per (source, user) that slows and never
 * locks out, the password work off the loop (hasher), and the audit log's
 * folding of failed sign-ins and its bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <errno.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "account.h"
#include "hasher.h"
#include "log.h"
#include "store.h"
#include "throttle.h"

#define ATTACK_NAME                                                                                \
	"mallory\n<3>forged error\x1b[31mred\x07\xc2\x9b"                                          \
	"2J\\"

/* ---- escaping ---- */

static void test_escape(void **state)
{
	char out[LOG_ESCAPED_SIZE(128)];

	(void)state;
	assert_string_equal(log_escape(ATTACK_NAME, out, sizeof(out)),
			    "mallory\\n<3>forged error\\x1b[31mred\\x07\\xc2\\x9b2J\\\\");
	assert_string_equal(log_escape("tab\there\r", out, sizeof(out)), "tab\\there\\r");
	/* UTF-8 text stays as it is; what is not UTF-8 is shown byte by byte. */
	assert_string_equal(log_escape("Zoë ☃ 🙂", out, sizeof(out)), "Zoë ☃ 🙂");
	assert_string_equal(log_escape("\xff\xc0\xaf\xe0\x80\x80", out, sizeof(out)),
			    "\\xff\\xc0\\xaf\\xe0\\x80\\x80");
	assert_string_equal(log_escape("\xed\xa0\x80", out, sizeof(out)), "\\xed\\xa0\\x80");
	assert_string_equal(log_escape("\x7f", out, sizeof(out)), "\\x7f");
	/* Cut at an escape's boundary, never in the middle of one. */
	assert_string_equal(log_escape("ab\ncd", out, 4), "ab");
	assert_string_equal(log_escape("ab\ncd", out, 5), "ab\\n");
	assert_string_equal(log_escape("a\xc3\xa9", out, 3), "a");
	assert_true(log_is_clean("failed sign-in as admin from 127.0.0.1"));
	assert_false(log_is_clean(ATTACK_NAME));
}

/* The logger makes one line of an attacker's name, at its own priority. */
static void test_log_one_line(void **state)
{
	char path[] = "/tmp/drover-test-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char buf[1024];
	ssize_t n;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	log_init("test", LOG_LEVEL_INFO);
	log_info("web UI: failed sign-in as %s from %s", ATTACK_NAME, "127.0.0.1");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1); /* one line */
	assert_ptr_equal(strstr(buf, "<6>"), buf);	  /* info, as written */
	assert_null(strstr(buf, "\n<3>"));
	for (ssize_t i = 0; i + 1 < n; i++)
		assert_true((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f);
	assert_non_null(strstr(buf, "mallory\\n<3>forged error\\x1b[31m"));
}

/* ---- the throttle ---- */

static const struct throttle_config config = {
    .free_failures = 5,
    .max_delay_ms = 30000,
    .global_failures = 100,
};

static void test_throttle_source(void **state)
{
	char out[THROTTLE_SOURCE_MAX];

	(void)state;
	throttle_source("127.0.0.1", out, sizeof(out));
	assert_string_equal(out, THROTTLE_SOURCE_LOOPBACK);
	throttle_source("127.0.1.12", out, sizeof(out));
	assert_string_equal(out, THROTTLE_SOURCE_LOOPBACK);
	throttle_source("::1", out, sizeof(out));
	assert_string_equal(out, THROTTLE_SOURCE_LOOPBACK);
	throttle_source("::ffff:127.9.9.9", out, sizeof(out));
	assert_string_equal(out, THROTTLE_SOURCE_LOOPBACK);
	throttle_source("198.18.1.77", out, sizeof(out));
	assert_string_equal(out, "198.18.1.0/24");
	throttle_source("::ffff:198.18.1.5", out, sizeof(out));
	assert_string_equal(out, "198.18.1.0/24");
	throttle_source("2001:db8:1:2:aaaa::5", out, sizeof(out));
	assert_string_equal(out, "2001:db8:1:2::/64");
	throttle_source("2001:db8:1:2:ffff:ffff:ffff:ffff", out, sizeof(out));
	assert_string_equal(out, "2001:db8:1:2::/64");
	throttle_source("unknown", out, sizeof(out));
	assert_string_equal(out, "unknown");
}

/* One try, checked at once when its turn has come: returns the verdict, *waited its wait. */
static enum throttle_verdict try_once(struct throttle *t, const struct throttle_config *cfg,
				      const char *addr, const char *user, bool right, uint64_t *now,
				      uint32_t *waited)
{
	char source[THROTTLE_SOURCE_MAX];
	enum throttle_verdict v;
	uint32_t wait;

	throttle_source(addr, source, sizeof(source));
	v = throttle_begin(t, cfg, source, user, *now, &wait);
	if (waited != NULL)
		*waited = wait;
	if (v == THROTTLE_REFUSE)
		return v;
	*now += wait; /* held until its turn */
	throttle_end(t, cfg, source, user, right ? THROTTLE_SUCCESS : THROTTLE_FAILURE, *now);
	*now += 1;
	return v;
}

/* 12 failures from 127.0.1.1 .. 127.0.1.12: one source, slowed after the free ones. */
static void test_throttle_one_source(void **state)
{
	struct throttle *t = calloc(1, sizeof(*t));
	uint64_t now = 1000000;
	uint32_t wait, last = 0;

	(void)state;
	assert_non_null(t);
	for (int i = 1; i <= 12; i++) {
		char addr[32];
		enum throttle_verdict v;

		snprintf(addr, sizeof(addr), "127.0.1.%d", i);
		v = try_once(t, &config, addr, "admin", false, &now, &wait);
		if (i <= (int)config.free_failures) {
			assert_int_equal(v, THROTTLE_GO);
			assert_int_equal(wait, 0);
		} else {
			/* Slowed, never refused, each wait longer than the one before (to the cap).
			 */
			assert_int_equal(v, THROTTLE_SLOWED);
			assert_true(wait > 0 && wait <= config.max_delay_ms);
			assert_true(wait > last || wait == last);
			last = wait;
		}
	}
	assert_int_equal(throttle_failures(t, THROTTLE_SOURCE_LOOPBACK, "admin"), 12);
	/* A /24 is one source as well; the next /24 is another. */
	for (int i = 1; i <= 6; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "198.18.1.%d", i);
		try_once(t, &config, addr, "admin", false, &now, NULL);
	}
	assert_int_equal(throttle_failures(t, "198.18.1.0/24", "admin"), 6);
	assert_int_equal(try_once(t, &config, "198.18.2.1", "admin", false, &now, NULL),
			 THROTTLE_GO);
	free(t);
}

/* After many failures from loopback, the right password still signs in. */
static void test_throttle_no_lockout(void **state)
{
	struct throttle *t = calloc(1, sizeof(*t));
	uint64_t now = 1000000;
	uint32_t wait;

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < 60; i++)
		assert_int_not_equal(try_once(t, &config, "127.0.0.1", "admin", false, &now, NULL),
				     THROTTLE_REFUSE);
	/* The waits never grow past the maximum delay. */
	assert_int_equal(try_once(t, &config, "127.0.0.1", "admin", true, &now, &wait),
			 THROTTLE_SLOWED);
	assert_true(wait <= config.max_delay_ms);
	/* Signed in: forgiven. */
	assert_int_equal(try_once(t, &config, "127.0.0.1", "admin", false, &now, &wait),
			 THROTTLE_GO);
	assert_int_equal(wait, 0);
	free(t);
}

/* A flood of one pair at once: turns queue up to a bound, then refusals that say when. */
static void test_throttle_flood(void **state)
{
	struct throttle *t = calloc(1, sizeof(*t));
	uint64_t now = 1000000;
	int go = 0, slowed = 0, refused = 0;
	uint32_t wait, prev = 0;

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < 100; i++) {
		enum throttle_verdict v =
		    throttle_begin(t, &config, THROTTLE_SOURCE_LOOPBACK, "admin", now, &wait);

		if (v == THROTTLE_GO) {
			go++;
			assert_int_equal(wait, 0);
		} else if (v == THROTTLE_SLOWED) {
			slowed++;
			assert_true(wait >= prev);
			assert_true(wait <= THROTTLE_WAIT_FACTOR * config.max_delay_ms);
			prev = wait;
		} else {
			refused++;
			assert_true(wait > 0);
		}
	}
	/* Tries in flight count: a burst gets its free ones and no more at once. */
	assert_int_equal(go, config.free_failures);
	assert_true(slowed > 0 && slowed < 20);
	assert_int_equal(go + slowed + refused, 100);
	/* The ones in flight end; a later right password is taken. */
	for (int i = 0; i < go + slowed; i++)
		throttle_end(t, &config, THROTTLE_SOURCE_LOOPBACK, "admin", THROTTLE_FAILURE, now);
	now += 10 * THROTTLE_WAIT_FACTOR * config.max_delay_ms;
	assert_int_not_equal(try_once(t, &config, "127.0.0.1", "admin", true, &now, NULL),
			     THROTTLE_REFUSE);
	free(t);
}

/* Another user's failures do not slow admin, below the global ceiling; above it all are. */
static void test_throttle_other_user(void **state)
{
	struct throttle *t = calloc(1, sizeof(*t));
	struct throttle_config low = config;
	uint64_t now = 1000000;
	uint32_t wait;

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < 20; i++)
		try_once(t, &config, "127.0.0.1", "bob", false, &now, NULL);
	assert_int_equal(try_once(t, &config, "127.0.0.1", "admin", true, &now, &wait),
			 THROTTLE_GO);
	assert_int_equal(wait, 0);
	/* One failure each of many names, within a minute, passes a ceiling of 30. */
	low.global_failures = 30;
	for (int i = 0; i < 40; i++) {
		char user[16];

		snprintf(user, sizeof(user), "carol%d", i);
		try_once(t, &low, "198.18.9.1", user, false, &now, NULL);
	}
	assert_int_equal(try_once(t, &low, "127.0.0.1", "admin", true, &now, &wait),
			 THROTTLE_SLOWED);
	/* The global window passes: everyone is free again. */
	now += THROTTLE_GLOBAL_WINDOW_MS + 1;
	assert_int_equal(try_once(t, &low, "127.0.0.1", "admin", true, &now, &wait), THROTTLE_GO);
	free(t);
}

/* Failures age out of their window; address churn never evicts a pair with tries in flight. */
static void test_throttle_window_and_churn(void **state)
{
	struct throttle *t = calloc(1, sizeof(*t));
	/* Churn alone, without the global ceiling. */
	const struct throttle_config cfg = {
	    .free_failures = 5, .max_delay_ms = 30000, .global_failures = UINT32_MAX};
	uint64_t now = 1000000;
	uint32_t wait;

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < 7; i++)
		try_once(t, &cfg, "198.18.1.1", "admin", false, &now, NULL);
	now += THROTTLE_WINDOW_MS + 2 * cfg.max_delay_ms;
	assert_int_equal(try_once(t, &cfg, "198.18.1.1", "admin", false, &now, NULL), THROTTLE_GO);
	assert_int_equal(throttle_failures(t, "198.18.1.0/24", "admin"), 1);

	assert_int_equal(throttle_begin(t, &cfg, "198.18.7.0/24", "held", now, &wait), THROTTLE_GO);
	for (int i = 0; i < THROTTLE_ENTRIES * 3; i++) {
		char source[THROTTLE_SOURCE_MAX];

		snprintf(source, sizeof(source), "10.%d.%d.0/24", i / 256, i % 256);
		assert_int_not_equal(throttle_begin(t, &cfg, source, "x", now, &wait),
				     THROTTLE_REFUSE);
		throttle_end(t, &cfg, source, "x", THROTTLE_FAILURE, now);
	}
	/* The held try's pair is still there to end. */
	throttle_end(t, &cfg, "198.18.7.0/24", "held", THROTTLE_FAILURE, now);
	assert_int_equal(throttle_failures(t, "198.18.7.0/24", "held"), 1);
	free(t);
}

/* ---- the hasher ---- */

struct job_box {
	struct hasher_job job;
	struct event_base *base;
	int *done;
};

static void on_job_done(struct hasher_job *job)
{
	struct job_box *b = (struct job_box *)job;

	(*b->done)++;
	/* The password was wiped before the job came back. */
	assert_int_equal(b->job.password[0], '\0');
}

static void run_until(struct event_base *base, const int *done, int want)
{
	while (*done < want)
		event_base_loop(base, EVLOOP_ONCE);
}

static void test_hasher(void **state)
{
	struct event_base *base = event_base_new();
	struct job_box boxes[20];
	char err[128], stored[HASHER_HASH_MAX];
	struct hasher *h;
	int done = 0, accepted = 0, refused = 0;

	(void)state;
	assert_non_null(base);
	h = hasher_start(base, 1, err, sizeof(err));
	assert_non_null(h);
	memset(boxes, 0, sizeof(boxes));
	for (size_t i = 0; i < 4; i++) {
		boxes[i].job.done = on_job_done;
		boxes[i].done = &done;
	}
	boxes[0].job.task = HASHER_HASH;
	strcpy(boxes[0].job.password, "a right password");
	assert_int_equal(hasher_submit(h, &boxes[0].job), 0);
	run_until(base, &done, 1);
	assert_int_equal(boxes[0].job.result, HASHER_MATCH);
	memcpy(stored, boxes[0].job.hash, sizeof(stored));
	assert_int_equal(strncmp(stored, "$argon2id$", 10), 0);

	boxes[1].job.task = HASHER_VERIFY;
	strcpy(boxes[1].job.password, "a right password");
	memcpy(boxes[1].job.hash, stored, sizeof(stored));
	boxes[2].job.task = HASHER_VERIFY;
	strcpy(boxes[2].job.password, "a wrong password");
	memcpy(boxes[2].job.hash, stored, sizeof(stored));
	/* An unknown user: no stored hash; checked anyway, never a match. */
	boxes[3].job.task = HASHER_VERIFY;
	strcpy(boxes[3].job.password, "a right password");
	assert_int_equal(hasher_submit(h, &boxes[1].job), 0);
	run_until(base, &done, 2);
	assert_int_equal(hasher_submit(h, &boxes[2].job), 0);
	run_until(base, &done, 3);
	assert_int_equal(hasher_submit(h, &boxes[3].job), 0);
	run_until(base, &done, 4);
	assert_int_equal(boxes[1].job.result, HASHER_MATCH);
	assert_int_equal(boxes[2].job.result, HASHER_MISMATCH);
	assert_int_equal(boxes[3].job.result, HASHER_MISMATCH);

	/* A burst beyond the threads and the queue: the excess is refused, the rest done. */
	done = 0;
	for (size_t i = 0; i < 20; i++) {
		memset(&boxes[i], 0, sizeof(boxes[i]));
		boxes[i].job.done = on_job_done;
		boxes[i].done = &done;
		boxes[i].job.task = HASHER_VERIFY;
		strcpy(boxes[i].job.password, "guess");
		memcpy(boxes[i].job.hash, stored, sizeof(stored));
		if (hasher_submit(h, &boxes[i].job) == 0)
			accepted++;
		else
			refused++;
	}
	assert_true(refused > 0);
	assert_true(hasher_pending(h) <= HASHER_THREADS + 1);
	run_until(base, &done, accepted);
	assert_int_equal(hasher_pending(h), 0);
	/* A password that does not fit is refused before it is queued. */
	memset(boxes[0].job.password, 'x', sizeof(boxes[0].job.password));
	assert_int_equal(hasher_submit(h, &boxes[0].job), -E2BIG);
	hasher_stop(h);
	event_base_free(base);
}

/* ---- the audit log: escaped, folded, bounded ---- */

struct world {
	char dir[64];
	char path[128];
	struct store *store;
};

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[256];

	assert_non_null(w);
	assert_non_null(scratch_make(w->dir, sizeof(w->dir), "signin"));
	snprintf(w->path, sizeof(w->path), "%s/drover.db", w->dir);
	if (store_open(w->path, &w->store, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	store_close(w->store);
	scratch_remove(w->dir);
	free(w);
	return 0;
}

/* Every row, newest first. */
static struct audit_entry *all_rows(struct store *st, size_t *n)
{
	struct audit_entry *rows = NULL;

	assert_int_equal(store_audit_list(st, 0, 1000000, &rows, n), 0);
	return rows;
}

/* How many failed sign-ins a row stands for: "N failed sign-ins ..." or one. */
static unsigned long row_count(const struct audit_entry *e)
{
	unsigned long n;

	if (strcmp(e->action, "login.failed") != 0)
		return 0;
	if (sscanf(e->detail, "%lu failed sign-ins", &n) == 1)
		return n;
	return 1;
}

static void test_audit_escaped(void **state)
{
	struct world *w = *state;
	struct account_fold *f = calloc(1, sizeof(*f));
	struct audit_entry *rows;
	size_t n;

	assert_non_null(f);
	assert_int_equal(account_audit_failure(w->store, f, THROTTLE_SOURCE_LOOPBACK, ATTACK_NAME,
					       "127.0.0.1", 100),
			 0);
	assert_int_equal(account_audit_failure(w->store, f, THROTTLE_SOURCE_LOOPBACK, ATTACK_NAME,
					       "127.0.0.1", 101),
			 0);
	assert_int_equal(store_audit_add(w->store, "token:a\nb", "x.y", "line\none\x1b[2J"), 0);
	rows = all_rows(w->store, &n);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].actor, "token:a\\nb");
	assert_string_equal(rows[0].detail, "line\\none\\x1b[2J");
	for (const char *p = rows[1].detail; *p != '\0'; p++)
		assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
	assert_non_null(strstr(rows[1].detail, "2 failed sign-ins as mallory\\n<3>forged"));
	free(rows);
	free(f);
}

/* 10,000 failed sign-ins: folded rows count them all; the log stays within its bound. */
static void test_audit_fold_and_bound(void **state)
{
	struct world *w = *state;
	struct account_fold *f = calloc(1, sizeof(*f));
	struct audit_entry *rows;
	unsigned long counted = 0;
	const uint32_t bound = 1000;
	size_t n, removed;
	uint64_t now = 5000;

	assert_non_null(f);
	/* One pair, 10,000 times over about three minutes: a few rows that say how many. */
	for (int i = 0; i < 10000; i++) {
		assert_int_equal(account_audit_failure(w->store, f, THROTTLE_SOURCE_LOOPBACK,
						       "admin", "127.0.0.1", now),
				 0);
		if (i % 60 == 59)
			now++;
	}
	rows = all_rows(w->store, &n);
	for (size_t i = 0; i < n; i++)
		counted += row_count(&rows[i]);
	free(rows);
	assert_int_equal(counted, 10000);
	assert_true(n <= 10000 / (60 * ACCOUNT_FOLD_SECS) + 1);
	print_message("10000 failures of one pair: %zu audit rows\n", n);

	/* 10,000 names, one failure each: a row each, until the bound removes the oldest. */
	for (int i = 0; i < 10000; i++) {
		char user[32];

		snprintf(user, sizeof(user), "user%d", i);
		assert_int_equal(
		    account_audit_failure(w->store, f, "198.18.1.0/24", user, "198.18.1.9", now),
		    0);
	}
	/* As the manager's tick does: a batch a call, until nothing is beyond the bound. */
	do
		assert_int_equal(store_audit_prune(w->store, bound, 0, &removed), 0);
	while (removed > 0);
	rows = all_rows(w->store, &n);
	assert_true(n <= bound);
	assert_int_equal(n, bound);
	/* The newest are kept. */
	assert_non_null(strstr(rows[0].detail, "user9999"));
	free(rows);
	/* Nothing more to do: a second call removes nothing. */
	assert_int_equal(store_audit_prune(w->store, bound, 0, &removed), 0);
	assert_int_equal(removed, 0);
	/* A fold whose row was pruned starts a new row. */
	assert_int_equal(
	    account_audit_failure(w->store, f, THROTTLE_SOURCE_LOOPBACK, "admin", "127.0.0.1", now),
	    0);
	/* By age: rows older than the cut (all of them, here) go. */
	assert_int_equal(store_audit_prune(w->store, bound, INT64_MAX, &removed), 0);
	rows = all_rows(w->store, &n);
	assert_int_equal(n, 0);
	free(rows);
	free(f);
}

/* A lowered bound is reached in cheap steps, each at most a batch. */
static void test_audit_prune_batches(void **state)
{
	struct world *w = *state;
	struct audit_entry *rows;
	size_t n, removed;
	int calls = 0;

	for (int i = 0; i < STORE_AUDIT_PRUNE_BATCH + 500; i++)
		assert_int_equal(store_audit_add(w->store, "t", "x.y", "row"), 0);
	do {
		assert_int_equal(store_audit_prune(w->store, 100, 0, &removed), 0);
		assert_true(removed <= STORE_AUDIT_PRUNE_BATCH);
		calls++;
	} while (removed > 0);
	assert_int_equal(calls, 3);
	rows = all_rows(w->store, &n);
	assert_int_equal(n, 100);
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_log_one_line),
	    cmocka_unit_test(test_throttle_source),
	    cmocka_unit_test(test_throttle_one_source),
	    cmocka_unit_test(test_throttle_no_lockout),
	    cmocka_unit_test(test_throttle_flood),
	    cmocka_unit_test(test_throttle_other_user),
	    cmocka_unit_test(test_throttle_window_and_churn),
	    cmocka_unit_test(test_hasher),
	    cmocka_unit_test_setup_teardown(test_audit_escaped, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_audit_fold_and_bound, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_audit_prune_batches, world_setup, world_teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
