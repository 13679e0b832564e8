/*
 * test_transfer_loop.c - libcurl transfers run on a real libevent loop by
 * transfer_loop: an answered request, a refused connection and a transfer
 * that only curl's timer can end each reach the collect callback, with its
 * argument; a transfer removed while its connection is open gives its
 * socket's event back (checked for leaks under the sanitizers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transfer_loop.h"

#define DEADLINE_S	 120 /* only stops a test whose transfer never ends */
#define SHORT_TIMEOUT_MS 200
#define LONG_TIMEOUT_MS	 60000
#define REQUEST_MAX	 1024

static const char answer[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";

enum responder_mode {
	RESPOND_ANSWER, /* read the request, answer 204, close */
	RESPOND_SILENT, /* accept and never answer */
};

struct world {
	struct event_base *base;
	CURLM *multi;
	struct transfer_loop *loop;
	struct event *deadline;
	int listen_fd;
	int conn_fd;
	struct event *accept_ev;
	struct event *conn_ev;
	enum responder_mode mode;
	unsigned collects;
	bool done;
	CURLcode result;
	long status;
};

static void on_collect(void *arg)
{
	struct world *w = arg;
	CURLMsg *msg;
	int left;

	w->collects++;
	while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		w->done = true;
		w->result = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &w->status);
		event_base_loopbreak(w->base);
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(w->base);
}

static void on_request(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;
	char buf[REQUEST_MAX];

	(void)what;
	if (read(fd, buf, sizeof(buf)) > 0)
		assert_int_equal(write(fd, answer, strlen(answer)), (ssize_t)strlen(answer));
	event_del(w->conn_ev);
	close(w->conn_fd);
	w->conn_fd = -1;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;

	(void)what;
	w->conn_fd = accept(fd, NULL, NULL);
	assert_true(w->conn_fd >= 0);
	if (w->mode == RESPOND_ANSWER) {
		w->conn_ev = event_new(w->base, w->conn_fd, EV_READ, on_request, w);
		assert_non_null(w->conn_ev);
		event_add(w->conn_ev, NULL);
	}
}

/* A listener on 127.0.0.1 served by the loop; its port. */
static uint16_t listen_local(struct world *w, bool serve)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	w->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(w->listen_fd >= 0);
	assert_int_equal(bind(w->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(w->listen_fd, (struct sockaddr *)&sa, &len), 0);
	if (serve) {
		assert_int_equal(listen(w->listen_fd, 4), 0);
		w->accept_ev = event_new(w->base, w->listen_fd, EV_READ, on_accept, w);
		assert_non_null(w->accept_ev);
		event_add(w->accept_ev, NULL);
	}
	return ntohs(sa.sin_port);
}

static CURL *start(struct world *w, uint16_t port, long timeout_ms)
{
	char url[64];
	CURL *e = curl_easy_init();

	assert_non_null(e);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	assert_int_equal(curl_multi_add_handle(w->multi, e), CURLM_OK);
	return e;
}

static void run(struct world *w)
{
	struct timeval tv = {.tv_sec = DEADLINE_S};

	event_add(w->deadline, &tv);
	event_base_dispatch(w->base);
}

static int setup(void **state)
{
	static struct world w;

	memset(&w, 0, sizeof(w));
	w.listen_fd = -1;
	w.conn_fd = -1;
	w.base = event_base_new();
	w.multi = curl_multi_init();
	assert_non_null(w.base);
	assert_non_null(w.multi);
	w.loop = transfer_loop_new(w.base, w.multi, on_collect, &w);
	assert_non_null(w.loop);
	w.deadline = evtimer_new(w.base, on_deadline, &w);
	assert_non_null(w.deadline);
	*state = &w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	/* The order transfer_loop.h asks for: curl drops its sockets through the loop first. */
	curl_multi_cleanup(w->multi);
	transfer_loop_free(w->loop);
	if (w->conn_ev != NULL)
		event_free(w->conn_ev);
	if (w->accept_ev != NULL)
		event_free(w->accept_ev);
	if (w->conn_fd >= 0)
		close(w->conn_fd);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	event_free(w->deadline);
	event_base_free(w->base);
	return 0;
}

static void test_answered(void **state)
{
	struct world *w = *state;
	CURL *e = start(w, listen_local(w, true), LONG_TIMEOUT_MS);

	run(w);
	assert_true(w->done);
	assert_int_equal(w->result, CURLE_OK);
	assert_int_equal(w->status, 204);
	assert_true(w->collects >= 1);
	curl_multi_remove_handle(w->multi, e);
	curl_easy_cleanup(e);
}

/* Bound but not listening: the connection is refused. */
static void test_refused(void **state)
{
	struct world *w = *state;
	CURL *e = start(w, listen_local(w, false), LONG_TIMEOUT_MS);

	run(w);
	assert_true(w->done);
	assert_int_equal(w->result, CURLE_COULDNT_CONNECT);
	curl_multi_remove_handle(w->multi, e);
	curl_easy_cleanup(e);
}

/* A peer that never answers: only curl's timer (transfer_loop's timeout event) ends it. */
static void test_timeout(void **state)
{
	struct world *w = *state;
	CURL *e;

	w->mode = RESPOND_SILENT;
	e = start(w, listen_local(w, true), SHORT_TIMEOUT_MS);
	run(w);
	assert_true(w->done);
	assert_int_equal(w->result, CURLE_OPERATION_TIMEDOUT);
	curl_multi_remove_handle(w->multi, e);
	curl_easy_cleanup(e);
}

/* Removed mid-transfer, its socket watched: curl asks the loop to drop the event. */
static void test_free_in_flight(void **state)
{
	struct world *w = *state;
	int running;

	w->mode = RESPOND_SILENT;
	CURL *e = start(w, listen_local(w, true), LONG_TIMEOUT_MS);
	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	assert_int_equal(running, 1);
	assert_false(w->done);
	curl_multi_remove_handle(w->multi, e);
	curl_easy_cleanup(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_answered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
