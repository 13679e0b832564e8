/*
 * fastpath.bpf.c - droverd's kernel fast path, a tc ingress program.
 *
 * For a web packet of a client droverd has already placed (clients map), it
 * does in the kernel what the kernel's forwarding and the NFQUEUE path do
 * together: leave a packet whose TTL runs out to the kernel (which answers
 * time-exceeded), take one hop off the inner TTL, prepend an outer IPv4
 * header (protocol 4, TTL 64, TOS and DF from the inner packet, an ID of its
 * own) from the slot's tunnel source to its proxy, and send it towards the
 * proxy. Nothing else of the inner packet changes. An IPv6 client's packet
 * (no extension headers) alike, in IPv6-in-IPv6: one hop off the inner hop
 * limit, an outer IPv6 header (next header 41, hop limit 64, the inner
 * traffic class and flow label) from the slot's IPv6 tunnel source to its
 * proxy's IPv6 address. Both families pass the same checks (fp_usable,
 * fp_oversize, fp_sent). Every packet it does not
 * take goes on unchanged (TC_ACT_OK) to the kernel, the iptables rules and
 * NFQUEUE, so the fast path can only ever make a decision droverd already
 * made, for a client on the interface droverd saw it on.
 *
 * Built with clang -target bpf; loaded and fed by fastpath.c.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <stdbool.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fastpath_abi.h"
#include "wire.h"

#define FP_AF_INET	    2
#define FP_AF_INET6	    10
#define FP_IP6_TCLASS_FLOW  0x0fffffffU /* traffic class and flow label, of word 0 */
#define FP_IP6_TCLASS_SHIFT 20		/* the traffic class in word 0, host order */
#define FP_WORD_BITS	    32
#define FP_SEEN_GRANULE	    1000000000ULL /* refresh seen_ns at most once a second */
#define FP_CSUM_GOOD	    0xffff /* a segment's sum with its pseudo header, checksum right */
#define FP_CSUM_BLOCK	    256	   /* bytes summed by one call (the kernel takes up to 512) */
#define FP_CSUM_BLOCKS	    6	   /* blocks summed at most: 1,536 bytes; longer goes to tc */
#define FP_CSUM_PIECES	    3	   /* pieces of each smaller size after the blocks */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024); /* set by the loader: affinity_max_clients */
	__type(key, __u32);
	__type(value, struct fastpath_client);
} clients SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024); /* set by the loader: affinity_max_clients */
	__type(key, struct fastpath_client6_key);
	__type(value, struct fastpath_client);
} clients6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FASTPATH_SLOTS);
	__type(key, __u32);
	__type(value, struct fastpath_slot);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fastpath_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FASTPATH_SLOTS);
	__type(key, __u32);
	__type(value, struct fastpath_slot_stats);
} stats SEC(".maps");

/*
 * The outer header's ID, per CPU: never the inner packet's, whose IDs come
 * from many clients and would repeat under one (tunnel source, proxy) pair
 * when the outer packet is fragmented on the way. Seeded at random.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} outer_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FASTPATH_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void fp_count(__u32 which, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += n;
}

static __always_inline int fp_slow(__u32 why)
{
	fp_count(why, 1);
	return TC_ACT_OK;
}

static __always_inline __u16 fp_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* One hop off the TTL (above 1), the checksum updated as the kernel's ip_decrease_ttl does. */
static __always_inline void fp_ttl_decrease(struct iphdr *ip)
{
	__u32 check = ip->check;

	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xFFFF));
	ip->ttl--;
}

/* The next outer ID for a packet that becomes segments outer packets (GSO). */
static __always_inline __u16 fp_outer_id(__u32 segments)
{
	__u32 zero = 0;
	__u32 *next = bpf_map_lookup_elem(&outer_ids, &zero);

	if (!next)
		return (__u16)bpf_get_prandom_u32();
	if (*next == 0)
		*next = bpf_get_prandom_u32() | 1;
	__u16 id = (__u16)*next;
	*next += segments;
	return id;
}

static __always_inline bool fp_port_is_web(const struct fastpath_config *cfg, __be16 port)
{
	__u16 p = bpf_ntohs(port);

	return (cfg->ports[(p >> 3) & (FASTPATH_PORT_MAP - 1)] >> (p & 7)) & 1;
}

/*
 * The packet as either program sees it: the frame from its Ethernet header
 * (data) to its end, the device it came in on, and what a socket buffer
 * knows of it (its length and, merged by GRO, its segments; an XDP frame
 * is one packet, all of it in view). quiet: the XDP program's view, whose
 * declines are not counted, since the tc program counts the same packet
 * again when it sees it.
 */
struct fp_view {
	void *data;
	void *end;
	__u32 ifindex;
	__u32 len;
	__u32 gso_size;
	__u32 gso_segs;
	bool quiet;
	__u16 port_flags; /* XDP: the receiving interface's enum fastpath_xdp_port_flag */
};

/* What the checks decided for a packet the kernel takes: everything its wrapping needs. */
struct fp_plan {
	struct fastpath_client *c;
	__u64 now;
	__u32 slot;
	__u32 tot_len;	/* the inner packet's length */
	__u32 segments; /* as the proxy receives it */
	__u8 flags;	/* TCP flags */
	bool gso;
	bool in4;      /* an IPv6 packet into IPv4 (6in4) */
	int rc;	       /* the outer route's verdict */
	__u8 tos;      /* IPv4 inner, or the traffic class of an IPv6 one */
	__be16 df;     /* IPv4 inner's DF */
	__be32 word0;  /* IPv6 inner's traffic class and flow label */
	__be32 source; /* outer IPv4 source and destination */
	__be32 address;
	struct fastpath_client6_key source6; /* outer IPv6 source and destination */
	struct fastpath_client6_key address6;
	struct bpf_fib_lookup out; /* where the outer packet goes */
};

/* What the checks made of a packet. */
enum fp_verdict {
	FP_PASS, /* not the kernel's to carry: on to the next stage unchanged */
	FP_DROP, /* held back (too big while droverd is away) */
	FP_TAKE, /* wrap it as planned */
};

static __always_inline void fp_decline_count(const struct fp_view *v, __u32 why)
{
	if (!v->quiet)
		fp_count(why, 1);
}

/*
 * The checks a client's record passes, whatever its family, before the
 * kernel may carry its packet: droverd renews the heartbeat, the packet
 * came in where droverd saw the client, the client was seen within the
 * affinity timeout, its slot and scope are those it was placed on. The
 * slot, or NULL with the reason counted.
 */
static __always_inline struct fastpath_slot *fp_usable(const struct fp_view *v,
						       const struct fastpath_config *cfg,
						       const struct fastpath_client *c, __u64 now)
{
	if (now > cfg->alive_until_ns) {
		fp_decline_count(v, FASTPATH_NO_HEARTBEAT);
		return NULL;
	}
	/* Its address from elsewhere is not the client droverd placed (a spoofer's). */
	if (c->ifindex != v->ifindex) {
		fp_decline_count(v, FASTPATH_INTERFACE);
		return NULL;
	}
	if (now - c->seen_ns > cfg->idle_ns) {
		fp_decline_count(v, FASTPATH_IDLE);
		return NULL;
	}
	__u32 slot = c->slot;
	struct fastpath_slot *s = bpf_map_lookup_elem(&slots, &slot);
	if (!s || s->address == 0 || s->gen != c->gen || c->scope != cfg->scope) {
		fp_decline_count(v, FASTPATH_STALE);
		return NULL;
	}
	return s;
}

/*
 * A packet longer than the tunnel takes (or whose length fields do not
 * add up: sane false) goes to NFQUEUE, which answers it. Without droverd
 * the kernel would send a sane one to the origin unproxied: held back instead.
 */
static __always_inline enum fp_verdict
fp_oversize(const struct fp_view *v, const struct fastpath_config *cfg, __u64 now, bool sane)
{
	fp_decline_count(v, FASTPATH_TOO_BIG);
	return now > cfg->present_until_ns && sane ? FP_DROP : FP_PASS;
}

/* Whether the route to the proxy (fib filled in) takes the outer packet. */
static __always_inline int fp_outer_route(void *ctx, const struct fp_view *v,
					  struct bpf_fib_lookup *out)
{
	long rc = bpf_fib_lookup(ctx, out, sizeof(*out), 0);

	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		fp_decline_count(v, FASTPATH_TOO_BIG);
		return -1;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		fp_decline_count(v, FASTPATH_NOT_FORWARDED);
		return -1;
	}
	return (int)rc;
}

/* The route lookup verdict: the kernel would forward it (not local, routable, forwarding on). */
static __always_inline bool fp_would_forward(long rc)
{
	return rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH ||
	       rc == BPF_FIB_LKUP_RET_FRAG_NEEDED;
}

/*
 * The wrapped packet is on its way: the record, the slot's and the
 * family's counters.
 */
static __always_inline void fp_account(const struct fp_plan *p)
{
	struct fastpath_client *c = p->c;
	__u32 slot = p->slot;

	if (p->now - c->seen_ns > FP_SEEN_GRANULE)
		c->seen_ns = p->now;
	struct fastpath_slot_stats *st = bpf_map_lookup_elem(&stats, &slot);
	if (st) {
		st->packets += p->segments;
		st->bytes += p->tot_len;
		if ((p->flags & (WIRE_TCP_SYN | WIRE_TCP_ACK)) == WIRE_TCP_SYN)
			st->hits++;
	}
	fp_count(FASTPATH_SENT, p->segments);
	if (p->gso)
		fp_count(FASTPATH_MERGED, 1);
	fp_count(FASTPATH_SENT_BYTES, p->tot_len);
}

/* The kernel would forward this IPv4 packet. */
static __always_inline int fp_forwarded(void *ctx, const struct fp_view *v, const struct iphdr *ip,
					const struct tcphdr *tcp, __u16 tot_len)
{
	struct bpf_fib_lookup fib;

	/* Every byte set: without CAP_PERFMON the verifier refuses uninitialised padding. */
	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = FP_AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = IPPROTO_TCP;
	fib.sport = tcp->source;
	fib.dport = tcp->dest;
	fib.tot_len = tot_len;
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = v->ifindex; /* the receiving device */
	return fp_would_forward(bpf_fib_lookup(ctx, &fib, sizeof(fib), 0));
}

/*
 * The decision for an IPv4 frame (Ethernet, IPv4 without options, TCP): a
 * web packet of a client placed on a current slot, which the kernel would
 * forward and the tunnel takes, is FP_TAKE with plan filled in; the reason
 * for anything else is counted (unless the view is quiet).
 */
static __always_inline enum fp_verdict
fp_check4(void *ctx, const struct fp_view *v, const struct fastpath_config *cfg, struct fp_plan *p)
{
	struct ethhdr *eth = v->data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	if ((void *)(tcp + 1) > v->end)
		return FP_PASS;
	if (ip->version != WIRE_IPV4_VERSION || ip->ihl != 5 || ip->protocol != IPPROTO_TCP ||
	    (ip->frag_off & bpf_htons(WIRE_IP_MF | WIRE_IP_OFFSET_MASK)))
		return FP_PASS;
	if (!fp_port_is_web(cfg, tcp->dest))
		return FP_PASS;

	__u32 client = ip->saddr;
	struct fastpath_client *c = bpf_map_lookup_elem(&clients, &client);
	if (!c)
		return FP_PASS;

	__u64 now = bpf_ktime_get_ns();
	struct fastpath_slot *s = fp_usable(v, cfg, c, now);
	if (!s)
		return FP_PASS;
	/* The kernel's forwarding drops it and answers time-exceeded, before NFQUEUE. */
	if (ip->ttl <= 1) {
		fp_decline_count(v, FASTPATH_TTL);
		return FP_PASS;
	}

	/* A GRO/GSO packet is cut into segments of gso_size payload on the way out. */
	__u16 tot_len = bpf_ntohs(ip->tot_len);
	__u32 wire_len = tot_len;
	if (v->gso_size)
		wire_len = sizeof(*ip) + tcp->doff * 4 + v->gso_size;
	bool sane = tot_len >= sizeof(*ip) + sizeof(*tcp);
	if (wire_len > s->mtu || !sane || (__u32)tot_len + sizeof(*eth) > v->len)
		return fp_oversize(v, cfg, now, sane);
	if (!fp_forwarded(ctx, v, ip, tcp, tot_len)) {
		fp_decline_count(v, FASTPATH_NOT_FORWARDED);
		return FP_PASS;
	}

	/* Where the outer packet goes: the route to the proxy, as the kernel sees it now. */
	__builtin_memset(&p->out, 0, sizeof(p->out));
	p->out.family = FP_AF_INET;
	p->out.l4_protocol = IPPROTO_IPIP;
	p->out.tot_len = wire_len + sizeof(struct iphdr);
	p->out.ipv4_src = s->source;
	p->out.ipv4_dst = s->address;
	p->out.ifindex = v->ifindex;
	p->rc = fp_outer_route(ctx, v, &p->out);
	if (p->rc < 0)
		return FP_PASS;

	/* Everything the outer header needs, read before the packet moves. */
	p->c = c;
	p->now = now;
	p->tos = ip->tos;
	p->df = ip->frag_off & bpf_htons(WIRE_IP_DF);
	p->flags = ((__u8 *)tcp)[13];
	p->address = s->address;
	p->source = s->source;
	p->slot = c->slot;
	p->tot_len = tot_len;
	/* Counted as the segments the proxy receives, as on the NFQUEUE path. */
	p->segments = v->gso_segs > 1 ? v->gso_segs : 1;
	p->gso = v->gso_size != 0;
	p->in4 = false;
	return FP_TAKE;
}

/* The outer IPv4 header of a wrapped packet, protocol proto, at outer. */
static __always_inline void fp_outer4(struct iphdr *outer, const struct fp_plan *p, __u8 tos,
				      __be16 frag_off, __u8 proto)
{
	outer->version = WIRE_IPV4_VERSION;
	outer->ihl = sizeof(*outer) / 4;
	outer->tos = tos;
	outer->tot_len = bpf_htons((__u16)(p->tot_len + sizeof(struct iphdr)));
	outer->id = bpf_htons(fp_outer_id(p->segments));
	outer->frag_off = frag_off;
	outer->ttl = WIRE_IPV4_TTL;
	outer->protocol = proto;
	outer->check = 0;
	outer->saddr = p->source;
	outer->daddr = p->address;
	outer->check = fp_csum_fold(bpf_csum_diff(0, 0, (__be32 *)outer, sizeof(*outer), 0));
}

/* The outer IPv6 header of a packet wrapped in IPv6-in-IPv6, at outer. */
static __always_inline void fp_outer6(struct ipv6hdr *outer, const struct fp_plan *p)
{
	*(__be32 *)outer = bpf_htonl((__u32)WIRE_IPV6_VERSION << WIRE_IP6_VERSION_SHIFT) | p->word0;
	outer->payload_len = bpf_htons((__u16)p->tot_len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = WIRE_IPV6_HOP_LIMIT;
	__builtin_memcpy(&outer->saddr, p->source6.addr, sizeof(p->source6.addr));
	__builtin_memcpy(&outer->daddr, p->address6.addr, sizeof(p->address6.addr));
}

/* The leading prefix bits of an IPv6 address, the rest cleared: droverd's client identity. */
static __always_inline void fp_client6_key(struct fastpath_client6_key *key,
					   const struct ipv6hdr *ip6, __u32 prefix)
{
	__builtin_memcpy(key->addr, &ip6->saddr, sizeof(key->addr));
	__u32 *word = (__u32 *)key->addr;
#pragma unroll
	for (int i = 0; i < FASTPATH_IPV6_ADDR_LEN / 4; i++) {
		__u32 first = (__u32)i * FP_WORD_BITS;
		if (prefix <= first)
			word[i] = 0;
		else if (prefix - first < FP_WORD_BITS)
			word[i] &= bpf_htonl(~0U << (FP_WORD_BITS - (prefix - first)));
	}
}

/* The kernel would forward this IPv6 packet. */
static __always_inline bool fp_forwarded6(void *ctx, const struct fp_view *v,
					  const struct ipv6hdr *ip6, const struct tcphdr *tcp,
					  __u16 tot_len)
{
	struct bpf_fib_lookup fib;

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = FP_AF_INET6;
	fib.flowinfo = *(const __be32 *)ip6 & bpf_htonl(FP_IP6_TCLASS_FLOW);
	fib.l4_protocol = IPPROTO_TCP;
	fib.sport = tcp->source;
	fib.dport = tcp->dest;
	fib.tot_len = tot_len;
	__builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof(fib.ipv6_src));
	__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof(fib.ipv6_dst));
	fib.ifindex = v->ifindex;
	return fp_would_forward(bpf_fib_lookup(ctx, &fib, sizeof(fib), 0));
}

/*
 * The decision for an IPv6 frame (Ethernet, IPv6 without extension
 * headers, TCP), as fp_check4's: plan->in4 says the proxy is reached in
 * 6in4 (no usable IPv6 address), within its IPv4 tunnel's MTU.
 */
static __always_inline enum fp_verdict
fp_check6(void *ctx, const struct fp_view *v, const struct fastpath_config *cfg, struct fp_plan *p)
{
	struct ethhdr *eth = v->data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip6 + 1);

	/* Extension headers (fragments among them) stay on the NFQUEUE path, which walks them. */
	if ((void *)(tcp + 1) > v->end || ip6->version != WIRE_IPV6_VERSION ||
	    ip6->nexthdr != IPPROTO_TCP)
		return FP_PASS;
	if (!fp_port_is_web(cfg, tcp->dest))
		return FP_PASS;

	struct fastpath_client6_key key;
	fp_client6_key(&key, ip6, cfg->ipv6_prefix);
	struct fastpath_client *c = bpf_map_lookup_elem(&clients6, &key);
	if (!c)
		return FP_PASS;

	__u64 now = bpf_ktime_get_ns();
	struct fastpath_slot *s = fp_usable(v, cfg, c, now);
	if (!s)
		return FP_PASS;
	/*
	 * No IPv6 address to reach the proxy at (or its IPv6 probes fail): 6in4,
	 * within mtu. Both limits are read as values before one is chosen: a
	 * choice between two fields of s would be compiled as a variable offset
	 * into the map value, which the verifier refuses without CAP_PERFMON.
	 */
	__u16 mtu4 = *(volatile __u16 *)&s->mtu;
	__u16 mtu6 = *(volatile __u16 *)&s->mtu6;
	bool in4 = mtu6 == 0;
	__u16 limit = in4 ? mtu4 : mtu6;
	/* The kernel's forwarding drops it and answers time-exceeded, before NFQUEUE. */
	if (ip6->hop_limit <= 1) {
		fp_decline_count(v, FASTPATH_TTL);
		return FP_PASS;
	}

	__u32 tot_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	__u32 wire_len = tot_len;
	if (v->gso_size)
		wire_len = sizeof(*ip6) + tcp->doff * 4 + v->gso_size;
	bool sane = tot_len >= sizeof(*ip6) + sizeof(*tcp);
	if (wire_len > limit || !sane || tot_len + sizeof(*eth) > v->len)
		return fp_oversize(v, cfg, now, sane);
	if (!fp_forwarded6(ctx, v, ip6, tcp, (__u16)tot_len)) {
		fp_decline_count(v, FASTPATH_NOT_FORWARDED);
		return FP_PASS;
	}

	/* Where the outer packet goes: the route to the proxy in the outer family. */
	__builtin_memset(&p->out, 0, sizeof(p->out));
	p->out.l4_protocol = IPPROTO_IPV6;
	if (in4) {
		p->out.family = FP_AF_INET;
		p->out.tot_len = wire_len + sizeof(struct iphdr);
		p->out.ipv4_src = s->source;
		p->out.ipv4_dst = s->address;
	} else {
		p->out.family = FP_AF_INET6;
		p->out.tot_len = wire_len + sizeof(struct ipv6hdr);
		__builtin_memcpy(p->out.ipv6_src, s->source6, sizeof(p->out.ipv6_src));
		__builtin_memcpy(p->out.ipv6_dst, s->address6, sizeof(p->out.ipv6_dst));
	}
	p->out.ifindex = v->ifindex;
	p->rc = fp_outer_route(ctx, v, &p->out);
	if (p->rc < 0)
		return FP_PASS;

	/* Everything the outer header needs, read before the packet moves. */
	p->c = c;
	p->now = now;
	p->word0 = *(__be32 *)ip6 & bpf_htonl(FP_IP6_TCLASS_FLOW);
	p->tos = bpf_ntohl(p->word0) >> FP_IP6_TCLASS_SHIFT;
	p->flags = ((__u8 *)tcp)[13];
	p->slot = c->slot;
	p->tot_len = tot_len;
	p->in4 = in4;
	p->source = s->source;
	p->address = s->address;
	__builtin_memcpy(p->address6.addr, s->address6, sizeof(p->address6.addr));
	__builtin_memcpy(p->source6.addr, s->source6, sizeof(p->source6.addr));
	p->segments = v->gso_segs > 1 ? v->gso_segs : 1;
	p->gso = v->gso_size != 0;
	return FP_TAKE;
}

/* ---- The tc program: on a socket buffer, after GRO. ---- */

/* The redirect to where the outer route goes (the Ethernet header rewritten, or resolved). */
static __always_inline int fp_tc_send(struct __sk_buff *skb, const struct fp_plan *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	fp_account(p);
	if (p->rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(p->out.ifindex, NULL, 0, 0);
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT; /* cannot happen: the room was just made */
	__builtin_memcpy(eth->h_dest, p->out.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, p->out.smac, ETH_ALEN);
	return bpf_redirect(p->out.ifindex, 0);
}

static __always_inline int fp_tc_verdict(enum fp_verdict verdict)
{
	return verdict == FP_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}

static __always_inline int fp_tc_handle4(struct __sk_buff *skb, const struct fp_view *v,
					 const struct fastpath_config *cfg)
{
	struct fp_plan p;
	enum fp_verdict verdict = fp_check4(skb, v, cfg, &p);

	if (verdict != FP_TAKE)
		return fp_tc_verdict(verdict);
	if (bpf_skb_adjust_room(skb, sizeof(struct iphdr), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
		return fp_slow(FASTPATH_ENCAP_ERROR);
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *outer = data + sizeof(struct ethhdr);
	struct iphdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return TC_ACT_SHOT; /* cannot happen: the room was just made */
	/* The hop the kernel's forwarding takes off before NFQUEUE sees a packet. */
	fp_ttl_decrease(inner);
	fp_outer4(outer, &p, p.tos, p.df, IPPROTO_IPIP);
	return fp_tc_send(skb, &p);
}

/*
 * An IPv6 packet into IPv4 (6in4): the kernel makes the outer header's room,
 * turns the packet's protocol to IPv4 and marks a GSO one for its sit
 * offload (SKB_GSO_IPXIP4), which cuts it into 6in4 segments on the way out.
 * Otherwise IPv6-in-IPv6.
 */
static __always_inline int fp_tc_handle6(struct __sk_buff *skb, const struct fp_view *v,
					 const struct fastpath_config *cfg)
{
	struct fp_plan p;
	enum fp_verdict verdict = fp_check6(skb, v, cfg, &p);

	if (verdict != FP_TAKE)
		return fp_tc_verdict(verdict);
	if (p.in4) {
		if (bpf_skb_adjust_room(skb, sizeof(struct iphdr), BPF_ADJ_ROOM_MAC,
					BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
			return fp_slow(FASTPATH_ENCAP_ERROR);
		void *data = (void *)(long)skb->data;
		void *end = (void *)(long)skb->data_end;
		struct ethhdr *eth = data;
		struct iphdr *outer = (void *)(eth + 1);
		struct ipv6hdr *inner = (void *)(outer + 1);
		if ((void *)(inner + 1) > end)
			return TC_ACT_SHOT; /* cannot happen: the room was just made */
		eth->h_proto = bpf_htons(ETH_P_IP);
		/* The hop the kernel's forwarding takes off before NFQUEUE sees a packet. */
		inner->hop_limit--;
		fp_outer4(outer, &p, p.tos, bpf_htons(WIRE_IP_DF), IPPROTO_IPV6);
		fp_count(FASTPATH_IPV6_SENT, p.segments);
		fp_count(FASTPATH_IPV6_6IN4_SENT, p.segments);
		return fp_tc_send(skb, &p);
	}
	if (bpf_skb_adjust_room(skb, sizeof(struct ipv6hdr), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV6))
		return fp_slow(FASTPATH_ENCAP_ERROR);
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ipv6hdr *outer = data + sizeof(struct ethhdr);
	struct ipv6hdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return TC_ACT_SHOT; /* cannot happen: the room was just made */
	/* The hop the kernel's forwarding takes off before NFQUEUE sees a packet. */
	inner->hop_limit--;
	fp_outer6(outer, &p);
	fp_count(FASTPATH_IPV6_SENT, p.segments);
	return fp_tc_send(skb, &p);
}

SEC("tc")
int drover_fastpath(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;

	if ((void *)(eth + 1) > end || skb->pkt_type != PACKET_HOST)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6))
		return TC_ACT_OK;
	struct fastpath_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return TC_ACT_OK;
	/* At tc ingress, skb->ifindex is the receiving device. */
	struct fp_view v = {
	    .data = data,
	    .end = end,
	    .ifindex = skb->ifindex,
	    .len = skb->len,
	    .gso_size = skb->gso_size,
	    .gso_segs = skb->gso_segs,
	    .quiet = false,
	    .port_flags = 0,
	};
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return fp_tc_handle4(skb, &v, cfg);
	return fp_tc_handle6(skb, &v, cfg);
}

/* ---- The XDP program: on the driver's frame, before any socket buffer exists. ---- */

/*
 * The interfaces the XDP program is attached to, natively, with their MAC
 * address: a frame is taken only when it came in to that address (what the
 * kernel calls PACKET_HOST), and sent only out of one of them (whose
 * driver then has room for frames from XDP). Written by fastpath.c.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FASTPATH_XDP_PORTS);
	__type(key, __u32);
	__type(value, struct fastpath_xdp_port);
} xdp_ports SEC(".maps");

/* The same interfaces, for XDP_REDIRECT: key and value their index. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, FASTPATH_XDP_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} xdp_tx SEC(".maps");

static __always_inline bool fp_mac_equal(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/* A one's complement sum folded to 16 bits (not inverted). */
static __always_inline __u16 fp_fold(__u64 sum)
{
	sum = (sum & 0xffffffffULL) + (sum >> FP_WORD_BITS);
	sum = (sum & 0xffffffffULL) + (sum >> FP_WORD_BITS);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Up to three pieces of step bytes at *q (within end) into *s; false when they do not fit. */
static __always_inline bool fp_sum_pieces(const __u8 **q, const void *end, __u32 *left, __u64 *s,
					  __u32 step)
{
	for (int k = 0; k < FP_CSUM_PIECES; k++) {
		if (*left < step)
			break;
		const __u8 *at = *q;
		asm volatile("" : "+r"(at));
		if ((const void *)(at + step) > end)
			return false;
		long part = bpf_csum_diff(NULL, 0, (__be32 *)at, step, 0);
		if (part < 0)
			return false;
		*s += (__u32)part;
		*q = at + step;
		*left -= step;
	}
	return true;
}

/*
 * The one's complement sum (unfolded) of the len bytes at p, which must lie
 * before end; false when they do not, or are more than the sum covers
 * (FP_CSUM_BLOCKS blocks and a tail).
 */
static __always_inline bool fp_sum(const __u8 *p, const void *end, __u32 len, __u64 *sum)
{
	/*
	 * The pointer only ever moves by constants, never by a variable offset:
	 * without CAP_PERFMON the verifier refuses a packet pointer plus a
	 * variable. The barriers keep the compiler from rebuilding it as one.
	 */
	const __u8 *q = p;
	__u32 left = len;
	__u64 s = 0;

	for (int i = 0; i < FP_CSUM_BLOCKS; i++) {
		if (left < FP_CSUM_BLOCK)
			break;
		asm volatile("" : "+r"(q));
		if ((const void *)(q + FP_CSUM_BLOCK) > end)
			return false;
		long part = bpf_csum_diff(NULL, 0, (__be32 *)q, FP_CSUM_BLOCK, 0);
		if (part < 0)
			return false;
		s += (__u32)part;
		q += FP_CSUM_BLOCK;
		left -= FP_CSUM_BLOCK;
	}
	if (left >= FP_CSUM_BLOCK)
		return false;
	/* The rest, under a block, in pieces of a quarter, a sixteenth, ... (three each at most).
	 */
	if (!fp_sum_pieces(&q, end, &left, &s, FP_CSUM_BLOCK / 4) ||
	    !fp_sum_pieces(&q, end, &left, &s, FP_CSUM_BLOCK / 16) ||
	    !fp_sum_pieces(&q, end, &left, &s, FP_CSUM_BLOCK / 64))
		return false;
	asm volatile("" : "+r"(q));
	if (left >= 2) {
		if ((const void *)(q + 2) > end)
			return false;
		s += *(const __u16 *)q;
		q += 2;
		left -= 2;
	}
	asm volatile("" : "+r"(q));
	if (left >= 1) {
		if ((const void *)(q + 1) > end)
			return false;
		/* The odd last byte is the high byte of a word padded with zero, as stored. */
		s += *q;
	}
	*sum = s;
	return true;
}

/*
 * Whether the TCP checksum of the segment (len bytes at tcp, its pseudo
 * header summing to pseudo) can go as it is. A sender on the same host
 * (veth, virtio-net between guests) may hand over a segment whose checksum
 * it left for the device to finish: the field holds only the pseudo
 * header's sum. The kernel finishes it on its own paths, and a kernel
 * decapsulator on the proxy accepts it; a frame XDP sends on has lost the
 * mark that says so, and would reach the proxy unfinished: XDP finishes it
 * here (counted). A checksum simply wrong, or a segment too long to sum, is
 * false (counted): the tc program and the kernel carry it, as before.
 */
static __always_inline bool fp_xdp_checksum(struct tcphdr *tcp, const void *end, __u32 len,
					    __u64 pseudo)
{
	__u64 sum;

	if (!fp_sum((const __u8 *)tcp, end, len, &sum)) {
		fp_count(FASTPATH_XDP_DECLINED_CHECKSUM, 1);
		return false;
	}
	if (fp_fold(sum + pseudo) == FP_CSUM_GOOD)
		return true;
	if (tcp->check == fp_fold(pseudo)) {
		tcp->check = (__u16)~fp_fold(sum);
		fp_count(FASTPATH_XDP_CHECKSUM_FINISHED, 1);
		return true;
	}
	fp_count(FASTPATH_XDP_DECLINED_CHECKSUM, 1);
	return false;
}

/*
 * Whether XDP can send the planned packet itself: the next hop's address is
 * resolved, and the interface towards it runs the XDP program natively.
 * Otherwise (counted) the tc program sends it.
 */
static __always_inline bool fp_xdp_egress(const struct fp_plan *p)
{
	__u32 ifindex = p->out.ifindex;

	if (p->rc != BPF_FIB_LKUP_RET_SUCCESS || !bpf_map_lookup_elem(&xdp_ports, &ifindex)) {
		fp_count(FASTPATH_XDP_DECLINED_EGRESS, 1);
		return false;
	}
	return true;
}

/* The wrapped frame's Ethernet header, to the next hop, of protocol proto. */
static __always_inline void fp_xdp_eth(struct ethhdr *eth, const struct fp_plan *p, __u16 proto)
{
	__builtin_memcpy(eth->h_dest, p->out.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, p->out.smac, ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
}

/* Counted, and sent: back out of the device it came in on, or to another. */
static __always_inline int fp_xdp_send(const struct fp_view *v, const struct fp_plan *p)
{
	fp_account(p);
	fp_count(FASTPATH_XDP_SENT, 1);
	if (p->out.ifindex == v->ifindex && !(v->port_flags & FASTPATH_XDP_PORT_TX_BY_REDIRECT))
		return XDP_TX;
	return bpf_redirect_map(&xdp_tx, p->out.ifindex, 0);
}

static __always_inline int fp_xdp_handle4(struct xdp_md *ctx, const struct fp_view *v,
					  const struct fastpath_config *cfg)
{
	struct fp_plan p;

	if (fp_check4(ctx, v, cfg, &p) != FP_TAKE || !fp_xdp_egress(&p))
		return XDP_PASS;
	struct iphdr *ip = v->data + sizeof(struct ethhdr);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > v->end)
		return XDP_PASS;
	__u32 tcp_len = p.tot_len - sizeof(*ip);
	__u64 pseudo =
	    (__u64)ip->saddr + ip->daddr + bpf_htons(IPPROTO_TCP) + bpf_htons((__u16)tcp_len);
	if (!fp_xdp_checksum(tcp, v->end, tcp_len, pseudo))
		return XDP_PASS;
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr))) {
		fp_count(FASTPATH_ENCAP_ERROR, 1);
		return XDP_PASS;
	}
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = (void *)(eth + 1);
	struct iphdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return XDP_ABORTED; /* cannot happen: the room was just made */
	fp_xdp_eth(eth, &p, ETH_P_IP);
	/* The hop the kernel's forwarding takes off before NFQUEUE sees a packet. */
	fp_ttl_decrease(inner);
	fp_outer4(outer, &p, p.tos, p.df, IPPROTO_IPIP);
	return fp_xdp_send(v, &p);
}

static __always_inline int fp_xdp_handle6(struct xdp_md *ctx, const struct fp_view *v,
					  const struct fastpath_config *cfg)
{
	struct fp_plan p;

	if (fp_check6(ctx, v, cfg, &p) != FP_TAKE || !fp_xdp_egress(&p))
		return XDP_PASS;
	struct ipv6hdr *ip6 = v->data + sizeof(struct ethhdr);
	struct tcphdr *tcp = (void *)(ip6 + 1);
	if ((void *)(tcp + 1) > v->end)
		return XDP_PASS;
	__u32 tcp_len = p.tot_len - sizeof(*ip6);
	__u64 pseudo = bpf_htonl(tcp_len) + bpf_htonl(IPPROTO_TCP);
	const __u32 *addr = (const __u32 *)&ip6->saddr; /* saddr, then daddr */
#pragma unroll
	for (int i = 0; i < 2 * FASTPATH_IPV6_ADDR_LEN / 4; i++)
		pseudo += addr[i];
	if (!fp_xdp_checksum(tcp, v->end, tcp_len, pseudo))
		return XDP_PASS;
	if (p.in4) {
		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr))) {
			fp_count(FASTPATH_ENCAP_ERROR, 1);
			return XDP_PASS;
		}
		void *data = (void *)(long)ctx->data;
		void *end = (void *)(long)ctx->data_end;
		struct ethhdr *eth = data;
		struct iphdr *outer = (void *)(eth + 1);
		struct ipv6hdr *inner = (void *)(outer + 1);
		if ((void *)(inner + 1) > end)
			return XDP_ABORTED; /* cannot happen: the room was just made */
		fp_xdp_eth(eth, &p, ETH_P_IP);
		inner->hop_limit--;
		fp_outer4(outer, &p, p.tos, bpf_htons(WIRE_IP_DF), IPPROTO_IPV6);
		fp_count(FASTPATH_IPV6_SENT, 1);
		fp_count(FASTPATH_IPV6_6IN4_SENT, 1);
		return fp_xdp_send(v, &p);
	}
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv6hdr))) {
		fp_count(FASTPATH_ENCAP_ERROR, 1);
		return XDP_PASS;
	}
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *outer = (void *)(eth + 1);
	struct ipv6hdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return XDP_ABORTED; /* cannot happen: the room was just made */
	fp_xdp_eth(eth, &p, ETH_P_IPV6);
	inner->hop_limit--;
	fp_outer6(outer, &p);
	fp_count(FASTPATH_IPV6_SENT, 1);
	return fp_xdp_send(v, &p);
}

SEC("xdp")
int drover_fastpath_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0, ifindex = ctx->ingress_ifindex;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	struct fastpath_xdp_port *port = bpf_map_lookup_elem(&xdp_ports, &ifindex);
	if (!port || !fp_mac_equal(eth->h_dest, port->mac))
		return XDP_PASS;
	struct fastpath_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return XDP_PASS;
	struct fp_view v = {
	    .data = data,
	    .end = end,
	    .ifindex = ifindex,
	    /* Not end - data: without CAP_PERFMON the verifier refuses pointer differences. */
	    .len = (__u32)bpf_xdp_get_buff_len(ctx),
	    .gso_size = 0,
	    .gso_segs = 1,
	    .quiet = true,
	    .port_flags = port->flags,
	};
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return fp_xdp_handle4(ctx, &v, cfg);
	return fp_xdp_handle6(ctx, &v, cfg);
}

char LICENSE[] SEC("license") = "GPL";
