/* test_reply.c - ICMP frag-needed / unreachable and TCP resets built for a client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"
#include "reply.h"
#include "wire.h"

/* client 198.18.0.10:40000 -> web server 203.0.113.80:80, SYN, seq 0x01020304, MSS option */
static const uint8_t syn_packet[] = {
    0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 198,  18,	0,
    10,	  203,	0,    113,  80,	  0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00,
    0x00, 0x00, 0x60, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
};

static void parse(const uint8_t *p, size_t len, struct packet_info *pi)
{
	assert_int_equal(packet_parse(p, len, pi), PACKET_OK);
}

/* Verifies the IP and TCP checksums of a 40-byte reply, the TCP one over its pseudo-header. */
static void check_checksums(const uint8_t *rst)
{
	uint8_t pseudo[12 + 20];

	assert_int_equal(wire_checksum(rst, 20), 0);
	memcpy(pseudo, rst + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pseudo[10] = 0;
	pseudo[11] = 20;
	memcpy(pseudo + 12, rst + 20, 20);
	assert_int_equal(wire_checksum(pseudo, sizeof(pseudo)), 0);
}

/*
 * The checksum 0x1a6d was computed independently (a separate script summing
 * the 52 bytes) when this test was written.
 */
static void test_frag_needed_golden(void **state)
{
	static const uint8_t header[8] = {0x03, 0x04, 0x1a, 0x6d, 0x00, 0x00, 0x05, 0x78};
	uint8_t out[REPLY_MAX_LEN];
	size_t len;

	(void)state;
	len = reply_frag_needed(out, sizeof(out), syn_packet, sizeof(syn_packet), 1400);
	assert_int_equal(len, 8 + sizeof(syn_packet));
	assert_memory_equal(out, header, sizeof(header));
	assert_memory_equal(out + 8, syn_packet, sizeof(syn_packet));
	assert_int_equal(wire_checksum(out, len), 0);
}

static void test_frag_needed_long_quote(void **state)
{
	uint8_t *big = malloc(1500);
	uint8_t out[REPLY_MAX_LEN];
	size_t len;

	(void)state;
	assert_non_null(big);
	for (int i = 0; i < 1500; i++)
		big[i] = (uint8_t)i;
	memcpy(big, syn_packet, sizeof(syn_packet));
	len = reply_frag_needed(out, sizeof(out), big, 1500, 1480);
	/* 576 minus the 20-byte IP header the kernel adds */
	assert_int_equal(len, REPLY_MAX_LEN - 20);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[1], 4);
	assert_int_equal(wire_get16(out + 6), 1480);
	assert_memory_equal(out + 8, big, len - 8);
	assert_int_equal(wire_checksum(out, len), 0);
	/* not enough room: nothing written */
	assert_int_equal(reply_frag_needed(out, len - 1, big, 1500, 1480), 0);
	free(big);
}

static void test_unreachable(void **state)
{
	uint8_t out[REPLY_MAX_LEN];
	size_t len;

	(void)state;
	/* code 13: communication administratively prohibited (no proxy available) */
	len = reply_icmp_unreachable(out, sizeof(out), syn_packet, sizeof(syn_packet), 13);
	assert_int_equal(len, 8 + sizeof(syn_packet));
	assert_int_equal(out[0], 3);
	assert_int_equal(out[1], 13);
	assert_int_equal(wire_get32(out + 4), 0);
	assert_memory_equal(out + 8, syn_packet, sizeof(syn_packet));
	assert_int_equal(wire_checksum(out, len), 0);
	/* an odd-length quote still checksums right */
	len = reply_icmp_unreachable(out, sizeof(out), syn_packet, 29, 1);
	assert_int_equal(len, 37);
	assert_int_equal(wire_checksum(out, len), 0);
}

/* client 198.18.0.10:50000 -> 203.0.113.80:443, UDP, DF: the start of a QUIC Initial */
static const uint8_t quic_datagram[] = {
    0x45, 0x00, 0x00, 0x24, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x26, 0x28,
    198,  18,	0,    10,   203,  0,	113,  80,   0xc3, 0x50, 0x01, 0xbb,
    0x00, 0x10, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x01, 0x08, 0x51, 0x55,
};

/*
 * The QUIC policy's reply, RFC 792: type 3 code 3, the checksum 0x2583
 * (computed by a separate script summing the 44 bytes when this test was
 * written), 4 unused bytes, then the offending datagram whole (IP header
 * and far more than the 64 bits RFC 792 asks for), so the client's kernel
 * finds its socket by the quoted addresses and ports.
 */
static void test_port_unreachable_golden(void **state)
{
	static const uint8_t header[8] = {0x03, 0x03, 0x25, 0x83, 0x00, 0x00, 0x00, 0x00};
	uint8_t out[REPLY_MAX_LEN];
	struct packet_info pi;
	size_t len;

	(void)state;
	parse(quic_datagram, sizeof(quic_datagram), &pi);
	assert_true(pi.has_ports);
	assert_int_equal(pi.dport, 443);
	assert_true(reply_may_answer(&pi));
	len = reply_port_unreachable(out, sizeof(out), quic_datagram, sizeof(quic_datagram));
	assert_int_equal(len, 8 + sizeof(quic_datagram));
	assert_memory_equal(out, header, sizeof(header));
	assert_memory_equal(out + 8, quic_datagram, sizeof(quic_datagram));
	assert_int_equal(wire_checksum(out, len), 0);
	/* A full-size QUIC Initial (1200 bytes and more): quoted up to 576 bytes in all. */
	uint8_t *big = malloc(1252);
	assert_non_null(big);
	for (int i = 0; i < 1252; i++)
		big[i] = (uint8_t)(i * 7);
	memcpy(big, quic_datagram, 28);
	len = reply_port_unreachable(out, sizeof(out), big, 1252);
	assert_int_equal(len, REPLY_MAX_LEN - 20);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[1], 3);
	assert_memory_equal(out + 8, big, len - 8);
	assert_int_equal(wire_checksum(out, len), 0);
	/* not enough room: nothing written */
	assert_int_equal(reply_port_unreachable(out, len - 1, big, 1252), 0);
	free(big);
}

/* Expected bytes computed independently (script) from RFC 791/793 when writing the test. */
static void test_rst_for_syn(void **state)
{
	static const uint8_t expected[40] = {
	    0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06,
	    0x38, 0x63, 0xcb, 0x00, 0x71, 0x50, 0xc6, 0x12, 0x00, 0x0a, /* server -> client */
	    0x00, 0x50, 0x9c, 0x40,					/* 80 -> 40000 */
	    0x00, 0x00, 0x00, 0x00,					/* seq 0 */
	    0x01, 0x02, 0x03, 0x05,					/* ack = seq + 1 */
	    0x50, 0x14, 0x00, 0x00, 0x0c, 0xcc, 0x00, 0x00,		/* RST|ACK, checksum */
	};
	struct packet_info pi, back;
	uint8_t out[64];

	(void)state;
	parse(syn_packet, sizeof(syn_packet), &pi);
	assert_int_equal(reply_tcp_reset(out, sizeof(out), &pi), 40);
	assert_memory_equal(out, expected, sizeof(expected));
	check_checksums(out);
	/* and it parses back as the mirror image of the SYN */
	parse(out, 40, &back);
	assert_int_equal(back.src, pi.dst);
	assert_int_equal(back.dst, pi.src);
	assert_int_equal(back.sport, pi.dport);
	assert_int_equal(back.dport, pi.sport);
	assert_int_equal(back.tcp_ack, pi.tcp_seq + 1);
	assert_int_equal(back.tcp_flags, WIRE_TCP_RST | WIRE_TCP_ACK);
	assert_int_equal(back.ttl, 64);
}

static void test_rst_for_ack(void **state)
{
	uint8_t p[sizeof(syn_packet) + 10];
	struct packet_info pi, back;
	uint8_t out[40];

	(void)state;
	/* an established-flow segment with 10 bytes of data, ACK 0xfffffff0 */
	memcpy(p, syn_packet, sizeof(syn_packet));
	memset(p + sizeof(syn_packet), 'x', 10);
	p[3] = sizeof(p);
	p[20 + 8] = 0xff;
	p[20 + 9] = 0xff;
	p[20 + 10] = 0xff;
	p[20 + 11] = 0xf0;
	p[20 + 13] = WIRE_TCP_ACK | 0x08; /* PSH */
	parse(p, sizeof(p), &pi);
	assert_int_equal(reply_tcp_reset(out, sizeof(out), &pi), 40);
	check_checksums(out);
	parse(out, 40, &back);
	assert_int_equal(back.tcp_seq, 0xfffffff0);
	assert_int_equal(back.tcp_ack, 0);
	assert_int_equal(back.tcp_flags, WIRE_TCP_RST);
	assert_int_equal(back.sport, 80);
	assert_int_equal(back.dport, 40000);
}

static void test_rst_counts_data_and_fin(void **state)
{
	uint8_t p[sizeof(syn_packet) + 5];
	struct packet_info pi, back;
	uint8_t out[40];

	(void)state;
	/* SYN+FIN with 5 bytes of data, seq 0xfffffffe: ack wraps to 0xfffffffe + 7 */
	memcpy(p, syn_packet, sizeof(syn_packet));
	memset(p + sizeof(syn_packet), 'd', 5);
	p[3] = sizeof(p);
	p[24] = p[25] = p[26] = 0xff;
	p[27] = 0xfe;
	p[20 + 13] = WIRE_TCP_SYN | WIRE_TCP_FIN;
	parse(p, sizeof(p), &pi);
	assert_int_equal(reply_tcp_reset(out, sizeof(out), &pi), 40);
	check_checksums(out);
	parse(out, 40, &back);
	assert_int_equal(back.tcp_seq, 0);
	assert_int_equal(back.tcp_ack, 5);
}

static void test_no_rst(void **state)
{
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;
	uint8_t out[40];

	(void)state;
	/* never answer a RST, with or without ACK */
	memcpy(p, syn_packet, sizeof(p));
	p[33] = WIRE_TCP_RST;
	parse(p, sizeof(p), &pi);
	assert_int_equal(reply_tcp_reset(out, sizeof(out), &pi), 0);
	p[33] = WIRE_TCP_RST | WIRE_TCP_ACK;
	parse(p, sizeof(p), &pi);
	assert_int_equal(reply_tcp_reset(out, sizeof(out), &pi), 0);
	/* not TCP */
	memcpy(p, syn_packet, sizeof(p));
	p[9] = 17;
	parse(p, sizeof(p), &pi);
	assert_int_equal(reply_tcp_reset(out, sizeof(out), &pi), 0);
	/* a fragment: segment length unknown */
	memcpy(p, syn_packet, sizeof(p));
	p[6] = 0x20;
	parse(p, sizeof(p), &pi);
	assert_true(pi.has_ports);
	assert_int_equal(reply_tcp_reset(out, sizeof(out), &pi), 0);
	/* too little room */
	parse(syn_packet, sizeof(syn_packet), &pi);
	assert_int_equal(reply_tcp_reset(out, 39, &pi), 0);
}

/* syn_packet with its source (byte 12 on) or destination (byte 16 on) first octet replaced. */
static bool may_answer_with(unsigned at, uint8_t octet)
{
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;

	memcpy(p, syn_packet, sizeof(p));
	p[at] = octet;
	parse(p, sizeof(p), &pi);
	return reply_may_answer(&pi);
}

/* RFC 1122 3.2.2: what no host may answer with an ICMP error (nor drover with a reset). */
static void test_may_answer(void **state)
{
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;

	(void)state;
	parse(syn_packet, sizeof(syn_packet), &pi);
	assert_true(reply_may_answer(&pi));
	/* a first fragment holds the header: it may be answered; a later one may not */
	memcpy(p, syn_packet, sizeof(p));
	p[6] = 0x20;
	p[3] = 20 + 24;
	parse(p, 20 + 24, &pi);
	assert_true(reply_may_answer(&pi));
	p[6] = 0x00;
	p[7] = 3;
	parse(p, 20 + 24, &pi);
	assert_false(reply_may_answer(&pi));
	/* an ICMP error */
	parse(syn_packet, sizeof(syn_packet), &pi);
	pi.icmp_error = true;
	assert_false(reply_may_answer(&pi));
	/* sources that are not one host: 0/8, 127/8, multicast, reserved, broadcast */
	assert_false(may_answer_with(12, 0));
	assert_false(may_answer_with(12, 127));
	assert_false(may_answer_with(12, 224));
	assert_false(may_answer_with(12, 240));
	assert_false(may_answer_with(12, 255));
	assert_true(may_answer_with(12, 10));
	assert_true(may_answer_with(12, 223));
	/* a multicast or broadcast destination */
	assert_false(may_answer_with(16, 239));
	assert_false(may_answer_with(16, 255));
	assert_true(may_answer_with(16, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frag_needed_golden),
	    cmocka_unit_test(test_frag_needed_long_quote),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test(test_port_unreachable_golden),
	    cmocka_unit_test(test_rst_for_syn),
	    cmocka_unit_test(test_rst_for_ack),
	    cmocka_unit_test(test_rst_counts_data_and_fin),
	    cmocka_unit_test(test_no_rst),
	    cmocka_unit_test(test_may_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
