/* api.c - JSON operations over the manager, shared by droverctl and the web UI. */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <net/if.h>

#include "client.h"
#include "clock.h"
#include "encap.h"
#include "fastpath.h"
#include "setup_script.h"

#define API_AUDIT_PAGE_MAX 500
/* Clients one lookup may answer for: a /16, enough to compare two appliances in a few calls. */
#define API_LOOKUP_COUNT_MAX 65536

struct api_call {
	struct manager *m;
	json_t *req;
	const char *actor;
	char err[MANAGER_ERR_MAX];
};

static json_t *api_error(const char *field, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *api_error(const char *field, const char *fmt, ...)
{
	char msg[MANAGER_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *r = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	if (field != NULL)
		json_object_set_new(r, "field", json_string(field));
	return r;
}

static json_t *api_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

/* Maps a manager/store errno to the status a client can act on. */
static json_t *api_failed(int ret, const char *msg)
{
	json_t *r = api_error(NULL, "%s", msg);
	const char *kind = ret == -ESTALE   ? "conflict"
			   : ret == -ENOENT ? "not_found"
			   : ret == -EEXIST ? "exists"
			   : ret == -EINVAL ? "invalid"
			   : ret == -EROFS  ? "replica"
					    : "internal";
	json_object_set_new(r, "kind", json_string(kind));
	return r;
}

/* Refuses any argument not in allowed (NULL-terminated); "cmd" is always allowed. */
static json_t *api_check_fields(json_t *req, const char *const *allowed)
{
	const char *key;
	json_t *value;

	json_object_foreach(req, key, value)
	{
		bool known = strcmp(key, "cmd") == 0;
		for (size_t i = 0; allowed[i] != NULL && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known)
			return api_error(key, "unknown field `%s'", key);
	}
	return NULL;
}

static bool api_get_int(json_t *req, const char *key, bool required, int64_t min, int64_t max,
			int64_t *out, json_t **fail)
{
	json_t *v = json_object_get(req, key);

	if (v == NULL) {
		if (required)
			*fail = api_error(key, "missing field `%s'", key);
		return !required;
	}
	if (!json_is_integer(v)) {
		*fail = api_error(key, "%s: expected an integer", key);
		return false;
	}
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		*fail = api_error(
		    key, "%s: %" JSON_INTEGER_FORMAT " is out of range (%" PRId64 "..%" PRId64 ")",
		    key, json_integer_value(v), min, max);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

static bool api_get_string(json_t *req, const char *key, bool required, const char **out,
			   json_t **fail)
{
	json_t *v = json_object_get(req, key);

	if (v == NULL) {
		if (required)
			*fail = api_error(key, "missing field `%s'", key);
		return !required;
	}
	if (!json_is_string(v)) {
		*fail = api_error(key, "%s: expected a string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* An optional boolean: true or false (JSON's own, not 0/1 or a string). */
static bool api_get_bool(json_t *req, const char *key, bool *out, json_t **fail)
{
	json_t *v = json_object_get(req, key);

	if (v == NULL)
		return true;
	if (!json_is_boolean(v)) {
		*fail = api_error(key, "%s: expected true or false", key);
		return false;
	}
	*out = json_is_true(v);
	return true;
}

static json_t *api_address(uint32_t addr)
{
	char text[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, text, sizeof(text));
	return json_string(text);
}

/*
 * The IPv6 address's own probes, or null when it has none. "up": false means
 * its IPv6 clients go in IPv6-in-IPv4 to its IPv4 address meanwhile.
 */
static json_t *api_health6_json(const struct manager_proxy_view *v)
{
	const struct health *h = &v->health6;

	if (!proxy_has_address6(&v->config))
		return json_null();
	return json_pack("{s:s, s:b, s:s, s:i, s:I, s:I, s:I}", "state",
			 health_state_name(h->state), "up", health_is_up(h), "last_check",
			 check_result_name(h->last_result), "last_check_ms",
			 (int)h->last_duration_ms, "checks", (json_int_t)h->checks, "failed_checks",
			 (json_int_t)h->failed_checks, "state_changes", (json_int_t)h->changes);
}

/*
 * Squid's own figures of the proxy (the contract the dashboard reads): null
 * while its squid_stats is off; else ok, error (null when ok), the figures
 * of the last good read (zero before any) and their age_s (since the last
 * good read, or since reading began when none was), and beside them
 * requests, state, reads and failures.
 */
static json_t *api_squid_json(const struct manager_proxy_view *v)
{
	const struct squid_stats_view *q = &v->squid;
	const struct squid_figures *f = &q->figures;
	bool ok = q->state == SQUID_STATS_OK;

	if (!v->config.squid_stats)
		return json_null();
	return json_pack("{s:b, s:o, s:f, s:f, s:I, s:f, s:I, s:I, s:s, s:I, s:I}", "ok", ok,
			 "error", ok ? json_null() : json_string(q->error), "requests_per_second",
			 f->requests_per_second, "hit_ratio", f->hit_ratio, "clients",
			 (json_int_t)f->clients, "median_service_ms", f->median_service_ms, "age_s",
			 (json_int_t)(q->age_ms / SQUID_INFO_MS_PER_S), "requests",
			 (json_int_t)f->requests, "state", squid_stats_state_name(q->state),
			 "reads", (json_int_t)q->reads, "failures", (json_int_t)q->failures);
}

static json_t *api_proxy_json(const struct manager_proxy_view *v)
{
	const struct proxy_config *p = &v->config;
	const struct health *h = v->slot ? &v->health : NULL;
	json_t *o;

	o = json_pack(
	    "{s:I, s:s, s:o, s:i, s:s, s:I, s:i, s:I, s:I, s:I, s:i}", "id", (json_int_t)p->id,
	    "name", p->name, "address", api_address(p->address), "weight", (int)p->weight, "admin",
	    proxy_admin_name(p->admin), "version", (json_int_t)p->version, "slot", (int)v->slot,
	    "hits", (json_int_t)v->counters.hits, "packets", (json_int_t)v->counters.packets,
	    "bytes", (json_int_t)v->counters.bytes, "active_clients", (int)v->active_clients);
	json_object_set_new(o, "probe", json_string(probe_kind_name(v->probe)));
	json_object_set_new(o, "probe_override", json_boolean(p->probe_override));
	{
		char text6[INET6_ADDRSTRLEN];

		/* null: no IPv6 address, its IPv6 clients go in IPv6-in-IPv4. */
		proxy_address6_text(p, text6, sizeof(text6));
		json_object_set_new(o, "address6", text6[0] ? json_string(text6) : json_null());
	}
	json_object_set_new(o, "squid_stats", json_boolean(p->squid_stats));
	json_object_set_new(o, "squid", api_squid_json(v));
	if (h == NULL || p->admin == PROXY_ADMIN_DISABLED) {
		/* Disabled proxies are not probed: their last result would be stale. */
		json_object_set_new(o, "health", json_string(h ? "unchecked" : "no-slot"));
		return o;
	}
	json_object_set_new(o, "health", json_string(health_state_name(h->state)));
	json_object_set_new(o, "up", json_boolean(health_is_up(h)));
	json_object_set_new(o, "last_check", json_string(check_result_name(h->last_result)));
	json_object_set_new(o, "last_check_ms", json_integer(h->last_duration_ms));
	json_object_set_new(
	    o, "since_change_s",
	    json_integer((json_int_t)((clock_now_ms() - h->last_change_ms) / 1000)));
	json_object_set_new(o, "checks", json_integer((json_int_t)h->checks));
	json_object_set_new(o, "failed_checks", json_integer((json_int_t)h->failed_checks));
	json_object_set_new(o, "local_checks", json_integer((json_int_t)h->local_checks));
	json_object_set_new(o, "state_changes", json_integer((json_int_t)h->changes));
	json_object_set_new(o, "health6", api_health6_json(v));
	return o;
}

static json_t *api_proxy_list(struct api_call *c)
{
	static const char *const allowed[] = {NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	struct manager_proxy_view v;
	json_t *list;

	if (fail != NULL)
		return fail;
	list = json_array();
	for (size_t i = 0; i < manager_proxy_count(c->m); i++) {
		manager_proxy_view_at(c->m, i, &v);
		json_array_append_new(list, api_proxy_json(&v));
	}
	json_t *r = api_ok();
	json_object_set_new(r, "proxies", list);
	return r;
}

static json_t *api_proxy_one(struct api_call *c, int64_t id)
{
	struct manager_proxy_view v;
	json_t *r;

	if (manager_proxy_view(c->m, id, &v) < 0) {
		snprintf(c->err, sizeof(c->err), "no proxy with id %" PRId64, id);
		return api_failed(-ENOENT, c->err);
	}
	r = api_ok();
	json_object_set_new(r, "proxy", api_proxy_json(&v));
	return r;
}

static json_t *api_proxy_get(struct api_call *c)
{
	static const char *const allowed[] = {"id", NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	int64_t id = 0;

	if (fail != NULL || !api_get_int(c->req, "id", true, 1, INT64_MAX, &id, &fail))
		return fail;
	return api_proxy_one(c, id);
}

/* Reads the optional proxy fields into p; false with *fail set on a bad one. */
static bool api_proxy_fields(struct api_call *c, struct proxy_config *p, json_t **fail)
{
	const char *address = NULL, *name = NULL, *admin = NULL, *probe = NULL;
	const char *address6 = NULL, *why6 = NULL;
	int64_t weight = p->weight;
	json_t *v6 = json_object_get(c->req, "address6");

	if (!api_get_string(c->req, "probe", false, &probe, fail) ||
	    !api_get_string(c->req, "address", false, &address, fail) ||
	    !api_get_string(c->req, "name", false, &name, fail) ||
	    !api_get_string(c->req, "admin", false, &admin, fail) ||
	    !api_get_int(c->req, "weight", false, 0, PROXY_WEIGHT_MAX, &weight, fail) ||
	    !api_get_bool(c->req, "squid_stats", &p->squid_stats, fail))
		return false;
	if (address != NULL && !settings_parse_ipv4(address, &p->address)) {
		*fail = api_error("address", "address: invalid IPv4 address `%s'", address);
		return false;
	}
	/* null, "" or "none" clears it. */
	if (v6 != NULL && !json_is_null(v6) &&
	    !api_get_string(c->req, "address6", false, &address6, fail))
		return false;
	if (json_is_null(v6))
		address6 = "";
	if (address6 != NULL && !proxy_address6_parse(address6, p->address6, &why6)) {
		*fail = api_error("address6", "address6: `%s' %s", address6, why6);
		return false;
	}
	if (name != NULL) {
		if (strlen(name) > PROXY_NAME_MAX || (name[0] != '\0' && !proxy_name_valid(name))) {
			*fail = api_error("name",
					  "name: `%s' is not 1..%d characters of A-Z a-z 0-9 . _ -",
					  name, PROXY_NAME_MAX);
			return false;
		}
		snprintf(p->name, sizeof(p->name), "%s", name);
	}
	if (admin != NULL && !proxy_admin_parse(admin, &p->admin)) {
		*fail = api_error("admin", "admin: `%s' is not enabled, drain or disabled", admin);
		return false;
	}
	if (probe != NULL && !proxy_probe_parse(probe, p)) {
		*fail = api_error("probe", "probe: `%s' is not default, http-proxy, http or tcp",
				  probe);
		return false;
	}
	p->weight = (uint32_t)weight;
	return true;
}

/*
 * The optional "dry_run" of a proxy change: true asks for a preview
 * (manager_preview_*), which changes nothing. False with *fail set when it
 * is not a boolean.
 */
static bool api_dry_run(struct api_call *c, bool *dry_run, json_t **fail)
{
	json_t *v = json_object_get(c->req, "dry_run");

	*dry_run = false;
	if (v == NULL)
		return true;
	if (!json_is_boolean(v)) {
		*fail = api_error("dry_run", "dry_run: expected true or false");
		return false;
	}
	*dry_run = json_is_true(v);
	return true;
}

/* A preview's figures: {"ok", "dry_run": true, "preview": {...}}; pv is freed. */
static json_t *api_preview_json(struct manager_preview *pv)
{
	json_t *proxies = json_array();
	json_t *r = api_ok();

	for (size_t i = 0; i < pv->nproxies; i++) {
		const struct manager_preview_proxy *x = &pv->proxies[i];
		json_t *o = json_pack(
		    "{s:I, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "id", (json_int_t)x->id,
		    "name", x->name, "address", api_address(x->address), "slots_before",
		    (json_int_t)x->slots_before, "slots_after", (json_int_t)x->slots_after,
		    "slots_gained", (json_int_t)x->slots_gained, "slots_lost",
		    (json_int_t)x->slots_lost, "clients_from", (json_int_t)x->clients_from,
		    "clients_to", (json_int_t)x->clients_to);

		if (x->id == 0)
			json_object_set_new(o, "id", json_null());
		json_array_append_new(proxies, o);
	}
	json_t *p = json_pack(
	    "{s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:b, s:o}", "table_size",
	    (json_int_t)pv->table_size, "entries_moved", (json_int_t)pv->entries_moved,
	    "table_share_moved", pv->table_size ? (double)pv->entries_moved / pv->table_size : 0.0,
	    "table_proxies", (json_int_t)pv->table_proxies, "active_clients",
	    (json_int_t)pv->active_clients, "clients_moved", (json_int_t)pv->clients_moved,
	    "clients_to_none", (json_int_t)pv->clients_to_none, "clients_to_unknown",
	    (json_int_t)pv->clients_to_unknown, "assumes_up", pv->assumes_up, "proxies", proxies);

	manager_preview_free(pv);
	json_object_set_new(r, "dry_run", json_true());
	json_object_set_new(r, "preview", p);
	return r;
}

static json_t *api_proxy_add(struct api_call *c)
{
	static const char *const allowed[] = {"address",     "address6", "name",
					      "weight",	     "admin",	 "probe",
					      "squid_stats", "dry_run",	 NULL};
	struct proxy_config p = {.weight = 100, .admin = PROXY_ADMIN_ENABLED};
	json_t *fail = api_check_fields(c->req, allowed);
	const char *address = NULL;
	bool dry_run = false;
	int ret;

	if (fail != NULL || !api_get_string(c->req, "address", true, &address, &fail) ||
	    !api_proxy_fields(c, &p, &fail) || !api_dry_run(c, &dry_run, &fail))
		return fail;
	if (dry_run) {
		struct manager_preview pv;

		ret = manager_preview_add(c->m, &p, &pv, c->err, sizeof(c->err));
		return ret < 0 ? api_failed(ret, c->err) : api_preview_json(&pv);
	}
	ret = manager_proxy_add(c->m, &p, c->actor, c->err, sizeof(c->err));
	if (ret < 0 && p.id == 0)
		return api_failed(ret, c->err);
	return api_proxy_one(c, p.id);
}

static json_t *api_proxy_set(struct api_call *c)
{
	static const char *const allowed[] = {"id",	     "address", "address6", "name",
					      "weight",	     "admin",	"probe",    "version",
					      "squid_stats", "dry_run", NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	const struct proxy_config *cur;
	struct proxy_config p;
	int64_t id = 0, version = 0;
	bool dry_run = false;
	int ret;

	if (fail != NULL || !api_get_int(c->req, "id", true, 1, INT64_MAX, &id, &fail) ||
	    !api_get_int(c->req, "version", false, 1, INT64_MAX, &version, &fail) ||
	    !api_dry_run(c, &dry_run, &fail))
		return fail;
	cur = manager_proxy_find(c->m, id, NULL);
	if (cur == NULL)
		return api_proxy_one(c, id);
	p = *cur;
	if (!api_proxy_fields(c, &p, &fail))
		return fail;
	if (p.name[0] == '\0')
		return api_error("name", "name: must not be empty");
	if (dry_run) {
		struct manager_preview pv;

		ret = manager_preview_update(c->m, &p, version, &pv, c->err, sizeof(c->err));
		return ret < 0 ? api_failed(ret, c->err) : api_preview_json(&pv);
	}
	ret = manager_proxy_update(c->m, &p, version, c->actor, c->err, sizeof(c->err));
	if (ret < 0 &&
	    (ret == -ESTALE || ret == -ENOENT || ret == -EEXIST || ret == -EINVAL || ret == -EROFS))
		return api_failed(ret, c->err);
	return api_proxy_one(c, id);
}

static json_t *api_proxy_del(struct api_call *c)
{
	static const char *const allowed[] = {"id", "version", "dry_run", NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	int64_t id = 0, version = 0;
	bool dry_run = false;
	int ret;

	if (fail != NULL || !api_get_int(c->req, "id", true, 1, INT64_MAX, &id, &fail) ||
	    !api_get_int(c->req, "version", false, 1, INT64_MAX, &version, &fail) ||
	    !api_dry_run(c, &dry_run, &fail))
		return fail;
	if (dry_run) {
		struct manager_preview pv;

		ret = manager_preview_delete(c->m, id, version, &pv, c->err, sizeof(c->err));
		return ret < 0 ? api_failed(ret, c->err) : api_preview_json(&pv);
	}
	ret = manager_proxy_delete(c->m, id, version, c->actor, c->err, sizeof(c->err));
	if (ret < 0 && (ret == -ESTALE || ret == -ENOENT || ret == -EROFS))
		return api_failed(ret, c->err);
	return api_ok();
}

static const char *const api_lookup_reasons[] = {
    [MANAGER_LOOKUP_NONE] = "none",
    [MANAGER_LOOKUP_AFFINITY] = "affinity",
    [MANAGER_LOOKUP_TABLE] = "table",
};

/*
 * count consecutive clients from first, each as {client, proxy (its address,
 * or null), reason}: what two appliances compare, in one call.
 */
static json_t *api_lookup_range(struct api_call *c, uint32_t first, uint32_t count)
{
	json_t *results = json_array();
	json_t *r;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t client = htonl(ntohl(first) + i);
		const struct proxy_config *p;
		uint32_t idle;
		enum manager_lookup_reason why = manager_lookup(c->m, client, &p, &idle);

		json_array_append_new(
		    results, json_pack("{s:o, s:o, s:s}", "client", api_address(client), "proxy",
				       p != NULL ? api_address(p->address) : json_null(), "reason",
				       api_lookup_reasons[why]));
	}
	r = api_ok();
	json_object_set_new(r, "client", api_address(first));
	json_object_set_new(r, "count", json_integer(count));
	json_object_set_new(r, "results", results);
	return r;
}

static json_t *api_lookup_answer(json_t *client, enum manager_lookup_reason why,
				 const struct proxy_config *p, uint32_t idle);

static json_t *api_lookup(struct api_call *c)
{
	static const char *const allowed[] = {"client", "count", NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	const struct proxy_config *p;
	const char *text = NULL;
	uint32_t client, idle;
	int64_t count = 0;
	enum manager_lookup_reason why;
	struct client_id id;
	char shown[CLIENT_TEXT_MAX];

	if (fail != NULL || !api_get_string(c->req, "client", true, &text, &fail) ||
	    !api_get_int(c->req, "count", false, 1, API_LOOKUP_COUNT_MAX, &count, &fail))
		return fail;
	if (!client_parse(text, &id))
		return api_error("client", "client: invalid IPv4 or IPv6 address `%s'", text);
	if (!client_is_ipv4(&id)) {
		if (count > 0)
			return api_error("count",
					 "count: ranges are for IPv4 clients only, not `%s'", text);
		why = manager_lookup6(c->m, id.addr, &p, &idle);
		client_format(&id, shown, sizeof(shown));
		return api_lookup_answer(json_string(shown), why, p, idle);
	}
	client = client_ipv4(&id);
	if (count > 0) {
		if ((uint64_t)ntohl(client) + (uint64_t)count - 1 > UINT32_MAX)
			return api_error(
			    "count", "count: %" PRId64 " addresses from %s pass 255.255.255.255",
			    count, text);
		return api_lookup_range(c, client, (uint32_t)count);
	}
	why = manager_lookup(c->m, client, &p, &idle);
	return api_lookup_answer(api_address(client), why, p, idle);
}

/* One client's answer: {client, reason, proxy {id, name, address} or null, idle_seconds}. */
static json_t *api_lookup_answer(json_t *client, enum manager_lookup_reason why,
				 const struct proxy_config *p, uint32_t idle)
{
	json_t *r = api_ok();
	json_object_set_new(r, "client", client);
	json_object_set_new(r, "reason", json_string(api_lookup_reasons[why]));
	if (p != NULL) {
		json_object_set_new(r, "proxy",
				    json_pack("{s:I, s:s, s:o}", "id", (json_int_t)p->id, "name",
					      p->name, "address", api_address(p->address)));
	} else {
		json_object_set_new(r, "proxy", json_null());
	}
	if (why == MANAGER_LOOKUP_AFFINITY)
		json_object_set_new(r, "idle_seconds", json_integer(idle));
	return r;
}

/* The hex of n bytes into out (2n + 1 bytes). */
static void api_hex(const uint8_t *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* What two appliances compare to know they map every client the same way. */
static json_t *api_mapping(const struct manager_stats *st)
{
	char digest[2 * MAGLEV_DIGEST_BYTES + 1], key_id[2 * POOL_KEY_ID_BYTES + 1];

	api_hex(st->table_digest, sizeof(st->table_digest), digest);
	api_hex(st->key_id, sizeof(st->key_id), key_id);
	return json_pack("{s:s, s:s, s:I, s:I, s:I}", "table_digest", digest, "hash_key_id", key_id,
			 "table_size", (json_int_t)st->table_size, "table_proxies",
			 (json_int_t)st->table_proxies, "generation", (json_int_t)st->generation);
}

/* One appliance of the cluster; agreement is with this appliance's generation and digest. */
static json_t *api_cluster_node(const struct cluster_node *n, const struct cluster_node *self)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:b}", "node", n->name, "generation",
			      (json_int_t)n->generation, "table_digest", n->digest, "vrrp",
			      cluster_vrrp_name(n->vrrp), "agree",
			      cluster_node_agrees(n, self->generation, self->digest));

	if (n->address[0] != '\0')
		json_object_set_new(o, "address", json_string(n->address));
	json_object_set_new(o, "last_seen",
			    n->last_seen ? json_integer(n->last_seen) : json_null());
	json_object_set_new(o, "seen_seconds_ago",
			    n->last_seen ? json_integer(clock_wall_s() - n->last_seen)
					 : json_null());
	return o;
}

/* The cluster as this appliance sees it (droverctl cluster, GET /api/v1/cluster, /metrics). */
static json_t *api_cluster_json(struct manager *m)
{
	struct manager_cluster_view *v = malloc(sizeof(*v));
	json_t *o, *peers;

	if (v == NULL)
		return json_null();
	manager_cluster_view(m, v);
	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "role", cluster_role_name(v->role), "node",
		      v->self.name, "config_generation", (json_int_t)v->self.generation,
		      "table_digest", v->self.digest, "hash_key_id", v->hash_key_id, "vrrp",
		      cluster_vrrp_name(v->self.vrrp));
	if (v->role == CLUSTER_ROLE_REPLICA) {
		const struct cluster_primary *p = &v->primary;
		json_t *primary = p->node.last_seen ? api_cluster_node(&p->node, &v->self)
						    : json_pack("{s:b}", "agree", 0);

		json_object_set_new(primary, "url", json_string(v->primary_url));
		json_object_set_new(primary, "reachable", json_boolean(p->reachable));
		json_object_set_new(primary, "unreachable_since",
				    p->unreachable_since ? json_integer(p->unreachable_since)
							 : json_null());
		json_object_set_new(primary, "error", json_string(p->error));
		json_object_set_new(primary, "pulls", json_integer((json_int_t)p->pulls));
		json_object_set_new(primary, "applied", json_integer((json_int_t)p->applied));
		json_object_set_new(primary, "refused", json_integer((json_int_t)p->refused));
		json_object_set_new(primary, "last_applied",
				    p->last_applied ? json_integer(p->last_applied) : json_null());
		json_object_set_new(o, "primary", primary);
	}
	peers = json_array();
	for (size_t i = 0; i < v->peers.n; i++) {
		json_t *peer = api_cluster_node(&v->peers.peer[i], &v->self);

		json_object_set_new(peer, "role", json_string("replica"));
		json_array_append_new(peers, peer);
	}
	json_object_set_new(o, "peers", peers);
	if (v->role != CLUSTER_ROLE_STANDALONE) {
		const struct manager_deviation_view *d = &v->deviations;

		json_object_set_new(
		    o, "deviations",
		    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "exported",
			      (json_int_t)d->exported, "not_exported", (json_int_t)d->not_exported,
			      "sent", (json_int_t)d->sent, "exchanges", (json_int_t)d->exchanges,
			      "imported", (json_int_t)d->merged.imported, "refreshed",
			      (json_int_t)d->merged.refreshed, "kept", (json_int_t)d->merged.kept,
			      "refused_unknown", (json_int_t)d->merged.refused_unknown,
			      "refused_full", (json_int_t)d->merged.refused_full, "expired",
			      (json_int_t)d->merged.expired));
	}
	free(v);
	return o;
}

static json_t *api_cluster(struct api_call *c)
{
	static const char *const allowed[] = {NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	json_t *r;

	if (fail != NULL)
		return fail;
	r = api_ok();
	json_object_set_new(r, "cluster", api_cluster_json(c->m));
	return r;
}

/* keepalived's notify hook: droverctl cluster vrrp MASTER|BACKUP|FAULT|STOP. */
static json_t *api_cluster_vrrp(struct api_call *c)
{
	static const char *const allowed[] = {"state", NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	const char *text = NULL;
	enum cluster_vrrp state;

	if (fail != NULL || !api_get_string(c->req, "state", true, &text, &fail))
		return fail;
	if (!cluster_vrrp_parse(text, &state) || state == CLUSTER_VRRP_UNKNOWN)
		return api_error("state", "state: `%s' is not MASTER, BACKUP, FAULT or STOP", text);
	manager_cluster_vrrp_set(c->m, state, c->actor);
	json_t *r = api_ok();
	json_object_set_new(r, "cluster", api_cluster_json(c->m));
	return r;
}

/* Room for "NAME tc (XDP: REASON), " per interface, for a handful of them. */
#define API_FAST_PATHS_TEXT_MAX 1024

/*
 * The fast path's interfaces with the program that sees their clients
 * first: [{"interface", "path": "xdp"|"tc", "xdp_error": why XDP is not
 * there (the driver has no native XDP, or its device failed to send from
 * it), or null}].
 */
static json_t *api_fast_path_paths(struct api_call *c)
{
	int ifindex[FASTPATH_IFACES_MAX];
	char name[IF_NAMESIZE];
	json_t *paths = json_array();
	unsigned n = manager_fast_path_interfaces(c->m, ifindex, FASTPATH_IFACES_MAX);

	for (unsigned i = 0; i < n; i++) {
		int why = 0;
		enum fastpath_path path = manager_fast_path_interface_path(c->m, ifindex[i], &why);
		if (if_indextoname((unsigned)ifindex[i], name) == NULL)
			continue;
		json_array_append_new(
		    paths,
		    json_pack("{s:s, s:s, s:o}", "interface", name, "path",
			      fastpath_path_name(path), "xdp_error",
			      why == 0	     ? json_null()
			      : why == EPIPE ? json_string("its device failed to send from XDP")
					     : json_string(strerror(why))));
	}
	return paths;
}

/* The same as one line: "lan0 xdp, wan0 tc (XDP: REASON)", or "none". */
static const char *api_fast_path_paths_text(json_t *paths, char *buf, size_t len)
{
	size_t used = 0, i;
	json_t *p;

	buf[0] = '\0';
	json_array_foreach(paths, i, p)
	{
		const char *why = json_string_value(json_object_get(p, "xdp_error"));
		int w = snprintf(buf + used, len - used, "%s%s %s%s%s%s", used > 0 ? ", " : "",
				 json_string_value(json_object_get(p, "interface")),
				 json_string_value(json_object_get(p, "path")),
				 why != NULL ? " (XDP: " : "", why != NULL ? why : "",
				 why != NULL ? ")" : "");
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	return used > 0 ? buf : "none";
}

static json_t *api_stats(struct api_call *c)
{
	static const char *const allowed[] = {NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	char text[API_FAST_PATHS_TEXT_MAX];
	struct manager_stats st;
	json_t *global, *reasons, *r;

	if (fail != NULL)
		return fail;
	manager_stats(c->m, &st);
	global = json_object();
	for (unsigned i = 0; i < DP_COUNTER_COUNT; i++)
		json_object_set_new(global, st.counters[i].name,
				    json_integer((json_int_t)st.counters[i].value));
	reasons = json_object();
	for (unsigned e = 0; e < MANAGER_MALFORMED_REASONS; e++)
		json_object_set_new(reasons, st.malformed[e].name,
				    json_integer((json_int_t)st.malformed[e].value));
	json_object_set_new(global, "malformed_by_reason", reasons);
	json_object_set_new(global, "kernel_queue_full_drops",
			    json_integer((json_int_t)st.kernel_queue_full_drops));
	json_object_set_new(global, "kernel_socket_full_drops",
			    json_integer((json_int_t)st.kernel_socket_full_drops));
	json_object_set_new(global, "queues", json_integer(st.queues));
	/* "on", "off", or why it should be on and is not. */
	const char *fast = st.fast_path_on		   ? "on"
			   : st.fast_path_error[0] != '\0' ? st.fast_path_error
							   : "off";
	json_object_set_new(global, "fast_path", json_string(fast));
	json_object_set_new(global, "fast_clients", json_integer((json_int_t)st.fast_clients));
	json_t *paths = api_fast_path_paths(c);
	json_object_set_new(global, "fast_path_interfaces",
			    json_string(api_fast_path_paths_text(paths, text, sizeof(text))));
	r = api_proxy_list(c);
	json_object_set_new(r, "fast_path_paths", paths);
	json_object_set_new(r, "global", global);
	json_object_set_new(r, "mapping", api_mapping(&st));
	json_object_set_new(r, "cluster", api_cluster_json(c->m));
	return r;
}

static json_t *api_setting_json(const struct settings *s, const struct setting_def *d)
{
	char value[SETTINGS_VALUE_MAX];

	if (!settings_format(s, d->key, value, sizeof(value)))
		value[0] = '\0';
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "key", d->key, "value", value, "default",
			 d->default_value, "type", settings_type_name(d->type), "scope",
			 settings_scope_name(d->scope), "help", d->help);
}

static json_t *api_settings_list(struct api_call *c)
{
	static const char *const allowed[] = {NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	json_t *list;

	if (fail != NULL)
		return fail;
	list = json_array();
	for (size_t i = 0; i < settings_count(); i++)
		json_array_append_new(list,
				      api_setting_json(manager_settings(c->m), settings_def_at(i)));
	json_t *r = api_ok();
	json_object_set_new(r, "settings", list);
	return r;
}

static json_t *api_setting_one(struct api_call *c, const char *key)
{
	const struct setting_def *d = settings_find(key);

	if (d == NULL)
		return api_error("key", "unknown setting `%s'", key);
	json_t *r = api_ok();
	json_object_set_new(r, "setting", api_setting_json(manager_settings(c->m), d));
	return r;
}

static json_t *api_settings_get(struct api_call *c)
{
	static const char *const allowed[] = {"key", NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	const char *key = NULL;

	if (fail != NULL || !api_get_string(c->req, "key", true, &key, &fail))
		return fail;
	return api_setting_one(c, key);
}

static json_t *api_settings_set(struct api_call *c)
{
	static const char *const allowed[] = {"key", "value", NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	const char *key = NULL, *value = NULL;
	int ret;

	if (fail != NULL || !api_get_string(c->req, "key", true, &key, &fail) ||
	    !api_get_string(c->req, "value", true, &value, &fail))
		return fail;
	if (settings_find(key) == NULL)
		return api_error("key", "unknown setting `%s'", key);
	ret = manager_setting_set(c->m, key, value, c->actor, c->err, sizeof(c->err));
	if (ret == -EINVAL) {
		json_t *r = api_failed(ret, c->err);
		json_object_set_new(r, "field", json_string(key));
		return r;
	}
	if (ret < 0)
		return api_failed(ret, c->err);
	return api_setting_one(c, key);
}

static json_t *api_rules(struct api_call *c)
{
	static const char *const allowed[] = {NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	char doc[16384];

	if (fail != NULL)
		return fail;
	if (manager_render_rules(c->m, doc, sizeof(doc)) < 0)
		return api_error(NULL, "the ruleset is too large to show");
	json_t *r = api_ok();
	json_object_set_new(r, "rules", json_string(doc));
	json_object_set_new(r, "managed", json_boolean(manager_rules_managed(c->m)));
	return r;
}

static json_t *api_audit(struct api_call *c)
{
	static const char *const allowed[] = {"before", "limit", NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	int64_t before = 0, limit = 50;
	struct audit_entry *entries = NULL;
	size_t n = 0;

	if (fail != NULL || !api_get_int(c->req, "before", false, 0, INT64_MAX, &before, &fail) ||
	    !api_get_int(c->req, "limit", false, 1, API_AUDIT_PAGE_MAX, &limit, &fail))
		return fail;
	if (manager_audit_page(c->m, before, (size_t)limit, &entries, &n, c->err, sizeof(c->err)) <
	    0)
		return api_error(NULL, "%s", c->err);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    list, json_pack("{s:I, s:I, s:s, s:s, s:s}", "id", (json_int_t)entries[i].id,
				    "time", (json_int_t)entries[i].time, "actor", entries[i].actor,
				    "action", entries[i].action, "detail", entries[i].detail));
	free(entries);
	json_t *r = api_ok();
	json_object_set_new(r, "entries", list);
	return r;
}

/*
 * A ready shell script for one proxy (setup_script.h): the arguments this
 * appliance knows (its tunnel source towards the proxy, the client subnets,
 * the web ports, the path MTU) ahead of proxy/drover-proxy-setup.sh.
 */
static json_t *api_proxy_setup_script(struct api_call *c)
{
	static const char *const allowed[] = {"id", "mode", "intercept_port", "tunnel_address",
					      NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	const char *mode = "kernel", *tunnel = "192.0.0.8";
	int64_t id = 0, port = 3129;
	const struct proxy_config *p;
	char subnets[SETTINGS_VALUE_MAX], ports[SETTINGS_VALUE_MAX], peers[SETTINGS_VALUE_MAX];
	char filename[SETUP_SCRIPT_FILENAME_MAX];
	struct setup_script_config config = {0};
	const struct pool_target *target;
	uint16_t slot = 0;
	char *text = NULL;
	size_t len = 0;

	if (fail != NULL || !api_get_int(c->req, "id", true, 1, INT64_MAX, &id, &fail) ||
	    !api_get_string(c->req, "mode", false, &mode, &fail) ||
	    !api_get_string(c->req, "tunnel_address", false, &tunnel, &fail) ||
	    !api_get_int(c->req, "intercept_port", false, 1, 65535, &port, &fail))
		return fail;
	if (!setup_script_mode_parse(mode, &config.mode))
		return api_error("mode", "mode: `%s' is not kernel or decap", mode);
	if (!settings_parse_ipv4(tunnel, &config.tunnel_address))
		return api_error("tunnel_address", "tunnel_address: invalid IPv4 address `%s'",
				 tunnel);
	p = manager_proxy_find(c->m, id, &slot);
	if (p == NULL)
		return api_proxy_one(c, id);
	/* The same source and MTU the packet threads use for this proxy. */
	target = manager_proxy_target(c->m, slot);
	if (target == NULL || target->tunnel_mtu == 0)
		return api_error(NULL, "no route to proxy %s: cannot tell its tunnel source",
				 p->name);
	settings_format(manager_settings(c->m), "client_subnets", subnets, sizeof(subnets));
	settings_format(manager_settings(c->m), "ports", ports, sizeof(ports));
	settings_format(manager_settings(c->m), "ha_peers", peers, sizeof(peers));
	config.proxy_name = p->name;
	config.proxy_address = p->address;
	config.tunnel_source = target->source;
	if (target->flags & POOL_TARGET_IPV6)
		config.tunnel_source6 = target->source6;
	config.path_mtu = (uint16_t)(target->tunnel_mtu + ENCAP_OUTER_LEN);
	config.intercept_port = (uint16_t)port;
	config.client_subnets = subnets;
	config.ports = ports;
	config.peers = peers;
	config.squid_manager = p->squid_stats;
	if (setup_script_render(&config, &text, &len, c->err, sizeof(c->err)) < 0)
		return api_error(NULL, "proxy %s: no set-up script: %s", p->name, c->err);
	if (setup_script_filename(p->name, filename, sizeof(filename)) < 0) {
		free(text);
		return api_error(NULL, "proxy %s: no file name for its set-up script", p->name);
	}
	json_t *r = api_ok();
	json_object_set_new(r, "script", json_stringn(text, len));
	json_object_set_new(r, "filename", json_string(filename));
	free(text);
	return r;
}

/*
 * What `droverctl preflight' compares with the host: whether droverd manages
 * the rules, the fast path's state and the interfaces it is attached to, and
 * per proxy the tunnel source and MTU the packet threads use (0 when there is
 * no route to it). droverctl makes the checks itself, with its own
 * privileges: droverd may lack what some of them need, and a probe that waits
 * for an answer has no place on the control loop.
 */
static json_t *api_preflight(struct api_call *c)
{
	static const char *const allowed[] = {NULL};
	json_t *fail = api_check_fields(c->req, allowed);
	const struct settings *s = manager_settings(c->m);
	int ifindex[FASTPATH_IFACES_MAX];
	char name[IF_NAMESIZE], text6[INET6_ADDRSTRLEN];
	struct manager_proxy_view v;
	struct manager_stats st;
	json_t *r, *ifaces, *proxies;
	unsigned n;

	if (fail != NULL)
		return fail;
	manager_stats(c->m, &st);
	r = api_ok();
	json_object_set_new(r, "rules_managed", json_boolean(manager_rules_managed(c->m)));
	json_object_set_new(r, "fast_path_setting", json_boolean(s->fast_path));
	json_object_set_new(r, "fast_path",
			    json_string(st.fast_path_on			? "on"
					: st.fast_path_error[0] != '\0' ? st.fast_path_error
									: "off"));
	ifaces = json_array();
	n = manager_fast_path_interfaces(c->m, ifindex, FASTPATH_IFACES_MAX);
	for (unsigned i = 0; i < n; i++) {
		if (if_indextoname((unsigned)ifindex[i], name) != NULL)
			json_array_append_new(ifaces, json_string(name));
	}
	json_object_set_new(r, "fast_path_interfaces", ifaces);
	json_object_set_new(r, "ipv6_clients", json_boolean(s->nsubnets6 > 0));
	proxies = json_array();
	for (size_t i = 0; i < manager_proxy_count(c->m); i++) {
		const struct pool_target *t;
		json_t *o;

		manager_proxy_view_at(c->m, i, &v);
		t = v.slot != 0 ? manager_proxy_target(c->m, v.slot) : NULL;
		proxy_address6_text(&v.config, text6, sizeof(text6));
		o = json_pack("{s:I, s:s, s:o, s:s, s:o, s:i}", "id", (json_int_t)v.config.id,
			      "name", v.config.name, "address", api_address(v.config.address),
			      "admin", proxy_admin_name(v.config.admin), "tunnel_source",
			      t != NULL && t->tunnel_mtu != 0 ? api_address(t->source)
							      : json_null(),
			      "tunnel_mtu", t != NULL ? (int)t->tunnel_mtu : 0);
		json_object_set_new(o, "address6", text6[0] ? json_string(text6) : json_null());
		json_array_append_new(proxies, o);
	}
	json_object_set_new(r, "proxies", proxies);
	return r;
}

/* The request's only field, "path": an absolute file path. NULL with *fail set otherwise. */
static const char *api_path_only(struct api_call *c, json_t **fail)
{
	static const char *const allowed[] = {"path", NULL};
	const char *path = NULL;

	*fail = api_check_fields(c->req, allowed);
	if (*fail != NULL || !api_get_string(c->req, "path", true, &path, fail))
		return NULL;
	if (path[0] != '/') {
		*fail = api_error("path", "path: `%s' is not an absolute path", path);
		return NULL;
	}
	return path;
}

static json_t *api_backup(struct api_call *c)
{
	json_t *fail;
	const char *path = api_path_only(c, &fail);
	int64_t bytes = 0;
	int ret;

	if (path == NULL)
		return fail;
	ret = manager_backup(c->m, path, &bytes, c->err, sizeof(c->err));
	if (ret < 0)
		return api_failed(ret, c->err);
	json_t *r = api_ok();
	json_object_set_new(r, "path", json_string(path));
	json_object_set_new(r, "bytes", json_integer((json_int_t)bytes));
	json_object_set_new(r, "schema_version", json_integer(STORE_SCHEMA_VERSION));
	return r;
}

static json_t *api_restore(struct api_call *c)
{
	json_t *fail;
	const char *path = api_path_only(c, &fail);
	struct manager_restore_result res;
	int ret;

	if (path == NULL)
		return fail;
	ret = manager_restore(c->m, path, c->actor, &res, c->err, sizeof(c->err));
	if (ret < 0 && res.file_version == 0) {
		/* Refused: nothing was changed. */
		json_t *r = api_failed(ret, c->err);
		json_object_set_new(r, "field", json_string("path"));
		return r;
	}
	json_t *r = ret < 0 ? api_error(NULL, "restored, but not all of it is applied: %s", c->err)
			    : api_ok();
	json_object_set_new(r, "restored", json_true());
	json_object_set_new(r, "file_schema_version", json_integer(res.file_version));
	json_object_set_new(r, "settings_changed", json_integer(res.settings_changed));
	json_object_set_new(r, "proxies", json_integer((json_int_t)res.proxies));
	json_object_set_new(r, "restart_needed", json_boolean(res.restart_needed));
	if (res.restart_needed)
		json_object_set_new(r, "restart_reason", json_string(res.restart_reason));
	return r;
}

struct api_command {
	const char *name;
	json_t *(*handler)(struct api_call *c);
};

static const struct api_command api_commands[] = {
    {"proxy.list", api_proxy_list},
    {"proxy.get", api_proxy_get},
    {"proxy.add", api_proxy_add},
    {"proxy.set", api_proxy_set},
    {"proxy.del", api_proxy_del},
    {"lookup", api_lookup},
    {"stats", api_stats},
    {"settings.list", api_settings_list},
    {"settings.get", api_settings_get},
    {"settings.set", api_settings_set},
    {"rules", api_rules},
    {"audit", api_audit},
    {"proxy.setup_script", api_proxy_setup_script},
    {"preflight", api_preflight},
    {"backup", api_backup},
    {"restore", api_restore},
    {"cluster", api_cluster},
    {"cluster.vrrp", api_cluster_vrrp},
};

json_t *api_handle(struct manager *m, json_t *request, const char *actor)
{
	struct api_call call = {.m = m, .req = request, .actor = actor};
	const char *cmd;

	if (!json_is_object(request))
		return api_error(NULL, "a request must be a JSON object");
	cmd = json_string_value(json_object_get(request, "cmd"));
	if (cmd == NULL)
		return api_error("cmd", "missing field `cmd'");
	for (size_t i = 0; i < sizeof(api_commands) / sizeof(api_commands[0]); i++) {
		if (strcmp(cmd, api_commands[i].name) == 0) {
			json_t *r = api_commands[i].handler(&call);
			const char *kind = json_string_value(json_object_get(r, "kind"));

			/* A write a replica refused names its primary, for scripts too. */
			if (kind != NULL && strcmp(kind, "replica") == 0)
				json_object_set_new(
				    r, "primary",
				    json_string(manager_settings(m)->cluster_primary));
			return r;
		}
	}
	return api_error("cmd", "unknown command `%s'", cmd);
}
