/* preflight.c - verdicts and pure judgements of `droverctl preflight'. No globals, no I/O. */
#include "preflight.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#include "wire.h"

/* rp_filter values (Documentation/networking/ip-sysctl.rst). */
enum preflight_rp_filter {
	PREFLIGHT_RP_OFF = 0,
	PREFLIGHT_RP_STRICT = 1,
	PREFLIGHT_RP_LOOSE = 2,
};

/* The payload of the probe's echo: says who asks, to anyone who captures it. */
static const char preflight_echo_tag[PREFLIGHT_ECHO_PAYLOAD_LEN] = "drover preflight";

static const char *const preflight_verdict_names[PREFLIGHT_VERDICT_COUNT] = {
    [PREFLIGHT_OK] = "ok",
    [PREFLIGHT_FIX] = "fix",
    [PREFLIGHT_SKIP] = "skip",
};

const char *preflight_verdict_name(enum preflight_verdict v)
{
	return (unsigned)v < PREFLIGHT_VERDICT_COUNT ? preflight_verdict_names[v] : NULL;
}

void preflight_add(struct preflight_report *r, enum preflight_verdict v, const char *name,
		   const char *fmt, ...)
{
	struct preflight_check *c;
	va_list ap;

	if ((unsigned)v >= PREFLIGHT_VERDICT_COUNT)
		v = PREFLIGHT_FIX;
	r->by_verdict[v]++;
	if (r->count == PREFLIGHT_CHECKS_MAX) {
		r->dropped++;
		return;
	}
	c = &r->checks[r->count++];
	c->verdict = v;
	snprintf(c->name, sizeof(c->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(c->text, sizeof(c->text), fmt, ap);
	va_end(ap);
}

int preflight_exit_status(const struct preflight_report *r)
{
	return r->by_verdict[PREFLIGHT_FIX] == 0 ? 0 : 1;
}

int preflight_rp_filter_effective(int all, int dev)
{
	return all > dev ? all : dev;
}

enum preflight_verdict preflight_rp_filter_judge(int effective, bool multipath, const char *dev,
						 char *text, size_t size)
{
	switch (effective) {
	case PREFLIGHT_RP_STRICT:
		if (multipath) {
			snprintf(text, size,
				 "1 (strict) on %s, but clients reach this appliance over several "
				 "paths: strict drops the packets of every path but the route's; "
				 "set net.ipv4.conf.%s.rp_filter=2 (loose) and "
				 "net.ipv4.conf.all.rp_filter at most 2",
				 dev, dev);
			return PREFLIGHT_FIX;
		}
		snprintf(text, size,
			 "1 (strict) on %s: spoofed client sources from another network are "
			 "dropped (use 2 where clients arrive over several paths)",
			 dev);
		return PREFLIGHT_OK;
	case PREFLIGHT_RP_LOOSE:
		snprintf(text, size,
			 "2 (loose) on %s: a client source must be routable; 1 (strict) is "
			 "safer where every client subnet is routed out of the device it "
			 "arrives on",
			 dev);
		return PREFLIGHT_OK;
	case PREFLIGHT_RP_OFF:
		snprintf(text, size,
			 "0 (off) on %s: a spoofed client address from another network is "
			 "forwarded to a proxy; set net.ipv4.conf.all.rp_filter=1 (strict; 2 "
			 "where clients arrive over several paths)",
			 dev);
		return PREFLIGHT_FIX;
	default:
		snprintf(text, size, "unknown value %d on %s; set 1 (strict) or 2 (loose)",
			 effective, dev);
		return PREFLIGHT_FIX;
	}
}

unsigned preflight_tunnel_mtu(unsigned path_mtu)
{
	return path_mtu > PREFLIGHT_IPIP_LEN ? path_mtu - PREFLIGHT_IPIP_LEN : 0;
}

enum preflight_verdict preflight_mtu_judge(unsigned path_mtu, unsigned datapath_mtu,
					   bool ipv6_clients, char *text, size_t size)
{
	unsigned tunnel = preflight_tunnel_mtu(path_mtu);
	unsigned need = ipv6_clients ? PREFLIGHT_IPV6_INNER_MIN : PREFLIGHT_IPV4_INNER_MIN;

	if (tunnel < need) {
		snprintf(text, size,
			 "path MTU %u leaves a tunnel MTU of %u, below the %u bytes %s clients "
			 "need: raise the MTU of the route or link towards the proxy to at "
			 "least %u",
			 path_mtu, tunnel, need, ipv6_clients ? "IPv6" : "IPv4",
			 need + PREFLIGHT_IPIP_LEN);
		return PREFLIGHT_FIX;
	}
	if (datapath_mtu != tunnel) {
		snprintf(text, size,
			 "path MTU %u gives a tunnel MTU of %u, but droverd uses %u (it reads "
			 "the route when the pool changes): re-add the proxy or set its address "
			 "again, then run its set-up script with --mtu %u",
			 path_mtu, tunnel, datapath_mtu, path_mtu);
		return PREFLIGHT_FIX;
	}
	snprintf(text, size,
		 "path MTU %u, tunnel MTU %u (as droverd uses it): clients' segments up to "
		 "%u bytes (the proxy's advmss)",
		 path_mtu, tunnel, tunnel - WIRE_IPV4_HLEN_MIN - WIRE_TCP_HLEN_MIN);
	return PREFLIGHT_OK;
}

int preflight_rule_words(char *line, const char *chain, char **words, size_t max)
{
	char *save = NULL, *w;
	size_t n = 0;

	w = strtok_r(line, " \t\n", &save);
	if (w == NULL || strcmp(w, "-A") != 0)
		return 0;
	w = strtok_r(NULL, " \t\n", &save);
	if (w == NULL || strcmp(w, chain) != 0)
		return 0;
	while ((w = strtok_r(NULL, " \t\n", &save)) != NULL) {
		if (n == max)
			return -E2BIG;
		words[n++] = w;
	}
	return (int)n;
}

void preflight_icmp_echo(uint8_t icmp[PREFLIGHT_ICMP_ECHO_LEN], uint16_t id, uint16_t seq)
{
	memset(icmp, 0, PREFLIGHT_ICMP_ECHO_LEN);
	icmp[0] = WIRE_ICMP_ECHO_REQUEST;
	wire_put16(icmp + 4, id);
	wire_put16(icmp + 6, seq);
	memcpy(icmp + WIRE_ICMP_HLEN, preflight_echo_tag, PREFLIGHT_ECHO_PAYLOAD_LEN);
	wire_put16(icmp + 2, wire_checksum(icmp, PREFLIGHT_ICMP_ECHO_LEN));
}

void preflight_echo_packet(uint8_t pkt[PREFLIGHT_ECHO_LEN], uint32_t src, uint32_t dst, uint16_t id,
			   uint16_t seq)
{
	memset(pkt, 0, WIRE_IPV4_HLEN_MIN);
	pkt[0] = WIRE_IPV4_VERS_IHL;
	wire_put16(pkt + 2, PREFLIGHT_ECHO_LEN);
	wire_put16(pkt + 4, seq);
	wire_put16(pkt + 6, WIRE_IP_DF);
	pkt[8] = WIRE_IPV4_TTL;
	pkt[9] = IPPROTO_ICMP;
	memcpy(pkt + 12, &src, sizeof(src));
	memcpy(pkt + 16, &dst, sizeof(dst));
	wire_put16(pkt + 10, wire_checksum(pkt, WIRE_IPV4_HLEN_MIN));
	preflight_icmp_echo(pkt + WIRE_IPV4_HLEN_MIN, id, seq);
}

bool preflight_echo_reply(const uint8_t *pkt, size_t len, uint32_t *src, uint16_t *id,
			  uint16_t *seq)
{
	size_t ihl;

	if (len < WIRE_IPV4_HLEN_MIN || wire_ip_version(pkt) != WIRE_IPV4_VERSION)
		return false;
	ihl = wire_ip_hlen(pkt);
	if (ihl < WIRE_IPV4_HLEN_MIN || len < ihl + WIRE_ICMP_HLEN || pkt[9] != IPPROTO_ICMP ||
	    pkt[ihl] != WIRE_ICMP_ECHO_REPLY || pkt[ihl + 1] != 0)
		return false;
	memcpy(src, pkt + 12, sizeof(*src));
	*id = wire_get16(pkt + ihl + 4);
	*seq = wire_get16(pkt + ihl + 6);
	return true;
}
