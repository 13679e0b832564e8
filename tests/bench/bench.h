/*
 * bench.h - what the bench generator writes into each packet and the sink
 * reads back: a marker, the run it belongs to, a sequence number and the
 * send time, right after the TCP or UDP header.
 */
#ifndef DROVER_BENCH_H
#define DROVER_BENCH_H

#include <stdint.h>

#define BENCH_MAGIC 0x64726276U /* "drbv" */

struct bench_stamp {
	uint32_t magic;	  /* BENCH_MAGIC, network byte order */
	uint32_t run;	  /* run id, network byte order */
	uint64_t seq;	  /* host order: the same machine reads it */
	uint64_t sent_ns; /* CLOCK_REALTIME when handed to the kernel, ns */
} __attribute__((packed));

#define BENCH_TCP_HLEN 20
#define BENCH_UDP_HLEN 8

#endif
