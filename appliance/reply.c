/* reply.c - packets drover itself sends back to a client. */
#include "reply.h"

#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "wire.h"

/* Address blocks, by their first octet, that name no single host (RFC 1122 3.2.1.3, 3.2.2). */
enum reply_first_octet {
	REPLY_NET_THIS = 0,	   /* 0/8: "this network" */
	REPLY_NET_LOOPBACK = 127,  /* 127/8 */
	REPLY_NET_MULTICAST = 224, /* 224/4 multicast, then 240/4 reserved and the broadcast */
};

/* Replies carry no IP or TCP options. */
#define REPLY_IP_HLEN	WIRE_IPV4_HLEN_MIN
#define REPLY_TCP_HLEN	WIRE_TCP_HLEN_MIN
#define REPLY_QUOTE_MAX (REPLY_MAX_LEN - REPLY_IP_HLEN - WIRE_ICMP_HLEN)
/* Addresses, a zero byte, the protocol and the TCP length (RFC 9293 3.1). */
#define REPLY_PSEUDO_HLEN 12

static uint8_t reply_first_octet(uint32_t addr)
{
	return (uint8_t)(ntohl(addr) >> 24);
}

bool reply_may_answer(const struct packet_info *pi)
{
	uint8_t src = reply_first_octet(pi->src);

	if (pi->icmp_error || pi->frag_offset != 0)
		return false;
	if (src == REPLY_NET_THIS || src == REPLY_NET_LOOPBACK || src >= REPLY_NET_MULTICAST)
		return false;
	return reply_first_octet(pi->dst) < REPLY_NET_MULTICAST;
}

/*
 * Quotes as much of the offending packet as fits a 576-byte datagram
 * (RFC 1812 4.3.2.3): more than the classic header + 8 bytes helps the client
 * match the error to its flow.
 */
static size_t reply_icmp(uint8_t *out, size_t cap, const uint8_t *pkt, size_t pkt_len, uint8_t code,
			 uint16_t mtu)
{
	size_t quote = pkt_len < REPLY_QUOTE_MAX ? pkt_len : REPLY_QUOTE_MAX;
	size_t len = WIRE_ICMP_HLEN + quote;

	if (cap < len)
		return 0;
	out[0] = WIRE_ICMP_UNREACHABLE;
	out[1] = code;
	wire_put16(out + 2, 0);
	wire_put16(out + 4, 0);
	wire_put16(out + 6, mtu);
	memcpy(out + WIRE_ICMP_HLEN, pkt, quote);
	wire_put16(out + 2, wire_checksum(out, len));
	return len;
}

size_t reply_frag_needed(uint8_t *out, size_t cap, const uint8_t *pkt, size_t pkt_len, uint16_t mtu)
{
	return reply_icmp(out, cap, pkt, pkt_len, WIRE_ICMP_FRAG_NEEDED, mtu);
}

/* The MTU field is only meaningful for code 4 (RFC 1191); other codes leave it 0. */
size_t reply_icmp_unreachable(uint8_t *out, size_t cap, const uint8_t *pkt, size_t pkt_len,
			      uint8_t code)
{
	return reply_icmp(out, cap, pkt, pkt_len, code, 0);
}

size_t reply_port_unreachable(uint8_t *out, size_t cap, const uint8_t *pkt, size_t pkt_len)
{
	return reply_icmp(out, cap, pkt, pkt_len, WIRE_ICMP_PORT_UNREACHABLE, 0);
}

/*
 * Follows RFC 793 "reset generation": the answer must be acceptable to the
 * client's TCP, so it either carries the sequence number the client expects
 * (its ACK) or acknowledges exactly what it sent. Fragments are refused: the
 * segment length of a fragmented segment is unknown. Never answers a RST,
 * which would let two resetters ping-pong forever.
 */
size_t reply_tcp_reset(uint8_t *out, size_t cap, const struct packet_info *pi)
{
	const size_t len = REPLY_IP_HLEN + REPLY_TCP_HLEN;
	uint8_t *tcp = out + REPLY_IP_HLEN;
	uint8_t pseudo[REPLY_PSEUDO_HLEN + REPLY_TCP_HLEN];
	uint32_t seq = 0, ack = 0;
	uint8_t flags = WIRE_TCP_RST;

	if (cap < len || pi->protocol != IPPROTO_TCP || !pi->has_ports || pi->is_fragment ||
	    (pi->tcp_flags & WIRE_TCP_RST))
		return 0;
	if (pi->tcp_flags & WIRE_TCP_ACK) {
		seq = pi->tcp_ack;
	} else {
		uint32_t seglen = (uint32_t)(pi->total_len - pi->ihl - pi->tcp_hlen);

		if (pi->tcp_flags & WIRE_TCP_SYN)
			seglen++;
		if (pi->tcp_flags & WIRE_TCP_FIN)
			seglen++;
		ack = pi->tcp_seq + seglen;
		flags |= WIRE_TCP_ACK;
	}

	memset(out, 0, len);
	out[0] = WIRE_IPV4_VERS_IHL;
	wire_put16(out + 2, (uint16_t)len);
	wire_put16(out + 6, WIRE_IP_DF);
	out[8] = WIRE_IPV4_TTL;
	out[9] = IPPROTO_TCP;
	memcpy(out + 12, &pi->dst, 4);
	memcpy(out + 16, &pi->src, 4);
	wire_put16(out + 10, wire_checksum(out, REPLY_IP_HLEN));

	wire_put16(tcp, pi->dport);
	wire_put16(tcp + 2, pi->sport);
	wire_put32(tcp + 4, seq);
	wire_put32(tcp + 8, ack);
	tcp[12] = (REPLY_TCP_HLEN / 4) << 4;
	tcp[13] = flags;

	/* The TCP checksum covers a pseudo-header of addresses, protocol and length. */
	memcpy(pseudo, out + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	wire_put16(pseudo + 10, REPLY_TCP_HLEN);
	memcpy(pseudo + REPLY_PSEUDO_HLEN, tcp, REPLY_TCP_HLEN);
	wire_put16(tcp + 16, wire_checksum(pseudo, sizeof(pseudo)));
	return len;
}
