/* test_decap.c - drover-decap's datagram checks: every drop reason, the
 * sender allow-list, and no read past any truncation of a good datagram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The daemon's start-up functions come along unused. */
#pragma GCC diagnostic ignored "-Wunused-function"
#define DECAP_NO_MAIN
#include "../../proxy/drover-decap.c"

#define APPLIANCE 0xc6120101U /* 198.18.1.1 */
#define PROXY	  0xc612010bU /* 198.18.1.11 */
#define CLIENT	  0xc6120182U /* 198.18.1.130 */
#define ORIGIN	  0xc612400aU /* 198.18.64.10 */

/* An IPv4 header of ihl bytes (options zero) with a correct checksum. */
static void ip_header(uint8_t *p, size_t ihl, size_t total, uint8_t proto, uint32_t src,
		      uint32_t dst)
{
	uint16_t sum;

	memset(p, 0, ihl);
	p[0] = (uint8_t)(0x40 | (ihl / 4));
	wire_put16(p + 2, (uint16_t)total);
	p[8] = 64;
	p[9] = proto;
	wire_put32(p + 12, src);
	wire_put32(p + 16, dst);
	sum = wire_checksum(p, ihl);
	wire_put16(p + 10, sum);
}

/* Outer (outer_ihl) + inner (24-byte header with options) + payload bytes. */
static size_t datagram(uint8_t *buf, size_t outer_ihl, size_t payload)
{
	size_t inner = 24 + payload;

	ip_header(buf, outer_ihl, outer_ihl + inner, IPPROTO_IPIP, APPLIANCE, PROXY);
	ip_header(buf + outer_ihl, 24, inner, IPPROTO_TCP, CLIENT, ORIGIN);
	for (size_t i = 0; i < payload; i++)
		buf[outer_ihl + 24 + i] = (uint8_t)i;
	return outer_ihl + inner;
}

static struct decap_config open_config(void)
{
	struct decap_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	return cfg;
}

static void test_good(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t buf[200];
	size_t off = 0, len = 0, n;

	(void)state;
	n = datagram(buf, 20, 40);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	assert_int_equal(off, 20);
	assert_int_equal(len, 64);
	/* Outer options are skipped. */
	n = datagram(buf, 28, 40);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	assert_int_equal(off, 28);
	assert_int_equal(len, 64);
}

static void test_sender(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t buf[200];
	size_t off, len, n;

	(void)state;
	n = datagram(buf, 20, 10);
	cfg.from[0] = htonl(ORIGIN);
	cfg.from_count = 1;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_SENDER);
	cfg.from[1] = htonl(APPLIANCE);
	cfg.from_count = 2;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
}

/*
 * Inner sources: only the --clients ranges (parsed as the command line
 * does), so that even a packet sent from the appliance's own address (or
 * spoofed as it) cannot hand Squid a request from anywhere else.
 */
static void test_inner_source(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t buf[200];
	size_t off, len, n;

	(void)state;
	cfg.from[0] = htonl(APPLIANCE);
	cfg.from_count = 1;
	decap_parse_clients("10.0.0.0/8,198.18.1.128/25", &cfg);
	assert_int_equal(cfg.client_count, 2);
	n = datagram(buf, 20, 10);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);

	/* 198.18.64.10: an Internet host as the inner source. */
	ip_header(buf + 20, 24, n - 20, IPPROTO_TCP, ORIGIN, PROXY);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	/* 198.18.1.127: just below the /25. */
	ip_header(buf + 20, 24, n - 20, IPPROTO_TCP, 0xc612017fU, ORIGIN);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_SOURCE);
	/* 10.255.255.255: inside the /8 (the network part is masked once, at parse). */
	ip_header(buf + 20, 24, n - 20, IPPROTO_TCP, 0x0affffffU, ORIGIN);
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_COUNT);
	/* The outer check comes first: another sender is a sender drop whatever it carries. */
	wire_put32(buf + 12, ORIGIN);
	wire_put16(buf + 10, 0);
	wire_put16(buf + 10, wire_checksum(buf, 20));
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_SENDER);
}

static void test_reasons(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t good[200], buf[200];
	size_t off, len, n;

	(void)state;
	n = datagram(good, 20, 10);

	assert_int_equal(decap_check(&cfg, good, 19, &off, &len), DECAP_DROP_OUTER_SHORT);

	memcpy(buf, good, n);
	buf[0] = 0x65;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_VERSION);
	buf[0] = 0x44;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_IHL);
	buf[0] = 0x4f; /* 60 bytes of header in a 54-byte datagram */
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_IHL);

	memcpy(buf, good, n);
	buf[3]++;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_LENGTH);

	memcpy(buf, good, n);
	buf[9] = IPPROTO_GRE;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_OUTER_PROTOCOL);

	/* Only an outer header: nothing inside. */
	ip_header(buf, 20, 30, IPPROTO_IPIP, APPLIANCE, PROXY);
	assert_int_equal(decap_check(&cfg, buf, 30, &off, &len), DECAP_DROP_INNER_SHORT);

	memcpy(buf, good, n);
	buf[20] = 0x66;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_VERSION);
	buf[20] = 0x43;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_IHL);
	buf[20] = 0x4f;
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_IHL);

	memcpy(buf, good, n);
	buf[23]--; /* inner total length one short of what remains */
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_LENGTH);

	memcpy(buf, good, n);
	buf[20 + 8]--; /* TTL changed, checksum not */
	assert_int_equal(decap_check(&cfg, buf, n, &off, &len), DECAP_DROP_INNER_CHECKSUM);
}

/* Every prefix of a good datagram, given as a buffer of exactly that size
 * (ASan catches a read past it), is refused, never accepted. */
static void test_truncations(void **state)
{
	struct decap_config cfg = open_config();
	uint8_t good[200];
	size_t off, len, n;

	(void)state;
	n = datagram(good, 24, 60);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		assert_non_null(copy);
		memcpy(copy, good, cut);
		assert_int_not_equal(decap_check(&cfg, copy, cut, &off, &len), DECAP_DROP_COUNT);
		free(copy);
	}
}

static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < DECAP_DROP_COUNT; i++)
		assert_non_null(decap_drop_names[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),	 cmocka_unit_test(test_sender),
	    cmocka_unit_test(test_inner_source), cmocka_unit_test(test_reasons),
	    cmocka_unit_test(test_truncations),	 cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
