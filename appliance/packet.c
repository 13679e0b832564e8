/* packet.c - bounds-checked IPv4 parsing of queued packets. */
#include "packet.h"

#include <string.h>

#define IPV4_MIN_HLEN	 20
#define IPV4_MAX_LEN	 65535
#define IP_FLAG_DF	 0x4000
#define IP_FLAG_MF	 0x2000
#define IP_OFFSET_MASK	 0x1fff
#define TCP_MIN_HLEN	 20
#define ICMP_HLEN	 8
#define PROTO_ICMP	 1
#define PROTO_TCP	 6
#define PROTO_UDP	 17
#define ICMP_UNREACHABLE 3
#define ICMP_QUENCH	 4
#define ICMP_TIME_EXCEED 11
#define ICMP_PARAMPROB	 12

static inline uint16_t packet_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t packet_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t packet_addr(const uint8_t *p)
{
	uint32_t a;

	memcpy(&a, p, sizeof(a));
	return a;
}

static bool packet_icmp_is_error(uint8_t type)
{
	return type == ICMP_UNREACHABLE || type == ICMP_QUENCH || type == ICMP_TIME_EXCEED ||
	       type == ICMP_PARAMPROB;
}

/*
 * TCP header of an unfragmented packet or a first fragment. A first fragment
 * may legitimately end inside the TCP header (tiny fragments); then the ports
 * are simply unknown. In a whole packet the same shortfall is corruption.
 */
static enum packet_error packet_parse_tcp(const uint8_t *l4, size_t l4len, struct packet_info *out)
{
	uint8_t hlen;

	if (l4len < TCP_MIN_HLEN)
		return out->is_fragment ? PACKET_OK : PACKET_ERR_L4_TRUNCATED;
	hlen = (uint8_t)((l4[12] >> 4) * 4);
	if (hlen < TCP_MIN_HLEN)
		return PACKET_ERR_TCP_OFFSET;
	if (hlen > l4len)
		return out->is_fragment ? PACKET_OK : PACKET_ERR_TCP_OFFSET;
	out->has_ports = true;
	out->sport = packet_be16(l4);
	out->dport = packet_be16(l4 + 2);
	out->tcp_seq = packet_be32(l4 + 4);
	out->tcp_ack = packet_be32(l4 + 8);
	out->tcp_flags = l4[13];
	out->tcp_hlen = hlen;
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

	if (l4len < ICMP_HLEN)
		return PACKET_ERR_L4_TRUNCATED;
	out->icmp_type = l4[0];
	out->icmp_code = l4[1];
	if (!packet_icmp_is_error(l4[0]))
		return PACKET_OK;
	if (l4len < ICMP_HLEN + IPV4_MIN_HLEN)
		return PACKET_ERR_L4_TRUNCATED;
	q = l4 + ICMP_HLEN;
	qlen = l4len - ICMP_HLEN;
	qihl = (size_t)(q[0] & 0x0f) * 4;
	if ((q[0] >> 4) != 4 || qihl < IPV4_MIN_HLEN || qihl > qlen)
		return PACKET_ERR_L4_TRUNCATED;
	out->icmp_error = true;
	out->quoted_src = packet_addr(q + 12);
	out->quoted_dst = packet_addr(q + 16);
	out->quoted_protocol = q[9];
	/* RFC 792 quotes at least 8 bytes past the header: enough for both ports. */
	if ((q[9] == PROTO_TCP || q[9] == PROTO_UDP) && qlen >= qihl + 4) {
		out->quoted_has_ports = true;
		out->quoted_sport = packet_be16(q + qihl);
		out->quoted_dport = packet_be16(q + qihl + 2);
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
	if (buf == NULL || len < IPV4_MIN_HLEN)
		return PACKET_ERR_TRUNCATED;
	if ((buf[0] >> 4) != 4)
		return PACKET_ERR_VERSION;
	out->ihl = (uint8_t)((buf[0] & 0x0f) * 4);
	if (out->ihl < IPV4_MIN_HLEN || out->ihl > len)
		return PACKET_ERR_IHL;
	out->total_len = packet_be16(buf + 2);
	if (out->total_len < out->ihl || out->total_len != len)
		return PACKET_ERR_TOTAL_LENGTH;

	out->tos = buf[1];
	out->ip_id = packet_be16(buf + 4);
	frag = packet_be16(buf + 6);
	out->df = (frag & IP_FLAG_DF) != 0;
	out->more_fragments = (frag & IP_FLAG_MF) != 0;
	out->frag_offset = (uint16_t)((frag & IP_OFFSET_MASK) * 8);
	out->is_fragment = out->more_fragments || out->frag_offset != 0;
	out->ttl = buf[8];
	out->protocol = buf[9];
	out->src = packet_addr(buf + 12);
	out->dst = packet_addr(buf + 16);

	payload = out->total_len - out->ihl;
	/* The reassembled datagram could not exist. */
	if ((size_t)out->frag_offset + out->total_len > IPV4_MAX_LEN)
		return PACKET_ERR_FRAGMENT;
	/* RFC 791: every fragment but the last carries a non-empty multiple of 8. */
	if (out->more_fragments && (payload == 0 || payload % 8 != 0))
		return PACKET_ERR_FRAGMENT;
	/* Later fragments carry no transport header: nothing more to learn. */
	if (out->frag_offset != 0)
		return PACKET_OK;

	switch (out->protocol) {
	case PROTO_TCP:
		return packet_parse_tcp(buf + out->ihl, payload, out);
	case PROTO_ICMP:
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
