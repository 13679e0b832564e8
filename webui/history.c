/* history.c - a ring of per-proxy hit counts and the rates between them. */
#include "history.h"

#include <errno.h>
#include <stdbool.h>
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

/* splitmix64's finaliser: spreads proxy ids (small, consecutive) over the index. */
static uint64_t history_hash(int64_t id)
{
	uint64_t x = (uint64_t)id;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* One series being built: its proxy's place in the sample last walked. */
struct history_track {
	int64_t id;
	size_t same_as;	 /* the first series of the same id (itself when it is the first) */
	size_t seen_age; /* 1 + the age of the last sample that held the proxy; 0: none yet */
	uint64_t hits;	 /* its counter in that sample */
	int64_t time;	 /* that sample's time */
	json_t *points;
};

/* The series of the newest sample, indexed by proxy id (open addressing, load <= 1/2). */
struct history_index {
	struct history_track *tracks;
	size_t *slots; /* 1 + a track's position; 0: empty */
	size_t mask;
	uint64_t *steps;
};

/* The first track of id, or NULL; counts one step per slot looked at. */
static struct history_track *history_index_find(const struct history_index *x, int64_t id,
						size_t *slot)
{
	size_t i = history_hash(id) & x->mask;

	for (;; i = (i + 1) & x->mask) {
		if (x->steps != NULL)
			(*x->steps)++;
		if (x->slots[i] == 0 || x->tracks[x->slots[i] - 1].id == id)
			break;
	}
	*slot = i;
	return x->slots[i] ? &x->tracks[x->slots[i] - 1] : NULL;
}

static void history_index_free(struct history_index *x, size_t n)
{
	for (size_t i = 0; x->tracks != NULL && i < n; i++)
		json_decref(x->tracks[i].points);
	free(x->tracks);
	free(x->slots);
}

/* One track per point of newest, each indexed under its id. -ENOMEM leaves x to free. */
static int history_index_build(struct history_index *x, const struct history_sample *newest)
{
	size_t cap = 2;

	while (cap < 2 * newest->n)
		cap <<= 1;
	x->mask = cap - 1;
	x->tracks = calloc(newest->n ? newest->n : 1, sizeof(*x->tracks));
	x->slots = calloc(cap, sizeof(*x->slots));
	if (x->tracks == NULL || x->slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < newest->n; i++) {
		struct history_track *t = &x->tracks[i], *first;
		size_t slot;

		t->id = newest->points[i].id;
		t->same_as = i;
		t->points = json_array();
		if (t->points == NULL)
			return -ENOMEM;
		first = history_index_find(x, t->id, &slot);
		if (first != NULL)
			t->same_as = (size_t)(first - x->tracks);
		else
			x->slots[slot] = i + 1;
	}
	return 0;
}

/*
 * Walks the samples oldest first, each point once: a point whose proxy was
 * in the sample before gives the rate between the two. Work is the number
 * of points held (plus the index's probes), not proxies x proxies x samples.
 */
static void history_index_walk(struct history_index *x, const struct history *h)
{
	for (size_t age = 0; age < h->count; age++) {
		const struct history_sample *s = history_at(h, age);

		for (size_t i = 0; i < s->n; i++) {
			const struct history_point *p = &s->points[i];
			struct history_track *t;
			size_t slot;

			t = history_index_find(x, p->id, &slot);
			/* Not charted, or a second point of the same id (the first one counts). */
			if (t == NULL || t->seen_age == age + 1)
				continue;
			if (t->seen_age == age && age > 0 && p->hits >= t->hits &&
			    s->time > t->time)
				json_array_append_new(t->points,
						      json_pack("[I, f]", (json_int_t)s->time,
								(double)(p->hits - t->hits) /
								    (double)(s->time - t->time)));
			t->seen_age = age + 1;
			t->hits = p->hits;
			t->time = s->time;
		}
	}
}

json_t *history_json_counted(const struct history *h, uint64_t *steps)
{
	struct history_index x = {.steps = steps};
	json_t *series = json_array();
	const struct history_sample *newest;

	if (steps != NULL)
		*steps = 0;
	if (h->count > 0) {
		newest = history_at(h, h->count - 1);
		if (history_index_build(&x, newest) < 0) {
			history_index_free(&x, newest->n);
			json_decref(series);
			return NULL;
		}
		history_index_walk(&x, h);
		for (size_t i = 0; i < newest->n; i++) {
			const struct history_track *t = &x.tracks[i];
			json_t *points = t->same_as == i
					     ? json_incref(t->points)
					     : json_deep_copy(x.tracks[t->same_as].points);

			json_array_append_new(
			    series, json_pack("{s:I, s:s, s:o}", "id", (json_int_t)t->id, "name",
					      newest->points[i].name, "points", points));
		}
		history_index_free(&x, newest->n);
	}
	return json_pack("{s:i, s:i, s:o}", "interval", HISTORY_INTERVAL_SECS, "samples",
			 (int)h->count, "series", series);
}

json_t *history_json(const struct history *h)
{
	return history_json_counted(h, NULL);
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
