/*
 * assets.h - the web UI's static files, compiled into droverd. The table is
 * generated at build time from webui/static/ by tools/embed.c.
 */
#ifndef DROVER_ASSETS_H
#define DROVER_ASSETS_H

#include <stddef.h>

struct asset {
	const char *path; /* "/app.js"; "/index.html" also answers "/" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
	const char *etag; /* quoted, from the content: revalidation costs a 304 */
};

/* The asset for path, or NULL. */
const struct asset *assets_find(const char *path);

#endif
