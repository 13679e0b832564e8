/* maglev.h - weighted Maglev lookup table. Pure: no globals, no I/O. */
#ifndef DROVER_MAGLEV_H
#define DROVER_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define MAGLEV_DEFAULT_SIZE 65537
#define MAGLEV_MIN_SIZE	    251
#define MAGLEV_MAX_SIZE	    1000003
/* Entry value of a table built with no usable backend. */
#define MAGLEV_EMPTY 0

struct maglev_backend {
	uint32_t identity; /* what positions the backend in the table: its IPv4 address */
	uint32_t weight;   /* relative share; 0 means not in the table */
	uint16_t slot;	   /* value stored in the table, 1..4095 */
};

struct maglev_table {
	uint32_t size;	   /* prime */
	uint16_t *entries; /* size entries, each a backend slot or MAGLEV_EMPTY */
};

/* True when m is prime and MAGLEV_MIN_SIZE <= m <= MAGLEV_MAX_SIZE. */
bool maglev_size_valid(uint32_t m);

/*
 * Fills t (allocating t->entries) so that each backend of weight w > 0 owns
 * about size * w / sum(w) entries, placed by its permutation (offset, skip
 * from the keyed hash of its identity). The same backends and key always give
 * the same table, whatever their order in the array; which entries a backend
 * owns depends only on the identities, weights, size and key, never on the
 * slots (the values written), so appliances that number their proxies
 * differently still send every client to the same proxy. Returns 0, -EINVAL for a
 * bad size or a slot outside 1..4095, -ENOMEM.
 */
int maglev_build(struct maglev_table *t, uint32_t size, const struct maglev_backend *backends,
		 size_t count, const uint8_t key[HASH_KEY_BYTES]);
void maglev_free(struct maglev_table *t);

/* Size of a table digest: BLAKE2b-256. */
#define MAGLEV_DIGEST_BYTES 32

/*
 * The digest of table t as proxies, not slots: BLAKE2b-256 over the table
 * size (4 bytes, big-endian) and, per entry in order, the address of the
 * backend it names (4 bytes, network byte order, as addresses[] holds them;
 * 0 for an empty entry or a slot at or beyond naddresses). Two appliances
 * that number their proxies differently get the same digest exactly when
 * they send every client hash to the same proxy address. Pure; off the
 * packet path (it reads the whole table).
 */
void maglev_digest(const struct maglev_table *t, const uint32_t *addresses, size_t naddresses,
		   uint8_t out[MAGLEV_DIGEST_BYTES]);

static inline uint16_t maglev_lookup(const struct maglev_table *t, uint64_t client_hash)
{
	return t->entries[client_hash % t->size];
}

#endif
