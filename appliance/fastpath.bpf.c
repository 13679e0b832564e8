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
 * The checks a client's record passes, whatever its family, before the
 * kernel may carry its packet: droverd renews the heartbeat, the packet
 * came in where droverd saw the client, the client was seen within the
 * affinity timeout, its slot and scope are those it was placed on. The
 * slot, or NULL with the reason counted.
 */
static __always_inline struct fastpath_slot *fp_usable(const struct __sk_buff *skb,
						       const struct fastpath_config *cfg,
						       const struct fastpath_client *c, __u64 now)
{
	if (now > cfg->alive_until_ns) {
		fp_count(FASTPATH_NO_HEARTBEAT, 1);
		return NULL;
	}
	/* Its address from elsewhere is not the client droverd placed (a spoofer's). */
	if (c->ifindex != skb->ifindex) {
		fp_count(FASTPATH_INTERFACE, 1);
		return NULL;
	}
	if (now - c->seen_ns > cfg->idle_ns) {
		fp_count(FASTPATH_IDLE, 1);
		return NULL;
	}
	__u32 slot = c->slot;
	struct fastpath_slot *s = bpf_map_lookup_elem(&slots, &slot);
	if (!s || s->address == 0 || s->gen != c->gen || c->scope != cfg->scope) {
		fp_count(FASTPATH_STALE, 1);
		return NULL;
	}
	return s;
}

/*
 * A packet longer than the tunnel takes (or whose length fields do not
 * add up: sane false) goes to NFQUEUE, which answers it. Without droverd
 * the kernel would send a sane one to the origin unproxied: held back instead.
 */
static __always_inline int fp_oversize(const struct fastpath_config *cfg, __u64 now, bool sane)
{
	if (now > cfg->present_until_ns && sane) {
		fp_count(FASTPATH_TOO_BIG, 1);
		return TC_ACT_SHOT;
	}
	return fp_slow(FASTPATH_TOO_BIG);
}

/* Whether the route to the proxy (fib filled in) takes the outer packet. */
static __always_inline int fp_outer_route(struct __sk_buff *skb, struct bpf_fib_lookup *out)
{
	long rc = bpf_fib_lookup(skb, out, sizeof(*out), 0);

	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		fp_count(FASTPATH_TOO_BIG, 1);
		return -1;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		fp_count(FASTPATH_NOT_FORWARDED, 1);
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
 * family's counters, and the redirect to where the outer route goes.
 */
static __always_inline int fp_sent(struct __sk_buff *skb, struct fastpath_client *c, __u64 now,
				   __u32 slot, __u32 segments, __u32 inner_len, __u8 tcp_flags,
				   bool gso, const struct bpf_fib_lookup *out, int rc)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (now - c->seen_ns > FP_SEEN_GRANULE)
		c->seen_ns = now;
	struct fastpath_slot_stats *st = bpf_map_lookup_elem(&stats, &slot);
	if (st) {
		st->packets += segments;
		st->bytes += inner_len;
		if ((tcp_flags & (WIRE_TCP_SYN | WIRE_TCP_ACK)) == WIRE_TCP_SYN)
			st->hits++;
	}
	fp_count(FASTPATH_SENT, segments);
	if (gso)
		fp_count(FASTPATH_MERGED, 1);
	fp_count(FASTPATH_SENT_BYTES, inner_len);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(out->ifindex, NULL, 0, 0);
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT; /* cannot happen: the room was just made */
	__builtin_memcpy(eth->h_dest, out->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, out->smac, ETH_ALEN);
	return bpf_redirect(out->ifindex, 0);
}

/* The kernel would forward this IPv4 packet. */
static __always_inline int fp_forwarded(struct __sk_buff *skb, const struct iphdr *ip,
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
	fib.ifindex = skb->ifindex; /* at tc ingress: the receiving device */
	return fp_would_forward(bpf_fib_lookup(skb, &fib, sizeof(fib), 0));
}

static __always_inline int fp_handle4(struct __sk_buff *skb, const struct fastpath_config *cfg)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	if ((void *)(tcp + 1) > end)
		return TC_ACT_OK;
	if (ip->version != WIRE_IPV4_VERSION || ip->ihl != 5 || ip->protocol != IPPROTO_TCP ||
	    (ip->frag_off & bpf_htons(WIRE_IP_MF | WIRE_IP_OFFSET_MASK)))
		return TC_ACT_OK;
	if (!fp_port_is_web(cfg, tcp->dest))
		return TC_ACT_OK;

	__u32 client = ip->saddr;
	struct fastpath_client *c = bpf_map_lookup_elem(&clients, &client);
	if (!c)
		return TC_ACT_OK;

	__u64 now = bpf_ktime_get_ns();
	struct fastpath_slot *s = fp_usable(skb, cfg, c, now);
	if (!s)
		return TC_ACT_OK;
	/* The kernel's forwarding drops it and answers time-exceeded, before NFQUEUE. */
	if (ip->ttl <= 1)
		return fp_slow(FASTPATH_TTL);

	/* A GRO/GSO packet is cut into segments of gso_size payload on the way out. */
	__u16 tot_len = bpf_ntohs(ip->tot_len);
	__u32 wire_len = tot_len;
	if (skb->gso_size)
		wire_len = sizeof(*ip) + tcp->doff * 4 + skb->gso_size;
	bool sane = tot_len >= sizeof(*ip) + sizeof(*tcp);
	if (wire_len > s->mtu || !sane || (__u32)tot_len + sizeof(*eth) > skb->len)
		return fp_oversize(cfg, now, sane);
	if (!fp_forwarded(skb, ip, tcp, tot_len))
		return fp_slow(FASTPATH_NOT_FORWARDED);

	/* Where the outer packet goes: the route to the proxy, as the kernel sees it now. */
	struct bpf_fib_lookup out;
	__builtin_memset(&out, 0, sizeof(out));
	out.family = FP_AF_INET;
	out.l4_protocol = IPPROTO_IPIP;
	out.tot_len = wire_len + sizeof(struct iphdr);
	out.ipv4_src = s->source;
	out.ipv4_dst = s->address;
	out.ifindex = skb->ifindex;
	int rc = fp_outer_route(skb, &out);
	if (rc < 0)
		return TC_ACT_OK;

	/* Everything the outer header needs, read before the packet moves. */
	__u8 tos = ip->tos;
	__u16 df = ip->frag_off & bpf_htons(WIRE_IP_DF);
	__u8 flags = ((__u8 *)tcp)[13];
	__u32 address = s->address, source = s->source, slot = c->slot;
	/* Counted as the segments the proxy receives, as on the NFQUEUE path. */
	__u32 segments = skb->gso_segs > 1 ? skb->gso_segs : 1;
	bool gso = skb->gso_size != 0;

	if (bpf_skb_adjust_room(skb, sizeof(struct iphdr), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
		return fp_slow(FASTPATH_ENCAP_ERROR);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	struct iphdr *outer = data + sizeof(struct ethhdr);
	struct iphdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return TC_ACT_SHOT; /* cannot happen: the room was just made */
	/* The hop the kernel's forwarding takes off before NFQUEUE sees a packet. */
	fp_ttl_decrease(inner);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(tot_len + sizeof(struct iphdr));
	outer->id = bpf_htons(fp_outer_id(segments));
	outer->frag_off = df;
	outer->ttl = WIRE_IPV4_TTL;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = source;
	outer->daddr = address;
	outer->check = fp_csum_fold(bpf_csum_diff(0, 0, (__be32 *)outer, sizeof(*outer), 0));
	return fp_sent(skb, c, now, slot, segments, tot_len, flags, gso, &out, rc);
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
static __always_inline bool fp_forwarded6(struct __sk_buff *skb, const struct ipv6hdr *ip6,
					  const struct tcphdr *tcp, __u16 tot_len)
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
	fib.ifindex = skb->ifindex;
	return fp_would_forward(bpf_fib_lookup(skb, &fib, sizeof(fib), 0));
}

/*
 * An IPv6 packet into IPv4 (6in4): the kernel makes the outer header's room,
 * turns the packet's protocol to IPv4 and marks a GSO one for its sit
 * offload (SKB_GSO_IPXIP4), which cuts it into 6in4 segments on the way out.
 */
static __always_inline int fp_wrap6in4(struct __sk_buff *skb, struct fastpath_client *c, __u64 now,
				       __u32 slot, __u32 segments, __u32 tot_len, __u8 flags,
				       bool gso, const struct bpf_fib_lookup *out, int rc,
				       __u8 tclass, __be32 source, __be32 address)
{
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
	outer->version = WIRE_IPV4_VERSION;
	outer->ihl = sizeof(*outer) / 4;
	outer->tos = tclass;
	outer->tot_len = bpf_htons((__u16)(tot_len + sizeof(*outer)));
	outer->id = bpf_htons(fp_outer_id(segments));
	outer->frag_off = bpf_htons(WIRE_IP_DF);
	outer->ttl = WIRE_IPV4_TTL;
	outer->protocol = IPPROTO_IPV6;
	outer->check = 0;
	outer->saddr = source;
	outer->daddr = address;
	outer->check = fp_csum_fold(bpf_csum_diff(0, 0, (__be32 *)outer, sizeof(*outer), 0));
	fp_count(FASTPATH_IPV6_SENT, segments);
	fp_count(FASTPATH_IPV6_6IN4_SENT, segments);
	return fp_sent(skb, c, now, slot, segments, tot_len, flags, gso, out, rc);
}

static __always_inline int fp_handle6(struct __sk_buff *skb, const struct fastpath_config *cfg)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip6 + 1);

	/* Extension headers (fragments among them) stay on the NFQUEUE path, which walks them. */
	if ((void *)(tcp + 1) > end || ip6->version != WIRE_IPV6_VERSION ||
	    ip6->nexthdr != IPPROTO_TCP)
		return TC_ACT_OK;
	if (!fp_port_is_web(cfg, tcp->dest))
		return TC_ACT_OK;

	struct fastpath_client6_key key;
	fp_client6_key(&key, ip6, cfg->ipv6_prefix);
	struct fastpath_client *c = bpf_map_lookup_elem(&clients6, &key);
	if (!c)
		return TC_ACT_OK;

	__u64 now = bpf_ktime_get_ns();
	struct fastpath_slot *s = fp_usable(skb, cfg, c, now);
	if (!s)
		return TC_ACT_OK;
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
	if (ip6->hop_limit <= 1)
		return fp_slow(FASTPATH_TTL);

	__u32 tot_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	__u32 wire_len = tot_len;
	if (skb->gso_size)
		wire_len = sizeof(*ip6) + tcp->doff * 4 + skb->gso_size;
	bool sane = tot_len >= sizeof(*ip6) + sizeof(*tcp);
	if (wire_len > limit || !sane || tot_len + sizeof(*eth) > skb->len)
		return fp_oversize(cfg, now, sane);
	if (!fp_forwarded6(skb, ip6, tcp, (__u16)tot_len))
		return fp_slow(FASTPATH_NOT_FORWARDED);

	/* Where the outer packet goes: the route to the proxy in the outer family. */
	struct bpf_fib_lookup out;
	__builtin_memset(&out, 0, sizeof(out));
	out.l4_protocol = IPPROTO_IPV6;
	if (in4) {
		out.family = FP_AF_INET;
		out.tot_len = wire_len + sizeof(struct iphdr);
		out.ipv4_src = s->source;
		out.ipv4_dst = s->address;
	} else {
		out.family = FP_AF_INET6;
		out.tot_len = wire_len + sizeof(struct ipv6hdr);
		__builtin_memcpy(out.ipv6_src, s->source6, sizeof(out.ipv6_src));
		__builtin_memcpy(out.ipv6_dst, s->address6, sizeof(out.ipv6_dst));
	}
	out.ifindex = skb->ifindex;
	int rc = fp_outer_route(skb, &out);
	if (rc < 0)
		return TC_ACT_OK;

	/* Everything the outer header needs, read before the packet moves. */
	__be32 word0 = *(__be32 *)ip6 & bpf_htonl(FP_IP6_TCLASS_FLOW);
	__u8 flags = ((__u8 *)tcp)[13];
	__u32 slot = c->slot;
	struct fastpath_client6_key address, source;
	__builtin_memcpy(address.addr, s->address6, sizeof(address.addr));
	__builtin_memcpy(source.addr, s->source6, sizeof(source.addr));
	__u32 segments = skb->gso_segs > 1 ? skb->gso_segs : 1;
	bool gso = skb->gso_size != 0;

	if (in4)
		return fp_wrap6in4(skb, c, now, slot, segments, tot_len, flags, gso, &out, rc,
				   bpf_ntohl(word0) >> FP_IP6_TCLASS_SHIFT, s->source, s->address);
	if (bpf_skb_adjust_room(skb, sizeof(struct ipv6hdr), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV6))
		return fp_slow(FASTPATH_ENCAP_ERROR);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	struct ipv6hdr *outer = data + sizeof(struct ethhdr);
	struct ipv6hdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return TC_ACT_SHOT; /* cannot happen: the room was just made */
	/* The hop the kernel's forwarding takes off before NFQUEUE sees a packet. */
	inner->hop_limit--;
	*(__be32 *)outer = bpf_htonl((__u32)WIRE_IPV6_VERSION << WIRE_IP6_VERSION_SHIFT) | word0;
	outer->payload_len = bpf_htons((__u16)tot_len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = WIRE_IPV6_HOP_LIMIT;
	__builtin_memcpy(&outer->saddr, source.addr, sizeof(source.addr));
	__builtin_memcpy(&outer->daddr, address.addr, sizeof(address.addr));
	fp_count(FASTPATH_IPV6_SENT, segments);
	return fp_sent(skb, c, now, slot, segments, tot_len, flags, gso, &out, rc);
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
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return fp_handle4(skb, cfg);
	return fp_handle6(skb, cfg);
}

char LICENSE[] SEC("license") = "GPL";
