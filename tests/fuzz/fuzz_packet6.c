/*
 * fuzz_packet6.c - the IPv6 parser and the pure IPv6 builders on their own:
 * parse, then for a packet that parses, the client identity (widened and
 * hashed), both encapsulations and the Packet Too Big.
 *
 * The parser must never read outside the buffer (libFuzzer and the replay
 * hand it a heap block of the input's exact size, so ASan sees an overread)
 * and what it reports must agree with the bytes: the header chain is walked
 * again here, by a second and simpler walk, to the same upper layer.
 *
 * Input: 3 knob bytes, then the IPv6 packet.
 *   knob[0..1] tunnel MTU for the Packet Too Big (big-endian, mapped into
 *              1200..65535: below 1280 the builder must refuse)
 *   knob[2]    prefix length the client is widened to (mod 129)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "client.h"
#include "encap6.h"
#include "hash.h"
#include "packet6.h"
#include "reply6.h"

#undef NDEBUG
#include <assert.h>

#define FUZZ_KNOBS   3
#define FUZZ_MTU_MIN 1200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_key[HASH_KEY_BYTES] = "drover-fuzz-key";
static const uint8_t fuzz_appliance[WIRE_IPV6_ADDR_LEN] = {0x20, 0x01, 0x0d,	0xb8,
							   0,	 0x0a, [15] = 1};
static const uint8_t fuzz_proxy[WIRE_IPV6_ADDR_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x0b, [15] = 2};

/*
 * The chain walked again, as RFC 8200 describes it rather than as
 * packet6.c does: ext_count headers, each long as its own length field
 * says, must lead exactly to the reported upper layer.
 */
static void fuzz_check_chain(const uint8_t *p, size_t len, const struct packet6_info *pi)
{
	size_t off = WIRE_IPV6_HLEN;
	uint8_t nh = p[6];
	bool later = false;

	for (unsigned i = 0; i < pi->ext_count; i++) {
		size_t hlen;

		assert(off + 8 <= len);
		switch (nh) {
		case IPPROTO_HOPOPTS:
			assert(i == 0);
			/* fall through */
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			hlen = ((size_t)p[off + 1] + 1) * 8;
			break;
		case IPPROTO_AH:
			hlen = ((size_t)p[off + 1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			assert(pi->has_frag_header && pi->frag_header_offset == off);
			assert(pi->frag_id == wire_get32(p + off + 4));
			assert(pi->frag_offset == (wire_get16(p + off + 2) & 0xfff8));
			later = pi->frag_offset != 0;
			hlen = 8;
			break;
		default:
			abort(); /* not an extension header, yet counted as one */
		}
		assert(off + hlen <= len);
		nh = p[off];
		off += hlen;
		if (later)
			assert(i + 1 == pi->ext_count);
	}
	assert(off == pi->l4_offset);
	assert(nh == pi->protocol);
	if (!later)
		assert(nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
		       nh != IPPROTO_AH && nh != IPPROTO_FRAGMENT);
}

/* What a successful parse reports agrees with the bytes. */
static void fuzz_check_info(const uint8_t *p, size_t len, const struct packet6_info *pi)
{
	assert((size_t)pi->payload_len + WIRE_IPV6_HLEN == len);
	assert(memcmp(pi->src, p + 8, 16) == 0 && memcmp(pi->dst, p + 24, 16) == 0);
	assert(pi->traffic_class == (uint8_t)(wire_get32(p) >> 20));
	assert(pi->flow_label == (wire_get32(p) & 0xfffff));
	assert(pi->hop_limit == p[7]);
	assert(pi->src[0] != 0xff && !client_addr_is_ipv4_mapped(pi->src));
	assert(pi->ext_count <= PACKET6_EXT_MAX);
	assert(pi->l4_offset >= WIRE_IPV6_HLEN && pi->l4_offset <= len);
	assert(pi->is_fragment == (pi->more_fragments || pi->frag_offset != 0));
	assert(pi->has_frag_header || (!pi->is_fragment && pi->frag_id == 0));
	fuzz_check_chain(p, len, pi);
	if (pi->is_fragment) {
		size_t frag = len - pi->frag_header_offset - 8;

		assert(!pi->more_fragments || (frag > 0 && frag % 8 == 0));
		assert(pi->frag_header_offset - 40 + (size_t)pi->frag_offset + frag <= 65535);
	}
	if (pi->has_ports) {
		size_t need = pi->protocol == IPPROTO_TCP ? pi->tcp_hlen : WIRE_UDP_HLEN;

		assert(pi->protocol == IPPROTO_TCP || pi->protocol == IPPROTO_UDP);
		assert(pi->frag_offset == 0);
		assert(need >= 8 && pi->l4_offset + need <= len);
		assert(pi->sport == wire_get16(p + pi->l4_offset));
		assert(pi->dport == wire_get16(p + pi->l4_offset + 2));
	} else if (pi->frag_offset == 0) {
		/* a whole packet or first fragment of TCP/UDP always has its ports */
		assert(pi->protocol != IPPROTO_TCP && pi->protocol != IPPROTO_UDP);
	}
	if (pi->icmp_error) {
		const uint8_t *q = p + pi->l4_offset + WIRE_ICMP6_HLEN;

		assert(pi->protocol == IPPROTO_ICMPV6 && pi->frag_offset == 0);
		assert(pi->icmp_type >= 1 && pi->icmp_type <= 4);
		assert((size_t)pi->l4_offset + WIRE_ICMP6_HLEN + WIRE_IPV6_HLEN <= len);
		assert(memcmp(pi->quoted_src, q + 8, 16) == 0);
		assert(memcmp(pi->quoted_dst, q + 24, 16) == 0);
		assert(!client_addr_is_ipv4_mapped(pi->quoted_dst));
		assert(!pi->quoted_has_ports || pi->quoted_protocol == IPPROTO_TCP ||
		       pi->quoted_protocol == IPPROTO_UDP);
	} else {
		assert(!pi->quoted_has_ports);
	}
}

/* The client: one identity, widened and hashed consistently, its text form round-trips. */
static void fuzz_check_client(const struct packet6_info *pi, unsigned int prefix)
{
	struct client_id id = packet6_client(pi), wide = client_widen(&id, prefix), again, back;
	char text[CLIENT_TEXT_MAX];

	assert(!client_is_ipv4(&id));
	again = client_widen(&wide, prefix);
	assert(client_equal(&again, &wide));
	assert(hash_client_id(fuzz_key, &again) == hash_client_id(fuzz_key, &wide));
	again = client_widen(&id, CLIENT_PREFIX_MAX);
	assert(client_equal(&again, &id));
	assert(client_format(&id, text, sizeof(text)) == 0);
	assert(client_parse(text, &back) && client_equal(&back, &id));
}

/* Both encapsulations and the Packet Too Big, for a packet that parses. */
static void fuzz_builders(const uint8_t *p, size_t len, uint32_t mtu)
{
	uint8_t hdr6[ENCAP6_IP6IP6_LEN], hdr4[ENCAP6_6IN4_LEN];
	static uint8_t out[REPLY6_MAX_LEN];
	struct packet6_info pi;
	size_t n;

	/* a packet of 40 + 65535 bytes is valid IPv6, but no payload length says it again */
	if (len > WIRE_IPV6_PAYLOAD_MAX) {
		assert(encap6_ip6ip6_header(hdr6, fuzz_appliance, fuzz_proxy, p, len) == -EMSGSIZE);
	} else {
		assert(encap6_ip6ip6_header(hdr6, fuzz_appliance, fuzz_proxy, p, len) == 0);
		assert(wire_get32(hdr6) >> 28 == 6 &&
		       (wire_get32(hdr6) & 0x0fffffff) == (wire_get32(p) & 0x0fffffff));
		assert(wire_get16(hdr6 + 4) == len && hdr6[6] == IPPROTO_IPV6);
	}
	if (len <= 65535 - ENCAP6_6IN4_LEN) {
		assert(encap6_6in4_header(hdr4, 1, 2, p, len, 7) == 0);
		assert(wire_checksum(hdr4, sizeof(hdr4)) == 0);
		assert(wire_get16(hdr4 + 2) == len + ENCAP6_6IN4_LEN && hdr4[9] == IPPROTO_IPV6);
	} else {
		assert(encap6_6in4_header(hdr4, 1, 2, p, len, 7) == -EMSGSIZE);
	}

	n = reply6_packet_too_big(out, sizeof(out), fuzz_appliance, p, len, mtu);
	if (mtu < WIRE_IPV6_MTU_MIN) {
		assert(n == 0);
		return;
	}
	assert(n >= WIRE_IPV6_HLEN + WIRE_ICMP6_HLEN + WIRE_IPV6_HLEN && n <= REPLY6_MAX_LEN);
	assert(n == (len < REPLY6_QUOTE_MAX ? len : REPLY6_QUOTE_MAX) + 48);
	assert(wire_checksum6(out + 8, out + 24, IPPROTO_ICMPV6, out + 40, n - 40) == 0);
	assert(memcmp(out + 24, p + 8, 16) == 0);
	assert(memcmp(out + 48, p, n - 48) == 0);
	assert(reply6_packet_too_big(out, n - 1, fuzz_appliance, p, len, mtu) == 0);
	/* the error is one drover itself would parse, and it names the client */
	enum packet6_error err = packet6_parse(out, n, &pi);
	if (client_addr_is_ipv4_mapped(p + 24)) {
		assert(err == PACKET6_ERR_ICMP_QUOTE);
	} else {
		assert(err == PACKET6_OK && pi.icmp_error);
		assert(memcmp(pi.quoted_src, p + 8, 16) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct packet6_info pi, again;
	enum packet6_error err;
	const uint8_t *p;
	size_t len;
	uint32_t mtu;

	if (size < FUZZ_KNOBS)
		return 0;
	mtu = FUZZ_MTU_MIN + wire_get16(data) % (65535 - FUZZ_MTU_MIN + 1);
	p = data + FUZZ_KNOBS;
	len = size - FUZZ_KNOBS;

	err = packet6_parse(p, len, &pi);
	assert((unsigned)err < PACKET6_ERR_COUNT);
	assert(strcmp(packet6_error_name(err), "unknown") != 0);
	/* the same bytes, the same answer */
	assert(packet6_parse(p, len, &again) == err);
	if (err != PACKET6_OK)
		return 0;
	assert(memcmp(&pi, &again, sizeof(pi)) == 0);
	fuzz_check_info(p, len, &pi);
	fuzz_check_client(&pi, data[2] % (CLIENT_PREFIX_MAX + 1));
	(void)reply6_may_answer(&pi);
	fuzz_builders(p, len, mtu);
	return 0;
}
