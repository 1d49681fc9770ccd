/* A small thread pool for an event-loop process.
 *
 * A libevent worker must never block its loop, but some jobs are CPU-bound
 * by design (an Argon2id verification costs tens of milliseconds). The loop
 * hands such a job to a workqueue: work(arg) runs in one of the pool's
 * threads, then done(arg, false) runs back in the loop thread, woken by an
 * eventfd registered with the loop (no polling). Jobs run in FIFO order of
 * submission but finish in any order.
 *
 * Threading contract: workqueue_create, workqueue_submit, workqueue_pending
 * and workqueue_destroy are called only from the thread that runs the event
 * base's loop, and done() is only ever called in that thread. work() runs in
 * a pool thread and must touch nothing that the loop uses without its own
 * locking: the intended use is that arg holds the job's inputs and room for
 * its result, and nothing else reads arg until done() runs.
 *
 * Lifetime contract (there is no per-job cancellation): done(arg, ...) is
 * called exactly once for every accepted job, so the owner keeps arg alive
 * until then. A session that goes away while its job is pending marks arg
 * as orphaned (or holds a reference through it) and lets done() free it.
 * work() cannot be interrupted once started; a job that has not started
 * when the queue is destroyed is dropped: its done(arg, true) runs without
 * work(arg) ever running.
 *
 * Load bound: at most max_pending jobs are accepted at once, counted from a
 * successful workqueue_submit() until their done() is called; past that,
 * submit fails and the caller refuses the request (IMAP "NO [UNAVAILABLE]"),
 * so a login flood costs a bounded amount of memory and CPU. All job slots
 * are allocated at creation: submit never allocates. */
#ifndef MAILSTEAD_WORKQUEUE_H
#define MAILSTEAD_WORKQUEUE_H

#include <stdbool.h>

struct event_base;
struct workqueue;

/* Limits on workqueue_create's arguments. */
#define WORKQUEUE_MAX_THREADS 256
#define WORKQUEUE_MAX_PENDING 65536

/* Runs in a pool thread. */
typedef void workqueue_work_fn(void *arg);
/* Runs in the loop thread, once per accepted job. cancelled is true when the
 * job was dropped by workqueue_destroy before work() started. May call
 * workqueue_submit (which fails during destroy), never workqueue_destroy. */
typedef void workqueue_done_fn(void *arg, bool cancelled);

/* Starts threads pool threads (1..WORKQUEUE_MAX_THREADS) that accept up to
 * max_pending jobs (1..WORKQUEUE_MAX_PENDING), with completions delivered
 * through base. Returns the queue, owned by the caller; or NULL with the
 * reason in *error_r (a static string) when an argument is out of range or
 * a resource (eventfd, event, thread, memory) cannot be had. The threads
 * block all signals: signals stay the loop's business. */
struct workqueue *workqueue_create(struct event_base *base, unsigned threads,
				   unsigned max_pending, const char **error_r);

/* Makes the pool's threads run at nice (1..19) more than the process, from
 * their next job on: CPU-bound jobs then yield the CPU to the event loops
 * and the database, and use it whole when nothing else wants it. Returns 0,
 * or -1 when nice is out of range. Called from the loop thread. */
int workqueue_set_nice(struct workqueue *wq, int nice);

/* Queues work(arg) to run in a pool thread and done(arg, false) to run in
 * the loop thread after it (never inside this call). Returns 0; or -1 when
 * max_pending jobs are already pending or the queue is being destroyed: then
 * neither function will be called and arg is still the caller's. */
int workqueue_submit(struct workqueue *wq, workqueue_work_fn *work, workqueue_done_fn *done,
		     void *arg);

/* Returns how many jobs are pending (accepted, done() not yet called). */
unsigned workqueue_pending(const struct workqueue *wq);

/* Stops the queue and frees it, setting *wq_r to NULL; NULL is a no-op.
 * Jobs not yet started are dropped; jobs running are waited for (this call
 * blocks for at most one job's duration). Before returning it calls done()
 * of every pending job in this thread: done(arg, false) for those whose
 * work() ran, done(arg, true) for the dropped ones. */
void workqueue_destroy(struct workqueue **wq_r);

#endif
