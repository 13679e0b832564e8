/*
 * health.h - a proxy's health as its probes see it: the rise/fall state
 * machine and the named result of each check. Pure: no globals, no I/O;
 * time is passed in, so tests drive it with a fake clock.
 *
 * Health (up / down / going up / going down) is runtime only and kept apart
 * from the stored admin state (enabled / drain / disabled).
 */
#ifndef DROVER_HEALTH_H
#define DROVER_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

enum health_state {
	HEALTH_DOWN,
	HEALTH_GOING_UP, /* down, with some successes towards rise */
	HEALTH_UP,
	HEALTH_GOING_DOWN, /* up, with some failures towards fall */
};

/* One check's outcome, named as operators know them from HAProxy. */
enum check_result {
	CHECK_NONE,    /* not checked yet */
	CHECK_L4OK,    /* TCP connect succeeded (tcp probes) */
	CHECK_L4TOUT,  /* TCP connect timed out */
	CHECK_L4CON,   /* TCP connect refused or failed (RST, unreachable) */
	CHECK_L7OK,    /* HTTP answer with an expected status */
	CHECK_L7STS,   /* HTTP answer with an unexpected status */
	CHECK_L7TOUT,  /* connected, but no complete HTTP answer in time */
	CHECK_L7RSP,   /* connected, but the answer was not valid HTTP */
	CHECK_SOCKERR, /* the probe could not be set up (bad URL, proxy setting) */
	/*
	 * The appliance itself had no resources for the probe (out of
	 * descriptors or memory: EMFILE, ENFILE, ENOBUFS, ENOMEM): says
	 * nothing about the proxy, so it neither raises nor lowers it.
	 */
	CHECK_LOCAL,
	CHECK_RESULT_COUNT,
};

struct health {
	enum health_state state;
	unsigned successes; /* consecutive, while going up */
	unsigned failures;  /* consecutive, while going down */
	enum check_result last_result;
	uint32_t last_duration_ms;
	uint64_t last_change_ms; /* when state last flipped between up and down */
	uint64_t checks;	 /* results that count: every one but LOCAL */
	uint64_t failed_checks;
	uint64_t local_checks; /* LOCAL results, kept apart from checks */
	uint64_t changes;      /* up <-> down transitions */
};

/* Starts down (needing rise successes) unless assume_up. */
void health_init(struct health *h, bool assume_up, uint64_t now_ms);

/*
 * Records one result. A proxy that is down becomes up after rise
 * consecutive successes; one that is up becomes down after fall consecutive
 * failures. Returns true when health_is_up() changed. A LOCAL result is
 * counted and shown as the last result, but leaves the state and both runs
 * of results as they were: it never changes health_is_up().
 */
bool health_record(struct health *h, enum check_result result, uint32_t duration_ms, unsigned rise,
		   unsigned fall, uint64_t now_ms);

/* Takes traffic: UP or GOING_DOWN. */
bool health_is_up(const struct health *h);
bool check_result_ok(enum check_result r);
/* True for CHECK_LOCAL: the appliance, not the proxy, failed the probe. */
bool check_result_local(enum check_result r);
const char *health_state_name(enum health_state s); /* "up", "down", "going-up", "going-down" */
const char *check_result_name(enum check_result r); /* "L4OK", ..., "" for CHECK_NONE */

#endif
