/*
 * store_health.c - the proxy_health table: each proxy's last up/down verdict
 * on this appliance, read once at start so a restarted droverd takes clients
 * at once on what it knew, and written only when a verdict changes.
 *
 * Health is this appliance's view, not configuration: no audit row (the
 * manager logs the change itself), no version, and a restore keeps the live
 * rows rather than the file's (store_backup.c).
 */
#include "clock.h"
#include "store_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_health_set(struct store *s, int64_t proxy_id, uint32_t address, bool up)
{
	struct in_addr a = {.s_addr = address};
	char text[INET_ADDRSTRLEN];
	sqlite3_stmt *stmt;
	int rc, ret;

	if (inet_ntop(AF_INET, &a, text, sizeof(text)) == NULL) {
		store_seterr(s, "health: cannot format the address of proxy %lld",
			     (long long)proxy_id);
		return -EINVAL;
	}
	ret = store_prepare(s,
			    "INSERT INTO proxy_health (proxy_id, address, up, changed_at)"
			    " VALUES (?, ?, ?, ?) ON CONFLICT(proxy_id) DO UPDATE SET"
			    " address = excluded.address, up = excluded.up,"
			    " changed_at = excluded.changed_at",
			    &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, proxy_id) |
				      sqlite3_bind_text(stmt, 2, text, -1, SQLITE_TRANSIENT) |
				      sqlite3_bind_int(stmt, 3, up ? 1 : 0) |
				      sqlite3_bind_int64(stmt, 4, clock_wall_s()));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		if ((rc & 0xff) == SQLITE_CONSTRAINT) {
			/* The only constraint a valid row can break: the proxy is gone. */
			store_seterr(s, "health: no proxy %lld", (long long)proxy_id);
			ret = -ENOENT;
		} else if (rc != SQLITE_DONE) {
			ret = store_sqlerr(s, rc, "store proxy health");
		}
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_health_forget(struct store *s, int64_t proxy_id)
{
	sqlite3_stmt *stmt;
	int ret;

	ret = store_prepare(s, "DELETE FROM proxy_health WHERE proxy_id = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_int64(stmt, 1, proxy_id));
	if (ret == 0)
		ret = store_step_done(s, stmt, "forget proxy health");
	sqlite3_finalize(stmt);
	return ret;
}

int store_health_list(struct store *s, struct store_health **out, size_t *count)
{
	struct store_health *list = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc, ret;

	*out = NULL;
	*count = 0;
	ret = store_prepare(s,
			    "SELECT proxy_id, address, up, changed_at FROM proxy_health"
			    " ORDER BY proxy_id",
			    &stmt);
	if (ret < 0)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *address = (const char *)sqlite3_column_text(stmt, 1);
		struct store_health h = {
		    .proxy_id = sqlite3_column_int64(stmt, 0),
		    .up = sqlite3_column_int(stmt, 2) != 0,
		    .changed_at = sqlite3_column_int64(stmt, 3),
		};

		/* A row that does not parse is not known health: skipped, never fatal. */
		if (address == NULL || !settings_parse_ipv4(address, &h.address))
			continue;
		ret = store_grow(s, (void **)&list, &cap, n, sizeof(*list));
		if (ret < 0)
			break;
		list[n++] = h;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "read proxy health");
	sqlite3_finalize(stmt);
	if (ret < 0) {
		free(list);
		return ret;
	}
	*out = list;
	*count = n;
	return 0;
}
