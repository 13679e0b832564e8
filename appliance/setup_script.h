/*
 * setup_script.h - the ready shell script that prepares one proxy for this
 * appliance: proxy/drover-proxy-setup.sh (embedded at build time) preceded by
 * the arguments the appliance knows. Pure: no globals, no I/O; any thread.
 */
#ifndef DROVER_SETUP_SCRIPT_H
#define DROVER_SETUP_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

/* How the proxy takes the IPIP header off (the script's --mode). */
enum setup_script_mode {
	SETUP_SCRIPT_KERNEL, /* the kernel's tunl0 (ipip module) */
	SETUP_SCRIPT_DECAP,  /* drover-decap into a TUN device */
};

/*
 * Bytes the path MTU must hold besides the clients' TCP payload: the outer
 * IPIP header, then the clients' own IPv4 and TCP headers. The clients' MSS
 * (the route's advmss on the proxy) is the path MTU less these.
 */
#define SETUP_SCRIPT_HEADERS_LEN 60

/* Room for setup_script_filename()'s answer, NUL included. */
#define SETUP_SCRIPT_FILENAME_MAX (sizeof("drover-setup-.sh") + PROXY_NAME_MAX)

/* What the script needs to know; addresses in network byte order. */
struct setup_script_config {
	const char *proxy_name; /* as proxy_name_valid() accepts */
	uint32_t proxy_address; /* named in the script's header */
	uint32_t tunnel_source; /* this appliance's IPIP source towards the proxy */
	/*
	 * For a proxy with an IPv6 address: this appliance's IPv6-in-IPv6 source
	 * towards it (16 bytes as on the wire), listed in --appliance after
	 * tunnel_source so that the proxy accepts 6in6 from it; NULL for none.
	 */
	const uint8_t *tunnel_source6;
	uint32_t tunnel_address;     /* the address the proxy gives its tunnel device */
	uint16_t path_mtu;	     /* towards the proxy, outer header included */
	uint16_t intercept_port;     /* Squid's `http_port PORT intercept' */
	enum setup_script_mode mode; /* the default; the command line may override it */
	const char *client_subnets;  /* "A.B.C.D/N[,...]", as settings_format() writes it */
	const char *ports;	     /* "PORT[,...]", as settings_format() writes it */
	/*
	 * The other appliances of an HA pair, "A.B.C.D[,...]" as settings_format()
	 * writes ha_peers; NULL or "" for none. The proxy accepts IPIP from them
	 * too, so that a failover needs no new script.
	 */
	const char *peers;
	/*
	 * The proxy's squid_stats is on: the script opens Squid's cache manager
	 * to the appliances (--squid-manager SETUP_SCRIPT_SQUID_CONF).
	 */
	bool squid_manager;
};

/* The Squid configuration the script edits for squid_manager (Debian's). */
#define SETUP_SCRIPT_SQUID_CONF "/etc/squid/squid.conf"

/* Room for the script's --appliance list: this appliance and its peers. */
#define SETUP_SCRIPT_APPLIANCES_MAX 512

/* Accepts "kernel" or "decap". */
bool setup_script_mode_parse(const char *text, enum setup_script_mode *mode);

/* "kernel" or "decap"; NULL for a value outside the enum. */
const char *setup_script_mode_name(enum setup_script_mode mode);

/*
 * Renders the script for config into *text: a NUL-terminated string from
 * malloc() that the caller frees, its length without the NUL in *len. The
 * values become the script's first arguments, so options given when running
 * it come after them and override them.
 *
 * Refuses, with -EINVAL and the reason in err (which value and why), what
 * would give a broken or unsafe script: a missing or invalid proxy name (it
 * stands in a comment line and the file name), an unknown mode, intercept
 * port 0, a path MTU not larger than SETUP_SCRIPT_HEADERS_LEN, client subnets
 * or ports that are missing, empty or hold characters outside their syntax
 * (they are written into a shell command line unquoted), peers that are not
 * a list of IPv4 addresses or too many for SETUP_SCRIPT_APPLIANCES_MAX. -ENOMEM when out of
 * memory. *text is left NULL on failure.
 */
int setup_script_render(const struct setup_script_config *config, char **text, size_t *len,
			char *err, size_t errlen);

/*
 * The name to save the script under, "drover-setup-NAME.sh", into buf.
 * -EINVAL for an invalid proxy name, -ENOSPC when buf is too small.
 */
int setup_script_filename(const char *proxy_name, char *buf, size_t size);

#endif
