/*
 * drover-decap.c - userspace IPIP decapsulator for proxies whose kernel has
 * no ipip module.
 *
 * The appliance wraps each client packet, untouched, in an outer IPv4 header
 * with protocol 4 and sends it to the proxy. Here a raw IPPROTO_IPIP socket
 * receives those datagrams (the kernel hands protocol-4 packets to raw
 * sockets, reassembled, and sends no protocol-unreachable when a raw socket
 * took them), the outer and inner headers are checked, and the inner packet
 * is written byte-for-byte into a TUN device. To the proxy's stack the client
 * packet then arrives on that device exactly as the client sent it, so a
 * REDIRECT rule can hand it to Squid in intercept mode.
 *
 *   drover-decap --dev NAME [--address A.B.C.D[/N]] [--from APPLIANCE_IP]...
 *                [--clients CIDR[,CIDR]]... [--mtu N] [--burst N] [--log-level LEVEL]
 *
 * What it accepts is the appliance's traffic and nothing else: the outer
 * source must be one of the --from addresses (otherwise any host that can
 * reach the proxy could hand Squid a request with any source it likes), and
 * the inner source must lie in one of the --clients ranges (the appliance
 * only wraps its clients' packets). drover-proxy-setup.sh gives both, and
 * installs the same two checks as iptables rules in front of this program.
 *
 * Counters go to stderr on SIGUSR1 and at exit; SIGTERM and SIGINT end it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "wire.h"

#define DECAP_PROG	    "drover-decap"
#define DECAP_MAX_FROM	    64
#define DECAP_MAX_CLIENTS   64
#define DECAP_BURST_DEFAULT 32
#define DECAP_BURST_MAX	    256
/* A reassembled datagram is at most 65535 bytes; one more shows truncation. */
#define DECAP_BUF_SIZE 65536
#define DECAP_MTU_MIN  WIRE_IPV4_MTU_MIN
#define DECAP_MTU_MAX  (WIRE_IPV4_LEN_MAX - WIRE_IPV4_HLEN_MIN) /* less the outer header */

/* Why a received datagram was not written to the TUN device. */
enum decap_drop {
	DECAP_DROP_TRUNCATED,	   /* larger than the receive buffer */
	DECAP_DROP_OUTER_SHORT,	   /* shorter than an IPv4 header */
	DECAP_DROP_OUTER_VERSION,  /* outer header is not IPv4 */
	DECAP_DROP_OUTER_IHL,	   /* IHL < 5 or past the datagram */
	DECAP_DROP_OUTER_LENGTH,   /* total length disagrees with what arrived */
	DECAP_DROP_OUTER_PROTOCOL, /* not protocol 4 */
	DECAP_DROP_SENDER,	   /* outer source not in the --from list */
	DECAP_DROP_INNER_SHORT,	   /* no room for an inner IPv4 header */
	DECAP_DROP_INNER_VERSION,  /* inner header is not IPv4 */
	DECAP_DROP_INNER_IHL,	   /* inner IHL < 5 or past the datagram */
	DECAP_DROP_INNER_LENGTH,   /* inner total length != bytes remaining */
	DECAP_DROP_INNER_CHECKSUM, /* inner header checksum wrong */
	DECAP_DROP_INNER_SOURCE,   /* inner source outside the --clients ranges */
	DECAP_DROP_TUN_WRITE,	   /* the TUN device refused the packet */
	DECAP_DROP_COUNT,
};

static const char *const decap_drop_names[DECAP_DROP_COUNT] = {
    [DECAP_DROP_TRUNCATED] = "truncated",
    [DECAP_DROP_OUTER_SHORT] = "outer_short",
    [DECAP_DROP_OUTER_VERSION] = "outer_version",
    [DECAP_DROP_OUTER_IHL] = "outer_ihl",
    [DECAP_DROP_OUTER_LENGTH] = "outer_length",
    [DECAP_DROP_OUTER_PROTOCOL] = "outer_protocol",
    [DECAP_DROP_SENDER] = "sender",
    [DECAP_DROP_INNER_SHORT] = "inner_short",
    [DECAP_DROP_INNER_VERSION] = "inner_version",
    [DECAP_DROP_INNER_IHL] = "inner_ihl",
    [DECAP_DROP_INNER_LENGTH] = "inner_length",
    [DECAP_DROP_INNER_CHECKSUM] = "inner_checksum",
    [DECAP_DROP_INNER_SOURCE] = "inner_source",
    [DECAP_DROP_TUN_WRITE] = "tun_write",
};

/* What the command line asked for; plain data. */
struct decap_config {
	char dev[IFNAMSIZ];
	bool has_address;
	struct in_addr address;
	unsigned int prefix_len;
	uint32_t from[DECAP_MAX_FROM]; /* network byte order */
	size_t from_count;
	struct decap_range {
		uint32_t network; /* host byte order, masked */
		uint32_t mask;	  /* host byte order */
	} clients[DECAP_MAX_CLIENTS];
	size_t client_count; /* 0: inner sources not restricted */
	unsigned int mtu;    /* 0: leave the device default */
	unsigned int burst;
};

struct decap_counters {
	uint64_t received;
	uint64_t written;
	uint64_t written_bytes;
	uint64_t dropped[DECAP_DROP_COUNT];
};

static volatile sig_atomic_t decap_stop_signal;
static volatile sig_atomic_t decap_report_pending;

static bool decap_sender_allowed(const struct decap_config *cfg, uint32_t src)
{
	if (cfg->from_count == 0)
		return true;
	for (size_t i = 0; i < cfg->from_count; i++) {
		if (cfg->from[i] == src)
			return true;
	}
	return false;
}

/* src (network byte order) lies in a --clients range, or no range was given. */
static bool decap_client_allowed(const struct decap_config *cfg, uint32_t src)
{
	uint32_t host = ntohl(src);

	if (cfg->client_count == 0)
		return true;
	for (size_t i = 0; i < cfg->client_count; i++) {
		if ((host & cfg->clients[i].mask) == cfg->clients[i].network)
			return true;
	}
	return false;
}

/*
 * Checks buf[0..len) as an IPIP datagram as a raw socket delivers it (outer
 * header included) and finds the inner packet. Never reads outside the
 * buffer. Returns DECAP_DROP_COUNT and sets *inner_off / *inner_len when the
 * datagram is good, or the first reason to drop it.
 */
static enum decap_drop decap_check(const struct decap_config *cfg, const uint8_t *buf, size_t len,
				   size_t *inner_off, size_t *inner_len)
{
	size_t outer_ihl, inner_ihl, remain;
	uint32_t src;

	if (len < WIRE_IPV4_HLEN_MIN)
		return DECAP_DROP_OUTER_SHORT;
	if (wire_ip_version(buf) != WIRE_IPV4_VERSION)
		return DECAP_DROP_OUTER_VERSION;
	outer_ihl = wire_ip_hlen(buf);
	if (outer_ihl < WIRE_IPV4_HLEN_MIN || outer_ihl > len)
		return DECAP_DROP_OUTER_IHL;
	if (wire_get16(buf + 2) != len)
		return DECAP_DROP_OUTER_LENGTH;
	if (buf[9] != IPPROTO_IPIP)
		return DECAP_DROP_OUTER_PROTOCOL;
	memcpy(&src, buf + 12, sizeof(src));
	if (!decap_sender_allowed(cfg, src))
		return DECAP_DROP_SENDER;

	remain = len - outer_ihl;
	buf += outer_ihl;
	if (remain < WIRE_IPV4_HLEN_MIN)
		return DECAP_DROP_INNER_SHORT;
	if (wire_ip_version(buf) != WIRE_IPV4_VERSION)
		return DECAP_DROP_INNER_VERSION;
	inner_ihl = wire_ip_hlen(buf);
	if (inner_ihl < WIRE_IPV4_HLEN_MIN || inner_ihl > remain)
		return DECAP_DROP_INNER_IHL;
	if (wire_get16(buf + 2) != remain)
		return DECAP_DROP_INNER_LENGTH;
	if (wire_checksum(buf, inner_ihl) != 0)
		return DECAP_DROP_INNER_CHECKSUM;
	memcpy(&src, buf + 12, sizeof(src));
	if (!decap_client_allowed(cfg, src))
		return DECAP_DROP_INNER_SOURCE;

	*inner_off = outer_ihl;
	*inner_len = remain;
	return DECAP_DROP_COUNT;
}

static void decap_report(const struct decap_counters *c)
{
	uint64_t dropped = 0;
	char reasons[512];
	size_t used = 0;

	reasons[0] = '\0';
	for (int i = 0; i < DECAP_DROP_COUNT; i++) {
		int n;

		dropped += c->dropped[i];
		n = snprintf(reasons + used, sizeof(reasons) - used, " %s=%llu",
			     decap_drop_names[i], (unsigned long long)c->dropped[i]);
		if (n > 0 && (size_t)n < sizeof(reasons) - used)
			used += (size_t)n;
	}
	fprintf(stderr, "%s: received=%llu written=%llu written_bytes=%llu dropped=%llu%s\n",
		DECAP_PROG, (unsigned long long)c->received, (unsigned long long)c->written,
		(unsigned long long)c->written_bytes, (unsigned long long)dropped, reasons);
}

static void decap_on_signal(int sig)
{
	if (sig == SIGUSR1)
		decap_report_pending = 1;
	else
		decap_stop_signal = sig;
}

/* Usage errors quote the bad input and exit 2; they happen before logging matters. */
static void __attribute__((noreturn, format(printf, 1, 2))) decap_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", DECAP_PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry `%s --help'.\n", DECAP_PROG);
	exit(2);
}

static void decap_usage(FILE *out)
{
	fprintf(out,
		"usage: %s --dev NAME [--address A.B.C.D[/N]] [--from APPLIANCE_IP]...\n"
		"                    [--clients CIDR[,CIDR]]... [--mtu N] [--burst N]\n"
		"                    [--log-level LEVEL]\n"
		"\n"
		"Receives IPIP (protocol 4) datagrams on a raw socket and writes the inner\n"
		"IPv4 packets, unchanged, into the TUN device NAME, which it creates and\n"
		"brings up. --address gives the device an address (prefix /32 unless /N).\n"
		"--from (repeatable) accepts outer sources from those addresses only.\n"
		"--clients (repeatable) accepts inner sources in those ranges only.\n"
		"SIGUSR1 prints counters to stderr; SIGTERM/SIGINT exit cleanly.\n",
		DECAP_PROG);
}

static bool decap_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = (unsigned int)v;
	return true;
}

/* Accepts "A.B.C.D" or "A.B.C.D/N" (N 0..32); prefix defaults to 32. */
static bool decap_parse_address(const char *s, struct in_addr *addr, unsigned int *prefix_len)
{
	char copy[INET_ADDRSTRLEN + 4];
	char *slash;

	if (strlen(s) >= sizeof(copy))
		return false;
	strcpy(copy, s);
	*prefix_len = 32;
	slash = strchr(copy, '/');
	if (slash != NULL) {
		*slash = '\0';
		if (!decap_parse_uint(slash + 1, 0, 32, prefix_len))
			return false;
	}
	return inet_pton(AF_INET, copy, addr) == 1;
}

/* Adds each CIDR of a comma list to cfg's client ranges; a bad one is a usage error. */
static void decap_parse_clients(const char *list, struct decap_config *cfg)
{
	char copy[DECAP_MAX_CLIENTS * (INET_ADDRSTRLEN + 4)];
	char *save = NULL;

	if (list[0] == '\0' || strlen(list) >= sizeof(copy))
		decap_usage_error("invalid client ranges `%s'", list);
	strcpy(copy, list);
	for (char *cidr = strtok_r(copy, ",", &save); cidr != NULL;
	     cidr = strtok_r(NULL, ",", &save)) {
		struct in_addr addr;
		unsigned int prefix_len;
		uint32_t mask;

		if (strchr(cidr, '/') == NULL || !decap_parse_address(cidr, &addr, &prefix_len))
			decap_usage_error("invalid client range `%s' (want A.B.C.D/N)", cidr);
		if (cfg->client_count == DECAP_MAX_CLIENTS)
			decap_usage_error("too many client ranges (at most %d)", DECAP_MAX_CLIENTS);
		mask = prefix_len == 0 ? 0 : ~0U << (32 - prefix_len);
		cfg->clients[cfg->client_count].network = ntohl(addr.s_addr) & mask;
		cfg->clients[cfg->client_count].mask = mask;
		cfg->client_count++;
	}
}

static void decap_parse_args(int argc, char **argv, struct decap_config *cfg)
{
	static const struct option options[] = {
	    {"dev", required_argument, NULL, 'd'},
	    {"address", required_argument, NULL, 'a'},
	    {"from", required_argument, NULL, 'f'},
	    {"clients", required_argument, NULL, 'c'},
	    {"mtu", required_argument, NULL, 'm'},
	    {"burst", required_argument, NULL, 'b'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum log_level level = LOG_LEVEL_INFO;
	struct in_addr from;
	unsigned int prefix_len;
	int opt;

	memset(cfg, 0, sizeof(*cfg));
	cfg->burst = DECAP_BURST_DEFAULT;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":d:a:f:c:m:b:l:Vh", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (optarg[0] == '\0' || strlen(optarg) >= IFNAMSIZ ||
			    strpbrk(optarg, "/ \t\n:") != NULL)
				decap_usage_error("invalid device name `%s'", optarg);
			strcpy(cfg->dev, optarg);
			break;
		case 'a':
			if (!decap_parse_address(optarg, &cfg->address, &cfg->prefix_len))
				decap_usage_error("invalid address `%s'", optarg);
			cfg->has_address = true;
			break;
		case 'f':
			if (!decap_parse_address(optarg, &from, &prefix_len) || prefix_len != 32)
				decap_usage_error("invalid address `%s'", optarg);
			if (cfg->from_count == DECAP_MAX_FROM)
				decap_usage_error("too many --from addresses (at most %d)",
						  DECAP_MAX_FROM);
			cfg->from[cfg->from_count++] = from.s_addr;
			break;
		case 'c':
			decap_parse_clients(optarg, cfg);
			break;
		case 'm':
			if (!decap_parse_uint(optarg, DECAP_MTU_MIN, DECAP_MTU_MAX, &cfg->mtu))
				decap_usage_error("invalid MTU `%s' (%d..%d)", optarg,
						  DECAP_MTU_MIN, DECAP_MTU_MAX);
			break;
		case 'b':
			if (!decap_parse_uint(optarg, 1, DECAP_BURST_MAX, &cfg->burst))
				decap_usage_error("invalid burst `%s' (1..%d)", optarg,
						  DECAP_BURST_MAX);
			break;
		case 'l':
			if (!log_parse_level(optarg, &level))
				decap_usage_error("invalid log level `%s'", optarg);
			break;
		case 'V':
			printf("%s %s\n", DECAP_PROG, DROVER_VERSION);
			exit(0);
		case 'h':
			decap_usage(stdout);
			exit(0);
		case ':':
			decap_usage_error("option `%s' needs a value", argv[optind - 1]);
		default:
			decap_usage_error("unknown option `%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		decap_usage_error("unexpected argument `%s'", argv[optind]);
	if (cfg->dev[0] == '\0')
		decap_usage_error("--dev NAME is required");
	log_init(DECAP_PROG, level);
}

/* Creates the TUN device; returns its fd. Start-up only: failures are fatal. */
static int decap_tun_open(const char *dev)
{
	struct ifreq ifr;
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fatal("open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		fatal("create TUN device `%s'", dev);
	if (strcmp(ifr.ifr_name, dev) != 0)
		fatalx("kernel named the TUN device `%s', not `%s'", ifr.ifr_name, dev);
	return fd;
}

/* Sets MTU and address (when asked) and brings the device up. Start-up only. */
static void decap_tun_configure(const struct decap_config *cfg)
{
	struct sockaddr_in *sin;
	struct ifreq ifr;
	int s;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fatal("socket");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->dev);

	if (cfg->mtu != 0) {
		ifr.ifr_mtu = (int)cfg->mtu;
		if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
			fatal("set MTU %u on `%s'", cfg->mtu, cfg->dev);
	}
	if (cfg->has_address) {
		sin = (struct sockaddr_in *)&ifr.ifr_addr;
		memset(&ifr.ifr_addr, 0, sizeof(ifr.ifr_addr));
		sin->sin_family = AF_INET;
		sin->sin_addr = cfg->address;
		if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
			fatal("set address on `%s'", cfg->dev);
		sin = (struct sockaddr_in *)&ifr.ifr_netmask;
		memset(&ifr.ifr_netmask, 0, sizeof(ifr.ifr_netmask));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr =
		    cfg->prefix_len == 0 ? 0 : htonl(~0U << (32 - cfg->prefix_len));
		if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
			fatal("set netmask on `%s'", cfg->dev);
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fatal("get flags of `%s'", cfg->dev);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fatal("bring `%s' up", cfg->dev);
	close(s);
}

static int decap_raw_open(void)
{
	int s, rcvbuf = 4 << 20;

	s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_IPIP);
	if (s < 0)
		fatal("raw IPIP socket");
	/* Bursts arrive faster than one loop turn; a larger queue drops fewer. */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		log_warn("cannot enlarge the receive buffer");
	return s;
}

static void decap_signals(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t blocked;

	/*
	 * The signals stay blocked except inside ppoll, so a flag set by a
	 * handler is always seen before the loop sleeps again.
	 */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &blocked, wait_mask) < 0)
		fatal("sigprocmask");
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGUSR1);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = decap_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Receives and forwards one burst; returns false when the socket is drained. */
static bool decap_burst(const struct decap_config *cfg, int raw, int tun, struct mmsghdr *msgs,
			uint8_t (*bufs)[DECAP_BUF_SIZE], struct decap_counters *c)
{
	static bool tun_error_logged;
	size_t inner_off, inner_len;
	enum decap_drop why;
	int n;

	for (unsigned int i = 0; i < cfg->burst; i++)
		msgs[i].msg_hdr.msg_flags = 0;
	n = recvmmsg(raw, msgs, cfg->burst, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("recvmmsg");
		return false;
	}
	for (int i = 0; i < n; i++) {
		c->received++;
		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
			why = DECAP_DROP_TRUNCATED;
		else
			why = decap_check(cfg, bufs[i], msgs[i].msg_len, &inner_off, &inner_len);
		if (why == DECAP_DROP_COUNT) {
			if (write(tun, bufs[i] + inner_off, inner_len) == (ssize_t)inner_len) {
				c->written++;
				c->written_bytes += inner_len;
				continue;
			}
			/* Once is enough to explain the counter; the path itself only counts. */
			if (!tun_error_logged) {
				log_warn("write to `%s'", cfg->dev);
				tun_error_logged = true;
			}
			why = DECAP_DROP_TUN_WRITE;
		}
		c->dropped[why]++;
	}
	return (unsigned int)n == cfg->burst;
}

/* Unit tests include this file for decap_check and build their own main. */
#ifndef DECAP_NO_MAIN
int main(int argc, char **argv)
{
	static uint8_t bufs[DECAP_BURST_MAX][DECAP_BUF_SIZE];
	struct mmsghdr msgs[DECAP_BURST_MAX];
	struct iovec iovs[DECAP_BURST_MAX];
	struct decap_counters counters;
	struct decap_config cfg;
	struct pollfd pfd;
	sigset_t wait_mask;
	int tun, raw;

	decap_parse_args(argc, argv, &cfg);
	decap_signals(&wait_mask);

	tun = decap_tun_open(cfg.dev);
	decap_tun_configure(&cfg);
	raw = decap_raw_open();

	memset(msgs, 0, sizeof(msgs));
	for (unsigned int i = 0; i < cfg.burst; i++) {
		iovs[i].iov_base = bufs[i];
		iovs[i].iov_len = sizeof(bufs[i]);
		msgs[i].msg_hdr.msg_iov = &iovs[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	memset(&counters, 0, sizeof(counters));
	log_info("decapsulating into `%s'%s%s", cfg.dev,
		 cfg.from_count ? "" : " (outer sources not restricted: give --from)",
		 cfg.client_count ? "" : " (inner sources not restricted: give --clients)");

	pfd.fd = raw;
	pfd.events = POLLIN;
	while (!decap_stop_signal) {
		if (decap_report_pending) {
			decap_report_pending = 0;
			decap_report(&counters);
		}
		if (ppoll(&pfd, 1, NULL, &wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			fatal("ppoll");
		}
		while (!decap_stop_signal && decap_burst(&cfg, raw, tun, msgs, bufs, &counters))
			;
	}

	log_info("exiting on signal %d", (int)decap_stop_signal);
	decap_report(&counters);
	close(raw);
	close(tun);
	return 0;
}
#endif /* DECAP_NO_MAIN */
