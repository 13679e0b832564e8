/* hash.c - keyed hashing of client addresses and proxy identities. */
#include "hash.h"

#include <sodium.h>

/*
 * SipHash-2-4 keyed with the cluster secret: clients cannot predict which
 * proxy an address lands on, so they cannot aim a flood at one proxy. The
 * address bytes are hashed in network order so the result does not depend on
 * the host's byte order. crypto_shorthash needs no sodium_init().
 */
static uint64_t hash_bytes(const uint8_t key[HASH_KEY_BYTES], const void *in, size_t len)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h = 0;

	crypto_shorthash(out, in, len, key);
	for (size_t i = 0; i < sizeof(out); i++)
		h |= (uint64_t)out[i] << (8 * i);
	return h;
}

uint64_t hash_client(const uint8_t key[HASH_KEY_BYTES], uint32_t client)
{
	return hash_bytes(key, &client, sizeof(client));
}

/*
 * An IPv4 client is hashed on its four bytes, never on its mapped form:
 * the tables built before IPv6 existed must place it where they did.
 */
uint64_t hash_client_id(const uint8_t key[HASH_KEY_BYTES], const struct client_id *client)
{
	if (client_is_ipv4(client))
		return hash_client(key, client_ipv4(client));
	return hash_bytes(key, client->addr, sizeof(client->addr));
}
