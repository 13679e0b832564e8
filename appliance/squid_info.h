/*
 * squid_info.h - Squid's own figures from its cache manager's "info" page
 * (GET /squid-internal-mgr/info, as `squidclient mgr:info' shows it), and
 * the figures drover shows from two reads of it. Pure: no globals, no I/O;
 * any thread (the unit tests and the poller, squid_stats.c, call it).
 *
 * Squid counts a request when it has finished with it: a read of the page
 * does not count itself, but the next read sees it. squid_series leaves
 * drover's own reads out of the figures, so an idle Squid shows no rise.
 */
#ifndef DROVER_SQUID_INFO_H
#define DROVER_SQUID_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SQUID_INFO_WHY_MAX  128
#define SQUID_INFO_MS_PER_S 1000

/* What the info page says, as Squid words it (Squid 4 to 6 alike). */
struct squid_info {
	uint64_t requests;	    /* "Number of HTTP requests received": finished since start */
	uint64_t clients;	    /* "Number of clients accessing cache": its client table */
	double requests_per_minute; /* "Average HTTP requests per minute since start" */
	double hit_ratio;	    /* "Hits as % of all requests", 5 min, as 0..1 */
	double median_service_s;    /* "Median Service Times", "HTTP Requests (All)", 5 min */
	double uptime_s;	    /* "UP Time" */
};

/*
 * Parses the body of the info page (len bytes, no NUL needed) into *out.
 * Every field of struct squid_info must be there; false otherwise, with why
 * (whylen bytes) naming the first line missing or not readable: the answer
 * was not Squid's info page (an error page, another server, a truncated
 * read). *out is unspecified then.
 */
bool squid_info_parse(const char *text, size_t len, struct squid_info *out, char *why,
		      size_t whylen);

/* What drover shows of a proxy's Squid. */
struct squid_figures {
	/*
	 * Requests finished per second between the last two reads, drover's
	 * own reads left out; after the first read (or a restart of Squid),
	 * Squid's average since its start.
	 */
	double requests_per_second;
	double hit_ratio;	  /* 0..1, Squid's 5-minute figure */
	uint64_t clients;	  /* Squid's own count of its clients */
	double median_service_ms; /* Squid's 5-minute median of all HTTP requests */
	uint64_t requests;	  /* Squid's request count, less drover's reads seen by it */
};

/* The reads of one Squid, from one read to the next. Zero it to start. */
struct squid_series {
	bool have_last;
	uint64_t last_requests; /* figures.requests of the last good read */
	uint64_t last_raw;	/* Squid's own count then */
	double last_uptime_s;
	uint64_t last_ms;   /* when it was read (monotonic) */
	uint64_t own_reads; /* drover's reads Squid answered, since it started (as far as seen) */
};

/*
 * A read of ours that Squid answered but that gave no figures (an error
 * status, an answer that does not parse): Squid counts it all the same.
 */
void squid_series_answered(struct squid_series *s);

/*
 * A good read, info, made at now_ms (monotonic): fills *out and moves the
 * series on. A Squid that restarted (its uptime or its count went back) starts
 * the series again. Counts this read itself as answered.
 */
void squid_series_update(struct squid_series *s, const struct squid_info *info, uint64_t now_ms,
			 struct squid_figures *out);

#endif
