/*
 * test_fastpath.c - the kernel fast path's program, run by the kernel on
 * packets made here (BPF_PROG_TEST_RUN), in a network namespace of its own
 * with a dummy interface, routes and permanent neighbours.
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN, a new network namespace): skipped
 * otherwise, and says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <bpf/bpf.h>
#include <linux/pkt_cls.h>

#include "fastpath.h"
#include "pool.h"
#include "wire.h"

#define ETH_LEN	   14
#define IP_LEN	   20
#define TCP_LEN	   20
#define DEV_MAC	   "02:00:00:00:00:01"
#define PROXY_MAC  "02:00:00:00:00:02"
#define TUNNEL_MTU 1480
/* fastpath.c walks 100,000 records once a second: a tick less than 0.9 s
 * after the walk began is not due. */
#define WALK_NOT_DUE_NS 900000000LL

static const uint8_t dev_mac[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t proxy_mac[6] = {2, 0, 0, 0, 0, 2};
static int dev_ifindex;
static char setup_error[300]; /* why the fast path could not be set up */

static uint32_t ip(const char *text)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	return a.s_addr;
}

/*
 * An Ethernet frame to the device's MAC carrying a TCP packet of ip_len
 * bytes from client to dst:dport; flags and frag_off as given.
 */
static size_t make_frame(uint8_t *buf, const char *client, const char *dst, uint16_t dport,
			 uint16_t ip_len, uint16_t frag_off, uint8_t flags)
{
	uint32_t s = ip(client), d = ip(dst);
	uint8_t *iph = buf + ETH_LEN, *tcp = iph + IP_LEN;

	memset(buf, 0, (size_t)ETH_LEN + ip_len);
	memcpy(buf, dev_mac, 6);
	memcpy(buf + 6, "\x02\x00\x00\x00\x00\x09", 6);
	buf[12] = 0x08;
	iph[0] = WIRE_IPV4_VERS_IHL;
	iph[1] = 0x28; /* TOS */
	wire_put16(iph + 2, ip_len);
	wire_put16(iph + 4, 0x1234);
	wire_put16(iph + 6, frag_off);
	iph[8] = 61;
	iph[9] = 6;
	memcpy(iph + 12, &s, 4);
	memcpy(iph + 16, &d, 4);
	wire_put16(iph + 10, wire_checksum(iph, IP_LEN));
	wire_put16(tcp, 0xc350);
	wire_put16(tcp + 2, dport);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	for (size_t i = IP_LEN + TCP_LEN; i < ip_len; i++)
		iph[i] = (uint8_t)(i * 13);
	return (size_t)ETH_LEN + ip_len;
}

struct run_result {
	uint32_t retval;
	uint8_t out[2048];
	uint32_t out_len;
};

/*
 * Runs the program once on frame as received on d0; gso_size and gso_segs
 * non-zero make it a merged (GRO/GSO) packet of segments of gso_size payload bytes.
 */
static void run_merged(const struct fastpath *fp, const uint8_t *frame, size_t len,
		       uint32_t gso_size, uint32_t gso_segs, struct run_result *r)
{
	struct __sk_buff ctx = {
	    .ifindex = (uint32_t)dev_ifindex, .gso_size = gso_size, .gso_segs = gso_segs};
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
			    .data_size_in = (uint32_t)len, .data_out = r->out,
			    .data_size_out = sizeof(r->out), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(fastpath_program_fd(fp), &opts), 0);
	r->retval = opts.retval;
	r->out_len = opts.data_size_out;
}

static void run(const struct fastpath *fp, const uint8_t *frame, size_t len, struct run_result *r)
{
	run_merged(fp, frame, len, 0, 0, r);
}

static int sh(const char *cmd)
{
	return system(cmd);
}

/*
 * A namespace of our own: d0 (one end of a veth pair) 10.9.0.1/24 up, the
 * proxy 10.9.0.2 and the router .254 as permanent neighbours.
 */
static int group_setup(void **state)
{
	struct fastpath **fp = malloc(sizeof(*fp));
	char err[256];

	*state = fp;
	*fp = NULL;
	if (geteuid() != 0) {
		snprintf(setup_error, sizeof(setup_error), "needs root");
		return 0;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(setup_error, sizeof(setup_error), "cannot make a network namespace");
		return 0;
	}
	if (sh("ip link set lo up && ip link add d0 address " DEV_MAC " type veth peer name d1 && "
	       "ip addr add 10.9.0.1/24 dev d0 && ip link set d1 up && ip link set d0 up && "
	       "ip neigh add 10.9.0.2 lladdr " PROXY_MAC " dev d0 nud permanent && "
	       "ip neigh add 10.9.0.254 lladdr 02:00:00:00:00:fe dev d0 nud permanent && "
	       "ip route add default via 10.9.0.254 && sysctl -qw net.ipv4.ip_forward=1") != 0) {
		snprintf(setup_error, sizeof(setup_error), "cannot set up the namespace's network");
		return 0;
	}
	dev_ifindex = (int)if_nametoindex("d0");
	*fp = fastpath_open(1U << 18, err, sizeof(err));
	if (*fp == NULL)
		snprintf(setup_error, sizeof(setup_error), "%s", err);
	return 0;
}

static int group_teardown(void **state)
{
	struct fastpath **fp = *state;

	fastpath_close(*fp);
	free(fp);
	return 0;
}

static struct fastpath *need_fastpath(void **state)
{
	struct fastpath *fp = *(struct fastpath **)*state;

	/* Without root there is nothing to test; as root, a set-up failure is a failure. */
	if (fp == NULL && geteuid() != 0) {
		fprintf(stderr, "# skipped: %s\n", setup_error);
		skip();
	}
	if (fp == NULL)
		fail_msg("fast path not set up: %s", setup_error);
	return fp;
}

/* Publishes slot 1 -> 10.9.0.2 (source 10.9.0.1), keeping clients or not. */
static void publish(struct fastpath *fp, bool keeps, uint32_t *gen)
{
	static struct pool_snapshot snap; /* 8 KiB of port map: not on the stack */
	struct pool_target targets[2] = {0};
	struct affinity_table affinity = {.timeout = 300};
	const uint16_t ports[] = {80, 443};

	memset(&snap, 0, sizeof(snap));
	snap.nslots = 2;
	snap.targets = targets;
	snap.affinity = &affinity;
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		snap.port_map[ports[i] >> 3] |= (uint8_t)(1U << (ports[i] & 7));

	targets[1] = (struct pool_target){
	    .address = ip("10.9.0.2"),
	    .source = ip("10.9.0.1"),
	    .tunnel_mtu = TUNNEL_MTU,
	    .flags = keeps ? POOL_TARGET_KEEPS | POOL_TARGET_TAKES : 0,
	};
	fastpath_publish(fp, &snap);
	*gen = targets[1].fast_gen;
}

static uint64_t counter(struct fastpath *fp, enum fastpath_counter c)
{
	uint64_t all[FASTPATH_COUNTER_COUNT];

	fastpath_counters(fp, all);
	return all[c];
}

static void test_known_client_is_wrapped_and_redirected(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_slot_totals before, after;
	uint32_t gen;

	publish(fp, true, &gen);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.7"), 1, gen), 0);
	size_t len =
	    make_frame(frame, "198.18.5.7", "203.0.113.80", 80, 100, WIRE_IP_DF, WIRE_TCP_SYN);
	fastpath_slot_totals(fp, 1, &before);
	run(fp, frame, len, &r);

	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(r.out_len, len + IP_LEN);
	/* Next hop: the proxy's MAC, from our device. */
	assert_memory_equal(r.out, proxy_mac, 6);
	assert_memory_equal(r.out + 6, dev_mac, 6);
	assert_int_equal(r.out[12], 0x08);
	assert_int_equal(r.out[13], 0x00);
	const uint8_t *outer = r.out + ETH_LEN;
	const uint8_t expect[IP_LEN] = {
	    0x45, 0x28, 0x00, 120,  /* inner TOS; 100 + 20 bytes */
	    0x12, 0x34, 0x40, 0x00, /* inner id; DF copied */
	    64,	  4,	0,    0,    /* TTL 64, protocol 4; checksum below */
	    10,	  9,	0,    1,    10, 9, 0, 2,
	};
	assert_memory_equal(outer, expect, 10);
	assert_memory_equal(outer + 12, expect + 12, 8);
	assert_int_equal(wire_checksum(outer, IP_LEN), 0);
	/* The inner packet, byte for byte. */
	assert_memory_equal(outer + IP_LEN, frame + ETH_LEN, len - ETH_LEN);

	fastpath_slot_totals(fp, 1, &after);
	assert_int_equal(after.packets - before.packets, 1);
	assert_int_equal(after.bytes - before.bytes, 100);
	assert_int_equal(after.hits - before.hits, 1); /* a SYN */
}

static void test_what_the_kernel_leaves_to_nfqueue(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	uint32_t gen;
	size_t len;

	publish(fp, true, &gen);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.8"), 1, gen), 0);

	/* A client droverd has not placed. */
	len = make_frame(frame, "198.18.5.9", "203.0.113.80", 80, 100, 0, 0x10);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(r.out_len, len);
	assert_memory_equal(r.out, frame, len);

	/* Not a web port. */
	len = make_frame(frame, "198.18.5.8", "203.0.113.80", 22, 100, 0, 0x10);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_memory_equal(r.out, frame, len);

	/* A fragment. */
	len = make_frame(frame, "198.18.5.8", "203.0.113.80", 80, 100, 0x2000, 0x10);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);

	/* Longer than the tunnel takes. */
	uint64_t big = counter(fp, FASTPATH_TOO_BIG);
	len = make_frame(frame, "198.18.5.8", "203.0.113.80", 80, TUNNEL_MTU + 1, 0, 0x10);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(counter(fp, FASTPATH_TOO_BIG), big + 1);
	len = make_frame(frame, "198.18.5.8", "203.0.113.80", 80, TUNNEL_MTU, 0, 0x10);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);

	/* To the appliance's own address: delivered locally, not proxied. */
	uint64_t local = counter(fp, FASTPATH_NOT_FORWARDED);
	len = make_frame(frame, "198.18.5.8", "10.9.0.1", 80, 100, 0, 0x10);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(counter(fp, FASTPATH_NOT_FORWARDED), local + 1);

	/* IP options. */
	len = make_frame(frame, "198.18.5.8", "203.0.113.80", 80, 100, 0, 0x10);
	frame[ETH_LEN] = 0x46;
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
}

/*
 * Merged (GRO/GSO) packets: the segment size, not the merged length, must fit
 * the tunnel. The test harness cannot give a packet the kernel's GSO type, so
 * the kernel refuses to grow it: that is the other thing checked here, a
 * packet the kernel cannot wrap goes on unchanged to NFQUEUE. A merged packet
 * wrapped whole is checked end to end in tests/e2e/fastpath.sh.
 */
static void test_merged_packets_are_measured_by_their_segments(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	uint32_t gen;

	publish(fp, true, &gen);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.13"), 1, gen), 0);
	/* 1,960 bytes: two segments of 960 payload bytes (1,000-byte segments). */
	size_t len =
	    make_frame(frame, "198.18.5.13", "203.0.113.80", 80, 1960, WIRE_IP_DF, WIRE_TCP_ACK);

	/* Segments of 1,460 payload bytes would be 1,500 bytes: more than the tunnel takes. */
	uint64_t big = counter(fp, FASTPATH_TOO_BIG);
	run_merged(fp, frame, len, 1460, 2, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(counter(fp, FASTPATH_TOO_BIG), big + 1);

	/* 1,000-byte segments fit; then the kernel declines to grow it, and nothing is lost. */
	uint64_t refused = counter(fp, FASTPATH_ENCAP_ERROR), sent = counter(fp, FASTPATH_SENT);
	run_merged(fp, frame, len, 960, 2, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(counter(fp, FASTPATH_TOO_BIG), big + 1);
	assert_int_equal(counter(fp, FASTPATH_ENCAP_ERROR), refused + 1);
	assert_int_equal(counter(fp, FASTPATH_SENT), sent);
	assert_int_equal(r.out_len, len);
	assert_memory_equal(r.out, frame, len);
}

static void test_a_proxy_going_down_makes_its_records_stale(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	uint32_t gen, down_gen, up_gen;
	size_t len = make_frame(frame, "198.18.5.10", "203.0.113.80", 443, 60, 0, 0x10);

	publish(fp, true, &gen);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.10"), 1, gen), 0);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);

	uint64_t stale = counter(fp, FASTPATH_STALE);
	publish(fp, false, &down_gen);
	assert_int_not_equal(down_gen, gen);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(counter(fp, FASTPATH_STALE), stale + 1);

	/* Back up: the old record stays stale until droverd places the client again. */
	publish(fp, true, &up_gen);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.10"), 1, up_gen), 0);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
}

static void test_tick_refreshes_affinity_and_drops_stale_records(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	struct affinity_table t;
	uint8_t key[HASH_KEY_BYTES] = {1, 2, 3};
	uint32_t gen, age, client = ip("198.18.5.11"), stale_client = ip("198.18.5.12");
	uint16_t slot;
	struct timespec learned, now;

	assert_int_equal(affinity_init(&t, 4096, 300), 0);
	publish(fp, true, &gen);
	clock_gettime(CLOCK_MONOTONIC, &learned);
	assert_int_equal(fastpath_learn(fp, client, 1, gen), 0);
	assert_int_equal(fastpath_learn(fp, stale_client, 1, gen + 100), 0);
	fastpath_tick(fp, &t, key);
	clock_gettime(CLOCK_MONOTONIC, &now);
	assert_true(
	    affinity_peek(&t, client, hash_client(key, client), (uint32_t)now.tv_sec, &slot, &age));
	assert_int_equal(slot, 1);
	/* Refreshed with the time the kernel saw the client: not older than the learn. */
	assert_true(age <= (uint32_t)(now.tv_sec - learned.tv_sec));
	assert_false(affinity_peek(&t, stale_client, hash_client(key, stale_client),
				   (uint32_t)now.tv_sec, &slot, &age));
	/* The stale record is gone from the kernel: only the live ones are counted. */
	fastpath_forget(fp, ip("198.18.5.7"));
	fastpath_forget(fp, ip("198.18.5.8"));
	fastpath_forget(fp, ip("198.18.5.10"));
	fastpath_forget(fp, ip("198.18.5.13"));
	fastpath_tick(fp, &t, key);
	assert_int_equal(fastpath_clients(fp), 1);
	fastpath_forget_all(fp);
	fastpath_tick(fp, &t, key);
	assert_int_equal(fastpath_clients(fp), 0);
	affinity_free(&t);
}

/*
 * With many clients the walk is spread out: a tick within the second does not
 * walk. Whether the tick came within the second is measured: when the walk
 * itself took most of it (a busy machine), the tick is due and that case is
 * only reported.
 */
static void test_walk_runs_less_often_with_many_clients(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	struct affinity_table t;
	uint8_t key[HASH_KEY_BYTES] = {4, 5, 6};
	uint32_t gen;
	const uint32_t n = 100000;
	struct timespec walked, ticked;
	int64_t tick_after_ns;

	assert_int_equal(affinity_init(&t, 4 * n, 300), 0);
	publish(fp, true, &gen);
	fastpath_forget_all(fp);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(fastpath_learn(fp, htonl(0x0A500000U + i), 1, gen), 0);
	clock_gettime(CLOCK_MONOTONIC, &walked);
	fastpath_walk(fp, &t, key);
	assert_int_equal(fastpath_clients(fp), n);
	assert_int_equal(fastpath_learn(fp, htonl(0x0A500000U + n), 1, gen), 0);
	fastpath_tick(fp, &t, key); /* not due: 100,000 records are walked once a second */
	clock_gettime(CLOCK_MONOTONIC, &ticked);
	tick_after_ns = (int64_t)(ticked.tv_sec - walked.tv_sec) * 1000000000LL +
			(ticked.tv_nsec - walked.tv_nsec);
	if (tick_after_ns < WALK_NOT_DUE_NS)
		assert_int_equal(fastpath_clients(fp), n);
	else
		print_message(
		    "fast path: the tick came %lld ms after the walk began: due, not checked\n",
		    (long long)(tick_after_ns / 1000000));
	fastpath_walk(fp, &t, key);
	assert_int_equal(fastpath_clients(fp), n + 1);
	fastpath_forget_all(fp);
	affinity_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_client_is_wrapped_and_redirected),
	    cmocka_unit_test(test_what_the_kernel_leaves_to_nfqueue),
	    cmocka_unit_test(test_merged_packets_are_measured_by_their_segments),
	    cmocka_unit_test(test_a_proxy_going_down_makes_its_records_stale),
	    cmocka_unit_test(test_tick_refreshes_affinity_and_drops_stale_records),
	    cmocka_unit_test(test_walk_runs_less_often_with_many_clients),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
