/*
 * fuzz_decap.c - drover-decap's datagram checks on any bytes: the IPv4-outer
 * check (IPIP and 6in4, outer header included, as a raw IPv4 socket delivers
 * it) and the IPv6-outer check (6in6 and 4in6, the payload a raw IPv6 socket
 * delivers, with the outer source beside it), and the address parser of its
 * command line.
 *
 * The checks must never read outside the buffer (libFuzzer and the replay
 * hand them a heap block of the input's exact size, so ASan sees an
 * overread), and what they accept must agree with the bytes: the inner
 * packet fills the datagram from where they say, its version is the one the
 * protocol names, and its source lies in the client ranges (or it is the
 * appliance's own echo request, droverctl preflight's tunnel probe).
 *
 * Input: 1 knob byte, then the datagram (or, for the parser, the text).
 *   knob bits 0-1  0: IPv4 outer (IPIP or 6in4, by its protocol byte),
 *                  1: 6in6, 2: 4in6, 3: the text as an --address / --clients value
 *   knob bit 2     the IPv6 outer source is a stranger, not the appliance
 *   knob bit 3     modes 0-2: the datagram as a packet socket hands it (either
 *                  outer family, link padding allowed) with a partial
 *                  checksum whose start and offset are its first 4 bytes
 *                  (little-endian): what is accepted and completed must
 *                  verify, and nothing is written outside the buffer
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wunused-function"
#define DECAP_NO_MAIN
#include "../../proxy/drover-decap.c"

#undef NDEBUG
#include <assert.h>

enum fuzz_decap_knob {
	FUZZ_DECAP_MODE_MASK = 3U,
	FUZZ_DECAP_IPV4_OUTER = 0,
	FUZZ_DECAP_6IN6 = 1,
	FUZZ_DECAP_4IN6 = 2,
	FUZZ_DECAP_TEXT = 3,
	FUZZ_DECAP_STRANGER = 1U << 2,
	FUZZ_DECAP_PACKET = 1U << 3,
	FUZZ_DECAP_KNOBS = 1,
	FUZZ_DECAP_CSUM_PLACE = 4, /* csum_start, csum_offset */
	FUZZ_DECAP_TEXT_MAX = 256,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The lab's appliance and clients, as drover-proxy-setup.sh would pass them. */
static const struct decap_config *fuzz_decap_config(void)
{
	static struct decap_config cfg;
	static bool ready;

	if (!ready) {
		memset(&cfg, 0, sizeof(cfg));
		decap_parse_from("198.18.1.1", &cfg);
		decap_parse_from("2001:db8:1::1", &cfg);
		decap_parse_clients("198.18.1.128/25,2001:db8:1::/64,10.0.0.0/8", &cfg);
		ready = true;
	}
	return &cfg;
}

/* An accepted inner packet at p[0..len) under protocol proto, checked against the bytes. */
/*
 * What drover-decap accepted: outer_src is the IPv4 outer source (0 for an
 * IPv6 outer header); an IPv4 inner source outside the clients is only the
 * appliance's own echo request (droverctl preflight's tunnel probe).
 */
static void fuzz_decap_accepted(const struct decap_config *cfg, uint8_t proto, const uint8_t *p,
				size_t len, uint32_t outer_src)
{
	uint32_t src;
	size_t ihl;

	if (proto == IPPROTO_IPV6) {
		assert(len >= WIRE_IPV6_HLEN);
		assert(wire_ip_version(p) == WIRE_IPV6_VERSION);
		assert((size_t)wire_get16(p + 4) + WIRE_IPV6_HLEN == len);
		assert(p[8] == 0x20 && p[9] == 0x01 && p[10] == 0x0d && p[11] == 0xb8);
		assert(decap_client6_allowed(cfg, p + 8));
		return;
	}
	assert(proto == IPPROTO_IPIP);
	assert(len >= WIRE_IPV4_HLEN_MIN);
	assert(wire_ip_version(p) == WIRE_IPV4_VERSION);
	assert(wire_get16(p + 2) == len);
	assert(wire_ip_hlen(p) <= len && wire_checksum(p, wire_ip_hlen(p)) == 0);
	memcpy(&src, p + 12, sizeof(src));
	if (decap_client_allowed(cfg, src))
		return;
	ihl = wire_ip_hlen(p);
	assert(src == outer_src && decap_sender_allowed(cfg, outer_src) && cfg->from_count > 0);
	assert(p[9] == IPPROTO_ICMP && len >= ihl + WIRE_ICMP_HLEN);
	assert(p[ihl] == WIRE_ICMP_ECHO_REQUEST);
}

static void fuzz_decap_text(const uint8_t *data, size_t size)
{
	char text[FUZZ_DECAP_TEXT_MAX + 1];
	struct decap_address a;

	if (size > FUZZ_DECAP_TEXT_MAX)
		size = FUZZ_DECAP_TEXT_MAX;
	memcpy(text, data, size);
	text[size] = '\0';
	if (!decap_parse_address(text, &a))
		return;
	assert(a.family == AF_INET || a.family == AF_INET6);
	assert(a.prefix_len <= (a.family == AF_INET ? 32U : 128U));
}

/* The packet socket's path: check, and complete a checksum left to offload. */
static void fuzz_decap_packet(const struct decap_config *cfg, const uint8_t *data, size_t size)
{
	struct virtio_net_hdr hdr;
	size_t off = 0, len = 0, start, n;
	enum decap_kind kind = DECAP_KIND_COUNT;
	bool completed;
	uint16_t partial = 0;
	uint32_t sum;
	uint8_t *buf;

	if (size < FUZZ_DECAP_CSUM_PLACE)
		return;
	memset(&hdr, 0, sizeof(hdr));
	hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	memcpy(&hdr.csum_start, data, sizeof(hdr.csum_start));
	memcpy(&hdr.csum_offset, data + 2, sizeof(hdr.csum_offset));
	n = size - FUZZ_DECAP_CSUM_PLACE;
	buf = malloc(n ? n : 1);
	assert(buf != NULL);
	memcpy(buf, data + FUZZ_DECAP_CSUM_PLACE, n);
	start = le16toh(hdr.csum_start);
	if (start + le16toh(hdr.csum_offset) + sizeof(uint16_t) <= n)
		partial = wire_get16(buf + start + le16toh(hdr.csum_offset));
	if (decap_packet_check(cfg, buf, n, &hdr, &kind, &off, &len, &completed) ==
	    DECAP_DROP_COUNT) {
		assert(kind < DECAP_KIND_COUNT);
		assert(off + len <= n);
		assert(completed);
		bool outer6 = buf[0] >> 4 == WIRE_IPV6_VERSION;
		fuzz_decap_accepted(cfg, outer6 ? buf[6] : buf[9], buf + off, len,
				    outer6 ? 0 : *(const uint32_t *)(const void *)(buf + 12));
		/* The completed field and the pseudo-header sum it stood for verify. */
		assert(start > off && start < off + len);
		sum = (uint16_t)~wire_checksum(buf + start, off + len - start);
		sum += partial;
		sum = (sum & 0xffff) + (sum >> 16);
		assert(sum == 0xffff);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t appliance6[WIRE_IPV6_ADDR_LEN] = {0x20, 0x01, 0x0d,    0xb8,
							       0,    1,	   [15] = 1};
	static const uint8_t stranger6[WIRE_IPV6_ADDR_LEN] = {0x20, 0x01, 0x0d,	      0xb8,
							      0,    0x64, [15] = 0x10};
	const struct decap_config *cfg = fuzz_decap_config();
	size_t off = 0, len = 0, n;
	struct in6_addr src6;
	uint8_t *buf, knob, proto;

	if (size < FUZZ_DECAP_KNOBS)
		return 0;
	knob = data[0];
	n = size - FUZZ_DECAP_KNOBS;
	if ((knob & FUZZ_DECAP_MODE_MASK) == FUZZ_DECAP_TEXT) {
		fuzz_decap_text(data + FUZZ_DECAP_KNOBS, n);
		return 0;
	}
	if (knob & FUZZ_DECAP_PACKET) {
		fuzz_decap_packet(cfg, data + FUZZ_DECAP_KNOBS, n);
		return 0;
	}
	buf = malloc(n ? n : 1);
	assert(buf != NULL);
	memcpy(buf, data + FUZZ_DECAP_KNOBS, n);

	if ((knob & FUZZ_DECAP_MODE_MASK) == FUZZ_DECAP_IPV4_OUTER) {
		if (decap_check(cfg, buf, n, &off, &len) == DECAP_DROP_COUNT) {
			assert(off >= WIRE_IPV4_HLEN_MIN && off + len == n);
			assert(
			    decap_sender_allowed(cfg, *(const uint32_t *)(const void *)(buf + 12)));
			fuzz_decap_accepted(cfg, buf[9], buf + off, len,
					    *(const uint32_t *)(const void *)(buf + 12));
		}
	} else {
		proto =
		    (knob & FUZZ_DECAP_MODE_MASK) == FUZZ_DECAP_6IN6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
		memcpy(&src6, knob & FUZZ_DECAP_STRANGER ? stranger6 : appliance6, sizeof(src6));
		if (decap_check6(cfg, &src6, proto, buf, n, &len) == DECAP_DROP_COUNT) {
			assert(!(knob & FUZZ_DECAP_STRANGER));
			assert(len == n);
			fuzz_decap_accepted(cfg, proto, buf, len, 0);
		}
	}
	free(buf);
	return 0;
}
