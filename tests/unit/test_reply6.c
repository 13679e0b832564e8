/*
 * test_reply6.c - ICMPv6 Packet Too Big and port unreachable, byte for byte, their checksums
 * verified by a sum written here; which packets may be answered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "reply6.h"
#include "syn6.h"

static const uint8_t client6[16] = {CLIENT6};

/*
 * The ICMPv6 checksum summed here from RFC 8200 8.1 and RFC 1071, apart
 * from wire.h: 16-bit words of source, destination, the 32-bit length, the
 * next header 58, then the message; carries folded in; complemented.
 */
static uint16_t independent_checksum(const uint8_t *ip6, size_t len)
{
	uint32_t sum = 0;
	size_t icmp_len = len - 40;

	for (size_t i = 8; i < 40; i += 2)
		sum += (uint32_t)(ip6[i] << 8 | ip6[i + 1]);
	sum += (uint32_t)(icmp_len >> 16) + (uint32_t)(icmp_len & 0xffff) + 58;
	for (size_t i = 40; i < len; i += 2)
		sum += (uint32_t)(ip6[i] << 8 | (i + 1 < len ? ip6[i + 1] : 0));
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * Expected bytes from RFC 4443 3.2 for the SYN above, MTU 1400, from
 * 2001:db8:a::1: the header, type 2 code 0, the checksum 0xa728 (computed
 * by a separate script and by independent_checksum), the MTU, the whole
 * packet quoted.
 */
static void test_packet_too_big_golden(void **state)
{
	static const uint8_t expected_head[48] = {
	    0x60,	0x00, 0x00, 0x00, /* version 6, class 0, flow 0 */
	    0x00,	0x48, 0x3a, 0x40, /* payload length 72, ICMPv6, hop limit 64 */
	    APPLIANCE6,			  /* source: the appliance */
	    CLIENT6,			  /* destination: the offending packet's source */
	    0x02,	0x00, 0xa7, 0x28, /* Packet Too Big, code 0, checksum */
	    0x00,	0x00, 0x05, 0x78, /* MTU 1400 */
	};
	uint8_t out[REPLY6_MAX_LEN];
	size_t n;

	(void)state;
	n = reply6_packet_too_big(out, sizeof(out), appliance6, syn6_packet, sizeof(syn6_packet),
				  1400);
	assert_int_equal(n, 112);
	assert_memory_equal(out, expected_head, sizeof(expected_head));
	assert_memory_equal(out + 48, syn6_packet, sizeof(syn6_packet));
	assert_int_equal(independent_checksum(out, n), 0);
	assert_int_equal(wire_checksum6(out + 8, out + 24, IPPROTO_ICMPV6, out + 40, n - 40), 0);
}

/* A big packet is quoted up to the 1280-byte minimum MTU, not a byte more. */
static void test_packet_too_big_quote_limit(void **state)
{
	size_t len = 1500;
	uint8_t *pkt = malloc(len);
	uint8_t out[REPLY6_MAX_LEN + 100];
	struct packet6_info pi;
	size_t n;

	(void)state;
	assert_non_null(pkt);
	for (size_t i = 0; i < len; i++)
		pkt[i] = (uint8_t)(i * 7 + 3);
	memcpy(pkt, syn6_packet, sizeof(syn6_packet));
	wire_put16(pkt + 4, (uint16_t)(len - 40));
	memset(out, 0xee, sizeof(out));
	n = reply6_packet_too_big(out, sizeof(out), appliance6, pkt, len, 1480);
	assert_int_equal(n, 1280);
	assert_int_equal(REPLY6_QUOTE_MAX, 1232);
	assert_memory_equal(out + 48, pkt, 1232);
	assert_int_equal(out[1280], 0xee); /* nothing written past it */
	assert_int_equal(wire_get32(out + 44), 1480);
	assert_int_equal(wire_get16(out + 4), 1240);
	assert_int_equal(independent_checksum(out, n), 0);

	/* the error parses as one: it names the client in its quote and in its destination */
	assert_int_equal(packet6_parse(out, n, &pi), PACKET6_OK);
	assert_true(pi.icmp_error);
	assert_int_equal(pi.icmp_type, WIRE_ICMP6_PACKET_TOO_BIG);
	assert_memory_equal(pi.dst, client6, 16);
	assert_memory_equal(pi.quoted_src, client6, 16);
	assert_true(pi.quoted_has_ports);
	assert_int_equal(pi.quoted_sport, 40000);
	assert_int_equal(pi.quoted_dport, 80);
	free(pkt);
}

static void test_packet_too_big_refusals(void **state)
{
	uint8_t out[REPLY6_MAX_LEN];

	(void)state;
	/* too small a buffer is refused, never overrun */
	assert_int_equal(reply6_packet_too_big(out, 111, appliance6, syn6_packet, 64, 1400), 0);
	/* no IPv6 header to answer */
	assert_int_equal(reply6_packet_too_big(out, sizeof(out), appliance6, syn6_packet, 39, 1400),
			 0);
	/* no IPv6 link is narrower than 1280 */
	assert_int_equal(reply6_packet_too_big(out, sizeof(out), appliance6, syn6_packet, 64, 1279),
			 0);
	assert_int_equal(reply6_packet_too_big(out, sizeof(out), appliance6, syn6_packet, 64, 1280),
			 112);
}

static void test_may_answer(void **state)
{
	struct packet6_info pi;
	uint8_t pkt[sizeof(syn6_packet)];

	(void)state;
	memcpy(pkt, syn6_packet, sizeof(pkt));
	assert_int_equal(packet6_parse(pkt, sizeof(pkt), &pi), PACKET6_OK);
	assert_true(reply6_may_answer(&pi));

	pi.icmp_error = true; /* no error about an error */
	assert_false(reply6_may_answer(&pi));
	pi.icmp_error = false;
	pi.frag_offset = 1448;
	assert_false(reply6_may_answer(&pi));
	pi.frag_offset = 0;
	memset(pi.src, 0, 16); /* the unspecified address */
	assert_false(reply6_may_answer(&pi));
	pi.src[15] = 1; /* ::1 */
	assert_false(reply6_may_answer(&pi));
	pi.src[0] = 0xff; /* multicast */
	assert_false(reply6_may_answer(&pi));
	memcpy(pi.src, client6, 16);
	assert_true(reply6_may_answer(&pi));
	pi.dst[0] = 0xff; /* to a group */
	assert_false(reply6_may_answer(&pi));
}

/* 2001:db8:1::10 port 50000 -> 2001:db8:ff::80 port 443, UDP: the start of a QUIC Initial */
static const uint8_t quic6_datagram[56] = {
    0x60,    0x00,    0x00, 0x00,			  /* version 6, class 0, flow 0 */
    0x00,    0x10,    0x11, 0x40,			  /* payload length 16, UDP, hop limit 64 */
    CLIENT6, SERVER6,					  /* source, destination */
    0xc3,    0x50,    0x01, 0xbb, 0x00, 0x10, 0xcb, 0x62, /* ports, length 16, checksum */
    0xc0,    0x00,    0x00, 0x00, 0x01, 0x08, 0x51, 0x55,
};

/*
 * The QUIC policy's reply for IPv6, RFC 4443 3.1: destination unreachable,
 * code 4 (port unreachable), the checksum 0x31c4 (a separate script's, and
 * independent_checksum's), 4 unused bytes, the datagram whole.
 */
static void test_port_unreachable_golden(void **state)
{
	static const uint8_t expected_head[48] = {
	    0x60,	0x00, 0x00, 0x00, /* version 6, class 0, flow 0 */
	    0x00,	0x40, 0x3a, 0x40, /* payload length 64, ICMPv6, hop limit 64 */
	    APPLIANCE6,			  /* source: the appliance */
	    CLIENT6,			  /* destination: the datagram's source */
	    0x01,	0x04, 0x31, 0xc4, /* destination unreachable, port unreachable */
	    0x00,	0x00, 0x00, 0x00, /* unused */
	};
	uint8_t out[REPLY6_MAX_LEN];
	struct packet6_info pi;
	size_t n;

	(void)state;
	assert_int_equal(packet6_parse(quic6_datagram, sizeof(quic6_datagram), &pi), PACKET6_OK);
	assert_int_equal(pi.protocol, IPPROTO_UDP);
	assert_true(pi.has_ports);
	assert_int_equal(pi.dport, 443);
	assert_true(reply6_may_answer(&pi));
	n = reply6_unreachable(out, sizeof(out), appliance6, quic6_datagram, sizeof(quic6_datagram),
			       WIRE_ICMP6_PORT_UNREACHABLE);
	assert_int_equal(n, 40 + 8 + sizeof(quic6_datagram));
	assert_memory_equal(out, expected_head, sizeof(expected_head));
	assert_memory_equal(out + 48, quic6_datagram, sizeof(quic6_datagram));
	assert_int_equal(independent_checksum(out, n), 0);

	/* A 1350-byte Initial: quoted up to the minimum MTU, the checksum still right. */
	uint8_t *big = malloc(1350);
	assert_non_null(big);
	for (int i = 0; i < 1350; i++)
		big[i] = (uint8_t)(i * 13);
	memcpy(big, quic6_datagram, 48);
	wire_put16(big + 4, 1350 - 40);
	n = reply6_unreachable(out, sizeof(out), appliance6, big, 1350,
			       WIRE_ICMP6_PORT_UNREACHABLE);
	assert_int_equal(n, REPLY6_MAX_LEN);
	assert_int_equal(wire_get16(out + 4), REPLY6_MAX_LEN - 40);
	assert_memory_equal(out + 48, big, REPLY6_QUOTE_MAX);
	assert_int_equal(independent_checksum(out, n), 0);
	/* refused: no room, or no IPv6 header to quote */
	assert_int_equal(
	    reply6_unreachable(out, n - 1, appliance6, big, 1350, WIRE_ICMP6_PORT_UNREACHABLE), 0);
	assert_int_equal(
	    reply6_unreachable(out, sizeof(out), appliance6, big, 39, WIRE_ICMP6_PORT_UNREACHABLE),
	    0);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_packet_too_big_golden),
	    cmocka_unit_test(test_packet_too_big_quote_limit),
	    cmocka_unit_test(test_packet_too_big_refusals),
	    cmocka_unit_test(test_may_answer),
	    cmocka_unit_test(test_port_unreachable_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
