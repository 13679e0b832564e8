/*
 * cluster.h - what the appliances of a cluster know of each other: the
 * VRRP state keepalived reports, and each peer as it last described itself
 * (name, configuration generation, Maglev table digest, VRRP state). Plain
 * data and pure functions: no I/O, no clock of its own (callers pass the
 * time), so a unit test drives it directly. The manager holds one
 * (manager_cluster.c); the replica's pulls (replica.h) and the primary's
 * snapshot route feed it.
 */
#ifndef DROVER_CLUSTER_H
#define DROVER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maglev.h"

#define CLUSTER_NODE_MAX    64 /* bytes of a node name, NUL included */
#define CLUSTER_DIGEST_HEX  (2 * MAGLEV_DIGEST_BYTES + 1)
#define CLUSTER_ADDRESS_MAX 64
#define CLUSTER_PEERS_MAX   32
#define CLUSTER_ERROR_MAX   256

/* The state keepalived's notify hook reports (droverctl cluster vrrp STATE). */
enum cluster_vrrp {
	CLUSTER_VRRP_UNKNOWN, /* nothing reported since droverd started */
	CLUSTER_VRRP_MASTER,
	CLUSTER_VRRP_BACKUP,
	CLUSTER_VRRP_FAULT,
	CLUSTER_VRRP_STOP,
	CLUSTER_VRRP_COUNT,
};

/* One appliance as it describes itself. */
struct cluster_node {
	char name[CLUSTER_NODE_MAX];
	char address[CLUSTER_ADDRESS_MAX]; /* where it was seen from; "" unknown */
	uint64_t generation;		   /* its configuration generation */
	char digest[CLUSTER_DIGEST_HEX];   /* its Maglev table digest, hex; "" unknown */
	enum cluster_vrrp vrrp;
	int64_t last_seen; /* unix seconds; 0: never */
};

/* The replicas a primary has heard from, in the order first heard. */
struct cluster_peers {
	struct cluster_node peer[CLUSTER_PEERS_MAX];
	size_t n;
};

/* What a replica knows of its primary, from its replies. */
struct cluster_primary {
	struct cluster_node node;      /* as its last reply described it */
	bool reachable;		       /* the last pull got an answer from it */
	int64_t unreachable_since;     /* unix seconds of the first failure in a row; 0 */
	char error[CLUSTER_ERROR_MAX]; /* why the last pull or apply failed; "" */
	uint64_t pulls;		       /* pulls answered */
	uint64_t applied;	       /* snapshots applied */
	uint64_t refused;	       /* snapshots refused by the checks */
	int64_t last_applied;	       /* unix seconds; 0 */
};

/*
 * keepalived's notify hook also leaves the state it reported in a file named
 * after droverd's control socket with this suffix (drover-ha-notify), so that
 * a droverd started while keepalived stays in one state knows that state.
 */
#define CLUSTER_VRRP_STATE_SUFFIX ".vrrp-state"

/* "MASTER", "BACKUP", "FAULT", "STOP" (keepalived's words, any case), or "UNKNOWN". */
bool cluster_vrrp_parse(const char *text, enum cluster_vrrp *out);
const char *cluster_vrrp_name(enum cluster_vrrp v);

/*
 * True when text is a node name fit to show and label metrics with: 1 to
 * CLUSTER_NODE_MAX - 1 characters of A-Z a-z 0-9 . _ - (it arrives from the
 * network, in a header).
 */
bool cluster_node_name_valid(const char *text);

/* A whole decimal number of 1 to 20 digits, no sign or blank, that fits. */
bool cluster_parse_u64(const char *text, uint64_t *out);

/* True for CLUSTER_DIGEST_HEX - 1 lower-case hex digits. */
bool cluster_digest_valid(const char *text);

/*
 * Records that node n was just heard from: its entry (same name) is
 * replaced, or a new one added; when the table is full the one heard from
 * longest ago makes room.
 */
void cluster_peers_seen(struct cluster_peers *peers, const struct cluster_node *n);

/*
 * True when n holds the same configuration generation and the same table
 * digest as generation and digest: the two map every client alike.
 */
bool cluster_node_agrees(const struct cluster_node *n, uint64_t generation, const char *digest);

#endif
