/*
 * account.h - the web UI's accounts: the admin created at first start,
 * Argon2id password checks and changes, API tokens, and the audit lines the
 * web UI writes about them. The one door from the web UI to the store: the
 * rest of webui/ sees only the types below, never the store's.
 *
 * Passwords are hashed with libsodium's crypto_pwhash_str (Argon2id) at the
 * interactive limits. That costs tens of milliseconds, so while droverd
 * serves, the hashing itself is hasher.h's, on its worker threads: this
 * file gives the stored hash to check against and stores a new one. Only
 * account_init hashes here, once, before the loop serves anyone. Tokens are
 * "drv_" and 64 hex digits from randombytes_buf; only their BLAKE2b hash is
 * stored (fast on purpose: a token is long and random, nothing to guess).
 */
#ifndef DROVER_ACCOUNT_H
#define DROVER_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define ACCOUNT_ADMIN	     "admin"
#define ACCOUNT_PASSWORD_MIN 10
#define ACCOUNT_PASSWORD_MAX 256
#define ACCOUNT_TOKEN_PREFIX "drv_"
#define ACCOUNT_TOKEN_TEXT   (4 + 64 + 1)
#define ACCOUNT_INITIAL_FILE "initial-admin-password"
#define ACCOUNT_NAME_MAX     64 /* bytes of a user or token name, with its NUL */

/* The longest life a token may be given, in days. */
#define ACCOUNT_TOKEN_DAYS_MAX 3650

/* A user, as much of it as a sign-in needs. */
struct account_user {
	char name[ACCOUNT_NAME_MAX];
	bool must_change; /* the password was generated or given at install: change it first */
};

/* An API token as people see it: never its text or hash. */
struct account_token {
	int64_t id;
	char user[ACCOUNT_NAME_MAX];
	char name[ACCOUNT_NAME_MAX];
	int64_t created_at; /* unix seconds */
	int64_t expires_at; /* unix seconds; 0: never */
};

/*
 * Makes sure the admin account exists. On first start its password is the
 * first line of password_file when given, else generated and written to
 * <directory of db_path>/initial-admin-password (mode 0600); either way it
 * must be changed at first login. Returns 0 or -errno with a message in err.
 * An initial-admin-password file left from before the first change (an
 * older drover kept it) is removed.
 */
int account_init(struct store *st, const char *db_path, const char *password_file, char *err,
		 size_t errlen);

/*
 * Looks user up for a sign-in: true with *out and their stored hash in hash
 * (hash_len bytes); false when there is no such user, hash then empty (the
 * check runs anyway, hasher.h, so that timing does not tell).
 */
bool account_lookup(struct store *st, const char *user, struct account_user *out, char *hash,
		    size_t hash_len);

/* Why password is unfit (a message naming the field), or NULL when it is fine. */
const char *account_password_problem(const char *password);

/*
 * Stores hash (made by hasher.h from a password account_password_problem
 * accepted) as user's password; the must-change mark is cleared and every
 * API token of user is revoked (store_user_set_password). The
 * initial-admin-password file beside the database goes with the first
 * password: it is removed.
 */
int account_store_password(struct store *st, const char *user, const char *hash, const char *actor,
			   char *err, size_t errlen);

/*
 * Makes a token for user, valid until expires_at (unix seconds; 0: never);
 * the text goes to token (shown once) and only its hash is stored, with *id.
 * -EINVAL when name is unfit; any failure leaves a message naming the field
 * in err.
 */
int account_token_create(struct store *st, const char *user, const char *name, int64_t expires_at,
			 const char *actor, char token[ACCOUNT_TOKEN_TEXT], int64_t *id, char *err,
			 size_t errlen);
/*
 * Whether token is a live API token at now (unix seconds): 0 with *out
 * naming it and its user; -EKEYEXPIRED when it expired (at or before now),
 * *out naming it too, so the refusal can say which; -ENOENT when it is no
 * token at all (unknown, revoked, malformed).
 */
int account_token_check(struct store *st, const char *token, int64_t now,
			struct account_token *out);
/* Every token, oldest first, in *out (malloc'd: free it). -errno with a message in err. */
int account_token_list(struct store *st, struct account_token **out, size_t *count, char *err,
		       size_t errlen);
/* Revokes token id as actor. -ENOENT when there is none; -errno with a message in err. */
int account_token_delete(struct store *st, int64_t id, const char *actor, char *err, size_t errlen);

/*
 * Writes an audit line (a sign-in) as actor. Returns 0 or -errno; a line
 * that cannot be written never refuses what it describes.
 */
int account_audit(struct store *st, const char *actor, const char *action, const char *detail);

#define ACCOUNT_FOLD_ENTRIES 64
#define ACCOUNT_FOLD_SECS    60
#define ACCOUNT_SOURCE_MAX   48
#define ACCOUNT_PEER_MAX     64

/*
 * Failed sign-ins folded into audit rows: one row per (source, user) and
 * ACCOUNT_FOLD_SECS, whose detail counts them, instead of a row each.
 */
struct account_fold_entry {
	char source[ACCOUNT_SOURCE_MAX]; /* empty: free */
	char user[ACCOUNT_NAME_MAX];
	int64_t row;	/* the audit row that counts them */
	uint64_t since; /* monotonic seconds of the row's first failure */
	uint32_t count;
};

struct account_fold {
	struct account_fold_entry entries[ACCOUNT_FOLD_ENTRIES];
};

/*
 * Records a failed sign-in as user from peer (its source as throttle.h
 * counts it) at now (monotonic seconds): a new "login.failed" row, or the
 * count of the pair's row of this minute goes up. The user name is stored
 * escaped and cut (log.h). Returns 0 or -errno.
 */
int account_audit_failure(struct store *st, struct account_fold *f, const char *source,
			  const char *user, const char *peer, uint64_t now);

#endif
