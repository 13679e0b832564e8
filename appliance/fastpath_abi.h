/*
 * fastpath_abi.h - what droverd and its kernel fast path (fastpath.bpf.c)
 * share: the layout of the BPF maps' values. Kernel types only, so both
 * the BPF program and user space include it.
 *
 * The decision stays in droverd: a client's first packet goes through
 * NFQUEUE, droverd picks the proxy and records "client -> slot" in the
 * clients map. Later packets of that client are wrapped and sent in the
 * kernel while the record is current: its slot generation still matches the
 * slot's (a proxy going down or away bumps it), its scope still matches the
 * config's (client_subnets or the proxies' addresses changing bumps it), the
 * packet came in on the interface droverd saw the client's packet arrive on,
 * it has been seen within the affinity timeout, and droverd has renewed its
 * heartbeat (within the grace). Anything else (another protocol, IP options, fragments, TTL 1
 * or less, too big for the tunnel, not forwarded) is left to the kernel and
 * the NFQUEUE path unchanged. IPv6 clients alike (no extension headers, hop
 * limit above 1), in IPv6-in-IPv6 to proxies with an IPv6 address, in
 * IPv6-in-IPv4 (6in4) to the others.
 */
#ifndef DROVER_FASTPATH_ABI_H
#define DROVER_FASTPATH_ABI_H

#include <linux/types.h>

#define FASTPATH_SLOTS 4096 /* PROXY_SLOTS_MAX */
/*
 * The maps outlive droverd (pinned under bpffs) and the next droverd, maybe
 * a newer build, adopts them only when their layout is the one it knows:
 * bump this with any change to the values below or to the maps' shapes.
 */
#define FASTPATH_ABI_VERSION 4
#define FASTPATH_PORT_MAP    (65536 / 8)

/*
 * clients map: key = client IPv4 address (network byte order).
 * clients6 map: key = struct fastpath_client6_key, the same value.
 */
struct fastpath_client {
	__u16 slot;
	__u16 reserved;
	__u32 gen;     /* the slot's generation when the client was given it */
	__u32 ifindex; /* the interface the client's queued packet came in on */
	__u32 scope;   /* fastpath_config.scope of the snapshot the client was placed on */
	__u64 seen_ns; /* CLOCK_MONOTONIC; refreshed at most once a second */
};

/*
 * An IPv6 client's identity: its address with the bits past
 * fastpath_config.ipv6_prefix cleared, so that every address of a /64 (say)
 * shares one record, as it shares one affinity entry in droverd.
 */
#define FASTPATH_IPV6_ADDR_LEN 16
struct fastpath_client6_key {
	__u8 addr[FASTPATH_IPV6_ADDR_LEN];
};

/* slots map: index = slot. address 0: the slot keeps no clients. */
struct fastpath_slot {
	__u32 address; /* proxy, network byte order */
	__u32 source;  /* outer source, network byte order */
	__u32 gen;
	__u16 mtu; /* largest inner packet that fits the tunnel */
	/*
	 * Largest inner IPv6 packet that fits an IPv6-in-IPv6 tunnel to
	 * address6 from source6; 0: the proxy has no IPv6 address (or its IPv6
	 * probes fail), its IPv6 clients go in 6in4 to address from source,
	 * within mtu.
	 */
	__u16 mtu6;
	__u8 address6[FASTPATH_IPV6_ADDR_LEN];
	__u8 source6[FASTPATH_IPV6_ADDR_LEN];
};

struct fastpath_config {
	/* droverd's heartbeat plus the grace: past it, everything takes the NFQUEUE path */
	__u64 alive_until_ns;
	/*
	 * droverd's heartbeat alone: past it (droverd is restarting, or gone),
	 * a known client's packet too big for the tunnel is dropped, not left
	 * to the kernel, which would route it to the origin unproxied (and the
	 * origin would reset the connection); the client sends it again, and
	 * once droverd is back NFQUEUE answers it (frag-needed).
	 */
	__u64 present_until_ns;
	__u64 idle_ns; /* affinity timeout */
	/*
	 * Who may be a client: bumped whenever client_subnets or the proxies'
	 * addresses change, so records made before are never used again.
	 */
	__u32 scope;
	__u32 abi;		       /* FASTPATH_ABI_VERSION of the droverd that wrote it */
	__u64 scope_digest;	       /* what scope was set for, so the next droverd keeps it */
	__u8 ports[FASTPATH_PORT_MAP]; /* web ports, by destination port bit */
	__u32 ipv6_prefix; /* ipv6_client_prefix: leading bits of an IPv6 client's key */
	__u32 reserved;
};

/*
 * xdp_ports map: key = interface index of an interface the XDP program is
 * attached to natively; the same keys in the xdp_tx device map.
 */
#define FASTPATH_XDP_PORTS 256 /* FASTPATH_IFACES_MAX */
#define FASTPATH_MAC_LEN   6
struct fastpath_xdp_port {
	__u8 mac[FASTPATH_MAC_LEN]; /* frames to this address are the host's */
	__u16 flags;		    /* enum fastpath_xdp_port_flag */
};

enum fastpath_xdp_port_flag {
	/*
	 * Frames back out of this interface go by XDP_REDIRECT, not XDP_TX: a
	 * veth wakes its peer for redirected frames, but for XDP_TX only when
	 * the peer runs an XDP program itself.
	 */
	FASTPATH_XDP_PORT_TX_BY_REDIRECT = 1U << 0,
};

/* stats map (per CPU): index = slot. */
struct fastpath_slot_stats {
	__u64 hits; /* SYN without ACK */
	__u64 packets;
	__u64 bytes;
};

/* counters map (per CPU): why a web packet of a known client stayed on the NFQUEUE path. */
enum fastpath_counter {
	FASTPATH_SENT,	     /* wrapped and sent by the kernel (merged ones as their segments) */
	FASTPATH_SENT_BYTES, /* their inner bytes */
	FASTPATH_MERGED,     /* GRO/GSO packets among them, wrapped whole and cut on the way out */
	FASTPATH_STALE,	     /* the client's slot changed generation or keeps no clients,
				or client_subnets or the proxies changed since it was placed */
	FASTPATH_IDLE,	     /* not seen within the affinity timeout */
	FASTPATH_NO_HEARTBEAT,	 /* droverd stopped renewing the heartbeat */
	FASTPATH_TOO_BIG,	 /* longer than the tunnel takes */
	FASTPATH_NOT_FORWARDED,	 /* local, unroutable, or forwarding off: not ours */
	FASTPATH_INTERFACE,	 /* came in on another interface than the client's */
	FASTPATH_TTL,		 /* TTL 1 or less: the kernel answers time-exceeded */
	FASTPATH_ENCAP_ERROR,	 /* the kernel refused to grow the packet */
	FASTPATH_IPV6_SENT,	 /* IPv6 among FASTPATH_SENT (as segments) */
	FASTPATH_IPV6_6IN4_SENT, /* among FASTPATH_IPV6_SENT: in 6in4, the proxy reached over IPv4
				  */
	FASTPATH_XDP_SENT,	 /* among FASTPATH_SENT: carried by the XDP program */
	FASTPATH_XDP_CHECKSUM_FINISHED, /* among FASTPATH_XDP_SENT: TCP checksum left to the
					   device by a sender on the same host, finished */
	FASTPATH_XDP_DECLINED_CHECKSUM, /* left by XDP to tc: TCP checksum wrong, or too long */
	FASTPATH_XDP_DECLINED_EGRESS,	/* left by XDP to tc: next hop unresolved, or its
					   interface without native XDP */
	FASTPATH_COUNTER_COUNT,
};

#endif
