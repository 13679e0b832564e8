/*
 * queue.h - one NFQUEUE netlink socket: bind, configure, verdicts.
 *
 * Built on libmnl and libnetfilter_queue's nfq_nlmsg_* helpers. Error
 * contract: int functions return 0 or -errno and log nothing; the caller
 * decides what a failure means.
 */
#ifndef DROVER_QUEUE_H
#define DROVER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mnl_socket;
struct nlattr;

/* Kernel socket buffer for queued packets: bursts must fit while a thread is busy. */
#define QUEUE_RCVBUF_BYTES (32U << 20)

struct queue_socket {
	struct mnl_socket *nl;
	int fd;
	uint32_t portid;
	uint16_t num;
};

struct queue_options {
	uint32_t maxlen;     /* packets the kernel holds before dropping (or accepting) */
	bool fail_open;	     /* NFQA_CFG_F_FAIL_OPEN: accept when the queue is full */
	int recv_timeout_ms; /* SO_RCVTIMEO, so a blocked thread notices it must stop */
};

/*
 * Opens a netlink socket and binds it to queue num with full-packet copies
 * (no GSO flag: the kernel segments and completes checksums before queueing,
 * which is what re-sending a copy needs). Returns 0 or -errno; -EBUSY when
 * another process holds the queue.
 */
int queue_open(struct queue_socket *q, uint16_t num, const struct queue_options *opt);

/* Changes maxlen and fail-open on a bound queue. */
int queue_configure(struct queue_socket *q, const struct queue_options *opt);

/* Unbinds and closes. Packets still queued are dropped by the kernel. */
void queue_close(struct queue_socket *q);

/*
 * Verdict buffer: single verdicts for packets that are not dropped, then one
 * NFQNL_MSG_VERDICT_BATCH dropping every other packet up to the highest id,
 * all sent in one datagram by queue_verdict_flush.
 */
#define QUEUE_VERDICT_BUF 16384

struct queue_verdicts {
	char buf[QUEUE_VERDICT_BUF];
	size_t len;
	uint32_t drop_max_id;
	bool have_drop;
	uint32_t singles;
};

void queue_verdict_init(struct queue_verdicts *v);
/* Records a verdict; NF_DROP joins the batch. Returns -ENOSPC when the buffer must be flushed
 * first. */
int queue_verdict_add(struct queue_verdicts *v, uint16_t queue_num, uint32_t id, int verdict);
/* Sends what was recorded. Returns the number of batch verdicts sent (0/1), or -errno. */
int queue_verdict_flush(struct queue_socket *q, struct queue_verdicts *v);

/*
 * Packet threads: the interface a queued packet came in on
 * (NFQA_IFINDEX_INDEV), from a packet message's attributes as
 * nfq_nlmsg_parse fills them (it validates their types); 0 when the message
 * names none.
 */
uint32_t queue_packet_indev(struct nlattr *const attr[]);

/*
 * Reads the kernel's per-queue drop counters from /proc/net/netfilter/nfnetlink_queue:
 * queue_dropped (queue full) and user_dropped (netlink socket full). -ENOENT if not bound.
 */
int queue_kernel_drops(uint16_t num, uint64_t *queue_dropped, uint64_t *user_dropped);

#endif
