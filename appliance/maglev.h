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
 * the same table, whatever their order in the array. Returns 0, -EINVAL for a
 * bad size or a slot outside 1..4095, -ENOMEM.
 */
int maglev_build(struct maglev_table *t, uint32_t size, const struct maglev_backend *backends,
		 size_t count, const uint8_t key[HASH_KEY_BYTES]);
void maglev_free(struct maglev_table *t);

static inline uint16_t maglev_lookup(const struct maglev_table *t, uint64_t client_hash)
{
	return t->entries[client_hash % t->size];
}

#endif
