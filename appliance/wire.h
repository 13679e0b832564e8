/*
 * wire.h - IPv4, IPv6, TCP, UDP, ICMP and ICMPv6 as they are on the wire: big-endian field
 * access, the header constants and the Internet checksum. Pure: no globals,
 * no I/O.
 *
 * Header-only on purpose: the standalone programs (drover-decap, the bench
 * generator) take it without the library, and the kernel fast path
 * (fastpath.bpf.c, built with clang -target bpf) shares its constants, so
 * the kernel and droverd cannot disagree on a flag bit. Protocol numbers are
 * not here: <netinet/in.h> (user space) and <linux/in.h> (BPF) already name
 * them IPPROTO_*.
 */
#ifndef DROVER_WIRE_H
#define DROVER_WIRE_H

/* The IPv4 header (RFC 791). */
enum wire_ipv4 {
	WIRE_IPV4_VERSION = 4,
	WIRE_IPV4_VERS_IHL = 0x45, /* first byte of a header without options */
	WIRE_IPV4_HLEN_MIN = 20,   /* no options */
	WIRE_IPV4_LEN_MAX = 65535,
	WIRE_IPV4_MTU_MIN = 68, /* every IPv4 link carries 68 bytes unfragmented */
	WIRE_IPV4_TTL = 64,	/* of the packets drover writes: outer headers, resets */
	/* Fragment offsets count 8-byte units; every fragment but the last carries a multiple. */
	WIRE_IPV4_FRAG_UNIT = 8,
};

/* The flags and fragment offset word, bytes 6-7 of the IPv4 header. */
enum wire_ipv4_frag {
	WIRE_IP_MF = 1U << 13,
	WIRE_IP_DF = 1U << 14,
	WIRE_IP_OFFSET_MASK = (1U << 13) - 1, /* fragment offset, in 8-byte units */
};

/* The TCP header (RFC 9293): its length and the flag bits drover reads or writes. */
enum wire_tcp {
	WIRE_TCP_HLEN_MIN = 20,
};

enum wire_tcp_flag {
	WIRE_TCP_FIN = 1U << 0,
	WIRE_TCP_SYN = 1U << 1,
	WIRE_TCP_RST = 1U << 2,
	WIRE_TCP_ACK = 1U << 4,
};

/* ICMP (RFC 792): the header and the types and codes drover reads or writes. */
enum wire_icmp {
	WIRE_ICMP_HLEN = 8,
};

enum wire_icmp_type {
	WIRE_ICMP_ECHO_REPLY = 0,
	WIRE_ICMP_UNREACHABLE = 3,
	WIRE_ICMP_SOURCE_QUENCH = 4,
	WIRE_ICMP_ECHO_REQUEST = 8,
	WIRE_ICMP_TIME_EXCEEDED = 11,
	WIRE_ICMP_PARAM_PROBLEM = 12,
};

/* Codes of WIRE_ICMP_UNREACHABLE. */
enum wire_icmp_unreachable {
	WIRE_ICMP_PORT_UNREACHABLE = 3,	 /* RFC 792: no one listens on the quoted port */
	WIRE_ICMP_FRAG_NEEDED = 4,	 /* RFC 1191: carries the next-hop MTU */
	WIRE_ICMP_ADMIN_PROHIBITED = 13, /* RFC 1812 */
};

/* The IPv6 header (RFC 8200): fixed length, addresses of 16 bytes. */
enum wire_ipv6 {
	WIRE_IPV6_VERSION = 6,
	WIRE_IPV6_HLEN = 40,
	WIRE_IPV6_ADDR_LEN = 16,
	WIRE_IPV6_PAYLOAD_MAX = 65535, /* no jumbograms: the payload length field is all we take */
	WIRE_IPV6_MTU_MIN = 1280,      /* every IPv6 link carries 1280 bytes (RFC 8200 5) */
	WIRE_IPV6_HOP_LIMIT = 64,      /* of the packets drover writes: outer headers, errors */
	WIRE_IPV6_MULTICAST = 0xff,    /* first byte of every multicast address (RFC 4291 2.7) */
	/* Hop-by-hop, routing and destination options count their length in 8-byte units. */
	WIRE_IPV6_EXT_UNIT = 8,
	WIRE_IPV6_EXT_MIN = 8,	 /* the smallest extension header: next header, length, 6 bytes */
	WIRE_IPV6_FRAG_HLEN = 8, /* the fragment header has a fixed length */
	WIRE_IPV6_AH_UNIT = 4,	 /* AH counts 4-byte units, less 2 (RFC 4302 2.2) */
	WIRE_IPV6_AH_BIAS = 2,
	WIRE_IPV6_FRAG_UNIT = 8, /* fragment offsets count 8-byte units */
};

/* The offset and flags word, bytes 2-3 of the fragment header (RFC 8200 4.5). */
enum wire_ipv6_frag {
	WIRE_IP6_MF = 1U << 0,
	WIRE_IP6_OFFSET_MASK = 0xfff8, /* the offset in bytes: 13 bits of 8-byte units, shifted */
};

/* The first 32-bit word of the IPv6 header: version, traffic class, flow label. */
enum wire_ipv6_word0 {
	WIRE_IP6_VERSION_SHIFT = 28,
	WIRE_IP6_TCLASS_SHIFT = 20,
	WIRE_IP6_TCLASS_MASK = 0xff,
	WIRE_IP6_FLOW_MASK = (1U << 20) - 1,
};

/* The UDP header (RFC 768). */
enum wire_udp {
	WIRE_UDP_HLEN = 8,
};

/* ICMPv6 (RFC 4443): the header and the types drover reads or writes. */
enum wire_icmp6 {
	WIRE_ICMP6_HLEN = 8, /* type, code, checksum, then 4 bytes every message has */
};

enum wire_icmp6_type {
	WIRE_ICMP6_UNREACHABLE = 1,
	WIRE_ICMP6_PACKET_TOO_BIG = 2, /* carries the MTU of the next hop */
	WIRE_ICMP6_TIME_EXCEEDED = 3,
	WIRE_ICMP6_PARAM_PROBLEM = 4,
	WIRE_ICMP6_INFO_MIN = 128, /* types below are errors, from here informational */
};

/* ICMPv6 destination unreachable codes drover sends (RFC 4443 3.1). */
enum wire_icmp6_unreachable_code {
	WIRE_ICMP6_ADMIN_PROHIBITED = 1,
	WIRE_ICMP6_PORT_UNREACHABLE = 4,
};

/*
 * The functions are for user space. A BPF program has no C library (so no
 * <stdint.h>) and reads its fields through struct iphdr instead.
 */
#ifndef __bpf__
#include <stddef.h>
#include <stdint.h>

static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The version field of the IPv4 (or not) header at ip; ip must hold one byte. */
static inline unsigned int wire_ip_version(const uint8_t *ip)
{
	return ip[0] >> 4;
}

/* The header length in bytes that the IHL field of the header at ip claims (0..60). */
static inline size_t wire_ip_hlen(const uint8_t *ip)
{
	return (size_t)(ip[0] & 0x0f) * 4;
}

/*
 * The Internet checksum (RFC 1071) of buf[0..len): big-endian 16-bit words
 * summed (an odd last byte is the high half of a word), folded, complemented.
 * Host order: store it with wire_put16. Summed over a header that already
 * holds its checksum, the result is 0, which is how receivers verify it.
 */
static inline uint16_t wire_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += wire_get16(p + i);
	if (i < len)
		sum += (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * The upper-layer checksum of IPv6 (RFC 8200 8.1) over msg[0..len): the
 * Internet checksum of a pseudo-header (source, destination, the 32-bit
 * upper-layer length, three zero bytes, the next header value) followed by
 * the message. Host order, as wire_checksum; over a message that already
 * holds its checksum the result is 0.
 */
static inline uint16_t wire_checksum6(const uint8_t src[WIRE_IPV6_ADDR_LEN],
				      const uint8_t dst[WIRE_IPV6_ADDR_LEN], uint8_t next_header,
				      const void *msg, size_t len)
{
	const uint8_t *p = msg;
	uint64_t sum = (uint64_t)(len >> 16) + (len & 0xffff) + next_header;
	size_t i;

	for (i = 0; i < WIRE_IPV6_ADDR_LEN; i += 2)
		sum += (uint32_t)wire_get16(src + i) + wire_get16(dst + i);
	for (i = 0; i + 1 < len; i += 2)
		sum += wire_get16(p + i);
	if (i < len)
		sum += (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}
#endif /* __bpf__ */

#endif
