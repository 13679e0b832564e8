/* proxy.c - names and validation for proxy configuration fields. */
#include "proxy.h"

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

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

bool proxy_has_address6(const struct proxy_config *p)
{
	static const uint8_t none[PROXY_ADDRESS6_LEN];

	return memcmp(p->address6, none, sizeof(none)) != 0;
}

bool proxy_address6_parse(const char *text, uint8_t out[PROXY_ADDRESS6_LEN], const char **why)
{
	struct in6_addr a;
	const char *problem = NULL;

	if (text[0] == '\0' || strcmp(text, "none") == 0) {
		memset(out, 0, PROXY_ADDRESS6_LEN);
		return true;
	}
	if (inet_pton(AF_INET6, text, &a) != 1)
		problem = "is not an IPv6 address";
	else if (IN6_IS_ADDR_UNSPECIFIED(&a))
		problem = "is not a host address";
	else if (IN6_IS_ADDR_LOOPBACK(&a))
		problem = "is a loopback address";
	else if (IN6_IS_ADDR_MULTICAST(&a))
		problem = "is a multicast address";
	else if (IN6_IS_ADDR_LINKLOCAL(&a))
		/* A link-local address needs an interface to mean anything. */
		problem = "is a link-local address";
	else if (IN6_IS_ADDR_V4MAPPED(&a) || IN6_IS_ADDR_V4COMPAT(&a))
		problem = "is an IPv4 address in IPv6 form (give it as address)";
	if (problem != NULL) {
		if (why != NULL)
			*why = problem;
		return false;
	}
	memcpy(out, &a, PROXY_ADDRESS6_LEN);
	return true;
}

const char *proxy_address6_text(const struct proxy_config *p, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (proxy_has_address6(p) && inet_ntop(AF_INET6, p->address6, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}
