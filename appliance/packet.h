/* packet.h - bounds-checked IPv4 parsing of queued packets. Pure: no globals, no I/O. */
#ifndef DROVER_PACKET_H
#define DROVER_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Why a packet could not be parsed. Each has its own counter in the datapath. */
enum packet_error {
	PACKET_OK = 0,
	PACKET_ERR_TRUNCATED,	 /* shorter than a minimal IPv4 header */
	PACKET_ERR_VERSION,	 /* not IPv4 */
	PACKET_ERR_IHL,		 /* IHL < 5, or the header runs past the buffer */
	PACKET_ERR_TOTAL_LENGTH, /* total length < IHL or disagrees with the buffer */
	PACKET_ERR_FRAGMENT,	 /* fragment offset/length impossible (offset+len > 65535) */
	PACKET_ERR_L4_TRUNCATED, /* TCP, UDP or ICMP header (or ICMP quote) cut short */
	PACKET_ERR_TCP_OFFSET,	 /* TCP data offset < 5 or past the end of the packet */
	PACKET_ERR_COUNT,
};

struct packet_info {
	uint32_t src;	      /* network byte order */
	uint32_t dst;	      /* network byte order */
	uint16_t total_len;   /* host order; equals the buffer length once parsed */
	uint16_t ip_id;	      /* host order */
	uint16_t frag_offset; /* in bytes, host order */
	uint8_t ihl;	      /* IP header length in bytes (20..60) */
	uint8_t protocol;
	uint8_t ttl;
	bool df;
	bool more_fragments;
	bool is_fragment; /* MF set or offset != 0 */
	/* A TCP or UDP header is present (whole packet or first fragment); protocol says which. */
	bool has_ports;
	uint16_t sport; /* host order, valid when has_ports */
	uint16_t dport;
	uint8_t tcp_flags; /* enum wire_tcp_flag bits; TCP only */
	uint8_t tcp_hlen;  /* TCP header length in bytes; TCP only */
	uint32_t tcp_seq;  /* host order; TCP only */
	uint32_t tcp_ack;
	/* ICMP errors (types 3, 4, 11, 12) quoting a packet: the quoted addresses. */
	bool icmp_error;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint32_t quoted_src; /* network byte order */
	uint32_t quoted_dst;
	uint8_t quoted_protocol;
	bool quoted_has_ports; /* the quote holds a TCP/UDP port pair */
	uint16_t quoted_sport; /* host order */
	uint16_t quoted_dport;
};

/*
 * Parses buf[0..len) as an IPv4 packet. Never reads outside the buffer.
 * Returns PACKET_OK and fills *out, or the first problem found (out is then
 * partially filled and must not be used). A first fragment too short to hold
 * the TCP or UDP header is not an error: has_ports is false.
 */
enum packet_error packet_parse(const uint8_t *buf, size_t len, struct packet_info *out);

/* Stable lower-case name, e.g. "truncated", "ihl"; used for counters and metrics. */
const char *packet_error_name(enum packet_error err);

/*
 * The client a packet belongs to: the source of a client's packet, or the
 * destination of the packet an ICMP error quotes (the error is about the
 * client's flow). Network byte order.
 */
static inline uint32_t packet_client(const struct packet_info *pi)
{
	return pi->icmp_error ? pi->quoted_dst : pi->src;
}

#endif
