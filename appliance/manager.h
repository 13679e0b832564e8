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

#include "datapath.h"
#include "health.h"
#include "probe.h"
#include "pool.h"
#include "proxy.h"
#include "settings.h"
#include "store.h"

#define MANAGER_ERR_MAX 512

struct event_base;

struct manager_options {
	const char *db_path;
	bool manage_rules;
	struct event_base *base; /* the control loop: probes run on it */
	bool fast_path; /* may load the kernel fast path (droverd; not the tests' harnesses) */
};

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
	char fast_path_error[160]; /* why the fast path (dp.fast) is not running, when it should */
	struct affinity_table *affinity;
	uint64_t generation;
	unsigned queues; /* queues bound now */
};

int manager_start(struct manager *m, const struct manager_options *opt, char *err, size_t errlen);
void manager_stop(struct manager *m);

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

/* Which proxy serves client (network byte order), and why. *proxy NULL when none. */
enum manager_lookup_reason manager_lookup(struct manager *m, uint32_t client,
					  const struct proxy_config **proxy, uint32_t *idle);

/* The ruleset droverd would install, for --print-rules and for operators who manage rules
 * themselves. */
int manager_render_rules(const struct manager *m, char *buf, size_t len);

/*
 * The packet path's view of the proxy in slot: its outer source and tunnel
 * MTU as the current snapshot has them. NULL when the slot is not in it.
 */
const struct pool_target *manager_proxy_target(const struct manager *m, uint16_t slot);

/* The probe kind in force for p: its own, or the pool's. */
enum probe_kind manager_probe_kind(const struct manager *m, const struct proxy_config *p);

/* A proxy's own counters (hits, packets, bytes) since it got its slot. */
void manager_proxy_counters(struct manager *m, uint16_t slot, struct datapath_slot_counters *out);

unsigned manager_effective_queues(const struct settings *s);

/* The settings in force. Valid until the next change on the control thread. */
const struct settings *manager_settings(const struct manager *m);

/*
 * The configuration store, for the modules that own a part of it outside the
 * manager (accounts, tokens, the audit log). Control thread only.
 */
struct store *manager_store(struct manager *m);

#endif
