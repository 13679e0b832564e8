/*
 * client.h - the identity of a client, whatever its address family: 16
 * bytes, an IPv4 client as its IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * RFC 4291 2.5.5.2), so one Maglev table and one affinity table can serve
 * both families. Pure: no globals, no I/O.
 */
#ifndef DROVER_CLIENT_H
#define DROVER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"

/* Room for the text form of any client, its terminating NUL included (INET6_ADDRSTRLEN). */
#define CLIENT_TEXT_MAX 46
/* The longest IPv6 prefix: widening to it leaves an identity as it is. */
#define CLIENT_PREFIX_MAX 128

struct client_id {
	uint8_t addr[WIRE_IPV6_ADDR_LEN]; /* network byte order */
};

/* The 12 bytes that make an IPv6 address an IPv4-mapped one. */
extern const uint8_t client_ipv4_mapped_prefix[12];

/* The identity of the IPv4 client at addr (network byte order). */
static inline struct client_id client_from_ipv4(uint32_t addr)
{
	struct client_id id;

	memcpy(id.addr, client_ipv4_mapped_prefix, sizeof(client_ipv4_mapped_prefix));
	memcpy(id.addr + sizeof(client_ipv4_mapped_prefix), &addr, sizeof(addr));
	return id;
}

/* The identity of the IPv6 client at addr (16 bytes as on the wire). */
static inline struct client_id client_from_ipv6(const uint8_t addr[WIRE_IPV6_ADDR_LEN])
{
	struct client_id id;

	memcpy(id.addr, addr, sizeof(id.addr));
	return id;
}

/* Whether the 16 bytes at addr are an IPv4-mapped address. */
static inline bool client_addr_is_ipv4_mapped(const uint8_t addr[WIRE_IPV6_ADDR_LEN])
{
	return memcmp(addr, client_ipv4_mapped_prefix, sizeof(client_ipv4_mapped_prefix)) == 0;
}

/* Whether id names an IPv4 client. */
static inline bool client_is_ipv4(const struct client_id *id)
{
	return client_addr_is_ipv4_mapped(id->addr);
}

/* The IPv4 address (network byte order) of an IPv4 client; meaningless for an IPv6 one. */
static inline uint32_t client_ipv4(const struct client_id *id)
{
	uint32_t addr;

	memcpy(&addr, id->addr + sizeof(client_ipv4_mapped_prefix), sizeof(addr));
	return addr;
}

static inline bool client_equal(const struct client_id *a, const struct client_id *b)
{
	return memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/*
 * The identity drover schedules an IPv6 client by when the cluster widens
 * IPv6 clients to a prefix: id with every bit past the first prefix_len
 * cleared, so all addresses of one /64 (privacy addresses rotating inside
 * it) hash alike. An IPv4 client is returned as it is: the prefix is an
 * IPv6 notion, and IPv4 clients must keep their place. A prefix_len above
 * CLIENT_PREFIX_MAX is taken as CLIENT_PREFIX_MAX (no widening).
 */
struct client_id client_widen(const struct client_id *id, unsigned int prefix_len);

/*
 * Parses text as a client address: dotted IPv4 ("198.18.0.10") or IPv6
 * ("2001:db8::7"; "::ffff:198.18.0.10" is the same client as
 * "198.18.0.10"). Returns false, *out untouched, when text is neither.
 */
bool client_parse(const char *text, struct client_id *out);

/*
 * Writes the text form of id into buf (size bytes, at least
 * CLIENT_TEXT_MAX): dotted for an IPv4 client, RFC 5952 for IPv6. Returns
 * 0, or -ENOSPC when buf is too small.
 */
int client_format(const struct client_id *id, char *buf, size_t size);

#endif
