/*
 * wire.h - IPv4, TCP and ICMP as they are on the wire: big-endian field
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
	WIRE_ICMP_UNREACHABLE = 3,
	WIRE_ICMP_SOURCE_QUENCH = 4,
	WIRE_ICMP_TIME_EXCEEDED = 11,
	WIRE_ICMP_PARAM_PROBLEM = 12,
};

/* Codes of WIRE_ICMP_UNREACHABLE. */
enum wire_icmp_unreachable {
	WIRE_ICMP_FRAG_NEEDED = 4,	 /* RFC 1191: carries the next-hop MTU */
	WIRE_ICMP_ADMIN_PROHIBITED = 13, /* RFC 1812 */
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
#endif /* __bpf__ */

#endif
