/* proxy.h - a proxy's stored configuration (plain data, shared by store, control and droverctl). */
#ifndef DROVER_PROXY_H
#define DROVER_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "probe_kind.h"

#define PROXY_NAME_MAX	 63
#define PROXY_WEIGHT_MAX 1000
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
	uint32_t address; /* IPv4, network byte order */
	uint32_t weight;  /* 0..PROXY_WEIGHT_MAX; 0 takes no new clients, like drain */
	enum proxy_admin admin;
	int64_t version;       /* bumped on every stored change; stale writes are refused */
	bool probe_override;   /* probe with its own kind instead of the pool's probe_kind */
	enum probe_kind probe; /* that kind, when probe_override */
};

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
