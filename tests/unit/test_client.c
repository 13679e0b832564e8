/* test_client.c - the client identity of both families: mapping, widening, text forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>

#include "client.h"

static struct client_id parsed(const char *text)
{
	struct client_id id;

	assert_true(client_parse(text, &id));
	return id;
}

/* An IPv4 client is ::ffff:a.b.c.d, and gives its address back. */
static void test_ipv4_mapped(void **state)
{
	static const uint8_t expected[16] = {0, 0, 0,	 0,    0,   0,	0, 0,
					     0, 0, 0xff, 0xff, 198, 18, 0, 10};
	struct client_id id = client_from_ipv4(htonl(0xc612000a));
	struct client_id v6 = parsed("2001:db8::7");

	(void)state;
	assert_memory_equal(id.addr, expected, 16);
	assert_true(client_is_ipv4(&id));
	assert_int_equal(client_ipv4(&id), htonl(0xc612000a));
	assert_false(client_is_ipv4(&v6));
	/* ::ffff:0:0/96 and nothing else: an IPv4-compatible or NAT64 address is IPv6 */
	v6 = parsed("::198.18.0.10");
	assert_false(client_is_ipv4(&v6));
	v6 = parsed("64:ff9b::198.18.0.10");
	assert_false(client_is_ipv4(&v6));
}

static void test_parse_and_format(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"198.18.0.10", "198.18.0.10"},
	    {"::ffff:198.18.0.10", "198.18.0.10"}, /* the same client as its IPv4 form */
	    {"2001:db8::7", "2001:db8::7"},
	    {"2001:0DB8:0000:0000:0000:0000:0000:0007", "2001:db8::7"}, /* RFC 5952 form out */
	    {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"},
	    {"::", "::"},
	};
	static const char *const refused[] = {"",
					      "198.18.0",
					      "198.18.0.256",
					      "2001:db8::7::1",
					      "2001:db8::/64",
					      "example.org",
					      " 198.18.0.10"};
	char buf[CLIENT_TEXT_MAX];
	struct client_id id = parsed("2001:db8::1"), before = id;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client_id c = parsed(cases[i].in);

		assert_int_equal(client_format(&c, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].out);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_false(client_parse(refused[i], &id));
		assert_true(client_equal(&id, &before)); /* untouched */
	}
	assert_false(client_parse(NULL, &id));
	/* the longest text form fits CLIENT_TEXT_MAX; a small buffer is refused */
	id = parsed("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	assert_int_equal(client_format(&id, buf, sizeof(buf)), 0);
	assert_int_equal(client_format(&id, buf, 8), -ENOSPC);
	id = parsed("198.18.0.10");
	assert_int_equal(client_format(&id, buf, 8), -ENOSPC);
}

static void test_widen(void **state)
{
	static const struct {
		const char *in;
		unsigned int prefix;
		const char *out;
	} cases[] = {
	    {"2001:db8:1:2:a8b:c3ff:fe11:2233", 64, "2001:db8:1:2::"},
	    {"2001:db8:1:2:a8b:c3ff:fe11:2233", 56, "2001:db8:1::"},
	    {"2001:db8:1:2ff:a8b:c3ff:fe11:2233", 60, "2001:db8:1:2f0::"},
	    {"2001:db8:1:2ff:a8b:c3ff:fe11:2233", 57, "2001:db8:1:280::"},
	    {"2001:db8:1:2:a8b:c3ff:fe11:2233", 127, "2001:db8:1:2:a8b:c3ff:fe11:2232"},
	    {"2001:db8:1:2:a8b:c3ff:fe11:2233", 128, "2001:db8:1:2:a8b:c3ff:fe11:2233"},
	    {"2001:db8:1:2:a8b:c3ff:fe11:2233", 200, "2001:db8:1:2:a8b:c3ff:fe11:2233"},
	    {"2001:db8:1:2:a8b:c3ff:fe11:2233", 1, "::"},
	    {"ff01::1", 1, "8000::"},
	    {"2001:db8:1:2:a8b:c3ff:fe11:2233", 0, "::"},
	    /* IPv4 clients keep their address whatever the prefix */
	    {"198.18.0.10", 64, "198.18.0.10"},
	    {"198.18.0.10", 0, "198.18.0.10"},
	};
	char buf[CLIENT_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client_id in = parsed(cases[i].in);
		struct client_id out = client_widen(&in, cases[i].prefix);

		assert_int_equal(client_format(&out, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].out);
	}
}

/* Every address of one /64 widens to the same identity; the next /64 to another. */
static void test_widen_groups_a_prefix(void **state)
{
	struct client_id base = parsed("2001:db8:1:2::"), other = parsed("2001:db8:1:3::");
	struct client_id first = client_widen(&base, 64), next = client_widen(&other, 64);

	(void)state;
	assert_false(client_equal(&first, &next));
	for (unsigned i = 0; i < 1000; i++) {
		struct client_id id = base, w;

		/* privacy addresses: random-looking interface identifiers */
		for (int b = 8; b < 16; b++)
			id.addr[b] = (uint8_t)(i * 2654435761U >> (b * 3 % 24));
		w = client_widen(&id, 64);
		assert_true(client_equal(&w, &first));
		/* widening twice changes nothing more */
		w = client_widen(&w, 64);
		assert_true(client_equal(&w, &first));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4_mapped),
	    cmocka_unit_test(test_parse_and_format),
	    cmocka_unit_test(test_widen),
	    cmocka_unit_test(test_widen_groups_a_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
