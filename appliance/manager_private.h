/*
 * manager_private.h - the manager's own state and the steps its files share:
 * manager.c (lifecycle, proxies, probes, publishing snapshots),
 * manager_setting.c (how a changed setting applies, backup, restore) and
 * manager_view.c (the read-side face every client of the manager goes
 * through). Only manager*.c include it.
 */
#ifndef DROVER_MANAGER_PRIVATE_H
#define DROVER_MANAGER_PRIVATE_H

#include "manager.h"

/* Runtime state of a slot's proxy that is not stored. */
struct manager_slot_state {
	struct health health;
	uint32_t address;	/* the address the health belongs to */
	enum proxy_admin admin; /* admin state at the last reload */
	bool drain_done;	/* the drain's completion was recorded */
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

	/*
	 * Start-up: no proxy takes clients until every proxy has had its first
	 * verdict (up after rise probes, or a failed probe), or settle_deadline_ms
	 * passes. Proxies coming up one by one would otherwise pin every client
	 * that arrives meanwhile to the first one up, and a restarted droverd
	 * would not give clients back the proxies they had.
	 */
	bool settling;
	uint64_t settle_deadline_ms;

	struct datapath dp;
	bool fast_path_allowed;
	const char *fast_path_pin_dir; /* NULL: the fast path is not pinned */
	/* Why the fast path (dp.fast) is not running, when it should. */
	char fast_path_error[MANAGER_FAST_PATH_ERR_MAX];
	struct affinity_table *affinity;
	uint64_t generation;
	unsigned queues; /* queues bound now */
};

struct queue_options manager_queue_options(const struct settings *s);

/* Binds queues [base, base + count) as datapath_set_queues does, or hands them to the seam. */
int manager_set_queues(struct manager *m, uint16_t base, unsigned count,
		       const struct queue_options *qopt, char *err, size_t errlen);

/* Installs the ruleset for the settings and proxies in force (--manage-rules only). */
int manager_apply_rules(struct manager *m, char *err, size_t errlen);

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

/* The proxy holding slot, or NULL. */
const struct proxy_config *manager_proxy_by_slot(const struct manager *m, uint16_t slot);

#endif
