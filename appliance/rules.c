/* rules.c - render and install the appliance's iptables chain. */
#include "rules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/wait.h>

#include "log.h"
#include "quic.h"

/* iptables' multiport match takes at most 15 ports per rule. */
#define RULES_MULTIPORT_MAX 15

struct rules_buf {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void __attribute__((format(printf, 2, 3)))
rules_put(struct rules_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		b->overflow = true;
	else
		b->len += (size_t)n;
}

static void rules_put_target(struct rules_buf *b, const struct settings *s, unsigned nqueues)
{
	if (nqueues > 1)
		rules_put(b, " -j NFQUEUE --queue-balance %u:%u", s->queue_base,
			  s->queue_base + nqueues - 1);
	else
		rules_put(b, " -j NFQUEUE --queue-num %u", s->queue_base);
	rules_put(b, "%s\n", s->fail_open ? " --queue-bypass" : "");
}

/*
 * The ip6tables-restore document for the IPv6 client subnets, after
 * RULES_IPV6_MARK. The proxies' own IPv6 addresses return first, as their
 * IPv4 ones do in the IPv4 chain (a proxy with only an IPv4 address sends
 * no IPv6 packet from it: nothing to return). ICMPv6 is queued
 * only for the two errors a client sends about a proxy's reply (Packet Too
 * Big for path MTU discovery, destination unreachable); neighbour and router
 * discovery are link-local and never forwarded, and no rule names them.
 */
static void rules_render6(struct rules_buf *b, const struct settings *s, unsigned nqueues,
			  const struct proxy_config *pool, size_t npool)
{
	static const char *const icmp6_errors[] = {"packet-too-big", "destination-unreachable"};
	char addr[INET6_ADDRSTRLEN];

	rules_put(b, "%s*filter\n:%s - [0:0]\n", RULES_IPV6_MARK, RULES_CHAIN);
	for (size_t i = 0; i < npool; i++) {
		if (!proxy_has_address6(&pool[i]))
			continue;
		inet_ntop(AF_INET6, pool[i].address6, addr, sizeof(addr));
		rules_put(b, "-A %s -s %s/128 -j RETURN\n", RULES_CHAIN, addr);
	}
	for (size_t n = 0; n < s->nsubnets6; n++) {
		char net[INET6_ADDRSTRLEN + 5];
		inet_ntop(AF_INET6, s->client_subnets6[n].addr, addr, sizeof(addr));
		snprintf(net, sizeof(net), "%s/%u", addr, s->client_subnets6[n].len);
		for (size_t first = 0; first < s->nports; first += RULES_MULTIPORT_MAX) {
			size_t last = first + RULES_MULTIPORT_MAX;
			if (last > s->nports)
				last = s->nports;
			rules_put(b, "-A %s -s %s -p tcp -m multiport --dports ", RULES_CHAIN, net);
			for (size_t p = first; p < last; p++)
				rules_put(b, "%s%u", p == first ? "" : ",", s->ports[p]);
			rules_put_target(b, s, nqueues);
		}
		/* QUIC: quic_policy is droverd's, whichever it is (see rules.h). */
		rules_put(b, "-A %s -s %s -p udp --dport %u", RULES_CHAIN, net, QUIC_PORT);
		rules_put_target(b, s, nqueues);
		/* Every fragment of TCP (a later one has no ports): any fragment header. */
		rules_put(b, "-A %s -s %s -p tcp -m frag --fragid 0:4294967295", RULES_CHAIN, net);
		rules_put_target(b, s, nqueues);
		for (size_t i = 0; i < sizeof(icmp6_errors) / sizeof(icmp6_errors[0]); i++) {
			rules_put(b, "-A %s -s %s -p ipv6-icmp --icmpv6-type %s", RULES_CHAIN, net,
				  icmp6_errors[i]);
			rules_put_target(b, s, nqueues);
		}
	}
	rules_put(b, "COMMIT\n");
}

/* Both documents: the proxies to return are the addresses in proxies and those of pool. */
static int rules_render_with(const struct settings *s, unsigned nqueues, const uint32_t *proxies,
			     size_t nproxies, const struct proxy_config *pool, size_t npool,
			     char *buf, size_t len)
{
	struct rules_buf b = {.p = buf, .cap = len};
	char addr[INET_ADDRSTRLEN];

	rules_put(&b, "*filter\n:%s - [0:0]\n", RULES_CHAIN);
	for (size_t i = 0; i < nproxies + npool; i++) {
		uint32_t a = i < nproxies ? proxies[i] : pool[i - nproxies].address;

		inet_ntop(AF_INET, &a, addr, sizeof(addr));
		rules_put(&b, "-A %s -s %s/32 -j RETURN\n", RULES_CHAIN, addr);
	}
	for (size_t n = 0; n < s->nsubnets; n++) {
		char net[INET_ADDRSTRLEN + 4];
		inet_ntop(AF_INET, &s->client_subnets[n].addr, addr, sizeof(addr));
		snprintf(net, sizeof(net), "%s/%u", addr, s->client_subnets[n].len);
		for (size_t first = 0; first < s->nports; first += RULES_MULTIPORT_MAX) {
			size_t last = first + RULES_MULTIPORT_MAX;
			if (last > s->nports)
				last = s->nports;
			rules_put(&b, "-A %s -s %s -p tcp -m multiport --dports ", RULES_CHAIN,
				  net);
			for (size_t p = first; p < last; p++)
				rules_put(&b, "%s%u", p == first ? "" : ",", s->ports[p]);
			rules_put_target(&b, s, nqueues);
		}
		rules_put(&b, "-A %s -s %s -p udp --dport %u", RULES_CHAIN, net, QUIC_PORT);
		rules_put_target(&b, s, nqueues);
		rules_put(&b, "-A %s -s %s -p tcp -f", RULES_CHAIN, net);
		rules_put_target(&b, s, nqueues);
		rules_put(&b, "-A %s -s %s -p icmp --icmp-type destination-unreachable",
			  RULES_CHAIN, net);
		rules_put_target(&b, s, nqueues);
	}
	rules_put(&b, "COMMIT\n");
	if (s->nsubnets6 > 0)
		rules_render6(&b, s, nqueues, pool, npool);
	if (b.overflow)
		return -ENOSPC;
	return (int)b.len;
}

int rules_render(const struct settings *s, unsigned nqueues, const uint32_t *proxies,
		 size_t nproxies, char *buf, size_t len)
{
	return rules_render_with(s, nqueues, proxies, nproxies, NULL, 0, buf, len);
}

int rules_render_pool(const struct settings *s, unsigned nqueues, const struct proxy_config *pool,
		      size_t npool, char *buf, size_t len)
{
	return rules_render_with(s, nqueues, NULL, 0, pool, npool, buf, len);
}

static int rules_write_sysctl(const char *path, const char *value, char *err, size_t errlen);

/* Runs argv with stdin from `input' (may be NULL); stderr captured into err. */
static int rules_run(const char *const argv[], const char *input, char *err, size_t errlen)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, status;
	pid_t pid;
	ssize_t n;
	size_t got = 0;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail_pipes;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail_pipes;
	}
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (input != NULL) {
		size_t len = strlen(input), off = 0;
		while (off < len) {
			n = write(in[1], input + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	close(in[1]);
	if (errlen > 0)
		err[0] = '\0';
	while (errlen > 1 && (n = read(out[0], err + got, errlen - 1 - got)) > 0) {
		got += (size_t)n;
		if (got == errlen - 1)
			break;
	}
	if (errlen > 0)
		err[got] = '\0';
	/* Drain anything left so the child never blocks on a full pipe. */
	char sink[256];
	while (read(out[0], sink, sizeof(sink)) > 0)
		;
	close(out[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(err, errlen, "%s not found", argv[0]);
	/* Keep the first line: iptables' message. */
	char *nl = strchr(err, '\n');
	if (nl != NULL)
		*nl = '\0';
	return -EIO;
fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return -errno;
}

/* The tools of one address family. */
struct rules_family {
	const char *restore; /* iptables-restore */
	const char *tool;    /* iptables */
};

static const struct rules_family rules_ipv4 = {"iptables-restore", "iptables"};
static const struct rules_family rules_ipv6 = {"ip6tables-restore", "ip6tables"};

static int rules_apply_family(const struct rules_family *f, const char *doc, char *err,
			      size_t errlen)
{
	const char *const restore[] = {f->restore, "--noflush", "--wait", NULL};
	const char *const check[] = {f->tool, "-w", "-C", "FORWARD", "-j", RULES_CHAIN, NULL};
	const char *const insert[] = {f->tool, "-w", "-I", "FORWARD", "1", "-j", RULES_CHAIN, NULL};
	char out[512];
	int ret;

	/* Declaring the chain in the document flushes it: the swap is atomic. */
	ret = rules_run(restore, doc, out, sizeof(out));
	if (ret < 0) {
		snprintf(err, errlen, "%s failed: %s", f->restore, out);
		return ret;
	}
	if (rules_run(check, NULL, out, sizeof(out)) == 0)
		return 0;
	ret = rules_run(insert, NULL, out, sizeof(out));
	if (ret < 0)
		snprintf(err, errlen, "cannot add the FORWARD jump to %s (%s): %s", RULES_CHAIN,
			 f->tool, out);
	return ret;
}

static void rules_remove_family(const struct rules_family *f)
{
	const char *const del[] = {f->tool, "-w", "-D", "FORWARD", "-j", RULES_CHAIN, NULL};
	const char *const flush[] = {f->tool, "-w", "-F", RULES_CHAIN, NULL};
	const char *const drop[] = {f->tool, "-w", "-X", RULES_CHAIN, NULL};
	char out[256];

	/* A jump inserted twice (by hand, or an earlier run) must all go. */
	while (rules_run(del, NULL, out, sizeof(out)) == 0)
		;
	rules_run(flush, NULL, out, sizeof(out));
	rules_run(drop, NULL, out, sizeof(out));
}

int rules_apply(const char *doc, char *err, size_t errlen)
{
	const char *mark = strstr(doc, RULES_IPV6_MARK);
	size_t len4 = mark != NULL ? (size_t)(mark - doc) : strlen(doc);
	char *doc4 = strndup(doc, len4);
	int ret;

	if (doc4 == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = rules_apply_family(&rules_ipv4, doc4, err, errlen);
	free(doc4);
	if (ret < 0)
		return ret;
	/* No IPv6 client subnet: no IPv6 chain, and nothing asked of a host without IPv6. */
	if (mark == NULL) {
		if (access(RULES_IPV6_FORWARDING, F_OK) == 0)
			rules_remove_family(&rules_ipv6);
		return 0;
	}
	ret = rules_write_sysctl(RULES_IPV6_FORWARDING, "1", err, errlen);
	if (ret < 0)
		return ret;
	return rules_apply_family(&rules_ipv6, mark + strlen(RULES_IPV6_MARK), err, errlen);
}

void rules_remove(void)
{
	rules_remove_family(&rules_ipv4);
	if (access(RULES_IPV6_FORWARDING, F_OK) == 0)
		rules_remove_family(&rules_ipv6);
}

static int rules_write_sysctl(const char *path, const char *value, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	n = write(fd, value, strlen(value));
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

int rules_sysctls(char *err, size_t errlen)
{
	static const char *const settings[][2] = {
	    {"/proc/sys/net/ipv4/ip_forward", "1"},
	    {"/proc/sys/net/ipv4/conf/all/send_redirects", "0"},
	    {"/proc/sys/net/ipv4/conf/default/send_redirects", "0"},
	};
	struct if_nameindex *names;
	char path[96], ignored[128];

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		int ret = rules_write_sysctl(settings[i][0], settings[i][1], err, errlen);
		if (ret < 0)
			return ret;
	}
	/*
	 * The kernel ORs "all" with each device's own value, and "default" only
	 * reaches devices made later: every device there now is turned off too.
	 * One that goes away meanwhile is no failure.
	 */
	names = if_nameindex();
	for (struct if_nameindex *n = names; n != NULL && n->if_index != 0; n++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/send_redirects",
			 n->if_name);
		rules_write_sysctl(path, "0", ignored, sizeof(ignored));
	}
	if (names != NULL)
		if_freenameindex(names);
	return 0;
}
