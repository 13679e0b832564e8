/* test_keepalived_conf.c - the keepalived.conf of one node of an HA pair. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keepalived_conf.h"
#include "settings.h"

#define SOURCE "198.18.1.2"

static void set(struct settings *s, const char *key, const char *value)
{
	char err[256] = "";

	if (!settings_set(s, key, value, err, sizeof(err)))
		fail_msg("%s=%s refused: %s", key, value, err);
}

static void pair_settings(struct settings *s)
{
	settings_defaults(s);
	set(s, "ha_interface", "lan0");
	set(s, "ha_vip", "198.18.1.1");
	set(s, "ha_peers", "198.18.1.3");
}

static struct keepalived_conf conf_of(const struct settings *s)
{
	struct keepalived_conf c = {
	    .settings = s,
	    .droverctl = "/usr/bin/droverctl",
	    .socket = "/run/drover/drover.sock",
	    .notify = "/usr/lib/drover/drover-ha-notify",
	    .script_user = "root",
	};

	inet_pton(AF_INET, SOURCE, &c.source);
	return c;
}

static char *render_ok(const struct keepalived_conf *c)
{
	char err[256] = "", *text = NULL;
	size_t len = 0;

	if (keepalived_conf_render(c, &text, &len, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_int_equal(len, strlen(text));
	return text;
}

static void has(const char *text, const char *part)
{
	if (strstr(text, part) == NULL)
		fail_msg("no `%s' in:\n%s", part, text);
}

static void test_vip_pair(void **state)
{
	struct settings s;
	struct keepalived_conf c;
	char *text;

	(void)state;
	pair_settings(&s);
	c = conf_of(&s);
	text = render_ok(&c);
	has(text, "\tscript_user root\n\tenable_script_security\n\tvrrp_version 3\n");
	has(text, "\tscript \"/usr/bin/droverctl --socket /run/drover/drover.sock ha check\"\n");
	has(text, "\tinterval 1\n");
	has(text, "\tinit_fail\n");
	has(text, "\tstate BACKUP\n\tinterface lan0\n\tvirtual_router_id 51\n\tpriority 100\n"
		  "\tadvert_int 1.00\n\tunicast_src_ip " SOURCE "\n");
	has(text, "\tunicast_peer {\n\t\t198.18.1.3\n\t}\n");
	has(text, "\tvirtual_ipaddress {\n\t\t198.18.1.1/32 dev lan0\n\t}\n");
	/* Broken: down to priority 1, level with any other broken node. */
	has(text, "\t\tdrover_check weight -99\n");
	has(text, "\tnotify \"/usr/lib/drover/drover-ha-notify --droverctl /usr/bin/droverctl "
		  "--socket /run/drover/drover.sock --backend vip\"\n");
	assert_null(strstr(text, "nopreempt"));
	assert_null(strstr(text, "state MASTER"));
	assert_null(strstr(text, "track_interface"));
	free(text);

	set(&s, "ha_priority", "150");
	set(&s, "ha_advert_ms", "250");
	set(&s, "ha_peers", "198.18.1.3,198.18.1.4");
	set(&s, "ha_upstream_interface", "wan0");
	set(&s, "ha_upstream_vip", "198.18.64.1");
	text = render_ok(&c);
	has(text, "\tpriority 150\n\tadvert_int 0.25\n");
	has(text, "\t\t198.18.1.3\n\t\t198.18.1.4\n");
	has(text, "\t\t198.18.1.1/32 dev lan0\n\t\t198.18.64.1/32 dev wan0\n");
	has(text, "\ttrack_interface {\n\t\twan0\n\t}\n");
	has(text, "\t\tdrover_check weight -149\n");
	free(text);
	assert_int_equal(keepalived_conf_weight(2), -1);
	assert_int_equal(keepalived_conf_weight(254), -253);
}

static void test_aws_route(void **state)
{
	struct settings s;
	struct keepalived_conf c;
	char *text;

	(void)state;
	pair_settings(&s);
	set(&s, "ha_vip", "");
	set(&s, "ha_backend", "aws-route");
	set(&s, "ha_aws_route_tables", "rtb-0a,rtb-0b");
	set(&s, "ha_aws_eni", "eni-0c");
	set(&s, "ha_aws_region", "eu-west-1");
	c = conf_of(&s);
	text = render_ok(&c);
	has(text, "--backend aws-route --route-tables rtb-0a,rtb-0b --eni eni-0c "
		  "--region eu-west-1\"\n");
	assert_null(strstr(text, "virtual_ipaddress"));
	free(text);
}

static void refused(const struct keepalived_conf *c, const char *word)
{
	char err[256] = "", *text = (char *)"unchanged";
	size_t len = 1;

	assert_int_equal(keepalived_conf_render(c, &text, &len, err, sizeof(err)), -EINVAL);
	assert_null(text);
	if (strstr(err, word) == NULL)
		fail_msg("message `%s' does not name %s", err, word);
}

/* One appliance per zone: its own zone's tables, and the peer zone's at half priority. */
static void test_aws_zones(void **state)
{
	struct settings s;
	struct keepalived_conf c;
	char *text, *peer;

	(void)state;
	pair_settings(&s);
	set(&s, "ha_vip", "");
	set(&s, "ha_backend", "aws-route");
	set(&s, "ha_aws_route_tables", "rtb-a1,rtb-a2");
	set(&s, "ha_aws_peer_route_tables", "rtb-b1");
	set(&s, "ha_aws_eni", "eni-a");
	set(&s, "ha_router_id", "61");
	set(&s, "ha_aws_peer_router_id", "62");
	c = conf_of(&s);
	text = render_ok(&c);
	peer = strstr(text, "vrrp_instance drover_peer_zone {\n");
	assert_non_null(peer);
	*peer = '\0';
	has(text, "vrrp_instance drover {\n");
	has(text, "\tvirtual_router_id 61\n\tpriority 100\n");
	has(text, "--backend aws-route --route-tables rtb-a1,rtb-a2 --eni eni-a\"\n");
	has(text, "\t\tdrover_check weight -99\n");
	has(peer + 1, "\tvirtual_router_id 62\n\tpriority 50\n");
	has(peer + 1,
	    "--backend aws-route --no-cluster-state --route-tables rtb-b1 --eni eni-a\"\n");
	has(peer + 1, "\t\tdrover_check weight -49\n");
	free(text);
	assert_int_equal(keepalived_conf_peer_priority(3), 2);
	assert_int_equal(keepalived_conf_peer_priority(254), 127);
	set(&s, "ha_aws_peer_router_id", "61");
	refused(&c, "ha_aws_peer_router_id");
	/* Backend vip: no second instance, whatever the aws keys hold. */
	pair_settings(&s);
	set(&s, "ha_aws_peer_route_tables", "rtb-b1");
	text = render_ok(&c);
	assert_null(strstr(text, "drover_peer_zone"));
	free(text);
}

static void test_refusals(void **state)
{
	struct settings s;
	struct keepalived_conf c;

	(void)state;
	settings_defaults(&s);
	c = conf_of(&s);
	refused(&c, "ha_interface");
	pair_settings(&s);
	set(&s, "ha_peers", "");
	refused(&c, "ha_peers");
	pair_settings(&s);
	set(&s, "ha_vip", "");
	refused(&c, "ha_vip");
	pair_settings(&s);
	set(&s, "ha_peers", SOURCE);
	refused(&c, SOURCE);
	pair_settings(&s);
	set(&s, "ha_backend", "aws-route");
	set(&s, "ha_aws_route_tables", "rtb-1");
	refused(&c, "ha_aws_eni");
	pair_settings(&s);
	set(&s, "ha_upstream_vip", "198.18.64.1");
	refused(&c, "ha_upstream_interface");
	pair_settings(&s);
	c.droverctl = "droverctl";
	refused(&c, "absolute");
	c = conf_of(&s);
	c.notify = "/usr/lib/drover/hook\"; reboot";
	refused(&c, "absolute");
	c = conf_of(&s);
	c.script_user = "root group";
	refused(&c, "user");
}

/* The probes must outlast the gap a failover leaves, or the failover takes proxies down. */
static void test_probe_warning(void **state)
{
	struct settings s;
	char buf[512];
	struct keepalived_conf c;
	char *text;

	(void)state;
	pair_settings(&s);
	/* Defaults: 2 x 2000 + 1000 = 5000 ms against 4 x 1000 + 500. */
	assert_int_equal(keepalived_conf_probe_warning(&s, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	set(&s, "probe_interval_ms", "1000");
	set(&s, "probe_timeout_ms", "500");
	assert_int_equal(keepalived_conf_probe_warning(&s, buf, sizeof(buf)), 1);
	has(buf, "2500 ms, less than the 4500 ms");
	c = conf_of(&s);
	text = render_ok(&c);
	has(text, "\n# WARNING: probe_fall 3 failed probes take 2500 ms");
	free(text);
	set(&s, "probe_fall", "6");
	assert_int_equal(keepalived_conf_probe_warning(&s, buf, sizeof(buf)), 0);
	set(&s, "probe_fall", "3");
	set(&s, "ha_advert_ms", "300");
	assert_int_equal(keepalived_conf_probe_warning(&s, buf, sizeof(buf)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vip_pair),  cmocka_unit_test(test_aws_route),
	    cmocka_unit_test(test_refusals),  cmocka_unit_test(test_probe_warning),
	    cmocka_unit_test(test_aws_zones),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
