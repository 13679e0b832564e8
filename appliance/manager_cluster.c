/*
 * manager_cluster.c - the manager's part in a cluster: a replica refuses
 * changes to what it replicates and pulls its primary's configuration
 * (replica.h) every cluster_poll_ms, checks the download whole and applies
 * it like a restore (manager_replicate); a primary serves snapshots and
 * keeps what its replicas said of themselves; both keep keepalived's VRRP
 * state. Control loop only.
 */
#include "manager_private.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "deviation.h"
#include "log.h"
#include "replica.h"

/* A pull's whole time: a snapshot is small, a primary that takes longer is in trouble. */
#define MANAGER_CLUSTER_PULL_TIMEOUT_MS 10000
/* The API path a replica pulls from, after cluster_primary. */
#define MANAGER_CLUSTER_SNAPSHOT_PATH "/api/v1/cluster/snapshot"
/* The API path a replica exchanges deviations on, after cluster_primary. */
#define MANAGER_CLUSTER_DEVIATIONS_PATH "/api/v1/cluster/deviations"
/*
 * A non-empty list is sent again at least this often (and at least four
 * times per affinity_timeout), so a peer's copies age with the originals.
 */
#define MANAGER_CLUSTER_DEVIATION_REFRESH_MAX_S 10
#define MANAGER_CLUSTER_DEVIATION_REFRESHES	4
#define MANAGER_CLUSTER_MS_PER_S		1000
/* The exchange's JSON body around the text form (which needs no escaping). */
#define MANAGER_CLUSTER_DEVIATION_BODY_HEAD "{\"deviations\":\""
#define MANAGER_CLUSTER_DEVIATION_BODY_TAIL "\"}"
/* Bytes of a refusal's text kept to say why the primary refused. */
#define MANAGER_CLUSTER_REFUSAL_MAX 160

static void manager_cluster_hex(const uint8_t *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int manager_cluster_refuse(struct manager *m, char *err, size_t errlen)
{
	if (m->settings.cluster_role != CLUSTER_ROLE_REPLICA)
		return 0;
	snprintf(err, errlen,
		 "this appliance is a replica of %s: change the configuration on the primary "
		 "(or make this one primary or standalone: settings set cluster_role)",
		 m->settings.cluster_primary[0] != '\0' ? m->settings.cluster_primary
							: "a primary (cluster_primary is not set)");
	return -EROFS;
}

uint64_t manager_config_generation(struct manager *m)
{
	uint64_t generation = 0;

	if (store_generation(m->store, &generation) < 0)
		log_warnx("%s", store_error(m->store));
	return generation;
}

void manager_cluster_self(struct manager *m, struct cluster_node *out)
{
	const struct pool_snapshot *snap = m->dp.current;

	memset(out, 0, sizeof(*out));
	if (m->settings.cluster_node_name[0] != '\0')
		snprintf(out->name, sizeof(out->name), "%.*s", (int)sizeof(out->name) - 1,
			 m->settings.cluster_node_name);
	else if (gethostname(out->name, sizeof(out->name) - 1) < 0 ||
		 !cluster_node_name_valid(out->name))
		snprintf(out->name, sizeof(out->name), "drover");
	out->generation = manager_config_generation(m);
	if (snap != NULL)
		manager_cluster_hex(snap->table_digest, sizeof(snap->table_digest), out->digest);
	out->vrrp = m->cluster.vrrp;
	out->last_seen = clock_wall_s();
}

void manager_cluster_vrrp_set(struct manager *m, enum cluster_vrrp state, const char *actor)
{
	char detail[128];

	if (state == m->cluster.vrrp)
		return;
	snprintf(detail, sizeof(detail), "VRRP state %s (was %s)", cluster_vrrp_name(state),
		 cluster_vrrp_name(m->cluster.vrrp));
	m->cluster.vrrp = state;
	log_info("%s, reported by %s", detail, actor);
	store_audit_add(m->store, actor, "cluster.vrrp", detail);
}

void manager_cluster_peer_seen(struct manager *m, const struct cluster_node *n)
{
	cluster_peers_seen(&m->cluster.peers, n);
}

void manager_cluster_view(struct manager *m, struct manager_cluster_view *out)
{
	const struct pool_snapshot *snap = m->dp.current;

	memset(out, 0, sizeof(*out));
	out->role = (enum cluster_role)m->settings.cluster_role;
	manager_cluster_self(m, &out->self);
	if (snap != NULL)
		manager_cluster_hex(snap->key_id, sizeof(snap->key_id), out->hash_key_id);
	snprintf(out->primary_url, sizeof(out->primary_url), "%s", m->settings.cluster_primary);
	out->primary = m->cluster.primary;
	out->peers = m->cluster.peers;
	out->deviations.exported = m->cluster.dev.ex.n;
	out->deviations.not_exported = m->cluster.dev.ex.overflow + m->cluster.dev.unsent;
	out->deviations.sent = m->cluster.dev.sent;
	out->deviations.exchanges = m->cluster.dev.exchanges;
	out->deviations.merged = m->cluster.dev.merged;
}

/* The buffers deviations need, once; false when out of memory. */
static bool manager_cluster_dev_alloc(struct manager_deviations *d)
{
	if (d->list == NULL)
		d->list = calloc(DEVIATION_MAX, sizeof(*d->list));
	if (d->incoming == NULL)
		d->incoming = calloc(DEVIATION_MAX, sizeof(*d->incoming));
	if (d->id_of_slot == NULL)
		d->id_of_slot = calloc(PROXY_SLOTS_MAX, sizeof(*d->id_of_slot));
	if (d->text == NULL)
		d->text = calloc(1, DEVIATION_TEXT_MAX);
	return d->list != NULL && d->incoming != NULL && d->id_of_slot != NULL && d->text != NULL;
}

static void manager_cluster_dev_free(struct manager_deviations *d)
{
	replica_free(d->exchanger);
	free(d->list);
	free(d->incoming);
	free(d->id_of_slot);
	free(d->text);
	memset(d, 0, sizeof(*d));
}

void manager_cluster_tick(struct manager *m)
{
	const struct pool_snapshot *snap = m->dp.current;
	struct manager_deviations *d = &m->cluster.dev;

	if (m->settings.cluster_role == CLUSTER_ROLE_STANDALONE || snap == NULL ||
	    !manager_cluster_dev_alloc(d))
		return;
	memset(d->id_of_slot, 0, PROXY_SLOTS_MAX * sizeof(*d->id_of_slot));
	for (size_t i = 0; i < m->nproxies; i++) {
		uint16_t slot = m->slot_of[i];

		if (slot != 0 && slot < snap->nslots &&
		    (snap->targets[slot].flags & POOL_TARGET_KEEPS))
			d->id_of_slot[slot] = m->proxies[i].id;
	}
	deviation_export(m->affinity, clock_now_s(), m->hash_key, &snap->table, d->id_of_slot,
			 PROXY_SLOTS_MAX, d->list, DEVIATION_MAX, &d->ex);
	deviation_format(d->list, d->ex.n, d->text, DEVIATION_TEXT_MAX); /* room for all */
}

void manager_cluster_deviations_tag(struct manager *m, char *out, size_t len)
{
	const struct deviation_export *ex = &m->cluster.dev.ex;

	snprintf(out, len, "%zu-%016" PRIx64, ex->n, ex->digest);
}

/* The local slot of a proxy that takes clients now (deviation_slot_fn), or 0. */
static uint16_t manager_cluster_slot_of(void *arg, int64_t proxy_id)
{
	struct manager *m = arg;
	const struct pool_snapshot *snap = m->dp.current;
	uint16_t slot = 0;

	if (snap == NULL || manager_proxy_find(m, proxy_id, &slot) == NULL || slot == 0 ||
	    slot >= snap->nslots || !(snap->targets[slot].flags & POOL_TARGET_KEEPS))
		return 0;
	return slot;
}

/* Parses and merges a peer's list; -EINVAL with why in err. */
static int manager_cluster_dev_merge(struct manager *m, const char *text, size_t len, char *err,
				     size_t errlen)
{
	struct manager_deviations *d = &m->cluster.dev;
	size_t n = 0;

	if (!manager_cluster_dev_alloc(d)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!deviation_parse(text, len, d->incoming, DEVIATION_MAX, &n)) {
		snprintf(err, errlen,
			 "deviations: entry %zu is not ADDRESS,PROXY_ID,AGE (or more than %u)",
			 n + 1, DEVIATION_MAX);
		return -EINVAL;
	}
	deviation_merge(m->affinity, m->hash_key, clock_now_s(), d->incoming, n,
			manager_cluster_slot_of, m, &d->merged);
	d->exchanges++;
	return 0;
}

int manager_cluster_deviations_exchange(struct manager *m, const char *text, size_t len,
					const char **reply, size_t *reply_len, char *err,
					size_t errlen)
{
	struct manager_deviations *d = &m->cluster.dev;
	int ret;

	if (m->settings.cluster_role == CLUSTER_ROLE_STANDALONE) {
		snprintf(err, errlen, "this appliance is standalone (cluster_role)");
		return -EROFS;
	}
	if (d->text == NULL)
		manager_cluster_tick(m);
	ret = manager_cluster_dev_merge(m, text, len, err, errlen);
	if (ret < 0)
		return ret;
	*reply = d->text != NULL ? d->text : "";
	*reply_len = strlen(*reply);
	d->sent += d->ex.n;
	return 0;
}

int manager_cluster_snapshot(struct manager *m, const uint8_t **data, size_t *len,
			     uint64_t *generation, const char **digest, char *err, size_t errlen)
{
	struct manager_cluster *c = &m->cluster;
	uint64_t now = manager_config_generation(m), made = 0;
	uint8_t hash[MAGLEV_DIGEST_BYTES], *buf = NULL;
	char path[PATH_MAX];
	int64_t bytes = 0;
	struct stat st;
	int fd, ret;

	if (c->snapshot == NULL || c->snapshot_generation != now) {
		snprintf(path, sizeof(path), "%s.cluster-snapshot", store_path(m->store));
		ret = store_snapshot(m->store, path, &bytes, &made);
		if (ret < 0)
			return manager_store_error(m, ret, err, errlen);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size == bytes)
			buf = malloc((size_t)bytes ? (size_t)bytes : 1);
		ret = buf != NULL && read(fd, buf, (size_t)bytes) == (ssize_t)bytes ? 0 : -EIO;
		if (fd >= 0)
			close(fd);
		unlink(path);
		if (ret < 0) {
			free(buf);
			snprintf(err, errlen, "cannot read the snapshot back");
			return ret;
		}
		crypto_generichash(hash, sizeof(hash), buf, (size_t)bytes, NULL, 0);
		free(c->snapshot);
		c->snapshot = buf;
		c->snapshot_len = (size_t)bytes;
		c->snapshot_generation = made;
		manager_cluster_hex(hash, sizeof(hash), c->snapshot_digest);
	}
	*data = c->snapshot;
	*len = c->snapshot_len;
	*generation = c->snapshot_generation;
	*digest = c->snapshot_digest;
	return 0;
}

bool manager_cluster_current(struct manager *m, uint64_t have, const char *digest)
{
	const uint8_t *data;
	const char *now;
	uint64_t generation;
	char err[MANAGER_ERR_MAX];
	size_t len;

	if (digest == NULL || have != manager_config_generation(m))
		return false;
	if (manager_cluster_snapshot(m, &data, &len, &generation, &now, err, sizeof(err)) < 0) {
		log_warnx("cluster: %s", err);
		return false;
	}
	return generation == have && strcmp(now, digest) == 0;
}

/* The first line of the token file, into token; false with why in err. */
static bool manager_cluster_token(const char *file, char *token, size_t len, char *err,
				  size_t errlen)
{
	FILE *f;
	size_t n;

	if (file[0] == '\0') {
		snprintf(err, errlen, "cluster_token_file is not set");
		return false;
	}
	f = fopen(file, "re");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read cluster_token_file %s: %s", file,
			 strerror(errno));
		return false;
	}
	if (fgets(token, (int)len, f) == NULL)
		token[0] = '\0';
	fclose(f);
	n = strcspn(token, "\r\n");
	token[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (token[i] <= ' ' || token[i] >= 0x7f)
			n = 0; /* not a token: refused below rather than sent in a header */
	}
	if (n == 0) {
		snprintf(err, errlen, "cluster_token_file %s holds no token on its first line",
			 file);
		return false;
	}
	return true;
}

/* A pull's failure, told once when it is news (the same one again is not logged). */
static void manager_cluster_fail(struct manager *m, bool reached, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void manager_cluster_fail(struct manager *m, bool reached, const char *fmt, ...)
{
	struct cluster_primary *p = &m->cluster.primary;
	char why[CLUSTER_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!reached) {
		if (p->reachable || p->unreachable_since == 0)
			p->unreachable_since = clock_wall_s();
		p->reachable = false;
	}
	if (strcmp(p->error, why) != 0)
		log_warnx("cluster: %s; serving generation %" PRIu64 " meanwhile", why,
			  manager_config_generation(m));
	snprintf(p->error, sizeof(p->error), "%s", why);
}

/*
 * Checks a downloaded snapshot before anything else sees it: its digest and
 * generation as announced, then writes it beside the database (0600,
 * fsync'd) for manager_replicate, which checks the rest (integrity, schema,
 * every row, the generation inside) and applies it.
 */
static int manager_cluster_apply(struct manager *m, struct replica_reply *y, char *err,
				 size_t errlen)
{
	uint8_t hash[MAGLEV_DIGEST_BYTES];
	char hex[CLUSTER_DIGEST_HEX], path[PATH_MAX];
	struct manager_restore_result res;
	uint64_t generation;
	int fd, ret;

	if (!cluster_parse_u64(y->generation, &generation) ||
	    !cluster_digest_valid(y->snapshot_digest)) {
		snprintf(err, errlen,
			 "the primary's snapshot comes without a generation or digest");
		return -EINVAL;
	}
	crypto_generichash(hash, sizeof(hash), y->body, y->len, NULL, 0);
	manager_cluster_hex(hash, sizeof(hash), hex);
	if (sodium_memcmp(hex, y->snapshot_digest, sizeof(hex) - 1) != 0) {
		snprintf(err, errlen,
			 "the snapshot of generation %" PRIu64 " (%zu bytes) does not match its "
			 "digest: cut short or damaged",
			 generation, y->len);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s.replica-XXXXXX", store_path(m->store));
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write the snapshot beside the database: %s",
			 strerror(errno));
		return -errno;
	}
	ret = write(fd, y->body, y->len) == (ssize_t)y->len && fsync(fd) == 0 ? 0 : -EIO;
	close(fd);
	if (ret < 0)
		snprintf(err, errlen, "cannot write the snapshot beside the database");
	else
		ret = manager_replicate(m, path, generation, &res, err, errlen);
	unlink(path);
	return ret;
}

static void manager_cluster_on_pull(struct manager *m, struct replica_reply *y)
{
	struct cluster_primary *p = &m->cluster.primary;
	char err[MANAGER_ERR_MAX];
	enum cluster_vrrp vrrp = CLUSTER_VRRP_UNKNOWN;
	uint64_t generation;

	if (!y->answered) {
		manager_cluster_fail(m, false, "primary %s unreachable: %s",
				     m->settings.cluster_primary, y->error);
		return;
	}
	if (!p->reachable && p->unreachable_since != 0)
		log_info("cluster: primary %s reachable again", m->settings.cluster_primary);
	p->reachable = true;
	p->unreachable_since = 0;
	p->pulls++;
	p->node.last_seen = clock_wall_s();
	if (cluster_node_name_valid(y->node))
		snprintf(p->node.name, sizeof(p->node.name), "%s", y->node);
	if (cluster_parse_u64(y->generation, &generation))
		p->node.generation = generation;
	if (cluster_digest_valid(y->digest))
		snprintf(p->node.digest, sizeof(p->node.digest), "%s", y->digest);
	if (cluster_vrrp_parse(y->vrrp, &vrrp))
		p->node.vrrp = vrrp;
	if (y->status == 204) {
		p->error[0] = '\0';
		return;
	}
	if (y->status != 200) {
		char text[MANAGER_CLUSTER_REFUSAL_MAX];
		size_t n = 0;

		for (size_t i = 0; i < y->len && n + 1 < sizeof(text); i++)
			text[n++] = y->body[i] >= ' ' && y->body[i] < 0x7f ? (char)y->body[i] : ' ';
		text[n] = '\0';
		manager_cluster_fail(m, true, "primary %s refused the pull (HTTP %ld): %s",
				     m->settings.cluster_primary, y->status, text);
		return;
	}
	if (manager_cluster_apply(m, y, err, sizeof(err)) < 0) {
		p->refused++;
		manager_cluster_fail(m, true, "snapshot refused: %s", err);
		return;
	}
	p->applied++;
	p->last_applied = clock_wall_s();
	snprintf(m->cluster.applied_digest, sizeof(m->cluster.applied_digest), "%s",
		 y->snapshot_digest);
	p->error[0] = '\0';
}

/* The primary's answer to an exchange: its own deviations, merged here. */
static void manager_cluster_on_exchange(void *arg, struct replica_reply *y)
{
	struct manager *m = arg;
	struct manager_deviations *d = &m->cluster.dev;
	char err[MANAGER_ERR_MAX];

	if (!y->answered) {
		manager_cluster_fail(m, false, "deviation exchange with %s failed: %s",
				     m->settings.cluster_primary, y->error);
		d->sent_tag[0] = '\0';
		return;
	}
	if (y->status != 200 ||
	    manager_cluster_dev_merge(m, (const char *)y->body, y->len, err, sizeof(err)) < 0) {
		manager_cluster_fail(m, true, "deviation exchange refused (HTTP %ld)", y->status);
		d->sent_tag[0] = '\0';
		return;
	}
	snprintf(d->primary_tag, sizeof(d->primary_tag), "%s", y->deviations);
}

/*
 * After a pull: sends this replica's deviations and takes the primary's
 * when either list changed since the last exchange (the primary's tag came
 * with the pull), or a non-empty one is due for a refresh. Most pulls:
 * nothing changed, nothing sent.
 */
static void manager_cluster_exchange_maybe(struct manager *m, const char *primary_tag)
{
	struct manager_deviations *d = &m->cluster.dev;
	uint32_t timeout = m->settings.affinity_timeout / MANAGER_CLUSTER_DEVIATION_REFRESHES;
	uint64_t now_ms = clock_now_ms(), every_ms;
	char own[REPLICA_DEVIATIONS_TAG_MAX], err[MANAGER_ERR_MAX];
	struct replica_pull pull;
	char *body;
	size_t n, len, sent;
	int ret;

	if (timeout > MANAGER_CLUSTER_DEVIATION_REFRESH_MAX_S)
		timeout = MANAGER_CLUSTER_DEVIATION_REFRESH_MAX_S;
	every_ms = (uint64_t)(timeout ? timeout : 1) * MANAGER_CLUSTER_MS_PER_S;
	if (d->text == NULL)
		manager_cluster_tick(m);
	if (d->text == NULL || replica_busy(d->exchanger))
		return;
	manager_cluster_deviations_tag(m, own, sizeof(own));
	if (strcmp(own, d->sent_tag) == 0 && strcmp(primary_tag, d->primary_tag) == 0 &&
	    ((d->ex.n == 0 && strncmp(d->primary_tag, "0-", 2) == 0) ||
	     now_ms - d->last_exchange_ms < every_ms))
		return;
	if (d->exchanger == NULL)
		d->exchanger = replica_new(m->cluster.base, manager_cluster_on_exchange, m);
	if (d->exchanger == NULL)
		return;
	memset(&pull, 0, sizeof(pull));
	if (!manager_cluster_token(m->settings.cluster_token_file, pull.token, sizeof(pull.token),
				   err, sizeof(err)))
		return;
	body = malloc(REPLICA_REQUEST_BODY_MAX);
	if (body == NULL)
		return;
	/* The primary takes a body of REPLICA_REQUEST_BODY_MAX: what does not fit waits. */
	len = strlen(MANAGER_CLUSTER_DEVIATION_BODY_HEAD);
	memcpy(body, MANAGER_CLUSTER_DEVIATION_BODY_HEAD, len);
	sent = deviation_format(d->list, d->ex.n, body + len,
				REPLICA_REQUEST_BODY_MAX - len -
				    strlen(MANAGER_CLUSTER_DEVIATION_BODY_TAIL));
	len += strlen(body + len);
	memcpy(body + len, MANAGER_CLUSTER_DEVIATION_BODY_TAIL,
	       strlen(MANAGER_CLUSTER_DEVIATION_BODY_TAIL) + 1);
	pull.body_len = len + strlen(MANAGER_CLUSTER_DEVIATION_BODY_TAIL);
	pull.body = body;
	manager_cluster_self(m, &pull.self);
	n = strlen(m->settings.cluster_primary);
	while (n > 0 && m->settings.cluster_primary[n - 1] == '/')
		n--;
	snprintf(pull.url, sizeof(pull.url), "%.*s%s", (int)n, m->settings.cluster_primary,
		 MANAGER_CLUSTER_DEVIATIONS_PATH);
	snprintf(pull.ca_file, sizeof(pull.ca_file), "%s", m->settings.cluster_ca_file);
	pull.timeout_ms = MANAGER_CLUSTER_PULL_TIMEOUT_MS;
	ret = replica_start(d->exchanger, &pull);
	sodium_memzero(pull.token, sizeof(pull.token));
	free(body);
	if (ret < 0)
		return;
	snprintf(d->sent_tag, sizeof(d->sent_tag), "%s", own);
	d->last_exchange_ms = now_ms;
	d->sent += sent;
	d->unsent = d->ex.n - sent;
}

/* A pull's answer, then the deviations' exchange when one is due. */
static void manager_cluster_on_reply(void *arg, struct replica_reply *y)
{
	struct manager *m = arg;

	manager_cluster_on_pull(m, y);
	if (y->answered && (y->status == 200 || y->status == 204))
		manager_cluster_exchange_maybe(m, y->deviations);
}

/* The next pull, if none is under way; re-armed every cluster_poll_ms. */
static void manager_cluster_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct manager *m = arg;
	struct replica_pull pull;
	char err[MANAGER_ERR_MAX];
	size_t n;
	int ret;

	(void)fd;
	(void)what;
	if (replica_busy(m->cluster.puller))
		return;
	memset(&pull, 0, sizeof(pull));
	if (m->settings.cluster_primary[0] == '\0') {
		manager_cluster_fail(m, false, "cluster_primary is not set");
		return;
	}
	if (!manager_cluster_token(m->settings.cluster_token_file, pull.token, sizeof(pull.token),
				   err, sizeof(err))) {
		manager_cluster_fail(m, false, "%s", err);
		return;
	}
	manager_cluster_self(m, &pull.self);
	n = strlen(m->settings.cluster_primary);
	while (n > 0 && m->settings.cluster_primary[n - 1] == '/')
		n--;
	snprintf(pull.url, sizeof(pull.url), "%.*s%s?have=%" PRIu64 "%s%s", (int)n,
		 m->settings.cluster_primary, MANAGER_CLUSTER_SNAPSHOT_PATH, pull.self.generation,
		 m->cluster.applied_digest[0] != '\0' ? "&digest=" : "", m->cluster.applied_digest);
	snprintf(pull.ca_file, sizeof(pull.ca_file), "%s", m->settings.cluster_ca_file);
	pull.timeout_ms = MANAGER_CLUSTER_PULL_TIMEOUT_MS;
	ret = replica_start(m->cluster.puller, &pull);
	sodium_memzero(pull.token, sizeof(pull.token));
	if (ret < 0)
		manager_cluster_fail(m, false, "cannot start a pull: %s", strerror(-ret));
}

static void manager_cluster_stop_pulls(struct manager *m)
{
	if (m->cluster.poll != NULL) {
		event_free(m->cluster.poll);
		m->cluster.poll = NULL;
	}
	replica_free(m->cluster.puller);
	m->cluster.puller = NULL;
	replica_free(m->cluster.dev.exchanger);
	m->cluster.dev.exchanger = NULL;
	m->cluster.dev.sent_tag[0] = '\0';
	m->cluster.dev.primary_tag[0] = '\0';
}

void manager_cluster_configure(struct manager *m)
{
	struct timeval every = {m->settings.cluster_poll_ms / 1000,
				(m->settings.cluster_poll_ms % 1000) * 1000};

	manager_cluster_stop_pulls(m);
	memset(&m->cluster.primary, 0, sizeof(m->cluster.primary));
	if (m->settings.cluster_role != CLUSTER_ROLE_PRIMARY)
		memset(&m->cluster.peers, 0, sizeof(m->cluster.peers));
	if (m->settings.cluster_role != CLUSTER_ROLE_REPLICA || m->cluster.base == NULL)
		return;
	m->cluster.puller = replica_new(m->cluster.base, manager_cluster_on_reply, m);
	m->cluster.poll = event_new(m->cluster.base, -1, EV_PERSIST, manager_cluster_on_poll, m);
	if (m->cluster.puller == NULL || m->cluster.poll == NULL ||
	    event_add(m->cluster.poll, &every) < 0) {
		log_warnx("cluster: cannot start pulling from the primary: out of memory");
		manager_cluster_stop_pulls(m);
		return;
	}
	log_info("cluster: replica of %s, pulling every %u ms from generation %" PRIu64,
		 m->settings.cluster_primary[0] ? m->settings.cluster_primary : "(not set)",
		 m->settings.cluster_poll_ms, manager_config_generation(m));
	/* The first pull at once: a replica restarted catches up without waiting. */
	event_active(m->cluster.poll, EV_TIMEOUT, 0);
}

void manager_cluster_close(struct manager *m)
{
	manager_cluster_stop_pulls(m);
	manager_cluster_dev_free(&m->cluster.dev);
	free(m->cluster.snapshot);
	m->cluster.snapshot = NULL;
}
