/* probe_kind.c - names of the probe kinds. */
#include "probe_kind.h"

#include <stddef.h>
#include <string.h>

const char *const probe_kind_names[PROBE_KIND_COUNT + 1] = {
    [PROBE_HTTP_PROXY] = "http-proxy",
    [PROBE_HTTP] = "http",
    [PROBE_TCP] = "tcp",
    [PROBE_KIND_COUNT] = NULL,
};

const char *probe_kind_name(enum probe_kind k)
{
	if ((unsigned)k >= PROBE_KIND_COUNT)
		return "unknown";
	return probe_kind_names[k];
}

bool probe_kind_parse(const char *text, enum probe_kind *out)
{
	for (unsigned k = 0; k < PROBE_KIND_COUNT; k++) {
		if (strcmp(text, probe_kind_names[k]) == 0) {
			*out = (enum probe_kind)k;
			return true;
		}
	}
	return false;
}
