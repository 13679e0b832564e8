/* test_settings.c - settings definitions, strict parsing and canonical formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "settings.h"

/* Refused input for key: the message must name the key, quote the bad part, and s stay as it was.
 */
static void expect_refused(const char *key, const char *value, const char *quoted)
{
	struct settings s, before;
	char err[256] = "";
	char want[256];

	settings_defaults(&s);
	before = s;
	assert_false(settings_set(&s, key, value, err, sizeof(err)));
	assert_memory_equal(&s, &before, sizeof(s));
	if (settings_find(key) != NULL) {
		snprintf(want, sizeof(want), "%s: ", key);
		assert_true(strncmp(err, want, strlen(want)) == 0);
	}
	snprintf(want, sizeof(want), "`%s'", quoted);
	if (strstr(err, want) == NULL)
		fail_msg("message \"%s\" does not quote %s", err, want);
}

static void expect_canonical(const char *key, const char *value, const char *canonical)
{
	struct settings s;
	char err[256] = "", buf[SETTINGS_VALUE_MAX];

	settings_defaults(&s);
	if (!settings_set(&s, key, value, err, sizeof(err)))
		fail_msg("%s=%s refused: %s", key, value, err);
	assert_true(settings_format(&s, key, buf, sizeof(buf)));
	assert_string_equal(buf, canonical);
}

static void test_defaults_round_trip(void **state)
{
	struct settings s, again;
	char buf[SETTINGS_VALUE_MAX], err[256];

	(void)state;
	settings_defaults(&s);
	assert_true(settings_count() >= 13);
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_def *def = settings_def_at(i);

		assert_non_null(def);
		assert_ptr_equal(settings_find(def->key), def);
		assert_non_null(def->help);
		assert_true(strlen(def->help) > 10);
		assert_true(settings_format(&s, def->key, buf, sizeof(buf)));
		assert_string_equal(buf, def->default_value);
		again = s;
		assert_true(settings_set(&again, def->key, buf, err, sizeof(err)));
		assert_memory_equal(&again, &s, sizeof(s));
	}
	assert_null(settings_def_at(settings_count()));
	assert_null(settings_find("foo"));
}

static void test_default_values(void **state)
{
	struct settings s;

	(void)state;
	settings_defaults(&s);
	assert_int_equal(s.queues, 0);
	assert_int_equal(s.queue_base, 0);
	assert_int_equal(s.queue_maxlen, 4096);
	assert_true(s.fail_open);
	assert_int_equal(s.nports, 2);
	assert_int_equal(s.ports[0], 80);
	assert_int_equal(s.ports[1], 443);
	assert_int_equal(s.nsubnets, 3);
	assert_int_equal(s.client_subnets[0].addr, htonl(0x0a000000));
	assert_int_equal(s.client_subnets[0].len, 8);
	assert_int_equal(s.client_subnets[1].addr, htonl(0xac100000));
	assert_int_equal(s.client_subnets[1].len, 12);
	assert_int_equal(s.client_subnets[2].len, 16);
	assert_int_equal(s.no_proxy_policy, NO_PROXY_BYPASS);
	assert_int_equal(s.malformed_policy, MALFORMED_ACCEPT);
	assert_int_equal(s.affinity_timeout, 300);
	assert_int_equal(s.affinity_max_clients, 1048576);
	assert_int_equal(s.maglev_table_size, 65537);
	assert_int_equal(s.tunnel_source, 0);
	assert_int_equal(s.frag_needed_rate, 100);
}

static void test_accepted_values(void **state)
{
	struct settings s;
	char err[256];

	(void)state;
	expect_canonical("ports", " 8080 , 80\t,3128 ", "8080,80,3128");
	expect_canonical("ports", "65535", "65535");
	expect_canonical("client_subnets", "0.0.0.0/0", "0.0.0.0/0");
	expect_canonical("client_subnets", "192.168.1.5/32, 10.0.0.0/8",
			 "192.168.1.5/32,10.0.0.0/8");
	expect_canonical("queues", "8", "8");
	expect_canonical("queues", "auto", "auto");
	expect_canonical("queue_base", "0", "0");
	expect_canonical("queue_base", "65000", "65000");
	expect_canonical("fail_open", "off", "false");
	expect_canonical("fail_open", "yes", "true");
	expect_canonical("fail_open", "0", "false");
	expect_canonical("no_proxy_policy", "reject", "reject");
	expect_canonical("malformed_policy", "drop", "drop");
	expect_canonical("maglev_table_size", "251", "251");
	expect_canonical("maglev_table_size", "1000003", "1000003");
	expect_canonical("tunnel_source", "198.18.0.1", "198.18.0.1");
	expect_canonical("tunnel_source6", "2001:DB8:0::2", "2001:db8::2");
	expect_canonical("tunnel_source6", "auto", "auto");
	expect_canonical("frag_needed_rate", "0", "0");

	settings_defaults(&s);
	assert_true(settings_set(&s, "no_proxy_policy", "drop", err, sizeof(err)));
	assert_int_equal(s.no_proxy_policy, NO_PROXY_DROP);
	assert_string_equal(no_proxy_policy_name(s.no_proxy_policy), "drop");
	assert_true(settings_set(&s, "tunnel_source", "198.18.0.1", err, sizeof(err)));
	assert_int_equal(s.tunnel_source, htonl(0xc6120001));
	assert_true(
	    settings_set(&s, "ports", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", err, sizeof(err)));
	assert_int_equal(s.nports, SETTINGS_PORTS_MAX);
}

static void test_unknown_key(void **state)
{
	struct settings s;
	char err[256], buf[64];

	(void)state;
	settings_defaults(&s);
	assert_false(settings_set(&s, "foo", "1", err, sizeof(err)));
	assert_string_equal(err, "unknown setting `foo'");
	assert_false(settings_format(&s, "foo", buf, sizeof(buf)));
}

static void test_bad_ports(void **state)
{
	(void)state;
	expect_refused("ports", "0", "0");
	expect_refused("ports", "70000", "70000");
	expect_refused("ports", "80,,443", "80,,443");
	expect_refused("ports", "80,", "80,");
	expect_refused("ports", "80x", "80x");
	expect_refused("ports", "+80", "+80");
	expect_refused("ports", "-80", "-80");
	expect_refused("ports", "080", "080");
	expect_refused("ports", "0x50", "0x50");
	expect_refused("ports", "80,443,80", "80");
	expect_refused("ports", "99999999999999999999999", "99999999999999999999999");
	expect_refused("ports", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "17");
}

static void test_port_message(void **state)
{
	struct settings s;
	char err[256];

	(void)state;
	settings_defaults(&s);
	assert_false(settings_set(&s, "ports", "80,70000", err, sizeof(err)));
	assert_non_null(strstr(err, "ports: invalid port `70000'"));
	assert_false(settings_set(&s, "ports", "80, 443 ,80", err, sizeof(err)));
	assert_string_equal(err, "ports: duplicate port `80'");
}

static void test_bad_subnets(void **state)
{
	struct settings s;
	char err[256];

	(void)state;
	expect_refused("client_subnets", "10.0.0.1/8", "10.0.0.1/8");
	expect_refused("client_subnets", "10.0.0.0/33", "10.0.0.0/33");
	expect_refused("client_subnets", "10.0.0.0/-1", "10.0.0.0/-1");
	expect_refused("client_subnets", "10.0.0.0/08", "10.0.0.0/08");
	expect_refused("client_subnets", "10.0.0.0", "10.0.0.0");
	expect_refused("client_subnets", "10.0.0/8", "10.0.0/8");
	expect_refused("client_subnets", "256.0.0.0/8", "256.0.0.0/8");
	expect_refused("client_subnets", "010.0.0.0/8", "010.0.0.0/8");
	expect_refused("client_subnets", "10.0.0.0/8x", "10.0.0.0/8x");
	expect_refused("client_subnets", "10.0.0.0/8,10.0.0.0/8", "10.0.0.0/8");
	expect_refused("client_subnets", "10.0.0.0/8,,", "10.0.0.0/8,,");

	settings_defaults(&s);
	assert_false(
	    settings_set(&s, "client_subnets", "192.168.0.0/16, 10.0.0.1/8", err, sizeof(err)));
	assert_string_equal(err, "client_subnets: `10.0.0.1/8' has host bits set");
}

/* IPv6 prefixes next to IPv4 ones: checked alike, written back IPv4 first, then IPv6. */
static void test_ipv6_subnets(void **state)
{
	struct settings s;
	char err[256];

	(void)state;
	expect_canonical("client_subnets", "2001:db8::/32", "2001:db8::/32");
	expect_canonical("client_subnets", "2001:DB8:0:10:0:0:0:0/64, 10.0.0.0/8",
			 "10.0.0.0/8,2001:db8:0:10::/64");
	expect_canonical("client_subnets", "::/0,0.0.0.0/0", "0.0.0.0/0,::/0");
	expect_canonical("client_subnets", "2001:db8::7/128", "2001:db8::7/128");
	expect_refused("client_subnets", "2001:db8::1/64", "2001:db8::1/64");
	expect_refused("client_subnets", "2001:db8::/129", "2001:db8::/129");
	expect_refused("client_subnets", "2001:db8::", "2001:db8::");
	expect_refused("client_subnets", "2001:db8:::/48", "2001:db8:::/48");
	expect_refused("client_subnets", "2001:db8::/48,2001:db8:0::/48", "2001:db8:0::/48");
	expect_refused("client_subnets", "2001:db8:8000::/32", "2001:db8:8000::/32");

	settings_defaults(&s);
	assert_true(
	    settings_set(&s, "client_subnets", "10.0.0.0/8,2001:db8:10::/48", err, sizeof(err)));
	assert_int_equal(s.nsubnets, 1);
	assert_int_equal(s.nsubnets6, 1);
	assert_int_equal(s.client_subnets6[0].len, 48);
	assert_int_equal(s.client_subnets6[0].addr[5], 0x10);
	assert_false(settings_set(&s, "client_subnets", "2001:db8::1/64", err, sizeof(err)));
	assert_string_equal(err, "client_subnets: `2001:db8::1/64' has host bits set");
	assert_false(settings_set(&s, "client_subnets", "2001:db8::/200", err, sizeof(err)));
	assert_string_equal(err, "client_subnets: invalid prefix length in `2001:db8::/200' "
				 "(0..128)");
	/* Refused: the value held is the one before. */
	assert_int_equal(s.nsubnets6, 1);

	expect_canonical("ipv6_client_prefix", "64", "64");
	expect_canonical("ipv6_client_prefix", "128", "128");
	expect_canonical("ipv6_client_prefix", "32", "32");
	expect_refused("ipv6_client_prefix", "31", "31");
	expect_refused("ipv6_client_prefix", "129", "129");
	settings_defaults(&s);
	assert_int_equal(s.ipv6_client_prefix, 128);
	assert_int_equal(s.nsubnets6, 0);
}

static void test_bad_numbers(void **state)
{
	(void)state;
	expect_refused("queue_maxlen", "63", "63");
	expect_refused("queue_maxlen", "1048577", "1048577");
	expect_refused("queue_maxlen", "4096 ", "4096 ");
	expect_refused("queue_maxlen", " 4096", " 4096");
	expect_refused("queue_base", "65001", "65001");
	expect_refused("queue_base", "-1", "-1");
	expect_refused("queue_base", "4294967296", "4294967296");
	expect_refused("affinity_timeout", "0", "0");
	expect_refused("affinity_timeout", "1e3", "1e3");
	expect_refused("affinity_max_clients", "1023", "1023");
	expect_refused("frag_needed_rate", "100001", "100001");
	expect_refused("queues", "0", "0");
	expect_refused("queues", "65", "65");
	expect_refused("queues", "Auto", "Auto");
	expect_refused("maglev_table_size", "65536", "65536");
	expect_refused("maglev_table_size", "1000001", "1000001");
	expect_refused("maglev_table_size", "241", "241");
	expect_refused("maglev_table_size", "1000033", "1000033");
}

static void test_bad_words(void **state)
{
	(void)state;
	expect_refused("fail_open", "maybe", "maybe");
	expect_refused("fail_open", "true ", "true ");
	expect_refused("fail_open", "2", "2");
	expect_refused("no_proxy_policy", "bounce", "bounce");
	expect_refused("no_proxy_policy", "bypass,drop", "bypass,drop");
	expect_refused("malformed_policy", "reject", "reject");
	expect_refused("tunnel_source", "1.2.3", "1.2.3");
	expect_refused("tunnel_source", "1.2.3.4.5", "1.2.3.4.5");
	expect_refused("tunnel_source", "0.0.0.0", "0.0.0.0");
	expect_refused("tunnel_source", "127.0.0.1", "127.0.0.1");
	expect_refused("tunnel_source", "224.0.0.1", "224.0.0.1");
	expect_refused("tunnel_source", "255.255.255.255", "255.255.255.255");
	expect_refused("tunnel_source6", "198.18.0.1", "198.18.0.1");
	expect_refused("tunnel_source6", "::1", "::1");
	expect_refused("tunnel_source6", "fe80::1", "fe80::1");
	expect_refused("tunnel_source6", "none", "none");
	expect_refused("tunnel_source6", "::", "::");
}

static void test_empty_and_too_long(void **state)
{
	struct settings s, before;
	char value[SETTINGS_VALUE_MAX + 8], err[256];

	(void)state;
	settings_defaults(&s);
	before = s;
	assert_false(settings_set(&s, "ports", "", err, sizeof(err)));
	assert_string_equal(err, "ports: empty value");
	assert_false(settings_set(&s, "queues", NULL, err, sizeof(err)));
	assert_memory_equal(&s, &before, sizeof(s));

	memset(value, '1', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	settings_defaults(&s);
	before = s;
	assert_false(settings_set(&s, "ports", value, err, sizeof(err)));
	assert_true(strncmp(err, "ports: ", 7) == 0);
	assert_memory_equal(&s, &before, sizeof(s));
}

static void test_format_small_buffer(void **state)
{
	struct settings s;
	char buf[8];

	(void)state;
	settings_defaults(&s);
	assert_false(settings_format(&s, "client_subnets", buf, sizeof(buf)));
	assert_false(settings_format(&s, "ports", buf, 6));
	assert_true(settings_format(&s, "ports", buf, 7));
	assert_string_equal(buf, "80,443");
}

static void test_parsers(void **state)
{
	uint32_t a;
	struct cidr c;

	(void)state;
	assert_true(settings_parse_ipv4("198.18.1.11", &a));
	assert_int_equal(a, htonl(0xc612010b));
	assert_false(settings_parse_ipv4("198.18.1.11 ", &a));
	assert_false(settings_parse_ipv4("", &a));
	assert_true(settings_parse_cidr("172.16.0.0/12", &c));
	assert_int_equal(c.addr, htonl(0xac100000));
	assert_int_equal(c.len, 12);
	assert_false(settings_parse_cidr("172.17.0.0/12", &c));
	assert_string_equal(settings_type_name(SETTING_PRIME), "prime");
}

static void test_probe_settings(void **state)
{
	struct settings s;
	char err[256];

	(void)state;
	settings_defaults(&s);
	assert_int_equal(s.probe_kind, 0); /* http-proxy */
	assert_int_equal(s.probe_interval_ms, 2000);
	assert_int_equal(s.probe_timeout_ms, 1000);
	assert_int_equal(s.probe_rise, 2);
	assert_int_equal(s.probe_fall, 3);
	assert_int_equal(s.probe_status, 200U << 16 | 399U);
	assert_string_equal(s.probe_host, "");
	assert_false(s.assume_up_at_start);

	expect_canonical("probe_status", "204", "204");
	expect_canonical("probe_status", "200-499", "200-499");
	expect_canonical("probe_url", "https://canary.example/ok?x=1",
			 "https://canary.example/ok?x=1");
	expect_canonical("probe_path", "/healthz", "/healthz");
	expect_canonical("probe_host", "canary.example:8080", "canary.example:8080");
	expect_canonical("probe_host", "", "");
	expect_canonical("probe_kind", "tcp", "tcp");

	expect_refused("probe_status", "99", "99");
	expect_refused("probe_status", "400-200", "400-200");
	expect_refused("probe_status", "200-", "200-");
	expect_refused("probe_status", "2xx", "2xx");
	expect_refused("probe_url", "ftp://x/", "ftp://x/");
	expect_refused("probe_url", "http://", "http://");
	expect_refused("probe_url", "http://a b/", "http://a b/");
	expect_refused("probe_path", "healthz", "healthz");
	expect_refused("probe_host", "bad host", "bad host");
	expect_refused("probe_kind", "icmp", "icmp");
	expect_refused("probe_interval_ms", "99", "99");

	/* an empty value is only meaningful for the Host header */
	settings_defaults(&s);
	assert_false(settings_set(&s, "probe_url", "", err, sizeof(err)));
	assert_true(settings_set(&s, "probe_host", "", err, sizeof(err)));
}

static void test_web_settings(void **state)
{
	struct settings s;
	uint32_t addr;
	uint16_t port;

	(void)state;
	settings_defaults(&s);
	assert_string_equal(s.http_listen, "127.0.0.1:8080");
	assert_false(s.https);
	assert_string_equal(s.tls_cert, "");
	assert_int_equal(s.metrics_access, METRICS_ACCESS_LOCAL);
	assert_int_equal(s.session_idle_seconds, 1800);

	expect_canonical("http_listen", "0.0.0.0:443", "0.0.0.0:443");
	expect_canonical("tls_cert", "/etc/drover/web.pem", "/etc/drover/web.pem");
	expect_canonical("tls_key", "", "");
	expect_canonical("metrics_access", "open", "open");
	expect_refused("http_listen", "localhost:8080", "localhost:8080");
	expect_refused("http_listen", "127.0.0.1:0", "127.0.0.1:0");
	expect_refused("http_listen", "127.0.0.1:65536", "127.0.0.1:65536");
	expect_refused("http_listen", "127.0.0.1", "127.0.0.1");
	expect_refused("tls_cert", "web.pem", "web.pem");
	expect_refused("metrics_access", "everyone", "everyone");
	expect_refused("session_idle_seconds", "59", "59");

	assert_true(settings_parse_listen("10.1.2.3:8443", &addr, &port));
	assert_int_equal(port, 8443);
	assert_int_equal(addr, htonl(0x0a010203));
	assert_false(settings_parse_listen("10.1.2.3:08443", &addr, &port));
	assert_false(settings_parse_listen(":80", &addr, &port));
}

/* web_hosts: names and addresses for the Host check, no ports, nothing a header could smuggle. */
static void test_web_hosts(void **state)
{
	char long_name[SETTINGS_HOST_NAME_MAX + 2];
	struct settings s;

	/* One name longer than DNS allows is refused; one at the limit is taken. */

	(void)state;
	settings_defaults(&s);
	assert_string_equal(s.web_hosts, "");
	expect_canonical("web_hosts", "", "");
	expect_canonical("web_hosts", "drover.example.net", "drover.example.net");
	expect_canonical("web_hosts", "Drover-UI.example.net,203.0.113.5,ui",
			 "Drover-UI.example.net,203.0.113.5,ui");
	expect_refused("web_hosts", "a b", "a b");
	expect_refused("web_hosts", "drover.example.net:8080", "drover.example.net:8080");
	expect_refused("web_hosts", "a,,b", "");
	expect_refused("web_hosts", "a,", "");
	expect_refused("web_hosts", ",a", "");
	expect_refused("web_hosts", "a..b", "a..b");
	expect_refused("web_hosts", ".a", ".a");
	expect_refused("web_hosts", "a.", "a.");
	expect_refused("web_hosts", "-a.b", "-a.b");
	expect_refused("web_hosts", "a-.b", "a-.b");
	expect_refused("web_hosts", "x\r\nSet-Cookie", "x\r\nSet-Cookie");
	expect_refused("web_hosts", "[::1]", "[::1]");
	/* One name longer than DNS allows is refused; one at the limit is taken. */
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_false(settings_set(&s, "web_hosts", long_name, NULL, 0));
	long_name[SETTINGS_HOST_NAME_MAX] = '\0';
	expect_canonical("web_hosts", long_name, long_name);
}

/* Shorter names for the tables below. */
enum {
	A_RESIZE = SETTING_APPLY_AFFINITY_RESIZE,
	A_TIMEOUT = SETTING_APPLY_AFFINITY_TIMEOUT,
	A_QOPT = SETTING_APPLY_QUEUE_OPTIONS,
	A_FAST = SETTING_APPLY_FAST_PATH,
	A_FORGET = SETTING_APPLY_FAST_PATH_FORGET,
	A_SNAP = SETTING_APPLY_SNAPSHOT,
	A_QUEUES = SETTING_APPLY_QUEUES,
	A_PROBES = SETTING_APPLY_PROBES,
	A_RULES = SETTING_APPLY_RULES,
	A_WEB = SETTING_APPLY_WEB_LISTENER,
	A_CLUSTER = SETTING_APPLY_CLUSTER,
};

/* What each key does when it changes live: the contract, one row per key. */
static const struct {
	const char *key;
	unsigned apply;
} apply_table[] = {
    {"queues", A_SNAP | A_QUEUES | A_RULES},
    {"queue_base", A_SNAP | A_QUEUES | A_RULES},
    {"queue_maxlen", A_QOPT | A_SNAP},
    {"fail_open", A_QOPT | A_SNAP | A_RULES},
    {"fast_path", A_FAST | A_SNAP},
    {"fast_path_mode", A_FAST | A_SNAP},
    {"fast_path_grace_seconds", A_FAST | A_SNAP},
    {"ports", A_SNAP | A_RULES},
    {"client_subnets", A_FORGET | A_SNAP | A_RULES},
    {"no_proxy_policy", A_SNAP},
    {"malformed_policy", A_SNAP},
    {"affinity_timeout", A_TIMEOUT | A_SNAP},
    {"affinity_max_clients", A_RESIZE | A_SNAP},
    {"maglev_table_size", A_SNAP},
    {"tunnel_source", A_SNAP},
    {"tunnel_source6", A_SNAP},
    {"frag_needed_rate", A_SNAP},
    {"ipv6_client_prefix", A_SNAP},
    {"reject_rate", A_SNAP},
    {"quic_policy", A_SNAP},
    {"quic_reject_rate", A_SNAP},
    {"probe_kind", A_SNAP | A_PROBES},
    {"probe_interval_ms", A_SNAP | A_PROBES},
    {"probe_timeout_ms", A_SNAP | A_PROBES},
    {"probe_rise", A_SNAP | A_PROBES},
    {"probe_fall", A_SNAP | A_PROBES},
    {"probe_port", A_SNAP | A_PROBES},
    {"probe_status", A_SNAP | A_PROBES},
    {"probe_url", A_SNAP | A_PROBES},
    {"probe_path", A_SNAP | A_PROBES},
    {"probe_host", A_SNAP | A_PROBES},
    {"probe_max_in_flight", A_SNAP | A_PROBES},
    {"squid_stats_interval_ms", A_SNAP | A_PROBES},
    {"assume_up_at_start", A_SNAP},
    {"http_listen", A_SNAP | A_WEB},
    {"https", A_SNAP | A_WEB},
    {"tls_cert", A_SNAP | A_WEB},
    {"tls_key", A_SNAP | A_WEB},
    {"metrics_access", A_SNAP},
    {"session_idle_seconds", A_SNAP},
    {"web_hosts", A_SNAP},
    {"login_free_failures", A_SNAP},
    {"login_delay_max_seconds", A_SNAP},
    {"login_global_failures", A_SNAP},
    {"audit_max_entries", A_SNAP},
    {"audit_max_age_days", A_SNAP},
    {"http_max_connections", A_SNAP},
    {"http_max_connections_per_source", A_SNAP},
    {"cluster_role", A_SNAP | A_CLUSTER},
    {"cluster_primary", A_SNAP | A_CLUSTER},
    {"cluster_token_file", A_SNAP | A_CLUSTER},
    {"cluster_ca_file", A_SNAP | A_CLUSTER},
    {"cluster_poll_ms", A_SNAP | A_CLUSTER},
    {"cluster_node_name", A_SNAP | A_CLUSTER},
    {"ha_interface", A_SNAP},
    {"ha_vip", A_SNAP},
    {"ha_upstream_interface", A_SNAP},
    {"ha_upstream_vip", A_SNAP},
    {"ha_peers", A_SNAP},
    {"ha_router_id", A_SNAP},
    {"ha_priority", A_SNAP},
    {"ha_advert_ms", A_SNAP},
    {"ha_backend", A_SNAP},
    {"ha_aws_route_tables", A_SNAP},
    {"ha_aws_eni", A_SNAP},
    {"ha_aws_region", A_SNAP},
    {"ha_aws_peer_route_tables", A_SNAP},
    {"ha_aws_peer_router_id", A_SNAP},
};

/*
 * The steps the live apply ran before it was driven by flags, written out
 * as it was: an if-else chain before the snapshot, the snapshot for every
 * key, then queues (which moved the rules), probes or rules; and droverd's
 * list of the keys that restart the web listener.
 */
static unsigned former_chain(const char *key)
{
	static const char *const web_keys[] = {"http_listen", "https", "tls_cert", "tls_key"};
	unsigned steps = 0;

	if (strcmp(key, "affinity_max_clients") == 0)
		steps |= A_RESIZE;
	else if (strcmp(key, "affinity_timeout") == 0)
		steps |= A_TIMEOUT;
	else if (strcmp(key, "queue_maxlen") == 0 || strcmp(key, "fail_open") == 0)
		steps |= A_QOPT;
	else if (strcmp(key, "fast_path") == 0 || strcmp(key, "fast_path_grace_seconds") == 0 ||
		 strcmp(key, "fast_path_mode") == 0)
		steps |= A_FAST;
	else if (strcmp(key, "client_subnets") == 0) /* when the fast path is attached */
		steps |= A_FORGET;
	steps |= A_SNAP;
	if (strcmp(key, "queues") == 0 || strcmp(key, "queue_base") == 0)
		steps |= A_QUEUES | A_RULES;
	else if (strncmp(key, "probe_", 6) == 0)
		steps |= A_PROBES;
	else if (strcmp(key, "ports") == 0 || strcmp(key, "client_subnets") == 0 ||
		 strcmp(key, "fail_open") == 0)
		steps |= A_RULES;
	for (size_t i = 0; i < sizeof(web_keys) / sizeof(web_keys[0]); i++)
		if (strcmp(key, web_keys[i]) == 0)
			steps |= A_WEB;
	/* Added since the chain: the replica's pulls restart with their settings. */
	if (strncmp(key, "cluster_", 8) == 0)
		steps |= A_CLUSTER;
	/* Added since the chain: the reads of Squid's cache manager run beside the probes. */
	if (strcmp(key, "squid_stats_interval_ms") == 0)
		steps |= A_PROBES;
	return steps;
}

static void test_apply_flags(void **state)
{
	size_t rows = sizeof(apply_table) / sizeof(apply_table[0]);

	(void)state;
	assert_int_equal(rows, settings_count());
	for (size_t i = 0; i < rows; i++) {
		const struct setting_def *def = settings_find(apply_table[i].key);

		if (def == NULL)
			fail_msg("the apply table names `%s', which is no setting",
				 apply_table[i].key);
		if (def->apply != apply_table[i].apply)
			fail_msg("%s: apply flags %#x, the table says %#x", def->key, def->apply,
				 apply_table[i].apply);
		if (def->apply != former_chain(def->key))
			fail_msg("%s: apply flags %#x, the former chain ran %#x", def->key,
				 def->apply, former_chain(def->key));
	}
}

/* The steps that only work together with another are never set alone. */
static void test_apply_flags_depend(void **state)
{
	(void)state;
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_def *def = settings_def_at(i);

		/* Every change so far publishes a snapshot (it carries the settings). */
		if (!(def->apply & A_SNAP))
			fail_msg("%s: no snapshot", def->key);
		if ((def->apply & A_QUEUES) && !(def->apply & A_RULES))
			fail_msg("%s: queues without rules", def->key);
		assert_int_equal(def->apply & ~(unsigned)(A_RESIZE | A_TIMEOUT | A_QOPT | A_FAST |
							  A_FORGET | A_SNAP | A_QUEUES | A_PROBES |
							  A_RULES | A_WEB | A_CLUSTER),
				 0);
	}
}

static void set_ok(struct settings *s, const char *key, const char *value)
{
	char err[256];

	if (!settings_set(s, key, value, err, sizeof(err)))
		fail_msg("%s=%s refused: %s", key, value, err);
}

static void test_check(void **state)
{
	struct settings s;
	char err[256] = "";

	(void)state;
	settings_defaults(&s);
	assert_int_equal(settings_check(&s, err, sizeof(err)), 0);

	/* Equal is allowed; one millisecond more is not, and both keys are named. */
	set_ok(&s, "probe_interval_ms", "1000");
	assert_int_equal(settings_check(&s, err, sizeof(err)), 0);
	set_ok(&s, "probe_timeout_ms", "1001");
	assert_int_equal(settings_check(&s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "probe_timeout_ms (1001) must not exceed probe_interval_ms (1000)");
	/* No buffer: still refused. */
	assert_int_equal(settings_check(&s, NULL, 0), -EINVAL);
}

static void test_check_reset(void **state)
{
	struct settings s, before;
	char err[512] = "";

	(void)state;
	/* A good set is left alone. */
	settings_defaults(&s);
	set_ok(&s, "probe_interval_ms", "5000");
	set_ok(&s, "probe_timeout_ms", "3000");
	before = s;
	assert_int_equal(settings_check_reset(&s, err, sizeof(err)), 0);
	assert_memory_equal(&s, &before, sizeof(s));

	/* A bad one: both keys of the rule go back to their defaults, nothing else moves. */
	set_ok(&s, "probe_interval_ms", "500");
	set_ok(&s, "probe_timeout_ms", "600");
	set_ok(&s, "probe_rise", "7");
	assert_int_equal(settings_check_reset(&s, err, sizeof(err)), 1);
	assert_string_equal(err, "probe_timeout_ms (600) must not exceed probe_interval_ms (500): "
				 "probe_timeout_ms and probe_interval_ms take their defaults "
				 "(1000, 2000)");
	assert_int_equal(s.probe_interval_ms, 2000);
	assert_int_equal(s.probe_timeout_ms, 1000);
	assert_int_equal(s.probe_rise, 7);
	assert_int_equal(settings_check(&s, err, sizeof(err)), 0);
}

/* The node-scoped settings of a keepalived pair: address and name lists, bounds. */
static void test_ha_settings(void **state)
{
	struct settings s;
	char err[256];

	(void)state;
	expect_canonical("ha_vip", "198.18.1.1", "198.18.1.1");
	expect_canonical("ha_vip", "", "");
	expect_canonical("ha_peers", " 10.0.0.2 , 10.0.0.3", "10.0.0.2,10.0.0.3");
	expect_canonical("ha_interface", "eth0.100", "eth0.100");
	expect_canonical("ha_aws_route_tables", "rtb-0a1b2c,rtb-99", "rtb-0a1b2c,rtb-99");
	expect_canonical("ha_backend", "aws-route", "aws-route");
	expect_canonical("ha_advert_ms", "250", "250");
	expect_refused("ha_vip", "198.18.1.1,198.18.1.1", "198.18.1.1");
	expect_refused("ha_vip", "224.0.0.18", "224.0.0.18");
	expect_refused("ha_peers", "10.0.0.2,,10.0.0.3", "10.0.0.2,,10.0.0.3");
	expect_refused("ha_peers", "10.0.0.256", "10.0.0.256");
	expect_refused("ha_peers",
		       "1.0.0.1,1.0.0.2,1.0.0.3,1.0.0.4,1.0.0.5,1.0.0.6,1.0.0.7,"
		       "1.0.0.8,1.0.0.9",
		       "1.0.0.9");
	expect_refused("ha_interface", "eth0,eth1", "eth1");
	expect_refused("ha_interface", "averyveryverylongname", "averyveryverylongname");
	expect_refused("ha_interface", "eth0;reboot", "eth0;reboot");
	expect_refused("ha_interface", "-x", "-x");
	expect_refused("ha_aws_eni", "eni-1 eni-2", "eni-1 eni-2");
	expect_refused("ha_backend", "gre", "gre");
	expect_refused("ha_priority", "1", "1");
	expect_refused("ha_priority", "255", "255");
	expect_refused("ha_router_id", "0", "0");
	expect_refused("ha_advert_ms", "99", "99");
	settings_defaults(&s);
	assert_int_equal(s.ha_backend, HA_BACKEND_VIP);
	assert_int_equal(s.ha_priority, 100);
	assert_string_equal(s.ha_vip, "");
	assert_true(settings_set(&s, "ha_backend", "aws-route", err, sizeof(err)));
	assert_int_equal(s.ha_backend, HA_BACKEND_AWS_ROUTE);
	assert_string_equal(ha_backend_name(HA_BACKEND_AWS_ROUTE), "aws-route");
	assert_string_equal(ha_backend_name((enum ha_backend)7), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_round_trip),
	    cmocka_unit_test(test_default_values),
	    cmocka_unit_test(test_accepted_values),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_bad_ports),
	    cmocka_unit_test(test_port_message),
	    cmocka_unit_test(test_bad_subnets),
	    cmocka_unit_test(test_bad_numbers),
	    cmocka_unit_test(test_bad_words),
	    cmocka_unit_test(test_empty_and_too_long),
	    cmocka_unit_test(test_format_small_buffer),
	    cmocka_unit_test(test_parsers),
	    cmocka_unit_test(test_probe_settings),
	    cmocka_unit_test(test_web_settings),
	    cmocka_unit_test(test_web_hosts),
	    cmocka_unit_test(test_apply_flags),
	    cmocka_unit_test(test_ipv6_subnets),
	    cmocka_unit_test(test_apply_flags_depend),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_check_reset),
	    cmocka_unit_test(test_ha_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
