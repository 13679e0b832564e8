/*
 * preflight_probe.h - is each proxy reachable with protocol 4? Sends every
 * proxy an ICMP echo request wrapped in IPIP (outer and inner source this
 * appliance's tunnel source, inner destination the proxy), which the proxy's
 * decapsulation (the kernel's tunl0 or drover-decap) delivers to its own
 * stack, so the proxy answers the echo directly; and beside it a plain echo,
 * so that "no answer at all" and "answered, but not through the tunnel"
 * come apart. Needs CAP_NET_RAW. Single-threaded; waits at most the
 * timeout given.
 */
#ifndef DROVER_PREFLIGHT_PROBE_H
#define DROVER_PREFLIGHT_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* What one proxy answered. */
enum preflight_probe_answer {
	PREFLIGHT_PROBE_NONE = 0,	  /* nothing within the timeout */
	PREFLIGHT_PROBE_TUNNEL = 1U << 0, /* the echo sent through the tunnel */
	PREFLIGHT_PROBE_PLAIN = 1U << 1,  /* the plain echo */
};

struct preflight_probe_target {
	uint32_t proxy;	 /* network byte order */
	uint32_t source; /* the tunnel source droverd uses towards it */
	/* Results. */
	unsigned answers;   /* enum preflight_probe_answer flags */
	unsigned tunnel_ms; /* round trip of the tunnelled echo, with PREFLIGHT_PROBE_TUNNEL */
	int send_error;	    /* 0, or -errno of a send that failed */
};

/* Proxies one run probes, at most (two sequence numbers each). */
#define PREFLIGHT_PROBE_MAX 1024

/*
 * Probes targets[0..n) at once and waits until every one has answered both
 * echoes or timeout_ms has passed. Returns 0, -EPERM without CAP_NET_RAW,
 * -EINVAL for n above PREFLIGHT_PROBE_MAX, or -errno when no socket could be
 * opened.
 */
int preflight_probe_run(struct preflight_probe_target *targets, size_t n, unsigned timeout_ms);

#endif
