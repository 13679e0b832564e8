/*
 * fuzz_packet.c - the packet path without sockets: parse, choose a proxy from
 * a fixed pool snapshot, encapsulate or fragment, build the replies; and the
 * fragment and reply builders on their own.
 *
 * dp_handle is static, so the datapath is included whole; no queue is bound
 * and the send descriptors are -1 (a reply "sent" fails and is counted).
 * Every outer packet queued is checked: a valid header checksum, protocol 4,
 * lengths that add up, fragments that tile the inner packet exactly.
 *
 * Input: 4 knob bytes, then the IPv4 packet.
 *   knob[0]  bits 0-1 no-proxy policy, bit 2 drop malformed, bit 3 empty pool,
 *            bits 4-6 slot of an affinity entry planted for the client first
 *   knob[1..2] tunnel MTU of the proxies (big-endian, mapped into 48..65515)
 *   knob[3]  bits 0-3 age of the planted entry (x 40 s), bits 4-7 the budgets of
 *            frag-needed and reject replies
 * Every source is a client (client_subnets 0.0.0.0/0): the packet chooses.
 */
#include "../../appliance/datapath.c"

#undef NDEBUG
#include <assert.h>

#define FUZZ_KNOBS	   4
#define FUZZ_TABLE_SIZE	   251
#define FUZZ_NSLOTS	   5
#define FUZZ_NOW	   100000
#define FUZZ_AFFINITY_IDLE 300
#define FUZZ_MTU_MIN	   48	 /* path MTU 68 minus the outer header */
#define FUZZ_MTU_MAX	   65515 /* path MTU 65535 minus the outer header */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_world {
	struct datapath_thread *thread;
	struct affinity_table affinity;
	struct pool_target targets[FUZZ_NSLOTS];
	struct pool_snapshot full;  /* slots 1, 2 take clients, 3 drains, 4 is down */
	struct pool_snapshot empty; /* no proxy takes anyone */
};

static struct fuzz_world *fuzz_world;

static void fuzz_snapshot_init(struct pool_snapshot *s, struct fuzz_world *w,
			       const struct maglev_backend *backends, size_t n)
{
	static const uint8_t key[HASH_KEY_BYTES] = "drover-fuzz-key";

	memset(s, 0, sizeof(*s));
	if (maglev_build(&s->table, FUZZ_TABLE_SIZE, backends, n, key) < 0)
		abort();
	memcpy(s->hash_key, key, sizeof(s->hash_key));
	s->affinity = &w->affinity;
	s->nslots = FUZZ_NSLOTS;
	s->targets = w->targets;
	s->port_map[80 >> 3] |= 1U << (80 & 7);
	s->port_map[443 >> 3] |= 1U << (443 & 7);
	/* Every source is a client: the packet, not the rules, is what is fuzzed here. */
	s->nsubnets = 1;
	s->client_subnets[0] = (struct cidr){.addr = 0, .len = 0};
}

static struct fuzz_world *fuzz_world_new(void)
{
	static const struct maglev_backend backends[] = {
	    {.identity = 0xc6130001U, .weight = 100, .slot = 1},
	    {.identity = 0xc6130002U, .weight = 200, .slot = 2},
	};
	struct fuzz_world *w = calloc(1, sizeof(*w));

	if (w == NULL || (w->thread = calloc(1, sizeof(*w->thread))) == NULL)
		abort();
	w->thread->raw_fd = w->thread->icmp_fd = -1;
	w->thread->raw6_fd = w->thread->icmp6_fd = -1;
	if (affinity_init(&w->affinity, AFFINITY_MIN_CLIENTS, FUZZ_AFFINITY_IDLE) < 0)
		abort();
	for (uint16_t slot = 1; slot < FUZZ_NSLOTS; slot++) {
		w->targets[slot] = (struct pool_target){
		    .address = htonl(0xc6130000U + slot),
		    .source = htonl(0xc6120001U),
		    .id = slot,
		};
	}
	w->targets[1].flags = w->targets[2].flags = POOL_TARGET_KEEPS | POOL_TARGET_TAKES;
	w->targets[3].flags = POOL_TARGET_KEEPS;
	fuzz_snapshot_init(&w->full, w, backends, 2);
	fuzz_snapshot_init(&w->empty, w, NULL, 0);
	return w;
}

/* One queued outer packet must be a well-formed IPIP header over inner[offset, offset+len). */
static void fuzz_check_outer(const struct datapath_thread *t, unsigned i, const uint8_t *pkt,
			     size_t len, const struct pool_target *target)
{
	const uint8_t *hdr = t->tx_hdr[i];
	const uint8_t *payload = t->tx_iov[i][1].iov_base;
	size_t plen = t->tx_iov[i][1].iov_len;
	uint16_t total = wire_get16(hdr + 2);

	assert(wire_checksum(hdr, ENCAP_OUTER_LEN) == 0);
	assert(hdr[0] == WIRE_IPV4_VERS_IHL && hdr[9] == IPPROTO_IPIP);
	assert(total == ENCAP_OUTER_LEN + plen);
	assert(payload >= pkt && payload + plen <= pkt + len);
	assert(total <= target->tunnel_mtu + ENCAP_OUTER_LEN);
	assert(t->tx_addr[i].sin_addr.s_addr == target->address);
}

/* Fragments tile the inner packet in order; only the last has MF clear. */
static void fuzz_check_tiling(const struct datapath_thread *t, const uint8_t *pkt, size_t len)
{
	size_t next = 0;

	for (unsigned i = 0; i < t->ntx; i++) {
		const uint8_t *hdr = t->tx_hdr[i];
		uint16_t frag = wire_get16(hdr + 6);
		size_t offset = (size_t)(frag & WIRE_IP_OFFSET_MASK) * WIRE_IPV4_FRAG_UNIT;
		bool mf = (frag & WIRE_IP_MF) != 0;

		assert((const uint8_t *)t->tx_iov[i][1].iov_base == pkt + next);
		assert(offset == next);
		next += t->tx_iov[i][1].iov_len;
		assert(mf == (i + 1 < t->ntx));
	}
	assert(next == len);
}

/* An ICMP message built for a client: its checksum verifies, its quote is the packet's start. */
static void fuzz_check_icmp(const uint8_t *out, size_t n, const uint8_t *pkt, size_t len)
{
	if (n == 0)
		return;
	assert(n >= 8 && n <= REPLY_MAX_LEN);
	assert(wire_checksum(out, n) == 0);
	assert(out[0] == WIRE_ICMP_UNREACHABLE);
	assert(memcmp(out + 8, pkt, n - 8 < len ? n - 8 : len) == 0);
}

/*
 * Outer fragmentation on its own, DF or not, with room for every fragment
 * and for only a few: either nothing, or headers that tile the inner packet.
 */
static void fuzz_fragments(struct fuzz_world *w, const uint8_t *pkt, size_t len, uint16_t mtu,
			   size_t max)
{
	struct encap_frag *frags = w->thread->frags;
	size_t n = encap_ipip_fragments(frags, max, 1, 2, pkt, (uint16_t)len, 7, mtu);
	size_t next = 0;

	assert(n <= max);
	for (size_t i = 0; i < n; i++) {
		uint16_t total = wire_get16(frags[i].hdr + 2);
		uint16_t frag = wire_get16(frags[i].hdr + 6);

		assert(wire_checksum(frags[i].hdr, ENCAP_OUTER_LEN) == 0);
		assert(frags[i].offset == next &&
		       (size_t)(frag & WIRE_IP_OFFSET_MASK) * WIRE_IPV4_FRAG_UNIT == next);
		assert(total == frags[i].len + ENCAP_OUTER_LEN && total <= mtu);
		assert(((frag & WIRE_IP_MF) != 0) == (i + 1 < n));
		next += frags[i].len;
	}
	assert(n == 0 || next == len);
}

/* The builders on their own, for every packet that parses. */
static void fuzz_builders(struct fuzz_world *w, const uint8_t *pkt, size_t len, uint16_t mtu)
{
	uint8_t out[REPLY_MAX_LEN];
	struct packet_info pi;
	enum packet_error err = packet_parse(pkt, len, &pi);
	size_t n;

	assert(packet_error_name(err) != NULL);
	if (err != PACKET_OK)
		return;
	fuzz_fragments(w, pkt, len, (uint16_t)(mtu + ENCAP_OUTER_LEN), ENCAP_MAX_FRAGS);
	fuzz_fragments(w, pkt, len, (uint16_t)(mtu + ENCAP_OUTER_LEN), 2);
	assert(pi.total_len == len && pi.ihl >= 20 && pi.ihl <= len);
	n = reply_frag_needed(out, sizeof(out), pkt, len, mtu);
	fuzz_check_icmp(out, n, pkt, len);
	n = reply_icmp_unreachable(out, sizeof(out), pkt, len, WIRE_ICMP_ADMIN_PROHIBITED);
	fuzz_check_icmp(out, n, pkt, len);
	n = reply_port_unreachable(out, sizeof(out), pkt, len);
	fuzz_check_icmp(out, n, pkt, len);
	/* Too small a buffer is refused, never overrun. */
	assert(reply_frag_needed(out, 8, pkt, len, mtu) == 0);
	n = reply_tcp_reset(out, sizeof(out), &pi);
	if (n > 0) {
		assert(n == 40);
		assert(wire_checksum(out, 20) == 0);
		assert(memcmp(out + 12, &pi.dst, 4) == 0 && memcmp(out + 16, &pi.src, 4) == 0);
		assert(out[33] & WIRE_TCP_RST);
	}
	assert(reply_tcp_reset(out, 39, &pi) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_world *w;
	struct datapath_thread *t;
	const struct pool_snapshot *snap;
	struct pool_snapshot *s;
	uint64_t before[DP_COUNTER_COUNT];
	const uint8_t *pkt;
	size_t len;
	int verdict;

	if (size < FUZZ_KNOBS)
		return 0;
	if (fuzz_world == NULL)
		fuzz_world = fuzz_world_new();
	w = fuzz_world;
	t = w->thread;
	pkt = data + FUZZ_KNOBS;
	len = size - FUZZ_KNOBS;

	/* The knobs: policies, MTU, the client's history. */
	s = (data[0] & 0x08) ? &w->empty : &w->full;
	s->no_proxy = (enum no_proxy_policy)(data[0] & 0x03);
	s->malformed = (data[0] & 0x04) ? MALFORMED_DROP : MALFORMED_ACCEPT;
	s->frag_needed_rate = s->reject_rate = data[3] >> 4;
	/* QUIC: reject, drop or pass (bit 7 and the low bit of the rates' byte), its bucket. */
	s->quic = (enum quic_policy)((data[0] >> 7) + (data[3] & 0x01));
	s->quic_reject_rate = data[3] >> 4;
	uint16_t mtu =
	    (uint16_t)(FUZZ_MTU_MIN + wire_get16(data + 1) % (FUZZ_MTU_MAX - FUZZ_MTU_MIN + 1));
	for (uint16_t slot = 1; slot < FUZZ_NSLOTS; slot++)
		w->targets[slot].tunnel_mtu = mtu;
	snap = s;

	affinity_clear(&w->affinity);
	t->now = FUZZ_NOW;
	memset(t->replies, 0, sizeof(t->replies));
	memset(&t->quic_replies, 0, sizeof(t->quic_replies));
	t->now_ms = (uint64_t)FUZZ_NOW * 1000U;
	t->ntx = 0;
	uint16_t planted = (data[0] >> 4) & 0x07;
	if (planted != 0) {
		struct packet_info pi;
		if (packet_parse(pkt, len, &pi) == PACKET_OK) {
			uint32_t client = packet_client(&pi);
			affinity_insert(&w->affinity, client, hash_client(snap->hash_key, client),
					planted, FUZZ_NOW - (uint32_t)(data[3] & 0x0f) * 40, NULL);
		}
	}

	/* Twice: the second time the client is known (affinity hit, or a repeated choice). */
	for (int round = 0; round < 2; round++) {
		memcpy(before, t->counters, sizeof(before));
		verdict = dp_handle(t, snap, pkt, len);
		assert(verdict == NF_ACCEPT || verdict == NF_DROP);
		assert(t->counters[DP_PACKETS] == before[DP_PACKETS] + 1);
		/* A QUIC datagram is counted once, by its policy, and passes only under pass. */
		uint64_t quic = t->counters[DP_QUIC_REJECTED] + t->counters[DP_QUIC_DROPPED] +
				t->counters[DP_QUIC_PASSED] - before[DP_QUIC_REJECTED] -
				before[DP_QUIC_DROPPED] - before[DP_QUIC_PASSED];
		assert(quic <= 1);
		if (quic == 1)
			assert((verdict == NF_ACCEPT) ==
			       (t->counters[DP_QUIC_PASSED] != before[DP_QUIC_PASSED]));
		if (t->counters[DP_ENCAPSULATED] != before[DP_ENCAPSULATED]) {
			struct packet_info pi;
			uint16_t slot = 0;

			assert(verdict == NF_DROP && t->ntx > 0);
			assert(packet_parse(pkt, len, &pi) == PACKET_OK);
			for (uint16_t i = 1; i < FUZZ_NSLOTS; i++) {
				if (t->tx_addr[0].sin_addr.s_addr == w->targets[i].address)
					slot = i;
			}
			assert(slot != 0 && (w->targets[slot].flags & POOL_TARGET_KEEPS));
			for (unsigned i = 0; i < t->ntx; i++)
				fuzz_check_outer(t, i, pkt, len, &w->targets[slot]);
			fuzz_check_tiling(t, pkt, len);
		} else {
			assert(t->ntx == 0);
		}
		t->ntx = 0;
	}
	fuzz_builders(w, pkt, len, mtu);
	return 0;
}
