/* hash.h - keyed hashing of client addresses and proxy identities. */
#ifndef DROVER_HASH_H
#define DROVER_HASH_H

#include <stdint.h>

#include "client.h"

#define HASH_KEY_BYTES 16

/* The keyed 64-bit hash (SipHash via libsodium) of an IPv4 address in network byte order. */
uint64_t hash_client(const uint8_t key[HASH_KEY_BYTES], uint32_t client);

/*
 * The keyed 64-bit hash of a client of either family: for an IPv4 client
 * exactly hash_client of its IPv4 address (so IPv4 clients keep their
 * proxies), for an IPv6 client SipHash of all 16 bytes. Widen the identity
 * first (client_widen) to hash a prefix rather than an address.
 */
uint64_t hash_client_id(const uint8_t key[HASH_KEY_BYTES], const struct client_id *client);

#endif
