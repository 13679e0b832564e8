/* test_deviation.c - deviations from the Maglev table: the export (only deviations, bounded) and
 * the merge rules of a peer's list (absent, present, unknown proxy, idle age, full bucket). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "client.h"
#include "deviation.h"
#include "hash.h"
#include "pool.h"

#define TABLE_SIZE   251
#define TIMEOUT	     300
#define NOW	     10000
#define CLIENTS	     400
#define NSLOTS	     4
#define ID_OF(slot)  ((int64_t)(slot)*100 + 7) /* stable ids unlike the slots */
#define TEST_CLIENTS 16384

static const uint8_t test_key[HASH_KEY_BYTES] = {1, 2,	3,  4,	5,  6,	7,  8,
						 9, 10, 11, 12, 13, 14, 15, 16};

struct world {
	struct affinity_table aff;
	struct maglev_table table;
	int64_t id_of_slot[NSLOTS];
};

static uint32_t client_n(uint32_t i)
{
	return htonl(0xc6120000U + 1 + i); /* 198.18.0.0/15 */
}

/* Three proxies, slots 1..3, all in the table. */
static void world_init(struct world *w)
{
	const struct maglev_backend b[] = {
	    {.identity = 0x0a000001, .weight = 1, .slot = 1},
	    {.identity = 0x0a000002, .weight = 1, .slot = 2},
	    {.identity = 0x0a000003, .weight = 1, .slot = 3},
	};

	assert_int_equal(affinity_init(&w->aff, TEST_CLIENTS, TIMEOUT), 0);
	assert_int_equal(maglev_build(&w->table, TABLE_SIZE, b, 3, test_key), 0);
	memset(w->id_of_slot, 0, sizeof(w->id_of_slot));
	for (int s = 1; s < NSLOTS; s++)
		w->id_of_slot[s] = ID_OF(s);
}

static void world_free(struct world *w)
{
	affinity_free(&w->aff);
	maglev_free(&w->table);
}

static uint16_t table_slot(const struct world *w, uint32_t client)
{
	return maglev_lookup(&w->table, hash_client(test_key, client));
}

static uint16_t other_slot(uint16_t slot)
{
	return slot % 3 + 1;
}

/* Every proxy known and usable, by id. */
static uint16_t slot_of_id(void *arg, int64_t id)
{
	(void)arg;
	for (uint16_t s = 1; s < NSLOTS; s++) {
		if (ID_OF(s) == id)
			return s;
	}
	return 0;
}

/* Slot 2's proxy is drained here (takes no clients). */
static uint16_t slot_of_id_drained(void *arg, int64_t id)
{
	uint16_t s = slot_of_id(arg, id);

	return s == 2 ? 0 : s;
}

/* Only clients off the table's choice are exported, with their proxy's id and idle age. */
static void test_export_only_deviations(void **state)
{
	struct world w;
	struct deviation out[CLIENTS];
	struct deviation_export ex;
	size_t deviants = 0;

	(void)state;
	world_init(&w);
	for (uint32_t i = 0; i < CLIENTS; i++) {
		uint32_t c = client_n(i);
		uint16_t s = table_slot(&w, c);

		if (i % 4 == 0) {
			s = other_slot(s);
			deviants++;
		}
		affinity_insert(&w.aff, c, hash_client(test_key, c), s, NOW - i % 50, NULL);
	}
	deviation_export(&w.aff, NOW, test_key, &w.table, w.id_of_slot, NSLOTS, out, CLIENTS, &ex);
	assert_int_equal(ex.n, deviants);
	assert_int_equal(ex.overflow, 0);
	for (size_t k = 0; k < ex.n; k++) {
		uint16_t s = slot_of_id(NULL, out[k].proxy_id);
		uint32_t i = ntohl(out[k].client) - 0xc6120000U - 1;

		assert_int_equal(i % 4, 0);
		assert_int_not_equal(s, 0);
		assert_int_not_equal(s, table_slot(&w, out[k].client));
		assert_int_equal(out[k].age, i % 50);
	}
	world_free(&w);
}

/*
 * IPv6 clients' entries (a tag of their keyed hash, placed by that hash, as
 * the packet threads insert them) are never exported, whatever their slot:
 * a peer would read the tag as an IPv4 address.
 */
static void test_export_leaves_ipv6_out(void **state)
{
	struct world w;
	struct deviation out[CLIENTS];
	struct deviation_export ex;
	struct client_id id = {0};

	(void)state;
	world_init(&w);
	/*
	 * An IPv6 entry is told apart by where it sits: only if its tag, read
	 * as an address, hashed to its very bucket (one chance in the table's
	 * buckets) would it pass for IPv4. A table of a production size makes
	 * that chance small; the inputs are fixed, so the outcome is too.
	 */
	affinity_free(&w.aff);
	assert_int_equal(affinity_init(&w.aff, 1U << 20, TIMEOUT), 0);
	id.addr[0] = 0x20;
	id.addr[1] = 0x01;
	id.addr[2] = 0x0d;
	id.addr[3] = 0xb8;
	for (uint32_t i = 0; i < CLIENTS; i++) {
		id.addr[15] = (uint8_t)i;
		id.addr[14] = (uint8_t)(i >> 8);
		uint64_t hash = hash_client_id(test_key, &id);
		uint32_t tag = pool_affinity_tag6(hash);

		/* A slot the table would not give the tag read as an address. */
		affinity_insert(&w.aff, tag, hash, other_slot(table_slot(&w, tag)), NOW, NULL);
	}
	/* And one real IPv4 deviation beside them. */
	uint32_t c = client_n(7);
	affinity_insert(&w.aff, c, hash_client(test_key, c), other_slot(table_slot(&w, c)), NOW,
			NULL);
	deviation_export(&w.aff, NOW, test_key, &w.table, w.id_of_slot, NSLOTS, out, CLIENTS, &ex);
	assert_int_equal(ex.n, 1);
	assert_int_equal(out[0].client, c);
	world_free(&w);
}

/* The export stops at its cap and counts what did not fit; expired entries are not exported. */
static void test_export_bounded(void **state)
{
	struct world w;
	struct deviation out[CLIENTS];
	struct deviation_export ex, again;

	(void)state;
	world_init(&w);
	for (uint32_t i = 0; i < CLIENTS; i++) {
		uint32_t c = client_n(i);

		affinity_insert(&w.aff, c, hash_client(test_key, c), other_slot(table_slot(&w, c)),
				i < 100 ? NOW - TIMEOUT : NOW, NULL);
	}
	deviation_export(&w.aff, NOW, test_key, &w.table, w.id_of_slot, NSLOTS, out, 50, &ex);
	assert_int_equal(ex.n, 50);
	assert_int_equal(ex.overflow, CLIENTS - 100 - 50);
	/* The same list gives the same digest; a proxy without an id exports nothing. */
	deviation_export(&w.aff, NOW, test_key, &w.table, w.id_of_slot, NSLOTS, out, 50, &again);
	assert_true(again.digest == ex.digest);
	memset(w.id_of_slot, 0, sizeof(w.id_of_slot));
	deviation_export(&w.aff, NOW, test_key, &w.table, w.id_of_slot, NSLOTS, out, 50, &ex);
	assert_int_equal(ex.n + ex.overflow, 0);
	world_free(&w);
}

/* Absent: imported with the peer's idle age, so it expires on the peer's schedule. */
static void test_merge_absent_imported(void **state)
{
	struct world w;
	struct deviation_merge_stats st = {0};
	uint32_t c = client_n(1), age;
	struct deviation d = {.client = c, .age = 100, .proxy_id = ID_OF(2)};
	uint16_t slot;

	(void)state;
	world_init(&w);
	deviation_merge(&w.aff, test_key, NOW, &d, 1, slot_of_id, NULL, &st);
	assert_int_equal(st.imported, 1);
	assert_true(affinity_peek(&w.aff, c, hash_client(test_key, c), NOW, &slot, &age));
	assert_int_equal(slot, 2);
	assert_int_equal(age, 100);
	/* Idle age respected: gone TIMEOUT - 100 seconds later, not TIMEOUT. */
	assert_true(
	    affinity_peek(&w.aff, c, hash_client(test_key, c), NOW + TIMEOUT - 101, &slot, NULL));
	assert_false(
	    affinity_peek(&w.aff, c, hash_client(test_key, c), NOW + TIMEOUT - 100, &slot, NULL));
	world_free(&w);
}

/* Present: the local entry (its own traffic) is left alone; a same-proxy copy is refreshed. */
static void test_merge_present_kept(void **state)
{
	struct world w;
	struct deviation_merge_stats st = {0};
	uint32_t c = client_n(2), e = client_n(3), age;
	struct deviation d[] = {
	    {.client = c, .age = 0, .proxy_id = ID_OF(3)},
	    {.client = e, .age = 2, .proxy_id = ID_OF(1)},
	    {.client = e, .age = 20, .proxy_id = ID_OF(1)},
	};
	uint16_t slot;

	(void)state;
	world_init(&w);
	affinity_insert(&w.aff, c, hash_client(test_key, c), 1, NOW - 30, NULL);
	affinity_insert(&w.aff, e, hash_client(test_key, e), 1, NOW - 30, NULL);
	deviation_merge(&w.aff, test_key, NOW, d, 1, slot_of_id, NULL, &st);
	assert_int_equal(st.kept, 1);
	assert_true(affinity_peek(&w.aff, c, hash_client(test_key, c), NOW, &slot, &age));
	assert_int_equal(slot, 1);
	assert_int_equal(age, 30);
	/* Same proxy, seen 28 s later by the peer: refreshed; then a staler copy: kept. */
	deviation_merge(&w.aff, test_key, NOW, &d[1], 2, slot_of_id, NULL, &st);
	assert_int_equal(st.refreshed, 1);
	assert_int_equal(st.kept, 2);
	assert_true(affinity_peek(&w.aff, e, hash_client(test_key, e), NOW, &slot, &age));
	assert_int_equal(slot, 1);
	assert_int_equal(age, 2);
	/* Echoed back a second fresher (rounding): within the slack, not refreshed. */
	d[1].age = 1;
	deviation_merge(&w.aff, test_key, NOW, &d[1], 1, slot_of_id, NULL, &st);
	assert_int_equal(st.refreshed, 1);
	world_free(&w);
}

/* Unknown or unusable proxy, idle past the timeout: refused, nothing written. */
static void test_merge_refused(void **state)
{
	struct world w;
	struct deviation_merge_stats st = {0};
	struct deviation d[] = {
	    {.client = client_n(4), .age = 1, .proxy_id = 999},
	    {.client = client_n(5), .age = 1, .proxy_id = ID_OF(2)},
	    {.client = client_n(6), .age = TIMEOUT, .proxy_id = ID_OF(1)},
	};
	uint16_t slot;

	(void)state;
	world_init(&w);
	deviation_merge(&w.aff, test_key, NOW, d, 3, slot_of_id_drained, NULL, &st);
	assert_int_equal(st.refused_unknown, 2);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.imported, 0);
	for (int i = 0; i < 3; i++)
		assert_false(affinity_peek(&w.aff, d[i].client, hash_client(test_key, d[i].client),
					   NOW, &slot, NULL));
	assert_int_equal(affinity_sweep(&w.aff, NOW, NULL, 0), 0);
	world_free(&w);
}

/* A bucket of live entries is never pushed out by a peer's client: refused as full. */
static void test_merge_full(void **state)
{
	struct affinity_table t;
	uint64_t h = 0x0000002a00000000ULL;
	uint16_t slot;

	(void)state;
	assert_int_equal(affinity_init(&t, AFFINITY_MIN_CLIENTS, TIMEOUT), 0);
	for (uint32_t i = 0; i < AFFINITY_WAYS; i++)
		affinity_insert(&t, client_n(100 + i), h, 1, NOW, NULL);
	assert_int_equal(
	    affinity_import(&t, client_n(200), h, 2, NOW, 0, DEVIATION_REFRESH_SLACK_S),
	    AFFINITY_IMPORT_FULL);
	for (uint32_t i = 0; i < AFFINITY_WAYS; i++)
		assert_true(affinity_peek(&t, client_n(100 + i), h, NOW, &slot, NULL));
	/* Once one entry expired, its way takes the import. */
	assert_int_equal(
	    affinity_import(&t, client_n(200), h, 2, NOW + TIMEOUT, 0, DEVIATION_REFRESH_SLACK_S),
	    AFFINITY_IMPORT_ADDED);
	affinity_free(&t);
}

/* The text form goes both ways; malformed input is refused, saying how far it got. */
static void test_text(void **state)
{
	struct deviation in[] =
	    {
		{.client = client_n(1), .age = 0, .proxy_id = 7},
		{.client = client_n(300), .age = 4294967295U, .proxy_id = INT64_MAX},
	    },
			 out[2];
	char buf[2 * DEVIATION_TEXT_ENTRY_MAX + 1];
	size_t n, len;

	(void)state;
	assert_int_equal(deviation_format(in, 2, buf, sizeof(buf)), 2);
	len = strlen(buf);
	assert_string_equal(buf, "198.18.0.2,7,0;198.18.1.45,9223372036854775807,4294967295");
	assert_true(deviation_parse(buf, len, out, 2, &n));
	assert_int_equal(n, 2);
	assert_memory_equal(in, out, sizeof(in));
	assert_false(deviation_parse(buf, len, out, 1, &n)); /* more than cap */
	assert_true(deviation_parse("", 0, out, 2, &n));
	assert_int_equal(n, 0);
	assert_false(deviation_parse("1.2.3,7,0", 9, out, 2, &n));
	assert_false(deviation_parse("1.2.3.4,0,0", 11, out, 2, &n));
	assert_false(deviation_parse("1.2.3.4,7,-1", 12, out, 2, &n));
	assert_false(deviation_parse("1.2.3.4,7,4294967296", 20, out, 2, &n));
	assert_false(deviation_parse("1.2.3.4,7,1;x", 13, out, 2, &n));
	assert_int_equal(n, 1);
	/* Only whole entries that fit: one in 20 bytes, none in 10. */
	assert_int_equal(deviation_format(in, 2, buf, 20), 1);
	assert_string_equal(buf, "198.18.0.2,7,0");
	assert_int_equal(deviation_format(in, 2, buf, 10), 0);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_export_only_deviations),
	    cmocka_unit_test(test_export_leaves_ipv6_out),
	    cmocka_unit_test(test_export_bounded),
	    cmocka_unit_test(test_merge_absent_imported),
	    cmocka_unit_test(test_merge_present_kept),
	    cmocka_unit_test(test_merge_refused),
	    cmocka_unit_test(test_merge_full),
	    cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
