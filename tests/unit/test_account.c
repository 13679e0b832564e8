/*
 * test_account.c - the web UI's accounts over a real store: the first
 * password's file, and API tokens that expire. Each test gets a directory
 * of its own, as droverd's state directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "account.h"
#include "store.h"

#define FIRST_PASSWORD_LEN 20 /* what account_init generates */

struct world {
	char dir[64];
	char db[128];
	char initial[160]; /* where account_init writes the first password */
	struct store *store;
};

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[256];

	assert_non_null(w);
	assert_non_null(scratch_make(w->dir, sizeof(w->dir), "account"));
	snprintf(w->db, sizeof(w->db), "%s/drover.db", w->dir);
	snprintf(w->initial, sizeof(w->initial), "%s/%s", w->dir, ACCOUNT_INITIAL_FILE);
	if (store_open(w->db, &w->store, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	store_close(w->store);
	scratch_remove(w->dir);
	free(w);
	return 0;
}

/* The first line of path, without its line end. */
static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_non_null(fgets(buf, (int)len, f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* What a sign-in checks (off the loop in droverd): user's stored hash against password. */
static bool password_matches(struct store *st, const char *user, const char *password,
			     struct account_user *u)
{
	char hash[STORE_PWHASH_MAX];

	return account_lookup(st, user, u, hash, sizeof(hash)) &&
	       crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

/* What the password change stores (hashed off the loop in droverd). */
static int set_password(struct store *st, const char *user, const char *password, char *err,
			size_t errlen)
{
	char hash[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_MIN,
			      crypto_pwhash_MEMLIMIT_MIN) != 0)
		return -ENOMEM;
	return account_store_password(st, user, hash, "test", err, errlen);
}

/*
 * The generated first password is written beside the database; whoever can
 * read that file later (a backup of the directory, a support bundle) must
 * not find the admin's password there: it goes at the first change.
 */
static void test_initial_password_file_removed(void **state)
{
	struct world *w = *state;
	struct account_user u;
	char first[64], err[256];

	assert_int_equal(account_init(w->store, w->db, NULL, err, sizeof(err)), 0);
	assert_int_equal(access(w->initial, F_OK), 0);
	read_line(w->initial, first, sizeof(first));
	assert_int_equal(strlen(first), FIRST_PASSWORD_LEN);
	assert_true(password_matches(w->store, ACCOUNT_ADMIN, first, &u));
	assert_true(u.must_change);

	/* A restart before the change keeps it: the admin still needs it. */
	assert_int_equal(account_init(w->store, w->db, NULL, err, sizeof(err)), 0);
	assert_int_equal(access(w->initial, F_OK), 0);

	assert_int_equal(
	    set_password(w->store, ACCOUNT_ADMIN, "the admin's own one", err, sizeof(err)), 0);
	assert_int_equal(access(w->initial, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(password_matches(w->store, ACCOUNT_ADMIN, first, &u));

	/* A copy left behind (put back, or kept by an older drover) goes at the next start. */
	FILE *f = fopen(w->initial, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", first);
	fclose(f);
	assert_int_equal(account_init(w->store, w->db, NULL, err, sizeof(err)), 0);
	assert_int_equal(access(w->initial, F_OK), -1);
}

/* An operator's own password file is theirs: it is never removed. */
static void test_given_password_file_kept(void **state)
{
	struct world *w = *state;
	char given[160], err[256];
	FILE *f;

	snprintf(given, sizeof(given), "%s/first-password", w->dir);
	f = fopen(given, "w");
	assert_non_null(f);
	fprintf(f, "initial password 1\n");
	fclose(f);
	assert_int_equal(account_init(w->store, w->db, given, err, sizeof(err)), 0);
	assert_int_equal(access(w->initial, F_OK), -1);
	assert_int_equal(
	    set_password(w->store, ACCOUNT_ADMIN, "a better password", err, sizeof(err)), 0);
	assert_int_equal(access(given, F_OK), 0);
}

/* A token works until its expiry, then is refused as expired (not as unknown). */
static void test_token_expiry(void **state)
{
	struct world *w = *state;
	char token[ACCOUNT_TOKEN_TEXT], forever[ACCOUNT_TOKEN_TEXT], err[256];
	struct account_token t;
	int64_t id = 0, expires = 1900000000;

	assert_int_equal(account_init(w->store, w->db, NULL, err, sizeof(err)), 0);
	assert_int_equal(account_token_create(w->store, ACCOUNT_ADMIN, "nightly", expires, "test",
					      token, &id, err, sizeof(err)),
			 0);
	assert_int_equal(account_token_create(w->store, ACCOUNT_ADMIN, "forever", 0, "test",
					      forever, &id, err, sizeof(err)),
			 0);
	assert_int_equal(account_token_check(w->store, token, expires - 1, &t), 0);
	assert_string_equal(t.name, "nightly");
	assert_int_equal(t.expires_at, expires);
	memset(&t, 0, sizeof(t));
	assert_int_equal(account_token_check(w->store, token, expires, &t), -EKEYEXPIRED);
	assert_string_equal(t.name, "nightly");
	assert_int_equal(account_token_check(w->store, token, expires + 86400, &t), -EKEYEXPIRED);
	assert_int_equal(account_token_check(w->store, forever, INT64_MAX, &t), 0);
	assert_int_equal(t.expires_at, 0);
	assert_int_equal(account_token_check(w->store, "drv_0123", 0, &t), -ENOENT);
	token[10] ^= 1;
	assert_int_equal(account_token_check(w->store, token, 0, &t), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_initial_password_file_removed, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_given_password_file_kept, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_token_expiry, world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
