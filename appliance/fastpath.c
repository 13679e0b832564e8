/* fastpath.c - load, attach and feed the kernel fast path (fastpath.bpf.c). */
#include "fastpath.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
#define FASTPATH_ENOTSUPP   524
#define FASTPATH_IFACES_MAX 256
/* The classic filter's handle and priority: ours to find again after a crash. */
#define FASTPATH_TC_HANDLE 0xd7
#define FASTPATH_TC_PRIO   0xd7
/* How long the kernel keeps going without a heartbeat (renewed every second). */
#define FASTPATH_HEARTBEAT_NS (3ULL * 1000000000ULL)
#define FASTPATH_BATCH	      4096
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
	int link_fd; /* tcx link, or -1 for a classic filter */
};

struct fastpath {
	struct fastpath_bpf *skel;
	int clients_fd, slots_fd, config_fd, stats_fd, counters_fd;
	int ncpus;
	bool use_tcx; /* cleared when the kernel refuses tcx links */
	struct fastpath_iface ifaces[FASTPATH_IFACES_MAX];
	unsigned nifaces;
	bool attached;
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

struct fastpath *fastpath_open(uint32_t max_clients, char *err, size_t errlen)
{
	struct fastpath *fp = calloc(1, sizeof(*fp));
	int ret;

	if (fp == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	libbpf_set_print(fastpath_libbpf_print);
	/* The clsact filter can be asked for: it is what kernels before 6.6 get. */
	const char *attach = getenv("DROVER_FAST_PATH_ATTACH");
	fp->use_tcx = attach == NULL || strcmp(attach, "clsact") != 0;
	fp->ncpus = libbpf_num_possible_cpus();
	fp->skel = fastpath_bpf__open();
	if (fp->skel == NULL || fp->ncpus <= 0) {
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	bpf_map__set_max_entries(fp->skel->maps.clients, max_clients < AFFINITY_MIN_CLIENTS
							     ? AFFINITY_MIN_CLIENTS
							     : max_clients);
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
	return fp;
fail:
	fastpath_bpf__destroy(fp->skel);
	free(fp);
	return NULL;
}

/* Removes a classic filter left on ifindex (ours, or one a killed droverd left behind). */
static void fastpath_tc_detach(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FASTPATH_TC_HANDLE,
			    .priority = FASTPATH_TC_PRIO);

	bpf_tc_detach(&hook, &opts);
}

static int fastpath_attach_one(struct fastpath *fp, int ifindex, int *link_fd)
{
	int prog_fd = bpf_program__fd(fp->skel->progs.drover_fastpath);

	if (fp->use_tcx) {
		int fd = bpf_link_create(prog_fd, ifindex, BPF_TCX_INGRESS, NULL);
		if (fd >= 0) {
			/* A filter a killed droverd left behind would run first: take it away. */
			fastpath_tc_detach(ifindex);
			*link_fd = fd;
			return 0;
		}
		if (errno != EINVAL && errno != EOPNOTSUPP && errno != FASTPATH_ENOTSUPP)
			return -errno;
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
	ret = bpf_tc_attach(&hook, &opts);
	if (ret < 0)
		return ret;
	*link_fd = -1;
	return 0;
}

static void fastpath_detach_one(struct fastpath_iface *i)
{
	if (i->link_fd >= 0)
		close(i->link_fd);
	else
		fastpath_tc_detach(i->ifindex);
}

unsigned fastpath_attach_all(struct fastpath *fp)
{
	struct if_nameindex *names = if_nameindex();
	unsigned kept = 0;

	if (names == NULL)
		return fp->nifaces;
	/* Interfaces that went away took their filters with them. */
	for (unsigned i = 0; i < fp->nifaces; i++) {
		bool present = false;
		for (struct if_nameindex *n = names; n->if_index != 0 && !present; n++)
			present = (int)n->if_index == fp->ifaces[i].ifindex;
		if (present)
			fp->ifaces[kept++] = fp->ifaces[i];
		else if (fp->ifaces[i].link_fd >= 0)
			close(fp->ifaces[i].link_fd);
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
		fp->ifaces[fp->nifaces++] = (struct fastpath_iface){(int)n->if_index, link_fd};
	}
	if_freenameindex(names);
	fp->attached = true;
	return fp->nifaces;
}

void fastpath_detach_all(struct fastpath *fp)
{
	for (unsigned i = 0; i < fp->nifaces; i++)
		fastpath_detach_one(&fp->ifaces[i]);
	fp->nifaces = 0;
	fp->attached = false;
}

bool fastpath_attached(const struct fastpath *fp)
{
	return fp != NULL && fp->attached;
}

void fastpath_close(struct fastpath *fp)
{
	if (fp == NULL)
		return;
	fastpath_detach_all(fp);
	fastpath_bpf__destroy(fp->skel);
	free(fp);
}

static void fastpath_write_config(struct fastpath *fp)
{
	uint32_t zero = 0;

	fp->config.alive_until_ns = clock_now_ns() + FASTPATH_HEARTBEAT_NS;
	if (bpf_map_update_elem(fp->config_fd, &zero, &fp->config, BPF_ANY) < 0)
		log_warnx("fast path: cannot write its settings: %s", strerror(errno));
}

_Static_assert(FASTPATH_SLOTS == PROXY_SLOTS_MAX, "the kernel has a slot for every proxy slot");
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
	if (fp->scope_set && digest == fp->scope_digest)
		return;
	fp->scope_digest = digest;
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
	fp->config.idle_ns =
	    (uint64_t)__atomic_load_n(&snap->affinity->timeout, __ATOMIC_RELAXED) * CLOCK_NS_PER_S;
	fastpath_scope_update(fp, snap);
	snap->fast_scope = fp->config.scope;
	fastpath_write_config(fp);
}

void fastpath_tick(struct fastpath *fp, struct affinity_table *affinity,
		   const uint8_t key[HASH_KEY_BYTES])
{
	uint64_t now_ns = clock_now_ns();

	fastpath_write_config(fp);
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
			bool current =
			    c->slot < FASTPATH_SLOTS && fp->slots[c->slot].address != 0 &&
			    fp->slots[c->slot].gen == c->gen && c->scope == fp->config.scope;
			if (!current || now_ns - c->seen_ns > fp->config.idle_ns) {
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
	fp->nclients = live;
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

const char *fastpath_attach_kind(const struct fastpath *fp)
{
	return fp->use_tcx ? "tcx link" : "clsact filter";
}
