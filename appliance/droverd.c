/* droverd.c - the drover daemon: NFQUEUE packet threads plus a libevent control loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "control.h"
#include "fastpath.h"
#include "log.h"
#include "manager.h"
#include "privilege.h"
#include "rules.h"
#include "account.h"
#include "webui.h"

/* How often the affinity table is swept and retired snapshots reclaimed. */
#define DROVERD_TICK_MS 1000
/* The notify hook's state file holds one word: MASTER, BACKUP, FAULT or STOP. */
#define DROVERD_VRRP_LINE_MAX 32

struct droverd {
	struct manager *m;
	struct event_base *base;
	struct control *control;
	struct webui *webui;
	bool webui_enabled; /* the admin account is ready: the UI may (re)start */
	const char *db_path;
	struct event *tick;
	struct event *watchdog;
	uint64_t last_progress;
	bool leave; /* SIGTERM: the fast path and the rules stay for the next droverd */
};

static void droverd_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: droverd [options]\n"
	    "  --db PATH          configuration database (default %s)\n"
	    "  --socket PATH      droverctl socket (default %s)\n"
	    "  --manage-rules     install the iptables chain and sysctls at start, remove at stop\n"
	    "                     (SIGINT or --cleanup; SIGTERM leaves them for the next start)\n"
	    "  --bpf-pin-dir DIR  where the fast path is pinned to outlive droverd, on a bpffs\n"
	    "                     (default $DROVER_BPF_PIN_DIR, else %s; '' pins nothing)\n"
	    "  --cleanup          remove what a stopped droverd left (pinned fast path, and\n"
	    "                     with --manage-rules the chain) and exit: the end of a stop\n"
	    "  --print-rules      print the iptables-restore ruleset for the stored config and "
	    "exit\n"
	    "  --admin-password-file FILE\n"
	    "                     first start: the web UI admin's initial password (first line);\n"
	    "                     without it one is generated into initial-admin-password\n"
	    "                     next to the database\n"
	    "  --user USER        run as USER with only CAP_NET_ADMIN and CAP_NET_RAW\n"
	    "                     (started as root; the database's and the socket's\n"
	    "                     directories must be USER's, or are created for it)\n"
	    "  --log-level LEVEL  error, warning, info (default) or debug\n"
	    "  --version          print the version and exit\n",
	    STORE_DEFAULT_PATH, CONTROL_DEFAULT_SOCKET, FASTPATH_PIN_DIR_DEFAULT);
}

/* Restarts the web UI with the settings now in force (they changed a moment ago). */
static void droverd_restart_webui(evutil_socket_t fd, short what, void *arg)
{
	struct droverd *d = arg;
	char err[MANAGER_ERR_MAX];

	(void)fd;
	(void)what;
	webui_stop(d->webui);
	d->webui = webui_start(d->base, d->m, d->db_path, err, sizeof(err));
	if (d->webui == NULL)
		log_warnx("web UI disabled: %s (fix the setting with droverctl)", err);
}

/*
 * The web UI's listener settings (SETTING_APPLY_WEB_LISTENER) take effect
 * live: the server is restarted a moment later, so that the request that changed them gets its
 * answer first. Sessions do not survive it; whoever moved the UI signs in again.
 */
static void droverd_on_setting(void *arg, const char *key)
{
	const struct setting_def *def = settings_find(key);
	struct droverd *d = arg;
	struct timeval soon = {0, 300 * 1000};

	if (def != NULL && (def->apply & SETTING_APPLY_WEB_LISTENER) && d->webui_enabled)
		event_base_once(d->base, -1, EV_TIMEOUT, droverd_restart_webui, d, &soon);
}

static void droverd_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct droverd *d = arg;

	(void)what;
	/*
	 * SIGTERM is what systemd sends for a stop and a restart alike: leave
	 * the fast path carrying known clients, and let the unit's
	 * ExecStopPost (droverd --cleanup) remove it when no start follows.
	 * SIGINT (a droverd run by hand) removes everything now.
	 */
	d->leave = sig == SIGTERM;
	log_info("signal %d: stopping%s", (int)sig,
		 d->leave ? ", leaving the fast path for the next start" : "");
	event_base_loopbreak(d->base);
}

static void droverd_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct droverd *d = arg;

	(void)fd;
	(void)what;
	manager_tick(d->m);
}

/* Pings systemd only while every packet thread keeps going round its loop. */
static void droverd_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct droverd *d = arg;
	uint64_t progress = manager_progress(d->m);

	(void)fd;
	(void)what;
	if (progress != d->last_progress)
		sd_notify(0, "WATCHDOG=1");
	else
		log_warnx("a packet thread made no progress: withholding the watchdog ping");
	d->last_progress = progress;
}

static int droverd_print_rules(const char *db)
{
	struct store *store;
	struct settings s;
	struct proxy_config *proxies = NULL;
	size_t n = 0;
	char err[MANAGER_ERR_MAX], doc[16384];
	int ret;

	ret = store_open(db, &store, err, sizeof(err));
	if (ret < 0) {
		log_warnx("%s", err);
		return 1;
	}
	if (store_settings_load(store, &s) < 0 || store_proxy_list(store, &proxies, &n) < 0) {
		log_warnx("%s", store_error(store));
		store_close(store);
		return 1;
	}
	ret = rules_render_pool(&s, manager_effective_queues(&s), proxies, n, doc, sizeof(doc));
	if (ret >= 0)
		fputs(doc, stdout);
	free(proxies);
	store_close(store);
	return ret >= 0 ? 0 : 1;
}

/* What a stop leaves to be removed once droverd has gone (a restart keeps it). */
static int droverd_cleanup(const char *pin_dir, bool manage_rules)
{
	int ret = pin_dir[0] != '\0' ? fastpath_cleanup(pin_dir) : 0;

	if (ret < 0)
		log_warnx("cannot remove the fast path pinned in %s: %s", pin_dir, strerror(-ret));
	if (manage_rules)
		rules_remove();
	log_info("cleaned up: no fast path%s left", manage_rules ? " and no rules" : "");
	return ret < 0 ? 1 : 0;
}

/* The directory part of path ("." when there is none), into buf. */
static const char *droverd_dirname(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
	return buf;
}

/*
 * keepalived tells its state only when it changes: a droverd (re)started
 * while keepalived stays MASTER or BACKUP takes the last state the notify
 * hook reported from the file it keeps beside the control socket
 * (CLUSTER_VRRP_STATE_SUFFIX). No file, or a word that is not a state:
 * UNKNOWN until the next change, as before.
 */
static void droverd_vrrp_restore(struct manager *m, const char *socket_path)
{
	char path[PATH_MAX], line[DROVERD_VRRP_LINE_MAX];
	enum cluster_vrrp state;
	FILE *f;
	int fd;

	if (snprintf(path, sizeof(path), "%s%s", socket_path, CLUSTER_VRRP_STATE_SUFFIX) >=
	    (int)sizeof(path))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return;
	}
	if (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (cluster_vrrp_parse(line, &state) && state != CLUSTER_VRRP_UNKNOWN) {
			log_info("cluster: VRRP state %s, as keepalived's notify hook last "
				 "reported it (%s)",
				 cluster_vrrp_name(state), path);
			manager_cluster_vrrp_set(m, state, "droverd");
		} else {
			log_warnx("cluster: %s does not hold a VRRP state: ignored", path);
		}
	}
	fclose(f);
}

static int droverd_drop_privileges(const char *user, const char *db_path, const char *socket_path)
{
	char db_dir[PATH_MAX], socket_dir[PATH_MAX], err[MANAGER_ERR_MAX];
	const char *dirs[2];
	size_t n = 0;
	int ret;

	dirs[n++] = droverd_dirname(db_path, db_dir, sizeof(db_dir));
	droverd_dirname(socket_path, socket_dir, sizeof(socket_dir));
	if (strcmp(db_dir, socket_dir) != 0)
		dirs[n++] = socket_dir;
	ret = privilege_drop(user, dirs, n, err, sizeof(err));
	if (ret < 0)
		log_warnx("cannot run as %s: %s", user, err);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"socket", required_argument, NULL, 's'},
	    {"manage-rules", no_argument, NULL, 'r'},
	    {"bpf-pin-dir", required_argument, NULL, 'b'},
	    {"cleanup", no_argument, NULL, 'c'},
	    {"print-rules", no_argument, NULL, 'p'},
	    {"admin-password-file", required_argument, NULL, 'a'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"user", required_argument, NULL, 'u'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct manager_options opt = {.db_path = STORE_DEFAULT_PATH};
	const char *socket_path = CONTROL_DEFAULT_SOCKET;
	const char *admin_password_file = NULL;
	const char *user = NULL;
	enum log_level level = LOG_LEVEL_INFO;
	bool print_rules = false, cleanup = false;
	const char *pin_dir = getenv("DROVER_BPF_PIN_DIR");
	struct droverd d;
	struct manager_stats stats;
	size_t nproxies;
	struct event *sigterm, *sigint;
	char err[MANAGER_ERR_MAX];
	uint64_t watchdog_usec = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			opt.db_path = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'r':
			opt.manage_rules = true;
			break;
		case 'p':
			print_rules = true;
			break;
		case 'b':
			pin_dir = optarg;
			break;
		case 'c':
			cleanup = true;
			break;
		case 'a':
			admin_password_file = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'l':
			if (!log_parse_level(optarg, &level)) {
				fprintf(stderr, "droverd: invalid log level `%s'\n", optarg);
				return 2;
			}
			break;
		case 'V':
			printf("droverd %s\n", DROVER_VERSION);
			return 0;
		case 'h':
			droverd_usage(stdout);
			return 0;
		default:
			droverd_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "droverd: unexpected argument `%s'\n", argv[optind]);
		return 2;
	}
	log_init("droverd", level);
	if (print_rules)
		return droverd_print_rules(opt.db_path);
	if (pin_dir == NULL)
		pin_dir = FASTPATH_PIN_DIR_DEFAULT;
	if (cleanup)
		return droverd_cleanup(pin_dir, opt.manage_rules);
	/*
	 * Before anything is opened and before any thread exists (capabilities
	 * are per thread): queues, sockets, the database and the rules are then
	 * all set up by the unprivileged user with its two capabilities, the
	 * same way as under systemd's User= and AmbientCapabilities=.
	 */
	if (user != NULL && droverd_drop_privileges(user, opt.db_path, socket_path) < 0)
		return 1;

	signal(SIGPIPE, SIG_IGN);
	memset(&d, 0, sizeof(d));
	d.base = event_base_new();
	if (d.base == NULL)
		fatalx("cannot create the event loop");
	/* curl's global set-up is not thread-safe: before any packet thread starts. */
	if (probe_global_init() < 0)
		fatalx("cannot initialise libcurl");
	opt.base = d.base;
	opt.fast_path = true;
	opt.fast_path_pin_dir = pin_dir[0] != '\0' ? pin_dir : NULL;
	opt.setting_hook = droverd_on_setting;
	opt.setting_hook_arg = &d;
	d.m = manager_start(&opt, err, sizeof(err));
	if (d.m == NULL) {
		log_warnx("%s", err);
		event_base_free(d.base);
		return 1;
	}
	droverd_vrrp_restore(d.m, socket_path);
	d.control = control_open(d.base, d.m, socket_path, err, sizeof(err));
	if (d.control == NULL) {
		log_warnx("%s", err);
		manager_stop(d.m);
		event_base_free(d.base);
		return 1;
	}

	/*
	 * The web UI is for people: if it cannot start (port taken, bad
	 * certificate), traffic keeps flowing and droverctl still works.
	 */
	if (account_init(manager_store(d.m), opt.db_path, admin_password_file, err, sizeof(err)) <
	    0) {
		log_warnx("web UI disabled: %s", err);
	} else {
		d.webui_enabled = true;
		d.webui = webui_start(d.base, d.m, opt.db_path, err, sizeof(err));
		if (d.webui == NULL)
			log_warnx("web UI disabled: %s", err);
	}
	d.db_path = opt.db_path;

	sigterm = evsignal_new(d.base, SIGTERM, droverd_on_signal, &d);
	sigint = evsignal_new(d.base, SIGINT, droverd_on_signal, &d);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	d.tick = event_new(d.base, -1, EV_PERSIST, droverd_on_tick, &d);
	struct timeval tick = {DROVERD_TICK_MS / 1000, (DROVERD_TICK_MS % 1000) * 1000};
	event_add(d.tick, &tick);
	if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
		struct timeval half = {(time_t)(watchdog_usec / 2000000),
				       (suseconds_t)(watchdog_usec / 2 % 1000000)};
		d.watchdog = event_new(d.base, -1, EV_PERSIST, droverd_on_watchdog, &d);
		event_add(d.watchdog, &half);
	}

	manager_stats(d.m, &stats);
	nproxies = manager_proxy_count(d.m);
	log_info("drover %s: %u queue%s from %u, %zu prox%s, rules %s, socket %s", DROVER_VERSION,
		 stats.queues, stats.queues == 1 ? "" : "s", manager_settings(d.m)->queue_base,
		 nproxies, nproxies == 1 ? "y" : "ies", opt.manage_rules ? "managed" : "external",
		 socket_path);
	/* Queues are bound and rules are in place: only now are we ready. */
	sd_notify(0, "READY=1");

	event_base_dispatch(d.base);

	sd_notify(0, "STOPPING=1");
	webui_stop(d.webui);
	control_close(d.control);
	if (d.leave)
		manager_leave(d.m);
	else
		manager_stop(d.m);
	event_free(d.tick);
	if (d.watchdog != NULL)
		event_free(d.watchdog);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(d.base);
	probe_global_cleanup();
	log_info("stopped");
	return 0;
}
