/* preflight_probe.c - the IPIP echo probe of `droverctl preflight' (preflight_probe.h). */
#include "preflight_probe.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "preflight.h"
#include "wire.h"

#define PREFLIGHT_PROBE_RECV_MAX  2048
#define PREFLIGHT_PROBE_MS_PER_S  1000
#define PREFLIGHT_PROBE_NS_PER_MS 1000000

static unsigned preflight_probe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned)(ts.tv_sec * PREFLIGHT_PROBE_MS_PER_S +
			  ts.tv_nsec / PREFLIGHT_PROBE_NS_PER_MS);
}

/* A raw socket of protocol proto bound to source (0: any). */
static int preflight_probe_socket(int proto, uint32_t source)
{
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = source};
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, proto);

	if (fd < 0)
		return -errno;
	if (source != 0 && bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		int ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Sends len bytes of data to dst on a raw socket of proto, from source. 0 or -errno. */
static int preflight_probe_send(int proto, uint32_t source, uint32_t dst, const void *data,
				size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = dst};
	int fd = preflight_probe_socket(proto, source), ret = 0;

	if (fd < 0)
		return fd;
	if (sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Every target has answered both echoes (or could not be sent to). */
static bool preflight_probe_done(const struct preflight_probe_target *t, size_t n)
{
	const unsigned both = PREFLIGHT_PROBE_TUNNEL | PREFLIGHT_PROBE_PLAIN;

	for (size_t i = 0; i < n; i++) {
		if (t[i].send_error == 0 && (t[i].answers & both) != both)
			return false;
	}
	return true;
}

int preflight_probe_run(struct preflight_probe_target *targets, size_t n, unsigned timeout_ms)
{
	uint16_t id = (uint16_t)getpid();
	uint8_t pkt[PREFLIGHT_ECHO_LEN], icmp[PREFLIGHT_ICMP_ECHO_LEN],
	    buf[PREFLIGHT_PROBE_RECV_MAX];
	unsigned start, now;
	int rx;

	if (n > PREFLIGHT_PROBE_MAX)
		return -EINVAL;
	/* Opened before anything is sent, so that no answer comes before it listens. */
	rx = preflight_probe_socket(IPPROTO_ICMP, 0);
	if (rx < 0)
		return rx;
	start = preflight_probe_now_ms();
	for (size_t i = 0; i < n; i++) {
		struct preflight_probe_target *t = &targets[i];
		/* Even sequence numbers go through the tunnel, odd ones plain. */
		uint16_t seq = (uint16_t)(2 * i);

		t->answers = PREFLIGHT_PROBE_NONE;
		t->tunnel_ms = 0;
		preflight_echo_packet(pkt, t->source, t->proxy, id, seq);
		t->send_error =
		    preflight_probe_send(IPPROTO_IPIP, t->source, t->proxy, pkt, sizeof(pkt));
		if (t->send_error == -EPERM || t->send_error == -EACCES) {
			close(rx);
			return -EPERM;
		}
		preflight_icmp_echo(icmp, id, (uint16_t)(seq + 1));
		preflight_probe_send(IPPROTO_ICMP, t->source, t->proxy, icmp, sizeof(icmp));
	}
	while (!preflight_probe_done(targets, n)) {
		struct pollfd p = {.fd = rx, .events = POLLIN};
		uint32_t src;
		uint16_t rid, seq;
		ssize_t len;

		now = preflight_probe_now_ms();
		if (now - start >= timeout_ms)
			break;
		if (poll(&p, 1, (int)(timeout_ms - (now - start))) <= 0)
			continue;
		len = recv(rx, buf, sizeof(buf), MSG_DONTWAIT);
		if (len <= 0 || !preflight_echo_reply(buf, (size_t)len, &src, &rid, &seq) ||
		    rid != id || seq / 2 >= n || targets[seq / 2].proxy != src)
			continue;
		if (seq % 2 == 0 && !(targets[seq / 2].answers & PREFLIGHT_PROBE_TUNNEL)) {
			targets[seq / 2].answers |= PREFLIGHT_PROBE_TUNNEL;
			targets[seq / 2].tunnel_ms = preflight_probe_now_ms() - start;
		} else if (seq % 2 == 1) {
			targets[seq / 2].answers |= PREFLIGHT_PROBE_PLAIN;
		}
	}
	close(rx);
	return 0;
}
