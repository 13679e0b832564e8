/* packet.c - bounds-checked IPv4 parsing of queued packets. */
#include "packet.h"

#include <string.h>
#include <netinet/in.h>

static inline uint32_t packet_addr(const uint8_t *p)
{
	uint32_t a;

	memcpy(&a, p, sizeof(a));
	return a;
}

static bool packet_icmp_is_error(uint8_t type)
{
	return type == WIRE_ICMP_UNREACHABLE || type == WIRE_ICMP_SOURCE_QUENCH ||
	       type == WIRE_ICMP_TIME_EXCEEDED || type == WIRE_ICMP_PARAM_PROBLEM;
}

/*
 * TCP header of an unfragmented packet or a first fragment. A first fragment
 * may legitimately end inside the TCP header (tiny fragments); then the ports
 * are simply unknown. In a whole packet the same shortfall is corruption.
 */
static enum packet_error packet_parse_tcp(const uint8_t *l4, size_t l4len, struct packet_info *out)
{
	uint8_t hlen;

	if (l4len < WIRE_TCP_HLEN_MIN)
		return out->is_fragment ? PACKET_OK : PACKET_ERR_L4_TRUNCATED;
	hlen = (uint8_t)((l4[12] >> 4) * 4);
	if (hlen < WIRE_TCP_HLEN_MIN)
		return PACKET_ERR_TCP_OFFSET;
	if (hlen > l4len)
		return out->is_fragment ? PACKET_OK : PACKET_ERR_TCP_OFFSET;
	out->has_ports = true;
	out->sport = wire_get16(l4);
	out->dport = wire_get16(l4 + 2);
	out->tcp_seq = wire_get32(l4 + 4);
	out->tcp_ack = wire_get32(l4 + 8);
	out->tcp_flags = l4[13];
	out->tcp_hlen = hlen;
	return PACKET_OK;
}

/*
 * UDP header of an unfragmented packet or a first fragment: only its ports
 * are read (the QUIC policy looks at the destination port). As for TCP, a
 * first fragment too short for it leaves the ports unknown.
 */
static enum packet_error packet_parse_udp(const uint8_t *l4, size_t l4len, struct packet_info *out)
{
	if (l4len < WIRE_UDP_HLEN)
		return out->is_fragment ? PACKET_OK : PACKET_ERR_L4_TRUNCATED;
	out->has_ports = true;
	out->sport = wire_get16(l4);
	out->dport = wire_get16(l4 + 2);
	return PACKET_OK;
}

/*
 * ICMP errors are about somebody's flow: the quoted header tells whose. A
 * quote that cannot hold a sane IPv4 header is rejected rather than trusted,
 * because the datapath would otherwise steer the error by garbage.
 */
static enum packet_error packet_parse_icmp(const uint8_t *l4, size_t l4len, struct packet_info *out)
{
	const uint8_t *q;
	size_t qlen, qihl;

	if (l4len < WIRE_ICMP_HLEN)
		return PACKET_ERR_L4_TRUNCATED;
	out->icmp_type = l4[0];
	out->icmp_code = l4[1];
	if (!packet_icmp_is_error(l4[0]))
		return PACKET_OK;
	if (l4len < WIRE_ICMP_HLEN + WIRE_IPV4_HLEN_MIN)
		return PACKET_ERR_L4_TRUNCATED;
	q = l4 + WIRE_ICMP_HLEN;
	qlen = l4len - WIRE_ICMP_HLEN;
	qihl = wire_ip_hlen(q);
	if (wire_ip_version(q) != WIRE_IPV4_VERSION || qihl < WIRE_IPV4_HLEN_MIN || qihl > qlen)
		return PACKET_ERR_L4_TRUNCATED;
	out->icmp_error = true;
	out->quoted_src = packet_addr(q + 12);
	out->quoted_dst = packet_addr(q + 16);
	out->quoted_protocol = q[9];
	/* RFC 792 quotes at least 8 bytes past the header: enough for both ports. */
	if ((q[9] == IPPROTO_TCP || q[9] == IPPROTO_UDP) && qlen >= qihl + 4) {
		out->quoted_has_ports = true;
		out->quoted_sport = wire_get16(q + qihl);
		out->quoted_dport = wire_get16(q + qihl + 2);
	}
	return PACKET_OK;
}

/*
 * The buffer must be exactly the IP datagram: NFQUEUE hands over the packet
 * without link-layer padding, so any difference between total length and
 * buffer length means corruption (or a truncated copy range).
 */
enum packet_error packet_parse(const uint8_t *buf, size_t len, struct packet_info *out)
{
	uint16_t frag;
	size_t payload;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || len < WIRE_IPV4_HLEN_MIN)
		return PACKET_ERR_TRUNCATED;
	if (wire_ip_version(buf) != WIRE_IPV4_VERSION)
		return PACKET_ERR_VERSION;
	out->ihl = (uint8_t)wire_ip_hlen(buf);
	if (out->ihl < WIRE_IPV4_HLEN_MIN || out->ihl > len)
		return PACKET_ERR_IHL;
	out->total_len = wire_get16(buf + 2);
	if (out->total_len < out->ihl || out->total_len != len)
		return PACKET_ERR_TOTAL_LENGTH;

	out->ip_id = wire_get16(buf + 4);
	frag = wire_get16(buf + 6);
	out->df = (frag & WIRE_IP_DF) != 0;
	out->more_fragments = (frag & WIRE_IP_MF) != 0;
	out->frag_offset = (uint16_t)((frag & WIRE_IP_OFFSET_MASK) * WIRE_IPV4_FRAG_UNIT);
	out->is_fragment = out->more_fragments || out->frag_offset != 0;
	out->ttl = buf[8];
	out->protocol = buf[9];
	out->src = packet_addr(buf + 12);
	out->dst = packet_addr(buf + 16);

	payload = out->total_len - out->ihl;
	/* The reassembled datagram could not exist. */
	if ((size_t)out->frag_offset + out->total_len > WIRE_IPV4_LEN_MAX)
		return PACKET_ERR_FRAGMENT;
	/* RFC 791: every fragment but the last carries a non-empty multiple of 8. */
	if (out->more_fragments && (payload == 0 || payload % WIRE_IPV4_FRAG_UNIT != 0))
		return PACKET_ERR_FRAGMENT;
	/* Later fragments carry no transport header: nothing more to learn. */
	if (out->frag_offset != 0)
		return PACKET_OK;

	switch (out->protocol) {
	case IPPROTO_TCP:
		return packet_parse_tcp(buf + out->ihl, payload, out);
	case IPPROTO_UDP:
		return packet_parse_udp(buf + out->ihl, payload, out);
	case IPPROTO_ICMP:
		return packet_parse_icmp(buf + out->ihl, payload, out);
	default:
		return PACKET_OK;
	}
}

static const char *const packet_error_names[PACKET_ERR_COUNT] = {
    [PACKET_OK] = "ok",
    [PACKET_ERR_TRUNCATED] = "truncated",
    [PACKET_ERR_VERSION] = "version",
    [PACKET_ERR_IHL] = "ihl",
    [PACKET_ERR_TOTAL_LENGTH] = "total_length",
    [PACKET_ERR_FRAGMENT] = "fragment",
    [PACKET_ERR_L4_TRUNCATED] = "l4_truncated",
    [PACKET_ERR_TCP_OFFSET] = "tcp_offset",
};

const char *packet_error_name(enum packet_error err)
{
	if ((unsigned)err >= PACKET_ERR_COUNT)
		return "unknown";
	return packet_error_names[err];
}
