/*
 * account.h - the web UI's accounts: the admin created at first start,
 * Argon2id password checks and changes, and API tokens.
 *
 * Passwords are hashed with libsodium's crypto_pwhash_str (Argon2id) at the
 * interactive limits, which costs tens of milliseconds on the control loop
 * and never touches the packet threads. Tokens are "drv_" and 64 hex digits
 * from randombytes_buf; only their BLAKE2b hash is stored.
 */
#ifndef DROVER_ACCOUNT_H
#define DROVER_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define ACCOUNT_ADMIN	     "admin"
#define ACCOUNT_PASSWORD_MIN 10
#define ACCOUNT_PASSWORD_MAX 256
#define ACCOUNT_TOKEN_PREFIX "drv_"
#define ACCOUNT_TOKEN_TEXT   (4 + 64 + 1)
#define ACCOUNT_INITIAL_FILE "initial-admin-password"

/*
 * Makes sure the admin account exists. On first start its password is the
 * first line of password_file when given, else generated and written to
 * <directory of db_path>/initial-admin-password (mode 0600); either way it
 * must be changed at first login. Returns 0 or -errno with a message in err.
 */
int account_init(struct store *st, const char *db_path, const char *password_file, char *err,
		 size_t errlen);

/* True when user exists and password is theirs; *out then holds the user. */
bool account_verify(struct store *st, const char *user, const char *password,
		    struct store_user *out);

/* Why password is unfit (a message naming the field), or NULL when it is fine. */
const char *account_password_problem(const char *password);

/* Hashes and stores a new password; the must-change mark is cleared. */
int account_set_password(struct store *st, const char *user, const char *password,
			 const char *actor, char *err, size_t errlen);

/* Makes a token for user; the text goes to token (shown once) and only its hash is stored. */
int account_token_create(struct store *st, const char *user, const char *name, const char *actor,
			 char token[ACCOUNT_TOKEN_TEXT], int64_t *id);
/* True when token is a live API token; *out names it and its user. */
bool account_token_check(struct store *st, const char *token, struct store_token *out);

#endif
