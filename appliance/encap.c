/* encap.c - IPIP encapsulation headers and outer fragmentation. */
#include "encap.h"

#include <string.h>
#include <netinet/in.h>

static void encap_fill(uint8_t hdr[ENCAP_OUTER_LEN], uint32_t src, uint32_t dst, uint8_t tos,
		       uint16_t total_len, uint16_t id, uint16_t frag)
{
	hdr[0] = WIRE_IPV4_VERS_IHL;
	hdr[1] = tos;
	wire_put16(hdr + 2, total_len);
	wire_put16(hdr + 4, id);
	wire_put16(hdr + 6, frag);
	hdr[8] = WIRE_IPV4_TTL;
	hdr[9] = IPPROTO_IPIP;
	hdr[10] = 0;
	hdr[11] = 0;
	memcpy(hdr + 12, &src, sizeof(src));
	memcpy(hdr + 16, &dst, sizeof(dst));
	wire_put16(hdr + 10, wire_checksum(hdr, ENCAP_OUTER_LEN));
}

/*
 * TOS is copied so DSCP/ECN survive the tunnel (RFC 6040 normal mode); DF is
 * copied so path-MTU discovery keeps working end to end (RFC 2003 3.1).
 * inner_len must not exceed 65535 - 20.
 */
void encap_ipip_header(uint8_t hdr[ENCAP_OUTER_LEN], uint32_t src, uint32_t dst,
		       const uint8_t *inner, uint16_t inner_len, uint16_t id)
{
	uint16_t frag = wire_get16(inner + 6) & WIRE_IP_DF;

	encap_fill(hdr, src, dst, inner[1], (uint16_t)(inner_len + ENCAP_OUTER_LEN), id, frag);
}

/*
 * Fragments the outer packet, never the inner one, so the proxy receives the
 * client's datagram untouched after reassembly. An inner packet with DF set
 * that does not fit is refused (returns 0): the client must be told with
 * ICMP fragmentation-needed instead.
 */
size_t encap_ipip_fragments(struct encap_frag *frags, size_t max, uint32_t src, uint32_t dst,
			    const uint8_t *inner, uint16_t inner_len, uint16_t id, uint16_t mtu)
{
	size_t per, n, off;

	if (mtu < WIRE_IPV4_MTU_MIN || max == 0 || inner_len > WIRE_IPV4_LEN_MAX - ENCAP_OUTER_LEN)
		return 0;
	if ((size_t)inner_len + ENCAP_OUTER_LEN <= mtu) {
		encap_ipip_header(frags[0].hdr, src, dst, inner, inner_len, id);
		frags[0].offset = 0;
		frags[0].len = inner_len;
		return 1;
	}
	if (wire_get16(inner + 6) & WIRE_IP_DF)
		return 0;
	per = (size_t)(mtu - ENCAP_OUTER_LEN) & ~(size_t)(WIRE_IPV4_FRAG_UNIT - 1);
	n = (inner_len + per - 1) / per;
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		uint16_t frag;

		off = i * per;
		len = inner_len - off < per ? inner_len - off : per;
		frag = (uint16_t)(off / WIRE_IPV4_FRAG_UNIT);
		if (i + 1 < n)
			frag |= WIRE_IP_MF;
		encap_fill(frags[i].hdr, src, dst, inner[1], (uint16_t)(len + ENCAP_OUTER_LEN), id,
			   frag);
		frags[i].offset = (uint16_t)off;
		frags[i].len = (uint16_t)len;
	}
	return n;
}
