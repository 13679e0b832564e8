/* test_encap.c - IPIP outer headers and outer fragmentation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "encap.h"

#define OUTER_SRC 0x010112c6U /* 198.18.1.1 as stored in memory (network order) */
#define OUTER_DST 0x020212c6U /* 198.18.2.2 */

static uint32_t addr(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	uint8_t bytes[4] = {a, b, c, d};
	uint32_t v;

	memcpy(&v, bytes, sizeof(v));
	return v;
}

/* An inner packet of len bytes: IPv4 header (TOS, DF as given) and a patterned payload. */
static uint8_t *make_inner(size_t len, uint8_t tos, int df)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	p[0] = 0x45;
	p[1] = tos;
	wire_put16(p + 2, (uint16_t)len);
	wire_put16(p + 6, df ? WIRE_IP_DF : 0);
	p[9] = 6;
	return p;
}

/*
 * Expected bytes written by hand from RFC 791 / RFC 2003 for a 44-byte inner
 * packet with TOS 0xb8 and DF, id 0xbeef, 198.18.1.1 -> 198.18.2.2. The
 * checksum was worked out by hand: the words sum to 0x31412, folded 0x1415,
 * complemented 0xebea (and cross-checked with a separate script).
 */
static void test_golden_header(void **state)
{
	static const uint8_t expected[ENCAP_OUTER_LEN] = {
	    0x45, 0xb8, 0x00, 0x40, /* version 4, IHL 5, TOS copied, total 64 */
	    0xbe, 0xef, 0x40, 0x00, /* id, DF copied, offset 0 */
	    0x40, 0x04, 0xeb, 0xea, /* TTL 64, protocol 4 (IPIP), checksum */
	    0xc6, 0x12, 0x01, 0x01, /* 198.18.1.1 */
	    0xc6, 0x12, 0x02, 0x02, /* 198.18.2.2 */
	};
	uint8_t hdr[ENCAP_OUTER_LEN];
	uint8_t *inner = make_inner(44, 0xb8, 1);

	(void)state;
	assert_int_equal(addr(198, 18, 1, 1), OUTER_SRC);
	encap_ipip_header(hdr, addr(198, 18, 1, 1), addr(198, 18, 2, 2), inner, 44, 0xbeef);
	assert_memory_equal(hdr, expected, sizeof(expected));
	assert_int_equal(wire_checksum(hdr, sizeof(hdr)), 0);
	free(inner);
}

static void test_tos_and_df_copied(void **state)
{
	uint8_t hdr[ENCAP_OUTER_LEN];
	uint8_t *inner = make_inner(100, 0x03, 0); /* ECN CE, DF clear */

	(void)state;
	encap_ipip_header(hdr, OUTER_SRC, OUTER_DST, inner, 100, 7);
	assert_int_equal(hdr[1], 0x03);
	assert_int_equal(wire_get16(hdr + 6), 0x0000);
	assert_int_equal(wire_get16(hdr + 2), 120);
	assert_int_equal(wire_get16(hdr + 4), 7);
	assert_int_equal(wire_checksum(hdr, sizeof(hdr)), 0);

	inner[1] = 0x28;
	inner[6] = 0x40;
	encap_ipip_header(hdr, OUTER_SRC, OUTER_DST, inner, 100, 7);
	assert_int_equal(hdr[1], 0x28);
	assert_int_equal(wire_get16(hdr + 6), WIRE_IP_DF);
	assert_int_equal(wire_checksum(hdr, sizeof(hdr)), 0);
	/* the inner packet's other flag bits (MF of an inner fragment) are not copied */
	inner[6] = 0x20;
	encap_ipip_header(hdr, OUTER_SRC, OUTER_DST, inner, 100, 7);
	assert_int_equal(wire_get16(hdr + 6), 0x0000);
	free(inner);
}

static void check_frag_header(const struct encap_frag *f, const uint8_t *inner, uint16_t id,
			      uint16_t mtu)
{
	assert_int_equal(f->hdr[0], 0x45);
	assert_int_equal(f->hdr[1], inner[1]);
	assert_int_equal(wire_get16(f->hdr + 2), ENCAP_OUTER_LEN + f->len);
	assert_true(ENCAP_OUTER_LEN + f->len <= mtu);
	assert_int_equal(wire_get16(f->hdr + 4), id);
	assert_int_equal(wire_get16(f->hdr + 6) & WIRE_IP_DF, 0); /* never DF on a fragment */
	assert_int_equal((wire_get16(f->hdr + 6) & 0x1fff) * 8, f->offset);
	assert_int_equal(f->hdr[8], WIRE_IPV4_TTL);
	assert_int_equal(f->hdr[9], IPPROTO_IPIP);
	assert_memory_equal(f->hdr + 12, &(uint32_t){OUTER_SRC}, 4);
	assert_memory_equal(f->hdr + 16, &(uint32_t){OUTER_DST}, 4);
	assert_int_equal(wire_checksum(f->hdr, ENCAP_OUTER_LEN), 0);
}

/* Reassembles the outer payloads and compares them with the inner packet. */
static void check_reassembly(const struct encap_frag *frags, size_t n, const uint8_t *inner,
			     size_t inner_len, uint16_t id, uint16_t mtu)
{
	uint8_t *re = calloc(1, inner_len);
	size_t expect_offset = 0;

	assert_non_null(re);
	for (size_t i = 0; i < n; i++) {
		bool last = i + 1 == n;

		check_frag_header(&frags[i], inner, id, mtu);
		assert_int_equal(frags[i].offset, expect_offset);
		assert_int_equal((wire_get16(frags[i].hdr + 6) & 0x2000) != 0, !last);
		if (!last)
			assert_int_equal(frags[i].len % 8, 0);
		assert_true(frags[i].len > 0);
		memcpy(re + frags[i].offset, inner + frags[i].offset, frags[i].len);
		expect_offset += frags[i].len;
	}
	assert_int_equal(expect_offset, inner_len);
	assert_memory_equal(re, inner, inner_len);
	free(re);
}

static void test_fragments_3000(void **state)
{
	struct encap_frag frags[ENCAP_MAX_FRAGS];
	uint8_t *inner = make_inner(3000, 0x10, 0);
	size_t n;

	(void)state;
	memset(frags, 0xa5, sizeof(frags));
	n = encap_ipip_fragments(frags, ENCAP_MAX_FRAGS, OUTER_SRC, OUTER_DST, inner, 3000, 0x4242,
				 1500);
	assert_int_equal(n, 3);
	/* payloads 1480 + 1480 + 40; offsets in 8-byte units 0, 185, 370 */
	assert_int_equal(frags[0].offset, 0);
	assert_int_equal(frags[0].len, 1480);
	assert_int_equal(wire_get16(frags[0].hdr + 2), 1500);
	assert_int_equal(wire_get16(frags[0].hdr + 6), 0x2000 | 0);
	assert_int_equal(frags[1].offset, 1480);
	assert_int_equal(frags[1].len, 1480);
	assert_int_equal(wire_get16(frags[1].hdr + 2), 1500);
	assert_int_equal(wire_get16(frags[1].hdr + 6), 0x2000 | 185);
	assert_int_equal(frags[2].offset, 2960);
	assert_int_equal(frags[2].len, 40);
	assert_int_equal(wire_get16(frags[2].hdr + 2), 60);
	assert_int_equal(wire_get16(frags[2].hdr + 6), 370);
	check_reassembly(frags, n, inner, 3000, 0x4242, 1500);
	free(inner);
}

static void test_fragments_odd_mtu(void **state)
{
	struct encap_frag frags[ENCAP_MAX_FRAGS];
	const uint16_t mtus[] = {68, 69, 576, 1001, 1279, 1480, 9000};
	const size_t lens[] = {21, 1000, 1481, 4097, 65515};

	(void)state;
	for (size_t m = 0; m < sizeof(mtus) / sizeof(mtus[0]); m++) {
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			uint8_t *inner = make_inner(lens[l], 0, 0);
			size_t per = (size_t)(mtus[m] - 20) / 8 * 8;
			size_t want = lens[l] + 20 <= mtus[m] ? 1 : (lens[l] + per - 1) / per;
			size_t n =
			    encap_ipip_fragments(frags, ENCAP_MAX_FRAGS, OUTER_SRC, OUTER_DST,
						 inner, (uint16_t)lens[l], 9, mtus[m]);

			if (want > ENCAP_MAX_FRAGS) {
				assert_int_equal(n, 0);
			} else {
				assert_int_equal(n, want);
				check_reassembly(frags, n, inner, lens[l], 9, mtus[m]);
			}
			free(inner);
		}
	}
}

static void test_fragments_fit_and_refuse(void **state)
{
	struct encap_frag frags[ENCAP_MAX_FRAGS];
	uint8_t *inner = make_inner(1480, 0, 1);

	(void)state;
	/* exactly fits: one outer packet, DF copied */
	assert_int_equal(encap_ipip_fragments(frags, ENCAP_MAX_FRAGS, OUTER_SRC, OUTER_DST, inner,
					      1480, 1, 1500),
			 1);
	assert_int_equal(frags[0].offset, 0);
	assert_int_equal(frags[0].len, 1480);
	assert_int_equal(wire_get16(frags[0].hdr + 2), 1500);
	assert_int_equal(wire_get16(frags[0].hdr + 6), WIRE_IP_DF);
	assert_int_equal(wire_checksum(frags[0].hdr, ENCAP_OUTER_LEN), 0);
	/* one byte too many with DF set: refused, the client gets frag-needed instead */
	assert_int_equal(encap_ipip_fragments(frags, ENCAP_MAX_FRAGS, OUTER_SRC, OUTER_DST, inner,
					      1480, 1, 1499),
			 0);
	/* mtu below the IPv4 minimum */
	inner[6] = 0;
	assert_int_equal(
	    encap_ipip_fragments(frags, ENCAP_MAX_FRAGS, OUTER_SRC, OUTER_DST, inner, 1480, 1, 67),
	    0);
	/* more fragments than the caller has room for */
	assert_int_equal(encap_ipip_fragments(frags, 2, OUTER_SRC, OUTER_DST, inner, 1480, 1, 576),
			 0);
	assert_int_equal(encap_ipip_fragments(frags, 3, OUTER_SRC, OUTER_DST, inner, 1480, 1, 576),
			 3);
	free(inner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_header),
	    cmocka_unit_test(test_tos_and_df_copied),
	    cmocka_unit_test(test_fragments_3000),
	    cmocka_unit_test(test_fragments_odd_mtu),
	    cmocka_unit_test(test_fragments_fit_and_refuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
