/*
 * privilege.h - droverd's least privilege: run as an unprivileged user that
 * keeps CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF and nothing else.
 *
 * Those three are all droverd needs after start: CAP_NET_ADMIN to bind
 * NFQUEUE queues and send verdicts (nfnetlink checks it on every message, in
 * the sending thread), to run iptables-restore, to write /proc/sys/net and to
 * attach the fast path to interfaces; CAP_NET_RAW for the raw IPIP and ICMP
 * sockets; CAP_BPF to load the fast path (fastpath.h), also when it is
 * switched on at run time. They are kept in the
 * effective, permitted, inheritable and ambient sets, so the packet threads
 * (created later) and the iptables children (not set-uid) have them too; the
 * bounding set is cut down to them, and no_new_privs is set.
 */
#ifndef DROVER_PRIVILEGE_H
#define DROVER_PRIVILEGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The capability bits droverd keeps (CAP_NET_ADMIN 12, CAP_NET_RAW 13, CAP_BPF 39). */
#define PRIVILEGE_KEEP_MASK ((UINT64_C(1) << 12) | (UINT64_C(1) << 13) | (UINT64_C(1) << 39))

/*
 * Becomes user (name or numeric id) with its primary group, keeping only
 * PRIVILEGE_KEEP_MASK. Must run before any thread is started: capabilities
 * are per thread. Started as that user already (systemd with ambient
 * capabilities), it changes nothing and returns 0. Each directory in dirs
 * (droverd's state: database, socket) is created 0750 for the user when
 * missing; an existing one must belong to the user, and root-owned regular
 * files in it (a database made by an earlier root run) are handed to the
 * user. Returns 0 or -errno with the reason in err.
 */
int privilege_drop(const char *user, const char *const *dirs, size_t ndirs, char *err,
		   size_t errlen);

#endif
