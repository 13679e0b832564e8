/* setup_script.c - renders the proxy set-up script for one proxy. Pure: no globals, no I/O. */
#include "setup_script.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "proxy.h"

/*
 * proxy/drover-proxy-setup.sh, NUL-terminated; setup_script_body_len leaves
 * the NUL out. Generated at build time by tools/embed.c (--text).
 */
extern const unsigned char setup_script_body[];
extern const size_t setup_script_body_len;

static const char *const setup_script_mode_names[] = {
    [SETUP_SCRIPT_KERNEL] = "kernel",
    [SETUP_SCRIPT_DECAP] = "decap",
};

#define SETUP_SCRIPT_NMODES (sizeof(setup_script_mode_names) / sizeof(setup_script_mode_names[0]))

/* What may stand in the unquoted arguments: their syntax's characters, nothing a shell reads. */
/* Subnets of both families: "A.B.C.D/N" and "X:X::X/N" (hex digits, colons). */
static const char setup_script_subnet_chars[] = "0123456789abcdefABCDEF:./,";
static const char setup_script_port_chars[] = "0123456789:,";

bool setup_script_mode_parse(const char *text, enum setup_script_mode *mode)
{
	for (size_t i = 0; text != NULL && i < SETUP_SCRIPT_NMODES; i++) {
		if (strcmp(text, setup_script_mode_names[i]) == 0) {
			*mode = (enum setup_script_mode)i;
			return true;
		}
	}
	return false;
}

const char *setup_script_mode_name(enum setup_script_mode mode)
{
	if ((size_t)mode >= SETUP_SCRIPT_NMODES)
		return NULL;
	return setup_script_mode_names[mode];
}

/* A non-empty list made only of chars. */
static bool setup_script_list_valid(const char *list, const char *chars)
{
	return list != NULL && list[0] != '\0' && strspn(list, chars) == strlen(list);
}

/*
 * The --appliance list: this appliance's tunnel source, its IPv6 one when
 * it has one towards the proxy, then each peer that is not that same
 * address. False when a peer is no IPv4 address or the list does not fit.
 */
static bool setup_script_appliances(const struct setup_script_config *config, char *buf,
				    size_t size)
{
	const char *p = config->peers ? config->peers : "";
	char source[INET_ADDRSTRLEN];
	size_t used;

	inet_ntop(AF_INET, &config->tunnel_source, source, sizeof(source));
	used = (size_t)snprintf(buf, size, "%s", source);
	if (config->tunnel_source6 != NULL) {
		char source6[INET6_ADDRSTRLEN];
		int w;

		inet_ntop(AF_INET6, config->tunnel_source6, source6, sizeof(source6));
		w = snprintf(buf + used, size - used, ",%s", source6);
		if (w < 0 || (size_t)w >= size - used)
			return false;
		used += (size_t)w;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		char item[INET_ADDRSTRLEN];
		struct in_addr a;

		if (n == 0 || n >= sizeof(item))
			return false;
		memcpy(item, p, n);
		item[n] = '\0';
		if (inet_pton(AF_INET, item, &a) != 1)
			return false;
		if (a.s_addr != config->tunnel_source) {
			int w = snprintf(buf + used, size - used, ",%s", item);

			if (w < 0 || (size_t)w >= size - used)
				return false;
			used += (size_t)w;
		}
		p += n;
		if (*p == ',' && *++p == '\0')
			return false;
	}
	return used < size;
}

static bool setup_script_check(const struct setup_script_config *config, char *err, size_t errlen)
{
	char appliances[SETUP_SCRIPT_APPLIANCES_MAX];

	if (config->proxy_name == NULL || !proxy_name_valid(config->proxy_name)) {
		snprintf(err, errlen, "proxy name: missing or invalid");
		return false;
	}
	if (setup_script_mode_name(config->mode) == NULL) {
		snprintf(err, errlen, "mode: %d is not kernel or decap", (int)config->mode);
		return false;
	}
	if (config->intercept_port == 0) {
		snprintf(err, errlen, "intercept_port: 0 is not a port");
		return false;
	}
	if (config->path_mtu <= SETUP_SCRIPT_HEADERS_LEN) {
		snprintf(err, errlen, "path MTU %u leaves no room for the headers (%d)",
			 (unsigned int)config->path_mtu, SETUP_SCRIPT_HEADERS_LEN);
		return false;
	}
	if (!setup_script_list_valid(config->client_subnets, setup_script_subnet_chars)) {
		snprintf(err, errlen, "client_subnets: `%s' is not a list of A.B.C.D/N or X:X::X/N",
			 config->client_subnets ? config->client_subnets : "");
		return false;
	}
	if (!setup_script_list_valid(config->ports, setup_script_port_chars)) {
		snprintf(err, errlen, "ports: `%s' is not a list of ports",
			 config->ports ? config->ports : "");
		return false;
	}
	if (!setup_script_appliances(config, appliances, sizeof(appliances))) {
		snprintf(err, errlen, "ha_peers: `%s' is not a list of IPv4 addresses",
			 config->peers);
		return false;
	}
	return true;
}

/* Where the embedded script's text starts after its own "#!" line: ours stands at the top. */
static size_t setup_script_body_start(void)
{
	const char *body = (const char *)setup_script_body;
	const char *nl;

	if (setup_script_body_len < 2 || body[0] != '#' || body[1] != '!')
		return 0;
	nl = memchr(body, '\n', setup_script_body_len);
	return nl ? (size_t)(nl - body) + 1 : 0;
}

/* The formatted addresses the header names. */
struct setup_script_addresses {
	char proxy[INET_ADDRSTRLEN];
	char source[INET_ADDRSTRLEN];
	char tunnel[INET_ADDRSTRLEN];
	char appliances[SETUP_SCRIPT_APPLIANCES_MAX]; /* source, source6, then the HA peers */
	char source6[INET6_ADDRSTRLEN];		      /* "" when none */
};

/*
 * The script's first lines, snprintf-style: the length it needs, or < 0.
 * Every value written here is checked by setup_script_check at generation
 * time, whatever the store or a restored file holds: the proxy name
 * (proxy_name_valid: [A-Za-z0-9._-]), the subnets and ports (their syntax's
 * characters only), the mode (a name from our table); the addresses come
 * from inet_ntop and the numbers from %u. A new value needs its check there.
 */
static int setup_script_head(char *buf, size_t size, const struct setup_script_config *config,
			     const struct setup_script_addresses *a)
{
	unsigned int mtu = config->path_mtu, port = config->intercept_port;
	/* The HA pair's addresses follow this appliance's own one or two. */
	size_t own = strlen(a->source) + (a->source6[0] ? 1 + strlen(a->source6) : 0);
	bool pair = strlen(a->appliances) > own;

	return snprintf(
	    buf, size,
	    "#!/bin/bash\n"
	    "# Proxy set-up for %s (%s), generated by droverd %s.\n"
	    "# Run it as root on that proxy: `bash THIS up' to set up, `bash THIS down' to undo,\n"
	    "# `bash THIS check' to see what is in place.\n"
	    "# The appliance sends IPIP from %s; path MTU %u, so clients get advmss %u.\n"
	    "%s%s%s"
	    "%s%s%s"
	    "# Port 443 goes to the https_port (ssl-bump: peek at the SNI, then splice) that\n"
	    "# the script adds to Squid's configuration; --tls bump|off: see --help.\n"
	    "# Squid must listen with `http_port %u intercept'. Options given on the\n"
	    "# command line (e.g. --mode decap, --decap-bin PATH) override the ones below.\n"
	    "%s"
	    "set -- --appliance %s --clients %s --ports %s --mtu %u --intercept-port %u \\\n"
	    "\t--tunnel-address %s --mode %s%s \"$@\"\n",
	    config->proxy_name, a->proxy, DROVER_VERSION, a->source, mtu,
	    mtu - SETUP_SCRIPT_HEADERS_LEN,
	    a->source6[0] ? "# IPv6 clients come in IPv6-in-IPv6 from " : "", a->source6,
	    a->source6[0] ? ".\n" : "", pair ? "# IPIP is accepted from the HA pair too: " : "",
	    pair ? a->appliances : "", pair ? ".\n" : "", port,
	    config->squid_manager ? "# squid_stats is on: Squid's cache manager is opened to the "
				    "appliances in\n# " SETUP_SCRIPT_SQUID_CONF
				    " (--squid-manager FILE names another).\n"
				  : "",
	    a->appliances, config->client_subnets, config->ports, mtu, port, a->tunnel,
	    setup_script_mode_name(config->mode),
	    config->squid_manager ? " --squid-manager " SETUP_SCRIPT_SQUID_CONF : "");
}

int setup_script_render(const struct setup_script_config *config, char **text, size_t *len,
			char *err, size_t errlen)
{
	struct setup_script_addresses a;
	size_t skip, head_len, body_len;
	char *out;
	int n;

	*text = NULL;
	if (!setup_script_check(config, err, errlen))
		return -EINVAL;
	inet_ntop(AF_INET, &config->proxy_address, a.proxy, sizeof(a.proxy));
	inet_ntop(AF_INET, &config->tunnel_source, a.source, sizeof(a.source));
	inet_ntop(AF_INET, &config->tunnel_address, a.tunnel, sizeof(a.tunnel));
	a.source6[0] = '\0';
	if (config->tunnel_source6 != NULL)
		inet_ntop(AF_INET6, config->tunnel_source6, a.source6, sizeof(a.source6));
	setup_script_appliances(config, a.appliances, sizeof(a.appliances));
	n = setup_script_head(NULL, 0, config, &a);
	if (n < 0) {
		snprintf(err, errlen, "cannot format the script's header");
		return -EINVAL;
	}
	head_len = (size_t)n;
	skip = setup_script_body_start();
	body_len = setup_script_body_len - skip;
	out = malloc(head_len + body_len + 1);
	if (out == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	setup_script_head(out, head_len + 1, config, &a);
	memcpy(out + head_len, setup_script_body + skip, body_len);
	out[head_len + body_len] = '\0';
	*text = out;
	*len = head_len + body_len;
	return 0;
}

int setup_script_filename(const char *proxy_name, char *buf, size_t size)
{
	int n;

	if (proxy_name == NULL || !proxy_name_valid(proxy_name))
		return -EINVAL;
	n = snprintf(buf, size, "drover-setup-%s.sh", proxy_name);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return 0;
}
