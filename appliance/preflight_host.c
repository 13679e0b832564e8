/* preflight_host.c - the checks `droverctl preflight' makes of this host (preflight_host.h). */
#include "preflight_host.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "pool.h"
#include "rules.h"

extern char **environ;

/* Exit status of a program that could not be started (as the shell says it). */
#define PREFLIGHT_EXIT_NOT_FOUND 127
/* Words of one rule of droverd's document, at most. */
#define PREFLIGHT_RULE_WORDS 64
/* What a program may print for a check to read (iptables -S of a chain, aws). */
#define PREFLIGHT_OUTPUT_MAX 65536
/* Candidate hosts of a client subnet whose route is looked up (the first not local wins). */
#define PREFLIGHT_SUBNET_PROBES 3
/* The aws command gets this long (it asks the EC2 API over the network). */
#define PREFLIGHT_AWS_SECONDS "10"
/* The IMDSv2 token's life: only these few requests use it. */
#define PREFLIGHT_IMDS_TOKEN_TTL "60"
#define PREFLIGHT_IMDS_VALUE_MAX 256
#define PREFLIGHT_IPV4_BITS	 32

void preflight_devs_add(struct preflight_devs *devs, const char *dev, bool multipath)
{
	for (size_t i = 0; i < devs->count; i++) {
		if (strcmp(devs->name[i], dev) == 0) {
			devs->multipath[i] = devs->multipath[i] || multipath;
			return;
		}
	}
	if (devs->count == PREFLIGHT_DEVS_MAX)
		return;
	snprintf(devs->name[devs->count], IF_NAMESIZE, "%s", dev);
	devs->multipath[devs->count++] = multipath;
}

/*
 * Runs argv (found in PATH) with stdin from /dev/null and both outputs into
 * out (cut at outlen - 1, NUL-terminated; the rest read and dropped).
 * Returns its exit status, PREFLIGHT_EXIT_NOT_FOUND when it cannot start,
 * or -errno when no pipe or process could be made.
 */
static int preflight_host_run(const char *const argv[], char *out, size_t outlen)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2], status, ret;
	size_t got = 0;
	pid_t pid;
	ssize_t n;

	out[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	ret = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (ret != 0) {
		close(pipefd[0]);
		return ret == ENOENT ? PREFLIGHT_EXIT_NOT_FOUND : -ret;
	}
	for (;;) {
		char sink[512];
		if (got + 1 < outlen)
			n = read(pipefd[0], out + got, outlen - 1 - got);
		else
			n = read(pipefd[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got + 1 < outlen)
			got += (size_t)n;
	}
	out[got] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : PREFLIGHT_EXIT_NOT_FOUND;
}

/* The first line of a program's output, for a message. */
static const char *preflight_first_line(char *text)
{
	char *nl = strchr(text, '\n');

	if (nl != NULL)
		*nl = '\0';
	return text[0] != '\0' ? text : "no message";
}

int preflight_host_sysctl(const char *path, int *value)
{
	char file[256], buf[32];
	ssize_t n;
	int fd;

	snprintf(file, sizeof(file), "/proc/sys/%s", path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*value = atoi(buf);
	return 0;
}

/* The device an address of this host is on; false when none has it. */
static bool preflight_host_dev_of(uint32_t addr, char dev[IF_NAMESIZE])
{
	struct ifaddrs *list, *i;
	bool found = false;

	if (getifaddrs(&list) < 0)
		return false;
	for (i = list; i != NULL && !found; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == addr) {
			snprintf(dev, IF_NAMESIZE, "%s", i->ifa_name);
			found = true;
		}
	}
	freeifaddrs(list);
	return found;
}

int preflight_host_route(uint32_t dst, char dev[IF_NAMESIZE], uint32_t *source, unsigned *path_mtu)
{
	uint16_t mtu = 0;
	int ret = pool_route(dst, source, &mtu);

	if (ret < 0)
		return ret;
	*path_mtu = mtu;
	if (!preflight_host_dev_of(*source, dev))
		snprintf(dev, IF_NAMESIZE, "?");
	return 0;
}

int preflight_host_dev_mtu(const char *dev)
{
	char file[96];
	int mtu = 0;
	FILE *f;

	snprintf(file, sizeof(file), "/sys/class/net/%s/mtu", dev);
	f = fopen(file, "re");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &mtu) != 1)
		mtu = 0;
	fclose(f);
	return mtu;
}

/* The route to the subnet net/len has several next hops (ECMP). */
static bool preflight_host_multipath(const char *cidr)
{
	const char *const argv[] = {"ip", "-4", "-o", "route", "show", "exact", cidr, NULL};
	char out[4096];

	return preflight_host_run(argv, out, sizeof(out)) == 0 && strstr(out, "nexthop") != NULL;
}

void preflight_host_client_devs(const char *client_subnets, struct preflight_devs *devs)
{
	char list[4096], *save = NULL, *item;

	snprintf(list, sizeof(list), "%s", client_subnets);
	for (item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *slash = strchr(item, '/'), dev[IF_NAMESIZE];
		struct in_addr net;
		unsigned len = PREFLIGHT_IPV4_BITS;
		uint32_t host, mask, source;
		unsigned mtu;

		if (strchr(item, ':') != NULL)
			continue;
		if (slash != NULL) {
			*slash = '\0';
			len = (unsigned)atoi(slash + 1);
		}
		if (inet_pton(AF_INET, item, &net) != 1 || len > PREFLIGHT_IPV4_BITS)
			continue;
		if (slash != NULL)
			*slash = '/';
		mask = len == 0 ? 0 : UINT32_MAX << (PREFLIGHT_IPV4_BITS - len);
		/* A host of the subnet that is not this appliance's own address. */
		for (unsigned k = 1; k <= PREFLIGHT_SUBNET_PROBES; k++) {
			host = (ntohl(net.s_addr) & mask) | (k & ~mask);
			if (preflight_host_route(htonl(host), dev, &source, &mtu) == 0 &&
			    strcmp(dev, "lo") != 0 && source != htonl(host)) {
				preflight_devs_add(devs, dev, preflight_host_multipath(item));
				break;
			}
		}
	}
}

static void preflight_host_forwarding(struct preflight_report *r, bool ipv6_clients)
{
	int v = 0;

	if (preflight_host_sysctl("net/ipv4/ip_forward", &v) < 0 || v != 1)
		preflight_add(r, PREFLIGHT_FIX, "forwarding ipv4",
			      "net.ipv4.ip_forward is %d: the clients' other traffic is not "
			      "routed; sysctl -w net.ipv4.ip_forward=1 (and keep it in "
			      "/etc/sysctl.d/99-drover.conf)",
			      v);
	else
		preflight_add(r, PREFLIGHT_OK, "forwarding ipv4", "net.ipv4.ip_forward=1");
	if (!ipv6_clients)
		return;
	if (preflight_host_sysctl("net/ipv6/conf/all/forwarding", &v) < 0 || v != 1)
		preflight_add(r, PREFLIGHT_FIX, "forwarding ipv6",
			      "IPv6 client subnets are set but net.ipv6.conf.all.forwarding is "
			      "%d: sysctl -w net.ipv6.conf.all.forwarding=1 (droverd "
			      "--manage-rules sets it)",
			      v);
	else
		preflight_add(r, PREFLIGHT_OK, "forwarding ipv6", "net.ipv6.conf.all.forwarding=1");
}

/* ICMP redirects: the kernel sends them when "all" or the device says so. */
static void preflight_host_redirects(struct preflight_report *r,
				     const struct preflight_devs *clients)
{
	int all = 1, def = 1, dev;
	char path[128], name[PREFLIGHT_NAME_MAX];

	preflight_host_sysctl("net/ipv4/conf/all/send_redirects", &all);
	preflight_host_sysctl("net/ipv4/conf/default/send_redirects", &def);
	if (all != 0 || def != 0)
		preflight_add(r, PREFLIGHT_FIX, "send_redirects",
			      "all=%d default=%d: the appliance would tell clients to send "
			      "their traffic around it; sysctl -w "
			      "net.ipv4.conf.all.send_redirects=0 "
			      "net.ipv4.conf.default.send_redirects=0",
			      all, def);
	else
		preflight_add(r, PREFLIGHT_OK, "send_redirects", "all=0 default=0");
	for (size_t i = 0; i < clients->count; i++) {
		dev = 1;
		snprintf(path, sizeof(path), "net/ipv4/conf/%s/send_redirects", clients->name[i]);
		snprintf(name, sizeof(name), "send_redirects %s", clients->name[i]);
		preflight_host_sysctl(path, &dev);
		if (dev != 0)
			preflight_add(r, PREFLIGHT_FIX, name,
				      "%s (clients' side) has send_redirects=%d (the kernel ORs it "
				      "with all): sysctl -w net.ipv4.conf.%s.send_redirects=0",
				      clients->name[i], dev, clients->name[i]);
		else
			preflight_add(r, PREFLIGHT_OK, name, "%s (clients' side): 0",
				      clients->name[i]);
	}
}

static void preflight_host_rp_filter(struct preflight_report *r, const struct preflight_devs *devs,
				     const char *side)
{
	char path[128], name[PREFLIGHT_NAME_MAX], text[PREFLIGHT_TEXT_MAX];
	int all = 0, dev;
	enum preflight_verdict v;

	preflight_host_sysctl("net/ipv4/conf/all/rp_filter", &all);
	for (size_t i = 0; i < devs->count; i++) {
		dev = 0;
		snprintf(path, sizeof(path), "net/ipv4/conf/%s/rp_filter", devs->name[i]);
		preflight_host_sysctl(path, &dev);
		snprintf(name, sizeof(name), "rp_filter %s", devs->name[i]);
		v = preflight_rp_filter_judge(preflight_rp_filter_effective(all, dev),
					      devs->multipath[i], devs->name[i], text,
					      sizeof(text));
		preflight_add(r, v, name, "%s' side: %s", side, text);
	}
}

void preflight_host_sysctls(struct preflight_report *r, const struct preflight_devs *clients,
			    const struct preflight_devs *proxies, bool ipv6_clients)
{
	struct preflight_devs others = {0};

	preflight_host_forwarding(r, ipv6_clients);
	preflight_host_redirects(r, clients);
	preflight_host_rp_filter(r, clients, "clients");
	/* A device both sides share is judged once, as the clients'. */
	for (size_t i = 0; i < proxies->count; i++) {
		bool shared = false;
		for (size_t j = 0; j < clients->count && !shared; j++)
			shared = strcmp(proxies->name[i], clients->name[j]) == 0;
		if (!shared)
			preflight_devs_add(&others, proxies->name[i], proxies->multipath[i]);
	}
	preflight_host_rp_filter(r, &others, "proxies");
}

/* How to put the rules back, for the fix text. */
static const char *preflight_host_rules_fix(bool managed, bool ipv6)
{
	if (ipv6)
		return managed ? "droverd (--manage-rules) puts them back at its next change; now: "
				 "droverctl rules | sed '1,/^# ip6tables-restore/d' | "
				 "ip6tables-restore --noflush"
			       : "load the part after `# ip6tables-restore' of `droverctl rules' "
				 "with ip6tables-restore --noflush";
	return managed ? "droverd (--manage-rules) puts them back at its next change; now: "
			 "droverctl rules | sed '/^# ip6tables-restore/,$d' | iptables-restore "
			 "--noflush"
		       : "load `droverctl rules' (up to `# ip6tables-restore') with "
			 "iptables-restore --noflush";
}

/* One family's chain: part is the document's part for it (NUL-terminated, modified). */
static void preflight_host_rules_family(struct preflight_report *r, char *part, bool ipv6,
					bool managed)
{
	const char *tool = ipv6 ? "ip6tables" : "iptables";
	const char *name = ipv6 ? "rules ipv6" : "rules ipv4";
	const char *fix = preflight_host_rules_fix(managed, ipv6);
	const char *const list[] = {tool, "-w", "-S", RULES_CHAIN, NULL};
	const char *const forward[] = {tool, "-w", "-S", "FORWARD", NULL};
	char *out = malloc(PREFLIGHT_OUTPUT_MAX), *save = NULL, *line, *first;
	char missing[PREFLIGHT_TEXT_MAX / 2] = "";
	size_t want = 0, have = 0, absent = 0;
	int ret;

	if (out == NULL) {
		preflight_add(r, PREFLIGHT_SKIP, name, "out of memory");
		return;
	}
	ret = preflight_host_run(list, out, PREFLIGHT_OUTPUT_MAX);
	if (ret == PREFLIGHT_EXIT_NOT_FOUND || ret < 0) {
		preflight_add(r, PREFLIGHT_SKIP, name, "%s cannot be run here", tool);
		goto out;
	}
	if (ret != 0 && (strstr(out, "ermission denied") || strstr(out, "must be root"))) {
		preflight_add(r, PREFLIGHT_SKIP, name,
			      "reading the firewall needs CAP_NET_ADMIN: run as root");
		goto out;
	}
	if (ret != 0) {
		preflight_add(r, PREFLIGHT_FIX, name, "no chain %s in the filter table: %s",
			      RULES_CHAIN, fix);
		goto out;
	}
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		have += strncmp(line, "-A ", 3) == 0;
	for (line = strtok_r(part, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *words[PREFLIGHT_RULE_WORDS + 6], text[PREFLIGHT_TEXT_MAX], copy[1024];
		int n;

		snprintf(copy, sizeof(copy), "%s", line);
		n = preflight_rule_words(line, RULES_CHAIN, words + 4, PREFLIGHT_RULE_WORDS);
		if (n <= 0)
			continue;
		want++;
		words[0] = (char *)tool;
		words[1] = (char *)"-w";
		words[2] = (char *)"-C";
		words[3] = (char *)RULES_CHAIN;
		words[4 + n] = NULL;
		if (preflight_host_run((const char *const *)words, text, sizeof(text)) == 0)
			continue;
		if (absent++ == 0)
			snprintf(missing, sizeof(missing), "%.200s", copy);
	}
	if (absent > 0)
		preflight_add(r, PREFLIGHT_FIX, name,
			      "%zu of %zu rules missing from chain %s (first: `%s'): %s", absent,
			      want, RULES_CHAIN, missing, fix);
	else if (have != want)
		preflight_add(r, PREFLIGHT_FIX, name,
			      "chain %s holds %zu rules, droverd's configuration %zu: %s",
			      RULES_CHAIN, have, want, fix);
	else
		preflight_add(r, PREFLIGHT_OK, name, "chain %s holds droverd's %zu rules",
			      RULES_CHAIN, want);

	/* The jump must come first: a rule before it may accept web traffic unfiltered. */
	ret = preflight_host_run(forward, out, PREFLIGHT_OUTPUT_MAX);
	first = NULL;
	if (ret == 0) {
		for (line = strtok_r(out, "\n", &save); line != NULL && first == NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "-A FORWARD", strlen("-A FORWARD")) == 0)
				first = line;
		}
	}
	name = ipv6 ? "jump ipv6" : "jump ipv4";
	if (first != NULL && strcmp(first, "-A FORWARD -j " RULES_CHAIN) == 0)
		preflight_add(r, PREFLIGHT_OK, name, "FORWARD's first rule jumps to %s",
			      RULES_CHAIN);
	else
		preflight_add(r, PREFLIGHT_FIX, name,
			      "FORWARD's first rule is %s%s%s, not the jump to %s: packets it "
			      "takes never reach the proxies; %s -D FORWARD -j %s; %s -I FORWARD "
			      "1 -j %s",
			      first ? "`" : "", first ? first : "missing", first ? "'" : "",
			      RULES_CHAIN, tool, RULES_CHAIN, tool, RULES_CHAIN);
out:
	free(out);
}

void preflight_host_rules(struct preflight_report *r, const char *doc, bool managed)
{
	char *copy = strdup(doc), *mark;

	if (copy == NULL) {
		preflight_add(r, PREFLIGHT_SKIP, "rules", "out of memory");
		return;
	}
	mark = strstr(copy, RULES_IPV6_MARK);
	if (mark != NULL)
		*mark = '\0';
	preflight_host_rules_family(r, copy, false, managed);
	if (mark != NULL)
		preflight_host_rules_family(r, mark + strlen(RULES_IPV6_MARK), true, managed);
	free(copy);
}

void preflight_host_fast_path(struct preflight_report *r, const char *state, bool wanted,
			      const char *const *attached, size_t nattached)
{
	struct if_nameindex *names, *n;
	char missing[PREFLIGHT_TEXT_MAX / 2] = "";
	size_t used = 0, count = 0, absent = 0;

	if (!wanted) {
		preflight_add(r, PREFLIGHT_OK, "fast path",
			      "off by setting (fast_path false): every web packet goes "
			      "through NFQUEUE");
		return;
	}
	if (strcmp(state, "on") != 0) {
		preflight_add(r, PREFLIGHT_FIX, "fast path",
			      "fast_path is true but the fast path is %s: droverd needs CAP_BPF "
			      "and a kernel with BPF (see droverd's log); every web packet goes "
			      "through NFQUEUE meanwhile",
			      state);
		return;
	}
	names = if_nameindex();
	if (names == NULL) {
		preflight_add(r, PREFLIGHT_SKIP, "fast path", "cannot list the interfaces");
		return;
	}
	for (n = names; n->if_index != 0; n++) {
		bool found = false;

		if (strcmp(n->if_name, "lo") == 0)
			continue;
		count++;
		for (size_t i = 0; i < nattached && !found; i++)
			found = strcmp(attached[i], n->if_name) == 0;
		if (found)
			continue;
		absent++;
		if (used < sizeof(missing)) {
			int k = snprintf(missing + used, sizeof(missing) - used, "%s%s",
					 used ? " " : "", n->if_name);
			used += k > 0 ? (size_t)k : 0;
		}
	}
	if_freenameindex(names);
	if (absent > 0)
		preflight_add(r, PREFLIGHT_FIX, "fast path",
			      "not attached to %s (added after droverd started?): its clients' "
			      "packets all take NFQUEUE; droverctl settings set fast_path false, "
			      "then true, attaches to every interface",
			      missing);
	else
		preflight_add(r, PREFLIGHT_OK, "fast path", "attached to all %zu interfaces",
			      count);
}

/* Collects a small response body: at most PREFLIGHT_IMDS_VALUE_MAX - 1 bytes. */
struct preflight_body {
	char text[PREFLIGHT_IMDS_VALUE_MAX];
	size_t len;
};

static size_t preflight_host_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct preflight_body *b = arg;
	size_t n = size * nmemb, room = sizeof(b->text) - 1 - b->len;

	memcpy(b->text + b->len, data, n < room ? n : room);
	b->len += n < room ? n : room;
	b->text[b->len] = '\0';
	return n;
}

/*
 * One request to the metadata service: PUT for the token (token NULL), GET
 * with it otherwise. Returns true with the body in *body for a 200 answer.
 */
static bool preflight_host_imds(const char *base, const char *path, const char *token,
				unsigned timeout_ms, struct preflight_body *body)
{
	CURL *e = curl_easy_init();
	struct curl_slist *headers = NULL;
	char url[512], header[PREFLIGHT_IMDS_VALUE_MAX + 64];
	long status = 0;
	CURLcode rc;

	if (e == NULL)
		return false;
	body->len = 0;
	body->text[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", base, path);
	if (token == NULL) {
		headers = curl_slist_append(
		    headers, "X-aws-ec2-metadata-token-ttl-seconds: " PREFLIGHT_IMDS_TOKEN_TTL);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	} else {
		snprintf(header, sizeof(header), "X-aws-ec2-metadata-token: %s", token);
		headers = curl_slist_append(headers, header);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, preflight_host_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(e);
	return rc == CURLE_OK && status == 200 && body->len > 0;
}

/* Letters, digits and dashes only: an instance id or a region goes on a command line. */
static bool preflight_host_plain(const char *s)
{
	if (s[0] == '\0')
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	}
	return true;
}

void preflight_host_aws(struct preflight_report *r, const char *base, unsigned timeout_ms)
{
	struct preflight_body token, id, region;
	char out[1024], *v;
	int ret;

	if (!preflight_host_imds(base, "/latest/api/token", NULL, timeout_ms, &token)) {
		preflight_add(r, PREFLIGHT_SKIP, "aws source/dest check",
			      "not on EC2 (no instance metadata service answered within %u ms)",
			      timeout_ms);
		return;
	}
	if (!preflight_host_imds(base, "/latest/meta-data/instance-id", token.text, timeout_ms,
				 &id) ||
	    !preflight_host_imds(base, "/latest/meta-data/placement/region", token.text, timeout_ms,
				 &region) ||
	    !preflight_host_plain(id.text) || !preflight_host_plain(region.text)) {
		preflight_add(r, PREFLIGHT_SKIP, "aws source/dest check",
			      "on EC2, but the metadata service gave no instance id and region: "
			      "make sure the source/destination check is disabled");
		return;
	}
	const char *const argv[] = {"timeout",
				    PREFLIGHT_AWS_SECONDS,
				    "aws",
				    "ec2",
				    "describe-instance-attribute",
				    "--region",
				    region.text,
				    "--instance-id",
				    id.text,
				    "--attribute",
				    "sourceDestCheck",
				    "--query",
				    "SourceDestCheck.Value",
				    "--output",
				    "text",
				    NULL};
	ret = preflight_host_run(argv, out, sizeof(out));
	v = (char *)preflight_first_line(out);
	if (ret == 0 && strcmp(v, "False") == 0) {
		preflight_add(r, PREFLIGHT_OK, "aws source/dest check", "instance %s: disabled",
			      id.text);
	} else if (ret == 0 && strcmp(v, "True") == 0) {
		preflight_add(r, PREFLIGHT_FIX, "aws source/dest check",
			      "instance %s: enabled, so EC2 drops every packet the appliance "
			      "forwards; aws ec2 modify-instance-attribute --region %s "
			      "--instance-id %s --no-source-dest-check",
			      id.text, region.text, id.text);
	} else {
		preflight_add(r, PREFLIGHT_SKIP, "aws source/dest check",
			      "instance %s: cannot read it (%s): it needs the aws command and "
			      "ec2:DescribeInstanceAttribute; make sure it is disabled",
			      id.text, ret == PREFLIGHT_EXIT_NOT_FOUND ? "aws not installed" : v);
	}
}
