/*
 * store_setting.c - the settings table: one key=value row per setting that
 * was ever set; a setting with no row has its default.
 *
 * Values are checked and made canonical by settings.c before they are
 * written, and read back through it, so this file knows no setting by name.
 */
#include "store_private.h"

#include <errno.h>
#include <stdio.h>

#include "log.h"

int store_settings_load(struct store *s, struct settings *out)
{
	struct settings loaded;
	sqlite3_stmt *stmt;
	int rc, ret;

	settings_defaults(&loaded);
	ret = store_prepare(s, "SELECT key, value FROM settings ORDER BY key", &stmt);
	if (ret < 0)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(stmt, 0);
		const char *value = (const char *)sqlite3_column_text(stmt, 1);
		char err[256];

		/*
		 * A value written by an older drover (or by hand) may no longer
		 * be valid; the default is safer than refusing to start.
		 */
		if (!settings_set(&loaded, key ? key : "", value ? value : "", err, sizeof(err)))
			log_warnx("database: ignoring stored setting: %s", err);
	}
	if (rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "load settings");
	sqlite3_finalize(stmt);
	if (ret < 0)
		return ret;
	*out = loaded;
	return 0;
}

/* The stored text for key, or the default when there is no row; value holds SETTINGS_VALUE_MAX. */
static int store_setting_read(struct store *s, const struct setting_def *def, char *value,
			      bool *stored)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	ret = store_prepare(s, "SELECT value FROM settings WHERE key = ?", &stmt);
	if (ret < 0)
		return ret;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, def->key, -1, SQLITE_STATIC));
	if (ret == 0) {
		rc = sqlite3_step(stmt);
		*stored = rc == SQLITE_ROW;
		if (rc == SQLITE_ROW)
			store_copy_text(value, SETTINGS_VALUE_MAX, sqlite3_column_text(stmt, 0));
		else if (rc == SQLITE_DONE)
			snprintf(value, SETTINGS_VALUE_MAX, "%s", def->default_value);
		else
			ret = store_sqlerr(s, rc, "read setting");
	}
	sqlite3_finalize(stmt);
	return ret;
}

int store_setting_set(struct store *s, const char *key, const char *value, const char *actor)
{
	char canonical[SETTINGS_VALUE_MAX], old[SETTINGS_VALUE_MAX],
	    detail[2 * SETTINGS_VALUE_MAX + 64];
	const struct setting_def *def;
	struct settings check;
	sqlite3_stmt *stmt;
	bool stored;
	int ret;

	settings_defaults(&check);
	if (!settings_set(&check, key, value, s->error, sizeof(s->error)))
		return -EINVAL;
	def = settings_find(key);
	/* Store the canonical text, so "80, 443" and "80,443" are the same value. */
	if (!settings_format(&check, def->key, canonical, sizeof(canonical))) {
		store_seterr(s, "%s: cannot format `%s'", def->key, value);
		return -EINVAL;
	}
	ret = store_begin(s);
	if (ret < 0)
		return ret;
	ret = store_setting_read(s, def, old, &stored);
	if (ret < 0)
		goto fail;
	ret = store_prepare(s,
			    "INSERT INTO settings (key, value) VALUES (?, ?)"
			    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
			    &stmt);
	if (ret < 0)
		goto fail;
	ret = store_bind_check(s, sqlite3_bind_text(stmt, 1, def->key, -1, SQLITE_STATIC) |
				      sqlite3_bind_text(stmt, 2, canonical, -1, SQLITE_TRANSIENT));
	if (ret == 0)
		ret = store_step_done(s, stmt, "store setting");
	sqlite3_finalize(stmt);
	if (ret < 0)
		goto fail;
	snprintf(detail, sizeof(detail), "set %s = %s (was %s%s)", def->key, canonical, old,
		 stored ? "" : ", the default");
	ret = store_audit_write(s, actor, "setting.set", detail);
	/* What a replica takes from its primary moves the generation; a node's own does not. */
	if (ret == 0 && def->scope == SETTING_SCOPE_CLUSTER)
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
 * What store_settings_load reads, with no leniency: a row that does not
 * parse, or values that break a rule between settings, refuse the file
 * instead of falling back to a default. For a file to restore, where
 * refusing costs nothing and a silent default would change what the
 * operator restored.
 */
int store_settings_verify(struct store *s, struct settings *out)
{
	char why[STORE_ERROR_MAX];
	struct settings loaded;
	sqlite3_stmt *stmt;
	int rc = SQLITE_DONE, ret;

	settings_defaults(&loaded);
	ret = store_prepare(s, "SELECT key, value FROM settings ORDER BY key", &stmt);
	if (ret < 0)
		return ret;
	while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (!store_column_is_text(stmt, 0) || !store_column_is_text(stmt, 1)) {
			store_seterr(s, "a setting whose key or value is not text");
			ret = -EINVAL;
			break;
		}
		if (!settings_set(&loaded, (const char *)sqlite3_column_text(stmt, 0),
				  (const char *)sqlite3_column_text(stmt, 1), why, sizeof(why))) {
			store_seterr(s, "a setting that does not parse: %s", why);
			ret = -EINVAL;
		}
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_sqlerr(s, rc, "verify settings");
	sqlite3_finalize(stmt);
	if (ret < 0)
		return ret;
	if (settings_check(&loaded, why, sizeof(why)) < 0) {
		store_seterr(s, "settings that do not go together: %s", why);
		return -EINVAL;
	}
	*out = loaded;
	return 0;
}
