/*
 * pool.h - what the packet threads see of the proxy pool: an immutable
 * snapshot built by the control thread and published by pointer swap.
 *
 * Slots: every proxy gets a small number (1..PROXY_SLOTS_MAX-1) that stays
 * its own while it exists. Maglev entries, affinity entries and per-slot
 * counters all speak in slots, so they survive renames and reloads.
 */
#ifndef DROVER_POOL_H
#define DROVER_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>

#include "affinity.h"
#include "hash.h"
#include "maglev.h"
#include "proxy.h"
#include "settings.h"
#include "wire.h"

struct fastpath;

enum pool_target_flags {
	/* Clients already on this proxy may stay (enabled or drain, and healthy). */
	POOL_TARGET_KEEPS = 1U << 0,
	/* New clients may be given this proxy (in the Maglev table). */
	POOL_TARGET_TAKES = 1U << 1,
	/*
	 * It has an IPv6 address with a route to it: IPv6 clients go in
	 * IPv6-in-IPv6 to address6 from source6 (else in 6in4 to address).
	 */
	POOL_TARGET_IPV6 = 1U << 2,
};

struct pool_target {
	uint32_t address;    /* proxy, network byte order */
	uint32_t source;     /* outer source address, network byte order */
	uint16_t tunnel_mtu; /* largest inner packet that fits: path MTU - 20 */
	uint16_t flags;	     /* enum pool_target_flags */
	uint32_t fast_gen;   /* the slot's generation in the kernel fast path */
	int64_t id;	     /* proxy id in the store */
	/* With POOL_TARGET_IPV6: its IPv6 address, the outer source towards it, and the
	 * largest inner packet a 6in6 tunnel to it carries (path MTU - 40). */
	uint8_t address6[WIRE_IPV6_ADDR_LEN];
	uint8_t source6[WIRE_IPV6_ADDR_LEN];
	uint16_t tunnel_mtu6;
};

/* Bytes of the hash key's fingerprint (BLAKE2b, personalised: says nothing of the key). */
#define POOL_KEY_ID_BYTES 8

struct pool_snapshot {
	struct maglev_table table;
	struct affinity_table *affinity; /* shared across snapshots; replaced only on resize */
	uint16_t nslots;		 /* targets[0..nslots) valid; slot 0 is never used */
	struct pool_target *targets;
	uint8_t hash_key[HASH_KEY_BYTES];
	uint8_t port_map[65536 / 8]; /* web ports, by destination port bit */
	enum no_proxy_policy no_proxy;
	enum malformed_policy malformed;
	uint32_t frag_needed_rate; /* per client, per thread, per second */
	uint32_t reject_rate;	   /* RST / ICMP unreachable, per client, per thread, per second */
	enum quic_policy quic;
	uint32_t quic_reject_rate; /* port unreachables per thread per second, all clients */
	uint64_t generation;
	/*
	 * What another appliance compares to know it maps clients the same
	 * way, made here, off the packet path: the table's digest as proxy
	 * addresses (maglev_digest), a fingerprint of the hash key that never
	 * reveals it, and how many proxies the table holds.
	 */
	uint8_t table_digest[MAGLEV_DIGEST_BYTES];
	uint8_t key_id[POOL_KEY_ID_BYTES];
	uint32_t table_proxies;
	/* Who may be a client: what the rules queue (a source in client_subnets, not a proxy). */
	struct cidr client_subnets[SETTINGS_SUBNETS_MAX];
	size_t nsubnets;
	/* The IPv6 client subnets, and the leading bits of an IPv6 client that place it. */
	struct cidr6 client_subnets6[SETTINGS_SUBNETS_MAX];
	size_t nsubnets6;
	uint8_t ipv6_prefix; /* ipv6_client_prefix: 32..128 */
	uint32_t *proxies;   /* every proxy's address, network byte order, ascending */
	size_t nproxies;
	/* every proxy's IPv6 address (those that have one), ascending by memcmp */
	uint8_t (*proxies6)[WIRE_IPV6_ADDR_LEN];
	size_t nproxies6;
	struct fastpath *fast; /* where packet threads record placed clients; NULL: off */
	uint32_t fast_scope;   /* the fast path's scope of who may be a client, for records */
};

static inline bool pool_port_is_web(const struct pool_snapshot *s, uint16_t port)
{
	return (s->port_map[port >> 3] >> (port & 7)) & 1;
}

/*
 * Packet threads: whether the rules of this snapshot would queue a packet
 * from addr (network byte order): in a client subnet and not a proxy's own
 * address. A packet queued while the rules change (a subnet removed, a
 * proxy added) may not be; it is neither proxied nor recorded.
 */
bool pool_is_client(const struct pool_snapshot *s, uint32_t addr);

/*
 * Packet threads: whether the rules of this snapshot would queue a packet
 * from the IPv6 address addr (16 bytes as on the wire): in an IPv6 client
 * subnet, and not a proxy's own IPv6 address.
 */
bool pool_is_client6(const struct pool_snapshot *s, const uint8_t addr[16]);

/*
 * The keyed hash an IPv6 client is placed by: its identity widened to the
 * snapshot's ipv6_client_prefix, hashed as hash_client_id does, on the one
 * Maglev table both families share. client is the packet's client
 * (packet6_client).
 */
static inline uint64_t pool_client6_hash(const struct pool_snapshot *s,
					 const struct client_id *client)
{
	const struct client_id id = client_widen(client, s->ipv6_prefix);

	return hash_client_id(s->hash_key, &id);
}

/*
 * IPv6 clients share the IPv4 clients' affinity table. Its entries hold 32
 * bits of client: an IPv6 client is held under 32 bits of its keyed hash
 * (the low half; the high half picks the bucket), never 0 (an empty entry).
 * Two clients share an entry only if 64 bits of their keyed hashes agree
 * within one table: nobody without the key can aim at it, and the cost
 * would be one client following another's proxy. So an IPv6 client costs
 * what an IPv4 one does (8 bytes), within affinity_max_clients.
 */
static inline uint32_t pool_affinity_tag6(uint64_t client_hash)
{
	uint32_t tag = (uint32_t)client_hash;

	return tag != 0 ? tag : 1;
}

/* ---- control side: slots and snapshot building (never called by packet threads) ---- */

#include <stddef.h>

struct pool_slots {
	int64_t owner[PROXY_SLOTS_MAX];	  /* proxy id holding the slot, 0 = free */
	uint32_t active[PROXY_SLOTS_MAX]; /* live affinity entries at the last sweep */
	uint16_t next;			  /* where the search for a free slot starts */
};

/*
 * The slot of proxy id, allocating one when it has none. Free slots are
 * handed out round-robin and only once no affinity entry names them, so a
 * new proxy never inherits a deleted one's clients. 0 when all are taken.
 */
uint16_t pool_slot_get(struct pool_slots *slots, int64_t id);
/* Frees the slots of proxies no longer in ids[0..n). */
void pool_slot_release_missing(struct pool_slots *slots, const int64_t *ids, size_t n);

/* Health as the snapshot builder sees it; probes fill it in, until then every proxy is up. */
struct pool_member {
	const struct proxy_config *config;
	uint16_t slot;
	bool healthy;
	/*
	 * Its IPv6 address fails its probes: its IPv6 clients go in 6in4 to
	 * its IPv4 address meanwhile (no POOL_TARGET_IPV6); nothing else changes.
	 */
	bool down6;
};

/* Everything a snapshot is made of. */
struct pool_build {
	const struct pool_member *members;
	size_t nmembers;
	const struct settings *settings;
	const uint8_t *hash_key;	 /* HASH_KEY_BYTES */
	struct affinity_table *affinity; /* shared with the previous snapshot unless resized */
	uint64_t generation;
	/*
	 * The kernel fast path, or NULL. Its slots are kept current with every
	 * snapshot, attached or not, so that switching it back on never finds a
	 * proxy that went down meanwhile still in the kernel's slots; packet
	 * threads record placed clients in it only when fast_attached.
	 */
	struct fastpath *fast;
	bool fast_attached;
};

/*
 * Builds a snapshot, the one place that does: the Maglev table over members
 * that take new clients (enabled, healthy, weight > 0, reachable), per-slot
 * targets with the outer source and tunnel MTU from the route to each proxy,
 * the settings the packet path needs, and the kernel fast path's slot
 * generations. Returns NULL with err filled on failure (-ENOMEM, bad table
 * size); the fast path is then left as it was.
 */
struct pool_snapshot *pool_snapshot_build(const struct pool_build *in, char *err, size_t errlen);

/*
 * The source address and path MTU the kernel would use towards dst.
 * Returns 0, or -errno (-ENETUNREACH when there is no route).
 */
int pool_route(uint32_t dst, uint32_t *source, uint16_t *mtu);

/*
 * The same for an IPv6 destination (16 bytes as on the wire): the source
 * address the kernel's route lookup picks, and the path MTU it knows (the
 * route's, or the device's). Returns 0 or -errno (-ENETUNREACH: no route).
 */
int pool_route6(const uint8_t dst[WIRE_IPV6_ADDR_LEN], uint8_t source[WIRE_IPV6_ADDR_LEN],
		uint16_t *mtu);

void pool_snapshot_free(struct pool_snapshot *s);

#endif
