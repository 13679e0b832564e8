/*
 * probe_kind.h - the kinds of health probe, and their names: the one list
 * the prober, the settings table (probe_kind), a proxy's own override and
 * the API all read. Plain data; no dependencies.
 */
#ifndef DROVER_PROBE_KIND_H
#define DROVER_PROBE_KIND_H

#include <stdbool.h>

enum probe_kind {
	PROBE_HTTP_PROXY, /* fetch the canary URL *through* the proxy, as an explicit proxy */
	PROBE_HTTP,	  /* GET http://proxy:port/path on the proxy itself */
	PROBE_TCP,	  /* connect only */
	PROBE_KIND_COUNT
};

/* "http-proxy", "http", "tcp", in enum order, then NULL (usable as a settings choice list). */
extern const char *const probe_kind_names[PROBE_KIND_COUNT + 1];

/* The kind's name; "unknown" for a value outside the enum. */
const char *probe_kind_name(enum probe_kind k);
/* Accepts exactly one of probe_kind_names. */
bool probe_kind_parse(const char *text, enum probe_kind *out);

#endif
