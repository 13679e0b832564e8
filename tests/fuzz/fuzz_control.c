/*
 * fuzz_control.c - the droverctl socket protocol: request bytes go through
 * control.c's own read handler (included, it is static) on a bufferevent
 * pair instead of a socket, written in chunks at the client's end as a
 * stream would bring them; answers come out at the client's end. The manager behind it is the API
 * harness's (fuzz_manager.h): real store, no NFQUEUE.
 *
 * Input: one knob byte (chunk size, 0 = everything at once; 255 = everything
 * at once, then a line longer than CONTROL_LINE_MAX), then the bytes a
 * client writes. Every answer must be one line of JSON with a boolean "ok";
 * there is one answer per complete line, plus one refusal once more than
 * CONTROL_LINE_MAX bytes wait without a newline, after which nothing is read.
 */
#include "../../appliance/control.c"

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fuzz_manager.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *fuzz_base;

struct fuzz_control_conn {
	struct bufferevent *pair[2]; /* [0] droverd's end, [1] the client's */
	size_t lines;		     /* complete lines written */
	size_t answers;		     /* answer lines read */
	size_t pending;		     /* bytes written since the last newline */
	bool refused;		     /* droverd stopped reading */
};

/* Reads every answer waiting at the client's end; returns how many there were. */
static size_t fuzz_control_answers(struct bufferevent *client)
{
	struct evbuffer *in = bufferevent_get_input(client);
	size_t n = 0, len;
	char *line;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		json_error_t jerr;
		json_t *resp = json_loadb(line, len, 0, &jerr);

		assert(resp != NULL);
		fuzz_check_response(resp);
		json_decref(resp);
		free(line);
		n++;
	}
	assert(evbuffer_get_length(in) == 0);
	return n;
}

/* Writes bytes at the client's end and checks the answers; false once reading stopped. */
static bool fuzz_control_send(struct fuzz_control_conn *conn, const uint8_t *bytes, size_t n)
{
	/*
	 * The pair hands the bytes over and runs control_on_read, as a socket's
	 * data would; a pair always defers its callbacks, so the loop runs until
	 * nothing is left to do.
	 */
	bufferevent_write(conn->pair[1], bytes, n);
	do
		event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	while (event_base_get_num_events(fuzz_base, EVENT_BASE_COUNT_ACTIVE) > 0);
	for (size_t i = 0; i < n; i++) {
		conn->pending++;
		if (bytes[i] == '\n') {
			conn->lines++;
			conn->pending = 0;
		}
	}
	conn->answers += fuzz_control_answers(conn->pair[1]);
	conn->refused = !(bufferevent_get_enabled(conn->pair[0]) & EV_READ);
	/* Every complete line is answered at once; only the limit stops reading. */
	assert(conn->answers == conn->lines + (conn->refused ? 1 : 0));
	assert(conn->refused == (conn->pending > CONTROL_LINE_MAX));
	if (conn->refused)
		assert(evbuffer_get_length(bufferevent_get_input(conn->pair[0])) == 0);
	return !conn->refused;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_control_conn conn = {0};
	struct control c = {0};
	struct control_conn cc = {.c = &c, .allowed = true};
	size_t chunk;
	bool fill;

	if (size < 1)
		return 0;
	if (fuzz_base == NULL && (fuzz_base = event_base_new()) == NULL)
		abort();
	c.m = fuzz_manager_fresh();
	if (bufferevent_pair_new(fuzz_base, 0, conn.pair) < 0)
		abort();
	/* As control_on_accept sets up a root peer's connection; the client end reads the answers.
	 */
	cc.bev = conn.pair[0];
	bufferevent_setcb(conn.pair[0], control_on_read, NULL, NULL, &cc);
	bufferevent_enable(conn.pair[0], EV_READ | EV_WRITE);
	bufferevent_enable(conn.pair[1], EV_READ | EV_WRITE);

	fill = data[0] == 0xff;
	chunk = data[0] != 0 && !fill ? data[0] : size;
	data++;
	size--;
	for (size_t off = 0; off < size; off += chunk) {
		if (!fuzz_control_send(&conn, data + off, size - off < chunk ? size - off : chunk))
			break;
	}
	if (fill && !conn.refused) {
		static uint8_t filler[CONTROL_LINE_MAX + 1];
		if (filler[0] == 0)
			memset(filler, 'x', sizeof(filler));
		fuzz_control_send(&conn, filler, sizeof(filler));
		assert(conn.refused);
	}
	fuzz_check_manager(c.m);
	bufferevent_free(conn.pair[0]);
	bufferevent_free(conn.pair[1]);
	fuzz_manager_done();
	return 0;
}
