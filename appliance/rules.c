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
#include <sys/wait.h>

#include "log.h"

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

int rules_render(const struct settings *s, unsigned nqueues, const uint32_t *proxies,
		 size_t nproxies, char *buf, size_t len)
{
	struct rules_buf b = {.p = buf, .cap = len};
	char addr[INET_ADDRSTRLEN];

	rules_put(&b, "*filter\n:%s - [0:0]\n", RULES_CHAIN);
	for (size_t i = 0; i < nproxies; i++) {
		inet_ntop(AF_INET, &proxies[i], addr, sizeof(addr));
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
		rules_put(&b, "-A %s -s %s -p tcp -f", RULES_CHAIN, net);
		rules_put_target(&b, s, nqueues);
		rules_put(&b, "-A %s -s %s -p icmp --icmp-type destination-unreachable",
			  RULES_CHAIN, net);
		rules_put_target(&b, s, nqueues);
	}
	rules_put(&b, "COMMIT\n");
	if (b.overflow)
		return -ENOSPC;
	return (int)b.len;
}

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

int rules_apply(const char *doc, char *err, size_t errlen)
{
	static const char *const restore[] = {"iptables-restore", "--noflush", "--wait", NULL};
	static const char *const check[] = {"iptables", "-w",	     "-C", "FORWARD",
					    "-j",	RULES_CHAIN, NULL};
	static const char *const insert[] = {"iptables", "-w", "-I",	    "FORWARD",
					     "1",	 "-j", RULES_CHAIN, NULL};
	char out[512];
	int ret;

	/* Declaring the chain in the document flushes it: the swap is atomic. */
	ret = rules_run(restore, doc, out, sizeof(out));
	if (ret < 0) {
		snprintf(err, errlen, "iptables-restore failed: %s", out);
		return ret;
	}
	if (rules_run(check, NULL, out, sizeof(out)) == 0)
		return 0;
	ret = rules_run(insert, NULL, out, sizeof(out));
	if (ret < 0)
		snprintf(err, errlen, "cannot add the FORWARD jump to %s: %s", RULES_CHAIN, out);
	return ret;
}

void rules_remove(void)
{
	static const char *const del[] = {"iptables", "-w",	   "-D", "FORWARD",
					  "-j",	      RULES_CHAIN, NULL};
	static const char *const flush[] = {"iptables", "-w", "-F", RULES_CHAIN, NULL};
	static const char *const drop[] = {"iptables", "-w", "-X", RULES_CHAIN, NULL};
	char out[256];

	/* A jump inserted twice (by hand, or an earlier run) must all go. */
	while (rules_run(del, NULL, out, sizeof(out)) == 0)
		;
	rules_run(flush, NULL, out, sizeof(out));
	rules_run(drop, NULL, out, sizeof(out));
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
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		int ret = rules_write_sysctl(settings[i][0], settings[i][1], err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}
