/* fastpath.c - load, attach and feed the kernel fast path (fastpath.bpf.c). */
#include "fastpath.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/magic.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "fastpath.skel.h"
#include "log.h"
#include "pool.h"

/* Kernels before 6.6 have no tcx links: a classic clsact filter is used instead. */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif
/* The kernel's own "not supported" (ENOTSUPP), which some link types return. */
#define FASTPATH_ENOTSUPP 524
/* The classic filter's handle and priority: ours to find again after a crash. */
#define FASTPATH_TC_HANDLE 0xd7
#define FASTPATH_TC_PRIO   0xd7
/* droverd's own heartbeat (renewed every second): past it, droverd is away. */
#define FASTPATH_PRESENT_NS (3ULL * 1000000000ULL)
/* The grace before fastpath_set_grace is called (the setting's default). */
#define FASTPATH_GRACE_DEFAULT_S 30
#define FASTPATH_BATCH		 4096
/* Pinned tcx links are named after the interface index they hold the program on. */
#define FASTPATH_LINK_PREFIX "tcx-"
/* Pinned XDP links alike. */
#define FASTPATH_XDP_LINK_PREFIX "xdp-"
#define FASTPATH_PIN_MODE	 0700
/* Longest pin directory, and room for a name in it. */
#define FASTPATH_PIN_DIR_MAX  256
#define FASTPATH_PIN_PATH_MAX (FASTPATH_PIN_DIR_MAX + 32)
#define FASTPATH_WHY_MAX      (2 * FASTPATH_PIN_DIR_MAX + 128)
/* Where systemd mounts the bpffs at boot; mounted here when it is missing. */
#define FASTPATH_BPFFS_DEFAULT "/sys/fs/bpf"
/*
 * The walk over the records costs about 0.3 us per record: with many
 * clients it runs less often, one second per this many records, at most
 * every FASTPATH_WALK_MAX_S and at least twice per affinity timeout.
 */
#define FASTPATH_WALK_PER_S 100000
#define FASTPATH_WALK_MAX_S 10
/* 64-bit FNV-1a, for the digest of who may be a client. */
#define FASTPATH_FNV_OFFSET 14695981039346656037ULL
#define FASTPATH_FNV_PRIME  1099511628211ULL
/* Between the subnets and the proxies: no list can pass for the other. */
#define FASTPATH_DIGEST_SEPARATOR 0xffffffffU

struct fastpath_iface {
	int ifindex;
	int link_fd;	       /* tcx link, or -1 for a classic filter */
	int xdp_link_fd;       /* native XDP link, or -1: tc alone */
	int xdp_error;	       /* why XDP is not there (errno), 0 when it is or was not tried */
	uint64_t xdp_failures; /* the device's count of frames it failed to send, at attach */
};

/* The maps, by the names they are pinned under. */
enum fastpath_map {
	FASTPATH_MAP_CLIENTS,
	FASTPATH_MAP_SLOTS,
	FASTPATH_MAP_CONFIG,
	FASTPATH_MAP_STATS,
	FASTPATH_MAP_OUTER_IDS,
	FASTPATH_MAP_COUNTERS,
	FASTPATH_MAP_CLIENTS6,
	FASTPATH_MAP_XDP_PORTS,
	FASTPATH_MAP_XDP_TX,
	FASTPATH_MAP_COUNT,
};

static const char *const fastpath_map_names[FASTPATH_MAP_COUNT] = {
    [FASTPATH_MAP_CLIENTS] = "clients",	    [FASTPATH_MAP_SLOTS] = "slots",
    [FASTPATH_MAP_CONFIG] = "config",	    [FASTPATH_MAP_STATS] = "stats",
    [FASTPATH_MAP_OUTER_IDS] = "outer_ids", [FASTPATH_MAP_COUNTERS] = "counters",
    [FASTPATH_MAP_CLIENTS6] = "clients6",   [FASTPATH_MAP_XDP_PORTS] = "xdp_ports",
    [FASTPATH_MAP_XDP_TX] = "xdp_tx",
};

struct fastpath {
	struct fastpath_bpf *skel;
	int clients_fd, slots_fd, config_fd, stats_fd, counters_fd, clients6_fd;
	int xdp_ports_fd, xdp_tx_fd;
	int ncpus;
	bool use_tcx;		 /* cleared when the kernel refuses tcx links */
	enum fastpath_mode mode; /* whether XDP is tried beside tc */
	struct fastpath_iface ifaces[FASTPATH_IFACES_MAX];
	unsigned nifaces;
	bool attached;
	bool adopted;	   /* the maps are a previous droverd's, pinned */
	bool hold;	   /* health not known yet: adopted slots are not retired */
	bool leaving;	   /* droverd is going: the heartbeat is its last */
	uint64_t grace_ns; /* how long the kernel goes on without a heartbeat */
	char pin_dir[FASTPATH_PIN_DIR_MAX]; /* empty: nothing is pinned */
	struct fastpath_config config;
	struct fastpath_slot slots[FASTPATH_SLOTS]; /* what the kernel holds */
	uint64_t scope_digest; /* of the client subnets and proxies config.scope was set for */
	bool scope_set;
	uint64_t nclients;
	uint64_t last_walk_ns;
	/* Batch buffers for the tick's walk over the clients map. */
	uint32_t keys[FASTPATH_BATCH];
	struct fastpath_client values[FASTPATH_BATCH];
	uint32_t doomed[FASTPATH_BATCH];
	struct fastpath_client6_key keys6[FASTPATH_BATCH];
	struct fastpath_client6_key doomed6[FASTPATH_BATCH];
};

static const char *const fastpath_counter_names[FASTPATH_COUNTER_COUNT] = {
    [FASTPATH_SENT] = "fast_packets",
    [FASTPATH_SENT_BYTES] = "fast_bytes",
    [FASTPATH_MERGED] = "fast_merged",
    [FASTPATH_STALE] = "fast_declined_stale",
    [FASTPATH_IDLE] = "fast_declined_idle",
    [FASTPATH_NO_HEARTBEAT] = "fast_declined_no_heartbeat",
    [FASTPATH_TOO_BIG] = "fast_declined_too_big",
    [FASTPATH_NOT_FORWARDED] = "fast_declined_not_forwarded",
    [FASTPATH_INTERFACE] = "fast_declined_interface",
    [FASTPATH_TTL] = "fast_declined_ttl",
    [FASTPATH_ENCAP_ERROR] = "fast_encap_errors",
    [FASTPATH_IPV6_SENT] = "fast_ipv6_packets",
    [FASTPATH_IPV6_6IN4_SENT] = "fast_ipv6_6in4_packets",
    [FASTPATH_XDP_SENT] = "fast_xdp_packets",
    [FASTPATH_XDP_CHECKSUM_FINISHED] = "fast_xdp_checksums_finished",
    [FASTPATH_XDP_DECLINED_CHECKSUM] = "fast_xdp_declined_checksum",
    [FASTPATH_XDP_DECLINED_EGRESS] = "fast_xdp_declined_egress",
};

const char *fastpath_counter_name(enum fastpath_counter c)
{
	return (unsigned)c < FASTPATH_COUNTER_COUNT ? fastpath_counter_names[c] : "unknown";
}

static int fastpath_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text, *save = NULL;

	if (level == LIBBPF_DEBUG || vasprintf(&text, fmt, ap) < 0)
		return 0;
	/* The verifier's log comes as one message of many lines. */
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		log_debug("%s", line);
	free(text);
	return 0;
}

static struct bpf_map *fastpath_map(const struct fastpath_bpf *skel, enum fastpath_map which)
{
	switch (which) {
	case FASTPATH_MAP_CLIENTS:
		return skel->maps.clients;
	case FASTPATH_MAP_SLOTS:
		return skel->maps.slots;
	case FASTPATH_MAP_CONFIG:
		return skel->maps.config;
	case FASTPATH_MAP_STATS:
		return skel->maps.stats;
	case FASTPATH_MAP_OUTER_IDS:
		return skel->maps.outer_ids;
	case FASTPATH_MAP_CLIENTS6:
		return skel->maps.clients6;
	case FASTPATH_MAP_XDP_PORTS:
		return skel->maps.xdp_ports;
	case FASTPATH_MAP_XDP_TX:
		return skel->maps.xdp_tx;
	case FASTPATH_MAP_COUNTERS:
	case FASTPATH_MAP_COUNT:
		break;
	}
	return skel->maps.counters;
}

static void fastpath_pin_path(const char *dir, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static bool fastpath_on_bpffs(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

/*
 * Makes dir, on a bpffs. The system's usual place for one is mounted when
 * nothing is there yet (as systemd does at boot); any other parent must
 * already be a bpffs, since mounting over it would hide what it holds.
 */
static int fastpath_pin_dir_make(const char *dir, char *err, size_t errlen)
{
	char parent[FASTPATH_PIN_DIR_MAX];
	char *slash;

	if (strlen(dir) >= sizeof(parent)) {
		snprintf(err, errlen, "%.64s...: longer than %d bytes", dir,
			 FASTPATH_PIN_DIR_MAX - 1);
		return -ENAMETOOLONG;
	}
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash == NULL || slash == parent) {
		snprintf(err, errlen, "%s: not a directory under a bpffs", dir);
		return -EINVAL;
	}
	*slash = '\0';
	if (!fastpath_on_bpffs(parent) && strcmp(parent, FASTPATH_BPFFS_DEFAULT) == 0 &&
	    mount("bpf", parent, "bpf", 0, "mode=0700") < 0) {
		snprintf(err, errlen, "cannot mount a bpffs on %s: %s", parent, strerror(errno));
		return -errno;
	}
	if (mkdir(dir, FASTPATH_PIN_MODE) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!fastpath_on_bpffs(dir)) {
		snprintf(err, errlen, "%s is not on a bpffs", dir);
		return -ENOTDIR;
	}
	return 0;
}

/* Whether the pinned map fd has the shape the object about to be loaded gives map. */
static bool fastpath_map_fits(int fd, const struct bpf_map *map)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return false;
	/* The kernel makes every device map read-only for programs, and says so. */
	return info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
	       info.value_size == bpf_map__value_size(map) &&
	       info.max_entries == bpf_map__max_entries(map) &&
	       (info.map_flags & ~BPF_F_RDONLY_PROG) == bpf_map__map_flags(map);
}

/*
 * Takes over the maps a previous droverd pinned in fp->pin_dir, when all
 * are there with this build's layout. Otherwise says why (nothing pinned is
 * the quiet case), and the caller starts clean.
 */
static bool fastpath_adopt(struct fastpath *fp, char *why, size_t whylen)
{
	int fds[FASTPATH_MAP_COUNT];
	unsigned found = 0;
	bool fits = true;

	why[0] = '\0';
	for (unsigned i = 0; i < FASTPATH_MAP_COUNT; i++) {
		char path[FASTPATH_PIN_PATH_MAX];

		fastpath_pin_path(fp->pin_dir, fastpath_map_names[i], path, sizeof(path));
		fds[i] = bpf_obj_get(path);
		if (fds[i] < 0)
			continue;
		found++;
		if (!fastpath_map_fits(fds[i], fastpath_map(fp->skel, (enum fastpath_map)i))) {
			snprintf(why, whylen, "its %s map has another shape",
				 fastpath_map_names[i]);
			fits = false;
		}
	}
	if (found > 0 && found < FASTPATH_MAP_COUNT) {
		snprintf(why, whylen, "only %u of its %u maps are there", found,
			 (unsigned)FASTPATH_MAP_COUNT);
		fits = false;
	}
	if (found == FASTPATH_MAP_COUNT && fits) {
		struct fastpath_config have;
		uint32_t zero = 0;

		memset(&have, 0, sizeof(have));
		if (bpf_map_lookup_elem(fds[FASTPATH_MAP_CONFIG], &zero, &have) < 0 ||
		    have.abi != FASTPATH_ABI_VERSION) {
			snprintf(why, whylen, "its layout is version %u, this build's %u", have.abi,
				 (unsigned)FASTPATH_ABI_VERSION);
			fits = false;
		}
	}
	for (unsigned i = 0; i < FASTPATH_MAP_COUNT && found == FASTPATH_MAP_COUNT && fits; i++) {
		int ret = bpf_map__reuse_fd(fastpath_map(fp->skel, (enum fastpath_map)i), fds[i]);
		if (ret < 0) {
			snprintf(why, whylen, "cannot reuse its %s map: %s", fastpath_map_names[i],
				 strerror(-ret));
			fits = false;
		}
	}
	for (unsigned i = 0; i < FASTPATH_MAP_COUNT; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	return found == FASTPATH_MAP_COUNT && fits;
}

/* Pins the freshly loaded maps; false (and the reason logged) when the kernel refuses. */
static bool fastpath_pin_maps(struct fastpath *fp)
{
	for (unsigned i = 0; i < FASTPATH_MAP_COUNT; i++) {
		char path[FASTPATH_PIN_PATH_MAX];
		int fd = bpf_map__fd(fastpath_map(fp->skel, (enum fastpath_map)i));

		fastpath_pin_path(fp->pin_dir, fastpath_map_names[i], path, sizeof(path));
		if (bpf_obj_pin(fd, path) < 0) {
			log_warnx("fast path: cannot pin %s: %s; it will not outlive droverd", path,
				  strerror(errno));
			fastpath_cleanup(fp->pin_dir);
			return false;
		}
	}
	return true;
}

/* Reads back what the adopted maps hold, so publishing goes on from it. */
static void fastpath_adopt_state(struct fastpath *fp)
{
	uint32_t zero = 0;

	for (uint32_t slot = 1; slot < FASTPATH_SLOTS; slot++) {
		if (bpf_map_lookup_elem(fp->slots_fd, &slot, &fp->slots[slot]) < 0)
			memset(&fp->slots[slot], 0, sizeof(fp->slots[slot]));
	}
	if (bpf_map_lookup_elem(fp->config_fd, &zero, &fp->config) == 0) {
		fp->scope_digest = fp->config.scope_digest;
		fp->scope_set = true;
	}
}

struct fastpath *fastpath_open(uint32_t max_clients, char *err, size_t errlen)
{
	return fastpath_open_pinned(max_clients, NULL, err, errlen);
}

struct fastpath *fastpath_open_pinned(uint32_t max_clients, const char *pin_dir, char *err,
				      size_t errlen)
{
	struct fastpath *fp = calloc(1, sizeof(*fp));
	char why[FASTPATH_WHY_MAX];
	int ret;

	if (fp == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	libbpf_set_print(fastpath_libbpf_print);
	/* The clsact filter can be asked for: it is what kernels before 6.6 get. */
	const char *attach = getenv("DROVER_FAST_PATH_ATTACH");
	fp->use_tcx = attach == NULL || strcmp(attach, "clsact") != 0;
	fp->mode = FASTPATH_MODE_AUTO;
	fp->grace_ns = FASTPATH_GRACE_DEFAULT_S * CLOCK_NS_PER_S;
	fp->ncpus = libbpf_num_possible_cpus();
	fp->skel = fastpath_bpf__open();
	if (fp->skel == NULL || fp->ncpus <= 0) {
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	/* Both families share droverd's affinity table, and its bound. */
	uint32_t records = max_clients < AFFINITY_MIN_CLIENTS ? AFFINITY_MIN_CLIENTS : max_clients;
	bpf_map__set_max_entries(fp->skel->maps.clients, records);
	bpf_map__set_max_entries(fp->skel->maps.clients6, records);
	if (pin_dir != NULL && pin_dir[0] != '\0') {
		if (fastpath_pin_dir_make(pin_dir, why, sizeof(why)) < 0) {
			log_warnx("fast path: %s; it will not outlive droverd", why);
		} else {
			snprintf(fp->pin_dir, sizeof(fp->pin_dir), "%s", pin_dir);
			fp->adopted = fastpath_adopt(fp, why, sizeof(why));
			if (!fp->adopted && why[0] != '\0') {
				log_warnx("fast path: not taking over what %s holds (%s): "
					  "starting clean",
					  pin_dir, why);
				fastpath_cleanup(pin_dir);
				fastpath_pin_dir_make(pin_dir, why, sizeof(why));
			}
		}
	}
	ret = fastpath_bpf__load(fp->skel);
	if (ret < 0) {
		snprintf(err, errlen, "the kernel refused the BPF program: %s%s", strerror(-ret),
			 ret == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
		goto fail;
	}
	fp->clients_fd = bpf_map__fd(fp->skel->maps.clients);
	fp->slots_fd = bpf_map__fd(fp->skel->maps.slots);
	fp->config_fd = bpf_map__fd(fp->skel->maps.config);
	fp->stats_fd = bpf_map__fd(fp->skel->maps.stats);
	fp->counters_fd = bpf_map__fd(fp->skel->maps.counters);
	fp->clients6_fd = bpf_map__fd(fp->skel->maps.clients6);
	fp->xdp_ports_fd = bpf_map__fd(fp->skel->maps.xdp_ports);
	fp->xdp_tx_fd = bpf_map__fd(fp->skel->maps.xdp_tx);
	if (fp->adopted) {
		fastpath_adopt_state(fp);
		log_info("fast path: took over the client records pinned in %s", fp->pin_dir);
	} else if (fp->pin_dir[0] != '\0' && !fastpath_pin_maps(fp)) {
		fp->pin_dir[0] = '\0';
	}
	fp->config.abi = FASTPATH_ABI_VERSION;
	return fp;
fail:
	fastpath_bpf__destroy(fp->skel);
	free(fp);
	return NULL;
}

bool fastpath_adopted(const struct fastpath *fp)
{
	return fp != NULL && fp->adopted;
}

bool fastpath_pinned(const struct fastpath *fp)
{
	return fp != NULL && fp->pin_dir[0] != '\0';
}

/* Removes a classic filter left on ifindex (ours, or one a killed droverd left behind). */
static void fastpath_tc_detach(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FASTPATH_TC_HANDLE,
			    .priority = FASTPATH_TC_PRIO);

	bpf_tc_detach(&hook, &opts);
}

static void fastpath_write_config(struct fastpath *fp);

static void fastpath_link_path(const struct fastpath *fp, int ifindex, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" FASTPATH_LINK_PREFIX "%d", fp->pin_dir, ifindex);
}

/*
 * A tcx link on ifindex running the program: the one a previous droverd
 * pinned, given this program in one step (no packet meets no program), or
 * a new one, pinned so that it outlives droverd as a classic filter does.
 */
static int fastpath_tcx_attach(struct fastpath *fp, int ifindex, int prog_fd)
{
	char path[FASTPATH_PIN_PATH_MAX];
	int fd = -1;

	if (fp->pin_dir[0] != '\0') {
		fastpath_link_path(fp, ifindex, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0 && bpf_link_update(fd, prog_fd, NULL) == 0)
			return fd;
		/* Its interface went away (and another may have its index): a new link. */
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
	}
	fd = bpf_link_create(prog_fd, ifindex, BPF_TCX_INGRESS, NULL);
	if (fd < 0)
		return -errno;
	if (fp->pin_dir[0] != '\0' && bpf_obj_pin(fd, path) < 0)
		log_warnx("fast path: cannot pin %s: %s; the program on interface %d goes with "
			  "droverd",
			  path, strerror(errno), ifindex);
	return fd;
}

static void fastpath_xdp_link_path(const struct fastpath *fp, int ifindex, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" FASTPATH_XDP_LINK_PREFIX "%d", fp->pin_dir, ifindex);
}

/* ifindex's Ethernet address, or -errno (-EOPNOTSUPP: not Ethernet). */
static int fastpath_mac(int ifindex, uint8_t mac[FASTPATH_MAC_LEN])
{
	struct ifreq ifr;
	int sock, ret = 0;

	memset(&ifr, 0, sizeof(ifr));
	if (if_indextoname((unsigned)ifindex, ifr.ifr_name) == NULL)
		return -errno;
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0)
		ret = -errno;
	else if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		ret = -EOPNOTSUPP;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, FASTPATH_MAC_LEN);
	close(sock);
	return ret;
}

/* Whether ifindex is a veth (its driver's name). */
static bool fastpath_is_veth(int ifindex)
{
	struct ethtool_drvinfo info;
	struct ifreq ifr;
	bool veth = false;
	int sock;

	memset(&ifr, 0, sizeof(ifr));
	memset(&info, 0, sizeof(info));
	if (if_indextoname((unsigned)ifindex, ifr.ifr_name) == NULL)
		return false;
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return false;
	info.cmd = ETHTOOL_GDRVINFO;
	ifr.ifr_data = (void *)&info;
	if (ioctl(sock, SIOCETHTOOL, &ifr) == 0)
		veth = strcmp(info.driver, "veth") == 0;
	close(sock);
	return veth;
}

/* ifindex leaves the XDP program's interfaces: neither taken from nor sent to. */
static void fastpath_xdp_forget(struct fastpath *fp, int ifindex)
{
	uint32_t key = (uint32_t)ifindex;

	bpf_map_delete_elem(fp->xdp_ports_fd, &key);
	bpf_map_delete_elem(fp->xdp_tx_fd, &key);
}

/*
 * The XDP program on ifindex in its driver (native mode), as a link: the
 * one a previous droverd pinned, given this program in one step, or a new
 * one, pinned so that it outlives droverd as the tc link does. The
 * interface joins the program's own (taken from, sent to) first. Returns
 * the link or -errno: no native XDP in the driver (generic XDP would gain
 * nothing over tc), not Ethernet, or another XDP program there.
 */
static int fastpath_xdp_attach(struct fastpath *fp, int ifindex)
{
	int prog_fd = bpf_program__fd(fp->skel->progs.drover_fastpath_xdp);
	struct fastpath_xdp_port port;
	char path[FASTPATH_PIN_PATH_MAX];
	uint32_t key = (uint32_t)ifindex;
	int fd = -1, ret;

	memset(&port, 0, sizeof(port));
	ret = fastpath_mac(ifindex, port.mac);
	if (ret < 0)
		return ret;
	if (fastpath_is_veth(ifindex))
		port.flags |= FASTPATH_XDP_PORT_TX_BY_REDIRECT;
	if (bpf_map_update_elem(fp->xdp_ports_fd, &key, &port, BPF_ANY) < 0 ||
	    bpf_map_update_elem(fp->xdp_tx_fd, &key, &key, BPF_ANY) < 0) {
		ret = -errno;
		fastpath_xdp_forget(fp, ifindex);
		return ret;
	}
	if (fp->pin_dir[0] != '\0') {
		fastpath_xdp_link_path(fp, ifindex, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0 && bpf_link_update(fd, prog_fd, NULL) == 0)
			return fd;
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
	}
	DECLARE_LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		ret = -errno;
		fastpath_xdp_forget(fp, ifindex);
		return ret;
	}
	if (fp->pin_dir[0] != '\0' && bpf_obj_pin(fd, path) < 0)
		log_warnx("fast path: cannot pin %s: %s; the XDP program on interface %d goes "
			  "with droverd",
			  path, strerror(errno), ifindex);
	return fd;
}

/* Takes the XDP program off i's interface (tc goes on alone), and forgets its pinned link. */
static void fastpath_xdp_detach(struct fastpath *fp, struct fastpath_iface *i)
{
	if (fp->pin_dir[0] != '\0') {
		char path[FASTPATH_PIN_PATH_MAX];
		fastpath_xdp_link_path(fp, i->ifindex, path, sizeof(path));
		unlink(path);
	}
	if (i->xdp_link_fd >= 0)
		close(i->xdp_link_fd);
	i->xdp_link_fd = -1;
	fastpath_xdp_forget(fp, i->ifindex);
}

/*
 * Words in the name of a driver's statistic that counts frames XDP failed to
 * send. A veth counts a redirect its target refused among its receive
 * drops, which hold nothing else once XDP runs there (the program never
 * drops): those too, on a veth only.
 */
static bool fastpath_xdp_failure_stat(const char *name, bool veth)
{
	bool drop = strstr(name, "drop") != NULL;

	return (strstr(name, "xdp") != NULL && (strstr(name, "err") != NULL || drop)) ||
	       (veth && drop);
}

/*
 * What ifindex's device counts of frames it could not send: its tx_dropped
 * (a veth whose peer cannot take frames from XDP drops what is redirected
 * to it there) and the driver's own XDP error and drop statistics (an
 * XDP_TX that failed). Control thread only; 0 when nothing can be read.
 */
static uint64_t fastpath_xdp_failures(int ifindex)
{
	char name[IF_NAMESIZE], path[FASTPATH_PIN_PATH_MAX];
	uint64_t sum = 0, value;
	struct ethtool_sset_info *info = NULL;
	struct ethtool_gstrings *strings = NULL;
	struct ethtool_stats *stats = NULL;
	struct ifreq ifr;
	bool veth = fastpath_is_veth(ifindex);
	FILE *f;
	int sock;

	if (if_indextoname((unsigned)ifindex, name) == NULL)
		return 0;
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped", name);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fscanf(f, "%" SCNu64, &value) == 1)
			sum += value;
		fclose(f);
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return sum;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	info = calloc(1, sizeof(*info) + sizeof(uint32_t));
	if (info == NULL)
		goto done;
	info->cmd = ETHTOOL_GSSET_INFO;
	info->sset_mask = 1ULL << ETH_SS_STATS;
	ifr.ifr_data = (void *)info;
	if (ioctl(sock, SIOCETHTOOL, &ifr) < 0 || info->sset_mask == 0)
		goto done;
	uint32_t n = info->data[0];
	strings = calloc(1, sizeof(*strings) + (size_t)n * ETH_GSTRING_LEN);
	stats = calloc(1, sizeof(*stats) + (size_t)n * sizeof(uint64_t));
	if (strings == NULL || stats == NULL)
		goto done;
	strings->cmd = ETHTOOL_GSTRINGS;
	strings->string_set = ETH_SS_STATS;
	strings->len = n;
	ifr.ifr_data = (void *)strings;
	if (ioctl(sock, SIOCETHTOOL, &ifr) < 0)
		goto done;
	stats->cmd = ETHTOOL_GSTATS;
	stats->n_stats = n;
	ifr.ifr_data = (void *)stats;
	if (ioctl(sock, SIOCETHTOOL, &ifr) < 0)
		goto done;
	for (uint32_t i = 0; i < n && i < stats->n_stats; i++) {
		char stat[ETH_GSTRING_LEN + 1];
		memcpy(stat, strings->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
		stat[ETH_GSTRING_LEN] = '\0';
		if (fastpath_xdp_failure_stat(stat, veth))
			sum += stats->data[i];
	}
done:
	free(info);
	free(strings);
	free(stats);
	close(sock);
	return sum;
}

/* XDP beside tc on i's interface when the mode asks for it, or off it when not. */
static void fastpath_xdp_apply(struct fastpath *fp, struct fastpath_iface *i, const char *name)
{
	/*
	 * A veth's XDP copies every frame the stack sent it into a page of its
	 * own before the program runs: measured, that costs more per packet
	 * than tc. auto leaves veths to tc; xdp puts XDP on them too.
	 */
	if (fp->mode == FASTPATH_MODE_TC ||
	    (fp->mode == FASTPATH_MODE_AUTO && fastpath_is_veth(i->ifindex))) {
		fastpath_xdp_detach(fp, i);
		i->xdp_error = 0;
		return;
	}
	if (i->xdp_link_fd >= 0)
		return;
	int fd = fastpath_xdp_attach(fp, i->ifindex);
	if (fd < 0) {
		i->xdp_error = -fd;
		if (fp->mode == FASTPATH_MODE_XDP)
			log_warnx("fast path: no native XDP on %s (%s): tc carries its clients",
				  name, strerror(-fd));
		else
			log_info("fast path: no native XDP on %s (%s): tc carries its clients",
				 name, strerror(-fd));
		return;
	}
	i->xdp_link_fd = fd;
	i->xdp_error = 0;
	i->xdp_failures = fastpath_xdp_failures(i->ifindex);
	log_debug("fast path: XDP on %s", name);
}

static int fastpath_attach_one(struct fastpath *fp, int ifindex, int *link_fd)
{
	int prog_fd = bpf_program__fd(fp->skel->progs.drover_fastpath);

	if (fp->use_tcx) {
		int fd = fastpath_tcx_attach(fp, ifindex, prog_fd);
		if (fd >= 0) {
			/* A filter an earlier droverd left behind would run first: take it away. */
			fastpath_tc_detach(ifindex);
			*link_fd = fd;
			return 0;
		}
		if (fd != -EINVAL && fd != -EOPNOTSUPP && fd != -FASTPATH_ENOTSUPP)
			return fd;
		log_info("fast path: this kernel has no tcx links; using a clsact filter");
		fp->use_tcx = false;
	}
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FASTPATH_TC_HANDLE,
			    .priority = FASTPATH_TC_PRIO, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);
	int ret = bpf_tc_hook_create(&hook);
	if (ret < 0 && ret != -EEXIST)
		return ret;
	/* BPF_TC_F_REPLACE: an earlier droverd's filter gets this program in one step. */
	ret = bpf_tc_attach(&hook, &opts);
	if (ret < 0)
		return ret;
	/* A link an earlier droverd pinned (tcx asked for then) goes once the filter is in. */
	if (fp->pin_dir[0] != '\0') {
		char path[FASTPATH_PIN_PATH_MAX];
		fastpath_link_path(fp, ifindex, path, sizeof(path));
		unlink(path);
	}
	*link_fd = -1;
	return 0;
}

/* Takes the programs off i's interface, and forgets their pinned links. */
static void fastpath_detach_one(struct fastpath *fp, struct fastpath_iface *i)
{
	fastpath_xdp_detach(fp, i);
	if (i->link_fd >= 0) {
		if (fp->pin_dir[0] != '\0') {
			char path[FASTPATH_PIN_PATH_MAX];
			fastpath_link_path(fp, i->ifindex, path, sizeof(path));
			unlink(path);
		}
		close(i->link_fd);
	} else {
		fastpath_tc_detach(i->ifindex);
	}
}

unsigned fastpath_attach_all(struct fastpath *fp)
{
	struct if_nameindex *names = if_nameindex();
	unsigned kept = 0;

	if (names == NULL)
		return fp->nifaces;
	/* Interfaces that went away took their filters and links with them. */
	for (unsigned i = 0; i < fp->nifaces; i++) {
		bool present = false;
		for (struct if_nameindex *n = names; n->if_index != 0 && !present; n++)
			present = (int)n->if_index == fp->ifaces[i].ifindex;
		if (present)
			fp->ifaces[kept++] = fp->ifaces[i];
		else if (fp->ifaces[i].link_fd >= 0)
			fastpath_detach_one(fp, &fp->ifaces[i]);
		else
			fastpath_xdp_detach(fp, &fp->ifaces[i]);
	}
	fp->nifaces = kept;
	for (struct if_nameindex *n = names; n->if_index != 0; n++) {
		bool have = false;
		int link_fd = -1, ret;

		if (strcmp(n->if_name, "lo") == 0)
			continue;
		for (unsigned i = 0; i < fp->nifaces && !have; i++)
			have = fp->ifaces[i].ifindex == (int)n->if_index;
		if (have || fp->nifaces == FASTPATH_IFACES_MAX)
			continue;
		ret = fastpath_attach_one(fp, (int)n->if_index, &link_fd);
		if (ret < 0) {
			log_warnx("fast path: cannot attach to %s: %s; its packets take the "
				  "NFQUEUE path",
				  n->if_name, strerror(-ret));
			continue;
		}
		log_debug("fast path: attached to %s", n->if_name);
		struct fastpath_iface *i = &fp->ifaces[fp->nifaces++];
		*i = (struct fastpath_iface){(int)n->if_index, link_fd, -1, 0, 0};
		fastpath_xdp_apply(fp, i, n->if_name);
	}
	if_freenameindex(names);
	fp->attached = true;
	return fp->nifaces;
}

void fastpath_detach_all(struct fastpath *fp)
{
	for (unsigned i = 0; i < fp->nifaces; i++)
		fastpath_detach_one(fp, &fp->ifaces[i]);
	fp->nifaces = 0;
	fp->attached = false;
}

/*
 * An interface whose device failed to send frames since XDP came on is
 * left to tc alone: a veth whose peer takes no frames from XDP (its GRO
 * off and no XDP program of its own) drops every one, and so may a driver
 * short of XDP transmit queues. tc carries those clients as it always has.
 */
static void fastpath_xdp_watch(struct fastpath *fp)
{
	char name[IF_NAMESIZE];

	for (unsigned i = 0; i < fp->nifaces; i++) {
		struct fastpath_iface *f = &fp->ifaces[i];
		if (f->xdp_link_fd < 0)
			continue;
		uint64_t failures = fastpath_xdp_failures(f->ifindex);
		if (failures <= f->xdp_failures)
			continue;
		if (if_indextoname((unsigned)f->ifindex, name) == NULL)
			snprintf(name, sizeof(name), "%d", f->ifindex);
		log_warnx("fast path: %s failed to send %" PRIu64 " frames from XDP; tc carries "
			  "its clients from now on",
			  name, failures - f->xdp_failures);
		fastpath_xdp_detach(fp, f);
		f->xdp_error = EPIPE;
	}
}

void fastpath_set_mode(struct fastpath *fp, enum fastpath_mode mode)
{
	char name[IF_NAMESIZE];

	if (mode == fp->mode)
		return;
	fp->mode = mode;
	for (unsigned i = 0; i < fp->nifaces; i++) {
		if (if_indextoname((unsigned)fp->ifaces[i].ifindex, name) == NULL)
			snprintf(name, sizeof(name), "%d", fp->ifaces[i].ifindex);
		fastpath_xdp_apply(fp, &fp->ifaces[i], name);
	}
}

enum fastpath_path fastpath_interface_path(const struct fastpath *fp, int ifindex, int *why)
{
	if (why != NULL)
		*why = 0;
	if (!fastpath_attached(fp))
		return FASTPATH_PATH_NONE;
	for (unsigned i = 0; i < fp->nifaces; i++) {
		if (fp->ifaces[i].ifindex != ifindex)
			continue;
		if (why != NULL)
			*why = fp->ifaces[i].xdp_error;
		return fp->ifaces[i].xdp_link_fd >= 0 ? FASTPATH_PATH_XDP : FASTPATH_PATH_TC;
	}
	return FASTPATH_PATH_NONE;
}

const char *fastpath_path_name(enum fastpath_path path)
{
	switch (path) {
	case FASTPATH_PATH_XDP:
		return "xdp";
	case FASTPATH_PATH_TC:
		return "tc";
	case FASTPATH_PATH_NONE:
		break;
	}
	return "none";
}

bool fastpath_attached(const struct fastpath *fp)
{
	return fp != NULL && fp->attached;
}

unsigned fastpath_interfaces(const struct fastpath *fp, int *ifindex, unsigned max)
{
	unsigned n = 0;

	if (!fastpath_attached(fp))
		return 0;
	for (; n < fp->nifaces && n < max; n++)
		ifindex[n] = fp->ifaces[n].ifindex;
	return n;
}

void fastpath_close(struct fastpath *fp)
{
	if (fp == NULL)
		return;
	fastpath_detach_all(fp);
	fastpath_bpf__destroy(fp->skel);
	if (fp->pin_dir[0] != '\0')
		fastpath_cleanup(fp->pin_dir);
	free(fp);
}

void fastpath_leave(struct fastpath *fp)
{
	if (fp == NULL)
		return;
	if (fp->pin_dir[0] == '\0' || !fp->attached) {
		fastpath_close(fp);
		return;
	}
	/* The pins hold the maps and the links; the filters hold the program. */
	fp->leaving = true;
	fastpath_write_config(fp);
	for (unsigned i = 0; i < fp->nifaces; i++) {
		if (fp->ifaces[i].link_fd >= 0)
			close(fp->ifaces[i].link_fd);
		if (fp->ifaces[i].xdp_link_fd >= 0)
			close(fp->ifaces[i].xdp_link_fd);
	}
	fastpath_bpf__destroy(fp->skel);
	log_info("fast path: left in the kernel under %s, carrying known clients for %" PRIu64 " s",
		 fp->pin_dir, (uint64_t)(fp->grace_ns / CLOCK_NS_PER_S));
	free(fp);
}

int fastpath_cleanup(const char *pin_dir)
{
	struct if_nameindex *names = if_nameindex();
	struct dirent *e;
	DIR *dir;
	int ret = 0;

	/* Classic filters are found by their handle, on every interface. */
	for (struct if_nameindex *n = names; n != NULL && n->if_index != 0; n++)
		fastpath_tc_detach((int)n->if_index);
	if (names != NULL)
		if_freenameindex(names);
	dir = opendir(pin_dir);
	if (dir == NULL)
		return errno == ENOENT ? 0 : -errno;
	/* A link whose last pin goes (and no process holds) takes the program off. */
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(dir), e->d_name, 0) < 0 && ret == 0)
			ret = -errno;
	}
	closedir(dir);
	if (rmdir(pin_dir) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

static void fastpath_write_config(struct fastpath *fp)
{
	uint32_t zero = 0;

	uint64_t now_ns = clock_now_ns();

	fp->config.alive_until_ns = now_ns + fp->grace_ns;
	fp->config.present_until_ns = fp->leaving ? now_ns : now_ns + FASTPATH_PRESENT_NS;
	if (bpf_map_update_elem(fp->config_fd, &zero, &fp->config, BPF_ANY) < 0)
		log_warnx("fast path: cannot write its settings: %s", strerror(errno));
}

_Static_assert(FASTPATH_SLOTS == PROXY_SLOTS_MAX, "the kernel has a slot for every proxy slot");
_Static_assert(FASTPATH_XDP_PORTS == FASTPATH_IFACES_MAX, "the XDP program knows every interface");
_Static_assert(sizeof(((struct fastpath_config *)0)->ports) ==
		   sizeof(((struct pool_snapshot *)0)->port_map),
	       "the kernel's web-port map is the snapshot's");

/* FNV-1a over the words that decide who may be a client. */
static uint64_t fastpath_digest_add(uint64_t digest, uint32_t word)
{
	for (unsigned i = 0; i < sizeof(word); i++) {
		digest ^= (word >> (8 * i)) & 0xff;
		digest *= FASTPATH_FNV_PRIME;
	}
	return digest;
}

static uint64_t fastpath_digest_add6(uint64_t digest, const uint8_t addr[WIRE_IPV6_ADDR_LEN])
{
	for (unsigned i = 0; i < WIRE_IPV6_ADDR_LEN; i++) {
		digest ^= addr[i];
		digest *= FASTPATH_FNV_PRIME;
	}
	return digest;
}

/* A new scope when the snapshot's client subnets or proxy addresses differ from the last. */
static void fastpath_scope_update(struct fastpath *fp, const struct pool_snapshot *snap)
{
	uint64_t digest = FASTPATH_FNV_OFFSET;

	for (size_t i = 0; i < snap->nsubnets; i++) {
		digest = fastpath_digest_add(digest, snap->client_subnets[i].addr);
		digest = fastpath_digest_add(digest, snap->client_subnets[i].len);
	}
	digest = fastpath_digest_add(digest, FASTPATH_DIGEST_SEPARATOR);
	for (size_t i = 0; i < snap->nproxies; i++)
		digest = fastpath_digest_add(digest, snap->proxies[i]);
	/* IPv6 records are keyed by the prefix: another prefix, other keys. */
	digest = fastpath_digest_add(digest, FASTPATH_DIGEST_SEPARATOR);
	digest = fastpath_digest_add(digest, snap->ipv6_prefix);
	for (size_t i = 0; i < snap->nsubnets6; i++) {
		digest = fastpath_digest_add6(digest, snap->client_subnets6[i].addr);
		digest = fastpath_digest_add(digest, snap->client_subnets6[i].len);
	}
	digest = fastpath_digest_add(digest, FASTPATH_DIGEST_SEPARATOR);
	for (size_t i = 0; i < snap->nproxies6; i++)
		digest = fastpath_digest_add6(digest, snap->proxies6[i]);
	if (fp->scope_set && digest == fp->scope_digest)
		return;
	fp->scope_digest = digest;
	fp->config.scope_digest = digest;
	fp->scope_set = true;
	fp->config.scope++;
}

void fastpath_publish(struct fastpath *fp, struct pool_snapshot *snap)
{
	for (uint32_t slot = 1; slot < FASTPATH_SLOTS; slot++) {
		struct fastpath_slot *have = &fp->slots[slot], want = {.gen = have->gen};
		if (slot < snap->nslots && (snap->targets[slot].flags & POOL_TARGET_KEEPS)) {
			const struct pool_target *t = &snap->targets[slot];
			want.address = t->address;
			want.source = t->source;
			want.mtu = t->tunnel_mtu;
			if (t->flags & POOL_TARGET_IPV6) {
				want.mtu6 = t->tunnel_mtu6;
				memcpy(want.address6, t->address6, sizeof(want.address6));
				memcpy(want.source6, t->source6, sizeof(want.source6));
			}
		} else if (fp->hold && slot < snap->nslots && have->address != 0 &&
			   snap->targets[slot].address == have->address &&
			   snap->targets[slot].source == have->source) {
			/* Not known to be down yet: its clients stay where they are. */
			want = *have;
		}
		/* Clients placed on what the slot was are not clients of what it is now. */
		if (have->address != 0 &&
		    (want.address != have->address || want.source != have->source))
			want.gen++;
		if (memcmp(&want, have, sizeof(want)) != 0) {
			if (bpf_map_update_elem(fp->slots_fd, &slot, &want, BPF_ANY) < 0) {
				log_warnx("fast path: cannot write slot %u: %s", slot,
					  strerror(errno));
				/* Not written: keep the kernel's copy out of use. */
				want.gen++;
				want.address = 0;
			}
			*have = want;
		}
		if (slot < snap->nslots)
			snap->targets[slot].fast_gen = have->gen;
	}
	memcpy(fp->config.ports, snap->port_map, sizeof(fp->config.ports));
	fp->config.ipv6_prefix = snap->ipv6_prefix;
	fp->config.idle_ns =
	    (uint64_t)__atomic_load_n(&snap->affinity->timeout, __ATOMIC_RELAXED) * CLOCK_NS_PER_S;
	fastpath_scope_update(fp, snap);
	snap->fast_scope = fp->config.scope;
	fastpath_write_config(fp);
}

void fastpath_set_grace(struct fastpath *fp, uint32_t seconds)
{
	fp->grace_ns = (uint64_t)seconds * CLOCK_NS_PER_S;
	fastpath_write_config(fp);
}

void fastpath_hold(struct fastpath *fp, bool hold)
{
	fp->hold = hold;
}

void fastpath_tick(struct fastpath *fp, struct affinity_table *affinity,
		   const uint8_t key[HASH_KEY_BYTES])
{
	uint64_t now_ns = clock_now_ns();

	fastpath_write_config(fp);
	fastpath_xdp_watch(fp);
	uint64_t every_s = fp->nclients / FASTPATH_WALK_PER_S;
	uint64_t half_idle_s = fp->config.idle_ns / CLOCK_NS_PER_S / 2;
	if (every_s > FASTPATH_WALK_MAX_S)
		every_s = FASTPATH_WALK_MAX_S;
	if (every_s > half_idle_s)
		every_s = half_idle_s;
	if (fp->last_walk_ns != 0 &&
	    now_ns - fp->last_walk_ns + CLOCK_NS_PER_S / 10 < every_s * CLOCK_NS_PER_S)
		return;
	fastpath_walk(fp, affinity, key);
}

/* Whether the kernel may still use record c (its slot and scope current, not idle). */
static bool fastpath_record_live(const struct fastpath *fp, const struct fastpath_client *c,
				 uint64_t now_ns)
{
	bool current = c->slot < FASTPATH_SLOTS && fp->slots[c->slot].address != 0 &&
		       fp->slots[c->slot].gen == c->gen && c->scope == fp->config.scope;

	return current && now_ns - c->seen_ns <= fp->config.idle_ns;
}

/*
 * The IPv6 records: expired ones removed, live ones refreshed in droverd's
 * affinity table under their tag (pool_affinity_tag6 of the identity's
 * keyed hash, as the NFQUEUE path places them). Returns the live ones.
 */
static uint64_t fastpath_walk6(struct fastpath *fp, struct affinity_table *affinity,
			       const uint8_t key[HASH_KEY_BYTES], uint64_t now_ns)
{
	uint32_t now_s = (uint32_t)(now_ns / CLOCK_NS_PER_S);
	uint32_t batch = 0;
	uint64_t live = 0;
	bool more = true, first = true;

	while (more) {
		uint32_t count = FASTPATH_BATCH, ndoomed = 0;
		int ret = bpf_map_lookup_batch(fp->clients6_fd, first ? NULL : &batch, &batch,
					       fp->keys6, fp->values, &count, NULL);
		first = false;
		if (ret < 0 && errno != ENOENT) {
			log_warnx("fast path: cannot read its IPv6 clients: %s", strerror(errno));
			break;
		}
		more = ret == 0;
		for (uint32_t i = 0; i < count; i++) {
			const struct fastpath_client *c = &fp->values[i];
			if (!fastpath_record_live(fp, c, now_ns)) {
				fp->doomed6[ndoomed++] = fp->keys6[i];
				continue;
			}
			live++;
			/* The key is the identity already widened: the hash NFQUEUE placed it by.
			 */
			struct client_id id;
			memcpy(id.addr, fp->keys6[i].addr, sizeof(id.addr));
			uint64_t hash = hash_client_id(key, &id);
			uint32_t tag = pool_affinity_tag6(hash),
				 seen_s = c->seen_ns / CLOCK_NS_PER_S;
			uint16_t slot;
			uint32_t age;
			if (affinity_peek(affinity, tag, hash, now_s, &slot, &age) &&
			    slot == c->slot && now_s - age >= seen_s)
				continue;
			affinity_insert(affinity, tag, hash, c->slot, seen_s, NULL);
		}
		if (ndoomed > 0) {
			uint32_t n = ndoomed;
			if (bpf_map_delete_batch(fp->clients6_fd, fp->doomed6, &n, NULL) < 0) {
				for (uint32_t i = 0; i < ndoomed; i++)
					bpf_map_delete_elem(fp->clients6_fd, &fp->doomed6[i]);
			}
		}
	}
	return live;
}

void fastpath_walk(struct fastpath *fp, struct affinity_table *affinity,
		   const uint8_t key[HASH_KEY_BYTES])
{
	uint64_t now_ns = clock_now_ns();
	uint32_t now_s = (uint32_t)(now_ns / CLOCK_NS_PER_S);
	uint32_t batch = 0, ndoomed;
	uint64_t live = 0;
	bool more = true, first = true;

	fp->last_walk_ns = now_ns;
	while (more) {
		uint32_t count = FASTPATH_BATCH;
		int ret = bpf_map_lookup_batch(fp->clients_fd, first ? NULL : &batch, &batch,
					       fp->keys, fp->values, &count, NULL);
		first = false;
		if (ret < 0 && errno != ENOENT) {
			log_warnx("fast path: cannot read its clients: %s", strerror(errno));
			break;
		}
		more = ret == 0;
		ndoomed = 0;
		for (uint32_t i = 0; i < count; i++) {
			const struct fastpath_client *c = &fp->values[i];
			uint64_t seen_s = c->seen_ns / CLOCK_NS_PER_S;
			if (!fastpath_record_live(fp, c, now_ns)) {
				fp->doomed[ndoomed++] = fp->keys[i];
				continue;
			}
			live++;
			/* Keep droverd's own table as fresh as the kernel's record. */
			uint64_t hash = hash_client(key, fp->keys[i]);
			uint16_t slot;
			uint32_t age;
			if (affinity_peek(affinity, fp->keys[i], hash, now_s, &slot, &age) &&
			    slot == c->slot && now_s - age >= seen_s)
				continue;
			affinity_insert(affinity, fp->keys[i], hash, c->slot, (uint32_t)seen_s,
					NULL);
		}
		if (ndoomed > 0) {
			uint32_t n = ndoomed;
			if (bpf_map_delete_batch(fp->clients_fd, fp->doomed, &n, NULL) < 0) {
				for (uint32_t i = 0; i < ndoomed; i++)
					bpf_map_delete_elem(fp->clients_fd, &fp->doomed[i]);
			}
		}
	}
	fp->nclients = live + fastpath_walk6(fp, affinity, key, now_ns);
}

uint16_t fastpath_slot_of(const struct fastpath *fp, uint32_t address)
{
	for (uint16_t slot = 1; address != 0 && slot < FASTPATH_SLOTS; slot++) {
		if (fp->slots[slot].address == address)
			return slot;
	}
	return 0;
}

void fastpath_forget(struct fastpath *fp, uint32_t client)
{
	bpf_map_delete_elem(fp->clients_fd, &client);
}

void fastpath_forget_all(struct fastpath *fp)
{
	/* 0.0.0.0 is never a client: asked for the key after it, the kernel gives the first. */
	uint32_t prev = 0, next;
	bool have_prev = false;

	/* Each key is deleted once the next one is known, so the walk goes on from it. */
	while (bpf_map_get_next_key(fp->clients_fd, &prev, &next) == 0) {
		if (have_prev)
			bpf_map_delete_elem(fp->clients_fd, &prev);
		prev = next;
		have_prev = true;
	}
	if (have_prev)
		bpf_map_delete_elem(fp->clients_fd, &prev);
	/*
	 * Asked for the key after one it does not hold (the all-zero key: no
	 * client has the unspecified address), the kernel gives the first:
	 * delete until empty. A real key rather than NULL keeps memory checkers
	 * able to follow the call.
	 */
	struct fastpath_client6_key key6 = {0};
	while (bpf_map_get_next_key(fp->clients6_fd, &key6, &key6) == 0) {
		if (bpf_map_delete_elem(fp->clients6_fd, &key6) < 0)
			break;
	}
	fp->nclients = 0;
}

int fastpath_learn(struct fastpath *fp, uint32_t client, const struct fastpath_client *placed)
{
	struct fastpath_client c = *placed;

	if (c.ifindex == 0)
		return -EINVAL;
	c.seen_ns = clock_now_ns();
	return bpf_map_update_elem(fp->clients_fd, &client, &c, BPF_ANY) < 0 ? -errno : 0;
}

int fastpath_learn6(struct fastpath *fp, const uint8_t client[FASTPATH_IPV6_ADDR_LEN],
		    const struct fastpath_client *placed)
{
	struct fastpath_client c = *placed;
	struct fastpath_client6_key key;

	if (c.ifindex == 0)
		return -EINVAL;
	memcpy(key.addr, client, sizeof(key.addr));
	c.seen_ns = clock_now_ns();
	return bpf_map_update_elem(fp->clients6_fd, &key, &c, BPF_ANY) < 0 ? -errno : 0;
}

int fastpath_client6_get(const struct fastpath *fp, const uint8_t client[FASTPATH_IPV6_ADDR_LEN],
			 struct fastpath_client *out)
{
	struct fastpath_client6_key key;

	memcpy(key.addr, client, sizeof(key.addr));
	memset(out, 0, sizeof(*out));
	return bpf_map_lookup_elem(fp->clients6_fd, &key, out) < 0 ? -errno : 0;
}

int fastpath_client_get(const struct fastpath *fp, uint32_t client, struct fastpath_client *out)
{
	memset(out, 0, sizeof(*out));
	return bpf_map_lookup_elem(fp->clients_fd, &client, out) < 0 ? -errno : 0;
}

void fastpath_slot_totals(const struct fastpath *fp, uint16_t slot,
			  struct fastpath_slot_totals *out)
{
	struct fastpath_slot_stats per_cpu[fp->ncpus];
	uint32_t key = slot;

	/* Written by the kernel; zeroed first so that memory checkers see it defined. */
	memset(per_cpu, 0, sizeof(per_cpu));
	memset(out, 0, sizeof(*out));
	if (slot >= FASTPATH_SLOTS || bpf_map_lookup_elem(fp->stats_fd, &key, per_cpu) < 0)
		return;
	for (int i = 0; i < fp->ncpus; i++) {
		out->hits += per_cpu[i].hits;
		out->packets += per_cpu[i].packets;
		out->bytes += per_cpu[i].bytes;
	}
}

void fastpath_counters(const struct fastpath *fp, uint64_t out[FASTPATH_COUNTER_COUNT])
{
	uint64_t per_cpu[fp->ncpus];

	for (uint32_t c = 0; c < FASTPATH_COUNTER_COUNT; c++) {
		out[c] = 0;
		memset(per_cpu, 0, sizeof(per_cpu));
		if (bpf_map_lookup_elem(fp->counters_fd, &c, per_cpu) < 0)
			continue;
		for (int i = 0; i < fp->ncpus; i++)
			out[c] += per_cpu[i];
	}
}

uint64_t fastpath_clients(const struct fastpath *fp)
{
	return fp->nclients;
}

int fastpath_program_fd(const struct fastpath *fp)
{
	return bpf_program__fd(fp->skel->progs.drover_fastpath);
}

int fastpath_xdp_program_fd(const struct fastpath *fp)
{
	return bpf_program__fd(fp->skel->progs.drover_fastpath_xdp);
}

const char *fastpath_attach_kind(const struct fastpath *fp)
{
	return fp->use_tcx ? "tcx link" : "clsact filter";
}
