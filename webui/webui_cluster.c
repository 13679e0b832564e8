/*
 * webui_cluster.c - the primary's side of replication: the snapshot route a
 * replica pulls (replica.h describes the exchange). Everything the reply
 * says of this appliance goes in X-Drover-* headers, so a replica that
 * already holds the snapshot in force (its generation and digest) gets a
 * 204 and no body.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "clock.h"
#include "manager.h"
#include "replica.h"
#include "webui_private.h"

#define WEBUI_CLUSTER_SNAPSHOT_TYPE "application/vnd.sqlite3"

/* This appliance's X-Drover-* headers, for the replica's view of its primary. */
static void webui_cluster_headers(struct webui_call *c, const struct cluster_node *self,
				  uint64_t generation)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
	char text[32], tag[REPLICA_DEVIATIONS_TAG_MAX];

	snprintf(text, sizeof(text), "%" PRIu64, generation);
	evhttp_add_header(out, REPLICA_HEADER_NODE, self->name);
	evhttp_add_header(out, REPLICA_HEADER_GENERATION, text);
	evhttp_add_header(out, REPLICA_HEADER_DIGEST, self->digest);
	evhttp_add_header(out, REPLICA_HEADER_VRRP, cluster_vrrp_name(self->vrrp));
	manager_cluster_deviations_tag(c->w->m, tag, sizeof(tag));
	evhttp_add_header(out, REPLICA_HEADER_DEVIATIONS, tag);
	evhttp_add_header(out, "Cache-Control", "no-store");
}

/*
 * The replica as its headers describe it. A caller that does not name
 * itself (an operator's curl, a script taking a copy) is not a replica and
 * is not recorded.
 */
static void webui_cluster_peer(struct webui_call *c)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *name = evhttp_find_header(in, REPLICA_HEADER_NODE);
	const char *generation = evhttp_find_header(in, REPLICA_HEADER_GENERATION);
	const char *digest = evhttp_find_header(in, REPLICA_HEADER_DIGEST);
	struct cluster_node n = {.last_seen = clock_wall_s()};

	if (!cluster_node_name_valid(name))
		return;
	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.address, sizeof(n.address), "%s", c->peer);
	if (!cluster_parse_u64(generation, &n.generation))
		n.generation = 0;
	if (cluster_digest_valid(digest))
		snprintf(n.digest, sizeof(n.digest), "%s", digest);
	if (!cluster_vrrp_parse(evhttp_find_header(in, REPLICA_HEADER_VRRP), &n.vrrp))
		n.vrrp = CLUSTER_VRRP_UNKNOWN;
	manager_cluster_peer_seen(c->w->m, &n);
}

void webui_cluster_snapshot(struct webui_call *c)
{
	const char *have_text = evhttp_find_header(&c->query, "have");
	const char *have_digest = evhttp_find_header(&c->query, "digest");
	const struct settings *s = manager_settings(c->w->m);
	char err[MANAGER_ERR_MAX];
	struct cluster_node self;
	const uint8_t *data;
	const char *digest;
	uint64_t have = 0, generation;
	struct evbuffer *buf;
	size_t len;

	if (!webui_http_query_known(c, c->route.route->params))
		return;
	if (s->cluster_role != CLUSTER_ROLE_PRIMARY) {
		webui_http_send_error(c, 409, "not_primary", NULL,
				      "this appliance is not a cluster primary (cluster_role %s)",
				      cluster_role_name((enum cluster_role)s->cluster_role));
		return;
	}
	if (have_text != NULL && !cluster_parse_u64(have_text, &have)) {
		webui_http_send_error(c, 400, "invalid", "have", "have: `%s' is not a generation",
				      have_text);
		return;
	}
	webui_cluster_peer(c);
	manager_cluster_self(c->w->m, &self);
	if (have_digest != NULL && !cluster_digest_valid(have_digest)) {
		webui_http_send_error(c, 400, "invalid", "digest",
				      "digest: not a snapshot digest (64 hex digits)");
		return;
	}
	if (have_text != NULL && manager_cluster_current(c->w->m, have, have_digest)) {
		webui_cluster_headers(c, &self, self.generation);
		webui_http_headers(c, NULL);
		webui_http_send_body(c, 204, NULL);
		return;
	}
	if (manager_cluster_snapshot(c->w->m, &data, &len, &generation, &digest, err, sizeof(err)) <
	    0) {
		webui_http_send_error(c, 500, "internal", NULL, "no snapshot: %s", err);
		return;
	}
	buf = evbuffer_new();
	if (buf == NULL || evbuffer_add(buf, data, len) < 0) {
		if (buf != NULL)
			evbuffer_free(buf);
		webui_http_send_error(c, 500, "internal", NULL, "out of memory");
		return;
	}
	webui_cluster_headers(c, &self, generation);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), REPLICA_HEADER_SNAPSHOT,
			  digest);
	webui_http_headers(c, WEBUI_CLUSTER_SNAPSHOT_TYPE);
	webui_http_send_body(c, 200, buf);
	evbuffer_free(buf);
}

/*
 * POST /api/v1/cluster/deviations {"deviations": "TEXT"}: a replica's
 * deviations (deviation_format) merged here; the answer is this appliance's
 * own, in the same text form (text/plain), with its tag in a header.
 */
void webui_cluster_deviations(struct webui_call *c)
{
	static const char *const allowed[] = {"deviations", NULL};
	const struct settings *s = manager_settings(c->w->m);
	char err[MANAGER_ERR_MAX], tag[REPLICA_DEVIATIONS_TAG_MAX];
	const char *text, *reply;
	struct evbuffer *buf;
	size_t len;
	int ret;

	if (s->cluster_role != CLUSTER_ROLE_PRIMARY) {
		webui_http_send_error(c, 409, "not_primary", NULL,
				      "this appliance is not a cluster primary (cluster_role %s)",
				      cluster_role_name((enum cluster_role)s->cluster_role));
		return;
	}
	if (!webui_http_body_only(c, allowed) || !webui_http_body_string(c, "deviations", &text))
		return;
	webui_cluster_peer(c);
	ret = manager_cluster_deviations_exchange(c->w->m, text, strlen(text), &reply, &len, err,
						  sizeof(err));
	if (ret < 0) {
		webui_http_send_error(c, ret == -EINVAL ? 400 : 409, "invalid", "deviations", "%s",
				      err);
		return;
	}
	buf = evbuffer_new();
	if (buf == NULL || evbuffer_add(buf, reply, len) < 0) {
		if (buf != NULL)
			evbuffer_free(buf);
		webui_http_send_error(c, 500, "internal", NULL, "out of memory");
		return;
	}
	manager_cluster_deviations_tag(c->w->m, tag, sizeof(tag));
	evhttp_add_header(evhttp_request_get_output_headers(c->req), REPLICA_HEADER_DEVIATIONS,
			  tag);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-store");
	webui_http_headers(c, "text/plain");
	webui_http_send_body(c, 200, buf);
	evbuffer_free(buf);
}
