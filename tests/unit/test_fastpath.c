/*
 * test_fastpath.c - the kernel fast path's program, run by the kernel on
 * packets made here (BPF_PROG_TEST_RUN), in a network namespace of its own
 * with two veth interfaces (d0 towards the proxy, e0 another LAN), routes
 * and permanent neighbours.
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN, a new network namespace): skipped
 * otherwise, and says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <linux/pkt_cls.h>

#include "fastpath.h"
#include "pool.h"
#include "wire.h"

#define ETH_LEN	    14
#define IP_LEN	    20
#define TCP_LEN	    20
#define DEV_MAC	    "02:00:00:00:00:01"
#define PROXY_MAC   "02:00:00:00:00:02"
#define TUNNEL_MTU  1480
#define IP6_LEN	    40
#define TUNNEL_MTU6 1440 /* an IPv6-in-IPv6 tunnel over a 1,480-byte path */
/* fastpath.c walks 100,000 records once a second: a tick less than 0.9 s
 * after the walk began is not due. */
#define WALK_NOT_DUE_NS 900000000LL

static const uint8_t dev_mac[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t proxy_mac[6] = {2, 0, 0, 0, 0, 2};
static int dev_ifindex, other_ifindex;
static char setup_error[300]; /* why the fast path could not be set up */

static uint32_t ip(const char *text)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	return a.s_addr;
}

/* 16 bytes of an IPv6 address, as on the wire, in a buffer of the caller's. */
static const uint8_t *ip6(const char *text, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, text, out), 1);
	return out;
}

/*
 * An Ethernet frame to the device's MAC carrying a TCP packet of ip_len
 * bytes from client to dst:dport; flags and frag_off as given.
 */
static size_t make_frame_ttl(uint8_t *buf, const char *client, const char *dst, uint16_t dport,
			     uint16_t ip_len, uint16_t frag_off, uint8_t flags, uint8_t ttl)
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
	iph[8] = ttl;
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

/*
 * An Ethernet frame to the device's MAC carrying an IPv6 packet of
 * 40 + payload_len bytes from client to dst:dport: next header next (6: TCP
 * straight after the header), traffic class 0x28, flow label 0x5a5a5,
 * hop_limit as given.
 */
static size_t make_frame6(uint8_t *buf, const char *client, const char *dst, uint16_t dport,
			  uint16_t payload_len, uint8_t next, uint8_t hop_limit)
{
	uint8_t *h = buf + ETH_LEN, *tcp = h + IP6_LEN;

	memset(buf, 0, (size_t)ETH_LEN + IP6_LEN + payload_len);
	memcpy(buf, dev_mac, 6);
	memcpy(buf + 6, "\x02\x00\x00\x00\x00\x09", 6);
	buf[12] = 0x86;
	buf[13] = 0xdd;
	wire_put32(h, 6U << 28 | 0x28U << 20 | 0x5a5a5U);
	wire_put16(h + 4, payload_len);
	h[6] = next;
	h[7] = hop_limit;
	ip6(client, h + 8);
	ip6(dst, h + 24);
	wire_put16(tcp, 0xc350);
	wire_put16(tcp + 2, dport);
	tcp[12] = 5 << 4;
	tcp[13] = WIRE_TCP_ACK;
	for (size_t i = TCP_LEN; i < payload_len; i++)
		tcp[i] = (uint8_t)(i * 7);
	return (size_t)ETH_LEN + IP6_LEN + payload_len;
}

/* The same with TTL 61. */
static size_t make_frame(uint8_t *buf, const char *client, const char *dst, uint16_t dport,
			 uint16_t ip_len, uint16_t frag_off, uint8_t flags)
{
	return make_frame_ttl(buf, client, dst, dport, ip_len, frag_off, flags, 61);
}

struct run_result {
	uint32_t retval;
	uint8_t out[2048];
	uint32_t out_len;
};

/*
 * Runs the program once on frame as received on ifindex; gso_size and gso_segs
 * non-zero make it a merged (GRO/GSO) packet of segments of gso_size payload bytes.
 */
static void run_on(const struct fastpath *fp, int ifindex, const uint8_t *frame, size_t len,
		   uint32_t gso_size, uint32_t gso_segs, struct run_result *r)
{
	struct __sk_buff ctx = {
	    .ifindex = (uint32_t)ifindex, .gso_size = gso_size, .gso_segs = gso_segs};
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
			    .data_size_in = (uint32_t)len, .data_out = r->out,
			    .data_size_out = sizeof(r->out), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(fastpath_program_fd(fp), &opts), 0);
	r->retval = opts.retval;
	r->out_len = opts.data_size_out;
}

/* As received on d0. */
static void run_merged(const struct fastpath *fp, const uint8_t *frame, size_t len,
		       uint32_t gso_size, uint32_t gso_segs, struct run_result *r)
{
	run_on(fp, dev_ifindex, frame, len, gso_size, gso_segs, r);
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
 * proxy 10.9.0.2 and the router .254 as permanent neighbours; e0 (another
 * veth pair, the same MAC) 10.8.0.1/24 up: another LAN of the appliance.
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
	       "ip route add default via 10.9.0.254 && sysctl -qw net.ipv4.ip_forward=1 && "
	       "ip link add e0 address " DEV_MAC " type veth peer name e1 && "
	       "ip addr add 10.8.0.1/24 dev e0 && ip link set e1 up && ip link set e0 up") != 0) {
		snprintf(setup_error, sizeof(setup_error), "cannot set up the namespace's network");
		return 0;
	}
	/* IPv6 alike: the proxy 2001:db8:9::2 on d0, a default router, forwarding on. */
	if (sh("sysctl -qw net.ipv6.conf.all.forwarding=1 && "
	       "ip addr add 2001:db8:9::1/64 dev d0 nodad && "
	       "ip addr add 2001:db8:8::1/64 dev e0 nodad && "
	       "ip neigh add 2001:db8:9::2 lladdr " PROXY_MAC " dev d0 nud permanent && "
	       "ip neigh add 2001:db8:9::fe lladdr 02:00:00:00:00:fe dev d0 nud permanent && "
	       "ip -6 route add default via 2001:db8:9::fe dev d0") != 0) {
		snprintf(setup_error, sizeof(setup_error), "cannot set up the namespace's IPv6");
		return 0;
	}
	dev_ifindex = (int)if_nametoindex("d0");
	other_ifindex = (int)if_nametoindex("e0");
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

/* The length of the client subnet 198.18.0.0/N publish() gives: changing it changes who may be a
 * client. */
static uint8_t client_subnet_len = 15;
/* The slot's proxy has an IPv6 address (else its IPv6 clients go in 6in4). */
static bool proxy_has_ipv6 = true;
/* ipv6_client_prefix publish() gives. */
static uint8_t ipv6_prefix = 128;

/*
 * Publishes slot 1 -> 10.9.0.2 (source 10.9.0.1), keeping clients or not,
 * with client_subnet; placed is what droverd records for a client it puts
 * on slot 1 after a packet on d0.
 */
static void publish(struct fastpath *fp, bool keeps, struct fastpath_client *placed)
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
	uint32_t proxies[1] = {ip("10.9.0.2")};
	snap.client_subnets[0] = (struct cidr){.addr = ip("198.18.0.0"), .len = client_subnet_len};
	snap.nsubnets = 1;
	snap.proxies = proxies;
	snap.nproxies = 1;
	uint8_t proxies6[1][WIRE_IPV6_ADDR_LEN];
	ip6("2001:db8:9::2", proxies6[0]);
	snap.client_subnets6[0].len = 32;
	ip6("2001:db8::", snap.client_subnets6[0].addr);
	snap.nsubnets6 = 1;
	snap.proxies6 = proxies6;
	snap.nproxies6 = proxy_has_ipv6 ? 1 : 0;
	snap.ipv6_prefix = ipv6_prefix;

	targets[1] = (struct pool_target){
	    .address = ip("10.9.0.2"),
	    .source = ip("10.9.0.1"),
	    .tunnel_mtu = TUNNEL_MTU,
	    .flags = keeps ? POOL_TARGET_KEEPS | POOL_TARGET_TAKES : 0,
	};
	if (proxy_has_ipv6) {
		targets[1].flags |= POOL_TARGET_IPV6;
		targets[1].tunnel_mtu6 = TUNNEL_MTU6;
		ip6("2001:db8:9::2", targets[1].address6);
		ip6("2001:db8:9::1", targets[1].source6);
	}
	fastpath_publish(fp, &snap);
	*placed = (struct fastpath_client){
	    .slot = 1,
	    .gen = targets[1].fast_gen,
	    .ifindex = (uint32_t)dev_ifindex,
	    .scope = snap.fast_scope,
	};
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
	struct fastpath_client placed;

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.7"), &placed), 0);
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
	const uint8_t *outer = r.out + ETH_LEN, *inner = outer + IP_LEN;
	const uint8_t expect[IP_LEN] = {
	    0x45, 0x28, 0x00, 120,  /* inner TOS; 100 + 20 bytes */
	    0x00, 0x00, 0x40, 0x00, /* an ID of its own (below); DF copied */
	    64,	  4,	0,    0,    /* TTL 64, protocol 4; checksum below */
	    10,	  9,	0,    1,    10, 9, 0, 2,
	};
	assert_memory_equal(outer, expect, 4);
	assert_memory_equal(outer + 6, expect + 6, 4);
	assert_memory_equal(outer + 12, expect + 12, 8);
	assert_int_equal(wire_checksum(outer, IP_LEN), 0);
	/* The inner packet, byte for byte, but for the hop forwarding takes off its TTL. */
	assert_memory_equal(inner, frame + ETH_LEN, 8);
	assert_int_equal(inner[8], 60);
	assert_int_equal(wire_checksum(inner, IP_LEN), 0);
	assert_memory_equal(inner + 9, frame + ETH_LEN + 9, 1);
	assert_memory_equal(inner + 12, frame + ETH_LEN + 12, len - ETH_LEN - 12);

	fastpath_slot_totals(fp, 1, &after);
	assert_int_equal(after.packets - before.packets, 1);
	assert_int_equal(after.bytes - before.bytes, 100);
	assert_int_equal(after.hits - before.hits, 1); /* a SYN */
}

/*
 * The families' records are apart: an IPv6 web packet goes on untouched,
 * even one whose bytes where an IPv4 source would be spell a placed IPv4
 * client's address (2001:db8:c612:508:: holds 198.18.5.8 there).
 */
static void test_ipv6_passes_untouched(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_client placed;
	uint64_t sent = counter(fp, FASTPATH_SENT);
	uint8_t *ip6 = frame + ETH_LEN;
	const size_t len = ETH_LEN + 40 + TCP_LEN;

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.8"), &placed), 0);
	memset(frame, 0, sizeof(frame));
	memcpy(frame, dev_mac, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x09", 6);
	frame[12] = 0x86;
	frame[13] = 0xdd;
	ip6[0] = 0x60;
	ip6[5] = TCP_LEN;
	ip6[6] = 6;
	ip6[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:c612:508::1", ip6 + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:ffff::80", ip6 + 24), 1);
	wire_put16(ip6 + 40, 0xc350);
	wire_put16(ip6 + 42, 80);
	ip6[52] = 5 << 4;
	ip6[53] = 0x10;
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(r.out_len, len);
	assert_memory_equal(r.out, frame, len);
	assert_int_equal(counter(fp, FASTPATH_SENT), sent);
}

/*
 * A placed IPv6 client's packet goes in IPv6-in-IPv6 to the proxy's IPv6
 * address: the outer header carries the inner traffic class and flow label,
 * next header 41, hop limit 64, from the slot's IPv6 tunnel source; the
 * inner packet is byte for byte the client's but for the hop forwarding
 * takes off its hop limit.
 */
static void test_ipv6_known_client_is_wrapped_in_6in6(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048], a[16];
	struct run_result r;
	struct fastpath_slot_totals before, after;
	struct fastpath_client placed, got;

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn6(fp, ip6("2001:db8:c612:507::1", a), &placed), 0);
	size_t len = make_frame6(frame, "2001:db8:c612:507::1", "2001:db8:ffff::80", 80, 100,
				 IPPROTO_TCP, 64);
	uint64_t sent = counter(fp, FASTPATH_SENT), sent6 = counter(fp, FASTPATH_IPV6_SENT);
	fastpath_slot_totals(fp, 1, &before);
	run(fp, frame, len, &r);

	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(r.out_len, len + IP6_LEN);
	assert_memory_equal(r.out, proxy_mac, 6);
	assert_memory_equal(r.out + 6, dev_mac, 6);
	assert_int_equal(r.out[12], 0x86);
	assert_int_equal(r.out[13], 0xdd);
	const uint8_t *outer = r.out + ETH_LEN, *inner = outer + IP6_LEN;
	const uint8_t expect[8] = {
	    0x62, 0x85, 0xa5, 0xa5, /* version 6, traffic class 0x28, flow label 0x5a5a5 */
	    0x00, 140,		    /* payload: the inner packet, 40 + 100 bytes */
	    41,	  64,		    /* next header IPv6, hop limit 64 */
	};
	assert_memory_equal(outer, expect, sizeof(expect));
	assert_memory_equal(outer + 8, ip6("2001:db8:9::1", a), 16);
	assert_memory_equal(outer + 24, ip6("2001:db8:9::2", a), 16);
	assert_memory_equal(inner, frame + ETH_LEN, 7);
	assert_int_equal(inner[7], 63);
	assert_memory_equal(inner + 8, frame + ETH_LEN + 8, len - ETH_LEN - 8);

	assert_int_equal(counter(fp, FASTPATH_SENT), sent + 1);
	assert_int_equal(counter(fp, FASTPATH_IPV6_SENT), sent6 + 1);
	fastpath_slot_totals(fp, 1, &after);
	assert_int_equal(after.packets - before.packets, 1);
	assert_int_equal(after.bytes - before.bytes, 140);
	assert_int_equal(fastpath_client6_get(fp, ip6("2001:db8:c612:507::1", a), &got), 0);
	assert_int_equal(got.slot, 1);
}

/* Runs frame on ifindex and checks it went on to the stack unchanged. */
static void assert_passed(const struct fastpath *fp, int ifindex, const uint8_t *frame, size_t len)
{
	struct run_result r;

	run_on(fp, ifindex, frame, len, 0, 0, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(r.out_len, len);
	assert_memory_equal(r.out, frame, len);
}

/*
 * What the kernel leaves to the stack (and NFQUEUE) for IPv6, untouched and
 * counted: a client not recorded, a packet from another interface, a stale
 * generation, a hop limit that runs out, extension headers, too big for the
 * tunnel, a local destination.
 */
static void test_ipv6_what_the_kernel_leaves_to_nfqueue(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048], a[16];
	struct run_result r;
	struct fastpath_client placed, down, up;
	const char *client = "2001:db8:c612:508::1";
	size_t len;
	uint64_t n;

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn6(fp, ip6(client, a), &placed), 0);
	uint64_t sent = counter(fp, FASTPATH_SENT);

	/* Not recorded. */
	len = make_frame6(frame, "2001:db8:c612:508::2", "2001:db8:ffff::80", 80, 100, IPPROTO_TCP,
			  64);
	assert_passed(fp, dev_ifindex, frame, len);
	/* Not a web port. */
	len = make_frame6(frame, client, "2001:db8:ffff::80", 22, 100, IPPROTO_TCP, 64);
	assert_passed(fp, dev_ifindex, frame, len);
	/* From another interface. */
	len = make_frame6(frame, client, "2001:db8:ffff::80", 80, 100, IPPROTO_TCP, 64);
	n = counter(fp, FASTPATH_INTERFACE);
	assert_passed(fp, other_ifindex, frame, len);
	assert_int_equal(counter(fp, FASTPATH_INTERFACE), n + 1);
	/* An extension header (hop-by-hop) first: NFQUEUE walks those. */
	len = make_frame6(frame, client, "2001:db8:ffff::80", 80, 100, 0, 64);
	assert_passed(fp, dev_ifindex, frame, len);
	/* The hop limit runs out: the kernel answers time-exceeded. */
	n = counter(fp, FASTPATH_TTL);
	len = make_frame6(frame, client, "2001:db8:ffff::80", 80, 100, IPPROTO_TCP, 1);
	assert_passed(fp, dev_ifindex, frame, len);
	assert_int_equal(counter(fp, FASTPATH_TTL), n + 1);
	/* Longer than the 6in6 tunnel takes: NFQUEUE answers Packet Too Big. */
	n = counter(fp, FASTPATH_TOO_BIG);
	len = make_frame6(frame, client, "2001:db8:ffff::80", 80, TUNNEL_MTU6 - IP6_LEN + 1,
			  IPPROTO_TCP, 64);
	assert_passed(fp, dev_ifindex, frame, len);
	assert_int_equal(counter(fp, FASTPATH_TOO_BIG), n + 1);
	len = make_frame6(frame, client, "2001:db8:ffff::80", 80, TUNNEL_MTU6 - IP6_LEN,
			  IPPROTO_TCP, 64);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	/* To the appliance's own address: delivered locally. */
	n = counter(fp, FASTPATH_NOT_FORWARDED);
	len = make_frame6(frame, client, "2001:db8:9::1", 80, 100, IPPROTO_TCP, 64);
	assert_passed(fp, dev_ifindex, frame, len);
	assert_int_equal(counter(fp, FASTPATH_NOT_FORWARDED), n + 1);
	assert_int_equal(counter(fp, FASTPATH_SENT), sent + 1);

	/* The proxy goes down: a stale generation. */
	len = make_frame6(frame, client, "2001:db8:ffff::80", 80, 100, IPPROTO_TCP, 64);
	n = counter(fp, FASTPATH_STALE);
	publish(fp, false, &down);
	assert_passed(fp, dev_ifindex, frame, len);
	assert_int_equal(counter(fp, FASTPATH_STALE), n + 1);
	publish(fp, true, &up);
	assert_passed(fp, dev_ifindex, frame, len);
	assert_int_equal(fastpath_learn6(fp, a, &up), 0);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	fastpath_forget_all(fp);
}

/*
 * A placed IPv6 client of a proxy with IPv4 only goes in 6in4: an outer
 * IPv4 header (the inner traffic class as TOS, DF, TTL 64, protocol 41, a
 * valid checksum) from the slot's IPv4 source to the proxy's IPv4 address,
 * the inner packet the client's but for its hop limit. The IPv4 tunnel's
 * MTU bounds it: one byte more goes on to the stack (and NFQUEUE).
 */
static void test_ipv6_client_of_ipv4_proxy_is_wrapped_in_6in4(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048], a[16];
	struct run_result r;
	struct fastpath_slot_totals before, after;
	struct fastpath_client placed;

	proxy_has_ipv6 = false;
	publish(fp, true, &placed);
	proxy_has_ipv6 = true;
	assert_int_equal(fastpath_learn6(fp, ip6("2001:db8:c612:509::1", a), &placed), 0);
	size_t len = make_frame6(frame, "2001:db8:c612:509::1", "2001:db8:ffff::80", 80,
				 TUNNEL_MTU - IP6_LEN, IPPROTO_TCP, 64);
	uint64_t sent = counter(fp, FASTPATH_SENT), sent6 = counter(fp, FASTPATH_IPV6_SENT);
	uint64_t sent4 = counter(fp, FASTPATH_IPV6_6IN4_SENT);
	fastpath_slot_totals(fp, 1, &before);
	run(fp, frame, len, &r);

	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(r.out_len, len + IP_LEN);
	assert_memory_equal(r.out, proxy_mac, 6);
	assert_memory_equal(r.out + 6, dev_mac, 6);
	assert_int_equal(r.out[12], 0x08);
	assert_int_equal(r.out[13], 0x00);
	const uint8_t *outer = r.out + ETH_LEN, *inner = outer + IP_LEN;
	const uint8_t expect[4] = {
	    0x45,
	    0x28,			/* version 4, 5 words; TOS: the inner traffic class 0x28 */
	    (TUNNEL_MTU + IP_LEN) >> 8, /* total length: the inner packet and 20 */
	    (TUNNEL_MTU + IP_LEN) & 0xff,
	};
	assert_memory_equal(outer, expect, sizeof(expect));
	assert_int_equal(wire_get16(outer + 6), WIRE_IP_DF);
	assert_int_equal(outer[8], 64);
	assert_int_equal(outer[9], 41);
	assert_int_equal(wire_checksum(outer, IP_LEN), 0);
	uint32_t src, dst;
	memcpy(&src, outer + 12, 4);
	memcpy(&dst, outer + 16, 4);
	assert_int_equal(src, ip("10.9.0.1"));
	assert_int_equal(dst, ip("10.9.0.2"));
	assert_memory_equal(inner, frame + ETH_LEN, 7);
	assert_int_equal(inner[7], 63);
	assert_memory_equal(inner + 8, frame + ETH_LEN + 8, len - ETH_LEN - 8);

	assert_int_equal(counter(fp, FASTPATH_SENT), sent + 1);
	assert_int_equal(counter(fp, FASTPATH_IPV6_SENT), sent6 + 1);
	assert_int_equal(counter(fp, FASTPATH_IPV6_6IN4_SENT), sent4 + 1);
	fastpath_slot_totals(fp, 1, &after);
	assert_int_equal(after.packets - before.packets, 1);
	assert_int_equal(after.bytes - before.bytes, TUNNEL_MTU);

	/* One byte past the IPv4 tunnel: the stack's, NFQUEUE answers Packet Too Big. */
	len = make_frame6(frame, "2001:db8:c612:509::1", "2001:db8:ffff::80", 80,
			  TUNNEL_MTU - IP6_LEN + 1, IPPROTO_TCP, 64);
	uint64_t big = counter(fp, FASTPATH_TOO_BIG);
	sent = counter(fp, FASTPATH_SENT);
	assert_passed(fp, dev_ifindex, frame, len);
	assert_int_equal(counter(fp, FASTPATH_TOO_BIG), big + 1);
	assert_int_equal(counter(fp, FASTPATH_SENT), sent);
	fastpath_forget_all(fp);
}

/*
 * ipv6_client_prefix widens an IPv6 client to its prefix: droverd records
 * the widened identity once, and the kernel finds it for every address of
 * the prefix (a /64, and a prefix that ends inside a 32-bit word), not for
 * the next prefix. forget_all empties the IPv6 records too.
 */
static void test_ipv6_a_prefix_shares_one_record(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048], a[16];
	struct run_result r;
	struct fastpath_client placed, got;
	static const struct {
		uint8_t prefix;
		const char *key, *same[2], *other;
	} cases[] = {
	    {64,
	     "2001:db8:c612:508::",
	     {"2001:db8:c612:508::1", "2001:db8:c612:508:abcd:1234:5678:9abc"},
	     "2001:db8:c612:509::1"},
	    {60,
	     "2001:db8:c612:500::",
	     {"2001:db8:c612:508::1", "2001:db8:c612:50f:ffff::7"},
	     "2001:db8:c612:510::1"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ipv6_prefix = cases[i].prefix;
		publish(fp, true, &placed);
		ipv6_prefix = 128;
		assert_int_equal(fastpath_learn6(fp, ip6(cases[i].key, a), &placed), 0);
		for (size_t j = 0; j < 2; j++) {
			size_t len = make_frame6(frame, cases[i].same[j], "2001:db8:ffff::80", 443,
						 60, IPPROTO_TCP, 64);
			run(fp, frame, len, &r);
			assert_int_equal(r.retval, TC_ACT_REDIRECT);
			/* The inner source is the client's own address, not its prefix. */
			assert_memory_equal(r.out + ETH_LEN + IP6_LEN + 8, frame + ETH_LEN + 8, 16);
		}
		size_t len = make_frame6(frame, cases[i].other, "2001:db8:ffff::80", 443, 60,
					 IPPROTO_TCP, 64);
		assert_passed(fp, dev_ifindex, frame, len);
	}
	fastpath_forget_all(fp);
	assert_int_equal(fastpath_client6_get(fp, a, &got), -ENOENT);
}

/*
 * The walk over the IPv6 records: a live one refreshes droverd's affinity
 * entry under the tag NFQUEUE places the client by (the widened identity's
 * keyed hash), a stale one leaves the kernel and names nothing.
 */
static void test_tick_refreshes_ipv6_affinity_and_drops_stale_records(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	struct affinity_table t;
	uint8_t key[HASH_KEY_BYTES] = {4, 5, 6};
	struct fastpath_client placed, stale, got;
	struct client_id live_id, stale_id;
	struct timespec now;
	uint16_t slot;
	uint32_t age;

	assert_int_equal(affinity_init(&t, 4096, 300), 0);
	fastpath_forget_all(fp);
	publish(fp, true, &placed);
	ip6("2001:db8:c612:540::", live_id.addr);
	ip6("2001:db8:c612:541::", stale_id.addr);
	assert_int_equal(fastpath_learn6(fp, live_id.addr, &placed), 0);
	stale = placed;
	stale.gen += 100;
	assert_int_equal(fastpath_learn6(fp, stale_id.addr, &stale), 0);
	fastpath_walk(fp, &t, key);
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t hash = hash_client_id(key, &live_id);
	assert_true(
	    affinity_peek(&t, pool_affinity_tag6(hash), hash, (uint32_t)now.tv_sec, &slot, &age));
	assert_int_equal(slot, 1);
	hash = hash_client_id(key, &stale_id);
	assert_false(
	    affinity_peek(&t, pool_affinity_tag6(hash), hash, (uint32_t)now.tv_sec, &slot, &age));
	assert_int_equal(fastpath_client6_get(fp, stale_id.addr, &got), -ENOENT);
	assert_int_equal(fastpath_clients(fp), 1);
	fastpath_forget_all(fp);
	affinity_free(&t);
}

static void test_what_the_kernel_leaves_to_nfqueue(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_client placed;
	size_t len;

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.8"), &placed), 0);

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
	struct fastpath_client placed;

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.13"), &placed), 0);
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
	struct fastpath_client placed, down, up;
	size_t len = make_frame(frame, "198.18.5.10", "203.0.113.80", 443, 60, 0, 0x10);

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.10"), &placed), 0);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);

	uint64_t stale = counter(fp, FASTPATH_STALE);
	publish(fp, false, &down);
	assert_int_not_equal(down.gen, placed.gen);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(counter(fp, FASTPATH_STALE), stale + 1);

	/* Back up: the old record stays stale until droverd places the client again. */
	publish(fp, true, &up);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.10"), &up), 0);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
}

static void test_tick_refreshes_affinity_and_drops_stale_records(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	struct affinity_table t;
	uint8_t key[HASH_KEY_BYTES] = {1, 2, 3};
	struct fastpath_client placed, stale;
	uint32_t age, client = ip("198.18.5.11"), stale_client = ip("198.18.5.12");
	uint16_t slot;
	struct timespec learned, now;

	assert_int_equal(affinity_init(&t, 4096, 300), 0);
	publish(fp, true, &placed);
	clock_gettime(CLOCK_MONOTONIC, &learned);
	assert_int_equal(fastpath_learn(fp, client, &placed), 0);
	stale = placed;
	stale.gen += 100;
	assert_int_equal(fastpath_learn(fp, stale_client, &stale), 0);
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
 * Finding: the kernel knew clients by address only, so a host on another
 * interface of the appliance using a known client's address was wrapped to
 * that client's proxy. A record now holds the interface droverd saw the
 * client on; a packet from elsewhere goes on unchanged, counted.
 */
static void test_a_known_address_from_another_interface_is_not_wrapped(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_client placed;
	const unsigned attempts = 100;
	unsigned wrapped = 0;

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.20"), &placed), 0);
	size_t len =
	    make_frame(frame, "198.18.5.20", "203.0.113.80", 80, 100, WIRE_IP_DF, WIRE_TCP_ACK);

	uint64_t declined = counter(fp, FASTPATH_INTERFACE);
	for (unsigned i = 0; i < attempts; i++) {
		run_on(fp, other_ifindex, frame, len, 0, 0, &r);
		if (r.retval == TC_ACT_REDIRECT)
			wrapped++;
		else
			assert_memory_equal(r.out, frame, len);
	}
	print_message("fast path: %u of %u packets with a known client's address from another "
		      "interface wrapped to its proxy\n",
		      wrapped, attempts);
	assert_int_equal(wrapped, 0);
	assert_int_equal(counter(fp, FASTPATH_INTERFACE), declined + attempts);

	/* From its own interface, the client is carried as before. */
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);

	/* A record without an interface is refused: the kernel could never match it. */
	struct fastpath_client nowhere = placed;
	nowhere.ifindex = 0;
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.21"), &nowhere), -EINVAL);
}

/*
 * The NFQUEUE path sees packets after the kernel's forwarding: one whose
 * TTL runs out never gets there (the kernel answers time-exceeded), the
 * others arrive one hop shorter. The fast path does the same.
 */
static void test_ttl_runs_out_in_the_kernel(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_client placed;

	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.22"), &placed), 0);
	uint64_t expired = counter(fp, FASTPATH_TTL), sent = counter(fp, FASTPATH_SENT);
	for (uint8_t ttl = 0; ttl <= 1; ttl++) {
		size_t len = make_frame_ttl(frame, "198.18.5.22", "203.0.113.80", 80, 100,
					    WIRE_IP_DF, WIRE_TCP_ACK, ttl);
		run(fp, frame, len, &r);
		assert_int_equal(r.retval, TC_ACT_OK);
		assert_int_equal(r.out_len, len);
		assert_memory_equal(r.out, frame, len);
	}
	assert_int_equal(counter(fp, FASTPATH_TTL), expired + 2);
	assert_int_equal(counter(fp, FASTPATH_SENT), sent);

	size_t len = make_frame_ttl(frame, "198.18.5.22", "203.0.113.80", 80, 100, WIRE_IP_DF,
				    WIRE_TCP_ACK, 2);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(r.out[ETH_LEN + IP_LEN + 8], 1);
	assert_int_equal(wire_checksum(r.out + ETH_LEN + IP_LEN, IP_LEN), 0);
}

/*
 * An outer packet without DF may be fragmented on the way to the proxy: its
 * ID must not repeat under one tunnel source and proxy, which copying the
 * clients' own IDs does (many clients, one pair). Packets that all carry the
 * same inner ID get outer IDs of their own, all different.
 */
static void test_outer_id_is_not_the_inner_one(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_client placed;
	enum { PACKETS = 100 };
	uint16_t ids[PACKETS];
	unsigned copied = 0, repeated = 0;
	cpu_set_t one, before;

	/* One CPU: the IDs come from one per-CPU sequence. */
	assert_int_equal(sched_getaffinity(0, sizeof(before), &before), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.23"), &placed), 0);
	size_t len = make_frame(frame, "198.18.5.23", "203.0.113.80", 80, 100, 0, WIRE_TCP_ACK);
	for (unsigned i = 0; i < PACKETS; i++) {
		run(fp, frame, len, &r);
		assert_int_equal(r.retval, TC_ACT_REDIRECT);
		/* DF clear inside, clear outside: both paths copy DF. */
		assert_int_equal(wire_get16(r.out + ETH_LEN + 6), 0);
		ids[i] = wire_get16(r.out + ETH_LEN + 4);
		copied += ids[i] == wire_get16(frame + ETH_LEN + 4);
		for (unsigned j = 0; j < i; j++)
			repeated += ids[j] == ids[i];
	}
	sched_setaffinity(0, sizeof(before), &before);
	print_message("fast path: %u of %u DF-clear outer headers carry the inner ID; %u repeat "
		      "an earlier outer ID\n",
		      copied, PACKETS, repeated);
	assert_true(copied <= 1); /* the sequence may pass the inner ID once */
	assert_int_equal(repeated, 0);
}

/*
 * Records made before client_subnets or the proxies' addresses changed are
 * never used again, even one a packet thread writes after the change from
 * an older snapshot; the walk removes them.
 */
static void test_a_changed_client_scope_makes_records_stale(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_client before, after, again;
	struct affinity_table t;
	uint8_t key[HASH_KEY_BYTES] = {7, 8, 9};

	assert_int_equal(affinity_init(&t, 4096, 300), 0);
	fastpath_forget_all(fp);
	publish(fp, true, &before);
	publish(fp, true, &again); /* the same subnets and proxies: the same scope */
	assert_int_equal(again.scope, before.scope);
	size_t len = make_frame(frame, "198.18.5.24", "203.0.113.80", 80, 100, 0, WIRE_TCP_ACK);

	client_subnet_len = 16; /* 198.18.0.0/16: a change of who may be a client */
	publish(fp, true, &after);
	client_subnet_len = 15;
	assert_int_not_equal(after.scope, before.scope);
	/* A thread still on the old snapshot records the client after the publish. */
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.24"), &before), 0);
	uint64_t stale = counter(fp, FASTPATH_STALE);
	run(fp, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	assert_int_equal(counter(fp, FASTPATH_STALE), stale + 1);
	fastpath_walk(fp, &t, key);
	assert_int_equal(fastpath_clients(fp), 0);
	struct fastpath_client rec;
	assert_int_equal(fastpath_client_get(fp, ip("198.18.5.24"), &rec), -ENOENT);
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
	struct fastpath_client placed;
	const uint32_t n = 100000;
	struct timespec walked, ticked;
	int64_t tick_after_ns;

	assert_int_equal(affinity_init(&t, 4 * n, 300), 0);
	publish(fp, true, &placed);
	fastpath_forget_all(fp);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(fastpath_learn(fp, htonl(0x0A500000U + i), &placed), 0);
	clock_gettime(CLOCK_MONOTONIC, &walked);
	fastpath_walk(fp, &t, key);
	assert_int_equal(fastpath_clients(fp), n);
	assert_int_equal(fastpath_learn(fp, htonl(0x0A500000U + n), &placed), 0);
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

/*
 * A bpffs of the test's own, in a mount namespace of its own, so nothing
 * outlives the test. Returns the pin directory under it, or NULL (skipped).
 */
static const char *pin_dir_make(void)
{
	static char base[sizeof("/tmp/drover-fastpath-pin.XXXXXX")];
	static char dir[sizeof(base) + 16];

	snprintf(base, sizeof(base), "/tmp/drover-fastpath-pin.XXXXXX");
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mkdtemp(base) == NULL || mount("bpf", base, "bpf", 0, "mode=0700") < 0)
		return NULL;
	snprintf(dir, sizeof(dir), "%s/drover", base);
	return dir;
}

static void pin_dir_remove(const char *dir)
{
	char base[64];

	snprintf(base, sizeof(base), "%.*s", (int)(strrchr(dir, '/') - dir), dir);
	umount(base);
	rmdir(base);
}

/*
 * Finding: a restart broke every proxied connection, because the fast path
 * went with droverd. Pinned, it stays: its records still carry the client
 * after droverd left (a too-big packet is held back, not routed to the
 * origin), the next open takes the maps over with the proxy's slot, a
 * snapshot without health verdicts (hold) does not retire the slot, a real
 * verdict does, and a close removes everything pinned.
 */
static void test_a_pinned_fast_path_outlives_droverd(void **state)
{
	struct fastpath *fp = need_fastpath(state), *first, *next;
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_client placed, down, got;
	char err[256], path[128];
	uint8_t a6[16];
	uint32_t client = ip("198.18.5.30");
	const char *dir;
	size_t len;

	(void)fp;
	dir = pin_dir_make();
	if (dir == NULL) {
		fprintf(stderr, "# skipped: no bpffs of our own\n");
		skip();
	}
	first = fastpath_open_pinned(1U << 16, dir, err, sizeof(err));
	assert_non_null(first);
	assert_true(fastpath_pinned(first));
	assert_false(fastpath_adopted(first));
	assert_true(fastpath_attach_all(first) > 0);
	publish(first, true, &placed);
	assert_int_equal(fastpath_learn(first, client, &placed), 0);
	assert_int_equal(fastpath_learn6(first, ip6("2001:db8:c612:530::1", a6), &placed), 0);
	fastpath_set_grace(first, 30);
	fastpath_leave(first);

	snprintf(path, sizeof(path), "%s/clients", dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/clients6", dir);
	assert_int_equal(access(path, F_OK), 0);
	next = fastpath_open_pinned(1U << 16, dir, err, sizeof(err));
	assert_non_null(next);
	assert_true(fastpath_adopted(next));
	assert_int_equal(fastpath_client_get(next, client, &got), 0);
	assert_int_equal(got.slot, 1);
	assert_int_equal(fastpath_client6_get(next, a6, &got), 0);
	assert_int_equal(got.slot, 1);
	len = make_frame6(frame, "2001:db8:c612:530::1", "2001:db8:ffff::80", 80, 100, IPPROTO_TCP,
			  64);
	run(next, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	assert_int_equal(fastpath_slot_of(next, ip("10.9.0.2")), 1);

	/* droverd is away: carried, but a packet too big for the tunnel is held back. */
	len = make_frame(frame, "198.18.5.30", "203.0.113.80", 80, 100, 0, 0x10);
	run(next, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	len = make_frame(frame, "198.18.5.30", "203.0.113.80", 80, TUNNEL_MTU + 1, 0, 0x10);
	run(next, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_SHOT);

	/* Back, no verdicts yet: the slot stays; a verdict of down retires it. */
	fastpath_set_grace(next, 30);
	run(next, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);
	fastpath_hold(next, true);
	publish(next, false, &down);
	len = make_frame(frame, "198.18.5.30", "203.0.113.80", 80, 100, 0, 0x10);
	run(next, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	fastpath_hold(next, false);
	publish(next, false, &down);
	run(next, frame, len, &r);
	assert_int_equal(r.retval, TC_ACT_OK);

	fastpath_close(next);
	assert_int_not_equal(access(dir, F_OK), 0);
	pin_dir_remove(dir);
}

/* Maps of another layout are not taken over: the next open starts clean. */
static void test_pinned_maps_of_another_layout_start_clean(void **state)
{
	struct fastpath *fp = need_fastpath(state), *first, *next;
	struct fastpath_client placed, got;
	struct fastpath_config config;
	char err[256], path[128];
	uint32_t client = ip("198.18.5.31"), zero = 0;
	const char *dir;
	int fd;

	(void)fp;
	dir = pin_dir_make();
	if (dir == NULL) {
		fprintf(stderr, "# skipped: no bpffs of our own\n");
		skip();
	}
	first = fastpath_open_pinned(1U << 16, dir, err, sizeof(err));
	assert_non_null(first);
	assert_true(fastpath_attach_all(first) > 0);
	publish(first, true, &placed);
	assert_int_equal(fastpath_learn(first, client, &placed), 0);
	fastpath_leave(first);

	/* As an older build would have left it. */
	snprintf(path, sizeof(path), "%s/config", dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &zero, &config), 0);
	config.abi = FASTPATH_ABI_VERSION + 1;
	assert_int_equal(bpf_map_update_elem(fd, &zero, &config, BPF_ANY), 0);
	close(fd);

	next = fastpath_open_pinned(1U << 16, dir, err, sizeof(err));
	assert_non_null(next);
	assert_false(fastpath_adopted(next));
	assert_true(fastpath_pinned(next));
	assert_int_equal(fastpath_client_get(next, client, &got), -ENOENT);
	fastpath_close(next);

	/* A table of another size is another shape: the same. */
	first = fastpath_open_pinned(1U << 16, dir, err, sizeof(err));
	assert_true(fastpath_attach_all(first) > 0);
	fastpath_leave(first);
	next = fastpath_open_pinned(1U << 17, dir, err, sizeof(err));
	assert_non_null(next);
	assert_false(fastpath_adopted(next));
	fastpath_close(next);
	pin_dir_remove(dir);
}

/* ---- The XDP program: the same decisions, on the driver's frame. ---- */

/*
 * The TCP checksum of the IPv4 frame: right, or as a sender on the same host
 * leaves it for the device to finish (the pseudo header's sum alone).
 */
static void tcp_checksum4(uint8_t *frame, bool partial)
{
	uint8_t *iph = frame + ETH_LEN, *tcp = iph + IP_LEN, sum[2048];
	uint16_t tcp_len = (uint16_t)(wire_get16(iph + 2) - IP_LEN);

	memcpy(sum, iph + 12, 8);
	sum[8] = 0;
	sum[9] = IPPROTO_TCP;
	wire_put16(sum + 10, tcp_len);
	wire_put16(tcp + 16, 0);
	memcpy(sum + 12, tcp, tcp_len);
	if (partial)
		wire_put16(tcp + 16, (uint16_t)~wire_checksum(sum, 12));
	else
		wire_put16(tcp + 16, wire_checksum(sum, 12 + (size_t)tcp_len));
}

/* Whether the TCP checksum of the IPv4 packet at iph holds. */
static bool tcp_checksum4_holds(const uint8_t *iph)
{
	uint8_t sum[2048];
	uint16_t tcp_len = (uint16_t)(wire_get16(iph + 2) - IP_LEN);

	memcpy(sum, iph + 12, 8);
	sum[8] = 0;
	sum[9] = IPPROTO_TCP;
	wire_put16(sum + 10, tcp_len);
	memcpy(sum + 12, iph + IP_LEN, tcp_len);
	return wire_checksum(sum, 12 + (size_t)tcp_len) == 0;
}

/* The same for IPv6. */
static void tcp_checksum6(uint8_t *frame, bool partial)
{
	uint8_t *h = frame + ETH_LEN, *tcp = h + IP6_LEN, pseudo[IP6_LEN];
	uint16_t tcp_len = wire_get16(h + 4);

	wire_put16(tcp + 16, 0);
	if (!partial) {
		wire_put16(tcp + 16, wire_checksum6(h + 8, h + 24, IPPROTO_TCP, tcp, tcp_len));
		return;
	}
	memset(pseudo, 0, sizeof(pseudo));
	memcpy(pseudo, h + 8, 32);
	wire_put32(pseudo + 32, tcp_len);
	pseudo[39] = IPPROTO_TCP;
	wire_put16(tcp + 16, (uint16_t)~wire_checksum(pseudo, sizeof(pseudo)));
}

static bool tcp_checksum6_holds(const uint8_t *h)
{
	return wire_checksum6(h + 8, h + 24, IPPROTO_TCP, h + IP6_LEN, wire_get16(h + 4)) == 0;
}

/*
 * Back out of the device it came in on: d0 is a veth, which wakes its peer
 * for redirected frames but for XDP_TX only when the peer runs XDP itself,
 * so the program redirects there (a NIC's driver gets XDP_TX).
 */
#define XDP_BACK_OUT XDP_REDIRECT

/* Runs the XDP program once on frame as received on ifindex. */
static void run_xdp_on(const struct fastpath *fp, int ifindex, const uint8_t *frame, size_t len,
		       struct run_result *r)
{
	struct xdp_md ctx = {.data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)ifindex};
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
			    .data_size_in = (uint32_t)len, .data_out = r->out,
			    .data_size_out = sizeof(r->out), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(fastpath_xdp_program_fd(fp), &opts), 0);
	r->retval = opts.retval;
	r->out_len = opts.data_size_out;
}

static void run_xdp(const struct fastpath *fp, const uint8_t *frame, size_t len,
		    struct run_result *r)
{
	run_xdp_on(fp, dev_ifindex, frame, len, r);
}

/* XDP passes it on untouched: to the tc program and the stack, as if it were not there. */
static void assert_xdp_passed(const struct fastpath *fp, int ifindex, const uint8_t *frame,
			      size_t len)
{
	struct run_result r;

	run_xdp_on(fp, ifindex, frame, len, &r);
	assert_int_equal(r.retval, XDP_PASS);
	assert_int_equal(r.out_len, len);
	assert_memory_equal(r.out, frame, len);
}

/*
 * The XDP program takes frames of the interfaces it is attached to: d0 and
 * e0, natively (veths: fast_path_mode xdp, since auto leaves veths to tc).
 */
static void xdp_attach(struct fastpath *fp)
{
	fastpath_set_mode(fp, FASTPATH_MODE_XDP);
	if (!fastpath_attached(fp))
		assert_true(fastpath_attach_all(fp) >= 2);
	assert_int_equal(fastpath_interface_path(fp, dev_ifindex, NULL), FASTPATH_PATH_XDP);
	assert_int_equal(fastpath_interface_path(fp, other_ifindex, NULL), FASTPATH_PATH_XDP);
}

/*
 * The modes, applied at once to the interfaces attached: auto leaves veths
 * to tc (their XDP copies each frame), xdp puts XDP on them beside tc, tc
 * takes it off again; the tc program stays throughout.
 */
static void test_xdp_modes(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	int why = -1;

	fastpath_set_mode(fp, FASTPATH_MODE_AUTO);
	if (!fastpath_attached(fp))
		assert_true(fastpath_attach_all(fp) >= 2);
	assert_int_equal(fastpath_interface_path(fp, dev_ifindex, &why), FASTPATH_PATH_TC);
	assert_int_equal(why, 0);
	fastpath_set_mode(fp, FASTPATH_MODE_XDP);
	assert_int_equal(fastpath_interface_path(fp, dev_ifindex, NULL), FASTPATH_PATH_XDP);
	assert_int_equal(fastpath_interface_path(fp, other_ifindex, NULL), FASTPATH_PATH_XDP);
	fastpath_set_mode(fp, FASTPATH_MODE_TC);
	assert_int_equal(fastpath_interface_path(fp, dev_ifindex, NULL), FASTPATH_PATH_TC);
	assert_string_equal(fastpath_path_name(FASTPATH_PATH_XDP), "xdp");
	fastpath_set_mode(fp, FASTPATH_MODE_XDP);
}

/*
 * The XDP program wraps a placed client's packet as the tc program does,
 * byte for byte but for the outer ID (each counts its own) and so the outer
 * checksum: IPv4 in IPv4 (even, odd and block-long lengths, to sum them
 * all), IPv6 in IPv6, IPv6 in IPv4; back out of d0, the route to the
 * proxy. Counted as the tc program counts, and as XDP's.
 */
static void test_xdp_wraps_as_tc_does(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	const uint16_t lengths[] = {100, 101, 1400, TUNNEL_MTU};
	uint8_t frame[2048], a[16];
	struct run_result tc, xdp;
	struct fastpath_client placed;
	struct fastpath_slot_totals before, after;
	size_t len;

	xdp_attach(fp);
	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.40"), &placed), 0);
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		len = make_frame(frame, "198.18.5.40", "203.0.113.80", 80, lengths[i], WIRE_IP_DF,
				 WIRE_TCP_SYN);
		tcp_checksum4(frame, false);
		run(fp, frame, len, &tc);
		assert_int_equal(tc.retval, TC_ACT_REDIRECT);
		uint64_t sent = counter(fp, FASTPATH_SENT), xsent = counter(fp, FASTPATH_XDP_SENT);
		fastpath_slot_totals(fp, 1, &before);
		run_xdp(fp, frame, len, &xdp);
		assert_int_equal(xdp.retval, XDP_BACK_OUT);
		assert_int_equal(xdp.out_len, tc.out_len);
		assert_memory_equal(xdp.out, tc.out, ETH_LEN + 4);
		assert_memory_equal(xdp.out + ETH_LEN + 6, tc.out + ETH_LEN + 6, 4);
		assert_memory_equal(xdp.out + ETH_LEN + 12, tc.out + ETH_LEN + 12,
				    tc.out_len - ETH_LEN - 12);
		assert_int_equal(wire_checksum(xdp.out + ETH_LEN, IP_LEN), 0);
		assert_true(tcp_checksum4_holds(xdp.out + ETH_LEN + IP_LEN));
		assert_int_equal(counter(fp, FASTPATH_SENT), sent + 1);
		assert_int_equal(counter(fp, FASTPATH_XDP_SENT), xsent + 1);
		fastpath_slot_totals(fp, 1, &after);
		assert_int_equal(after.packets - before.packets, 1);
		assert_int_equal(after.bytes - before.bytes, lengths[i]);
		assert_int_equal(after.hits - before.hits, 1);
	}

	/* IPv6 in IPv6: no ID, so every byte is the tc program's. */
	assert_int_equal(fastpath_learn6(fp, ip6("2001:db8:c612:540::1", a), &placed), 0);
	len = make_frame6(frame, "2001:db8:c612:540::1", "2001:db8:ffff::80", 80, 301, IPPROTO_TCP,
			  64);
	tcp_checksum6(frame, false);
	run(fp, frame, len, &tc);
	assert_int_equal(tc.retval, TC_ACT_REDIRECT);
	uint64_t sent6 = counter(fp, FASTPATH_IPV6_SENT);
	run_xdp(fp, frame, len, &xdp);
	assert_int_equal(xdp.retval, XDP_BACK_OUT);
	assert_int_equal(xdp.out_len, tc.out_len);
	assert_memory_equal(xdp.out, tc.out, tc.out_len);
	assert_int_equal(counter(fp, FASTPATH_IPV6_SENT), sent6 + 1);

	/* IPv6 in IPv4, to a proxy without IPv6. */
	proxy_has_ipv6 = false;
	publish(fp, true, &placed);
	proxy_has_ipv6 = true;
	assert_int_equal(fastpath_learn6(fp, ip6("2001:db8:c612:541::1", a), &placed), 0);
	len = make_frame6(frame, "2001:db8:c612:541::1", "2001:db8:ffff::80", 80, 300, IPPROTO_TCP,
			  64);
	tcp_checksum6(frame, false);
	run(fp, frame, len, &tc);
	assert_int_equal(tc.retval, TC_ACT_REDIRECT);
	uint64_t sent4 = counter(fp, FASTPATH_IPV6_6IN4_SENT);
	run_xdp(fp, frame, len, &xdp);
	assert_int_equal(xdp.retval, XDP_BACK_OUT);
	assert_int_equal(xdp.out_len, tc.out_len);
	assert_memory_equal(xdp.out, tc.out, ETH_LEN + 4);
	assert_memory_equal(xdp.out + ETH_LEN + 6, tc.out + ETH_LEN + 6, 4);
	assert_memory_equal(xdp.out + ETH_LEN + 12, tc.out + ETH_LEN + 12,
			    tc.out_len - ETH_LEN - 12);
	assert_int_equal(wire_checksum(xdp.out + ETH_LEN, IP_LEN), 0);
	assert_int_equal(counter(fp, FASTPATH_IPV6_6IN4_SENT), sent4 + 1);
	fastpath_forget_all(fp);
}

/* A client seen on e0 whose proxy is reached through d0: XDP_REDIRECT, through the device map. */
static void test_xdp_redirects_to_another_interface(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048];
	struct run_result r;
	struct fastpath_client placed;

	xdp_attach(fp);
	publish(fp, true, &placed);
	placed.ifindex = (uint32_t)other_ifindex;
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.41"), &placed), 0);
	size_t len = make_frame(frame, "198.18.5.41", "203.0.113.80", 80, 200, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	run_xdp_on(fp, other_ifindex, frame, len, &r);
	assert_int_equal(r.retval, XDP_REDIRECT);
	assert_int_equal(r.out_len, len + IP_LEN);
	assert_memory_equal(r.out, proxy_mac, 6);
	fastpath_forget_all(fp);
}

/*
 * A checksum the sender left to the device (veth, virtio-net on one host):
 * finished by XDP, since the frame it sends loses the mark that tells the
 * receiver; a checksum simply wrong: left to tc as it is, counted.
 */
static void test_xdp_finishes_partial_checksums(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048], a[16];
	struct run_result r;
	struct fastpath_client placed;
	size_t len;

	xdp_attach(fp);
	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip("198.18.5.42"), &placed), 0);
	uint64_t finished = counter(fp, FASTPATH_XDP_CHECKSUM_FINISHED);
	len = make_frame(frame, "198.18.5.42", "203.0.113.80", 80, 1001, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, true);
	assert_false(tcp_checksum4_holds(frame + ETH_LEN));
	run_xdp(fp, frame, len, &r);
	assert_int_equal(r.retval, XDP_BACK_OUT);
	assert_true(tcp_checksum4_holds(r.out + ETH_LEN + IP_LEN));
	assert_int_equal(counter(fp, FASTPATH_XDP_CHECKSUM_FINISHED), finished + 1);

	assert_int_equal(fastpath_learn6(fp, ip6("2001:db8:c612:542::1", a), &placed), 0);
	len = make_frame6(frame, "2001:db8:c612:542::1", "2001:db8:ffff::80", 80, 777, IPPROTO_TCP,
			  64);
	tcp_checksum6(frame, true);
	assert_false(tcp_checksum6_holds(frame + ETH_LEN));
	run_xdp(fp, frame, len, &r);
	assert_int_equal(r.retval, XDP_BACK_OUT);
	assert_true(tcp_checksum6_holds(r.out + ETH_LEN + IP6_LEN));
	assert_int_equal(counter(fp, FASTPATH_XDP_CHECKSUM_FINISHED), finished + 2);

	uint64_t declined = counter(fp, FASTPATH_XDP_DECLINED_CHECKSUM);
	len = make_frame(frame, "198.18.5.42", "203.0.113.80", 80, 300, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	frame[len - 1] ^= 0x5a; /* a byte changed on the way */
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	assert_int_equal(counter(fp, FASTPATH_XDP_DECLINED_CHECKSUM), declined + 1);
	fastpath_forget_all(fp);
}

/*
 * What the tc program leaves to NFQUEUE, XDP leaves to the tc program,
 * untouched and uncounted (the tc program counts it when it sees it): not
 * placed, not a web port, a fragment, IP options, too big, local, from
 * another interface, TTL 1, a stale generation; IPv6 alike; and a frame not
 * to the device's own address.
 */
static void test_xdp_leaves_to_tc_what_tc_leaves(void **state)
{
	struct fastpath *fp = need_fastpath(state);
	uint8_t frame[2048], a[16];
	struct fastpath_client placed, down;
	uint64_t before[FASTPATH_COUNTER_COUNT], after[FASTPATH_COUNTER_COUNT];
	const char *c = "198.18.5.43", *c6 = "2001:db8:c612:543::1";
	size_t len;

	xdp_attach(fp);
	publish(fp, true, &placed);
	assert_int_equal(fastpath_learn(fp, ip(c), &placed), 0);
	assert_int_equal(fastpath_learn6(fp, ip6(c6, a), &placed), 0);
	fastpath_counters(fp, before);

	len = make_frame(frame, "198.18.5.44", "203.0.113.80", 80, 100, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	len = make_frame(frame, c, "203.0.113.80", 22, 100, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	len = make_frame(frame, c, "203.0.113.80", 80, 100, WIRE_IP_MF, WIRE_TCP_ACK);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	len = make_frame(frame, c, "203.0.113.80", 80, TUNNEL_MTU + 1, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	len = make_frame(frame, c, "10.9.0.1", 80, 100, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	len = make_frame(frame, c, "203.0.113.80", 80, 100, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	assert_xdp_passed(fp, other_ifindex, frame, len);
	len = make_frame_ttl(frame, c, "203.0.113.80", 80, 100, 0, WIRE_TCP_ACK, 1);
	tcp_checksum4(frame, false);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	len = make_frame(frame, c, "203.0.113.80", 80, 100, 0, WIRE_TCP_ACK);
	frame[ETH_LEN] = 0x46;
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	/* To another host's MAC (a promiscuous device), and to a group address. */
	len = make_frame(frame, c, "203.0.113.80", 80, 100, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	frame[5] ^= 1;
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	frame[5] ^= 1;
	frame[0] |= 1;
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	frame[0] &= (uint8_t)~1U;
	/* IPv6: an extension header, a hop limit that runs out, too big for the tunnel. */
	len = make_frame6(frame, c6, "2001:db8:ffff::80", 80, 100, 0, 64);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	len = make_frame6(frame, c6, "2001:db8:ffff::80", 80, 100, IPPROTO_TCP, 1);
	tcp_checksum6(frame, false);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	len = make_frame6(frame, c6, "2001:db8:ffff::80", 80, TUNNEL_MTU6 - IP6_LEN + 1,
			  IPPROTO_TCP, 64);
	tcp_checksum6(frame, false);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	/* Nothing counted but by the tc program, later. */
	fastpath_counters(fp, after);
	assert_memory_equal(after, before, sizeof(before));

	/* The proxy goes down: its clients' records are stale for XDP too. */
	len = make_frame(frame, c, "203.0.113.80", 80, 100, 0, WIRE_TCP_ACK);
	tcp_checksum4(frame, false);
	publish(fp, false, &down);
	assert_xdp_passed(fp, dev_ifindex, frame, len);
	fastpath_forget_all(fp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_client_is_wrapped_and_redirected),
	    cmocka_unit_test(test_what_the_kernel_leaves_to_nfqueue),
	    cmocka_unit_test(test_ipv6_passes_untouched),
	    cmocka_unit_test(test_ipv6_known_client_is_wrapped_in_6in6),
	    cmocka_unit_test(test_ipv6_client_of_ipv4_proxy_is_wrapped_in_6in4),
	    cmocka_unit_test(test_ipv6_what_the_kernel_leaves_to_nfqueue),
	    cmocka_unit_test(test_ipv6_a_prefix_shares_one_record),
	    cmocka_unit_test(test_tick_refreshes_ipv6_affinity_and_drops_stale_records),
	    cmocka_unit_test(test_merged_packets_are_measured_by_their_segments),
	    cmocka_unit_test(test_a_proxy_going_down_makes_its_records_stale),
	    cmocka_unit_test(test_tick_refreshes_affinity_and_drops_stale_records),
	    cmocka_unit_test(test_a_known_address_from_another_interface_is_not_wrapped),
	    cmocka_unit_test(test_ttl_runs_out_in_the_kernel),
	    cmocka_unit_test(test_outer_id_is_not_the_inner_one),
	    cmocka_unit_test(test_a_changed_client_scope_makes_records_stale),
	    cmocka_unit_test(test_walk_runs_less_often_with_many_clients),
	    cmocka_unit_test(test_a_pinned_fast_path_outlives_droverd),
	    cmocka_unit_test(test_pinned_maps_of_another_layout_start_clean),
	    cmocka_unit_test(test_xdp_modes),
	    cmocka_unit_test(test_xdp_wraps_as_tc_does),
	    cmocka_unit_test(test_xdp_redirects_to_another_interface),
	    cmocka_unit_test(test_xdp_finishes_partial_checksums),
	    cmocka_unit_test(test_xdp_leaves_to_tc_what_tc_leaves),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
