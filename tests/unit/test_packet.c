/* test_packet.c - IPv4 parsing: golden packets for every outcome, truncation and random input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"

/* client 198.18.0.10:40000 -> web server 203.0.113.80:80, TCP SYN, seq 0x01020304 */
static const uint8_t syn_packet[] = {
    /* IPv4: IHL 5, total 44, id 0x1234, DF, TTL 64, TCP */
    0x45,
    0x00,
    0x00,
    0x2c,
    0x12,
    0x34,
    0x40,
    0x00,
    0x40,
    0x06,
    0x00,
    0x00,
    198,
    18,
    0,
    10,
    203,
    0,
    113,
    80,
    /* TCP: 40000 -> 80, seq, ack 0, offset 6 (MSS option), SYN, window 64240 */
    0x9c,
    0x40,
    0x00,
    0x50,
    0x01,
    0x02,
    0x03,
    0x04,
    0x00,
    0x00,
    0x00,
    0x00,
    0x60,
    0x02,
    0xfa,
    0xf0,
    0x00,
    0x00,
    0x00,
    0x00,
    0x02,
    0x04,
    0x05,
    0xb4,
};

#define CLIENT_ADDR 0xc612000aU /* 198.18.0.10 */
#define SERVER_ADDR 0xcb007150U /* 203.0.113.80 */

/* A mutable copy of a golden packet, on the heap at its exact size so ASan sees overreads. */
static uint8_t *copy_packet(const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, src, len);
	return p;
}

static void set_total_len(uint8_t *p, size_t len)
{
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}

static enum packet_error parse_copy(const uint8_t *src, size_t len, struct packet_info *pi)
{
	uint8_t *p = copy_packet(src, len);
	enum packet_error err = packet_parse(p, len, pi);

	free(p);
	return err;
}

static void test_valid_syn(void **state)
{
	struct packet_info pi;

	(void)state;
	assert_int_equal(parse_copy(syn_packet, sizeof(syn_packet), &pi), PACKET_OK);
	assert_int_equal(pi.src, htonl(CLIENT_ADDR));
	assert_int_equal(pi.dst, htonl(SERVER_ADDR));
	assert_int_equal(packet_client(&pi), htonl(CLIENT_ADDR));
	assert_int_equal(pi.total_len, sizeof(syn_packet));
	assert_int_equal(pi.ip_id, 0x1234);
	assert_int_equal(pi.ihl, 20);
	assert_int_equal(pi.protocol, 6);
	assert_int_equal(pi.ttl, 64);
	assert_true(pi.df);
	assert_false(pi.more_fragments);
	assert_false(pi.is_fragment);
	assert_int_equal(pi.frag_offset, 0);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, 40000);
	assert_int_equal(pi.dport, 80);
	assert_int_equal(pi.tcp_seq, 0x01020304);
	assert_int_equal(pi.tcp_ack, 0);
	assert_int_equal(pi.tcp_hlen, 24);
	assert_int_equal(pi.tcp_flags, WIRE_TCP_SYN);
	assert_true(pi.tcp_flags & WIRE_TCP_SYN);
	assert_false(pi.tcp_flags & WIRE_TCP_ACK);
	assert_false(pi.icmp_error);
}

static void test_tcp_flags(void **state)
{
	const uint8_t combos[] = {WIRE_TCP_SYN | WIRE_TCP_ACK, WIRE_TCP_ACK, WIRE_TCP_RST,
				  WIRE_TCP_FIN | WIRE_TCP_ACK, WIRE_TCP_RST | WIRE_TCP_ACK};
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;

	(void)state;
	for (size_t i = 0; i < sizeof(combos); i++) {
		memcpy(p, syn_packet, sizeof(p));
		p[20 + 13] = combos[i];
		assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_OK);
		assert_int_equal(pi.tcp_flags, combos[i]);
	}
}

static void test_truncated(void **state)
{
	struct packet_info pi;

	(void)state;
	assert_int_equal(packet_parse(NULL, 0, &pi), PACKET_ERR_TRUNCATED);
	assert_int_equal(parse_copy(syn_packet, 0, &pi), PACKET_ERR_TRUNCATED);
	assert_int_equal(parse_copy(syn_packet, 19, &pi), PACKET_ERR_TRUNCATED);
}

static void test_bad_version(void **state)
{
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;

	(void)state;
	memcpy(p, syn_packet, sizeof(p));
	p[0] = 0x65; /* IPv6 */
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_VERSION);
	p[0] = 0x05;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_VERSION);
}

static void test_bad_ihl(void **state)
{
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;

	(void)state;
	memcpy(p, syn_packet, sizeof(p));
	p[0] = 0x44; /* 16 bytes: below the minimum */
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_IHL);
	p[0] = 0x40;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_IHL);
	p[0] = 0x4f; /* 60 bytes: past the 44-byte buffer */
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_IHL);
}

static void test_total_length(void **state)
{
	uint8_t p[sizeof(syn_packet) + 4];
	struct packet_info pi;

	(void)state;
	memcpy(p, syn_packet, sizeof(syn_packet));
	memset(p + sizeof(syn_packet), 0xee, 4);
	/* claims more than the buffer holds */
	set_total_len(p, sizeof(syn_packet) + 1);
	assert_int_equal(packet_parse(p, sizeof(syn_packet), &pi), PACKET_ERR_TOTAL_LENGTH);
	/* claims less: trailing bytes after the datagram */
	set_total_len(p, sizeof(syn_packet));
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_TOTAL_LENGTH);
	/* less than its own header */
	set_total_len(p, 19);
	assert_int_equal(packet_parse(p, sizeof(syn_packet), &pi), PACKET_ERR_TOTAL_LENGTH);
	set_total_len(p, 0);
	assert_int_equal(packet_parse(p, sizeof(syn_packet), &pi), PACKET_ERR_TOTAL_LENGTH);
}

static void test_tcp_offset(void **state)
{
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;

	(void)state;
	memcpy(p, syn_packet, sizeof(p));
	p[20 + 12] = 0x40; /* 16 bytes */
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_TCP_OFFSET);
	p[20 + 12] = 0x00;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_TCP_OFFSET);
	p[20 + 12] = 0x70; /* 28 bytes, only 24 present */
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_TCP_OFFSET);
	p[20 + 12] = 0xf0;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_TCP_OFFSET);
}

static void test_tcp_truncated(void **state)
{
	uint8_t p[30];
	struct packet_info pi;

	(void)state;
	/* an unfragmented TCP packet with 10 bytes of TCP header */
	memcpy(p, syn_packet, sizeof(p));
	set_total_len(p, sizeof(p));
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_L4_TRUNCATED);
	/* no TCP bytes at all */
	set_total_len(p, 20);
	assert_int_equal(packet_parse(p, 20, &pi), PACKET_ERR_L4_TRUNCATED);
}

static void test_fragment_impossible(void **state)
{
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;

	(void)state;
	memcpy(p, syn_packet, sizeof(p));
	/* offset 65528 + 44 bytes runs past 65535 */
	p[6] = 0x1f;
	p[7] = 0xff;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_FRAGMENT);
	/* the largest possible offset for this length is fine: 65488 + 44 = 65532 */
	p[6] = 0x1f;
	p[7] = 0xfa;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_OK);
	/* MF with a payload that is not a multiple of 8 (24 is; make it 20) */
	{
		uint8_t q[40];

		memcpy(q, syn_packet, sizeof(q));
		set_total_len(q, sizeof(q));
		q[6] = 0x20;
		q[7] = 0x00;
		q[20 + 12] = 0x50;
		assert_int_equal(packet_parse(q, sizeof(q), &pi), PACKET_ERR_FRAGMENT);
		/* MF with no payload */
		set_total_len(q, 20);
		assert_int_equal(packet_parse(q, 20, &pi), PACKET_ERR_FRAGMENT);
	}
}

static void test_ip_options(void **state)
{
	uint8_t p[sizeof(syn_packet) + 8];
	struct packet_info pi;

	(void)state;
	/* IHL 7: 8 bytes of options (router alert + NOPs + EOL) between IP and TCP */
	memcpy(p, syn_packet, 20);
	p[0] = 0x47;
	set_total_len(p, sizeof(p));
	p[20] = 0x94;
	p[21] = 0x04;
	p[22] = 0x00;
	p[23] = 0x00;
	p[24] = 0x01;
	p[25] = 0x01;
	p[26] = 0x01;
	p[27] = 0x00;
	memcpy(p + 28, syn_packet + 20, sizeof(syn_packet) - 20);
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_OK);
	assert_int_equal(pi.ihl, 28);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, 40000);
	assert_int_equal(pi.dport, 80);
	assert_int_equal(pi.tcp_seq, 0x01020304);
	assert_int_equal(pi.tcp_hlen, 24);
	/* the largest header, 60 bytes, with nothing after it but TCP */
	{
		uint8_t q[60 + 20];

		memset(q, 0x01, sizeof(q));
		memcpy(q, syn_packet, 20);
		q[0] = 0x4f;
		set_total_len(q, sizeof(q));
		memcpy(q + 60, syn_packet + 20, 20);
		q[60 + 12] = 0x50;
		assert_int_equal(packet_parse(q, sizeof(q), &pi), PACKET_OK);
		assert_int_equal(pi.ihl, 60);
		assert_int_equal(pi.dport, 80);
	}
}

static void test_first_fragment(void **state)
{
	uint8_t p[20 + 24];
	struct packet_info pi;

	(void)state;
	/* first fragment, MF set, whole 24-byte TCP header inside */
	memcpy(p, syn_packet, sizeof(p));
	p[6] = 0x20;
	p[7] = 0x00;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_OK);
	assert_true(pi.is_fragment);
	assert_true(pi.more_fragments);
	assert_false(pi.df);
	assert_int_equal(pi.frag_offset, 0);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, 40000);
	assert_int_equal(pi.dport, 80);

	/* a tiny first fragment: 8 bytes of TCP, ports unknown but not an error */
	set_total_len(p, 28);
	assert_int_equal(packet_parse(p, 28, &pi), PACKET_OK);
	assert_true(pi.is_fragment);
	assert_false(pi.has_ports);

	/* a first fragment ending inside the TCP options: header not all there */
	{
		uint8_t q[20 + 24];

		memcpy(q, syn_packet, sizeof(q));
		q[6] = 0x20;
		q[20 + 12] = 0x80; /* 32-byte TCP header, 24 bytes in this fragment */
		assert_int_equal(packet_parse(q, sizeof(q), &pi), PACKET_OK);
		assert_false(pi.has_ports);
	}
}

static void test_later_fragment(void **state)
{
	uint8_t p[sizeof(syn_packet)];
	struct packet_info pi;

	(void)state;
	memcpy(p, syn_packet, sizeof(p));
	/* offset 1480 (185 * 8), last fragment; payload bytes are not a TCP header */
	p[6] = 0x00;
	p[7] = 185;
	p[20 + 12] = 0x00; /* would be a bad TCP offset if it were parsed */
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_OK);
	assert_true(pi.is_fragment);
	assert_false(pi.more_fragments);
	assert_int_equal(pi.frag_offset, 1480);
	assert_false(pi.has_ports);
	assert_int_equal(packet_client(&pi), htonl(CLIENT_ADDR));
	/* a middle fragment: MF and offset */
	p[6] = 0x20;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_OK);
	assert_true(pi.more_fragments);
	assert_false(pi.has_ports);
}

static void test_udp(void **state)
{
	static const uint8_t udp[] = {
	    0x45, 0x00, 0x00, 0x20, 0xab, 0xcd, 0x00, 0x00, 0x40, 0x11, 0x00,
	    0x00, 198,	18,   0,    10,	  203,	0,    113,  53,	  0xc3, 0x50,
	    0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 'a',  'b',  'c',  'd',
	};
	struct packet_info pi;

	(void)state;
	assert_int_equal(parse_copy(udp, sizeof(udp), &pi), PACKET_OK);
	assert_int_equal(pi.protocol, 17);
	/* Its ports are read (the QUIC policy needs the destination port), nothing else. */
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, 50000);
	assert_int_equal(pi.dport, 53);
	assert_int_equal(pi.tcp_flags, 0);
	assert_false(pi.icmp_error);
	assert_false(pi.is_fragment);
	assert_int_equal(packet_client(&pi), htonl(CLIENT_ADDR));
}

/*
 * A UDP header cut short: corruption in a whole datagram, unknown ports in
 * a first fragment (as for TCP).
 */
static void test_udp_truncated(void **state)
{
	uint8_t p[24] = {
	    0x45, 0x00, 0x00, 0x18, 0xab, 0xcd, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
	    198,  18,	0,    10,   203,  0,	113,  53,   0xc3, 0x50, 0x01, 0xbb,
	};
	struct packet_info pi;

	(void)state;
	assert_int_equal(parse_copy(p, sizeof(p), &pi), PACKET_ERR_L4_TRUNCATED);
	p[6] = 0x20; /* MF: a first fragment of 4 bytes of payload is impossible (RFC 791) */
	assert_int_equal(parse_copy(p, sizeof(p), &pi), PACKET_ERR_FRAGMENT);
}

/*
 * The client 198.18.0.10 refuses a packet the proxy sent it in the web
 * server's name; a router near it (198.18.0.1) reports frag-needed to the
 * web server, quoting the proxy's TCP packet. The error belongs to the client.
 */
static const uint8_t icmp_error_packet[] = {
    /* IPv4: 198.18.0.1 -> 203.0.113.80, ICMP, total 56 */
    0x45,
    0x00,
    0x00,
    0x38,
    0x00,
    0x01,
    0x00,
    0x00,
    0x40,
    0x01,
    0x00,
    0x00,
    198,
    18,
    0,
    1,
    203,
    0,
    113,
    80,
    /* ICMP 3/4, unused, next-hop MTU 1400 */
    0x03,
    0x04,
    0x00,
    0x00,
    0x00,
    0x00,
    0x05,
    0x78,
    /* quoted IPv4: 203.0.113.80 -> 198.18.0.10, TCP, total 1500 */
    0x45,
    0x00,
    0x05,
    0xdc,
    0x77,
    0x77,
    0x40,
    0x00,
    0x3f,
    0x06,
    0x00,
    0x00,
    203,
    0,
    113,
    80,
    198,
    18,
    0,
    10,
    /* quoted first 8 bytes of TCP: 80 -> 40000, seq */
    0x00,
    0x50,
    0x9c,
    0x40,
    0xaa,
    0xbb,
    0xcc,
    0xdd,
};

static void test_icmp_error(void **state)
{
	struct packet_info pi;

	(void)state;
	assert_int_equal(sizeof(icmp_error_packet), 56);
	assert_int_equal(parse_copy(icmp_error_packet, sizeof(icmp_error_packet), &pi), PACKET_OK);
	assert_int_equal(pi.protocol, 1);
	assert_true(pi.icmp_error);
	assert_int_equal(pi.icmp_type, 3);
	assert_int_equal(pi.icmp_code, 4);
	assert_int_equal(pi.quoted_src, htonl(SERVER_ADDR));
	assert_int_equal(pi.quoted_dst, htonl(CLIENT_ADDR));
	assert_int_equal(pi.quoted_protocol, 6);
	assert_int_equal(pi.src, htonl(0xc6120001U));
	assert_int_equal(packet_client(&pi), htonl(CLIENT_ADDR));
	assert_false(pi.has_ports);
	/* the quoted TCP header's ports: the server's port is the quote's source */
	assert_true(pi.quoted_has_ports);
	assert_int_equal(pi.quoted_sport, (icmp_error_packet[48] << 8) | icmp_error_packet[49]);
	assert_int_equal(pi.quoted_dport, (icmp_error_packet[50] << 8) | icmp_error_packet[51]);

	/* every error type quotes; time exceeded, source quench, parameter problem */
	for (uint8_t type = 0; type < 20; type++) {
		uint8_t p[sizeof(icmp_error_packet)];
		bool quoting = type == 3 || type == 4 || type == 11 || type == 12;

		memcpy(p, icmp_error_packet, sizeof(p));
		p[20] = type;
		assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_OK);
		assert_int_equal(pi.icmp_error, quoting);
		assert_int_equal(pi.icmp_type, type);
		assert_int_equal(packet_client(&pi),
				 quoting ? htonl(CLIENT_ADDR) : htonl(0xc6120001U));
	}
}

static void test_icmp_error_bad_quote(void **state)
{
	uint8_t p[sizeof(icmp_error_packet)];
	struct packet_info pi;

	(void)state;
	/* quote shorter than an IPv4 header */
	for (size_t len = 20; len < 20 + 8 + 20; len++) {
		memcpy(p, icmp_error_packet, sizeof(p));
		set_total_len(p, len);
		assert_int_equal(packet_parse(p, len, &pi), PACKET_ERR_L4_TRUNCATED);
	}
	/* a 20-byte quote with nothing after it is enough */
	set_total_len(p, 48);
	assert_int_equal(packet_parse(p, 48, &pi), PACKET_OK);
	assert_true(pi.icmp_error);
	/* quoted IHL below 5 */
	memcpy(p, icmp_error_packet, sizeof(p));
	p[28] = 0x44;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_L4_TRUNCATED);
	/* quoted IHL past the quote (60 > 28) */
	p[28] = 0x4f;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_L4_TRUNCATED);
	/* quoted header is not IPv4 */
	p[28] = 0x65;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_ERR_L4_TRUNCATED);
	/* an echo request is not an error and carries no quote */
	memcpy(p, icmp_error_packet, sizeof(p));
	p[20] = 8;
	p[21] = 0;
	p[28] = 0x00;
	assert_int_equal(packet_parse(p, sizeof(p), &pi), PACKET_OK);
	assert_false(pi.icmp_error);
}

static void test_error_names(void **state)
{
	(void)state;
	assert_string_equal(packet_error_name(PACKET_OK), "ok");
	assert_string_equal(packet_error_name(PACKET_ERR_TRUNCATED), "truncated");
	assert_string_equal(packet_error_name(PACKET_ERR_VERSION), "version");
	assert_string_equal(packet_error_name(PACKET_ERR_IHL), "ihl");
	assert_string_equal(packet_error_name(PACKET_ERR_TOTAL_LENGTH), "total_length");
	assert_string_equal(packet_error_name(PACKET_ERR_FRAGMENT), "fragment");
	assert_string_equal(packet_error_name(PACKET_ERR_L4_TRUNCATED), "l4_truncated");
	assert_string_equal(packet_error_name(PACKET_ERR_TCP_OFFSET), "tcp_offset");
	assert_string_equal(packet_error_name(PACKET_ERR_COUNT), "unknown");
	assert_string_equal(packet_error_name((enum packet_error) - 1), "unknown");
	/* distinct names: they become metric labels */
	for (int i = 0; i < PACKET_ERR_COUNT; i++)
		for (int j = i + 1; j < PACKET_ERR_COUNT; j++)
			assert_string_not_equal(packet_error_name(i), packet_error_name(j));
}

/* What must hold of any successful parse, whatever the bytes were. */
static void check_sane(const struct packet_info *pi, size_t len)
{
	assert_int_equal(pi->total_len, len);
	assert_true(pi->ihl >= 20 && pi->ihl <= 60 && pi->ihl <= len);
	if (pi->has_ports) {
		assert_int_equal(pi->protocol, 6);
		assert_int_equal(pi->frag_offset, 0);
		assert_true(pi->tcp_hlen >= 20 && pi->tcp_hlen <= 60);
		assert_true((size_t)pi->ihl + pi->tcp_hlen <= len);
	}
	if (pi->icmp_error) {
		assert_int_equal(pi->protocol, 1);
		assert_true((size_t)pi->ihl + 8 + 20 <= len);
	}
	assert_int_equal(pi->is_fragment, pi->more_fragments || pi->frag_offset != 0);
	assert_true((size_t)pi->frag_offset + len <= 65535);
}

static void test_every_truncation(void **state)
{
	const struct {
		const uint8_t *bytes;
		size_t len;
	} golden[] = {
	    {syn_packet, sizeof(syn_packet)},
	    {icmp_error_packet, sizeof(icmp_error_packet)},
	};

	(void)state;
	for (size_t g = 0; g < sizeof(golden) / sizeof(golden[0]); g++) {
		for (size_t len = 0; len <= golden[g].len; len++) {
			struct packet_info pi;
			uint8_t *p = copy_packet(golden[g].bytes, len);
			enum packet_error err = packet_parse(p, len, &pi);

			/* the length field still says the full size */
			if (len < 20)
				assert_int_equal(err, PACKET_ERR_TRUNCATED);
			else if (len < golden[g].len)
				assert_int_equal(err, PACKET_ERR_TOTAL_LENGTH);
			else
				assert_int_equal(err, PACKET_OK);
			/* with the length field agreeing, the layer-4 checks get their turn */
			if (len >= 4) {
				set_total_len(p, len);
				err = packet_parse(p, len, &pi);
				if (len < 20)
					assert_int_equal(err, PACKET_ERR_TRUNCATED);
				else if (err == PACKET_OK)
					check_sane(&pi, len);
				else
					assert_true(err == PACKET_ERR_L4_TRUNCATED ||
						    err == PACKET_ERR_TCP_OFFSET);
			}
			free(p);
		}
	}
}

static uint32_t next_random(uint32_t *s)
{
	/* xorshift32: reproducible, no global state */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_random_bytes(void **state)
{
	uint32_t seed = 0x9e3779b9;
	size_t ok = 0;

	(void)state;
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = next_random(&seed) % 96;
		uint8_t *p = malloc(len ? len : 1);
		struct packet_info pi;
		enum packet_error err;

		assert_non_null(p);
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)next_random(&seed);
		/* steer most inputs past the first checks so deeper code is reached */
		if (len >= 4 && iter % 4 != 0) {
			p[0] = (uint8_t)(0x40 | (5 + next_random(&seed) % 3));
			set_total_len(p, len);
			if (len >= 10 && iter % 2)
				p[9] = iter % 3 ? 6 : 1;
			if (len >= 8 && iter % 5)
				p[6] &= 0x40;
		}
		err = packet_parse(p, len, &pi);
		assert_true((unsigned)err < PACKET_ERR_COUNT);
		assert_string_not_equal(packet_error_name(err), "unknown");
		if (err == PACKET_OK) {
			check_sane(&pi, len);
			ok++;
		}
		free(p);
	}
	print_message("packet: %zu of 200000 random inputs parsed as valid\n", ok);
	assert_true(ok > 1000); /* the steering did reach the transport parsers */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_syn),
	    cmocka_unit_test(test_tcp_flags),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_bad_version),
	    cmocka_unit_test(test_bad_ihl),
	    cmocka_unit_test(test_total_length),
	    cmocka_unit_test(test_tcp_offset),
	    cmocka_unit_test(test_tcp_truncated),
	    cmocka_unit_test(test_fragment_impossible),
	    cmocka_unit_test(test_ip_options),
	    cmocka_unit_test(test_first_fragment),
	    cmocka_unit_test(test_later_fragment),
	    cmocka_unit_test(test_udp),
	    cmocka_unit_test(test_udp_truncated),
	    cmocka_unit_test(test_icmp_error),
	    cmocka_unit_test(test_icmp_error_bad_quote),
	    cmocka_unit_test(test_error_names),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
