/*
 * fuzz_api.c - the JSON API handlers (api_handle: what droverctl and the web
 * UI's JSON routes run) on a real manager over a temporary store, with the
 * datapath not started (see fuzz_manager.h).
 *
 * Input: one JSON request per line, handled in order on one manager, so a
 * sequence (add, set, delete, settings, lookup) builds up state. Each answer
 * is checked for shape, and the manager for its invariants. Each line is also
 * matched as a URL path against the web UI's route table, for every method.
 */
#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "fuzz_manager.h"
#include "webui_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_api_route(const char *line, size_t len)
{
	static const unsigned methods[] = {ROUTE_GET, ROUTE_HEAD,  ROUTE_POST,
					   ROUTE_PUT, ROUTE_PATCH, ROUTE_DELETE};
	struct webui_route_match rm;
	char path[512];

	if (len >= sizeof(path))
		return;
	memcpy(path, line, len);
	path[len] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (webui_route_match(methods[i], path, &rm))
			assert(rm.route != NULL && (rm.allowed & methods[i]) != 0);
		else
			assert(rm.route == NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manager *m = fuzz_manager_fresh();
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_error_t jerr;
		json_t *req = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);

		fuzz_api_route(p, len);
		if (req != NULL) {
			json_t *resp = api_handle(m, req, "fuzz");
			fuzz_check_response(resp);
			/* FUZZ_VERBOSE=1 shows the answers, to check what a new seed reaches. */
			if (getenv("FUZZ_VERBOSE") != NULL) {
				json_dumpf(resp, stderr, JSON_COMPACT);
				fputc('\n', stderr);
			}
			json_decref(resp);
			json_decref(req);
			fuzz_check_manager(m);
		}
		p += len + 1;
	}
	fuzz_manager_done();
	return 0;
}
