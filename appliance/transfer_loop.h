/*
 * transfer_loop.h - runs a libcurl multi handle on a libevent base: curl
 * tells the loop which sockets to watch (one persistent event per socket)
 * and when to call it back (one timer); the loop hands readiness back to
 * curl and then calls the owner's collect callback, which reads the finished
 * transfers (curl_multi_info_read) and acts on them.
 *
 * Control loop only: every callback runs on the base's thread.
 */
#ifndef DROVER_TRANSFER_LOOP_H
#define DROVER_TRANSFER_LOOP_H

#include <curl/curl.h>

struct event_base;
struct transfer_loop;

/* Called after each hand-back to curl; arg is the one given to transfer_loop_new. */
typedef void transfer_loop_collect_fn(void *arg);

/*
 * Drives multi on base: installs the multi handle's socket and timer
 * functions. collect (with arg) is called after every socket or timer event.
 * Returns NULL when out of memory or when curl refuses the options; the
 * multi handle is then left to its owner as it was given.
 *
 * Teardown order: curl_multi_cleanup(multi) first (curl then drops its
 * sockets through the loop), transfer_loop_free last.
 */
struct transfer_loop *transfer_loop_new(struct event_base *base, CURLM *multi,
					transfer_loop_collect_fn *collect, void *arg);

/* Frees the loop's timer; NULL is accepted. See transfer_loop_new for the order. */
void transfer_loop_free(struct transfer_loop *loop);

#endif
