/*
 * store.h - drover's configuration in SQLite.
 *
 * One database file (default /var/lib/drover/drover.db), WAL with
 * synchronous=FULL so an acknowledged write survives power loss. The schema
 * is versioned with PRAGMA user_version; each migration runs in its own
 * transaction; a database newer than this program is refused. Every change
 * and its audit-log row are written in one transaction.
 *
 * The functions live in one file per concept, named as the sections below:
 * store.c (the database), store_audit.c, store_proxy.c, store_setting.c,
 * store_hash_key.c, store_account.c, store_backup.c, store_health.c.
 *
 * Error contract: int functions return 0 or -errno; store_error() then holds
 * a message fit for the user (naming the field and value where one was bad).
 * Each change runs under the write lock (BEGIN IMMEDIATE) together with the
 * checks it depends on, because droverctl and the web UI may write to the
 * same file at once.
 */
#ifndef DROVER_STORE_H
#define DROVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"
#include "settings.h"

#define STORE_SCHEMA_VERSION 8
#define STORE_DEFAULT_PATH   "/var/lib/drover/drover.db"

struct store;

/* ---- The database (store.c) ---- */

/*
 * Opens (creating when missing, with its directory) and migrates the database.
 * Returns 0 and *out, or -errno with a message in err (a newer schema gives
 * -EPROTO: "database schema version 7 is newer than this drover (2)").
 */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
/* Closes the database and frees s; NULL is ignored. */
void store_close(struct store *s);
/* The message of the last failed call; valid until the next call on s. */
const char *store_error(const struct store *s);
/* The database file's absolute path (files kept beside it are found from it); "" in memory. */
const char *store_path(const struct store *s);
/* Reads the schema version of the open file (PRAGMA user_version) into *version. */
int store_schema_version(struct store *s, int *version);

/* ---- Audit log (store_audit.c) ---- */

struct audit_entry {
	int64_t id;
	int64_t time;	 /* unix seconds */
	char actor[64];	 /* "droverctl", "webui:admin", "droverd" */
	char action[64]; /* "proxy.add", "setting.set", ... */
	char detail[512];
};

/*
 * Appends one row for something done outside the store (a restart, a login).
 * action and detail are required (-EINVAL); an empty actor is "unknown".
 * Every row the store writes has its actor and detail passed through
 * log_escape (log.h): what a sign-in form typed is stored without a raw
 * control character, and cut to what a struct audit_entry holds.
 */
int store_audit_add(struct store *s, const char *actor, const char *action, const char *detail);
/* As store_audit_add, and the new row's id in *id, for a later store_audit_redetail. */
int store_audit_append(struct store *s, const char *actor, const char *action, const char *detail,
		       int64_t *id);
/*
 * Rewrites the detail of row id (a count of folded failures going up).
 * -ENOENT when the row is gone (pruned): the caller then appends a new one.
 */
int store_audit_redetail(struct store *s, int64_t id, const char *detail);
/*
 * Keeps the log bounded: removes the oldest rows beyond max_entries, and
 * rows older than oldest (unix seconds; 0 = none by age), at most
 * STORE_AUDIT_PRUNE_BATCH rows a call, so that a call stays cheap enough for
 * the control loop's tick even after a bound was lowered (the next calls
 * finish the job). *removed (unless NULL) counts the rows removed.
 */
#define STORE_AUDIT_PRUNE_BATCH 5000
int store_audit_prune(struct store *s, uint32_t max_entries, int64_t oldest, size_t *removed);
/* Newest first, ids < before_id (0 = from the newest); *out malloc'd. */
int store_audit_list(struct store *s, int64_t before_id, size_t limit, struct audit_entry **out,
		     size_t *count);

/* ---- Proxies (store_proxy.c) ---- */

/* *out is malloc'd (free it), ordered by id. -EIO when a stored row is damaged. */
int store_proxy_list(struct store *s, struct proxy_config **out, size_t *count);
/* Reads proxy id into *out; -ENOENT when there is none. */
int store_proxy_get(struct store *s, int64_t id, struct proxy_config *out);
/*
 * Adds p (name, address, address6, weight, admin); sets p->id and
 * p->version = 1. An empty name becomes "proxy-<id>". -EEXIST when the
 * name, address or address6 is taken, -EINVAL for a bad field.
 */
int store_proxy_add(struct store *s, struct proxy_config *p, const char *actor);
/*
 * Replaces name, address, address6, weight and admin of proxy p->id. expected_version 0
 * skips the check; otherwise a different stored version gives -ESTALE.
 * On success p->version is the new version. -ENOENT, -EEXIST, -EINVAL.
 */
int store_proxy_update(struct store *s, struct proxy_config *p, int64_t expected_version,
		       const char *actor);
/* Deletes proxy id; expected_version as for store_proxy_update. -ENOENT, -ESTALE. */
int store_proxy_delete(struct store *s, int64_t id, int64_t expected_version, const char *actor);

/* ---- Settings (store_setting.c) ---- */

/* Defaults, overlaid with every stored value (a stored value that no longer parses is logged and
 * skipped). */
int store_settings_load(struct store *s, struct settings *out);
/* Validates with settings_set, then stores key=value; -EINVAL (message in store_error) stores
 * nothing. */
int store_setting_set(struct store *s, const char *key, const char *value, const char *actor);

/* ---- Hash key (store_hash_key.c) ---- */

#define STORE_HASH_KEY_LEN 16 /* bytes of the keyed-hash secret */

/* The keyed-hash secret: loaded, or created from randombytes_buf on first use. */
int store_hash_key(struct store *s, uint8_t key[STORE_HASH_KEY_LEN]);

/* ---- Web UI accounts and API tokens, schema v4 and v5 (store_account.c) ---- */

/* password_hash is a libsodium crypto_pwhash_str string. */
#define STORE_USER_NAME_MAX 63
#define STORE_PWHASH_MAX    128 /* crypto_pwhash_STRBYTES */
#define STORE_TOKEN_HASH    32	/* bytes of crypto_generichash of an API token */

struct store_user {
	int64_t id;
	char name[STORE_USER_NAME_MAX + 1];
	char password_hash[STORE_PWHASH_MAX];
	bool must_change; /* the password was generated or given at install: change it first */
};

struct store_token {
	int64_t id;
	char user[STORE_USER_NAME_MAX + 1];
	char name[STORE_USER_NAME_MAX + 1];
	int64_t created_at; /* unix seconds */
	int64_t expires_at; /* unix seconds; 0: never */
};

/* -ENOENT when there is no such user. */
int store_user_get(struct store *s, const char *name, struct store_user *out);
/* Adds u (name, password_hash, must_change) and sets u->id; -EEXIST when the name is taken. */
int store_user_add(struct store *s, struct store_user *u, const char *actor);
/*
 * Replaces the password of user name and, in the same transaction, revokes
 * every API token of theirs: whoever held the old password may have made
 * them. -ENOENT when there is no such user.
 */
int store_user_set_password(struct store *s, const char *name, const char *password_hash,
			    bool must_change, const char *actor);

/*
 * API tokens are stored only as a hash: store_token_add keeps hash for user
 * (named name for people), valid until expires_at (unix seconds, 0: never;
 * -EINVAL when negative), and sets *id; store_token_find gives the token
 * whose hash matches, expired or not, -ENOENT otherwise: whether an expired
 * token still counts is the caller's to decide.
 */
int store_token_add(struct store *s, const char *user, const char *name,
		    const uint8_t hash[STORE_TOKEN_HASH], int64_t expires_at, const char *actor,
		    int64_t *id);
int store_token_find(struct store *s, const uint8_t hash[STORE_TOKEN_HASH],
		     struct store_token *out);
/* Every token, oldest first; *out malloc'd. */
int store_token_list(struct store *s, struct store_token **out, size_t *count);
/* -ENOENT when there is no such token. */
int store_token_delete(struct store *s, int64_t id, const char *actor);

/* ---- Last known health of each proxy on this appliance (store_health.c) ---- */

/* A proxy's last up/down verdict, and the address it was probed at. */
struct store_health {
	int64_t proxy_id;
	uint32_t address; /* network order */
	bool up;
	int64_t changed_at; /* unix seconds */
};

/*
 * Records that proxy proxy_id, probed at address, is now up or down. One
 * small write, meant for a change of verdict only (the caller remembers what
 * it stored; a probe that changes nothing writes nothing). No audit row: the
 * caller logs the change itself. -ENOENT when there is no such proxy.
 */
int store_health_set(struct store *s, int64_t proxy_id, uint32_t address, bool up);
/* Forgets proxy_id's verdict (its health starts again from nothing); none stored is fine. */
int store_health_forget(struct store *s, int64_t proxy_id);
/* Every stored verdict, by proxy id; *out malloc'd (NULL when none). */
int store_health_list(struct store *s, struct store_health **out, size_t *count);

/* ---- Configuration generation (store_generation.c) ---- */

/*
 * The replicated configuration's generation: one more at every change of a
 * proxy, a cluster-scoped setting or the hash key, and at every restore,
 * written in the change's own transaction; a replica takes its primary's.
 * 0 on a database that never held one.
 */
int store_generation(struct store *s, uint64_t *generation);

/* ---- Backup and restore (store_backup.c) ---- */

/*
 * Writes a consistent copy of the database to path with SQLite's backup API
 * (one read transaction, so writes before it are all in and writes after it
 * none). The copy is made in a temporary file beside path (mode 0600, rollback
 * journal, fsync'd) and renamed over path, so path never holds half a copy.
 * Sets *bytes to the size written. -errno with the reason in store_error.
 */
int store_backup(struct store *s, const char *path, int64_t *bytes);

/*
 * A copy of the configuration for a replica (served by the primary): a
 * backup as store_backup makes it, then stripped of what belongs to this
 * appliance alone: the audit log, the proxies' health, the web UI accounts
 * and API tokens, the node-scoped settings. Sets *bytes and *generation (the
 * generation inside the copy, so the two always go together).
 */
int store_snapshot(struct store *s, const char *path, int64_t *bytes, uint64_t *generation);

/* What a restore takes from its file. */
enum store_restore_mode {
	/*
	 * An operator's restore (droverctl restore): the whole configuration of
	 * the file, accounts and every setting included; the generation moves
	 * past both the live one and the file's.
	 */
	STORE_RESTORE_FILE,
	/*
	 * A replica applying its primary's snapshot: the cluster-scoped part
	 * only (this appliance keeps its node-scoped settings, its accounts and
	 * tokens, its audit log and health), and the file's generation, which
	 * must be the one expected.
	 */
	STORE_RESTORE_REPLICA,
};

struct store_restore_info {
	int file_version; /* schema version of the file before migration */
	bool hash_key_changed;
	uint64_t generation; /* the configuration generation now stored */
};

/*
 * Replaces the whole database with the copy in path, through the backup API,
 * in one write transaction: readers see the old or the new contents, never a
 * mix. The file is untrusted: it is opened read-only with SQLite's defensive
 * settings (defensive mode, trusted_schema off, no triggers, views or
 * extensions) and checked whole before anything live is touched. Refused with
 * nothing changed (database, audit log): -EIO when PRAGMA integrity_check is
 * not clean; -EPROTO when its schema is newer than this drover; -EINVAL when
 * its schema is not exactly the one drover made for its version (a trigger,
 * view, index or table of its own, or one of ours defined differently: the
 * message names it), or when a row fails the check a live change of it would
 * pass (store_private.h's *_verify: proxies, settings one by one and
 * settings_check, accounts, hash key). An older file is migrated (in memory)
 * before it goes in. Control characters quoted from the file are written
 * \xHH in the message. An audit row records the restore. The audit log and
 * the proxies' last known health belong to this appliance, not to the
 * configuration: the live ones are kept (health only for a proxy of the file
 * with the same id and address), the file's are ignored.
 */
int store_restore(struct store *s, const char *path, const char *actor,
		  struct store_restore_info *info);

/*
 * store_restore in mode (enum store_restore_mode). In STORE_RESTORE_REPLICA
 * a file whose generation is not expect_generation is refused (-EINVAL), as
 * is anything store_restore refuses; nothing is changed then.
 */
int store_restore_as(struct store *s, const char *path, const char *actor,
		     enum store_restore_mode mode, uint64_t expect_generation,
		     struct store_restore_info *info);

#endif
