/*
 * history.h - the last hour of per-proxy hit counts, sampled every
 * HISTORY_INTERVAL_SECS into a ring, for the dashboard's chart. In memory
 * only: a restart starts a new hour.
 */
#ifndef DROVER_HISTORY_H
#define DROVER_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HISTORY_INTERVAL_SECS 10
#define HISTORY_SAMPLES	      360 /* one hour */

struct history_point {
	int64_t id;
	char name[64];
	uint64_t hits;
};

struct history_sample {
	int64_t time; /* unix seconds */
	size_t n;
	struct history_point *points; /* malloc'd */
};

struct history {
	struct history_sample ring[HISTORY_SAMPLES];
	size_t next;  /* where the next sample goes */
	size_t count; /* samples held */
};

/* Records proxies (the "proxies" array of a stats reply) at time; -ENOMEM keeps the ring as it was.
 */
int history_record(struct history *h, int64_t time, json_t *proxies);
/*
 * {"interval": 10, "series": [{"id", "name", "points": [[time, hits per second], ...]}]}:
 * one series per proxy of the newest sample, a point per pair of samples
 * that both hold it (a counter that went back, as after re-adding, gives none).
 */
json_t *history_json(const struct history *h);
/*
 * history_json, counting its work in *steps: one per point of every sample
 * walked and per index slot looked at. Proxies are found through an index
 * by id, so the work grows with the points held (proxies x samples), not
 * with proxies x proxies x samples. NULL when out of memory.
 */
json_t *history_json_counted(const struct history *h, uint64_t *steps);
void history_free(struct history *h);

#endif
