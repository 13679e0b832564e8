/*
 * settings.h - the typed, validated settings of droverd.
 *
 * Every setting has a definition (key, type, range, default, help). Values
 * travel as text (SQLite, droverctl, JSON) and are parsed here only, so the
 * rules for what is valid live in one place. Pure: no globals beyond the
 * constant definition table, no I/O.
 */
#ifndef DROVER_SETTINGS_H
#define DROVER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SETTINGS_PORTS_MAX   16
#define SETTINGS_SUBNETS_MAX 64
/* The widest ipv6_client_prefix: one proxy per site at most, never per provider. */
#define SETTINGS_IPV6_PREFIX_MIN 32
#define SETTINGS_QUEUES_MAX	 64
#define SETTINGS_VALUE_MAX	 1024
#define SETTINGS_TEXT_MAX	 512
#define SETTINGS_HOST_MAX	 256
#define SETTINGS_LISTEN_MAX	 32
#define SETTINGS_FILE_MAX	 256

/* Characters of a DNS name (RFC 1035): one item of a SETTING_HOSTS list. */
#define SETTINGS_HOST_NAME_MAX 253

enum setting_type {
	SETTING_UINT,	      /* decimal in [min, max] */
	SETTING_BOOL,	      /* true/false (also on/off, yes/no, 1/0 on input) */
	SETTING_CHOICE,	      /* one of choices[] */
	SETTING_PORTS,	      /* comma list of 1..65535, at least one, no duplicates */
	SETTING_SUBNETS,      /* comma list of IPv4/IPv6 CIDRs, at least one, host bits clear */
	SETTING_ADDRESS,      /* IPv4 address, or "auto" */
	SETTING_ADDRESS6,     /* IPv6 unicast host address, or "auto" (16 bytes, all zero) */
	SETTING_PRIME,	      /* prime in [min, max] */
	SETTING_QUEUES,	      /* 1..SETTINGS_QUEUES_MAX, or "auto" (one per core) */
	SETTING_STATUS_RANGE, /* HTTP status "200" or "200-399", 100..599 */
	SETTING_URL,	      /* http:// or https:// URL, printable, no blanks, < max chars */
	SETTING_PATH,	      /* starts with '/', printable, no blanks, < max chars */
	SETTING_HOSTNAME,     /* host[:port] of letters, digits, '.', '-', ':'; may be empty */
	SETTING_LISTEN,	      /* IPv4 address:port, e.g. 127.0.0.1:8080 */
	SETTING_FILE,	      /* absolute file path, printable, no blanks; may be empty */
	SETTING_HOSTS,	      /* comma list of names or IPv4 addresses, no ports; may be empty */
	SETTING_ADDRESSES,    /* comma list of unicast IPv4 addresses, at most max; may be empty */
	SETTING_NAMES,	      /* comma list of [A-Za-z0-9._-] names of at most min characters,
				 at most max of them; may be empty */
};

/*
 * How a changed setting takes effect while droverd runs: the parts of the
 * running appliance that must be redone. The manager runs its steps in the
 * one order documented above manager_apply_setting_live (manager.c); the
 * web listener is droverd's. A step a setting does not name is left alone.
 */
enum setting_apply {
	/* A new affinity table of the new size (needs SNAPSHOT, which retires the old one). */
	SETTING_APPLY_AFFINITY_RESIZE = 1U << 0,
	/* The idle timeout of the table in place. */
	SETTING_APPLY_AFFINITY_TIMEOUT = 1U << 1,
	/* Length and fail-open of the bound queues. */
	SETTING_APPLY_QUEUE_OPTIONS = 1U << 2,
	/* Load and attach, or detach, the kernel fast path (needs SNAPSHOT). */
	SETTING_APPLY_FAST_PATH = 1U << 3,
	/* The kernel forgets its client records. */
	SETTING_APPLY_FAST_PATH_FORGET = 1U << 4,
	/* Publish a new datapath snapshot. */
	SETTING_APPLY_SNAPSHOT = 1U << 5,
	/* Rebind the NFQUEUE queues (needs RULES: the rules name the queues and move with them). */
	SETTING_APPLY_QUEUES = 1U << 6,
	/* Hand the prober the probe settings. */
	SETTING_APPLY_PROBES = 1U << 7,
	/* Re-render and install the iptables rules. */
	SETTING_APPLY_RULES = 1U << 8,
	/* Restart the web UI's listener (droverd's, through the manager's setting hook). */
	SETTING_APPLY_WEB_LISTENER = 1U << 9,
	/* Restart the replica's pull of the primary's configuration (cluster_*). */
	SETTING_APPLY_CLUSTER = 1U << 10,
};

/*
 * Where a setting belongs when appliances form a cluster (README "Cluster:
 * configuration replication"). A cluster-scoped setting is part of the
 * configuration a replica takes from its primary; a node-scoped one belongs
 * to the appliance it is set on (its listener, its certificate, its queues,
 * its role), is never sent to a replica nor replaced by a replication, and
 * stays writable on a replica. The zero value is CLUSTER: a new setting is
 * replicated unless its entry says otherwise.
 */
enum setting_scope {
	SETTING_SCOPE_CLUSTER = 0,
	SETTING_SCOPE_NODE,
};

/* The roles of an appliance in a cluster (cluster_role). */
enum cluster_role {
	CLUSTER_ROLE_STANDALONE, /* no cluster: every write is taken */
	CLUSTER_ROLE_PRIMARY,	 /* serves its configuration to replicas */
	CLUSTER_ROLE_REPLICA,	 /* pulls the primary's; refuses cluster-scoped writes */
};

struct setting_def {
	const char *key;
	enum setting_type type;
	const char *default_value;
	uint32_t min, max;	    /* SETTING_UINT, SETTING_PRIME */
	const char *const *choices; /* SETTING_CHOICE, NULL-terminated */
	const char *help;
	unsigned apply;		  /* enum setting_apply bits: how a change takes effect live */
	enum setting_scope scope; /* replicated (cluster, the default) or this node's own */
};

enum no_proxy_policy {
	NO_PROXY_BYPASS, /* accept: routed normally, straight to the destination */
	NO_PROXY_DROP,
	NO_PROXY_REJECT, /* TCP RST (or ICMP unreachable) to the client */
};

/* What becomes of the clients' QUIC (UDP to port 443), the filters' blind spot (quic.h). */
enum quic_policy {
	QUIC_POLICY_REJECT, /* dropped, ICMP port unreachable to the client: it falls back to TCP */
	QUIC_POLICY_DROP,   /* dropped silently: the client falls back after a timeout */
	QUIC_POLICY_PASS,   /* forwarded unfiltered, counted */
};

/* Which kernel program carries placed clients' packets (fastpath.h), with fast_path on. */
enum fast_path_mode {
	FAST_PATH_MODE_AUTO, /* native XDP where the driver has it (not veth), tc behind it */
	FAST_PATH_MODE_XDP, /* native XDP on every driver that has it, veth too; without: warning */
	FAST_PATH_MODE_TC,  /* the tc program alone */
	FAST_PATH_MODE_OFF, /* neither: the same as fast_path false */
};

enum malformed_policy {
	MALFORMED_ACCEPT,
	MALFORMED_DROP,
};

/* Who may read /metrics. */
enum metrics_access {
	METRICS_ACCESS_LOCAL, /* loopback clients freely, others with a session or token */
	METRICS_ACCESS_OPEN,  /* anyone who reaches the web server */
	METRICS_ACCESS_AUTH,  /* a session or an API token, from anywhere */
};

/* What the notify hook does, besides telling droverd, when this node becomes master. */
enum ha_backend {
	HA_BACKEND_VIP,	      /* nothing: keepalived moves the addresses, gratuitous ARP */
	HA_BACKEND_AWS_ROUTE, /* point the route tables' default route at this ENI */
};

struct cidr {
	uint32_t addr; /* network byte order, host bits clear */
	uint8_t len;
};

/* An IPv6 client subnet. */
struct cidr6 {
	uint8_t addr[16]; /* as on the wire, host bits clear */
	uint8_t len;	  /* 0..128 */
};

struct settings {
	uint32_t queues;       /* 0 = one per online core */
	uint32_t queue_base;   /* first NFQUEUE number */
	uint32_t queue_maxlen; /* packets the kernel holds per queue */
	bool fail_open;	       /* accept when the queue is full */
	enum fast_path_mode fast_path_mode;
	bool fast_path; /* placed clients' packets wrapped in the kernel (fastpath.h) */
	uint32_t fast_path_grace_seconds; /* the kernel carries known clients without droverd */
	uint16_t ports[SETTINGS_PORTS_MAX];
	size_t nports;
	struct cidr client_subnets[SETTINGS_SUBNETS_MAX];
	size_t nsubnets;
	/* The IPv6 entries of client_subnets (both families share the SETTINGS_SUBNETS_MAX). */
	struct cidr6 client_subnets6[SETTINGS_SUBNETS_MAX];
	size_t nsubnets6;
	/* IPv6 clients are scheduled by this many leading bits of their address (128: all). */
	uint32_t ipv6_client_prefix;
	enum no_proxy_policy no_proxy_policy;
	enum malformed_policy malformed_policy;
	uint32_t affinity_timeout; /* seconds */
	uint32_t affinity_max_clients;
	uint32_t maglev_table_size;
	uint32_t tunnel_source; /* network byte order; 0 = the route's source */
	/* IPv6-in-IPv6 outer source, 16 bytes as on the wire; all zero = the route's source */
	uint8_t tunnel_source6[16];
	uint32_t frag_needed_rate; /* ICMP frag-needed per second to one client, per queue */
	uint32_t reject_rate;	   /* no_proxy_policy reject: replies per second to one client */
	enum quic_policy quic_policy;
	uint32_t quic_reject_rate; /* quic_policy reject: port unreachables per second, per queue */

	/* Health probes (see probe.h). */
	unsigned int probe_kind; /* enum probe_kind */
	uint32_t probe_interval_ms;
	uint32_t probe_timeout_ms;
	uint32_t probe_rise;
	uint32_t probe_fall;
	uint32_t probe_port;
	uint32_t probe_status; /* min << 16 | max */
	char probe_url[SETTINGS_TEXT_MAX];
	char probe_path[SETTINGS_TEXT_MAX];
	char probe_host[SETTINGS_HOST_MAX];
	uint32_t probe_max_in_flight; /* probes (one socket each) running at once */
	/* Reads of Squid's cache manager, for proxies with squid_stats (squid_stats.h). */
	uint32_t squid_stats_interval_ms;
	bool assume_up_at_start;

	/* Web UI and /metrics (webui/). Listener and TLS changes restart the listener. */
	char http_listen[SETTINGS_LISTEN_MAX];
	bool https;
	char tls_cert[SETTINGS_FILE_MAX]; /* empty: generated under the database's directory */
	char tls_key[SETTINGS_FILE_MAX];
	unsigned int metrics_access; /* enum metrics_access */
	uint32_t session_idle_seconds;
	/* Names (or addresses) besides its own under which the web UI answers (webui_auth.c). */
	char web_hosts[SETTINGS_TEXT_MAX];
	/* Sign-in throttling (webui/throttle.h) and the audit log's bounds. */
	uint32_t login_free_failures;	  /* failures of a (source, user) before slowing */
	uint32_t login_delay_max_seconds; /* the longest spacing of a slowed (source, user) */
	uint32_t login_global_failures;	  /* failures a minute, all sources: everyone slowed */
	uint32_t audit_max_entries;
	uint32_t audit_max_age_days;
	uint32_t http_max_connections;		  /* open at once, from everyone */
	uint32_t http_max_connections_per_source; /* open at once, from one address */

	/* Configuration replication (cluster.h); all node-scoped. */
	unsigned int cluster_role;		 /* enum cluster_role */
	char cluster_primary[SETTINGS_TEXT_MAX]; /* the primary's web UI URL; "" none */
	char cluster_token_file[SETTINGS_FILE_MAX];
	char cluster_ca_file[SETTINGS_FILE_MAX]; /* "" : the system's CAs */
	uint32_t cluster_poll_ms;
	char cluster_node_name[SETTINGS_HOST_MAX]; /* "" : the host name */
	/*
	 * This node's part in a keepalived pair (droverctl ha): read only by
	 * the configuration generator and the set-up script, never by the
	 * packet path. Lists are kept as their canonical comma text.
	 */
	char ha_interface[SETTINGS_TEXT_MAX];	       /* client-side interface, holds ha_vip */
	char ha_vip[SETTINGS_TEXT_MAX];		       /* the clients' gateway addresses */
	char ha_upstream_interface[SETTINGS_TEXT_MAX]; /* optional: the routers' side */
	char ha_upstream_vip[SETTINGS_TEXT_MAX];       /* the routers' next hop for the clients */
	char ha_peers[SETTINGS_TEXT_MAX];	       /* the other appliances (unicast VRRP) */
	uint32_t ha_router_id;			       /* VRRP virtual router id */
	uint32_t ha_priority;			       /* VRRP priority while healthy */
	uint32_t ha_advert_ms;			       /* VRRP advertisement interval */
	unsigned int ha_backend;		       /* enum ha_backend */
	char ha_aws_route_tables[SETTINGS_TEXT_MAX];   /* aws-route: tables to point here */
	char ha_aws_eni[SETTINGS_TEXT_MAX];	       /* aws-route: this appliance's ENI */
	char ha_aws_region[SETTINGS_TEXT_MAX];	       /* aws-route: empty = the CLI's own */
	char ha_aws_peer_route_tables[SETTINGS_TEXT_MAX]; /* aws-route: the peer zone's tables */
	uint32_t ha_aws_peer_router_id;			  /* the peer's own ha_router_id */
};

size_t settings_count(void);
const struct setting_def *settings_def_at(size_t i);
const struct setting_def *settings_find(const char *key);

/* Fills s with every default. */
void settings_defaults(struct settings *s);

/*
 * Parses value for key into s. On failure returns false, leaves s untouched
 * and writes a message naming the key and quoting the bad value into err
 * ("unknown setting `x'", "ports: invalid port `70000'").
 */
bool settings_set(struct settings *s, const char *key, const char *value, char *err, size_t errlen);

/*
 * The rules between settings that each hold on their own (probe_timeout_ms
 * at most probe_interval_ms). `settings set', the load at start and a restore
 * all check a whole struct settings here. Returns 0, or -EINVAL with a
 * message naming the keys and their values in err.
 */
int settings_check(const struct settings *s, char *err, size_t errlen);

/*
 * For stored settings that fail settings_check (a database edited by hand, or
 * a restore by an older drover, which did not check): gives every key of
 * each broken rule its default, as the load does for a stored value that no
 * longer parses, so that s then passes. Returns how many rules were broken
 * (0: s untouched); err then names the first rule, its values and the keys
 * reset.
 */
size_t settings_check_reset(struct settings *s, char *err, size_t errlen);

/*
 * Writes the canonical text of key's value in s (what settings_set would
 * accept back, e.g. "80,443", "10.0.0.0/8", "auto"). Returns false for an
 * unknown key or a buffer too small.
 */
bool settings_format(const struct settings *s, const char *key, char *buf, size_t len);

const char *settings_type_name(enum setting_type type);
/* "cluster" or "node". */
const char *settings_scope_name(enum setting_scope scope);
/* True when key is a setting whose scope is SETTING_SCOPE_NODE. */
bool settings_is_node_scoped(const char *key);
const char *cluster_role_name(enum cluster_role role);

/* "vip" or "aws-route"; "unknown" outside the enum. */
const char *ha_backend_name(enum ha_backend b);
const char *no_proxy_policy_name(enum no_proxy_policy p);

/* Shared parsers, also used for proxy addresses. */
bool settings_parse_ipv4(const char *text, uint32_t *out);
bool settings_parse_cidr(const char *text, struct cidr *out);
/* "2001:db8::/32": an IPv6 prefix of 0..128 with its host bits clear. */
bool settings_parse_cidr6(const char *text, struct cidr6 *out);
/* "a.b.c.d:port" with a port of 1..65535; addr in network byte order. */
bool settings_parse_listen(const char *text, uint32_t *addr, uint16_t *port);

#endif
