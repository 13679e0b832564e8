/*
 * replica.h - a replica's pull of its primary's configuration: one HTTP(S)
 * GET at a time, run by libcurl's multi interface on the control loop (no
 * thread, nothing blocks), its reply handed whole to a callback on the same
 * loop. What to ask and what to do with the answer are the manager's
 * (manager_cluster.c); this file only moves the bytes and reads the
 * X-Drover-* headers.
 *
 * The primary's route (GET /api/v1/cluster/snapshot?have=N&digest=D) answers
 * 204 when the replica already holds generation N from the snapshot of digest
 * D, else 200 with the snapshot as body (store_snapshot) and its generation
 * and BLAKE2b-256 digest in headers.
 */
#ifndef DROVER_REPLICA_H
#define DROVER_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

struct event_base;
struct replica;

/* The largest snapshot a replica takes; beyond it the transfer is cut. */
#define REPLICA_BODY_MAX  (64U << 20)
#define REPLICA_URL_MAX	  1024
#define REPLICA_TOKEN_MAX 256
#define REPLICA_FILE_MAX  256
/* The largest body a primary's web server takes in a request (WEBUI_MAX_BODY). */
#define REPLICA_REQUEST_BODY_MAX (64U << 10)

/* Headers of the protocol, both ways. */
#define REPLICA_HEADER_NODE	  "X-Drover-Node"
#define REPLICA_HEADER_GENERATION "X-Drover-Generation"
#define REPLICA_HEADER_DIGEST	  "X-Drover-Table-Digest"
#define REPLICA_HEADER_VRRP	  "X-Drover-Vrrp"
#define REPLICA_HEADER_SNAPSHOT	  "X-Drover-Snapshot-Digest"
/* "COUNT-DIGEST" of the sender's deviations (deviation.h): a changed list, a new value. */
#define REPLICA_HEADER_DEVIATIONS  "X-Drover-Deviations"
#define REPLICA_DEVIATIONS_TAG_MAX 48

/* One pull: where, with what credentials, and how this replica describes itself. */
struct replica_pull {
	char url[REPLICA_URL_MAX]; /* the whole URL, query included */
	char token[REPLICA_TOKEN_MAX];
	char ca_file[REPLICA_FILE_MAX]; /* "" : the system's CAs */
	uint32_t timeout_ms;
	struct cluster_node self;
	/* Not NULL: POSTed (copied at the start) as application/json, else a GET. */
	const char *body;
	size_t body_len;
};

/* The answer, as it arrived. */
struct replica_reply {
	bool answered;		       /* an HTTP status came back (else error says why) */
	char error[CLUSTER_ERROR_MAX]; /* transport failure: curl's words */
	long status;
	uint8_t *body; /* malloc'd by the puller; the callback may take it (set NULL) */
	size_t len;
	/* The X-Drover-* headers, "" when absent (untrusted: checked by the caller). */
	char node[CLUSTER_NODE_MAX];
	char generation[32];
	char digest[CLUSTER_DIGEST_HEX];
	char vrrp[16];
	char snapshot_digest[CLUSTER_DIGEST_HEX];
	char deviations[REPLICA_DEVIATIONS_TAG_MAX];
	/* The error document of a refusal (4xx/5xx), cut short; "" none. */
};

typedef void replica_done_fn(void *arg, struct replica_reply *reply);

/* A puller on base; fn gets every finished pull. NULL when out of memory. */
struct replica *replica_new(struct event_base *base, replica_done_fn *fn, void *arg);

/* Starts pull; -EBUSY when one is under way, -ENOMEM/-EIO when curl refuses. */
int replica_start(struct replica *r, const struct replica_pull *pull);

/* True while a pull is under way. */
bool replica_busy(const struct replica *r);

/* Drops a pull under way, unreported, and frees r; NULL is ignored. */
void replica_free(struct replica *r);

#endif
