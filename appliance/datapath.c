/* datapath.c - packet threads: NFQUEUE bursts in, IPIP copies and batched verdicts out. */
#include "datapath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "clock.h"
#include "client.h"
#include "encap.h"
#include "encap6.h"
#include "fastpath.h"
#include "quic.h"
#include "ratelimit.h"
#include "reply.h"
#include "reply6.h"
#include "wire.h"

#define DP_BURST   32
#define DP_RXBUF   (65536 + 1024) /* a full IPv4 packet plus netlink framing */
#define DP_TX_MAX  256
#define DP_OFFLINE UINT64_MAX
/* Clients recorded for the fast path in the last second, per thread (a power of two). */
#define DP_LEARN_CACHE 1024
/* Buckets of clients with a budget of replies each, per thread (a power of two). */
#define DP_REPLY_SOURCES 1024

/* The replies drover sends clients itself, each with its own budget. */
enum dp_reply_kind {
	DP_REPLY_FRAG_NEEDED,	 /* frag_needed_rate */
	DP_REPLY_REJECT,	 /* reject_rate */
	DP_REPLY_PACKET_TOO_BIG, /* frag_needed_rate: the IPv6 counterpart */
	DP_REPLY_KINDS,
};

/* Replies sent to one bucket of clients in the current second of the thread's clock. */
struct dp_reply_budget {
	uint32_t second;
	uint32_t used;
};

struct datapath_thread {
	struct datapath *dp;
	struct queue_socket q;
	pthread_t tid;
	bool started;
	int raw_fd; /* IPPROTO_RAW: we write the whole IP header (IPIP, RST) */
	/* AF_INET6 IPPROTO_RAW: we write the whole IPv6 header (6in6); -1 without IPv6 */
	int raw6_fd;
	int icmp_fd; /* IPPROTO_ICMP: the kernel adds the IP header and picks our source */
	/* IPPROTO_ICMPV6: the same for IPv6, the checksum the kernel's too; -1 without IPv6 */
	int icmp6_fd;
	bool stop;   /* __atomic */
	uint64_t qs; /* __atomic: epoch seen at the last quiescent point, or DP_OFFLINE */
	uint64_t loops;
	uint16_t ip_id;
	uint32_t now;
	uint64_t now_ms; /* the same clock in milliseconds, for token buckets */
	uint32_t indev;	 /* the interface the packet being decided came in on (0: unknown) */

	uint64_t counters[DP_COUNTER_COUNT];
	uint64_t malformed[PACKET_ERR_COUNT];
	uint64_t malformed6[PACKET6_ERR_COUNT];
	struct datapath_slot_counters slots[PROXY_SLOTS_MAX];
	/*
	 * The fast path takes a client's packets once it is recorded; packets
	 * still reach us before that (already queued) or when the kernel
	 * declines them. Recording once a second per client bounds the syscalls.
	 */
	struct dp_learned {
		uint32_t client;
		uint32_t second;
	} learned[DP_LEARN_CACHE];
	/*
	 * Each client's replies are budgeted apart, so that one client sending
	 * too much spends only its own budget. Clients share a bucket by their
	 * keyed hash, which nobody can aim at another client's bucket.
	 */
	struct dp_reply_budget replies[DP_REPLY_KINDS][DP_REPLY_SOURCES];
	/*
	 * QUIC port unreachables of this queue, all clients together: a flood of
	 * datagrams with forged client sources must not turn the appliance into
	 * a reflector, whatever the sources.
	 */
	struct ratelimit quic_replies;

	struct queue_verdicts verdicts;
	struct mmsghdr rx_msgs[DP_BURST];
	struct iovec rx_iov[DP_BURST];
	uint8_t *rx_buf;

	unsigned ntx;
	struct mmsghdr tx_msgs[DP_TX_MAX];
	struct iovec tx_iov[DP_TX_MAX][2];
	struct sockaddr_in tx_addr[DP_TX_MAX];
	uint8_t tx_hdr[DP_TX_MAX][ENCAP_OUTER_LEN];
	/* IPv6-in-IPv6 copies, sent on raw6_fd in their own batch, flushed with the rest. */
	unsigned ntx6;
	struct mmsghdr tx6_msgs[DP_TX_MAX];
	struct iovec tx6_iov[DP_TX_MAX][2];
	struct sockaddr_in6 tx6_addr[DP_TX_MAX];
	uint8_t tx6_hdr[DP_TX_MAX][ENCAP6_IP6IP6_LEN];
	struct encap_frag frags[ENCAP_MAX_FRAGS];
	uint8_t reply[REPLY_MAX_LEN];
	uint8_t reply6[REPLY6_MAX_LEN];
};

_Static_assert(ENCAP6_6IN4_LEN == ENCAP_OUTER_LEN,
	       "a 6in4 header takes the room of an IPIP header in the send queue");

static const char *const datapath_counter_names[DP_COUNTER_COUNT] = {
    [DP_PACKETS] = "packets",
    [DP_BYTES] = "bytes",
    [DP_MALFORMED] = "malformed",
    [DP_NOT_WEB] = "not_web",
    [DP_NOT_CLIENT] = "not_client",
    [DP_ICMP_NOT_SENDER] = "icmp_error_not_sender",
    [DP_ICMP_OUTSIDE_SUBNETS] = "icmp_error_outside_subnets",
    [DP_ICMP_UNPLACED] = "icmp_error_unplaced",
    [DP_ENCAPSULATED] = "encapsulated",
    [DP_OUTER_FRAGMENTS] = "outer_fragments",
    [DP_FRAG_NEEDED_SENT] = "frag_needed_sent",
    [DP_FRAG_NEEDED_LIMITED] = "frag_needed_rate_limited",
    [DP_NOT_ANSWERED] = "not_answered",
    [DP_BYPASSED] = "bypassed",
    [DP_NO_PROXY_DROPPED] = "no_proxy_dropped",
    [DP_REJECTED] = "rejected",
    [DP_REJECT_SENT] = "reject_sent",
    [DP_REJECT_LIMITED] = "reject_rate_limited",
    [DP_TX_ERRORS] = "tx_errors",
    [DP_RECV_ERRORS] = "recv_errors",
    [DP_ENOBUFS] = "enobufs",
    [DP_VERDICT_BATCHES] = "verdict_batches",
    [DP_VERDICT_SINGLES] = "verdict_singles",
    [DP_VERDICT_ERRORS] = "verdict_errors",
    [DP_AFFINITY_HITS] = "affinity_hits",
    [DP_AFFINITY_MOVES] = "affinity_moves",
    [DP_AFFINITY_EVICTIONS] = "affinity_evictions",
    [DP_BURSTS] = "bursts",
    [DP_FAST_LEARNED] = "fast_learned",
    [DP_FAST_LEARN_ERRORS] = "fast_learn_errors",
    [DP_IPV6_PACKETS] = "ipv6_packets",
    [DP_IPV6_ENCAPSULATED] = "ipv6_encapsulated",
    [DP_IPV6_PLACED] = "ipv6_clients_placed",
    [DP_IPV6_IN_IPV6] = "ipv6_in_ipv6",
    [DP_PACKET_TOO_BIG_SENT] = "packet_too_big_sent",
    [DP_PACKET_TOO_BIG_LIMITED] = "packet_too_big_rate_limited",
    [DP_QUIC_REJECTED] = "quic_rejected",
    [DP_QUIC_DROPPED] = "quic_dropped",
    [DP_QUIC_PASSED] = "quic_passed",
    [DP_QUIC_REJECT_SENT] = "quic_reject_sent",
    [DP_QUIC_REJECT_LIMITED] = "quic_reject_rate_limited",
};

static const char *const datapath_malformed6_names[PACKET6_ERR_COUNT] = {
    [PACKET6_OK] = "ipv6_ok",
    [PACKET6_ERR_TRUNCATED] = "ipv6_truncated",
    [PACKET6_ERR_VERSION] = "ipv6_version",
    [PACKET6_ERR_PAYLOAD_LENGTH] = "ipv6_payload_length",
    [PACKET6_ERR_SOURCE] = "ipv6_source",
    [PACKET6_ERR_EXT_TRUNCATED] = "ipv6_ext_truncated",
    [PACKET6_ERR_EXT_COUNT] = "ipv6_ext_count",
    [PACKET6_ERR_EXT_ORDER] = "ipv6_ext_order",
    [PACKET6_ERR_FRAGMENT] = "ipv6_fragment",
    [PACKET6_ERR_FIRST_FRAGMENT] = "ipv6_first_fragment",
    [PACKET6_ERR_L4_TRUNCATED] = "ipv6_l4_truncated",
    [PACKET6_ERR_TCP_OFFSET] = "ipv6_tcp_offset",
    [PACKET6_ERR_ICMP_QUOTE] = "ipv6_icmp_quote",
};

_Static_assert(PACKET6_ERR_ICMP_QUOTE + 1 == PACKET6_ERR_COUNT,
	       "every IPv6 parse failure has a name");

const char *datapath_malformed6_name(enum packet6_error err)
{
	return (unsigned)err < PACKET6_ERR_COUNT ? datapath_malformed6_names[err] : "ipv6_unknown";
}

_Static_assert(DP_FAST_XDP_DECLINED_EGRESS - DP_FAST_PACKETS + 1 == FASTPATH_COUNTER_COUNT,
	       "the datapath lists every fast path counter");

const char *datapath_counter_name(enum datapath_counter c)
{
	if (c >= DP_FAST_PACKETS && c <= DP_FAST_XDP_DECLINED_EGRESS)
		return fastpath_counter_name(c - DP_FAST_PACKETS);
	return (unsigned)c < DP_COUNTER_COUNT ? datapath_counter_names[c] : "unknown";
}

/* Single writer (the thread); the control thread reads with relaxed loads. */
static inline void dp_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

static inline void dp_count(struct datapath_thread *t, enum datapath_counter c)
{
	dp_add(&t->counters[c], 1);
}

/* Sends count queued messages on fd; a refused one is counted and skipped. */
static void dp_tx_send(struct datapath_thread *t, int fd, struct mmsghdr *msgs, unsigned count)
{
	unsigned done = 0;

	while (done < count) {
		int n = sendmmsg(fd, msgs + done, count - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* The first message of the rest failed; skip it. */
			dp_count(t, DP_TX_ERRORS);
			done++;
			continue;
		}
		done += (unsigned)n;
	}
}

/* Sends every queued outer packet, both families. */
static void dp_tx_flush(struct datapath_thread *t)
{
	dp_tx_send(t, t->raw_fd, t->tx_msgs, t->ntx);
	t->ntx = 0;
	dp_tx_send(t, t->raw6_fd, t->tx6_msgs, t->ntx6);
	t->ntx6 = 0;
}

/* Queues an IPv6-in-IPv6 copy to dst; its 40-byte header goes in t->tx6_hdr[t->ntx6 - 1]. */
static void dp_tx6_queue(struct datapath_thread *t, const uint8_t dst[WIRE_IPV6_ADDR_LEN],
			 const void *payload, size_t len)
{
	unsigned i;

	if (t->ntx6 == DP_TX_MAX)
		dp_tx_flush(t);
	i = t->ntx6++;
	/* sin6_port stays 0: on a raw socket a port would name the protocol (the header does). */
	t->tx6_addr[i] = (struct sockaddr_in6){.sin6_family = AF_INET6};
	memcpy(&t->tx6_addr[i].sin6_addr, dst, WIRE_IPV6_ADDR_LEN);
	t->tx6_iov[i][0] = (struct iovec){.iov_base = t->tx6_hdr[i], .iov_len = ENCAP6_IP6IP6_LEN};
	t->tx6_iov[i][1] = (struct iovec){.iov_base = (void *)payload, .iov_len = len};
	t->tx6_msgs[i].msg_hdr = (struct msghdr){
	    .msg_name = &t->tx6_addr[i],
	    .msg_namelen = sizeof(t->tx6_addr[i]),
	    .msg_iov = t->tx6_iov[i],
	    .msg_iovlen = 2,
	};
}

static void dp_tx_queue(struct datapath_thread *t, uint32_t dst, const void *payload, size_t len)
{
	unsigned i;

	if (t->ntx == DP_TX_MAX)
		dp_tx_flush(t);
	i = t->ntx++;
	t->tx_addr[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = dst};
	t->tx_iov[i][0] = (struct iovec){.iov_base = t->tx_hdr[i], .iov_len = ENCAP_OUTER_LEN};
	t->tx_iov[i][1] = (struct iovec){.iov_base = (void *)payload, .iov_len = len};
	t->tx_msgs[i].msg_hdr = (struct msghdr){
	    .msg_name = &t->tx_addr[i],
	    .msg_namelen = sizeof(t->tx_addr[i]),
	    .msg_iov = t->tx_iov[i],
	    .msg_iovlen = 2,
	};
}

/*
 * Whether one more reply of this kind may go to client (the source of the
 * packet answered): rate a second for its bucket of clients, on the thread's
 * clock. Counts the refusal.
 */
static bool dp_reply_allowed_hash(struct datapath_thread *t, const struct pool_snapshot *snap,
				  enum dp_reply_kind kind, uint64_t hash)
{
	static const enum datapath_counter limited[DP_REPLY_KINDS] = {
	    [DP_REPLY_FRAG_NEEDED] = DP_FRAG_NEEDED_LIMITED,
	    [DP_REPLY_REJECT] = DP_REJECT_LIMITED,
	    [DP_REPLY_PACKET_TOO_BIG] = DP_PACKET_TOO_BIG_LIMITED,
	};
	uint32_t rate = kind == DP_REPLY_REJECT ? snap->reject_rate : snap->frag_needed_rate;
	struct dp_reply_budget *b = &t->replies[kind][hash & (DP_REPLY_SOURCES - 1)];

	if (b->second != t->now) {
		b->second = t->now;
		b->used = 0;
	}
	if (b->used >= rate) {
		dp_count(t, limited[kind]);
		return false;
	}
	b->used++;
	return true;
}

static bool dp_reply_allowed(struct datapath_thread *t, const struct pool_snapshot *snap,
			     enum dp_reply_kind kind, uint32_t client)
{
	return dp_reply_allowed_hash(t, snap, kind, hash_client(snap->hash_key, client));
}

static void dp_send_icmp(struct datapath_thread *t, uint32_t client, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = client};

	if (sendto(t->icmp_fd, t->reply, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		dp_count(t, DP_TX_ERRORS);
}

/* The client's packet does not fit the tunnel: fragment the outer packet, or tell the client. */
static int dp_too_big(struct datapath_thread *t, const struct pool_snapshot *snap,
		      const struct pool_target *target, const struct packet_info *pi,
		      const uint8_t *pkt, size_t len)
{
	if (pi->df) {
		/* An ICMP error or a later fragment is dropped unanswered, as a router would. */
		if (!reply_may_answer(pi)) {
			dp_count(t, DP_NOT_ANSWERED);
			return NF_DROP;
		}
		if (dp_reply_allowed(t, snap, DP_REPLY_FRAG_NEEDED, pi->src)) {
			size_t n = reply_frag_needed(t->reply, sizeof(t->reply), pkt, len,
						     target->tunnel_mtu);
			if (n > 0) {
				dp_send_icmp(t, pi->src, n);
				dp_count(t, DP_FRAG_NEEDED_SENT);
			}
		}
		return NF_DROP;
	}
	size_t nfrags = encap_ipip_fragments(t->frags, ENCAP_MAX_FRAGS, target->source,
					     target->address, pkt, (uint16_t)len, t->ip_id++,
					     (uint16_t)(target->tunnel_mtu + ENCAP_OUTER_LEN));
	if (nfrags == 0) {
		dp_count(t, DP_TX_ERRORS);
		return NF_DROP;
	}
	for (size_t i = 0; i < nfrags; i++) {
		dp_tx_queue(t, target->address, pkt + t->frags[i].offset, t->frags[i].len);
		memcpy(t->tx_hdr[t->ntx - 1], t->frags[i].hdr, ENCAP_OUTER_LEN);
	}
	dp_add(&t->counters[DP_OUTER_FRAGMENTS], nfrags);
	dp_count(t, DP_ENCAPSULATED);
	return NF_DROP;
}

/*
 * no_proxy_policy reject: a TCP reset for a whole TCP segment, ICMP
 * administratively prohibited for the rest (a first fragment), within the
 * client's budget, and never where RFC 1122 forbids a reply or to a RST.
 */
static void dp_reject(struct datapath_thread *t, const struct pool_snapshot *snap,
		      const struct packet_info *pi, const uint8_t *pkt, size_t len)
{
	size_t n;

	if (!reply_may_answer(pi) || (pi->has_ports && (pi->tcp_flags & WIRE_TCP_RST))) {
		dp_count(t, DP_NOT_ANSWERED);
		return;
	}
	if (!dp_reply_allowed(t, snap, DP_REPLY_REJECT, pi->src))
		return;
	n = reply_tcp_reset(t->reply, sizeof(t->reply), pi);
	if (n > 0) {
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = pi->src};

		if (sendto(t->raw_fd, t->reply, n, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			dp_count(t, DP_TX_ERRORS);
		dp_count(t, DP_REJECT_SENT);
		return;
	}
	n = reply_icmp_unreachable(t->reply, sizeof(t->reply), pkt, len,
				   WIRE_ICMP_ADMIN_PROHIBITED);
	if (n > 0) {
		dp_send_icmp(t, pi->src, n);
		dp_count(t, DP_REJECT_SENT);
	}
}

/*
 * Counts a client's packet that has no proxy by no_proxy_policy and returns
 * its verdict; *reject says whether the policy answers the client (the
 * caller sends the answer of its IP version).
 */
static int dp_no_proxy_verdict(struct datapath_thread *t, const struct pool_snapshot *snap,
			       bool *reject)
{
	*reject = false;
	switch (snap->no_proxy) {
	case NO_PROXY_DROP:
		dp_count(t, DP_NO_PROXY_DROPPED);
		return NF_DROP;
	case NO_PROXY_REJECT:
		dp_count(t, DP_REJECTED);
		*reject = true;
		return NF_DROP;
	case NO_PROXY_BYPASS:
	default:
		dp_count(t, DP_BYPASSED);
		return NF_ACCEPT;
	}
}

static int dp_no_proxy(struct datapath_thread *t, const struct pool_snapshot *snap,
		       const struct packet_info *pi, const uint8_t *pkt, size_t len)
{
	bool reject;
	int verdict = dp_no_proxy_verdict(t, snap, &reject);

	if (reject)
		dp_reject(t, snap, pi, pkt, len);
	return verdict;
}

/*
 * The proxy for a client: its affinity entry while that proxy still keeps
 * clients, else the Maglev table's choice, remembered. 0 when none.
 */
static uint16_t dp_choose(struct datapath_thread *t, const struct pool_snapshot *snap,
			  uint32_t client, uint64_t hash)
{
	struct affinity_stats stats = {0};
	uint16_t slot;
	bool moved = false;

	if (affinity_lookup(snap->affinity, client, hash, t->now, &slot)) {
		if (slot < snap->nslots && (snap->targets[slot].flags & POOL_TARGET_KEEPS)) {
			dp_count(t, DP_AFFINITY_HITS);
			return slot;
		}
		moved = true;
	}
	slot = maglev_lookup(&snap->table, hash);
	if (slot == MAGLEV_EMPTY)
		return 0;
	affinity_insert(snap->affinity, client, hash, slot, t->now, &stats);
	if (stats.evictions)
		dp_add(&t->counters[DP_AFFINITY_EVICTIONS], stats.evictions);
	if (moved)
		dp_count(t, DP_AFFINITY_MOVES);
	return slot;
}

/*
 * The proxy that keeps the client of affinity key (hash its hash), found
 * without placing or refreshing anything; 0 (counted) when there is none.
 */
static uint16_t dp_icmp_error_placed(struct datapath_thread *t, const struct pool_snapshot *snap,
				     uint32_t key, uint64_t hash)
{
	uint16_t slot;

	if (!affinity_peek(snap->affinity, key, hash, t->now, &slot, NULL) ||
	    slot >= snap->nslots || !(snap->targets[slot].flags & POOL_TARGET_KEEPS)) {
		dp_count(t, DP_ICMP_UNPLACED);
		return 0;
	}
	dp_count(t, DP_AFFINITY_HITS);
	return slot;
}

/*
 * The proxy an ICMP error belongs to: that of the client it speaks for, or 0
 * when it goes on unproxied (counted by why). Only a client may speak of its
 * own flows: the quoted packet must be addressed to the error's sender, a
 * client of client_subnets, already placed on a proxy that still keeps it.
 * An error only looks the client up: it never places one (no Maglev choice,
 * no affinity entry, not even a refreshed one), so forged errors can neither
 * fill the table nor reach a proxy on behalf of somebody else.
 */
static uint16_t dp_icmp_error_owner(struct datapath_thread *t, const struct pool_snapshot *snap,
				    const struct packet_info *pi, uint64_t hash)
{
	if (pi->quoted_dst != pi->src) {
		dp_count(t, DP_ICMP_NOT_SENDER);
		return 0;
	}
	if (!pool_is_client(snap, pi->src)) {
		dp_count(t, DP_ICMP_OUTSIDE_SUBNETS);
		return 0;
	}
	return dp_icmp_error_placed(t, snap, pi->src, hash);
}

/*
 * Records client -> slot for the kernel fast path, at most once a second per
 * client, for packets that come in where this one did (a client the
 * snapshot's rules queue: dp_handle checked).
 */
static void dp_learn(struct datapath_thread *t, const struct pool_snapshot *snap, uint32_t client,
		     uint64_t hash, uint16_t slot)
{
	struct dp_learned *l = &t->learned[hash & (DP_LEARN_CACHE - 1)];
	const struct fastpath_client placed = {
	    .slot = slot,
	    .gen = snap->targets[slot].fast_gen,
	    .ifindex = t->indev,
	    .scope = snap->fast_scope,
	};

	if (t->indev == 0 || (l->client == client && l->second == t->now))
		return;
	l->client = client;
	l->second = t->now;
	if (fastpath_learn(snap->fast, client, &placed) == 0)
		dp_count(t, DP_FAST_LEARNED);
	else
		dp_count(t, DP_FAST_LEARN_ERRORS);
}

/* Counts a packet that did not parse (reason its per-reason counter); returns its verdict. */
static int dp_malformed(struct datapath_thread *t, const struct pool_snapshot *snap,
			uint64_t *reason)
{
	dp_count(t, DP_MALFORMED);
	dp_add(reason, 1);
	return snap->malformed == MALFORMED_DROP ? NF_DROP : NF_ACCEPT;
}

/*
 * Whether a parsed packet (of either IP version) is web traffic of the
 * pool: TCP to a web port, or an ICMP error quoting TCP from a web port.
 * A non-first fragment has no ports: it follows its client, like the rest.
 * A client's ICMP error about a proxied connection (it quotes web-port ->
 * client) belongs to the proxy that really sent the packet, not to the
 * server whose address that proxy answered with: PMTU discovery needs it.
 */
static bool dp_is_web(const struct pool_snapshot *snap, uint8_t protocol, bool has_ports,
		      uint16_t dport, bool icmp_error, uint8_t quoted_protocol,
		      bool quoted_has_ports, uint16_t quoted_sport)
{
	if (protocol != IPPROTO_TCP && !icmp_error)
		return false;
	if (has_ports && !pool_port_is_web(snap, dport))
		return false;
	return !icmp_error || (quoted_protocol == IPPROTO_TCP && quoted_has_ports &&
			       pool_port_is_web(snap, quoted_sport));
}

/* Counts a packet going to slot's proxy; a SYN alone is a new connection (a hit). */
static void dp_count_slot(struct datapath_thread *t, uint16_t slot, size_t len, bool has_ports,
			  uint8_t tcp_flags)
{
	struct datapath_slot_counters *sc = &t->slots[slot];

	dp_add(&sc->packets, 1);
	dp_add(&sc->bytes, len);
	if (has_ports && (tcp_flags & (WIRE_TCP_SYN | WIRE_TCP_ACK)) == WIRE_TCP_SYN)
		dp_add(&sc->hits, 1);
}

static int dp_handle6(struct datapath_thread *t, const struct pool_snapshot *snap,
		      const uint8_t *pkt, size_t len);

/*
 * dp_learn for an IPv6 client, recorded under its identity widened to the
 * prefix (the kernel's key), at most once a second per affinity tag (the
 * cache is shared with IPv4 clients: a collision only delays a record).
 */
static void dp_learn6(struct datapath_thread *t, const struct pool_snapshot *snap,
		      const struct client_id *client, uint32_t tag, uint16_t slot)
{
	struct dp_learned *l = &t->learned[tag & (DP_LEARN_CACHE - 1)];
	const struct client_id id = client_widen(client, snap->ipv6_prefix);
	const struct fastpath_client placed = {
	    .slot = slot,
	    .gen = snap->targets[slot].fast_gen,
	    .ifindex = t->indev,
	    .scope = snap->fast_scope,
	};

	if (t->indev == 0 || (l->client == tag && l->second == t->now))
		return;
	l->client = tag;
	l->second = t->now;
	if (fastpath_learn6(snap->fast, id.addr, &placed) == 0)
		dp_count(t, DP_FAST_LEARNED);
	else
		dp_count(t, DP_FAST_LEARN_ERRORS);
}

/*
 * Counts a client's QUIC datagram by quic_policy's action and returns its
 * verdict; *reply says whether the caller sends the port unreachable of its
 * IP version (the token for it is taken).
 */
static int dp_quic_verdict(struct datapath_thread *t, const struct pool_snapshot *snap,
			   bool may_answer, bool *reply)
{
	enum quic_action action = quic_decide(snap->quic, may_answer, &t->quic_replies, t->now_ms,
					      snap->quic_reject_rate);

	*reply = false;
	switch (action) {
	case QUIC_ACTION_PASS:
		dp_count(t, DP_QUIC_PASSED);
		return NF_ACCEPT;
	case QUIC_ACTION_DROP:
		dp_count(t, DP_QUIC_DROPPED);
		return NF_DROP;
	case QUIC_ACTION_REJECT_UNANSWERED:
		dp_count(t, DP_NOT_ANSWERED);
		break;
	case QUIC_ACTION_REJECT_LIMITED:
		dp_count(t, DP_QUIC_REJECT_LIMITED);
		break;
	case QUIC_ACTION_REJECT:
		*reply = true;
		break;
	}
	dp_count(t, DP_QUIC_REJECTED);
	return NF_DROP;
}

/* A client's IPv4 QUIC datagram: quic_policy, the reply a port unreachable quoting it. */
static int dp_quic(struct datapath_thread *t, const struct pool_snapshot *snap,
		   const struct packet_info *pi, const uint8_t *pkt, size_t len)
{
	bool reply;
	int verdict = dp_quic_verdict(t, snap, reply_may_answer(pi), &reply);
	size_t n;

	if (!reply)
		return verdict;
	n = reply_port_unreachable(t->reply, sizeof(t->reply), pkt, len);
	if (n > 0) {
		dp_send_icmp(t, pi->src, n);
		dp_count(t, DP_QUIC_REJECT_SENT);
	}
	return verdict;
}

/* Decides one packet, IPv4 here and IPv6 in dp_handle6; returns its verdict. */
static int dp_handle(struct datapath_thread *t, const struct pool_snapshot *snap,
		     const uint8_t *pkt, size_t len)
{
	struct packet_info pi;
	enum packet_error err;

	dp_count(t, DP_PACKETS);
	dp_add(&t->counters[DP_BYTES], len);
	if (len > 0 && wire_ip_version(pkt) == WIRE_IPV6_VERSION)
		return dp_handle6(t, snap, pkt, len);
	err = packet_parse(pkt, len, &pi);
	if (err != PACKET_OK) {
		return dp_malformed(t, snap, &t->malformed[err]);
	}
	if (quic_is_datagram(pi.protocol, pi.has_ports, pi.dport)) {
		if (!pool_is_client(snap, pi.src)) {
			dp_count(t, DP_NOT_CLIENT);
			return NF_ACCEPT;
		}
		return dp_quic(t, snap, &pi, pkt, len);
	}
	if (!dp_is_web(snap, pi.protocol, pi.has_ports, pi.dport, pi.icmp_error, pi.quoted_protocol,
		       pi.quoted_has_ports, pi.quoted_sport)) {
		dp_count(t, DP_NOT_WEB);
		return NF_ACCEPT;
	}

	uint32_t client = packet_client(&pi);
	uint64_t hash = hash_client(snap->hash_key, client);
	uint16_t slot;
	if (pi.icmp_error) {
		slot = dp_icmp_error_owner(t, snap, &pi, hash);
		if (slot == 0)
			return NF_ACCEPT;
	} else {
		/* Queued under rules being replaced: what the new rules leave alone goes its way.
		 */
		if (!pool_is_client(snap, client)) {
			dp_count(t, DP_NOT_CLIENT);
			return NF_ACCEPT;
		}
		slot = dp_choose(t, snap, client, hash);
		if (slot == 0)
			return dp_no_proxy(t, snap, &pi, pkt, len);
	}

	const struct pool_target *target = &snap->targets[slot];
	dp_count_slot(t, slot, len, pi.has_ports, pi.tcp_flags);

	if (len > target->tunnel_mtu)
		return dp_too_big(t, snap, target, &pi, pkt, len);
	/* What the kernel can carry itself: a whole TCP packet without IP options. */
	if (snap->fast != NULL && pi.protocol == IPPROTO_TCP && pi.has_ports && !pi.is_fragment &&
	    pi.ihl == WIRE_IPV4_HLEN_MIN)
		dp_learn(t, snap, client, hash, slot);

	dp_tx_queue(t, target->address, pkt, len);
	encap_ipip_header(t->tx_hdr[t->ntx - 1], target->source, target->address, pkt,
			  (uint16_t)len, t->ip_id++);
	dp_count(t, DP_ENCAPSULATED);
	return NF_DROP;
}

static void dp_send_icmp6(struct datapath_thread *t, const uint8_t client[WIRE_IPV6_ADDR_LEN],
			  size_t len)
{
	struct sockaddr_in6 to = {.sin6_family = AF_INET6};

	/* The ICMPv6 message only: the kernel writes the IPv6 header, source and checksum. */
	memcpy(&to.sin6_addr, client, WIRE_IPV6_ADDR_LEN);
	if (t->icmp6_fd < 0 || len <= WIRE_IPV6_HLEN ||
	    sendto(t->icmp6_fd, t->reply6 + WIRE_IPV6_HLEN, len - WIRE_IPV6_HLEN, 0,
		   (struct sockaddr *)&to, sizeof(to)) < 0)
		dp_count(t, DP_TX_ERRORS);
}

/* An IPv6 client's packet does not fit the tunnel: routers never fragment IPv6, tell it. */
static int dp_too_big6(struct datapath_thread *t, const struct pool_snapshot *snap, uint16_t mtu,
		       const struct packet6_info *pi, uint64_t hash, const uint8_t *pkt, size_t len)
{
	static const uint8_t any[WIRE_IPV6_ADDR_LEN];
	size_t n;

	if (!reply6_may_answer(pi)) {
		dp_count(t, DP_NOT_ANSWERED);
		return NF_DROP;
	}
	if (!dp_reply_allowed_hash(t, snap, DP_REPLY_PACKET_TOO_BIG, hash))
		return NF_DROP;
	/* The source and checksum written here are replaced by the kernel's (dp_send_icmp6). */
	n = reply6_packet_too_big(t->reply6, sizeof(t->reply6), any, pkt, len, mtu);
	if (n == 0) {
		/* A tunnel narrower than any IPv6 link: nothing true to say. */
		dp_count(t, DP_NOT_ANSWERED);
		return NF_DROP;
	}
	dp_send_icmp6(t, pi->src, n);
	dp_count(t, DP_PACKET_TOO_BIG_SENT);
	return NF_DROP;
}

/*
 * no_proxy_policy reject for an IPv6 client: ICMPv6 destination
 * unreachable, administratively prohibited (RFC 4443 3.1, code 1), within
 * the client's budget; never to an error, a later fragment or a RST. The
 * kernel replaces the source and the checksum (dp_send_icmp6).
 */
static void dp_reject6(struct datapath_thread *t, const struct pool_snapshot *snap,
		       const struct packet6_info *pi, uint64_t hash, const uint8_t *pkt, size_t len)
{
	static const uint8_t any[WIRE_IPV6_ADDR_LEN];
	size_t n;

	if (!reply6_may_answer(pi) || (pi->has_ports && (pi->tcp_flags & WIRE_TCP_RST))) {
		dp_count(t, DP_NOT_ANSWERED);
		return;
	}
	if (!dp_reply_allowed_hash(t, snap, DP_REPLY_REJECT, hash))
		return;
	n = reply6_unreachable(t->reply6, sizeof(t->reply6), any, pkt, len,
			       WIRE_ICMP6_ADMIN_PROHIBITED);
	if (n == 0) {
		dp_count(t, DP_NOT_ANSWERED);
		return;
	}
	dp_send_icmp6(t, pi->src, n);
	dp_count(t, DP_REJECT_SENT);
}

/* A client's IPv6 QUIC datagram: as dp_quic, the reply an ICMPv6 port unreachable. */
static int dp_quic6(struct datapath_thread *t, const struct pool_snapshot *snap,
		    const struct packet6_info *pi, const uint8_t *pkt, size_t len)
{
	static const uint8_t any[WIRE_IPV6_ADDR_LEN];
	bool reply;
	int verdict = dp_quic_verdict(t, snap, reply6_may_answer(pi), &reply);
	size_t n;

	if (!reply)
		return verdict;
	/* The source and checksum written here are replaced by the kernel's (dp_send_icmp6). */
	n = reply6_unreachable(t->reply6, sizeof(t->reply6), any, pkt, len,
			       WIRE_ICMP6_PORT_UNREACHABLE);
	if (n > 0) {
		dp_send_icmp6(t, pi->src, n);
		dp_count(t, DP_QUIC_REJECT_SENT);
	}
	return verdict;
}

/* The proxy an IPv6 client's ICMPv6 error belongs to, as dp_icmp_error_owner for IPv4. */
static uint16_t dp_icmp6_error_owner(struct datapath_thread *t, const struct pool_snapshot *snap,
				     const struct packet6_info *pi, uint32_t tag, uint64_t hash)
{
	if (memcmp(pi->quoted_dst, pi->src, WIRE_IPV6_ADDR_LEN) != 0) {
		dp_count(t, DP_ICMP_NOT_SENDER);
		return 0;
	}
	if (!pool_is_client6(snap, pi->src)) {
		dp_count(t, DP_ICMP_OUTSIDE_SUBNETS);
		return 0;
	}
	return dp_icmp_error_placed(t, snap, tag, hash);
}

/*
 * Decides one IPv6 packet (dp_handle counted it in the totals); returns
 * its verdict. The same decisions as for IPv4, the client being its
 * identity widened to ipv6_client_prefix, the proxy reached at its IPv6
 * address in IPv6-in-IPv6 when it has one (POOL_TARGET_IPV6), else at its
 * IPv4 address in IPv6-in-IPv4. Not for the kernel fast path, which
 * carries IPv4 only.
 */
static int dp_handle6(struct datapath_thread *t, const struct pool_snapshot *snap,
		      const uint8_t *pkt, size_t len)
{
	struct packet6_info pi;
	enum packet6_error err;

	dp_count(t, DP_IPV6_PACKETS);
	err = packet6_parse(pkt, len, &pi);
	if (err != PACKET6_OK) {
		return dp_malformed(t, snap, &t->malformed6[err]);
	}
	if (quic_is_datagram(pi.protocol, pi.has_ports, pi.dport)) {
		if (!pool_is_client6(snap, pi.src)) {
			dp_count(t, DP_NOT_CLIENT);
			return NF_ACCEPT;
		}
		return dp_quic6(t, snap, &pi, pkt, len);
	}
	/* Only TCP and the ICMPv6 errors: neighbour discovery and the rest are the kernel's. */
	if (!dp_is_web(snap, pi.protocol, pi.has_ports, pi.dport, pi.icmp_error, pi.quoted_protocol,
		       pi.quoted_has_ports, pi.quoted_sport)) {
		dp_count(t, DP_NOT_WEB);
		return NF_ACCEPT;
	}

	const struct client_id client = packet6_client(&pi);
	uint64_t hash = pool_client6_hash(snap, &client);
	uint32_t tag = pool_affinity_tag6(hash);
	uint16_t slot;
	if (pi.icmp_error) {
		slot = dp_icmp6_error_owner(t, snap, &pi, tag, hash);
		if (slot == 0)
			return NF_ACCEPT;
	} else {
		if (!pool_is_client6(snap, pi.src)) {
			dp_count(t, DP_NOT_CLIENT);
			return NF_ACCEPT;
		}
		uint64_t hits = t->counters[DP_AFFINITY_HITS];
		slot = dp_choose(t, snap, tag, hash);
		/* Not found in the table: given a proxy by Maglev, an entry made. */
		if (slot != 0 && t->counters[DP_AFFINITY_HITS] == hits)
			dp_count(t, DP_IPV6_PLACED);
		if (slot == 0) {
			bool reject;
			int verdict = dp_no_proxy_verdict(t, snap, &reject);

			if (reject)
				dp_reject6(t, snap, &pi, hash, pkt, len);
			return verdict;
		}
	}

	const struct pool_target *target = &snap->targets[slot];
	dp_count_slot(t, slot, len, pi.has_ports, pi.tcp_flags);
	/*
	 * What the kernel can carry itself: a whole TCP packet without extension
	 * headers, in 6in6, or in 6in4 to a proxy without a usable IPv6 address.
	 */
	if (snap->fast != NULL && pi.protocol == IPPROTO_TCP && pi.has_ports && pi.ext_count == 0 &&
	    !pi.icmp_error)
		dp_learn6(t, snap, &client, tag, slot);

	if (target->flags & POOL_TARGET_IPV6) {
		/* The proxy's IPv6 address: IPv6-in-IPv6, 40 bytes of the path's MTU. */
		if (len > target->tunnel_mtu6)
			return dp_too_big6(t, snap, target->tunnel_mtu6, &pi, hash, pkt, len);
		dp_tx6_queue(t, target->address6, pkt, len);
		if (encap6_ip6ip6_header(t->tx6_hdr[t->ntx6 - 1], target->source6, target->address6,
					 pkt, len) < 0) {
			t->ntx6--;
			dp_count(t, DP_TX_ERRORS);
			return NF_DROP;
		}
		dp_count(t, DP_ENCAPSULATED);
		dp_count(t, DP_IPV6_ENCAPSULATED);
		dp_count(t, DP_IPV6_IN_IPV6);
		return NF_DROP;
	}
	if (len > target->tunnel_mtu)
		return dp_too_big6(t, snap, target->tunnel_mtu, &pi, hash, pkt, len);
	dp_tx_queue(t, target->address, pkt, len);
	if (encap6_6in4_header(t->tx_hdr[t->ntx - 1], target->source, target->address, pkt, len,
			       t->ip_id++) < 0) {
		t->ntx--;
		dp_count(t, DP_TX_ERRORS);
		return NF_DROP;
	}
	dp_count(t, DP_ENCAPSULATED);
	dp_count(t, DP_IPV6_ENCAPSULATED);
	return NF_DROP;
}

struct dp_burst {
	struct datapath_thread *t;
	const struct pool_snapshot *snap;
};

static void dp_verdict(struct datapath_thread *t, uint32_t id, int verdict)
{
	if (queue_verdict_add(&t->verdicts, t->q.num, id, verdict) == -ENOSPC) {
		/* Copies go out before the verdicts that drop their originals. */
		dp_tx_flush(t);
		if (queue_verdict_flush(&t->q, &t->verdicts) < 0)
			dp_count(t, DP_VERDICT_ERRORS);
		queue_verdict_add(&t->verdicts, t->q.num, id, verdict);
	}
	if (verdict != NF_DROP)
		dp_count(t, DP_VERDICT_SINGLES);
}

static int dp_on_message(const struct nlmsghdr *nlh, void *data)
{
	struct dp_burst *b = data;
	struct datapath_thread *t = b->t;
	struct nlattr *attr[NFQA_MAX + 1] = {0};
	struct nfqnl_msg_packet_hdr *ph;
	uint32_t id;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL ||
	    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(*ph)) {
		dp_count(t, DP_RECV_ERRORS);
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);

	/* No payload, or no pool published yet: nothing may be lost, let the kernel route it. */
	if (attr[NFQA_PAYLOAD] == NULL || b->snap == NULL) {
		dp_verdict(t, id, NF_ACCEPT);
		return MNL_CB_OK;
	}
	const uint8_t *pkt = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
	size_t len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);

	/* A copy cut short by the copy range cannot be re-sent whole: let the kernel route it. */
	if (attr[NFQA_CAP_LEN] != NULL && ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) > len) {
		dp_count(t, DP_NOT_WEB);
		dp_verdict(t, id, NF_ACCEPT);
		return MNL_CB_OK;
	}
	t->indev = queue_packet_indev(attr);
	dp_verdict(t, id, dp_handle(t, b->snap, pkt, len));
	return MNL_CB_OK;
}

static void *dp_thread_main(void *arg)
{
	struct datapath_thread *t = arg;
	struct datapath *dp = t->dp;
	struct dp_burst burst = {.t = t};
	int n;

	for (unsigned i = 0; i < DP_BURST; i++) {
		t->rx_iov[i] = (struct iovec){.iov_base = t->rx_buf + (size_t)i * DP_RXBUF,
					      .iov_len = DP_RXBUF};
		t->rx_msgs[i].msg_hdr = (struct msghdr){.msg_iov = &t->rx_iov[i], .msg_iovlen = 1};
	}
	queue_verdict_init(&t->verdicts);

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		/* Blocked in recv we hold no snapshot: the control thread need not wait for us. */
		__atomic_store_n(&t->qs, DP_OFFLINE, __ATOMIC_SEQ_CST);
		n = recvmmsg(t->q.fd, t->rx_msgs, DP_BURST, MSG_WAITFORONE, NULL);
		__atomic_store_n(&t->qs, __atomic_load_n(&dp->epoch, __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
		__atomic_store_n(&t->loops, t->loops + 1, __ATOMIC_RELAXED);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			if (errno == ENOBUFS)
				dp_count(t, DP_ENOBUFS);
			else
				dp_count(t, DP_RECV_ERRORS);
			continue;
		}
		burst.snap = __atomic_load_n(&dp->current, __ATOMIC_SEQ_CST);
		t->now = clock_now_s();
		t->now_ms = clock_now_ms();
		dp_count(t, DP_BURSTS);
		for (int i = 0; i < n; i++) {
			if (mnl_cb_run(t->rx_buf + (size_t)i * DP_RXBUF, t->rx_msgs[i].msg_len, 0,
				       t->q.portid, dp_on_message, &burst) < 0)
				dp_count(t, DP_RECV_ERRORS);
		}
		/* The socket ran dry (or the burst is full): copies out, then verdicts. */
		dp_tx_flush(t);
		int sent = queue_verdict_flush(&t->q, &t->verdicts);
		if (sent < 0)
			dp_count(t, DP_VERDICT_ERRORS);
		else if (sent > 0)
			dp_count(t, DP_VERDICT_BATCHES);
	}
	__atomic_store_n(&t->qs, DP_OFFLINE, __ATOMIC_SEQ_CST);
	return NULL;
}

static void dp_thread_free(struct datapath_thread *t)
{
	if (t == NULL)
		return;
	queue_close(&t->q);
	if (t->raw_fd >= 0)
		close(t->raw_fd);
	if (t->icmp_fd >= 0)
		close(t->icmp_fd);
	if (t->icmp6_fd >= 0)
		close(t->icmp6_fd);
	if (t->raw6_fd >= 0)
		close(t->raw6_fd);
	free(t->rx_buf);
	free(t);
}

static struct datapath_thread *dp_thread_new(struct datapath *dp, uint16_t num,
					     const struct queue_options *opt, int *err)
{
	struct datapath_thread *t = calloc(1, sizeof(*t));
	int sndbuf = 8 << 20;

	if (t == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	t->dp = dp;
	t->raw_fd = t->raw6_fd = t->icmp_fd = t->icmp6_fd = -1;
	t->qs = DP_OFFLINE;
	t->ip_id = (uint16_t)(num * 7919U);
	t->rx_buf = malloc((size_t)DP_BURST * DP_RXBUF);
	if (t->rx_buf == NULL) {
		*err = -ENOMEM;
		goto fail;
	}
	t->raw_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	t->icmp_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (t->raw_fd < 0 || t->icmp_fd < 0) {
		*err = -errno;
		goto fail;
	}
	setsockopt(t->raw_fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	/* We never read the ICMP socket: keep its receive queue from filling with traffic. */
	int zero = 0;
	setsockopt(t->icmp_fd, SOL_SOCKET, SO_RCVBUF, &zero, sizeof(zero));
	shutdown(t->icmp_fd, SHUT_RD);
	/* A host without IPv6 has no IPv6 clients: their replies are then counted as tx errors. */
	t->icmp6_fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (t->icmp6_fd >= 0) {
		setsockopt(t->icmp6_fd, SOL_SOCKET, SO_RCVBUF, &zero, sizeof(zero));
		shutdown(t->icmp6_fd, SHUT_RD);
	}
	/* IPPROTO_RAW implies that we write the IPv6 header (the kernel's IPV6_HDRINCL). */
	t->raw6_fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (t->raw6_fd >= 0)
		setsockopt(t->raw6_fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	*err = queue_open(&t->q, num, opt);
	if (*err < 0)
		goto fail;
	return t;
fail:
	dp_thread_free(t);
	return NULL;
}

static void dp_thread_stop(struct datapath_thread *t)
{
	if (t->started) {
		__atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
		pthread_join(t->tid, NULL);
		t->started = false;
	}
}

/*
 * Stops thread i and frees it, keeping what it counted (fewer queues,
 * another base, stop): the counters never go back.
 */
static void dp_thread_remove(struct datapath *dp, unsigned i)
{
	struct datapath_thread *t = dp->threads[i];

	dp_thread_stop(t);
	for (unsigned c = 0; c < DP_COUNTER_COUNT; c++)
		dp->gone_counters[c] += t->counters[c];
	for (unsigned e = 0; e < PACKET_ERR_COUNT; e++)
		dp->gone_malformed[e] += t->malformed[e];
	for (unsigned e = 0; e < PACKET6_ERR_COUNT; e++)
		dp->gone_malformed6[e] += t->malformed6[e];
	for (unsigned s = 0; s < PROXY_SLOTS_MAX; s++) {
		dp->gone_slots[s].hits += t->slots[s].hits;
		dp->gone_slots[s].packets += t->slots[s].packets;
		dp->gone_slots[s].bytes += t->slots[s].bytes;
	}
	dp_thread_free(t);
	dp->threads[i] = NULL;
}

void datapath_init(struct datapath *dp)
{
	memset(dp, 0, sizeof(*dp));
}

int datapath_set_queues(struct datapath *dp, uint16_t base, unsigned count,
			const struct queue_options *opt, char *err, size_t errlen)
{
	unsigned old = dp->nthreads;
	int ret;

	if (count == 0 || count > SETTINGS_QUEUES_MAX || (unsigned)base + count > 65536) {
		snprintf(err, errlen, "queues: %u queues from %u is out of range", count, base);
		return -EINVAL;
	}
	/* A different base means different queue numbers: start over. */
	if (old > 0 && dp->threads[0]->q.num != base) {
		for (unsigned i = 0; i < old; i++)
			dp_thread_remove(dp, i);
		dp->nthreads = old = 0;
	}
	for (unsigned i = old; i < count; i++) {
		dp->threads[i] = dp_thread_new(dp, (uint16_t)(base + i), opt, &ret);
		if (dp->threads[i] == NULL)
			goto fail;
		ret = -pthread_create(&dp->threads[i]->tid, NULL, dp_thread_main, dp->threads[i]);
		if (ret < 0) {
			dp_thread_free(dp->threads[i]);
			dp->threads[i] = NULL;
			goto fail;
		}
		dp->threads[i]->started = true;
		char name[16];
		snprintf(name, sizeof(name), "drover-q%u", base + i);
		pthread_setname_np(dp->threads[i]->tid, name);
	}
	for (unsigned i = count; i < old; i++)
		dp_thread_remove(dp, i);
	dp->nthreads = count;
	return 0;
fail:
	snprintf(err, errlen, "cannot bind NFQUEUE %u: %s%s", base + dp->nthreads, strerror(-ret),
		 ret == -EBUSY || ret == -EEXIST ? " (another process holds it)"
		 : ret == -EPERM		 ? " (needs CAP_NET_ADMIN)"
						 : "");
	for (unsigned i = old; i < count; i++) {
		if (dp->threads[i] != NULL)
			dp_thread_remove(dp, i);
	}
	dp->nthreads = old;
	return ret;
}

void datapath_configure(struct datapath *dp, const struct queue_options *opt)
{
	for (unsigned i = 0; i < dp->nthreads; i++)
		queue_configure(&dp->threads[i]->q, opt);
}

void datapath_publish(struct datapath *dp, struct pool_snapshot *snap,
		      struct affinity_table *old_affinity)
{
	struct pool_snapshot *old = __atomic_exchange_n(&dp->current, snap, __ATOMIC_SEQ_CST);
	uint64_t epoch = __atomic_add_fetch(&dp->epoch, 1, __ATOMIC_SEQ_CST);

	if (old == NULL && old_affinity == NULL)
		return;
	/* Full: wait here for the threads; they pass a quiescent point every burst or 200 ms. */
	while (dp->nretired == sizeof(dp->retired) / sizeof(dp->retired[0])) {
		datapath_reclaim(dp);
		if (dp->nretired == sizeof(dp->retired) / sizeof(dp->retired[0]))
			usleep(1000);
	}
	dp->retired[dp->nretired++] = (struct datapath_retired){old, old_affinity, epoch};
}

void datapath_reclaim(struct datapath *dp)
{
	unsigned kept = 0;

	for (unsigned r = 0; r < dp->nretired; r++) {
		bool safe = true;
		for (unsigned i = 0; i < dp->nthreads && safe; i++) {
			uint64_t qs = __atomic_load_n(&dp->threads[i]->qs, __ATOMIC_SEQ_CST);
			safe = qs == DP_OFFLINE || qs >= dp->retired[r].epoch;
		}
		if (safe) {
			pool_snapshot_free(dp->retired[r].snap);
			if (dp->retired[r].affinity != NULL) {
				affinity_free(dp->retired[r].affinity);
				free(dp->retired[r].affinity);
			}
		} else {
			dp->retired[kept++] = dp->retired[r];
		}
	}
	dp->nretired = kept;
}

void datapath_stop(struct datapath *dp)
{
	for (unsigned i = 0; i < dp->nthreads; i++)
		dp_thread_remove(dp, i);
	dp->nthreads = 0;
	datapath_reclaim(dp);
	pool_snapshot_free(dp->current);
	dp->current = NULL;
}

void datapath_counters(const struct datapath *dp, uint64_t out[DP_COUNTER_COUNT],
		       uint64_t malformed[PACKET_ERR_COUNT])
{
	memcpy(out, dp->gone_counters, sizeof(uint64_t) * DP_COUNTER_COUNT);
	if (malformed != NULL)
		memcpy(malformed, dp->gone_malformed, sizeof(uint64_t) * PACKET_ERR_COUNT);
	for (unsigned i = 0; i < dp->nthreads; i++) {
		const struct datapath_thread *t = dp->threads[i];
		for (unsigned c = 0; c < DP_COUNTER_COUNT; c++)
			out[c] += __atomic_load_n(&t->counters[c], __ATOMIC_RELAXED);
		for (unsigned e = 0; malformed != NULL && e < PACKET_ERR_COUNT; e++)
			malformed[e] += __atomic_load_n(&t->malformed[e], __ATOMIC_RELAXED);
	}
	if (dp->fast != NULL)
		fastpath_counters(dp->fast, out + DP_FAST_PACKETS);
}

void datapath_malformed6(const struct datapath *dp, uint64_t out[PACKET6_ERR_COUNT])
{
	memcpy(out, dp->gone_malformed6, sizeof(uint64_t) * PACKET6_ERR_COUNT);
	for (unsigned i = 0; i < dp->nthreads; i++) {
		for (unsigned e = 0; e < PACKET6_ERR_COUNT; e++)
			out[e] += __atomic_load_n(&dp->threads[i]->malformed6[e], __ATOMIC_RELAXED);
	}
}

void datapath_slot_counters(const struct datapath *dp, uint16_t slot,
			    struct datapath_slot_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (slot >= PROXY_SLOTS_MAX)
		return;
	*out = dp->gone_slots[slot];
	for (unsigned i = 0; i < dp->nthreads; i++) {
		const struct datapath_slot_counters *s = &dp->threads[i]->slots[slot];
		out->hits += __atomic_load_n(&s->hits, __ATOMIC_RELAXED);
		out->packets += __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
		out->bytes += __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
	}
	if (dp->fast != NULL) {
		struct fastpath_slot_totals f;
		fastpath_slot_totals(dp->fast, slot, &f);
		out->hits += f.hits;
		out->packets += f.packets;
		out->bytes += f.bytes;
	}
}

void datapath_kernel_drops(const struct datapath *dp, uint64_t *queue_dropped,
			   uint64_t *user_dropped)
{
	*queue_dropped = *user_dropped = 0;
	for (unsigned i = 0; i < dp->nthreads; i++) {
		uint64_t qd, ud;
		if (queue_kernel_drops(dp->threads[i]->q.num, &qd, &ud) == 0) {
			*queue_dropped += qd;
			*user_dropped += ud;
		}
	}
}

uint64_t datapath_min_progress(const struct datapath *dp)
{
	uint64_t min = UINT64_MAX;

	for (unsigned i = 0; i < dp->nthreads; i++) {
		uint64_t l = __atomic_load_n(&dp->threads[i]->loops, __ATOMIC_RELAXED);
		if (l < min)
			min = l;
	}
	return dp->nthreads ? min : 0;
}
