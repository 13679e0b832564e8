/*
 * fastpath.bpf.c - droverd's kernel fast path, a tc ingress program.
 *
 * For a web packet of a client droverd has already placed (clients map), it
 * does in the kernel what the kernel's forwarding and the NFQUEUE path do
 * together: leave a packet whose TTL runs out to the kernel (which answers
 * time-exceeded), take one hop off the inner TTL, prepend an outer IPv4
 * header (protocol 4, TTL 64, TOS and DF from the inner packet, an ID of its
 * own) from the slot's tunnel source to its proxy, and send it towards the
 * proxy. Nothing else of the inner packet changes. Every packet it does not
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
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fastpath_abi.h"
#include "wire.h"

#define FP_AF_INET	2
#define FP_SEEN_GRANULE 1000000000ULL /* refresh seen_ns at most once a second */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024); /* set by the loader: affinity_max_clients */
	__type(key, __u32);
	__type(value, struct fastpath_client);
} clients SEC(".maps");

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

/* The kernel would forward this packet (not local, routable, forwarding on). */
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
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);

	return rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH ||
	       rc == BPF_FIB_LKUP_RET_FRAG_NEEDED;
}

SEC("tc")
int drover_fastpath(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	__u32 zero = 0;

	if ((void *)(tcp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    skb->pkt_type != PACKET_HOST)
		return TC_ACT_OK;
	if (ip->version != WIRE_IPV4_VERSION || ip->ihl != 5 || ip->protocol != IPPROTO_TCP ||
	    (ip->frag_off & bpf_htons(WIRE_IP_MF | WIRE_IP_OFFSET_MASK)))
		return TC_ACT_OK;

	struct fastpath_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return TC_ACT_OK;
	__u16 dport = bpf_ntohs(tcp->dest);
	if (!((cfg->ports[(dport >> 3) & (FASTPATH_PORT_MAP - 1)] >> (dport & 7)) & 1))
		return TC_ACT_OK;

	__u32 client = ip->saddr;
	struct fastpath_client *c = bpf_map_lookup_elem(&clients, &client);
	if (!c)
		return TC_ACT_OK;

	__u64 now = bpf_ktime_get_ns();
	if (now > cfg->alive_until_ns)
		return fp_slow(FASTPATH_NO_HEARTBEAT);
	/* Its address from elsewhere is not the client droverd placed (a spoofer's). */
	if (c->ifindex != skb->ifindex)
		return fp_slow(FASTPATH_INTERFACE);
	if (now - c->seen_ns > cfg->idle_ns)
		return fp_slow(FASTPATH_IDLE);
	__u32 slot = c->slot;
	struct fastpath_slot *s = bpf_map_lookup_elem(&slots, &slot);
	if (!s || s->address == 0 || s->gen != c->gen || c->scope != cfg->scope)
		return fp_slow(FASTPATH_STALE);
	/* The kernel's forwarding drops it and answers time-exceeded, before NFQUEUE. */
	if (ip->ttl <= 1)
		return fp_slow(FASTPATH_TTL);

	/* A GRO/GSO packet is cut into segments of gso_size payload on the way out. */
	__u16 tot_len = bpf_ntohs(ip->tot_len);
	__u32 wire_len = tot_len;
	if (skb->gso_size)
		wire_len = sizeof(*ip) + tcp->doff * 4 + skb->gso_size;
	if (wire_len > s->mtu || tot_len < sizeof(*ip) + sizeof(*tcp) ||
	    (__u32)tot_len + sizeof(*eth) > skb->len) {
		/* Without droverd the kernel would send it to the origin: held back instead. */
		if (now > cfg->present_until_ns && tot_len >= sizeof(*ip) + sizeof(*tcp)) {
			fp_count(FASTPATH_TOO_BIG, 1);
			return TC_ACT_SHOT;
		}
		return fp_slow(FASTPATH_TOO_BIG);
	}
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
	long rc = bpf_fib_lookup(skb, &out, sizeof(out), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return fp_slow(FASTPATH_TOO_BIG);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return fp_slow(FASTPATH_NOT_FORWARDED);

	/* Everything the outer header needs, read before the packet moves. */
	__u8 tos = ip->tos;
	__u16 df = ip->frag_off & bpf_htons(WIRE_IP_DF);
	__u8 flags = ((__u8 *)tcp)[13];
	__u32 address = s->address, source = s->source;
	/* Counted as the segments the proxy receives, as on the NFQUEUE path. */
	__u32 segments = skb->gso_segs > 1 ? skb->gso_segs : 1;

	if (bpf_skb_adjust_room(skb, sizeof(struct iphdr), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
		return fp_slow(FASTPATH_ENCAP_ERROR);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
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

	if (now - c->seen_ns > FP_SEEN_GRANULE)
		c->seen_ns = now;
	struct fastpath_slot_stats *st = bpf_map_lookup_elem(&stats, &slot);
	if (st) {
		st->packets += segments;
		st->bytes += tot_len;
		if ((flags & (WIRE_TCP_SYN | WIRE_TCP_ACK)) == WIRE_TCP_SYN)
			st->hits++;
	}
	fp_count(FASTPATH_SENT, segments);
	if (skb->gso_size)
		fp_count(FASTPATH_MERGED, 1);
	fp_count(FASTPATH_SENT_BYTES, tot_len);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(out.ifindex, NULL, 0, 0);
	__builtin_memcpy(eth->h_dest, out.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, out.smac, ETH_ALEN);
	return bpf_redirect(out.ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
