/*
 * clock.h - the clocks droverd reads, in one place.
 *
 * Everything that measures intervals (timeouts, probes, sessions, rate
 * limits, the fast path's heartbeat) reads CLOCK_MONOTONIC: it never jumps
 * when the wall clock is set. The packet path reads whole seconds from the
 * coarse variant, which costs no more than a memory read. Wall-clock time is
 * only for what a person reads (audit lines, creation dates).
 *
 * Safe from any thread; no state.
 */
#ifndef DROVER_CLOCK_H
#define DROVER_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CLOCK_NS_PER_S	1000000000ULL
#define CLOCK_NS_PER_MS 1000000ULL
#define CLOCK_MS_PER_S	1000ULL

/* Monotonic nanoseconds; the same clock as the BPF programs' bpf_ktime_get_ns(). */
static inline uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * CLOCK_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Monotonic milliseconds. */
static inline uint64_t clock_now_ms(void)
{
	return clock_now_ns() / CLOCK_NS_PER_MS;
}

/* Monotonic whole seconds from the coarse clock: cheap enough for every packet burst. */
static inline uint32_t clock_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)ts.tv_sec;
}

/* Wall-clock seconds since the epoch, for records a person reads. */
static inline int64_t clock_wall_s(void)
{
	return (int64_t)time(NULL);
}

#endif
