/*
 * sink.c - the bench's latency probe on a receiving proxy: reads every IPv4
 * packet arriving on a device (AF_PACKET, so plain and IPIP packets alike,
 * before the firewall drops them), finds the generator's stamp behind the
 * TCP/UDP header (of the inner packet, for IPIP) and records arrival time
 * minus send time. The arrival time is the kernel's receive timestamp, so
 * the sink's own scheduling does not count.
 *
 *   drover-bench-sink --dev DEV --run ID --out FILE [--max-seconds S]
 *
 * Runs until SIGTERM/SIGINT (or max-seconds), then writes each latency as a
 * native uint32 of nanoseconds to FILE and prints "samples=N foreign=N".
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "bench.h"

#define SINK_BATCH	 64
#define SINK_SNAP	 256 /* bytes of each packet we need: headers and the stamp */
#define SINK_MAX_SAMPLES (8U << 20)

static volatile sig_atomic_t sink_stop;

static void sink_on_signal(int sig)
{
	(void)sig;
	sink_stop = 1;
}

/* The stamp of a bench packet of this run, or NULL. */
static const struct bench_stamp *sink_stamp(const uint8_t *p, size_t len, uint32_t run)
{
	for (int depth = 0; depth < 2; depth++) {
		if (len < 20 || (p[0] >> 4) != 4)
			return NULL;
		size_t ihl = (size_t)(p[0] & 15) * 4;
		uint8_t proto = p[9];
		if (ihl < 20 || len < ihl)
			return NULL;
		p += ihl;
		len -= ihl;
		if (proto == 4) /* IPIP: look inside once */
			continue;
		size_t l4;
		if (proto == IPPROTO_TCP && len >= 20)
			l4 = (size_t)(p[12] >> 4) * 4;
		else if (proto == IPPROTO_UDP)
			l4 = 8;
		else
			return NULL;
		if (len < l4 + sizeof(struct bench_stamp))
			return NULL;
		const struct bench_stamp *st = (const struct bench_stamp *)(p + l4);
		if (st->magic != htonl(BENCH_MAGIC) || st->run != htonl(run))
			return NULL;
		return st;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dev", required_argument, NULL, 'd'},
	    {"run", required_argument, NULL, 'r'},
	    {"out", required_argument, NULL, 'o'},
	    {"max-seconds", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	static uint8_t bufs[SINK_BATCH][SINK_SNAP];
	static char ctl[SINK_BATCH][CMSG_SPACE(sizeof(struct timespec))];
	struct mmsghdr msgs[SINK_BATCH];
	struct iovec iov[SINK_BATCH];
	const char *dev = NULL, *out = NULL;
	uint32_t run = 0, *samples;
	size_t nsamples = 0, foreign = 0;
	double max_seconds = 60;
	int c, fd, one = 1, rcvbuf = 64 << 20;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			break;
		case 'r':
			run = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'o':
			out = optarg;
			break;
		case 'm':
			max_seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: drover-bench-sink --dev DEV --run ID --out FILE "
					"[--max-seconds S]\n");
			return 2;
		}
	}
	if (dev == NULL || out == NULL || max_seconds <= 0 || max_seconds > 3600) {
		fprintf(stderr, "sink: need --dev, --out and 0 < max-seconds <= 3600\n");
		return 2;
	}
	samples = malloc(SINK_MAX_SAMPLES * sizeof(*samples));
	if (samples == NULL)
		return 1;

	fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	if (fd < 0) {
		perror("sink: packet socket");
		return 1;
	}
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_protocol = htons(ETH_P_IP),
				 .sll_ifindex = (int)if_nametoindex(dev)};
	if (ll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		fprintf(stderr, "sink: cannot bind to `%s': %s\n", dev, strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	signal(SIGTERM, sink_on_signal);
	signal(SIGINT, sink_on_signal);

	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* Ready: the caller waits for this line before it starts sending. */
	printf("ready\n");
	fflush(stdout);
	while (!sink_stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - start.tv_sec) > max_seconds)
			break;
		for (int i = 0; i < SINK_BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = SINK_SNAP};
			msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i],
							  .msg_iovlen = 1,
							  .msg_control = ctl[i],
							  .msg_controllen = sizeof(ctl[i])};
		}
		int n = recvmmsg(fd, msgs, SINK_BATCH, MSG_WAITFORONE, NULL);
		if (n < 0)
			continue; /* timeout or signal: look at the clock and the flag */
		for (int i = 0; i < n; i++) {
			const struct bench_stamp *st = sink_stamp(bufs[i], msgs[i].msg_len, run);
			struct timespec *ts = NULL;

			if (st == NULL) {
				foreign++;
				continue;
			}
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm != NULL;
			     cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm))
				if (cm->cmsg_level == SOL_SOCKET &&
				    cm->cmsg_type == SCM_TIMESTAMPNS)
					ts = (struct timespec *)CMSG_DATA(cm);
			if (ts == NULL || nsamples == SINK_MAX_SAMPLES)
				continue;
			uint64_t at = (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
			uint64_t sent;
			memcpy(&sent, &st->sent_ns, sizeof(sent));
			uint64_t lat = at > sent ? at - sent : 0;
			samples[nsamples++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
		}
	}

	FILE *f = fopen(out, "we");
	if (f == NULL || fwrite(samples, sizeof(*samples), nsamples, f) != nsamples) {
		fprintf(stderr, "sink: cannot write `%s'\n", out);
		return 1;
	}
	fclose(f);
	printf("samples=%zu foreign=%zu\n", nsamples, foreign);
	free(samples);
	close(fd);
	return 0;
}
