/*
 * test_pool.c - proxy slots (handed out round-robin, never while an affinity
 * entry still names them) and the snapshot the packet threads read: which
 * proxy keeps or takes clients, the Maglev table over the takers, the
 * settings copied in. Proxies are on documentation addresses (198.51.100.0/24);
 * what needs a route to them is skipped on a host without one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encap.h"
#include "encap6.h"
#include "log.h"
#include "pool.h"

#define TEST_TABLE_SIZE 251

static const uint8_t test_key[HASH_KEY_BYTES] = "drover-pool-key";

static uint32_t addr(const char *text)
{
	uint32_t a;

	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	return a;
}

static void set(struct settings *s, const char *key, const char *value)
{
	char err[256];

	if (!settings_set(s, key, value, err, sizeof(err)))
		fail_msg("%s", err);
}

static struct proxy_config proxy(int64_t id, const char *address, uint32_t weight,
				 enum proxy_admin admin)
{
	struct proxy_config p = {.id = id, .weight = weight, .admin = admin, .version = 1};

	snprintf(p.name, sizeof(p.name), "proxy-%lld", (long long)id);
	p.address = addr(address);
	return p;
}

static void need_route(const char *address)
{
	uint32_t source;
	uint16_t mtu;

	if (pool_route(addr(address), &source, &mtu) != 0) {
		print_message("no route to %s on this host\n", address);
		skip();
	}
}

static void test_slot_same_id_same_slot(void **state)
{
	struct pool_slots slots = {0};

	(void)state;
	assert_int_equal(pool_slot_get(&slots, 10), 1);
	assert_int_equal(pool_slot_get(&slots, 20), 2);
	assert_int_equal(pool_slot_get(&slots, 10), 1);
	assert_int_equal(slots.owner[1], 10);
	assert_int_equal(slots.owner[2], 20);
}

/* A freed slot is not handed out again at once: the search goes on from where it stopped. */
static void test_slot_round_robin(void **state)
{
	struct pool_slots slots = {0};
	const int64_t keep[] = {20};

	(void)state;
	assert_int_equal(pool_slot_get(&slots, 10), 1);
	assert_int_equal(pool_slot_get(&slots, 20), 2);
	pool_slot_release_missing(&slots, keep, 1);
	assert_int_equal(slots.owner[1], 0);
	assert_int_equal(slots.owner[2], 20);
	assert_int_equal(pool_slot_get(&slots, 30), 3);
}

/* A free slot that affinity entries still name waits until the sweep finds none. */
static void test_slot_with_clients_not_reused(void **state)
{
	struct pool_slots slots = {0};

	(void)state;
	slots.active[1] = 5;
	slots.active[2] = 1;
	assert_int_equal(pool_slot_get(&slots, 10), 3);
	/* Past the end the search wraps, skipping slot 0 and the busy ones. */
	slots.next = PROXY_SLOTS_MAX - 1;
	assert_int_equal(pool_slot_get(&slots, 11), PROXY_SLOTS_MAX - 1);
	assert_int_equal(pool_slot_get(&slots, 12), 4);
	slots.active[1] = 0;
	slots.next = 0;
	assert_int_equal(pool_slot_get(&slots, 13), 1);
}

static void test_slot_all_taken(void **state)
{
	struct pool_slots *slots = calloc(1, sizeof(*slots));

	(void)state;
	assert_non_null(slots);
	for (int64_t id = 1; id < PROXY_SLOTS_MAX; id++)
		assert_int_equal(pool_slot_get(slots, id), id);
	assert_int_equal(pool_slot_get(slots, PROXY_SLOTS_MAX), 0);
	/* Ones already placed keep theirs. */
	assert_int_equal(pool_slot_get(slots, 7), 7);
	free(slots);
}

static void test_slot_release_keeps_present(void **state)
{
	struct pool_slots slots = {0};
	const int64_t present[] = {30, 10};

	(void)state;
	for (int64_t id = 10; id <= 40; id += 10)
		pool_slot_get(&slots, id);
	pool_slot_release_missing(&slots, present, 2);
	assert_int_equal(slots.owner[1], 10);
	assert_int_equal(slots.owner[2], 0);
	assert_int_equal(slots.owner[3], 30);
	assert_int_equal(slots.owner[4], 0);
	pool_slot_release_missing(&slots, NULL, 0);
	for (unsigned s = 0; s < PROXY_SLOTS_MAX; s++)
		assert_int_equal(slots.owner[s], 0);
}

/*
 * Who keeps and who takes clients: enabled and healthy with weight takes
 * them; drain or weight 0 only keeps them; down or disabled does neither.
 */
static void test_snapshot_flags_and_table(void **state)
{
	struct proxy_config p[] = {
	    proxy(1, "198.51.100.1", 100, PROXY_ADMIN_ENABLED),
	    proxy(2, "198.51.100.2", 300, PROXY_ADMIN_ENABLED),
	    proxy(3, "198.51.100.3", 100, PROXY_ADMIN_DRAIN),
	    proxy(4, "198.51.100.4", 0, PROXY_ADMIN_ENABLED),
	    proxy(5, "198.51.100.5", 100, PROXY_ADMIN_ENABLED),
	    proxy(6, "198.51.100.6", 100, PROXY_ADMIN_DISABLED),
	};
	const struct pool_member members[] = {
	    {&p[0], 3, true, false}, {&p[1], 9, true, false},  {&p[2], 4, true, false},
	    {&p[3], 5, true, false}, {&p[4], 6, false, false}, {&p[5], 7, true, false},
	};
	size_t hits[10] = {0};
	struct settings s;
	struct pool_snapshot *snap;
	char err[256] = "";

	(void)state;
	need_route("198.51.100.1");
	settings_defaults(&s);
	set(&s, "maglev_table_size", "251");
	snap = pool_snapshot_build(&(struct pool_build){.members = members,
							.nmembers = 6,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = 42},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_int_equal(snap->nslots, 10);
	assert_int_equal(snap->targets[3].flags, POOL_TARGET_KEEPS | POOL_TARGET_TAKES);
	assert_int_equal(snap->targets[9].flags, POOL_TARGET_KEEPS | POOL_TARGET_TAKES);
	assert_int_equal(snap->targets[4].flags, POOL_TARGET_KEEPS);
	assert_int_equal(snap->targets[5].flags, POOL_TARGET_KEEPS);
	assert_int_equal(snap->targets[6].flags, 0);
	assert_int_equal(snap->targets[7].flags, 0);
	/* Slots no member holds stay empty. */
	assert_int_equal(snap->targets[1].id, 0);
	assert_int_equal(snap->targets[8].flags, 0);
	for (unsigned i = 0; i < 6; i++) {
		const struct pool_target *t = &snap->targets[members[i].slot];
		assert_int_equal(t->id, p[i].id);
		assert_int_equal(t->address, p[i].address);
		assert_true(t->tunnel_mtu > 0);
		assert_true(t->source != 0);
	}
	/* Only the takers are in the table, by weight: slot 9 has three times slot 3's share. */
	assert_int_equal(snap->table.size, TEST_TABLE_SIZE);
	for (uint32_t e = 0; e < snap->table.size; e++) {
		uint16_t slot = snap->table.entries[e];
		assert_true(slot == 3 || slot == 9);
		hits[slot]++;
	}
	assert_true(hits[9] > 2 * hits[3]);
	assert_int_equal(snap->generation, 42);
	assert_null(snap->affinity);
	assert_null(snap->fast);
	pool_snapshot_free(snap);
}

static void test_snapshot_copies_settings(void **state)
{
	struct affinity_table affinity;
	struct settings s;
	struct pool_snapshot *snap;
	char err[256];

	(void)state;
	assert_int_equal(affinity_init(&affinity, AFFINITY_MIN_CLIENTS, 300), 0);
	settings_defaults(&s);
	set(&s, "maglev_table_size", "251");
	set(&s, "ports", "8080,3128");
	set(&s, "no_proxy_policy", "reject");
	set(&s, "malformed_policy", "drop");
	set(&s, "frag_needed_rate", "17");
	set(&s, "reject_rate", "9");
	set(&s, "client_subnets", "198.18.0.0/15,10.1.2.3/32");
	snap = pool_snapshot_build(&(struct pool_build){.members = NULL,
							.nmembers = 0,
							.settings = &s,
							.hash_key = test_key,
							.affinity = &affinity,
							.generation = 1},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_true(pool_port_is_web(snap, 8080));
	assert_true(pool_port_is_web(snap, 3128));
	assert_false(pool_port_is_web(snap, 80));
	assert_false(pool_port_is_web(snap, 8081));
	assert_int_equal(snap->no_proxy, NO_PROXY_REJECT);
	assert_int_equal(snap->malformed, MALFORMED_DROP);
	assert_int_equal(snap->frag_needed_rate, 17);
	assert_int_equal(snap->reject_rate, 9);
	assert_true(pool_is_client(snap, htonl(0xc6130101U)));	/* 198.19.1.1 */
	assert_true(pool_is_client(snap, htonl(0x0a010203U)));	/* 10.1.2.3 */
	assert_false(pool_is_client(snap, htonl(0xc6140001U))); /* 198.20.0.1 */
	assert_false(pool_is_client(snap, htonl(0x0a010204U))); /* 10.1.2.4 */
	assert_memory_equal(snap->hash_key, test_key, HASH_KEY_BYTES);
	assert_ptr_equal(snap->affinity, &affinity);
	/* No proxy: one unused slot 0, and a table that names no one. */
	assert_int_equal(snap->nslots, 1);
	for (uint32_t e = 0; e < snap->table.size; e++)
		assert_int_equal(snap->table.entries[e], MAGLEV_EMPTY);
	pool_snapshot_free(snap);
	affinity_free(&affinity);
}

/* The tunnel source setting replaces the route's; the MTU left for the inner packet is the
 * path's less the outer header. */
static void test_snapshot_source_and_mtu(void **state)
{
	struct proxy_config p = proxy(1, "198.51.100.1", 100, PROXY_ADMIN_ENABLED);
	const struct pool_member m = {&p, 1, true, false};
	struct settings s;
	struct pool_snapshot *snap;
	uint32_t source;
	uint16_t mtu;
	char err[256];

	(void)state;
	need_route("198.51.100.1");
	assert_int_equal(pool_route(p.address, &source, &mtu), 0);
	settings_defaults(&s);
	set(&s, "maglev_table_size", "251");
	snap = pool_snapshot_build(&(struct pool_build){.members = &m,
							.nmembers = 1,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = 1},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_int_equal(snap->targets[1].source, source);
	assert_int_equal(snap->targets[1].tunnel_mtu, mtu - ENCAP_OUTER_LEN);
	pool_snapshot_free(snap);

	set(&s, "tunnel_source", "192.0.2.77");
	snap = pool_snapshot_build(&(struct pool_build){.members = &m,
							.nmembers = 1,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = 2},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_int_equal(snap->targets[1].source, addr("192.0.2.77"));
	pool_snapshot_free(snap);
}

/*
 * A proxy with an IPv6 address: reached in 6in6 from the route's source (or
 * tunnel_source6), tunnel MTU the route's MTU - 40, and its IPv6 address is
 * never a client. ::1 stands for it here (the store would refuse it; the
 * snapshot only asks the kernel for a route, and lo always has one).
 */
static void test_snapshot_address6(void **state)
{
	struct proxy_config p = proxy(1, "198.51.100.1", 100, PROXY_ADMIN_ENABLED);
	const struct pool_member m = {&p, 1, true, false};
	uint8_t source6[16], want[16];
	struct pool_snapshot *snap;
	struct settings s;
	uint16_t mtu6;
	char err[256];

	(void)state;
	need_route("198.51.100.1");
	assert_int_equal(inet_pton(AF_INET6, "::1", p.address6), 1);
	if (pool_route6(p.address6, source6, &mtu6) != 0) {
		print_message("no IPv6 on this host\n");
		skip();
	}
	settings_defaults(&s);
	set(&s, "maglev_table_size", "251");
	set(&s, "client_subnets", "::/0");
	snap = pool_snapshot_build(&(struct pool_build){.members = &m,
							.nmembers = 1,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = 1},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_true(snap->targets[1].flags & POOL_TARGET_IPV6);
	assert_memory_equal(snap->targets[1].address6, p.address6, 16);
	assert_memory_equal(snap->targets[1].source6, source6, 16);
	assert_int_equal(snap->targets[1].tunnel_mtu6, mtu6 - ENCAP6_IP6IP6_LEN);
	assert_int_equal(snap->nproxies6, 1);
	assert_false(pool_is_client6(snap, p.address6));
	want[0] = 0x20;
	memset(want + 1, 0, 15);
	assert_true(pool_is_client6(snap, want));
	pool_snapshot_free(snap);

	set(&s, "tunnel_source6", "2001:db8::77");
	snap = pool_snapshot_build(&(struct pool_build){.members = &m,
							.nmembers = 1,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = 2},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::77", want), 1);
	assert_memory_equal(snap->targets[1].source6, want, 16);
	assert_int_equal(snap->targets[1].tunnel_mtu6, mtu6 - ENCAP6_IP6IP6_LEN);
	pool_snapshot_free(snap);

	/* Without an IPv6 address: 6in4 as before. */
	memset(p.address6, 0, sizeof(p.address6));
	snap = pool_snapshot_build(&(struct pool_build){.members = &m,
							.nmembers = 1,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = 3},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_false(snap->targets[1].flags & POOL_TARGET_IPV6);
	assert_int_equal(snap->nproxies6, 0);
	pool_snapshot_free(snap);
}

/*
 * A proxy whose IPv6 address fails its probes (down6) while its IPv4 passes:
 * it still keeps and takes clients (one Maglev table, nobody moves), its IPv6
 * address is still never a client, but its IPv6 clients go in 6in4 (no
 * POOL_TARGET_IPV6) until the IPv6 address is up again.
 */
static void test_snapshot_address6_down(void **state)
{
	struct proxy_config p = proxy(1, "198.51.100.1", 100, PROXY_ADMIN_ENABLED);
	struct pool_member m = {&p, 1, true, true};
	struct pool_snapshot *snap, *up;
	struct settings s;
	uint8_t source6[16];
	uint16_t mtu6;
	char err[256];

	(void)state;
	need_route("198.51.100.1");
	assert_int_equal(inet_pton(AF_INET6, "::1", p.address6), 1);
	if (pool_route6(p.address6, source6, &mtu6) != 0) {
		print_message("no IPv6 on this host\n");
		skip();
	}
	settings_defaults(&s);
	set(&s, "maglev_table_size", "251");
	set(&s, "client_subnets", "::/0");
	snap = pool_snapshot_build(&(struct pool_build){.members = &m,
							.nmembers = 1,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = 1},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_false(snap->targets[1].flags & POOL_TARGET_IPV6);
	assert_true(snap->targets[1].flags & POOL_TARGET_KEEPS);
	assert_true(snap->targets[1].flags & POOL_TARGET_TAKES);
	assert_int_equal(snap->table_proxies, 1);
	assert_int_equal(snap->nproxies6, 1);
	assert_false(pool_is_client6(snap, p.address6));

	/* Up again: 6in6, and the Maglev table is the very same. */
	m.down6 = false;
	up = pool_snapshot_build(&(struct pool_build){.members = &m,
						      .nmembers = 1,
						      .settings = &s,
						      .hash_key = test_key,
						      .affinity = NULL,
						      .generation = 2},
				 err, sizeof(err));
	assert_non_null(up);
	assert_true(up->targets[1].flags & POOL_TARGET_IPV6);
	assert_int_equal(up->targets[1].flags & ~POOL_TARGET_IPV6, snap->targets[1].flags);
	assert_memory_equal(up->table_digest, snap->table_digest, sizeof(up->table_digest));
	pool_snapshot_free(up);
	pool_snapshot_free(snap);
}

/* A proxy the kernel will not route to is in the snapshot, but takes and keeps no one. */
static void test_snapshot_unrouted_proxy(void **state)
{
	struct proxy_config p = proxy(1, "255.255.255.255", 100, PROXY_ADMIN_ENABLED);
	const struct pool_member m = {&p, 1, true, false};
	struct settings s;
	struct pool_snapshot *snap;
	uint32_t source;
	uint16_t mtu;
	char err[256];

	(void)state;
	/* The limited broadcast address: connect() refuses it without SO_BROADCAST. */
	assert_true(pool_route(p.address, &source, &mtu) < 0);
	settings_defaults(&s);
	set(&s, "maglev_table_size", "251");
	snap = pool_snapshot_build(&(struct pool_build){.members = &m,
							.nmembers = 1,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = 1},
				   err, sizeof(err));
	assert_non_null(snap);
	assert_int_equal(snap->targets[1].id, 1);
	assert_int_equal(snap->targets[1].flags, 0);
	assert_int_equal(snap->targets[1].tunnel_mtu, 0);
	for (uint32_t e = 0; e < snap->table.size; e++)
		assert_int_equal(snap->table.entries[e], MAGLEV_EMPTY);
	pool_snapshot_free(snap);
}

/*
 * Who may be a client, as the rules queue it: a source in client_subnets
 * that is no proxy's address, whatever state the proxy is in (down,
 * disabled, without a route).
 */
static void test_snapshot_knows_who_may_be_a_client(void **state)
{
	struct proxy_config p[] = {
	    proxy(1, "10.1.0.30", 100, PROXY_ADMIN_ENABLED),
	    proxy(2, "10.1.0.9", 100, PROXY_ADMIN_DISABLED),
	    proxy(3, "192.168.7.7", 100, PROXY_ADMIN_ENABLED),
	};
	const struct pool_member members[] = {
	    {&p[0], 1, true, false}, {&p[1], 2, false, false}, {&p[2], 3, true, false}};
	struct settings s;
	struct pool_snapshot *snap;
	char err[256] = "";

	(void)state;
	settings_defaults(&s);
	set(&s, "maglev_table_size", "251");
	set(&s, "client_subnets", "10.1.0.0/24,172.16.0.0/12");
	snap = pool_snapshot_build(
	    &(struct pool_build){
		.members = members, .nmembers = 3, .settings = &s, .hash_key = test_key},
	    err, sizeof(err));
	assert_non_null(snap);
	assert_int_equal(snap->nsubnets, 2);
	assert_int_equal(snap->nproxies, 3);
	for (size_t i = 1; i < snap->nproxies; i++)
		assert_true(snap->proxies[i - 1] < snap->proxies[i]);
	assert_true(pool_is_client(snap, addr("10.1.0.8")));
	assert_true(pool_is_client(snap, addr("10.1.0.255")));
	assert_true(pool_is_client(snap, addr("172.31.255.1")));
	assert_false(pool_is_client(snap, addr("10.1.0.30"))); /* a proxy */
	assert_false(pool_is_client(snap, addr("10.1.0.9")));  /* a proxy, disabled and down */
	assert_false(pool_is_client(snap, addr("10.1.1.8")));  /* outside */
	assert_false(pool_is_client(snap, addr("192.168.7.7")));
	assert_false(pool_is_client(snap, addr("172.32.0.1")));
	pool_snapshot_free(snap);

	/* 0.0.0.0/0 takes every source but the proxies. */
	set(&s, "client_subnets", "0.0.0.0/0");
	snap = pool_snapshot_build(
	    &(struct pool_build){
		.members = members, .nmembers = 3, .settings = &s, .hash_key = test_key},
	    err, sizeof(err));
	assert_non_null(snap);
	assert_true(pool_is_client(snap, addr("203.0.113.1")));
	assert_false(pool_is_client(snap, addr("192.168.7.7")));
	pool_snapshot_free(snap);
}

static void test_snapshot_bad_table_size(void **state)
{
	struct settings s;
	char err[256] = "";

	(void)state;
	settings_defaults(&s);
	s.maglev_table_size = 252; /* not prime: the settings parser never lets it through */
	assert_null(pool_snapshot_build(&(struct pool_build){.members = NULL,
							     .nmembers = 0,
							     .settings = &s,
							     .hash_key = test_key,
							     .affinity = NULL,
							     .generation = 1},
					err, sizeof(err)));
	assert_non_null(strstr(err, "252"));
}

/*
 * Two appliances with the same proxies, weights, table size and key, but
 * their own slot numbers (proxies added in another order, slots freed by
 * deletions): the same proxy for every entry, the same digest and key
 * fingerprint. Another key changes both.
 */
static struct pool_snapshot *build_numbered(const struct proxy_config *p, const uint16_t *slots,
					    const uint8_t *key)
{
	struct pool_member members[3];
	struct settings s;
	char err[256] = "";
	struct pool_snapshot *snap;

	for (size_t i = 0; i < 3; i++)
		members[i] = (struct pool_member){&p[i], slots[i], true, false};
	settings_defaults(&s);
	set(&s, "maglev_table_size", "251");
	snap = pool_snapshot_build(&(struct pool_build){.members = members,
							.nmembers = 3,
							.settings = &s,
							.hash_key = key,
							.generation = 1},
				   err, sizeof(err));
	if (snap == NULL)
		fail_msg("%s", err);
	return snap;
}

static void test_snapshot_digest_ignores_slots(void **state)
{
	const struct proxy_config p[] = {
	    proxy(1, "198.51.100.1", 100, PROXY_ADMIN_ENABLED),
	    proxy(2, "198.51.100.2", 200, PROXY_ADMIN_ENABLED),
	    proxy(3, "198.51.100.3", 100, PROXY_ADMIN_ENABLED),
	};
	const uint16_t slots_a[] = {1, 2, 3}, slots_b[] = {7, 4, 12};
	uint8_t other_key[HASH_KEY_BYTES];
	struct pool_snapshot *a, *b;
	static const uint8_t zero[MAGLEV_DIGEST_BYTES];

	(void)state;
	need_route("198.51.100.1");
	a = build_numbered(p, slots_a, test_key);
	b = build_numbered(p, slots_b, test_key);
	assert_memory_not_equal(a->table.entries, b->table.entries,
				a->table.size * sizeof(*a->table.entries));
	for (uint32_t e = 0; e < a->table.size; e++)
		assert_int_equal(a->targets[a->table.entries[e]].address,
				 b->targets[b->table.entries[e]].address);
	assert_memory_not_equal(a->table_digest, zero, sizeof(zero));
	assert_memory_equal(a->table_digest, b->table_digest, MAGLEV_DIGEST_BYTES);
	assert_memory_equal(a->key_id, b->key_id, POOL_KEY_ID_BYTES);
	assert_int_equal(a->table_proxies, 3);
	pool_snapshot_free(b);

	memcpy(other_key, test_key, sizeof(other_key));
	other_key[0] ^= 1;
	b = build_numbered(p, slots_b, other_key);
	assert_memory_not_equal(a->table_digest, b->table_digest, MAGLEV_DIGEST_BYTES);
	assert_memory_not_equal(a->key_id, b->key_id, POOL_KEY_ID_BYTES);
	pool_snapshot_free(b);
	pool_snapshot_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slot_same_id_same_slot),
	    cmocka_unit_test(test_slot_round_robin),
	    cmocka_unit_test(test_slot_with_clients_not_reused),
	    cmocka_unit_test(test_slot_all_taken),
	    cmocka_unit_test(test_slot_release_keeps_present),
	    cmocka_unit_test(test_snapshot_flags_and_table),
	    cmocka_unit_test(test_snapshot_copies_settings),
	    cmocka_unit_test(test_snapshot_source_and_mtu),
	    cmocka_unit_test(test_snapshot_unrouted_proxy),
	    cmocka_unit_test(test_snapshot_address6),
	    cmocka_unit_test(test_snapshot_address6_down),
	    cmocka_unit_test(test_snapshot_bad_table_size),
	    cmocka_unit_test(test_snapshot_knows_who_may_be_a_client),
	    cmocka_unit_test(test_snapshot_digest_ignores_slots),
	};

	log_init("test_pool", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
