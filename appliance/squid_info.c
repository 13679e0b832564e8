/* squid_info.c - reads Squid's cache manager info page; the figures of two reads. Pure. */
#include "squid_info.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longer lines are not the ones we read (Squid's are under 80 characters). */
#define SQUID_INFO_LINE_MAX  256
#define SQUID_INFO_PERCENT   100.0
#define SQUID_INFO_S_PER_MIN 60.0

/* The lines read, one bit each: all of them make a good page. */
enum squid_info_field {
	SQUID_INFO_REQUESTS = 1U << 0,
	SQUID_INFO_CLIENTS = 1U << 1,
	SQUID_INFO_RATE = 1U << 2,
	SQUID_INFO_HITS = 1U << 3,
	SQUID_INFO_MEDIAN = 1U << 4,
	SQUID_INFO_UPTIME = 1U << 5,
};

#define SQUID_INFO_ALL                                                                             \
	(SQUID_INFO_REQUESTS | SQUID_INFO_CLIENTS | SQUID_INFO_RATE | SQUID_INFO_HITS |            \
	 SQUID_INFO_MEDIAN | SQUID_INFO_UPTIME)

/* Each line's label, as Squid writes it (after the leading tab). */
static const struct {
	enum squid_info_field field;
	const char *label;
} squid_info_labels[] = {
    {SQUID_INFO_REQUESTS, "Number of HTTP requests received:"},
    {SQUID_INFO_CLIENTS, "Number of clients accessing cache:"},
    {SQUID_INFO_RATE, "Average HTTP requests per minute since start:"},
    {SQUID_INFO_HITS, "Hits as % of all requests:"},
    {SQUID_INFO_MEDIAN, "HTTP Requests (All):"},
    {SQUID_INFO_UPTIME, "UP Time:"},
};

#define SQUID_INFO_NLABELS (sizeof(squid_info_labels) / sizeof(squid_info_labels[0]))

/* The median lines follow this heading; "HTTP Requests (All)" means nothing elsewhere. */
static const char squid_info_median_heading[] = "Median Service Times";

/* A whole number after blanks, then only blanks: Squid's counters. */
static bool squid_info_uint(const char *text, uint64_t *out)
{
	char *end;
	unsigned long long v;

	text += strspn(text, " \t");
	if (*text < '0' || *text > '9')
		return false;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || end[strspn(end, " \t\r")] != '\0')
		return false;
	*out = v;
	return true;
}

/* A finite number after blanks; *end after it. */
static bool squid_info_real(const char *text, double *out, const char **end)
{
	char *e;
	double v;

	text += strspn(text, " \t");
	errno = 0;
	v = strtod(text, &e);
	if (e == text || errno != 0 || !isfinite(v))
		return false;
	*out = v;
	if (end != NULL)
		*end = e;
	return true;
}

/* "5min: 12.3%, 60min: 4.5%": the 5-minute figure as 0..1 (Squid may print -0.0). */
static bool squid_info_hits(const char *text, double *out)
{
	const char *end;
	double v;

	text += strspn(text, " \t");
	if (strncmp(text, "5min:", strlen("5min:")) != 0)
		return false;
	if (!squid_info_real(text + strlen("5min:"), &v, &end) || *end != '%')
		return false;
	v /= SQUID_INFO_PERCENT;
	*out = v < 0 ? 0 : v > 1 ? 1 : v;
	return true;
}

/* One line's value into out; false when the line is ours but its value does not read. */
static bool squid_info_line(const char *line, bool in_median, struct squid_info *out,
			    unsigned *found)
{
	const char *v;
	double real;

	line += strspn(line, " \t");
	for (size_t i = 0; i < SQUID_INFO_NLABELS; i++) {
		size_t n = strlen(squid_info_labels[i].label);

		if (strncmp(line, squid_info_labels[i].label, n) != 0)
			continue;
		v = line + n;
		switch (squid_info_labels[i].field) {
		case SQUID_INFO_REQUESTS:
			if (!squid_info_uint(v, &out->requests))
				return false;
			break;
		case SQUID_INFO_CLIENTS:
			if (!squid_info_uint(v, &out->clients))
				return false;
			break;
		case SQUID_INFO_RATE:
			if (!squid_info_real(v, &real, NULL) || real < 0)
				return false;
			out->requests_per_minute = real;
			break;
		case SQUID_INFO_HITS:
			if (!squid_info_hits(v, &out->hit_ratio))
				return false;
			break;
		case SQUID_INFO_MEDIAN:
			if (!in_median)
				return true;
			/* Two columns, 5 and 60 minutes: the first. */
			if (!squid_info_real(v, &real, NULL) || real < 0)
				return false;
			out->median_service_s = real;
			break;
		case SQUID_INFO_UPTIME:
			if (!squid_info_real(v, &real, NULL) || real < 0)
				return false;
			out->uptime_s = real;
			break;
		}
		*found |= squid_info_labels[i].field;
		return true;
	}
	return true;
}

/* The label of the first field in want that is not in found. */
static const char *squid_info_missing(unsigned want, unsigned found)
{
	for (size_t i = 0; i < SQUID_INFO_NLABELS; i++)
		if ((want & squid_info_labels[i].field) && !(found & squid_info_labels[i].field))
			return squid_info_labels[i].label;
	return "";
}

bool squid_info_parse(const char *text, size_t len, struct squid_info *out, char *why,
		      size_t whylen)
{
	unsigned found = 0;
	bool in_median = false;
	size_t at = 0;

	memset(out, 0, sizeof(*out));
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
		char line[SQUID_INFO_LINE_MAX];

		if (n < sizeof(line)) {
			memcpy(line, text + at, n);
			line[n] = '\0';
			if (memchr(line, '\0', n) == NULL) {
				/* A heading starts at the line's first column, its lines below it.
				 */
				if (line[0] != '\t' && line[0] != ' ')
					in_median = strncmp(line, squid_info_median_heading,
							    strlen(squid_info_median_heading)) == 0;
				if (!squid_info_line(line, in_median, out, &found)) {
					snprintf(why, whylen, "`%s' does not read as a number",
						 line + strspn(line, " \t"));
					return false;
				}
			}
		}
		at += n + 1;
	}
	if (found != SQUID_INFO_ALL) {
		snprintf(why, whylen, "no `%s' line: not Squid's info page",
			 squid_info_missing(SQUID_INFO_ALL, found));
		return false;
	}
	return true;
}

void squid_series_answered(struct squid_series *s)
{
	s->own_reads++;
}

void squid_series_update(struct squid_series *s, const struct squid_info *info, uint64_t now_ms,
			 struct squid_figures *out)
{
	uint64_t own;

	/* Squid restarted: its count starts from nothing, and ours of our reads with it. */
	if (s->have_last && (info->uptime_s < s->last_uptime_s || info->requests < s->last_raw)) {
		s->have_last = false;
		s->own_reads = 0;
	}
	own = s->own_reads < info->requests ? s->own_reads : info->requests;
	memset(out, 0, sizeof(*out));
	out->requests = info->requests - own;
	out->hit_ratio = info->hit_ratio;
	out->clients = info->clients;
	out->median_service_ms = info->median_service_s * SQUID_INFO_MS_PER_S;
	if (s->have_last && now_ms > s->last_ms) {
		uint64_t delta =
		    out->requests > s->last_requests ? out->requests - s->last_requests : 0;

		out->requests_per_second =
		    (double)delta * SQUID_INFO_MS_PER_S / (double)(now_ms - s->last_ms);
	} else {
		out->requests_per_second = info->requests_per_minute / SQUID_INFO_S_PER_MIN;
	}
	s->have_last = true;
	s->last_requests = out->requests;
	s->last_raw = info->requests;
	s->last_uptime_s = info->uptime_s;
	s->last_ms = now_ms;
	/* This read itself: Squid counts it once it has answered. */
	s->own_reads++;
}
