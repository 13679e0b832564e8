/*
 * probe.h - health probes of every proxy with libcurl's multi interface,
 * driven by droverd's libevent loop (CURLMOPT_SOCKETFUNCTION and
 * CURLMOPT_TIMERFUNCTION): no blocking call, no thread per probe.
 *
 * Each target is probed once per interval; the probes of a round are spread
 * evenly over the interval rather than fired at once. Results are reported
 * through the callback with a named result and the probe's duration.
 *
 * Each probe in flight holds a socket, so their number is capped
 * (prober_set_max_in_flight); a probe due while the cap is reached waits
 * its turn. A probe that fails for want of this host's own resources
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM) is reported as CHECK_LOCAL, never as a
 * failure of the proxy.
 */
#ifndef DROVER_PROBE_H
#define DROVER_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"
#include "probe_kind.h"

struct event_base;
struct prober;

#define PROBE_URL_MAX  512
#define PROBE_HOST_MAX 256
/* Probes in flight at once until prober_set_max_in_flight says otherwise. */
#define PROBE_MAX_IN_FLIGHT_DEFAULT 256

struct probe_config {
	enum probe_kind kind;
	uint32_t interval_ms;
	uint32_t timeout_ms; /* whole probe, connect included */
	uint16_t port;	     /* proxy port probed (explicit-proxy port for http-proxy) */
	uint16_t status_min, status_max; /* expected HTTP status range, inclusive */
	char url[PROBE_URL_MAX];	 /* http-proxy: the canary URL; http: the path, e.g. "/" */
	char host[PROBE_HOST_MAX];	 /* optional Host header; empty = curl's default */
};

/* Which of a proxy's addresses a probe goes to. */
enum probe_family {
	PROBE_FAMILY_IPV4,
	PROBE_FAMILY_IPV6,
};

/*
 * One probe target: a proxy id and one of its addresses. A proxy with both
 * families is two targets with the same id, one per family, probed alike
 * (kind, port, URL, Host); each reports its own results.
 */
struct probe_target {
	int64_t id;
	enum probe_family family;
	uint32_t address;     /* PROBE_FAMILY_IPV4: network byte order */
	uint8_t address6[16]; /* PROBE_FAMILY_IPV6: as on the wire */
	struct probe_config config;
};

typedef void (*probe_result_fn)(void *arg, int64_t id, enum probe_family family,
				enum check_result result, uint32_t duration_ms);

/*
 * curl_global_init for the probes: call it once at start-up, before any
 * thread is started and before prober_new (curl's global set-up is not
 * thread-safe). Returns 0 or -EIO. probe_global_cleanup undoes it at exit.
 */
int probe_global_init(void);
void probe_global_cleanup(void);

/*
 * NULL on failure (curl_multi_init or libevent allocation). fn is called from
 * base's loop, once per finished probe; it may call prober_set_targets but
 * not prober_free.
 */
struct prober *prober_new(struct event_base *base, probe_result_fn fn, void *arg);

/*
 * Replaces the target list. Targets whose id, address and config are
 * unchanged keep their schedule and any probe in flight; removed targets'
 * probes are cancelled (their results never reported); new ones start within
 * one interval. Returns 0 or -ENOMEM.
 */
int prober_set_targets(struct prober *p, const struct probe_target *targets, size_t n);

/*
 * Probes in flight right now; probes started, and probes skipped because the
 * target's previous probe was still running, since prober_new (for tests
 * and metrics).
 */
size_t prober_in_flight(const struct prober *p);
uint64_t prober_started(const struct prober *p);
uint64_t prober_skipped(const struct prober *p);
/* Probes that had to wait for room in flight, since prober_new; those waiting now. */
uint64_t prober_deferred(const struct prober *p);
size_t prober_waiting(const struct prober *p);

/*
 * At most max probes in flight at once (0: no cap); the default is
 * PROBE_MAX_IN_FLIGHT_DEFAULT. Probes already running are left to finish;
 * with more room, waiting probes start at once (their results may be
 * reported from within this call).
 */
void prober_set_max_in_flight(struct prober *p, size_t max);

void prober_free(struct prober *p);

#endif
