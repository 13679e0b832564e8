/*
 * gen.c - the bench's traffic generator: paced sendmmsg bursts of TCP- or
 * UDP-shaped IPv4 or IPv6 packets over many source addresses and ports,
 * from a raw socket (for IPv4 the kernel fills in the IP checksum).
 *
 *   drover-bench-gen --rate PPS --duration S [--size BYTES] [--proto tcp|udp]
 *                    [--src CIDR] [--dst CIDR] [--dport N] [--burst N] [--run ID]
 *                    [--ipv6]
 *
 * --size is the IP packet's total length, header included. With --ipv6 the
 * packets are IPv6 (no extension header) and --src and --dst IPv6 prefixes of
 * at least /97; the smallest packet is then 20 bytes longer than IPv4's, for
 * the same TCP or UDP segment. Pacing is by absolute time: a burst
 * goes out as soon as it is due, so a generator that falls behind catches up
 * with back-to-back bursts and the count sent stays rate x duration; the
 * achieved rate (sent / elapsed) is printed so a caller can tell. Prints one
 * line: "sent=N elapsed=S rate=PPS tx_errors=N cpu=S" (cpu: the generator's own
 * user + system seconds, which include what the kernel did in its context:
 * with plain forwarding, the whole trip to the receiver).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "bench.h"
#include "wire.h"

#define GEN_BURST_MAX 256
#define GEN_SIZE_MAX  1500
/* A run that cannot keep up still ends: at most this many times its duration. */
#define GEN_OVERRUN   2
#define GEN_IP4_HLEN  20
#define GEN_IP6_HLEN  40
#define GEN_HOP_LIMIT 64
/* The shortest IPv6 prefix taken: its hosts vary in the low 31 bits at most. */
#define GEN_IP6_MIN_BITS 97

struct gen_options {
	double rate;
	double duration;
	unsigned size;
	unsigned burst;
	uint8_t proto;
	uint32_t src_base, src_count; /* host order */
	uint32_t dst_base, dst_count;
	uint16_t dport;
	uint32_t run;
	bool ipv6;
	struct in6_addr src6, dst6; /* the prefixes' first addresses; the low 32 bits vary */
	uint64_t tcp_sum;	    /* TCP: the sum of what stays the same (gen_tcp_base) */
};

/* The one's complement sum of len bytes as big-endian words (an odd last byte the high half). */
static uint64_t gen_sum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint64_t)p[i] << 8 | p[i + 1];
	if (i < len)
		sum += (uint64_t)p[i] << 8;
	return sum;
}

static uint16_t gen_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint64_t gen_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool gen_parse_cidr(const char *text, uint32_t *base, uint32_t *count)
{
	char buf[32];
	char *slash;
	struct in_addr a;
	unsigned bits;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (slash == NULL)
		goto bad;
	*slash = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1 || sscanf(slash + 1, "%u", &bits) != 1 || bits < 8 ||
	    bits > 32)
		goto bad;
	*count = 1U << (32 - bits);
	*base = ntohl(a.s_addr) & ~(*count - 1);
	/* Skip the network and broadcast addresses of a real subnet. */
	if (*count >= 4) {
		*base += 1;
		*count -= 2;
	}
	return true;
bad:
	fprintf(stderr, "gen: bad prefix `%s'\n", text);
	return false;
}

/* An IPv6 prefix of /97 or longer: its first address and its size. */
static bool gen_parse_cidr6(const char *text, struct in6_addr *base, uint32_t *count)
{
	char buf[64];
	char *slash;
	unsigned bits;
	uint32_t low;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (slash == NULL)
		goto bad;
	*slash = '\0';
	if (inet_pton(AF_INET6, buf, base) != 1 || sscanf(slash + 1, "%u", &bits) != 1 ||
	    bits < GEN_IP6_MIN_BITS || bits > 128)
		goto bad;
	*count = 1U << (128 - bits);
	memcpy(&low, &base->s6_addr[12], sizeof(low));
	low = htonl((ntohl(low) & ~(*count - 1)) + (*count >= 4 ? 1 : 0));
	memcpy(&base->s6_addr[12], &low, sizeof(low));
	/* Skip the subnet-router anycast address (and the last, for symmetry). */
	if (*count >= 4)
		*count -= 2;
	return true;
bad:
	fprintf(stderr, "gen: bad IPv6 prefix `%s' (/%u to /128)\n", text, GEN_IP6_MIN_BITS);
	return false;
}

/* base + off in the low 32 bits of an IPv6 address. */
static void gen_addr6(uint8_t *to, const struct in6_addr *base, uint32_t off)
{
	uint32_t low;

	memcpy(to, base->s6_addr, sizeof(base->s6_addr));
	memcpy(&low, &base->s6_addr[12], sizeof(low));
	low = htonl(ntohl(low) + off);
	memcpy(to + 12, &low, sizeof(low));
}

static size_t gen_iphlen(const struct gen_options *o)
{
	return o->ipv6 ? GEN_IP6_HLEN : GEN_IP4_HLEN;
}

/*
 * Packet i of the run: sources walk the prefix with an odd stride so
 * neighbouring packets come from different clients (the queue balancer
 * hashes addresses), ports and destinations vary with it.
 */
static void gen_fill(uint8_t *pkt, const struct gen_options *o, uint64_t i, uint64_t now_ns)
{
	struct iphdr *ip = (struct iphdr *)pkt;
	uint8_t *l4 = pkt + gen_iphlen(o);
	size_t l4len = o->proto == IPPROTO_TCP ? BENCH_TCP_HLEN : BENCH_UDP_HLEN;
	struct bench_stamp *st = (struct bench_stamp *)(l4 + l4len);
	uint32_t src = (uint32_t)((i * 2654435761ULL) % o->src_count);
	uint32_t dst = (uint32_t)((i * 40503ULL) % o->dst_count);
	uint16_t sport = (uint16_t)(1024 + (i * 7919) % 60000);

	if (o->ipv6) {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)pkt;

		gen_addr6(ip6->ip6_src.s6_addr, &o->src6, src);
		gen_addr6(ip6->ip6_dst.s6_addr, &o->dst6, dst);
	} else {
		ip->saddr = htonl(o->src_base + src);
		ip->daddr = htonl(o->dst_base + dst);
	}
	wire_put16(l4, sport);
	st->seq = i;
	st->sent_ns = now_ns;
	/*
	 * A TCP checksum that holds, as a NIC's receiver sees it (a program
	 * that sends frames on, XDP, checks it): the template's sum and what
	 * changed, added in. The seq and time words sit at even offsets.
	 */
	if (o->proto == IPPROTO_TCP) {
		uint64_t sum = o->tcp_sum + gen_sum(l4, 2) + gen_sum(&st->seq, 16);
		if (o->ipv6)
			sum += gen_sum(pkt + 8, 32);
		else
			sum += gen_sum(&ip->saddr, 8);
		wire_put16(l4 + 16, (uint16_t)~gen_fold(sum));
	}
}

/* The sum of a fresh template's TCP segment and the fixed part of its pseudo header. */
static uint64_t gen_tcp_base(const uint8_t *pkt, const struct gen_options *o)
{
	size_t hlen = gen_iphlen(o), len = o->size - hlen;

	return gen_sum(pkt + hlen, len) + IPPROTO_TCP + len;
}

/* The parts of a packet that stay the same for the whole run. */
static void gen_template(uint8_t *pkt, const struct gen_options *o)
{
	struct iphdr *ip = (struct iphdr *)pkt;
	uint8_t *l4 = pkt + gen_iphlen(o);
	size_t l4len = o->proto == IPPROTO_TCP ? BENCH_TCP_HLEN : BENCH_UDP_HLEN;
	struct bench_stamp *st = (struct bench_stamp *)(l4 + l4len);

	memset(pkt, 0, o->size);
	if (o->ipv6) {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)pkt;

		ip6->ip6_flow = htonl(6U << 28);
		ip6->ip6_plen = htons((uint16_t)(o->size - GEN_IP6_HLEN));
		ip6->ip6_nxt = o->proto;
		ip6->ip6_hlim = GEN_HOP_LIMIT;
	} else {
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons((uint16_t)o->size);
		ip->frag_off = htons(IP_DF);
		ip->ttl = GEN_HOP_LIMIT;
		ip->protocol = o->proto;
	}
	wire_put16(l4 + 2, o->dport);
	if (o->proto == IPPROTO_TCP) {
		l4[4] = 0x10;	 /* sequence number: any */
		l4[12] = 5 << 4; /* data offset */
		l4[13] = 0x10;	 /* ACK: an established flow's packet */
		l4[14] = 0xff;	 /* window */
	} else {
		uint16_t ulen = (uint16_t)(o->size - gen_iphlen(o));
		wire_put16(l4 + 4, ulen);
		/* Checksum 0: none, valid for UDP over IPv4 (not over IPv6: nothing checks it
		 * here). */
	}
	st->magic = htonl(BENCH_MAGIC);
	st->run = htonl(o->run);
}

static int gen_run(struct gen_options *o)
{
	static uint8_t bufs[GEN_BURST_MAX][GEN_SIZE_MAX];
	struct mmsghdr msgs[GEN_BURST_MAX];
	struct iovec iov[GEN_BURST_MAX];
	struct sockaddr_in to[GEN_BURST_MAX];
	struct sockaddr_in6 to6[GEN_BURST_MAX];
	uint64_t total = (uint64_t)(o->rate * o->duration + 0.5), sent = 0, tx_errors = 0;
	uint64_t t0, deadline, now;
	double ns_per_pkt = 1e9 / o->rate;
	int fd, sndbuf = 16 << 20;

	/* IPPROTO_RAW: the header comes with the packet, for IPv6 as for IPv4. */
	fd = socket(o->ipv6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("gen: raw socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	/* Wake-ups within a few microseconds of the due time, not the default 50. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	for (unsigned i = 0; i < o->burst; i++) {
		gen_template(bufs[i], o);
		if (i == 0)
			o->tcp_sum = gen_tcp_base(bufs[0], o);
		iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = o->size};
		to[i] = (struct sockaddr_in){.sin_family = AF_INET};
		to6[i] = (struct sockaddr_in6){.sin6_family = AF_INET6};
		msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
		if (o->ipv6) {
			msgs[i].msg_hdr.msg_name = &to6[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(to6[i]);
		} else {
			msgs[i].msg_hdr.msg_name = &to[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(to[i]);
		}
	}

	t0 = gen_now_ns(CLOCK_MONOTONIC);
	deadline = t0 + (uint64_t)(o->duration * 1e9 * GEN_OVERRUN);
	while (sent < total) {
		now = gen_now_ns(CLOCK_MONOTONIC);
		if (now > deadline)
			break;
		uint64_t due = (uint64_t)((double)(now - t0) / ns_per_pkt) + 1;
		if (due > total)
			due = total;
		if (due <= sent) {
			/* Sleep until the next burst (or the last, shorter one) is due. */
			uint64_t want = sent + o->burst < total ? sent + o->burst : total;
			uint64_t at = t0 + (uint64_t)((double)(want - 1) * ns_per_pkt);
			struct timespec ts = {.tv_sec = (time_t)(at / 1000000000ULL),
					      .tv_nsec = (long)(at % 1000000000ULL)};
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			continue;
		}
		unsigned n = due - sent < o->burst ? (unsigned)(due - sent) : o->burst;
		uint64_t stamp = gen_now_ns(CLOCK_REALTIME);
		for (unsigned i = 0; i < n; i++) {
			gen_fill(bufs[i], o, sent + i, stamp);
			if (o->ipv6)
				to6[i].sin6_addr = ((struct ip6_hdr *)bufs[i])->ip6_dst;
			else
				to[i].sin_addr.s_addr = ((struct iphdr *)bufs[i])->daddr;
		}
		unsigned done = 0;
		while (done < n) {
			int r = sendmmsg(fd, msgs + done, n - done, 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				tx_errors++;
				done++;
				continue;
			}
			done += (unsigned)r;
		}
		sent += n;
	}
	now = gen_now_ns(CLOCK_MONOTONIC);
	double elapsed = (double)(now - t0) / 1e9;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("sent=%llu elapsed=%.6f rate=%.0f tx_errors=%llu cpu=%.6f\n",
	       (unsigned long long)sent, elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0,
	       (unsigned long long)tx_errors, cpu);
	close(fd);
	return 0;
}

static void gen_usage(void)
{
	fprintf(stderr, "usage: drover-bench-gen --rate PPS --duration S [--size BYTES] "
			"[--proto tcp|udp] [--src CIDR] [--dst CIDR] [--dport N] [--burst N] "
			"[--run ID] [--ipv6]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"rate", required_argument, NULL, 'r'},
	    {"duration", required_argument, NULL, 'd'},
	    {"size", required_argument, NULL, 's'},
	    {"proto", required_argument, NULL, 'p'},
	    {"src", required_argument, NULL, 'S'},
	    {"dst", required_argument, NULL, 'D'},
	    {"dport", required_argument, NULL, 'P'},
	    {"burst", required_argument, NULL, 'b'},
	    {"run", required_argument, NULL, 'R'},
	    {"ipv6", no_argument, NULL, '6'},
	    {NULL, 0, NULL, 0},
	};
	struct gen_options o = {.size = 64, .burst = 32, .proto = IPPROTO_TCP, .dport = 80};
	const char *src = NULL, *dst = NULL;
	unsigned v;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.rate = atof(optarg);
			break;
		case 'd':
			o.duration = atof(optarg);
			break;
		case 's':
			o.size = (unsigned)atoi(optarg);
			break;
		case 'p':
			if (strcmp(optarg, "tcp") == 0)
				o.proto = IPPROTO_TCP;
			else if (strcmp(optarg, "udp") == 0)
				o.proto = IPPROTO_UDP;
			else {
				fprintf(stderr, "gen: bad protocol `%s'\n", optarg);
				return 2;
			}
			break;
		case 'S':
			src = optarg;
			break;
		case 'D':
			dst = optarg;
			break;
		case 'P':
			if (sscanf(optarg, "%u", &v) != 1 || v == 0 || v > 65535) {
				fprintf(stderr, "gen: bad port `%s'\n", optarg);
				return 2;
			}
			o.dport = (uint16_t)v;
			break;
		case 'b':
			o.burst = (unsigned)atoi(optarg);
			break;
		case 'R':
			o.run = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case '6':
			o.ipv6 = true;
			break;
		default:
			gen_usage();
			return 2;
		}
	}
	unsigned minsize = (unsigned)gen_iphlen(&o) +
			   (o.proto == IPPROTO_TCP ? BENCH_TCP_HLEN : BENCH_UDP_HLEN) +
			   (unsigned)sizeof(struct bench_stamp);
	if (o.rate <= 0 || o.duration <= 0 || o.duration > 600 || o.size < minsize ||
	    o.size > GEN_SIZE_MAX || o.burst < 1 || o.burst > GEN_BURST_MAX) {
		fprintf(stderr,
			"gen: need rate > 0, 0 < duration <= 600, %u <= size <= %u, "
			"1 <= burst <= %u\n",
			minsize, GEN_SIZE_MAX, GEN_BURST_MAX);
		gen_usage();
		return 2;
	}
	if (o.ipv6) {
		if (!gen_parse_cidr6(src ? src : "2001:db8:32::/116", &o.src6, &o.src_count) ||
		    !gen_parse_cidr6(dst ? dst : "2001:db8:ff::/112", &o.dst6, &o.dst_count))
			return 2;
	} else if (!gen_parse_cidr(src ? src : "198.18.32.0/20", &o.src_base, &o.src_count) ||
		   !gen_parse_cidr(dst ? dst : "198.19.0.0/16", &o.dst_base, &o.dst_count)) {
		return 2;
	}
	return gen_run(&o);
}
