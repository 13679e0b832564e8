/*
 * datapath.h - the packet threads: one per NFQUEUE, each receiving bursts,
 * choosing a proxy, sending IPIP copies in batches and answering with
 * batched verdicts.
 *
 * The packet path never allocates, locks or logs: it counts. It reads the
 * pool through the snapshot published with datapath_publish; snapshots
 * replaced are freed only once every thread has passed a quiescent point
 * (datapath_reclaim).
 */
#ifndef DROVER_DATAPATH_H
#define DROVER_DATAPATH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "packet.h"
#include "packet6.h"
#include "pool.h"
#include "queue.h"

enum datapath_counter {
	DP_PACKETS, /* packets received from the queues */
	DP_BYTES,
	DP_MALFORMED, /* sum of the per-reason counters */
	DP_NOT_WEB,   /* queued but not for a web port: accepted */
	/* queued while the rules changed, from a proxy or outside client_subnets: accepted,
	 * never recorded for the fast path */
	DP_NOT_CLIENT,
	/*
	 * A client's ICMP error about a web flow goes to the client's proxy only
	 * when it speaks of the sender's own flow on a proxy; else it is routed
	 * normally, counted by why.
	 */
	DP_ICMP_NOT_SENDER,	 /* it quotes a flow of another address than its sender */
	DP_ICMP_OUTSIDE_SUBNETS, /* its sender is not in client_subnets */
	DP_ICMP_UNPLACED,	 /* its sender has no proxy that keeps it */
	DP_ENCAPSULATED,	 /* packets sent to a proxy */
	DP_OUTER_FRAGMENTS,  /* outer fragments sent for DF-clear packets too big for the tunnel */
	DP_FRAG_NEEDED_SENT, /* ICMP fragmentation needed sent to clients */
	DP_FRAG_NEEDED_LIMITED, /* ... suppressed: that client's budget is spent */
	/* A reply was due but none may be sent (reply_may_answer, or a RST): dropped silently. */
	DP_NOT_ANSWERED,
	DP_BYPASSED, /* no proxy: accepted and routed normally */
	DP_NO_PROXY_DROPPED,
	DP_REJECTED,	   /* no proxy, no_proxy_policy reject: dropped, answered if allowed */
	DP_REJECT_SENT,	   /* ... RST / ICMP unreachable sent */
	DP_REJECT_LIMITED, /* ... not answered: that client's budget is spent */
	DP_TX_ERRORS,	   /* sendmmsg/sendto refused a packet */
	DP_RECV_ERRORS,
	DP_ENOBUFS, /* recv reported ENOBUFS (the kernel's own drops: datapath_kernel_drops) */
	DP_VERDICT_BATCHES,
	DP_VERDICT_SINGLES,
	DP_VERDICT_ERRORS,
	DP_AFFINITY_HITS,
	DP_AFFINITY_MOVES, /* affinity entry pointed at a proxy that no longer keeps clients */
	DP_AFFINITY_EVICTIONS,
	DP_BURSTS,
	DP_FAST_LEARNED,      /* clients recorded for the kernel fast path */
	DP_FAST_LEARN_ERRORS, /* ... refused by the kernel */
	/*
	 * IPv6 (also counted in the totals above: packets, bytes, malformed,
	 * encapsulated, ...): clients' IPv6 packets carried to the proxies,
	 * in IPv6-in-IPv6 to those with an IPv6 address, else in IPv6-in-IPv4.
	 */
	DP_IPV6_PACKETS,
	DP_IPV6_ENCAPSULATED, /* both encapsulations */
	DP_IPV6_PLACED,	      /* IPv6 clients given a proxy by the table (affinity entries made) */
	DP_IPV6_IN_IPV6,      /* ... of DP_IPV6_ENCAPSULATED: in IPv6-in-IPv6 */
	DP_PACKET_TOO_BIG_SENT,	   /* ICMPv6 Packet Too Big sent to clients */
	DP_PACKET_TOO_BIG_LIMITED, /* ... suppressed: that client's budget is spent */
	/*
	 * The clients' QUIC (UDP to port 443, both IP versions; quic.h), by
	 * quic_policy: every such datagram is counted once in one of the first
	 * three. A rejected one that may not be answered (RFC 1122) also counts
	 * as not_answered.
	 */
	DP_QUIC_REJECTED,	/* reject: dropped (answered or not) */
	DP_QUIC_DROPPED,	/* drop: dropped silently */
	DP_QUIC_PASSED,		/* pass: forwarded unfiltered */
	DP_QUIC_REJECT_SENT,	/* ... port unreachable sent */
	DP_QUIC_REJECT_LIMITED, /* ... not answered: the queue's quic_reject_rate is spent */
	/* The kernel fast path's own counters, in enum fastpath_counter order. */
	DP_FAST_PACKETS,
	DP_FAST_BYTES,
	DP_FAST_MERGED,
	DP_FAST_DECLINED_STALE,
	DP_FAST_DECLINED_IDLE,
	DP_FAST_DECLINED_NO_HEARTBEAT,
	DP_FAST_DECLINED_TOO_BIG,
	DP_FAST_DECLINED_NOT_FORWARDED,
	DP_FAST_DECLINED_INTERFACE,
	DP_FAST_DECLINED_TTL,
	DP_FAST_ENCAP_ERRORS,
	DP_FAST_IPV6_PACKETS,
	DP_FAST_IPV6_6IN4_PACKETS,
	DP_FAST_XDP_PACKETS,
	DP_FAST_XDP_CHECKSUMS_FINISHED,
	DP_FAST_XDP_DECLINED_CHECKSUM,
	DP_FAST_XDP_DECLINED_EGRESS,
	DP_COUNTER_COUNT,
};

struct datapath_slot_counters {
	uint64_t hits; /* new TCP connections: SYN without ACK */
	uint64_t packets;
	uint64_t bytes;
};

struct datapath_thread; /* private */

struct datapath {
	struct pool_snapshot *current; /* published with __atomic, read once per burst */
	uint64_t epoch;		       /* bumped on every publish */
	struct datapath_thread *threads[SETTINGS_QUEUES_MAX];
	unsigned nthreads;
	/* The kernel fast path once opened (stays until stop): its traffic joins the counters. */
	struct fastpath *fast;
	/* What threads stopped since start had counted: counters never go back. */
	uint64_t gone_counters[DP_COUNTER_COUNT];
	uint64_t gone_malformed[PACKET_ERR_COUNT];
	uint64_t gone_malformed6[PACKET6_ERR_COUNT];
	struct datapath_slot_counters gone_slots[PROXY_SLOTS_MAX];
	/* Snapshots waiting for every thread to move past them. */
	struct datapath_retired {
		struct pool_snapshot *snap;
		struct affinity_table *affinity; /* also freed, when a resize replaced it */
		uint64_t epoch;
	} retired[64];
	unsigned nretired;
};

void datapath_init(struct datapath *dp);

/*
 * Binds queues [base, base + count) that are not bound yet and starts their
 * threads; stops and unbinds the threads of queues beyond count. Returns 0 or
 * -errno (nothing new left running when a bind fails); err says which queue.
 */
int datapath_set_queues(struct datapath *dp, uint16_t base, unsigned count,
			const struct queue_options *opt, char *err, size_t errlen);

/* Applies new queue options (maxlen, fail-open) to every bound queue. */
void datapath_configure(struct datapath *dp, const struct queue_options *opt);

/*
 * Makes snap current for every thread. The previous snapshot (and
 * old_affinity, when not NULL) is freed by a later datapath_reclaim.
 */
void datapath_publish(struct datapath *dp, struct pool_snapshot *snap,
		      struct affinity_table *old_affinity);

/* Frees retired snapshots no thread can still see. Call from a timer. */
void datapath_reclaim(struct datapath *dp);

/* Stops every thread, unbinds, frees every snapshot. */
void datapath_stop(struct datapath *dp);

/* Sums of every thread's counters (a consistent-enough read of monotonic counters). */
void datapath_counters(const struct datapath *dp, uint64_t out[DP_COUNTER_COUNT],
		       uint64_t malformed[PACKET_ERR_COUNT]);
/* IPv6 packets that failed parsing, by enum packet6_error, summed over threads. */
void datapath_malformed6(const struct datapath *dp, uint64_t out[PACKET6_ERR_COUNT]);
/*
 * The name an IPv6 parse failure is shown under next to the IPv4 ones:
 * "ipv6_" and packet6_error_name, e.g. "ipv6_ext_count".
 */
const char *datapath_malformed6_name(enum packet6_error err);
void datapath_slot_counters(const struct datapath *dp, uint16_t slot,
			    struct datapath_slot_counters *out);
/* Kernel-side drops summed over bound queues: queue full, netlink socket full. */
void datapath_kernel_drops(const struct datapath *dp, uint64_t *queue_dropped,
			   uint64_t *user_dropped);
/* Bursts handled by the slowest-moving thread: for the watchdog. */
uint64_t datapath_min_progress(const struct datapath *dp);

const char *datapath_counter_name(enum datapath_counter c);

#endif
