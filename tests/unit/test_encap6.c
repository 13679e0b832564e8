/* test_encap6.c - the outer headers of IPv6-in-IPv6 and IPv6-in-IPv4, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "encap6.h"
#include "packet6.h"
#include "syn6.h"

#define PROXY6 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x02
static const uint8_t proxy6[16] = {PROXY6};

/* The outer header, then the inner packet: what goes on the wire. */
static uint8_t *on_wire(const uint8_t *hdr, size_t hlen, const uint8_t *inner, size_t len)
{
	uint8_t *p = malloc(hlen + len);

	assert_non_null(p);
	memcpy(p, hdr, hlen);
	memcpy(p + hlen, inner, len);
	return p;
}

/*
 * Expected bytes written by hand from RFC 2473 and RFC 8200: traffic class
 * and flow label of the inner header, payload length 64, next header 41,
 * hop limit 64, 2001:db8:a::1 -> 2001:db8:b::2.
 */
static void test_ip6ip6_golden(void **state)
{
	static const uint8_t expected[ENCAP6_IP6IP6_LEN] = {
	    0x6b,	0x81, 0x23, 0x45, /* version 6, class 0xb8 and flow 0x12345 copied */
	    0x00,	0x40, 0x29, 0x40, /* payload length 64, next header 41, hop limit 64 */
	    APPLIANCE6,			  /* source */
	    PROXY6,			  /* destination */
	};
	uint8_t hdr[ENCAP6_IP6IP6_LEN];
	uint8_t inner[sizeof(syn6_packet)];
	struct packet6_info pi;
	uint8_t *wire;

	(void)state;
	memcpy(inner, syn6_packet, sizeof(inner));
	assert_int_equal(encap6_ip6ip6_header(hdr, appliance6, proxy6, inner, sizeof(inner)), 0);
	assert_memory_equal(hdr, expected, sizeof(expected));
	assert_memory_equal(inner, syn6_packet, sizeof(inner)); /* the inner packet untouched */

	/* the whole outer packet parses: upper layer 41 at 40, the inner packet behind it */
	wire = on_wire(hdr, sizeof(hdr), inner, sizeof(inner));
	assert_int_equal(packet6_parse(wire, sizeof(hdr) + sizeof(inner), &pi), PACKET6_OK);
	assert_int_equal(pi.protocol, IPPROTO_IPV6);
	assert_int_equal(pi.l4_offset, 40);
	assert_memory_equal(wire + pi.l4_offset, syn6_packet, sizeof(syn6_packet));
	free(wire);
}

/* Every traffic class and flow label bit is carried; the version is always 6. */
static void test_ip6ip6_class_and_flow(void **state)
{
	static const uint32_t words[] = {0x60000000, 0x6fffffff, 0x60012345,
					 0x6ff00000, 0x600fffff, 0x40000001};
	uint8_t hdr[ENCAP6_IP6IP6_LEN];
	uint8_t inner[sizeof(syn6_packet)];

	(void)state;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		memcpy(inner, syn6_packet, sizeof(inner));
		wire_put32(inner, words[i]);
		assert_int_equal(encap6_ip6ip6_header(hdr, appliance6, proxy6, inner, 64), 0);
		assert_int_equal(wire_get32(hdr), 0x60000000U | (words[i] & 0x0fffffffU));
	}
}

static void test_ip6ip6_lengths(void **state)
{
	uint8_t hdr[ENCAP6_IP6IP6_LEN], before[ENCAP6_IP6IP6_LEN];

	(void)state;
	memset(hdr, 0xa5, sizeof(hdr));
	memcpy(before, hdr, sizeof(hdr));
	assert_int_equal(encap6_ip6ip6_header(hdr, appliance6, proxy6, syn6_packet, 65536),
			 -EMSGSIZE);
	assert_memory_equal(hdr, before, sizeof(hdr));
	assert_int_equal(encap6_ip6ip6_header(hdr, appliance6, proxy6, syn6_packet, 65535), 0);
	assert_int_equal(wire_get16(hdr + 4), 65535);
}

/*
 * Expected bytes written by hand from RFC 4213 and RFC 791 for the same
 * inner packet, id 0xbeef, 198.18.1.1 -> 198.18.2.2: TOS = the inner traffic
 * class, DF, TTL 64, protocol 41. The checksum: the words sum to 0x3144b,
 * folded 0x144e, complemented 0xebb1 (cross-checked with a separate script).
 */
static void test_6in4_golden(void **state)
{
	static const uint8_t expected[ENCAP6_6IN4_LEN] = {
	    0x45, 0xb8, 0x00, 0x54, /* version 4, IHL 5, TOS = traffic class, total 84 */
	    0xbe, 0xef, 0x40, 0x00, /* id, DF */
	    0x40, 0x29, 0xeb, 0xb1, /* TTL 64, protocol 41, checksum */
	    0xc6, 0x12, 0x01, 0x01, /* 198.18.1.1 */
	    0xc6, 0x12, 0x02, 0x02, /* 198.18.2.2 */
	};
	static const uint8_t src[4] = {198, 18, 1, 1}, dst[4] = {198, 18, 2, 2};
	uint32_t s, d;
	uint8_t hdr[ENCAP6_6IN4_LEN];
	uint8_t inner[sizeof(syn6_packet)];
	uint8_t *wire;

	(void)state;
	memcpy(&s, src, 4);
	memcpy(&d, dst, 4);
	memcpy(inner, syn6_packet, sizeof(inner));
	assert_int_equal(encap6_6in4_header(hdr, s, d, inner, sizeof(inner), 0xbeef), 0);
	assert_memory_equal(hdr, expected, sizeof(expected));
	assert_int_equal(wire_checksum(hdr, sizeof(hdr)), 0);
	assert_memory_equal(inner, syn6_packet, sizeof(inner));
	wire = on_wire(hdr, sizeof(hdr), inner, sizeof(inner));
	assert_memory_equal(wire + ENCAP6_6IN4_LEN, syn6_packet, sizeof(syn6_packet));
	free(wire);
}

static void test_6in4_lengths(void **state)
{
	uint8_t hdr[ENCAP6_6IN4_LEN], before[ENCAP6_6IN4_LEN];

	(void)state;
	memset(hdr, 0xa5, sizeof(hdr));
	memcpy(before, hdr, sizeof(hdr));
	assert_int_equal(encap6_6in4_header(hdr, 1, 2, syn6_packet, 65516, 1), -EMSGSIZE);
	assert_memory_equal(hdr, before, sizeof(hdr));
	assert_int_equal(encap6_6in4_header(hdr, 1, 2, syn6_packet, 65515, 1), 0);
	assert_int_equal(wire_get16(hdr + 2), 65535);
	assert_int_equal(wire_checksum(hdr, sizeof(hdr)), 0);
	/* DF whatever the inner packet says (IPv6 has no DF: it never fragments on the way) */
	assert_int_equal(wire_get16(hdr + 6), WIRE_IP_DF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ip6ip6_golden),  cmocka_unit_test(test_ip6ip6_class_and_flow),
	    cmocka_unit_test(test_ip6ip6_lengths), cmocka_unit_test(test_6in4_golden),
	    cmocka_unit_test(test_6in4_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
