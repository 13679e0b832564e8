/* encap6.c - encapsulation headers for a client's IPv6 packet. */
#include "encap6.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>

/* The traffic class of the IPv6 header at ip: bits 4-11 of its first word. */
static uint8_t encap6_traffic_class(const uint8_t *ip)
{
	return (uint8_t)((wire_get32(ip) >> WIRE_IP6_TCLASS_SHIFT) & WIRE_IP6_TCLASS_MASK);
}

/*
 * The traffic class is copied so DSCP and ECN survive the tunnel (RFC 6040
 * normal mode, RFC 2473 6.5); the flow label is copied so the routers
 * between appliance and proxy keep one client flow on one path, as they
 * would have without the tunnel (RFC 6437 allows the encapsulator either).
 * The hop limit is the appliance's own: the outer packet starts here.
 */
int encap6_ip6ip6_header(uint8_t hdr[ENCAP6_IP6IP6_LEN], const uint8_t src[WIRE_IPV6_ADDR_LEN],
			 const uint8_t dst[WIRE_IPV6_ADDR_LEN], const uint8_t *inner,
			 size_t inner_len)
{
	uint32_t word0 =
	    wire_get32(inner) &
	    ((uint32_t)WIRE_IP6_TCLASS_MASK << WIRE_IP6_TCLASS_SHIFT | WIRE_IP6_FLOW_MASK);

	if (inner_len > WIRE_IPV6_PAYLOAD_MAX)
		return -EMSGSIZE;
	wire_put32(hdr, (uint32_t)WIRE_IPV6_VERSION << WIRE_IP6_VERSION_SHIFT | word0);
	wire_put16(hdr + 4, (uint16_t)inner_len);
	hdr[6] = IPPROTO_IPV6;
	hdr[7] = WIRE_IPV6_HOP_LIMIT;
	memcpy(hdr + 8, src, WIRE_IPV6_ADDR_LEN);
	memcpy(hdr + 24, dst, WIRE_IPV6_ADDR_LEN);
	return 0;
}

/*
 * DF is always set: the IPv6 packet inside must never be fragmented on its
 * way (its own sender is told with Packet Too Big instead, against the
 * tunnel MTU), so the tunnel runs in RFC 4213 3.2.2's dynamic-MTU mode and
 * a path narrower than configured shows up as an IPv4 error, not as
 * silent fragments the proxy must reassemble.
 */
int encap6_6in4_header(uint8_t hdr[ENCAP6_6IN4_LEN], uint32_t src, uint32_t dst,
		       const uint8_t *inner, size_t inner_len, uint16_t id)
{
	if (inner_len > WIRE_IPV4_LEN_MAX - ENCAP6_6IN4_LEN)
		return -EMSGSIZE;
	hdr[0] = WIRE_IPV4_VERS_IHL;
	hdr[1] = encap6_traffic_class(inner);
	wire_put16(hdr + 2, (uint16_t)(inner_len + ENCAP6_6IN4_LEN));
	wire_put16(hdr + 4, id);
	wire_put16(hdr + 6, WIRE_IP_DF);
	hdr[8] = WIRE_IPV4_TTL;
	hdr[9] = IPPROTO_IPV6;
	wire_put16(hdr + 10, 0);
	memcpy(hdr + 12, &src, sizeof(src));
	memcpy(hdr + 16, &dst, sizeof(dst));
	wire_put16(hdr + 10, wire_checksum(hdr, ENCAP6_6IN4_LEN));
	return 0;
}
