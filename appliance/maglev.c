/* maglev.c - weighted Maglev lookup table (Eisenbud et al., NSDI 2016). */
#include "maglev.h"

#include <errno.h>
#include <arpa/inet.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAGLEV_SLOT_MAX	   4095 /* slots share 12 bits with the affinity table */
#define MAGLEV_SALT_OFFSET 'o'
#define MAGLEV_SALT_SKIP   's'

/* Build-time state of one backend. */
struct maglev_member {
	uint32_t identity;
	uint32_t weight;
	uint16_t slot;
	uint32_t skip;
	uint32_t pos;	 /* next position of its permutation to try */
	uint64_t credit; /* turns earned, in units of 1/wmax */
};

bool maglev_size_valid(uint32_t m)
{
	if (m < MAGLEV_MIN_SIZE || m > MAGLEV_MAX_SIZE || m % 2 == 0)
		return false;
	for (uint32_t d = 3; d * d <= m; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

/*
 * The identity (network byte order, as stored) plus a one-byte salt: the
 * 5-byte input keeps these hashes apart from the 4-byte client hashes made
 * with the same key, and the two salts give the two independent hashes the
 * permutation needs.
 */
static uint64_t maglev_hash(const uint8_t key[HASH_KEY_BYTES], uint32_t identity, uint8_t salt)
{
	uint8_t in[sizeof(identity) + 1];
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h = 0;

	memcpy(in, &identity, sizeof(identity));
	in[sizeof(identity)] = salt;
	crypto_shorthash(out, in, sizeof(in), key);
	for (size_t i = 0; i < sizeof(out); i++)
		h |= (uint64_t)out[i] << (8 * i);
	return h;
}

/*
 * Ties on identity (the store refuses two proxies with one address) are
 * broken by slot only so that the order stays total.
 */
static int maglev_member_cmp(const void *a, const void *b)
{
	const struct maglev_member *x = a, *y = b;

	if (x->identity != y->identity)
		return x->identity < y->identity ? -1 : 1;
	return (x->slot > y->slot) - (x->slot < y->slot);
}

/*
 * Places backend m at the next free position of its permutation. The
 * permutation (offset + j * skip) mod size is walked by add-and-wrap, so the
 * build costs no hashing and no division per step.
 */
static void maglev_place(uint16_t *entries, uint32_t size, struct maglev_member *m)
{
	while (entries[m->pos] != MAGLEV_EMPTY) {
		m->pos += m->skip;
		if (m->pos >= size)
			m->pos -= size;
	}
	entries[m->pos] = m->slot;
	m->pos += m->skip;
	if (m->pos >= size)
		m->pos -= size;
}

/*
 * Members are sorted by identity first so the table depends only on the set
 * of backends. Weights: each round every member earns weight/wmax of a turn
 * and takes a turn per whole one earned (integer credit, so shares are exact
 * ratios rather than rounded fractions); the heaviest member takes one turn
 * every round, so each round fills at least one entry.
 *
 * Disruption is near-minimal, not minimal: when a backend joins or leaves,
 * the turns of the others shift and a fraction of a percent of the table
 * moves between backends that stayed. A scheme that moves only the joining
 * or leaving backend's entries must rank backends per entry (rendezvous
 * hashing), and its shares are then binomial: about 3% off fair at N = 10
 * and 10% at N = 100 for M = 65537, against Maglev's 0.1%.
 * Established clients do not notice either way: the affinity table keeps
 * them on their proxy.
 */
int maglev_build(struct maglev_table *t, uint32_t size, const struct maglev_backend *backends,
		 size_t count, const uint8_t key[HASH_KEY_BYTES])
{
	struct maglev_member *members;
	size_t n = 0;
	uint32_t wmax = 0, filled = 0;

	t->entries = NULL;
	t->size = 0;
	if (!maglev_size_valid(size))
		return -EINVAL;
	for (size_t i = 0; i < count; i++)
		if (backends[i].slot == 0 || backends[i].slot > MAGLEV_SLOT_MAX)
			return -EINVAL;

	t->entries = calloc(size, sizeof(*t->entries));
	if (t->entries == NULL)
		return -ENOMEM;
	t->size = size;
	members = calloc(count ? count : 1, sizeof(*members));
	if (members == NULL) {
		maglev_free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		if (backends[i].weight == 0)
			continue;
		members[n].identity = backends[i].identity;
		members[n].weight = backends[i].weight;
		members[n].slot = backends[i].slot;
		if (backends[i].weight > wmax)
			wmax = backends[i].weight;
		n++;
	}
	qsort(members, n, sizeof(*members), maglev_member_cmp);
	for (size_t i = 0; i < n; i++) {
		members[i].pos =
		    (uint32_t)(maglev_hash(key, members[i].identity, MAGLEV_SALT_OFFSET) % size);
		members[i].skip =
		    (uint32_t)(maglev_hash(key, members[i].identity, MAGLEV_SALT_SKIP) %
			       (size - 1)) +
		    1;
	}

	while (n > 0 && filled < size) {
		for (size_t i = 0; i < n && filled < size; i++) {
			struct maglev_member *m = &members[i];

			m->credit += m->weight;
			while (m->credit >= wmax && filled < size) {
				m->credit -= wmax;
				maglev_place(t->entries, size, m);
				filled++;
			}
		}
	}
	free(members);
	return 0;
}

/* Entries hashed per update call: bounds the stack buffer. */
#define MAGLEV_DIGEST_CHUNK 1024

void maglev_digest(const struct maglev_table *t, const uint32_t *addresses, size_t naddresses,
		   uint8_t out[MAGLEV_DIGEST_BYTES])
{
	crypto_generichash_state st;
	uint32_t chunk[MAGLEV_DIGEST_CHUNK];
	uint32_t size_be = htonl(t->size);

	crypto_generichash_init(&st, NULL, 0, MAGLEV_DIGEST_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)&size_be, sizeof(size_be));
	for (uint32_t i = 0; i < t->size;) {
		size_t n = 0;

		for (; n < MAGLEV_DIGEST_CHUNK && i < t->size; n++, i++) {
			uint16_t slot = t->entries[i];

			chunk[n] = slot != MAGLEV_EMPTY && slot < naddresses ? addresses[slot] : 0;
		}
		crypto_generichash_update(&st, (const unsigned char *)chunk, n * sizeof(chunk[0]));
	}
	crypto_generichash_final(&st, out, MAGLEV_DIGEST_BYTES);
}

void maglev_free(struct maglev_table *t)
{
	free(t->entries);
	t->entries = NULL;
	t->size = 0;
}
