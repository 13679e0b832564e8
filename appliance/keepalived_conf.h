/*
 * keepalived_conf.h - the keepalived.conf that makes this appliance one node
 * of an HA pair (droverctl ha keepalived-config): VRRPv3 over unicast, the
 * gateway addresses, droverd's health as a priority weight, and the notify
 * hook. Pure: no globals, no I/O; any thread.
 */
#ifndef DROVER_KEEPALIVED_CONF_H
#define DROVER_KEEPALIVED_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "settings.h"

/* The name of the VRRP instance and of the health script in the rendered file. */
#define KEEPALIVED_CONF_INSTANCE "drover"
#define KEEPALIVED_CONF_SCRIPT	 "drover_check"
/* aws-route with ha_aws_peer_route_tables: the instance that takes the peer zone's tables. */
#define KEEPALIVED_CONF_PEER_INSTANCE "drover_peer_zone"
/* The lowest priority a node may have (weight 1 - priority must not be 0: FAULT). */
#define KEEPALIVED_CONF_PRIORITY_MIN 2

/* Seconds between two health checks: keepalived's smallest script interval. */
#define KEEPALIVED_CONF_CHECK_INTERVAL_S 1

/* What the file is made of; addresses in network byte order. */
struct keepalived_conf {
	const struct settings *settings; /* the ha_* keys of this node */
	uint32_t source;		 /* unicast_src_ip: this node's address on ha_interface */
	const char *droverctl;		 /* absolute path, runs the health check */
	const char *socket;		 /* droverd's control socket, absolute */
	const char *notify;		 /* absolute path of drover-ha-notify */
	const char *script_user;	 /* the user the check and the hook run as */
};

/*
 * Renders the file into *text (malloc'd, NUL-terminated; *len without the
 * NUL). Refuses with -EINVAL, the reason naming the setting in err, what
 * cannot make a working pair: no ha_interface or ha_peers, a source that is
 * one of the peers or of the virtual addresses, backend vip without ha_vip,
 * aws-route without ha_aws_route_tables or ha_aws_eni, or with
 * ha_aws_peer_route_tables and ha_aws_peer_router_id equal to ha_router_id,
 * ha_upstream_vip
 * without ha_upstream_interface (or the reverse), a path or user name with
 * characters keepalived or a shell would read (quotes, blanks, `$'). -ENOMEM
 * when out of memory. *text is left NULL on failure.
 */
int keepalived_conf_render(const struct keepalived_conf *conf, char **text, size_t *len, char *err,
			   size_t errlen);

/*
 * The weight the health script takes off ha_priority when droverd is
 * broken: down to 1, below every healthy node, and level with every
 * broken one (equal priorities never preempt).
 */
int keepalived_conf_weight(uint32_t priority);

/*
 * aws-route, one appliance per zone: this node's priority in the instance
 * of the peer's zone, half its own (at least KEEPALIVED_CONF_PRIORITY_MIN),
 * so that the peer, at its own ha_priority there, stays master of its zone
 * while healthy and takes its tables back when it recovers.
 */
uint32_t keepalived_conf_peer_priority(uint32_t priority);

/*
 * The longest the gateway may be nowhere during a failover: a silent master
 * is replaced after 3 advertisement intervals plus a skew below one, and
 * the clients' caches follow the gratuitous ARP.
 */
#define KEEPALIVED_CONF_GAP_ADVERTS 4
#define KEEPALIVED_CONF_GAP_ARP_MS  500

/*
 * A failover must not look like dead proxies: when the proxies reach the
 * canary URL through the pair's own gateway, every probe fails while the
 * address moves. Writes a warning into buf and returns 1 when probe_fall
 * failed probes ((probe_fall - 1) x probe_interval_ms + probe_timeout_ms)
 * fit in that gap, which would take proxies down on the new master and move
 * their clients; 0 (buf empty) otherwise.
 */
int keepalived_conf_probe_warning(const struct settings *s, char *buf, size_t len);

#endif
