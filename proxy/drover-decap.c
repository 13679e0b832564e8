/*
 * drover-decap.c - userspace decapsulator (IPIP, 6in4, IPv6-in-IPv6, 4in6)
 * for proxies whose kernel has no ipip, sit or ip6_tunnel module.
 *
 * The appliance wraps each client packet, untouched, in an outer header and
 * sends it to the proxy: an IPv4 client's packet with protocol 4 (IPIP), an
 * IPv6 client's packet with protocol / next header 41, inside an outer IPv4
 * header (6in4, to a proxy reached over IPv4) or an outer IPv6 header (6in6).
 * An IPv4 packet inside IPv6 (4in6, next header 4) takes the same path. Here
 * a packet socket per outer family receives the datagrams that arrive whole,
 * with the kernel's offload header beside each, and one raw socket per outer
 * family and protocol those the kernel reassembled from fragments (the raw
 * sockets also keep the kernel from answering protocol-unreachable); the
 * outer and inner headers are checked, and the inner packet is written into
 * a TUN device byte-for-byte, except for one thing: when the offload header
 * says the inner transport checksum was left to offload (a sender on the
 * same host, a veth or virtio peer, wrapped by the appliance's kernel fast
 * path; or packets the receiving NIC merged), that checksum is completed
 * first, since the TUN device hands the proxy's stack a packet whose
 * checksum it verifies. Complete checksums, good or bad, are never touched:
 * a corrupt one is still the stack's to drop. The device carries both
 * families (no packet information header: the kernel reads the family from
 * the version nibble), so to the proxy's stack the client packet arrives on
 * that device as the client sent it, and a REDIRECT rule (iptables or
 * ip6tables) hands it to Squid in intercept mode. IPv6 REDIRECT rewrites to
 * an address of the device, hence an IPv6 --address as well when IPv6
 * clients are served.
 *
 *   drover-decap --dev NAME [--address ADDR[/N]]... [--from APPLIANCE_IP]...
 *                [--clients CIDR[,CIDR]]... [--mtu N] [--burst N] [--log-level LEVEL]
 *
 * What it accepts is the appliance's traffic and nothing else: the outer
 * source must be one of the --from addresses of its family (otherwise any
 * host that can reach the proxy could hand Squid a request with any source
 * it likes), and the inner source must lie in one of the --clients ranges of
 * its family (the appliance only wraps its clients' packets). Once a list is
 * given, a family it has no entry for is refused, not open. Without --from
 * or --clients at all, that check is off (a warning says so).
 * drover-proxy-setup.sh gives both, and installs the same checks as
 * iptables and ip6tables rules. The packet socket sees a datagram before the
 * proxy's firewall does, so for whole datagrams the outer check here is the
 * one that counts; the rules still guard the reassembled ones, and the inner
 * check on the device guards every packet.
 *
 * Counters go to stderr on SIGUSR1 and at exit, in total and per
 * encapsulation (csum_completed: checksums completed; merged: datagrams that
 * arrived as one merged packet); SIGTERM and SIGINT end it.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "wire.h"

#define DECAP_PROG	    "drover-decap"
#define DECAP_MAX_FROM	    64
#define DECAP_MAX_CLIENTS   64
#define DECAP_BURST_DEFAULT 32
#define DECAP_BURST_MAX	    256
/* A reassembled datagram is at most 65535 bytes; one more shows truncation. */
#define DECAP_BUF_SIZE	  65536
#define DECAP_MTU_MIN	  WIRE_IPV4_MTU_MIN
#define DECAP_MTU_MAX	  (WIRE_IPV4_LEN_MAX - WIRE_IPV4_HLEN_MIN) /* less the outer header */
#define DECAP_RCVBUF	  (4 << 20)
#define DECAP_REPORT_SIZE 2048

/* What a datagram carries, by the socket it came from: inner family in outer family. */
enum decap_kind {
	DECAP_KIND_4IN4, /* IPIP: IPv4 protocol 4 */
	DECAP_KIND_6IN4, /* IPv4 protocol 41 */
	DECAP_KIND_6IN6, /* IPv6 next header 41 */
	DECAP_KIND_4IN6, /* IPv6 next header 4 */
	DECAP_KIND_COUNT,
};

static const char *const decap_kind_names[DECAP_KIND_COUNT] = {
    [DECAP_KIND_4IN4] = "ipip",
    [DECAP_KIND_6IN4] = "6in4",
    [DECAP_KIND_6IN6] = "6in6",
    [DECAP_KIND_4IN6] = "4in6",
};

/* Why a received datagram was not written to the TUN device. */
enum decap_drop {
	DECAP_DROP_TRUNCATED,	   /* larger than the receive buffer */
	DECAP_DROP_OUTER_SHORT,	   /* shorter than an IPv4 header */
	DECAP_DROP_OUTER_VERSION,  /* outer header is not IPv4 */
	DECAP_DROP_OUTER_IHL,	   /* IHL < 5 or past the datagram */
	DECAP_DROP_OUTER_LENGTH,   /* total length disagrees with what arrived */
	DECAP_DROP_OUTER_PROTOCOL, /* not protocol 4 or 41 */
	DECAP_DROP_SENDER,	   /* outer source not in the --from list */
	DECAP_DROP_INNER_SHORT,	   /* no room for the inner header */
	DECAP_DROP_INNER_VERSION,  /* inner version is not the one the protocol names */
	DECAP_DROP_INNER_IHL,	   /* inner IHL < 5 or past the datagram */
	DECAP_DROP_INNER_LENGTH,   /* inner total (IPv6: payload) length != bytes remaining */
	DECAP_DROP_INNER_CHECKSUM, /* inner header checksum wrong */
	DECAP_DROP_INNER_SOURCE,   /* inner source outside the --clients ranges, or multicast */
	DECAP_DROP_CSUM_OFFSET,	   /* a checksum to complete that lies outside the inner packet */
	DECAP_DROP_TUN_WRITE,	   /* the TUN device refused the packet */
	DECAP_DROP_COUNT,
};

static const char *const decap_drop_names[DECAP_DROP_COUNT] = {
    [DECAP_DROP_TRUNCATED] = "truncated",
    [DECAP_DROP_OUTER_SHORT] = "outer_short",
    [DECAP_DROP_OUTER_VERSION] = "outer_version",
    [DECAP_DROP_OUTER_IHL] = "outer_ihl",
    [DECAP_DROP_OUTER_LENGTH] = "outer_length",
    [DECAP_DROP_OUTER_PROTOCOL] = "outer_protocol",
    [DECAP_DROP_SENDER] = "sender",
    [DECAP_DROP_INNER_SHORT] = "inner_short",
    [DECAP_DROP_INNER_VERSION] = "inner_version",
    [DECAP_DROP_INNER_IHL] = "inner_ihl",
    [DECAP_DROP_INNER_LENGTH] = "inner_length",
    [DECAP_DROP_INNER_CHECKSUM] = "inner_checksum",
    [DECAP_DROP_INNER_SOURCE] = "inner_source",
    [DECAP_DROP_CSUM_OFFSET] = "csum_offset",
    [DECAP_DROP_TUN_WRITE] = "tun_write",
};

/* What the command line asked for; plain data. */
struct decap_config {
	char dev[IFNAMSIZ];
	bool has_address;
	struct in_addr address;
	unsigned int prefix_len;
	bool has_address6;
	struct in6_addr address6;
	unsigned int prefix_len6;
	uint32_t from[DECAP_MAX_FROM]; /* network byte order */
	size_t from_count;
	struct in6_addr from6[DECAP_MAX_FROM];
	size_t from6_count;
	struct decap_range {
		uint32_t network; /* host byte order, masked */
		uint32_t mask;	  /* host byte order */
	} clients[DECAP_MAX_CLIENTS];
	size_t client_count; /* 0 in both families: inner sources not restricted */
	struct decap_range6 {
		uint8_t network[WIRE_IPV6_ADDR_LEN]; /* masked */
		unsigned int prefix_len;
	} clients6[DECAP_MAX_CLIENTS];
	size_t client6_count;
	unsigned int mtu; /* 0: leave the device default */
	unsigned int burst;
};

struct decap_counters {
	uint64_t received;
	uint64_t written;
	uint64_t written_bytes;
	uint64_t csum_completed; /* transport checksums left to offload, completed here */
	uint64_t merged;	 /* received as one merged (GRO/GSO) packet */
	uint64_t dropped[DECAP_DROP_COUNT];
	struct decap_kind_counters {
		uint64_t received;
		uint64_t written;
		uint64_t csum_completed;
		uint64_t dropped[DECAP_DROP_COUNT];
	} kind[DECAP_KIND_COUNT];
};

static volatile sig_atomic_t decap_stop_signal;
static volatile sig_atomic_t decap_report_pending;

/* src (network byte order) is an IPv4 --from address, or no --from was given at all. */
static bool decap_sender_allowed(const struct decap_config *cfg, uint32_t src)
{
	if (cfg->from_count == 0 && cfg->from6_count == 0)
		return true;
	for (size_t i = 0; i < cfg->from_count; i++) {
		if (cfg->from[i] == src)
			return true;
	}
	return false;
}

/* src is an IPv6 --from address, or no --from was given at all. */
static bool decap_sender6_allowed(const struct decap_config *cfg, const struct in6_addr *src)
{
	if (cfg->from_count == 0 && cfg->from6_count == 0)
		return true;
	for (size_t i = 0; i < cfg->from6_count; i++) {
		if (memcmp(&cfg->from6[i], src, sizeof(*src)) == 0)
			return true;
	}
	return false;
}

/* src (network byte order) lies in an IPv4 --clients range, or no range was given. */
static bool decap_client_allowed(const struct decap_config *cfg, uint32_t src)
{
	uint32_t host = ntohl(src);

	if (cfg->client_count == 0 && cfg->client6_count == 0)
		return true;
	for (size_t i = 0; i < cfg->client_count; i++) {
		if ((host & cfg->clients[i].mask) == cfg->clients[i].network)
			return true;
	}
	return false;
}

/* The first prefix_len bits of a and b agree. */
static bool decap_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned int prefix_len)
{
	unsigned int whole = prefix_len / CHAR_BIT, rest = prefix_len % CHAR_BIT;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xffU << (CHAR_BIT - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/*
 * src (16 bytes) lies in an IPv6 --clients range, or no range was given. A
 * multicast source is never a client (RFC 4291 2.7), whatever the ranges.
 */
static bool decap_client6_allowed(const struct decap_config *cfg, const uint8_t *src)
{
	if (src[0] == WIRE_IPV6_MULTICAST)
		return false;
	if (cfg->client_count == 0 && cfg->client6_count == 0)
		return true;
	for (size_t i = 0; i < cfg->client6_count; i++) {
		if (decap_prefix_equal(src, cfg->clients6[i].network, cfg->clients6[i].prefix_len))
			return true;
	}
	return false;
}

/*
 * The appliance's own tunnel probe (droverctl preflight): an ICMP echo
 * request whose inner source is the outer one, an appliance named with
 * --from. The proxy answers it directly, which tells the appliance that
 * the tunnel works end to end. Nothing else from the appliance's own
 * address passes: it is no client.
 */
static bool decap_appliance_echo(const struct decap_config *cfg, const uint8_t *p, size_t ihl,
				 size_t remain, uint32_t src, uint32_t outer_src)
{
	if (cfg->from_count == 0 || src != outer_src || p[9] != IPPROTO_ICMP ||
	    remain < ihl + WIRE_ICMP_HLEN || p[ihl] != WIRE_ICMP_ECHO_REQUEST)
		return false;
	return decap_sender_allowed(cfg, outer_src);
}

/*
 * The inner IPv4 packet p[0..remain): a complete header whose lengths agree,
 * a client source (or the appliance's echo, from outer_src: 0 for an IPv6
 * outer header).
 */
static enum decap_drop decap_inner4(const struct decap_config *cfg, const uint8_t *p, size_t remain,
				    uint32_t outer_src)
{
	size_t ihl;
	uint32_t src;

	if (remain < WIRE_IPV4_HLEN_MIN)
		return DECAP_DROP_INNER_SHORT;
	if (wire_ip_version(p) != WIRE_IPV4_VERSION)
		return DECAP_DROP_INNER_VERSION;
	ihl = wire_ip_hlen(p);
	if (ihl < WIRE_IPV4_HLEN_MIN || ihl > remain)
		return DECAP_DROP_INNER_IHL;
	if (wire_get16(p + 2) != remain)
		return DECAP_DROP_INNER_LENGTH;
	if (wire_checksum(p, ihl) != 0)
		return DECAP_DROP_INNER_CHECKSUM;
	memcpy(&src, p + 12, sizeof(src));
	if (!decap_client_allowed(cfg, src) &&
	    !decap_appliance_echo(cfg, p, ihl, remain, src, outer_src))
		return DECAP_DROP_INNER_SOURCE;
	return DECAP_DROP_COUNT;
}

/*
 * The inner IPv6 packet p[0..remain): a fixed header whose payload length
 * is exactly what follows (so no jumbogram), a client source. The extension
 * headers and the upper layer are the receiving stack's to judge, as the
 * IPv4 inner packet's transport is.
 */
static enum decap_drop decap_inner6(const struct decap_config *cfg, const uint8_t *p, size_t remain)
{
	if (remain < WIRE_IPV6_HLEN)
		return DECAP_DROP_INNER_SHORT;
	if (wire_ip_version(p) != WIRE_IPV6_VERSION)
		return DECAP_DROP_INNER_VERSION;
	if ((size_t)wire_get16(p + 4) + WIRE_IPV6_HLEN != remain)
		return DECAP_DROP_INNER_LENGTH;
	if (!decap_client6_allowed(cfg, p + 8))
		return DECAP_DROP_INNER_SOURCE;
	return DECAP_DROP_COUNT;
}

/* The inner packet of an outer header whose protocol is proto (4 or 41), from outer_src. */
static enum decap_drop decap_inner(const struct decap_config *cfg, uint8_t proto, const uint8_t *p,
				   size_t remain, uint32_t outer_src)
{
	if (proto == IPPROTO_IPIP)
		return decap_inner4(cfg, p, remain, outer_src);
	if (proto == IPPROTO_IPV6)
		return decap_inner6(cfg, p, remain);
	return DECAP_DROP_OUTER_PROTOCOL;
}

/*
 * Checks buf[0..len) as an IPv4-outer datagram as a raw socket delivers it
 * (outer header included): protocol 4 carrying IPv4 or protocol 41 carrying
 * IPv6. Never reads outside the buffer. Returns DECAP_DROP_COUNT and sets
 * *inner_off / *inner_len when the datagram is good, or the first reason to
 * drop it.
 */
static enum decap_drop decap_check(const struct decap_config *cfg, const uint8_t *buf, size_t len,
				   size_t *inner_off, size_t *inner_len)
{
	enum decap_drop why;
	size_t outer_ihl;
	uint32_t src;

	if (len < WIRE_IPV4_HLEN_MIN)
		return DECAP_DROP_OUTER_SHORT;
	if (wire_ip_version(buf) != WIRE_IPV4_VERSION)
		return DECAP_DROP_OUTER_VERSION;
	outer_ihl = wire_ip_hlen(buf);
	if (outer_ihl < WIRE_IPV4_HLEN_MIN || outer_ihl > len)
		return DECAP_DROP_OUTER_IHL;
	if (wire_get16(buf + 2) != len)
		return DECAP_DROP_OUTER_LENGTH;
	if (buf[9] != IPPROTO_IPIP && buf[9] != IPPROTO_IPV6)
		return DECAP_DROP_OUTER_PROTOCOL;
	memcpy(&src, buf + 12, sizeof(src));
	if (!decap_sender_allowed(cfg, src))
		return DECAP_DROP_SENDER;

	why = decap_inner(cfg, buf[9], buf + outer_ihl, len - outer_ihl, src);
	if (why != DECAP_DROP_COUNT)
		return why;
	*inner_off = outer_ihl;
	*inner_len = len - outer_ihl;
	return DECAP_DROP_COUNT;
}

/*
 * Checks buf[0..len) as the payload of an IPv6-outer datagram, as a raw
 * IPv6 socket delivers it: the outer header (and its extension headers)
 * already taken off by the kernel, src the outer source it reported, proto
 * the socket's protocol (41: IPv6 inside, 4: IPv4 inside). Never reads
 * outside the buffer. Returns DECAP_DROP_COUNT and sets *inner_len (the
 * inner packet starts at buf) when good, or the first reason to drop it.
 */
static enum decap_drop decap_check6(const struct decap_config *cfg, const struct in6_addr *src,
				    uint8_t proto, const uint8_t *buf, size_t len,
				    size_t *inner_len)
{
	enum decap_drop why;

	if (!decap_sender6_allowed(cfg, src))
		return DECAP_DROP_SENDER;
	why = decap_inner(cfg, proto, buf, len, 0);
	if (why != DECAP_DROP_COUNT)
		return why;
	*inner_len = len;
	return DECAP_DROP_COUNT;
}

/*
 * Completes a transport checksum the sender left to offload (a partial
 * checksum: the field at start + offset holds only the pseudo-header sum) in
 * the inner packet pkt[0..len): the Internet checksum of pkt[start..len),
 * that field included, goes into the field. A result of 0 is stored as
 * 0xffff, as the kernel does (UDP reserves 0 for "no checksum"; to TCP both
 * are the same). start and offset come from the receiving kernel, which
 * knows the packet is partial; a complete packet must never come here, or a
 * corrupt checksum would be made good. Returns false, and changes nothing,
 * when the field does not lie within pkt past a minimal IP header.
 */
static bool decap_csum_complete(uint8_t *pkt, size_t len, size_t start, size_t offset)
{
	uint16_t sum;

	if (start < WIRE_IPV4_HLEN_MIN || start > len || offset > len - start ||
	    len - start - offset < sizeof(uint16_t))
		return false;
	sum = wire_checksum(pkt + start, len - start);
	wire_put16(pkt + start + offset, sum == 0 ? 0xffff : sum);
	return true;
}

/* The encapsulation of an outer family and protocol (4 or 41: checked by the caller). */
static enum decap_kind decap_kind_of(bool outer6, uint8_t proto)
{
	if (outer6)
		return proto == IPPROTO_IPIP ? DECAP_KIND_4IN6 : DECAP_KIND_6IN6;
	return proto == IPPROTO_IPIP ? DECAP_KIND_4IN4 : DECAP_KIND_6IN4;
}

/*
 * Checks buf[0..len) as a packet socket delivers it: the outer IPv4 or IPv6
 * header first (no link header), possibly followed by link-layer padding, and
 * hdr the kernel's view of its offload state. Sets *kind as soon as the outer
 * header names one. When the datagram is good, completes the inner transport
 * checksum if hdr says it was left to offload (setting *completed), sets
 * *inner_off / *inner_len and returns DECAP_DROP_COUNT; otherwise the first
 * reason to drop it. Never reads or writes outside the buffer.
 */
static enum decap_drop decap_packet_check(const struct decap_config *cfg, uint8_t *buf, size_t len,
					  const struct virtio_net_hdr *hdr, enum decap_kind *kind,
					  size_t *inner_off, size_t *inner_len, bool *completed)
{
	struct in6_addr src;
	enum decap_drop why;
	size_t start, offset;

	*completed = false;
	if (len < WIRE_IPV4_HLEN_MIN)
		return DECAP_DROP_OUTER_SHORT;
	if (wire_ip_version(buf) == WIRE_IPV4_VERSION) {
		/* Frames shorter than the link's minimum arrive padded. */
		if (wire_get16(buf + 2) >= WIRE_IPV4_HLEN_MIN && wire_get16(buf + 2) < len)
			len = wire_get16(buf + 2);
		*kind = decap_kind_of(false, buf[9]);
		why = decap_check(cfg, buf, len, inner_off, inner_len);
	} else if (wire_ip_version(buf) == WIRE_IPV6_VERSION) {
		if (len < WIRE_IPV6_HLEN)
			return DECAP_DROP_OUTER_SHORT;
		if ((size_t)wire_get16(buf + 4) + WIRE_IPV6_HLEN > len)
			return DECAP_DROP_OUTER_LENGTH;
		len = (size_t)wire_get16(buf + 4) + WIRE_IPV6_HLEN;
		if (buf[6] != IPPROTO_IPIP && buf[6] != IPPROTO_IPV6)
			return DECAP_DROP_OUTER_PROTOCOL;
		*kind = decap_kind_of(true, buf[6]);
		memcpy(&src, buf + 8, sizeof(src));
		*inner_off = WIRE_IPV6_HLEN;
		why = decap_check6(cfg, &src, buf[6], buf + WIRE_IPV6_HLEN, len - WIRE_IPV6_HLEN,
				   inner_len);
	} else {
		return DECAP_DROP_OUTER_VERSION;
	}
	if (why != DECAP_DROP_COUNT || !(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return why;
	start = le16toh(hdr->csum_start);
	offset = le16toh(hdr->csum_offset);
	if (start < *inner_off ||
	    !decap_csum_complete(buf + *inner_off, *inner_len, start - *inner_off, offset))
		return DECAP_DROP_CSUM_OFFSET;
	*completed = true;
	return DECAP_DROP_COUNT;
}

/* Appends " NAME=VALUE" to out (size bytes, *used of them taken); silently stops when full. */
static void decap_report_add(char *out, size_t size, size_t *used, const char *prefix,
			     const char *name, uint64_t value)
{
	int n;

	if (*used >= size)
		return;
	n = snprintf(out + *used, size - *used, " %s%s=%llu", prefix, name,
		     (unsigned long long)value);
	if (n > 0 && (size_t)n < size - *used)
		*used += (size_t)n;
	else
		*used = size;
}

/*
 * One line: the totals, the checksums completed, the merged packets and
 * every reason, then per encapsulation that received anything its received,
 * written, completed (when any) and non-zero reasons, as
 * "6in4_received=3 6in4_written=2 6in4_sender=1".
 */
static void decap_report(const struct decap_counters *c)
{
	uint64_t dropped = 0;
	char reasons[DECAP_REPORT_SIZE];
	char prefix[16];
	size_t used = 0;

	reasons[0] = '\0';
	for (int i = 0; i < DECAP_DROP_COUNT; i++) {
		dropped += c->dropped[i];
		decap_report_add(reasons, sizeof(reasons), &used, "", decap_drop_names[i],
				 c->dropped[i]);
	}
	for (int k = 0; k < DECAP_KIND_COUNT; k++) {
		const struct decap_kind_counters *kc = &c->kind[k];

		if (kc->received == 0)
			continue;
		snprintf(prefix, sizeof(prefix), "%s_", decap_kind_names[k]);
		decap_report_add(reasons, sizeof(reasons), &used, prefix, "received", kc->received);
		decap_report_add(reasons, sizeof(reasons), &used, prefix, "written", kc->written);
		if (kc->csum_completed != 0)
			decap_report_add(reasons, sizeof(reasons), &used, prefix, "csum_completed",
					 kc->csum_completed);
		for (int i = 0; i < DECAP_DROP_COUNT; i++) {
			if (kc->dropped[i] != 0)
				decap_report_add(reasons, sizeof(reasons), &used, prefix,
						 decap_drop_names[i], kc->dropped[i]);
		}
	}
	fprintf(
	    stderr,
	    "%s: received=%llu written=%llu written_bytes=%llu dropped=%llu csum_completed=%llu "
	    "merged=%llu%s\n",
	    DECAP_PROG, (unsigned long long)c->received, (unsigned long long)c->written,
	    (unsigned long long)c->written_bytes, (unsigned long long)dropped,
	    (unsigned long long)c->csum_completed, (unsigned long long)c->merged, reasons);
}

static void decap_on_signal(int sig)
{
	if (sig == SIGUSR1)
		decap_report_pending = 1;
	else
		decap_stop_signal = sig;
}

/* Usage errors quote the bad input and exit 2; they happen before logging matters. */
static void __attribute__((noreturn, format(printf, 1, 2))) decap_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", DECAP_PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry `%s --help'.\n", DECAP_PROG);
	exit(2);
}

static void decap_usage(FILE *out)
{
	fprintf(out,
		"usage: %s --dev NAME [--address ADDR[/N]]... [--from APPLIANCE_IP]...\n"
		"                    [--clients CIDR[,CIDR]]... [--mtu N] [--burst N]\n"
		"                    [--log-level LEVEL]\n"
		"\n"
		"Receives IPIP (protocol 4) and 6in4 (protocol 41) datagrams from IPv4,\n"
		"IPv6-in-IPv6 (next header 41) and 4in6 (next header 4) from IPv6, on raw\n"
		"sockets, and writes the inner packets, unchanged, into the TUN device NAME,\n"
		"which it creates and brings up. --address (once per family) gives the\n"
		"device an address (prefix /32 or /128 unless /N); IPv6 REDIRECT needs one.\n"
		"--from (repeatable, IPv4 or IPv6) accepts outer sources from those\n"
		"addresses only. --clients (repeatable, IPv4 or IPv6) accepts inner sources\n"
		"in those ranges only. Once --from or --clients is given, a family without\n"
		"an entry is refused.\n"
		"SIGUSR1 prints counters to stderr; SIGTERM/SIGINT exit cleanly.\n",
		DECAP_PROG);
}

static bool decap_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = (unsigned int)v;
	return true;
}

/* An address of either family, with its prefix: plain data. */
struct decap_address {
	int family; /* AF_INET or AF_INET6 */
	struct in_addr v4;
	struct in6_addr v6;
	unsigned int prefix_len; /* the whole address (32 or 128) unless /N said less */
};

/* Accepts "A.B.C.D[/N]" (N 0..32) or "X:X::X[/N]" (N 0..128). */
static bool decap_parse_address(const char *s, struct decap_address *addr)
{
	char copy[INET6_ADDRSTRLEN + 5];
	char *slash;
	unsigned int max;

	if (strlen(s) >= sizeof(copy))
		return false;
	strcpy(copy, s);
	slash = strchr(copy, '/');
	if (slash != NULL)
		*slash = '\0';
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, copy, &addr->v4) == 1) {
		addr->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, copy, &addr->v6) == 1) {
		addr->family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	addr->prefix_len = max;
	return slash == NULL || decap_parse_uint(slash + 1, 0, max, &addr->prefix_len);
}

/* Adds each CIDR of a comma list (either family) to cfg's client ranges; a bad one is a usage
 * error. */
static void decap_parse_clients(const char *list, struct decap_config *cfg)
{
	char copy[DECAP_MAX_CLIENTS * (INET6_ADDRSTRLEN + 5)];
	char *save = NULL;

	if (list[0] == '\0' || strlen(list) >= sizeof(copy))
		decap_usage_error("invalid client ranges `%s'", list);
	strcpy(copy, list);
	for (char *cidr = strtok_r(copy, ",", &save); cidr != NULL;
	     cidr = strtok_r(NULL, ",", &save)) {
		struct decap_address addr;
		uint32_t mask;

		if (strchr(cidr, '/') == NULL || !decap_parse_address(cidr, &addr))
			decap_usage_error("invalid client range `%s' (want A.B.C.D/N or X::/N)",
					  cidr);
		if (cfg->client_count + cfg->client6_count == DECAP_MAX_CLIENTS)
			decap_usage_error("too many client ranges (at most %d)", DECAP_MAX_CLIENTS);
		if (addr.family == AF_INET6) {
			struct decap_range6 *r = &cfg->clients6[cfg->client6_count++];
			unsigned int whole = addr.prefix_len / CHAR_BIT;

			memset(r->network, 0, sizeof(r->network));
			memcpy(r->network, &addr.v6, whole);
			if (addr.prefix_len % CHAR_BIT != 0)
				r->network[whole] =
				    addr.v6.s6_addr[whole] &
				    (uint8_t)(0xffU << (CHAR_BIT - addr.prefix_len % CHAR_BIT));
			r->prefix_len = addr.prefix_len;
			continue;
		}
		mask = addr.prefix_len == 0 ? 0 : ~0U << (32 - addr.prefix_len);
		cfg->clients[cfg->client_count].network = ntohl(addr.v4.s_addr) & mask;
		cfg->clients[cfg->client_count].mask = mask;
		cfg->client_count++;
	}
}

/* Adds one --from address (either family, no prefix); a bad one is a usage error. */
static void decap_parse_from(const char *s, struct decap_config *cfg)
{
	struct decap_address addr;

	if (strchr(s, '/') != NULL || !decap_parse_address(s, &addr))
		decap_usage_error("invalid address `%s'", s);
	if (cfg->from_count + cfg->from6_count == DECAP_MAX_FROM)
		decap_usage_error("too many --from addresses (at most %d)", DECAP_MAX_FROM);
	if (addr.family == AF_INET6)
		cfg->from6[cfg->from6_count++] = addr.v6;
	else
		cfg->from[cfg->from_count++] = addr.v4.s_addr;
}

/* Takes one --address: at most one per family. */
static void decap_parse_device_address(const char *s, struct decap_config *cfg)
{
	struct decap_address addr;

	if (!decap_parse_address(s, &addr))
		decap_usage_error("invalid address `%s'", s);
	if (addr.family == AF_INET6) {
		if (cfg->has_address6)
			decap_usage_error("a second IPv6 --address `%s'", s);
		cfg->address6 = addr.v6;
		cfg->prefix_len6 = addr.prefix_len;
		cfg->has_address6 = true;
		return;
	}
	if (cfg->has_address)
		decap_usage_error("a second IPv4 --address `%s'", s);
	cfg->address = addr.v4;
	cfg->prefix_len = addr.prefix_len;
	cfg->has_address = true;
}

static void decap_parse_args(int argc, char **argv, struct decap_config *cfg)
{
	static const struct option options[] = {
	    {"dev", required_argument, NULL, 'd'},
	    {"address", required_argument, NULL, 'a'},
	    {"from", required_argument, NULL, 'f'},
	    {"clients", required_argument, NULL, 'c'},
	    {"mtu", required_argument, NULL, 'm'},
	    {"burst", required_argument, NULL, 'b'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum log_level level = LOG_LEVEL_INFO;
	int opt;

	memset(cfg, 0, sizeof(*cfg));
	cfg->burst = DECAP_BURST_DEFAULT;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":d:a:f:c:m:b:l:Vh", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (optarg[0] == '\0' || strlen(optarg) >= IFNAMSIZ ||
			    strpbrk(optarg, "/ \t\n:") != NULL)
				decap_usage_error("invalid device name `%s'", optarg);
			strcpy(cfg->dev, optarg);
			break;
		case 'a':
			decap_parse_device_address(optarg, cfg);
			break;
		case 'f':
			decap_parse_from(optarg, cfg);
			break;
		case 'c':
			decap_parse_clients(optarg, cfg);
			break;
		case 'm':
			if (!decap_parse_uint(optarg, DECAP_MTU_MIN, DECAP_MTU_MAX, &cfg->mtu))
				decap_usage_error("invalid MTU `%s' (%d..%d)", optarg,
						  DECAP_MTU_MIN, DECAP_MTU_MAX);
			break;
		case 'b':
			if (!decap_parse_uint(optarg, 1, DECAP_BURST_MAX, &cfg->burst))
				decap_usage_error("invalid burst `%s' (1..%d)", optarg,
						  DECAP_BURST_MAX);
			break;
		case 'l':
			if (!log_parse_level(optarg, &level))
				decap_usage_error("invalid log level `%s'", optarg);
			break;
		case 'V':
			printf("%s %s\n", DECAP_PROG, DROVER_VERSION);
			exit(0);
		case 'h':
			decap_usage(stdout);
			exit(0);
		case ':':
			decap_usage_error("option `%s' needs a value", argv[optind - 1]);
		default:
			decap_usage_error("unknown option `%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		decap_usage_error("unexpected argument `%s'", argv[optind]);
	if (cfg->dev[0] == '\0')
		decap_usage_error("--dev NAME is required");
	log_init(DECAP_PROG, level);
}

/* Creates the TUN device; returns its fd. Start-up only: failures are fatal. */
static int decap_tun_open(const char *dev)
{
	struct ifreq ifr;
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fatal("open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		fatal("create TUN device `%s'", dev);
	if (strcmp(ifr.ifr_name, dev) != 0)
		fatalx("kernel named the TUN device `%s', not `%s'", ifr.ifr_name, dev);
	return fd;
}

/* The kernel's struct in6_ifreq (<linux/ipv6.h> clashes with <netinet/in.h>). */
struct decap_in6_ifreq {
	struct in6_addr addr;
	uint32_t prefix_len;
	int ifindex;
};

/* Gives the device its IPv6 address. Start-up only: failures are fatal. */
static void decap_tun_address6(const struct decap_config *cfg)
{
	struct decap_in6_ifreq req;
	int s;

	s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fatal("IPv6 socket (is IPv6 disabled on this host?)");
	memset(&req, 0, sizeof(req));
	req.addr = cfg->address6;
	req.prefix_len = cfg->prefix_len6;
	req.ifindex = (int)if_nametoindex(cfg->dev);
	if (req.ifindex == 0)
		fatal("index of `%s'", cfg->dev);
	/* IPv6 is off on a device whose MTU is below 1280, and so is this. */
	if (ioctl(s, SIOCSIFADDR, &req) < 0 && errno != EEXIST)
		fatal("set IPv6 address on `%s' (its MTU must be %d or more)", cfg->dev,
		      WIRE_IPV6_MTU_MIN);
	close(s);
}

/* Sets MTU and addresses (when asked) and brings the device up. Start-up only. */
static void decap_tun_configure(const struct decap_config *cfg)
{
	struct sockaddr_in *sin;
	struct ifreq ifr;
	int s;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fatal("socket");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->dev);

	if (cfg->mtu != 0) {
		ifr.ifr_mtu = (int)cfg->mtu;
		if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
			fatal("set MTU %u on `%s'", cfg->mtu, cfg->dev);
	}
	if (cfg->has_address) {
		sin = (struct sockaddr_in *)&ifr.ifr_addr;
		memset(&ifr.ifr_addr, 0, sizeof(ifr.ifr_addr));
		sin->sin_family = AF_INET;
		sin->sin_addr = cfg->address;
		if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
			fatal("set address on `%s'", cfg->dev);
		sin = (struct sockaddr_in *)&ifr.ifr_netmask;
		memset(&ifr.ifr_netmask, 0, sizeof(ifr.ifr_netmask));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr =
		    cfg->prefix_len == 0 ? 0 : htonl(~0U << (32 - cfg->prefix_len));
		if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
			fatal("set netmask on `%s'", cfg->dev);
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fatal("get flags of `%s'", cfg->dev);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fatal("bring `%s' up", cfg->dev);
	close(s);
	/* After "up": the kernel sets a device's IPv6 state up when it comes up. */
	if (cfg->has_address6)
		decap_tun_address6(cfg);
}

/* The raw sockets, one per encapsulation: outer family and protocol. */
static const struct decap_socket_kind {
	int family;
	int protocol;
} decap_socket_kinds[DECAP_KIND_COUNT] = {
    [DECAP_KIND_4IN4] = {AF_INET, IPPROTO_IPIP},
    [DECAP_KIND_6IN4] = {AF_INET, IPPROTO_IPV6},
    [DECAP_KIND_6IN6] = {AF_INET6, IPPROTO_IPV6},
    [DECAP_KIND_4IN6] = {AF_INET6, IPPROTO_IPIP},
};

/*
 * Where a socket's datagrams come from. A raw socket says nothing of a
 * packet's checksum state, so every datagram that arrived whole is taken
 * from a packet socket, whose per-packet header says when the inner
 * transport checksum was left to offload (a sender on the same host: a veth
 * or virtio peer; or the receiving NIC's merging, GRO). The raw sockets stay
 * open: they keep the kernel from answering "protocol unreachable", and they
 * alone see what the kernel reassembled from fragments (complete checksums:
 * a sender completes them before it fragments).
 */
enum decap_source {
	DECAP_SOURCE_RAW,    /* raw IP socket: only the datagrams reassembled from fragments */
	DECAP_SOURCE_PACKET, /* packet socket: datagrams that arrived whole, with offload state */
};

struct decap_socket {
	int fd;
	enum decap_source source;
	enum decap_kind kind; /* raw: the only encapsulation it receives */
	bool outer6;
};

/* Bursts arrive faster than one loop turn; a larger queue drops fewer. */
static void decap_socket_rcvbuf(int s)
{
	int rcvbuf = DECAP_RCVBUF;

	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		log_warn("cannot enlarge the receive buffer");
}

/*
 * Opens kind's raw socket; returns it, or -1 when an IPv6 one cannot be had
 * (a host with IPv6 off still decapsulates from IPv4). It reports, with each
 * datagram, whether the kernel reassembled it. Start-up only.
 */
static int decap_raw_open(enum decap_kind kind)
{
	const struct decap_socket_kind *k = &decap_socket_kinds[kind];
	int s, on = 1;

	s = socket(k->family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, k->protocol);
	if (s < 0) {
		if (k->family == AF_INET6) {
			log_warn("raw IPv6 socket for %s: not decapsulating it",
				 decap_kind_names[kind]);
			return -1;
		}
		fatal("raw socket for %s", decap_kind_names[kind]);
	}
	if (k->family == AF_INET6
		? setsockopt(s, IPPROTO_IPV6, IPV6_RECVFRAGSIZE, &on, sizeof(on)) < 0
		: setsockopt(s, IPPROTO_IP, IP_RECVFRAGSIZE, &on, sizeof(on)) < 0)
		fatal("fragment size reports on the raw socket for %s (kernel 4.12 or later)",
		      decap_kind_names[kind]);
	decap_socket_rcvbuf(s);
	return s;
}

#define DECAP_FILTER_ACCEPT 0x40000U /* more than any datagram: the whole packet */

/*
 * The packet socket's filter for IPv4: addressed to this host at the link
 * layer, protocol 4 or 41, not a fragment (those go to the raw sockets,
 * reassembled).
 */
static const struct sock_filter decap_filter4[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, 0, 6),
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 9),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_IPIP, 1, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_IPV6, 0, 3),
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_NET_OFF + 6),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, WIRE_IP_MF | WIRE_IP_OFFSET_MASK, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, DECAP_FILTER_ACCEPT),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

/*
 * For IPv6: addressed to this host, next header 4 or 41 straight after the
 * fixed header (a fragment header goes to the raw sockets, reassembled).
 */
static const struct sock_filter decap_filter6[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, 0, 4),
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 6),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_IPIP, 1, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_IPV6, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, DECAP_FILTER_ACCEPT),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

/*
 * Opens the packet socket of one outer family: each frame from its link
 * header, preceded by the kernel's offload header (struct virtio_net_hdr,
 * which the kernel gives to SOCK_RAW packet sockets only) and followed by
 * auxiliary data that says where the network header starts. Start-up only:
 * failures are fatal.
 */
static int decap_packet_open(bool outer6)
{
	struct sock_fprog prog = {
	    .len = outer6 ? sizeof(decap_filter6) / sizeof(decap_filter6[0])
			  : sizeof(decap_filter4) / sizeof(decap_filter4[0]),
	    .filter = (struct sock_filter *)(outer6 ? decap_filter6 : decap_filter4),
	};
	uint8_t scratch[1];
	int s, on = 1;

	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		   htons(outer6 ? ETH_P_IPV6 : ETH_P_IP));
	if (s < 0)
		fatal("packet socket");
	if (setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		fatal("filter on the packet socket");
	/* What queued before the filter was on is not ours to judge. */
	while (recv(s, scratch, sizeof(scratch), MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
	if (setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)) < 0)
		fatal("offload headers on the packet socket");
	if (setsockopt(s, SOL_PACKET, PACKET_AUXDATA, &on, sizeof(on)) < 0)
		fatal("auxiliary data on the packet socket");
	decap_socket_rcvbuf(s);
	return s;
}

static void decap_signals(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t blocked;

	/*
	 * The signals stay blocked except inside ppoll, so a flag set by a
	 * handler is always seen before the loop sleeps again.
	 */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &blocked, wait_mask) < 0)
		fatal("sigprocmask");
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGUSR1);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = decap_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Where one burst lands: the buffers, the outer sources, offload headers, ancillary data. */
struct decap_rx {
	struct mmsghdr msgs[DECAP_BURST_MAX];
	struct iovec iovs[DECAP_BURST_MAX][2]; /* [0]: offload header, [1]: the datagram */
	struct virtio_net_hdr vnet[DECAP_BURST_MAX];
	struct sockaddr_in6 sources[DECAP_BURST_MAX];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} controls[DECAP_BURST_MAX];
	uint8_t bufs[DECAP_BURST_MAX][DECAP_BUF_SIZE];
};

/* The datagram of msg is one the kernel reassembled from fragments. */
static bool decap_reassembled(struct msghdr *msg)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVFRAGSIZE) ||
		    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVFRAGSIZE))
			return true;
	}
	return false;
}

/* Where the network header starts in a packet socket's frame, or -1 when the kernel did not say. */
static long decap_network_offset(struct msghdr *msg)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		struct tpacket_auxdata aux;

		if (cm->cmsg_level != SOL_PACKET || cm->cmsg_type != PACKET_AUXDATA ||
		    cm->cmsg_len < CMSG_LEN(sizeof(aux)))
			continue;
		memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
		return aux.tp_net;
	}
	return -1;
}

/*
 * Checks one received datagram (rx slot i, from sock); returns the first
 * reason to drop it or DECAP_DROP_COUNT with the inner packet's place (its
 * transport checksum completed when it was left to offload). *kind is set
 * once known; raw sockets skip (returning false) what arrived whole.
 */
static bool decap_one(const struct decap_config *cfg, const struct decap_socket *sock,
		      struct decap_rx *rx, int i, enum decap_kind *kind, enum decap_drop *why,
		      size_t *inner_off, size_t *inner_len, bool *completed)
{
	struct msghdr *msg = &rx->msgs[i].msg_hdr;
	uint8_t *buf = rx->bufs[i];
	size_t len = rx->msgs[i].msg_len, start;
	struct virtio_net_hdr hdr;
	long net;

	*inner_off = 0;
	*completed = false;
	*kind = sock->kind;
	if (sock->source == DECAP_SOURCE_RAW) {
		/* Whole datagrams come through the packet socket. */
		if (!decap_reassembled(msg))
			return false;
		if (msg->msg_flags & MSG_TRUNC)
			*why = DECAP_DROP_TRUNCATED;
		else if (!sock->outer6)
			*why = decap_check(cfg, buf, len, inner_off, inner_len);
		else if (msg->msg_namelen < sizeof(struct sockaddr_in6))
			*why = DECAP_DROP_SENDER; /* no source to check: never taken on trust */
		else
			*why = decap_check6(cfg, &rx->sources[i].sin6_addr,
					    (uint8_t)decap_socket_kinds[sock->kind].protocol, buf,
					    len, inner_len);
		return true;
	}
	*kind = DECAP_KIND_COUNT;
	net = decap_network_offset(msg);
	if (msg->msg_flags & MSG_TRUNC) {
		*why = DECAP_DROP_TRUNCATED;
		return true;
	}
	if (len < sizeof(rx->vnet[i]) || net < 0 || (size_t)net > len - sizeof(rx->vnet[i])) {
		*why = DECAP_DROP_OUTER_SHORT;
		return true;
	}
	/* The offload header counts from the link header; the checks from the network header. */
	hdr = rx->vnet[i];
	start = le16toh(hdr.csum_start);
	hdr.csum_start = htole16(start >= (size_t)net ? (uint16_t)(start - (size_t)net) : 0);
	*why = decap_packet_check(cfg, buf + net, len - sizeof(rx->vnet[i]) - (size_t)net, &hdr,
				  kind, inner_off, inner_len, completed);
	*inner_off += (size_t)net;
	return true;
}

/* Receives and forwards one burst from sock; returns false when the socket is drained. */
static bool decap_burst(const struct decap_config *cfg, const struct decap_socket *sock, int tun,
			struct decap_rx *rx, struct decap_counters *c)
{
	static bool tun_error_logged;
	bool packet = sock->source == DECAP_SOURCE_PACKET;
	size_t inner_off, inner_len;
	enum decap_kind kind;
	enum decap_drop why;
	bool completed;
	int n;

	for (unsigned int i = 0; i < cfg->burst; i++) {
		struct msghdr *msg = &rx->msgs[i].msg_hdr;

		msg->msg_flags = 0;
		msg->msg_iov = packet ? &rx->iovs[i][0] : &rx->iovs[i][1];
		msg->msg_iovlen = packet ? 2 : 1;
		msg->msg_name = packet ? NULL : &rx->sources[i];
		msg->msg_namelen = packet ? 0 : sizeof(rx->sources[i]);
		msg->msg_control = rx->controls[i].buf;
		msg->msg_controllen = sizeof(rx->controls[i].buf);
	}
	n = recvmmsg(sock->fd, rx->msgs, cfg->burst, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("recvmmsg");
		return false;
	}
	for (int i = 0; i < n; i++) {
		struct decap_kind_counters *kc;

		if (!decap_one(cfg, sock, rx, i, &kind, &why, &inner_off, &inner_len, &completed))
			continue;
		kc = kind < DECAP_KIND_COUNT ? &c->kind[kind] : NULL;
		c->received++;
		if (kc != NULL)
			kc->received++;
		if (packet && rx->vnet[i].gso_type != VIRTIO_NET_HDR_GSO_NONE)
			c->merged++;
		if (why == DECAP_DROP_COUNT) {
			if (write(tun, rx->bufs[i] + inner_off, inner_len) == (ssize_t)inner_len) {
				c->written++;
				c->written_bytes += inner_len;
				if (completed)
					c->csum_completed++;
				if (kc != NULL) {
					kc->written++;
					if (completed)
						kc->csum_completed++;
				}
				continue;
			}
			/* Once is enough to explain the counter; the path itself only counts. */
			if (!tun_error_logged) {
				log_warn("write to `%s'", cfg->dev);
				tun_error_logged = true;
			}
			why = DECAP_DROP_TUN_WRITE;
		}
		c->dropped[why]++;
		if (kc != NULL)
			kc->dropped[why]++;
	}
	return (unsigned int)n == cfg->burst;
}

/* Unit tests include this file for decap_check and build their own main. */
#ifndef DECAP_NO_MAIN
/* Every socket to read: one raw socket per encapsulation, one packet socket per outer family. */
#define DECAP_SOCKETS_MAX (DECAP_KIND_COUNT + 2)

int main(int argc, char **argv)
{
	static struct decap_rx rx;
	struct pollfd pfds[DECAP_SOCKETS_MAX];
	struct decap_socket socks[DECAP_SOCKETS_MAX];
	struct decap_counters counters;
	struct decap_config cfg;
	bool family_open[2] = {false, false}; /* [outer6] */
	sigset_t wait_mask;
	nfds_t nfds = 0;
	int tun;

	decap_parse_args(argc, argv, &cfg);
	decap_signals(&wait_mask);

	tun = decap_tun_open(cfg.dev);
	decap_tun_configure(&cfg);
	for (int k = 0; k < DECAP_KIND_COUNT; k++) {
		int s = decap_raw_open((enum decap_kind)k);
		bool outer6 = decap_socket_kinds[k].family == AF_INET6;

		if (s < 0)
			continue;
		socks[nfds] =
		    (struct decap_socket){s, DECAP_SOURCE_RAW, (enum decap_kind)k, outer6};
		family_open[outer6] = true;
		nfds++;
	}
	for (int outer6 = 0; outer6 < 2; outer6++) {
		if (!family_open[outer6])
			continue;
		socks[nfds] = (struct decap_socket){decap_packet_open(outer6), DECAP_SOURCE_PACKET,
						    DECAP_KIND_COUNT, outer6};
		nfds++;
	}
	for (nfds_t i = 0; i < nfds; i++) {
		pfds[i].fd = socks[i].fd;
		pfds[i].events = POLLIN;
	}

	memset(rx.msgs, 0, sizeof(rx.msgs));
	for (unsigned int i = 0; i < cfg.burst; i++) {
		rx.iovs[i][0].iov_base = &rx.vnet[i];
		rx.iovs[i][0].iov_len = sizeof(rx.vnet[i]);
		rx.iovs[i][1].iov_base = rx.bufs[i];
		rx.iovs[i][1].iov_len = sizeof(rx.bufs[i]);
	}
	memset(&counters, 0, sizeof(counters));
	log_info("decapsulating into `%s'%s%s", cfg.dev,
		 cfg.from_count + cfg.from6_count ? ""
						  : " (outer sources not restricted: give --from)",
		 cfg.client_count + cfg.client6_count
		     ? ""
		     : " (inner sources not restricted: give --clients)");

	while (!decap_stop_signal) {
		bool more;

		if (decap_report_pending) {
			decap_report_pending = 0;
			decap_report(&counters);
		}
		if (ppoll(pfds, nfds, NULL, &wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			fatal("ppoll");
		}
		/* A burst from each ready socket in turn, so no encapsulation starves another. */
		do {
			more = false;
			for (nfds_t i = 0; i < nfds && !decap_stop_signal; i++) {
				if ((pfds[i].revents & POLLIN) &&
				    decap_burst(&cfg, &socks[i], tun, &rx, &counters))
					more = true;
			}
		} while (more && !decap_stop_signal);
	}

	log_info("exiting on signal %d", (int)decap_stop_signal);
	decap_report(&counters);
	for (nfds_t i = 0; i < nfds; i++)
		close(pfds[i].fd);
	close(tun);
	return 0;
}
#endif /* DECAP_NO_MAIN */
