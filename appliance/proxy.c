/* proxy.c - names and validation for proxy configuration fields. */
#include "proxy.h"

#include <string.h>

static const char *const proxy_admin_names[] = {
    [PROXY_ADMIN_ENABLED] = "enabled",
    [PROXY_ADMIN_DRAIN] = "drain",
    [PROXY_ADMIN_DISABLED] = "disabled",
};

const char *proxy_admin_name(enum proxy_admin admin)
{
	if ((unsigned)admin >= sizeof(proxy_admin_names) / sizeof(proxy_admin_names[0]))
		return "unknown";
	return proxy_admin_names[admin];
}

bool proxy_admin_parse(const char *text, enum proxy_admin *out)
{
	for (size_t i = 0; i < sizeof(proxy_admin_names) / sizeof(proxy_admin_names[0]); i++) {
		if (strcmp(text, proxy_admin_names[i]) == 0) {
			*out = (enum proxy_admin)i;
			return true;
		}
	}
	return false;
}

bool proxy_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > PROXY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* Index 0 is "use the pool's kind"; the others follow enum probe_kind, shifted by one. */
static const char *const proxy_probe_names[] = {"default", "http-proxy", "http", "tcp"};

const char *proxy_probe_name(uint8_t probe)
{
	if (probe >= sizeof(proxy_probe_names) / sizeof(proxy_probe_names[0]))
		return "unknown";
	return proxy_probe_names[probe];
}

bool proxy_probe_parse(const char *text, uint8_t *out)
{
	for (size_t i = 0; i < sizeof(proxy_probe_names) / sizeof(proxy_probe_names[0]); i++) {
		if (strcmp(text, proxy_probe_names[i]) == 0) {
			*out = (uint8_t)i;
			return true;
		}
	}
	return false;
}
