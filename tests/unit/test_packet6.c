/*
 * test_packet6.c - IPv6 parsing: golden packets for every extension header
 * walked and every malformed case with its reason, truncation and random
 * input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "packet6.h"

/* 2001:db8:1::10 (the client), 2001:db8:ff::80 (a web server), 2001:db8:1::1 (a router). */
#define CLIENT6 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10
#define SERVER6 0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x80
#define ROUTER6 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01

static const uint8_t client6[16] = {CLIENT6};
static const uint8_t server6[16] = {SERVER6};

/*
 * client [2001:db8:1::10]:40000 -> [2001:db8:ff::80]:80, TCP SYN, traffic
 * class 0xb8, flow label 0x12345, hop limit 64, seq 0x01020304, MSS 1440.
 */
static const uint8_t syn6_packet[] = {
    0x6b,    0x81, 0x23, 0x45, /* version 6, traffic class 0xb8, flow label 0x12345 */
    0x00,    0x18, 0x06, 0x40, /* payload length 24, next header TCP, hop limit 64 */
    CLIENT6,		       /* source */
    SERVER6,		       /* destination */
    0x9c,    0x40, 0x00, 0x50, /* TCP 40000 -> 80 */
    0x01,    0x02, 0x03, 0x04, /* seq */
    0x00,    0x00, 0x00, 0x00, /* ack */
    0x60,    0x02, 0xfa, 0xf0, /* offset 6, SYN, window 64240 */
    0x00,    0x00, 0x00, 0x00, /* checksum (not checked), urgent */
    0x02,    0x04, 0x05, 0xa0, /* MSS 1440 */
};

/* The parts a packet is built from: the IPv6 header above, extension headers, a transport. */
static const uint8_t tcp_syn[] = {
    0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x60, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xa0,
};
/* UDP 50000 -> 53, length 12, "abcd" */
static const uint8_t udp_dns[] = {0xc3, 0x50, 0x00, 0x35, 0x00, 0x0c,
				  0x00, 0x00, 'a',  'b',  'c',	'd'};
/* Hop-by-hop, 8 bytes: a PadN option of 4 bytes. Byte 0 (next header) is filled in. */
static const uint8_t hop_by_hop[] = {0, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00};
/* Destination options, 16 bytes: length 1, PadN of 12. */
static const uint8_t dest_options[] = {0, 0x01, 0x01, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
/* Routing, 24 bytes: length 2, segment routing (type 4), segments left 0, one segment. */
static const uint8_t routing[] = {0, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, SERVER6};
/* Authentication, 24 bytes: payload length 4 ((4 + 2) * 4), SPI 0x1001, seq 1, 12-byte ICV. */
static const uint8_t auth_header[] = {0,    0x04, 0x00, 0x00, 0x00, 0x00, 0x10, 0x01,
				      0x00, 0x00, 0x00, 0x01, 0xa1, 0xa2, 0xa3, 0xa4,
				      0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac};
/* Fragment headers: id 0xdeadbeef; offset 0 with M (first), 1448 (later), 0 without M (atomic). */
static const uint8_t frag_first[] = {0, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef};
static const uint8_t frag_later[] = {0, 0x00, 0x05, 0xa8, 0xde, 0xad, 0xbe, 0xef};
static const uint8_t frag_atomic[] = {0, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef};

struct part {
	uint8_t type; /* the next header value that names this part */
	const uint8_t *bytes;
	size_t len;
};

#define PART(type, array)                                                                          \
	{                                                                                          \
		(type), (array), sizeof(array)                                                     \
	}
#define NPARTS(a) (sizeof(a) / sizeof((a)[0]))

static bool is_ext(uint8_t type)
{
	return type == IPPROTO_HOPOPTS || type == IPPROTO_ROUTING || type == IPPROTO_DSTOPTS ||
	       type == IPPROTO_AH || type == IPPROTO_FRAGMENT;
}

/*
 * syn6_packet's header followed by the parts, on the heap at its exact size
 * (so ASan sees any overread): every next header field names the part after
 * it (No Next Header after the last), the payload length is the parts' sum.
 */
static uint8_t *build(const struct part *parts, size_t n, size_t *len)
{
	size_t total = 40, off = 40;
	uint8_t *p, *nh;

	for (size_t i = 0; i < n; i++)
		total += parts[i].len;
	p = malloc(total);
	assert_non_null(p);
	memcpy(p, syn6_packet, 40);
	wire_put16(p + 4, (uint16_t)(total - 40));
	nh = p + 6;
	for (size_t i = 0; i < n; i++) {
		*nh = parts[i].type;
		memcpy(p + off, parts[i].bytes, parts[i].len);
		nh = is_ext(parts[i].type) ? p + off : NULL;
		off += parts[i].len;
		if (nh == NULL)
			break;
	}
	if (nh != NULL)
		*nh = IPPROTO_NONE;
	*len = total;
	return p;
}

/* A mutable copy of a golden packet, on the heap at its exact size. */
static uint8_t *copy_packet(const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, src, len);
	return p;
}

static enum packet6_error parse_parts(const struct part *parts, size_t n, struct packet6_info *pi)
{
	size_t len;
	uint8_t *p = build(parts, n, &len);
	enum packet6_error err = packet6_parse(p, len, pi);

	free(p);
	return err;
}

static enum packet6_error parse_copy(const uint8_t *src, size_t len, struct packet6_info *pi)
{
	uint8_t *p = copy_packet(src, len);
	enum packet6_error err = packet6_parse(p, len, pi);

	free(p);
	return err;
}

static void check_syn_ports(const struct packet6_info *pi)
{
	assert_int_equal(pi->protocol, IPPROTO_TCP);
	assert_true(pi->has_ports);
	assert_int_equal(pi->sport, 40000);
	assert_int_equal(pi->dport, 80);
	assert_int_equal(pi->tcp_flags, WIRE_TCP_SYN);
	assert_int_equal(pi->tcp_hlen, 24);
	assert_int_equal(pi->tcp_seq, 0x01020304);
}

static void test_valid_syn(void **state)
{
	struct packet6_info pi;
	struct client_id expected = client_from_ipv6(client6);
	struct client_id client;

	(void)state;
	assert_int_equal(parse_copy(syn6_packet, sizeof(syn6_packet), &pi), PACKET6_OK);
	assert_memory_equal(pi.src, client6, 16);
	assert_memory_equal(pi.dst, server6, 16);
	assert_int_equal(pi.payload_len, 24);
	assert_int_equal(pi.traffic_class, 0xb8);
	assert_int_equal(pi.flow_label, 0x12345);
	assert_int_equal(pi.hop_limit, 64);
	assert_int_equal(pi.l4_offset, 40);
	assert_int_equal(pi.ext_count, 0);
	assert_false(pi.has_frag_header);
	assert_false(pi.is_fragment);
	assert_false(pi.icmp_error);
	check_syn_ports(&pi);
	client = packet6_client(&pi);
	assert_true(client_equal(&client, &expected));
	assert_false(client_is_ipv4(&client));
}

static void test_udp(void **state)
{
	const struct part parts[] = {PART(IPPROTO_UDP, udp_dns)};
	struct packet6_info pi;

	(void)state;
	assert_int_equal(parse_parts(parts, 1, &pi), PACKET6_OK);
	assert_int_equal(pi.protocol, IPPROTO_UDP);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, 50000);
	assert_int_equal(pi.dport, 53);
	assert_int_equal(pi.tcp_hlen, 0);
}

/* Each extension header on its own in front of the SYN: walked, the ports found behind it. */
static void test_each_extension_header(void **state)
{
	const struct {
		struct part ext;
		size_t len;
	} cases[] = {
	    {PART(IPPROTO_HOPOPTS, hop_by_hop), 8},   {PART(IPPROTO_DSTOPTS, dest_options), 16},
	    {PART(IPPROTO_ROUTING, routing), 24},     {PART(IPPROTO_AH, auth_header), 24},
	    {PART(IPPROTO_FRAGMENT, frag_atomic), 8},
	};

	(void)state;
	for (size_t i = 0; i < NPARTS(cases); i++) {
		const struct part parts[] = {cases[i].ext, PART(IPPROTO_TCP, tcp_syn)};
		struct packet6_info pi;

		assert_int_equal(parse_parts(parts, 2, &pi), PACKET6_OK);
		assert_int_equal(pi.ext_count, 1);
		assert_int_equal(pi.l4_offset, 40 + cases[i].len);
		assert_int_equal(pi.payload_len, cases[i].len + sizeof(tcp_syn));
		check_syn_ports(&pi);
	}
}

/*
 * RFC 8200 4.1's recommended order, every header once (destination options
 * twice), the fragment header atomic (RFC 6946): a whole packet.
 */
static void test_full_chain(void **state)
{
	const struct part parts[] = {
	    PART(IPPROTO_HOPOPTS, hop_by_hop), PART(IPPROTO_DSTOPTS, dest_options),
	    PART(IPPROTO_ROUTING, routing),    PART(IPPROTO_FRAGMENT, frag_atomic),
	    PART(IPPROTO_AH, auth_header),     PART(IPPROTO_DSTOPTS, dest_options),
	    PART(IPPROTO_TCP, tcp_syn),
	};
	struct packet6_info pi;

	(void)state;
	assert_int_equal(parse_parts(parts, NPARTS(parts), &pi), PACKET6_OK);
	assert_int_equal(pi.ext_count, 6);
	assert_int_equal(pi.l4_offset, 40 + 8 + 16 + 24 + 8 + 24 + 16);
	assert_true(pi.has_frag_header);
	assert_false(pi.is_fragment);
	assert_int_equal(pi.frag_header_offset, 40 + 8 + 16 + 24);
	assert_int_equal(pi.frag_id, 0xdeadbeef);
	check_syn_ports(&pi);
}

/* PACKET6_EXT_MAX headers are walked; one more is refused. */
static void test_extension_limit(void **state)
{
	struct part parts[PACKET6_EXT_MAX + 2];
	struct packet6_info pi;

	(void)state;
	for (size_t i = 0; i < PACKET6_EXT_MAX + 1; i++)
		parts[i] = (struct part)PART(IPPROTO_DSTOPTS, dest_options);
	parts[PACKET6_EXT_MAX] = (struct part)PART(IPPROTO_TCP, tcp_syn);
	assert_int_equal(parse_parts(parts, PACKET6_EXT_MAX + 1, &pi), PACKET6_OK);
	assert_int_equal(pi.ext_count, PACKET6_EXT_MAX);
	check_syn_ports(&pi);

	parts[PACKET6_EXT_MAX] = (struct part)PART(IPPROTO_DSTOPTS, dest_options);
	parts[PACKET6_EXT_MAX + 1] = (struct part)PART(IPPROTO_TCP, tcp_syn);
	assert_int_equal(parse_parts(parts, PACKET6_EXT_MAX + 2, &pi), PACKET6_ERR_EXT_COUNT);
}

/* Nothing after the headers (next header 59) or an opaque upper layer (ESP): no ports. */
static void test_no_next_header(void **state)
{
	const struct part parts[] = {PART(IPPROTO_DSTOPTS, dest_options)};
	static const uint8_t esp[] = {0x00, 0x00, 0x10, 0x01, 0x00, 0x00, 0x00, 0x01};
	const struct part esp_parts[] = {PART(IPPROTO_ESP, esp)};
	struct packet6_info pi;

	(void)state;
	assert_int_equal(parse_parts(parts, 1, &pi), PACKET6_OK);
	assert_int_equal(pi.protocol, IPPROTO_NONE);
	assert_int_equal(pi.l4_offset, 56);
	assert_false(pi.has_ports);
	assert_int_equal(parse_parts(esp_parts, 1, &pi), PACKET6_OK);
	assert_int_equal(pi.protocol, IPPROTO_ESP);
	assert_false(pi.has_ports);
}

/* A first fragment: the ports are there, the identification too; 24 + 8 bytes of TCP. */
static void test_first_fragment(void **state)
{
	static const uint8_t tcp_part[32] = {0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04,
					     0x00, 0x00, 0x00, 0x00, 0x60, 0x18, 0xfa, 0xf0,
					     0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xa0};
	const struct part parts[] = {PART(IPPROTO_HOPOPTS, hop_by_hop),
				     PART(IPPROTO_FRAGMENT, frag_first),
				     PART(IPPROTO_TCP, tcp_part)};
	struct packet6_info pi;

	(void)state;
	assert_int_equal(parse_parts(parts, NPARTS(parts), &pi), PACKET6_OK);
	assert_true(pi.is_fragment);
	assert_true(pi.more_fragments);
	assert_int_equal(pi.frag_offset, 0);
	assert_int_equal(pi.frag_id, 0xdeadbeef);
	assert_int_equal(pi.frag_header_offset, 48);
	assert_int_equal(pi.l4_offset, 56);
	assert_int_equal(pi.ext_count, 2);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, 40000);
	assert_int_equal(pi.dport, 80);
}

/* A later fragment: offset 1448, data that merely looks like TCP; no ports, same client. */
static void test_later_fragment(void **state)
{
	const struct part parts[] = {PART(IPPROTO_FRAGMENT, frag_later),
				     PART(IPPROTO_TCP, tcp_syn)};
	struct packet6_info pi;
	struct client_id expected = client_from_ipv6(client6), client;

	(void)state;
	assert_int_equal(parse_parts(parts, NPARTS(parts), &pi), PACKET6_OK);
	assert_true(pi.is_fragment);
	assert_false(pi.more_fragments);
	assert_int_equal(pi.frag_offset, 1448);
	assert_int_equal(pi.frag_id, 0xdeadbeef);
	assert_int_equal(pi.protocol, IPPROTO_TCP);
	assert_int_equal(pi.l4_offset, 48);
	assert_false(pi.has_ports);
	client = packet6_client(&pi);
	assert_true(client_equal(&client, &expected));
}

static void test_icmp6_echo(void **state)
{
	static const uint8_t echo[] = {0x80, 0x00, 0x12, 0x34, 0x00, 0x07, 0x00, 0x01};
	const struct part parts[] = {PART(IPPROTO_ICMPV6, echo)};
	struct packet6_info pi;

	(void)state;
	assert_int_equal(parse_parts(parts, 1, &pi), PACKET6_OK);
	assert_int_equal(pi.protocol, IPPROTO_ICMPV6);
	assert_int_equal(pi.icmp_type, 128);
	assert_false(pi.icmp_error);
	assert_false(pi.has_ports);
}

/*
 * A router near the client (2001:db8:1::1) tells the web server that the
 * packet a proxy sent in its name to the client did not fit: Packet Too Big,
 * MTU 1400, quoting that packet (with destination options). The error
 * belongs to the client, the quoted destination.
 */
static const uint8_t icmp6_error_packet[] = {
    0x60, 0x00, 0x00, 0x00, /* version 6 */
    0x00, 0x48, 0x3a, 0x40, /* payload length 72, ICMPv6, hop limit 64 */
    ROUTER6,		    /* source */
    SERVER6,		    /* destination */
    0x02, 0x00, 0x00, 0x00, /* Packet Too Big, code 0, checksum (not checked) */
    0x00, 0x00, 0x05, 0x78, /* MTU 1400 */
    /* quoted: [2001:db8:ff::80]:80 -> [2001:db8:1::10]:40000, destination options, TCP */
    0x60, 0x00, 0x00, 0x00,		/* version 6 */
    0x05, 0xb4, 0x3c, 0x3f,		/* payload length 1460, destination options, hop limit 63 */
    SERVER6,				/* source */
    CLIENT6,				/* destination */
    0x06, 0x01, 0x01, 0x0c,		/* next header TCP, 16 bytes, PadN of 12 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* padding */
    0x00, 0x50, 0x9c, 0x40,		/* TCP 80 -> 40000 */
    0xaa, 0xbb, 0xcc, 0xdd,		/* seq */
};

static void test_icmp6_error(void **state)
{
	struct packet6_info pi;
	struct client_id expected = client_from_ipv6(client6), client;

	(void)state;
	assert_int_equal(parse_copy(icmp6_error_packet, sizeof(icmp6_error_packet), &pi),
			 PACKET6_OK);
	assert_int_equal(pi.protocol, IPPROTO_ICMPV6);
	assert_true(pi.icmp_error);
	assert_int_equal(pi.icmp_type, WIRE_ICMP6_PACKET_TOO_BIG);
	assert_memory_equal(pi.quoted_src, server6, 16);
	assert_memory_equal(pi.quoted_dst, client6, 16);
	assert_int_equal(pi.quoted_protocol, IPPROTO_TCP);
	assert_true(pi.quoted_has_ports);
	assert_int_equal(pi.quoted_sport, 80);
	assert_int_equal(pi.quoted_dport, 40000);
	client = packet6_client(&pi);
	assert_true(client_equal(&client, &expected));
}

/* A quote cut inside its extension headers still names the client; the ports are unknown. */
static void test_icmp6_error_short_quote(void **state)
{
	size_t len = sizeof(icmp6_error_packet) - 8 - 8; /* no TCP, half the options */
	uint8_t *p = copy_packet(icmp6_error_packet, len);
	struct packet6_info pi;

	(void)state;
	wire_put16(p + 4, (uint16_t)(len - 40));
	assert_int_equal(packet6_parse(p, len, &pi), PACKET6_OK);
	assert_true(pi.icmp_error);
	assert_memory_equal(pi.quoted_dst, client6, 16);
	assert_int_equal(pi.quoted_protocol, IPPROTO_NONE);
	assert_false(pi.quoted_has_ports);
	free(p);
}

/* Every way the fixed header can be wrong, each with its reason. */
static void test_malformed_header(void **state)
{
	uint8_t *p;
	struct packet6_info pi;

	(void)state;
	assert_int_equal(packet6_parse(NULL, 0, &pi), PACKET6_ERR_TRUNCATED);
	assert_int_equal(parse_copy(syn6_packet, 39, &pi), PACKET6_ERR_TRUNCATED);

	p = copy_packet(syn6_packet, sizeof(syn6_packet));
	p[0] = 0x4b; /* version 4 */
	assert_int_equal(packet6_parse(p, sizeof(syn6_packet), &pi), PACKET6_ERR_VERSION);
	p[0] = 0x6b;
	wire_put16(p + 4, 25); /* one more than there is */
	assert_int_equal(packet6_parse(p, sizeof(syn6_packet), &pi), PACKET6_ERR_PAYLOAD_LENGTH);
	wire_put16(p + 4, 23); /* one byte of padding behind the packet */
	assert_int_equal(packet6_parse(p, sizeof(syn6_packet), &pi), PACKET6_ERR_PAYLOAD_LENGTH);
	wire_put16(p + 4, 0); /* a jumbogram's zero */
	assert_int_equal(packet6_parse(p, sizeof(syn6_packet), &pi), PACKET6_ERR_PAYLOAD_LENGTH);
	wire_put16(p + 4, 24);
	p[8] = 0xff; /* multicast source */
	assert_int_equal(packet6_parse(p, sizeof(syn6_packet), &pi), PACKET6_ERR_SOURCE);
	memcpy(p + 8, client_ipv4_mapped_prefix, 12); /* ::ffff:0.0.0.16 poses as IPv4 */
	assert_int_equal(packet6_parse(p, sizeof(syn6_packet), &pi), PACKET6_ERR_SOURCE);
	free(p);
}

/* Extension headers that run past the end, come in the wrong order or repeat. */
static void test_malformed_chain(void **state)
{
	static const uint8_t long_hop_by_hop[] = {0, 0x01, 0x01, 0x04, 0, 0, 0, 0};
	static const uint8_t short_tail[] = {0, 0x00, 0x01, 0x00};
	const struct part runs_past[] = {PART(IPPROTO_HOPOPTS, long_hop_by_hop)};
	const struct part too_short[] = {PART(IPPROTO_DSTOPTS, short_tail)};
	const struct part hop_second[] = {PART(IPPROTO_DSTOPTS, dest_options),
					  PART(IPPROTO_HOPOPTS, hop_by_hop),
					  PART(IPPROTO_TCP, tcp_syn)};
	const struct part two_frags[] = {PART(IPPROTO_FRAGMENT, frag_atomic),
					 PART(IPPROTO_FRAGMENT, frag_atomic),
					 PART(IPPROTO_TCP, tcp_syn)};
	struct packet6_info pi;

	(void)state;
	/* the header says 16 bytes, 8 are there */
	assert_int_equal(parse_parts(runs_past, 1, &pi), PACKET6_ERR_EXT_TRUNCATED);
	/* fewer than the 8 bytes every extension header has */
	assert_int_equal(parse_parts(too_short, 1, &pi), PACKET6_ERR_EXT_TRUNCATED);
	assert_int_equal(parse_parts(hop_second, NPARTS(hop_second), &pi), PACKET6_ERR_EXT_ORDER);
	assert_int_equal(parse_parts(two_frags, NPARTS(two_frags), &pi), PACKET6_ERR_EXT_ORDER);
}

static void test_malformed_fragment(void **state)
{
	static const uint8_t seven[7] = {1, 2, 3, 4, 5, 6, 7};
	static const uint8_t eight[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	/* offset 65528 + 16 bytes: the datagram would pass 65535 */
	static const uint8_t frag_far[] = {0, 0x00, 0xff, 0xf8, 0xde, 0xad, 0xbe, 0xef};
	static const uint8_t sixteen[16] = {0};
	const struct part not_multiple[] = {PART(IPPROTO_FRAGMENT, frag_first),
					    PART(IPPROTO_TCP, seven)};
	const struct part empty[] = {PART(IPPROTO_FRAGMENT, frag_first)};
	const struct part too_far[] = {PART(IPPROTO_FRAGMENT, frag_far),
				       PART(IPPROTO_TCP, sixteen)};
	const struct part first_no_tcp[] = {PART(IPPROTO_FRAGMENT, frag_first),
					    PART(IPPROTO_TCP, eight)};
	/* the chain ends exactly at the fragment's end: 16 bytes, no room for UDP */
	const struct part first_no_udp[] = {PART(IPPROTO_FRAGMENT, frag_first),
					    PART(IPPROTO_DSTOPTS, dest_options),
					    {IPPROTO_UDP, udp_dns, 0}};
	struct packet6_info pi;
	uint8_t *p;
	size_t len;

	(void)state;
	assert_int_equal(parse_parts(not_multiple, 2, &pi), PACKET6_ERR_FRAGMENT);
	assert_int_equal(parse_parts(empty, 1, &pi), PACKET6_ERR_FRAGMENT);
	assert_int_equal(parse_parts(too_far, 2, &pi), PACKET6_ERR_FRAGMENT);
	/* RFC 7112: the first fragment holds the whole TCP header, or it is refused */
	assert_int_equal(parse_parts(first_no_tcp, 2, &pi), PACKET6_ERR_FIRST_FRAGMENT);
	assert_int_equal(parse_parts(first_no_udp, 3, &pi), PACKET6_ERR_FIRST_FRAGMENT);
	/* the same 8 bytes as a whole packet: a truncated TCP header */
	p = build((const struct part[]){PART(IPPROTO_TCP, eight)}, 1, &len);
	assert_int_equal(packet6_parse(p, len, &pi), PACKET6_ERR_L4_TRUNCATED);
	free(p);
	/* a first fragment whose TCP header ends inside its options */
	p = build(
	    (const struct part[]){PART(IPPROTO_FRAGMENT, frag_first), PART(IPPROTO_TCP, tcp_syn)},
	    2, &len);
	p[48 + 12] = 0x80; /* 32 bytes of header claimed, 24 there (and 24 is a multiple of 8) */
	assert_int_equal(packet6_parse(p, len, &pi), PACKET6_ERR_FIRST_FRAGMENT);
	free(p);
}

static void test_malformed_transport(void **state)
{
	static const uint8_t udp_short[4] = {0xc3, 0x50, 0x00, 0x35};
	static const uint8_t icmp_short[4] = {0x80, 0x00, 0x00, 0x00};
	struct packet6_info pi;
	uint8_t *p = copy_packet(syn6_packet, sizeof(syn6_packet));

	(void)state;
	p[40 + 12] = 0x40; /* data offset 4 */
	assert_int_equal(packet6_parse(p, sizeof(syn6_packet), &pi), PACKET6_ERR_TCP_OFFSET);
	p[40 + 12] = 0x70; /* 28 bytes claimed, 24 there */
	assert_int_equal(packet6_parse(p, sizeof(syn6_packet), &pi), PACKET6_ERR_TCP_OFFSET);
	free(p);
	assert_int_equal(parse_parts((const struct part[]){PART(IPPROTO_UDP, udp_short)}, 1, &pi),
			 PACKET6_ERR_L4_TRUNCATED);
	assert_int_equal(
	    parse_parts((const struct part[]){PART(IPPROTO_ICMPV6, icmp_short)}, 1, &pi),
	    PACKET6_ERR_L4_TRUNCATED);
}

/* An ICMPv6 error whose quote is not a sane IPv6 header is refused, not trusted. */
static void test_icmp6_error_bad_quote(void **state)
{
	struct packet6_info pi;
	uint8_t *p;
	size_t len;

	(void)state;
	/* 39 bytes of quote */
	len = 40 + 8 + 39;
	p = copy_packet(icmp6_error_packet, len);
	wire_put16(p + 4, (uint16_t)(len - 40));
	assert_int_equal(packet6_parse(p, len, &pi), PACKET6_ERR_ICMP_QUOTE);
	free(p);
	/* an IPv4 header quoted */
	p = copy_packet(icmp6_error_packet, sizeof(icmp6_error_packet));
	p[48] = 0x45;
	assert_int_equal(packet6_parse(p, sizeof(icmp6_error_packet), &pi), PACKET6_ERR_ICMP_QUOTE);
	/* a quoted destination that would pose as an IPv4 client */
	p[48] = 0x60;
	memcpy(p + 48 + 24, client_ipv4_mapped_prefix, 12);
	assert_int_equal(packet6_parse(p, sizeof(icmp6_error_packet), &pi), PACKET6_ERR_ICMP_QUOTE);
	free(p);
}

static void test_error_names(void **state)
{
	static const char *const names[PACKET6_ERR_COUNT] = {
	    "ok",	  "truncated",	    "version",	    "payload_length",
	    "source",	  "ext_truncated",  "ext_count",    "ext_order",
	    "fragment",	  "first_fragment", "l4_truncated", "tcp_offset",
	    "icmp_quote",
	};

	(void)state;
	for (int i = 0; i < PACKET6_ERR_COUNT; i++) {
		assert_string_equal(packet6_error_name((enum packet6_error)i), names[i]);
		/* distinct names: they become metric labels */
		for (int j = i + 1; j < PACKET6_ERR_COUNT; j++)
			assert_string_not_equal(packet6_error_name(i), packet6_error_name(j));
	}
	assert_string_equal(packet6_error_name(PACKET6_ERR_COUNT), "unknown");
	assert_string_equal(packet6_error_name((enum packet6_error) - 1), "unknown");
}

/* What must hold of any successful parse, whatever the bytes were. */
static void check_sane(const struct packet6_info *pi, const uint8_t *p, size_t len)
{
	assert_int_equal((size_t)pi->payload_len + 40, len);
	assert_true(pi->l4_offset >= 40 && pi->l4_offset <= len);
	assert_true(pi->ext_count <= PACKET6_EXT_MAX);
	assert_int_equal(pi->ext_count == 0, pi->l4_offset == 40);
	assert_int_equal(pi->is_fragment, pi->more_fragments || pi->frag_offset != 0);
	if (!pi->has_frag_header)
		assert_false(pi->is_fragment);
	else
		assert_true(pi->frag_header_offset >= 40 &&
			    (size_t)pi->frag_header_offset + 8 <= pi->l4_offset);
	if (pi->has_ports) {
		assert_true(pi->protocol == IPPROTO_TCP || pi->protocol == IPPROTO_UDP);
		assert_int_equal(pi->frag_offset, 0);
		assert_int_equal(pi->sport, wire_get16(p + pi->l4_offset));
		assert_true((size_t)pi->l4_offset +
				(pi->protocol == IPPROTO_TCP ? pi->tcp_hlen : 8) <=
			    len);
	}
	if (pi->icmp_error) {
		assert_int_equal(pi->protocol, IPPROTO_ICMPV6);
		assert_true((size_t)pi->l4_offset + 8 + 40 <= len);
		assert_memory_equal(pi->quoted_dst, p + pi->l4_offset + 8 + 24, 16);
	}
	assert_false(pi->src[0] == 0xff || client_addr_is_ipv4_mapped(pi->src));
}

static void test_every_truncation(void **state)
{
	const struct part chain[] = {PART(IPPROTO_HOPOPTS, hop_by_hop),
				     PART(IPPROTO_ROUTING, routing),
				     PART(IPPROTO_FRAGMENT, frag_first),
				     PART(IPPROTO_AH, auth_header), PART(IPPROTO_TCP, tcp_syn)};
	size_t chain_len;
	uint8_t *chain_packet = build(chain, NPARTS(chain), &chain_len);
	const struct {
		const uint8_t *bytes;
		size_t len;
	} golden[] = {
	    {syn6_packet, sizeof(syn6_packet)},
	    {icmp6_error_packet, sizeof(icmp6_error_packet)},
	    {chain_packet, chain_len},
	};
	size_t ok = 0;

	(void)state;
	for (size_t g = 0; g < NPARTS(golden); g++) {
		for (size_t len = 0; len <= golden[g].len; len++) {
			struct packet6_info pi;
			uint8_t *p = copy_packet(golden[g].bytes, len);
			enum packet6_error err = packet6_parse(p, len, &pi);

			/* the length field still says the full size */
			if (len < 40)
				assert_int_equal(err, PACKET6_ERR_TRUNCATED);
			else if (len < golden[g].len)
				assert_int_equal(err, PACKET6_ERR_PAYLOAD_LENGTH);
			else
				assert_int_equal(err, PACKET6_OK);
			/* with the length field agreeing, the chain and transport get their turn */
			if (len >= 40) {
				wire_put16(p + 4, (uint16_t)(len - 40));
				err = packet6_parse(p, len, &pi);
				assert_true((unsigned)err < PACKET6_ERR_COUNT);
				if (err == PACKET6_OK) {
					check_sane(&pi, p, len);
					ok++;
				}
			}
			free(p);
		}
	}
	free(chain_packet);
	assert_true(ok >= NPARTS(golden));
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
	static const uint8_t next_headers[] = {IPPROTO_HOPOPTS,	 IPPROTO_ROUTING, IPPROTO_DSTOPTS,
					       IPPROTO_FRAGMENT, IPPROTO_AH,	  IPPROTO_TCP,
					       IPPROTO_UDP,	 IPPROTO_ICMPV6};
	uint32_t seed = 0x9e3779b9;
	size_t ok = 0, walked = 0;

	(void)state;
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = next_random(&seed) % 160;
		uint8_t *p = malloc(len ? len : 1);
		struct packet6_info pi;
		enum packet6_error err;

		assert_non_null(p);
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)next_random(&seed);
		/* steer most inputs past the first checks, into chains of small headers */
		if (len >= 40 && iter % 4 != 0) {
			p[0] = 0x60 | (p[0] & 0x0f);
			p[8] = 0x20;
			wire_put16(p + 4, (uint16_t)(len - 40));
			p[6] = next_headers[next_random(&seed) % sizeof(next_headers)];
			for (size_t off = 40; off + 2 <= len; off += 8) {
				p[off] = next_headers[next_random(&seed) % sizeof(next_headers)];
				p[off + 1] = (uint8_t)(next_random(&seed) % 3);
			}
		}
		err = packet6_parse(p, len, &pi);
		assert_true((unsigned)err < PACKET6_ERR_COUNT);
		assert_string_not_equal(packet6_error_name(err), "unknown");
		if (err == PACKET6_OK) {
			check_sane(&pi, p, len);
			ok++;
			walked += pi.ext_count > 0;
		}
		free(p);
	}
	print_message("packet6: %zu of 200000 random inputs parsed as valid, %zu through "
		      "extension headers\n",
		      ok, walked);
	assert_true(ok > 1000 && walked > 100); /* the steering did reach the chain walk */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_syn),
	    cmocka_unit_test(test_udp),
	    cmocka_unit_test(test_each_extension_header),
	    cmocka_unit_test(test_full_chain),
	    cmocka_unit_test(test_extension_limit),
	    cmocka_unit_test(test_no_next_header),
	    cmocka_unit_test(test_first_fragment),
	    cmocka_unit_test(test_later_fragment),
	    cmocka_unit_test(test_icmp6_echo),
	    cmocka_unit_test(test_icmp6_error),
	    cmocka_unit_test(test_icmp6_error_short_quote),
	    cmocka_unit_test(test_malformed_header),
	    cmocka_unit_test(test_malformed_chain),
	    cmocka_unit_test(test_malformed_fragment),
	    cmocka_unit_test(test_malformed_transport),
	    cmocka_unit_test(test_icmp6_error_bad_quote),
	    cmocka_unit_test(test_error_names),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
