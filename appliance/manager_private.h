/*
 * manager_private.h - the manager's own state and the steps its files share:
 * manager.c (lifecycle, proxies, probes, publishing snapshots),
 * manager_setting.c (how a changed setting applies, backup, restore) and
 * manager_view.c (the read-side face every client of the manager goes
 * through). Only manager*.c include it.
 */
#ifndef DROVER_MANAGER_PRIVATE_H
#define DROVER_MANAGER_PRIVATE_H

#include "cluster.h"
#include "deviation.h"
#include "manager.h"
#include "replica.h"
#include "squid_stats.h"

struct replica;
struct event;

/* What the store holds as a proxy's last known health (store_health_*). */
enum manager_health_stored {
	MANAGER_HEALTH_STORED_NONE, /* no verdict stored: never seen, moved, re-enabled */
	MANAGER_HEALTH_STORED_DOWN,
	MANAGER_HEALTH_STORED_UP,
};

/* Runtime state of a slot's proxy (only the last verdict is stored, on change). */
struct manager_slot_state {
	struct health health;
	uint32_t address; /* the address the health belongs to */
	/*
	 * The IPv6 address's own probes (with address6 set): while they fail,
	 * the proxy's IPv6 clients reach it in IPv6-in-IPv4 instead of
	 * IPv6-in-IPv6; the proxy stays up for everyone as health says.
	 */
	struct health health6;
	uint8_t address6[PROXY_ADDRESS6_LEN]; /* the address health6 belongs to */
	enum proxy_admin admin;		      /* admin state at the last reload */
	bool drain_done;		      /* the drain's completion was recorded */
	enum manager_health_stored stored; /* what the store holds, so only changes are written */
	bool known_at_start; /* started from its stored health: it does not wait for settling */
};

/* The deviations an appliance tells its peers and learns from them (manager_cluster.c). */
struct manager_deviations {
	struct deviation *list;	    /* DEVIATION_MAX: the last export */
	int64_t *id_of_slot;	    /* PROXY_SLOTS_MAX: proxies that keep clients, by slot */
	char *text;		    /* DEVIATION_TEXT_MAX: the last export, in text form */
	struct deviation *incoming; /* DEVIATION_MAX: a peer's list while it merges */
	struct deviation_export ex;
	uint64_t sent;	    /* deviations sent to peers */
	size_t unsent;	    /* a replica: exported, but past what its last request could carry */
	uint64_t exchanges; /* lists exchanged with a peer */
	struct deviation_merge_stats merged;
	struct replica *exchanger;		   /* a replica: its exchanges with the primary */
	char sent_tag[REPLICA_DEVIATIONS_TAG_MAX]; /* a replica: its list at the last exchange */
	char primary_tag[REPLICA_DEVIATIONS_TAG_MAX]; /* the primary's list then */
	uint64_t last_exchange_ms;
};

/* The manager's part in a cluster (manager_cluster.c). */
struct manager_cluster {
	struct event_base *base;	/* NULL: no pulls (tests without a loop) */
	struct replica *puller;		/* a replica's pulls from its primary */
	struct event *poll;		/* the next pull */
	enum cluster_vrrp vrrp;		/* as keepalived's notify hook last said */
	struct cluster_peers peers;	/* a primary: the replicas that pulled */
	struct cluster_primary primary; /* a replica: its primary, from the replies */
	/* A primary's last snapshot, served until the generation moves. */
	uint8_t *snapshot;
	size_t snapshot_len;
	uint64_t snapshot_generation;
	char snapshot_digest[CLUSTER_DIGEST_HEX];
	/* A replica: the digest of the snapshot it applied last ("" since its start). */
	char applied_digest[CLUSTER_DIGEST_HEX];
	struct manager_deviations dev;
};

struct manager {
	struct store *store;
	struct settings settings;
	uint8_t hash_key[HASH_KEY_BYTES];
	bool manage_rules;
	bool rules_installed;
	/* manager_options.queue_binder: NULL binds NFQUEUE queues */
	int (*queue_binder)(void *arg, uint16_t base, unsigned count, char *err, size_t errlen);
	void *queue_binder_arg;

	struct proxy_config *proxies; /* ordered by id */
	uint16_t *slot_of;	      /* slot of proxies[i] */
	size_t nproxies;
	struct pool_slots slots;

	/* Counters are per slot and slots are reused: a proxy counts from its slot's baseline. */
	int64_t baseline_owner[PROXY_SLOTS_MAX];
	struct datapath_slot_counters baseline[PROXY_SLOTS_MAX];

	/* Called after a setting was stored and applied, for parts outside the manager. */
	void (*setting_hook)(void *arg, const char *key);
	void *setting_hook_arg;

	struct manager_slot_state state[PROXY_SLOTS_MAX];
	struct prober *prober;
	/* Reads of Squid's cache manager, for proxies with squid_stats; apart from health. */
	struct squid_stats *squid;

	/*
	 * Start-up: a proxy with a stored verdict (store_health_*) starts from
	 * it and takes clients at once when it was up; the probes then correct
	 * it with the usual rise and fall. The proxies never seen before take
	 * no clients until each of them has had its first verdict (up after
	 * rise probes, or a failed probe), or settle_deadline_ms passes. Proxies
	 * coming up one by one would otherwise pin every client that arrives
	 * meanwhile to the first one up, and a restarted droverd would not give
	 * clients back the proxies they had.
	 */
	bool settling;
	uint64_t settle_deadline_ms;
	/* During manager_open only: the proxies start from these stored verdicts. */
	bool starting;
	struct store_health *start_health;
	size_t nstart_health;

	struct datapath dp;
	bool fast_path_allowed;
	const char *fast_path_pin_dir; /* NULL: the fast path is not pinned */
	/* Why the fast path (dp.fast) is not running, when it should. */
	char fast_path_error[MANAGER_FAST_PATH_ERR_MAX];
	struct affinity_table *affinity;
	uint64_t generation;
	unsigned queues; /* queues bound now */
	struct manager_cluster cluster;
};

struct queue_options manager_queue_options(const struct settings *s);

/* Binds queues [base, base + count) as datapath_set_queues does, or hands them to the seam. */
int manager_set_queues(struct manager *m, uint16_t base, unsigned count,
		       const struct queue_options *qopt, char *err, size_t errlen);

/* Installs the ruleset for the settings and proxies in force (--manage-rules only). */
int manager_apply_rules(struct manager *m, char *err, size_t errlen);

/*
 * The members a snapshot of proxies[0..count) (in slots slot_of, 0: none)
 * is built from, with the health in force for each slot: what
 * manager_publish builds from, and a preview (manager_preview.c) too.
 * members has room for count. Returns how many it wrote.
 */
size_t manager_pool_members(const struct manager *m, const struct proxy_config *proxies,
			    const uint16_t *slot_of, size_t count, struct pool_member *members);

/*
 * True when giving slot to p (as the proxy list being loaded says) starts
 * its health afresh: a new owner, a new address, or back from disabled
 * (it was not probed meanwhile).
 */
bool manager_health_restarts(const struct manager *m, uint16_t slot, const struct proxy_config *p);

/* Builds and publishes a snapshot of the current proxies and settings. */
int manager_publish(struct manager *m, struct affinity_table *old_affinity, char *err,
		    size_t errlen);

/* The probe kind in force for p: its own, or the pool's. */
enum probe_kind manager_probe_kind(const struct manager *m, const struct proxy_config *p);

/* Gives the prober every proxy that is not disabled, with the probe settings in force. */
int manager_update_probes(struct manager *m);

/*
 * Loads and attaches the kernel fast path when the setting asks for it, or
 * takes it off the interfaces. A fast path that cannot run is not an error:
 * every packet then takes the NFQUEUE path, and the reason is logged once and
 * shown in the stats. Publish afterwards.
 */
void manager_fast_path_apply(struct manager *m);

/*
 * Stored settings that break a rule between settings (settings_check) are
 * treated as a stored value that no longer parses is: logged, naming the
 * keys, and their defaults used. Such a database was edited by hand or
 * restored by an older drover; refusing to start over a probe timing would
 * take the whole appliance down.
 */
void manager_check_stored_settings(struct settings *s);

/*
 * After a proxy change: reload, publish, re-exclude proxies in the rules,
 * then forget any record of a proxy's address (a proxy is never a client).
 * Forgetting last: its own fetches queued before the rules excluded it are
 * still decided after the publish, and the new snapshot keeps them from being
 * recorded or carried again.
 */
int manager_proxies_changed(struct manager *m, char *err, size_t errlen);

/* Copies the store's message for a refused write into err; returns ret. */
int manager_store_error(struct manager *m, int ret, char *err, size_t errlen);

/*
 * A replica refuses every change to what it replicates: -EROFS with a
 * message naming its primary. 0 on a primary or a standalone appliance.
 */
int manager_cluster_refuse(struct manager *m, char *err, size_t errlen);

/*
 * Starts, restarts or stops the pulls as cluster_role and the other cluster
 * settings now say (at start and after any of them changed).
 */
void manager_cluster_configure(struct manager *m);

/*
 * Once a tick, on a primary or a replica: lists the deviations (deviation.h)
 * peers are told of. Off the packet path; a walk of the affinity table.
 */
void manager_cluster_tick(struct manager *m);

/* Stops the pulls and frees what the cluster holds. */
void manager_cluster_close(struct manager *m);

/* The proxy holding slot, or NULL. */
const struct proxy_config *manager_proxy_by_slot(const struct manager *m, uint16_t slot);

#endif
