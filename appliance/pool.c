/* pool.c - proxy slots and the snapshots the packet threads read. */
#include "pool.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "encap.h"
#include "encap6.h"
#include "fastpath.h"
#include "log.h"
#include "wire.h"

#define POOL_IPV4_BITS 32 /* an IPv4 address, for prefix masks */
/* The path MTU assumed when the kernel does not say: Ethernet's. */
#define POOL_MTU_DEFAULT 1500
/* Keeps the key's fingerprint apart from every other use of the key. */
#define POOL_KEY_ID_CONTEXT "drover hash key fingerprint"

uint16_t pool_slot_get(struct pool_slots *slots, int64_t id)
{
	for (uint16_t s = 1; s < PROXY_SLOTS_MAX; s++) {
		if (slots->owner[s] == id)
			return s;
	}
	for (unsigned tries = 0; tries < PROXY_SLOTS_MAX; tries++) {
		uint16_t s = (uint16_t)(slots->next % PROXY_SLOTS_MAX);
		slots->next = (uint16_t)(s + 1);
		if (s == 0)
			continue;
		if (slots->owner[s] == 0 && slots->active[s] == 0) {
			slots->owner[s] = id;
			return s;
		}
	}
	return 0;
}

void pool_slot_release_missing(struct pool_slots *slots, const int64_t *ids, size_t n)
{
	for (uint16_t s = 1; s < PROXY_SLOTS_MAX; s++) {
		bool present = false;
		if (slots->owner[s] == 0)
			continue;
		for (size_t i = 0; i < n && !present; i++)
			present = ids[i] == slots->owner[s];
		if (!present)
			slots->owner[s] = 0;
	}
}

int pool_route(uint32_t dst, uint32_t *source, uint16_t *mtu)
{
	/* A connected UDP socket makes the kernel do the route lookup for us; nothing is sent. */
	struct sockaddr_in to = {
	    .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = dst};
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int fd, ret = 0, val;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &len) < 0) {
		ret = -errno;
		goto out;
	}
	*source = me.sin_addr.s_addr;
	len = sizeof(val);
	if (getsockopt(fd, IPPROTO_IP, IP_MTU, &val, &len) < 0 || val < WIRE_IPV4_MTU_MIN ||
	    val > WIRE_IPV4_LEN_MAX)
		val = POOL_MTU_DEFAULT;
	*mtu = (uint16_t)val;
out:
	close(fd);
	return ret;
}

int pool_route6(const uint8_t dst[WIRE_IPV6_ADDR_LEN], uint8_t source[WIRE_IPV6_ADDR_LEN],
		uint16_t *mtu)
{
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
	struct sockaddr_in6 me;
	socklen_t len = sizeof(me);
	int fd, ret = 0, val;

	memcpy(&to.sin6_addr, dst, WIRE_IPV6_ADDR_LEN);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &len) < 0) {
		ret = -errno;
		goto out;
	}
	memcpy(source, &me.sin6_addr, WIRE_IPV6_ADDR_LEN);
	len = sizeof(val);
	if (getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &val, &len) < 0 || val < WIRE_IPV6_MTU_MIN ||
	    val > WIRE_IPV4_LEN_MAX)
		val = POOL_MTU_DEFAULT;
	*mtu = (uint16_t)val;
out:
	close(fd);
	return ret;
}

static int pool_address_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool pool_is_client(const struct pool_snapshot *s, uint32_t addr)
{
	bool in_subnet = false;

	for (size_t i = 0; i < s->nsubnets && !in_subnet; i++) {
		uint8_t len = s->client_subnets[i].len;
		uint32_t mask = len == 0 ? 0 : htonl(UINT32_MAX << (POOL_IPV4_BITS - len));
		in_subnet = (addr & mask) == s->client_subnets[i].addr;
	}
	return in_subnet &&
	       (s->nproxies == 0 || bsearch(&addr, s->proxies, s->nproxies, sizeof(*s->proxies),
					    pool_address_cmp) == NULL);
}

static int pool_address6_cmp(const void *a, const void *b)
{
	return memcmp(a, b, WIRE_IPV6_ADDR_LEN);
}

bool pool_is_client6(const struct pool_snapshot *s, const uint8_t addr[16])
{
	bool in_subnet = false;

	for (size_t i = 0; i < s->nsubnets6 && !in_subnet; i++) {
		const struct cidr6 *c = &s->client_subnets6[i];
		unsigned int whole = c->len / 8U, rest = c->len % 8U;

		if (memcmp(addr, c->addr, whole) != 0)
			continue;
		in_subnet =
		    rest == 0 || ((addr[whole] ^ c->addr[whole]) & (0xffU << (8 - rest))) == 0;
	}
	return in_subnet &&
	       (s->nproxies6 == 0 || bsearch(addr, s->proxies6, s->nproxies6, sizeof(*s->proxies6),
					     pool_address6_cmp) == NULL);
}

static void pool_set_ports(struct pool_snapshot *snap, const struct settings *s)
{
	memset(snap->port_map, 0, sizeof(snap->port_map));
	for (size_t i = 0; i < s->nports; i++)
		snap->port_map[s->ports[i] >> 3] |= (uint8_t)(1U << (s->ports[i] & 7));
}

/* A short fingerprint of the hash key: equal keys give equal fingerprints, and it gives nothing
 * away. */
static void pool_key_id(const uint8_t key[HASH_KEY_BYTES], uint8_t out[POOL_KEY_ID_BYTES])
{
	crypto_generichash(out, POOL_KEY_ID_BYTES, (const unsigned char *)POOL_KEY_ID_CONTEXT,
			   sizeof(POOL_KEY_ID_CONTEXT) - 1, key, HASH_KEY_BYTES);
}

/* The table's digest, and the key's fingerprint: what two appliances compare. */
static void pool_set_mapping_id(struct pool_snapshot *snap, const uint8_t *key)
{
	uint32_t *addresses = calloc(snap->nslots, sizeof(*addresses));

	if (addresses != NULL) {
		for (uint16_t slot = 1; slot < snap->nslots; slot++)
			addresses[slot] = snap->targets[slot].address;
	}
	/* Out of memory: every entry hashes as empty, a digest no healthy peer shows. */
	maglev_digest(&snap->table, addresses, addresses != NULL ? snap->nslots : 0,
		      snap->table_digest);
	free(addresses);
	pool_key_id(key, snap->key_id);
}

/*
 * A proxy with an IPv6 address: left out of the IPv6 clients like the IPv4
 * ones, and reached in IPv6-in-IPv6 (from tunnel_source6, or the route's
 * source on auto) when there is a route to it; without one its IPv6 clients
 * keep going in 6in4.
 */
static void pool_target_set6(struct pool_target *t, const struct proxy_config *p,
			     const struct settings *s, struct pool_snapshot *snap, bool down6)
{
	static const uint8_t auto6[WIRE_IPV6_ADDR_LEN];
	char text[INET6_ADDRSTRLEN];
	uint16_t mtu = 0;

	memcpy(snap->proxies6[snap->nproxies6++], p->address6, WIRE_IPV6_ADDR_LEN);
	memcpy(t->address6, p->address6, WIRE_IPV6_ADDR_LEN);
	if (pool_route6(p->address6, t->source6, &mtu) < 0) {
		log_warnx("proxy %s (%s): no IPv6 route to it; its IPv6 clients go in IPv6-in-IPv4",
			  p->name, proxy_address6_text(p, text, sizeof(text)));
		return;
	}
	/* tunnel_source6 set: this node's own choice; the route still gives the MTU. */
	if (memcmp(s->tunnel_source6, auto6, sizeof(auto6)) != 0)
		memcpy(t->source6, s->tunnel_source6, WIRE_IPV6_ADDR_LEN);
	t->tunnel_mtu6 = (uint16_t)(mtu - ENCAP6_IP6IP6_LEN);
	/* Its IPv6 address fails its probes: 6in4 to the same proxy, no client moves. */
	if (!down6)
		t->flags |= POOL_TARGET_IPV6;
}

struct pool_snapshot *pool_snapshot_build(const struct pool_build *in, char *err, size_t errlen)
{
	struct pool_snapshot *snap = calloc(1, sizeof(*snap));
	struct maglev_backend *backends =
	    calloc(in->nmembers ? in->nmembers : 1, sizeof(*backends));
	size_t nbackends = 0;
	uint16_t maxslot = 0;
	const struct pool_member *members = in->members;
	const struct settings *s = in->settings;
	int ret;

	if (snap == NULL || backends == NULL)
		goto nomem;
	for (size_t i = 0; i < in->nmembers; i++) {
		if (members[i].slot > maxslot)
			maxslot = members[i].slot;
	}
	snap->nslots = (uint16_t)(maxslot + 1);
	snap->targets = calloc(snap->nslots, sizeof(*snap->targets));
	snap->proxies = calloc(in->nmembers ? in->nmembers : 1, sizeof(*snap->proxies));
	snap->proxies6 = calloc(in->nmembers ? in->nmembers : 1, sizeof(*snap->proxies6));
	if (snap->targets == NULL || snap->proxies == NULL || snap->proxies6 == NULL)
		goto nomem;

	for (size_t i = 0; i < in->nmembers; i++) {
		const struct proxy_config *p = members[i].config;
		struct pool_target *t = &snap->targets[members[i].slot];
		uint32_t source = 0;
		uint16_t mtu = 0;
		bool routed;

		t->id = p->id;
		t->address = p->address;
		snap->proxies[snap->nproxies++] = p->address;
		routed = pool_route(p->address, &source, &mtu) == 0;
		if (!routed)
			log_warnx("proxy %s (%s): no route to it; it takes no clients", p->name,
				  inet_ntoa((struct in_addr){p->address}));
		t->source = s->tunnel_source != 0 ? s->tunnel_source : source;
		t->tunnel_mtu = routed ? (uint16_t)(mtu - ENCAP_OUTER_LEN) : 0;
		if (proxy_has_address6(p))
			pool_target_set6(t, p, s, snap, members[i].down6);
		if (!routed || !members[i].healthy || p->admin == PROXY_ADMIN_DISABLED)
			continue;
		t->flags |= POOL_TARGET_KEEPS;
		if (p->admin == PROXY_ADMIN_ENABLED && p->weight > 0) {
			t->flags |= POOL_TARGET_TAKES;
			backends[nbackends++] = (struct maglev_backend){
			    .identity = p->address,
			    .weight = p->weight,
			    .slot = members[i].slot,
			};
		}
	}
	ret = maglev_build(&snap->table, s->maglev_table_size, backends, nbackends, in->hash_key);
	if (ret < 0) {
		snprintf(err, errlen, "cannot build the Maglev table (size %u): %s",
			 s->maglev_table_size, strerror(-ret));
		goto fail;
	}
	snap->table_proxies = (uint32_t)nbackends;
	memcpy(snap->hash_key, in->hash_key, HASH_KEY_BYTES);
	pool_set_mapping_id(snap, in->hash_key);
	pool_set_ports(snap, s);
	snap->affinity = in->affinity;
	snap->no_proxy = s->no_proxy_policy;
	snap->malformed = s->malformed_policy;
	snap->frag_needed_rate = s->frag_needed_rate;
	snap->reject_rate = s->reject_rate;
	snap->quic = s->quic_policy;
	snap->quic_reject_rate = s->quic_reject_rate;
	snap->generation = in->generation;
	memcpy(snap->client_subnets, s->client_subnets, sizeof(snap->client_subnets));
	snap->nsubnets = s->nsubnets;
	memcpy(snap->client_subnets6, s->client_subnets6, sizeof(snap->client_subnets6));
	snap->nsubnets6 = s->nsubnets6;
	snap->ipv6_prefix = (uint8_t)s->ipv6_client_prefix;
	qsort(snap->proxies, snap->nproxies, sizeof(*snap->proxies), pool_address_cmp);
	qsort(snap->proxies6, snap->nproxies6, sizeof(*snap->proxies6), pool_address6_cmp);
	/* The kernel's slots last: a thread on this snapshot records clients at their generations.
	 */
	if (in->fast != NULL) {
		fastpath_publish(in->fast, snap);
		if (in->fast_attached)
			snap->fast = in->fast;
	}
	free(backends);
	return snap;
nomem:
	snprintf(err, errlen, "out of memory building the pool snapshot");
fail:
	free(backends);
	pool_snapshot_free(snap);
	return NULL;
}

void pool_snapshot_free(struct pool_snapshot *s)
{
	if (s == NULL)
		return;
	maglev_free(&s->table);
	free(s->targets);
	free(s->proxies);
	free(s->proxies6);
	free(s);
}
