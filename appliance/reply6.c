/* reply6.c - packets drover itself sends back to an IPv6 client. */
#include "reply6.h"

#include <string.h>
#include <netinet/in.h>

/* Whether addr names one host: not unspecified (RFC 4291 2.5.2), loopback (2.5.3), multicast. */
static bool reply6_is_unicast(const uint8_t addr[WIRE_IPV6_ADDR_LEN])
{
	static const uint8_t zero[WIRE_IPV6_ADDR_LEN];
	static const uint8_t loopback[WIRE_IPV6_ADDR_LEN] = {[WIRE_IPV6_ADDR_LEN - 1] = 1};

	return addr[0] != WIRE_IPV6_MULTICAST && memcmp(addr, zero, sizeof(zero)) != 0 &&
	       memcmp(addr, loopback, sizeof(loopback)) != 0;
}

bool reply6_may_answer(const struct packet6_info *pi)
{
	if (pi->icmp_error || pi->frag_offset != 0)
		return false;
	return reply6_is_unicast(pi->src) && pi->dst[0] != WIRE_IPV6_MULTICAST;
}

/*
 * An ICMPv6 error of type and code whose 4-byte word after the checksum is
 * word, quoting as much of the offending packet as the minimum MTU leaves,
 * as RFC 4443 asks: the client's stack matches the error to its connection
 * or socket by the quote.
 */
static size_t reply6_error(uint8_t *out, size_t cap, const uint8_t src[WIRE_IPV6_ADDR_LEN],
			   const uint8_t *pkt, size_t pkt_len, uint8_t type, uint8_t code,
			   uint32_t word)
{
	size_t quote = pkt_len < REPLY6_QUOTE_MAX ? pkt_len : REPLY6_QUOTE_MAX;
	size_t icmp_len = WIRE_ICMP6_HLEN + quote;
	size_t len = WIRE_IPV6_HLEN + icmp_len;
	uint8_t *icmp = out + WIRE_IPV6_HLEN;

	if (cap < len || pkt_len < WIRE_IPV6_HLEN)
		return 0;
	wire_put32(out, (uint32_t)WIRE_IPV6_VERSION << WIRE_IP6_VERSION_SHIFT);
	wire_put16(out + 4, (uint16_t)icmp_len);
	out[6] = IPPROTO_ICMPV6;
	out[7] = WIRE_IPV6_HOP_LIMIT;
	memcpy(out + 8, src, WIRE_IPV6_ADDR_LEN);
	memcpy(out + 24, pkt + 8, WIRE_IPV6_ADDR_LEN); /* back to the offending packet's source */

	icmp[0] = type;
	icmp[1] = code;
	wire_put16(icmp + 2, 0);
	wire_put32(icmp + 4, word);
	memcpy(icmp + WIRE_ICMP6_HLEN, pkt, quote);
	wire_put16(icmp + 2, wire_checksum6(out + 8, out + 24, IPPROTO_ICMPV6, icmp, icmp_len));
	return len;
}

/* The smaller MTU is recorded by the client for the quoted destination. */
size_t reply6_packet_too_big(uint8_t *out, size_t cap, const uint8_t src[WIRE_IPV6_ADDR_LEN],
			     const uint8_t *pkt, size_t pkt_len, uint32_t mtu)
{
	if (mtu < WIRE_IPV6_MTU_MIN)
		return 0;
	return reply6_error(out, cap, src, pkt, pkt_len, WIRE_ICMP6_PACKET_TOO_BIG, 0, mtu);
}

size_t reply6_unreachable(uint8_t *out, size_t cap, const uint8_t src[WIRE_IPV6_ADDR_LEN],
			  const uint8_t *pkt, size_t pkt_len, uint8_t code)
{
	return reply6_error(out, cap, src, pkt, pkt_len, WIRE_ICMP6_UNREACHABLE, code, 0);
}
