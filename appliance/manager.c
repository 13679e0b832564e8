/* manager.c - droverd's control plane: store -> snapshot -> datapath and rules. */
#include "manager_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "fastpath.h"
#include "log.h"
#include "rules.h"

#define MANAGER_RECV_TIMEOUT_MS 200
#define MANAGER_DAY_SECS	(24 * 3600)

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

struct queue_options manager_queue_options(const struct settings *s)
{
	return (struct queue_options){
	    .maxlen = s->queue_maxlen,
	    .fail_open = s->fail_open,
	    .recv_timeout_ms = MANAGER_RECV_TIMEOUT_MS,
	};
}

int manager_set_queues(struct manager *m, uint16_t base, unsigned count,
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

/* p's stored verdict, when droverd is starting and one was stored for p at its address. */
static const struct store_health *manager_start_health(const struct manager *m,
						       const struct proxy_config *p)
{
	for (size_t i = 0; i < m->nstart_health; i++) {
		const struct store_health *h = &m->start_health[i];

		if (h->proxy_id == p->id && h->address == p->address)
			return h;
	}
	return NULL;
}

/*
 * Starts a slot's health: at start-up from the stored verdict when there is
 * one; otherwise from scratch (or up with assume_up_at_start), and a verdict
 * stored earlier no longer holds (the proxy is new, moved, or comes back from
 * disabled, unprobed meanwhile): it is forgotten, so a restart before the
 * next verdict does not trust it.
 */
static void manager_health_start(struct manager *m, struct manager_slot_state *st,
				 const struct proxy_config *p, bool fresh)
{
	const struct store_health *known = manager_start_health(m, p);

	if (fresh)
		st->stored = MANAGER_HEALTH_STORED_NONE;
	st->known_at_start = known != NULL;
	if (known != NULL) {
		health_init(&st->health, known->up, clock_now_ms());
		st->stored = known->up ? MANAGER_HEALTH_STORED_UP : MANAGER_HEALTH_STORED_DOWN;
		return;
	}
	health_init(&st->health, m->settings.assume_up_at_start, clock_now_ms());
	if (m->starting)
		return; /* a row that did not match is left for the next verdict */
	if (store_health_forget(m->store, p->id) < 0)
		log_warnx("cannot forget the health of proxy %" PRId64 ": %s", p->id,
			  store_error(m->store));
	st->stored = MANAGER_HEALTH_STORED_NONE;
}

bool manager_health_restarts(const struct manager *m, uint16_t slot, const struct proxy_config *p)
{
	const struct manager_slot_state *st = &m->state[slot];

	return m->baseline_owner[slot] != p->id || st->address != p->address ||
	       (st->admin == PROXY_ADMIN_DISABLED && p->admin != PROXY_ADMIN_DISABLED);
}

/*
 * Keeps a slot's runtime state in step with its proxy: a new owner starts
 * its counters from here and its health afresh (manager_health_start); so
 * does a proxy that moved to another address or comes back from disabled
 * (it was not probed).
 */
static void manager_slot_refresh(struct manager *m, uint16_t slot, const struct proxy_config *p)
{
	struct manager_slot_state *st = &m->state[slot];
	bool fresh = m->baseline_owner[slot] != p->id;
	bool revived = st->admin == PROXY_ADMIN_DISABLED && p->admin != PROXY_ADMIN_DISABLED;
	bool restarts = manager_health_restarts(m, slot, p);

	if (fresh) {
		m->baseline_owner[slot] = p->id;
		datapath_slot_counters(&m->dp, slot, &m->baseline[slot]);
	}
	if (restarts) {
		manager_health_start(m, st, p, fresh);
		st->address = p->address;
	}
	/*
	 * The IPv6 path starts as the proxy does (up when it starts up), so a
	 * restart or a new address does not switch its IPv6 clients to
	 * IPv6-in-IPv4 before any IPv6 probe failed. It is never stored.
	 */
	if (fresh || revived || memcmp(st->address6, p->address6, sizeof(st->address6)) != 0) {
		health_init(&st->health6, health_is_up(&st->health), clock_now_ms());
		memcpy(st->address6, p->address6, sizeof(st->address6));
	}
	if (p->admin != PROXY_ADMIN_DRAIN)
		st->drain_done = false;
	st->admin = p->admin;
}

/*
 * After a restart, each proxy gets back the slot the kernel's records name
 * it by (the previous droverd's numbering), so that they stay current.
 */
static void manager_slots_adopt(struct manager *m, const struct proxy_config *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t slot = fastpath_slot_of(m->dp.fast, list[i].address);

		if (slot != 0 && m->slots.owner[slot] == 0)
			m->slots.owner[slot] = list[i].id;
	}
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
	if (m->generation == 0 && fastpath_adopted(m->dp.fast))
		manager_slots_adopt(m, list, n);
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

int manager_apply_rules(struct manager *m, char *err, size_t errlen)
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

/* Up, and not a proxy never seen before that waits for the others' first verdicts. */
static bool manager_takes_clients(const struct manager *m, const struct manager_slot_state *st)
{
	return health_is_up(&st->health) && (!m->settling || st->known_at_start);
}

size_t manager_pool_members(const struct manager *m, const struct proxy_config *proxies,
			    const uint16_t *slot_of, size_t count, struct pool_member *members)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		if (slot_of[i] == 0)
			continue;
		members[n++] = (struct pool_member){
		    .config = &proxies[i],
		    .slot = slot_of[i],
		    .healthy = manager_takes_clients(m, &m->state[slot_of[i]]),
		    .down6 = proxy_has_address6(&proxies[i]) &&
			     !health_is_up(&m->state[slot_of[i]].health6),
		};
	}
	return n;
}

int manager_publish(struct manager *m, struct affinity_table *old_affinity, char *err,
		    size_t errlen)
{
	struct pool_member *members = calloc(m->nproxies ? m->nproxies : 1, sizeof(*members));
	struct pool_snapshot *snap;
	size_t n;

	if (members == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Until the probes speak, the kernel keeps carrying clients of the proxies it knows. */
	if (m->dp.fast != NULL)
		fastpath_hold(m->dp.fast, m->settling);
	n = manager_pool_members(m, m->proxies, m->slot_of, m->nproxies, members);
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

enum probe_kind manager_probe_kind(const struct manager *m, const struct proxy_config *p)
{
	if (p->probe_override)
		return p->probe;
	return (enum probe_kind)m->settings.probe_kind;
}

/*
 * Gives the cache manager reads every proxy with squid_stats that is probed
 * (not disabled, with a slot), at its IPv4 address and the probe port.
 */
static int manager_update_squid_stats(struct manager *m)
{
	struct squid_stats_target *targets;
	size_t n = 0;
	int ret;

	if (m->squid == NULL)
		return 0;
	targets = calloc(m->nproxies ? m->nproxies : 1, sizeof(*targets));
	if (targets == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < m->nproxies; i++) {
		const struct proxy_config *p = &m->proxies[i];

		if (!p->squid_stats || p->admin == PROXY_ADMIN_DISABLED || m->slot_of[i] == 0)
			continue;
		targets[n++] = (struct squid_stats_target){
		    .id = p->id, .address = p->address, .port = (uint16_t)m->settings.probe_port};
	}
	ret = squid_stats_set_targets(m->squid, targets, n, m->settings.squid_stats_interval_ms);
	free(targets);
	return ret;
}

int manager_update_probes(struct manager *m)
{
	/* Two targets a proxy at most: its IPv4 address, and its IPv6 address if it has one. */
	struct probe_target *targets = calloc(m->nproxies ? 2 * m->nproxies : 1, sizeof(*targets));
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
		t->family = PROBE_FAMILY_IPV4;
		n++;
		if (proxy_has_address6(p)) {
			targets[n] = *t;
			targets[n].family = PROBE_FAMILY_IPV6;
			targets[n].address = 0;
			memcpy(targets[n].address6, p->address6, sizeof(targets[n].address6));
			n++;
		}
	}
	ret = prober_set_targets(m->prober, targets, n);
	free(targets);
	prober_set_max_in_flight(m->prober, s->probe_max_in_flight);
	if (ret == 0)
		ret = manager_update_squid_stats(m);
	return ret;
}

/*
 * Every probed proxy not known at start has its first verdict: up, or failed
 * at least once. Those that started from a stored verdict already have one.
 */
static bool manager_settled(const struct manager *m)
{
	for (size_t i = 0; i < m->nproxies; i++) {
		const struct health *h = &m->state[m->slot_of[i]].health;

		if (m->slot_of[i] == 0 || m->proxies[i].admin == PROXY_ADMIN_DISABLED ||
		    m->state[m->slot_of[i]].known_at_start)
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

/*
 * Stores the proxy's verdict when it differs from the one stored: up after a
 * good probe, or down after a failed one. A proxy on its way (going up or
 * going down), or not probed yet (up only by assume_up_at_start), has no new
 * verdict. A failed write is retried at the next probe.
 */
static void manager_health_store(struct manager *m, const struct proxy_config *p,
				 struct manager_slot_state *st)
{
	enum manager_health_stored verdict;

	if (st->health.state == HEALTH_UP && st->health.checks > 0)
		verdict = MANAGER_HEALTH_STORED_UP;
	else if (st->health.state == HEALTH_DOWN && st->health.failed_checks > 0)
		verdict = MANAGER_HEALTH_STORED_DOWN;
	else
		return;
	if (verdict == st->stored)
		return;
	if (store_health_set(m->store, p->id, p->address, verdict == MANAGER_HEALTH_STORED_UP) <
	    0) {
		log_warnx("cannot store the health of proxy %" PRId64 " %s: %s", p->id, p->name,
			  store_error(m->store));
		return;
	}
	st->stored = verdict;
}

static void manager_on_probe(void *arg, int64_t id, enum probe_family family,
			     enum check_result result, uint32_t duration_ms)
{
	if (family == PROBE_FAMILY_IPV6)
		manager_probe6_done(arg, id, result, duration_ms);
	else
		manager_probe_done(arg, id, result, duration_ms);
}

void manager_probe6_done(struct manager *m, int64_t id, enum check_result result,
			 uint32_t duration_ms)
{
	const struct proxy_config *p;
	struct manager_slot_state *st;
	uint16_t slot = 0;
	char detail[256], text6[INET6_ADDRSTRLEN], err[MANAGER_ERR_MAX];

	p = manager_proxy_find(m, id, &slot);
	if (p == NULL || slot == 0 || !proxy_has_address6(p))
		return;
	st = &m->state[slot];
	if (!health_record(&st->health6, result, duration_ms, m->settings.probe_rise,
			   m->settings.probe_fall, clock_now_ms()))
		return;
	bool up = health_is_up(&st->health6);
	snprintf(detail, sizeof(detail),
		 "proxy %" PRId64 " %s IPv6 address %s is %s: %s %s in %u ms%s", p->id, p->name,
		 proxy_address6_text(p, text6, sizeof(text6)), up ? "up" : "down",
		 probe_kind_name(manager_probe_kind(m, p)), check_result_name(result), duration_ms,
		 up ? ", its IPv6 clients go in IPv6-in-IPv6 again"
		    : ", its IPv6 clients go in IPv6-in-IPv4 meanwhile");
	if (up)
		log_info("%s", detail);
	else
		log_warnx("%s", detail);
	store_audit_add(m->store, "droverd", up ? "proxy.ipv6-up" : "proxy.ipv6-down", detail);
	if (manager_publish(m, NULL, err, sizeof(err)) < 0)
		log_warnx("cannot apply the IPv6 health change: %s", err);
}

void manager_probe_done(struct manager *m, int64_t id, enum check_result result,
			uint32_t duration_ms)
{
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
		manager_health_store(m, p, st);
		manager_settle_check(m);
		return;
	}
	manager_health_store(m, p, st);
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

/* The fast path's own mode for the setting (off is the manager's, not the fast path's). */
static enum fastpath_mode manager_fast_path_mode(enum fast_path_mode mode)
{
	switch (mode) {
	case FAST_PATH_MODE_XDP:
		return FASTPATH_MODE_XDP;
	case FAST_PATH_MODE_TC:
		return FASTPATH_MODE_TC;
	case FAST_PATH_MODE_AUTO:
	case FAST_PATH_MODE_OFF:
		break;
	}
	return FASTPATH_MODE_AUTO;
}

void manager_fast_path_apply(struct manager *m)
{
	/* fast_path stays the switch it always was; fast_path_mode off is the same switch. */
	bool on = m->settings.fast_path && m->settings.fast_path_mode != FAST_PATH_MODE_OFF;

	if (!on || !m->fast_path_allowed) {
		if (fastpath_attached(m->dp.fast)) {
			fastpath_detach_all(m->dp.fast);
			log_info("fast path off: every web packet goes through NFQUEUE");
		} else if (m->dp.fast == NULL && m->fast_path_allowed && m->fast_path_pin_dir) {
			/* Switched off while droverd was away: what it left goes too. */
			fastpath_cleanup(m->fast_path_pin_dir);
		}
		m->fast_path_error[0] = '\0';
		return;
	}
	if (m->dp.fast == NULL) {
		m->dp.fast =
		    fastpath_open_pinned(m->settings.affinity_max_clients, m->fast_path_pin_dir,
					 m->fast_path_error, sizeof(m->fast_path_error));
		if (m->dp.fast == NULL) {
			log_warnx(
			    "fast path unavailable, every web packet goes through NFQUEUE: %s",
			    m->fast_path_error);
			return;
		}
	}
	fastpath_set_grace(m->dp.fast, m->settings.fast_path_grace_seconds);
	fastpath_set_mode(m->dp.fast, manager_fast_path_mode(m->settings.fast_path_mode));
	if (!fastpath_attached(m->dp.fast)) {
		unsigned n = fastpath_attach_all(m->dp.fast), nxdp = 0;
		int ifindex[FASTPATH_IFACES_MAX];
		unsigned k = fastpath_interfaces(m->dp.fast, ifindex, FASTPATH_IFACES_MAX);
		for (unsigned i = 0; i < k; i++)
			nxdp += fastpath_interface_path(m->dp.fast, ifindex[i], NULL) ==
				FASTPATH_PATH_XDP;
		log_info("fast path on: attached to %u interface%s (%s), native XDP in front on %u",
			 n, n == 1 ? "" : "s", fastpath_attach_kind(m->dp.fast), nxdp);
	}
	m->fast_path_error[0] = '\0';
}

void manager_check_stored_settings(struct settings *s)
{
	char why[MANAGER_ERR_MAX];

	if (settings_check(s, why, sizeof(why)) == 0)
		return;
	settings_check_reset(s, why, sizeof(why));
	log_warnx("database: ignoring stored settings: %s", why);
}

int manager_render_rules(const struct manager *m, char *buf, size_t len)
{
	return rules_render_pool(&m->settings, manager_effective_queues(&m->settings), m->proxies,
				 m->nproxies, buf, len);
}

/* manager_start's work on a zeroed m; on failure manager_stop undoes what was done. */
static int manager_open(struct manager *m, const struct manager_options *opt, char *err,
			size_t errlen)
{
	struct queue_options qopt;
	int ret;

	datapath_init(&m->dp);
	m->cluster.base = opt->base;
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
	/* Proxies start from their last known health; without it, they settle as below. */
	ret = store_health_list(m->store, &m->start_health, &m->nstart_health);
	if (ret < 0) {
		log_warnx("cannot read the proxies' last known health, they start afresh: %s",
			  store_error(m->store));
		m->start_health = NULL;
		m->nstart_health = 0;
	}
	m->starting = true;
	m->fast_path_pin_dir = opt->fast_path_pin_dir;
	/* Before the proxies get their slots: a previous droverd's fast path names them. */
	manager_fast_path_apply(m);
	ret = manager_load_proxies(m, err, errlen);
	m->starting = false;
	free(m->start_health);
	m->start_health = NULL;
	m->nstart_health = 0;
	if (ret < 0)
		return ret;

	/* Probed proxies never seen before take clients together, once each has its first verdict.
	 */
	m->settling = opt->base != NULL && !m->settings.assume_up_at_start && !manager_settled(m);
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
	/* The first snapshot is in place before any packet can arrive. */
	ret = manager_publish(m, NULL, err, errlen);
	if (ret < 0)
		return ret;
	if (fastpath_adopted(m->dp.fast)) {
		/* The clients the kernel carries keep their proxies in droverd's table too. */
		fastpath_walk(m->dp.fast, m->affinity, m->hash_key);
		log_info("fast path: %" PRIu64 " client%s kept on their proxies",
			 fastpath_clients(m->dp.fast),
			 fastpath_clients(m->dp.fast) == 1 ? "" : "s");
	}

	if (opt->base != NULL) {
		m->prober = prober_new(opt->base, manager_on_probe, m);
		m->squid = squid_stats_new(opt->base);
		if (m->prober == NULL || m->squid == NULL || manager_update_probes(m) < 0) {
			snprintf(err, errlen, "cannot start the health probes");
			return -ENOMEM;
		}
	}

	/* A replica serves what it last took, and asks its primary for anything newer. */
	manager_cluster_configure(m);

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

static void manager_close(struct manager *m, bool leave)
{
	if (m == NULL)
		return;
	/*
	 * A stop takes the fast path off first: its clients' packets go back to
	 * the queues, still answered; then the rules: no new packet is queued,
	 * then the queues drain and close. A restart leaves the fast path to the
	 * next droverd: it runs at tc ingress, before the rules, so the clients
	 * it knows keep their proxies while the rules are away.
	 */
	leave = leave && fastpath_pinned(m->dp.fast) && fastpath_attached(m->dp.fast);
	if (m->dp.fast != NULL && !leave)
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
	squid_stats_free(m->squid);
	m->squid = NULL;
	manager_cluster_close(m);
	datapath_stop(&m->dp);
	/* The threads are gone: nothing records clients any more. */
	if (leave)
		fastpath_leave(m->dp.fast);
	else
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

void manager_stop(struct manager *m)
{
	manager_close(m, false);
}

void manager_leave(struct manager *m)
{
	manager_close(m, true);
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
	manager_cluster_tick(m);
	/* The audit log stays within its bounds, whatever writes to it. */
	if (store_audit_prune(m->store, m->settings.audit_max_entries,
			      clock_wall_s() -
				  (int64_t)m->settings.audit_max_age_days * MANAGER_DAY_SECS,
			      NULL) < 0)
		log_warnx("cannot prune the audit log: %s", store_error(m->store));
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

int manager_proxies_changed(struct manager *m, char *err, size_t errlen)
{
	int ret = manager_load_proxies(m, err, errlen);

	if (ret == 0)
		ret = manager_publish(m, NULL, err, errlen);
	if (ret == 0 && manager_update_probes(m) < 0) {
		snprintf(err, errlen, "out of memory updating the probes");
		ret = -ENOMEM;
	}
	if (ret == 0)
		ret = manager_apply_rules(m, err, errlen);
	if (ret == 0 && fastpath_attached(m->dp.fast)) {
		for (size_t i = 0; i < m->nproxies; i++)
			fastpath_forget(m->dp.fast, m->proxies[i].address);
	}
	if (ret < 0)
		log_warnx("a stored proxy change could not be applied: %s", err);
	return ret;
}

int manager_store_error(struct manager *m, int ret, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", store_error(m->store));
	return ret;
}

int manager_proxy_add(struct manager *m, struct proxy_config *p, const char *actor, char *err,
		      size_t errlen)
{
	int ret = manager_cluster_refuse(m, err, errlen);

	if (ret < 0)
		return ret;
	ret = store_proxy_add(m->store, p, actor);
	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	log_info("proxy %" PRId64 " %s added by %s", p->id, p->name, actor);
	return manager_proxies_changed(m, err, errlen);
}

int manager_proxy_update(struct manager *m, struct proxy_config *p, int64_t expected_version,
			 const char *actor, char *err, size_t errlen)
{
	int ret = manager_cluster_refuse(m, err, errlen);

	if (ret < 0)
		return ret;
	ret = store_proxy_update(m->store, p, expected_version, actor);
	if (ret < 0)
		return manager_store_error(m, ret, err, errlen);
	log_info("proxy %" PRId64 " %s changed by %s: weight %u, %s", p->id, p->name, actor,
		 p->weight, proxy_admin_name(p->admin));
	return manager_proxies_changed(m, err, errlen);
}

int manager_proxy_delete(struct manager *m, int64_t id, int64_t expected_version, const char *actor,
			 char *err, size_t errlen)
{
	int ret = manager_cluster_refuse(m, err, errlen);

	if (ret < 0)
		return ret;
	ret = store_proxy_delete(m->store, id, expected_version, actor);
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

const struct proxy_config *manager_proxy_by_slot(const struct manager *m, uint16_t slot)
{
	for (size_t i = 0; i < m->nproxies; i++) {
		if (m->slot_of[i] == slot)
			return &m->proxies[i];
	}
	return NULL;
}
