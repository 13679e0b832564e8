/*
 * metrics.h - /metrics in the Prometheus text exposition format 0.0.4.
 *
 * The numbers come from the API's "stats" reply, so /metrics, droverctl and
 * the dashboard can never disagree. Labels are proxy names and reasons,
 * never client addresses; counters end in _total; durations are seconds.
 */
#ifndef DROVER_METRICS_H
#define DROVER_METRICS_H

#include <jansson.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Renders stats (an api_handle "stats" reply) and the build version.
 * Returns a malloc'd NUL-terminated text, or NULL when out of memory.
 */
char *metrics_render(json_t *stats, const char *version);

#endif
