/*
 * manager_preview.c - what a proxy change would move, before it is made.
 *
 * A preview builds the snapshot the change would publish with the code the
 * change runs (the slots as pool_slot_get would hand them out, the members
 * as manager_publish gives them, pool_snapshot_build), on the control
 * thread, and compares it with the snapshot the packet threads read now:
 * which Maglev entries change proxy, and which active clients (live
 * affinity entries) the packet threads would send elsewhere at their next
 * packet, as dp_choose decides. Nothing is stored, audited or published.
 */
#include "manager_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* The id a preview gives the proxy an add would create (the store's ids start at 1). */
#define MANAGER_PREVIEW_NEW_ID (-1)
/* No proxy (an empty table entry, or no proxy would take the client). */
#define MANAGER_PREVIEW_NONE SIZE_MAX
/* A proxy the preview cannot tell (an IPv6 client re-placed by the table). */
#define MANAGER_PREVIEW_UNKNOWN (SIZE_MAX - 1)

struct manager_preview_walk {
	const struct pool_snapshot *now;
	const struct pool_snapshot *then;
	const struct affinity_table *affinity;
	const uint8_t *key;
	uint32_t clock;
	const size_t *index_now;  /* now->nslots entries: slot -> out->proxies index */
	const size_t *index_then; /* then->nslots entries */
	struct manager_preview *out;
};

void manager_preview_free(struct manager_preview *pv)
{
	free(pv->proxies);
	pv->proxies = NULL;
	pv->nproxies = 0;
}

/* The index of proxy p in out->proxies, appended when it is not there yet (room is made). */
static size_t manager_preview_index(struct manager_preview *out, const struct proxy_config *p)
{
	struct manager_preview_proxy *x;

	for (size_t i = 0; i < out->nproxies; i++) {
		if (out->proxies[i].id == p->id)
			return i;
	}
	x = &out->proxies[out->nproxies];
	x->id = p->id;
	snprintf(x->name, sizeof(x->name), "%s", p->name);
	x->address = p->address;
	return out->nproxies++;
}

/* slot -> index, for the slots of list[0..n) (slot_of) that a snapshot of nslots holds. */
static void manager_preview_slots(struct manager_preview *out, const struct proxy_config *list,
				  const uint16_t *slot_of, size_t n, size_t *index, size_t nslots)
{
	for (size_t s = 0; s < nslots; s++)
		index[s] = MANAGER_PREVIEW_NONE;
	for (size_t i = 0; i < n; i++) {
		size_t at = manager_preview_index(out, &list[i]);

		if (slot_of[i] != 0 && slot_of[i] < nslots)
			index[slot_of[i]] = at;
	}
}

static size_t manager_preview_slot_index(const size_t *index, const struct pool_snapshot *s,
					 uint16_t slot)
{
	return slot != MAGLEV_EMPTY && slot < s->nslots ? index[slot] : MANAGER_PREVIEW_NONE;
}

/*
 * Where the packet threads send an active client on slot (IPv4 client, or
 * an IPv6 client's tag when !ipv4) under snapshot s: its own proxy while
 * that proxy keeps clients, else the table's choice (dp_choose).
 */
static size_t manager_preview_dest(const struct manager_preview_walk *w,
				   const struct pool_snapshot *s, const size_t *index,
				   uint32_t client, uint16_t slot, bool ipv4)
{
	if (slot < s->nslots && (s->targets[slot].flags & POOL_TARGET_KEEPS))
		return manager_preview_slot_index(index, s, slot);
	if (!ipv4)
		return MANAGER_PREVIEW_UNKNOWN;
	return manager_preview_slot_index(index, s,
					  maglev_lookup(&s->table, hash_client(w->key, client)));
}

static void manager_preview_client(void *arg, uint32_t client, uint16_t slot, uint32_t age)
{
	struct manager_preview_walk *w = arg;
	struct manager_preview *out = w->out;
	bool keeps_now = slot < w->now->nslots && (w->now->targets[slot].flags & POOL_TARGET_KEEPS);
	bool keeps_then =
	    slot < w->then->nslots && (w->then->targets[slot].flags & POOL_TARGET_KEEPS);
	uint16_t held = 0;

	(void)age;
	out->active_clients++;
	if (keeps_now && keeps_then)
		return;
	/*
	 * An IPv4 client's entry is found under its own address; an IPv6
	 * client's is a tag of its hash, which places nothing by itself.
	 */
	bool ipv4 = pool_is_client(w->now, client) &&
		    affinity_peek(w->affinity, client, hash_client(w->key, client), w->clock, &held,
				  NULL) &&
		    held == slot;
	size_t from = manager_preview_dest(w, w->now, w->index_now, client, slot, ipv4);
	size_t to = manager_preview_dest(w, w->then, w->index_then, client, slot, ipv4);

	if (from == MANAGER_PREVIEW_UNKNOWN && to == MANAGER_PREVIEW_UNKNOWN)
		return; /* its proxy keeps no clients now: it leaves, whatever the change */
	/* One side unknown: its proxy keeps clients on one side only, so it moves. */
	if (from != MANAGER_PREVIEW_UNKNOWN && to != MANAGER_PREVIEW_UNKNOWN && from == to)
		return;
	out->clients_moved++;
	if (from < out->nproxies)
		out->proxies[from].clients_from++;
	if (to == MANAGER_PREVIEW_NONE)
		out->clients_to_none++;
	else if (to == MANAGER_PREVIEW_UNKNOWN)
		out->clients_to_unknown++;
	else
		out->proxies[to].clients_to++;
}

/* Fills out from the snapshot in force (now, over m's proxies) and then (over list). */
static int manager_preview_compare(struct manager *m, const struct pool_snapshot *now,
				   const struct pool_snapshot *then,
				   const struct proxy_config *list, const uint16_t *slot_of,
				   size_t n, struct manager_preview *out)
{
	size_t *index_now = calloc(now->nslots, sizeof(*index_now));
	size_t *index_then = calloc(then->nslots, sizeof(*index_then));

	out->proxies = calloc(m->nproxies + n + 1, sizeof(*out->proxies));
	if (index_now == NULL || index_then == NULL || out->proxies == NULL) {
		free(index_now);
		free(index_then);
		manager_preview_free(out);
		return -ENOMEM;
	}
	manager_preview_slots(out, m->proxies, m->slot_of, m->nproxies, index_now, now->nslots);
	manager_preview_slots(out, list, slot_of, n, index_then, then->nslots);
	out->table_size = then->table.size;
	out->table_proxies = then->table_proxies;
	for (uint32_t e = 0; e < then->table.size; e++) {
		size_t a = now->table.size == then->table.size
			       ? manager_preview_slot_index(index_now, now, now->table.entries[e])
			       : MANAGER_PREVIEW_NONE;
		size_t b = manager_preview_slot_index(index_then, then, then->table.entries[e]);

		if (a != MANAGER_PREVIEW_NONE)
			out->proxies[a].slots_before++;
		if (b != MANAGER_PREVIEW_NONE)
			out->proxies[b].slots_after++;
		if (a == b)
			continue;
		out->entries_moved++;
		if (a != MANAGER_PREVIEW_NONE)
			out->proxies[a].slots_lost++;
		if (b != MANAGER_PREVIEW_NONE)
			out->proxies[b].slots_gained++;
	}
	struct manager_preview_walk w = {
	    .now = now,
	    .then = then,
	    .affinity = m->affinity,
	    .key = m->hash_key,
	    .clock = clock_now_s(),
	    .index_now = index_now,
	    .index_then = index_then,
	    .out = out,
	};
	affinity_walk(m->affinity, w.clock, manager_preview_client, &w);
	for (size_t i = 0; i < out->nproxies; i++) {
		if (out->proxies[i].id == MANAGER_PREVIEW_NEW_ID)
			out->proxies[i].id = 0;
	}
	free(index_now);
	free(index_then);
	return 0;
}

/*
 * The preview of the proxy list list[0..n) replacing the one in force;
 * subject is the id of the proxy the change concerns.
 */
static int manager_preview_run(struct manager *m, const struct proxy_config *list, size_t n,
			       int64_t subject, struct manager_preview *out, char *err,
			       size_t errlen)
{
	const struct pool_snapshot *now = manager_snapshot(m);
	struct pool_slots *slots = malloc(sizeof(*slots));
	uint16_t *slot_of = calloc(n ? n : 1, sizeof(*slot_of));
	int64_t *ids = calloc(n ? n : 1, sizeof(*ids));
	struct pool_member *members = calloc(n ? n : 1, sizeof(*members));
	struct pool_snapshot *then = NULL;
	size_t count;
	int ret = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (slots == NULL || slot_of == NULL || ids == NULL || members == NULL)
		goto nomem;
	if (now == NULL) {
		snprintf(err, errlen, "no pool snapshot yet");
		ret = -EAGAIN;
		goto done;
	}
	/* The slots the change would give, handed out as manager_load_proxies does. */
	*slots = m->slots;
	for (size_t i = 0; i < n; i++)
		ids[i] = list[i].id;
	pool_slot_release_missing(slots, ids, n);
	for (size_t i = 0; i < n; i++)
		slot_of[i] = pool_slot_get(slots, list[i].id);
	count = manager_pool_members(m, list, slot_of, n, members);
	for (size_t i = 0; i < count; i++) {
		if (!manager_health_restarts(m, members[i].slot, members[i].config))
			continue;
		members[i].healthy = true;
		members[i].down6 = false;
		if (members[i].config->id == subject)
			out->assumes_up = true;
	}
	then = pool_snapshot_build(
	    &(struct pool_build){
		.members = members,
		.nmembers = count,
		.settings = &m->settings,
		.hash_key = m->hash_key,
		.affinity = m->affinity,
		.generation = m->generation,
	    },
	    err, errlen);
	if (then == NULL)
		goto done;
	ret = manager_preview_compare(m, now, then, list, slot_of, n, out);
	if (ret < 0)
		goto nomem;
	goto done;
nomem:
	snprintf(err, errlen, "out of memory");
done:
	pool_snapshot_free(then);
	free(slots);
	free(slot_of);
	free(ids);
	free(members);
	return ret;
}

/* -EEXIST, as the store would say it, when another proxy than p has its name or an address. */
static int manager_preview_unique(const struct manager *m, const struct proxy_config *p, char *err,
				  size_t errlen)
{
	char a[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < m->nproxies; i++) {
		const struct proxy_config *q = &m->proxies[i];

		if (q->id == p->id)
			continue;
		if (p->name[0] != '\0' && strcmp(q->name, p->name) == 0) {
			snprintf(err, errlen, "name: `%s' is already used by proxy %" PRId64,
				 p->name, q->id);
			return -EEXIST;
		}
		if (q->address == p->address) {
			inet_ntop(AF_INET, &p->address, a, sizeof(a));
			snprintf(err, errlen, "address: `%s' is already used by proxy %" PRId64, a,
				 q->id);
			return -EEXIST;
		}
		if (proxy_has_address6(p) &&
		    memcmp(q->address6, p->address6, sizeof(p->address6)) == 0) {
			snprintf(err, errlen, "address6: `%s' is already used by proxy %" PRId64,
				 proxy_address6_text(p, a6, sizeof(a6)), q->id);
			return -EEXIST;
		}
	}
	return 0;
}

/* The proxy in force with id, checked against expected_version (0: any). */
static int manager_preview_existing(const struct manager *m, int64_t id, int64_t expected_version,
				    size_t *at, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->nproxies; i++) {
		if (m->proxies[i].id != id)
			continue;
		if (expected_version != 0 && m->proxies[i].version != expected_version) {
			snprintf(err, errlen,
				 "proxy %" PRId64 " was changed by someone else (version %" PRId64
				 ", you sent %" PRId64 ")",
				 id, m->proxies[i].version, expected_version);
			return -ESTALE;
		}
		*at = i;
		return 0;
	}
	snprintf(err, errlen, "no proxy with id %" PRId64, id);
	return -ENOENT;
}

/* A copy of the proxies in force with room for one more. NULL when out of memory. */
static struct proxy_config *manager_preview_list(const struct manager *m)
{
	struct proxy_config *list = calloc(m->nproxies + 1, sizeof(*list));

	if (list != NULL && m->nproxies > 0)
		memcpy(list, m->proxies, m->nproxies * sizeof(*list));
	return list;
}

int manager_preview_add(struct manager *m, const struct proxy_config *p,
			struct manager_preview *out, char *err, size_t errlen)
{
	struct proxy_config *list;
	struct proxy_config added = *p;
	int ret = manager_cluster_refuse(m, err, errlen);

	memset(out, 0, sizeof(*out));
	added.id = MANAGER_PREVIEW_NEW_ID;
	if (ret == 0)
		ret = manager_preview_unique(m, &added, err, errlen);
	if (ret < 0)
		return ret;
	list = manager_preview_list(m);
	if (list == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	list[m->nproxies] = added;
	ret = manager_preview_run(m, list, m->nproxies + 1, added.id, out, err, errlen);
	free(list);
	return ret;
}

int manager_preview_update(struct manager *m, const struct proxy_config *p,
			   int64_t expected_version, struct manager_preview *out, char *err,
			   size_t errlen)
{
	struct proxy_config *list;
	size_t at = 0;
	int ret = manager_cluster_refuse(m, err, errlen);

	memset(out, 0, sizeof(*out));
	if (ret == 0)
		ret = manager_preview_existing(m, p->id, expected_version, &at, err, errlen);
	if (ret == 0)
		ret = manager_preview_unique(m, p, err, errlen);
	if (ret < 0)
		return ret;
	list = manager_preview_list(m);
	if (list == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	list[at] = *p;
	ret = manager_preview_run(m, list, m->nproxies, p->id, out, err, errlen);
	free(list);
	return ret;
}

int manager_preview_delete(struct manager *m, int64_t id, int64_t expected_version,
			   struct manager_preview *out, char *err, size_t errlen)
{
	struct proxy_config *list;
	size_t at = 0;
	int ret = manager_cluster_refuse(m, err, errlen);

	memset(out, 0, sizeof(*out));
	if (ret == 0)
		ret = manager_preview_existing(m, id, expected_version, &at, err, errlen);
	if (ret < 0)
		return ret;
	list = manager_preview_list(m);
	if (list == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memmove(&list[at], &list[at + 1], (m->nproxies - at - 1) * sizeof(*list));
	ret = manager_preview_run(m, list, m->nproxies - 1, id, out, err, errlen);
	free(list);
	return ret;
}
