/* droverctl.c - command-line control of a running droverd over its Unix socket. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <jansson.h>

#include "control.h"
#include "keepalived_conf.h"
#include "log.h"
#include "preflight.h"
#include "preflight_host.h"
#include "preflight_probe.h"
#include "settings.h"

enum droverctl_exit {
	EXIT_OK = 0,
	EXIT_REFUSED = 1, /* droverd answered with an error */
	EXIT_USAGE = 2,
	EXIT_NO_DAEMON = 3,
};

static const char *socket_path = CONTROL_DEFAULT_SOCKET;
static bool json_output;
/* Where call() says why it failed: stderr, or stdout for `ha check' (keepalived logs it). */
static FILE *diag;
/* 0: wait for droverd as long as it takes; else a deadline for each read and write. */
static unsigned call_timeout_ms;

/* The health check gives droverd this long to answer: a hung droverd is a broken one. */
#define HA_CHECK_TIMEOUT_MS 1500
/* Where the package installs the notify hook. */
#define HA_NOTIFY_DEFAULT "/usr/lib/drover/drover-ha-notify"
#define MS_PER_S	  1000
/* preflight: how long the tunnel probes and the instance metadata service get. */
#define PREFLIGHT_TIMEOUT_MS_DEFAULT 1000
#define PREFLIGHT_TIMEOUT_MS_MAX     60000
#define PREFLIGHT_IMDS_DEFAULT	     "http://169.254.169.254"

static void usage(FILE *out)
{
	fputs("usage: droverctl [--socket PATH] [--json] COMMAND\n"
	      "  proxy list\n"
	      "  proxy show ID\n"
	      "  proxy add ADDRESS [--name NAME] [--weight W] [--admin enabled|drain|disabled]\n"
	      "            [--probe default|http-proxy|http|tcp] [--address6 ADDRESS6]\n"
	      "            [--squid-stats on|off]\n"
	      "  proxy set ID [--name NAME] [--address ADDRESS] [--address6 ADDRESS6|none]\n"
	      "            [--weight W] [--probe KIND] [--squid-stats on|off] [--version V]\n"
	      "  proxy enable|drain|disable ID\n"
	      "  proxy del ID [--version V]\n"
	      "  proxy add|set|enable|drain|disable|del ... --dry-run\n"
	      "                             what the change would move (table share, active\n"
	      "                             clients that change proxy); changes nothing\n"
	      "  proxy setup-script ID [--mode kernel|decap] [--tunnel-address IP]\n"
	      "            [--intercept-port PORT]   shell script that prepares that proxy\n"
	      "  lookup CLIENT_IP [--count N]   (IPv4 or IPv6; --count: IPv4 only)\n"
	      "                             which proxy serves this client (N clients from it),\n"
	      "                             and why\n"
	      "  stats                      datapath and per-proxy counters\n"
	      "  settings [list]\n"
	      "  settings get KEY\n"
	      "  settings set KEY VALUE\n"
	      "  rules                      the iptables ruleset for the current config\n"
	      "  audit [--limit N] [--before ID]\n"
	      "  backup FILE                a consistent copy of the configuration database\n"
	      "  restore FILE               check FILE, replace the configuration with it, apply "
	      "it\n"
	      "  cluster                    this appliance's role, configuration generation and\n"
	      "                             table digest, and its peers': do they agree?\n"
	      "  cluster vrrp MASTER|BACKUP|FAULT|STOP\n"
	      "                             keepalived's state (its notify hook calls this)\n"
	      "  ha keepalived-config [--source IP] [--notify PATH] [--script-user USER]\n"
	      "                             this node's keepalived.conf, from its ha_* settings\n"
	      "  ha check                   exit 0 when droverd may hold the gateway, else the\n"
	      "                             reason on stdout (keepalived's health script)\n"
	      "  preflight [--timeout-ms N] [--imds URL]\n"
	      "                             check this appliance's set-up: ok or what to fix,\n"
	      "                             one line each; exit 1 when something must be fixed\n",
	      out);
}

static __attribute__((noreturn, format(printf, 1, 2))) void die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("droverctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	exit(EXIT_USAGE);
}

/* Strict decimal: digits only, within [min, max]. */
static json_int_t parse_int(const char *what, const char *text, json_int_t min, json_int_t max)
{
	char *end;
	long long v;

	errno = 0;
	if (text[0] < '0' || text[0] > '9')
		die_usage("invalid %s `%s'", what, text);
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		die_usage("invalid %s `%s'", what, text);
	return v;
}

/* Sends one request line, reads one response line. */
static json_t *call(json_t *req)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char *text = json_dumps(req, JSON_COMPACT);
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	json_error_t jerr;
	json_t *resp;
	int fd;

	json_decref(req);
	if (text == NULL || buf == NULL) {
		fprintf(stderr, "droverctl: out of memory\n");
		exit(EXIT_REFUSED);
	}
	if (strlen(socket_path) >= sizeof(sun.sun_path))
		die_usage("socket path `%s' is too long", socket_path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && call_timeout_ms > 0) {
		struct timeval tv = {.tv_sec = call_timeout_ms / MS_PER_S,
				     .tv_usec = (call_timeout_ms % MS_PER_S) * MS_PER_S};

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(diag, "droverctl: cannot reach droverd at %s: %s\n", socket_path,
			strerror(errno));
		exit(EXIT_NO_DAEMON);
	}
	size_t tlen = strlen(text);
	text[tlen] = '\n';
	for (size_t off = 0; off < tlen + 1;) {
		ssize_t n = write(fd, text + off, tlen + 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(diag, "droverctl: write to %s: %s\n", socket_path, strerror(errno));
			exit(EXIT_NO_DAEMON);
		}
		off += (size_t)n;
	}
	free(text);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL) {
				fprintf(stderr, "droverctl: out of memory\n");
				exit(EXIT_REFUSED);
			}
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(diag, "droverctl: droverd at %s did not answer within %u ms\n",
				socket_path, call_timeout_ms);
			exit(EXIT_NO_DAEMON);
		}
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
			break;
	}
	close(fd);
	resp = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (resp == NULL) {
		fprintf(diag, "droverctl: droverd sent no valid answer\n");
		exit(EXIT_NO_DAEMON);
	}
	return resp;
}

/*
 * Text from droverd as it may reach a terminal: control characters escaped
 * (log.h), so that a name someone typed into a form (a failed sign-in's
 * user name in the audit log) cannot move the cursor, recolour the screen
 * or forge a line. Kept in a ring of buffers, so that one printf can show
 * several.
 */
#define SHOWN_SLOTS 32
#define SHOWN_MAX   LOG_ESCAPED_SIZE(1024)

static const char *shown(const char *text)
{
	static char ring[SHOWN_SLOTS][SHOWN_MAX];
	static unsigned next;
	char *out = ring[next++ % SHOWN_SLOTS];

	return log_escape(text ? text : "", out, SHOWN_MAX);
}

/* A string field of obj, escaped for the terminal; "" when absent. */
static const char *str(json_t *obj, const char *key)
{
	return shown(json_string_value(json_object_get(obj, key)));
}

/* Prints the response as JSON, or hands it to the text printer; exits 1 on an error answer. */
static int finish(json_t *resp, void (*print)(json_t *resp))
{
	bool ok = json_is_true(json_object_get(resp, "ok"));

	if (json_output) {
		char *text = json_dumps(resp, JSON_INDENT(2));
		if (text != NULL) {
			puts(text);
			free(text);
		}
	} else if (!ok) {
		fprintf(stderr, "droverctl: %s\n",
			json_is_string(json_object_get(resp, "error")) ? str(resp, "error")
								       : "request failed");
	} else if (print != NULL) {
		print(resp);
	}
	json_decref(resp);
	return ok ? EXIT_OK : EXIT_REFUSED;
}

static long long num(json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

/* "45s", "12m", "3h", "2d": time since a change, at a glance. */
static void format_duration(char *buf, size_t len, long long s)
{
	if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%lldh", s / 3600);
	else
		snprintf(buf, len, "%lldd", s / 86400);
}

/* A JSON number, integer or real, as a double; 0 when absent. */
static double real(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/*
 * Squid's own figures of a proxy ("squid" in the API): "-" when not read
 * (the proxy's squid_stats is off). long (`proxy show'): the figures in
 * words, then the error when the last read failed (the figures are then
 * those of the last good read, as old as age_s says). Else (the list's
 * column, one word): "REQ/s,HIT%,CLIENTS,MEDIANms", the last read's state
 * in brackets after them when it failed, or that state alone before any
 * good read.
 */
static void format_squid(char *buf, size_t len, json_t *sq, bool long_form)
{
	bool ok = json_is_true(json_object_get(sq, "ok"));
	char age[32];
	int n;

	if (!json_is_object(sq)) {
		snprintf(buf, len, "-");
		return;
	}
	if (!long_form && num(sq, "reads") <= num(sq, "failures")) {
		snprintf(buf, len, "%s", str(sq, "state"));
		return;
	}
	format_duration(age, sizeof(age), num(sq, "age_s"));
	if (long_form)
		n = snprintf(buf, len,
			     "%.1f req/s, hit ratio %.1f%%, %lld clients, median %.1f ms, "
			     "%lld requests, read %s ago",
			     real(sq, "requests_per_second"), 100.0 * real(sq, "hit_ratio"),
			     num(sq, "clients"), real(sq, "median_service_ms"), num(sq, "requests"),
			     age);
	else
		n = snprintf(buf, len, "%.1f/s,%.0f%%,%lld,%.1fms", real(sq, "requests_per_second"),
			     100.0 * real(sq, "hit_ratio"), num(sq, "clients"),
			     real(sq, "median_service_ms"));
	if (n < 0 || (size_t)n >= len || ok)
		return;
	if (long_form)
		snprintf(buf + n, len - (size_t)n, "; error: %s", str(sq, "error"));
	else
		snprintf(buf + n, len - (size_t)n, "(%s)", str(sq, "state"));
}

static void print_proxy_table(json_t *proxies)
{
	size_t i;
	json_t *p;

	/*
	 * SQUID (one word), ADDRESS6 and HEALTH6 last, so that the columns before
	 * them keep their places and HEALTH6 stays the last.
	 */
	printf("%-4s %-16s %-15s %6s %-8s %-10s %-16s %7s %6s %8s %10s %12s %14s %-24s %-25s %s\n",
	       "ID", "NAME", "ADDRESS", "WEIGHT", "ADMIN", "HEALTH", "LAST CHECK", "CHANGED",
	       "FAILS", "ACTIVE", "HITS", "PACKETS", "BYTES", "SQUID", "ADDRESS6", "HEALTH6");
	json_array_foreach(proxies, i, p)
	{
		char check[96] = "-", since[32] = "-";
		if (json_object_get(p, "last_check") != NULL && str(p, "last_check")[0] != '\0')
			snprintf(check, sizeof(check), "%s/%s %lldms", str(p, "probe"),
				 str(p, "last_check"), num(p, "last_check_ms"));
		if (json_object_get(p, "since_change_s") != NULL)
			format_duration(since, sizeof(since), num(p, "since_change_s"));
		const char *address6 =
		    json_is_string(json_object_get(p, "address6")) ? str(p, "address6") : "-";
		json_t *h6 = json_object_get(p, "health6");
		const char *health6 = json_is_object(h6) ? str(h6, "state") : "-";
		char squid[128];

		format_squid(squid, sizeof(squid), json_object_get(p, "squid"), false);
		printf("%-4lld %-16s %-15s %6lld %-8s %-10s %-16s %7s %6lld %8lld %10lld %12lld "
		       "%14lld %-24s %-25s %s\n",
		       num(p, "id"), str(p, "name"), str(p, "address"), num(p, "weight"),
		       str(p, "admin"), str(p, "health"), check, since, num(p, "failed_checks"),
		       num(p, "active_clients"), num(p, "hits"), num(p, "packets"), num(p, "bytes"),
		       squid, address6, health6);
	}
}

static void print_proxies(json_t *resp)
{
	print_proxy_table(json_object_get(resp, "proxies"));
}

static void print_proxy(json_t *resp)
{
	json_t *p = json_object_get(resp, "proxy");
	const char *key;
	json_t *v;

	json_object_foreach(p, key, v)
	{
		if (json_is_string(v))
			printf("%-15s %s\n", shown(key), shown(json_string_value(v)));
		else if (json_is_boolean(v))
			printf("%-15s %s\n", shown(key), json_is_true(v) ? "yes" : "no");
		else if (json_is_null(v))
			printf("%-15s -\n", shown(key));
		else if (strcmp(key, "squid") == 0) {
			char squid[512];

			format_squid(squid, sizeof(squid), v, true);
			printf("%-15s %s\n", shown(key), squid);
		} else if (json_is_object(v))
			/* health6: its IPv6 address's probes; down = its IPv6 clients in 6in4 */
			printf("%-15s %s %s %lldms checks %lld failed %lld changes %lld\n",
			       shown(key), str(v, "state"),
			       str(v, "last_check")[0] ? str(v, "last_check") : "-",
			       num(v, "last_check_ms"), num(v, "checks"), num(v, "failed_checks"),
			       num(v, "state_changes"));
		else
			printf("%-15s %lld\n", shown(key), (long long)json_integer_value(v));
	}
}

static void print_stats(json_t *resp)
{
	json_t *g = json_object_get(resp, "global");
	const char *key;
	json_t *v;

	json_object_foreach(g, key, v)
	{
		if (json_is_integer(v))
			printf("%-28s %lld\n", shown(key), (long long)json_integer_value(v));
		else if (json_is_string(v))
			printf("%-28s %s\n", shown(key), shown(json_string_value(v)));
	}
	json_t *reasons = json_object_get(g, "malformed_by_reason");
	json_object_foreach(reasons, key, v)
	{
		if (json_integer_value(v) != 0)
			printf("  malformed %-18s %lld\n", shown(key),
			       (long long)json_integer_value(v));
	}
	json_t *mapping = json_object_get(resp, "mapping");
	printf("%-28s %s\n", "maglev_table_digest", str(mapping, "table_digest"));
	printf("%-28s %s\n", "hash_key_id", str(mapping, "hash_key_id"));
	printf("%-28s %lld\n", "maglev_table_size", num(mapping, "table_size"));
	printf("%-28s %lld\n", "maglev_table_proxies", num(mapping, "table_proxies"));
	printf("%-28s %lld\n", "generation", num(mapping, "generation"));
	printf("%-28s %lld\n", "config_generation",
	       num(json_object_get(resp, "cluster"), "config_generation"));
	printf("\n");
	print_proxy_table(json_object_get(resp, "proxies"));
}

/* One line per client: address, proxy address (or -), reason. */
static void print_lookup_range(json_t *resp)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(resp, "results"), i, r)
	{
		json_t *p = json_object_get(r, "proxy");

		printf("%s %s %s\n", str(r, "client"),
		       json_is_string(p) ? shown(json_string_value(p)) : "-", str(r, "reason"));
	}
}

static void print_lookup(json_t *resp)
{
	json_t *p = json_object_get(resp, "proxy");
	const char *reason = str(resp, "reason");

	if (!json_is_object(p)) {
		printf("%s -> no proxy (policy no_proxy_policy applies)\n", str(resp, "client"));
		return;
	}
	printf("%s -> %s (%s, id %lld): ", str(resp, "client"), str(p, "name"), str(p, "address"),
	       num(p, "id"));
	if (strcmp(reason, "affinity") == 0)
		printf("active client, affinity entry idle %lld s\n", num(resp, "idle_seconds"));
	else
		printf("new or idle client, Maglev table\n");
}

static void print_settings(json_t *resp)
{
	json_t *list = json_object_get(resp, "settings");
	size_t i;
	json_t *s;

	json_array_foreach(list, i, s)
	{
		bool is_default = strcmp(str(s, "value"), str(s, "default")) == 0;
		printf("%-32s %-8s %-40s %s\n", str(s, "key"), str(s, "scope"), str(s, "value"),
		       is_default ? "" : "(changed)");
	}
}

/* "2026-12-01 11:02:03" (UTC) of a unix time, or "never". */
static const char *format_time(json_t *v, char *buf, size_t len)
{
	time_t t = (time_t)json_integer_value(v);
	struct tm tm;

	if (!json_is_integer(v) || gmtime_r(&t, &tm) == NULL)
		return "never";
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

/* One peer line: name, generation, digest (short), VRRP, agreement, last seen. */
static void print_cluster_node(const char *role, json_t *n)
{
	char seen[64];

	snprintf(seen, sizeof(seen), "%llds ago", num(n, "seen_seconds_ago"));
	printf("%-8s %-20s %-10lld %-18.16s %-8s %-6s %s\n", role, str(n, "node"),
	       num(n, "generation"), str(n, "table_digest"), str(n, "vrrp"),
	       json_is_true(json_object_get(n, "agree")) ? "yes" : "NO",
	       json_is_integer(json_object_get(n, "last_seen")) ? seen : "never");
}

static void print_cluster(json_t *resp)
{
	json_t *c = json_object_get(resp, "cluster");
	json_t *p = json_object_get(c, "primary");
	json_t *peer;
	char when[64];
	size_t i;

	printf("%-20s %s\n", "node", str(c, "node"));
	printf("%-20s %s\n", "role", str(c, "role"));
	printf("%-20s %lld\n", "config_generation", num(c, "config_generation"));
	printf("%-20s %s\n", "table_digest", str(c, "table_digest"));
	printf("%-20s %s\n", "hash_key_id", str(c, "hash_key_id"));
	printf("%-20s %s\n", "vrrp", str(c, "vrrp"));
	if (json_is_object(p)) {
		printf("%-20s %s\n", "primary", str(p, "url"));
		if (json_is_true(json_object_get(p, "reachable")))
			printf("%-20s %s\n", "primary_state", "reachable");
		else
			printf("%-20s unreachable since %s\n", "primary_state",
			       format_time(json_object_get(p, "unreachable_since"), when,
					   sizeof(when)));
		if (str(p, "error")[0] != '\0')
			printf("%-20s %s\n", "last_error", str(p, "error"));
		printf("%-20s %lld applied, %lld refused, last %s\n", "snapshots",
		       num(p, "applied"), num(p, "refused"),
		       format_time(json_object_get(p, "last_applied"), when, sizeof(when)));
	}
	if (json_is_object(json_object_get(c, "deviations"))) {
		json_t *d = json_object_get(c, "deviations");

		printf("%-20s %lld exported (%lld past the cap), %lld sent in %lld exchanges\n",
		       "deviations", num(d, "exported"), num(d, "not_exported"), num(d, "sent"),
		       num(d, "exchanges"));
		printf("%-20s %lld imported, %lld refreshed, %lld kept, refused: %lld unknown or "
		       "unusable proxy, %lld table full; %lld expired\n",
		       "peer_deviations", num(d, "imported"), num(d, "refreshed"), num(d, "kept"),
		       num(d, "refused_unknown"), num(d, "refused_full"), num(d, "expired"));
	}
	printf("\n%-8s %-20s %-10s %-18s %-8s %-6s %s\n", "ROLE", "NODE", "GENERATION",
	       "TABLE DIGEST", "VRRP", "AGREE", "LAST SEEN");
	if (json_is_object(p) && json_is_integer(json_object_get(p, "last_seen")))
		print_cluster_node("primary", p);
	json_array_foreach(json_object_get(c, "peers"), i, peer)
	    print_cluster_node(str(peer, "role"), peer);
}

static int cmd_cluster(int argc, char **argv)
{
	if (argc == 0)
		return finish(call(json_pack("{s:s}", "cmd", "cluster")), print_cluster);
	if (argc == 2 && strcmp(argv[0], "vrrp") == 0)
		return finish(
		    call(json_pack("{s:s, s:s}", "cmd", "cluster.vrrp", "state", argv[1])), NULL);
	die_usage("cluster: expected no argument or `vrrp MASTER|BACKUP|FAULT|STOP'");
}

static void print_setting(json_t *resp)
{
	json_t *s = json_object_get(resp, "setting");
	printf("%s\n", str(s, "value"));
}

/* A whole file's text, lines and all: meant for a file or a pipe, printed as it is. */
static void print_file_text(json_t *resp, const char *key)
{
	const char *text = json_string_value(json_object_get(resp, key));

	fputs(text ? text : "", stdout);
}

static void print_script(json_t *resp)
{
	print_file_text(resp, "script");
}

static void print_rules(json_t *resp)
{
	print_file_text(resp, "rules");
}

static void print_audit(json_t *resp)
{
	json_t *list = json_object_get(resp, "entries");
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	{
		time_t t = (time_t)num(e, "time");
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
		printf("%-6lld %s %-12s %-14s %s\n", num(e, "id"), when, str(e, "actor"),
		       str(e, "action"), str(e, "detail"));
	}
}

static void print_backup(json_t *resp)
{
	printf("backed up to %s (%lld bytes, schema version %lld)\n", str(resp, "path"),
	       num(resp, "bytes"), num(resp, "schema_version"));
}

static void print_restore(json_t *resp)
{
	printf("restored (file schema version %lld): %lld setting%s changed, %lld prox%s; "
	       "applied live\n",
	       num(resp, "file_schema_version"), num(resp, "settings_changed"),
	       num(resp, "settings_changed") == 1 ? "" : "s", num(resp, "proxies"),
	       num(resp, "proxies") == 1 ? "y" : "ies");
	if (json_is_true(json_object_get(resp, "restart_needed")))
		printf("restart needed: %s\n", str(resp, "restart_reason"));
}

/*
 * droverd opens FILE itself, from its own working directory: a relative name
 * is made absolute here. Returns a malloc'd path.
 */
static char *absolute_path(const char *file)
{
	char cwd[PATH_MAX], *out;

	if (file[0] == '\0')
		die_usage("empty file name");
	if (file[0] == '/')
		return strdup(file);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		die_usage("cannot tell the current directory: %s", strerror(errno));
	if (asprintf(&out, "%s/%s", cwd, file) < 0)
		return NULL;
	return out;
}

/* backup FILE / restore FILE. */
static int cmd_backup_restore(const char *cmd, const char *file)
{
	char *path = absolute_path(file);
	int ret;

	if (path == NULL) {
		fprintf(stderr, "droverctl: out of memory\n");
		return EXIT_REFUSED;
	}
	ret = finish(call(json_pack("{s:s, s:s}", "cmd", cmd, "path", path)),
		     strcmp(cmd, "backup") == 0 ? print_backup : print_restore);
	free(path);
	return ret;
}

static json_int_t parse_id(const char *text)
{
	return parse_int("proxy id", text, 1, INT64_MAX);
}

/* "on" or "off" (also yes/no, true/false); anything else is a usage error naming opt. */
static bool parse_on_off(const char *opt, const char *val)
{
	if (strcmp(val, "on") == 0 || strcmp(val, "yes") == 0 || strcmp(val, "true") == 0)
		return true;
	if (strcmp(val, "off") == 0 || strcmp(val, "no") == 0 || strcmp(val, "false") == 0)
		return false;
	die_usage("%s: `%s' is not on or off", opt, val);
	return false;
}

/* Parses "--opt VALUE" pairs of proxy add/set into req. */
static void proxy_options(json_t *req, int argc, char **argv, bool allow_address)
{
	for (int i = 0; i < argc; i++) {
		const char *opt = argv[i];
		if (i + 1 >= argc)
			die_usage("option `%s' needs a value", opt);
		const char *val = argv[++i];
		if (strcmp(opt, "--name") == 0)
			json_object_set_new(req, "name", json_string(val));
		else if (strcmp(opt, "--weight") == 0)
			json_object_set_new(req, "weight",
					    json_integer(parse_int("weight", val, 0, INT_MAX)));
		else if (strcmp(opt, "--probe") == 0)
			json_object_set_new(req, "probe", json_string(val));
		else if (strcmp(opt, "--admin") == 0)
			json_object_set_new(req, "admin", json_string(val));
		else if (strcmp(opt, "--address") == 0 && allow_address)
			json_object_set_new(req, "address", json_string(val));
		else if (strcmp(opt, "--address6") == 0)
			/* "none" clears it (proxy set). */
			json_object_set_new(req, "address6", json_string(val));
		else if (strcmp(opt, "--squid-stats") == 0)
			json_object_set_new(req, "squid_stats",
					    json_boolean(parse_on_off("--squid-stats", val)));
		else if (strcmp(opt, "--version") == 0)
			json_object_set_new(req, "version",
					    json_integer(parse_int("version", val, 1, INT64_MAX)));
		else
			die_usage("unknown option `%s'", opt);
	}
}

/* A preview (--dry-run): what the change would move; nothing was changed. */
static void print_preview(json_t *resp)
{
	json_t *pv = json_object_get(resp, "preview");
	json_t *proxies = json_object_get(pv, "proxies");
	long long size = num(pv, "table_size"), moved = num(pv, "entries_moved");
	long long active = num(pv, "active_clients"), clients = num(pv, "clients_moved");
	size_t i;
	json_t *p;

	printf("dry run: nothing changed\n");
	printf("table:   %lld of %lld entries change proxy (%.1f %%); %lld prox%s in the table "
	       "after\n",
	       moved, size, size ? 100.0 * (double)moved / (double)size : 0.0,
	       num(pv, "table_proxies"), num(pv, "table_proxies") == 1 ? "y" : "ies");
	printf("clients: %lld of %lld active clients change proxy", clients, active);
	if (num(pv, "clients_to_none") > 0)
		printf(", %lld to no proxy (no_proxy_policy)", num(pv, "clients_to_none"));
	if (num(pv, "clients_to_unknown") > 0)
		printf(", %lld IPv6 to the table's choice", num(pv, "clients_to_unknown"));
	printf("\n");
	if (json_is_true(json_object_get(pv, "assumes_up")))
		printf("(the proxy counted as up, as it is once it passes its probes)\n");
	printf("%-4s %-16s %-15s %8s %8s %7s %7s %8s %8s\n", "ID", "NAME", "ADDRESS", "ENTRIES",
	       "AFTER", "GAINED", "LOST", "CLI-OUT", "CLI-IN");
	json_array_foreach(proxies, i, p)
	{
		char id[24] = "new";

		if (json_is_integer(json_object_get(p, "id")))
			snprintf(id, sizeof(id), "%lld", num(p, "id"));
		printf("%-4s %-16s %-15s %8lld %8lld %7lld %7lld %8lld %8lld\n", id,
		       str(p, "name")[0] ? str(p, "name") : "-", str(p, "address"),
		       num(p, "slots_before"), num(p, "slots_after"), num(p, "slots_gained"),
		       num(p, "slots_lost"), num(p, "clients_from"), num(p, "clients_to"));
	}
}

/* Takes --dry-run out of argv[0..*argc) wherever it stands; true when it was there. */
static bool take_dry_run(int *argc, char **argv)
{
	bool found = false;
	int n = 0;

	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			found = true;
		else
			argv[n++] = argv[i];
	}
	*argc = n;
	return found;
}

/* Sends a proxy change, or its preview with --dry-run. */
static int proxy_change(json_t *req, bool dry_run, void (*print)(json_t *resp))
{
	if (!dry_run)
		return finish(call(req), print);
	json_object_set_new(req, "dry_run", json_true());
	return finish(call(req), print_preview);
}

static int cmd_proxy(int argc, char **argv)
{
	json_t *req;
	const char *sub;
	bool dry_run = take_dry_run(&argc, argv);

	if (argc < 1)
		die_usage("proxy: missing subcommand (list, show, add, set, enable, drain, "
			  "disable, del)");
	sub = argv[0];
	if (dry_run && strcmp(sub, "add") != 0 && strcmp(sub, "set") != 0 &&
	    strcmp(sub, "enable") != 0 && strcmp(sub, "drain") != 0 &&
	    strcmp(sub, "disable") != 0 && strcmp(sub, "del") != 0 && strcmp(sub, "delete") != 0)
		die_usage("proxy %s: --dry-run is for add, set, enable, drain, disable and del",
			  sub);
	if (strcmp(sub, "list") == 0) {
		if (argc != 1)
			die_usage("proxy list takes no arguments");
		return finish(call(json_pack("{s:s}", "cmd", "proxy.list")), print_proxies);
	}
	if (argc < 2)
		die_usage("proxy %s: missing %s", sub, strcmp(sub, "add") == 0 ? "ADDRESS" : "ID");
	if (strcmp(sub, "show") == 0 && argc == 2)
		return finish(
		    call(json_pack("{s:s, s:I}", "cmd", "proxy.get", "id", parse_id(argv[1]))),
		    print_proxy);
	if (strcmp(sub, "add") == 0) {
		req = json_pack("{s:s, s:s}", "cmd", "proxy.add", "address", argv[1]);
		proxy_options(req, argc - 2, argv + 2, false);
		return proxy_change(req, dry_run, print_proxy);
	}
	if (strcmp(sub, "set") == 0) {
		req = json_pack("{s:s, s:I}", "cmd", "proxy.set", "id", parse_id(argv[1]));
		proxy_options(req, argc - 2, argv + 2, true);
		if (json_object_size(req) == 2)
			die_usage("proxy set: nothing to change (--name, --address, --address6, "
				  "--weight, --probe, --squid-stats)");
		return proxy_change(req, dry_run, print_proxy);
	}
	if ((strcmp(sub, "enable") == 0 || strcmp(sub, "drain") == 0 ||
	     strcmp(sub, "disable") == 0) &&
	    argc == 2) {
		const char *admin = strcmp(sub, "enable") == 0	? "enabled"
				    : strcmp(sub, "drain") == 0 ? "drain"
								: "disabled";
		return proxy_change(json_pack("{s:s, s:I, s:s}", "cmd", "proxy.set", "id",
					      parse_id(argv[1]), "admin", admin),
				    dry_run, print_proxy);
	}
	if (strcmp(sub, "setup-script") == 0) {
		req = json_pack("{s:s, s:I}", "cmd", "proxy.setup_script", "id", parse_id(argv[1]));
		for (int i = 2; i < argc; i += 2) {
			if (i + 1 >= argc)
				die_usage("proxy setup-script: option `%s' needs a value", argv[i]);
			if (strcmp(argv[i], "--mode") == 0)
				json_object_set_new(req, "mode", json_string(argv[i + 1]));
			else if (strcmp(argv[i], "--tunnel-address") == 0)
				json_object_set_new(req, "tunnel_address",
						    json_string(argv[i + 1]));
			else if (strcmp(argv[i], "--intercept-port") == 0)
				json_object_set_new(
				    req, "intercept_port",
				    json_integer(parse_int("port", argv[i + 1], 1, 65535)));
			else
				die_usage("proxy setup-script: unknown option `%s'", argv[i]);
		}
		return finish(call(req), print_script);
	}
	if (strcmp(sub, "del") == 0 || strcmp(sub, "delete") == 0) {
		req = json_pack("{s:s, s:I}", "cmd", "proxy.del", "id", parse_id(argv[1]));
		for (int i = 2; i < argc; i += 2) {
			if (strcmp(argv[i], "--version") != 0 || i + 1 >= argc)
				die_usage("proxy del: unexpected `%s'", argv[i]);
			json_object_set_new(
			    req, "version",
			    json_integer(parse_int("version", argv[i + 1], 1, INT64_MAX)));
		}
		return proxy_change(req, dry_run, NULL);
	}
	die_usage("proxy: unknown subcommand or arguments `%s'", sub);
}

static int cmd_settings(int argc, char **argv)
{
	if (argc == 0 || (argc == 1 && strcmp(argv[0], "list") == 0))
		return finish(call(json_pack("{s:s}", "cmd", "settings.list")), print_settings);
	if (strcmp(argv[0], "get") == 0 && argc == 2)
		return finish(call(json_pack("{s:s, s:s}", "cmd", "settings.get", "key", argv[1])),
			      print_setting);
	if (strcmp(argv[0], "set") == 0 && argc == 3)
		return finish(call(json_pack("{s:s, s:s, s:s}", "cmd", "settings.set", "key",
					     argv[1], "value", argv[2])),
			      print_setting);
	die_usage("settings: expected `list', `get KEY' or `set KEY VALUE'");
}

static int cmd_audit(int argc, char **argv)
{
	json_t *req = json_pack("{s:s}", "cmd", "audit");

	for (int i = 0; i < argc; i += 2) {
		if (i + 1 >= argc)
			die_usage("audit: option `%s' needs a value", argv[i]);
		if (strcmp(argv[i], "--limit") == 0)
			json_object_set_new(req, "limit",
					    json_integer(parse_int("limit", argv[i + 1], 1, 500)));
		else if (strcmp(argv[i], "--before") == 0)
			json_object_set_new(
			    req, "before",
			    json_integer(parse_int("id", argv[i + 1], 1, INT64_MAX)));
		else
			die_usage("audit: unknown option `%s'", argv[i]);
	}
	return finish(call(req), print_audit);
}

/* droverd's settings as this droverctl parses them: every key the reply names, checked again. */
static int fetch_settings(struct settings *s)
{
	json_t *resp = call(json_pack("{s:s}", "cmd", "settings.list"));
	json_t *item;
	size_t i;
	char err[256];

	settings_defaults(s);
	if (!json_is_true(json_object_get(resp, "ok"))) {
		fprintf(diag, "droverctl: droverd refused settings.list\n");
		json_decref(resp);
		return -EIO;
	}
	json_array_foreach(json_object_get(resp, "settings"), i, item)
	{
		const char *key = json_string_value(json_object_get(item, "key"));
		const char *value = json_string_value(json_object_get(item, "value"));

		/* A key this droverctl does not know (a newer droverd) is not ours to judge. */
		if (key != NULL && value != NULL && settings_find(key) != NULL &&
		    !settings_set(s, key, value, err, sizeof(err))) {
			fprintf(diag, "droverctl: %s\n", err);
			json_decref(resp);
			return -EINVAL;
		}
	}
	json_decref(resp);
	return 0;
}

/* The first IPv4 address of iface that is not one of the virtual addresses; 0 if none. */
static uint32_t interface_address(const char *iface, const struct settings *s)
{
	struct ifaddrs *list, *ifa;
	uint32_t found = 0;

	if (getifaddrs(&list) < 0)
		return 0;
	for (ifa = list; ifa != NULL && found == 0; ifa = ifa->ifa_next) {
		char text[INET_ADDRSTRLEN];
		uint32_t a;

		if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET ||
		    strcmp(ifa->ifa_name, iface) != 0)
			continue;
		a = ((struct sockaddr_in *)(void *)ifa->ifa_addr)->sin_addr.s_addr;
		inet_ntop(AF_INET, &a, text, sizeof(text));
		/* Whole items only: 10.0.0.1 is not in "10.0.0.10". */
		char vips[2 * SETTINGS_TEXT_MAX + 4], needle[INET_ADDRSTRLEN + 2];
		snprintf(vips, sizeof(vips), ",%s,%s,", s->ha_vip, s->ha_upstream_vip);
		snprintf(needle, sizeof(needle), ",%s,", text);
		if (strstr(vips, needle) == NULL)
			found = a;
	}
	freeifaddrs(list);
	return found;
}

/* An absolute form of path, from malloc; exits when it cannot be had. */
static char *absolute_or_die(const char *path)
{
	char *abs = absolute_path(path);

	if (abs == NULL)
		die_usage("cannot make `%s' absolute", path);
	return abs;
}

static int cmd_ha_keepalived_config(int argc, char **argv)
{
	struct keepalived_conf conf = {.notify = HA_NOTIFY_DEFAULT, .script_user = "root"};
	struct settings s;
	const char *source = NULL;
	char self[PATH_MAX], err[512], warning[512];
	char *text = NULL, *sock;
	size_t len = 0;
	ssize_t n;

	for (int i = 0; i < argc; i += 2) {
		if (i + 1 >= argc)
			die_usage("ha keepalived-config: option `%s' needs a value", argv[i]);
		if (strcmp(argv[i], "--source") == 0)
			source = argv[i + 1];
		else if (strcmp(argv[i], "--notify") == 0)
			conf.notify = argv[i + 1];
		else if (strcmp(argv[i], "--script-user") == 0)
			conf.script_user = argv[i + 1];
		else
			die_usage("ha keepalived-config: unknown option `%s'", argv[i]);
	}
	if (fetch_settings(&s) < 0)
		return EXIT_REFUSED;
	if (source != NULL) {
		if (!settings_parse_ipv4(source, &conf.source))
			die_usage("ha keepalived-config: invalid address `%s'", source);
	} else if (s.ha_interface[0] != '\0') {
		conf.source = interface_address(s.ha_interface, &s);
		if (conf.source == 0) {
			fprintf(stderr,
				"droverctl: ha_interface %s has no IPv4 address of its own here "
				"(give --source IP)\n",
				s.ha_interface);
			return EXIT_REFUSED;
		}
	}
	/* The check runs this very program, wherever it was installed. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "droverctl: cannot tell where droverctl is: %s\n", strerror(errno));
		return EXIT_REFUSED;
	}
	self[n] = '\0';
	sock = absolute_or_die(socket_path);
	conf.settings = &s;
	conf.droverctl = self;
	conf.socket = sock;
	if (keepalived_conf_render(&conf, &text, &len, err, sizeof(err)) < 0) {
		fprintf(stderr, "droverctl: no keepalived configuration: %s\n", err);
		free(sock);
		return EXIT_REFUSED;
	}
	if (keepalived_conf_probe_warning(&s, warning, sizeof(warning)))
		fprintf(stderr, "droverctl: warning: %s\n", warning);
	fwrite(text, 1, len, stdout);
	free(text);
	free(sock);
	return EXIT_OK;
}

/*
 * keepalived's health script: exit 0 only when droverd answers within
 * HA_CHECK_TIMEOUT_MS, its queues are bound, at least one proxy is up and no
 * proxy changed health for a whole rise of probes (a node whose view of the
 * pool is still moving, after a start or a cut link, would map clients
 * otherwise than its peer). One line on stdout either way.
 */
static int cmd_ha_check(void)
{
	struct settings s;
	json_t *resp, *p, *proxies;
	long long settle_s, queues, up = 0, total = 0;
	const char *moving = NULL;
	long long moving_s = 0;
	size_t i;

	diag = stdout;
	call_timeout_ms = HA_CHECK_TIMEOUT_MS;
	resp = call(json_pack("{s:s}", "cmd", "stats"));
	if (!json_is_true(json_object_get(resp, "ok"))) {
		printf("droverd refused stats: %s\n", str(resp, "error"));
		json_decref(resp);
		return EXIT_REFUSED;
	}
	queues = num(json_object_get(resp, "global"), "queues");
	if (queues <= 0) {
		printf("droverd has no queue bound\n");
		json_decref(resp);
		return EXIT_REFUSED;
	}
	if (fetch_settings(&s) < 0) {
		json_decref(resp);
		return EXIT_REFUSED;
	}
	settle_s = ((long long)(s.probe_rise + 1) * s.probe_interval_ms + s.probe_timeout_ms +
		    MS_PER_S - 1) /
		   MS_PER_S;
	proxies = json_object_get(resp, "proxies");
	json_array_foreach(proxies, i, p)
	{
		json_t *since = json_object_get(p, "since_change_s");

		if (!json_is_integer(since))
			continue; /* disabled: not probed, not in the table */
		total++;
		if (json_is_true(json_object_get(p, "up")))
			up++;
		if (json_integer_value(since) < settle_s && moving == NULL) {
			moving = str(p, "name");
			moving_s = json_integer_value(since);
		}
	}
	if (up == 0)
		printf("no proxy is up (%lld probed)\n", total);
	else if (moving != NULL)
		printf("pool settling: %s changed health %lld s ago (waits %lld s)\n", moving,
		       moving_s, settle_s);
	else
		printf("ok: %lld of %lld proxies up, %lld queues\n", up, total, queues);
	json_decref(resp);
	return up > 0 && moving == NULL ? EXIT_OK : EXIT_REFUSED;
}

static int cmd_ha(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "keepalived-config") == 0)
		return cmd_ha_keepalived_config(argc - 1, argv + 1);
	if (argc == 1 && strcmp(argv[0], "check") == 0)
		return cmd_ha_check();
	die_usage("ha: expected `keepalived-config [OPTIONS]' or `check'");
}

/* The proxies' side of preflight: route, MTU and the tunnel probe of each. */
static void cmd_preflight_proxies(struct preflight_report *r, json_t *proxies, bool ipv6_clients,
				  unsigned timeout_ms)
{
	struct preflight_probe_target *targets;
	size_t n = json_array_size(proxies), i, k = 0;
	size_t *index = calloc(n ? n : 1, sizeof(*index));
	char name[PREFLIGHT_NAME_MAX], text[PREFLIGHT_TEXT_MAX];
	json_t *p;
	int ret;

	targets = calloc(n ? n : 1, sizeof(*targets));
	if (targets == NULL || index == NULL) {
		preflight_add(r, PREFLIGHT_SKIP, "proxies", "out of memory");
		goto out;
	}
	json_array_foreach(proxies, i, p)
	{
		const char *pname = str(p, "name");
		const char *src = json_string_value(json_object_get(p, "tunnel_source"));
		uint32_t addr = 0, source = 0;
		char dev[IF_NAMESIZE], srctext[INET_ADDRSTRLEN];
		unsigned path_mtu = 0;
		int dev_mtu = 0;

		settings_parse_ipv4(json_string_value(json_object_get(p, "address")), &addr);
		snprintf(name, sizeof(name), "proxy %s route", pname);
		ret = preflight_host_route(addr, dev, &source, &path_mtu);
		if (ret < 0) {
			preflight_add(r, PREFLIGHT_FIX, name,
				      "no route to %s (%s): add one; droverd gives it no clients",
				      str(p, "address"), strerror(-ret));
			continue;
		}
		dev_mtu = preflight_host_dev_mtu(dev);
		inet_ntop(AF_INET, &source, srctext, sizeof(srctext));
		preflight_add(r, PREFLIGHT_OK, name, "%s via %s (device MTU %d), from %s",
			      str(p, "address"), dev, dev_mtu, srctext);
		snprintf(name, sizeof(name), "proxy %s mtu", pname);
		preflight_add(r,
			      preflight_mtu_judge(path_mtu, (unsigned)num(p, "tunnel_mtu"),
						  ipv6_clients, text, sizeof(text)),
			      name, "%s", text);
		snprintf(name, sizeof(name), "proxy %s tunnel", pname);
		if (strcmp(str(p, "admin"), "disabled") == 0) {
			preflight_add(r, PREFLIGHT_SKIP, name, "disabled: not probed");
			continue;
		}
		/* droverd's own source towards it (tunnel_source), else the route's. */
		if (src != NULL)
			settings_parse_ipv4(src, &source);
		targets[k].proxy = addr;
		targets[k].source = source;
		index[k++] = i;
	}
	if (k == 0)
		goto out;
	ret = preflight_probe_run(targets, k, timeout_ms);
	for (i = 0; i < k; i++) {
		const struct preflight_probe_target *t = &targets[i];
		char srctext[INET_ADDRSTRLEN];

		p = json_array_get(proxies, index[i]);
		snprintf(name, sizeof(name), "proxy %s tunnel", str(p, "name"));
		inet_ntop(AF_INET, &t->source, srctext, sizeof(srctext));
		if (ret == -EPERM)
			preflight_add(r, PREFLIGHT_SKIP, name,
				      "the IPIP probe needs CAP_NET_RAW: run as root");
		else if (ret < 0)
			preflight_add(r, PREFLIGHT_SKIP, name, "cannot probe: %s", strerror(-ret));
		else if (t->send_error == -EADDRNOTAVAIL)
			preflight_add(r, PREFLIGHT_FIX, name,
				      "the tunnel source %s is no address of this host: set "
				      "tunnel_source to one (or auto)",
				      srctext);
		else if (t->send_error < 0)
			preflight_add(r, PREFLIGHT_FIX, name,
				      "cannot send IPIP to %s from %s: %s (a local firewall?)",
				      str(p, "address"), srctext, strerror(-t->send_error));
		else if (t->answers & PREFLIGHT_PROBE_TUNNEL)
			preflight_add(r, PREFLIGHT_OK, name,
				      "an echo in IPIP from %s was answered in %u ms", srctext,
				      t->tunnel_ms);
		else if (t->answers & PREFLIGHT_PROBE_PLAIN)
			preflight_add(r, PREFLIGHT_FIX, name,
				      "answered without the tunnel, not through it: the proxy has "
				      "no decapsulation running (drover-decap or tunl0), or drops "
				      "IPIP from %s (DROVER-IPIP, drover-decap --from); run its "
				      "set-up script there (`check' says which)",
				      srctext);
		else
			preflight_add(r, PREFLIGHT_FIX, name,
				      "no answer within %u ms, through the tunnel or plain: the "
				      "proxy is down or unreachable, or drops ICMP echo (allow it "
				      "from %s)",
				      timeout_ms, srctext);
	}
out:
	free(targets);
	free(index);
}

static void print_preflight(const struct preflight_report *r)
{
	size_t width = 0;

	for (size_t i = 0; i < r->count; i++) {
		if (strlen(r->checks[i].name) > width)
			width = strlen(r->checks[i].name);
	}
	for (size_t i = 0; i < r->count; i++)
		printf("%-4s %-*s  %s\n", preflight_verdict_name(r->checks[i].verdict), (int)width,
		       shown(r->checks[i].name), shown(r->checks[i].text));
	if (r->dropped > 0)
		printf("(%zu more checks not shown)\n", r->dropped);
	printf("preflight: %zu ok, %zu to fix, %zu skipped\n", r->by_verdict[PREFLIGHT_OK],
	       r->by_verdict[PREFLIGHT_FIX], r->by_verdict[PREFLIGHT_SKIP]);
}

static void print_preflight_json(const struct preflight_report *r)
{
	json_t *out = json_object(), *list = json_array();
	char *text;

	for (size_t i = 0; i < r->count; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", r->checks[i].name,
						      "verdict",
						      preflight_verdict_name(r->checks[i].verdict),
						      "text", r->checks[i].text));
	json_object_set_new(out, "ok", json_boolean(preflight_exit_status(r) == 0));
	json_object_set_new(out, "checks", list);
	json_object_set_new(out, "summary",
			    json_pack("{s:I, s:I, s:I}", "ok",
				      (json_int_t)r->by_verdict[PREFLIGHT_OK], "fix",
				      (json_int_t)r->by_verdict[PREFLIGHT_FIX], "skip",
				      (json_int_t)r->by_verdict[PREFLIGHT_SKIP]));
	text = json_dumps(out, JSON_INDENT(2));
	if (text != NULL)
		puts(text);
	free(text);
	json_decref(out);
}

/*
 * The appliance's own set-up, checked from here with this process's
 * privileges (droverd may run without the ones some checks need, and a probe
 * that waits has no place on its control loop); droverd says what it uses.
 */
static int cmd_preflight(int argc, char **argv)
{
	unsigned timeout_ms = PREFLIGHT_TIMEOUT_MS_DEFAULT;
	const char *imds = PREFLIGHT_IMDS_DEFAULT;
	struct preflight_report *r = calloc(1, sizeof(*r));
	struct preflight_devs clients = {0}, proxies_devs = {0};
	char subnets[SETTINGS_VALUE_MAX], dev[IF_NAMESIZE];
	const char *attached[PREFLIGHT_ATTACHED_MAX];
	size_t nattached = 0, i;
	json_t *facts, *rules, *p;
	struct settings s;
	int ret;

	for (int a = 0; a < argc; a++) {
		if (strcmp(argv[a], "--timeout-ms") == 0 && a + 1 < argc)
			timeout_ms =
			    (unsigned)parse_int("timeout", argv[++a], 1, PREFLIGHT_TIMEOUT_MS_MAX);
		else if (strcmp(argv[a], "--imds") == 0 && a + 1 < argc)
			imds = argv[++a];
		else
			die_usage("preflight: unknown option `%s'", argv[a]);
	}
	if (r == NULL)
		return EXIT_REFUSED;
	facts = call(json_pack("{s:s}", "cmd", "preflight"));
	rules = call(json_pack("{s:s}", "cmd", "rules"));
	if (!json_is_true(json_object_get(facts, "ok")) ||
	    !json_is_true(json_object_get(rules, "ok")) || fetch_settings(&s) < 0) {
		fprintf(stderr, "droverctl: droverd refused to describe its set-up: %s\n",
			str(facts, "error"));
		json_decref(facts);
		json_decref(rules);
		free(r);
		return EXIT_REFUSED;
	}
	settings_format(&s, "client_subnets", subnets, sizeof(subnets));
	preflight_host_client_devs(subnets, &clients);
	json_array_foreach(json_object_get(facts, "proxies"), i, p)
	{
		uint32_t addr = 0, source;
		unsigned mtu;

		if (settings_parse_ipv4(json_string_value(json_object_get(p, "address")), &addr) &&
		    preflight_host_route(addr, dev, &source, &mtu) == 0)
			preflight_devs_add(&proxies_devs, dev, false);
	}
	preflight_host_sysctls(r, &clients, &proxies_devs,
			       json_is_true(json_object_get(facts, "ipv6_clients")));
	preflight_host_rules(r, json_string_value(json_object_get(rules, "rules")),
			     json_is_true(json_object_get(facts, "rules_managed")));
	json_array_foreach(json_object_get(facts, "fast_path_interfaces"), i, p)
	{
		if (nattached < sizeof(attached) / sizeof(attached[0]) && json_is_string(p))
			attached[nattached++] = json_string_value(p);
	}
	preflight_host_fast_path(r, str(facts, "fast_path"),
				 json_is_true(json_object_get(facts, "fast_path_setting")),
				 attached, nattached);
	cmd_preflight_proxies(r, json_object_get(facts, "proxies"),
			      json_is_true(json_object_get(facts, "ipv6_clients")), timeout_ms);
	preflight_host_aws(r, imds, timeout_ms);
	if (json_output)
		print_preflight_json(r);
	else
		print_preflight(r);
	ret = preflight_exit_status(r) == 0 ? EXIT_OK : EXIT_REFUSED;
	json_decref(facts);
	json_decref(rules);
	free(r);
	return ret;
}

int main(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int nargs = 0;

	diag = stderr;
	if (args == NULL)
		return EXIT_REFUSED;
	/* Global options may stand anywhere on the line. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json_output = true;
		} else if (strcmp(argv[i], "--socket") == 0) {
			if (i + 1 >= argc)
				die_usage("--socket needs a path");
			socket_path = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else {
			args[nargs++] = argv[i];
		}
	}
	if (nargs == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = args[0];
	int ret;
	if (strcmp(cmd, "proxy") == 0)
		ret = cmd_proxy(nargs - 1, args + 1);
	else if (strcmp(cmd, "settings") == 0)
		ret = cmd_settings(nargs - 1, args + 1);
	else if (strcmp(cmd, "lookup") == 0 && nargs == 2)
		ret = finish(call(json_pack("{s:s, s:s}", "cmd", "lookup", "client", args[1])),
			     print_lookup);
	else if (strcmp(cmd, "lookup") == 0 && nargs == 4 && strcmp(args[2], "--count") == 0)
		ret = finish(call(json_pack("{s:s, s:s, s:I}", "cmd", "lookup", "client", args[1],
					    "count", parse_int("count", args[3], 1, INT32_MAX))),
			     print_lookup_range);
	else if (strcmp(cmd, "stats") == 0 && nargs == 1)
		ret = finish(call(json_pack("{s:s}", "cmd", "stats")), print_stats);
	else if (strcmp(cmd, "rules") == 0 && nargs == 1)
		ret = finish(call(json_pack("{s:s}", "cmd", "rules")), print_rules);
	else if (strcmp(cmd, "audit") == 0)
		ret = cmd_audit(nargs - 1, args + 1);
	else if (strcmp(cmd, "cluster") == 0)
		ret = cmd_cluster(nargs - 1, args + 1);
	else if (strcmp(cmd, "ha") == 0)
		ret = cmd_ha(nargs - 1, args + 1);
	else if (strcmp(cmd, "preflight") == 0)
		ret = cmd_preflight(nargs - 1, args + 1);
	else if ((strcmp(cmd, "backup") == 0 || strcmp(cmd, "restore") == 0) && nargs == 2)
		ret = cmd_backup_restore(cmd, args[1]);
	else
		die_usage("unknown command or wrong arguments: `%s' (see droverctl --help)", cmd);
	free(args);
	return ret;
}
