/*
 * packet6.h - bounds-checked IPv6 parsing of queued packets: the fixed
 * header, the extension headers walked one by one, the transport ports,
 * fragments and ICMPv6 errors. The IPv6 counterpart of packet.h. Pure: no
 * globals, no I/O.
 */
#ifndef DROVER_PACKET6_H
#define DROVER_PACKET6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "wire.h"

/*
 * The most extension headers walked before the upper-layer header. RFC 8200
 * 4.1 recommends at most six (hop-by-hop, destination options, routing,
 * fragment, authentication, destination options) once each; two spare for
 * what RFC 8200 still allows. A longer chain is refused rather than walked:
 * it serves no client and costs every packet behind it.
 */
#define PACKET6_EXT_MAX 8

/* Why a packet could not be parsed. Each has its own counter in the datapath. */
enum packet6_error {
	PACKET6_OK = 0,
	PACKET6_ERR_TRUNCATED,	    /* shorter than the 40-byte IPv6 header */
	PACKET6_ERR_VERSION,	    /* not IPv6 */
	PACKET6_ERR_PAYLOAD_LENGTH, /* payload length disagrees with the buffer (jumbograms too) */
	PACKET6_ERR_SOURCE,	    /* multicast or IPv4-mapped source: names no IPv6 client */
	PACKET6_ERR_EXT_TRUNCATED,  /* an extension header runs past the end of the packet */
	PACKET6_ERR_EXT_COUNT,	    /* more than PACKET6_EXT_MAX extension headers */
	PACKET6_ERR_EXT_ORDER,	    /* hop-by-hop not first, or a second fragment header */
	PACKET6_ERR_FRAGMENT,	    /* fragment length or offset impossible */
	PACKET6_ERR_FIRST_FRAGMENT, /* first fragment without its whole TCP/UDP/ICMPv6 header */
	PACKET6_ERR_L4_TRUNCATED,   /* TCP, UDP or ICMPv6 header cut short */
	PACKET6_ERR_TCP_OFFSET,	    /* TCP data offset < 5 or past the end of the packet */
	PACKET6_ERR_ICMP_QUOTE,	    /* an ICMPv6 error quoting no sane IPv6 header */
	PACKET6_ERR_COUNT,
};

struct packet6_info {
	uint8_t src[WIRE_IPV6_ADDR_LEN]; /* as on the wire */
	uint8_t dst[WIRE_IPV6_ADDR_LEN];
	uint16_t payload_len; /* host order; 40 + payload_len equals the buffer length */
	uint8_t traffic_class;
	uint32_t flow_label; /* host order, 20 bits */
	uint8_t hop_limit;
	/*
	 * The upper-layer protocol: the next header value after the last
	 * extension header walked (IPPROTO_TCP, IPPROTO_ICMPV6, IPPROTO_NONE, ...);
	 * for a later fragment, the next header its fragment header names.
	 */
	uint8_t protocol;
	uint16_t l4_offset; /* where that header starts in the buffer (40 when no extension) */
	uint8_t ext_count;  /* extension headers walked */
	/* The fragment header, when there is one. */
	bool has_frag_header;
	bool is_fragment;     /* M set or offset != 0: an atomic fragment (RFC 6946) is whole */
	bool more_fragments;  /* M flag */
	uint16_t frag_offset; /* in bytes, host order; a later fragment has offset != 0 */
	uint32_t frag_id;     /* host order: with the source, which datagram it belongs to */
	uint16_t frag_header_offset; /* where the fragment header starts in the buffer */
	/* Transport: a TCP or UDP header present (whole packet or first fragment). */
	bool has_ports;
	uint16_t sport; /* host order, valid when has_ports */
	uint16_t dport;
	uint8_t tcp_flags; /* enum wire_tcp_flag bits; TCP only */
	uint8_t tcp_hlen;  /* TCP header length in bytes; TCP only */
	uint32_t tcp_seq;  /* host order; TCP only */
	uint32_t tcp_ack;
	/* ICMPv6 (any message): type and code. */
	uint8_t icmp_type;
	uint8_t icmp_code;
	/* ICMPv6 errors (types 1-4) quoting a packet: the quoted addresses. */
	bool icmp_error;
	uint8_t quoted_src[WIRE_IPV6_ADDR_LEN];
	uint8_t quoted_dst[WIRE_IPV6_ADDR_LEN];
	/*
	 * The quoted packet's upper-layer protocol, its extension headers
	 * walked as far as the quote goes; IPPROTO_NONE when the quote ends
	 * inside them or is a later fragment.
	 */
	uint8_t quoted_protocol;
	bool quoted_has_ports; /* the quote holds a TCP/UDP port pair */
	uint16_t quoted_sport; /* host order */
	uint16_t quoted_dport;
};

/*
 * Parses buf[0..len) as an IPv6 packet. Never reads outside the buffer, and
 * walks at most PACKET6_EXT_MAX extension headers (hop-by-hop, routing,
 * destination options, fragment, authentication); any other next header is
 * the upper layer (ESP and No Next Header included: nothing to read past
 * them). Returns PACKET6_OK and fills *out, or the first problem found (out
 * is then partially filled and must not be used).
 *
 * Stricter than the IPv4 parser in one place, as RFC 8200 4.5 and RFC 7112
 * ask: a first fragment must hold its whole header chain through the
 * TCP/UDP/ICMPv6 header (a first fragment without ports would let a client
 * hide its port from the rules). A later fragment has no ports; it belongs
 * with its datagram's first by (source, frag_id).
 */
enum packet6_error packet6_parse(const uint8_t *buf, size_t len, struct packet6_info *out);

/* Stable lower-case name, e.g. "truncated", "ext_count"; used for counters and metrics. */
const char *packet6_error_name(enum packet6_error err);

/*
 * The client a packet belongs to: the source of a client's packet, or the
 * destination of the packet an ICMPv6 error quotes (the error is about the
 * client's flow), as a client identity.
 */
static inline struct client_id packet6_client(const struct packet6_info *pi)
{
	return client_from_ipv6(pi->icmp_error ? pi->quoted_dst : pi->src);
}

#endif
