/* manager_view.c - the manager's read-side face: proxy views, stats, lookups, the audit page. */
#include "manager_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fastpath.h"

const struct pool_target *manager_proxy_target(const struct manager *m, uint16_t slot)
{
	/* Only the control thread replaces or frees snapshots: reading it here is safe. */
	const struct pool_snapshot *snap = m->dp.current;

	if (snap == NULL || slot == 0 || slot >= snap->nslots)
		return NULL;
	return &snap->targets[slot];
}

/*
 * The proxy of affinity key (hash its hash) in snap, as the packet path
 * would choose it without placing anything: the affinity entry while its
 * proxy keeps clients, else the Maglev table's choice (*idle 0).
 */
static enum manager_lookup_reason
manager_lookup_key(struct manager *m, const struct pool_snapshot *snap, uint32_t key, uint64_t hash,
		   const struct proxy_config **proxy, uint32_t *idle)
{
	uint16_t slot;

	if (affinity_peek(m->affinity, key, hash, clock_now_s(), &slot, idle) &&
	    slot < snap->nslots && (snap->targets[slot].flags & POOL_TARGET_KEEPS)) {
		*proxy = manager_proxy_by_slot(m, slot);
		if (*proxy != NULL)
			return MANAGER_LOOKUP_AFFINITY;
	}
	*idle = 0;
	slot = maglev_lookup(&snap->table, hash);
	if (slot == MAGLEV_EMPTY)
		return MANAGER_LOOKUP_NONE;
	*proxy = manager_proxy_by_slot(m, slot);
	return *proxy != NULL ? MANAGER_LOOKUP_TABLE : MANAGER_LOOKUP_NONE;
}

enum manager_lookup_reason manager_lookup(struct manager *m, uint32_t client,
					  const struct proxy_config **proxy, uint32_t *idle)
{
	const struct pool_snapshot *snap = m->dp.current;
	uint64_t hash = hash_client(m->hash_key, client);

	*proxy = NULL;
	*idle = 0;
	if (snap == NULL)
		return MANAGER_LOOKUP_NONE;
	return manager_lookup_key(m, snap, client, hash, proxy, idle);
}

enum manager_lookup_reason manager_lookup6(struct manager *m, const uint8_t addr[16],
					   const struct proxy_config **proxy, uint32_t *idle)
{
	const struct pool_snapshot *snap = m->dp.current;
	const struct client_id client = client_from_ipv6(addr);
	uint64_t hash;

	*proxy = NULL;
	*idle = 0;
	if (snap == NULL)
		return MANAGER_LOOKUP_NONE;
	hash = pool_client6_hash(snap, &client);
	return manager_lookup_key(m, snap, pool_affinity_tag6(hash), hash, proxy, idle);
}

/* A proxy's own counters (hits, packets, bytes) since it got its slot. */
static void manager_proxy_counters(const struct manager *m, uint16_t slot,
				   struct datapath_slot_counters *out)
{
	const struct datapath_slot_counters *base = &m->baseline[slot];

	datapath_slot_counters(&m->dp, slot, out);
	out->hits -= base->hits;
	out->packets -= base->packets;
	out->bytes -= base->bytes;
}

const struct settings *manager_settings(const struct manager *m)
{
	return &m->settings;
}

struct store *manager_store(struct manager *m)
{
	return m->store;
}

size_t manager_proxy_count(const struct manager *m)
{
	return m->nproxies;
}

/*
 * What the cache manager reads know of p (with squid_stats): a disabled
 * proxy is not read; a proxy not read yet (or a manager without a control
 * loop) is pending.
 */
static void manager_squid_view(const struct manager *m, const struct proxy_config *p,
			       struct squid_stats_view *out)
{
	if (!p->squid_stats)
		return;
	if (m->squid != NULL && squid_stats_get(m->squid, p->id, out))
		return;
	if (p->admin == PROXY_ADMIN_DISABLED) {
		out->state = SQUID_STATS_DISABLED;
		snprintf(out->error, sizeof(out->error), "not read while the proxy is disabled");
	} else {
		out->state = SQUID_STATS_PENDING;
		snprintf(out->error, sizeof(out->error), "not read yet");
	}
}

void manager_proxy_view_at(const struct manager *m, size_t i, struct manager_proxy_view *out)
{
	const struct proxy_config *p = &m->proxies[i];
	uint16_t slot = m->slot_of[i];

	memset(out, 0, sizeof(*out));
	out->config = *p;
	out->slot = slot;
	out->probe = manager_probe_kind(m, p);
	manager_squid_view(m, p, &out->squid);
	if (slot == 0)
		return;
	out->health = m->state[slot].health;
	out->health6 = m->state[slot].health6;
	out->active_clients = m->slots.active[slot];
	manager_proxy_counters(m, slot, &out->counters);
}

int manager_proxy_view(const struct manager *m, int64_t id, struct manager_proxy_view *out)
{
	for (size_t i = 0; i < m->nproxies; i++) {
		if (m->proxies[i].id == id) {
			manager_proxy_view_at(m, i, out);
			return 0;
		}
	}
	return -ENOENT;
}

void manager_stats(const struct manager *m, struct manager_stats *out)
{
	uint64_t counters[DP_COUNTER_COUNT], malformed[PACKET_ERR_COUNT];

	memset(out, 0, sizeof(*out));
	datapath_counters(&m->dp, counters, malformed);
	for (unsigned i = 0; i < DP_COUNTER_COUNT; i++)
		out->counters[i] = (struct manager_counter){datapath_counter_name(i), counters[i]};
	for (unsigned e = PACKET_OK + 1; e < PACKET_ERR_COUNT; e++)
		out->malformed[e - 1] =
		    (struct manager_counter){packet_error_name(e), malformed[e]};
	uint64_t malformed6[PACKET6_ERR_COUNT];
	datapath_malformed6(&m->dp, malformed6);
	for (unsigned e = PACKET6_OK + 1; e < PACKET6_ERR_COUNT; e++)
		out->malformed[PACKET_ERR_COUNT - 1 + e - 1] =
		    (struct manager_counter){datapath_malformed6_name(e), malformed6[e]};
	datapath_kernel_drops(&m->dp, &out->kernel_queue_full_drops,
			      &out->kernel_socket_full_drops);
	out->queues = m->queues;
	out->fast_path_on = fastpath_attached(m->dp.fast);
	snprintf(out->fast_path_error, sizeof(out->fast_path_error), "%s", m->fast_path_error);
	out->fast_clients = m->dp.fast != NULL ? fastpath_clients(m->dp.fast) : 0;
	if (m->dp.current != NULL) {
		const struct pool_snapshot *snap = m->dp.current;

		memcpy(out->table_digest, snap->table_digest, sizeof(out->table_digest));
		memcpy(out->key_id, snap->key_id, sizeof(out->key_id));
		out->table_size = snap->table.size;
		out->table_proxies = snap->table_proxies;
		out->generation = snap->generation;
	}
}

int manager_audit_page(struct manager *m, int64_t before, size_t limit,
		       struct audit_entry **entries, size_t *n, char *err, size_t errlen)
{
	int ret = store_audit_list(m->store, before, limit, entries, n);

	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	return 0;
}

bool manager_rules_managed(const struct manager *m)
{
	return m->manage_rules;
}

unsigned manager_fast_path_interfaces(const struct manager *m, int *ifindex, unsigned max)
{
	return fastpath_interfaces(m->dp.fast, ifindex, max);
}

enum fastpath_path manager_fast_path_interface_path(const struct manager *m, int ifindex, int *why)
{
	return fastpath_interface_path(m->dp.fast, ifindex, why);
}

const struct pool_snapshot *manager_snapshot(const struct manager *m)
{
	/* Only the control thread replaces or frees snapshots: reading it here is safe. */
	return m->dp.current;
}

uint64_t manager_progress(const struct manager *m)
{
	return datapath_min_progress(&m->dp);
}
