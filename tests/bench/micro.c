/*
 * micro.c - micro-benchmarks of the packet path's pure parts, linked
 * against libdrover.a: Maglev lookup and build, affinity lookup and insert,
 * the keyed client hash, and the whole per-packet decision (parse, hash,
 * affinity, Maglev, outer header) without the kernel's part.
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
#include <arpa/inet.h>

#include "affinity.h"
#include "encap.h"
#include "hash.h"
#include "maglev.h"
#include "packet.h"

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
	micro_affinity();
	micro_decision();
	return 0;
}
