/*
 * hasher.c - Argon2id password work on worker threads; results back to the
 * control loop through an eventfd.
 */
#include "hasher.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <event2/event.h>

_Static_assert(HASHER_HASH_MAX == crypto_pwhash_STRBYTES, "hash string size");

struct hasher {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or the workers must stop */
	struct hasher_job *queue, *queue_tail;
	struct hasher_job *done, *done_tail;
	size_t queued, running, queue_max;
	bool stopping;
	pthread_t threads[HASHER_THREADS];
	size_t nthreads;
	int wake; /* eventfd: a worker finished a job */
	struct event *on_wake;
};

static void hasher_push(struct hasher_job **head, struct hasher_job **tail, struct hasher_job *job)
{
	job->next = NULL;
	if (*tail != NULL)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

static struct hasher_job *hasher_pop(struct hasher_job **head, struct hasher_job **tail)
{
	struct hasher_job *job = *head;

	if (job != NULL) {
		*head = job->next;
		if (*head == NULL)
			*tail = NULL;
		job->next = NULL;
	}
	return job;
}

/*
 * The work itself, on a worker. A VERIFY without a stored hash (an unknown
 * user) hashes the password instead: as long as a check, so the answer's
 * timing does not tell whether the user exists.
 */
static void hasher_run(struct hasher_job *job)
{
	size_t len = strlen(job->password);

	if (job->task == HASHER_VERIFY && job->hash[0] != '\0') {
		job->result = crypto_pwhash_str_verify(job->hash, job->password, len) == 0
				  ? HASHER_MATCH
				  : HASHER_MISMATCH;
	} else if (crypto_pwhash_str(job->hash, job->password, len,
				     crypto_pwhash_OPSLIMIT_INTERACTIVE,
				     crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		job->result = HASHER_NO_MEMORY; /* libsodium's only failure here */
	} else {
		job->result = job->task == HASHER_HASH ? HASHER_MATCH : HASHER_MISMATCH;
	}
	sodium_memzero(job->password, sizeof(job->password));
}

static void *hasher_worker(void *arg)
{
	struct hasher *h = arg;
	const uint64_t one = 1;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		struct hasher_job *job;

		while (!h->stopping && h->queue == NULL)
			pthread_cond_wait(&h->work, &h->lock);
		if (h->stopping)
			break;
		job = hasher_pop(&h->queue, &h->queue_tail);
		h->queued--;
		h->running++;
		pthread_mutex_unlock(&h->lock);
		hasher_run(job);
		pthread_mutex_lock(&h->lock);
		h->running--;
		hasher_push(&h->done, &h->done_tail, job);
		/* An eventfd write cannot block or fail short while its counter is far from full.
		 */
		if (write(h->wake, &one, sizeof(one)) < 0)
			break;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* On the loop: hands every finished job back to its owner. */
static void hasher_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct hasher *h = arg;
	struct hasher_job *done;
	uint64_t count;

	(void)what;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&h->lock);
	done = h->done;
	h->done = h->done_tail = NULL;
	pthread_mutex_unlock(&h->lock);
	while (done != NULL) {
		struct hasher_job *job = done;

		done = job->next;
		job->next = NULL;
		job->done(job);
	}
}

struct hasher *hasher_start(struct event_base *base, size_t queue_max, char *err, size_t errlen)
{
	struct hasher *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->queue_max = queue_max;
	h->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->work, NULL);
	if (h->wake < 0) {
		snprintf(err, errlen, "password hasher: eventfd: %s", strerror(errno));
		goto fail;
	}
	h->on_wake = event_new(base, h->wake, EV_READ | EV_PERSIST, hasher_on_wake, h);
	if (h->on_wake == NULL || event_add(h->on_wake, NULL) < 0) {
		snprintf(err, errlen, "password hasher: cannot watch its eventfd");
		goto fail;
	}
	for (; h->nthreads < HASHER_THREADS; h->nthreads++) {
		int ret = pthread_create(&h->threads[h->nthreads], NULL, hasher_worker, h);

		if (ret != 0) {
			snprintf(err, errlen, "password hasher: cannot start a thread: %s",
				 strerror(ret));
			goto fail;
		}
	}
	return h;
fail:
	hasher_stop(h);
	return NULL;
}

int hasher_submit(struct hasher *h, struct hasher_job *job)
{
	if (memchr(job->password, '\0', sizeof(job->password)) == NULL)
		return -E2BIG;
	pthread_mutex_lock(&h->lock);
	if (h->queued >= h->queue_max) {
		pthread_mutex_unlock(&h->lock);
		return -EBUSY;
	}
	hasher_push(&h->queue, &h->queue_tail, job);
	h->queued++;
	pthread_cond_signal(&h->work);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

size_t hasher_pending(const struct hasher *h)
{
	struct hasher *m = (struct hasher *)h; /* the lock is not part of what h holds */
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->queued + m->running;
	pthread_mutex_unlock(&m->lock);
	return n;
}

void hasher_stop(struct hasher *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_broadcast(&h->work);
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	/* Jobs still queued or done keep their owners' passwords: wipe them. */
	for (struct hasher_job *j = h->queue; j != NULL; j = j->next)
		sodium_memzero(j->password, sizeof(j->password));
	if (h->on_wake != NULL)
		event_free(h->on_wake);
	if (h->wake >= 0)
		close(h->wake);
	pthread_cond_destroy(&h->work);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
