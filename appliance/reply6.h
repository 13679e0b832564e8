/*
 * reply6.h - packets drover itself sends back to an IPv6 client: ICMPv6
 * Packet Too Big and destination unreachable. The IPv6 counterpart of
 * reply.h. Pure: no globals, no I/O.
 */
#ifndef DROVER_REPLY6_H
#define DROVER_REPLY6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet6.h"

/* An ICMPv6 error never passes the minimum IPv6 MTU (RFC 4443 2.4 (c)). */
#define REPLY6_MAX_LEN WIRE_IPV6_MTU_MIN
/* The most of the offending packet an error can quote: what the headers leave. */
#define REPLY6_QUOTE_MAX (REPLY6_MAX_LEN - WIRE_IPV6_HLEN - WIRE_ICMP6_HLEN)

/*
 * Whether a host may answer the packet pi describes with an ICMPv6 error at
 * all (RFC 4443 2.4 (e)): false for an ICMPv6 error (no error about an
 * error), for a fragment other than the first (as reply_may_answer: the
 * budget goes to packets that start a datagram), for a source that is not
 * one host (unspecified, loopback, multicast) and for a multicast
 * destination. The budget of replies is the caller's.
 */
bool reply6_may_answer(const struct packet6_info *pi);

/*
 * A complete IPv6 + ICMPv6 Packet Too Big (type 2, code 0) for the IPv6
 * packet pkt of pkt_len bytes (at least its 40-byte header), carrying mtu:
 * from src (the appliance's address, 16 bytes) to pkt's source, hop limit
 * WIRE_IPV6_HOP_LIMIT, quoting as much of pkt as fits REPLY6_MAX_LEN bytes,
 * the ICMPv6 checksum over the IPv6 pseudo-header filled. The ICMPv6 message
 * starts at out + WIRE_IPV6_HLEN, for a raw ICMPv6 socket that writes its
 * own header. Returns the length written; 0 when cap is too small for it,
 * pkt shorter than an IPv6 header, or mtu below WIRE_IPV6_MTU_MIN (no IPv6
 * link is narrower: a tunnel that is cannot carry IPv6 at all).
 */
size_t reply6_packet_too_big(uint8_t *out, size_t cap, const uint8_t src[WIRE_IPV6_ADDR_LEN],
			     const uint8_t *pkt, size_t pkt_len, uint32_t mtu);

/*
 * A complete IPv6 + ICMPv6 destination unreachable (type 1) with code (enum
 * wire_icmp6_unreachable_code: WIRE_ICMP6_PORT_UNREACHABLE for a UDP
 * datagram nobody takes, WIRE_ICMP6_ADMIN_PROHIBITED for a refused
 * connection) for pkt, laid out as reply6_packet_too_big: from src to pkt's
 * source, the 4 bytes after the checksum unused (zero, RFC 4443 3.1), as
 * much of pkt quoted as fits REPLY6_MAX_LEN bytes, the checksum filled.
 * Returns the length written; 0 when cap is too small or pkt is shorter
 * than an IPv6 header.
 */
size_t reply6_unreachable(uint8_t *out, size_t cap, const uint8_t src[WIRE_IPV6_ADDR_LEN],
			  const uint8_t *pkt, size_t pkt_len, uint8_t code);

#endif
