/* manager.c - droverd's control plane: store -> snapshot -> datapath and rules. */
#include "manager.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "clock.h"
#include "fastpath.h"
#include "log.h"
#include "rules.h"

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
	/* Why the fast path (dp.fast) is not running, when it should. */
	char fast_path_error[MANAGER_FAST_PATH_ERR_MAX];
	struct affinity_table *affinity;
	uint64_t generation;
	unsigned queues; /* queues bound now */
};

#define MANAGER_RECV_TIMEOUT_MS 200

unsigned manager_effective_queues(const struct settings *s)
{
	long cpus;

	if (s->queues != 0)
		return s->queues;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	if (cpus > SETTINGS_QUEUES_MAX)
		cpus = SETTINGS_QUEUES_MAX;
	return (unsigned)cpus;
}

static struct queue_options manager_queue_options(const struct settings *s)
{
	return (struct queue_options){
	    .maxlen = s->queue_maxlen,
	    .fail_open = s->fail_open,
	    .recv_timeout_ms = MANAGER_RECV_TIMEOUT_MS,
	};
}

/* Binds queues [base, base + count) as datapath_set_queues does, or hands them to the seam. */
static int manager_set_queues(struct manager *m, uint16_t base, unsigned count,
			      const struct queue_options *qopt, char *err, size_t errlen)
{
	if (m->queue_binder == NULL)
		return datapath_set_queues(&m->dp, base, count, qopt, err, errlen);
	if (count == 0 || count > SETTINGS_QUEUES_MAX || (unsigned)base + count > 65536) {
		snprintf(err, errlen, "queues: %u queues from %u is out of range", count, base);
		return -EINVAL;
	}
	return m->queue_binder(m->queue_binder_arg, base, count, err, errlen);
}

/*
 * Keeps a slot's runtime state in step with its proxy: a new owner starts
 * its counters from here and its health from scratch; so does a proxy that
 * moved to another address or comes back from disabled (it was not probed).
 */
static void manager_slot_refresh(struct manager *m, uint16_t slot, const struct proxy_config *p)
{
	struct manager_slot_state *st = &m->state[slot];
	bool fresh = m->baseline_owner[slot] != p->id;

	if (fresh) {
		m->baseline_owner[slot] = p->id;
		datapath_slot_counters(&m->dp, slot, &m->baseline[slot]);
	}
	if (fresh || st->address != p->address ||
	    (st->admin == PROXY_ADMIN_DISABLED && p->admin != PROXY_ADMIN_DISABLED)) {
		health_init(&st->health, m->settings.assume_up_at_start, clock_now_ms());
		st->address = p->address;
	}
	if (p->admin != PROXY_ADMIN_DRAIN)
		st->drain_done = false;
	st->admin = p->admin;
}

/* Re-reads the proxy list from the store and gives every proxy its slot. */
static int manager_load_proxies(struct manager *m, char *err, size_t errlen)
{
	struct proxy_config *list = NULL;
	uint16_t *slots = NULL;
	int64_t *ids = NULL;
	size_t n = 0;
	int ret;

	ret = store_proxy_list(m->store, &list, &n);
	if (ret < 0) {
		snprintf(err, errlen, "cannot read proxies: %s", store_error(m->store));
		return ret;
	}
	slots = calloc(n ? n : 1, sizeof(*slots));
	ids = calloc(n ? n : 1, sizeof(*ids));
	if (slots == NULL || ids == NULL) {
		free(list);
		free(slots);
		free(ids);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = list[i].id;
	pool_slot_release_missing(&m->slots, ids, n);
	for (size_t i = 0; i < n; i++) {
		slots[i] = pool_slot_get(&m->slots, list[i].id);
		if (slots[i] != 0)
			manager_slot_refresh(m, slots[i], &list[i]);
		if (slots[i] == 0)
			log_warnx("no free slot for proxy %" PRId64 " (%s): it takes no clients",
				  list[i].id, list[i].name);
	}
	free(ids);
	free(m->proxies);
	free(m->slot_of);
	m->proxies = list;
	m->slot_of = slots;
	m->nproxies = n;
	return 0;
}

static int manager_apply_rules(struct manager *m, char *err, size_t errlen)
{
	char doc[16384];
	int ret;

	if (!m->manage_rules)
		return 0;
	ret = manager_render_rules(m, doc, sizeof(doc));
	if (ret < 0) {
		snprintf(err, errlen, "the ruleset does not fit in %zu bytes", sizeof(doc));
		return ret;
	}
	ret = rules_apply(doc, err, errlen);
	if (ret == 0)
		m->rules_installed = true;
	return ret;
}

/* Builds and publishes a snapshot of the current proxies and settings. */
static int manager_publish(struct manager *m, struct affinity_table *old_affinity, char *err,
			   size_t errlen)
{
	struct pool_member *members = calloc(m->nproxies ? m->nproxies : 1, sizeof(*members));
	struct pool_snapshot *snap;
	size_t n = 0;

	if (members == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->nproxies; i++) {
		if (m->slot_of[i] == 0)
			continue;
		members[n++] = (struct pool_member){
		    .config = &m->proxies[i],
		    .slot = m->slot_of[i],
		    .healthy = !m->settling && health_is_up(&m->state[m->slot_of[i]].health),
		};
	}
	snap = pool_snapshot_build(
	    &(struct pool_build){
		.members = members,
		.nmembers = n,
		.settings = &m->settings,
		.hash_key = m->hash_key,
		.affinity = m->affinity,
		.generation = ++m->generation,
		.fast = m->dp.fast,
		.fast_attached = fastpath_attached(m->dp.fast),
	    },
	    err, errlen);
	free(members);
	if (snap == NULL)
		return -ENOMEM;
	datapath_publish(&m->dp, snap, old_affinity);
	return 0;
}

const struct pool_target *manager_proxy_target(const struct manager *m, uint16_t slot)
{
	/* Only the control thread replaces or frees snapshots: reading it here is safe. */
	const struct pool_snapshot *snap = m->dp.current;

	if (snap == NULL || slot == 0 || slot >= snap->nslots)
		return NULL;
	return &snap->targets[slot];
}

/* The probe kind in force for p: its own, or the pool's. */
static enum probe_kind manager_probe_kind(const struct manager *m, const struct proxy_config *p)
{
	if (p->probe_override)
		return p->probe;
	return (enum probe_kind)m->settings.probe_kind;
}

/* Gives the prober every proxy that is not disabled, with the probe settings in force. */
static int manager_update_probes(struct manager *m)
{
	struct probe_target *targets = calloc(m->nproxies ? m->nproxies : 1, sizeof(*targets));
	const struct settings *s = &m->settings;
	size_t n = 0;
	int ret;

	if (targets == NULL)
		return -ENOMEM;
	if (m->prober == NULL) {
		free(targets);
		return 0;
	}
	for (size_t i = 0; i < m->nproxies; i++) {
		const struct proxy_config *p = &m->proxies[i];
		struct probe_target *t = &targets[n];

		if (p->admin == PROXY_ADMIN_DISABLED || m->slot_of[i] == 0)
			continue;
		t->id = p->id;
		t->address = p->address;
		t->config.kind = manager_probe_kind(m, p);
		t->config.interval_ms = s->probe_interval_ms;
		t->config.timeout_ms = s->probe_timeout_ms;
		t->config.port = (uint16_t)s->probe_port;
		t->config.status_min = (uint16_t)(s->probe_status >> 16);
		t->config.status_max = (uint16_t)(s->probe_status & 0xffff);
		snprintf(t->config.url, sizeof(t->config.url), "%s",
			 t->config.kind == PROBE_HTTP ? s->probe_path : s->probe_url);
		snprintf(t->config.host, sizeof(t->config.host), "%s", s->probe_host);
		n++;
	}
	ret = prober_set_targets(m->prober, targets, n);
	free(targets);
	prober_set_max_in_flight(m->prober, s->probe_max_in_flight);
	return ret;
}

/* Every probed proxy has its first verdict: up, or failed at least once. */
static bool manager_settled(const struct manager *m)
{
	for (size_t i = 0; i < m->nproxies; i++) {
		const struct health *h = &m->state[m->slot_of[i]].health;

		if (m->slot_of[i] == 0 || m->proxies[i].admin == PROXY_ADMIN_DISABLED)
			continue;
		if (!health_is_up(h) && h->failed_checks == 0)
			return false;
	}
	return true;
}

/* Ends the start-up settling when every proxy has its verdict, or the deadline passed. */
static void manager_settle_check(struct manager *m)
{
	char err[MANAGER_ERR_MAX];
	size_t up = 0;
	bool timed_out = clock_now_ms() >= m->settle_deadline_ms;

	if (!m->settling || (!timed_out && !manager_settled(m)))
		return;
	m->settling = false;
	for (size_t i = 0; i < m->nproxies; i++)
		if (m->slot_of[i] != 0 && health_is_up(&m->state[m->slot_of[i]].health))
			up++;
	log_info("start-up probes %s: %zu of %zu prox%s up, taking clients",
		 timed_out ? "timed out" : "done", up, m->nproxies, m->nproxies == 1 ? "y" : "ies");
	if (manager_publish(m, NULL, err, sizeof(err)) < 0)
		log_warnx("cannot apply the start-up probes: %s", err);
}

/* A probe finished: count it, and when the proxy's up/down flips, act on it once. */
static void manager_on_probe(void *arg, int64_t id, enum check_result result, uint32_t duration_ms)
{
	struct manager *m = arg;
	const struct proxy_config *p;
	struct manager_slot_state *st;
	uint16_t slot = 0;
	char detail[256], err[MANAGER_ERR_MAX];

	p = manager_proxy_find(m, id, &slot);
	if (p == NULL || slot == 0)
		return;
	st = &m->state[slot];
	if (!health_record(&st->health, result, duration_ms, m->settings.probe_rise,
			   m->settings.probe_fall, clock_now_ms())) {
		manager_settle_check(m);
		return;
	}
	bool up = health_is_up(&st->health);
	snprintf(detail, sizeof(detail), "proxy %" PRId64 " %s is %s: %s %s in %u ms%s", p->id,
		 p->name, up ? "up" : "down", probe_kind_name(manager_probe_kind(m, p)),
		 check_result_name(result), duration_ms,
		 up ? "" : (m->slots.active[slot] ? ", its clients move to other proxies" : ""));
	if (up)
		log_info("%s", detail);
	else
		log_warnx("%s", detail);
	store_audit_add(m->store, "droverd", up ? "proxy.up" : "proxy.down", detail);
	if (manager_publish(m, NULL, err, sizeof(err)) < 0)
		log_warnx("cannot apply the health change: %s", err);
	manager_settle_check(m);
}

int manager_render_rules(const struct manager *m, char *buf, size_t len)
{
	uint32_t *addrs = calloc(m->nproxies ? m->nproxies : 1, sizeof(*addrs));
	int ret;

	if (addrs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < m->nproxies; i++)
		addrs[i] = m->proxies[i].address;
	ret = rules_render(&m->settings, manager_effective_queues(&m->settings), addrs, m->nproxies,
			   buf, len);
	free(addrs);
	return ret;
}

/*
 * Loads and attaches the kernel fast path when the setting asks for it, or
 * takes it off the interfaces. A fast path that cannot run is not an error:
 * every packet then takes the NFQUEUE path, and the reason is logged once and
 * shown in the stats. Publish afterwards.
 */
static void manager_fast_path_apply(struct manager *m)
{
	if (!m->settings.fast_path || !m->fast_path_allowed) {
		if (fastpath_attached(m->dp.fast)) {
			fastpath_detach_all(m->dp.fast);
			log_info("fast path off: every web packet goes through NFQUEUE");
		}
		m->fast_path_error[0] = '\0';
		return;
	}
	if (m->dp.fast == NULL) {
		m->dp.fast = fastpath_open(m->settings.affinity_max_clients, m->fast_path_error,
					   sizeof(m->fast_path_error));
		if (m->dp.fast == NULL) {
			log_warnx(
			    "fast path unavailable, every web packet goes through NFQUEUE: %s",
			    m->fast_path_error);
			return;
		}
	}
	if (!fastpath_attached(m->dp.fast)) {
		unsigned n = fastpath_attach_all(m->dp.fast);
		log_info("fast path on: attached to %u interface%s (%s)", n, n == 1 ? "" : "s",
			 fastpath_attach_kind(m->dp.fast));
	}
	m->fast_path_error[0] = '\0';
}

/*
 * Stored settings that break a rule between settings (settings_check) are
 * treated as a stored value that no longer parses is: logged, naming the
 * keys, and their defaults used. Such a database was edited by hand or
 * restored by an older drover; refusing to start over a probe timing would
 * take the whole appliance down.
 */
static void manager_check_stored_settings(struct settings *s)
{
	char why[MANAGER_ERR_MAX];

	if (settings_check(s, why, sizeof(why)) == 0)
		return;
	settings_check_reset(s, why, sizeof(why));
	log_warnx("database: ignoring stored settings: %s", why);
}

/* manager_start's work on a zeroed m; on failure manager_stop undoes what was done. */
static int manager_open(struct manager *m, const struct manager_options *opt, char *err,
			size_t errlen)
{
	struct queue_options qopt;
	int ret;

	datapath_init(&m->dp);
	m->manage_rules = opt->manage_rules;
	m->fast_path_allowed = opt->fast_path;
	m->queue_binder = opt->queue_binder;
	m->queue_binder_arg = opt->queue_binder_arg;
	m->setting_hook = opt->setting_hook;
	m->setting_hook_arg = opt->setting_hook_arg;
	ret = store_open(opt->db_path, &m->store, err, errlen);
	if (ret < 0)
		return ret;
	ret = store_settings_load(m->store, &m->settings);
	if (ret == 0)
		ret = store_hash_key(m->store, m->hash_key);
	if (ret < 0) {
		snprintf(err, errlen, "%s", store_error(m->store));
		return ret;
	}
	manager_check_stored_settings(&m->settings);
	ret = manager_load_proxies(m, err, errlen);
	if (ret < 0)
		return ret;

	/* Probed proxies take clients together, once each has its first verdict. */
	m->settling = opt->base != NULL && !m->settings.assume_up_at_start;
	m->settle_deadline_ms =
	    clock_now_ms() +
	    (uint64_t)(m->settings.probe_rise + 1) * m->settings.probe_interval_ms +
	    m->settings.probe_timeout_ms;

	m->affinity = calloc(1, sizeof(*m->affinity));
	if (m->affinity == NULL)
		return -ENOMEM;
	ret = affinity_init(m->affinity, m->settings.affinity_max_clients,
			    m->settings.affinity_timeout);
	if (ret < 0) {
		snprintf(err, errlen, "cannot allocate the affinity table for %u clients",
			 m->settings.affinity_max_clients);
		return ret;
	}
	manager_fast_path_apply(m);
	/* The first snapshot is in place before any packet can arrive. */
	ret = manager_publish(m, NULL, err, errlen);
	if (ret < 0)
		return ret;

	if (opt->base != NULL) {
		m->prober = prober_new(opt->base, manager_on_probe, m);
		if (m->prober == NULL || manager_update_probes(m) < 0) {
			snprintf(err, errlen, "cannot start the health probes");
			return -ENOMEM;
		}
	}

	qopt = manager_queue_options(&m->settings);
	m->queues = manager_effective_queues(&m->settings);
	ret =
	    manager_set_queues(m, (uint16_t)m->settings.queue_base, m->queues, &qopt, err, errlen);
	if (ret < 0)
		return ret;

	if (m->manage_rules) {
		ret = rules_sysctls(err, errlen);
		if (ret == 0)
			ret = manager_apply_rules(m, err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

struct manager *manager_start(const struct manager_options *opt, char *err, size_t errlen)
{
	struct manager *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (manager_open(m, opt, err, errlen) < 0) {
		manager_stop(m);
		return NULL;
	}
	return m;
}

void manager_stop(struct manager *m)
{
	if (m == NULL)
		return;
	/*
	 * The fast path first: its clients' packets go back to the queues, still
	 * answered; then the rules: no new packet is queued, then the queues drain
	 * and close.
	 */
	if (m->dp.fast != NULL)
		fastpath_detach_all(m->dp.fast);
	if (m->rules_installed) {
		rules_remove();
		m->rules_installed = false;
		usleep(50 * 1000);
	}
	if (m->prober != NULL) {
		prober_free(m->prober);
		m->prober = NULL;
	}
	datapath_stop(&m->dp);
	/* The threads are gone: nothing records clients any more. */
	fastpath_close(m->dp.fast);
	m->dp.fast = NULL;
	if (m->affinity != NULL) {
		affinity_free(m->affinity);
		free(m->affinity);
		m->affinity = NULL;
	}
	free(m->proxies);
	free(m->slot_of);
	m->proxies = NULL;
	m->slot_of = NULL;
	m->nproxies = 0;
	if (m->store != NULL) {
		store_close(m->store);
		m->store = NULL;
	}
	free(m);
}

void manager_tick(struct manager *m)
{
	manager_settle_check(m);
	datapath_reclaim(&m->dp);
	if (fastpath_attached(m->dp.fast)) {
		fastpath_attach_all(m->dp.fast); /* interfaces that appeared since */
		fastpath_tick(m->dp.fast, m->affinity, m->hash_key);
	}
	affinity_sweep(m->affinity, clock_now_s(), m->slots.active, PROXY_SLOTS_MAX);
	for (size_t i = 0; i < m->nproxies; i++) {
		const struct proxy_config *p = &m->proxies[i];
		struct manager_slot_state *st = &m->state[m->slot_of[i]];
		char detail[160];

		if (m->slot_of[i] == 0 || p->admin != PROXY_ADMIN_DRAIN || st->drain_done ||
		    m->slots.active[m->slot_of[i]] != 0)
			continue;
		st->drain_done = true;
		snprintf(detail, sizeof(detail),
			 "drain of proxy %" PRId64 " %s complete: no active clients left", p->id,
			 p->name);
		log_info("%s", detail);
		store_audit_add(m->store, "droverd", "proxy.drained", detail);
	}
}

/* After a proxy change: reload, publish, and re-exclude proxies in the rules. */
static int manager_proxies_changed(struct manager *m, char *err, size_t errlen)
{
	int ret = manager_load_proxies(m, err, errlen);

	/* A proxy is never a client: an address that became one must not be carried as one. */
	if (ret == 0 && fastpath_attached(m->dp.fast)) {
		for (size_t i = 0; i < m->nproxies; i++)
			fastpath_forget(m->dp.fast, m->proxies[i].address);
	}
	if (ret == 0)
		ret = manager_publish(m, NULL, err, errlen);
	if (ret == 0 && manager_update_probes(m) < 0) {
		snprintf(err, errlen, "out of memory updating the probes");
		ret = -ENOMEM;
	}
	if (ret == 0)
		ret = manager_apply_rules(m, err, errlen);
	if (ret < 0)
		log_warnx("a stored proxy change could not be applied: %s", err);
	return ret;
}

static int manager_store_error(struct manager *m, int ret, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", store_error(m->store));
	return ret;
}

int manager_proxy_add(struct manager *m, struct proxy_config *p, const char *actor, char *err,
		      size_t errlen)
{
	int ret = store_proxy_add(m->store, p, actor);

	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	log_info("proxy %" PRId64 " %s added by %s", p->id, p->name, actor);
	return manager_proxies_changed(m, err, errlen);
}

int manager_proxy_update(struct manager *m, struct proxy_config *p, int64_t expected_version,
			 const char *actor, char *err, size_t errlen)
{
	int ret = store_proxy_update(m->store, p, expected_version, actor);

	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	log_info("proxy %" PRId64 " %s changed by %s: weight %u, %s", p->id, p->name, actor,
		 p->weight, proxy_admin_name(p->admin));
	return manager_proxies_changed(m, err, errlen);
}

int manager_proxy_delete(struct manager *m, int64_t id, int64_t expected_version, const char *actor,
			 char *err, size_t errlen)
{
	int ret = store_proxy_delete(m->store, id, expected_version, actor);

	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	log_info("proxy %" PRId64 " deleted by %s", id, actor);
	return manager_proxies_changed(m, err, errlen);
}

const struct proxy_config *manager_proxy_find(const struct manager *m, int64_t id, uint16_t *slot)
{
	for (size_t i = 0; i < m->nproxies; i++) {
		if (m->proxies[i].id == id) {
			if (slot != NULL)
				*slot = m->slot_of[i];
			return &m->proxies[i];
		}
	}
	return NULL;
}

static const struct proxy_config *manager_proxy_by_slot(const struct manager *m, uint16_t slot)
{
	for (size_t i = 0; i < m->nproxies; i++) {
		if (m->slot_of[i] == slot)
			return &m->proxies[i];
	}
	return NULL;
}

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
 *   1. AFFINITY_RESIZE   a new affinity table (retired by step 6)
 *   2. AFFINITY_TIMEOUT  the timeout of the table in place
 *   3. QUEUE_OPTIONS     length and fail-open of the bound queues
 *   4. FAST_PATH         load and attach, or detach, the kernel fast path
 *   5. FAST_PATH_FORGET  the kernel forgets its client records
 *   6. SNAPSHOT          a new snapshot, built on all of the above
 *   7. QUEUES            rebind the queues, the rules moving with them (a
 *                        setting with QUEUES has RULES too: the rules name the queues)
 *   8. PROBES            the prober gets the probe settings
 *   9. RULES             the re-rendered rules (unless step 7 moved them)
 * WEB_LISTENER is not the manager's: setting_hook's owner acts on it.
 */
static int manager_apply_setting_live(struct manager *m, const struct settings *old, unsigned flags,
				      char *err, size_t errlen)
{
	struct affinity_table *old_affinity = NULL;
	int ret;

	if (flags & SETTING_APPLY_AFFINITY_RESIZE) {
		ret = manager_affinity_resize(m, &old_affinity, err, errlen);
		if (ret < 0)
			return ret;
	}
	if (flags & SETTING_APPLY_AFFINITY_TIMEOUT)
		__atomic_store_n(&m->affinity->timeout, m->settings.affinity_timeout,
				 __ATOMIC_RELAXED);
	if (flags & SETTING_APPLY_QUEUE_OPTIONS) {
		struct queue_options qopt = manager_queue_options(&m->settings);

		datapath_configure(&m->dp, &qopt);
	}
	if (flags & SETTING_APPLY_FAST_PATH)
		manager_fast_path_apply(m);
	/* Records made under the old settings may name clients that are no longer ours. */
	if ((flags & SETTING_APPLY_FAST_PATH_FORGET) && fastpath_attached(m->dp.fast))
		fastpath_forget_all(m->dp.fast);
	if (flags & SETTING_APPLY_SNAPSHOT) {
		ret = manager_publish(m, old_affinity, err, errlen);
		if (ret < 0)
			return ret;
	}
	if (flags & SETTING_APPLY_QUEUES) {
		ret = manager_queues_rebind(m, old, err, errlen);
		if (ret < 0)
			return ret;
	}
	if ((flags & SETTING_APPLY_PROBES) && manager_update_probes(m) < 0) {
		snprintf(err, errlen, "out of memory updating the probes");
		return -ENOMEM;
	}
	/* With QUEUES the rules moved already, in the queue step's order. */
	if ((flags & SETTING_APPLY_RULES) && !(flags & SETTING_APPLY_QUEUES))
		return manager_apply_rules(m, err, errlen);
	return 0;
}

/* Applies a stored setting, then tells the parts outside the manager (setting_hook). */
static int manager_apply_setting(struct manager *m, const struct settings *old, const char *key,
				 char *err, size_t errlen)
{
	const struct setting_def *def = settings_find(key);
	int ret = manager_apply_setting_live(m, old, def != NULL ? def->apply : 0, err, errlen);

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

/* Copies everything from src to dst. */
static int manager_copy_file(int src, int dst)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(src, buf, sizeof(buf));

		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(dst, buf + done, (size_t)(n - done));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			done += w;
		}
	}
}

/*
 * The settings a backup file holds, read before anything is replaced, from
 * a private copy of the file: the store opens a database read-write only
 * (it would switch the caller's file to WAL and migrate it), and
 * store_restore commits as it copies. Returns 0 with *out, or -errno when
 * the file cannot be read so; store_restore then judges the file itself.
 * (A store function reading the settings of a backup would replace this.)
 */
static int manager_backup_settings(const char *path, struct settings *out)
{
	static const char *const sidecars[] = {"", "-wal", "-shm", "-journal"};
	const char *dir = secure_getenv("TMPDIR");
	char tmp[PATH_MAX], err[MANAGER_ERR_MAX];
	struct store *copy;
	int src, dst, ret;

	src = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return -errno;
	if (dir == NULL || dir[0] != '/')
		dir = "/tmp";
	if (snprintf(tmp, sizeof(tmp), "%s/drover-restore.XXXXXX", dir) >= (int)sizeof(tmp)) {
		close(src);
		return -ENAMETOOLONG;
	}
	dst = mkostemp(tmp, O_CLOEXEC);
	if (dst < 0) {
		ret = -errno;
		close(src);
		log_warnx("restore: cannot check the settings of `%s' beforehand: %s: %s", path,
			  tmp, strerror(-ret));
		return ret;
	}
	ret = manager_copy_file(src, dst);
	close(src);
	if (close(dst) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0)
		ret = store_open(tmp, &copy, err, sizeof(err));
	if (ret == 0) {
		ret = store_settings_load(copy, out);
		store_close(copy);
	}
	for (size_t i = 0; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
		char name[PATH_MAX + 16];

		snprintf(name, sizeof(name), "%s%s", tmp, sidecars[i]);
		unlink(name);
	}
	return ret;
}

int manager_restore(struct manager *m, const char *path, const char *actor,
		    struct manager_restore_result *res, char *err, size_t errlen)
{
	struct store_restore_info info;
	struct settings restored, cur;
	char why[MANAGER_ERR_MAX];
	int ret, first_err = 0;

	memset(res, 0, sizeof(*res));
	/* Settings that do not go together are refused before anything is replaced. */
	if (path != NULL && path[0] == '/' && manager_backup_settings(path, &restored) == 0 &&
	    settings_check(&restored, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "restore: `%s' holds settings that do not go together: %s",
			 path, why);
		return -EINVAL;
	}
	ret = store_restore(m->store, path, actor, &info);
	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	res->file_version = info.file_version;
	log_info("configuration restored from %s by %s (schema version %d)", path, actor,
		 info.file_version);
	ret = store_settings_load(m->store, &restored);
	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	/* When the file could not be read beforehand: as at start. */
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

enum manager_lookup_reason manager_lookup(struct manager *m, uint32_t client,
					  const struct proxy_config **proxy, uint32_t *idle)
{
	const struct pool_snapshot *snap = m->dp.current;
	uint64_t hash = hash_client(m->hash_key, client);
	uint16_t slot;

	*proxy = NULL;
	*idle = 0;
	if (snap == NULL)
		return MANAGER_LOOKUP_NONE;
	if (affinity_peek(m->affinity, client, hash, clock_now_s(), &slot, idle) &&
	    slot < snap->nslots && (snap->targets[slot].flags & POOL_TARGET_KEEPS)) {
		*proxy = manager_proxy_by_slot(m, slot);
		if (*proxy != NULL)
			return MANAGER_LOOKUP_AFFINITY;
	}
	*idle = 0;
	slot = maglev_lookup(&snap->table, hash);
	if (slot == MAGLEV_EMPTY)
		return MANAGER_LOOKUP_NONE;
	*proxy = manager_proxy_by_slot(m, slot);
	return *proxy != NULL ? MANAGER_LOOKUP_TABLE : MANAGER_LOOKUP_NONE;
}

/* A proxy's own counters (hits, packets, bytes) since it got its slot. */
static void manager_proxy_counters(const struct manager *m, uint16_t slot,
				   struct datapath_slot_counters *out)
{
	const struct datapath_slot_counters *base = &m->baseline[slot];

	datapath_slot_counters(&m->dp, slot, out);
	out->hits -= base->hits;
	out->packets -= base->packets;
	out->bytes -= base->bytes;
}

const struct settings *manager_settings(const struct manager *m)
{
	return &m->settings;
}

struct store *manager_store(struct manager *m)
{
	return m->store;
}

size_t manager_proxy_count(const struct manager *m)
{
	return m->nproxies;
}

void manager_proxy_view_at(const struct manager *m, size_t i, struct manager_proxy_view *out)
{
	const struct proxy_config *p = &m->proxies[i];
	uint16_t slot = m->slot_of[i];

	memset(out, 0, sizeof(*out));
	out->config = *p;
	out->slot = slot;
	out->probe = manager_probe_kind(m, p);
	if (slot == 0)
		return;
	out->health = m->state[slot].health;
	out->active_clients = m->slots.active[slot];
	manager_proxy_counters(m, slot, &out->counters);
}

int manager_proxy_view(const struct manager *m, int64_t id, struct manager_proxy_view *out)
{
	for (size_t i = 0; i < m->nproxies; i++) {
		if (m->proxies[i].id == id) {
			manager_proxy_view_at(m, i, out);
			return 0;
		}
	}
	return -ENOENT;
}

void manager_stats(const struct manager *m, struct manager_stats *out)
{
	uint64_t counters[DP_COUNTER_COUNT], malformed[PACKET_ERR_COUNT];

	memset(out, 0, sizeof(*out));
	datapath_counters(&m->dp, counters, malformed);
	for (unsigned i = 0; i < DP_COUNTER_COUNT; i++)
		out->counters[i] = (struct manager_counter){datapath_counter_name(i), counters[i]};
	for (unsigned e = PACKET_OK + 1; e < PACKET_ERR_COUNT; e++)
		out->malformed[e - 1] =
		    (struct manager_counter){packet_error_name(e), malformed[e]};
	datapath_kernel_drops(&m->dp, &out->kernel_queue_full_drops,
			      &out->kernel_socket_full_drops);
	out->queues = m->queues;
	out->fast_path_on = fastpath_attached(m->dp.fast);
	snprintf(out->fast_path_error, sizeof(out->fast_path_error), "%s", m->fast_path_error);
	out->fast_clients = m->dp.fast != NULL ? fastpath_clients(m->dp.fast) : 0;
}

int manager_audit_page(struct manager *m, int64_t before, size_t limit,
		       struct audit_entry **entries, size_t *n, char *err, size_t errlen)
{
	int ret = store_audit_list(m->store, before, limit, entries, n);

	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	return 0;
}

bool manager_rules_managed(const struct manager *m)
{
	return m->manage_rules;
}

const struct pool_snapshot *manager_snapshot(const struct manager *m)
{
	/* Only the control thread replaces or frees snapshots: reading it here is safe. */
	return m->dp.current;
}

uint64_t manager_progress(const struct manager *m)
{
	return datapath_min_progress(&m->dp);
}
