/*
 * api.h - drover's operations as JSON requests and responses: one handler
 * shared by the droverctl socket (and the web UI's JSON API).
 *
 * A request is an object {"cmd": "...", ...arguments}. The response is
 * {"ok": true, ...} or {"ok": false, "error": "message", "field": "name"}.
 * Unknown commands and unknown or mistyped arguments are refused by name.
 */
#ifndef DROVER_API_H
#define DROVER_API_H

#include <jansson.h>

#include "manager.h"

/* Never returns NULL; the caller owns the result. actor goes to the audit log. */
json_t *api_handle(struct manager *m, json_t *request, const char *actor);

#endif
