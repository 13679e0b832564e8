/*
 * replica.c - one pull at a time from the primary, on libcurl's multi
 * interface driven by the control loop through transfer_loop.c, as the
 * prober's probes are (probe.c).
 */
#include "replica.h"
#include "transfer_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define REPLICA_USER_AGENT	"drover-replica/" DROVER_VERSION
#define REPLICA_HEADER_LINE_MAX 512

struct replica {
	struct event_base *base;
	CURLM *multi;
	struct transfer_loop *loop; /* runs multi on base */
	replica_done_fn *fn;
	void *arg;
	CURL *easy; /* the pull under way, or NULL */
	struct curl_slist *headers;
	struct replica_reply reply;
	size_t cap;
	bool too_big;
	char curl_error[CURL_ERROR_SIZE]; /* curl's own words for a failure, with its figures */
};

static size_t replica_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct replica *r = arg;
	size_t n = size * nmemb;

	if (r->reply.len + n > REPLICA_BODY_MAX) {
		r->too_big = true;
		return 0; /* curl ends the transfer with a write error */
	}
	if (r->reply.len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 65536;
		uint8_t *grown;

		while (cap < r->reply.len + n)
			cap *= 2;
		grown = realloc(r->reply.body, cap);
		if (grown == NULL)
			return 0;
		r->reply.body = grown;
		r->cap = cap;
	}
	memcpy(r->reply.body + r->reply.len, data, n);
	r->reply.len += n;
	return n;
}

/* Copies the value of header line if it is name's, trimmed, into out (len bytes). */
static void replica_header_take(const char *line, size_t n, const char *name, char *out, size_t len)
{
	size_t name_len = strlen(name);
	const char *v, *end = line + n;

	if (n <= name_len || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
		return;
	v = line + name_len + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	if ((size_t)(end - v) >= len)
		return; /* too long to be ours: left empty, and refused by the caller */
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = '\0';
}

static size_t replica_on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct replica *r = arg;
	size_t n = size * nmemb;
	struct replica_reply *y = &r->reply;

	if (n > REPLICA_HEADER_LINE_MAX)
		return n;
	replica_header_take(line, n, REPLICA_HEADER_NODE, y->node, sizeof(y->node));
	replica_header_take(line, n, REPLICA_HEADER_GENERATION, y->generation,
			    sizeof(y->generation));
	replica_header_take(line, n, REPLICA_HEADER_DIGEST, y->digest, sizeof(y->digest));
	replica_header_take(line, n, REPLICA_HEADER_VRRP, y->vrrp, sizeof(y->vrrp));
	replica_header_take(line, n, REPLICA_HEADER_DEVIATIONS, y->deviations,
			    sizeof(y->deviations));
	replica_header_take(line, n, REPLICA_HEADER_SNAPSHOT, y->snapshot_digest,
			    sizeof(y->snapshot_digest));
	return n;
}

static void replica_stop(struct replica *r)
{
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	free(r->reply.body);
	memset(&r->reply, 0, sizeof(r->reply));
	r->cap = 0;
	r->too_big = false;
}

static void replica_collect(void *arg)
{
	struct replica *r = arg;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(r->multi, &left)) != NULL) {
		struct replica_reply reply;

		if (msg->msg != CURLMSG_DONE || msg->easy_handle != r->easy)
			continue;
		reply = r->reply;
		if (msg->data.result == CURLE_OK) {
			reply.answered = true;
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &reply.status);
		} else {
			snprintf(reply.error, sizeof(reply.error), "%s",
				 r->too_big ? "the snapshot is larger than a replica takes"
				 : r->curl_error[0] != '\0' ? r->curl_error
							    : curl_easy_strerror(msg->data.result));
			free(reply.body);
			reply.body = NULL;
			reply.len = 0;
		}
		/* The callback owns reply's body now. */
		r->reply.body = NULL;
		replica_stop(r);
		r->fn(r->arg, &reply);
		free(reply.body);
		return;
	}
}

struct replica *replica_new(struct event_base *base, replica_done_fn *fn, void *arg)
{
	struct replica *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->base = base;
	r->fn = fn;
	r->arg = arg;
	r->multi = curl_multi_init();
	if (r->multi != NULL)
		r->loop = transfer_loop_new(base, r->multi, replica_collect, r);
	if (r->loop == NULL) {
		replica_free(r);
		return NULL;
	}
	return r;
}

/* Appends "name: value" to the request's headers; false when out of memory. */
static bool replica_header_add(struct replica *r, const char *name, const char *value)
{
	char line[REPLICA_HEADER_LINE_MAX];
	struct curl_slist *l;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	l = curl_slist_append(r->headers, line);
	if (l == NULL)
		return false;
	r->headers = l;
	return true;
}

int replica_start(struct replica *r, const struct replica_pull *pull)
{
	char auth[REPLICA_TOKEN_MAX + 32], generation[32];
	CURLcode rc = CURLE_OK;
	CURL *e;

	if (r->easy != NULL)
		return -EBUSY;
	e = curl_easy_init();
	if (e == NULL)
		return -ENOMEM;
	snprintf(auth, sizeof(auth), "Bearer %s", pull->token);
	snprintf(generation, sizeof(generation), "%llu", (unsigned long long)pull->self.generation);
	if (!replica_header_add(r, "Authorization", auth) ||
	    !replica_header_add(r, REPLICA_HEADER_NODE, pull->self.name) ||
	    !replica_header_add(r, REPLICA_HEADER_GENERATION, generation) ||
	    !replica_header_add(r, REPLICA_HEADER_DIGEST, pull->self.digest) ||
	    !replica_header_add(r, REPLICA_HEADER_VRRP, cluster_vrrp_name(pull->self.vrrp)) ||
	    (pull->body != NULL && !replica_header_add(r, "Content-Type", "application/json"))) {
		curl_easy_cleanup(e);
		replica_stop(r);
		return -ENOMEM;
	}
	r->curl_error[0] = '\0';
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_error);
	rc |= curl_easy_setopt(e, CURLOPT_URL, pull->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	if (pull->body != NULL) {
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)pull->body_len);
		rc |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, pull->body);
	}
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)pull->timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)pull->timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, REPLICA_USER_AGENT);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, replica_on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, replica_on_header);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	/* Always verified: a replica takes its whole configuration, hash key included, from it. */
	rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (pull->ca_file[0] != '\0')
		rc |= curl_easy_setopt(e, CURLOPT_CAINFO, pull->ca_file);
	if (rc != CURLE_OK) {
		curl_easy_cleanup(e);
		replica_stop(r);
		return -EIO;
	}
	r->easy = e;
	if (curl_multi_add_handle(r->multi, e) != CURLM_OK) {
		replica_stop(r);
		return -EIO;
	}
	return 0;
}

bool replica_busy(const struct replica *r)
{
	return r != NULL && r->easy != NULL;
}

void replica_free(struct replica *r)
{
	if (r == NULL)
		return;
	replica_stop(r);
	if (r->multi != NULL)
		curl_multi_cleanup(r->multi);
	transfer_loop_free(r->loop);
	free(r);
}
