/*
 * keepalived_conf.c - renders this node's keepalived.conf from its ha_*
 * settings. Pure: no globals, no I/O beyond an in-memory stream.
 *
 * Choices the file encodes, and why:
 *  - VRRPv3 with unicast peers: clouds carry no multicast, and a LAN pair
 *    gains nothing from it.
 *  - Every node starts BACKUP and preempts only a lower priority. With equal
 *    ha_priority (the default) a node that comes back does not take the
 *    address back: one move per failure. A node given a higher priority
 *    takes it back once its health check has passed; drover's identical
 *    mapping makes that move as harmless as the failover.
 *  - droverd's health lowers the priority (down to 1) rather than putting the
 *    instance in FAULT: a broken node hands the address to a healthy one,
 *    and when both are broken (all proxies down, say) they are level and the
 *    address stays where it is instead of vanishing from both.
 */
#include "keepalived_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* VRRP's advertisement interval is counted in centiseconds (RFC 5798). */
#define KEEPALIVED_CONF_MS_PER_CS 10
#define KEEPALIVED_CONF_CS_PER_S  100

/* The health check's own deadline: a hung droverd is a broken droverd. */
#define KEEPALIVED_CONF_CHECK_TIMEOUT_S 2

/* Checks in a row that change the verdict: down at once, up after two. */
#define KEEPALIVED_CONF_CHECK_FALL 1
#define KEEPALIVED_CONF_CHECK_RISE 2

/* Gratuitous ARP again every this many seconds while master (stale caches, a dead twin). */
#define KEEPALIVED_CONF_GARP_REFRESH_S 10

/* Characters of the paths and user name written into the file (and, by keepalived, a shell). */
static const char keepalived_conf_path_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+";

int keepalived_conf_weight(uint32_t priority)
{
	return 1 - (int)priority;
}

uint32_t keepalived_conf_peer_priority(uint32_t priority)
{
	uint32_t half = priority / 2;

	return half < KEEPALIVED_CONF_PRIORITY_MIN ? KEEPALIVED_CONF_PRIORITY_MIN : half;
}

int keepalived_conf_probe_warning(const struct settings *s, char *buf, size_t len)
{
	uint64_t gap =
	    (uint64_t)KEEPALIVED_CONF_GAP_ADVERTS * s->ha_advert_ms + KEEPALIVED_CONF_GAP_ARP_MS;
	uint64_t fall = (uint64_t)(s->probe_fall - 1) * s->probe_interval_ms + s->probe_timeout_ms;

	if (len > 0)
		buf[0] = '\0';
	if (fall >= gap)
		return 0;
	snprintf(buf, len,
		 "probe_fall %u failed probes take %llu ms, less than the %llu ms a failover may "
		 "leave the gateway nowhere (ha_advert_ms %u): proxies that fetch probe_url "
		 "through this pair would be taken down by the failover itself; raise "
		 "probe_fall or probe_interval_ms, or lower ha_advert_ms",
		 s->probe_fall, (unsigned long long)fall, (unsigned long long)gap, s->ha_advert_ms);
	return 1;
}

static bool keepalived_conf_word_ok(const char *word, bool absolute)
{
	return word != NULL && word[0] != '\0' && (!absolute || word[0] == '/') &&
	       strspn(word, keepalived_conf_path_chars) == strlen(word);
}

/* True when the comma list holds addr. */
static bool keepalived_conf_list_has(const char *list, uint32_t addr)
{
	char item[INET_ADDRSTRLEN];

	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");
		struct in_addr a;

		if (n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			if (inet_pton(AF_INET, item, &a) == 1 && a.s_addr == addr)
				return true;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static bool keepalived_conf_check(const struct keepalived_conf *c, char *err, size_t errlen)
{
	const struct settings *s = c->settings;
	char source[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &c->source, source, sizeof(source));
	if (s->ha_interface[0] == '\0') {
		snprintf(err, errlen, "ha_interface: not set (the client-side interface)");
		return false;
	}
	if (s->ha_peers[0] == '\0') {
		snprintf(err, errlen, "ha_peers: not set (the other appliances' addresses)");
		return false;
	}
	if (c->source == 0 || keepalived_conf_list_has(s->ha_peers, c->source) ||
	    keepalived_conf_list_has(s->ha_vip, c->source) ||
	    keepalived_conf_list_has(s->ha_upstream_vip, c->source)) {
		snprintf(err, errlen,
			 "%s: this node's own address on %s must be neither a peer nor a "
			 "virtual address",
			 source, s->ha_interface);
		return false;
	}
	if (s->ha_backend == HA_BACKEND_VIP && s->ha_vip[0] == '\0') {
		snprintf(err, errlen, "ha_vip: not set (backend vip moves the gateway address)");
		return false;
	}
	if (s->ha_backend == HA_BACKEND_AWS_ROUTE &&
	    (s->ha_aws_route_tables[0] == '\0' || s->ha_aws_eni[0] == '\0')) {
		snprintf(err, errlen,
			 "%s: not set (backend aws-route needs the route tables and "
			 "this appliance's ENI)",
			 s->ha_aws_eni[0] == '\0' ? "ha_aws_eni" : "ha_aws_route_tables");
		return false;
	}
	if (s->ha_backend == HA_BACKEND_AWS_ROUTE && s->ha_aws_peer_route_tables[0] != '\0' &&
	    s->ha_aws_peer_router_id == s->ha_router_id) {
		snprintf(err, errlen,
			 "ha_aws_peer_router_id: %u is ha_router_id too (the peer zone's instance "
			 "needs the peer's own ha_router_id)",
			 s->ha_aws_peer_router_id);
		return false;
	}
	if ((s->ha_upstream_vip[0] == '\0') != (s->ha_upstream_interface[0] == '\0')) {
		snprintf(err, errlen, "ha_upstream_vip and ha_upstream_interface go together");
		return false;
	}
	if (!keepalived_conf_word_ok(c->droverctl, true) ||
	    !keepalived_conf_word_ok(c->socket, true) ||
	    !keepalived_conf_word_ok(c->notify, true)) {
		snprintf(err, errlen,
			 "droverctl, socket and notify hook need absolute paths of "
			 "letters, digits and / . _ - +");
		return false;
	}
	if (!keepalived_conf_word_ok(c->script_user, false)) {
		snprintf(err, errlen, "script user: `%s' is not a user name",
			 c->script_user ? c->script_user : "");
		return false;
	}
	return true;
}

/* One "ADDRESS/32 dev IFACE" line per item of list. */
static void keepalived_conf_addresses(FILE *out, const char *list, const char *dev)
{
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");

		fprintf(out, "\t\t%.*s/32 dev %s\n", (int)n, p, dev);
		p += n;
		if (*p == ',')
			p++;
	}
}

/* One VRRP instance of the file: this node's own, or (aws-route) the peer zone's. */
struct keepalived_conf_vrrp {
	const char *name;
	uint32_t router_id;
	uint32_t priority;
	const char *route_tables; /* aws-route: what its notify hook moves here */
	bool addresses;		  /* holds ha_vip and ha_upstream_vip */
	bool report;		  /* its state is this node's state, told to droverd */
};

static void keepalived_conf_instance(FILE *out, const struct keepalived_conf *c, const char *source,
				     const struct keepalived_conf_vrrp *v)
{
	const struct settings *s = c->settings;
	uint32_t cs = s->ha_advert_ms / KEEPALIVED_CONF_MS_PER_CS;

	fprintf(out,
		"vrrp_instance %s {\n"
		"\t# Never MASTER at start: a node takes over only from a silent or\n"
		"\t# lower-priority peer, so equal priorities mean no failback.\n"
		"\tstate BACKUP\n"
		"\tinterface %s\n"
		"\tvirtual_router_id %u\n"
		"\tpriority %u\n"
		"\tadvert_int %u.%02u\n"
		"\tunicast_src_ip %s\n"
		"\tcheck_unicast_src\n"
		"\tunicast_peer {\n",
		v->name, s->ha_interface, v->router_id, v->priority, cs / KEEPALIVED_CONF_CS_PER_S,
		cs % KEEPALIVED_CONF_CS_PER_S, source);
	for (const char *p = s->ha_peers; *p != '\0';) {
		size_t n = strcspn(p, ",");

		fprintf(out, "\t\t%.*s\n", (int)n, p);
		p += n;
		if (*p == ',')
			p++;
	}
	fprintf(out, "\t}\n");
	if (v->addresses && (s->ha_vip[0] != '\0' || s->ha_upstream_vip[0] != '\0')) {
		fprintf(out, "\tvirtual_ipaddress {\n");
		keepalived_conf_addresses(out, s->ha_vip, s->ha_interface);
		keepalived_conf_addresses(out, s->ha_upstream_vip, s->ha_upstream_interface);
		fprintf(out, "\t}\n");
	}
	if (s->ha_upstream_interface[0] != '\0')
		fprintf(out, "\ttrack_interface {\n\t\t%s\n\t}\n", s->ha_upstream_interface);
	fprintf(out, "\ttrack_script {\n\t\t%s weight %d\n\t}\n", KEEPALIVED_CONF_SCRIPT,
		keepalived_conf_weight(v->priority));
	fprintf(out, "\tgarp_master_refresh %d\n", KEEPALIVED_CONF_GARP_REFRESH_S);
	fprintf(out, "\tnotify \"%s --droverctl %s --socket %s --backend %s", c->notify,
		c->droverctl, c->socket, ha_backend_name(s->ha_backend));
	if (!v->report)
		fprintf(out, " --no-cluster-state");
	if (s->ha_backend == HA_BACKEND_AWS_ROUTE) {
		fprintf(out, " --route-tables %s --eni %s", v->route_tables, s->ha_aws_eni);
		if (s->ha_aws_region[0] != '\0')
			fprintf(out, " --region %s", s->ha_aws_region);
	}
	fprintf(out, "\"\n}\n");
}

static void keepalived_conf_write(FILE *out, const struct keepalived_conf *c, const char *source)
{
	const struct settings *s = c->settings;
	const struct keepalived_conf_vrrp own = {
	    .name = KEEPALIVED_CONF_INSTANCE,
	    .router_id = s->ha_router_id,
	    .priority = s->ha_priority,
	    .route_tables = s->ha_aws_route_tables,
	    .addresses = true,
	    .report = true,
	};
	const struct keepalived_conf_vrrp peer = {
	    .name = KEEPALIVED_CONF_PEER_INSTANCE,
	    .router_id = s->ha_aws_peer_router_id,
	    .priority = keepalived_conf_peer_priority(s->ha_priority),
	    .route_tables = s->ha_aws_peer_route_tables,
	};
	char warning[512];

	fprintf(out,
		"# keepalived.conf of the drover appliance %s, written by `droverctl ha "
		"keepalived-config'\n"
		"# (drover %s) from its ha_* settings: generate it again after changing one.\n"
		"# Every appliance of the pair has its own, with the same ha_router_id and "
		"ha_advert_ms.\n\n",
		source, DROVER_VERSION);
	if (keepalived_conf_probe_warning(s, warning, sizeof(warning)))
		fprintf(out, "# WARNING: %s.\n\n", warning);
	/*
	 * Scripts run only from paths no other user may change; the VRRP process
	 * runs at real-time priority, so that a busy host does not miss adverts
	 * and give the address away for nothing.
	 */
	fprintf(out,
		"global_defs {\n\tscript_user %s\n\tenable_script_security\n\tvrrp_version 3\n"
		"\tmax_auto_priority\n}\n\n",
		c->script_user);
	fprintf(out,
		"# droverd answers, its queues are bound, a proxy is up and the pool is settled.\n"
		"# A failure lowers the priority to 1 (track_script below), never to FAULT.\n"
		"vrrp_script %s {\n"
		"\tscript \"%s --socket %s ha check\"\n"
		"\tinterval %d\n\ttimeout %d\n\tfall %d\n\trise %d\n\tinit_fail\n}\n\n",
		KEEPALIVED_CONF_SCRIPT, c->droverctl, c->socket, KEEPALIVED_CONF_CHECK_INTERVAL_S,
		KEEPALIVED_CONF_CHECK_TIMEOUT_S, KEEPALIVED_CONF_CHECK_FALL,
		KEEPALIVED_CONF_CHECK_RISE);
	keepalived_conf_instance(out, c, source, &own);
	if (s->ha_backend == HA_BACKEND_AWS_ROUTE && s->ha_aws_peer_route_tables[0] != '\0') {
		fprintf(out,
			"\n# The peer's zone: its route tables come here when it fails, and go\n"
			"# back when it is healthy again (its own instance has the higher "
			"priority).\n");
		keepalived_conf_instance(out, c, source, &peer);
	}
}

int keepalived_conf_render(const struct keepalived_conf *conf, char **text, size_t *len, char *err,
			   size_t errlen)
{
	char source[INET_ADDRSTRLEN];
	FILE *out;

	*text = NULL;
	*len = 0;
	if (!keepalived_conf_check(conf, err, errlen))
		return -EINVAL;
	inet_ntop(AF_INET, &conf->source, source, sizeof(source));
	out = open_memstream(text, len);
	if (out == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	keepalived_conf_write(out, conf, source);
	if (ferror(out) || fclose(out) != 0) {
		free(*text);
		*text = NULL;
		*len = 0;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}
