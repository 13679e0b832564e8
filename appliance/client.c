/* client.c - the identity of a client, whatever its address family. */
#include "client.h"

#include <errno.h>
#include <arpa/inet.h>

const uint8_t client_ipv4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

enum {
	CLIENT_BITS_PER_BYTE = 8,
	CLIENT_BYTE_MASK = 0xff,
};

/*
 * Masking leaves the bytes inside the prefix as they are and clears the
 * rest, so a widened identity is itself an address of the prefix (the
 * prefix's first), readable in the UI and a valid key for the tables.
 */
struct client_id client_widen(const struct client_id *id, unsigned int prefix_len)
{
	struct client_id out = *id;
	unsigned int full, rest;

	if (client_is_ipv4(id) || prefix_len >= CLIENT_PREFIX_MAX)
		return out;
	full = prefix_len / CLIENT_BITS_PER_BYTE;
	rest = prefix_len % CLIENT_BITS_PER_BYTE;
	if (rest != 0) {
		out.addr[full] &= (uint8_t)(CLIENT_BYTE_MASK << (CLIENT_BITS_PER_BYTE - rest));
		full++;
	}
	memset(out.addr + full, 0, sizeof(out.addr) - full);
	return out;
}

bool client_parse(const char *text, struct client_id *out)
{
	uint32_t v4;
	uint8_t v6[WIRE_IPV6_ADDR_LEN];

	if (text == NULL)
		return false;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		*out = client_from_ipv4(v4);
		return true;
	}
	if (inet_pton(AF_INET6, text, v6) == 1) {
		*out = client_from_ipv6(v6);
		return true;
	}
	return false;
}

int client_format(const struct client_id *id, char *buf, size_t size)
{
	const char *text;

	if (client_is_ipv4(id)) {
		uint32_t v4 = client_ipv4(id);

		text = inet_ntop(AF_INET, &v4, buf, (socklen_t)size);
	} else {
		text = inet_ntop(AF_INET6, id->addr, buf, (socklen_t)size);
	}
	return text == NULL ? -ENOSPC : 0;
}
