/*
 * test_wire.c - big-endian field access, IPv4 header fields, the Internet
 * checksum and the IPv6 upper-layer checksum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wire.h"

static void test_get_put(void **state)
{
	static const uint8_t be[] = {0x12, 0x34, 0x56, 0x78};
	uint8_t buf[4];

	(void)state;
	assert_int_equal(wire_get16(be), 0x1234);
	assert_int_equal(wire_get32(be), 0x12345678);
	memset(buf, 0, sizeof(buf));
	wire_put16(buf, 0xbeef);
	assert_int_equal(buf[0], 0xbe);
	assert_int_equal(buf[1], 0xef);
	wire_put32(buf, 0x12345678);
	assert_memory_equal(buf, be, sizeof(be));
	/* the top bit survives: no sign extension on the way in or out */
	wire_put32(buf, 0xfedcba98U);
	assert_int_equal(wire_get32(buf), 0xfedcba98U);
	assert_int_equal(wire_get16(buf), 0xfedc);
}

static void test_ip_version_and_hlen(void **state)
{
	static const uint8_t plain[] = {WIRE_IPV4_VERS_IHL};
	static const uint8_t options[] = {0x4f};
	static const uint8_t ipv6[] = {0x60};

	(void)state;
	assert_int_equal(wire_ip_version(plain), WIRE_IPV4_VERSION);
	assert_int_equal(wire_ip_hlen(plain), WIRE_IPV4_HLEN_MIN);
	assert_int_equal(wire_ip_hlen(options), 60);
	assert_int_equal(wire_ip_version(ipv6), 6);
	assert_int_equal(wire_ip_hlen(ipv6), 0);
}

static void test_frag_bits(void **state)
{
	(void)state;
	/* RFC 791: flags 0 DF MF, then 13 bits of offset */
	assert_int_equal(WIRE_IP_DF, 0x4000);
	assert_int_equal(WIRE_IP_MF, 0x2000);
	assert_int_equal(WIRE_IP_OFFSET_MASK, 0x1fff);
	assert_int_equal(WIRE_IP_DF & WIRE_IP_MF, 0);
	assert_int_equal((WIRE_IP_DF | WIRE_IP_MF) & WIRE_IP_OFFSET_MASK, 0);
}

static void test_checksum(void **state)
{
	/* RFC 1071 section 3 example: the words sum to 0xddf2 */
	static const uint8_t rfc1071[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	static const uint8_t odd[] = {0xab};
	static const uint8_t carries[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x01};
	uint8_t buf[10];

	(void)state;
	assert_int_equal(wire_checksum(rfc1071, sizeof(rfc1071)), 0x220d);
	/* an odd final byte is the high half of a word */
	assert_int_equal(wire_checksum(odd, sizeof(odd)), 0x54ff);
	assert_int_equal(wire_checksum(NULL, 0), 0xffff);
	/* end-around carry folds twice: 0x1ffff -> 0xffff + 1 = 0x10000 -> 0x0001 */
	assert_int_equal(wire_checksum(carries, sizeof(carries)), 0xfffe);
	/* storing the checksum makes the buffer verify to 0 */
	memcpy(buf, rfc1071, sizeof(rfc1071));
	wire_put16(buf + 8, 0x220d);
	assert_int_equal(wire_checksum(buf, sizeof(buf)), 0);
}

/*
 * The IPv6 pseudo-header checksum: a known answer (UDP 50000 -> 53 with
 * "abcde", an odd length, 2001:db8:1::10 -> 2001:db8:ff::80, computed by a
 * separate script), and for every length the same as wire_checksum over a
 * pseudo-header written out in front of the message, lengths past 65535
 * included (the upper-layer length is 32 bits).
 */
static void test_checksum6(void **state)
{
	static const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, [15] = 0x10};
	static const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff, [15] = 0x80};
	static const uint8_t udp[] = {0xc3, 0x50, 0x00, 0x35, 0x00, 0x0d, 0x00,
				      0x00, 'a',  'b',	'c',  'd',  'e'};
	static const size_t lens[] = {0, 1, 2, 13, 1232, 65535, 65536, 70001};
	uint8_t *buf = malloc(40 + 70001);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(wire_checksum6(src, dst, 17, udp, sizeof(udp)), 0xb585);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];

		memcpy(buf, src, 16);
		memcpy(buf + 16, dst, 16);
		wire_put32(buf + 32, (uint32_t)len);
		memset(buf + 36, 0, 3);
		buf[39] = 58;
		for (size_t j = 0; j < len; j++)
			buf[40 + j] = (uint8_t)(j * 31 + 7);
		assert_int_equal(wire_checksum6(src, dst, 58, buf + 40, len),
				 wire_checksum(buf, 40 + len));
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_put),   cmocka_unit_test(test_ip_version_and_hlen),
	    cmocka_unit_test(test_frag_bits), cmocka_unit_test(test_checksum),
	    cmocka_unit_test(test_checksum6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
