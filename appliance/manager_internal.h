/*
 * manager_internal.h - struct manager: the manager's own state, for
 * manager.c. Every other module holds a pointer and goes through the
 * functions of manager.h.
 */
#ifndef DROVER_MANAGER_INTERNAL_H
#define DROVER_MANAGER_INTERNAL_H

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
	bool bind_queues; /* manager_options.bind_queues */

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
	/* Why the fast path (dp.fast) is not running, when it should. */
	char fast_path_error[MANAGER_FAST_PATH_ERR_MAX];
	struct affinity_table *affinity;
	uint64_t generation;
	unsigned queues; /* queues bound now */
};

#endif
