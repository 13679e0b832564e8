/*
 * encap6.h - encapsulation headers for a client's IPv6 packet: IPv6-in-IPv6
 * to a proxy with an IPv6 address, IPv6-in-IPv4 (6in4) to a proxy that has
 * only IPv4. The IPv6 counterpart of encap.h. Pure: no globals, no I/O.
 *
 * Neither fragments: an IPv6 packet too big for the tunnel is answered with
 * an ICMPv6 Packet Too Big (reply6.h) instead, as an IPv6 router must.
 */
#ifndef DROVER_ENCAP6_H
#define DROVER_ENCAP6_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* The outer headers carry no options or extension headers. */
#define ENCAP6_IP6IP6_LEN WIRE_IPV6_HLEN
#define ENCAP6_6IN4_LEN	  WIRE_IPV4_HLEN_MIN

/*
 * Writes the 40-byte outer IPv6 header for the inner IPv6 packet of
 * inner_len bytes at inner (at least its 40-byte header): next header 41,
 * hop limit WIRE_IPV6_HOP_LIMIT, traffic class and flow label copied from
 * the inner header, payload length inner_len. src/dst are 16 bytes as on
 * the wire. Returns 0, or -EMSGSIZE when inner_len exceeds the 65535 bytes
 * a payload length can say (hdr untouched).
 */
int encap6_ip6ip6_header(uint8_t hdr[ENCAP6_IP6IP6_LEN], const uint8_t src[WIRE_IPV6_ADDR_LEN],
			 const uint8_t dst[WIRE_IPV6_ADDR_LEN], const uint8_t *inner,
			 size_t inner_len);

/*
 * Writes the 20-byte outer IPv4 header for the inner IPv6 packet of
 * inner_len bytes at inner (at least its 40-byte header): protocol 41, DF
 * set, TTL WIRE_IPV4_TTL, TOS copied from the inner traffic class, the given
 * id, checksum filled. src/dst network byte order. Returns 0, or -EMSGSIZE
 * when the outer packet would pass 65535 bytes (hdr untouched).
 */
int encap6_6in4_header(uint8_t hdr[ENCAP6_6IN4_LEN], uint32_t src, uint32_t dst,
		       const uint8_t *inner, size_t inner_len, uint16_t id);

#endif
