/* metrics.c - the Prometheus text format from the API's stats reply. */
#include "metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Label values: backslash, double quote and newline escaped as the format demands. */
static void metrics_label(FILE *out, const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
}

static void metrics_family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static json_int_t metrics_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* A family of one unlabelled series: its HELP and TYPE lines, then its value. */
static void metrics_one(FILE *out, const char *name, const char *type, const char *help,
			json_int_t value)
{
	metrics_family(out, name, type, help);
	fprintf(out, "%s %" JSON_INTEGER_FORMAT "\n", name, value);
}

/* Metric names take [a-zA-Z0-9_]; the counter names already do, this keeps it so. */
static bool metrics_name_ok(const char *name)
{
	if (name[0] == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

struct metrics_proxy_metric {
	const char *name;
	const char *type;
	const char *key; /* in the stats reply's proxy object */
	const char *help;
};

static const struct metrics_proxy_metric metrics_proxy_table[] = {
    {"drover_proxy_hits_total", "counter", "hits", "Clients sent to the proxy (new flows)."},
    {"drover_proxy_packets_total", "counter", "packets", "Packets tunnelled to the proxy."},
    {"drover_proxy_bytes_total", "counter", "bytes", "Bytes tunnelled to the proxy."},
    {"drover_proxy_active_clients", "gauge", "active_clients",
     "Clients pinned to the proxy in the affinity table."},
    {"drover_proxy_weight", "gauge", "weight", "Configured Maglev weight."},
    {"drover_proxy_state_changes_total", "counter", "state_changes",
     "Health state changes (up/down) of the proxy."},
    {"drover_proxy_checks_total", "counter", "checks", "Health probes run."},
    {"drover_proxy_failed_checks_total", "counter", "failed_checks", "Health probes failed."},
    {"drover_proxy_local_checks_total", "counter", "local_checks",
     "Health probes that failed for want of the appliance's own resources (LOCAL)."},
};

/* Squid's own figures (the API's "squid"), one gauge each; the scale turns them into base units. */
static const struct {
	const char *name;
	const char *type;
	const char *key;
	double scale;
	const char *help;
} metrics_squid_table[] = {
    {"drover_proxy_squid_requests_per_second", "gauge", "requests_per_second", 1.0,
     "Requests Squid finished per second between drover's last two reads of its cache manager "
     "(drover's reads left out)."},
    {"drover_proxy_squid_hit_ratio", "gauge", "hit_ratio", 1.0,
     "Squid's cache hit ratio over 5 minutes, 0 to 1."},
    {"drover_proxy_squid_clients", "gauge", "clients", 1.0, "Clients in Squid's client table."},
    {"drover_proxy_squid_median_service_seconds", "gauge", "median_service_ms", 0.001,
     "Squid's median service time of all HTTP requests over 5 minutes."},
    {"drover_proxy_squid_requests_total", "counter", "requests", 1.0,
     "Requests Squid counted since it started, drover's reads of its cache manager left out."},
    {"drover_proxy_squid_age_seconds", "gauge", "age_s", 1.0,
     "Seconds since Squid's figures were read."},
};

/* The proxy's name as a label value, and the closing of the label set. */
static void metrics_proxy_label(FILE *out, const char *name, json_t *p)
{
	fprintf(out, "%s{proxy=\"", name);
	metrics_label(out, json_string_value(json_object_get(p, "name")) ?: "");
	fputs("\"} ", out);
}

/*
 * Proxies with squid_stats on only: whether the last read of the cache
 * manager gave figures, then the figures once a read ever did.
 */
static void metrics_squid(FILE *out, json_t *proxies)
{
	json_t *p;
	size_t i;

	metrics_family(out, "drover_proxy_squid_read_ok", "gauge",
		       "1 when drover's last read of the proxy's Squid cache manager gave its "
		       "figures; 0: refused, timed out or unreadable (never a health matter). "
		       "Proxies with squid_stats on only.");
	json_array_foreach(proxies, i, p)
	{
		json_t *sq = json_object_get(p, "squid");

		if (!json_is_object(sq))
			continue;
		metrics_proxy_label(out, "drover_proxy_squid_read_ok", p);
		fprintf(out, "%d\n", json_is_true(json_object_get(sq, "ok")) ? 1 : 0);
	}
	for (size_t m = 0; m < sizeof(metrics_squid_table) / sizeof(metrics_squid_table[0]); m++) {
		metrics_family(out, metrics_squid_table[m].name, metrics_squid_table[m].type,
			       metrics_squid_table[m].help);
		json_array_foreach(proxies, i, p)
		{
			json_t *sq = json_object_get(p, "squid");

			if (!json_is_object(sq) ||
			    metrics_int(sq, "reads") <= metrics_int(sq, "failures"))
				continue; /* never read: no figures to report */
			metrics_proxy_label(out, metrics_squid_table[m].name, p);
			fprintf(out, "%.15g\n",
				json_number_value(json_object_get(sq, metrics_squid_table[m].key)) *
				    metrics_squid_table[m].scale);
		}
	}
}

static void metrics_proxies(FILE *out, json_t *proxies)
{
	json_t *p;
	size_t i;

	for (size_t m = 0; m < sizeof(metrics_proxy_table) / sizeof(metrics_proxy_table[0]); m++) {
		const struct metrics_proxy_metric *d = &metrics_proxy_table[m];

		metrics_family(out, d->name, d->type, d->help);
		json_array_foreach(proxies, i, p)
		{
			fprintf(out, "%s{proxy=\"", d->name);
			metrics_label(out, json_string_value(json_object_get(p, "name")) ?: "");
			fprintf(out, "\"} %" JSON_INTEGER_FORMAT "\n", metrics_int(p, d->key));
		}
	}
	metrics_family(out, "drover_proxy_up", "gauge",
		       "1 when the proxy passes its health checks and takes clients.");
	json_array_foreach(proxies, i, p)
	{
		fputs("drover_proxy_up{proxy=\"", out);
		metrics_label(out, json_string_value(json_object_get(p, "name")) ?: "");
		fprintf(out, "\"} %d\n", json_is_true(json_object_get(p, "up")) ? 1 : 0);
	}
	metrics_family(out, "drover_proxy_ipv6_up", "gauge",
		       "1 when the proxy's IPv6 address passes its health checks (its IPv6 clients "
		       "go in IPv6-in-IPv6); 0: in IPv6-in-IPv4 meanwhile. Proxies with an IPv6 "
		       "address only.");
	json_array_foreach(proxies, i, p)
	{
		json_t *h6 = json_object_get(p, "health6");

		if (!json_is_object(h6))
			continue;
		fputs("drover_proxy_ipv6_up{proxy=\"", out);
		metrics_label(out, json_string_value(json_object_get(p, "name")) ?: "");
		fprintf(out, "\"} %d\n", json_is_true(json_object_get(h6, "up")) ? 1 : 0);
	}
	metrics_family(out, "drover_proxy_admin_state", "gauge",
		       "1 for the proxy's admin state (enabled, drain, disabled).");
	json_array_foreach(proxies, i, p)
	{
		static const char *const states[] = {"enabled", "drain", "disabled"};
		const char *admin = json_string_value(json_object_get(p, "admin")) ?: "";

		for (size_t s = 0; s < 3; s++) {
			fputs("drover_proxy_admin_state{proxy=\"", out);
			metrics_label(out, json_string_value(json_object_get(p, "name")) ?: "");
			fprintf(out, "\",state=\"%s\"} %d\n", states[s],
				strcmp(admin, states[s]) == 0);
		}
	}
	metrics_family(out, "drover_proxy_check_duration_seconds", "gauge",
		       "Duration of the last health probe.");
	json_array_foreach(proxies, i, p)
	{
		if (json_object_get(p, "last_check_ms") == NULL)
			continue; /* never probed: no duration to report */
		fputs("drover_proxy_check_duration_seconds{proxy=\"", out);
		metrics_label(out, json_string_value(json_object_get(p, "name")) ?: "");
		fprintf(out, "\"} %.3f\n", (double)metrics_int(p, "last_check_ms") / 1000.0);
	}
	metrics_squid(out, proxies);
}

static void metrics_global(FILE *out, json_t *global)
{
	const char *key;
	json_t *v;

	json_object_foreach(global, key, v)
	{
		char name[128];

		/* Gauges, below; everything else here only ever grows. */
		if (!json_is_integer(v) || !metrics_name_ok(key) || strcmp(key, "queues") == 0 ||
		    strcmp(key, "fast_clients") == 0)
			continue;
		if (strncmp(key, "kernel_", 7) == 0)
			snprintf(name, sizeof(name), "drover_%s_total", key);
		else
			snprintf(name, sizeof(name), "drover_datapath_%s_total", key);
		metrics_family(out, name, "counter",
			       strncmp(key, "kernel_", 7) == 0
				   ? "Packets the kernel dropped before droverd read them."
				   : "Datapath counter, summed over the packet threads.");
		fprintf(out, "%s %" JSON_INTEGER_FORMAT "\n", name, json_integer_value(v));
	}
	metrics_family(out, "drover_datapath_malformed_by_reason_total", "counter",
		       "Packets that failed parsing, by reason.");
	json_object_foreach(json_object_get(global, "malformed_by_reason"), key, v)
	{
		fputs("drover_datapath_malformed_by_reason_total{reason=\"", out);
		metrics_label(out, key);
		fprintf(out, "\"} %" JSON_INTEGER_FORMAT "\n",
			json_is_integer(v) ? json_integer_value(v) : 0);
	}
	metrics_one(out, "drover_queues", "gauge", "NFQUEUE queues bound now.",
		    metrics_int(global, "queues"));
	const char *fast = json_string_value(json_object_get(global, "fast_path"));
	metrics_one(out, "drover_fast_path_up", "gauge",
		    "1 while the kernel fast path is attached, else 0.",
		    fast != NULL && strcmp(fast, "on") == 0);
	metrics_one(out, "drover_fast_path_clients", "gauge",
		    "Clients the kernel fast path held records for at the last tick.",
		    metrics_int(global, "fast_clients"));
}

/* Which program sees each interface's clients first: an info gauge per interface. */
static void metrics_fast_paths(FILE *out, json_t *paths)
{
	size_t i;
	json_t *p;

	if (!json_is_array(paths))
		return;
	metrics_family(out, "drover_fast_path_interface_info", "gauge",
		       "1 per interface the fast path is attached to, labelled with the program "
		       "that sees its clients' packets first: xdp (native, tc behind it) or tc.");
	json_array_foreach(paths, i, p)
	{
		fputs("drover_fast_path_interface_info{interface=\"", out);
		metrics_label(out, json_string_value(json_object_get(p, "interface")) ?: "");
		fputs("\",path=\"", out);
		metrics_label(out, json_string_value(json_object_get(p, "path")) ?: "");
		fputs("\"} 1\n", out);
	}
}

/*
 * The mapping two appliances compare: the table's digest and the hash key's
 * fingerprint as labels of an info gauge (equal labels on two appliances:
 * every client goes to the same proxy on both), and the generation.
 */
static void metrics_mapping(FILE *out, json_t *mapping)
{
	if (!json_is_object(mapping))
		return;
	metrics_family(
	    out, "drover_maglev_table_info", "gauge",
	    "1, labelled with the Maglev table's digest (as proxy addresses) and the hash "
	    "key's fingerprint; equal on appliances that map every client alike.");
	fputs("drover_maglev_table_info{digest=\"", out);
	metrics_label(out, json_string_value(json_object_get(mapping, "table_digest")) ?: "");
	fputs("\",hash_key=\"", out);
	metrics_label(out, json_string_value(json_object_get(mapping, "hash_key_id")) ?: "");
	fputs("\"} 1\n", out);
	metrics_one(out, "drover_maglev_table_size", "gauge", "Entries of the Maglev table.",
		    metrics_int(mapping, "table_size"));
	metrics_one(out, "drover_maglev_table_proxies", "gauge",
		    "Proxies in the Maglev table (taking new clients).",
		    metrics_int(mapping, "table_proxies"));
	metrics_one(out, "drover_snapshot_generation", "gauge",
		    "Pool snapshots this droverd has built; grows at every configuration or "
		    "health change (local: compare digests, not these).",
		    metrics_int(mapping, "generation"));
}

static const char *const metrics_vrrp_states[] = {"MASTER", "BACKUP", "FAULT", "STOP", "UNKNOWN"};
static const char *const metrics_roles[] = {"standalone", "primary", "replica"};

/* One peer's gauge: name{peer="node",role="..."} value. */
static void metrics_peer(FILE *out, const char *name, json_t *peer, const char *role,
			 json_int_t value)
{
	fprintf(out, "%s{peer=\"", name);
	metrics_label(out, json_string_value(json_object_get(peer, "node")) ?: "");
	fprintf(out, "\",role=\"%s\"} %" JSON_INTEGER_FORMAT "\n", role, value);
}

/*
 * Deviations (clients kept off the table's choice) told to peers and learnt
 * from them: what was exported, what did not fit, and what each merge did.
 */
static void metrics_deviations(FILE *out, json_t *d)
{
	static const char *const results[] = {"imported",	 "refreshed",	 "kept",
					      "refused_unknown", "refused_full", "expired"};

	if (!json_is_object(d))
		return;
	metrics_one(out, "drover_cluster_deviations", "gauge",
		    "Active clients kept off the Maglev table's choice, told to peers.",
		    metrics_int(d, "exported"));
	metrics_one(out, "drover_cluster_deviations_not_exported", "gauge",
		    "Deviations past the export cap at the last export (peers not told).",
		    metrics_int(d, "not_exported"));
	metrics_one(out, "drover_cluster_deviations_sent_total", "counter",
		    "Deviations sent to peers.", metrics_int(d, "sent"));
	metrics_family(out, "drover_cluster_peer_deviations_total", "counter",
		       "Peers' deviations merged here, by what the merge did.");
	for (size_t r = 0; r < sizeof(results) / sizeof(results[0]); r++)
		fprintf(out,
			"drover_cluster_peer_deviations_total{result=\"%s\"} %" JSON_INTEGER_FORMAT
			"\n",
			results[r], metrics_int(d, results[r]));
}

/*
 * The cluster: the replicated configuration's generation, this node's role
 * and VRRP state (one series per state, 1 for the one in force), and each
 * peer (a replica's primary, a primary's replicas) with its generation,
 * whether it agrees with this node (same generation and table digest) and
 * how long ago it was heard from.
 */
static void metrics_cluster(FILE *out, json_t *cluster)
{
	const char *role = json_string_value(json_object_get(cluster, "role")) ?: "";
	const char *vrrp = json_string_value(json_object_get(cluster, "vrrp")) ?: "";
	json_t *primary = json_object_get(cluster, "primary"), *peers, *p;
	size_t i;

	if (!json_is_object(cluster))
		return;
	metrics_one(out, "drover_config_generation", "gauge",
		    "Generation of the replicated configuration: equal on a primary and its "
		    "replicas that hold the same configuration.",
		    metrics_int(cluster, "config_generation"));
	metrics_family(out, "drover_cluster_role", "gauge",
		       "1 for this appliance's cluster role (standalone, primary, replica).");
	for (size_t r = 0; r < sizeof(metrics_roles) / sizeof(metrics_roles[0]); r++)
		fprintf(out, "drover_cluster_role{role=\"%s\"} %d\n", metrics_roles[r],
			strcmp(role, metrics_roles[r]) == 0);
	metrics_family(out, "drover_vrrp_state", "gauge",
		       "1 for the VRRP state keepalived last reported (UNKNOWN: none yet).");
	for (size_t v = 0; v < sizeof(metrics_vrrp_states) / sizeof(metrics_vrrp_states[0]); v++)
		fprintf(out, "drover_vrrp_state{state=\"%s\"} %d\n", metrics_vrrp_states[v],
			strcmp(vrrp, metrics_vrrp_states[v]) == 0);
	if (json_is_object(primary)) {
		metrics_one(out, "drover_cluster_primary_reachable", "gauge",
			    "1 when the last pull from the primary got an answer.",
			    json_is_true(json_object_get(primary, "reachable")));
		metrics_one(out, "drover_cluster_snapshots_applied_total", "counter",
			    "Snapshots of the primary's configuration applied.",
			    metrics_int(primary, "applied"));
		metrics_one(out, "drover_cluster_snapshots_refused_total", "counter",
			    "Snapshots of the primary refused by the checks (nothing changed).",
			    metrics_int(primary, "refused"));
	}
	peers = json_object_get(cluster, "peers");
	metrics_family(out, "drover_cluster_peer_generation", "gauge",
		       "A peer's configuration generation, as it last said.");
	if (json_is_object(primary) && json_object_get(primary, "node") != NULL)
		metrics_peer(out, "drover_cluster_peer_generation", primary, "primary",
			     metrics_int(primary, "generation"));
	json_array_foreach(peers, i, p) metrics_peer(out, "drover_cluster_peer_generation", p,
						     "replica", metrics_int(p, "generation"));
	metrics_family(out, "drover_cluster_peer_agree", "gauge",
		       "1 when the peer holds this appliance's generation and table digest.");
	if (json_is_object(primary) && json_object_get(primary, "node") != NULL)
		metrics_peer(out, "drover_cluster_peer_agree", primary, "primary",
			     json_is_true(json_object_get(primary, "agree")));
	json_array_foreach(peers, i, p) metrics_peer(out, "drover_cluster_peer_agree", p, "replica",
						     json_is_true(json_object_get(p, "agree")));
	metrics_family(out, "drover_cluster_peer_last_seen_seconds", "gauge",
		       "Seconds since the peer was last heard from.");
	if (json_is_object(primary) && json_object_get(primary, "node") != NULL)
		metrics_peer(out, "drover_cluster_peer_last_seen_seconds", primary, "primary",
			     metrics_int(primary, "seen_seconds_ago"));
	json_array_foreach(peers, i, p)
	    metrics_peer(out, "drover_cluster_peer_last_seen_seconds", p, "replica",
			 metrics_int(p, "seen_seconds_ago"));
	metrics_deviations(out, json_object_get(cluster, "deviations"));
}

char *metrics_render(json_t *stats, const char *version)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (out == NULL)
		return NULL;
	metrics_family(out, "drover_build_info", "gauge", "Version of the running droverd.");
	fputs("drover_build_info{version=\"", out);
	metrics_label(out, version);
	fputs("\"} 1\n", out);
	metrics_global(out, json_object_get(stats, "global"));
	metrics_fast_paths(out, json_object_get(stats, "fast_path_paths"));
	metrics_mapping(out, json_object_get(stats, "mapping"));
	metrics_cluster(out, json_object_get(stats, "cluster"));
	metrics_proxies(out, json_object_get(stats, "proxies"));
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
