/* manager_setting.c - how a changed setting applies live, in one order; backup and restore. */
#include "manager_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fastpath.h"
#include "log.h"

/* A new affinity table of the size now set; *old is the one to retire with the next snapshot. */
static int manager_affinity_resize(struct manager *m, struct affinity_table **old, char *err,
				   size_t errlen)
{
	struct affinity_table *t = calloc(1, sizeof(*t));

	if (t == NULL ||
	    affinity_init(t, m->settings.affinity_max_clients, m->settings.affinity_timeout) < 0) {
		free(t);
		snprintf(err, errlen, "cannot allocate the affinity table");
		return -ENOMEM;
	}
	/* Clients re-pick from the unchanged table: nearly all keep their proxy. */
	*old = m->affinity;
	m->affinity = t;
	if (m->dp.fast != NULL)
		log_info("the fast path keeps room for its present number of clients until "
			 "the next start; clients beyond it take the NFQUEUE path");
	return 0;
}

/*
 * Rebinds the queues as the settings now say, and moves the rules (which
 * name the queues) with them in the order that keeps packets flowing.
 */
static int manager_queues_rebind(struct manager *m, const struct settings *old, char *err,
				 size_t errlen)
{
	struct queue_options qopt = manager_queue_options(&m->settings);
	unsigned want = manager_effective_queues(&m->settings);
	int ret;

	/*
	 * Growing: bind the new queues before the rules send packets there.
	 * Shrinking: move the rules first, then let the spare threads go.
	 */
	if (want >= m->queues && m->settings.queue_base == old->queue_base) {
		ret = manager_set_queues(m, (uint16_t)m->settings.queue_base, want, &qopt, err,
					 errlen);
		if (ret == 0)
			ret = manager_apply_rules(m, err, errlen);
	} else {
		ret = manager_apply_rules(m, err, errlen);
		if (ret == 0) {
			usleep(50 * 1000);
			ret = manager_set_queues(m, (uint16_t)m->settings.queue_base, want, &qopt,
						 err, errlen);
		}
	}
	if (ret == 0)
		m->queues = want;
	return ret;
}

/*
 * The live apply of a changed setting, m->settings already holding the new
 * value and old the one before. Driven by the apply flags of its definition
 * (enum setting_apply): each step whose flag is set runs, always in this
 * order, and the first that fails ends the apply.
 *   1. AFFINITY_RESIZE   a new affinity table (retired by step 5)
 *   2. AFFINITY_TIMEOUT  the timeout of the table in place
 *   3. QUEUE_OPTIONS     length and fail-open of the bound queues
 *   4. FAST_PATH         load and attach, or detach, the kernel fast path
 *   5. SNAPSHOT          a new snapshot, built on all of the above
 *   6. QUEUES            rebind the queues, the rules moving with them (a
 *                        setting with QUEUES has RULES too: the rules name the queues)
 *   7. PROBES            the prober gets the probe settings
 *   8. RULES             the re-rendered rules (unless step 6 moved them)
 *   9. FAST_PATH_FORGET  the kernel forgets its client records
 * Forgetting comes last: packets queued before the rules changed are still
 * decided after it, and would be recorded again. The new snapshot (step 5)
 * already keeps them from being recorded or carried (pool_is_client, the
 * fast path's scope); forgetting frees the records at once.
 * WEB_LISTENER is not the manager's: setting_hook's owner acts on it.
 */
static const enum setting_apply manager_apply_order[MANAGER_APPLY_STEPS] = {
    SETTING_APPLY_AFFINITY_RESIZE,  SETTING_APPLY_AFFINITY_TIMEOUT,
    SETTING_APPLY_QUEUE_OPTIONS,    SETTING_APPLY_FAST_PATH,
    SETTING_APPLY_SNAPSHOT,	    SETTING_APPLY_QUEUES,
    SETTING_APPLY_PROBES,	    SETTING_APPLY_RULES,
    SETTING_APPLY_FAST_PATH_FORGET,
};

size_t manager_apply_plan(unsigned flags, enum setting_apply steps[MANAGER_APPLY_STEPS])
{
	size_t n = 0;

	/* With QUEUES the rules move in the queue step's order. */
	if (flags & SETTING_APPLY_QUEUES)
		flags &= ~(unsigned)SETTING_APPLY_RULES;
	for (size_t i = 0; i < MANAGER_APPLY_STEPS; i++) {
		if (flags & manager_apply_order[i])
			steps[n++] = manager_apply_order[i];
	}
	return n;
}

static int manager_apply_step(struct manager *m, const struct settings *old,
			      enum setting_apply step, struct affinity_table **old_affinity,
			      char *err, size_t errlen)
{
	struct queue_options qopt;

	switch (step) {
	case SETTING_APPLY_AFFINITY_RESIZE:
		return manager_affinity_resize(m, old_affinity, err, errlen);
	case SETTING_APPLY_AFFINITY_TIMEOUT:
		__atomic_store_n(&m->affinity->timeout, m->settings.affinity_timeout,
				 __ATOMIC_RELAXED);
		return 0;
	case SETTING_APPLY_QUEUE_OPTIONS:
		qopt = manager_queue_options(&m->settings);
		datapath_configure(&m->dp, &qopt);
		return 0;
	case SETTING_APPLY_FAST_PATH:
		manager_fast_path_apply(m);
		return 0;
	case SETTING_APPLY_SNAPSHOT:
		return manager_publish(m, *old_affinity, err, errlen);
	case SETTING_APPLY_QUEUES:
		return manager_queues_rebind(m, old, err, errlen);
	case SETTING_APPLY_PROBES:
		if (manager_update_probes(m) < 0) {
			snprintf(err, errlen, "out of memory updating the probes");
			return -ENOMEM;
		}
		return 0;
	case SETTING_APPLY_RULES:
		return manager_apply_rules(m, err, errlen);
	case SETTING_APPLY_FAST_PATH_FORGET:
		/* Records made under the old settings may name clients that are no longer ours. */
		if (fastpath_attached(m->dp.fast))
			fastpath_forget_all(m->dp.fast);
		return 0;
	case SETTING_APPLY_WEB_LISTENER:
	default:
		return 0;
	}
}

static int manager_apply_setting_live(struct manager *m, const struct settings *old, unsigned flags,
				      char *err, size_t errlen)
{
	enum setting_apply steps[MANAGER_APPLY_STEPS];
	struct affinity_table *old_affinity = NULL;
	size_t n = manager_apply_plan(flags, steps);

	for (size_t i = 0; i < n; i++) {
		int ret = manager_apply_step(m, old, steps[i], &old_affinity, err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Applies a stored setting, then tells the parts outside the manager (setting_hook). */
static int manager_apply_setting(struct manager *m, const struct settings *old, const char *key,
				 char *err, size_t errlen)
{
	const struct setting_def *def = settings_find(key);
	int ret = manager_apply_setting_live(m, old, def != NULL ? def->apply : 0, err, errlen);

	/* Not a step of the live apply: the pulls are the manager's cluster face's. */
	if (ret == 0 && def != NULL && (def->apply & SETTING_APPLY_CLUSTER))
		manager_cluster_configure(m);
	if (ret == 0 && m->setting_hook != NULL)
		m->setting_hook(m->setting_hook_arg, key);
	return ret;
}

int manager_setting_set(struct manager *m, const char *key, const char *value, const char *actor,
			char *err, size_t errlen)
{
	struct settings next = m->settings, old = m->settings;
	char why[MANAGER_ERR_MAX];
	int ret;

	/* Validate first: a refused value is neither stored nor applied. */
	if (!settings_set(&next, key, value, err, errlen))
		return -EINVAL;
	/* A replica takes what it replicates from its primary only; its own settings stay its. */
	if (!settings_is_node_scoped(key)) {
		ret = manager_cluster_refuse(m, err, errlen);
		if (ret < 0)
			return ret;
	}
	ret = settings_check(&next, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", key, why);
		return ret;
	}
	ret = store_setting_set(m->store, key, value, actor);
	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	m->settings = next;
	log_info("setting %s = %s by %s", key, value, actor);
	ret = manager_apply_setting(m, &old, key, err, errlen);
	if (ret < 0)
		log_warnx("setting %s was stored but not applied: %s", key, err);
	return ret;
}

int manager_backup(struct manager *m, const char *path, int64_t *bytes, char *err, size_t errlen)
{
	int ret = store_backup(m->store, path, bytes);

	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	log_info("configuration backed up to %s (%" PRId64 " bytes)", path, *bytes);
	return 0;
}

/*
 * Puts the stored hash key in force at once: the affinity table is moved to
 * it (every active client keeps its proxy and idle time, the old table
 * retired with the publish), and the next publish builds the table with it.
 */
static int manager_hash_key_live(struct manager *m, char *err, size_t errlen)
{
	struct affinity_table *t = calloc(1, sizeof(*t)), *old = m->affinity;
	int ret;

	if (t == NULL ||
	    affinity_init(t, m->settings.affinity_max_clients, m->settings.affinity_timeout) < 0) {
		free(t);
		snprintf(err, errlen, "cannot allocate the affinity table for the new hash key");
		return -ENOMEM;
	}
	ret = store_hash_key(m->store, m->hash_key);
	if (ret < 0) {
		affinity_free(t);
		free(t);
		snprintf(err, errlen, "the new hash key: %s", store_error(m->store));
		return ret;
	}
	log_info("hash key changed: %zu active clients keep their proxies",
		 affinity_rekey(t, old, clock_now_s(), m->hash_key));
	m->affinity = t;
	return manager_publish(m, old, err, errlen);
}

/*
 * A restore (mode STORE_RESTORE_FILE) or a replica's apply of its primary's
 * snapshot (STORE_RESTORE_REPLICA, at generation expect): the store checks
 * and replaces, then everything changed is applied live.
 */
static int manager_restore_as(struct manager *m, const char *path, const char *actor,
			      enum store_restore_mode mode, uint64_t expect,
			      struct manager_restore_result *res, char *err, size_t errlen)
{
	struct store_restore_info info;
	struct settings restored, cur;
	int ret, first_err = 0;

	memset(res, 0, sizeof(*res));
	/*
	 * The store reads the file read-only and checks it whole (its schema,
	 * every row as a live change would be checked, the settings together)
	 * before it replaces anything: a refused file leaves no trace.
	 */
	ret = store_restore_as(m->store, path, actor, mode, expect, &info);
	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	res->file_version = info.file_version;
	if (mode == STORE_RESTORE_REPLICA)
		log_info("cluster: took the primary's configuration, generation %" PRIu64,
			 info.generation);
	else
		log_info("configuration restored from %s by %s (schema version %d, generation "
			 "%" PRIu64 ")",
			 path, actor, info.file_version, info.generation);
	ret = store_settings_load(m->store, &restored);
	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	/* The store checked them; checked again as at start, should the two ever disagree. */
	manager_check_stored_settings(&restored);

	/*
	 * One key at a time, each applied against the settings just before it,
	 * exactly as a run of `settings set' would: queue and rule changes are
	 * made in the order that keeps packets flowing.
	 */
	cur = m->settings;
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_def *d = settings_def_at(i);
		char was[SETTINGS_VALUE_MAX], now[SETTINGS_VALUE_MAX], e[MANAGER_ERR_MAX];
		struct settings next = cur;

		if (!settings_format(&cur, d->key, was, sizeof(was)) ||
		    !settings_format(&restored, d->key, now, sizeof(now)) || strcmp(was, now) == 0)
			continue;
		if (!settings_set(&next, d->key, now, e, sizeof(e)))
			continue;
		m->settings = next;
		res->settings_changed++;
		ret = manager_apply_setting(m, &cur, d->key, e, sizeof(e));
		if (ret < 0) {
			log_warnx("restored setting %s = %s was not applied: %s", d->key, now, e);
			if (first_err == 0) {
				first_err = ret;
				snprintf(err, errlen, "restored setting %s not applied: %s", d->key,
					 e);
			}
		}
		cur = next;
	}
	m->settings = restored;

	/*
	 * A replica maps clients as its primary does, at once: its table is
	 * built with the primary's key by the publish below. So does a primary
	 * given a new key by a restore: its replicas take that key with their
	 * next pull, and a primary that went on with the old one until its
	 * restart would map clients differently from all of them. Clients the
	 * affinity table or the kernel holds keep their proxies
	 * (manager_hash_key_live).
	 */
	if (info.hash_key_changed &&
	    (mode == STORE_RESTORE_REPLICA || m->settings.cluster_role == CLUSTER_ROLE_PRIMARY)) {
		ret = manager_hash_key_live(m, err, errlen);
		if (ret < 0 && first_err == 0)
			first_err = ret;
		log_warnx(
		    "cluster: the %s hash key is in force now: new clients are mapped with it",
		    mode == STORE_RESTORE_REPLICA ? "primary's" : "restored");
		store_audit_add(m->store, actor, "cluster.hash_key",
				mode == STORE_RESTORE_REPLICA
				    ? "the primary's hash key applied live"
				    : "the restored hash key applied live "
				      "(cluster primary)");
		info.hash_key_changed = false;
	}
	ret = manager_proxies_changed(m, err, errlen);
	if (ret < 0 && first_err == 0)
		first_err = ret;
	res->proxies = m->nproxies;
	if (info.hash_key_changed) {
		res->restart_needed = true;
		snprintf(res->restart_reason, sizeof(res->restart_reason),
			 "the restored hash key takes effect at the next restart (clients keep "
			 "their proxies until then)");
		log_warnx("restore: %s", res->restart_reason);
	}
	return first_err;
}

int manager_restore(struct manager *m, const char *path, const char *actor,
		    struct manager_restore_result *res, char *err, size_t errlen)
{
	int ret = manager_cluster_refuse(m, err, errlen);

	memset(res, 0, sizeof(*res));
	if (ret < 0)
		return ret;
	return manager_restore_as(m, path, actor, STORE_RESTORE_FILE, 0, res, err, errlen);
}

int manager_replicate(struct manager *m, const char *path, uint64_t generation,
		      struct manager_restore_result *res, char *err, size_t errlen)
{
	return manager_restore_as(m, path, "cluster", STORE_RESTORE_REPLICA, generation, res, err,
				  errlen);
}
