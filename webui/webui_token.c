/*
 * webui_token.c - the API token routes: the list, a new token (sessions
 * only: a token never mints tokens), a revocation. Tokens go through
 * account.h.
 */
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>
#include <sodium.h>

#include "account.h"
#include "clock.h"
#include "webui_private.h"

#define WEBUI_TOKEN_SECS_PER_DAY 86400

/* GET /api/v1/tokens: every API token, without its text. */
void webui_token_list(struct webui_call *c)
{
	struct account_token *tokens = NULL;
	size_t n = 0;
	char err[WEBUI_ERROR_MAX];
	json_t *list;

	if (account_token_list(webui_auth_store(c->w), &tokens, &n, err, sizeof(err)) < 0) {
		webui_http_send_error(c, 500, "internal", NULL, "%s", err);
		return;
	}
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		int64_t expires = tokens[i].expires_at;

		json_array_append_new(
		    list, json_pack("{s:I, s:s, s:s, s:I, s:o, s:b}", "id",
				    (json_int_t)tokens[i].id, "name", tokens[i].name, "user",
				    tokens[i].user, "created_at", (json_int_t)tokens[i].created_at,
				    "expires_at", expires ? json_integer(expires) : json_null(),
				    "expired", expires != 0 && expires <= clock_wall_s()));
	}
	free(tokens);
	webui_http_send_json(c, 200, json_pack("{s:b, s:o}", "ok", 1, "tokens", list));
}

/*
 * The optional "expires_in_days" of a new token: *expires_at is 0 (never)
 * when it is absent or null. False (400 sent) for anything but a whole
 * number of days in 1..ACCOUNT_TOKEN_DAYS_MAX.
 */
static bool webui_token_expiry(struct webui_call *c, int64_t *expires_at)
{
	json_t *v = json_object_get(c->body, "expires_in_days");
	json_int_t days;

	*expires_at = 0;
	if (v == NULL || json_is_null(v))
		return true;
	days = json_is_integer(v) ? json_integer_value(v) : 0;
	if (days < 1 || days > ACCOUNT_TOKEN_DAYS_MAX) {
		webui_http_send_error(c, 400, "invalid", "expires_in_days",
				      "expires_in_days: a whole number of days, 1..%d (or leave it "
				      "out for a token that never expires)",
				      ACCOUNT_TOKEN_DAYS_MAX);
		return false;
	}
	*expires_at = clock_wall_s() + (int64_t)days * WEBUI_TOKEN_SECS_PER_DAY;
	return true;
}

/*
 * POST /api/v1/tokens {"name", "expires_in_days"}: 201 with the token's
 * text, shown this once. Sessions only: a token that could mint tokens
 * would let whoever stole one outlive its expiry and its revocation.
 */
void webui_token_add(struct webui_call *c)
{
	static const char *const allowed[] = {"name", "expires_in_days", NULL};
	char token[ACCOUNT_TOKEN_TEXT];
	const char *name;
	char err[WEBUI_ERROR_MAX];
	int64_t id = 0, expires_at;
	int ret;

	if (c->token) {
		webui_http_send_error(c, 403, "forbidden", NULL,
				      "an API token cannot create API tokens: sign in with the "
				      "password to create one");
		return;
	}
	if (!webui_http_body_only(c, allowed) || !webui_http_body_string(c, "name", &name) ||
	    !webui_token_expiry(c, &expires_at))
		return;
	ret = account_token_create(webui_auth_store(c->w), c->user, name, expires_at, c->actor,
				   token, &id, err, sizeof(err));
	if (ret == -EINVAL) {
		webui_http_send_error(c, 400, "invalid", "name", "%s", err);
		return;
	}
	if (ret < 0) {
		webui_http_send_error(c, 500, "internal", NULL, "%s", err);
		return;
	}
	webui_http_send_json(c, 201,
			     json_pack("{s:b, s:I, s:s, s:s, s:o}", "ok", 1, "id", (json_int_t)id,
				       "name", name, "token", token, "expires_at",
				       expires_at ? json_integer(expires_at) : json_null()));
	sodium_memzero(token, sizeof(token));
}

/* DELETE /api/v1/tokens/{id}: 404 when there is no such token. */
void webui_token_del(struct webui_call *c)
{
	char err[WEBUI_ERROR_MAX];
	int ret = account_token_delete(webui_auth_store(c->w), c->route.object, c->actor, err,
				       sizeof(err));

	if (ret == -ENOENT)
		webui_http_send_error(c, 404, "not_found", "id", "%s", err);
	else if (ret < 0)
		webui_http_send_error(c, 500, "internal", NULL, "%s", err);
	else
		webui_http_send_json(c, 200, json_pack("{s:b}", "ok", 1));
}
