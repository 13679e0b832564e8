/*
 * test_squid_info.c - Squid's cache manager info page read from real answers
 * of Squid 5.7 (tests/unit/fixtures/squid-5.7-*: a Squid just started, the
 * same Squid after 157 requests, the 403 page its manager ACL answers), what
 * does not read, and the figures of a series of reads (drover's own reads
 * left out, a Squid restart).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_file.h"
#include "squid_info.h"

#define FIXTURES "tests/unit/fixtures/"

static void test_parse_fresh(void **state)
{
	struct squid_info info;
	char why[SQUID_INFO_WHY_MAX] = "";
	size_t len;
	char *text = source_file_read(FIXTURES "squid-5.7-info-fresh.txt", &len);

	(void)state;
	assert_true(squid_info_parse(text, len, &info, why, sizeof(why)));
	assert_int_equal(info.requests, 0);
	assert_int_equal(info.clients, 1);
	assert_true(info.requests_per_minute == 0.0);
	assert_true(info.hit_ratio == 0.0);
	assert_true(info.median_service_s == 0.0);
	assert_true(info.uptime_s > 2.776 && info.uptime_s < 2.778);
	free(text);
}

static void test_parse_busy(void **state)
{
	struct squid_info info;
	char why[SQUID_INFO_WHY_MAX] = "";
	size_t len;
	char *text = source_file_read(FIXTURES "squid-5.7-info-busy.txt", &len);

	(void)state;
	assert_true(squid_info_parse(text, len, &info, why, sizeof(why)));
	assert_int_equal(info.requests, 157);
	assert_int_equal(info.clients, 1);
	assert_true(info.requests_per_minute > 60.59 && info.requests_per_minute < 60.61);
	/* "5min: 62.2%": the hits line, not the bytes line below it (88.3%). */
	assert_true(info.hit_ratio > 0.6219 && info.hit_ratio < 0.6221);
	/* "HTTP Requests (All):   0.00307  0.00307": the 5-minute column, in seconds. */
	assert_true(info.median_service_s > 0.003069 && info.median_service_s < 0.003071);
	assert_true(info.uptime_s > 155.39 && info.uptime_s < 155.40);
	free(text);
}

/* What the manager ACL answers (403, an HTML error page) is not an info page. */
static void test_refuses_error_page(void **state)
{
	struct squid_info info;
	char why[SQUID_INFO_WHY_MAX] = "";
	size_t len;
	char *text = source_file_read(FIXTURES "squid-5.7-manager-denied.html", &len);

	(void)state;
	assert_false(squid_info_parse(text, len, &info, why, sizeof(why)));
	assert_string_equal(why,
			    "no `Number of HTTP requests received:' line: not Squid's info page");
	assert_false(squid_info_parse("", 0, &info, why, sizeof(why)));
	free(text);
}

/* A read cut short, a value that does not read, a NUL inside: refused, saying which. */
static void test_refuses_damaged(void **state)
{
	struct squid_info info;
	char why[SQUID_INFO_WHY_MAX] = "";
	size_t len;
	char *text = source_file_read(FIXTURES "squid-5.7-info-busy.txt", &len);
	char *cut = strstr(text, "Median Service Times");
	char *copy;

	(void)state;
	assert_non_null(cut);
	assert_false(squid_info_parse(text, (size_t)(cut - text), &info, why, sizeof(why)));
	assert_string_equal(why, "no `HTTP Requests (All):' line: not Squid's info page");

	copy = strdup(text);
	assert_non_null(copy);
	memcpy(strstr(copy, "received:\t157") + strlen("received:\t"), "1x7", 3);
	assert_false(squid_info_parse(copy, len, &info, why, sizeof(why)));
	assert_string_equal(why,
			    "`Number of HTTP requests received:\t1x7' does not read as a number");
	free(copy);

	copy = strdup(text);
	assert_non_null(copy);
	memcpy(strstr(copy, "5min: 62.2%"), "5min: abc%", strlen("5min: abc%"));
	assert_false(squid_info_parse(copy, len, &info, why, sizeof(why)));
	assert_non_null(strstr(why, "Hits as % of all requests:"));
	free(copy);

	/* A NUL in the requests line hides it: the line is skipped, then missing. */
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, text, len);
	*(strstr(copy, "received:\t157") + 3) = '\0';
	assert_false(squid_info_parse(copy, len, &info, why, sizeof(why)));
	assert_string_equal(why,
			    "no `Number of HTTP requests received:' line: not Squid's info page");
	free(copy);
	free(text);
}

/* "HTTP Requests (All)" counts only under the median heading. */
static void test_median_only_under_heading(void **state)
{
	static const char page[] = "Connection information for squid:\n"
				   "\tNumber of clients accessing cache:\t4\n"
				   "\tNumber of HTTP requests received:\t10\n"
				   "\tAverage HTTP requests per minute since start:\t1.5\n"
				   "\tHTTP Requests (All):   9.00000  9.00000\n"
				   "Cache information for squid:\n"
				   "\tHits as % of all requests:\t5min: -0.0%, 60min: 0.0%\n"
				   "Median Service Times (seconds)  5 min    60 min:\n"
				   "\tHTTP Requests (All):   0.25000  0.50000\n"
				   "Resource usage for squid:\n"
				   "\tUP Time:\t10.000 seconds\n";
	struct squid_info info;
	char why[SQUID_INFO_WHY_MAX] = "";

	(void)state;
	assert_true(squid_info_parse(page, strlen(page), &info, why, sizeof(why)));
	assert_true(info.median_service_s == 0.25);
	assert_true(info.hit_ratio == 0.0); /* Squid's -0.0 */
	assert_int_equal(info.clients, 4);
}

static struct squid_info info_of(uint64_t requests, double uptime_s)
{
	return (struct squid_info){.requests = requests,
				   .clients = 3,
				   .requests_per_minute = 120.0,
				   .hit_ratio = 0.5,
				   .median_service_s = 0.0125,
				   .uptime_s = uptime_s};
}

/*
 * Reads every 10 s: the first gives Squid's average since start; the next
 * the requests between two reads, less the previous read itself (Squid
 * counts it once answered); a read answered without figures (403) is left
 * out as well; a restart starts again.
 */
static void test_series(void **state)
{
	struct squid_series s = {0};
	struct squid_figures f;
	struct squid_info i;

	(void)state;
	i = info_of(500, 100.0);
	squid_series_update(&s, &i, 10000, &f);
	assert_true(f.requests_per_second == 2.0); /* 120 per minute */
	assert_int_equal(f.requests, 500);
	assert_int_equal(f.clients, 3);
	assert_true(f.hit_ratio == 0.5);
	assert_true(f.median_service_ms == 12.5);

	/* 50 client requests and our first read in 10 s. */
	i = info_of(551, 110.0);
	squid_series_update(&s, &i, 20000, &f);
	assert_int_equal(f.requests, 550);
	assert_true(f.requests_per_second == 5.0);

	/* An idle Squid: only our own read since. */
	i = info_of(552, 120.0);
	squid_series_update(&s, &i, 30000, &f);
	assert_int_equal(f.requests, 550);
	assert_true(f.requests_per_second == 0.0);

	/* A 403 (or unreadable) answer in between: Squid counted it too. */
	squid_series_answered(&s);
	i = info_of(574, 140.0);
	squid_series_update(&s, &i, 50000, &f);
	assert_int_equal(f.requests, 570);
	assert_true(f.requests_per_second == 1.0);

	/* Squid restarted: its uptime went back; the average since its start again. */
	i = info_of(7, 3.0);
	squid_series_update(&s, &i, 60000, &f);
	assert_int_equal(f.requests, 7);
	assert_true(f.requests_per_second == 2.0);
	i = info_of(18, 13.0);
	squid_series_update(&s, &i, 70000, &f);
	assert_int_equal(f.requests, 17);
	assert_true(f.requests_per_second == 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_fresh),
	    cmocka_unit_test(test_parse_busy),
	    cmocka_unit_test(test_refuses_error_page),
	    cmocka_unit_test(test_refuses_damaged),
	    cmocka_unit_test(test_median_only_under_heading),
	    cmocka_unit_test(test_series),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
