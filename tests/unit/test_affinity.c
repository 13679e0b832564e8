/* test_affinity.c - lock-free client affinity table: hits, expiry, eviction, sweep, clock wrap,
 * threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "hash.h"

#define CLOCK_WRAP (1U << 20)

static const uint8_t test_key[HASH_KEY_BYTES] = {1, 2,	3,  4,	5,  6,	7,  8,
						 9, 10, 11, 12, 13, 14, 15, 16};

/* Hash values chosen by the test: equal values share a bucket. */
#define SAME_BUCKET 0x0000002a00000000ULL

/* A table moved to another key keeps each live client's slot and idle time, and no dead one. */
static void test_rekey(void **state)
{
	static const uint8_t other_key[HASH_KEY_BYTES] = {16, 15, 14, 13, 12, 11, 10, 9,
							  8,  7,  6,  5,  4,  3,  2,  1};
	struct affinity_table a, b;
	uint32_t age;
	uint16_t slot;
	size_t moved;

	(void)state;
	assert_int_equal(affinity_init(&a, 4096, 60), 0);
	/* Larger: no bucket of it overflows with these keys (one of the small one's did). */
	assert_int_equal(affinity_init(&b, 16384, 60), 0);
	for (uint32_t c = 1; c <= 1000; c++)
		affinity_insert(&a, c, hash_client(test_key, c), (uint16_t)(c % 7 + 1),
				c <= 10 ? 10 : 100, NULL);
	/* At 120 s the first ten have been idle 110 s: dead, not carried over. */
	moved = affinity_rekey(&b, &a, 120, other_key);
	assert_int_equal(moved, 990);
	for (uint32_t c = 1; c <= 1000; c++) {
		bool found = affinity_peek(&b, c, hash_client(other_key, c), 120, &slot, &age);

		assert_int_equal(found, c > 10);
		if (found) {
			assert_int_equal(slot, c % 7 + 1);
			assert_int_equal(age, 20);
		}
	}
	affinity_free(&a);
	affinity_free(&b);
}

static void test_init(void **state)
{
	struct affinity_table t;

	(void)state;
	assert_int_equal(affinity_init(&t, AFFINITY_MIN_CLIENTS - 1, 60), -EINVAL);
	assert_int_equal(affinity_init(&t, AFFINITY_MAX_CLIENTS + 1, 60), -EINVAL);
	assert_int_equal(affinity_init(&t, 4096, 0), -EINVAL);
	assert_int_equal(affinity_init(&t, 4096, AFFINITY_TIMEOUT_MAX + 1), -EINVAL);

	assert_int_equal(affinity_init(&t, 5000, AFFINITY_TIMEOUT_MAX), 0);
	assert_int_equal(t.nbuckets & (t.nbuckets - 1), 0);
	assert_true((uint64_t)t.nbuckets * AFFINITY_WAYS >= 5000);
	assert_int_equal(t.nbuckets, 1024); /* 625 buckets needed, rounded up */
	assert_int_equal((uintptr_t)t.entries % 64, 0);
	assert_int_equal(t.timeout, AFFINITY_TIMEOUT_MAX);
	affinity_free(&t);
	assert_null(t.entries);
}

static void test_insert_lookup(void **state)
{
	struct affinity_table t;
	struct affinity_stats st = {0};
	uint16_t slot = 0;
	uint32_t age = 99;

	(void)state;
	assert_int_equal(affinity_init(&t, 4096, 60), 0);
	assert_false(affinity_lookup(&t, 0x0a000001, 77, 100, &slot));
	affinity_insert(&t, 0x0a000001, 77, 5, 100, &st);
	assert_int_equal(st.inserts, 1);
	assert_int_equal(st.evictions, 0);
	assert_true(affinity_lookup(&t, 0x0a000001, 77, 100, &slot));
	assert_int_equal(slot, 5);
	/* another client in the same bucket is not confused with it */
	assert_false(affinity_lookup(&t, 0x0a000002, 77, 100, &slot));

	/* peek reports the age and does not refresh; lookup does */
	assert_true(affinity_peek(&t, 0x0a000001, 77, 110, &slot, &age));
	assert_int_equal(age, 10);
	assert_true(affinity_peek(&t, 0x0a000001, 77, 110, &slot, &age));
	assert_int_equal(age, 10);
	assert_true(affinity_lookup(&t, 0x0a000001, 77, 110, &slot));
	assert_true(affinity_peek(&t, 0x0a000001, 77, 112, &slot, &age));
	assert_int_equal(age, 2);

	/* a second insert for the client updates its entry, it does not add one */
	affinity_insert(&t, 0x0a000001, 77, 4095, 120, &st);
	assert_int_equal(st.inserts, 1);
	assert_true(affinity_lookup(&t, 0x0a000001, 77, 120, &slot));
	assert_int_equal(slot, 4095);
	assert_int_equal(affinity_sweep(&t, 120, NULL, 0), 1);

	/* client 0 marks empty entries: never stored, never found; bad slots are refused */
	affinity_insert(&t, 0, 77, 3, 120, &st);
	affinity_insert(&t, 0x0a000003, 77, 0, 120, &st);
	affinity_insert(&t, 0x0a000004, 77, 4096, 120, &st);
	assert_false(affinity_lookup(&t, 0, 77, 120, &slot));
	assert_false(affinity_peek(&t, 0x0a000003, 77, 120, &slot, NULL));
	assert_false(affinity_peek(&t, 0x0a000004, 77, 120, &slot, NULL));
	assert_int_equal(affinity_sweep(&t, 120, NULL, 0), 1);
	affinity_free(&t);
}

static void test_expiry(void **state)
{
	struct affinity_table t;
	uint16_t slot;

	(void)state;
	assert_int_equal(affinity_init(&t, 4096, 30), 0);
	affinity_insert(&t, 0xc6120005, 1234, 9, 1000, NULL);
	assert_true(affinity_peek(&t, 0xc6120005, 1234, 1029, &slot, NULL));
	assert_false(affinity_peek(&t, 0xc6120005, 1234, 1030, &slot, NULL));
	assert_false(affinity_lookup(&t, 0xc6120005, 1234, 1030, &slot));
	/* an expired entry is not revived by a lookup */
	assert_false(affinity_lookup(&t, 0xc6120005, 1234, 1031, &slot));
	/* a lookup before the timeout keeps it alive */
	affinity_insert(&t, 0xc6120005, 1234, 9, 2000, NULL);
	assert_true(affinity_lookup(&t, 0xc6120005, 1234, 2029, &slot));
	assert_true(affinity_lookup(&t, 0xc6120005, 1234, 2058, &slot));
	assert_false(affinity_lookup(&t, 0xc6120005, 1234, 2088, &slot));
	affinity_free(&t);
}

static void test_eviction_lru(void **state)
{
	struct affinity_table t;
	struct affinity_stats st = {0};
	uint16_t slot;

	(void)state;
	assert_int_equal(affinity_init(&t, 4096, 600), 0);
	/* fill one bucket: clients 1..8 seen at 100..107 */
	for (uint32_t c = 1; c <= AFFINITY_WAYS; c++)
		affinity_insert(&t, c, SAME_BUCKET, (uint16_t)c, 99 + c, &st);
	assert_int_equal(st.inserts, AFFINITY_WAYS);
	assert_int_equal(st.evictions, 0);
	/* client 1 (oldest) is seen again, so client 2 becomes least recently seen */
	assert_true(affinity_lookup(&t, 1, SAME_BUCKET, 108, &slot));
	affinity_insert(&t, 9, SAME_BUCKET, 9, 109, &st);
	assert_int_equal(st.inserts, AFFINITY_WAYS + 1);
	assert_int_equal(st.evictions, 1);
	assert_false(affinity_peek(&t, 2, SAME_BUCKET, 109, &slot, NULL));
	for (uint32_t c = 1; c <= AFFINITY_WAYS + 1; c++) {
		if (c == 2)
			continue;
		assert_true(affinity_peek(&t, c, SAME_BUCKET, 109, &slot, NULL));
		assert_int_equal(slot, c);
	}
	/* other buckets are untouched by all this */
	assert_int_equal(affinity_sweep(&t, 109, NULL, 0), AFFINITY_WAYS);

	/* an expired entry is reused before any live one is evicted */
	affinity_clear(&t);
	affinity_insert(&t, 100, SAME_BUCKET, 1, 10, &st);
	for (uint32_t c = 101; c < 100 + AFFINITY_WAYS; c++)
		affinity_insert(&t, c, SAME_BUCKET, 1, 700, &st);
	st = (struct affinity_stats){0};
	affinity_insert(&t, 200, SAME_BUCKET, 2, 700, &st); /* client 100 is 690 s idle */
	assert_int_equal(st.inserts, 1);
	assert_int_equal(st.evictions, 0);
	for (uint32_t c = 101; c < 100 + AFFINITY_WAYS; c++)
		assert_true(affinity_peek(&t, c, SAME_BUCKET, 700, &slot, NULL));
	assert_true(affinity_peek(&t, 200, SAME_BUCKET, 700, &slot, NULL));
	affinity_free(&t);
}

static void test_sweep(void **state)
{
	struct affinity_table t;
	uint32_t active[8];
	uint16_t slot;

	(void)state;
	assert_int_equal(affinity_init(&t, 4096, 60), 0);
	memset(active, 0xff, sizeof(active));
	/* slot 1: 3 live; slot 2: 1 live + 2 dead; slot 3: dead only; slot 200: live, uncounted */
	affinity_insert(&t, 11, 1ULL << 32, 1, 1000, NULL);
	affinity_insert(&t, 12, 2ULL << 32, 1, 1010, NULL);
	affinity_insert(&t, 13, 3ULL << 32, 1, 1050, NULL);
	affinity_insert(&t, 21, 1ULL << 32, 2, 1040, NULL);
	affinity_insert(&t, 22, 4ULL << 32, 2, 900, NULL);
	affinity_insert(&t, 23, 5ULL << 32, 2, 500, NULL);
	affinity_insert(&t, 31, 6ULL << 32, 3, 939, NULL);
	affinity_insert(&t, 41, 7ULL << 32, 200, 1055, NULL);
	assert_int_equal(affinity_sweep(&t, 1059, active, 8), 5);
	assert_int_equal(active[0], 0);
	assert_int_equal(active[1], 3);
	assert_int_equal(active[2], 1);
	assert_int_equal(active[3], 0);
	for (int i = 4; i < 8; i++)
		assert_int_equal(active[i], 0);
	/* the dead ones are gone for good, the live ones untouched */
	assert_false(affinity_peek(&t, 22, 4ULL << 32, 1000, &slot, NULL));
	assert_false(affinity_peek(&t, 31, 6ULL << 32, 940, &slot, NULL));
	assert_true(affinity_peek(&t, 11, 1ULL << 32, 1059, &slot, NULL));
	/* later: 11 and 12 of slot 1 have expired too */
	assert_int_equal(affinity_sweep(&t, 1071, active, 8), 3);
	assert_int_equal(active[1], 1);
	assert_int_equal(active[2], 1);
	assert_int_equal(affinity_sweep(&t, 1071, NULL, 0), 3);

	affinity_clear(&t);
	assert_int_equal(affinity_sweep(&t, 1071, active, 8), 0);
	assert_false(affinity_peek(&t, 41, 7ULL << 32, 1071, &slot, NULL));
	affinity_free(&t);
}

static void test_clock_wrap(void **state)
{
	struct affinity_table t;
	uint16_t slot;
	uint32_t age, active[4];

	(void)state;
	assert_int_equal(affinity_init(&t, 4096, 30), 0);
	/* seen 3 s before the 20-bit clock wraps, looked up 5 s later */
	affinity_insert(&t, 0xc6120007, 99, 3, CLOCK_WRAP - 3, NULL);
	assert_true(affinity_peek(&t, 0xc6120007, 99, CLOCK_WRAP + 2, &slot, &age));
	assert_int_equal(age, 5);
	assert_int_equal(slot, 3);
	assert_true(affinity_lookup(&t, 0xc6120007, 99, CLOCK_WRAP + 2, &slot));
	assert_true(affinity_peek(&t, 0xc6120007, 99, CLOCK_WRAP + 2, &slot, &age));
	assert_int_equal(age, 0);
	assert_int_equal(affinity_sweep(&t, CLOCK_WRAP + 20, active, 4), 1);
	assert_int_equal(active[3], 1);
	/* and expires across the wrap like anywhere else */
	affinity_insert(&t, 0xc6120008, 98, 2, 7 * CLOCK_WRAP - 10, NULL);
	assert_true(affinity_peek(&t, 0xc6120008, 98, 7 * CLOCK_WRAP + 19, &slot, &age));
	assert_int_equal(age, 29);
	assert_false(affinity_peek(&t, 0xc6120008, 98, 7 * CLOCK_WRAP + 20, &slot, &age));
	/* the monotonic clock may be far past 2^20: only the low bits matter */
	affinity_insert(&t, 0xc6120009, 97, 1, 0xfffffff0U, NULL);
	assert_true(affinity_peek(&t, 0xc6120009, 97, 0xfffffffaU, &slot, &age));
	assert_int_equal(age, 10);
	affinity_free(&t);
}

#define THREAD_CLIENTS 20000
#define THREAD_ROUNDS  20

struct hammer {
	struct affinity_table *table;
	uint32_t client_base; /* distinct per thread */
	struct affinity_stats stats;
	uint64_t wrong;	  /* lookups that returned another client's slot */
	uint64_t missing; /* lookups of an inserted client that failed */
};

static uint16_t slot_for(uint32_t client)
{
	return (uint16_t)(client % 4095 + 1);
}

/*
 * Both threads use the same hash for their i-th client, so each pair shares
 * a bucket and their CASes race on the same cache line.
 */
static void *hammer_run(void *arg)
{
	struct hammer *h = arg;

	for (uint32_t round = 0; round < THREAD_ROUNDS; round++) {
		uint32_t now = 5000 + round;

		for (uint32_t i = 1; i <= THREAD_CLIENTS; i++) {
			uint32_t client = h->client_base + i;
			uint64_t hash = hash_client(test_key, i);
			uint32_t back = h->client_base + 1 + (uint32_t)((hash >> 40) % i);
			uint16_t slot = 0;

			affinity_insert(h->table, client, hash, slot_for(client), now, &h->stats);
			if (!affinity_lookup(h->table, client, hash, now, &slot))
				h->missing++;
			else if (slot != slot_for(client))
				h->wrong++;
			/* an earlier client of this thread, already inserted */
			if (!affinity_lookup(h->table, back,
					     hash_client(test_key, back - h->client_base), now,
					     &slot))
				h->missing++;
			else if (slot != slot_for(back))
				h->wrong++;
		}
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct affinity_table t;
	struct hammer h[2] = {{.client_base = 0x0a000000}, {.client_base = 0x0b000000}};
	pthread_t tid[2];
	size_t found = 0;

	(void)state;
	/* 40000 clients in 131072 buckets: a bucket overflowing is vanishingly unlikely */
	assert_int_equal(affinity_init(&t, 1U << 20, 600), 0);
	for (int i = 0; i < 2; i++) {
		h[i].table = &t;
		assert_int_equal(pthread_create(&tid[i], NULL, hammer_run, &h[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(h[i].wrong, 0);
		assert_int_equal(h[i].missing, 0);
		assert_int_equal(h[i].stats.evictions, 0);
		assert_int_equal(h[i].stats.inserts, THREAD_CLIENTS);
		for (uint32_t c = 1; c <= THREAD_CLIENTS; c++) {
			uint16_t slot = 0;
			uint32_t client = h[i].client_base + c;

			assert_true(affinity_peek(&t, client, hash_client(test_key, c),
						  5000 + THREAD_ROUNDS, &slot, NULL));
			assert_int_equal(slot, slot_for(client));
			found++;
		}
	}
	/* no duplicates, no strays */
	assert_int_equal(affinity_sweep(&t, 5000 + THREAD_ROUNDS, NULL, 0), found);
	affinity_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init),	cmocka_unit_test(test_insert_lookup),
	    cmocka_unit_test(test_expiry),	cmocka_unit_test(test_eviction_lru),
	    cmocka_unit_test(test_sweep),	cmocka_unit_test(test_clock_wrap),
	    cmocka_unit_test(test_two_threads), cmocka_unit_test(test_rekey),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
