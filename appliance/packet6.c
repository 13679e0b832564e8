/* packet6.c - bounds-checked IPv6 parsing of queued packets. */
#include "packet6.h"

#include <string.h>
#include <netinet/in.h>

/* Where the walk of one header chain ended. */
struct packet6_chain {
	uint8_t protocol;   /* the upper-layer next header value */
	uint16_t l4_offset; /* where the upper-layer header starts */
	uint8_t ext_count;
	bool has_frag_header;
	bool more_fragments;
	uint16_t frag_offset; /* bytes */
	uint32_t frag_id;
	uint16_t frag_header_offset;
};

/* Whether next header nh is an extension header drover walks (else: the upper layer). */
static bool packet6_is_ext(uint8_t nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_AH || nh == IPPROTO_FRAGMENT;
}

/* The length of the extension header of type nh at p (its first two bytes readable). */
static size_t packet6_ext_len(uint8_t nh, const uint8_t *p)
{
	switch (nh) {
	case IPPROTO_AH:
		return ((size_t)p[1] + WIRE_IPV6_AH_BIAS) * WIRE_IPV6_AH_UNIT;
	case IPPROTO_FRAGMENT:
		return WIRE_IPV6_FRAG_HLEN;
	default: /* hop-by-hop, routing, destination options */
		return ((size_t)p[1] + 1) * WIRE_IPV6_EXT_UNIT;
	}
}

/*
 * Walks the header chain that starts with next header nh at buf + off.
 * Every header's own length is checked against len before it is read, and
 * the walk ends at the upper layer, at a later fragment (its next headers
 * are in another packet) or with an error; never more than PACKET6_EXT_MAX
 * steps, so a chain of any length costs a bounded time.
 */
static enum packet6_error packet6_walk(const uint8_t *buf, size_t len, uint8_t nh, size_t off,
				       struct packet6_chain *c)
{
	memset(c, 0, sizeof(*c));
	while (packet6_is_ext(nh)) {
		size_t hlen;

		if (c->ext_count == PACKET6_EXT_MAX)
			return PACKET6_ERR_EXT_COUNT;
		/* RFC 8200 4.3: hop-by-hop options only ever follow the IPv6 header. */
		if (nh == IPPROTO_HOPOPTS && c->ext_count != 0)
			return PACKET6_ERR_EXT_ORDER;
		if (nh == IPPROTO_FRAGMENT && c->has_frag_header)
			return PACKET6_ERR_EXT_ORDER;
		if (len - off < WIRE_IPV6_EXT_MIN)
			return PACKET6_ERR_EXT_TRUNCATED;
		hlen = packet6_ext_len(nh, buf + off);
		if (hlen > len - off)
			return PACKET6_ERR_EXT_TRUNCATED;
		c->ext_count++;
		if (nh == IPPROTO_FRAGMENT) {
			uint16_t word = wire_get16(buf + off + 2);

			c->has_frag_header = true;
			c->frag_header_offset = (uint16_t)off;
			c->frag_offset = word & WIRE_IP6_OFFSET_MASK;
			c->more_fragments = (word & WIRE_IP6_MF) != 0;
			c->frag_id = wire_get32(buf + off + 4);
			if (c->frag_offset != 0) {
				/* A later fragment: what follows is data, whatever it says. */
				c->protocol = buf[off];
				c->l4_offset = (uint16_t)(off + hlen);
				return PACKET6_OK;
			}
		}
		nh = buf[off];
		off += hlen;
	}
	c->protocol = nh;
	c->l4_offset = (uint16_t)off;
	return PACKET6_OK;
}

/*
 * The TCP or UDP header at l4. A first fragment must hold it whole
 * (RFC 7112); in a whole packet the same shortfall is corruption.
 */
static enum packet6_error packet6_parse_ports(const uint8_t *l4, size_t l4len,
					      struct packet6_info *out)
{
	enum packet6_error cut =
	    out->is_fragment ? PACKET6_ERR_FIRST_FRAGMENT : PACKET6_ERR_L4_TRUNCATED;
	uint8_t hlen;

	if (out->protocol == IPPROTO_UDP) {
		if (l4len < WIRE_UDP_HLEN)
			return cut;
	} else {
		if (l4len < WIRE_TCP_HLEN_MIN)
			return cut;
		hlen = (uint8_t)((l4[12] >> 4) * 4);
		if (hlen < WIRE_TCP_HLEN_MIN)
			return PACKET6_ERR_TCP_OFFSET;
		if (hlen > l4len)
			return out->is_fragment ? PACKET6_ERR_FIRST_FRAGMENT
						: PACKET6_ERR_TCP_OFFSET;
		out->tcp_seq = wire_get32(l4 + 4);
		out->tcp_ack = wire_get32(l4 + 8);
		out->tcp_flags = l4[13];
		out->tcp_hlen = hlen;
	}
	out->has_ports = true;
	out->sport = wire_get16(l4);
	out->dport = wire_get16(l4 + 2);
	return PACKET6_OK;
}

static bool packet6_icmp_is_error(uint8_t type)
{
	return type == WIRE_ICMP6_UNREACHABLE || type == WIRE_ICMP6_PACKET_TOO_BIG ||
	       type == WIRE_ICMP6_TIME_EXCEEDED || type == WIRE_ICMP6_PARAM_PROBLEM;
}

/*
 * An ICMPv6 error is about somebody's flow: the quoted header tells whose.
 * The quote is cut wherever the sender chose (RFC 4443 2.4 (c)), so its
 * payload length is not checked and its chain is walked only as far as it
 * goes. A quote without a sane IPv6 header, or naming an IPv4-mapped
 * destination (it would pose as an IPv4 client), is refused rather than
 * trusted: the datapath would otherwise steer the error by garbage.
 */
static enum packet6_error packet6_parse_icmp(const uint8_t *l4, size_t l4len,
					     struct packet6_info *out)
{
	const uint8_t *q;
	size_t qlen;
	struct packet6_chain c;

	if (l4len < WIRE_ICMP6_HLEN)
		return out->is_fragment ? PACKET6_ERR_FIRST_FRAGMENT : PACKET6_ERR_L4_TRUNCATED;
	out->icmp_type = l4[0];
	out->icmp_code = l4[1];
	if (!packet6_icmp_is_error(l4[0]))
		return PACKET6_OK;
	q = l4 + WIRE_ICMP6_HLEN;
	qlen = l4len - WIRE_ICMP6_HLEN;
	if (qlen < WIRE_IPV6_HLEN || wire_ip_version(q) != WIRE_IPV6_VERSION ||
	    client_addr_is_ipv4_mapped(q + 24))
		return PACKET6_ERR_ICMP_QUOTE;
	out->icmp_error = true;
	memcpy(out->quoted_src, q + 8, WIRE_IPV6_ADDR_LEN);
	memcpy(out->quoted_dst, q + 24, WIRE_IPV6_ADDR_LEN);
	out->quoted_protocol = IPPROTO_NONE;
	if (packet6_walk(q, qlen, q[6], WIRE_IPV6_HLEN, &c) != PACKET6_OK || c.frag_offset != 0)
		return PACKET6_OK;
	out->quoted_protocol = c.protocol;
	/* Both ports are the first four bytes of TCP and of UDP. */
	if ((c.protocol == IPPROTO_TCP || c.protocol == IPPROTO_UDP) && qlen - c.l4_offset >= 4) {
		out->quoted_has_ports = true;
		out->quoted_sport = wire_get16(q + c.l4_offset);
		out->quoted_dport = wire_get16(q + c.l4_offset + 2);
	}
	return PACKET6_OK;
}

/*
 * RFC 8200 4.5: every fragment but the last carries a non-empty multiple of
 * 8 bytes, and the datagram they rebuild fits a 16-bit payload length.
 */
static enum packet6_error packet6_check_fragment(size_t len, const struct packet6_chain *c)
{
	size_t unfragmentable = (size_t)c->frag_header_offset - WIRE_IPV6_HLEN;
	size_t fragment = len - c->frag_header_offset - WIRE_IPV6_FRAG_HLEN;

	if (c->more_fragments && (fragment == 0 || fragment % WIRE_IPV6_FRAG_UNIT != 0))
		return PACKET6_ERR_FRAGMENT;
	if (unfragmentable + c->frag_offset + fragment > WIRE_IPV6_PAYLOAD_MAX)
		return PACKET6_ERR_FRAGMENT;
	return PACKET6_OK;
}

/*
 * The buffer must be exactly the IPv6 datagram: NFQUEUE hands over the
 * packet without link-layer padding, so any difference between the payload
 * length and the buffer means corruption (or a truncated copy range). A
 * payload length of 0 with a jumbo option (RFC 2675) is refused the same
 * way: no link drover serves carries jumbograms.
 */
enum packet6_error packet6_parse(const uint8_t *buf, size_t len, struct packet6_info *out)
{
	struct packet6_chain c;
	enum packet6_error err;
	uint32_t word0;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || len < WIRE_IPV6_HLEN)
		return PACKET6_ERR_TRUNCATED;
	if (wire_ip_version(buf) != WIRE_IPV6_VERSION)
		return PACKET6_ERR_VERSION;
	out->payload_len = wire_get16(buf + 4);
	if ((size_t)out->payload_len + WIRE_IPV6_HLEN != len)
		return PACKET6_ERR_PAYLOAD_LENGTH;
	word0 = wire_get32(buf);
	out->traffic_class = (uint8_t)((word0 >> WIRE_IP6_TCLASS_SHIFT) & WIRE_IP6_TCLASS_MASK);
	out->flow_label = word0 & WIRE_IP6_FLOW_MASK;
	out->hop_limit = buf[7];
	memcpy(out->src, buf + 8, WIRE_IPV6_ADDR_LEN);
	memcpy(out->dst, buf + 24, WIRE_IPV6_ADDR_LEN);
	/* RFC 4291 2.7: never a multicast source; a mapped one would pose as an IPv4 client. */
	if (out->src[0] == WIRE_IPV6_MULTICAST || client_addr_is_ipv4_mapped(out->src))
		return PACKET6_ERR_SOURCE;

	err = packet6_walk(buf, len, buf[6], WIRE_IPV6_HLEN, &c);
	if (err != PACKET6_OK)
		return err;
	out->protocol = c.protocol;
	out->l4_offset = c.l4_offset;
	out->ext_count = c.ext_count;
	out->has_frag_header = c.has_frag_header;
	if (c.has_frag_header) {
		out->more_fragments = c.more_fragments;
		out->frag_offset = c.frag_offset;
		out->frag_id = c.frag_id;
		out->frag_header_offset = c.frag_header_offset;
		out->is_fragment = c.more_fragments || c.frag_offset != 0;
		err = packet6_check_fragment(len, &c);
		if (err != PACKET6_OK)
			return err;
	}
	/* Later fragments carry no transport header: nothing more to learn. */
	if (out->frag_offset != 0)
		return PACKET6_OK;

	switch (out->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		return packet6_parse_ports(buf + out->l4_offset, len - out->l4_offset, out);
	case IPPROTO_ICMPV6:
		return packet6_parse_icmp(buf + out->l4_offset, len - out->l4_offset, out);
	default:
		return PACKET6_OK;
	}
}

static const char *const packet6_error_names[PACKET6_ERR_COUNT] = {
    [PACKET6_OK] = "ok",
    [PACKET6_ERR_TRUNCATED] = "truncated",
    [PACKET6_ERR_VERSION] = "version",
    [PACKET6_ERR_PAYLOAD_LENGTH] = "payload_length",
    [PACKET6_ERR_SOURCE] = "source",
    [PACKET6_ERR_EXT_TRUNCATED] = "ext_truncated",
    [PACKET6_ERR_EXT_COUNT] = "ext_count",
    [PACKET6_ERR_EXT_ORDER] = "ext_order",
    [PACKET6_ERR_FRAGMENT] = "fragment",
    [PACKET6_ERR_FIRST_FRAGMENT] = "first_fragment",
    [PACKET6_ERR_L4_TRUNCATED] = "l4_truncated",
    [PACKET6_ERR_TCP_OFFSET] = "tcp_offset",
    [PACKET6_ERR_ICMP_QUOTE] = "icmp_quote",
};

const char *packet6_error_name(enum packet6_error err)
{
	if ((unsigned)err >= PACKET6_ERR_COUNT)
		return "unknown";
	return packet6_error_names[err];
}
