/*
 * fuzz_webui.c - the web UI's HTTP layer: request bytes reach evhttp's parser
 * and webui_request_handle (the Host check, routes, sign-in, sessions, CSRF,
 * API tokens, bodies, the API behind them) as a browser's would, over a
 * connected stream socket. A Unix socket in the abstract namespace: no file,
 * no network, no port; evhttp needs a socket to accept, as it offers no way
 * to hand it a connection otherwise. The server is webui.c's own (included:
 * its connection callback is static) over the API harness's manager
 * (fuzz_manager.h: real store, no NFQUEUE).
 *
 *   client socket ──(abstract AF_UNIX)── evhttp ── webui_request_handle
 *                                                   └─ manager + store (tmpfs)
 *
 * The template database holds the admin (password FUZZ_WEBUI_PASSWORD, hashed
 * at libsodium's minimum cost so a sign-in is cheap), an API token, an
 * expired one, and web_hosts. Each input then gets a fresh server with two
 * sessions already open: the admin's, and one whose password must change.
 *
 * Input: one knob byte (the client writes in chunks of that many bytes,
 * 0 or 255: all at once), then the bytes the client writes, after which it
 * half-closes and reads until the server closes. The secrets an input cannot
 * know are written as placeholders: @SID@ and @CSRF@ (the admin's session
 * id and CSRF token), @SID2@ and @CSRF2@ (the must-change session),
 * @TOKEN@ and @OLDTOKEN@ (the live and the expired API token).
 *
 * Checked: every answer is well-formed HTTP with the security headers and a
 * status the server means to send (or is one of evhttp's own refusals, which
 * end the connection); a HEAD answer has no body; a JSON answer is an object with a
 * boolean "ok", and a refusal says why; an input that holds no CSRF token and
 * no live token changes nothing (no audit line by a web user or a token).
 */
#include "../../webui/webui.c"

#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "account.h"
#include "fuzz_manager.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_WEBUI_PASSWORD  "fuzz password 1"
#define FUZZ_WEBUI_HOSTS     "drover.example.net,10.9.0.5"
#define FUZZ_WEBUI_REPLY_MAX (4U << 20) /* bytes of answers kept for the checks */
#define FUZZ_WEBUI_AUDIT_MAX 1000
/* The longest secret a placeholder stands for, and the shortest placeholder. */
#define FUZZ_WEBUI_EXPANSION ((ACCOUNT_TOKEN_TEXT + 4) / 5 + 1)

/* What the template holds that an input may name through a placeholder. */
static struct {
	char token[ACCOUNT_TOKEN_TEXT];
	char old_token[ACCOUNT_TOKEN_TEXT];
	char socket_name[64];
} fuzz_webui;

struct fuzz_webui_reply {
	char *bytes;
	size_t len;
	bool capped; /* more arrived than was kept */
	bool closed; /* the server closed the connection */
};

/* The template's admin, tokens and names (fuzz_manager_prepare). */
static void fuzz_webui_prepare(struct manager *m)
{
	struct store_user u = {.must_change = false};
	struct store *st = manager_store(m);
	char err[MANAGER_ERR_MAX];
	int64_t id;

	if (sodium_init() < 0 ||
	    crypto_pwhash_str(u.password_hash, FUZZ_WEBUI_PASSWORD, strlen(FUZZ_WEBUI_PASSWORD),
			      crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) != 0)
		abort();
	snprintf(u.name, sizeof(u.name), "%s", ACCOUNT_ADMIN);
	if (store_user_add(st, &u, "fuzz") < 0 ||
	    account_token_create(st, ACCOUNT_ADMIN, "fuzz", 0, "fuzz", fuzz_webui.token, &id, err,
				 sizeof(err)) < 0 ||
	    account_token_create(st, ACCOUNT_ADMIN, "old", 1, "fuzz", fuzz_webui.old_token, &id,
				 err, sizeof(err)) < 0 ||
	    manager_setting_set(m, "web_hosts", FUZZ_WEBUI_HOSTS, "fuzz", err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz: template: %s %s\n", err, store_error(st));
		abort();
	}
}

static socklen_t fuzz_webui_address(struct sockaddr_un *sa, const char *suffix)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays '\0': the abstract namespace. */
	snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "%s%s", fuzz_webui.socket_name,
		 suffix);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa->sun_path + 1));
}

/* The server webui_start builds, accepting on an abstract Unix socket instead of TCP. */
static struct webui *fuzz_webui_server(struct event_base *base, struct manager *m)
{
	struct sockaddr_un sa;
	socklen_t len = fuzz_webui_address(&sa, "");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	char err[256];
	struct webui *w = webui_new(base, m, err, sizeof(err));

	if (w == NULL || fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 8) < 0)
		abort();
	w->bound = evhttp_accept_socket_with_handle(w->http, fd);
	if (w->bound == NULL)
		abort();
	return w;
}

/* A client socket, bound to a name of its own so the server's accept has an address to show. */
static int fuzz_webui_connect(void)
{
	struct sockaddr_un me, server;
	socklen_t melen = fuzz_webui_address(&me, "-client");
	socklen_t len = fuzz_webui_address(&server, "");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&me, melen) < 0 ||
	    connect(fd, (struct sockaddr *)&server, len) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		abort();
	return fd;
}

/* Replaces the placeholders of in with the secrets they stand for; *out is malloc'd. */
static size_t fuzz_webui_expand(const uint8_t *in, size_t n, struct webui *w, char **out)
{
	const struct {
		const char *name;
		const char *value;
	} holders[] = {
	    {"@SID@", w->sessions.entries[0].id},  {"@CSRF@", w->sessions.entries[0].csrf},
	    {"@SID2@", w->sessions.entries[1].id}, {"@CSRF2@", w->sessions.entries[1].csrf},
	    {"@TOKEN@", fuzz_webui.token},	   {"@OLDTOKEN@", fuzz_webui.old_token},
	};
	char *buf = malloc(n * FUZZ_WEBUI_EXPANSION + 1);
	size_t used = 0;

	if (buf == NULL)
		abort();
	for (size_t i = 0; i < n;) {
		size_t k, len = 0;

		for (k = 0; k < sizeof(holders) / sizeof(holders[0]); k++) {
			len = strlen(holders[k].name);
			if (len <= n - i && memcmp(in + i, holders[k].name, len) == 0)
				break;
		}
		if (k == sizeof(holders) / sizeof(holders[0])) {
			buf[used++] = (char)in[i++];
			continue;
		}
		memcpy(buf + used, holders[k].value, strlen(holders[k].value));
		used += strlen(holders[k].value);
		i += len;
	}
	*out = buf;
	return used;
}

/* True when the input names a secret that allows a change: a CSRF token or the live token. */
static bool fuzz_webui_may_change(const uint8_t *in, size_t n)
{
	static const char *const keys[] = {"@CSRF@", "@CSRF2@", "@TOKEN@"};

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (memmem(in, n, keys[k], strlen(keys[k])) != NULL)
			return true;
	}
	return false;
}

/* Runs the server until nothing is ready, then takes what the client can read. */
static void fuzz_webui_pump(struct event_base *base, int fd, struct fuzz_webui_reply *r)
{
	char chunk[16384];
	ssize_t got;

	event_base_loop(base, EVLOOP_NONBLOCK);
	while ((got = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0) {
		size_t keep = (size_t)got;

		if (r->len + keep > FUZZ_WEBUI_REPLY_MAX) {
			keep = FUZZ_WEBUI_REPLY_MAX - r->len;
			r->capped = true;
		}
		memcpy(r->bytes + r->len, chunk, keep);
		r->len += keep;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
		r->closed = true;
}

/* Writes bytes as a client would, keeping the server turning; stops if it hangs up. */
static void fuzz_webui_send(struct event_base *base, int fd, const char *bytes, size_t n,
			    struct fuzz_webui_reply *r)
{
	while (n > 0 && !r->closed) {
		ssize_t sent = send(fd, bytes, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (sent > 0) {
			bytes += sent;
			n -= (size_t)sent;
		} else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			return; /* the server closed (413, a malformed request): nothing more to say
				 */
		}
		fuzz_webui_pump(base, fd, r);
	}
}

/* Waits, turning the server, until it closes the connection. */
static void fuzz_webui_drain(struct event_base *base, int fd, struct fuzz_webui_reply *r)
{
	fuzz_webui_pump(base, fd, r);
	while (!r->closed) {
		/* Blocks until something happens: the client's data, a timer of the server. */
		event_base_loop(base, EVLOOP_ONCE);
		fuzz_webui_pump(base, fd, r);
	}
}

static bool fuzz_webui_status_known(int status)
{
	static const int known[] = {200, 201, 304, 400, 401, 403, 404,
				    405, 408, 409, 413, 415, 421, 429};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (status == known[i])
			return true;
	}
	return false;
}

/* The value of header name in the header block [head, end), or NULL; *len is its length. */
static const char *fuzz_webui_header(const char *head, const char *end, const char *name,
				     size_t *len)
{
	size_t nlen = strlen(name);

	for (const char *line = head; line < end;) {
		const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		const char *stop = eol ? eol : end;

		if ((size_t)(stop - line) > nlen + 1 && strncasecmp(line, name, nlen) == 0 &&
		    line[nlen] == ':') {
			const char *v = line + nlen + 1;

			while (v < stop && *v == ' ')
				v++;
			*len = (size_t)(stop - v);
			return v;
		}
		line = stop + 2;
	}
	return NULL;
}

/*
 * evhttp (2.1) answers some requests itself, before they reach the routes,
 * with a fixed page and no headers of ours: a request it cannot parse (400),
 * a body declared too large (413), a method it does not know (501). The
 * page quotes nothing of the request, and the connection closes after it.
 */
static bool fuzz_webui_evhttp_refusal(int status, const char *head, const char *head_end,
				      const char *body, const char *end)
{
	static const char page[] = "<HTML><HEAD>\n<TITLE>";
	char title[sizeof(page) + 8];
	size_t vlen;
	const char *close = fuzz_webui_header(head, head_end, "Connection", &vlen);

	/* Ours all carry the security headers. */
	if (fuzz_webui_header(head, head_end, "Content-Security-Policy", &vlen) != NULL)
		return false;
	assert(status == 400 || status == 413 || status == 501);
	snprintf(title, sizeof(title), "%s%d ", page, status);
	assert(close != NULL && vlen == 5 && strncasecmp(close, "close", 5) == 0);
	assert((size_t)(end - body) > strlen(title) && memcmp(body, title, strlen(title)) == 0);
	return true;
}

/*
 * Checks one answer at *off and moves past it; false when the kept bytes
 * end inside it (only allowed when they were capped).
 */
static bool fuzz_webui_check_answer(const struct fuzz_webui_reply *r, size_t *off)
{
	const char *p = r->bytes + *off, *end = r->bytes + r->len;
	const char *head_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
	const char *value, *body, *version;
	size_t vlen, clen;
	int status;

	if (head_end == NULL)
		return false;
	/* evhttp answers in the version the request named, as sscanf read it ("HTTP/1.-76" too). */
	assert(end - p > 13 && memcmp(p, "HTTP/", 5) == 0);
	version = p + 5 + strspn(p + 5, "-0123456789");
	assert(version > p + 5 && *version == '.');
	version += 1 + strspn(version + 1, "-0123456789");
	assert(*version == ' ' && version < head_end);
	status = atoi(version + 1);
	body = head_end + 4;
	/* Without a length (HTTP/1.0), the body runs to the close. */
	value = fuzz_webui_header(p, head_end, "Content-Length", &vlen);
	clen = value ? strtoul(value, NULL, 10) : (size_t)(end - body);
	/* A HEAD answer names a length but sends no body: the next answer follows, or none. */
	if (end == body || ((size_t)(end - body) >= 5 && memcmp(body, "HTTP/", 5) == 0 && value))
		clen = 0;
	if ((size_t)(end - body) < clen)
		return false;
	*off = (size_t)(body + clen - r->bytes);
	if (fuzz_webui_evhttp_refusal(status, p, head_end, body, body + clen)) {
		assert(*off == r->len);
		return true;
	}
	assert(fuzz_webui_status_known(status));
	value = fuzz_webui_header(p, head_end, "Content-Security-Policy", &vlen);
	assert(value != NULL && memmem(value, vlen, "default-src 'self'", 18) != NULL);
	value = fuzz_webui_header(p, head_end, "X-Content-Type-Options", &vlen);
	assert(value != NULL && vlen == 7 && memcmp(value, "nosniff", 7) == 0);
	value = fuzz_webui_header(p, head_end, "Content-Type", &vlen);
	if (value != NULL && vlen >= 16 && memcmp(value, "application/json", 16) == 0 && clen > 0) {
		json_error_t jerr;
		json_t *j = json_loadb(body, clen, 0, &jerr);

		assert(j != NULL);
		fuzz_check_response(j);
		assert(json_is_true(json_object_get(j, "ok")) == (status < 400));
		if (status >= 400)
			assert(json_is_string(json_object_get(j, "kind")));
		json_decref(j);
	}
	return true;
}

static void fuzz_webui_check_answers(const struct fuzz_webui_reply *r)
{
	size_t off = 0;

	while (off < r->len) {
		if (!fuzz_webui_check_answer(r, &off)) {
			assert(r->capped);
			return;
		}
	}
}

/* Without a CSRF token or a live token, nothing may have changed: no web user or token wrote. */
static void fuzz_webui_check_unchanged(struct manager *m)
{
	struct audit_entry *list = NULL;
	size_t n = 0;

	assert(store_audit_list(manager_store(m), 0, FUZZ_WEBUI_AUDIT_MAX, &list, &n) == 0);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(list[i].actor, "webui:", 6) == 0 ||
		    strncmp(list[i].actor, "token:", 6) == 0) {
			fprintf(stderr, "fuzz: changed without a CSRF token or a token: %s %s %s\n",
				list[i].actor, list[i].action, list[i].detail);
			abort();
		}
	}
	free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_webui_reply reply = {0};
	struct event_base *base;
	struct session *must_change;
	struct manager *m;
	struct webui *w;
	size_t chunk, n;
	char *bytes;
	int fd;

	if (size < 1)
		return 0;
	if (fuzz_webui.socket_name[0] == '\0') {
		snprintf(fuzz_webui.socket_name, sizeof(fuzz_webui.socket_name),
			 "drover-fuzz-webui-%d", (int)getpid());
		fuzz_manager_prepare = fuzz_webui_prepare;
	}
	m = fuzz_manager_fresh();
	base = event_base_new();
	if (base == NULL)
		abort();
	w = fuzz_webui_server(base, m);
	session_create(&w->sessions, ACCOUNT_ADMIN, (uint64_t)clock_now_s());
	must_change = session_create(&w->sessions, ACCOUNT_ADMIN, (uint64_t)clock_now_s());
	must_change->must_change = true;
	chunk = data[0] != 0 && data[0] != UINT8_MAX ? data[0] : size;
	n = fuzz_webui_expand(data + 1, size - 1, w, &bytes);
	reply.bytes = malloc(FUZZ_WEBUI_REPLY_MAX);
	if (reply.bytes == NULL)
		abort();

	fd = fuzz_webui_connect();
	for (size_t off = 0; off < n && !reply.closed; off += chunk)
		fuzz_webui_send(base, fd, bytes + off, n - off < chunk ? n - off : chunk, &reply);
	shutdown(fd, SHUT_WR);
	fuzz_webui_drain(base, fd, &reply);
	close(fd);

	/* FUZZ_VERBOSE=1 shows the answers, to check what a new seed reaches. */
	if (getenv("FUZZ_VERBOSE") != NULL)
		fwrite(reply.bytes, 1, reply.len, stderr);
	fuzz_webui_check_answers(&reply);
	if (!fuzz_webui_may_change(data + 1, size - 1))
		fuzz_webui_check_unchanged(m);
	fuzz_check_manager(m);

	free(reply.bytes);
	free(bytes);
	webui_stop(w);
	event_base_free(base);
	fuzz_manager_done();
	return 0;
}
