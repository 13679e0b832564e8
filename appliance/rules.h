/*
 * rules.h - the appliance's iptables rules: which packets enter the queues.
 *
 * Everything lives in one chain, DROVER, jumped to from the top of FORWARD.
 * Proxies' own traffic returns first (it must be routed, never queued); then
 * TCP to the web ports from the client subnets, their QUIC (UDP to port
 * 443), TCP fragments from them (non-first fragments carry no ports), and
 * ICMP unreachable errors from them (a client's frag-needed about a proxy's
 * reply), go to queues base..base+n-1 with --queue-balance. QUIC is queued
 * under every quic_policy, pass included: the decision and its counters are
 * droverd's, and a policy change applies with the next datagram, the rules
 * untouched. --queue-bypass (when fail_open) lets traffic flow when no
 * droverd is listening. Only forwarded packets pass FORWARD, so the
 * appliance's own traffic is never queued.
 */
#ifndef DROVER_RULES_H
#define DROVER_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"
#include "settings.h"

#define RULES_CHAIN "DROVER"
/*
 * With IPv6 client subnets the document goes on, after this line, with the
 * ip6tables-restore document of the same chain in the IPv6 filter table:
 * TCP to the web ports from the IPv6 client subnets, their QUIC, every TCP fragment from
 * them, and ICMPv6 Packet Too Big and destination unreachable from them,
 * to the same queues. Never any other ICMPv6 (neighbour discovery stays
 * the kernel's).
 */
#define RULES_IPV6_MARK "# ip6tables-restore --noflush\n"
/* IPv6 forwarding, turned on by rules_apply when there are IPv6 client subnets. */
#define RULES_IPV6_FORWARDING "/proc/sys/net/ipv6/conf/all/forwarding"

/*
 * Writes an iptables-restore (--noflush) document for the filter table that
 * (re)creates the chain. proxies: addresses (network byte order) excluded.
 * Returns the length, or -ENOSPC.
 */
int rules_render(const struct settings *s, unsigned nqueues, const uint32_t *proxies,
		 size_t nproxies, char *buf, size_t len);
/*
 * As rules_render for the pool's proxies: each one's IPv4 address returns
 * in the IPv4 chain, and its IPv6 address, when it has one, in the IPv6
 * chain (never queued, as a proxy's IPv4 traffic never is).
 */
int rules_render_pool(const struct settings *s, unsigned nqueues, const struct proxy_config *pool,
		      size_t npool, char *buf, size_t len);

/*
 * Loads the document atomically and makes sure FORWARD jumps to the chain,
 * for IPv4 and, when the document holds an IPv6 part, for IPv6 too (IPv6
 * forwarding turned on first); without one, an IPv6 chain left from before
 * is removed. 0 or -errno; err says why.
 */
int rules_apply(const char *doc, char *err, size_t errlen);
/* Removes the jump and the chain of both families; quiet when they are already gone. */
void rules_remove(void);
/*
 * Forwarding on, ICMP redirects off ("all", "default" and every device there
 * now: the kernel ORs "all" with the device's own value), as the appliance is
 * the clients' router. 0 or -errno.
 */
int rules_sysctls(char *err, size_t errlen);

#endif
