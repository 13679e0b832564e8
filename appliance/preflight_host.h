/*
 * preflight_host.h - the checks `droverctl preflight' makes of this host:
 * sysctls, droverd's chain in the kernel, routes and MTUs towards the
 * proxies, the fast path's interfaces, and, on EC2, the source/destination
 * check. Each adds its verdicts to a preflight_report (preflight.h). They
 * run in droverctl, with the caller's privileges: reading the rules needs
 * CAP_NET_ADMIN (iptables); without it the check says so and is skipped.
 * Single-threaded; they run programs (iptables, ip, aws) and wait for them.
 */
#ifndef DROVER_PREFLIGHT_HOST_H
#define DROVER_PREFLIGHT_HOST_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "preflight.h"

/* Devices the checks look at, at most: the clients' and the proxies' sides. */
#define PREFLIGHT_DEVS_MAX 32

struct preflight_devs {
	char name[PREFLIGHT_DEVS_MAX][IF_NAMESIZE];
	bool multipath[PREFLIGHT_DEVS_MAX]; /* a client route through it has several next hops */
	size_t count;
};

/* Adds dev to devs once; a full list keeps what it has. */
void preflight_devs_add(struct preflight_devs *devs, const char *dev, bool multipath);

/*
 * Reads the integer sysctl at /proc/sys/PATH (e.g. "net/ipv4/ip_forward").
 * Returns 0 and sets *value, or -errno.
 */
int preflight_host_sysctl(const char *path, int *value);

/*
 * The route towards dst (network byte order) as the kernel chooses it now:
 * the device, the source address and the path MTU (the socket's IP_MTU, as
 * droverd reads it). Returns 0, or -errno (-ENETUNREACH: no route).
 */
int preflight_host_route(uint32_t dst, char dev[IF_NAMESIZE], uint32_t *source, unsigned *path_mtu);

/* The MTU of a device (/sys/class/net/DEV/mtu); 0 when it cannot be read. */
int preflight_host_dev_mtu(const char *dev);

/*
 * The devices the IPv4 client subnets (settings' client_subnets text,
 * "A.B.C.D/N,...", IPv6 entries skipped) are routed through, into *devs.
 */
void preflight_host_client_devs(const char *client_subnets, struct preflight_devs *devs);

/*
 * Forwarding (IPv4; IPv6 too with ipv6_clients), ICMP redirects off (all,
 * default and each device of clients) and rp_filter on clients and proxies
 * (each device of both).
 */
void preflight_host_sysctls(struct preflight_report *r, const struct preflight_devs *clients,
			    const struct preflight_devs *proxies, bool ipv6_clients);

/*
 * droverd's chain in the kernel: every rule of doc (droverd's document, as
 * `droverctl rules' prints it; its IPv6 part with ip6tables) in chain DROVER,
 * nothing more, and FORWARD's first rule the jump to it. managed says
 * whether droverd installs the rules itself (the fix differs).
 */
void preflight_host_rules(struct preflight_report *r, const char *doc, bool managed);

/* Interfaces droverd may report the fast path attached to, at most (as fastpath.h). */
#define PREFLIGHT_ATTACHED_MAX 256

/* The fast path on every interface but loopback: attached names the ones droverd reports. */
void preflight_host_fast_path(struct preflight_report *r, const char *state, bool wanted,
			      const char *const *attached, size_t nattached);

/*
 * On EC2 (the instance metadata service answers an IMDSv2 token request
 * within timeout_ms; base is its URL, normally http://169.254.169.254), the
 * instance's source/destination check, read with the aws command (it must
 * be off: the appliance forwards packets that are not its own); elsewhere
 * a skip saying so. Never waits longer than timeout_ms for the metadata
 * service, nor more than a few seconds for aws.
 */
void preflight_host_aws(struct preflight_report *r, const char *base, unsigned timeout_ms);

#endif
