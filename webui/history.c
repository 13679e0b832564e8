/* history.c - a ring of per-proxy hit counts and the rates between them. */
#include "history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int history_record(struct history *h, int64_t time, json_t *proxies)
{
	size_t n = json_array_size(proxies), i;
	struct history_point *points = calloc(n ? n : 1, sizeof(*points));
	struct history_sample *slot;
	json_t *p;

	if (points == NULL)
		return -ENOMEM;
	json_array_foreach(proxies, i, p)
	{
		json_t *hits = json_object_get(p, "hits");

		points[i].id = json_integer_value(json_object_get(p, "id"));
		snprintf(points[i].name, sizeof(points[i].name), "%s",
			 json_string_value(json_object_get(p, "name")) ?: "");
		points[i].hits = json_is_integer(hits) ? (uint64_t)json_integer_value(hits) : 0;
	}
	slot = &h->ring[h->next];
	free(slot->points);
	slot->time = time;
	slot->n = n;
	slot->points = points;
	h->next = (h->next + 1) % HISTORY_SAMPLES;
	if (h->count < HISTORY_SAMPLES)
		h->count++;
	return 0;
}

static const struct history_sample *history_at(const struct history *h, size_t age)
{
	/* age 0 is the oldest sample held. */
	size_t first = (h->next + HISTORY_SAMPLES - h->count) % HISTORY_SAMPLES;

	return &h->ring[(first + age) % HISTORY_SAMPLES];
}

static const struct history_point *history_find(const struct history_sample *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->points[i].id == id)
			return &s->points[i];
	}
	return NULL;
}

json_t *history_json(const struct history *h)
{
	json_t *series = json_array();
	const struct history_sample *newest;

	if (h->count > 0) {
		newest = history_at(h, h->count - 1);
		for (size_t i = 0; i < newest->n; i++) {
			const struct history_point *want = &newest->points[i];
			json_t *points = json_array();

			for (size_t age = 1; age < h->count; age++) {
				const struct history_sample *a = history_at(h, age - 1);
				const struct history_sample *b = history_at(h, age);
				const struct history_point *pa = history_find(a, want->id);
				const struct history_point *pb = history_find(b, want->id);

				if (pa == NULL || pb == NULL || pb->hits < pa->hits ||
				    b->time <= a->time)
					continue;
				json_array_append_new(points,
						      json_pack("[I, f]", (json_int_t)b->time,
								(double)(pb->hits - pa->hits) /
								    (double)(b->time - a->time)));
			}
			json_array_append_new(series, json_pack("{s:I, s:s, s:o}", "id",
								(json_int_t)want->id, "name",
								want->name, "points", points));
		}
	}
	return json_pack("{s:i, s:i, s:o}", "interval", HISTORY_INTERVAL_SECS, "samples",
			 (int)h->count, "series", series);
}

void history_free(struct history *h)
{
	for (size_t i = 0; i < HISTORY_SAMPLES; i++) {
		free(h->ring[i].points);
		h->ring[i].points = NULL;
	}
	h->count = 0;
	h->next = 0;
}
