/* encap.h - IPIP encapsulation headers and outer fragmentation. Pure: no globals, no I/O. */
#ifndef DROVER_ENCAP_H
#define DROVER_ENCAP_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* The outer header carries no options. */
#define ENCAP_OUTER_LEN WIRE_IPV4_HLEN_MIN
/* 65535 / smallest sensible fragment payload (576 - 20, rounded to 8) */
#define ENCAP_MAX_FRAGS 128

/* One outer packet: its header, then inner[offset .. offset+len) as payload. */
struct encap_frag {
	uint8_t hdr[ENCAP_OUTER_LEN];
	uint16_t offset;
	uint16_t len;
};

/*
 * Writes the 20-byte outer IPv4 header for an inner packet of inner_len bytes:
 * protocol 4 (IPIP), TTL WIRE_IPV4_TTL, TOS and DF copied from the inner header (inner must hold
 * at least 20 bytes), the given id, checksum filled. src/dst network byte order.
 */
void encap_ipip_header(uint8_t hdr[ENCAP_OUTER_LEN], uint32_t src, uint32_t dst,
		       const uint8_t *inner, uint16_t inner_len, uint16_t id);

/*
 * Splits the encapsulation of an inner packet (DF clear) into outer fragments
 * no larger than mtu bytes each (payloads multiples of 8 but the last).
 * Returns the number of fragments written (1 when it fits), or 0 when mtu is
 * too small (< 68) or more than max fragments would be needed.
 */
size_t encap_ipip_fragments(struct encap_frag *frags, size_t max, uint32_t src, uint32_t dst,
			    const uint8_t *inner, uint16_t inner_len, uint16_t id, uint16_t mtu);

#endif
