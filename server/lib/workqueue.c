/* Thread pool with completions delivered into a libevent loop.
 *
 * A job moves through four places, each with one owner, so that every
 * hand-over is ordered by the mutex:
 *   free list (loop thread only) -> queue (lock) -> a pool thread running
 *   work() -> done list (lock) -> loop thread calling done() -> free list.
 * The done list is drained by an EV_READ|EV_PERSIST event on an eventfd.
 * A thread writes the eventfd only when it makes the done list non-empty;
 * the loop reads (resets) the eventfd before it takes the list, so a job
 * appended after the take finds the list empty and writes again: no
 * completion is ever left without a wake-up, however busy the loop is. */
#include "workqueue.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

struct workqueue_job {
	struct workqueue_job *next;
	workqueue_work_fn *work;
	workqueue_done_fn *done;
	void *arg;
};

struct workqueue {
	struct event_base *base;
	struct event *ev;
	int efd;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* signalled when a job is queued or on stop */
	bool sync_init;	     /* lock and cond were initialised */
	/* Under lock: */
	struct workqueue_job *queue_head, **queue_tail; /* waiting for a thread */
	struct workqueue_job *done_head, **done_tail;	/* work() ran */
	bool stopping;

	/* Loop thread only: */
	struct workqueue_job *slots; /* max_pending jobs, allocated once */
	struct workqueue_job *free_jobs;
	unsigned pending;
	bool destroying;

	pthread_t *threads;
	unsigned nthreads; /* started */
	int nice;	   /* under lock: what threads should add to their nice */
};

static void wq_lock(struct workqueue *wq)
{
	int err = pthread_mutex_lock(&wq->lock);

	if (err != 0)
		panic("workqueue: pthread_mutex_lock: %s", strerror(err));
}

static void wq_unlock(struct workqueue *wq)
{
	int err = pthread_mutex_unlock(&wq->lock);

	if (err != 0)
		panic("workqueue: pthread_mutex_unlock: %s", strerror(err));
}

/* Wakes the loop. Called with the lock held, by the thread that made the
 * done list non-empty. */
static void wq_notify(struct workqueue *wq)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(wq->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	/* EAGAIN would need 2^64-2 unread wake-ups: the loop resets the
	 * counter on every read. */
	if (n != (ssize_t)sizeof(one))
		panic("workqueue: eventfd write: %s", n < 0 ? strerror(errno) : "short write");
}

static void *wq_thread(void *ctx)
{
	struct workqueue *wq = ctx;
	struct workqueue_job *job;
	int err, want, niced = 0;

	wq_lock(wq);
	for (;;) {
		while (wq->queue_head == NULL && !wq->stopping)
			if ((err = pthread_cond_wait(&wq->cond, &wq->lock)) != 0)
				panic("workqueue: pthread_cond_wait: %s", strerror(err));
		/* On stop the queue has already been taken away. */
		if (wq->stopping)
			break;
		job = wq->queue_head;
		if ((wq->queue_head = job->next) == NULL)
			wq->queue_tail = &wq->queue_head;
		want = wq->nice;
		wq_unlock(wq);

		if (want != niced) {
			/* Linux: the nice value of PRIO_PROCESS with a thread
			 * id is that thread's own. Raising it needs no
			 * privilege; on failure the job just runs as it is. */
			errno = 0;
			int cur = getpriority(PRIO_PROCESS, (id_t)gettid());
			if (!(cur == -1 && errno != 0) &&
			    setpriority(PRIO_PROCESS, (id_t)gettid(), cur + want - niced) == 0)
				niced = want;
		}
		job->work(job->arg);

		wq_lock(wq);
		job->next = NULL;
		*wq->done_tail = job;
		wq->done_tail = &job->next;
		if (wq->done_head == job)
			wq_notify(wq);
	}
	wq_unlock(wq);
	return NULL;
}

/* Returns the jobs of list to the free list and calls their done(); the
 * slot is freed first so that done() may submit again. */
static void wq_deliver(struct workqueue *wq, struct workqueue_job *list, bool cancelled)
{
	while (list != NULL) {
		struct workqueue_job *job = list;
		workqueue_done_fn *done = job->done;
		void *arg = job->arg;

		list = job->next;
		job->next = wq->free_jobs;
		wq->free_jobs = job;
		wq->pending--;
		done(arg, cancelled);
	}
}

/* Takes the whole done list. */
static struct workqueue_job *wq_take_done(struct workqueue *wq)
{
	struct workqueue_job *list;

	wq_lock(wq);
	list = wq->done_head;
	wq->done_head = NULL;
	wq->done_tail = &wq->done_head;
	wq_unlock(wq);
	return list;
}

static void wq_on_eventfd(evutil_socket_t fd, short what, void *ctx)
{
	struct workqueue *wq = ctx;
	uint64_t count;

	(void)what; /* EV_READ: the only event registered */
	/* Reset the counter before taking the list (see the top of the file).
	 * EAGAIN: a wake-up whose jobs an earlier call already took. */
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
		panic("workqueue: eventfd read: %s", strerror(errno));
	wq_deliver(wq, wq_take_done(wq), false);
}

/* Stops and joins the threads, delivers every pending job and frees wq.
 * Copes with a partly created queue. */
static void wq_free(struct workqueue *wq)
{
	struct workqueue_job *dropped = NULL;
	int err;

	wq->destroying = true;
	if (wq->sync_init) {
		wq_lock(wq);
		dropped = wq->queue_head;
		wq->queue_head = NULL;
		wq->queue_tail = &wq->queue_head;
		wq->stopping = true;
		if ((err = pthread_cond_broadcast(&wq->cond)) != 0)
			panic("workqueue: pthread_cond_broadcast: %s", strerror(err));
		wq_unlock(wq);
	}
	for (unsigned i = 0; i < wq->nthreads; i++)
		if ((err = pthread_join(wq->threads[i], NULL)) != 0)
			panic("workqueue: pthread_join: %s", strerror(err));
	if (wq->sync_init) {
		wq_deliver(wq, wq_take_done(wq), false);
		wq_deliver(wq, dropped, true);
		(void)pthread_cond_destroy(&wq->cond); /* no waiter is left */
		(void)pthread_mutex_destroy(&wq->lock); /* nor any holder */
	}
	if (wq->ev != NULL)
		event_free(wq->ev);
	if (wq->efd >= 0)
		(void)close(wq->efd); /* nothing to flush on an eventfd */
	free(wq->threads);
	free(wq->slots);
	free(wq);
}

struct workqueue *workqueue_create(struct event_base *base, unsigned threads,
				   unsigned max_pending, const char **error_r)
{
	struct workqueue *wq;
	sigset_t all, old;
	int err;

	if (threads < 1 || threads > WORKQUEUE_MAX_THREADS) {
		*error_r = "workqueue: thread count out of range";
		return NULL;
	}
	if (max_pending < 1 || max_pending > WORKQUEUE_MAX_PENDING) {
		*error_r = "workqueue: queue limit out of range";
		return NULL;
	}
	if ((wq = calloc(1, sizeof(*wq))) == NULL) {
		*error_r = "workqueue: out of memory";
		return NULL;
	}
	wq->base = base;
	wq->efd = -1;
	wq->queue_tail = &wq->queue_head;
	wq->done_tail = &wq->done_head;
	if ((wq->slots = calloc(max_pending, sizeof(*wq->slots))) == NULL ||
	    (wq->threads = calloc(threads, sizeof(*wq->threads))) == NULL) {
		*error_r = "workqueue: out of memory";
		goto fail;
	}
	for (unsigned i = max_pending; i-- > 0;) {
		wq->slots[i].next = wq->free_jobs;
		wq->free_jobs = &wq->slots[i];
	}
	if (pthread_mutex_init(&wq->lock, NULL) != 0) {
		*error_r = "workqueue: pthread_mutex_init failed";
		goto fail;
	}
	if (pthread_cond_init(&wq->cond, NULL) != 0) {
		(void)pthread_mutex_destroy(&wq->lock); /* unused so far */
		*error_r = "workqueue: pthread_cond_init failed";
		goto fail;
	}
	wq->sync_init = true;
	if ((wq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		*error_r = "workqueue: eventfd failed";
		goto fail;
	}
	if ((wq->ev = event_new(base, wq->efd, EV_READ | EV_PERSIST, wq_on_eventfd, wq)) == NULL ||
	    event_add(wq->ev, NULL) < 0) {
		*error_r = "workqueue: cannot add the completion event";
		goto fail;
	}
	/* Threads inherit the creator's mask: block everything in them so that
	 * signals are always handled by the loop thread. */
	if (sigfillset(&all) < 0 || (err = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0) {
		*error_r = "workqueue: cannot block signals";
		goto fail;
	}
	for (err = 0; wq->nthreads < threads; wq->nthreads++)
		if ((err = pthread_create(&wq->threads[wq->nthreads], NULL, wq_thread, wq)) != 0)
			break;
	if (pthread_sigmask(SIG_SETMASK, &old, NULL) != 0)
		panic("workqueue: cannot restore the signal mask");
	if (err != 0) {
		*error_r = "workqueue: cannot create threads";
		goto fail;
	}
	return wq;
fail:
	wq_free(wq);
	return NULL;
}

int workqueue_set_nice(struct workqueue *wq, int nice)
{
	if (nice < 1 || nice > 19)
		return -1;
	wq_lock(wq);
	wq->nice = nice;
	wq_unlock(wq);
	return 0;
}

int workqueue_submit(struct workqueue *wq, workqueue_work_fn *work, workqueue_done_fn *done,
		     void *arg)
{
	struct workqueue_job *job = wq->free_jobs;
	int err;

	if (job == NULL || wq->destroying)
		return -1;
	wq->free_jobs = job->next;
	wq->pending++;
	job->next = NULL;
	job->work = work;
	job->done = done;
	job->arg = arg;

	wq_lock(wq);
	*wq->queue_tail = job;
	wq->queue_tail = &job->next;
	if ((err = pthread_cond_signal(&wq->cond)) != 0)
		panic("workqueue: pthread_cond_signal: %s", strerror(err));
	wq_unlock(wq);
	return 0;
}

unsigned workqueue_pending(const struct workqueue *wq)
{
	return wq->pending;
}

void workqueue_destroy(struct workqueue **wq_r)
{
	if (*wq_r == NULL)
		return;
	wq_free(*wq_r);
	*wq_r = NULL;
}
