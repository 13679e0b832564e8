/*
 * affinity.h - client -> proxy affinity table, shared lock-free by packet threads.
 *
 * Each entry is one 64-bit word: client address (32 bits), proxy slot
 * (12 bits), last-seen second (20 bits). Buckets are 8 entries, one cache line.
 * Packet threads read and write entries with atomic loads, stores and CAS; the
 * control thread sweeps expired entries often enough (every few seconds) that
 * the 20-bit clock never wraps on a live entry.
 */
#ifndef DROVER_AFFINITY_H
#define DROVER_AFFINITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AFFINITY_WAYS	     8
#define AFFINITY_TIMEOUT_MAX 86400
#define AFFINITY_MIN_CLIENTS 1024
#define AFFINITY_MAX_CLIENTS (1U << 26)

struct affinity_table {
	uint64_t *entries; /* nbuckets * AFFINITY_WAYS words, accessed with __atomic builtins */
	uint32_t nbuckets; /* power of two */
	uint32_t timeout;  /* seconds of idleness after which an entry is dead */
};

/* Counters a packet thread keeps for the table (single writer each). */
struct affinity_stats {
	uint64_t inserts;
	uint64_t evictions; /* live entries pushed out because their bucket was full */
};

/*
 * Allocates room for at least max_clients entries (rounded up to a power of
 * two of buckets). Returns 0, -EINVAL (max_clients or timeout out of range),
 * -ENOMEM.
 */
int affinity_init(struct affinity_table *t, uint32_t max_clients, uint32_t timeout);
void affinity_free(struct affinity_table *t);

/*
 * Looks up client (network byte order; client_hash from hash_client). On a
 * live hit returns true, stores the slot and refreshes the last-seen second
 * (written only when it changed). now is seconds from a monotonic clock.
 */
bool affinity_lookup(struct affinity_table *t, uint32_t client, uint64_t client_hash, uint32_t now,
		     uint16_t *slot);

/*
 * Records client -> slot (1..4095). Reuses the client's entry, else an empty
 * or expired one, else evicts the least recently seen entry of the bucket.
 */
void affinity_insert(struct affinity_table *t, uint32_t client, uint64_t client_hash, uint16_t slot,
		     uint32_t now, struct affinity_stats *stats);

/* Like affinity_lookup without refreshing; age_out gets seconds since last seen. */
bool affinity_peek(const struct affinity_table *t, uint32_t client, uint64_t client_hash,
		   uint32_t now, uint16_t *slot, uint32_t *age_out);

/*
 * Clears expired entries and counts live ones per slot into active[0..nslots)
 * (zeroed first; may be NULL). Returns the number of live entries.
 */
size_t affinity_sweep(struct affinity_table *t, uint32_t now, uint32_t *active, size_t nslots);

/*
 * Copies every live entry of src into dst (a fresh table of any size), each
 * placed by its client's hash under key (hash_client), keeping its slot and
 * its last-seen second: a table moved to a new hash key keeps its clients'
 * proxies and idle times. Returns the entries copied (one whose bucket in
 * dst is full pushes out the least recently seen, as an insert does).
 * Control thread; packet threads may still be writing src, and what they
 * write meanwhile may be missed (the client's next packet inserts again).
 */
size_t affinity_rekey(struct affinity_table *dst, const struct affinity_table *src, uint32_t now,
		      const uint8_t *key);

/* Called by affinity_walk for each live entry: client, slot and idle seconds. */
typedef void affinity_walk_fn(void *arg, uint32_t client, uint16_t slot, uint32_t age);

/*
 * Calls fn for every live entry, in table order, without changing any.
 * Control thread; packet threads may be writing meanwhile, so an entry
 * changed during the walk may be seen before or after its change. Returns
 * the live entries seen.
 */
size_t affinity_walk(const struct affinity_table *t, uint32_t now, affinity_walk_fn *fn, void *arg);

/* What affinity_import did with an entry. */
enum affinity_import_result {
	AFFINITY_IMPORT_ADDED,	   /* the client had no live entry: it has this one now */
	AFFINITY_IMPORT_REFRESHED, /* same slot, seen later elsewhere: its last-seen moved on */
	AFFINITY_IMPORT_KEPT,	   /* the client's own entry is left as it is */
	AFFINITY_IMPORT_FULL,	   /* its bucket holds only live entries: none is pushed out */
	AFFINITY_IMPORT_EXPIRED,   /* age is at or past the timeout: nothing to import */
};

/*
 * Records an entry learnt from another appliance: client -> slot, last seen
 * age seconds ago. Unlike affinity_insert it never overwrites what this
 * table knows: a client with a live entry keeps it, except that an entry
 * naming the same slot has its last-seen second moved to the peer's when
 * the peer saw the client more than slack seconds later (so a copy lives as
 * long as the original, and two appliances echoing an entry to each other
 * never keep it alive by their rounding). It takes only an empty or expired
 * way, never a live one. Safe beside packet threads (CAS, as they do).
 */
enum affinity_import_result affinity_import(struct affinity_table *t, uint32_t client,
					    uint64_t client_hash, uint16_t slot, uint32_t now,
					    uint32_t age, uint32_t slack);

/* Removes every entry (used when the table is resized). */
void affinity_clear(struct affinity_table *t);

#endif
