/* hash.h - keyed hashing of client addresses and proxy identities. */
#ifndef DROVER_HASH_H
#define DROVER_HASH_H

#include <stdint.h>

#define HASH_KEY_BYTES 16

/* The keyed 64-bit hash (SipHash via libsodium) of an IPv4 address in network byte order. */
uint64_t hash_client(const uint8_t key[HASH_KEY_BYTES], uint32_t client);

#endif
