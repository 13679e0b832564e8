/* hash.c - keyed hashing of client addresses and proxy identities. */
#include "hash.h"

#include <sodium.h>

/*
 * SipHash-2-4 keyed with the cluster secret: clients cannot predict which
 * proxy an address lands on, so they cannot aim a flood at one proxy. The
 * four bytes are hashed in network order so the result does not depend on
 * the host's byte order. crypto_shorthash needs no sodium_init().
 */
uint64_t hash_client(const uint8_t key[HASH_KEY_BYTES], uint32_t client)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h = 0;

	crypto_shorthash(out, (const unsigned char *)&client, sizeof(client), key);
	for (size_t i = 0; i < sizeof(out); i++)
		h |= (uint64_t)out[i] << (8 * i);
	return h;
}
