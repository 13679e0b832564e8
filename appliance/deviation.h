/*
 * deviation.h - the clients an appliance keeps on another proxy than the
 * Maglev table would pick (its deviations), as it tells its peers, and how a
 * peer's list merges into the local affinity table.
 *
 * Every appliance of a cluster maps a client alike from the same table and
 * hash key, except for the clients its affinity table keeps where they were
 * when the table changed (a drain, an added proxy, a weight change, a
 * failback) until they go idle. Only those need telling: a peer that takes
 * such a client over (VRRP failover, ECMP moving a flow) then sends it to
 * the proxy it already uses. Proxies travel by their stable id, never by a
 * slot (slots are an appliance's own numbering).
 *
 * Pure code: no I/O, no globals, no clock of its own; the manager calls it
 * from its control loop (manager_cluster.c).
 */
#ifndef DROVER_DEVIATION_H
#define DROVER_DEVIATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "affinity.h"
#include "hash.h"
#include "maglev.h"

/* The most deviations an appliance exports; the rest are counted, not sent. */
#define DEVIATION_MAX 16384
/*
 * An entry a peer saw only this many seconds later than the local copy does
 * not refresh it: transfers round ages to whole seconds, and two appliances
 * echoing an entry to each other must not keep it alive by that rounding.
 */
#define DEVIATION_REFRESH_SLACK_S 5

/* One client kept off the table's choice. */
struct deviation {
	uint32_t client;  /* IPv4 address, network byte order */
	uint32_t age;	  /* seconds since the client was last seen */
	int64_t proxy_id; /* the proxy it is kept on (stable id) */
};

/* What the last export found. */
struct deviation_export {
	size_t n;	   /* deviations in the list */
	uint64_t overflow; /* deviations that did not fit (past the cap) */
	uint64_t digest;   /* of the (client, proxy) pairs, in order: tells a changed list */
};

/* What merges did, counted since the start. */
struct deviation_merge_stats {
	uint64_t imported;	  /* clients this appliance did not hold: now on the peer's proxy */
	uint64_t refreshed;	  /* copies whose last-seen moved on with the peer's */
	uint64_t kept;		  /* clients this appliance holds already: left alone */
	uint64_t refused_unknown; /* proxy unknown here, or taking no clients (drained...) */
	uint64_t refused_full;	  /* the client's bucket held only live entries */
	uint64_t expired;	  /* idle past the timeout already */
};

/*
 * Lists into out (cap entries at most) every live entry of t whose slot
 * differs from table's choice for its client (hashed with key) and whose
 * slot has a proxy id in id_of_slot (nslots entries, 0: no proxy, or one
 * that takes no clients: its clients move anyway). IPv4 clients only: an
 * IPv6 client's entry holds a tag of its hash, no address a peer could use.
 * Sets *ex. Control thread.
 */
void deviation_export(const struct affinity_table *t, uint32_t now,
		      const uint8_t key[HASH_KEY_BYTES], const struct maglev_table *table,
		      const int64_t *id_of_slot, size_t nslots, struct deviation *out, size_t cap,
		      struct deviation_export *ex);

/* The local slot of a proxy id that takes clients, or 0 (unknown, drained, disabled, down). */
typedef uint16_t deviation_slot_fn(void *arg, int64_t proxy_id);

/*
 * Merges a peer's deviations into t: a client t holds no live entry for
 * gets the peer's proxy (when slot_of gives one) with the peer's idle age,
 * so it expires on schedule; an entry t holds is left alone (refreshed only,
 * per affinity_import). Counts into st.
 */
void deviation_merge(struct affinity_table *t, const uint8_t key[HASH_KEY_BYTES], uint32_t now,
		     const struct deviation *list, size_t n, deviation_slot_fn *slot_of, void *arg,
		     struct deviation_merge_stats *st);

/*
 * The text form peers exchange: "A.B.C.D,ID,AGE" per deviation, joined by
 * ';' (nothing a JSON string must escape). DEVIATION_TEXT_MAX bytes hold a
 * whole list of DEVIATION_MAX.
 */
#define DEVIATION_TEXT_ENTRY_MAX (15 + 1 + 20 + 1 + 10 + 1)
#define DEVIATION_TEXT_MAX	 (DEVIATION_MAX * DEVIATION_TEXT_ENTRY_MAX + 1)

/*
 * Writes the first entries of list that fit whole into buf (len bytes, at
 * least 1, NUL-terminated) in text form. Returns how many it wrote.
 */
size_t deviation_format(const struct deviation *list, size_t n, char *buf, size_t len);

/*
 * Parses the text form (len bytes, no NUL needed) into out (cap entries).
 * False when an entry is malformed (a bad address, an id or age that is not
 * a whole number) or there are more than cap; *n then says how many parsed.
 */
bool deviation_parse(const char *text, size_t len, struct deviation *out, size_t cap, size_t *n);

#endif
