/* test_decap.c - drover-decap's datagram checks: every drop reason, the
 * sender allow-list, and no read past any truncation of a good datagram;
 * the same for IPv6 inside IPv4 (6in4) and inside IPv6 (6in6, 4in6), the
 * address lists of both families, and mutated datagrams by the thousand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The daemon's start-up functions come along unused. */
#pragma GCC diagnostic ignored "-Wunused-function"
#define DECAP_NO_MAIN
#include "../../proxy/drover-decap.c"

#define APPLIANCE 0xc6120101U /* 198.18.1.1 */
#define PROXY	  0xc612010bU /* 198.18.1.11 */
#define CLIENT	  0xc6120182U /* 198.18.1.130 */
#define ORIGIN	  0xc612400aU /* 198.18.64.10 */

/* An IPv4 header of ihl bytes (options zero) with a correct checksum. */
static void ip_header(uint8_t *p, size_t ihl, size_t total, uint8_t proto, uint32_t src,
		      uint32_t dst)
{
	uint16_t sum;

	memset(p, 0, ihl);
	p[0] = (uint8_t)(0x40 | (ihl / 4));
	wire_put16(p + 2, (uint16_t)total);
	p[8] = 64;
	p[9] = proto;
	wire_put32(p + 12, src);
	wire_put32(p + 16, dst);
	sum = wire_checksum(p, ihl);
	wire_put16(p + 10, sum);
}

/* Outer (outer_ihl) + inner (24-byte header with options) + payload bytes. */
static size_t datagram(uint8_t *buf, size_t outer_ihl, size_t payload)
{
	size_t inner = 24 + payload;

	ip_header(buf, outer_ihl, outer_ihl + inner, IPPROTO_IPIP, APPLIANCE, PROXY);
	ip_header(buf + outer_ihl, 24, inner, IPPROTO_TCP, CLIENT, ORIGIN);
	for (size_t i = 0; i < payload; i++)
		buf[outer_ihl + 24 + i] = (uint8_t)i;
	return outer_ihl + inner;
}

static struct decap_config open_config(void)
{
	struct decap_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	return cfg;
}

static void test_good(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t buf[200];
	size_t off = 0, len = 0, n;

	(void)state;
	n = datagram(buf, 20, 40);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	assert_int_equal(off, 20);
	assert_int_equal(len, 64);
	/* Outer options are skipped. */
	n = datagram(buf, 28, 40);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	assert_int_equal(off, 28);
	assert_int_equal(len, 64);
}

static void test_sender(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t buf[200];
	size_t off, len, n;

	(void)state;
	n = datagram(buf, 20, 10);
	cfg.from[0] = htonl(ORIGIN);
	cfg.from_count = 1;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_SENDER);
	cfg.from[1] = htonl(APPLIANCE);
	cfg.from_count = 2;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
}

/*
 * Inner sources: only the --clients ranges (parsed as the command line
 * does), so that even a packet sent from the appliance's own address (or
 * spoofed as it) cannot hand Squid a request from anywhere else.
 */
static void test_inner_source(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t buf[200];
	size_t off, len, n;

	(void)state;
	cfg.from[0] = htonl(APPLIANCE);
	cfg.from_count = 1;
	decap_parse_clients("10.0.0.0/8,198.18.1.128/25", &cfg);
	assert_int_equal(cfg.client_count, 2);
	n = datagram(buf, 20, 10);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);

	/* 198.18.64.10: an Internet host as the inner source. */
	ip_header(buf + 20, 24, n - 20, IPPROTO_TCP, ORIGIN, PROXY);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	/* 198.18.1.127: just below the /25. */
	ip_header(buf + 20, 24, n - 20, IPPROTO_TCP, 0xc612017fU, ORIGIN);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	/* 10.255.255.255: inside the /8 (the network part is masked once, at parse). */
	ip_header(buf + 20, 24, n - 20, IPPROTO_TCP, 0x0affffffU, ORIGIN);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	/* The outer check comes first: another sender is a sender drop whatever it carries. */
	wire_put32(buf + 12, ORIGIN);
	wire_put16(buf + 10, 0);
	wire_put16(buf + 10, wire_checksum(buf, 20));
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_SENDER);
}

/*
 * The appliance's tunnel probe (droverctl preflight): an ICMP echo request
 * whose inner source is its own outer source, a --from address, passes
 * although that address is no client; nothing else from it does.
 */
static void test_appliance_echo(void **state)
{
	struct decap_config cfg = open_config();
	const uint32_t other = 0xc6120102U; /* 198.18.1.2: a second appliance */
	uint8_t buf[200];
	size_t off, len, n = 20 + 20 + 8 + 4;

	(void)state;
	cfg.from[0] = htonl(APPLIANCE);
	cfg.from[1] = htonl(other);
	cfg.from_count = 2;
	decap_parse_clients("198.18.1.128/25", &cfg);
	ip_header(buf, 20, n, IPPROTO_IPIP, APPLIANCE, PROXY);
	ip_header(buf + 20, 20, n - 20, IPPROTO_ICMP, APPLIANCE, PROXY);
	memset(buf + 40, 0, 12);
	buf[40] = WIRE_ICMP_ECHO_REQUEST;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	assert_int_equal(off, 20);
	/* An echo reply, or any other ICMP, is no probe. */
	buf[40] = WIRE_ICMP_ECHO_REPLY;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	buf[40] = WIRE_ICMP_UNREACHABLE;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	buf[40] = WIRE_ICMP_ECHO_REQUEST;
	/* TCP from the appliance's address: never handed to Squid. */
	ip_header(buf + 20, 20, n - 20, IPPROTO_TCP, APPLIANCE, PROXY);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	/* The inner source must be the outer one: one appliance cannot speak for another. */
	ip_header(buf + 20, 20, n - 20, IPPROTO_ICMP, other, PROXY);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	/* An ICMP header cut short. */
	ip_header(buf, 20, 20 + 20 + 4, IPPROTO_IPIP, APPLIANCE, PROXY);
	ip_header(buf + 20, 20, 24, IPPROTO_ICMP, APPLIANCE, PROXY);
	assert_int_equal(decap_check(&cfg, buf, 44, &off, &len), DECAP_DROP_INNER_SOURCE);
	/* Without --from nothing is an appliance: the clients alone. */
	cfg.from_count = 0;
	ip_header(buf, 20, n, IPPROTO_IPIP, APPLIANCE, PROXY);
	ip_header(buf + 20, 20, n - 20, IPPROTO_ICMP, APPLIANCE, PROXY);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
}

static void test_reasons(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t good[200], buf[200];
	size_t off, len, n;

	(void)state;
	n = datagram(good, 20, 10);

	assert_int_equal(decap_check(&cfg, good, 19, &off, &len), DECAP_DROP_OUTER_SHORT);

	memcpy(buf, good, n);
	buf[0] = 0x65;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_VERSION);
	buf[0] = 0x44;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_IHL);
	buf[0] = 0x4f; /* 60 bytes of header in a 54-byte datagram */
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_IHL);

	memcpy(buf, good, n);
	buf[3]++;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_LENGTH);

	memcpy(buf, good, n);
	buf[9] = IPPROTO_GRE;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_PROTOCOL);

	/* Only an outer header: nothing inside. */
	ip_header(buf, 20, 30, IPPROTO_IPIP, APPLIANCE, PROXY);
	assert_int_equal(decap_check(&cfg, buf, 30, &off, &len), DECAP_DROP_INNER_SHORT);

	memcpy(buf, good, n);
	buf[20] = 0x66;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_VERSION);
	buf[20] = 0x43;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_IHL);
	buf[20] = 0x4f;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_IHL);

	memcpy(buf, good, n);
	buf[23]--; /* inner total length one short of what remains */
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_LENGTH);

	memcpy(buf, good, n);
	buf[20 + 8]--; /* TTL changed, checksum not */
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_CHECKSUM);
}

/* Every prefix of a good datagram, given as a buffer of exactly that size
 * (ASan catches a read past it), is refused, never accepted. */
static void test_truncations(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t good[200];
	size_t off, len, n;

	(void)state;
	n = datagram(good, 24, 60);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		assert_non_null(copy);
		memcpy(copy, good, cut);
		assert_int_not_equal(decap_check(&cfg, copy, cut, &off, &len), DECAP_DROP_COUNT);
		free(copy);
	}
}

/* ---- IPv6 ---------------------------------------------------------------- */

static const uint8_t CLIENT6[WIRE_IPV6_ADDR_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 0x82};
static const uint8_t ORIGIN6[WIRE_IPV6_ADDR_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x64, [15] = 0x10};
static const uint8_t APPLIANCE6[WIRE_IPV6_ADDR_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 1};

/* An IPv6 header (next header TCP) and payload bytes at p; returns its length. */
static size_t ip6_packet(uint8_t *p, const uint8_t *src, size_t payload)
{
	memset(p, 0, WIRE_IPV6_HLEN);
	wire_put32(p, 6U << WIRE_IP6_VERSION_SHIFT | 0x2a << WIRE_IP6_TCLASS_SHIFT | 0x12345);
	wire_put16(p + 4, (uint16_t)payload);
	p[6] = IPPROTO_TCP;
	p[7] = 64;
	memcpy(p + 8, src, WIRE_IPV6_ADDR_LEN);
	memcpy(p + 24, ORIGIN6, WIRE_IPV6_ADDR_LEN);
	for (size_t i = 0; i < payload; i++)
		p[WIRE_IPV6_HLEN + i] = (uint8_t)(i * 7);
	return WIRE_IPV6_HLEN + payload;
}

/* A 6in4 datagram: outer IPv4 (outer_ihl, protocol 41) around an IPv6 packet. */
static size_t datagram_6in4(uint8_t *buf, size_t outer_ihl, size_t payload)
{
	size_t inner = ip6_packet(buf + outer_ihl, CLIENT6, payload);

	ip_header(buf, outer_ihl, outer_ihl + inner, IPPROTO_IPV6, APPLIANCE, PROXY);
	return outer_ihl + inner;
}

static struct in6_addr addr6(const uint8_t *bytes)
{
	struct in6_addr a;

	memcpy(&a, bytes, sizeof(a));
	return a;
}

/* What the command line would give: both families of appliances and clients. */
static struct decap_config dual_config(void)
{
	struct decap_config cfg = open_config();

	decap_parse_from("198.18.1.1", &cfg);
	decap_parse_from("2001:db8:1::1", &cfg);
	decap_parse_clients("198.18.1.128/25,2001:db8:1::/64", &cfg);
	return cfg;
}

static void test_6in4_good(void **state)
{
	struct decap_config cfg = dual_config();
	uint8_t buf[300];
	size_t off = 0, len = 0, n;

	(void)state;
	n = datagram_6in4(buf, 20, 60);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	assert_int_equal(off, 20);
	assert_int_equal(len, 100);
	/* Outer options are skipped as for IPIP. */
	n = datagram_6in4(buf, 32, 0);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	assert_int_equal(off, 32);
	assert_int_equal(len, WIRE_IPV6_HLEN);
	/* And the IPv4 path is as it was. */
	n = datagram(buf, 20, 10);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
}

static void test_6in4_reasons(void **state)
{
	struct decap_config cfg = dual_config();
	uint8_t good[300], buf[300];
	size_t off, len, n;

	(void)state;
	n = datagram_6in4(good, 20, 40);

	/* Outer source: 6in4 is checked against the IPv4 --from list. */
	memcpy(buf, good, n);
	ip_header(buf, 20, n, IPPROTO_IPV6, ORIGIN, PROXY);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_SENDER);

	/* Protocol 41 must carry IPv6, protocol 4 IPv4. */
	memcpy(buf, good, n);
	buf[20] = 0x45;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_VERSION);
	memcpy(buf, good, n);
	ip_header(buf, 20, n, IPPROTO_IPIP, APPLIANCE, PROXY);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_VERSION);

	/* Payload length: one more, one less, zero (a jumbogram) than what is there. */
	memcpy(buf, good, n);
	wire_put16(buf + 20 + 4, 41);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_LENGTH);
	wire_put16(buf + 20 + 4, 39);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_LENGTH);
	wire_put16(buf + 20 + 4, 0);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_LENGTH);

	/* Short: an outer header and 39 bytes of IPv6. */
	memcpy(buf, good, n);
	ip_header(buf, 20, 20 + 39, IPPROTO_IPV6, APPLIANCE, PROXY);
	assert_int_equal(decap_check(&cfg, buf, 20 + 39, &off, &len), DECAP_DROP_INNER_SHORT);

	/* Inner sources: outside 2001:db8:1::/64, and multicast. */
	memcpy(buf, good, n);
	memcpy(buf + 20 + 8, ORIGIN6, sizeof(ORIGIN6));
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	buf[20 + 8 + 7] = 2; /* 2001:db8:1:2::..: the next /64 */
	memcpy(buf + 20 + 8, CLIENT6, 6);
	buf[20 + 8 + 6] = 0;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	memcpy(buf, good, n);
	buf[20 + 8] = WIRE_IPV6_MULTICAST;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
}

static void test_6in6(void **state)
{
	struct decap_config cfg = dual_config();
	struct in6_addr from = addr6(APPLIANCE6), stranger = addr6(ORIGIN6);
	uint8_t buf[300];
	size_t len = 0, n;

	(void)state;
	n = ip6_packet(buf, CLIENT6, 70);
	assert_int_equal(decap_check6(&cfg, &from, IPPROTO_IPV6, buf, n, &len), DECAP_DROP_COUNT);
	assert_int_equal(len, n);
	assert_int_equal(decap_check6(&cfg, &stranger, IPPROTO_IPV6, buf, n, &len),
			 DECAP_DROP_SENDER);
	/* Next header 4 (4in6) wants IPv4 inside. */
	assert_int_equal(decap_check6(&cfg, &from, IPPROTO_IPIP, buf, n, &len),
			 DECAP_DROP_INNER_VERSION);
	assert_int_equal(decap_check6(&cfg, &from, IPPROTO_GRE, buf, n, &len),
			 DECAP_DROP_OUTER_PROTOCOL);
	/* An IPv4-mapped appliance address is not the appliance's IPv4 address. */
	{
		const uint8_t mapped[WIRE_IPV6_ADDR_LEN] = {[10] = 0xff, [11] = 0xff, 198,
							    18,		 1,	      1};
		struct in6_addr m = addr6(mapped);

		assert_int_equal(decap_check6(&cfg, &m, IPPROTO_IPV6, buf, n, &len),
				 DECAP_DROP_SENDER);
	}

	/* 4in6: the IPv4 inner checks, whole. */
	n = datagram(buf, 20, 30) - 20;
	memmove(buf, buf + 20, n);
	assert_int_equal(decap_check6(&cfg, &from, IPPROTO_IPIP, buf, n, &len), DECAP_DROP_COUNT);
	assert_int_equal(len, n);
	buf[8]--;
	assert_int_equal(decap_check6(&cfg, &from, IPPROTO_IPIP, buf, n, &len),
			 DECAP_DROP_INNER_CHECKSUM);
	assert_int_equal(decap_check6(&cfg, &from, IPPROTO_IPV6, buf, n, &len),
			 DECAP_DROP_INNER_VERSION);
}

/*
 * Once a list is given, a family it names nothing of is refused, never
 * open: a proxy set up for IPv4 clients only takes no IPv6 client, and
 * an appliance given only as IPv4 sends no 6in6.
 */
static void test_family_lists(void **state)
{
	struct decap_config cfg = open_config();
	struct in6_addr from = addr6(APPLIANCE6);
	uint8_t buf[300];
	size_t off, len, n;

	(void)state;
	/* Nothing given: open (as for IPv4 without --from / --clients). */
	n = ip6_packet(buf, CLIENT6, 10);
	assert_int_equal(decap_check6(&cfg, &from, IPPROTO_IPV6, buf, n, &len), DECAP_DROP_COUNT);

	decap_parse_from("198.18.1.1", &cfg);
	decap_parse_clients("198.18.1.128/25", &cfg);
	assert_int_equal(decap_check6(&cfg, &from, IPPROTO_IPV6, buf, n, &len), DECAP_DROP_SENDER);
	n = datagram_6in4(buf, 20, 10);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);

	cfg = open_config();
	decap_parse_from("2001:db8:1::1", &cfg);
	decap_parse_clients("2001:db8:1::/64", &cfg);
	n = datagram(buf, 20, 10);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_SENDER);
	cfg.from_count = 1;
	cfg.from[0] = htonl(APPLIANCE);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
}

/* Parsing: both families, prefixes that end inside a byte, and what is refused. */
static void test_parse6(void **state)
{
	struct decap_config cfg = open_config();
	struct decap_address a;
	uint8_t src[WIRE_IPV6_ADDR_LEN];

	(void)state;
	assert_true(decap_parse_address("2001:db8::7", &a));
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.prefix_len, 128);
	assert_true(decap_parse_address("2001:db8::/61", &a));
	assert_int_equal(a.prefix_len, 61);
	assert_true(decap_parse_address("198.18.1.1", &a));
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.prefix_len, 32);
	assert_false(decap_parse_address("2001:db8::/129", &a));
	assert_false(decap_parse_address("198.18.1.1/33", &a));
	assert_false(decap_parse_address("2001:db8::1::2", &a));
	assert_false(decap_parse_address("2001:db8::/", &a));
	assert_false(decap_parse_address("", &a));

	/* 2001:db8:1:8::/61 holds ..:8:: to ..:f::; the host bits given are masked. */
	decap_parse_clients("2001:db8:1:9::5/61", &cfg);
	assert_int_equal(cfg.client6_count, 1);
	assert_int_equal(cfg.client_count, 0);
	memcpy(src, CLIENT6, sizeof(src));
	for (unsigned int sub = 0; sub < 0x20; sub++) {
		src[7] = (uint8_t)sub;
		assert_int_equal(decap_client6_allowed(&cfg, src), sub >= 8 && sub <= 0xf);
	}
	/* ::/0 takes every unicast source, still no multicast. */
	decap_parse_clients("::/0", &cfg);
	src[0] = 0xfe;
	assert_true(decap_client6_allowed(&cfg, src));
	src[0] = WIRE_IPV6_MULTICAST;
	assert_false(decap_client6_allowed(&cfg, src));
}

/* Every prefix of good 6in4 and 6in6 datagrams, in a buffer of exactly that size, is refused. */
static void test_truncations6(void **state)
{
	struct decap_config cfg = dual_config();
	struct in6_addr from = addr6(APPLIANCE6);
	uint8_t good[300];
	size_t off, len, n;

	(void)state;
	n = datagram_6in4(good, 24, 60);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		assert_non_null(copy);
		memcpy(copy, good, cut);
		assert_int_not_equal(decap_check(&cfg, copy, cut, &off, &len), DECAP_DROP_COUNT);
		free(copy);
	}
	n = ip6_packet(good, CLIENT6, 60);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		assert_non_null(copy);
		memcpy(copy, good, cut);
		assert_int_not_equal(decap_check6(&cfg, &from, IPPROTO_IPV6, copy, cut, &len),
				     DECAP_DROP_COUNT);
		free(copy);
	}
}

/* A small deterministic generator (xorshift32): the same mutations on every run. */
static uint32_t mutate_next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * Good datagrams of every kind with a few random bytes changed and a random
 * length, in a heap block of exactly that length (ASan sees an overread):
 * whatever is accepted lies within the buffer and has the version its
 * protocol names, and an inner source the lists take.
 */
static void test_mutations(void **state)
{
	enum { ROUNDS = 20000, MAX_FLIPS = 4 };
	struct decap_config cfg = dual_config();
	struct in6_addr from = addr6(APPLIANCE6);
	uint8_t good[4][300];
	size_t good_len[4];
	unsigned int accepted = 0;
	uint32_t seed = 0x5eed6;

	(void)state;
	good_len[0] = datagram(good[0], 20, 40);
	good_len[1] = datagram_6in4(good[1], 20, 40);
	good_len[2] = ip6_packet(good[2], CLIENT6, 40);
	good_len[3] = datagram(good[3], 20, 40) - 20;
	memmove(good[3], good[3] + 20, good_len[3]);

	for (unsigned int round = 0; round < ROUNDS; round++) {
		unsigned int kind = mutate_next(&seed) % 4;
		size_t n = good_len[kind] -
			   (mutate_next(&seed) % 3 == 0 ? mutate_next(&seed) % good_len[kind] : 0);
		unsigned int flips = mutate_next(&seed) % (MAX_FLIPS + 1);
		uint8_t *copy = malloc(n ? n : 1);
		size_t off = 0, len = 0;
		enum decap_drop why;
		uint8_t proto;

		assert_non_null(copy);
		memcpy(copy, good[kind], n);
		for (unsigned int f = 0; f < flips && n > 0; f++)
			copy[mutate_next(&seed) % n] = (uint8_t)mutate_next(&seed);
		if (kind < 2) {
			why = decap_check(&cfg, copy, n, &off, &len);
			proto = n > 9 ? copy[9] : 0;
		} else {
			proto = kind == 2 ? IPPROTO_IPV6 : IPPROTO_IPIP;
			why = decap_check6(&cfg, &from, proto, copy, n, &len);
		}
		assert_true(why <= DECAP_DROP_COUNT);
		if (why == DECAP_DROP_COUNT) {
			accepted++;
			assert_true(off + len == n);
			assert_true(len >= WIRE_IPV4_HLEN_MIN);
			assert_int_equal(wire_ip_version(copy + off), proto == IPPROTO_IPV6
									  ? WIRE_IPV6_VERSION
									  : WIRE_IPV4_VERSION);
			if (proto == IPPROTO_IPV6)
				assert_true(decap_client6_allowed(&cfg, copy + off + 8));
		}
		free(copy);
	}
	/* Unchanged bytes are accepted: the mutations do not refuse everything by construction. */
	assert_true(accepted > 0);
	print_message("# %u of %u mutated datagrams accepted\n", accepted, (unsigned int)ROUNDS);
}

/*
 * Checksums left to offload. Golden packets: a TCP segment and a UDP
 * datagram of 16 payload bytes from the client to the origin, over IPv4
 * and over IPv6, with the checksums an independent computation gave
 * (complete) and the pseudo-header sums a sender leaves in the field
 * (partial), as the kernel hands them to a packet socket: outer header
 * first, an offload header beside it.
 */
static const uint8_t GOLDEN_PAYLOAD[] = "GET / HTTP/1.1\r\n";
#define GOLDEN_PAYLOAD_LEN (sizeof(GOLDEN_PAYLOAD) - 1)

struct golden {
	uint8_t proto;
	bool inner6;
	uint16_t complete;
	uint16_t partial;
};

static const struct golden goldens[] = {
    {IPPROTO_TCP, false, 0x68df, 0xcddb},
    {IPPROTO_UDP, false, 0x49d2, 0xcdda},
    {IPPROTO_TCP, true, 0xda27, 0x5c93},
    {IPPROTO_UDP, true, 0xbb1a, 0x5c92},
};

/* The transport header and payload at p, checksum field zero; returns its length. */
static size_t golden_segment(uint8_t *p, uint8_t proto)
{
	size_t hlen = proto == IPPROTO_TCP ? 20 : 8;

	memset(p, 0, hlen);
	if (proto == IPPROTO_TCP) {
		wire_put16(p, 40000);
		wire_put16(p + 2, 80);
		wire_put32(p + 4, 0x01020304);
		wire_put32(p + 8, 0x05060708);
		p[12] = 0x50;
		p[13] = 0x18;
		wire_put16(p + 14, 0xfaf0);
	} else {
		wire_put16(p, 5353);
		wire_put16(p + 2, 443);
		wire_put16(p + 4, (uint16_t)(hlen + GOLDEN_PAYLOAD_LEN));
	}
	memcpy(p + hlen, GOLDEN_PAYLOAD, GOLDEN_PAYLOAD_LEN);
	return hlen + GOLDEN_PAYLOAD_LEN;
}

/* Where the checksum field sits in the transport header. */
static size_t golden_field(uint8_t proto)
{
	return proto == IPPROTO_TCP ? 16 : 6;
}

/* The inner packet of g at p with checksum field value sum; *l4 its transport offset. */
static size_t golden_inner(uint8_t *p, const struct golden *g, uint16_t sum, size_t *l4)
{
	size_t seg;

	if (g->inner6) {
		*l4 = WIRE_IPV6_HLEN;
		seg = golden_segment(p + *l4, g->proto);
		memset(p, 0, WIRE_IPV6_HLEN);
		p[0] = 0x60;
		wire_put16(p + 4, (uint16_t)seg);
		p[6] = g->proto;
		p[7] = 64;
		memcpy(p + 8, CLIENT6, WIRE_IPV6_ADDR_LEN);
		memcpy(p + 24, ORIGIN6, WIRE_IPV6_ADDR_LEN);
	} else {
		*l4 = WIRE_IPV4_HLEN_MIN;
		seg = golden_segment(p + *l4, g->proto);
		ip_header(p, *l4, *l4 + seg, g->proto, CLIENT, ORIGIN);
	}
	wire_put16(p + *l4 + golden_field(g->proto), sum);
	return *l4 + seg;
}

/* Wraps inner[0..len) (IPv6 when inner6) in an outer header of outer6's family; returns the total.
 */
static size_t golden_outer(uint8_t *buf, bool outer6, bool inner6, const uint8_t *inner, size_t len)
{
	uint8_t proto = inner6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	size_t hlen = outer6 ? WIRE_IPV6_HLEN : WIRE_IPV4_HLEN_MIN;

	memcpy(buf + hlen, inner, len);
	if (!outer6) {
		ip_header(buf, hlen, hlen + len, proto, APPLIANCE, PROXY);
		return hlen + len;
	}
	memset(buf, 0, hlen);
	buf[0] = 0x60;
	wire_put16(buf + 4, (uint16_t)len);
	buf[6] = proto;
	buf[7] = 64;
	memcpy(buf + 8, APPLIANCE6, WIRE_IPV6_ADDR_LEN);
	memcpy(buf + 24, ORIGIN6, WIRE_IPV6_ADDR_LEN);
	return hlen + len;
}

/* An offload header: partial from start (from the outer header) with the field at offset. */
static struct virtio_net_hdr vnet_partial(size_t start, size_t offset)
{
	struct virtio_net_hdr h;

	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = htole16((uint16_t)start);
	h.csum_offset = htole16((uint16_t)offset);
	return h;
}

/* Partial in, complete out: the golden checksum, the rest byte for byte, in all four wrappings. */
static void test_csum_partial(void **state)
{
	struct decap_config cfg = dual_config();
	uint8_t inner[128], want[128], buf[256];
	struct virtio_net_hdr none, h;
	size_t l4, n, len, off, ilen;
	enum decap_kind kind;
	bool completed;

	(void)state;
	memset(&none, 0, sizeof(none));
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];

		for (int outer6 = 0; outer6 < 2; outer6++) {
			size_t ohl = outer6 ? WIRE_IPV6_HLEN : WIRE_IPV4_HLEN_MIN;

			n = golden_inner(want, g, g->complete, &l4);
			golden_inner(inner, g, g->partial, &l4);
			/* The golden figure is a correct checksum: it verifies. */
			if (g->inner6)
				assert_int_equal(wire_checksum6(want + 8, want + 24, g->proto,
								want + l4, n - l4),
						 0);
			len = golden_outer(buf, outer6, g->inner6, inner, n);
			h = vnet_partial(ohl + l4, golden_field(g->proto));
			assert_int_equal(
			    decap_packet_check(&cfg, buf, len, &h, &kind, &off, &ilen, &completed),
			    DECAP_DROP_COUNT);
			assert_true(completed);
			assert_int_equal(
			    kind, decap_kind_of(outer6, g->inner6 ? IPPROTO_IPV6 : IPPROTO_IPIP));
			assert_int_equal(off, ohl);
			assert_int_equal(ilen, n);
			assert_memory_equal(buf + off, want, n);

			/* Complete in (no offload flag): unchanged, byte for byte, not counted. */
			len = golden_outer(buf, outer6, g->inner6, want, n);
			assert_int_equal(decap_packet_check(&cfg, buf, len, &none, &kind, &off,
							    &ilen, &completed),
					 DECAP_DROP_COUNT);
			assert_false(completed);
			assert_memory_equal(buf + off, want, n);

			/* A corrupt checksum with no offload flag stays corrupt: the stack drops
			 * it. */
			len = golden_outer(buf, outer6, g->inner6, want, n);
			buf[len - 1] ^= 0x40;
			assert_int_equal(decap_packet_check(&cfg, buf, len, &none, &kind, &off,
							    &ilen, &completed),
					 DECAP_DROP_COUNT);
			assert_false(completed);
			assert_int_equal(wire_get16(buf + off + l4 + golden_field(g->proto)),
					 g->complete);
		}
	}
}

/* Checksum positions outside the inner packet are refused, not written. */
static void test_csum_offsets(void **state)
{
	struct decap_config cfg = dual_config();
	uint8_t inner[128], buf[256], copy[256];
	struct virtio_net_hdr h;
	size_t l4, n, len, off, ilen;
	enum decap_kind kind;
	bool completed;

	(void)state;
	n = golden_inner(inner, &goldens[0], goldens[0].partial, &l4);
	len = golden_outer(buf, false, false, inner, n);
	memcpy(copy, buf, len);
	/* Inside the outer header. */
	h = vnet_partial(10, 0);
	assert_int_equal(decap_packet_check(&cfg, buf, len, &h, &kind, &off, &ilen, &completed),
			 DECAP_DROP_CSUM_OFFSET);
	/* The field past the end, or its last byte past it. */
	h = vnet_partial(WIRE_IPV4_HLEN_MIN + l4, n - l4);
	assert_int_equal(decap_packet_check(&cfg, buf, len, &h, &kind, &off, &ilen, &completed),
			 DECAP_DROP_CSUM_OFFSET);
	h = vnet_partial(WIRE_IPV4_HLEN_MIN + l4, n - l4 - 1);
	assert_int_equal(decap_packet_check(&cfg, buf, len, &h, &kind, &off, &ilen, &completed),
			 DECAP_DROP_CSUM_OFFSET);
	h = vnet_partial(0xffff, 0xffff);
	assert_int_equal(decap_packet_check(&cfg, buf, len, &h, &kind, &off, &ilen, &completed),
			 DECAP_DROP_CSUM_OFFSET);
	assert_false(completed);
	assert_memory_equal(buf, copy, len);
	/* Within the inner IP header (a minimal one) is refused too. */
	assert_false(decap_csum_complete(buf + WIRE_IPV4_HLEN_MIN, n, 4, 0));
	assert_memory_equal(buf, copy, len);
}

/* A sum of 0 is written as 0xffff (UDP's "no checksum" is 0); link padding is not summed. */
static void test_csum_edges(void **state)
{
	struct decap_config cfg = dual_config();
	uint8_t inner[128], buf[256];
	struct virtio_net_hdr h;
	size_t l4, n, len, off, ilen;
	enum decap_kind kind;
	bool completed;
	uint16_t field;

	(void)state;
	/* Payload bytes chosen so the segment sums to 0xffff: the checksum comes out 0. */
	n = golden_inner(inner, &goldens[1], goldens[1].partial, &l4);
	field = wire_checksum(inner + l4, n - l4);
	/* Add the complement of the sum so far to the last payload word (end-around carry). */
	{
		uint32_t w = (uint32_t)wire_get16(inner + n - 2) + field;

		wire_put16(inner + n - 2, (uint16_t)((w & 0xffff) + (w >> 16)));
	}
	assert_int_equal(wire_checksum(inner + l4, n - l4), 0);
	assert_true(decap_csum_complete(inner, n, l4, golden_field(IPPROTO_UDP)));
	assert_int_equal(wire_get16(inner + l4 + golden_field(IPPROTO_UDP)), 0xffff);
	/* Two bytes of link padding after a TCP golden packet in IPIP. */
	n = golden_inner(inner, &goldens[0], goldens[0].partial, &l4);
	len = golden_outer(buf, false, false, inner, n);
	buf[len] = 0xaa;
	buf[len + 1] = 0x55;
	h = vnet_partial(WIRE_IPV4_HLEN_MIN + l4, golden_field(IPPROTO_TCP));
	assert_int_equal(decap_packet_check(&cfg, buf, len + 2, &h, &kind, &off, &ilen, &completed),
			 DECAP_DROP_COUNT);
	assert_int_equal(ilen, n);
	assert_int_equal(wire_get16(buf + off + l4 + golden_field(IPPROTO_TCP)),
			 goldens[0].complete);
}

static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < DECAP_DROP_COUNT; i++)
		assert_non_null(decap_drop_names[i]);
	for (int k = 0; k < DECAP_KIND_COUNT; k++)
		assert_non_null(decap_kind_names[k]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),	 cmocka_unit_test(test_sender),
	    cmocka_unit_test(test_inner_source), cmocka_unit_test(test_reasons),
	    cmocka_unit_test(test_truncations),	 cmocka_unit_test(test_6in4_good),
	    cmocka_unit_test(test_6in4_reasons), cmocka_unit_test(test_6in6),
	    cmocka_unit_test(test_family_lists), cmocka_unit_test(test_parse6),
	    cmocka_unit_test(test_truncations6), cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_names),	 cmocka_unit_test(test_appliance_echo),
	    cmocka_unit_test(test_csum_partial), cmocka_unit_test(test_csum_offsets),
	    cmocka_unit_test(test_csum_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
