/* queue.c - NFQUEUE netlink sockets through libmnl and the nfq_nlmsg helpers. */
#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

/* Sends one config message and waits for the kernel's acknowledgement. */
static int queue_request(struct queue_socket *q, struct nlmsghdr *nlh)
{
	char ack[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;

	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(q->nl, ack, sizeof(ack));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* mnl_cb_run turns an NLMSG_ERROR into -1 with errno set. */
		int ret = mnl_cb_run(ack, (size_t)n, seq, q->portid, NULL, NULL);
		if (ret == MNL_CB_ERROR)
			return errno == 0 ? -EPROTO : -errno;
		if (ret == MNL_CB_STOP)
			return 0;
		/* A queued packet can arrive before the ack only once bound; config runs before
		 * that. */
	}
}

static int queue_flags(struct queue_socket *q, const struct queue_options *opt)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	uint32_t flags = opt->fail_open ? NFQA_CFG_F_FAIL_OPEN : 0;
	/* Only the flags named in the mask change: GSO stays off. */
	uint32_t mask = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);
	nlh->nlmsg_seq = 2;
	nfq_nlmsg_cfg_put_qmaxlen(nlh, opt->maxlen);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
	return queue_request(q, nlh);
}

int queue_open(struct queue_socket *q, uint16_t num, const struct queue_options *opt)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int one = 1, size = (int)QUEUE_RCVBUF_BYTES, err;
	struct timeval tv;

	memset(q, 0, sizeof(*q));
	/* nfq_nlmsg_cfg_put_cmd leaves the command's padding byte as it finds it. */
	memset(buf, 0, sizeof(buf));
	q->num = num;
	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (q->nl == NULL)
		return -errno;
	q->fd = mnl_socket_get_fd(q->nl);
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto fail;
	}
	q->portid = mnl_socket_get_portid(q->nl);

	/* A full socket buffer must cost packets (counted by the kernel), never our loop. */
	mnl_socket_setsockopt(q->nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	if (setsockopt(q->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	tv.tv_sec = opt->recv_timeout_ms / 1000;
	tv.tv_usec = (opt->recv_timeout_ms % 1000) * 1000;
	setsockopt(q->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num);
	nlh->nlmsg_seq = 1;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	err = queue_request(q, nlh);
	if (err < 0)
		goto fail;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num);
	nlh->nlmsg_seq = 3;
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	err = queue_request(q, nlh);
	if (err < 0)
		goto fail;

	err = queue_flags(q, opt);
	if (err < 0)
		goto fail;
	return 0;
fail:
	mnl_socket_close(q->nl);
	q->nl = NULL;
	return err;
}

int queue_configure(struct queue_socket *q, const struct queue_options *opt)
{
	/* Queued packets may now arrive on this socket: send without waiting for the ack. */
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	uint32_t flags = opt->fail_open ? NFQA_CFG_F_FAIL_OPEN : 0;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, opt->maxlen);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return 0;
}

void queue_close(struct queue_socket *q)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	if (q->nl == NULL)
		return;
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
	mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len);
	mnl_socket_close(q->nl);
	q->nl = NULL;
	q->fd = -1;
}

void queue_verdict_init(struct queue_verdicts *v)
{
	v->len = 0;
	v->have_drop = false;
	v->drop_max_id = 0;
	v->singles = 0;
}

int queue_verdict_add(struct queue_verdicts *v, uint16_t queue_num, uint32_t id, int verdict)
{
	struct nlmsghdr *nlh;

	if (verdict == NF_DROP) {
		if (!v->have_drop || id > v->drop_max_id)
			v->drop_max_id = id;
		v->have_drop = true;
		return 0;
	}
	/* A single verdict plus room for the closing batch message. */
	if (v->len + 2 * MNL_ALIGN(sizeof(struct nlmsghdr) + sizeof(struct nfgenmsg) + 64) >
	    sizeof(v->buf))
		return -ENOSPC;
	nlh = nfq_nlmsg_put(v->buf + v->len, NFQNL_MSG_VERDICT, queue_num);
	nfq_nlmsg_verdict_put(nlh, (int)id, verdict);
	v->len += nlh->nlmsg_len;
	v->singles++;
	return 0;
}

int queue_verdict_flush(struct queue_socket *q, struct queue_verdicts *v)
{
	struct nlmsghdr *nlh;
	int batches = 0;

	/*
	 * The batch drops every queued packet with an id up to drop_max_id, so it
	 * goes last: the single verdicts before it have already taken their
	 * packets out of the queue.
	 */
	if (v->have_drop) {
		nlh = nfq_nlmsg_put(v->buf + v->len, NFQNL_MSG_VERDICT_BATCH, q->num);
		nfq_nlmsg_verdict_put(nlh, (int)v->drop_max_id, NF_DROP);
		v->len += nlh->nlmsg_len;
		batches = 1;
	}
	if (v->len == 0)
		return 0;
	ssize_t n = mnl_socket_sendto(q->nl, v->buf, v->len);
	queue_verdict_init(v);
	if (n < 0)
		return -errno;
	return batches;
}

int queue_kernel_drops(uint16_t num, uint64_t *queue_dropped, uint64_t *user_dropped)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "re");
	unsigned qnum, portid, total, mode, range;
	unsigned long long qd, ud;
	char line[256];
	int ret = -ENOENT;

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%u %u %u %u %u %llu %llu", &qnum, &portid, &total, &mode, &range,
			   &qd, &ud) != 7)
			continue;
		if (qnum == num) {
			*queue_dropped = qd;
			*user_dropped = ud;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

uint32_t queue_packet_indev(struct nlattr *const attr[])
{
	if (attr[NFQA_IFINDEX_INDEV] == NULL)
		return 0;
	return ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
}
