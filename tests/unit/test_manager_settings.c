/*
 * test_manager_settings.c - settings on a running manager: every key applies
 * live through its apply flags, and the cross-field rules (settings_check)
 * hold for `settings set', the load at start and a restore.
 *
 * The manager runs over a real store in a temporary directory, without
 * NFQUEUE, rules, probes or the fast path: its queue_binder seam records
 * the rebinding it is asked for instead of binding queues.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datapath.h"
#include "log.h"
#include "manager.h"

/* What the queue step asked for. */
static struct {
	unsigned calls;
	uint16_t base;
	unsigned count;
} bound;

static int record_queues(void *arg, uint16_t base, unsigned count, char *err, size_t errlen)
{
	(void)arg;
	(void)err;
	(void)errlen;
	bound.calls++;
	bound.base = base;
	bound.count = count;
	return 0;
}

struct world {
	char dir[64];
	char db[128];
	char tmp[128]; /* TMPDIR: a restore must leave nothing there */
	struct manager *m;
	bool running;
	char hooked[64]; /* the key setting_hook was last called with */
	unsigned hook_calls;
};

/* Writes settings (key, value pairs, NULL-terminated) into a new database at path. */
static void make_db(const char *path, const char *const *pairs)
{
	struct store *s;
	char err[MANAGER_ERR_MAX];

	if (store_open(path, &s, err, sizeof(err)) < 0)
		fail_msg("store_open %s: %s", path, err);
	for (size_t i = 0; pairs[i] != NULL; i += 2) {
		if (store_setting_set(s, pairs[i], pairs[i + 1], "test") < 0)
			fail_msg("%s=%s: %s", pairs[i], pairs[i + 1], store_error(s));
	}
	store_close(s);
}

static unsigned queues_bound(const struct manager *m)
{
	struct manager_stats st;

	manager_stats(m, &st);
	return st.queues;
}

static void on_setting(void *arg, const char *key)
{
	struct world *w = arg;

	snprintf(w->hooked, sizeof(w->hooked), "%s", key);
	w->hook_calls++;
}

static void start(struct world *w)
{
	struct manager_options opt = {
	    .db_path = w->db,
	    .queue_binder = record_queues,
	    .setting_hook = on_setting,
	    .setting_hook_arg = w,
	};
	char err[MANAGER_ERR_MAX];

	memset(&bound, 0, sizeof(bound));
	w->m = manager_start(&opt, err, sizeof(err));
	if (w->m == NULL)
		fail_msg("manager_start: %s", err);
	w->running = true;
}

/* Small tables keep the test quick, under the sanitizers too. */
static const char *const small[] = {
    "affinity_max_clients", "1024", "maglev_table_size", "251", NULL,
};

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	log_init("test", LOG_LEVEL_ERROR);
	assert_non_null(scratch_make(w->dir, sizeof(w->dir), "manager"));
	snprintf(w->db, sizeof(w->db), "%s/drover.db", w->dir);
	snprintf(w->tmp, sizeof(w->tmp), "%s/tmp", w->dir);
	assert_int_equal(mkdir(w->tmp, 0700), 0);
	assert_int_equal(setenv("TMPDIR", w->tmp, 1), 0);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	if (w->running)
		manager_stop(w->m);
	scratch_remove(w->dir);
	unsetenv("TMPDIR");
	free(w);
	return 0;
}

static void expect_setting(const struct settings *s, const char *key, const char *want)
{
	char buf[SETTINGS_VALUE_MAX];

	assert_true(settings_format(s, key, buf, sizeof(buf)));
	if (strcmp(buf, want) != 0)
		fail_msg("%s is `%s', expected `%s'", key, buf, want);
}

/* The value the live store holds for key (its default when none is stored). */
static void expect_stored_setting(struct world *w, const char *key, const char *want)
{
	struct settings s;

	assert_int_equal(store_settings_load(manager_store(w->m), &s), 0);
	expect_setting(&s, key, want);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static size_t count_audit(struct world *w, const char *action)
{
	struct audit_entry *list = NULL;
	size_t n = 0, hits = 0;

	assert_int_equal(store_audit_list(manager_store(w->m), 0, 500, &list, &n), 0);
	for (size_t i = 0; i < n; i++)
		hits += strcmp(list[i].action, action) == 0;
	free(list);
	return hits;
}

/* Every key, changed live to another valid value: applied, in force, and the hook told. */
static void test_every_key_applies(void **state)
{
	static const char *const values[][2] = {
	    {"queues", "2"},
	    {"queue_base", "10"},
	    {"queue_maxlen", "128"},
	    {"fail_open", "false"},
	    {"fast_path", "false"},
	    {"fast_path_mode", "tc"},
	    {"fast_path_grace_seconds", "60"},
	    {"ports", "80"},
	    {"client_subnets", "10.0.0.0/8"},
	    {"no_proxy_policy", "drop"},
	    {"malformed_policy", "drop"},
	    {"affinity_timeout", "60"},
	    {"affinity_max_clients", "2048"},
	    {"maglev_table_size", "257"},
	    {"tunnel_source", "198.18.0.1"},
	    {"tunnel_source6", "2001:db8::1"},
	    {"frag_needed_rate", "5"},
	    {"ipv6_client_prefix", "64"},
	    {"reject_rate", "7"},
	    {"quic_policy", "pass"},
	    {"quic_reject_rate", "50"},
	    {"probe_kind", "tcp"},
	    {"probe_interval_ms", "3000"},
	    {"probe_timeout_ms", "1500"},
	    {"probe_rise", "3"},
	    {"probe_fall", "4"},
	    {"probe_port", "8080"},
	    {"probe_status", "200"},
	    {"probe_url", "http://example.org/"},
	    {"probe_path", "/health"},
	    {"probe_host", "example.org"},
	    {"probe_max_in_flight", "8"},
	    {"squid_stats_interval_ms", "5000"},
	    {"assume_up_at_start", "true"},
	    {"http_listen", "127.0.0.1:8081"},
	    {"https", "true"},
	    {"tls_cert", "/etc/drover/web.pem"},
	    {"tls_key", "/etc/drover/web-key.pem"},
	    {"metrics_access", "open"},
	    {"session_idle_seconds", "600"},
	    {"web_hosts", "drover.example.net"},
	    {"login_free_failures", "3"},
	    {"login_delay_max_seconds", "60"},
	    {"login_global_failures", "500"},
	    {"audit_max_entries", "5000"},
	    {"audit_max_age_days", "90"},
	    {"http_max_connections", "128"},
	    {"http_max_connections_per_source", "8"},
	    {"cluster_role", "primary"},
	    {"cluster_primary", "https://198.51.100.1:8443"},
	    {"cluster_token_file", "/etc/drover/primary-token"},
	    {"cluster_ca_file", "/etc/drover/primary-ca.pem"},
	    {"cluster_poll_ms", "1000"},
	    {"cluster_node_name", "drover-b"},
	    {"ha_interface", "lan0"},
	    {"ha_vip", "198.18.1.1"},
	    {"ha_upstream_interface", "wan0"},
	    {"ha_upstream_vip", "198.18.64.1"},
	    {"ha_peers", "198.18.1.3"},
	    {"ha_router_id", "61"},
	    {"ha_priority", "150"},
	    {"ha_advert_ms", "300"},
	    {"ha_backend", "aws-route"},
	    {"ha_aws_route_tables", "rtb-0a1,rtb-0a2"},
	    {"ha_aws_eni", "eni-0a"},
	    {"ha_aws_region", "eu-west-1"},
	    {"ha_aws_peer_route_tables", "rtb-0b1"},
	    {"ha_aws_peer_router_id", "62"},
	};
	struct world *w = *state;
	char err[MANAGER_ERR_MAX];

	make_db(w->db, small);
	start(w);
	assert_int_equal(sizeof(values) / sizeof(values[0]), settings_count());
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const char *key = values[i][0], *value = values[i][1];
		unsigned calls = bound.calls, hooks = w->hook_calls;
		uint64_t generation = manager_snapshot(w->m)->generation;

		if (manager_setting_set(w->m, key, value, "test", err, sizeof(err)) < 0)
			fail_msg("%s=%s: %s", key, value, err);
		expect_setting(manager_settings(w->m), key, value);
		expect_stored_setting(w, key, value);
		assert_int_equal(w->hook_calls, hooks + 1);
		assert_string_equal(w->hooked, key);
		/* Every change publishes one snapshot; only the queue keys rebind. */
		assert_int_equal(manager_snapshot(w->m)->generation, generation + 1);
		if (settings_find(key)->apply & SETTING_APPLY_QUEUES)
			assert_int_equal(bound.calls, calls + 1);
		else
			assert_int_equal(bound.calls, calls);
	}
	/* The rebinding followed the settings. */
	assert_int_equal(bound.base, 10);
	assert_int_equal(bound.count, 2);
	assert_int_equal(queues_bound(w->m), 2);
}

static void test_set_refuses_combination(void **state)
{
	struct world *w = *state;
	char err[MANAGER_ERR_MAX];
	unsigned hooks;

	make_db(w->db, small);
	start(w);
	hooks = w->hook_calls;
	assert_int_equal(
	    manager_setting_set(w->m, "probe_interval_ms", "500", "test", err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "probe_interval_ms: probe_timeout_ms (1000) must not exceed "
				 "probe_interval_ms (500)");
	assert_int_equal(
	    manager_setting_set(w->m, "probe_timeout_ms", "2001", "test", err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "probe_timeout_ms: probe_timeout_ms (2001) must not exceed "
				 "probe_interval_ms (2000)");
	/* Neither stored nor applied. */
	expect_setting(manager_settings(w->m), "probe_interval_ms", "2000");
	expect_setting(manager_settings(w->m), "probe_timeout_ms", "1000");
	expect_stored_setting(w, "probe_interval_ms", "2000");
	expect_stored_setting(w, "probe_timeout_ms", "1000");
	assert_int_equal(w->hook_calls, hooks);
}

/* A stored pair that breaks the rule is treated as a stored value that no longer parses. */
static void test_start_checks_stored(void **state)
{
	static const char *const stored[] = {
	    "affinity_max_clients", "1024", "probe_interval_ms", "500", "probe_rise", "5", NULL,
	};
	struct world *w = *state;

	make_db(w->db, stored);
	start(w);
	expect_setting(manager_settings(w->m), "probe_interval_ms", "2000");
	expect_setting(manager_settings(w->m), "probe_timeout_ms", "1000");
	expect_setting(manager_settings(w->m), "probe_rise", "5");
	expect_setting(manager_settings(w->m), "affinity_max_clients", "1024");
}

static void read_whole(const char *path, char **bytes, long *len)
{
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	*len = ftell(f);
	rewind(f);
	*bytes = malloc((size_t)*len + 1);
	assert_non_null(*bytes);
	assert_int_equal(fread(*bytes, 1, (size_t)*len, f), (size_t)*len);
	fclose(f);
}

/* A backup whose settings break a rule is refused before anything changes. */
static void test_restore_refuses_combination(void **state)
{
	static const char *const bad[] = {
	    "affinity_max_clients",
	    "1024",
	    "affinity_timeout",
	    "99",
	    "probe_interval_ms",
	    "500",
	    NULL,
	};
	struct world *w = *state;
	struct manager_restore_result res;
	char err[MANAGER_ERR_MAX], backup[160], want[MANAGER_ERR_MAX];
	char *before, *after;
	long before_len, after_len;

	snprintf(backup, sizeof(backup), "%s/bad.db", w->dir);
	make_db(backup, bad);
	make_db(w->db, small);
	start(w);
	assert_int_equal(
	    manager_setting_set(w->m, "affinity_timeout", "77", "test", err, sizeof(err)), 0);
	read_whole(backup, &before, &before_len);

	assert_int_equal(manager_restore(w->m, backup, "test", &res, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "restore: `%s' is refused: it holds settings that do not go together: "
		 "probe_timeout_ms (1000) "
		 "must not exceed probe_interval_ms (500)",
		 backup);
	assert_string_equal(err, want);

	/* No trace: what is in force, what is stored, the audit log, the file, TMPDIR. */
	expect_setting(manager_settings(w->m), "affinity_timeout", "77");
	expect_setting(manager_settings(w->m), "probe_interval_ms", "2000");
	expect_stored_setting(w, "affinity_timeout", "77");
	expect_stored_setting(w, "probe_interval_ms", "2000");
	assert_int_equal(count_audit(w, "config.restore"), 0);
	read_whole(backup, &after, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, (size_t)before_len);
	free(before);
	free(after);
	assert_int_equal(count_files(w->tmp), 0);
}

static void test_restore_good_file(void **state)
{
	static const char *const good[] = {
	    "affinity_max_clients",
	    "1024",
	    "affinity_timeout",
	    "99",
	    "probe_interval_ms",
	    "3000",
	    "probe_timeout_ms",
	    "2500",
	    NULL,
	};
	struct world *w = *state;
	struct manager_restore_result res;
	char err[MANAGER_ERR_MAX], backup[160];

	snprintf(backup, sizeof(backup), "%s/good.db", w->dir);
	make_db(backup, good);
	make_db(w->db, small);
	start(w);
	if (manager_restore(w->m, backup, "test", &res, err, sizeof(err)) < 0)
		fail_msg("restore: %s", err);
	/* maglev_table_size goes back to its default too: the backup does not hold 251. */
	assert_int_equal(res.settings_changed, 4);
	expect_setting(manager_settings(w->m), "affinity_timeout", "99");
	expect_setting(manager_settings(w->m), "probe_interval_ms", "3000");
	expect_setting(manager_settings(w->m), "probe_timeout_ms", "2500");
	assert_int_equal(count_audit(w, "config.restore"), 1);
	assert_int_equal(count_files(w->tmp), 0);
}

/*
 * The file is checked where it lies, read-only: no copy is made, so a
 * missing temporary directory changes nothing, and a bad file is refused
 * before anything is replaced (it used to go in and be patched after).
 */
static void test_restore_needs_no_copy(void **state)
{
	static const char *const bad[] = {
	    "affinity_max_clients",
	    "1024",
	    "affinity_timeout",
	    "99",
	    "probe_interval_ms",
	    "500",
	    NULL,
	};
	struct world *w = *state;
	struct manager_restore_result res;
	char err[MANAGER_ERR_MAX], backup[160], missing[160];

	snprintf(backup, sizeof(backup), "%s/bad.db", w->dir);
	snprintf(missing, sizeof(missing), "%s/no-such-directory", w->dir);
	make_db(backup, bad);
	make_db(w->db, small);
	start(w);
	assert_int_equal(setenv("TMPDIR", missing, 1), 0);
	assert_int_equal(manager_restore(w->m, backup, "test", &res, err, sizeof(err)), -EINVAL);
	if (strstr(err, "settings that do not go together") == NULL)
		fail_msg("unexpected message: %s", err);
	expect_setting(manager_settings(w->m), "affinity_timeout", "300");
	expect_stored_setting(w, "probe_interval_ms", "2000");
	assert_int_equal(count_audit(w, "config.restore"), 0);
}

/*
 * The order of the live apply's steps, as documented above
 * manager_apply_setting_live. The fast path forgets its clients after the
 * rules change: packets queued under the old rules are still decided after
 * the forget, and would be recorded again if the rules came after it.
 */
static const enum setting_apply documented_order[] = {
    SETTING_APPLY_AFFINITY_RESIZE,  SETTING_APPLY_AFFINITY_TIMEOUT,
    SETTING_APPLY_QUEUE_OPTIONS,    SETTING_APPLY_FAST_PATH,
    SETTING_APPLY_SNAPSHOT,	    SETTING_APPLY_QUEUES,
    SETTING_APPLY_PROBES,	    SETTING_APPLY_RULES,
    SETTING_APPLY_FAST_PATH_FORGET,
};

static size_t order_of(enum setting_apply step)
{
	for (size_t i = 0; i < sizeof(documented_order) / sizeof(documented_order[0]); i++) {
		if (documented_order[i] == step)
			return i;
	}
	fail_msg("step %#x is not in the documented order", (unsigned)step);
	return 0;
}

static void test_apply_order(void **state)
{
	enum setting_apply steps[MANAGER_APPLY_STEPS];
	size_t n;

	(void)state;
	assert_int_equal(sizeof(documented_order) / sizeof(documented_order[0]),
			 MANAGER_APPLY_STEPS);
	/* client_subnets: the new snapshot, then the rules, then the kernel forgets. */
	n = manager_apply_plan(settings_find("client_subnets")->apply, steps);
	assert_int_equal(n, 3);
	assert_int_equal(steps[0], SETTING_APPLY_SNAPSHOT);
	assert_int_equal(steps[1], SETTING_APPLY_RULES);
	assert_int_equal(steps[2], SETTING_APPLY_FAST_PATH_FORGET);

	/* Every key: its own steps, in the documented order; the rules move with the queues. */
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_def *def = settings_def_at(i);
		unsigned want = def->apply &
				~(unsigned)(SETTING_APPLY_WEB_LISTENER | SETTING_APPLY_CLUSTER),
			 got = 0;

		if (want & SETTING_APPLY_QUEUES)
			want &= ~(unsigned)SETTING_APPLY_RULES;
		n = manager_apply_plan(def->apply, steps);
		for (size_t s = 0; s < n; s++) {
			if (s > 0 && order_of(steps[s - 1]) >= order_of(steps[s]))
				fail_msg("%s: step %#x runs before %#x", def->key,
					 (unsigned)steps[s - 1], (unsigned)steps[s]);
			got |= steps[s];
		}
		if (got != want)
			fail_msg("%s: steps %#x, flags ask for %#x", def->key, got, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_every_key_applies, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_set_refuses_combination, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_start_checks_stored, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_restore_refuses_combination, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_restore_good_file, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_restore_needs_no_copy, world_setup,
					    world_teardown),
	    cmocka_unit_test(test_apply_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
