/* cluster.c - the cluster's peers and VRRP state: parsing and bookkeeping, no I/O. */
#include "cluster.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CLUSTER_U64_DIGITS_MAX 20

static const char *const cluster_vrrp_names[CLUSTER_VRRP_COUNT] = {
    [CLUSTER_VRRP_UNKNOWN] = "UNKNOWN", [CLUSTER_VRRP_MASTER] = "MASTER",
    [CLUSTER_VRRP_BACKUP] = "BACKUP",	[CLUSTER_VRRP_FAULT] = "FAULT",
    [CLUSTER_VRRP_STOP] = "STOP",
};

bool cluster_vrrp_parse(const char *text, enum cluster_vrrp *out)
{
	if (text == NULL)
		return false;
	for (int v = 0; v < CLUSTER_VRRP_COUNT; v++) {
		if (strcasecmp(text, cluster_vrrp_names[v]) == 0) {
			*out = (enum cluster_vrrp)v;
			return true;
		}
	}
	return false;
}

const char *cluster_vrrp_name(enum cluster_vrrp v)
{
	return (unsigned)v < CLUSTER_VRRP_COUNT ? cluster_vrrp_names[v] : "UNKNOWN";
}

bool cluster_node_name_valid(const char *text)
{
	size_t len = text ? strlen(text) : 0;

	if (len == 0 || len >= CLUSTER_NODE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool cluster_parse_u64(const char *text, uint64_t *out)
{
	uint64_t v = 0;
	size_t len = text ? strlen(text) : 0;

	if (len == 0 || len > CLUSTER_U64_DIGITS_MAX || (text[0] == '0' && len > 1))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(text[i] - '0');

		if (text[i] < '0' || text[i] > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool cluster_digest_valid(const char *text)
{
	if (text == NULL || strlen(text) != CLUSTER_DIGEST_HEX - 1)
		return false;
	for (const char *c = text; *c != '\0'; c++) {
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	}
	return true;
}

void cluster_peers_seen(struct cluster_peers *peers, const struct cluster_node *n)
{
	size_t at = peers->n, oldest = 0;

	for (size_t i = 0; i < peers->n; i++) {
		if (strcmp(peers->peer[i].name, n->name) == 0) {
			at = i;
			break;
		}
		if (peers->peer[i].last_seen < peers->peer[oldest].last_seen)
			oldest = i;
	}
	if (at == peers->n) {
		if (peers->n == CLUSTER_PEERS_MAX)
			at = oldest;
		else
			peers->n++;
	}
	peers->peer[at] = *n;
}

bool cluster_node_agrees(const struct cluster_node *n, uint64_t generation, const char *digest)
{
	return n->last_seen != 0 && n->generation == generation && digest != NULL &&
	       strcmp(n->digest, digest) == 0;
}
