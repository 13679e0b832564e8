/* affinity.c - client -> proxy affinity table, shared lock-free by packet threads. */
#include "affinity.h"

#include "hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define AFFINITY_CACHE_LINE 64
/*
 * Tables of at least this size are aligned to it and asked for transparent
 * huge pages: a client's bucket is one random cache line, and with 4 KiB
 * pages nearly every lookup in the default 8 MiB table also misses the TLB,
 * which under virtualisation (two-level page walks) cost more than the rest
 * of the lookup (measured with perf: affinity_lookup 8% of droverd's time).
 */
#define AFFINITY_HUGE_PAGE  (2U << 20)
#define AFFINITY_CLOCK_BITS 20
#define AFFINITY_CLOCK_MASK ((1U << AFFINITY_CLOCK_BITS) - 1)
#define AFFINITY_SLOT_BITS  12
#define AFFINITY_SLOT_MASK  ((1U << AFFINITY_SLOT_BITS) - 1)
/* A CAS lost to another thread is retried this often, then the insert is dropped:
 * the table is a cache, and the client's next packet inserts again. */
#define AFFINITY_CAS_RETRIES 8

_Static_assert(AFFINITY_WAYS * sizeof(uint64_t) == AFFINITY_CACHE_LINE,
	       "a bucket must be exactly one cache line");

static inline uint64_t affinity_pack(uint32_t client, uint16_t slot, uint32_t now)
{
	return (uint64_t)client << 32 |
	       (uint64_t)(slot & AFFINITY_SLOT_MASK) << AFFINITY_CLOCK_BITS |
	       (now & AFFINITY_CLOCK_MASK);
}

static inline uint32_t affinity_client(uint64_t e)
{
	return (uint32_t)(e >> 32);
}

static inline uint16_t affinity_slot(uint64_t e)
{
	return (uint16_t)((e >> AFFINITY_CLOCK_BITS) & AFFINITY_SLOT_MASK);
}

/* Seconds since the entry was last seen, modulo the 20-bit clock (about 12 days). */
static inline uint32_t affinity_age(uint64_t e, uint32_t now)
{
	return (now - (uint32_t)e) & AFFINITY_CLOCK_MASK;
}

static inline bool affinity_live(const struct affinity_table *t, uint64_t e, uint32_t now)
{
	return affinity_client(e) != 0 && affinity_age(e, now) < t->timeout;
}

/* The high half of the hash picks the bucket: the Maglev lookup uses it modulo a prime. */
static inline uint64_t *affinity_bucket(const struct affinity_table *t, uint64_t client_hash)
{
	return &t->entries[(size_t)((client_hash >> 32) & (t->nbuckets - 1)) * AFFINITY_WAYS];
}

int affinity_init(struct affinity_table *t, uint32_t max_clients, uint32_t timeout)
{
	uint32_t want, nbuckets = 1;
	size_t bytes;

	t->entries = NULL;
	t->nbuckets = 0;
	if (max_clients < AFFINITY_MIN_CLIENTS || max_clients > AFFINITY_MAX_CLIENTS ||
	    timeout == 0 || timeout > AFFINITY_TIMEOUT_MAX)
		return -EINVAL;
	want = (max_clients + AFFINITY_WAYS - 1) / AFFINITY_WAYS;
	while (nbuckets < want)
		nbuckets <<= 1;
	bytes = (size_t)nbuckets * AFFINITY_WAYS * sizeof(uint64_t);
	/* bytes is a power of two: when it is at least a huge page it is a multiple of one. */
	size_t align = bytes >= AFFINITY_HUGE_PAGE ? AFFINITY_HUGE_PAGE : AFFINITY_CACHE_LINE;
	t->entries = aligned_alloc(align, bytes);
	if (t->entries == NULL)
		return -ENOMEM;
	/* A hint: without huge pages the table works the same, only slower. */
	if (align == AFFINITY_HUGE_PAGE)
		madvise(t->entries, bytes, MADV_HUGEPAGE);
	memset(t->entries, 0, bytes);
	t->nbuckets = nbuckets;
	t->timeout = timeout;
	return 0;
}

void affinity_free(struct affinity_table *t)
{
	free(t->entries);
	t->entries = NULL;
	t->nbuckets = 0;
}

/*
 * Entries are self-contained words, so relaxed atomics suffice: no other
 * memory is published through them. The refresh is a CAS rather than a
 * store so that it can never resurrect an entry another thread has just
 * replaced, and it is skipped when the second has not changed, so a busy
 * client costs no cache-line write per packet.
 */
/*
 * The way holding client's live entry in bucket b, with the word read there
 * in *entry; -1 when the client has no live entry.
 */
static inline int affinity_find(const struct affinity_table *t, const uint64_t *b, uint32_t client,
				uint32_t now, uint64_t *entry)
{
	if (client == 0)
		return -1;
	for (int i = 0; i < AFFINITY_WAYS; i++) {
		uint64_t e = __atomic_load_n(&b[i], __ATOMIC_RELAXED);

		if (affinity_client(e) != client)
			continue;
		if (!affinity_live(t, e, now))
			return -1;
		*entry = e;
		return i;
	}
	return -1;
}

bool affinity_lookup(struct affinity_table *t, uint32_t client, uint64_t client_hash, uint32_t now,
		     uint16_t *slot)
{
	uint64_t *b = affinity_bucket(t, client_hash);
	uint64_t e;
	int way = affinity_find(t, b, client, now, &e);

	if (way < 0)
		return false;
	*slot = affinity_slot(e);
	if (((uint32_t)e & AFFINITY_CLOCK_MASK) != (now & AFFINITY_CLOCK_MASK)) {
		uint64_t fresh = affinity_pack(client, *slot, now);

		__atomic_compare_exchange_n(&b[way], &e, fresh, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	}
	return true;
}

/*
 * Picks the way to write: the client's own entry, else the first empty, else
 * the first expired, else the least recently seen. Returns the way and sets
 * *old to the word seen there (the CAS's expected value).
 */
static int affinity_choose(const struct affinity_table *t, uint64_t *b, uint32_t client,
			   uint32_t now, uint64_t *old)
{
	int empty = -1, expired = -1, oldest = 0;
	uint32_t oldest_age = 0;
	uint64_t seen[AFFINITY_WAYS];

	for (int i = 0; i < AFFINITY_WAYS; i++) {
		uint64_t e = __atomic_load_n(&b[i], __ATOMIC_RELAXED);
		uint32_t age;

		seen[i] = e;
		if (affinity_client(e) == client) {
			*old = e;
			return i;
		}
		if (affinity_client(e) == 0) {
			if (empty < 0)
				empty = i;
			continue;
		}
		age = affinity_age(e, now);
		if (age >= t->timeout) {
			if (expired < 0)
				expired = i;
		} else if (age >= oldest_age) {
			oldest_age = age;
			oldest = i;
		}
	}
	if (empty < 0)
		empty = expired;
	if (empty >= 0) {
		*old = seen[empty];
		return empty;
	}
	*old = seen[oldest];
	return oldest;
}

/*
 * stats->inserts counts entries created for a client not already present;
 * refreshing a client's own entry is not counted. Two threads inserting the
 * same new client at the same instant may both succeed in different ways;
 * the duplicate is harmless (both carry the same decision) and ages out.
 */
void affinity_insert(struct affinity_table *t, uint32_t client, uint64_t client_hash, uint16_t slot,
		     uint32_t now, struct affinity_stats *stats)
{
	uint64_t *b = affinity_bucket(t, client_hash);
	uint64_t fresh = affinity_pack(client, slot, now);

	if (client == 0 || slot == 0 || slot > AFFINITY_SLOT_MASK)
		return;
	for (int attempt = 0; attempt < AFFINITY_CAS_RETRIES; attempt++) {
		uint64_t old;
		int way = affinity_choose(t, b, client, now, &old);

		if (!__atomic_compare_exchange_n(&b[way], &old, fresh, false, __ATOMIC_RELAXED,
						 __ATOMIC_RELAXED))
			continue;
		if (stats != NULL && affinity_client(old) != client) {
			stats->inserts++;
			if (affinity_live(t, old, now))
				stats->evictions++;
		}
		return;
	}
}

bool affinity_peek(const struct affinity_table *t, uint32_t client, uint64_t client_hash,
		   uint32_t now, uint16_t *slot, uint32_t *age_out)
{
	uint64_t e;

	if (affinity_find(t, affinity_bucket(t, client_hash), client, now, &e) < 0)
		return false;
	*slot = affinity_slot(e);
	if (age_out != NULL)
		*age_out = affinity_age(e, now);
	return true;
}

/*
 * Expired entries are cleared with a CAS so that an entry a packet thread
 * refreshed or replaced meanwhile is left alone.
 */
size_t affinity_sweep(struct affinity_table *t, uint32_t now, uint32_t *active, size_t nslots)
{
	size_t total = (size_t)t->nbuckets * AFFINITY_WAYS, live = 0;

	if (active != NULL)
		memset(active, 0, nslots * sizeof(*active));
	for (size_t i = 0; i < total; i++) {
		uint64_t e = __atomic_load_n(&t->entries[i], __ATOMIC_RELAXED);

		if (affinity_client(e) == 0)
			continue;
		if (!affinity_live(t, e, now)) {
			__atomic_compare_exchange_n(&t->entries[i], &e, 0, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
			continue;
		}
		live++;
		if (active != NULL && affinity_slot(e) < nslots)
			active[affinity_slot(e)]++;
	}
	return live;
}

void affinity_clear(struct affinity_table *t)
{
	size_t total = (size_t)t->nbuckets * AFFINITY_WAYS;

	for (size_t i = 0; i < total; i++)
		__atomic_store_n(&t->entries[i], 0, __ATOMIC_RELAXED);
}

size_t affinity_rekey(struct affinity_table *dst, const struct affinity_table *src, uint32_t now,
		      const uint8_t *key)
{
	size_t total = (size_t)src->nbuckets * AFFINITY_WAYS, copied = 0;

	for (size_t i = 0; i < total; i++) {
		uint64_t e = __atomic_load_n(&src->entries[i], __ATOMIC_RELAXED), old;
		uint32_t client = affinity_client(e);
		uint64_t *b;
		int way;

		if (!affinity_live(src, e, now))
			continue;
		b = affinity_bucket(dst, hash_client(key, client));
		way = affinity_choose(dst, b, client, now, &old);
		__atomic_store_n(&b[way], e, __ATOMIC_RELAXED);
		copied++;
	}
	return copied;
}

size_t affinity_walk(const struct affinity_table *t, uint32_t now, affinity_walk_fn *fn, void *arg)
{
	size_t total = (size_t)t->nbuckets * AFFINITY_WAYS, live = 0;

	for (size_t i = 0; i < total; i++) {
		uint64_t e = __atomic_load_n(&t->entries[i], __ATOMIC_RELAXED);

		if (!affinity_live(t, e, now))
			continue;
		live++;
		fn(arg, affinity_client(e), affinity_slot(e), affinity_age(e, now));
	}
	return live;
}

/*
 * One pass over the bucket: the client's own live entry (refreshed or
 * kept), else the first empty or expired way, taken with a CAS. A CAS lost
 * to a packet thread means the bucket changed: the pass is tried again.
 */
enum affinity_import_result affinity_import(struct affinity_table *t, uint32_t client,
					    uint64_t client_hash, uint16_t slot, uint32_t now,
					    uint32_t age, uint32_t slack)
{
	uint64_t *b = affinity_bucket(t, client_hash);
	uint32_t seen = now - age;
	uint64_t fresh = affinity_pack(client, slot, seen);

	if (age >= t->timeout)
		return AFFINITY_IMPORT_EXPIRED;
	if (client == 0 || slot == 0 || slot > AFFINITY_SLOT_MASK)
		return AFFINITY_IMPORT_KEPT;
	for (int attempt = 0; attempt < AFFINITY_CAS_RETRIES; attempt++) {
		int free_way = -1, own = -1;
		uint64_t free_word = 0, own_word = 0;

		for (int i = 0; i < AFFINITY_WAYS; i++) {
			uint64_t e = __atomic_load_n(&b[i], __ATOMIC_RELAXED);

			if (affinity_client(e) == client && affinity_live(t, e, now)) {
				own = i;
				own_word = e;
				break;
			}
			if (free_way < 0 && !affinity_live(t, e, now)) {
				free_way = i;
				free_word = e;
			}
		}
		if (own >= 0) {
			if (affinity_slot(own_word) != slot ||
			    affinity_age(own_word, now) <= age + slack)
				return AFFINITY_IMPORT_KEPT;
			if (__atomic_compare_exchange_n(&b[own], &own_word, fresh, false,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
				return AFFINITY_IMPORT_REFRESHED;
			continue;
		}
		if (free_way < 0)
			return AFFINITY_IMPORT_FULL;
		if (__atomic_compare_exchange_n(&b[free_way], &free_word, fresh, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return AFFINITY_IMPORT_ADDED;
	}
	return AFFINITY_IMPORT_KEPT;
}
