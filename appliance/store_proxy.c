/*
 * store_proxy.c - the proxies table: the pool's members as configured.
 *
 * Every field is checked before the write lock is taken, so a bad request
 * costs no lock; names and addresses are checked for clashes under the lock
 * (store_proxy_unique) so the user learns which field clashed. Updates and
 * deletes carry the version the caller read, and a newer stored version
 * refuses the write (-ESTALE): two administrators never overwrite each other
 * unseen.
 */
#include "clock.h"
#include "store_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Text of a network-order IPv4 address; buf holds INET_ADDRSTRLEN. */
static const char *store_proxy_address_text(uint32_t addr, char *buf)
{
	struct in_addr a = {.s_addr = addr};

	if (inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN) == NULL)
		snprintf(buf, INET_ADDRSTRLEN, "?");
	return buf;
}

/* A proxy address must reach one real host: not "this network", loopback, multicast or broadcast.
 */
static const char *store_proxy_address_problem(uint32_t addr)
{
	uint32_t h = ntohl(addr);

	if ((h >> IN_CLASSA_NSHIFT) == 0)
		return "is not a host address";
	if ((h >> IN_CLASSA_NSHIFT) == IN_LOOPBACKNET)
		return "is a loopback address";
	if (IN_MULTICAST(h))
		return "is a multicast address";
	if (h == INADDR_BROADCAST)
		return "is the broadcast address";
	return NULL;
}

/* Validates every field of p; an empty name passes only when allow_empty_name. */
static int store_proxy_check(struct store *s, const struct proxy_config *p, bool allow_empty_name)
{
	char text[INET_ADDRSTRLEN];
	const char *problem;

	if (strnlen(p->name, sizeof(p->name)) == sizeof(p->name)) {
		store_seterr(s, "name: longer than %d characters", PROXY_NAME_MAX);
		return -EINVAL;
	}
	if (!(allow_empty_name && p->name[0] == '\0') && !proxy_name_valid(p->name)) {
		store_seterr(
		    s, "name: invalid proxy name `%s' (1..%d characters from A-Z a-z 0-9 . _ -)",
		    p->name, PROXY_NAME_MAX);
		return -EINVAL;
	}
	problem = store_proxy_address_problem(p->address);
	if (problem != NULL) {
		store_seterr(s, "address: `%s' %s", store_proxy_address_text(p->address, text),
			     problem);
		return -EINVAL;
	}
	if (proxy_has_address6(p)) {
		char text6[INET6_ADDRSTRLEN];
		uint8_t again[PROXY_ADDRESS6_LEN];
		const char *why6 = NULL;

		/* What the API parses is checked again: a file to restore was parsed by nobody. */
		proxy_address6_text(p, text6, sizeof(text6));
		if (!proxy_address6_parse(text6, again, &why6)) {
			store_seterr(s, "address6: `%s' %s", text6, why6);
			return -EINVAL;
		}
	}
	if (p->weight > PROXY_WEIGHT_MAX) {
		store_seterr(s, "weight: `%u' is above the maximum %d", p->weight,
			     PROXY_WEIGHT_MAX);
		return -EINVAL;
	}
	if (!proxy_probe_valid(p)) {
		store_seterr(s, "probe: invalid probe kind %u", (unsigned int)p->probe);
		return -EINVAL;
	}
	if ((unsigned int)p->admin > PROXY_ADMIN_DISABLED) {
		store_seterr(s, "admin: invalid state %d (enabled, drain or disabled)",
			     (int)p->admin);
		return -EINVAL;
	}
	return 0;
}

#define STORE_PROXY_COLUMNS                                                                        \
	"id, name, address, weight, admin, version, probe, address6, squid_stats"

/* Reads one row selected with STORE_PROXY_COLUMNS; a row that does not parse is -EIO. */
static int store_proxy_row(struct store *s, sqlite3_stmt *stmt, struct proxy_config *p)
{
	const char *name = (const char *)sqlite3_column_text(stmt, 1);
	const char *address = (const char *)sqlite3_column_text(stmt, 2);
	const char *admin = (const char *)sqlite3_column_text(stmt, 4);
	sqlite3_int64 weight = sqlite3_column_int64(stmt, 3);
	const char *probe = (const char *)sqlite3_column_text(stmt, 6);
	const char *address6 = (const char *)sqlite3_column_text(stmt, 7);
	sqlite3_int64 squid_stats = sqlite3_column_int64(stmt, 8);

	memset(p, 0, sizeof(*p));
	/* NULL: no IPv6 address; a stored one is never "" or "none". */
	if (address6 != NULL &&
	    (address6[0] == '\0' || !proxy_address6_parse(address6, p->address6, NULL) ||
	     !proxy_has_address6(p))) {
		store_seterr(s, "database: stored proxy %lld has a damaged address6",
			     (long long)sqlite3_column_int64(stmt, 0));
		return -EIO;
	}
	/* NULL follows the pool's kind; a stored override is always a kind's name. */
	if (probe != NULL && (!proxy_probe_parse(probe, p) || !p->probe_override)) {
		store_seterr(s, "database: stored proxy %lld has an unknown probe kind",
			     (long long)sqlite3_column_int64(stmt, 0));
		return -EIO;
	}
	p->id = sqlite3_column_int64(stmt, 0);
	p->version = sqlite3_column_int64(stmt, 5);
	if (name == NULL || strlen(name) > PROXY_NAME_MAX || address == NULL ||
	    !settings_parse_ipv4(address, &p->address) || admin == NULL ||
	    !proxy_admin_parse(admin, &p->admin) || weight < 0 || weight > PROXY_WEIGHT_MAX ||
	    (squid_stats != 0 && squid_stats != 1)) {
		store_seterr(s, "database: stored proxy %lld is damaged", (long long)p->id);
		return -EIO;
	}
	memcpy(p->name, name, strlen(name) + 1);
	p->weight = (uint32_t)weight;
	p->squid_stats = squid_stats == 1;
	return 0;
}

/* The probe column: NULL follows the pool's kind. */
static int store_proxy_bind_probe(sqlite3_stmt *stmt, int col, const struct proxy_config *p)
{
	if (!p->probe_override)
		return sqlite3_bind_null(stmt, col);
	return sqlite3_bind_text(stmt, col, proxy_probe_name(p), -1, SQLITE_STATIC);
}

/* The address6 column: NULL when the proxy has no IPv6 address. */
static int store_proxy_bind_address6(sqlite3_stmt *stmt, int col, const struct proxy_config *p)
{
	char text[INET6_ADDRSTRLEN];

	if (!proxy_has_address6(p))
		return sqlite3_bind_null(stmt, col);
	return sqlite3_bind_text(stmt, col, proxy_address6_text(p, text, sizeof(text)), -1,
				 SQLITE_TRANSIENT);
}

int store_proxy_get(struct store *s, int64_t id, struct proxy_config *p)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	ret = store_prepare(s, "SELECT " STORE_PROXY_COLUMNS " FROM proxies WHERE id = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, id));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			ret = store_proxy_row(s, stmt, p);
		} else if (rc == SQLITE_DONE) {
			store_seterr(s, "no proxy %lld", (long long)id);
			ret = -ENOENT;
		} else {
			ret = store_sqlerr(s, rc, "read proxy");
		}
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_proxy_list(struct store *s, struct proxy_config **out, size_t *count)
{
	struct proxy_config *list = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc = SQLITE_DONE, ret;

	*out = NULL;
	*count = 0;
	ret = store_prepare(s, "SELECT " STORE_PROXY_COLUMNS " FROM proxies ORDER BY id", &stmt);
	if (ret < 0)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ret = store_grow(s, (void **)&list, &cap, n, sizeof(*list));
		if (ret < 0)
			break;
		ret = store_proxy_row(s, stmt, &list[n]);
		if (ret < 0)
			break;
		n++;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "list proxies");
	sqlite3_finalize(stmt);
	if (ret < 0) {
		free(list);
		return ret;
	}
	*out = list;
	*count = n;
	return 0;
}

/*
 * Refuses a name or address another proxy (not except_id) already has, with
 * a message that says which. Checked before writing so the user learns the
 * field; the UNIQUE constraints remain the last word.
 */
static int store_proxy_unique(struct store *s, const struct proxy_config *p, const char *address,
			      int64_t except_id)
{
	static const char *const columns[] = {"name", "address", "address6"};
	char address6[INET6_ADDRSTRLEN];
	const char *values[] = {p->name, address,
				proxy_address6_text(p, address6, sizeof(address6))};

	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
		char sql[96];
		sqlite3_stmt *stmt;
		int rc, ret;

		if (values[i][0] == '\0')
			continue;
		snprintf(sql, sizeof(sql), "SELECT id FROM proxies WHERE %s = ? AND id != ?",
			 columns[i]);
		ret = store_prepare(s, sql, &stmt);
		if (ret < 0)
			return ret;
		ret = store_bind_check(s,
				       sqlite3_bind_text(stmt, 1, values[i], -1, SQLITE_TRANSIENT) |
					   sqlite3_bind_int64(stmt, 2, except_id));
		if (ret == 0) {
			rc = sqlite3_step(stmt);
			if (rc == SQLITE_ROW) {
				store_seterr(s, "%s: `%s' is already used by proxy %lld",
					     columns[i], values[i],
					     (long long)sqlite3_column_int64(stmt, 0));
				ret = -EEXIST;
			} else if (rc != SQLITE_DONE) {
				ret = store_sqlerr(s, rc, "check proxy");
			}
		}
		sqlite3_finalize(stmt);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Gives a nameless new proxy "proxy-<id>", unless someone already took that name. */
static int store_proxy_default_name(struct store *s, struct proxy_config *p)
{
	sqlite3_stmt *stmt;
	int ret;

	snprintf(p->name, sizeof(p->name), "proxy-%lld", (long long)p->id);
	ret = store_proxy_unique(s, p, "", p->id);
	if (ret < 0)
		return ret;
	ret = store_prepare(s, "UPDATE proxies SET name = ? WHERE id = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_TRANSIENT) |
				      sqlite3_bind_int64(stmt, 2, p->id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "name proxy");
	sqlite3_finalize(stmt);
	return ret;
}

int store_proxy_add(struct store *s, struct proxy_config *p, const char *actor)
{
	char address[INET_ADDRSTRLEN], detail[256];
	sqlite3_stmt *stmt = NULL;
	bool unnamed = p->name[0] == '\0';
	int64_t now = clock_wall_s();
	int ret;

	ret = store_proxy_check(s, p, true);
	if (ret < 0)
		return ret;
	store_proxy_address_text(p->address, address);
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_proxy_unique(s, p, address, 0);
	if (ret < 0)
		goto fail;
	/*
	 * A nameless proxy is inserted under a placeholder that proxy_name_valid
	 * never accepts (so it cannot clash), then renamed once its id is known.
	 */
	ret =
	    store_prepare(s,
			  "INSERT INTO proxies (name, address, weight, admin, version, created_at,"
			  " updated_at, probe, address6, squid_stats)"
			  " VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
			  &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, unnamed ? "<new>" : p->name, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_text(stmt, 2, address, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_int64(stmt, 3, p->weight) |
		   sqlite3_bind_text(stmt, 4, proxy_admin_name(p->admin), -1, SQLITE_STATIC) |
		   sqlite3_bind_int64(stmt, 5, now) | sqlite3_bind_int64(stmt, 6, now) |
		   store_proxy_bind_probe(stmt, 7, p) | store_proxy_bind_address6(stmt, 8, p) |
		   sqlite3_bind_int(stmt, 9, p->squid_stats ? 1 : 0));
	if (ret == 0)
		ret = store_step_done(s, stmt, "add proxy");
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	p->id = sqlite3_last_insert_rowid(s->db);
	if (unnamed) {
		ret = store_proxy_default_name(s, p);
		if (ret < 0)
			goto fail;
	}
	{
		char address6[INET6_ADDRSTRLEN];

		proxy_address6_text(p, address6, sizeof(address6));
		snprintf(detail, sizeof(detail), "added proxy %lld %s %s%s%s weight %u %s%s",
			 (long long)p->id, p->name, address, address6[0] ? " address6 " : "",
			 address6, p->weight, proxy_admin_name(p->admin),
			 p->squid_stats ? " squid_stats on" : "");
	}
	ret = store_audit_write(s, actor, "proxy.add", detail);
	if (ret == 0)
		ret = store_generation_bump(s);
	if (ret < 0)
		goto fail;
	ret = store_commit(s);
	if (ret < 0)
		goto fail;
	p->version = 1;
	return 0;
fail:
	store_rollback(s);
	if (unnamed)
		p->name[0] = '\0';
	p->id = 0;
	return ret;
}

/* Refuses a write based on an old read: expected 0 means "whatever is there". */
static int store_proxy_version_check(struct store *s, const struct proxy_config *stored,
				     int64_t expected_version)
{
	if (expected_version != 0 && stored->version != expected_version) {
		store_seterr(
		    s, "proxy %lld was changed by someone else (version %lld, you sent %lld)",
		    (long long)stored->id, (long long)stored->version, (long long)expected_version);
		return -ESTALE;
	}
	return 0;
}

/* Appends one ", "-separated change to buf; a full buffer just truncates the description. */
static void store_proxy_diff_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void store_proxy_diff_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used > 0 && *used < len) {
		n = snprintf(buf + *used, len - *used, ", ");
		if (n > 0)
			*used += (size_t)n;
	}
	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
}

/* Describes what an update changes, e.g. "weight 100 -> 50, admin enabled -> drain". */
static void store_proxy_diff(const struct proxy_config *old, const struct proxy_config *new,
			     char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	size_t used = 0;

	buf[0] = '\0';
	if (strcmp(old->name, new->name) != 0)
		store_proxy_diff_add(buf, len, &used, "name %s -> %s", old->name, new->name);
	if (old->address != new->address)
		store_proxy_diff_add(buf, len, &used, "address %s -> %s",
				     store_proxy_address_text(old->address, a),
				     store_proxy_address_text(new->address, b));
	if (memcmp(old->address6, new->address6, sizeof(old->address6)) != 0) {
		char a6[INET6_ADDRSTRLEN], b6[INET6_ADDRSTRLEN];

		proxy_address6_text(old, a6, sizeof(a6));
		proxy_address6_text(new, b6, sizeof(b6));
		store_proxy_diff_add(buf, len, &used, "address6 %s -> %s", a6[0] ? a6 : "none",
				     b6[0] ? b6 : "none");
	}
	if (old->weight != new->weight)
		store_proxy_diff_add(buf, len, &used, "weight %u -> %u", old->weight, new->weight);
	if (old->admin != new->admin)
		store_proxy_diff_add(buf, len, &used, "admin %s -> %s",
				     proxy_admin_name(old->admin), proxy_admin_name(new->admin));
	if (strcmp(proxy_probe_name(old), proxy_probe_name(new)) != 0)
		store_proxy_diff_add(buf, len, &used, "probe %s -> %s", proxy_probe_name(old),
				     proxy_probe_name(new));
	if (old->squid_stats != new->squid_stats)
		store_proxy_diff_add(buf, len, &used, "squid_stats %s -> %s",
				     old->squid_stats ? "on" : "off",
				     new->squid_stats ? "on" : "off");
	if (used == 0)
		snprintf(buf, len, "no field changed");
}

int store_proxy_update(struct store *s, struct proxy_config *p, int64_t expected_version,
		       const char *actor)
{
	char address[INET_ADDRSTRLEN], changes[256], detail[512];
	struct proxy_config stored;
	sqlite3_stmt *stmt;
	int ret;

	ret = store_proxy_check(s, p, false);
	if (ret < 0)
		return ret;
	store_proxy_address_text(p->address, address);
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_proxy_get(s, p->id, &stored);
	if (ret < 0)
		goto fail;
	ret = store_proxy_version_check(s, &stored, expected_version);
	if (ret < 0)
		goto fail;
	ret = store_proxy_unique(s, p, address, p->id);
	if (ret < 0)
		goto fail;
	ret = store_prepare(s,
			    "UPDATE proxies SET name = ?, address = ?, weight = ?, admin = ?,"
			    " version = version + 1, updated_at = ?, probe = ?, address6 = ?,"
			    " squid_stats = ? WHERE id = ?",
			    &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(
	    s, sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_text(stmt, 2, address, -1, SQLITE_TRANSIENT) |
		   sqlite3_bind_int64(stmt, 3, p->weight) |
		   sqlite3_bind_text(stmt, 4, proxy_admin_name(p->admin), -1, SQLITE_STATIC) |
		   sqlite3_bind_int64(stmt, 5, (sqlite3_int64)clock_wall_s()) |
		   store_proxy_bind_probe(stmt, 6, p) | store_proxy_bind_address6(stmt, 7, p) |
		   sqlite3_bind_int(stmt, 8, p->squid_stats ? 1 : 0) |
		   sqlite3_bind_int64(stmt, 9, p->id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "update proxy");
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	store_proxy_diff(&stored, p, changes, sizeof(changes));
	snprintf(detail, sizeof(detail), "updated proxy %lld %s: %s", (long long)p->id, p->name,
		 changes);
	ret = store_audit_write(s, actor, "proxy.update", detail);
	if (ret == 0)
		ret = store_generation_bump(s);
	if (ret < 0)
		goto fail;
	ret = store_commit(s);
	if (ret < 0)
		goto fail;
	p->version = stored.version + 1;
	return 0;
fail:
	store_rollback(s);
	return ret;
}

int store_proxy_delete(struct store *s, int64_t id, int64_t expected_version, const char *actor)
{
	char address[INET_ADDRSTRLEN], detail[256];
	struct proxy_config stored;
	sqlite3_stmt *stmt;
	int ret;

	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_proxy_get(s, id, &stored);
	if (ret < 0)
		goto fail;
	ret = store_proxy_version_check(s, &stored, expected_version);
	if (ret < 0)
		goto fail;
	ret = store_prepare(s, "DELETE FROM proxies WHERE id = ?", &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "delete proxy");
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "deleted proxy %lld %s %s", (long long)id, stored.name,
		 store_proxy_address_text(stored.address, address));
	ret = store_audit_write(s, actor, "proxy.delete", detail);
	if (ret == 0)
		ret = store_generation_bump(s);
	if (ret < 0)
		goto fail;
	ret = store_commit(s);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	store_rollback(s);
	return ret;
}

/*
 * Every row through the checks store_proxy_add makes, plus the column types
 * (SQLite would take "5x" as weight 5 and cut a name at a NUL): a row from
 * a file to restore is treated as a change nobody checked yet.
 */
int store_proxy_verify(struct store *s)
{
	static const int text_columns[] = {1, 2, 4};
	sqlite3_stmt *stmt;
	int rc = SQLITE_DONE, ret;

	ret = store_prepare(s, "SELECT " STORE_PROXY_COLUMNS " FROM proxies ORDER BY id", &stmt);
	if (ret < 0)
		return ret;
	while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		long long id = (long long)sqlite3_column_int64(stmt, 0);
		struct proxy_config p;
		char why[STORE_ERROR_MAX];
		bool typed = sqlite3_column_type(stmt, 3) == SQLITE_INTEGER &&
			     sqlite3_column_type(stmt, 5) == SQLITE_INTEGER &&
			     (sqlite3_column_type(stmt, 6) == SQLITE_NULL ||
			      store_column_is_text(stmt, 6)) &&
			     (sqlite3_column_type(stmt, 7) == SQLITE_NULL ||
			      store_column_is_text(stmt, 7)) &&
			     sqlite3_column_type(stmt, 8) == SQLITE_INTEGER;

		for (size_t i = 0; i < sizeof(text_columns) / sizeof(text_columns[0]); i++)
			typed = typed && store_column_is_text(stmt, text_columns[i]);
		if (!typed) {
			store_seterr(s, "proxy %lld: a column holds a value of the wrong type", id);
			ret = -EINVAL;
			break;
		}
		ret = store_proxy_row(s, stmt, &p);
		/* A value out of its range does not even read: say which fields to look at. */
		if (ret < 0)
			store_seterr(s, "name, address, address6, weight, admin, probe or "
					"squid_stats out of its "
					"range");
		else
			ret = store_proxy_check(s, &p, false);
		if (ret < 0) {
			snprintf(why, sizeof(why), "%s", s->error);
			store_seterr(s, "proxy %lld: %s", id, why);
			ret = -EINVAL;
		}
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "verify proxies");
	sqlite3_finalize(stmt);
	return ret;
}
