/*
 * rules.h - the appliance's iptables rules: which packets enter the queues.
 *
 * Everything lives in one chain, DROVER, jumped to from the top of FORWARD.
 * Proxies' own traffic returns first (it must be routed, never queued); then
 * TCP to the web ports from the client subnets, and TCP fragments from them
 * (non-first fragments carry no ports), and ICMP unreachable errors from
 * them (a client's frag-needed about a proxy's reply), go to queues base..base+n-1 with
 * --queue-balance. --queue-bypass (when fail_open) lets traffic flow when no
 * droverd is listening. Only forwarded packets pass FORWARD, so the
 * appliance's own traffic is never queued.
 */
#ifndef DROVER_RULES_H
#define DROVER_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "settings.h"

#define RULES_CHAIN "DROVER"

/*
 * Writes an iptables-restore (--noflush) document for the filter table that
 * (re)creates the chain. proxies: addresses (network byte order) excluded.
 * Returns the length, or -ENOSPC.
 */
int rules_render(const struct settings *s, unsigned nqueues, const uint32_t *proxies,
		 size_t nproxies, char *buf, size_t len);

/* Loads the document atomically and makes sure FORWARD jumps to the chain. 0 or -errno; err says
 * why. */
int rules_apply(const char *doc, char *err, size_t errlen);
/* Removes the jump and the chain; quiet when they are already gone. */
void rules_remove(void);
/* Forwarding on, ICMP redirects off (the appliance is the clients' router). 0 or -errno. */
int rules_sysctls(char *err, size_t errlen);

#endif
