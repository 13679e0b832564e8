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

const char *proxy_probe_name(const struct proxy_config *p)
{
	return p->probe_override ? probe_kind_name(p->probe) : PROXY_PROBE_DEFAULT;
}

bool proxy_probe_parse(const char *text, struct proxy_config *p)
{
	enum probe_kind k;

	if (strcmp(text, PROXY_PROBE_DEFAULT) == 0) {
		p->probe_override = false;
		p->probe = PROBE_HTTP_PROXY;
		return true;
	}
	if (!probe_kind_parse(text, &k))
		return false;
	p->probe_override = true;
	p->probe = k;
	return true;
}

bool proxy_probe_valid(const struct proxy_config *p)
{
	return !p->probe_override || (unsigned)p->probe < PROBE_KIND_COUNT;
}
