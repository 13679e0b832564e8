/*
 * webui.h - droverd's web server: the admin UI's static pages, the JSON API
 * under /api/v1 (the droverctl operations, through api_handle) and
 * /metrics. Runs on the control loop; the packet threads never see it.
 *
 * Listens on the http_listen setting (127.0.0.1:8080 by default), over TLS
 * when https is on. Every response carries the security headers; every
 * state change needs a signed-in user (session cookie plus CSRF header, or
 * a Bearer API token) and a same-origin request.
 */
#ifndef DROVER_WEBUI_H
#define DROVER_WEBUI_H

#include <stddef.h>

#define WEBUI_MAX_HEADERS  8192	 /* bytes of request line and headers */
#define WEBUI_MAX_BODY	   65536 /* bytes of a request body */
#define WEBUI_REQUEST_SECS 10	 /* a request not whole this long after its first byte: 408 */
#define WEBUI_IDLE_SECS	   12	 /* idle this long between requests, or not reading: closed */

struct webui;
struct event_base;
struct manager;

/*
 * Starts the server on base for m, with the settings in force. db_path
 * locates the files the server keeps next to the database (generated
 * certificate). Returns NULL with a message in err when it cannot listen or
 * load its certificate.
 */
struct webui *webui_start(struct event_base *base, struct manager *m, const char *db_path,
			  char *err, size_t errlen);
/* Closes the listener and every connection and frees w; NULL is accepted. */
void webui_stop(struct webui *w);

#endif
