/*
 * micro.c - micro-benchmarks of the packet path's pure parts, linked
 * against libdrover.a: Maglev lookup and build, affinity lookup and insert,
 * the keyed client hash, parsing of IPv4 and of IPv6 (plain and through a
 * chain of extension headers), and the whole per-packet decision (parse, hash,
 * affinity, Maglev, outer header) without the kernel's part; and the kernel
 * fast path: its program's time per packet (BPF_PROG_TEST_RUN, in a network
 * namespace of its own), recording a client, and droverd's once-a-second
 * walk over the records (root only; "fastpath_unavailable" otherwise).
 *
 *   drover-bench-micro [--quick]
 *
 * Prints "key value unit" lines; each number is the median of several
 * repetitions (5, or 3 with --quick).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <bpf/bpf.h>
#include <linux/pkt_cls.h>

#include "affinity.h"
#include "encap.h"
#include "fastpath.h"
#include "hash.h"
#include "maglev.h"
#include "packet.h"
#include "packet6.h"
#include "pool.h"

#define MICRO_KEYS    (1U << 16)
#define MICRO_CLIENTS (1U << 20) /* the default affinity_max_clients */

static volatile uint64_t micro_sink;
static unsigned micro_reps = 5;

static uint64_t micro_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: reproducible inputs without libc's rand state. */
static uint64_t micro_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static int micro_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double micro_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), micro_cmp);
	return v[n / 2];
}

static void micro_key(uint8_t key[HASH_KEY_BYTES])
{
	for (unsigned i = 0; i < HASH_KEY_BYTES; i++)
		key[i] = (uint8_t)(i * 37 + 11);
}

static int micro_build(struct maglev_table *t, unsigned nproxies, const uint8_t *key)
{
	struct maglev_backend *b = calloc(nproxies, sizeof(*b));
	int ret;

	if (b == NULL)
		return -1;
	for (unsigned i = 0; i < nproxies; i++) {
		/* 198.18.x.y, as the lab numbers its proxies */
		b[i].identity = htonl(0xC6120000U + 0x100U + i);
		b[i].weight = 100;
		b[i].slot = (uint16_t)(i + 1);
	}
	ret = maglev_build(t, MAGLEV_DEFAULT_SIZE, b, nproxies, key);
	free(b);
	return ret;
}

static void micro_maglev(void)
{
	static const unsigned sizes[] = {10, 100, 1000};
	uint8_t key[HASH_KEY_BYTES];
	uint64_t *hashes = malloc(MICRO_KEYS * sizeof(*hashes)), seed = 42;
	double v[16];

	micro_key(key);
	for (unsigned i = 0; i < MICRO_KEYS; i++)
		hashes[i] = micro_rand(&seed);

	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct maglev_table t;

		for (unsigned r = 0; r < micro_reps; r++) {
			uint64_t t0 = micro_now_ns();
			if (micro_build(&t, sizes[s], key) < 0) {
				fprintf(stderr, "micro: maglev build failed\n");
				exit(1);
			}
			v[r] = (double)(micro_now_ns() - t0) / 1e6;
			maglev_free(&t);
		}
		printf("maglev_build_ms_n%u %.3f ms\n", sizes[s], micro_median(v, micro_reps));

		micro_build(&t, sizes[s], key);
		for (unsigned r = 0; r < micro_reps; r++) {
			uint64_t acc = 0, t0 = micro_now_ns();
			for (unsigned rounds = 0; rounds < 32; rounds++)
				for (unsigned i = 0; i < MICRO_KEYS; i++)
					acc += maglev_lookup(&t, hashes[i]);
			v[r] = (double)(micro_now_ns() - t0) / (32.0 * MICRO_KEYS);
			micro_sink += acc;
		}
		printf("maglev_lookup_ns_n%u %.2f ns\n", sizes[s], micro_median(v, micro_reps));
		maglev_free(&t);
	}
	free(hashes);
}

static void micro_hash(void)
{
	uint8_t key[HASH_KEY_BYTES];
	double v[16];

	micro_key(key);
	for (unsigned r = 0; r < micro_reps; r++) {
		uint64_t acc = 0, t0 = micro_now_ns();
		for (uint32_t i = 0; i < (1U << 21); i++)
			acc += hash_client(key, i);
		v[r] = (double)(micro_now_ns() - t0) / (double)(1U << 21);
		micro_sink += acc;
	}
	printf("hash_client_ns %.2f ns\n", micro_median(v, micro_reps));
}

/* Times parse over n packets: the median ns per packet of micro_reps runs. */
static double micro_parse_ns(bool v6, const uint8_t *pkt, size_t len)
{
	unsigned n = 1U << 21;
	double v[16];

	for (unsigned r = 0; r < micro_reps; r++) {
		uint64_t acc = 0, t0 = micro_now_ns();
		for (unsigned i = 0; i < n; i++) {
			if (v6) {
				struct packet6_info pi;
				acc += (uint64_t)packet6_parse(pkt, len, &pi) + pi.dport;
			} else {
				struct packet_info pi;
				acc += (uint64_t)packet_parse(pkt, len, &pi) + pi.dport;
			}
		}
		v[r] = (double)(micro_now_ns() - t0) / n;
		micro_sink += acc;
	}
	return micro_median(v, micro_reps);
}

/*
 * A client's TCP ACK to port 80 in each family, and the IPv6 one behind
 * hop-by-hop, destination options and a fragment header (atomic): what the
 * extension-header walk costs. Also the hash of an IPv6 client identity.
 */
static void micro_parse(void)
{
	uint8_t v4[40] = {0x45,	      0, 0,   40, [8] = 64, [9] = 6, [12] = 198,    18,	 32, 1,
			  [16] = 203, 0, 113, 80, [22] = 0, 80,	     [32] = 5 << 4, 0x10};
	uint8_t v6[60] = {0x60, 0,    0,    0,		 0,	   20,	     6,
			  64,	0x20, 0x01, 0x0d,	 0xb8,	   [23] = 1, 0x20,
			  0x01, 0x0d, 0xb8, [39] = 0x80, [42] = 0, 80,	     [52] = 5 << 4,
			  0x10};
	uint8_t chain[92];
	uint8_t key[HASH_KEY_BYTES];
	struct client_id id = client_from_ipv6(v6 + 8);
	double v[16];

	/* the same ACK behind hop-by-hop (8), destination options (16), fragment (8) */
	memcpy(chain, v6, 40);
	memset(chain + 40, 0, 32);
	chain[4] = 0;
	chain[5] = 52;
	chain[6] = IPPROTO_HOPOPTS;
	chain[40] = IPPROTO_DSTOPTS;
	chain[48] = IPPROTO_FRAGMENT;
	chain[49] = 1;
	chain[64] = IPPROTO_TCP;
	memcpy(chain + 72, v6 + 40, 20);
	{
		struct packet_info pi4;
		struct packet6_info pi6, pic;

		/* time the packets a client sends, not the refusals */
		if (packet_parse(v4, sizeof(v4), &pi4) != PACKET_OK ||
		    packet6_parse(v6, sizeof(v6), &pi6) != PACKET6_OK ||
		    packet6_parse(chain, sizeof(chain), &pic) != PACKET6_OK || pic.ext_count != 3 ||
		    pic.dport != 80) {
			fprintf(stderr, "micro: a parse benchmark packet does not parse\n");
			return;
		}
	}
	printf("packet_parse_ns %.2f ns\n", micro_parse_ns(false, v4, sizeof(v4)));
	printf("packet6_parse_ns %.2f ns\n", micro_parse_ns(true, v6, sizeof(v6)));
	printf("packet6_parse_3ext_ns %.2f ns\n", micro_parse_ns(true, chain, sizeof(chain)));

	micro_key(key);
	for (unsigned r = 0; r < micro_reps; r++) {
		uint64_t acc = 0, t0 = micro_now_ns();
		for (uint32_t i = 0; i < (1U << 21); i++) {
			memcpy(id.addr + 12, &i, sizeof(i));
			acc += hash_client_id(key, &id);
		}
		v[r] = (double)(micro_now_ns() - t0) / (double)(1U << 21);
		micro_sink += acc;
	}
	printf("hash_client_id_v6_ns %.2f ns\n", micro_median(v, micro_reps));
}

static void micro_affinity(void)
{
	uint8_t key[HASH_KEY_BYTES];
	struct affinity_table t;
	unsigned n = MICRO_CLIENTS / 2; /* half full: the realistic working point */
	uint32_t *clients = malloc(n * sizeof(*clients));
	uint64_t *hashes = malloc(n * sizeof(*hashes)), seed = 7;
	double vi[16], vh[16], vm[16];

	micro_key(key);
	for (unsigned i = 0; i < n; i++) {
		clients[i] = (uint32_t)micro_rand(&seed) | 1;
		hashes[i] = hash_client(key, clients[i]);
	}
	for (unsigned r = 0; r < micro_reps; r++) {
		struct affinity_stats st = {0};
		uint16_t slot;
		uint64_t acc = 0, t0;

		if (affinity_init(&t, MICRO_CLIENTS, 300) < 0) {
			fprintf(stderr, "micro: affinity_init failed\n");
			exit(1);
		}
		t0 = micro_now_ns();
		for (unsigned i = 0; i < n; i++)
			affinity_insert(&t, clients[i], hashes[i], (uint16_t)(1 + i % 100), 1000,
					&st);
		vi[r] = (double)(micro_now_ns() - t0) / n;

		t0 = micro_now_ns();
		for (unsigned i = 0; i < n; i++)
			acc += affinity_lookup(&t, clients[i], hashes[i], 1000, &slot) ? slot : 0;
		vh[r] = (double)(micro_now_ns() - t0) / n;

		/* Misses: addresses never inserted (even, the inserted ones are odd). */
		t0 = micro_now_ns();
		for (unsigned i = 0; i < n; i++)
			acc +=
			    affinity_lookup(&t, clients[i] & ~1U, hashes[n - 1 - i], 1000, &slot);
		vm[r] = (double)(micro_now_ns() - t0) / n;
		micro_sink += acc + st.inserts;
		if (r + 1 == micro_reps)
			printf("affinity_bytes_per_entry %.1f bytes\n",
			       (double)t.nbuckets * AFFINITY_WAYS * sizeof(*t.entries) /
				   ((double)t.nbuckets * AFFINITY_WAYS));
		affinity_free(&t);
	}
	printf("affinity_insert_ns %.2f ns\n", micro_median(vi, micro_reps));
	printf("affinity_lookup_hit_ns %.2f ns\n", micro_median(vh, micro_reps));
	printf("affinity_lookup_miss_ns %.2f ns\n", micro_median(vm, micro_reps));
	printf("affinity_table_mib_default %.1f MiB\n",
	       (double)MICRO_CLIENTS * sizeof(uint64_t) / (1 << 20));
	free(clients);
	free(hashes);
}

/*
 * The user-space work droverd does per packet, less the system calls and
 * netlink parsing: parse, hash, affinity hit, Maglev fallback, outer header.
 */
static void micro_decision(void)
{
	uint8_t key[HASH_KEY_BYTES], pkt[64] = {0}, hdr[ENCAP_OUTER_LEN];
	struct maglev_table mt;
	struct affinity_table at;
	struct packet_info pi;
	double v[16];
	unsigned n = 1U << 20;

	micro_key(key);
	micro_build(&mt, 10, key);
	affinity_init(&at, MICRO_CLIENTS, 300);
	pkt[0] = 0x45;
	pkt[2] = 0;
	pkt[3] = sizeof(pkt);
	pkt[8] = 64;
	pkt[9] = 6;
	pkt[23] = 80;	  /* dport */
	pkt[32] = 5 << 4; /* data offset */
	pkt[33] = 0x10;	  /* ACK */
	for (unsigned r = 0; r < micro_reps; r++) {
		uint64_t acc = 0, t0 = micro_now_ns();
		for (unsigned i = 0; i < n; i++) {
			uint32_t src = htonl(0xC6122000U + (i & 4095));
			uint16_t slot;
			memcpy(pkt + 12, &src, 4);
			if (packet_parse(pkt, sizeof(pkt), &pi) != PACKET_OK)
				continue;
			uint64_t h = hash_client(key, pi.src);
			if (!affinity_lookup(&at, pi.src, h, 1000, &slot)) {
				slot = maglev_lookup(&mt, h);
				affinity_insert(&at, pi.src, h, slot, 1000, NULL);
			}
			encap_ipip_header(hdr, 0x01020304, 0x05060708 + slot, pkt, sizeof(pkt),
					  (uint16_t)i);
			acc += hdr[10];
		}
		v[r] = (double)(micro_now_ns() - t0) / n;
		micro_sink += acc;
	}
	printf("decision_ns %.2f ns\n", micro_median(v, micro_reps));
	maglev_free(&mt);
	affinity_free(&at);
}

/* A 64-byte TCP ACK from client to 203.0.113.80:80, in an Ethernet frame to d0. */
static void micro_frame(uint8_t *f, uint32_t client)
{
	uint32_t dst = htonl(0xCB007150U);

	memset(f, 0, 78);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x09\x08\x00", 14);
	f[14] = 0x45;
	f[17] = 64;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, &client, 4);
	memcpy(f + 30, &dst, 4);
	f[37] = 80;
	f[46] = 5 << 4;
	f[47] = 0x10;
}

static void micro_fastpath(void)
{
	const unsigned nclients = 100000;
	struct fastpath *fp;
	struct affinity_table at;
	struct pool_target targets[2] = {0};
	struct pool_snapshot snap = {.nslots = 2, .targets = targets};
	uint8_t key[HASH_KEY_BYTES], frame[78], out[128];
	double vl[16], vt[16], vp[16];
	char err[256];

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0 ||
	    system("ip link set lo up && ip link add d0 address 02:00:00:00:00:01 type veth peer "
		   "name d1 && ip addr add 10.9.0.1/24 dev d0 && ip link set d1 up && "
		   "ip link set d0 up && ip neigh add 10.9.0.2 lladdr 02:00:00:00:00:02 dev d0 "
		   "nud permanent && ip neigh add 10.9.0.254 lladdr 02:00:00:00:00:fe dev d0 "
		   "nud permanent && ip route add default via 10.9.0.254 && "
		   "sysctl -qw net.ipv4.ip_forward=1") != 0 ||
	    (fp = fastpath_open(MICRO_CLIENTS, err, sizeof(err))) == NULL) {
		printf("fastpath_unavailable 1 (needs root and BPF)\n");
		return;
	}
	micro_key(key);
	affinity_init(&at, MICRO_CLIENTS, 300);
	inet_pton(AF_INET, "10.9.0.2", &targets[1].address);
	inet_pton(AF_INET, "10.9.0.1", &targets[1].source);
	targets[1].tunnel_mtu = 1480;
	targets[1].flags = POOL_TARGET_KEEPS | POOL_TARGET_TAKES;
	snap.affinity = &at;
	snap.port_map[80 >> 3] |= 1U << (80 & 7);
	fastpath_publish(fp, &snap);
	for (unsigned r = 0; r < micro_reps; r++) {
		uint64_t t0 = micro_now_ns();
		const struct fastpath_client placed = {.slot = 1,
						       .gen = targets[1].fast_gen,
						       .ifindex = if_nametoindex("d0"),
						       .scope = snap.fast_scope};
		for (unsigned i = 0; i < nclients; i++)
			fastpath_learn(fp, htonl(0x0A400000U + i), &placed);
		vl[r] = (double)(micro_now_ns() - t0) / nclients;
		t0 = micro_now_ns();
		fastpath_walk(fp, &at, key);
		vt[r] = (double)(micro_now_ns() - t0) / 1e6;

		/*
		 * One run per call: repeated runs would reuse the skb the first run
		 * already wrapped. duration is the kernel's own timing of the run.
		 */
		const unsigned runs = 20000;
		uint64_t total = 0;
		for (unsigned i = 0; i < runs; i++) {
			micro_frame(frame, htonl(0x0A400000U + i % nclients));
			struct __sk_buff ctx = {.ifindex = if_nametoindex("d0")};
			DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
					    .data_size_in = sizeof(frame), .data_out = out,
					    .data_size_out = sizeof(out), .ctx_in = &ctx,
					    .ctx_size_in = sizeof(ctx), .repeat = 1);
			if (bpf_prog_test_run_opts(fastpath_program_fd(fp), &opts) < 0 ||
			    opts.retval != TC_ACT_REDIRECT) {
				printf("fastpath_unavailable 1 (the program did not take the "
				       "packet)\n");
				goto out;
			}
			total += opts.duration;
		}
		vp[r] = (double)total / runs;
	}
	printf("fastpath_program_single_run_ns %.1f ns\n", micro_median(vp, micro_reps));
	printf("fastpath_learn_ns %.0f ns\n", micro_median(vl, micro_reps));
	printf("fastpath_walk_ms_100k_clients %.1f ms\n", micro_median(vt, micro_reps));
out:
	fastpath_close(fp);
	affinity_free(&at);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--quick") == 0)
		micro_reps = 3;
	else if (argc > 1) {
		fprintf(stderr, "usage: drover-bench-micro [--quick]\n");
		return 2;
	}
	micro_maglev();
	micro_hash();
	micro_parse();
	micro_affinity();
	micro_decision();
	micro_fastpath(); /* last: it moves the process into a network namespace of its own */
	return 0;
}
