/*
 * fastpath.h - droverd's kernel fast path: a tc ingress BPF program that
 * wraps and sends the packets of clients droverd has already placed, so
 * only a client's first packet (and anything unusual) makes the trip
 * through NFQUEUE to user space. See fastpath_abi.h for the contract.
 *
 * The control thread opens it, attaches it to the interfaces, publishes the
 * slots with every snapshot and calls fastpath_tick every second (heartbeat,
 * expiry, affinity refresh). Packet threads only call fastpath_learn.
 */
#ifndef DROVER_FASTPATH_H
#define DROVER_FASTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "affinity.h"
#include "fastpath_abi.h"
#include "hash.h"

struct fastpath; /* private */

struct pool_snapshot;

/* Per-slot traffic the kernel carried, summed over CPUs (same units as the NFQUEUE path's). */
struct fastpath_slot_totals {
	uint64_t hits;
	uint64_t packets;
	uint64_t bytes;
};

/*
 * Loads the program and its maps, sized for max_clients clients. Returns
 * NULL and a reason in err (no BPF support, missing CAP_BPF, verifier).
 * Nothing is attached yet.
 */
struct fastpath *fastpath_open(uint32_t max_clients, char *err, size_t errlen);

/* Where the packaged droverd pins its fast path. */
#define FASTPATH_PIN_DIR_DEFAULT "/sys/fs/bpf/drover"

/*
 * fastpath_open, with the maps pinned in pin_dir (on a bpffs; the system's
 * /sys/fs/bpf is mounted when missing), and the tcx and XDP links there too
 * once attached, so that the fast path outlives droverd (fastpath_leave). When
 * pin_dir holds what a previous droverd left, with this build's layout
 * (FASTPATH_ABI_VERSION and the maps' shapes, which include max_clients),
 * its maps are taken over with their client records, slot generations and
 * scope; anything else there is removed, and the log says why. A pin_dir
 * that cannot be used is logged and the fast path runs unpinned.
 */
struct fastpath *fastpath_open_pinned(uint32_t max_clients, const char *pin_dir, char *err,
				      size_t errlen);

/* The maps are a previous droverd's (fastpath_open_pinned took them over). */
bool fastpath_adopted(const struct fastpath *fp);
/* The maps are pinned: the fast path can outlive droverd. */
bool fastpath_pinned(const struct fastpath *fp);

/*
 * Detaches from every interface, removes whatever is pinned and frees
 * everything: the kernel stops carrying clients at once. NULL is fine.
 */
void fastpath_close(struct fastpath *fp);

/*
 * droverd goes, its fast path stays: pinned and attached, it carries the
 * clients it knows for the grace (fastpath_set_grace) counted from now,
 * for the next droverd to take over. Frees fp. Without pins (or detached),
 * the same as fastpath_close.
 */
void fastpath_leave(struct fastpath *fp);

/*
 * What a stop (not a restart) does after droverd has gone: takes drover's
 * classic filter off every interface and removes everything pinned in
 * pin_dir (links included, which takes their program off). Returns 0 or
 * -errno of the first failure; nothing there is 0.
 */
int fastpath_cleanup(const char *pin_dir);

/*
 * How long the kernel goes on carrying known clients without a heartbeat
 * from droverd (renewed every second): covers a restart. Applies at once.
 */
void fastpath_set_grace(struct fastpath *fp, uint32_t seconds);

/*
 * While hold is set (droverd just started and has no health verdicts yet),
 * publishing does not retire a slot the kernel carries clients for when the
 * snapshot only says it keeps none: its proxy is the same (address and
 * source) and not known to be down. A proxy that changed, or left, is
 * retired as always.
 */
void fastpath_hold(struct fastpath *fp, bool hold);

/*
 * Which programs carry clients (the setting fast_path_mode; "off" is the
 * manager's, which detaches both). The tc program is on every interface in
 * every mode: it carries what XDP leaves (XDP_PASS), as it always has.
 */
enum fastpath_mode {
	FASTPATH_MODE_AUTO, /* XDP in the driver (native) where it has it and gains, beside tc:
			       not on a veth, whose XDP copies each frame from the stack */
	FASTPATH_MODE_XDP,  /* native XDP wherever the driver has it, veths too; a driver
			       without it is a warning */
	FASTPATH_MODE_TC,   /* tc alone */
	FASTPATH_MODE_COUNT,
};

/*
 * Applies at once to the interfaces attached (XDP put on or taken off;
 * tc stays), and to those attached later. The default is FASTPATH_MODE_AUTO.
 */
void fastpath_set_mode(struct fastpath *fp, enum fastpath_mode mode);

/* Which program is first to see an interface's clients. */
enum fastpath_path {
	FASTPATH_PATH_NONE, /* not attached there */
	FASTPATH_PATH_TC,   /* tc alone (the mode, or no native XDP in the driver) */
	FASTPATH_PATH_XDP,  /* native XDP, tc behind it */
};

/*
 * The path of ifindex; why (when not NULL): the errno of the failed native
 * XDP attach (FASTPATH_PATH_TC in a mode that wants XDP), else 0.
 */
enum fastpath_path fastpath_interface_path(const struct fastpath *fp, int ifindex, int *why);
const char *fastpath_path_name(enum fastpath_path path);

/* Interfaces the program is attached to, at most. */
#define FASTPATH_IFACES_MAX 256

/*
 * Attaches to every interface but loopback that has none yet, and forgets
 * interfaces that went away. Returns the number attached now. Detaching is
 * fastpath_detach_all (the fast path switched off).
 */
unsigned fastpath_attach_all(struct fastpath *fp);
void fastpath_detach_all(struct fastpath *fp);
bool fastpath_attached(const struct fastpath *fp);

/*
 * The interfaces the program is attached to: their indexes into ifindex[0..max),
 * in the order they were attached. Returns how many there are (at most max);
 * 0 for NULL or a detached fast path.
 */
unsigned fastpath_interfaces(const struct fastpath *fp, int *ifindex, unsigned max);

/*
 * Writes the slots of snap (address, tunnel source and MTU of every slot
 * that keeps clients, and the IPv6 ones of those with an IPv6 address) into the kernel and stamps
 * each target's fast_gen. A slot that stops keeping clients, or whose proxy address or source
 * changes, gets a new generation: the kernel stops using its clients' records
 * at once and their next packets go to droverd for a new decision. Likewise
 * every record made before snap's client subnets or proxy addresses changed
 * (snap->fast_scope stamped), even one a packet thread still on an older
 * snapshot writes later. Also writes snap's web ports and its affinity
 * table's timeout. Call before publishing snap.
 */
void fastpath_publish(struct fastpath *fp, struct pool_snapshot *snap);

/*
 * Every second: renews the heartbeat (the kernel falls back to NFQUEUE for
 * everything when droverd stops renewing it for the grace). Every second too, or every
 * few seconds once there are hundreds of thousands of clients (at most 10 s,
 * at least twice per affinity timeout): removes records that are idle or
 * stale (another slot generation or scope), and refreshes the affinity
 * entries of clients the kernel has carried, so active-client counts,
 * lookups and drains see them.
 */
void fastpath_tick(struct fastpath *fp, struct affinity_table *affinity,
		   const uint8_t key[HASH_KEY_BYTES]);

/* The walk over the records that fastpath_tick makes when it is due, now. */
void fastpath_walk(struct fastpath *fp, struct affinity_table *affinity,
		   const uint8_t key[HASH_KEY_BYTES]);

/* The slot the kernel holds for the proxy at address (network byte order), or 0. */
uint16_t fastpath_slot_of(const struct fastpath *fp, uint32_t address);

/* Forgets a client (an address that became a proxy, which is never a client). */
void fastpath_forget(struct fastpath *fp, uint32_t client);

/* Removes every client record (web ports or client subnets changed). */
void fastpath_forget_all(struct fastpath *fp);

/*
 * Packet threads: the kernel may carry client's next packets that come in
 * on placed->ifindex to placed->slot, while the slot is at generation
 * placed->gen and the scope is placed->scope (both from the snapshot the
 * decision was made on: the target's fast_gen, the snapshot's fast_scope).
 * The caller has checked that client may be a client (pool_is_client).
 * A syscall: call it for packets the kernel could have carried, which
 * happen only before the record exists. Returns 0 or -errno (-EINVAL
 * without an interface).
 */
int fastpath_learn(struct fastpath *fp, uint32_t client, const struct fastpath_client *placed);

/*
 * Packet threads: fastpath_learn for an IPv6 client (the kernel wraps its
 * packets in IPv6-in-IPv6, or in 6in4 to a proxy without a usable IPv6
 * address). client is
 * its identity widened to the snapshot's ipv6_client_prefix (client_widen),
 * the key the kernel makes of every packet's source with the prefix
 * publishing gave it, so one record serves the whole prefix.
 */
int fastpath_learn6(struct fastpath *fp, const uint8_t client[FASTPATH_IPV6_ADDR_LEN],
		    const struct fastpath_client *placed);

/* Control thread and tests: the kernel's record of the widened IPv6 identity, or -ENOENT. */
int fastpath_client6_get(const struct fastpath *fp, const uint8_t client[FASTPATH_IPV6_ADDR_LEN],
			 struct fastpath_client *out);

/* Control thread and tests: the kernel's record of client, or -ENOENT. */
int fastpath_client_get(const struct fastpath *fp, uint32_t client, struct fastpath_client *out);

void fastpath_slot_totals(const struct fastpath *fp, uint16_t slot,
			  struct fastpath_slot_totals *out);
void fastpath_counters(const struct fastpath *fp, uint64_t out[FASTPATH_COUNTER_COUNT]);
const char *fastpath_counter_name(enum fastpath_counter c);
/* Client records in the kernel at the last tick, both families. */
uint64_t fastpath_clients(const struct fastpath *fp);

/*
 * How it attaches: "tcx link" (kernel 6.6 and later; pinned next to the
 * maps, or gone with droverd's process when nothing is pinned) or "clsact
 * filter" (older kernels, or the environment variable
 * DROVER_FAST_PATH_ATTACH=clsact). Either way, left behind by droverd, it
 * carries known clients until the grace runs out, and the next start gives
 * it its own program in one step.
 */
const char *fastpath_attach_kind(const struct fastpath *fp);

/* The loaded programs, for BPF_PROG_TEST_RUN in the unit tests: tc, and XDP. */
int fastpath_program_fd(const struct fastpath *fp);
int fastpath_xdp_program_fd(const struct fastpath *fp);

#endif
