/*
 * test_datapath.c - the packet threads' decisions and bookkeeping without
 * NFQUEUE: dp_handle (static, so the datapath is included whole) on a
 * thread that has no queue and whose send descriptors are -1 (a reply
 * "sent" fails and is counted as a transmit error); outer packets are
 * checked where they wait to be sent. Then the counters summed over
 * threads, kept when threads go, and snapshots freed only once no thread
 * can see them. Time is the thread's own clock, set by the test.
 */
#include "../../appliance/datapath.c"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>

#define TEST_TABLE_SIZE 251
#define TEST_NSLOTS	5
#define TEST_NOW	100000
#define TEST_IDLE	300
#define TEST_MTU	1000 /* tunnel MTU of every proxy: inner packets up to this size */
#define TEST_SPORT	40000

/*
 * Slots 1 and 2 take clients, 3 drains (keeps its own), 4 is down. Clients
 * are 198.18.0.0/15 and 198.51.100.0/24, where the proxies are too.
 */
struct world {
	struct datapath_thread *t;
	struct affinity_table affinity;
	struct pool_target targets[TEST_NSLOTS];
	uint32_t proxies[TEST_NSLOTS - 1]; /* ascending, as pool_snapshot_build leaves them */
	struct pool_snapshot snap;
	struct pool_snapshot empty; /* no proxy takes anyone */
	uint8_t pkt[2048];
};

static const uint8_t test_key[HASH_KEY_BYTES] = "drover-dp-test";

static uint32_t addr(const char *text)
{
	uint32_t a;

	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	return a;
}

static int address_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void snapshot_init(struct world *w, struct pool_snapshot *s,
			  const struct maglev_backend *backends, size_t n)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(maglev_build(&s->table, TEST_TABLE_SIZE, backends, n, test_key), 0);
	memcpy(s->hash_key, test_key, sizeof(s->hash_key));
	s->affinity = &w->affinity;
	s->nslots = TEST_NSLOTS;
	s->targets = w->targets;
	s->port_map[80 >> 3] |= 1U << (80 & 7);
	s->port_map[443 >> 3] |= 1U << (443 & 7);
	s->frag_needed_rate = 1;
	s->reject_rate = 1;
	s->client_subnets[0] = (struct cidr){.addr = addr("198.18.0.0"), .len = 15};
	s->client_subnets[1] = (struct cidr){.addr = addr("198.51.100.0"), .len = 24};
	s->nsubnets = 2;
	inet_pton(AF_INET6, "2001:db8::", s->client_subnets6[0].addr);
	s->client_subnets6[0].len = 32;
	s->nsubnets6 = 1;
	s->ipv6_prefix = CLIENT_PREFIX_MAX;
	s->proxies = w->proxies;
	s->nproxies = TEST_NSLOTS - 1;
}

static int world_setup(void **state)
{
	static const struct maglev_backend backends[] = {
	    {.identity = 0xc6336401U, .weight = 100, .slot = 1},
	    {.identity = 0xc6336402U, .weight = 100, .slot = 2},
	};
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->t = calloc(1, sizeof(*w->t));
	assert_non_null(w->t);
	w->t->raw_fd = w->t->raw6_fd = w->t->icmp_fd = w->t->icmp6_fd = -1;
	w->t->now = TEST_NOW;
	assert_int_equal(affinity_init(&w->affinity, AFFINITY_MIN_CLIENTS, TEST_IDLE), 0);
	for (uint16_t slot = 1; slot < TEST_NSLOTS; slot++) {
		char proxy[INET_ADDRSTRLEN];

		snprintf(proxy, sizeof(proxy), "198.51.100.%u", slot);
		w->targets[slot] = (struct pool_target){
		    .address = addr(proxy),
		    .source = addr("192.0.2.2"),
		    .tunnel_mtu = TEST_MTU,
		    .id = slot,
		};
	}
	for (uint16_t slot = 1; slot < TEST_NSLOTS; slot++)
		w->proxies[slot - 1] = w->targets[slot].address;
	qsort(w->proxies, TEST_NSLOTS - 1, sizeof(w->proxies[0]), address_cmp);
	w->targets[1].flags = w->targets[2].flags = POOL_TARGET_KEEPS | POOL_TARGET_TAKES;
	w->targets[3].flags = POOL_TARGET_KEEPS;
	snapshot_init(w, &w->snap, backends, 2);
	snapshot_init(w, &w->empty, NULL, 0);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	maglev_free(&w->snap.table);
	maglev_free(&w->empty.table);
	affinity_free(&w->affinity);
	free(w->t);
	free(w);
	return 0;
}

/* An IPv4 TCP packet of len bytes from client:40000 to dst:dport into w->pkt. */
static size_t tcp_packet(struct world *w, size_t len, const char *client, const char *dst,
			 uint16_t dport, uint8_t flags, bool df)
{
	uint8_t *p = w->pkt;

	assert_true(len >= 40 && len <= sizeof(w->pkt));
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[6] = df ? 0x40 : 0x00;
	p[8] = 64;
	p[9] = IPPROTO_TCP;
	*(uint32_t *)(void *)(p + 12) = addr(client);
	*(uint32_t *)(void *)(p + 16) = addr(dst);
	p[20] = (uint8_t)(TEST_SPORT >> 8);
	p[21] = (uint8_t)(TEST_SPORT & 0xff);
	p[22] = (uint8_t)(dport >> 8);
	p[23] = (uint8_t)dport;
	p[32] = 5 << 4;
	p[33] = flags;
	return len;
}

/*
 * sender's ICMP "fragmentation needed" towards server, quoting the server's
 * packet server:sport -> quoted:40000, the whole of len bytes (at least 56),
 * into w->pkt. Addresses in network byte order.
 */
static size_t icmp_error(struct world *w, uint32_t sender, uint32_t server, uint16_t sport,
			 uint32_t quoted, size_t len, bool df)
{
	uint8_t *p = w->pkt, *q = w->pkt + 28;

	assert_true(len >= 20 + 8 + 20 + 8 && len <= sizeof(w->pkt));
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[6] = df ? 0x40 : 0x00;
	p[8] = 64;
	p[9] = IPPROTO_ICMP;
	memcpy(p + 12, &sender, 4);
	memcpy(p + 16, &server, 4);
	p[20] = 3; /* destination unreachable */
	p[21] = 4; /* fragmentation needed */
	q[0] = 0x45;
	q[3] = 40;
	q[8] = 64;
	q[9] = IPPROTO_TCP;
	memcpy(q + 12, &server, 4);
	memcpy(q + 16, &quoted, 4);
	q[20] = (uint8_t)(sport >> 8);
	q[21] = (uint8_t)sport;
	q[22] = (uint8_t)(TEST_SPORT >> 8);
	q[23] = (uint8_t)(TEST_SPORT & 0xff);
	return len;
}

/* The client's own ICMP error about the server's packet server:sport -> client:40000. */
static size_t icmp_quoting(struct world *w, const char *client, const char *server, uint16_t sport)
{
	return icmp_error(w, addr(client), addr(server), sport, addr(client), 20 + 8 + 20 + 8,
			  false);
}

/* The slot an outer packet waiting to be sent goes to, checking its header. */
static uint16_t sent_to(const struct world *w, unsigned i, size_t inner_len)
{
	const struct datapath_thread *t = w->t;
	const uint8_t *hdr = t->tx_hdr[i];

	assert_true(i < t->ntx);
	assert_int_equal(wire_checksum(hdr, ENCAP_OUTER_LEN), 0);
	assert_int_equal(hdr[0], 0x45);
	assert_int_equal(hdr[9], IPPROTO_IPIP);
	assert_int_equal(hdr[2] << 8 | hdr[3], ENCAP_OUTER_LEN + t->tx_iov[i][1].iov_len);
	assert_true(t->tx_iov[i][1].iov_len <= inner_len);
	assert_memory_equal(hdr + 12, &w->targets[1].source, 4);
	for (uint16_t slot = 1; slot < TEST_NSLOTS; slot++) {
		if (t->tx_addr[i].sin_addr.s_addr == w->targets[slot].address) {
			assert_memory_equal(hdr + 16, &w->targets[slot].address, 4);
			return slot;
		}
	}
	fail_msg("outer packet %u to an address no proxy has", i);
	return 0;
}

static uint64_t count(const struct world *w, enum datapath_counter c)
{
	return w->t->counters[c];
}

static void test_counter_names(void **state)
{
	(void)state;
	for (unsigned i = 0; i < DP_COUNTER_COUNT; i++) {
		const char *name = datapath_counter_name(i);

		assert_non_null(name);
		assert_true(name[0] != '\0');
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(name, datapath_counter_name(j));
	}
	assert_string_equal(datapath_counter_name(DP_ENCAPSULATED), "encapsulated");
	assert_string_equal(datapath_counter_name(DP_FAST_PACKETS),
			    fastpath_counter_name(FASTPATH_SENT));
	assert_string_equal(datapath_counter_name(DP_COUNTER_COUNT), "unknown");
}

static void test_not_web_accepted(void **state)
{
	struct world *w = *state;
	size_t len = tcp_packet(w, 60, "198.18.0.10", "203.0.113.80", 22, WIRE_TCP_SYN, true);

	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	w->pkt[9] = IPPROTO_UDP;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	/* An ICMP error about something else than a web connection is not ours either. */
	len = icmp_quoting(w, "198.18.0.10", "203.0.113.80", 22);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_NOT_WEB), 3);
	assert_int_equal(count(w, DP_PACKETS), 3);
	assert_int_equal(count(w, DP_BYTES), 60 + 60 + len);
	assert_int_equal(count(w, DP_ENCAPSULATED), 0);
	assert_int_equal(w->t->ntx, 0);
}

static void test_malformed_by_policy(void **state)
{
	struct world *w = *state;
	size_t len = tcp_packet(w, 60, "198.18.0.10", "203.0.113.80", 80, WIRE_TCP_SYN, true);

	w->pkt[0] = 0x75; /* neither IPv4 nor IPv6 (a 6 would send it to the IPv6 parser) */
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	w->snap.malformed = MALFORMED_DROP;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, 10), NF_DROP);
	assert_int_equal(count(w, DP_MALFORMED), 2);
	assert_int_equal(w->t->malformed[PACKET_ERR_VERSION], 1);
	assert_int_equal(w->t->malformed[PACKET_ERR_TRUNCATED], 1);
	assert_int_equal(count(w, DP_ENCAPSULATED), 0);
}

/* A new client goes where the table says, and stays there: its next packets hit affinity. */
static void test_encapsulates_and_remembers(void **state)
{
	struct world *w = *state;
	size_t len = tcp_packet(w, 60, "198.18.0.10", "203.0.113.80", 80, WIRE_TCP_SYN, true);
	uint64_t hash = hash_client(test_key, addr("198.18.0.10"));
	uint16_t slot = maglev_lookup(&w->snap.table, hash);
	const struct datapath_slot_counters *sc = &w->t->slots[slot];

	assert_true(slot == 1 || slot == 2);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(sent_to(w, 0, len), slot);
	assert_ptr_equal(w->t->tx_iov[0][1].iov_base, w->pkt);
	assert_int_equal(count(w, DP_ENCAPSULATED), 1);
	assert_int_equal(count(w, DP_AFFINITY_HITS), 0);
	assert_int_equal(sc->hits, 1);
	assert_int_equal(sc->packets, 1);
	assert_int_equal(sc->bytes, len);

	w->t->ntx = 0;
	w->pkt[33] = WIRE_TCP_ACK;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(sent_to(w, 0, len), slot);
	assert_int_equal(count(w, DP_AFFINITY_HITS), 1);
	assert_int_equal(sc->hits, 1); /* only a SYN without ACK is a new connection */
	assert_int_equal(sc->packets, 2);
	assert_int_equal(sc->bytes, 2 * len);
}

/* A draining proxy keeps its clients; one that keeps none loses them to the table. */
static void test_affinity_keeps_and_moves(void **state)
{
	struct world *w = *state;
	uint32_t kept = addr("198.18.0.20"), moved = addr("198.18.0.21");
	size_t len;

	affinity_insert(&w->affinity, kept, hash_client(test_key, kept), 3, TEST_NOW, NULL);
	affinity_insert(&w->affinity, moved, hash_client(test_key, moved), 4, TEST_NOW, NULL);
	len = tcp_packet(w, 60, "198.18.0.20", "203.0.113.80", 443, WIRE_TCP_ACK, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(sent_to(w, 0, len), 3);
	assert_int_equal(count(w, DP_AFFINITY_HITS), 1);

	w->t->ntx = 0;
	len = tcp_packet(w, 60, "198.18.0.21", "203.0.113.80", 443, WIRE_TCP_ACK, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	uint16_t slot = sent_to(w, 0, len);
	assert_true(slot == 1 || slot == 2);
	assert_int_equal(count(w, DP_AFFINITY_MOVES), 1);
	assert_int_equal(w->t->slots[4].packets, 0);
}

/* A client's ICMP error about a proxied connection goes to the client's proxy. */
static void test_icmp_error_follows_client(void **state)
{
	struct world *w = *state;
	uint32_t client = addr("198.18.0.30");
	size_t len;

	affinity_insert(&w->affinity, client, hash_client(test_key, client), 2, TEST_NOW, NULL);
	len = icmp_quoting(w, "198.18.0.30", "203.0.113.80", 80);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(sent_to(w, 0, len), 2);
	assert_int_equal(count(w, DP_ENCAPSULATED), 1);
}

/* Four times the 1,024 entries of the test's affinity table. */
#define TEST_FORGED	 4096
#define TEST_ICMP_LEN	 (20 + 8 + 20 + 8)
#define TEST_SERVER	 "203.0.113.80"
#define TEST_OUTSIDE_NET 0x64400000U /* 100.64.0.0: outside client_subnets */
#define TEST_INSIDE_NET	 0xc6120100U /* 198.18.1.0: other clients' addresses */
#define TEST_SECONDS	 10
#define TEST_FLOOD	 100 /* an attacker's oversize packets a second */
#define TEST_FRAG_RATE	 100 /* frag_needed_rate's default */
#define TEST_REJECT_RATE 20  /* reject_rate's default */
#define TEST_SYNS	 1000

/* The address the i-th forged error quotes: every other one outside client_subnets. */
static uint32_t forged_quote(uint32_t i)
{
	return htonl((i % 2 ? TEST_OUTSIDE_NET : TEST_INSIDE_NET) + i);
}

/*
 * Finding: forged ICMP errors placed clients. A client on the subnet sends
 * errors quoting "server:80 -> any address": each quoted address became a
 * client (a Maglev choice, an affinity entry, the error sent to a proxy),
 * pushing live clients out of the table. An error now only looks up its own
 * sender: nothing is placed, nothing is sent to a proxy, the live client
 * stays where it was.
 */
static void test_forged_icmp_errors_place_nobody(void **state)
{
	struct world *w = *state;
	uint32_t live = addr("198.18.0.10"), attacker = addr("198.18.0.66");
	uint32_t server = addr(TEST_SERVER);
	uint64_t hash = hash_client(test_key, live);
	uint16_t live_slot, slot = 0;
	size_t len, outside, entries;
	uint64_t encapsulated, evictions;
	bool kept;

	assert_int_equal(w->affinity.nbuckets * AFFINITY_WAYS, 1024);
	len = tcp_packet(w, 60, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_SYN, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	live_slot = sent_to(w, 0, len);
	w->t->ntx = 0;
	encapsulated = count(w, DP_ENCAPSULATED);
	evictions = count(w, DP_AFFINITY_EVICTIONS);

	/* A second later: the live client is now the one its bucket saw least recently. */
	w->t->now++;
	for (uint32_t i = 0; i < TEST_FORGED; i++) {
		len = icmp_error(w, attacker, server, 80, forged_quote(i), TEST_ICMP_LEN, false);
		dp_handle(w->t, &w->snap, w->pkt, len);
		w->t->ntx = 0;
	}
	/* The table holds the live client and what the errors quoted, nobody else. */
	entries = affinity_sweep(&w->affinity, w->t->now, NULL, 0);
	outside = 0;
	for (uint32_t i = 0; i < TEST_FORGED; i++) {
		uint32_t quoted = forged_quote(i);

		if (!pool_is_client(&w->snap, quoted) &&
		    affinity_peek(&w->affinity, quoted, hash_client(test_key, quoted), w->t->now,
				  &slot, NULL))
			outside++;
	}
	kept = affinity_peek(&w->affinity, live, hash, w->t->now, &slot, NULL) && slot == live_slot;
	print_message("%u forged ICMP errors into a %u-entry table: %" PRIu64
		      " sent to a proxy, %zu entries (%zu outside client_subnets), %" PRIu64
		      " evictions, live client %s\n",
		      TEST_FORGED, w->affinity.nbuckets * AFFINITY_WAYS,
		      count(w, DP_ENCAPSULATED) - encapsulated, entries, outside,
		      count(w, DP_AFFINITY_EVICTIONS) - evictions, kept ? "kept" : "pushed out");
	assert_int_equal(count(w, DP_ENCAPSULATED), encapsulated);
	assert_int_equal(entries, 1);
	assert_int_equal(outside, 0);
	assert_true(kept);
	assert_int_equal(count(w, DP_AFFINITY_EVICTIONS), evictions);
	assert_int_equal(count(w, DP_ICMP_NOT_SENDER), TEST_FORGED);

	/* The live client's own error about its own flow still reaches its proxy. */
	len = icmp_error(w, live, server, 443, live, TEST_ICMP_LEN, false);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(sent_to(w, 0, len), live_slot);
}

/* An ICMP error that is not a placed client's about its own flow is routed normally. */
static void test_icmp_error_reasons(void **state)
{
	struct world *w = *state;
	uint32_t server = addr(TEST_SERVER);
	uint32_t unplaced = addr("198.18.0.40"), outsider = addr("192.0.2.40");
	uint32_t gone = addr("198.18.0.41");
	uint16_t slot;
	size_t len;

	/* A client with no proxy yet: its error places it nowhere. */
	len = icmp_error(w, unplaced, server, 80, unplaced, TEST_ICMP_LEN, false);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_ICMP_UNPLACED), 1);
	assert_false(affinity_peek(&w->affinity, unplaced, hash_client(test_key, unplaced),
				   w->t->now, &slot, NULL));
	/* A client whose proxy keeps no clients (slot 4, down): not moved by an error. */
	affinity_insert(&w->affinity, gone, hash_client(test_key, gone), 4, TEST_NOW, NULL);
	len = icmp_error(w, gone, server, 80, gone, TEST_ICMP_LEN, false);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_ICMP_UNPLACED), 2);
	assert_int_equal(count(w, DP_AFFINITY_MOVES), 0);
	/* A sender outside client_subnets, even one the table knows. */
	affinity_insert(&w->affinity, outsider, hash_client(test_key, outsider), 1, TEST_NOW, NULL);
	len = icmp_error(w, outsider, server, 80, outsider, TEST_ICMP_LEN, false);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_ICMP_OUTSIDE_SUBNETS), 1);
	/* A placed client speaking of another placed client's flow. */
	len = icmp_error(w, unplaced, server, 80, outsider, TEST_ICMP_LEN, false);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_ICMP_NOT_SENDER), 1);
	assert_int_equal(count(w, DP_ENCAPSULATED), 0);
	assert_int_equal(w->t->ntx, 0);
}

/*
 * Finding: an ICMP error too big for the tunnel (DF) was answered with an
 * ICMP error (RFC 1122 forbids it). It is now dropped unanswered, as a
 * router would; without DF it still goes to the proxy in outer fragments.
 */
static void test_icmp_error_too_big_unanswered(void **state)
{
	struct world *w = *state;
	uint32_t client = addr("198.18.0.30"), server = addr(TEST_SERVER);
	size_t len;

	affinity_insert(&w->affinity, client, hash_client(test_key, client), 2, TEST_NOW, NULL);
	len = icmp_error(w, client, server, 80, client, TEST_MTU + 100, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	print_message("an oversize DF ICMP error: %" PRIu64 " frag-needed sent, %" PRIu64
		      " replies handed to a socket\n",
		      count(w, DP_FRAG_NEEDED_SENT), count(w, DP_TX_ERRORS));
	assert_int_equal(count(w, DP_FRAG_NEEDED_SENT), 0);
	assert_int_equal(count(w, DP_TX_ERRORS), 0);
	assert_int_equal(count(w, DP_NOT_ANSWERED), 1);
	assert_int_equal(w->t->ntx, 0);

	len = icmp_error(w, client, server, 80, client, TEST_MTU + 100, false);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx, 2);
	assert_int_equal(sent_to(w, 0, len), 2);
	assert_int_equal(sent_to(w, 1, len), 2);
}

/* Makes w->pkt (a TCP packet) a fragment at offset units of 8 bytes, the last one. */
static void make_later_fragment(struct world *w, uint16_t offset)
{
	w->pkt[6] = (uint8_t)((w->pkt[6] & 0x40) | (offset >> 8));
	w->pkt[7] = (uint8_t)offset;
}

/*
 * Finding: with no_proxy_policy reject, later fragments (and a client's RST)
 * were answered with ICMP unreachable, and a later fragment with DF too big
 * for the tunnel with frag-needed. None of them is answered now.
 */
static void test_later_fragment_unanswered(void **state)
{
	struct world *w = *state;
	size_t len;

	w->empty.no_proxy = NO_PROXY_REJECT;
	len = tcp_packet(w, 60, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_ACK, false);
	make_later_fragment(w, 185);
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	len = tcp_packet(w, 60, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_RST, true);
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	len = tcp_packet(w, TEST_MTU + 100, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_ACK, true);
	make_later_fragment(w, 185);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	print_message("reject: a later fragment and a RST, and an oversize DF later fragment: "
		      "%" PRIu64 " replies handed to a socket\n",
		      count(w, DP_TX_ERRORS));
	assert_int_equal(count(w, DP_REJECTED), 2);
	assert_int_equal(count(w, DP_TX_ERRORS), 0);
	assert_int_equal(count(w, DP_REJECT_SENT), 0);
	assert_int_equal(count(w, DP_FRAG_NEEDED_SENT), 0);
	assert_int_equal(count(w, DP_NOT_ANSWERED), 3);

	/* A first fragment may be answered (it quotes the header): ICMP unreachable. */
	len = tcp_packet(w, 68, "198.18.0.11", TEST_SERVER, 80, WIRE_TCP_SYN, false);
	w->pkt[6] = 0x20; /* MF: 48 bytes of payload, a multiple of 8 */
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_REJECT_SENT), 1);
	assert_int_equal(count(w, DP_TX_ERRORS), 1);
}

/*
 * Finding: rejects were not rate limited (1,000 SYNs, 1,000 replies). Each
 * client now gets at most reject_rate a second; others keep their own.
 */
static void test_reject_rate_limited(void **state)
{
	struct world *w = *state;
	size_t len;

	w->empty.no_proxy = NO_PROXY_REJECT;
	w->empty.reject_rate = TEST_REJECT_RATE;
	len = tcp_packet(w, 60, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_SYN, true);
	for (unsigned i = 0; i < TEST_SYNS; i++)
		assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	print_message("reject: %u SYNs in a second from one client, %" PRIu64
		      " replies handed to a socket (reject_rate %u)\n",
		      TEST_SYNS, count(w, DP_TX_ERRORS), TEST_REJECT_RATE);
	assert_int_equal(count(w, DP_REJECTED), TEST_SYNS);
	assert_int_equal(count(w, DP_TX_ERRORS), TEST_REJECT_RATE);
	assert_int_equal(count(w, DP_REJECT_SENT), TEST_REJECT_RATE);
	assert_int_equal(count(w, DP_REJECT_LIMITED), TEST_SYNS - TEST_REJECT_RATE);

	/* Another client in the same second is answered; so is the first, a second later. */
	len = tcp_packet(w, 60, "198.18.0.11", TEST_SERVER, 80, WIRE_TCP_SYN, true);
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_REJECT_SENT), TEST_REJECT_RATE + 1);
	w->t->now++;
	len = tcp_packet(w, 60, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_SYN, true);
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_REJECT_SENT), TEST_REJECT_RATE + 2);
	/* 0: reject drops silently. */
	w->empty.reject_rate = 0;
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_REJECT_SENT), TEST_REJECT_RATE + 2);
}

/*
 * Finding: the frag-needed budget was one per queue for everyone, so an
 * attacker sending 100 oversize packets a second starved real clients of
 * frag-needed (their uploads stall). Each client now has its own budget.
 */
static void test_frag_needed_budget_per_client(void **state)
{
	struct world *w = *state;
	uint32_t client = addr("198.18.0.10"), attacker = addr("198.18.0.66");
	unsigned answered = 0;
	uint64_t before, to_attacker = 0;
	size_t len;

	/* Different buckets of the test's key: one client, one budget. */
	assert_int_not_equal(hash_client(test_key, client) & (DP_REPLY_SOURCES - 1),
			     hash_client(test_key, attacker) & (DP_REPLY_SOURCES - 1));
	w->snap.frag_needed_rate = TEST_FRAG_RATE;
	for (unsigned second = 0; second < TEST_SECONDS; second++, w->t->now++) {
		before = count(w, DP_FRAG_NEEDED_SENT);
		len = tcp_packet(w, TEST_MTU + 100, "198.18.0.66", TEST_SERVER, 80, WIRE_TCP_ACK,
				 true);
		for (unsigned i = 0; i < TEST_FLOOD; i++)
			assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
		to_attacker += count(w, DP_FRAG_NEEDED_SENT) - before;
		before = count(w, DP_FRAG_NEEDED_SENT);
		len = tcp_packet(w, TEST_MTU + 100, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_ACK,
				 true);
		assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
		answered += (unsigned)(count(w, DP_FRAG_NEEDED_SENT) - before);
	}
	print_message("%u s of %u oversize packets a second from an attacker: the real client's "
		      "frag-needed %u of %u, the attacker's %" PRIu64 "\n",
		      TEST_SECONDS, TEST_FLOOD, answered, TEST_SECONDS, to_attacker);
	assert_int_equal(answered, TEST_SECONDS);
	assert_true(to_attacker <= (uint64_t)TEST_FRAG_RATE * TEST_SECONDS);

	/* A flood above the budget spends only the flooder's own. */
	before = count(w, DP_FRAG_NEEDED_SENT);
	len = tcp_packet(w, TEST_MTU + 100, "198.18.0.66", TEST_SERVER, 80, WIRE_TCP_ACK, true);
	for (unsigned i = 0; i < 3 * TEST_FRAG_RATE; i++)
		dp_handle(w->t, &w->snap, w->pkt, len);
	assert_int_equal(count(w, DP_FRAG_NEEDED_SENT) - before, TEST_FRAG_RATE);
	len = tcp_packet(w, TEST_MTU + 100, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_ACK, true);
	dp_handle(w->t, &w->snap, w->pkt, len);
	assert_int_equal(count(w, DP_FRAG_NEEDED_SENT) - before, TEST_FRAG_RATE + 1);
}

static void test_no_proxy_policies(void **state)
{
	struct world *w = *state;
	size_t len = tcp_packet(w, 60, "198.18.0.10", "203.0.113.80", 80, WIRE_TCP_SYN, true);

	w->empty.no_proxy = NO_PROXY_BYPASS;
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_BYPASSED), 1);
	w->empty.no_proxy = NO_PROXY_DROP;
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_NO_PROXY_DROPPED), 1);
	/* Reject answers with a RST; its socket is -1 here, so the sending fails and counts. */
	w->empty.no_proxy = NO_PROXY_REJECT;
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_REJECTED), 1);
	assert_int_equal(count(w, DP_TX_ERRORS), 1);
	assert_int_equal(count(w, DP_ENCAPSULATED), 0);
	assert_int_equal(w->t->ntx, 0);
}

/*
 * Too big for the tunnel with DF: the client is told (frag needed), at most
 * frag_needed_rate times a second; without DF the outer packet is fragmented.
 */
static void test_too_big(void **state)
{
	struct world *w = *state;
	size_t len =
	    tcp_packet(w, TEST_MTU + 100, "198.18.0.10", "203.0.113.80", 80, WIRE_TCP_ACK, true);

	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_FRAG_NEEDED_SENT), 1);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_FRAG_NEEDED_SENT), 1);
	assert_int_equal(count(w, DP_FRAG_NEEDED_LIMITED), 1);
	w->t->now++; /* the next second */
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_FRAG_NEEDED_SENT), 2);
	assert_int_equal(w->t->ntx, 0);
	assert_int_equal(count(w, DP_ENCAPSULATED), 0);

	len = tcp_packet(w, TEST_MTU + 100, "198.18.0.10", "203.0.113.80", 80, WIRE_TCP_ACK, false);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_ENCAPSULATED), 1);
	assert_int_equal(w->t->ntx, 2);
	assert_int_equal(count(w, DP_OUTER_FRAGMENTS), 2);
	assert_int_equal(sent_to(w, 0, len), sent_to(w, 1, len));
	assert_int_equal(w->t->tx_iov[0][1].iov_len + w->t->tx_iov[1][1].iov_len, len);
}

/* ---- IPv6 clients, carried to the proxies' IPv4 addresses in IPv6-in-IPv4 ---- */

#define TEST_SERVER6	  "2001:db8:ffff::80"
#define TEST_TRAFFIC	  0xb8	  /* EF: carried over as the outer TOS */
#define TEST_FLOW	  0x12345 /* flow label */
#define TEST_V6_CLIENTS	  200
#define TEST_V4_CLIENTS	  200
#define TEST_PREFIX_HOSTS 64
#define TEST_MTU6	  1400 /* tunnel MTU for IPv6: no IPv6 link is below 1280 */

static void addr6(const char *text, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, text, out), 1);
}

/* An IPv6 TCP packet of len bytes (at least 60) from client:40000 to dst:dport into w->pkt. */
static size_t tcp6_packet(struct world *w, size_t len, const char *client, const char *dst,
			  uint16_t dport, uint8_t flags)
{
	uint8_t *p = w->pkt;

	assert_true(len >= 60 && len <= sizeof(w->pkt));
	memset(p, 0, len);
	p[0] = 0x60 | TEST_TRAFFIC >> 4;
	p[1] = (uint8_t)((TEST_TRAFFIC & 0xf) << 4 | TEST_FLOW >> 16);
	p[2] = (uint8_t)(TEST_FLOW >> 8);
	p[3] = (uint8_t)TEST_FLOW;
	p[4] = (uint8_t)((len - 40) >> 8);
	p[5] = (uint8_t)(len - 40);
	p[6] = IPPROTO_TCP;
	p[7] = 64;
	addr6(client, p + 8);
	addr6(dst, p + 24);
	p[40] = (uint8_t)(TEST_SPORT >> 8);
	p[41] = (uint8_t)(TEST_SPORT & 0xff);
	p[42] = (uint8_t)(dport >> 8);
	p[43] = (uint8_t)dport;
	p[52] = 5 << 4;
	p[53] = flags;
	for (size_t i = 60; i < len; i++)
		p[i] = (uint8_t)(i * 7);
	return len;
}

/* The slot an IPv6 client's address is placed on by the table, widened to prefix. */
static uint16_t table_slot6(const struct world *w, const char *client, unsigned prefix)
{
	struct client_id id;
	uint8_t a[16];

	addr6(client, a);
	id = client_from_ipv6(a);
	id = client_widen(&id, prefix);
	return maglev_lookup(&w->snap.table, hash_client_id(test_key, &id));
}

/*
 * The slot the outer packet i goes to, checking every byte of its 6in4
 * header (written out here, not by encap6) and that the inner packet is
 * the client's own buffer, whole.
 */
static uint16_t sent6_to(const struct world *w, unsigned i, size_t inner_len, uint16_t id)
{
	const struct datapath_thread *t = w->t;
	const uint8_t *hdr = t->tx_hdr[i];
	uint8_t want[ENCAP6_6IN4_LEN] = {0x45,
					 TEST_TRAFFIC,
					 (uint8_t)((20 + inner_len) >> 8),
					 (uint8_t)(20 + inner_len),
					 (uint8_t)(id >> 8),
					 (uint8_t)id,
					 0x40,
					 0x00,
					 64,
					 41};
	uint16_t slot = 0;

	assert_true(i < t->ntx);
	assert_int_equal(t->tx_iov[i][0].iov_len, ENCAP6_6IN4_LEN);
	assert_ptr_equal(t->tx_iov[i][1].iov_base, w->pkt);
	assert_int_equal(t->tx_iov[i][1].iov_len, inner_len);
	for (uint16_t s = 1; s < TEST_NSLOTS; s++) {
		if (t->tx_addr[i].sin_addr.s_addr == w->targets[s].address)
			slot = s;
	}
	assert_int_not_equal(slot, 0);
	memcpy(want + 12, &w->targets[slot].source, 4);
	memcpy(want + 16, &w->targets[slot].address, 4);
	assert_int_equal(wire_checksum(hdr, ENCAP6_6IN4_LEN), 0);
	memcpy(want + 10, hdr + 10, 2); /* the checksum, checked just above */
	assert_memory_equal(hdr, want, sizeof(want));
	return slot;
}

/* A placed IPv6 client's packet goes out in 6in4, inner byte for byte, and stays placed. */
static void test_ipv6_wrapped_6in4(void **state)
{
	struct world *w = *state;
	const char *client = "2001:db8:1::10";
	size_t len = tcp6_packet(w, 120, client, TEST_SERVER6, 443, WIRE_TCP_SYN);
	uint16_t slot = table_slot6(w, client, CLIENT_PREFIX_MAX);
	uint8_t copy[120];

	memcpy(copy, w->pkt, len);
	assert_true(slot == 1 || slot == 2);
	w->t->ip_id = 0x1234;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(sent6_to(w, 0, len, 0x1234), slot);
	assert_memory_equal(w->pkt, copy, len);
	assert_int_equal(count(w, DP_IPV6_PACKETS), 1);
	assert_int_equal(count(w, DP_IPV6_ENCAPSULATED), 1);
	assert_int_equal(count(w, DP_ENCAPSULATED), 1);
	assert_int_equal(count(w, DP_IPV6_PLACED), 1);
	assert_int_equal(w->t->slots[slot].hits, 1);
	assert_int_equal(w->t->slots[slot].bytes, len);

	/* The next packet: an affinity hit, the same proxy, no new placement. */
	w->t->ntx = 0;
	w->pkt[53] = WIRE_TCP_ACK;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(sent6_to(w, 0, len, 0x1235), slot);
	assert_int_equal(count(w, DP_AFFINITY_HITS), 1);
	assert_int_equal(count(w, DP_IPV6_PLACED), 1);
	assert_int_equal(w->t->slots[slot].packets, 2);
	assert_int_equal(w->t->slots[slot].hits, 1);

	/* A draining proxy keeps its IPv6 client too. */
	w->t->ntx = 0;
	tcp6_packet(w, 60, "2001:db8:1::11", TEST_SERVER6, 80, WIRE_TCP_ACK);
	struct client_id id = client_from_ipv6(w->pkt + 8);
	uint64_t hash = pool_client6_hash(&w->snap, &id);
	affinity_insert(&w->affinity, pool_affinity_tag6(hash), hash, 3, TEST_NOW, NULL);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, 60), NF_DROP);
	assert_int_equal(sent6_to(w, 0, 60, 0x1236), 3);
}

#define TEST_PROXY6  "2001:db8:100::"  /* + slot: the proxies' IPv6 addresses */
#define TEST_SOURCE6 "2001:db8:200::2" /* the appliance's, towards them */

/* Gives slot an IPv6 address (TEST_PROXY6 + slot) reached in 6in6 with TEST_MTU6. */
static void give_address6(struct world *w, uint16_t slot)
{
	char text[INET6_ADDRSTRLEN];

	snprintf(text, sizeof(text), TEST_PROXY6 "%u", slot);
	addr6(text, w->targets[slot].address6);
	addr6(TEST_SOURCE6, w->targets[slot].source6);
	w->targets[slot].tunnel_mtu6 = TEST_MTU6;
	w->targets[slot].flags |= POOL_TARGET_IPV6;
}

/* The first client of 2001:db8:6::/64 the table places on slot. */
static size_t client_on_slot(const struct world *w, uint16_t slot, char *client, size_t len)
{
	for (unsigned i = 1; i < 1000; i++) {
		snprintf(client, len, "2001:db8:6::%x", i);
		if (table_slot6(w, client, CLIENT_PREFIX_MAX) == slot)
			return i;
	}
	fail_msg("no client on slot %u", slot);
	return 0;
}

/*
 * The outer IPv6 header of 6in6 copy i, every byte written out here (not by
 * encap6): version 6, the inner traffic class and flow label, payload
 * length the inner packet, next header 41, hop limit 64, the appliance's
 * IPv6 source, the proxy's IPv6 address; the inner packet the client's own
 * buffer, whole.
 */
static void sent6in6_to(const struct world *w, unsigned i, size_t inner_len, uint16_t slot)
{
	const struct datapath_thread *t = w->t;
	uint8_t want[ENCAP6_IP6IP6_LEN] = {
	    0x60 | TEST_TRAFFIC >> 4,
	    (uint8_t)((TEST_TRAFFIC & 0xf) << 4 | TEST_FLOW >> 16),
	    (uint8_t)(TEST_FLOW >> 8),
	    (uint8_t)TEST_FLOW,
	    (uint8_t)(inner_len >> 8),
	    (uint8_t)inner_len,
	    41,
	    64,
	};

	assert_true(i < t->ntx6);
	addr6(TEST_SOURCE6, want + 8);
	memcpy(want + 24, w->targets[slot].address6, 16);
	assert_memory_equal(t->tx6_hdr[i], want, sizeof(want));
	assert_int_equal(t->tx6_iov[i][0].iov_len, ENCAP6_IP6IP6_LEN);
	assert_ptr_equal(t->tx6_iov[i][1].iov_base, w->pkt);
	assert_int_equal(t->tx6_iov[i][1].iov_len, inner_len);
	assert_int_equal(t->tx6_addr[i].sin6_family, AF_INET6);
	assert_int_equal(t->tx6_addr[i].sin6_port, 0);
	assert_memory_equal(&t->tx6_addr[i].sin6_addr, w->targets[slot].address6, 16);
}

/*
 * A proxy with an IPv6 address gets its IPv6 clients in IPv6-in-IPv6, with
 * its own tunnel MTU (path MTU - 40) and Packet Too Big at it; a proxy
 * without one keeps getting 6in4; the per-proxy counters count both; the
 * proxy's own IPv6 address is never a client.
 */
static void test_ipv6_wrapped_6in6(void **state)
{
	struct world *w = *state;
	char on6[INET6_ADDRSTRLEN], on4[INET6_ADDRSTRLEN];
	uint8_t copy[TEST_MTU6];
	size_t len;

	give_address6(w, 1);
	client_on_slot(w, 1, on6, sizeof(on6));
	client_on_slot(w, 2, on4, sizeof(on4));

	len = tcp6_packet(w, 120, on6, TEST_SERVER6, 443, WIRE_TCP_SYN);
	memcpy(copy, w->pkt, len);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx, 0);
	assert_int_equal(w->t->ntx6, 1);
	sent6in6_to(w, 0, len, 1);
	assert_memory_equal(w->pkt, copy, len);
	assert_int_equal(count(w, DP_IPV6_IN_IPV6), 1);
	assert_int_equal(count(w, DP_IPV6_ENCAPSULATED), 1);
	assert_int_equal(count(w, DP_ENCAPSULATED), 1);
	assert_int_equal(w->t->slots[1].hits, 1);
	assert_int_equal(w->t->slots[1].packets, 1);
	assert_int_equal(w->t->slots[1].bytes, len);

	/* The other proxy has IPv4 only: 6in4, as before. */
	w->t->ip_id = 0x4242;
	len = tcp6_packet(w, 100, on4, TEST_SERVER6, 80, WIRE_TCP_SYN);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx, 1);
	assert_int_equal(sent6_to(w, 0, len, 0x4242), 2);
	assert_int_equal(count(w, DP_IPV6_IN_IPV6), 1);
	assert_int_equal(count(w, DP_IPV6_ENCAPSULATED), 2);
	assert_int_equal(w->t->slots[2].hits, 1);

	/* 6in6 takes packets up to path MTU - 40, beyond the 6in4 tunnel's MTU. */
	w->t->ntx = w->t->ntx6 = 0;
	len = tcp6_packet(w, TEST_MTU6, on6, TEST_SERVER6, 443, WIRE_TCP_ACK);
	assert_true(len > TEST_MTU);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx6, 1);
	sent6in6_to(w, 0, len, 1);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_SENT), 0);

	/* One byte more: Packet Too Big with the 6in6 tunnel's MTU, nothing sent. */
	w->t->ntx6 = 0;
	len = tcp6_packet(w, TEST_MTU6 + 1, on6, TEST_SERVER6, 443, WIRE_TCP_ACK);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx6, 0);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_SENT), 1);
	{
		const uint8_t *icmp = w->t->reply6 + 40;

		assert_int_equal(icmp[0], WIRE_ICMP6_PACKET_TOO_BIG);
		assert_int_equal((uint32_t)icmp[4] << 24 | (uint32_t)icmp[5] << 16 |
				     (uint32_t)icmp[6] << 8 | icmp[7],
				 TEST_MTU6);
	}
	assert_int_equal(w->t->slots[1].packets, 3);
	assert_int_equal(count(w, DP_IPV6_IN_IPV6), 2);

	/* The proxy's own IPv6 address, inside the client subnets, is no client. */
	uint8_t proxies6[1][16];
	memcpy(proxies6[0], w->targets[1].address6, 16);
	w->snap.proxies6 = proxies6;
	w->snap.nproxies6 = 1;
	len = tcp6_packet(w, 60, TEST_PROXY6 "1", TEST_SERVER6, 80, WIRE_TCP_SYN);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_NOT_CLIENT), 1);
	w->snap.proxies6 = NULL;
	w->snap.nproxies6 = 0;
}

/*
 * A proxy whose IPv6 address fails its probes is published without
 * POOL_TARGET_IPV6 (pool_snapshot_build's down6): its placed IPv6 client's
 * next packets go in 6in4 to the same proxy (an affinity hit, nobody moves,
 * nothing dropped), and back in 6in6 once the address is up again.
 */
static void test_ipv6_down_falls_back_to_6in4(void **state)
{
	struct world *w = *state;
	char on6[INET6_ADDRSTRLEN];
	size_t len;

	give_address6(w, 1);
	client_on_slot(w, 1, on6, sizeof(on6));
	len = tcp6_packet(w, 120, on6, TEST_SERVER6, 443, WIRE_TCP_SYN);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx6, 1);
	sent6in6_to(w, 0, len, 1);
	assert_int_equal(count(w, DP_IPV6_PLACED), 1);

	/* IPv6 address down: 6in4 to the same proxy's IPv4 address. */
	w->targets[1].flags &= (uint16_t)~POOL_TARGET_IPV6;
	w->t->ntx = w->t->ntx6 = 0;
	w->t->ip_id = 0x5151;
	len = tcp6_packet(w, 120, on6, TEST_SERVER6, 443, WIRE_TCP_ACK);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx6, 0);
	assert_int_equal(w->t->ntx, 1);
	assert_int_equal(sent6_to(w, 0, len, 0x5151), 1);
	assert_int_equal(count(w, DP_AFFINITY_HITS), 1);
	assert_int_equal(count(w, DP_IPV6_PLACED), 1);
	assert_int_equal(count(w, DP_IPV6_IN_IPV6), 1);
	assert_int_equal(count(w, DP_IPV6_ENCAPSULATED), 2);

	/* Up again: 6in6, still the same proxy. */
	w->targets[1].flags |= POOL_TARGET_IPV6;
	w->t->ntx = w->t->ntx6 = 0;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx, 0);
	assert_int_equal(w->t->ntx6, 1);
	sent6in6_to(w, 0, len, 1);
	assert_int_equal(count(w, DP_IPV6_IN_IPV6), 2);
	assert_int_equal(w->t->slots[1].packets, 3);
	assert_int_equal(w->t->slots[1].hits, 1);
}

/*
 * IPv4 and IPv6 clients on one Maglev table and one affinity table: IPv4
 * clients where hash_client always put them, IPv6 clients where their
 * identity's hash says, both families on both proxies, every client one
 * entry of the shared table, each still on its proxy at its next packet.
 */
static void test_mixed_families_one_table(void **state)
{
	struct world *w = *state;
	unsigned per_slot[2][TEST_NSLOTS] = {{0}};
	char client[INET6_ADDRSTRLEN];
	uint16_t placed[TEST_V6_CLIENTS + TEST_V4_CLIENTS];
	size_t len;

	for (unsigned round = 0; round < 2; round++) {
		for (unsigned i = 0; i < TEST_V6_CLIENTS + TEST_V4_CLIENTS; i++) {
			bool v6 = i < TEST_V6_CLIENTS;
			uint16_t want;

			w->t->ntx = 0;
			if (v6) {
				snprintf(client, sizeof(client), "2001:db8:%x::%x", i / 16, i + 1);
				len = tcp6_packet(w, 60, client, TEST_SERVER6, 80, WIRE_TCP_SYN);
				want = table_slot6(w, client, CLIENT_PREFIX_MAX);
			} else {
				snprintf(client, sizeof(client), "198.18.1.%u",
					 i - TEST_V6_CLIENTS);
				len =
				    tcp_packet(w, 60, client, TEST_SERVER, 80, WIRE_TCP_SYN, true);
				want = maglev_lookup(&w->snap.table,
						     hash_client(test_key, addr(client)));
			}
			assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
			uint16_t slot =
			    v6 ? sent6_to(w, 0, len, w->t->ip_id - 1) : sent_to(w, 0, len);
			assert_int_equal(slot, want);
			if (round == 0) {
				placed[i] = slot;
				per_slot[v6][slot]++;
			} else {
				assert_int_equal(slot, placed[i]);
			}
		}
	}
	uint32_t active[TEST_NSLOTS];
	size_t live = affinity_sweep(&w->affinity, TEST_NOW, active, TEST_NSLOTS);
	print_message("one table: IPv6 clients %u/%u on proxies 1/2, IPv4 %u/%u; %zu affinity "
		      "entries for %u clients, %" PRIu64 " hits at the second packet\n",
		      per_slot[1][1], per_slot[1][2], per_slot[0][1], per_slot[0][2], live,
		      TEST_V6_CLIENTS + TEST_V4_CLIENTS, count(w, DP_AFFINITY_HITS));
	for (unsigned f = 0; f < 2; f++)
		assert_true(per_slot[f][1] > 0 && per_slot[f][2] > 0);
	assert_int_equal(live, TEST_V6_CLIENTS + TEST_V4_CLIENTS);
	assert_int_equal(count(w, DP_AFFINITY_HITS), TEST_V6_CLIENTS + TEST_V4_CLIENTS);
	assert_int_equal(count(w, DP_IPV6_PLACED), TEST_V6_CLIENTS);
	assert_int_equal(count(w, DP_AFFINITY_EVICTIONS), 0);
}

/* ipv6_client_prefix 64: every address of a /64 on one proxy; 128: spread. */
static void test_ipv6_prefix_places_a_64_together(void **state)
{
	struct world *w = *state;
	char client[INET6_ADDRSTRLEN];
	unsigned per_slot[TEST_NSLOTS] = {0};
	uint16_t first = 0;

	w->snap.ipv6_prefix = 64;
	for (unsigned i = 0; i < TEST_PREFIX_HOSTS; i++) {
		/* Privacy addresses: random-looking interface identifiers. */
		snprintf(client, sizeof(client), "2001:db8:0:64:%x:%x:%x:%x", (i * 40503U) & 0xffff,
			 (i * 7919U + 3) & 0xffff, i * 31, i + 1);
		w->t->ntx = 0;
		size_t len = tcp6_packet(w, 60, client, TEST_SERVER6, 80, WIRE_TCP_SYN);
		assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
		uint16_t slot = sent6_to(w, 0, len, w->t->ip_id - 1);
		if (i == 0)
			first = slot;
		assert_int_equal(slot, first);
		assert_int_equal(slot, table_slot6(w, client, 64));
	}
	/* One identity: placed once, then found in the affinity table. */
	assert_int_equal(count(w, DP_IPV6_PLACED), 1);
	assert_int_equal(count(w, DP_AFFINITY_HITS), TEST_PREFIX_HOSTS - 1);

	/* The whole address: the same hosts spread over both proxies. */
	w->snap.ipv6_prefix = CLIENT_PREFIX_MAX;
	for (unsigned i = 0; i < TEST_PREFIX_HOSTS; i++) {
		snprintf(client, sizeof(client), "2001:db8:0:64:%x:%x:%x:%x", (i * 40503U) & 0xffff,
			 (i * 7919U + 3) & 0xffff, i * 31, i + 1);
		per_slot[table_slot6(w, client, CLIENT_PREFIX_MAX)]++;
	}
	print_message("ipv6_client_prefix 64: %u addresses of one /64 on proxy %u; at 128: "
		      "%u/%u\n",
		      TEST_PREFIX_HOSTS, first, per_slot[1], per_slot[2]);
	assert_true(per_slot[1] > 0 && per_slot[2] > 0);
}

/*
 * Too big for the tunnel: IPv6 is never fragmented on the way; the client
 * gets a Packet Too Big with the tunnel MTU, within its budget a second.
 */
static void test_ipv6_packet_too_big(void **state)
{
	struct world *w = *state;
	size_t len =
	    tcp6_packet(w, TEST_MTU6 + 100, "2001:db8:1::20", TEST_SERVER6, 80, WIRE_TCP_ACK);
	const uint8_t *icmp = w->t->reply6 + 40;

	for (uint16_t slot = 1; slot < TEST_NSLOTS; slot++)
		w->targets[slot].tunnel_mtu = TEST_MTU6;
	w->snap.frag_needed_rate = 1;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_SENT), 1);
	/* The socket is -1 here: the message built is checked where it waits. */
	assert_int_equal(count(w, DP_TX_ERRORS), 1);
	assert_int_equal(w->t->reply6[0] >> 4, 6);
	assert_int_equal(w->t->reply6[6], IPPROTO_ICMPV6);
	assert_memory_equal(w->t->reply6 + 24, w->pkt + 8, 16); /* to the client */
	assert_int_equal(icmp[0], WIRE_ICMP6_PACKET_TOO_BIG);
	assert_int_equal(icmp[1], 0);
	assert_int_equal((uint32_t)icmp[4] << 24 | (uint32_t)icmp[5] << 16 |
			     (uint32_t)icmp[6] << 8 | icmp[7],
			 TEST_MTU6);
	assert_memory_equal(icmp + 8, w->pkt, 40 + 20); /* quoting the client's packet */
	/* Rate limited per client: the second in the same second is not answered. */
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_SENT), 1);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_LIMITED), 1);
	/* Another client is answered in the same second; the first in the next one. */
	len = tcp6_packet(w, TEST_MTU6 + 100, "2001:db8:1::21", TEST_SERVER6, 80, WIRE_TCP_ACK);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_SENT), 2);
	w->t->now++;
	len = tcp6_packet(w, TEST_MTU6 + 100, "2001:db8:1::20", TEST_SERVER6, 80, WIRE_TCP_ACK);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_SENT), 3);
	/* Exactly the tunnel MTU fits. */
	len = tcp6_packet(w, TEST_MTU6, "2001:db8:1::20", TEST_SERVER6, 80, WIRE_TCP_ACK);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx, 1);
	assert_int_equal(count(w, DP_IPV6_ENCAPSULATED), 1);
	assert_int_equal(count(w, DP_OUTER_FRAGMENTS), 0);
	/* A tunnel narrower than any IPv6 link has nothing true to say: dropped, counted. */
	for (uint16_t slot = 1; slot < TEST_NSLOTS; slot++)
		w->targets[slot].tunnel_mtu = TEST_MTU;
	len = tcp6_packet(w, TEST_MTU + 100, "2001:db8:1::22", TEST_SERVER6, 80, WIRE_TCP_ACK);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_SENT), 3);
	assert_int_equal(count(w, DP_NOT_ANSWERED), 1);
}

/*
 * What is not a client's web packet goes its way: neighbour discovery (were
 * it ever queued), another port, a source outside the IPv6 subnets; and the
 * malformed are counted by reason.
 */
static void test_ipv6_not_ours_and_malformed(void **state)
{
	struct world *w = *state;
	size_t len = tcp6_packet(w, 64, "fe80::1", "ff02::1:ff00:2", 80, 0);

	/* A neighbour solicitation. */
	w->pkt[6] = IPPROTO_ICMPV6;
	w->pkt[7] = 255;
	w->pkt[40] = 135;
	w->pkt[41] = 0;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	len = tcp6_packet(w, 60, "2001:db8:1::30", TEST_SERVER6, 22, WIRE_TCP_SYN);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_NOT_WEB), 2);
	len = tcp6_packet(w, 60, "2001:db9::30", TEST_SERVER6, 80, WIRE_TCP_SYN);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_NOT_CLIENT), 1);

	len = tcp6_packet(w, 60, "2001:db8:1::30", TEST_SERVER6, 80, WIRE_TCP_SYN);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, 30), NF_ACCEPT);
	w->pkt[5] = 99; /* payload length past the packet */
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	w->snap.malformed = MALFORMED_DROP;
	w->pkt[5] = 20;
	w->pkt[52] = 2 << 4; /* TCP data offset 2 */
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_MALFORMED), 3);
	assert_int_equal(w->t->malformed6[PACKET6_ERR_TRUNCATED], 1);
	assert_int_equal(w->t->malformed6[PACKET6_ERR_PAYLOAD_LENGTH], 1);
	assert_int_equal(w->t->malformed6[PACKET6_ERR_TCP_OFFSET], 1);
	assert_int_equal(w->t->malformed[PACKET_ERR_TRUNCATED], 0);
	assert_string_equal(datapath_malformed6_name(PACKET6_ERR_EXT_COUNT), "ipv6_ext_count");
	assert_int_equal(count(w, DP_IPV6_PACKETS), 6);
	assert_int_equal(count(w, DP_ENCAPSULATED), 0);
	assert_int_equal(w->t->ntx, 0);
}

/*
 * A client's ICMPv6 error about a proxied flow (Packet Too Big quoting
 * server:80 -> client) goes to that client's proxy; one quoting somebody
 * else's flow, or from a client nobody placed, is routed.
 */
static void test_ipv6_icmp_error_follows_client(void **state)
{
	struct world *w = *state;
	uint8_t *p = w->pkt, *q = w->pkt + 48;
	const size_t len = 48 + 40 + 20;
	struct client_id id;
	uint64_t hash;

	memset(p, 0, len);
	p[0] = 0x60;
	p[5] = (uint8_t)(len - 40);
	p[6] = IPPROTO_ICMPV6;
	p[7] = 64;
	addr6("2001:db8:1::40", p + 8);
	addr6(TEST_SERVER6, p + 24);
	p[40] = WIRE_ICMP6_PACKET_TOO_BIG;
	p[46] = 0x05; /* MTU 1280 */
	q[0] = 0x60;
	q[5] = 20;
	q[6] = IPPROTO_TCP;
	q[7] = 64;
	addr6(TEST_SERVER6, q + 8);
	addr6("2001:db8:1::40", q + 24);
	q[40] = 0;
	q[41] = 80;
	q[52] = 5 << 4;
	/* Unplaced: routed. */
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_ICMP_UNPLACED), 1);
	/* Placed on the draining proxy 3: it goes there. */
	id = client_from_ipv6(p + 8);
	hash = pool_client6_hash(&w->snap, &id);
	affinity_insert(&w->affinity, pool_affinity_tag6(hash), hash, 3, TEST_NOW, NULL);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx, 1);
	assert_int_equal(w->t->tx_addr[0].sin_addr.s_addr, w->targets[3].address);
	/* About another client's flow: routed. */
	addr6("2001:db8:1::41", q + 24);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_ICMP_NOT_SENDER), 1);
}

/*
 * w->pkt as a fragment of len bytes from client: IPv6 header, fragment
 * header (next header TCP, offset in 8-byte units, M as given, id 0xdrove),
 * then for the first fragment a TCP header to port 80, else payload.
 */
static size_t frag6_packet(struct world *w, size_t len, const char *client, uint16_t offset8,
			   bool more)
{
	uint8_t *p = w->pkt, *f = w->pkt + 40;

	tcp6_packet(w, len, client, TEST_SERVER6, 80, WIRE_TCP_ACK);
	memmove(p + 48, p + 40, len - 48);
	p[6] = IPPROTO_FRAGMENT;
	f[0] = IPPROTO_TCP;
	f[1] = 0;
	f[2] = (uint8_t)(offset8 >> 5);
	f[3] = (uint8_t)((offset8 << 3) | (more ? 1 : 0));
	f[4] = 0xd5;
	f[5] = 0x0f;
	f[6] = 0xe0;
	f[7] = 0x01;
	if (offset8 != 0)
		memset(p + 48, 0xab, len - 48);
	return len;
}

/*
 * The fragments of one datagram go where their client goes: the first
 * (ports, and a new client placed by it) and the later ones (no ports)
 * alike. A later fragment too big for the tunnel earns no Packet Too Big
 * (RFC 4443 2.4 (e)): dropped, counted.
 */
static void test_ipv6_fragments_follow_their_client(void **state)
{
	struct world *w = *state;
	const char *client = "2001:db8:1::60";
	uint16_t slot = table_slot6(w, client, CLIENT_PREFIX_MAX);
	size_t len;

	len = frag6_packet(w, 200, client, 0, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(sent6_to(w, 0, len, w->t->ip_id - 1), slot);
	len = frag6_packet(w, 120, client, 19, false);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx, 2);
	assert_int_equal(w->t->tx_addr[1].sin_addr.s_addr, w->targets[slot].address);
	assert_int_equal(count(w, DP_IPV6_PLACED), 1);
	assert_int_equal(count(w, DP_AFFINITY_HITS), 1);
	assert_int_equal(count(w, DP_MALFORMED), 0);

	len = frag6_packet(w, TEST_MTU + 104, client, 19,
			   true); /* a multiple of 8 past the headers */
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_NOT_ANSWERED), 1);
	assert_int_equal(count(w, DP_PACKET_TOO_BIG_SENT), 0);
	assert_int_equal(w->t->ntx, 2);
}

#define TEST_COST_ROUNDS  5
#define TEST_COST_PACKETS 100000

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median nanoseconds of one dp_handle on w->pkt (a placed client's packet), sends left out. */
static uint64_t decision_ns(struct world *w, size_t len)
{
	uint64_t rounds[TEST_COST_ROUNDS];

	for (unsigned r = 0; r < TEST_COST_ROUNDS; r++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (unsigned i = 0; i < TEST_COST_PACKETS; i++) {
			w->t->ntx = 0;
			dp_handle(w->t, &w->snap, w->pkt, len);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		rounds[r] = ((uint64_t)(b.tv_sec - a.tv_sec) * 1000000000U + (uint64_t)b.tv_nsec -
			     (uint64_t)a.tv_nsec) /
			    TEST_COST_PACKETS;
	}
	qsort(rounds, TEST_COST_ROUNDS, sizeof(rounds[0]), u64_cmp);
	return rounds[TEST_COST_ROUNDS / 2];
}

/*
 * A figure, not a check: what one decision costs a placed client's packet
 * (parse, hash, affinity hit, outer header) in each family.
 */
static void test_decision_cost_by_family(void **state)
{
	struct world *w = *state;
	uint64_t v4, v6, v6_64;

	tcp_packet(w, 60, "198.18.0.10", TEST_SERVER, 80, WIRE_TCP_ACK, true);
	v4 = decision_ns(w, 60);
	tcp6_packet(w, 80, "2001:db8:1::70", TEST_SERVER6, 80, WIRE_TCP_ACK);
	v6 = decision_ns(w, 80);
	w->snap.ipv6_prefix = 64;
	v6_64 = decision_ns(w, 80);
	print_message("decision of a placed client's packet, median of %u x %u: IPv4 %" PRIu64
		      " ns, IPv6 %" PRIu64 " ns, IPv6 widened to /64 %" PRIu64 " ns\n",
		      TEST_COST_ROUNDS, TEST_COST_PACKETS, v4, v6, v6_64);
	assert_int_equal(count(w, DP_ENCAPSULATED), 3ULL * TEST_COST_ROUNDS * TEST_COST_PACKETS);
}

#define TEST_QUIC_RATE 3   /* quic_reject_rate of the QUIC tests */
#define TEST_QUIC_SENT 5   /* datagrams each QUIC test sends in one millisecond */
#define TEST_QUIC_LEN  120 /* a datagram shorter than a real Initial: quoted whole */

/* A UDP datagram of len bytes from client:40000 to dst:dport into w->pkt, IPv4 or IPv6. */
static size_t udp_packet(struct world *w, size_t len, const char *client, const char *dst,
			 uint16_t dport)
{
	uint8_t *p = w->pkt;
	bool v6 = strchr(client, ':') != NULL;
	size_t ip = v6 ? 40 : 20;

	assert_true(len >= ip + 8 && len <= sizeof(w->pkt));
	memset(p, 0, len);
	if (v6) {
		p[0] = 0x60;
		p[4] = (uint8_t)((len - 40) >> 8);
		p[5] = (uint8_t)(len - 40);
		p[6] = IPPROTO_UDP;
		p[7] = 64;
		addr6(client, p + 8);
		addr6(dst, p + 24);
	} else {
		p[0] = 0x45;
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		p[6] = 0x40;
		p[8] = 64;
		p[9] = IPPROTO_UDP;
		*(uint32_t *)(void *)(p + 12) = addr(client);
		*(uint32_t *)(void *)(p + 16) = addr(dst);
	}
	wire_put16(p + ip, TEST_SPORT);
	wire_put16(p + ip + 2, dport);
	wire_put16(p + ip + 4, (uint16_t)(len - ip));
	for (size_t i = ip + 8; i < len; i++)
		p[i] = (uint8_t)(i * 11);
	return len;
}

/* The counters a QUIC datagram moves, in one line for the assertions below. */
static void assert_quic(const struct world *w, uint64_t rejected, uint64_t dropped, uint64_t passed,
			uint64_t sent, uint64_t limited)
{
	assert_int_equal(count(w, DP_QUIC_REJECTED), rejected);
	assert_int_equal(count(w, DP_QUIC_DROPPED), dropped);
	assert_int_equal(count(w, DP_QUIC_PASSED), passed);
	assert_int_equal(count(w, DP_QUIC_REJECT_SENT), sent);
	assert_int_equal(count(w, DP_QUIC_REJECT_LIMITED), limited);
}

/*
 * quic_policy, IPv4, switched between datagrams as a live change does: each
 * datagram counted once by its policy, never placed on a proxy nor sent to
 * one, with or without proxies. reject answers with a port unreachable
 * quoting the datagram (built in the thread's own buffer), at most
 * quic_reject_rate a second for the queue, the rest dropped and counted.
 */
static void test_quic_policies(void **state)
{
	struct world *w = *state;
	size_t len = udp_packet(w, TEST_QUIC_LEN, "198.18.0.10", TEST_SERVER, QUIC_PORT);
	struct pool_snapshot *snaps[] = {&w->snap, &w->empty};

	w->t->now_ms = TEST_NOW * 1000ULL;
	for (unsigned i = 0; i < 2; i++) {
		snaps[i]->quic = QUIC_POLICY_REJECT;
		snaps[i]->quic_reject_rate = TEST_QUIC_RATE;
	}
	for (unsigned i = 0; i < TEST_QUIC_SENT; i++)
		assert_int_equal(dp_handle(w->t, snaps[i % 2], w->pkt, len), NF_DROP);
	assert_quic(w, TEST_QUIC_SENT, 0, 0, TEST_QUIC_RATE, TEST_QUIC_SENT - TEST_QUIC_RATE);
	/* The reply: type 3 code 3, checksum good, the datagram quoted whole. */
	assert_int_equal(w->t->reply[0], WIRE_ICMP_UNREACHABLE);
	assert_int_equal(w->t->reply[1], WIRE_ICMP_PORT_UNREACHABLE);
	assert_int_equal(wire_checksum(w->t->reply, 8 + len), 0);
	assert_memory_equal(w->t->reply + 8, w->pkt, len);
	/* The sockets are -1 here: every reply handed over failed, and counted. */
	assert_int_equal(count(w, DP_TX_ERRORS), TEST_QUIC_RATE);

	/* A second later the bucket has refilled. */
	w->t->now_ms += 1000;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_quic(w, TEST_QUIC_SENT + 1, 0, 0, TEST_QUIC_RATE + 1,
		    TEST_QUIC_SENT - TEST_QUIC_RATE);

	w->snap.quic = QUIC_POLICY_DROP;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	w->snap.quic = QUIC_POLICY_PASS;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_quic(w, TEST_QUIC_SENT + 1, 1, 1, TEST_QUIC_RATE + 1,
		    TEST_QUIC_SENT - TEST_QUIC_RATE);

	/* Nothing went to a proxy, nobody was placed, no other policy moved. */
	assert_int_equal(count(w, DP_ENCAPSULATED), 0);
	assert_int_equal(w->t->ntx, 0);
	assert_int_equal(count(w, DP_AFFINITY_HITS), 0);
	assert_int_equal(count(w, DP_BYPASSED) + count(w, DP_REJECTED), 0);
	assert_int_equal(count(w, DP_NOT_WEB), 0);
	assert_int_equal(count(w, DP_PACKETS), TEST_QUIC_SENT + 3);
}

/*
 * What is not a client's QUIC: UDP to another port, a source outside
 * client_subnets (queued while the rules changed), TCP to 443 (web
 * traffic). And a datagram reject may not answer (RFC 1122: a broadcast
 * destination) is dropped, counted, unanswered, its token kept.
 */
static void test_quic_not_quic(void **state)
{
	struct world *w = *state;
	size_t len;

	w->t->now_ms = TEST_NOW * 1000ULL;
	w->snap.quic = QUIC_POLICY_REJECT;
	w->snap.quic_reject_rate = 1;
	len = udp_packet(w, TEST_QUIC_LEN, "198.18.0.10", TEST_SERVER, 53);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_NOT_WEB), 1);
	len = udp_packet(w, TEST_QUIC_LEN, "100.64.0.9", TEST_SERVER, QUIC_PORT);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_NOT_CLIENT), 1);
	len = udp_packet(w, TEST_QUIC_LEN, "2001:db9::9", TEST_SERVER6, QUIC_PORT);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(count(w, DP_NOT_CLIENT), 2);
	len = tcp_packet(w, 60, "198.18.0.10", TEST_SERVER, QUIC_PORT, WIRE_TCP_SYN, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_ENCAPSULATED), 1);
	assert_quic(w, 0, 0, 0, 0, 0);

	len = udp_packet(w, TEST_QUIC_LEN, "198.18.0.10", "255.255.255.255", QUIC_PORT);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_NOT_ANSWERED), 1);
	assert_quic(w, 1, 0, 0, 0, 0);
	/* The token is still there for a datagram that may be answered. */
	len = udp_packet(w, TEST_QUIC_LEN, "198.18.0.10", TEST_SERVER, QUIC_PORT);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_quic(w, 2, 0, 0, 1, 0);
}

/*
 * quic_policy for IPv6 clients: the same counters; reject answers with an
 * ICMPv6 destination unreachable, port unreachable (type 1 code 4), that
 * quotes the datagram and carries its checksum (the kernel writes its own).
 */
static void test_quic_ipv6(void **state)
{
	struct world *w = *state;
	size_t len = udp_packet(w, TEST_QUIC_LEN, "2001:db8:1::50", TEST_SERVER6, QUIC_PORT);

	w->t->now_ms = TEST_NOW * 1000ULL;
	w->snap.quic = QUIC_POLICY_REJECT;
	w->snap.quic_reject_rate = TEST_QUIC_RATE;
	for (unsigned i = 0; i < TEST_QUIC_SENT; i++)
		assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_quic(w, TEST_QUIC_SENT, 0, 0, TEST_QUIC_RATE, TEST_QUIC_SENT - TEST_QUIC_RATE);
	assert_int_equal(w->t->reply6[40], WIRE_ICMP6_UNREACHABLE);
	assert_int_equal(w->t->reply6[41], WIRE_ICMP6_PORT_UNREACHABLE);
	assert_int_equal(wire_get32(w->t->reply6 + 44), 0);
	assert_memory_equal(w->t->reply6 + 24, w->pkt + 8, 16); /* back to the client */
	assert_memory_equal(w->t->reply6 + 48, w->pkt, len);
	assert_int_equal(wire_checksum6(w->t->reply6 + 8, w->t->reply6 + 24, IPPROTO_ICMPV6,
					w->t->reply6 + 40, 8 + len),
			 0);
	w->snap.quic = QUIC_POLICY_DROP;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	w->snap.quic = QUIC_POLICY_PASS;
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_quic(w, TEST_QUIC_SENT, 1, 1, TEST_QUIC_RATE, TEST_QUIC_SENT - TEST_QUIC_RATE);
	assert_int_equal(count(w, DP_IPV6_PACKETS), TEST_QUIC_SENT + 2);
	assert_int_equal(count(w, DP_ENCAPSULATED) + w->t->ntx6 + w->t->ntx, 0);
	assert_int_equal(count(w, DP_IPV6_PLACED), 0);
}

/* no_proxy_policy for IPv6: bypass, drop, and reject with ICMPv6 administratively prohibited. */
static void test_ipv6_no_proxy(void **state)
{
	struct world *w = *state;
	size_t len = tcp6_packet(w, 60, "2001:db8:1::50", TEST_SERVER6, 80, WIRE_TCP_SYN);

	w->empty.no_proxy = NO_PROXY_BYPASS;
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_ACCEPT);
	w->empty.no_proxy = NO_PROXY_DROP;
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	w->empty.no_proxy = NO_PROXY_REJECT;
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_BYPASSED), 1);
	assert_int_equal(count(w, DP_NO_PROXY_DROPPED), 1);
	assert_int_equal(count(w, DP_REJECTED), 1);
	assert_int_equal(count(w, DP_REJECT_SENT), 1);
	assert_int_equal(w->t->reply6[40], WIRE_ICMP6_UNREACHABLE);
	assert_int_equal(w->t->reply6[41], WIRE_ICMP6_ADMIN_PROHIBITED);
	assert_memory_equal(w->t->reply6 + 48, w->pkt, len);
	/* Never to a RST. */
	w->pkt[53] = WIRE_TCP_RST;
	w->t->now++;
	assert_int_equal(dp_handle(w->t, &w->empty, w->pkt, len), NF_DROP);
	assert_int_equal(count(w, DP_REJECT_SENT), 1);
	assert_int_equal(count(w, DP_NOT_ANSWERED), 1);
}

/* A thread with no queue, as datapath_set_queues would have made it, for the bookkeeping. */
static struct datapath_thread *fake_thread(struct datapath *dp, unsigned i)
{
	struct datapath_thread *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->dp = dp;
	t->raw_fd = t->icmp_fd = t->icmp6_fd = -1;
	t->qs = DP_OFFLINE;
	dp->threads[i] = t;
	dp->nthreads = i + 1;
	return t;
}

/* Counters are summed over threads and survive the threads that counted them. */
/*
 * The kernel fast path for the tests that record clients (needs CAP_BPF:
 * skipped otherwise, and says so), with w->snap's slots published.
 */
static struct fastpath *fast_open(struct world *w)
{
	char err[256];
	struct fastpath *fp = fastpath_open(AFFINITY_MIN_CLIENTS, err, sizeof(err));

	if (fp == NULL && geteuid() != 0) {
		fprintf(stderr, "# skipped: %s\n", err);
		skip();
	}
	if (fp == NULL)
		fail_msg("fast path: %s", err);
	fastpath_publish(fp, &w->snap);
	w->snap.fast = fp;
	return fp;
}

static bool recorded(const struct fastpath *fp, const char *client)
{
	struct fastpath_client rec;

	return fastpath_client_get(fp, addr(client), &rec) == 0;
}

/*
 * Finding: a packet queued before the rules caught up (a proxy just added,
 * whose own port-80 fetch reached the queue; a subnet just removed) was
 * proxied and recorded for the kernel, which then looped the proxy's
 * fetches back to a proxy. Only what the rules queue is proxied or
 * recorded: a client in client_subnets that is no proxy, seen on an interface.
 */
static void test_a_proxy_or_outsider_is_never_recorded(void **state)
{
	struct world *w = *state;
	struct fastpath *fp = fast_open(w);
	struct fastpath_client rec;
	const uint32_t indev = 7;
	size_t len;

	w->t->indev = indev;
	/* A client: proxied and recorded, with the interface it came in on. */
	len = tcp_packet(w, 60, "198.51.100.77", "203.0.113.80", 80, WIRE_TCP_SYN, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_int_equal(w->t->ntx, 1);
	assert_int_equal(fastpath_client_get(fp, addr("198.51.100.77"), &rec), 0);
	assert_int_equal(rec.ifindex, indev);
	assert_int_equal(rec.scope, w->snap.fast_scope);
	assert_int_equal(rec.gen, w->targets[rec.slot].fast_gen);

	/* A proxy's own fetch, inside a client subnet: routed as the new rules do. */
	w->t->ntx = 0;
	uint64_t learned = count(w, DP_FAST_LEARNED), encapsulated = count(w, DP_ENCAPSULATED);
	len = tcp_packet(w, 60, "198.51.100.3", "203.0.113.80", 80, WIRE_TCP_SYN, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	/* A source outside client_subnets. */
	len = tcp_packet(w, 60, "203.0.113.9", "203.0.113.80", 80, WIRE_TCP_SYN, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_ACCEPT);
	assert_int_equal(w->t->ntx, 0);
	assert_int_equal(count(w, DP_ENCAPSULATED), encapsulated);
	assert_int_equal(count(w, DP_FAST_LEARNED), learned);
	assert_int_equal(count(w, DP_NOT_CLIENT), 2);
	assert_false(recorded(fp, "198.51.100.3"));
	assert_false(recorded(fp, "203.0.113.9"));

	/* A packet that names no interface is proxied but never recorded. */
	w->t->indev = 0;
	len = tcp_packet(w, 60, "198.18.0.78", "203.0.113.80", 80, WIRE_TCP_SYN, true);
	assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
	assert_false(recorded(fp, "198.18.0.78"));
	fastpath_close(fp);
}

/*
 * Finding: client_subnets losing a subnet forgot the records before the
 * rules changed, and packets still queued recorded their clients again.
 * Here the subnet 198.18.0.0/15 goes: the new snapshot is published, the
 * rules change, the records are forgotten, and the 50 clients' packets
 * queued before the rules changed are decided around all that, by a thread
 * on the new snapshot or one still on the old. No record of the removed
 * subnet is left for the kernel to use, and none at all after the walk.
 */
static void test_a_removed_subnet_keeps_no_record(void **state)
{
	struct world *w = *state;
	struct fastpath *fp = fast_open(w);
	static struct pool_snapshot shrunk; /* 8 KiB of port map: not on the stack */
	struct affinity_table walked;
	enum { CLIENTS = 50 };
	char client[CLIENTS][INET_ADDRSTRLEN];
	size_t len;

	w->t->indev = 3;
	for (unsigned i = 0; i < CLIENTS; i++) {
		snprintf(client[i], sizeof(client[i]), "198.18.0.%u", 100 + i);
		len = tcp_packet(w, 60, client[i], "203.0.113.80", 80, WIRE_TCP_SYN, true);
		assert_int_equal(dp_handle(w->t, &w->snap, w->pkt, len), NF_DROP);
		assert_true(recorded(fp, client[i]));
	}
	w->t->ntx = 0;

	/* The change: 198.51.100.0/24 alone. */
	shrunk = w->snap;
	shrunk.client_subnets[0] = shrunk.client_subnets[1];
	shrunk.nsubnets = 1;
	fastpath_publish(fp, &shrunk);
	assert_int_not_equal(shrunk.fast_scope, w->snap.fast_scope);
	w->t->now++; /* a second later: the thread's once-a-second cache lets it record again */
	for (unsigned i = 0; i < CLIENTS; i++) {
		/* Queued before the rules changed; every fifth decided on the old snapshot. */
		const struct pool_snapshot *on = i % 5 == 0 ? &w->snap : &shrunk;
		if (i == CLIENTS / 2)
			fastpath_forget_all(fp); /* the manager's last step */
		len = tcp_packet(w, 60, client[i], "203.0.113.80", 80, WIRE_TCP_ACK, true);
		assert_int_equal(dp_handle(w->t, on, w->pkt, len),
				 on == &shrunk ? NF_ACCEPT : NF_DROP);
	}

	unsigned usable = 0, left = 0;
	for (unsigned i = 0; i < CLIENTS; i++) {
		struct fastpath_client rec;
		if (fastpath_client_get(fp, addr(client[i]), &rec) == 0)
			usable += rec.scope == shrunk.fast_scope;
	}
	assert_int_equal(affinity_init(&walked, AFFINITY_MIN_CLIENTS, TEST_IDLE), 0);
	fastpath_walk(fp, &walked, test_key);
	for (unsigned i = 0; i < CLIENTS; i++)
		left += recorded(fp, client[i]);
	print_message("datapath: records of the removed subnet the kernel may use: %u of %u; "
		      "left after the walk: %u\n",
		      usable, CLIENTS, left);
	assert_int_equal(usable, 0);
	assert_int_equal(left, 0);
	affinity_free(&walked);
	fastpath_close(fp);
}

static void test_counters_outlive_threads(void **state)
{
	struct datapath dp;
	uint64_t out[DP_COUNTER_COUNT], malformed[PACKET_ERR_COUNT];
	struct datapath_slot_counters sc;
	struct datapath_thread *a, *b;

	(void)state;
	datapath_init(&dp);
	a = fake_thread(&dp, 0);
	b = fake_thread(&dp, 1);
	a->counters[DP_PACKETS] = 5;
	b->counters[DP_PACKETS] = 7;
	a->malformed[PACKET_ERR_IHL] = 2;
	a->slots[3] = (struct datapath_slot_counters){.hits = 1, .packets = 2, .bytes = 100};
	b->slots[3] = (struct datapath_slot_counters){.hits = 0, .packets = 3, .bytes = 50};
	a->loops = 9;
	b->loops = 4;
	assert_int_equal(datapath_min_progress(&dp), 4);

	datapath_counters(&dp, out, malformed);
	assert_int_equal(out[DP_PACKETS], 12);
	assert_int_equal(malformed[PACKET_ERR_IHL], 2);
	datapath_slot_counters(&dp, 3, &sc);
	assert_int_equal(sc.hits, 1);
	assert_int_equal(sc.packets, 5);
	assert_int_equal(sc.bytes, 150);
	datapath_slot_counters(&dp, PROXY_SLOTS_MAX, &sc);
	assert_int_equal(sc.packets, 0);

	datapath_stop(&dp);
	assert_int_equal(dp.nthreads, 0);
	assert_int_equal(datapath_min_progress(&dp), 0);
	datapath_counters(&dp, out, NULL);
	assert_int_equal(out[DP_PACKETS], 12);
	datapath_slot_counters(&dp, 3, &sc);
	assert_int_equal(sc.packets, 5);
	assert_int_equal(sc.bytes, 150);
}

static struct pool_snapshot *empty_snapshot(uint64_t generation)
{
	struct settings s;
	char err[256];
	struct pool_snapshot *snap;

	settings_defaults(&s);
	s.maglev_table_size = TEST_TABLE_SIZE;
	snap = pool_snapshot_build(&(struct pool_build){.members = NULL,
							.nmembers = 0,
							.settings = &s,
							.hash_key = test_key,
							.affinity = NULL,
							.generation = generation},
				   err, sizeof(err));
	if (snap == NULL)
		fail_msg("%s", err);
	return snap;
}

/* A replaced snapshot is freed only once every thread has moved past it (or sleeps in recv). */
static void test_publish_and_reclaim(void **state)
{
	struct datapath dp;
	struct datapath_thread *t;
	struct affinity_table *old = calloc(1, sizeof(*old));

	(void)state;
	assert_non_null(old);
	assert_int_equal(affinity_init(old, AFFINITY_MIN_CLIENTS, TEST_IDLE), 0);
	datapath_init(&dp);
	t = fake_thread(&dp, 0);
	t->qs = 0; /* busy, on the snapshot of before the first publish */

	datapath_publish(&dp, empty_snapshot(1), NULL);
	assert_int_equal(dp.nretired, 0);
	assert_int_equal(dp.current->generation, 1);
	datapath_publish(&dp, empty_snapshot(2), old);
	assert_int_equal(dp.current->generation, 2);
	assert_int_equal(dp.nretired, 1);
	datapath_reclaim(&dp);
	assert_int_equal(dp.nretired, 1); /* the thread may still read generation 1 */

	t->qs = dp.epoch; /* a quiescent point after the last publish */
	datapath_reclaim(&dp);
	assert_int_equal(dp.nretired, 0);

	datapath_publish(&dp, empty_snapshot(3), NULL);
	assert_int_equal(dp.nretired, 1);
	t->qs = DP_OFFLINE; /* blocked in recv: holds nothing */
	datapath_reclaim(&dp);
	assert_int_equal(dp.nretired, 0);
	datapath_stop(&dp);
	assert_null(dp.current);
}

/* Queue numbers out of range are refused before anything is bound. */
static void test_set_queues_refuses_range(void **state)
{
	const struct queue_options opt = {.maxlen = 1024, .fail_open = true};
	struct datapath dp;
	char err[256] = "";

	(void)state;
	datapath_init(&dp);
	assert_int_equal(datapath_set_queues(&dp, 0, 0, &opt, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out of range"));
	assert_int_equal(
	    datapath_set_queues(&dp, 0, SETTINGS_QUEUES_MAX + 1, &opt, err, sizeof(err)), -EINVAL);
	assert_int_equal(datapath_set_queues(&dp, 65535, 2, &opt, err, sizeof(err)), -EINVAL);
	assert_int_equal(dp.nthreads, 0);
	datapath_stop(&dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counter_names),
	    cmocka_unit_test_setup_teardown(test_not_web_accepted, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_by_policy, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_encapsulates_and_remembers, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_affinity_keeps_and_moves, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_icmp_error_follows_client, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_forged_icmp_errors_place_nobody, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_icmp_error_reasons, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_icmp_error_too_big_unanswered, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_later_fragment_unanswered, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_reject_rate_limited, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_frag_needed_budget_per_client, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_no_proxy_policies, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_too_big, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_a_proxy_or_outsider_is_never_recorded, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_a_removed_subnet_keeps_no_record, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_wrapped_6in4, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_wrapped_6in6, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_down_falls_back_to_6in4, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_mixed_families_one_table, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_prefix_places_a_64_together, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_packet_too_big, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_not_ours_and_malformed, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_icmp_error_follows_client, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_no_proxy, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_quic_policies, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_quic_not_quic, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_quic_ipv6, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_fragments_follow_their_client, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_decision_cost_by_family, world_setup,
					    world_teardown),
	    cmocka_unit_test(test_counters_outlive_threads),
	    cmocka_unit_test(test_publish_and_reclaim),
	    cmocka_unit_test(test_set_queues_refuses_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
