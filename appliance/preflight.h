/*
 * preflight.h - the verdicts of `droverctl preflight' and the judgements
 * behind them: reverse-path filtering, tunnel MTU, the rule lines of droverd's
 * document, and the ICMP echo the tunnel probe carries. Pure: no globals, no
 * I/O; any thread. The checks themselves (sysctls, iptables, routes, sockets,
 * instance metadata) are preflight_host.c's.
 */
#ifndef DROVER_PREFLIGHT_H
#define DROVER_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum preflight_verdict {
	PREFLIGHT_OK,	/* in place */
	PREFLIGHT_FIX,	/* must be fixed: the text says what and how */
	PREFLIGHT_SKIP, /* could not be checked here (not EC2, no privilege): the text says why */
	PREFLIGHT_VERDICT_COUNT,
};

#define PREFLIGHT_NAME_MAX   64
#define PREFLIGHT_TEXT_MAX   512
#define PREFLIGHT_CHECKS_MAX 256

struct preflight_check {
	enum preflight_verdict verdict;
	char name[PREFLIGHT_NAME_MAX]; /* e.g. "sysctl ip_forward", "proxy squid1 tunnel" */
	char text[PREFLIGHT_TEXT_MAX]; /* what was found; for FIX, what to do */
};

struct preflight_report {
	struct preflight_check checks[PREFLIGHT_CHECKS_MAX];
	size_t count;
	size_t by_verdict[PREFLIGHT_VERDICT_COUNT];
	size_t dropped; /* checks beyond PREFLIGHT_CHECKS_MAX: counted, not kept */
};

/* "ok", "fix", "skip"; NULL outside the enum. */
const char *preflight_verdict_name(enum preflight_verdict v);

/*
 * Adds one check to r (name and text cut to their room). A report that is
 * full counts the check in by_verdict and dropped, so the summary and the
 * exit status stay right.
 */
void preflight_add(struct preflight_report *r, enum preflight_verdict v, const char *name,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* 0 when nothing must be fixed (skips included), 1 otherwise: droverctl's exit status. */
int preflight_exit_status(const struct preflight_report *r);

/*
 * The reverse-path filter the kernel applies on a device: the larger of
 * net.ipv4.conf.all.rp_filter and the device's own value.
 */
int preflight_rp_filter_effective(int all, int dev);

/*
 * Judges the effective rp_filter value of a device the appliance's clients
 * or proxies are behind, and writes why into text. 1 (strict) and 2 (loose)
 * are fine, multipath says the device's client routes have several next
 * hops (or the clients come over several devices), where strict would drop
 * the packets of the other paths: then only 2 is. 0 must be fixed: spoofed
 * client addresses from another network would reach the queues and the fast
 * path would not stop them (its interface check leaves them to the kernel).
 */
enum preflight_verdict preflight_rp_filter_judge(int effective, bool multipath, const char *dev,
						 char *text, size_t size);

/* Bytes IPIP adds, and the least an IPv4 inner packet must be able to hold (RFC 791). */
#define PREFLIGHT_IPIP_LEN	 20
#define PREFLIGHT_IPV4_INNER_MIN 576
/* 6in4 carries IPv6 clients to an IPv4 proxy: the tunnel must hold IPv6's minimum MTU. */
#define PREFLIGHT_IPV6_INNER_MIN 1280

/* The largest inner packet a path of path_mtu bytes carries in IPIP; 0 when none fits. */
unsigned preflight_tunnel_mtu(unsigned path_mtu);

/*
 * Judges the tunnel towards a proxy: path_mtu is what the route gives now,
 * datapath_mtu the tunnel MTU droverd's packet threads use (0: droverd has
 * no route to it), ipv6_clients whether IPv6 clients may be carried in 6in4.
 * FIX when the tunnel cannot carry the minimum inner packet, or when droverd
 * uses another MTU than the route now gives (it reads routes when the pool
 * changes); text says the figures either way.
 */
enum preflight_verdict preflight_mtu_judge(unsigned path_mtu, unsigned datapath_mtu,
					   bool ipv6_clients, char *text, size_t size);

/*
 * Splits one line of droverd's iptables-restore document, in place, into the
 * words of its rule without the leading "-A CHAIN" (iptables -C takes the
 * chain apart): at most max words into words[]. Returns the number of words,
 * 0 for a line that is not an "-A" rule of chain, or -E2BIG when there are
 * more than max. The document's words never hold quotes or spaces.
 */
int preflight_rule_words(char *line, const char *chain, char **words, size_t max);

/* Bytes of the probe's inner packet: an IPv4 header, an ICMP echo header, the payload. */
#define PREFLIGHT_ECHO_PAYLOAD_LEN 16
#define PREFLIGHT_ECHO_LEN	   (20 + 8 + PREFLIGHT_ECHO_PAYLOAD_LEN)
#define PREFLIGHT_ICMP_ECHO_LEN	   (8 + PREFLIGHT_ECHO_PAYLOAD_LEN)

/*
 * Writes an ICMP echo request (header and a payload naming drover) with id
 * and seq into icmp[0..PREFLIGHT_ICMP_ECHO_LEN), its checksum computed.
 */
void preflight_icmp_echo(uint8_t icmp[PREFLIGHT_ICMP_ECHO_LEN], uint16_t id, uint16_t seq);

/*
 * Writes the inner packet of the tunnel probe into pkt: an IPv4 header from
 * src to dst (network byte order; TTL 64, DF, checksum computed) carrying
 * preflight_icmp_echo(id, seq).
 */
void preflight_echo_packet(uint8_t pkt[PREFLIGHT_ECHO_LEN], uint32_t src, uint32_t dst, uint16_t id,
			   uint16_t seq);

/*
 * Reads pkt[0..len) as a raw ICMP socket delivers it (IPv4 header first): an
 * echo reply whose header and lengths hold together. Sets *src (network byte
 * order), *id and *seq and returns true; false for anything else.
 */
bool preflight_echo_reply(const uint8_t *pkt, size_t len, uint32_t *src, uint16_t *id,
			  uint16_t *seq);

#endif
