/* test_rules.c - the iptables ruleset droverd installs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"

static void set(struct settings *s, const char *key, const char *value)
{
	char err[256];

	if (!settings_set(s, key, value, err, sizeof(err)))
		fail_msg("%s", err);
}

static void test_two_queues_two_proxies(void **state)
{
	struct settings s;
	uint32_t proxies[2];
	char buf[4096];

	(void)state;
	settings_defaults(&s);
	set(&s, "client_subnets", "198.18.1.0/24");
	inet_pton(AF_INET, "198.18.1.11", &proxies[0]);
	inet_pton(AF_INET, "198.18.1.12", &proxies[1]);
	assert_true(rules_render(&s, 2, proxies, 2, buf, sizeof(buf)) > 0);
	assert_string_equal(
	    buf,
	    "*filter\n"
	    ":DROVER - [0:0]\n"
	    "-A DROVER -s 198.18.1.11/32 -j RETURN\n"
	    "-A DROVER -s 198.18.1.12/32 -j RETURN\n"
	    "-A DROVER -s 198.18.1.0/24 -p tcp -m multiport --dports 80,443 -j NFQUEUE "
	    "--queue-balance 0:1 --queue-bypass\n"
	    "-A DROVER -s 198.18.1.0/24 -p udp --dport 443 -j NFQUEUE --queue-balance 0:1 "
	    "--queue-bypass\n"
	    "-A DROVER -s 198.18.1.0/24 -p tcp -f -j NFQUEUE --queue-balance 0:1 "
	    "--queue-bypass\n"
	    "-A DROVER -s 198.18.1.0/24 -p icmp --icmp-type destination-unreachable -j NFQUEUE "
	    "--queue-balance 0:1 --queue-bypass\n"
	    "COMMIT\n");
}

static void test_one_queue_fail_closed(void **state)
{
	struct settings s;
	char buf[4096];

	(void)state;
	settings_defaults(&s);
	set(&s, "client_subnets", "10.1.0.0/16");
	set(&s, "fail_open", "false");
	set(&s, "queue_base", "7");
	set(&s, "ports", "8080");
	assert_true(rules_render(&s, 1, NULL, 0, buf, sizeof(buf)) > 0);
	assert_string_equal(buf,
			    "*filter\n"
			    ":DROVER - [0:0]\n"
			    "-A DROVER -s 10.1.0.0/16 -p tcp -m multiport --dports 8080 -j "
			    "NFQUEUE --queue-num 7\n"
			    "-A DROVER -s 10.1.0.0/16 -p udp --dport 443 -j NFQUEUE --queue-num 7\n"
			    "-A DROVER -s 10.1.0.0/16 -p tcp -f -j NFQUEUE --queue-num 7\n"
			    "-A DROVER -s 10.1.0.0/16 -p icmp --icmp-type destination-unreachable "
			    "-j NFQUEUE --queue-num 7\n"
			    "COMMIT\n");
}

/* multiport takes 15 ports at most: sixteen need two rules per subnet. */
static void test_many_ports_split(void **state)
{
	struct settings s;
	char buf[8192];
	const char *p;
	int rules = 0;

	(void)state;
	settings_defaults(&s);
	set(&s, "ports", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16");
	assert_true(rules_render(&s, 4, NULL, 0, buf, sizeof(buf)) > 0);
	for (p = buf; (p = strstr(p, "--dports")) != NULL; p++)
		rules++;
	/* three default subnets, two multiport rules each */
	assert_int_equal(rules, 6);
	assert_non_null(strstr(buf, "--dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -j"));
	assert_non_null(strstr(buf, "--dports 16 -j"));
	assert_non_null(strstr(buf, "--queue-balance 0:3"));
}

/*
 * A second appliance picks up connections it never saw (a failover moves a
 * subnet's default route mid-download): the packets that reach it first are
 * ACKs and data, which conntrack calls INVALID, or NEW only with
 * nf_conntrack_tcp_loose=1. So the rules queue by address, port and
 * protocol alone: no connection state, no TCP flags, nothing conntrack
 * decides. With several subnets, many ports and both queue modes.
 */
static void test_no_connection_state(void **state)
{
	static const char *const forbidden[] = {"state", "conntrack", "--syn",	     "tcp-flags",
						"NEW",	 "INVALID",   "ESTABLISHED", "mark"};
	struct settings s;
	uint32_t proxies[1];
	char buf[8192];

	(void)state;
	inet_pton(AF_INET, "198.18.1.11", &proxies[0]);
	for (unsigned nq = 1; nq <= 2; nq++) {
		const char *line;
		unsigned queued = 0;

		settings_defaults(&s);
		set(&s, "client_subnets", "198.18.1.0/24,198.18.8.0/22");
		set(&s, "ports", "80,443,8080");
		assert_true(rules_render(&s, nq, proxies, 1, buf, sizeof(buf)) > 0);
		for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
			if (strstr(buf, forbidden[i]) != NULL)
				fail_msg("rules match on `%s':\n%s", forbidden[i], buf);
		}
		/* Every web-port rule queues all TCP of its subnet to those ports. */
		for (line = buf; (line = strstr(line, "-p tcp -m multiport --dports ")) != NULL;
		     line++) {
			assert_non_null(strstr(line, " -j NFQUEUE"));
			assert_true(strstr(line, " -j NFQUEUE") < strchr(line, '\n'));
			queued++;
		}
		assert_int_equal(queued, 2);
	}
}

static void test_too_small_buffer(void **state)
{
	struct settings s;
	char buf[64];

	(void)state;
	settings_defaults(&s);
	assert_int_equal(rules_render(&s, 1, NULL, 0, buf, sizeof(buf)), -ENOSPC);
}

/*
 * IPv6 client subnets: the IPv4 document, then after the mark the IPv6 one
 * for ip6tables-restore, the same chain, ports and queues; proxies' IPv4
 * addresses only in the IPv4 part. ICMPv6 only as Packet Too Big and
 * destination unreachable: nothing that could catch neighbour or router
 * discovery (types 133-137) or echo.
 */
static void test_ipv6_subnets(void **state)
{
	struct settings s;
	uint32_t proxy;
	char buf[4096];

	(void)state;
	settings_defaults(&s);
	set(&s, "client_subnets", "198.18.1.0/24,2001:db8:10::/48");
	inet_pton(AF_INET, "198.18.1.11", &proxy);
	assert_true(rules_render(&s, 2, &proxy, 1, buf, sizeof(buf)) > 0);
	assert_string_equal(
	    buf,
	    "*filter\n"
	    ":DROVER - [0:0]\n"
	    "-A DROVER -s 198.18.1.11/32 -j RETURN\n"
	    "-A DROVER -s 198.18.1.0/24 -p tcp -m multiport --dports 80,443 -j NFQUEUE "
	    "--queue-balance 0:1 --queue-bypass\n"
	    "-A DROVER -s 198.18.1.0/24 -p udp --dport 443 -j NFQUEUE --queue-balance 0:1 "
	    "--queue-bypass\n"
	    "-A DROVER -s 198.18.1.0/24 -p tcp -f -j NFQUEUE --queue-balance 0:1 "
	    "--queue-bypass\n"
	    "-A DROVER -s 198.18.1.0/24 -p icmp --icmp-type destination-unreachable -j NFQUEUE "
	    "--queue-balance 0:1 --queue-bypass\n"
	    "COMMIT\n"
	    "# ip6tables-restore --noflush\n"
	    "*filter\n"
	    ":DROVER - [0:0]\n"
	    "-A DROVER -s 2001:db8:10::/48 -p tcp -m multiport --dports 80,443 -j NFQUEUE "
	    "--queue-balance 0:1 --queue-bypass\n"
	    "-A DROVER -s 2001:db8:10::/48 -p udp --dport 443 -j NFQUEUE --queue-balance 0:1 "
	    "--queue-bypass\n"
	    "-A DROVER -s 2001:db8:10::/48 -p tcp -m frag --fragid 0:4294967295 -j NFQUEUE "
	    "--queue-balance 0:1 --queue-bypass\n"
	    "-A DROVER -s 2001:db8:10::/48 -p ipv6-icmp --icmpv6-type packet-too-big -j NFQUEUE "
	    "--queue-balance 0:1 --queue-bypass\n"
	    "-A DROVER -s 2001:db8:10::/48 -p ipv6-icmp --icmpv6-type destination-unreachable -j "
	    "NFQUEUE --queue-balance 0:1 --queue-bypass\n"
	    "COMMIT\n");
	/* Every ICMPv6 rule names one of the two errors: never neighbour discovery. */
	const char *v6 = strstr(buf, RULES_IPV6_MARK);
	assert_non_null(v6);
	for (const char *p = strstr(v6, "ipv6-icmp"); p != NULL; p = strstr(p + 1, "ipv6-icmp"))
		assert_true(strncmp(p, "ipv6-icmp --icmpv6-type packet-too-big ", 39) == 0 ||
			    strncmp(p, "ipv6-icmp --icmpv6-type destination-unreachable ", 48) ==
				0);
	assert_null(strstr(buf, "neighbo"));
	assert_null(strstr(buf, "router-"));
	assert_null(strstr(v6, "198.18.1.11"));

	/* Without IPv6 subnets, no IPv6 part (and nothing asked of a host without IPv6). */
	set(&s, "client_subnets", "198.18.1.0/24");
	assert_true(rules_render(&s, 2, &proxy, 1, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, RULES_IPV6_MARK));
	/* IPv6 only: an IPv4 chain with nothing but the proxies' returns. */
	set(&s, "client_subnets", "2001:db8::/32");
	assert_true(rules_render(&s, 1, &proxy, 1, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-A DROVER -s 2001:db8::/32 -p tcp -m multiport"));
	assert_null(strstr(buf, "-p icmp "));
}

/*
 * The pool's proxies: every IPv4 address returns in the IPv4 chain, and the
 * IPv6 address of a proxy that has one returns first in the IPv6 chain,
 * before any rule that queues; a proxy with IPv4 only adds nothing there.
 */
static void test_proxies_ipv6_return(void **state)
{
	struct proxy_config pool[2];
	struct settings s;
	char buf[4096];
	const char *v6, *ret6, *queued6;

	(void)state;
	memset(pool, 0, sizeof(pool));
	settings_defaults(&s);
	set(&s, "client_subnets", "198.18.1.0/24,2001:db8:10::/48");
	inet_pton(AF_INET, "198.18.1.11", &pool[0].address);
	assert_true(proxy_address6_parse("2001:db8:10::11", pool[0].address6, NULL));
	inet_pton(AF_INET, "198.18.1.12", &pool[1].address);
	assert_true(rules_render_pool(&s, 2, pool, 2, buf, sizeof(buf)) > 0);
	v6 = strstr(buf, RULES_IPV6_MARK);
	assert_non_null(v6);
	assert_non_null(strstr(buf, "-A DROVER -s 198.18.1.11/32 -j RETURN\n"));
	assert_non_null(strstr(buf, "-A DROVER -s 198.18.1.12/32 -j RETURN\n"));
	assert_true(strstr(buf, "198.18.1.12/32") < v6);
	ret6 = strstr(v6, "*filter\n:DROVER - [0:0]\n-A DROVER -s 2001:db8:10::11/128 -j RETURN\n");
	queued6 = strstr(v6, "NFQUEUE");
	assert_non_null(ret6);
	assert_true(ret6 < queued6);
	/* One IPv6 return: the IPv4-only proxy has none. */
	assert_null(strstr(strstr(ret6, "-j RETURN") + 1, "-j RETURN"));
	assert_null(strstr(v6, "198.18.1."));
	/* rules_render with the same IPv4 addresses gives the same IPv4 part. */
	{
		uint32_t addrs[2] = {pool[0].address, pool[1].address};
		char plain[4096];

		assert_true(rules_render(&s, 2, addrs, 2, plain, sizeof(plain)) > 0);
		assert_memory_equal(plain, buf, (size_t)(v6 - buf));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_queues_two_proxies),
	    cmocka_unit_test(test_one_queue_fail_closed),
	    cmocka_unit_test(test_many_ports_split),
	    cmocka_unit_test(test_too_small_buffer),
	    cmocka_unit_test(test_no_connection_state),
	    cmocka_unit_test(test_ipv6_subnets),
	    cmocka_unit_test(test_proxies_ipv6_return),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
