/* encap.c - IPIP encapsulation headers and outer fragmentation. */
#include "encap.h"

#include <string.h>

#define ENCAP_MIN_MTU  68 /* RFC 791: every IPv4 link carries 68 bytes unfragmented */
#define ENCAP_IP_DF    0x4000
#define ENCAP_IP_MF    0x2000
#define ENCAP_VERS_IHL 0x45

static inline void encap_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * Sums big-endian 16-bit words (an odd last byte is the high half of a word)
 * and returns the one's complement of the folded sum in host order: store it
 * big-endian. Summed over a header that already holds its checksum, the
 * result is 0, which is how receivers verify it.
 */
uint16_t encap_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < len)
		sum += (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void encap_fill(uint8_t hdr[ENCAP_OUTER_LEN], uint32_t src, uint32_t dst, uint8_t tos,
		       uint16_t total_len, uint16_t id, uint16_t frag)
{
	hdr[0] = ENCAP_VERS_IHL;
	hdr[1] = tos;
	encap_put16(hdr + 2, total_len);
	encap_put16(hdr + 4, id);
	encap_put16(hdr + 6, frag);
	hdr[8] = ENCAP_TTL;
	hdr[9] = IPPROTO_IPIP_NUM;
	hdr[10] = 0;
	hdr[11] = 0;
	memcpy(hdr + 12, &src, sizeof(src));
	memcpy(hdr + 16, &dst, sizeof(dst));
	encap_put16(hdr + 10, encap_checksum(hdr, ENCAP_OUTER_LEN));
}

/*
 * TOS is copied so DSCP/ECN survive the tunnel (RFC 6040 normal mode); DF is
 * copied so path-MTU discovery keeps working end to end (RFC 2003 3.1).
 * inner_len must not exceed 65535 - 20.
 */
void encap_ipip_header(uint8_t hdr[ENCAP_OUTER_LEN], uint32_t src, uint32_t dst,
		       const uint8_t *inner, uint16_t inner_len, uint16_t id)
{
	uint16_t frag = (inner[6] & 0x40) ? ENCAP_IP_DF : 0;

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

	if (mtu < ENCAP_MIN_MTU || max == 0 || inner_len > 65535 - ENCAP_OUTER_LEN)
		return 0;
	if ((size_t)inner_len + ENCAP_OUTER_LEN <= mtu) {
		encap_ipip_header(frags[0].hdr, src, dst, inner, inner_len, id);
		frags[0].offset = 0;
		frags[0].len = inner_len;
		return 1;
	}
	if (inner[6] & 0x40)
		return 0;
	per = (size_t)(mtu - ENCAP_OUTER_LEN) & ~(size_t)7;
	n = (inner_len + per - 1) / per;
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		uint16_t frag;

		off = i * per;
		len = inner_len - off < per ? inner_len - off : per;
		frag = (uint16_t)(off / 8);
		if (i + 1 < n)
			frag |= ENCAP_IP_MF;
		encap_fill(frags[i].hdr, src, dst, inner[1], (uint16_t)(len + ENCAP_OUTER_LEN), id,
			   frag);
		frags[i].offset = (uint16_t)off;
		frags[i].len = (uint16_t)len;
	}
	return n;
}
