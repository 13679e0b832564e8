/* proxy.h - a proxy's stored configuration (plain data, shared by store, control and droverctl). */
#ifndef DROVER_PROXY_H
#define DROVER_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe_kind.h"

#define PROXY_NAME_MAX	   63
#define PROXY_WEIGHT_MAX   1000
#define PROXY_ADDRESS6_LEN 16 /* bytes of an IPv6 address */
/* Affinity entries carry the proxy's slot in 12 bits; slot 0 is reserved for "none". */
#define PROXY_SLOTS_MAX 4096

enum proxy_admin {
	PROXY_ADMIN_ENABLED,
	PROXY_ADMIN_DRAIN,
	PROXY_ADMIN_DISABLED,
};

struct proxy_config {
	int64_t id;
	char name[PROXY_NAME_MAX + 1];
	uint32_t address; /* IPv4, network byte order; required */
	/*
	 * The proxy's IPv6 address, 16 bytes as on the wire; all zero (::, which
	 * is never a host's address) when it has none. With one, IPv6 clients
	 * reach it in IPv6-in-IPv6; without, in IPv6-in-IPv4 to address.
	 */
	uint8_t address6[PROXY_ADDRESS6_LEN];
	uint32_t weight; /* 0..PROXY_WEIGHT_MAX; 0 takes no new clients, like drain */
	enum proxy_admin admin;
	int64_t version;       /* bumped on every stored change; stale writes are refused */
	bool probe_override;   /* probe with its own kind instead of the pool's probe_kind */
	enum probe_kind probe; /* that kind, when probe_override */
	/*
	 * Read Squid's own figures from its cache manager on the probe port
	 * (squid_stats.h). Off by default: the proxy's Squid must allow the
	 * appliance's manager requests first. Never touches health.
	 */
	bool squid_stats;
};

/* Whether p has an IPv6 address (address6 is not ::). */
bool proxy_has_address6(const struct proxy_config *p);
/*
 * Parses an IPv6 address for address6: "" or "none" clears it (::); else
 * text must be an IPv6 unicast host address (not ::, loopback, multicast,
 * link-local or IPv4-mapped). false with *why (unless NULL) saying what is
 * wrong; out untouched then.
 */
bool proxy_address6_parse(const char *text, uint8_t out[PROXY_ADDRESS6_LEN], const char **why);
/* p's IPv6 address as text into buf (INET6_ADDRSTRLEN bytes); "" when it has none. */
const char *proxy_address6_text(const struct proxy_config *p, char *buf, size_t len);

/* The text for "no override: the pool's probe_kind". */
#define PROXY_PROBE_DEFAULT "default"

const char *proxy_admin_name(enum proxy_admin admin);
bool proxy_admin_parse(const char *text, enum proxy_admin *out);
/* Accepts a name of 1..PROXY_NAME_MAX characters from [A-Za-z0-9._-]. */
bool proxy_name_valid(const char *name);
/* p's probe override as text: PROXY_PROBE_DEFAULT, or a probe kind's name. */
const char *proxy_probe_name(const struct proxy_config *p);
/* Sets p's probe override from PROXY_PROBE_DEFAULT or a probe kind's name. */
bool proxy_probe_parse(const char *text, struct proxy_config *p);
/* True when p's probe override is one of the kinds there are. */
bool proxy_probe_valid(const struct proxy_config *p);

#endif
