/* deviation.c - an appliance's deviations from the Maglev table, exported and merged. */
#include "deviation.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DEVIATION_FNV_OFFSET 0xcbf29ce484222325ULL
#define DEVIATION_FNV_PRIME  0x100000001b3ULL

struct deviation_walk {
	const struct affinity_table *affinity;
	uint32_t now;
	const uint8_t *key;
	const struct maglev_table *table;
	const int64_t *id_of_slot;
	size_t nslots;
	struct deviation *out;
	size_t cap;
	struct deviation_export *ex;
};

static uint64_t deviation_fnv(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * DEVIATION_FNV_PRIME;
	return h;
}

static void deviation_walk_one(void *arg, uint32_t client, uint16_t slot, uint32_t age)
{
	struct deviation_walk *w = arg;
	struct deviation_export *ex = w->ex;
	uint64_t hash = hash_client(w->key, client);
	uint16_t held = 0;
	int64_t id;

	if (slot >= w->nslots || (id = w->id_of_slot[slot]) == 0)
		return;
	/*
	 * An IPv4 client's entry sits where its address hashes to. An IPv6
	 * client's holds a tag of its hash, not an address, and sits where
	 * that hash led: told to a peer, it would read as an IPv4 address
	 * nobody has (and could pin one that has it). Those stay here.
	 */
	if (!affinity_peek(w->affinity, client, hash, w->now, &held, NULL) || held != slot)
		return;
	if (maglev_lookup(w->table, hash) == slot)
		return;
	if (ex->n >= w->cap) {
		ex->overflow++;
		return;
	}
	w->out[ex->n++] = (struct deviation){.client = client, .age = age, .proxy_id = id};
	ex->digest = deviation_fnv(ex->digest, &client, sizeof(client));
	ex->digest = deviation_fnv(ex->digest, &id, sizeof(id));
}

void deviation_export(const struct affinity_table *t, uint32_t now,
		      const uint8_t key[HASH_KEY_BYTES], const struct maglev_table *table,
		      const int64_t *id_of_slot, size_t nslots, struct deviation *out, size_t cap,
		      struct deviation_export *ex)
{
	struct deviation_walk w = {t, now, key, table, id_of_slot, nslots, out, cap, ex};

	memset(ex, 0, sizeof(*ex));
	ex->digest = DEVIATION_FNV_OFFSET;
	if (table->entries == NULL || table->size == 0)
		return;
	affinity_walk(t, now, deviation_walk_one, &w);
}

void deviation_merge(struct affinity_table *t, const uint8_t key[HASH_KEY_BYTES], uint32_t now,
		     const struct deviation *list, size_t n, deviation_slot_fn *slot_of, void *arg,
		     struct deviation_merge_stats *st)
{
	for (size_t i = 0; i < n; i++) {
		const struct deviation *d = &list[i];
		uint16_t slot = slot_of(arg, d->proxy_id);

		if (d->age >= t->timeout) {
			st->expired++;
			continue;
		}
		if (slot == 0) {
			st->refused_unknown++;
			continue;
		}
		switch (affinity_import(t, d->client, hash_client(key, d->client), slot, now,
					d->age, DEVIATION_REFRESH_SLACK_S)) {
		case AFFINITY_IMPORT_ADDED:
			st->imported++;
			break;
		case AFFINITY_IMPORT_REFRESHED:
			st->refreshed++;
			break;
		case AFFINITY_IMPORT_FULL:
			st->refused_full++;
			break;
		case AFFINITY_IMPORT_EXPIRED:
			st->expired++;
			break;
		case AFFINITY_IMPORT_KEPT:
		default:
			st->kept++;
			break;
		}
	}
}

size_t deviation_format(const struct deviation *list, size_t n, char *buf, size_t len)
{
	size_t used = 0, i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		char addr[INET_ADDRSTRLEN];
		struct in_addr a = {.s_addr = list[i].client};
		int w;

		inet_ntop(AF_INET, &a, addr, sizeof(addr));
		w = snprintf(buf + used, len - used, "%s%s,%" PRId64 ",%" PRIu32, i ? ";" : "",
			     addr, list[i].proxy_id, list[i].age);
		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = '\0';
			break;
		}
		used += (size_t)w;
	}
	return i;
}

/* A whole decimal number of 1..digits digits at *p, up to max; advances *p. */
static bool deviation_number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s == end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

bool deviation_parse(const char *text, size_t len, struct deviation *out, size_t cap, size_t *n)
{
	const char *p = text, *end = text + len;

	*n = 0;
	while (p < end) {
		char addr[INET_ADDRSTRLEN];
		const char *comma = memchr(p, ',', (size_t)(end - p));
		struct in_addr a;
		uint64_t id, age;

		if (comma == NULL || comma - p >= (ptrdiff_t)sizeof(addr) || *n >= cap)
			return false;
		memcpy(addr, p, (size_t)(comma - p));
		addr[comma - p] = '\0';
		if (inet_pton(AF_INET, addr, &a) != 1 || a.s_addr == 0)
			return false;
		p = comma + 1;
		if (!deviation_number(&p, end, INT64_MAX, &id) || id == 0 || p == end || *p != ',')
			return false;
		p++;
		if (!deviation_number(&p, end, UINT32_MAX, &age))
			return false;
		if (p < end && *p++ != ';')
			return false;
		out[(*n)++] = (struct deviation){
		    .client = a.s_addr, .age = (uint32_t)age, .proxy_id = (int64_t)id};
	}
	return true;
}
