/* test_preflight.c - the pure side of `droverctl preflight': verdicts and the
 * exit status, rp_filter and MTU judgements, the split of droverd's rule
 * lines, and the echo packets of the tunnel probe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "../../appliance/preflight.h"
#include "../../appliance/wire.h"

static void test_report(void **state)
{
	static struct preflight_report r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(preflight_exit_status(&r), 0);
	preflight_add(&r, PREFLIGHT_OK, "forwarding ipv4", "net.ipv4.ip_forward=%d", 1);
	preflight_add(&r, PREFLIGHT_SKIP, "aws", "not on EC2");
	assert_int_equal(preflight_exit_status(&r), 0);
	preflight_add(&r, PREFLIGHT_FIX, "rules ipv4", "missing");
	assert_int_equal(preflight_exit_status(&r), 1);
	assert_int_equal(r.count, 3);
	assert_string_equal(r.checks[0].text, "net.ipv4.ip_forward=1");
	assert_int_equal(r.by_verdict[PREFLIGHT_OK], 1);
	assert_int_equal(r.by_verdict[PREFLIGHT_FIX], 1);
	assert_int_equal(r.by_verdict[PREFLIGHT_SKIP], 1);
	assert_string_equal(preflight_verdict_name(PREFLIGHT_FIX), "fix");
	assert_null(preflight_verdict_name(PREFLIGHT_VERDICT_COUNT));

	/* A full report still counts: the summary and the exit status stay right. */
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < PREFLIGHT_CHECKS_MAX; i++)
		preflight_add(&r, PREFLIGHT_OK, "x", "ok");
	preflight_add(&r, PREFLIGHT_FIX, "late", "broken");
	assert_int_equal(r.count, PREFLIGHT_CHECKS_MAX);
	assert_int_equal(r.dropped, 1);
	assert_int_equal(preflight_exit_status(&r), 1);
}

static void test_rp_filter(void **state)
{
	char text[PREFLIGHT_TEXT_MAX];

	(void)state;
	/* The kernel applies the larger of "all" and the device's. */
	assert_int_equal(preflight_rp_filter_effective(1, 0), 1);
	assert_int_equal(preflight_rp_filter_effective(0, 2), 2);
	assert_int_equal(preflight_rp_filter_effective(2, 1), 2);
	assert_int_equal(preflight_rp_filter_judge(1, false, "lan0", text, sizeof(text)),
			 PREFLIGHT_OK);
	assert_non_null(strstr(text, "strict"));
	assert_int_equal(preflight_rp_filter_judge(2, false, "lan0", text, sizeof(text)),
			 PREFLIGHT_OK);
	assert_int_equal(preflight_rp_filter_judge(2, true, "lan0", text, sizeof(text)),
			 PREFLIGHT_OK);
	/* Strict where clients come over several paths drops them: 2 is needed. */
	assert_int_equal(preflight_rp_filter_judge(1, true, "lan0", text, sizeof(text)),
			 PREFLIGHT_FIX);
	assert_non_null(strstr(text, "net.ipv4.conf.lan0.rp_filter=2"));
	assert_int_equal(preflight_rp_filter_judge(0, false, "lan0", text, sizeof(text)),
			 PREFLIGHT_FIX);
	assert_non_null(strstr(text, "net.ipv4.conf.all.rp_filter=1"));
	assert_int_equal(preflight_rp_filter_judge(7, false, "lan0", text, sizeof(text)),
			 PREFLIGHT_FIX);
}

static void test_mtu(void **state)
{
	char text[PREFLIGHT_TEXT_MAX];

	(void)state;
	assert_int_equal(preflight_tunnel_mtu(1500), 1480);
	assert_int_equal(preflight_tunnel_mtu(9001), 8981);
	assert_int_equal(preflight_tunnel_mtu(20), 0);
	assert_int_equal(preflight_tunnel_mtu(0), 0);
	assert_int_equal(preflight_mtu_judge(1500, 1480, false, text, sizeof(text)), PREFLIGHT_OK);
	/* advmss: tunnel MTU less the clients' IPv4 and TCP headers. */
	assert_non_null(strstr(text, "up to 1440 bytes"));
	/* droverd read another route: it must learn the new one. */
	assert_int_equal(preflight_mtu_judge(1400, 1480, false, text, sizeof(text)), PREFLIGHT_FIX);
	assert_non_null(strstr(text, "--mtu 1400"));
	/* No route when droverd built its pool. */
	assert_int_equal(preflight_mtu_judge(1500, 0, false, text, sizeof(text)), PREFLIGHT_FIX);
	/* 576 inside for IPv4: a path of 596 is the least. */
	assert_int_equal(preflight_mtu_judge(596, 576, false, text, sizeof(text)), PREFLIGHT_OK);
	assert_int_equal(preflight_mtu_judge(595, 575, false, text, sizeof(text)), PREFLIGHT_FIX);
	assert_non_null(strstr(text, "at least 596"));
	/* IPv6 clients in 6in4: 1280 inside, a path of 1300. */
	assert_int_equal(preflight_mtu_judge(1300, 1280, true, text, sizeof(text)), PREFLIGHT_OK);
	assert_int_equal(preflight_mtu_judge(1299, 1279, true, text, sizeof(text)), PREFLIGHT_FIX);
}

static void test_rule_words(void **state)
{
	char line[] = "-A DROVER -s 10.0.0.0/8 -p tcp -m multiport --dports 80,443 -j NFQUEUE "
		      "--queue-balance 0:1 --queue-bypass";
	char other[] = "-A FORWARD -j DROVER";
	char decl[] = ":DROVER - [0:0]";
	char many[] = "-A DROVER a b c";
	char *words[16];

	(void)state;
	assert_int_equal(preflight_rule_words(line, "DROVER", words, 16), 13);
	assert_string_equal(words[0], "-s");
	assert_string_equal(words[1], "10.0.0.0/8");
	assert_string_equal(words[12], "--queue-bypass");
	assert_int_equal(preflight_rule_words(other, "DROVER", words, 16), 0);
	assert_int_equal(preflight_rule_words(decl, "DROVER", words, 16), 0);
	assert_int_equal(preflight_rule_words(many, "DROVER", words, 2), -E2BIG);
}

static void test_echo(void **state)
{
	uint8_t pkt[PREFLIGHT_ECHO_LEN], reply[PREFLIGHT_ECHO_LEN];
	uint32_t src = htonl(0xc6120101U), dst = htonl(0xc612010bU), from;
	uint16_t id, seq;

	(void)state;
	preflight_echo_packet(pkt, src, dst, 0x1234, 6);
	assert_int_equal(pkt[0], 0x45);
	assert_int_equal(wire_get16(pkt + 2), PREFLIGHT_ECHO_LEN);
	assert_int_equal(pkt[9], 1);
	assert_int_equal(wire_checksum(pkt, 20), 0);
	assert_memory_equal(pkt + 12, &src, 4);
	assert_memory_equal(pkt + 16, &dst, 4);
	assert_int_equal(pkt[20], WIRE_ICMP_ECHO_REQUEST);
	assert_int_equal(wire_checksum(pkt + 20, PREFLIGHT_ICMP_ECHO_LEN), 0);
	assert_int_equal(wire_get16(pkt + 24), 0x1234);
	assert_int_equal(wire_get16(pkt + 26), 6);
	/* The request is no reply. */
	assert_false(preflight_echo_reply(pkt, sizeof(pkt), &from, &id, &seq));

	/* The proxy's answer: addresses swapped, type 0. */
	memcpy(reply, pkt, sizeof(reply));
	memcpy(reply + 12, &dst, 4);
	memcpy(reply + 16, &src, 4);
	reply[20] = WIRE_ICMP_ECHO_REPLY;
	assert_true(preflight_echo_reply(reply, sizeof(reply), &from, &id, &seq));
	assert_memory_equal(&from, &dst, 4);
	assert_int_equal(id, 0x1234);
	assert_int_equal(seq, 6);
	/* Cut short, another protocol, another version, a code: refused. */
	assert_false(preflight_echo_reply(reply, 27, &from, &id, &seq));
	reply[9] = 6;
	assert_false(preflight_echo_reply(reply, sizeof(reply), &from, &id, &seq));
	reply[9] = 1;
	reply[21] = 1;
	assert_false(preflight_echo_reply(reply, sizeof(reply), &from, &id, &seq));
	reply[21] = 0;
	reply[0] = 0x65;
	assert_false(preflight_echo_reply(reply, sizeof(reply), &from, &id, &seq));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_report), cmocka_unit_test(test_rp_filter),
	    cmocka_unit_test(test_mtu),	   cmocka_unit_test(test_rule_words),
	    cmocka_unit_test(test_echo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
