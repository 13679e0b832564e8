/*
 * settings.c - definitions, strict parsers and canonical formatting of
 * droverd's settings.
 *
 * Values arrive as text from the database, droverctl and the web UI, so the
 * parsers here are the only gate: they refuse anything they would not print
 * back themselves (signs, trailing junk, leading zeros, empty list items),
 * which keeps "what is stored" and "what is in force" the same thing.
 */
#include "settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_kind.h"
#include "proxy.h"

#define SETTINGS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* CHOICE fields are stored through an unsigned int; every such enum must fit. */
_Static_assert(sizeof(enum no_proxy_policy) == sizeof(unsigned int), "enum size");
_Static_assert(sizeof(enum malformed_policy) == sizeof(unsigned int), "enum size");
_Static_assert(sizeof(enum quic_policy) == sizeof(unsigned int), "enum size");
_Static_assert(sizeof(enum fast_path_mode) == sizeof(unsigned int), "enum size");
_Static_assert(sizeof(enum metrics_access) == sizeof(unsigned int), "enum size");
_Static_assert(sizeof(enum cluster_role) == sizeof(unsigned int), "enum size");
_Static_assert(sizeof(enum ha_backend) == sizeof(unsigned int), "enum size");

/* The text a caller types for "let droverd decide" (queues, tunnel_source). */
#define SETTINGS_AUTO "auto"

static const char *const settings_no_proxy_choices[] = {
    [NO_PROXY_BYPASS] = "bypass",
    [NO_PROXY_DROP] = "drop",
    [NO_PROXY_REJECT] = "reject",
    NULL,
};

static const char *const settings_fast_path_mode_choices[] = {
    [FAST_PATH_MODE_AUTO] = "auto",
    [FAST_PATH_MODE_XDP] = "xdp",
    [FAST_PATH_MODE_TC] = "tc",
    [FAST_PATH_MODE_OFF] = "off",
    NULL,
};

static const char *const settings_quic_choices[] = {
    [QUIC_POLICY_REJECT] = "reject",
    [QUIC_POLICY_DROP] = "drop",
    [QUIC_POLICY_PASS] = "pass",
    NULL,
};

static const char *const settings_metrics_access_choices[] = {
    [METRICS_ACCESS_LOCAL] = "local",
    [METRICS_ACCESS_OPEN] = "open",
    [METRICS_ACCESS_AUTH] = "auth",
    NULL,
};

static const char *const settings_cluster_role_choices[] = {
    [CLUSTER_ROLE_STANDALONE] = "standalone",
    [CLUSTER_ROLE_PRIMARY] = "primary",
    [CLUSTER_ROLE_REPLICA] = "replica",
    NULL,
};

static const char *const settings_malformed_choices[] = {
    [MALFORMED_ACCEPT] = "accept",
    [MALFORMED_DROP] = "drop",
    NULL,
};

static const char *const settings_ha_backend_choices[] = {
    [HA_BACKEND_VIP] = "vip",
    [HA_BACKEND_AWS_ROUTE] = "aws-route",
    NULL,
};

/* Bounds of the node-scoped HA settings (droverctl ha). */
#define SETTINGS_HA_VIPS_MAX	 8  /* addresses per virtual_ipaddress block */
#define SETTINGS_HA_PEERS_MAX	 8  /* unicast peers */
#define SETTINGS_HA_TABLES_MAX	 16 /* route tables one appliance takes over */
#define SETTINGS_IFNAME_LEN	 15 /* IFNAMSIZ less its NUL */
#define SETTINGS_AWS_ID_LEN	 64 /* rtb-..., eni-..., region names */
#define SETTINGS_VRRP_ADVERT_MIN 100
#define SETTINGS_VRRP_ADVERT_MAX 40950 /* VRRPv3: 4095 centiseconds */

/*
 * A public definition plus where its value lives in struct settings. The
 * offset stays private so the header's struct setting_def is plain data a
 * UI can list without knowing the layout.
 */
struct settings_entry {
	struct setting_def def;
	size_t offset; /* unused for PORTS and SUBNETS, which have two fields each */
};

#define SETTINGS_FIELD(name) offsetof(struct settings, name)

static const struct settings_entry settings_table[] = {
    {
	.def = {.key = "queues",
		.type = SETTING_QUEUES,
		.default_value = SETTINGS_AUTO,
		.min = 1,
		.max = SETTINGS_QUEUES_MAX,
		.help = "NFQUEUE queues, one thread each; \"auto\" = one per online core",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_QUEUES | SETTING_APPLY_RULES,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(queues),
    },
    {
	.def = {.key = "queue_base",
		.type = SETTING_UINT,
		.default_value = "0",
		.min = 0,
		.max = 65000,
		.help = "first NFQUEUE number; must match the firewall rules",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_QUEUES | SETTING_APPLY_RULES,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(queue_base),
    },
    {
	.def = {.key = "queue_maxlen",
		.type = SETTING_UINT,
		.default_value = "4096",
		.min = 64,
		.max = 1048576,
		.help = "packets the kernel holds per queue before fail_open applies",
		.apply = SETTING_APPLY_QUEUE_OPTIONS | SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(queue_maxlen),
    },
    {
	.def = {.key = "fail_open",
		.type = SETTING_BOOL,
		.default_value = "true",
		.help = "when a queue is full, let packets through unproxied instead of "
			"dropping them",
		.apply =
		    SETTING_APPLY_QUEUE_OPTIONS | SETTING_APPLY_SNAPSHOT | SETTING_APPLY_RULES},
	.offset = SETTINGS_FIELD(fail_open),
    },
    {
	.def = {.key = "fast_path",
		.type = SETTING_BOOL,
		.default_value = "true",
		.help = "send the later packets of clients already placed on a proxy from the "
			"kernel (tc BPF) instead of through NFQUEUE; off: every web packet "
			"goes through droverd",
		.apply = SETTING_APPLY_FAST_PATH | SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(fast_path),
    },
    {
	.def = {.key = "fast_path_mode",
		.type = SETTING_CHOICE,
		.default_value = "auto",
		.choices = settings_fast_path_mode_choices,
		.help = "which kernel program carries placed clients (with fast_path on): auto "
			"(XDP in the driver where it has native XDP, but not on veths, whose XDP "
			"copies every frame; tc elsewhere and behind it), xdp (native XDP on "
			"every driver that has it, veths too; one without it is a warning), tc "
			"(tc alone), off (as fast_path false)",
		.apply = SETTING_APPLY_FAST_PATH | SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(fast_path_mode),
    },
    {
	.def = {.key = "fast_path_grace_seconds",
		.type = SETTING_UINT,
		.default_value = "30",
		.min = 3,
		.max = 3600,
		.help = "seconds the kernel fast path goes on carrying the clients it knows "
			"without droverd (a restart, an upgrade, a crash)",
		.apply = SETTING_APPLY_FAST_PATH | SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(fast_path_grace_seconds),
    },
    {
	.def = {.key = "ports",
		.type = SETTING_PORTS,
		.default_value = "80,443",
		.help = "TCP destination ports sent to the proxies, e.g. 80,443",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_RULES},
    },
    {
	.def = {.key = "client_subnets",
		.type = SETTING_SUBNETS,
		.default_value = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
		.help = "source networks whose web traffic is proxied (CIDR list, IPv4 and IPv6)",
		.apply =
		    SETTING_APPLY_FAST_PATH_FORGET | SETTING_APPLY_SNAPSHOT | SETTING_APPLY_RULES},
    },
    {
	.def = {.key = "ipv6_client_prefix",
		.type = SETTING_UINT,
		.default_value = "128",
		.min = SETTINGS_IPV6_PREFIX_MIN,
		.max = 128,
		.help = "leading bits of an IPv6 client's address that place it on a proxy "
			"(128: the whole address; 64: every address of a /64 together, for "
			"rotating privacy addresses)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(ipv6_client_prefix),
    },
    {
	.def = {.key = "no_proxy_policy",
		.type = SETTING_CHOICE,
		.default_value = "bypass",
		.choices = settings_no_proxy_choices,
		.help = "with no usable proxy: bypass (go direct), drop, or reject (RST)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(no_proxy_policy),
    },
    {
	.def = {.key = "malformed_policy",
		.type = SETTING_CHOICE,
		.default_value = "accept",
		.choices = settings_malformed_choices,
		.help = "packets drover cannot parse: accept (unproxied) or drop",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(malformed_policy),
    },
    {
	.def = {.key = "affinity_timeout",
		.type = SETTING_UINT,
		.default_value = "300",
		.min = 1,
		.max = 86400,
		.help = "seconds an idle client stays pinned to its proxy",
		.apply = SETTING_APPLY_AFFINITY_TIMEOUT | SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(affinity_timeout),
    },
    {
	.def = {.key = "affinity_max_clients",
		.type = SETTING_UINT,
		.default_value = "1048576",
		.min = 1024,
		.max = 67108864,
		.help = "clients remembered in the affinity table (memory grows with it)",
		.apply = SETTING_APPLY_AFFINITY_RESIZE | SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(affinity_max_clients),
    },
    {
	.def = {.key = "maglev_table_size",
		.type = SETTING_PRIME,
		.default_value = "65537",
		.min = 251,
		.max = 1000003,
		.help = "Maglev lookup table size, a prime well above 100 x proxies",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(maglev_table_size),
    },
    {
	.def = {.key = "tunnel_source",
		.type = SETTING_ADDRESS,
		.default_value = SETTINGS_AUTO,
		.help = "outer source address of tunnelled packets; \"auto\" = the "
			"route's source",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(tunnel_source),
    },
    {
	.def = {.key = "tunnel_source6",
		.type = SETTING_ADDRESS6,
		.default_value = SETTINGS_AUTO,
		.help = "outer source address of IPv6-in-IPv6 to proxies with an IPv6 "
			"address; \"auto\" = the route's source",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(tunnel_source6),
    },
    {
	.def = {.key = "frag_needed_rate",
		.type = SETTING_UINT,
		.default_value = "100",
		.min = 0,
		.max = 100000,
		.help = "ICMP fragmentation-needed replies per second to one client, per "
			"queue (0 = none)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(frag_needed_rate),
    },
    {
	.def = {.key = "reject_rate",
		.type = SETTING_UINT,
		.default_value = "20",
		.min = 0,
		.max = 100000,
		.help = "with no_proxy_policy reject: TCP resets or ICMP unreachables per "
			"second to one client, per queue (0 = none: reject drops silently)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(reject_rate),
    },
    {
	.def = {.key = "quic_policy",
		.type = SETTING_CHOICE,
		.default_value = "reject",
		.choices = settings_quic_choices,
		.help = "clients' QUIC (UDP to port 443), which the proxies never see: reject "
			"(ICMP port unreachable, browsers fall back to TCP at once), drop, or "
			"pass (unfiltered)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(quic_policy),
    },
    {
	.def = {.key = "quic_reject_rate",
		.type = SETTING_UINT,
		.default_value = "1000",
		.min = 0,
		.max = 100000,
		.help = "with quic_policy reject: ICMP port unreachables per second, all "
			"clients together, per queue (0 = none: reject drops silently)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(quic_reject_rate),
    },
    {
	.def = {.key = "probe_kind",
		.type = SETTING_CHOICE,
		.default_value = "http-proxy",
		.choices = probe_kind_names,
		.help = "health probe: http-proxy (fetch probe_url through the proxy), http "
			"(GET probe_path on the proxy) or tcp (connect only)",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_kind),
    },
    {
	.def = {.key = "probe_interval_ms",
		.type = SETTING_UINT,
		.default_value = "2000",
		.min = 100,
		.max = 3600000,
		.help = "milliseconds between two probes of a proxy",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_interval_ms),
    },
    {
	.def = {.key = "probe_timeout_ms",
		.type = SETTING_UINT,
		.default_value = "1000",
		.min = 50,
		.max = 60000,
		.help = "milliseconds a probe may take, connect included (at most the interval)",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_timeout_ms),
    },
    {
	.def = {.key = "probe_rise",
		.type = SETTING_UINT,
		.default_value = "2",
		.min = 1,
		.max = 100,
		.help = "consecutive good probes before a down proxy is up",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_rise),
    },
    {
	.def = {.key = "probe_fall",
		.type = SETTING_UINT,
		.default_value = "3",
		.min = 1,
		.max = 100,
		.help = "consecutive failed probes before an up proxy is down",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_fall),
    },
    {
	.def = {.key = "probe_port",
		.type = SETTING_UINT,
		.default_value = "3128",
		.min = 1,
		.max = 65535,
		.help = "proxy port probed: its explicit-proxy port for http-proxy, or the "
			"port for http and tcp",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_port),
    },
    {
	.def = {.key = "probe_status",
		.type = SETTING_STATUS_RANGE,
		.default_value = "200-399",
		.help = "HTTP statuses that count as healthy, e.g. 200 or 200-399",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_status),
    },
    {
	.def = {.key = "probe_url",
		.type = SETTING_URL,
		.default_value = "http://example.com/",
		.max = SETTINGS_TEXT_MAX - 1,
		.help = "canary URL the http-proxy probe fetches through each proxy",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_url),
    },
    {
	.def = {.key = "probe_path",
		.type = SETTING_PATH,
		.default_value = "/",
		.max = SETTINGS_TEXT_MAX - 1,
		.help = "path the http probe requests from the proxy itself",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_path),
    },
    {
	.def = {.key = "probe_host",
		.type = SETTING_HOSTNAME,
		.default_value = "",
		.max = SETTINGS_HOST_MAX - 1,
		.help = "Host header for probes; empty = taken from the URL",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_host),
    },
    {
	.def = {.key = "probe_max_in_flight",
		.type = SETTING_UINT,
		.default_value = "256",
		.min = 1,
		.max = 16384,
		.help = "probes running at once (each holds a socket); a probe due beyond "
			"this waits its turn",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(probe_max_in_flight),
    },
    {
	.def = {.key = "squid_stats_interval_ms",
		.type = SETTING_UINT,
		.default_value = "10000",
		.min = 1000,
		.max = 3600000,
		.help = "milliseconds between two reads of a proxy's Squid cache manager (for "
			"proxies with squid_stats on)",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_PROBES},
	.offset = SETTINGS_FIELD(squid_stats_interval_ms),
    },
    {
	.def = {.key = "assume_up_at_start",
		.type = SETTING_BOOL,
		.default_value = "false",
		.help = "count proxies with no stored health as up before their first probes "
			"(else they wait for probe_rise good probes)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(assume_up_at_start),
    },
    {
	.def = {.key = "http_listen",
		.type = SETTING_LISTEN,
		.default_value = "127.0.0.1:8080",
		.max = SETTINGS_LISTEN_MAX - 1,
		.help = "address:port of the web UI and /metrics (0.0.0.0:8080 = every "
			"interface); applied within a second, signing everyone out",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_WEB_LISTENER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(http_listen),
    },
    {
	.def = {.key = "https",
		.type = SETTING_BOOL,
		.default_value = "false",
		.help = "serve the web UI over TLS (a self-signed certificate is made when "
			"tls_cert is empty); applied within a second",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_WEB_LISTENER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(https),
    },
    {
	.def = {.key = "tls_cert",
		.type = SETTING_FILE,
		.default_value = "",
		.max = SETTINGS_FILE_MAX - 1,
		.help = "PEM certificate (chain) for https; empty = generated next to the "
			"database",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_WEB_LISTENER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(tls_cert),
    },
    {
	.def = {.key = "tls_key",
		.type = SETTING_FILE,
		.default_value = "",
		.max = SETTINGS_FILE_MAX - 1,
		.help = "PEM private key of tls_cert",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_WEB_LISTENER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(tls_key),
    },
    {
	.def = {.key = "metrics_access",
		.type = SETTING_CHOICE,
		.default_value = "local",
		.choices = settings_metrics_access_choices,
		.help = "who may read /metrics: local (loopback freely, others signed in), "
			"open, or auth (a session or API token always)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(metrics_access),
    },
    {
	.def = {.key = "session_idle_seconds",
		.type = SETTING_UINT,
		.default_value = "1800",
		.min = 60,
		.max = 86400,
		.help = "a web UI session ends after this many idle seconds",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(session_idle_seconds),
    },
    {
	.def = {.key = "web_hosts",
		.type = SETTING_HOSTS,
		.default_value = "",
		.max = SETTINGS_TEXT_MAX - 1,
		.help = "names and addresses, comma-separated, under which the web UI is "
			"reached besides its listen address, the connection's own address and "
			"localhost (a DNS name, a NAT address); any other Host header is refused",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(web_hosts),
    },
    {
	.def = {.key = "login_free_failures",
		.type = SETTING_UINT,
		.default_value = "5",
		.min = 1,
		.max = 100,
		.help = "failed sign-ins of one user from one source (loopback, an IPv4 /24, an "
			"IPv6 /64) in 15 minutes before its tries are slowed",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(login_free_failures),
    },
    {
	.def = {.key = "login_delay_max_seconds",
		.type = SETTING_UINT,
		.default_value = "30",
		.min = 1,
		.max = 900,
		.help = "the longest wait between two checked tries of a slowed user and source "
			"(the wait doubles from 1 s with each failure)",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(login_delay_max_seconds),
    },
    {
	.def = {.key = "login_global_failures",
		.type = SETTING_UINT,
		.default_value = "100",
		.min = 1,
		.max = 1000000,
		.help = "failed sign-ins a minute, all sources and users together, beyond which "
			"every sign-in is slowed",
		.apply = SETTING_APPLY_SNAPSHOT},
	.offset = SETTINGS_FIELD(login_global_failures),
    },
    {
	.def = {.key = "audit_max_entries",
		.type = SETTING_UINT,
		.default_value = "100000",
		.min = 100,
		.max = 10000000,
		.help = "the audit log keeps at most this many entries; older ones are removed",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(audit_max_entries),
    },
    {
	.def = {.key = "audit_max_age_days",
		.type = SETTING_UINT,
		.default_value = "365",
		.min = 1,
		.max = 36500,
		.help = "audit entries older than this many days are removed",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(audit_max_age_days),
    },
    {
	.def = {.key = "http_max_connections",
		.type = SETTING_UINT,
		.default_value = "256",
		.min = 1,
		.max = 16384,
		.help = "web UI connections open at once; beyond it new ones wait in the "
			"kernel's queue until one closes",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(http_max_connections),
    },
    {
	.def = {.key = "http_max_connections_per_source",
		.type = SETTING_UINT,
		.default_value = "32",
		.min = 1,
		.max = 16384,
		.help = "web UI connections open at once from one client address; beyond "
			"it new ones are closed at once",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(http_max_connections_per_source),
    },
    {
	.def = {.key = "cluster_role",
		.type = SETTING_CHOICE,
		.default_value = "standalone",
		.choices = settings_cluster_role_choices,
		.help = "standalone, primary (serves its configuration to replicas) or replica "
			"(pulls the configuration of cluster_primary and refuses changes to it)",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_CLUSTER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(cluster_role),
    },
    {
	.def = {.key = "cluster_primary",
		.type = SETTING_URL,
		.default_value = "",
		.max = SETTINGS_TEXT_MAX - 1,
		.help = "a replica's primary: the URL of its web UI, e.g. "
			"https://10.9.0.5:8443 (empty: none)",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_CLUSTER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(cluster_primary),
    },
    {
	.def = {.key = "cluster_token_file",
		.type = SETTING_FILE,
		.default_value = "",
		.max = SETTINGS_FILE_MAX - 1,
		.help = "file whose first line is an API token of the primary, sent with "
			"every pull",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_CLUSTER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(cluster_token_file),
    },
    {
	.def = {.key = "cluster_ca_file",
		.type = SETTING_FILE,
		.default_value = "",
		.max = SETTINGS_FILE_MAX - 1,
		.help = "PEM certificates the primary's https certificate is checked against "
			"(its own self-signed certificate will do); empty = the system's",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_CLUSTER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(cluster_ca_file),
    },
    {
	.def = {.key = "cluster_poll_ms",
		.type = SETTING_UINT,
		.default_value = "500",
		.min = 100,
		.max = 60000,
		.help = "how often a replica asks its primary for a newer configuration",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_CLUSTER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(cluster_poll_ms),
    },
    {
	.def = {.key = "cluster_node_name",
		.type = SETTING_HOSTNAME,
		.default_value = "",
		.max = 63, /* CLUSTER_NODE_MAX - 1 */
		.help = "this appliance's name in the cluster view; empty = its host name",
		.apply = SETTING_APPLY_SNAPSHOT | SETTING_APPLY_CLUSTER,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(cluster_node_name),
    },
    {
	.def = {.key = "ha_interface",
		.type = SETTING_NAMES,
		.default_value = "",
		.min = SETTINGS_IFNAME_LEN,
		.max = 1,
		.help = "HA pair: the client-side interface, where VRRP runs and ha_vip lives",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_interface),
    },
    {
	.def = {.key = "ha_vip",
		.type = SETTING_ADDRESSES,
		.default_value = "",
		.max = SETTINGS_HA_VIPS_MAX,
		.help = "HA pair: the clients' gateway addresses the master holds on "
			"ha_interface (backend vip)",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_vip),
    },
    {
	.def = {.key = "ha_upstream_interface",
		.type = SETTING_NAMES,
		.default_value = "",
		.min = SETTINGS_IFNAME_LEN,
		.max = 1,
		.help = "HA pair: the routers' side interface, for ha_upstream_vip",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_upstream_interface),
    },
    {
	.def = {.key = "ha_upstream_vip",
		.type = SETTING_ADDRESSES,
		.default_value = "",
		.max = SETTINGS_HA_VIPS_MAX,
		.help = "HA pair: the address the upstream routers send the clients' "
			"traffic back to, moved with ha_vip",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_upstream_vip),
    },
    {
	.def = {.key = "ha_peers",
		.type = SETTING_ADDRESSES,
		.default_value = "",
		.max = SETTINGS_HA_PEERS_MAX,
		.help = "HA pair: the other appliances' addresses (unicast VRRP; the proxies' "
			"set-up scripts accept IPIP from them too)",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_peers),
    },
    {
	.def = {.key = "ha_router_id",
		.type = SETTING_UINT,
		.default_value = "51",
		.min = 1,
		.max = 255,
		.help = "HA pair: VRRP virtual router id, the same on every appliance of the pair",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_router_id),
    },
    {
	.def = {.key = "ha_priority",
		.type = SETTING_UINT,
		.default_value = "100",
		.min = 2,
		.max = 254,
		.help = "HA pair: VRRP priority while healthy; equal on both: no failback",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_priority),
    },
    {
	.def = {.key = "ha_advert_ms",
		.type = SETTING_UINT,
		.default_value = "1000",
		.min = SETTINGS_VRRP_ADVERT_MIN,
		.max = SETTINGS_VRRP_ADVERT_MAX,
		.help = "HA pair: VRRP advertisement interval (10 ms steps); a silent master "
			"is replaced after about 3 of them",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_advert_ms),
    },
    {
	.def = {.key = "ha_backend",
		.type = SETTING_CHOICE,
		.default_value = "vip",
		.choices = settings_ha_backend_choices,
		.help = "HA pair: vip (the gateway address moves) or aws-route (the route "
			"tables' default route moves to ha_aws_eni)",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_backend),
    },
    {
	.def = {.key = "ha_aws_route_tables",
		.type = SETTING_NAMES,
		.default_value = "",
		.min = SETTINGS_AWS_ID_LEN,
		.max = SETTINGS_HA_TABLES_MAX,
		.help = "HA pair, aws-route: the route tables (rtb-...) whose 0.0.0.0/0 this "
			"appliance takes when it becomes master",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_aws_route_tables),
    },
    {
	.def = {.key = "ha_aws_eni",
		.type = SETTING_NAMES,
		.default_value = "",
		.min = SETTINGS_AWS_ID_LEN,
		.max = 1,
		.help = "HA pair, aws-route: this appliance's network interface (eni-...)",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_aws_eni),
    },
    {
	.def = {.key = "ha_aws_region",
		.type = SETTING_NAMES,
		.default_value = "",
		.min = SETTINGS_AWS_ID_LEN,
		.max = 1,
		.help = "HA pair, aws-route: the region of the route tables; empty: the AWS "
			"CLI's own configuration",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_aws_region),
    },
    {
	.def = {.key = "ha_aws_peer_route_tables",
		.type = SETTING_NAMES,
		.default_value = "",
		.min = SETTINGS_AWS_ID_LEN,
		.max = SETTINGS_HA_TABLES_MAX,
		.help = "HA pair, aws-route, one appliance per zone: the peer zone's route "
			"tables, which this appliance takes while the peer is down",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_aws_peer_route_tables),
    },
    {
	.def = {.key = "ha_aws_peer_router_id",
		.type = SETTING_UINT,
		.default_value = "52",
		.min = 1,
		.max = 255,
		.help = "HA pair, aws-route, one appliance per zone: the peer's own "
			"ha_router_id, the VRRP instance of the peer zone's tables",
		.apply = SETTING_APPLY_SNAPSHOT,
		.scope = SETTING_SCOPE_NODE},
	.offset = SETTINGS_FIELD(ha_aws_peer_router_id),
    },
};

/* One parsed value, held apart from struct settings until it is known good. */
struct settings_value {
	uint32_t number; /* UINT, BOOL, CHOICE, ADDRESS, PRIME, QUEUES, STATUS_RANGE */
	uint8_t address6[PROXY_ADDRESS6_LEN]; /* ADDRESS6; all zero for auto */
	const char *text; /* URL, PATH, HOSTNAME: the caller's string, checked */
	uint16_t ports[SETTINGS_PORTS_MAX];
	size_t nports;
	struct cidr subnets[SETTINGS_SUBNETS_MAX];
	size_t nsubnets;
	struct cidr6 subnets6[SETTINGS_SUBNETS_MAX];
	size_t nsubnets6;
	char canon[SETTINGS_TEXT_MAX]; /* ADDRESSES, NAMES: the canonical comma text */
	size_t nitems;
};

size_t settings_count(void)
{
	return SETTINGS_ARRAY_SIZE(settings_table);
}

const struct setting_def *settings_def_at(size_t i)
{
	if (i >= SETTINGS_ARRAY_SIZE(settings_table))
		return NULL;
	return &settings_table[i].def;
}

static const struct settings_entry *settings_entry_find(const char *key)
{
	if (key == NULL)
		return NULL;
	for (size_t i = 0; i < SETTINGS_ARRAY_SIZE(settings_table); i++) {
		if (strcmp(settings_table[i].def.key, key) == 0)
			return &settings_table[i];
	}
	return NULL;
}

const struct setting_def *settings_find(const char *key)
{
	const struct settings_entry *e = settings_entry_find(key);

	return e ? &e->def : NULL;
}

static void settings_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void settings_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Plain decimal only: strtoul alone would take leading blanks, a sign
 * ("-1" wraps to a huge value) and "0x"/octal with other bases, so the first
 * character must be a digit and a leading zero is refused unless the whole
 * number is "0" (it would not format back the same).
 */
static bool settings_parse_u32(const char *text, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return false;
	if (text[0] == '0' && text[1] != '\0')
		return false;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool settings_parse_ipv4(const char *text, uint32_t *out)
{
	struct in_addr a;

	/* inet_pton, unlike inet_aton, takes exactly four decimal parts without leading zeros. */
	if (text == NULL || inet_pton(AF_INET, text, &a) != 1)
		return false;
	*out = a.s_addr;
	return true;
}

enum settings_cidr_error {
	SETTINGS_CIDR_OK,
	SETTINGS_CIDR_SYNTAX,	 /* no '/' or not an address */
	SETTINGS_CIDR_LENGTH,	 /* prefix length not 0..32 */
	SETTINGS_CIDR_HOST_BITS, /* address has bits set beyond the prefix */
};

static uint32_t settings_prefix_mask(uint8_t len)
{
	return len == 0 ? 0 : htonl(UINT32_MAX << (32 - len));
}

static enum settings_cidr_error settings_cidr_parse(const char *text, struct cidr *out)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash;
	uint32_t a, len;

	slash = strchr(text, '/');
	if (slash == NULL || (size_t)(slash - text) >= sizeof(addr))
		return SETTINGS_CIDR_SYNTAX;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	if (!settings_parse_ipv4(addr, &a))
		return SETTINGS_CIDR_SYNTAX;
	if (!settings_parse_u32(slash + 1, &len) || len > 32)
		return SETTINGS_CIDR_LENGTH;
	if ((a & ~settings_prefix_mask((uint8_t)len)) != 0)
		return SETTINGS_CIDR_HOST_BITS;
	out->addr = a;
	out->len = (uint8_t)len;
	return SETTINGS_CIDR_OK;
}

bool settings_parse_cidr(const char *text, struct cidr *out)
{
	return text != NULL && settings_cidr_parse(text, out) == SETTINGS_CIDR_OK;
}

static enum settings_cidr_error settings_cidr6_parse(const char *text, struct cidr6 *out)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr a;
	const char *slash;
	uint32_t len;

	slash = strchr(text, '/');
	if (slash == NULL || (size_t)(slash - text) >= sizeof(addr))
		return SETTINGS_CIDR_SYNTAX;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	if (inet_pton(AF_INET6, addr, &a) != 1)
		return SETTINGS_CIDR_SYNTAX;
	if (!settings_parse_u32(slash + 1, &len) || len > 128)
		return SETTINGS_CIDR_LENGTH;
	for (unsigned int bit = len; bit < 128; bit++) {
		if (a.s6_addr[bit / 8] & (0x80U >> (bit % 8)))
			return SETTINGS_CIDR_HOST_BITS;
	}
	memcpy(out->addr, a.s6_addr, sizeof(out->addr));
	out->len = (uint8_t)len;
	return SETTINGS_CIDR_OK;
}

bool settings_parse_cidr6(const char *text, struct cidr6 *out)
{
	return text != NULL && settings_cidr6_parse(text, out) == SETTINGS_CIDR_OK;
}

bool settings_parse_listen(const char *text, uint32_t *addr, uint16_t *port)
{
	char host[INET_ADDRSTRLEN];
	const char *colon;
	uint32_t p;

	if (text == NULL)
		return false;
	colon = strrchr(text, ':');
	if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
		return false;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	if (!settings_parse_ipv4(host, addr) || !settings_parse_u32(colon + 1, &p) || p == 0 ||
	    p > UINT16_MAX)
		return false;
	*port = (uint16_t)p;
	return true;
}

static bool settings_is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (uint32_t d = 3; d <= n / d; d += 2) {
		if (n % d == 0)
			return false;
	}
	return true;
}

static bool settings_parse_bool(const char *text, uint32_t *out)
{
	static const char *const truths[] = {"true", "on", "yes", "1"};
	static const char *const falsehoods[] = {"false", "off", "no", "0"};

	for (size_t i = 0; i < SETTINGS_ARRAY_SIZE(truths); i++) {
		if (strcmp(text, truths[i]) == 0) {
			*out = 1;
			return true;
		}
		if (strcmp(text, falsehoods[i]) == 0) {
			*out = 0;
			return true;
		}
	}
	return false;
}

static bool settings_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Splits a comma list into trimmed items, calling item() for each. Blanks
 * around commas are tolerated because people type "80, 443"; an empty item
 * ("80,,443", a trailing comma) is refused as a likely typo.
 */
typedef bool (*settings_item_fn)(const struct setting_def *def, const char *item,
				 struct settings_value *v, char *err, size_t errlen);

static bool settings_parse_list(const struct setting_def *def, const char *value,
				settings_item_fn item, struct settings_value *v, char *err,
				size_t errlen)
{
	char buf[SETTINGS_VALUE_MAX];
	char *p, *next;

	/* The caller bounded value below SETTINGS_VALUE_MAX, so it fits. */
	strcpy(buf, value);
	for (p = buf; p != NULL; p = next) {
		char *end;

		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		while (settings_is_blank(*p))
			p++;
		end = p + strlen(p);
		while (end > p && settings_is_blank(end[-1]))
			*--end = '\0';
		if (*p == '\0') {
			settings_error(err, errlen, "%s: empty item in `%s'", def->key, value);
			return false;
		}
		if (!item(def, p, v, err, errlen))
			return false;
	}
	return true;
}

static bool settings_port_item(const struct setting_def *def, const char *item,
			       struct settings_value *v, char *err, size_t errlen)
{
	uint32_t port;

	if (!settings_parse_u32(item, &port) || port == 0 || port > UINT16_MAX) {
		settings_error(err, errlen, "%s: invalid port `%s' (1..65535)", def->key, item);
		return false;
	}
	for (size_t i = 0; i < v->nports; i++) {
		if (v->ports[i] == port) {
			settings_error(err, errlen, "%s: duplicate port `%s'", def->key, item);
			return false;
		}
	}
	if (v->nports == SETTINGS_PORTS_MAX) {
		settings_error(err, errlen, "%s: too many ports at `%s' (at most %d)", def->key,
			       item, SETTINGS_PORTS_MAX);
		return false;
	}
	v->ports[v->nports++] = (uint16_t)port;
	return true;
}

static bool settings_subnet_item(const struct setting_def *def, const char *item,
				 struct settings_value *v, char *err, size_t errlen)
{
	struct cidr c;
	struct cidr6 c6;
	bool ipv6 = strchr(item, ':') != NULL;

	switch (ipv6 ? settings_cidr6_parse(item, &c6) : settings_cidr_parse(item, &c)) {
	case SETTINGS_CIDR_OK:
		break;
	case SETTINGS_CIDR_SYNTAX:
		settings_error(err, errlen,
			       "%s: invalid subnet `%s' (want a.b.c.d/len or an IPv6 prefix/len)",
			       def->key, item);
		return false;
	case SETTINGS_CIDR_LENGTH:
		settings_error(err, errlen, "%s: invalid prefix length in `%s' (%s)", def->key,
			       item, ipv6 ? "0..128" : "0..32");
		return false;
	case SETTINGS_CIDR_HOST_BITS:
		settings_error(err, errlen, "%s: `%s' has host bits set", def->key, item);
		return false;
	}
	if (v->nsubnets + v->nsubnets6 == SETTINGS_SUBNETS_MAX) {
		settings_error(err, errlen, "%s: too many subnets at `%s' (at most %d)", def->key,
			       item, SETTINGS_SUBNETS_MAX);
		return false;
	}
	if (ipv6) {
		for (size_t i = 0; i < v->nsubnets6; i++) {
			if (memcmp(v->subnets6[i].addr, c6.addr, sizeof(c6.addr)) == 0 &&
			    v->subnets6[i].len == c6.len) {
				settings_error(err, errlen, "%s: duplicate subnet `%s'", def->key,
					       item);
				return false;
			}
		}
		memcpy(v->subnets6[v->nsubnets6].addr, c6.addr, sizeof(c6.addr));
		v->subnets6[v->nsubnets6].len = c6.len;
		v->nsubnets6++;
		return true;
	}
	for (size_t i = 0; i < v->nsubnets; i++) {
		if (v->subnets[i].addr == c.addr && v->subnets[i].len == c.len) {
			settings_error(err, errlen, "%s: duplicate subnet `%s'", def->key, item);
			return false;
		}
	}
	if (v->nsubnets == SETTINGS_SUBNETS_MAX) {
		settings_error(err, errlen, "%s: too many subnets at `%s' (at most %d)", def->key,
			       item, SETTINGS_SUBNETS_MAX);
		return false;
	}
	/* Field by field: v was zeroed, so the padding stays zero and snapshots compare with
	 * memcmp. */
	v->subnets[v->nsubnets].addr = c.addr;
	v->subnets[v->nsubnets].len = c.len;
	v->nsubnets++;
	return true;
}

/* A tunnel source must be one of this host's unicast addresses. */
static bool settings_unicast(uint32_t addr)
{
	uint32_t h = ntohl(addr);

	return h != 0 && h != UINT32_MAX && (h >> 24) != 127 && (h >> 28) != 0xe;
}

/* Appends item to the canonical comma text of a list; false when it is full. */
static bool settings_canon_append(const struct setting_def *def, const char *item,
				  struct settings_value *v, char *err, size_t errlen)
{
	size_t used = strlen(v->canon), len = strlen(item);

	if (v->nitems == def->max) {
		settings_error(err, errlen, "%s: too many items at `%s' (at most %u)", def->key,
			       item, def->max);
		return false;
	}
	if (used + (used ? 1 : 0) + len >= sizeof(v->canon)) {
		settings_error(err, errlen, "%s: longer than %zu characters", def->key,
			       sizeof(v->canon) - 1);
		return false;
	}
	if (used)
		v->canon[used++] = ',';
	memcpy(v->canon + used, item, len + 1);
	v->nitems++;
	return true;
}

/* True when the list text already holds item (exact match of a whole item). */
static bool settings_canon_has(const char *canon, const char *item)
{
	size_t len = strlen(item);

	for (const char *p = canon; *p != '\0';) {
		size_t n = strcspn(p, ",");

		if (n == len && memcmp(p, item, len) == 0)
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static bool settings_address_item(const struct setting_def *def, const char *item,
				  struct settings_value *v, char *err, size_t errlen)
{
	char text[INET_ADDRSTRLEN];
	struct in_addr a;

	if (!settings_parse_ipv4(item, &a.s_addr) || !settings_unicast(a.s_addr)) {
		settings_error(err, errlen, "%s: invalid address `%s' (a unicast IPv4 address)",
			       def->key, item);
		return false;
	}
	inet_ntop(AF_INET, &a, text, sizeof(text));
	if (settings_canon_has(v->canon, text)) {
		settings_error(err, errlen, "%s: duplicate address `%s'", def->key, item);
		return false;
	}
	return settings_canon_append(def, text, v, err, errlen);
}

/* A name goes into keepalived's configuration and a shell command line: a tight alphabet. */
static bool settings_name_item(const struct setting_def *def, const char *item,
			       struct settings_value *v, char *err, size_t errlen)
{
	size_t len = strlen(item);

	for (size_t i = 0; i < len; i++) {
		char c = item[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-')) {
			settings_error(err, errlen, "%s: invalid character in `%s'", def->key,
				       item);
			return false;
		}
	}
	if (len > def->min || item[0] == '-') {
		settings_error(err, errlen,
			       "%s: `%s' is not a name (at most %u of A-Z a-z 0-9 . _ -)", def->key,
			       item, def->min);
		return false;
	}
	if (settings_canon_has(v->canon, item)) {
		settings_error(err, errlen, "%s: duplicate `%s'", def->key, item);
		return false;
	}
	return settings_canon_append(def, item, v, err, errlen);
}

static bool settings_parse_status(const struct setting_def *def, const char *value,
				  struct settings_value *v, char *err, size_t errlen)
{
	char first[8];
	const char *dash = strchr(value, '-');
	uint32_t lo, hi;
	size_t n = dash ? (size_t)(dash - value) : strlen(value);

	if (n == 0 || n >= sizeof(first))
		goto bad;
	memcpy(first, value, n);
	first[n] = '\0';
	if (!settings_parse_u32(first, &lo))
		goto bad;
	hi = lo;
	if (dash != NULL && !settings_parse_u32(dash + 1, &hi))
		goto bad;
	if (lo < 100 || hi > 599 || lo > hi)
		goto bad;
	v->number = lo << 16 | hi;
	return true;
bad:
	settings_error(err, errlen, "%s: invalid status range `%s' (e.g. 200 or 200-399)", def->key,
		       value);
	return false;
}

/*
 * A SETTING_HOSTS list whose characters are already known good: every item
 * a name of dot-separated labels (none empty, none starting or ending with
 * '-'), at most SETTINGS_HOST_NAME_MAX long. Empty is the empty list.
 */
static bool settings_hosts_valid(const struct setting_def *def, const char *value, char *err,
				 size_t errlen)
{
	const char *item = value;

	if (value[0] == '\0')
		return true;
	for (;;) {
		size_t len = strcspn(item, ",");
		bool bad = len == 0 || len > SETTINGS_HOST_NAME_MAX || item[0] == '.' ||
			   item[len - 1] == '.';

		for (size_t i = 0; !bad && i < len; i++) {
			bool edge =
			    i == 0 || i + 1 == len || item[i - 1] == '.' || item[i + 1] == '.';

			bad = (item[i] == '.' && item[i + 1] == '.') || (item[i] == '-' && edge);
		}
		if (bad) {
			settings_error(err, errlen, "%s: `%.*s' is not a host name or address",
				       def->key, (int)len, item);
			return false;
		}
		if (item[len] == '\0')
			return true;
		item += len + 1;
	}
}

/* Text settings end up in probe requests: printable ASCII only, no blanks, bounded. */
static bool settings_parse_text(const struct setting_def *def, const char *value,
				struct settings_value *v, char *err, size_t errlen)
{
	size_t len = strlen(value);
	const char *what;

	if (len > def->max) {
		settings_error(err, errlen, "%s: longer than %u characters", def->key, def->max);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		bool ok = c > ' ' && c < 0x7f;
		if (def->type == SETTING_HOSTNAME || def->type == SETTING_HOSTS)
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '.' || c == '-' ||
			     c == (def->type == SETTING_HOSTS ? ',' : ':');
		if (!ok) {
			settings_error(err, errlen, "%s: invalid character in `%s'", def->key,
				       value);
			return false;
		}
	}
	switch (def->type) {
	case SETTING_URL:
		what = "an http:// or https:// URL";
		/* A URL whose default is empty (none set) may be emptied again. */
		if ((value[0] == '\0' && def->default_value[0] == '\0') ||
		    (strncmp(value, "http://", 7) == 0 && len > 7) ||
		    (strncmp(value, "https://", 8) == 0 && len > 8))
			break;
		settings_error(err, errlen, "%s: `%s' is not %s", def->key, value, what);
		return false;
	case SETTING_PATH:
		if (value[0] == '/')
			break;
		settings_error(err, errlen, "%s: `%s' does not start with /", def->key, value);
		return false;
	case SETTING_FILE:
		if (value[0] == '\0' || value[0] == '/')
			break;
		settings_error(err, errlen, "%s: `%s' is not an absolute path", def->key, value);
		return false;
	case SETTING_HOSTS:
		if (settings_hosts_valid(def, value, err, errlen))
			break;
		return false;
	case SETTING_LISTEN: {
		uint32_t addr;
		uint16_t port;

		if (settings_parse_listen(value, &addr, &port))
			break;
		settings_error(err, errlen, "%s: `%s' is not address:port (e.g. 127.0.0.1:8080)",
			       def->key, value);
		return false;
	}
	default:
		break;
	}
	v->text = value;
	return true;
}

static bool settings_parse_value(const struct setting_def *def, const char *value,
				 struct settings_value *v, char *err, size_t errlen)
{
	switch (def->type) {
	case SETTING_QUEUES:
		if (strcmp(value, SETTINGS_AUTO) == 0) {
			v->number = 0;
			return true;
		}
		__attribute__((fallthrough)); /* otherwise a number, like UINT */
	case SETTING_UINT:
		if (!settings_parse_u32(value, &v->number) || v->number < def->min ||
		    v->number > def->max) {
			settings_error(err, errlen, "%s: invalid value `%s' (%u..%u%s)", def->key,
				       value, def->min, def->max,
				       def->type == SETTING_QUEUES ? " or auto" : "");
			return false;
		}
		return true;
	case SETTING_PRIME:
		if (!settings_parse_u32(value, &v->number) || v->number < def->min ||
		    v->number > def->max) {
			settings_error(err, errlen, "%s: invalid value `%s' (a prime in %u..%u)",
				       def->key, value, def->min, def->max);
			return false;
		}
		if (!settings_is_prime(v->number)) {
			settings_error(err, errlen, "%s: `%s' is not prime", def->key, value);
			return false;
		}
		return true;
	case SETTING_BOOL:
		if (!settings_parse_bool(value, &v->number)) {
			settings_error(err, errlen, "%s: invalid value `%s' (true or false)",
				       def->key, value);
			return false;
		}
		return true;
	case SETTING_CHOICE:
		for (uint32_t i = 0; def->choices[i] != NULL; i++) {
			if (strcmp(value, def->choices[i]) == 0) {
				v->number = i;
				return true;
			}
		}
		settings_error(err, errlen, "%s: invalid choice `%s'", def->key, value);
		return false;
	case SETTING_ADDRESS6: {
		const char *why = "is not an IPv6 address";

		memset(v->address6, 0, sizeof(v->address6));
		if (strcmp(value, SETTINGS_AUTO) == 0)
			return true;
		/* proxy_address6_parse reads "" and "none" as no address: not a value here. */
		if (strcmp(value, "none") == 0 || !proxy_address6_parse(value, v->address6, &why)) {
			settings_error(
			    err, errlen,
			    "%s: invalid address `%s' %s (a unicast IPv6 address or auto)",
			    def->key, value, why);
			return false;
		}
		return true;
	}
	case SETTING_ADDRESS:
		if (strcmp(value, SETTINGS_AUTO) == 0) {
			v->number = 0;
			return true;
		}
		if (!settings_parse_ipv4(value, &v->number) || !settings_unicast(v->number)) {
			settings_error(err, errlen,
				       "%s: invalid address `%s' (a unicast IPv4 address or auto)",
				       def->key, value);
			return false;
		}
		return true;
	case SETTING_PORTS:
		return settings_parse_list(def, value, settings_port_item, v, err, errlen);
	case SETTING_SUBNETS:
		return settings_parse_list(def, value, settings_subnet_item, v, err, errlen);
	case SETTING_ADDRESSES:
		v->text = v->canon;
		return value[0] == '\0' ||
		       settings_parse_list(def, value, settings_address_item, v, err, errlen);
	case SETTING_NAMES:
		v->text = v->canon;
		return value[0] == '\0' ||
		       settings_parse_list(def, value, settings_name_item, v, err, errlen);
	case SETTING_STATUS_RANGE:
		return settings_parse_status(def, value, v, err, errlen);
	case SETTING_URL:
	case SETTING_PATH:
	case SETTING_HOSTNAME:
	case SETTING_LISTEN:
	case SETTING_FILE:
	case SETTING_HOSTS:
		return settings_parse_text(def, value, v, err, errlen);
	}
	settings_error(err, errlen, "%s: unsupported type", def->key);
	return false;
}

static void settings_store_value(struct settings *s, const struct settings_entry *e,
				 const struct settings_value *v)
{
	char *field = (char *)s + e->offset;

	switch (e->def.type) {
	case SETTING_UINT:
	case SETTING_PRIME:
	case SETTING_QUEUES:
	case SETTING_ADDRESS:
		memcpy(field, &v->number, sizeof(uint32_t));
		break;
	case SETTING_ADDRESS6:
		memcpy(field, v->address6, sizeof(v->address6));
		break;
	case SETTING_BOOL: {
		bool b = v->number != 0;

		memcpy(field, &b, sizeof(b));
		break;
	}
	case SETTING_CHOICE: {
		unsigned int u = v->number;

		memcpy(field, &u, sizeof(u));
		break;
	}
	case SETTING_PORTS:
		memcpy(s->ports, v->ports, sizeof(s->ports));
		s->nports = v->nports;
		break;
	case SETTING_SUBNETS:
		memcpy(s->client_subnets, v->subnets, sizeof(s->client_subnets));
		s->nsubnets = v->nsubnets;
		memcpy(s->client_subnets6, v->subnets6, sizeof(s->client_subnets6));
		s->nsubnets6 = v->nsubnets6;
		break;
	case SETTING_STATUS_RANGE:
		memcpy(field, &v->number, sizeof(uint32_t));
		break;
	case SETTING_URL:
	case SETTING_PATH:
	case SETTING_HOSTNAME:
	case SETTING_LISTEN:
	case SETTING_FILE:
	case SETTING_HOSTS:
		/* Zero-filled so two settings structs still compare byte for byte. */
		memset(field, 0, e->def.max + 1);
		memcpy(field, v->text, strlen(v->text));
		break;
	case SETTING_ADDRESSES:
	case SETTING_NAMES:
		memset(field, 0, SETTINGS_TEXT_MAX);
		memcpy(field, v->text, strlen(v->text));
		break;
	}
}

bool settings_set(struct settings *s, const char *key, const char *value, char *err, size_t errlen)
{
	const struct settings_entry *e = settings_entry_find(key);
	struct settings_value v;

	if (e == NULL) {
		settings_error(err, errlen, "unknown setting `%s'", key ? key : "");
		return false;
	}
	if (value == NULL || (value[0] == '\0' && e->def.type != SETTING_HOSTNAME &&
			      e->def.type != SETTING_FILE && e->def.type != SETTING_HOSTS &&
			      e->def.type != SETTING_ADDRESSES && e->def.type != SETTING_NAMES &&
			      !(e->def.type == SETTING_URL && e->def.default_value[0] == '\0'))) {
		settings_error(err, errlen, "%s: empty value", e->def.key);
		return false;
	}
	if (strnlen(value, SETTINGS_VALUE_MAX) >= SETTINGS_VALUE_MAX) {
		settings_error(err, errlen, "%s: value longer than %d characters", e->def.key,
			       SETTINGS_VALUE_MAX - 1);
		return false;
	}
	memset(&v, 0, sizeof(v));
	if (!settings_parse_value(&e->def, value, &v, err, errlen))
		return false;
	settings_store_value(s, e, &v);
	return true;
}

void settings_defaults(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < SETTINGS_ARRAY_SIZE(settings_table); i++) {
		const struct setting_def *def = &settings_table[i].def;

		/* The table is constant; a default that does not parse is a build bug. */
		if (!settings_set(s, def->key, def->default_value, NULL, 0))
			abort();
	}
}

/*
 * A rule between two SETTING_UINT settings that each hold on their own: the
 * value of key must not exceed the value of limit. Kept as data so that
 * settings_check and settings_check_reset read the same list.
 */
struct settings_rule {
	const char *key;
	const char *limit;
};

static const struct settings_rule settings_rules[] = {
    /* A probe that may outlast its interval would still run when the next one is due. */
    {.key = "probe_timeout_ms", .limit = "probe_interval_ms"},
    /* A single address could otherwise take every place. */
    {.key = "http_max_connections_per_source", .limit = "http_max_connections"},
};

/* The value of a SETTING_UINT key; the rules name such keys only (tested). */
static uint32_t settings_uint(const struct settings *s, const char *key)
{
	const struct settings_entry *e = settings_entry_find(key);
	uint32_t v;

	if (e == NULL || e->def.type != SETTING_UINT)
		abort(); /* a rule naming another kind of key is a build bug */
	memcpy(&v, (const char *)s + e->offset, sizeof(v));
	return v;
}

/* True when s keeps rule r; otherwise writes why into err. */
static bool settings_rule_holds(const struct settings *s, const struct settings_rule *r, char *err,
				size_t errlen)
{
	uint32_t value = settings_uint(s, r->key), limit = settings_uint(s, r->limit);

	if (value <= limit)
		return true;
	settings_error(err, errlen, "%s (%u) must not exceed %s (%u)", r->key, value, r->limit,
		       limit);
	return false;
}

int settings_check(const struct settings *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < SETTINGS_ARRAY_SIZE(settings_rules); i++) {
		if (!settings_rule_holds(s, &settings_rules[i], err, errlen))
			return -EINVAL;
	}
	return 0;
}

size_t settings_check_reset(struct settings *s, char *err, size_t errlen)
{
	size_t broken = 0;

	/*
	 * A broken rule has a key away from its default, since the defaults keep
	 * every rule (tested): each round puts one more key back, so this ends.
	 */
	for (size_t i = 0; i < SETTINGS_ARRAY_SIZE(settings_rules);) {
		const struct setting_def *key = settings_find(settings_rules[i].key);
		const struct setting_def *limit = settings_find(settings_rules[i].limit);
		char why[SETTINGS_TEXT_MAX];

		if (settings_rule_holds(s, &settings_rules[i], why, sizeof(why))) {
			i++;
			continue;
		}
		if (broken++ == 0)
			settings_error(err, errlen, "%s: %s and %s take their defaults (%s, %s)",
				       why, key->key, limit->key, key->default_value,
				       limit->default_value);
		if (!settings_set(s, key->key, key->default_value, NULL, 0) ||
		    !settings_set(s, limit->key, limit->default_value, NULL, 0))
			abort(); /* the table is constant: a default that does not parse is a build
				    bug */
		i = 0;		 /* a key put back may be another rule's: look at them all again */
	}
	return broken;
}

/* Appends to buf at *used; false when it does not fit. */
static bool settings_append(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool settings_append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *used)
		return false;
	*used += (size_t)n;
	return true;
}

static bool settings_append_ipv4(char *buf, size_t len, size_t *used, uint32_t addr)
{
	char text[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = addr};

	if (inet_ntop(AF_INET, &a, text, sizeof(text)) == NULL)
		return false;
	return settings_append(buf, len, used, "%s", text);
}

bool settings_format(const struct settings *s, const char *key, char *buf, size_t len)
{
	const struct settings_entry *e = settings_entry_find(key);
	const char *field;
	uint32_t number;
	unsigned int choice;
	bool b;
	size_t used = 0;

	if (e == NULL || buf == NULL || len == 0)
		return false;
	buf[0] = '\0';
	field = (const char *)s + e->offset;
	switch (e->def.type) {
	case SETTING_UINT:
	case SETTING_PRIME:
		memcpy(&number, field, sizeof(number));
		return settings_append(buf, len, &used, "%u", number);
	case SETTING_QUEUES:
		memcpy(&number, field, sizeof(number));
		if (number == 0)
			return settings_append(buf, len, &used, "%s", SETTINGS_AUTO);
		return settings_append(buf, len, &used, "%u", number);
	case SETTING_ADDRESS:
		memcpy(&number, field, sizeof(number));
		if (number == 0)
			return settings_append(buf, len, &used, "%s", SETTINGS_AUTO);
		return settings_append_ipv4(buf, len, &used, number);
	case SETTING_ADDRESS6: {
		struct proxy_config p;
		char text[INET6_ADDRSTRLEN];

		memcpy(p.address6, field, sizeof(p.address6));
		proxy_address6_text(&p, text, sizeof(text));
		return settings_append(buf, len, &used, "%s", text[0] ? text : SETTINGS_AUTO);
	}
	case SETTING_BOOL:
		memcpy(&b, field, sizeof(b));
		return settings_append(buf, len, &used, "%s", b ? "true" : "false");
	case SETTING_CHOICE:
		memcpy(&choice, field, sizeof(choice));
		for (unsigned int i = 0; e->def.choices[i] != NULL; i++) {
			if (i == choice)
				return settings_append(buf, len, &used, "%s", e->def.choices[i]);
		}
		return false;
	case SETTING_PORTS:
		for (size_t i = 0; i < s->nports; i++) {
			if (!settings_append(buf, len, &used, "%s%u", i ? "," : "",
					     (unsigned int)s->ports[i]))
				return false;
		}
		return s->nports > 0;
	case SETTING_SUBNETS:
		for (size_t i = 0; i < s->nsubnets; i++) {
			if ((i && !settings_append(buf, len, &used, ",")) ||
			    !settings_append_ipv4(buf, len, &used, s->client_subnets[i].addr) ||
			    !settings_append(buf, len, &used, "/%u",
					     (unsigned int)s->client_subnets[i].len))
				return false;
		}
		for (size_t i = 0; i < s->nsubnets6; i++) {
			char text[INET6_ADDRSTRLEN];

			if (inet_ntop(AF_INET6, s->client_subnets6[i].addr, text, sizeof(text)) ==
				NULL ||
			    !settings_append(buf, len, &used, "%s%s/%u",
					     i || s->nsubnets ? "," : "", text,
					     (unsigned int)s->client_subnets6[i].len))
				return false;
		}
		return s->nsubnets + s->nsubnets6 > 0;
	case SETTING_STATUS_RANGE:
		memcpy(&number, field, sizeof(number));
		if ((number >> 16) == (number & 0xffff))
			return settings_append(buf, len, &used, "%u", number >> 16);
		return settings_append(buf, len, &used, "%u-%u", number >> 16, number & 0xffff);
	case SETTING_URL:
	case SETTING_PATH:
	case SETTING_HOSTNAME:
	case SETTING_LISTEN:
	case SETTING_FILE:
	case SETTING_HOSTS:
	case SETTING_ADDRESSES:
	case SETTING_NAMES:
		return settings_append(buf, len, &used, "%s", field);
	}
	return false;
}

const char *settings_scope_name(enum setting_scope scope)
{
	return scope == SETTING_SCOPE_NODE ? "node" : "cluster";
}

bool settings_is_node_scoped(const char *key)
{
	const struct setting_def *def = settings_find(key);

	return def != NULL && def->scope == SETTING_SCOPE_NODE;
}

const char *cluster_role_name(enum cluster_role role)
{
	if ((size_t)role >= SETTINGS_ARRAY_SIZE(settings_cluster_role_choices) - 1)
		return "?";
	return settings_cluster_role_choices[role];
}

const char *settings_type_name(enum setting_type type)
{
	switch (type) {
	case SETTING_UINT:
		return "uint";
	case SETTING_BOOL:
		return "bool";
	case SETTING_CHOICE:
		return "choice";
	case SETTING_PORTS:
		return "ports";
	case SETTING_SUBNETS:
		return "subnets";
	case SETTING_ADDRESS:
		return "address";
	case SETTING_ADDRESS6:
		return "address6";
	case SETTING_PRIME:
		return "prime";
	case SETTING_QUEUES:
		return "queues";
	case SETTING_STATUS_RANGE:
		return "status-range";
	case SETTING_URL:
		return "url";
	case SETTING_PATH:
		return "path";
	case SETTING_HOSTNAME:
		return "hostname";
	case SETTING_LISTEN:
		return "listen";
	case SETTING_FILE:
		return "file";
	case SETTING_HOSTS:
		return "hosts";
	case SETTING_ADDRESSES:
		return "addresses";
	case SETTING_NAMES:
		return "names";
	}
	return "unknown";
}

const char *no_proxy_policy_name(enum no_proxy_policy p)
{
	if ((unsigned int)p >= SETTINGS_ARRAY_SIZE(settings_no_proxy_choices) - 1)
		return "unknown";
	return settings_no_proxy_choices[p];
}

const char *ha_backend_name(enum ha_backend b)
{
	if ((unsigned int)b >= SETTINGS_ARRAY_SIZE(settings_ha_backend_choices) - 1)
		return "unknown";
	return settings_ha_backend_choices[b];
}
