/*
 * squid_stats.h - reads each chosen proxy's Squid cache manager
 * (GET http://ADDRESS:PORT/squid-internal-mgr/info, PORT the probe port)
 * once an interval, with libcurl's multi interface on the control loop
 * (transfer_loop.c), and keeps Squid's own figures (squid_info.h) per proxy.
 *
 * It stands apart from the health probes on purpose: a read that fails
 * (refused, a 403 from Squid's manager ACL, a timeout, an answer that does
 * not read) is shown as that proxy's error and nothing else; no health, no
 * pool, no snapshot depends on it. Never on the packet path.
 *
 * Control loop only: every function and callback runs on the base's thread.
 */
#ifndef DROVER_SQUID_STATS_H
#define DROVER_SQUID_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "squid_info.h"

struct event_base;
struct squid_stats;

/* The path of Squid's info page on its manager (Squid 4 and later). */
#define SQUID_STATS_PATH "/squid-internal-mgr/info"
/* A read's whole time, connect included, at most (and at most the interval). */
#define SQUID_STATS_TIMEOUT_MS 5000
/* The info page is about 3 kB; anything beyond this is not it. */
#define SQUID_STATS_BODY_MAX  (64 * 1024)
#define SQUID_STATS_ERROR_MAX 192

/* How the last read of a proxy's manager went. */
enum squid_stats_state {
	SQUID_STATS_PENDING,	 /* not read yet */
	SQUID_STATS_OK,		 /* figures read */
	SQUID_STATS_REFUSED,	 /* the connection was refused or failed */
	SQUID_STATS_TIMEOUT,	 /* no answer within the timeout */
	SQUID_STATS_HTTP_STATUS, /* an HTTP error status (403: the manager ACL) */
	SQUID_STATS_UNPARSABLE,	 /* an answer that is not Squid's info page */
	SQUID_STATS_TRANSFER,	 /* any other failure of the transfer */
	SQUID_STATS_LOCAL,	 /* this appliance ran short (memory, descriptors) */
	SQUID_STATS_DISABLED,	 /* not read: the proxy is disabled */
	SQUID_STATS_STATE_COUNT,
};

/* A short name for the state ("ok", "refused", "timeout", "http-status", ...). */
const char *squid_stats_state_name(enum squid_stats_state state);

/* One proxy to read. */
struct squid_stats_target {
	int64_t id;
	uint32_t address; /* IPv4, network byte order */
	uint16_t port;	  /* the probe port */
};

/* What is known of one proxy's Squid. */
struct squid_stats_view {
	enum squid_stats_state state;	   /* of the last read */
	char error[SQUID_STATS_ERROR_MAX]; /* what went wrong, for people; "" when OK */
	bool have_figures;		   /* a read has ever succeeded */
	struct squid_figures figures;	   /* of the last good read */
	uint64_t age_ms;		   /* since the last good read, else since reading began */
	uint64_t reads;			   /* reads finished, good or not */
	uint64_t failures;		   /* reads that gave no figures */
};

/* NULL when out of memory or curl refuses the multi handle. */
struct squid_stats *squid_stats_new(struct event_base *base);

/*
 * Replaces the proxies read. A target whose id, address and port are the
 * same keeps its figures and schedule (a changed interval applies from its
 * next read); others start afresh, their first read within one interval,
 * the reads of a round spread over it. Removed targets' reads in flight are
 * dropped. interval_ms is the time between two reads of one proxy. Returns
 * 0 or -ENOMEM (nothing changed then).
 */
int squid_stats_set_targets(struct squid_stats *s, const struct squid_stats_target *targets,
			    size_t n, uint32_t interval_ms);

/* What is known of proxy id; false when it is not read (no such target). */
bool squid_stats_get(const struct squid_stats *s, int64_t id, struct squid_stats_view *out);

void squid_stats_free(struct squid_stats *s);

#endif
