/* session.c - in-memory browser sessions and the request parsers that find them. */
#include "session.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static void session_random_hex(char out[SESSION_ID_HEX + 1])
{
	unsigned char raw[SESSION_ID_HEX / 2];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(out, SESSION_ID_HEX + 1, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
}

struct session *session_create(struct session_table *t, const char *user, uint64_t now)
{
	struct session *slot = NULL;

	for (size_t i = 0; i < SESSION_MAX; i++) {
		struct session *s = &t->entries[i];

		if (s->id[0] == '\0') {
			slot = s;
			break;
		}
		if (slot == NULL || s->last_seen < slot->last_seen)
			slot = s;
	}
	memset(slot, 0, sizeof(*slot));
	session_random_hex(slot->id);
	session_random_hex(slot->csrf);
	snprintf(slot->user, sizeof(slot->user), "%s", user);
	slot->created = now;
	slot->last_seen = now;
	return slot;
}

struct session *session_find(struct session_table *t, const char *id, uint64_t now,
			     uint32_t idle_secs)
{
	if (id == NULL || strlen(id) != SESSION_ID_HEX)
		return NULL;
	for (size_t i = 0; i < SESSION_MAX; i++) {
		struct session *s = &t->entries[i];

		if (s->id[0] == '\0' || !session_token_equal(s->id, id))
			continue;
		if (now - s->last_seen > idle_secs || now - s->created > SESSION_LIFETIME_SECS) {
			session_close(s);
			return NULL;
		}
		s->last_seen = now;
		return s;
	}
	return NULL;
}

void session_close(struct session *s)
{
	sodium_memzero(s, sizeof(*s));
}

void session_close_user(struct session_table *t, const char *user)
{
	for (size_t i = 0; i < SESSION_MAX; i++) {
		if (t->entries[i].id[0] != '\0' && strcmp(t->entries[i].user, user) == 0)
			session_close(&t->entries[i]);
	}
}

bool session_cookie_value(const char *header, const char *name, char *out, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = header;

	if (header == NULL || len == 0)
		return false;
	while (*p != '\0') {
		const char *end;
		size_t vlen;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			const char *v = p + nlen + 1;

			vlen = (size_t)(end - v);
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (vlen == 0 || vlen >= len)
				return false;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

bool session_token_equal(const char *a, const char *b)
{
	size_t n;

	if (a == NULL || b == NULL)
		return false;
	n = strlen(a);
	if (n == 0 || n != strlen(b))
		return false;
	return sodium_memcmp(a, b, n) == 0;
}
