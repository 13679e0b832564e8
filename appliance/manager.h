/*
 * manager.h - droverd's control plane: owns the store, the settings, the
 * proxy list and their slots, and turns every change into a new snapshot for
 * the datapath (and new rules when droverd manages them). Runs on the
 * control thread only.
 *
 * Error contract: int functions return 0 or -errno with a user-facing
 * message in err; the store is written before anything is applied, so a
 * refused change leaves no trace.
 */
#ifndef DROVER_MANAGER_H
#define DROVER_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "datapath.h"
#include "deviation.h"
#include "health.h"
#include "probe.h"
#include "pool.h"
#include "proxy.h"
#include "settings.h"
#include "squid_stats.h"
#include "store.h"

#define MANAGER_ERR_MAX 512

struct event_base;

struct manager; /* the manager's own: outside manager.c only pointers to it are held */

struct manager_options {
	const char *db_path;
	bool manage_rules;
	struct event_base *base; /* the control loop: probes run on it */
	bool fast_path; /* may load the kernel fast path (droverd; not the tests' harnesses) */
	/*
	 * Where the fast path is pinned so that it outlives droverd (and is
	 * taken over at start, see fastpath_open_pinned); NULL: not pinned.
	 */
	const char *fast_path_pin_dir;
	/*
	 * The seam for running a manager without NFQUEUE (unit tests, fuzz
	 * harnesses, no root needed). NULL, as droverd leaves it: queues
	 * [base, base + count) are bound and a packet thread runs on each. Set:
	 * called instead, after the same range check; the manager does
	 * everything else the same way (store, snapshots, settings, rules text).
	 * Returns 0 or -errno with a message in err.
	 */
	int (*queue_binder)(void *arg, uint16_t base, unsigned count, char *err, size_t errlen);
	void *queue_binder_arg;
	/* Called after a setting was stored and applied, for parts outside the manager. */
	void (*setting_hook)(void *arg, const char *key);
	void *setting_hook_arg;
};

/*
 * Opens the store in opt->db_path, loads the settings and proxies, publishes
 * the first snapshot, then (as opt asks) starts the probes, binds the queues
 * and installs the rules. Returns the manager, or NULL with a message in err
 * (nothing is left running or open then).
 */
struct manager *manager_start(const struct manager_options *opt, char *err, size_t errlen);

/*
 * Takes the fast path and the rules off, stops the packet threads and
 * probes, closes the store, frees m: the stop of `systemctl stop'.
 */
void manager_stop(struct manager *m);

/*
 * What a finished probe of proxy id does (the prober calls it; tests may
 * drive it): counts it; when the proxy's up/down flips, logs, audits and
 * publishes once; stores the proxy's verdict when it differs from the one
 * stored (never per probe); ends the start-up settling when due. An id not
 * in the pool is ignored. Control loop only.
 */
void manager_probe_done(struct manager *m, int64_t id, enum check_result result,
			uint32_t duration_ms);

/*
 * The same for a probe of proxy id's IPv6 address: counts it in the proxy's
 * IPv6 health; when that flips, logs, audits (proxy.ipv6-down / -up) and
 * publishes once: while down, the proxy's IPv6 clients go in IPv6-in-IPv4
 * to its IPv4 address (the same proxy, no client moves); the proxy's own
 * up/down (its IPv4 probes) is untouched. Not stored. An id not in the pool,
 * or without an IPv6 address, is ignored. Control loop only.
 */
void manager_probe6_done(struct manager *m, int64_t id, enum check_result result,
			 uint32_t duration_ms);

/*
 * manager_stop, but the pinned fast path stays attached, carrying the
 * clients it knows for the grace, for the next droverd to take over: the
 * stop of a restart (or an upgrade). The rules go as in manager_stop.
 * Without a pinned fast path, the same as manager_stop.
 */
void manager_leave(struct manager *m);

/* Periodic work: affinity sweep and active-client counts, drain completion, snapshot reclaim. */
void manager_tick(struct manager *m);

/* Proxy operations, stored then applied live. actor names who asked, for the audit log. */
int manager_proxy_add(struct manager *m, struct proxy_config *p, const char *actor, char *err,
		      size_t errlen);
int manager_proxy_update(struct manager *m, struct proxy_config *p, int64_t expected_version,
			 const char *actor, char *err, size_t errlen);
int manager_proxy_delete(struct manager *m, int64_t id, int64_t expected_version, const char *actor,
			 char *err, size_t errlen);
const struct proxy_config *manager_proxy_find(const struct manager *m, int64_t id, uint16_t *slot);

/* ---- a preview of a proxy change (manager_preview.c) ---- */

/* What a change does to one proxy: the table entries it owns, the active clients it loses and
 * gains. */
struct manager_preview_proxy {
	int64_t id; /* 0: the proxy an add would create */
	char name[PROXY_NAME_MAX + 1];
	uint32_t address;      /* network byte order */
	uint32_t slots_before; /* Maglev entries it owns now */
	uint32_t slots_after;  /* ... after the change */
	uint32_t slots_gained; /* entries it would own that another owns now */
	uint32_t slots_lost;   /* entries it owns now that another (or none) would own */
	uint64_t clients_from; /* active clients that would leave it */
	uint64_t clients_to;   /* active clients that would come to it */
};

/*
 * What a proxy change would move, computed off the packet path from the
 * same snapshot build the change runs (pool_snapshot_build over the members
 * manager_publish gives it), against the snapshot in force and the
 * affinity table as it is now.
 */
struct manager_preview {
	uint32_t table_size;	  /* Maglev entries */
	uint32_t entries_moved;	  /* entries whose proxy changes */
	uint32_t table_proxies;	  /* proxies in the table after the change */
	uint64_t active_clients;  /* live affinity entries walked */
	uint64_t clients_moved;	  /* active clients whose proxy would change */
	uint64_t clients_to_none; /* ... of which no proxy would take (no_proxy_policy) */
	/*
	 * ... of which the new proxy cannot be told: IPv6 clients are held
	 * under a tag of their hash, not their address.
	 */
	uint64_t clients_to_unknown;
	/*
	 * The proxy the change concerns starts its health afresh (added,
	 * re-addressed, back from disabled): counted as up, as it is once it
	 * passes probe_rise probes.
	 */
	bool assumes_up;
	struct manager_preview_proxy *proxies; /* every proxy before or after, by id (new last) */
	size_t nproxies;
};

/*
 * What manager_proxy_add(m, p, ...) would move, changing nothing (no store
 * write, no audit entry, no generation, no snapshot published). Refuses
 * what the change would refuse for the same reasons it can know without
 * writing: a replica (-EROFS), an address or name in use (-EEXIST).
 * Returns 0 with *out filled (free it with manager_preview_free), or -errno
 * with a message in err. Control thread.
 */
int manager_preview_add(struct manager *m, const struct proxy_config *p,
			struct manager_preview *out, char *err, size_t errlen);

/*
 * The same for manager_proxy_update (p->id names the proxy; -ENOENT, -ESTALE
 * when expected_version is not 0 and not the proxy's version, -EEXIST).
 */
int manager_preview_update(struct manager *m, const struct proxy_config *p,
			   int64_t expected_version, struct manager_preview *out, char *err,
			   size_t errlen);

/* The same for manager_proxy_delete (-ENOENT, -ESTALE). */
int manager_preview_delete(struct manager *m, int64_t id, int64_t expected_version,
			   struct manager_preview *out, char *err, size_t errlen);

void manager_preview_free(struct manager_preview *pv);

/* The steps of a live setting apply (enum setting_apply, all but WEB_LISTENER). */
#define MANAGER_APPLY_STEPS 9

/*
 * The steps a setting with apply flags runs when it changes live, in the
 * order they run (documented above manager_apply_setting_live): flags
 * outside the manager's steps are left out, and RULES when QUEUES moves the
 * rules itself. Returns the number of steps written.
 */
size_t manager_apply_plan(unsigned flags, enum setting_apply steps[MANAGER_APPLY_STEPS]);

int manager_setting_set(struct manager *m, const char *key, const char *value, const char *actor,
			char *err, size_t errlen);

enum manager_lookup_reason {
	MANAGER_LOOKUP_NONE,	 /* no proxy would take the client */
	MANAGER_LOOKUP_AFFINITY, /* an active client: its affinity entry */
	MANAGER_LOOKUP_TABLE,	 /* a new or idle client: the Maglev table */
};

/* A consistent copy of the configuration database in path (absolute); see store_backup. */
int manager_backup(struct manager *m, const char *path, int64_t *bytes, char *err, size_t errlen);

struct manager_restore_result {
	int file_version;	   /* schema version of the restored file */
	unsigned settings_changed; /* settings whose value changed, applied live */
	size_t proxies;		   /* proxies in force now */
	bool restart_needed;	   /* something stored differs from what runs until a restart */
	char restart_reason[160];
};

/*
 * Replaces the configuration with the backup in path (absolute), checked as
 * store_restore describes, then applies it live: every changed setting as
 * `settings set' would, and the proxy list. The one thing not applied live is
 * a different hash key (it would move every client at once): the running key
 * stays until the next restart, and the result says so.
 */
int manager_restore(struct manager *m, const char *path, const char *actor,
		    struct manager_restore_result *res, char *err, size_t errlen);

/*
 * A replica applies its primary's snapshot (path: a file it downloaded)
 * through the same path as manager_restore, with three differences: the
 * file must hold generation (else it is refused and nothing changes), this
 * appliance keeps its node-scoped settings, accounts, tokens and audit log
 * (store_restore_as, STORE_RESTORE_REPLICA), and a different hash key is
 * applied at once, logged: a replica that mapped clients differently from
 * its primary would be worse than one that moves them once.
 */
int manager_replicate(struct manager *m, const char *path, uint64_t generation,
		      struct manager_restore_result *res, char *err, size_t errlen);

/* ---- the cluster (manager_cluster.c) ---- */

/* The replicated configuration's generation (store_generation); 0 when unreadable. */
uint64_t manager_config_generation(struct manager *m);

/* This appliance as it describes itself to its peers: name, generation, digest, VRRP state. */
void manager_cluster_self(struct manager *m, struct cluster_node *out);

/* Records keepalived's state (droverctl cluster vrrp STATE); logged and audited when it changes. */
void manager_cluster_vrrp_set(struct manager *m, enum cluster_vrrp state, const char *actor);

/* A primary heard from replica n (its pull): kept for the cluster view. */
void manager_cluster_peer_seen(struct manager *m, const struct cluster_node *n);

/* What this appliance told its peers of its deviations and learnt of theirs. */
struct manager_deviation_view {
	size_t exported;       /* deviations in the last export (what peers are told) */
	uint64_t not_exported; /* past the cap in the last export, or the last request's room */
	uint64_t sent;	       /* deviations sent to peers, in all */
	uint64_t exchanges;    /* lists exchanged with a peer */
	struct deviation_merge_stats merged;
};

/* The cluster as this appliance sees it. */
struct manager_cluster_view {
	enum cluster_role role;
	struct cluster_node self;
	char hash_key_id[2 * POOL_KEY_ID_BYTES + 1];
	char primary_url[SETTINGS_TEXT_MAX];
	struct cluster_primary primary; /* a replica's primary */
	struct cluster_peers peers;	/* a primary's replicas */
	struct manager_deviation_view deviations;
};

void manager_cluster_view(struct manager *m, struct manager_cluster_view *out);

/* "COUNT-DIGEST" of this appliance's deviations now, for the X-Drover-Deviations header. */
void manager_cluster_deviations_tag(struct manager *m, char *out, size_t len);

/*
 * A peer's deviations in text form (deviation_format; len bytes) merged into
 * this appliance's affinity table; *reply (valid until the next tick) and
 * *reply_len get this appliance's own. -EINVAL with why in err when the text
 * does not parse (nothing merged); -EROFS on a standalone appliance.
 */
int manager_cluster_deviations_exchange(struct manager *m, const char *text, size_t len,
					const char **reply, size_t *reply_len, char *err,
					size_t errlen);

/*
 * A primary's snapshot for its replicas (store_snapshot), made again only
 * when the generation moved: *data (valid until the next call), *len, its
 * generation and BLAKE2b-256 digest (hex). -errno with a message in err.
 */
int manager_cluster_snapshot(struct manager *m, const uint8_t **data, size_t *len,
			     uint64_t *generation, const char **digest, char *err, size_t errlen);

/*
 * True when a replica that holds generation have, from a snapshot whose
 * digest (hex) is digest, holds exactly what manager_cluster_snapshot would
 * send now: the same generation and the same snapshot. A replica that does
 * not say its digest (NULL: just restarted) is sent the snapshot again, so
 * that two appliances that reached one generation number by different
 * changes (a promotion gone wrong) never pass for equal.
 */
bool manager_cluster_current(struct manager *m, uint64_t have, const char *digest);

/* Which proxy serves client (network byte order), and why. *proxy NULL when none. */
enum manager_lookup_reason manager_lookup(struct manager *m, uint32_t client,
					  const struct proxy_config **proxy, uint32_t *idle);

/*
 * Which proxy serves the IPv6 client at addr (16 bytes as on the wire), and
 * why: as manager_lookup, the client widened to ipv6_client_prefix.
 */
enum manager_lookup_reason manager_lookup6(struct manager *m, const uint8_t addr[16],
					   const struct proxy_config **proxy, uint32_t *idle);

/* The ruleset droverd would install, for --print-rules and for operators who manage rules
 * themselves. */
int manager_render_rules(const struct manager *m, char *buf, size_t len);

/*
 * The packet path's view of the proxy in slot: its outer source and tunnel
 * MTU as the current snapshot has them. NULL when the slot is not in it.
 */
const struct pool_target *manager_proxy_target(const struct manager *m, uint16_t slot);

unsigned manager_effective_queues(const struct settings *s);

/* The settings in force. Valid until the next change on the control thread. */
const struct settings *manager_settings(const struct manager *m);

/*
 * The configuration store, for the modules that own a part of it outside the
 * manager (accounts, tokens, the audit log). Control thread only.
 */
struct store *manager_store(struct manager *m);

/* ---- the read side: what the API layer shows, copied out (control thread only) ---- */

/* One proxy: its stored configuration and what runs for it now. */
struct manager_proxy_view {
	struct proxy_config config;
	uint16_t slot;		 /* 0: it has no slot and takes no clients */
	enum probe_kind probe;	 /* the probe kind in force: its own, or the pool's */
	struct health health;	 /* valid with a slot; stale while disabled (not probed) */
	struct health health6;	 /* its IPv6 address's, with address6 and a slot */
	uint32_t active_clients; /* live affinity entries at the last sweep */
	struct datapath_slot_counters counters; /* hits, packets, bytes since it got its slot */
	/* Squid's own figures, with config.squid_stats only (squid_stats.h). */
	struct squid_stats_view squid;
};

/* Number of proxies in force; views 0..count-1 are in id order. */
size_t manager_proxy_count(const struct manager *m);

/* Fills *out with the proxy at index i (< manager_proxy_count). */
void manager_proxy_view_at(const struct manager *m, size_t i, struct manager_proxy_view *out);

/* Fills *out with proxy id. Returns 0, or -ENOENT when there is no such proxy. */
int manager_proxy_view(const struct manager *m, int64_t id, struct manager_proxy_view *out);

/* A counter with the name the API and the metrics show it under. */
struct manager_counter {
	const char *name;
	uint64_t value;
};

/* Malformed packets are counted by reason, IPv4's then IPv6's; PACKET_OK is none. */
#define MANAGER_MALFORMED_REASONS (PACKET_ERR_COUNT - 1 + PACKET6_ERR_COUNT - 1)
#define MANAGER_FAST_PATH_ERR_MAX 160

/* The appliance's own counters and state, as droverctl stats shows them. */
struct manager_stats {
	struct manager_counter counters[DP_COUNTER_COUNT]; /* packet threads and fast path */
	struct manager_counter malformed[MANAGER_MALFORMED_REASONS];
	uint64_t kernel_queue_full_drops;  /* the kernel's drops: queue full */
	uint64_t kernel_socket_full_drops; /* ... netlink socket full */
	unsigned queues;		   /* queues bound now */
	bool fast_path_on;		   /* the kernel fast path is attached */
	/* Why the fast path is not running although the setting asks for it; "" otherwise. */
	char fast_path_error[MANAGER_FAST_PATH_ERR_MAX];
	uint64_t fast_clients; /* clients the kernel fast path carries (0 when never loaded) */
	/* The mapping, as two appliances compare it (zero before the first snapshot). */
	uint8_t table_digest[MAGLEV_DIGEST_BYTES];
	uint8_t key_id[POOL_KEY_ID_BYTES];
	uint32_t table_size;	/* Maglev table entries */
	uint32_t table_proxies; /* proxies in the table (taking new clients) */
	uint64_t generation;	/* snapshots this droverd has built: grows at every change */
};

/* Fills *out with the counters summed over every packet thread, and the state beside them. */
void manager_stats(const struct manager *m, struct manager_stats *out);

/*
 * A page of the audit log, newest first: up to limit entries older than
 * entry id before (0: from the newest). *entries is malloc'd (free it).
 * Returns 0, or -errno with a message in err.
 */
int manager_audit_page(struct manager *m, int64_t before, size_t limit,
		       struct audit_entry **entries, size_t *n, char *err, size_t errlen);

/* True when droverd installs and removes the firewall rules itself (--manage-rules). */
bool manager_rules_managed(const struct manager *m);

/*
 * The interfaces the fast path is attached to (fastpath_interfaces): at most
 * max indexes into ifindex, their number returned; 0 when it is off or failed.
 */
unsigned manager_fast_path_interfaces(const struct manager *m, int *ifindex, unsigned max);
/* Which program sees ifindex's clients first; why: errno of a failed native XDP attach, or 0. */
enum fastpath_path manager_fast_path_interface_path(const struct manager *m, int ifindex, int *why);

/*
 * The snapshot the packet threads read now; NULL before the first publish.
 * Valid until the next change on the control thread.
 */
const struct pool_snapshot *manager_snapshot(const struct manager *m);

/* Bursts handled by the slowest-moving packet thread (0 with none): for the watchdog. */
uint64_t manager_progress(const struct manager *m);

#endif
