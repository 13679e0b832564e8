/*
 * hasher.h - Argon2id password work off the control loop.
 *
 * A password check or hash costs tens of milliseconds and 64 MiB on
 * purpose; done on the control loop, sixty parallel sign-ins stopped it for
 * seconds (probes, droverctl, the watchdog, the fast path's heartbeat). So
 * the loop hands each one to a small pool of worker threads and goes on
 * serving; a job's result comes back to the loop, where its done callback
 * runs. HASHER_THREADS bounds how many run at once for the whole process
 * (the CPU and memory an attacker can make droverd spend), and at most
 * queue_max jobs wait: hasher_submit refuses more with -EBUSY, and the
 * caller answers 503 with Retry-After.
 *
 * The loop side (start, submit, stop, the done callbacks) runs on the
 * control loop only; the workers touch nothing but the jobs they are given.
 */
#ifndef DROVER_HASHER_H
#define DROVER_HASHER_H

#include <stdbool.h>
#include <stddef.h>

#define HASHER_THREADS	    2
#define HASHER_QUEUE_MAX    32
#define HASHER_PASSWORD_MAX 257 /* bytes of a password, with its NUL */
#define HASHER_HASH_MAX	    128 /* crypto_pwhash_STRBYTES */

struct event_base;
struct hasher;
struct hasher_job;

enum hasher_task {
	HASHER_VERIFY, /* does password match hash? */
	HASHER_HASH,   /* the Argon2id string of password, into hash */
};

enum hasher_result {
	HASHER_MATCH,	 /* VERIFY: it matches; HASH: hash holds the new string */
	HASHER_MISMATCH, /* VERIFY: it does not */
	HASHER_NO_MEMORY,
};

/* Runs on the control loop once job is done; job is the caller's again. */
typedef void hasher_done_fn(struct hasher_job *job);

/*
 * One piece of work, owned by the caller (usually inside a larger struct of
 * its own) from hasher_submit until done runs. The password is wiped
 * before done runs.
 */
struct hasher_job {
	enum hasher_task task;
	char password[HASHER_PASSWORD_MAX];
	char hash[HASHER_HASH_MAX]; /* VERIFY: the stored string; HASH: the result */
	enum hasher_result result;
	hasher_done_fn *done;
	struct hasher_job *next; /* the hasher's */
};

/* Starts the workers on base. NULL (with a message in err) when it cannot. */
struct hasher *hasher_start(struct event_base *base, size_t queue_max, char *err, size_t errlen);

/*
 * Queues job; its done callback runs later on the loop, never from inside
 * this call. -EBUSY when queue_max jobs wait already (job untouched),
 * -E2BIG when the password does not fit.
 */
int hasher_submit(struct hasher *h, struct hasher_job *job);

/* Jobs queued or running now. */
size_t hasher_pending(const struct hasher *h);

/*
 * Stops the workers (each finishes the job in hand) and frees h. Jobs not
 * done are dropped without their callback: their owners free them. NULL is
 * accepted.
 */
void hasher_stop(struct hasher *h);

#endif
