/* Unit tests for the workqueue: a thread pool whose completions come back
 * through a libevent loop. Each test runs a real event base and real
 * threads; a 10 s loop timeout turns a lost completion into a failure
 * instead of a hang. */
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "workqueue.h"

struct job {
	struct test_ctx *ctx;
	unsigned index;
	pthread_t work_thread;
	bool work_ran;	  /* written by work(), read in done() */
	unsigned result;  /* ditto */
	unsigned done_calls;
	bool cancelled;
	bool done_on_loop;
};

/* Shared by a test's jobs. The gate and the started count are used by the
 * pool threads, so they sit under the mutex; the rest is loop-thread only. */
struct test_ctx {
	struct event_base *base;
	struct workqueue *wq;
	pthread_t loop_thread;
	unsigned done_total;
	unsigned done_target; /* loopbreak when done_total reaches it */
	unsigned resubmit_left;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool gate_open;
	unsigned started;
};

static void ctx_init(struct test_ctx *ctx, unsigned threads, unsigned max_pending)
{
	const char *error = NULL;

	memset(ctx, 0, sizeof(*ctx));
	ctx->loop_thread = pthread_self();
	CU_ASSERT_EQUAL_FATAL(pthread_mutex_init(&ctx->lock, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_cond_init(&ctx->cond, NULL), 0);
	ctx->base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx->base);
	ctx->wq = workqueue_create(ctx->base, threads, max_pending, &error);
	if (ctx->wq == NULL)
		fprintf(stderr, "\nworkqueue_create: %s\n", error);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx->wq);
}

static void ctx_deinit(struct test_ctx *ctx)
{
	workqueue_destroy(&ctx->wq);
	CU_ASSERT_PTR_NULL(ctx->wq);
	event_base_free(ctx->base);
	(void)pthread_cond_destroy(&ctx->cond); /* test teardown: nothing waits */
	(void)pthread_mutex_destroy(&ctx->lock);
}

/* Runs the loop until done_target completions arrived or 10 s passed. */
static void run_loop(struct test_ctx *ctx, unsigned target)
{
	struct timeval limit = {10, 0};

	ctx->done_target = target;
	if (ctx->done_total >= target)
		return;
	CU_ASSERT_EQUAL_FATAL(event_base_loopexit(ctx->base, &limit), 0);
	CU_ASSERT_EQUAL(event_base_dispatch(ctx->base), 0);
	CU_ASSERT_EQUAL(ctx->done_total, target);
}

static void work_compute(void *arg)
{
	struct job *job = arg;
	unsigned x = job->index;

	job->work_thread = pthread_self();
	for (int i = 0; i < 1000; i++) /* a little CPU, as a hash would */
		x = x * 1103515245u + 12345u;
	job->result = x;
	job->work_ran = true;
}

static unsigned expected_result(unsigned index)
{
	unsigned x = index;

	for (int i = 0; i < 1000; i++)
		x = x * 1103515245u + 12345u;
	return x;
}

/* Records the call, then stops the loop when the test's target is met. */
static void done_record(void *arg, bool cancelled)
{
	struct job *job = arg;
	struct test_ctx *ctx = job->ctx;

	job->done_calls++;
	job->cancelled = cancelled;
	job->done_on_loop = pthread_equal(pthread_self(), ctx->loop_thread);
	ctx->done_total++;
	if (ctx->done_target != 0 && ctx->done_total == ctx->done_target)
		CU_ASSERT_EQUAL(event_base_loopbreak(ctx->base), 0);
}

/* Blocks in the pool thread until the test opens the gate. */
static void work_gated(void *arg)
{
	struct job *job = arg;
	struct test_ctx *ctx = job->ctx;

	pthread_mutex_lock(&ctx->lock);
	ctx->started++;
	pthread_cond_broadcast(&ctx->cond);
	while (!ctx->gate_open)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	pthread_mutex_unlock(&ctx->lock);
	job->work_thread = pthread_self();
	job->work_ran = true;
}

static void wait_started(struct test_ctx *ctx, unsigned n)
{
	pthread_mutex_lock(&ctx->lock);
	while (ctx->started < n)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	pthread_mutex_unlock(&ctx->lock);
}

static void open_gate(struct test_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->gate_open = true;
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
}

static struct job *jobs_new(struct test_ctx *ctx, unsigned n)
{
	struct job *jobs = calloc(n, sizeof(*jobs));

	CU_ASSERT_PTR_NOT_NULL_FATAL(jobs);
	for (unsigned i = 0; i < n; i++) {
		jobs[i].ctx = ctx;
		jobs[i].index = i;
	}
	return jobs;
}

static void test_work_off_thread_done_on_loop(void)
{
	struct test_ctx ctx;
	struct job *jobs;

	ctx_init(&ctx, 2, 8);
	jobs = jobs_new(&ctx, 8);
	for (unsigned i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_compute, done_record, &jobs[i]), 0);
	/* done() never runs inside submit, only from the loop. */
	CU_ASSERT_EQUAL(ctx.done_total, 0);
	CU_ASSERT_EQUAL(workqueue_pending(ctx.wq), 8);
	run_loop(&ctx, 8);
	for (unsigned i = 0; i < 8; i++) {
		CU_ASSERT(jobs[i].work_ran);
		CU_ASSERT_FALSE(pthread_equal(jobs[i].work_thread, ctx.loop_thread));
		CU_ASSERT_EQUAL(jobs[i].done_calls, 1);
		CU_ASSERT(jobs[i].done_on_loop);
		CU_ASSERT_FALSE(jobs[i].cancelled);
		CU_ASSERT_EQUAL(jobs[i].result, expected_result(i));
	}
	CU_ASSERT_EQUAL(workqueue_pending(ctx.wq), 0);
	ctx_deinit(&ctx);
	free(jobs);
}

static void test_many_jobs_complete(void)
{
	enum { N = 20000 };
	struct test_ctx ctx;
	struct job *jobs;
	unsigned ok = 0;

	ctx_init(&ctx, 4, N);
	jobs = jobs_new(&ctx, N);
	for (unsigned i = 0; i < N; i++)
		CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_compute, done_record, &jobs[i]), 0);
	run_loop(&ctx, N);
	for (unsigned i = 0; i < N; i++)
		ok += jobs[i].work_ran && jobs[i].done_calls == 1 && jobs[i].done_on_loop &&
		      !jobs[i].cancelled && jobs[i].result == expected_result(i);
	CU_ASSERT_EQUAL(ok, N);
	ctx_deinit(&ctx);
	free(jobs);
}

static void test_queue_full_at_limit(void)
{
	enum { LIMIT = 4 };
	struct test_ctx ctx;
	struct job *jobs;

	ctx_init(&ctx, 1, LIMIT);
	jobs = jobs_new(&ctx, LIMIT + 2);
	for (unsigned i = 0; i < LIMIT; i++) /* up to the limit */
		CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_gated, done_record, &jobs[i]), 0);
	CU_ASSERT_EQUAL(workqueue_pending(ctx.wq), LIMIT);
	/* One past it: refused, and neither callback will ever see that arg. */
	CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_gated, done_record, &jobs[LIMIT]), -1);
	wait_started(&ctx, 1);
	/* A running job still counts: the bound covers jobs until done(). */
	CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_gated, done_record, &jobs[LIMIT]), -1);
	open_gate(&ctx);
	run_loop(&ctx, LIMIT);
	/* Completed jobs free their slots. */
	CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_gated, done_record, &jobs[LIMIT + 1]), 0);
	run_loop(&ctx, LIMIT + 1);
	CU_ASSERT_EQUAL(jobs[LIMIT].done_calls, 0);
	CU_ASSERT_FALSE(jobs[LIMIT].work_ran);
	CU_ASSERT_EQUAL(jobs[LIMIT + 1].done_calls, 1);
	ctx_deinit(&ctx);
	free(jobs);
}

/* done() that submits the next job of a chain: the slot it held is free. */
static void done_resubmit(void *arg, bool cancelled)
{
	struct job *job = arg;
	struct test_ctx *ctx = job->ctx;

	done_record(arg, cancelled);
	if (!cancelled && ctx->resubmit_left > 0) {
		ctx->resubmit_left--;
		job->work_ran = false;
		CU_ASSERT_EQUAL(workqueue_submit(ctx->wq, work_compute, done_resubmit, job), 0);
	}
}

static void test_done_may_submit(void)
{
	struct test_ctx ctx;
	struct job *jobs;

	ctx_init(&ctx, 2, 1); /* one slot: each resubmit reuses it */
	jobs = jobs_new(&ctx, 1);
	ctx.resubmit_left = 99;
	CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_compute, done_resubmit, &jobs[0]), 0);
	run_loop(&ctx, 100);
	CU_ASSERT_EQUAL(jobs[0].done_calls, 100);
	CU_ASSERT_EQUAL(workqueue_pending(ctx.wq), 0);
	ctx_deinit(&ctx);
	free(jobs);
}

struct opener {
	struct test_ctx *ctx;
	unsigned delay_ms;
};

static void *open_gate_later(void *arg)
{
	struct opener *o = arg;
	struct timespec ts = {0, (long)o->delay_ms * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
	open_gate(o->ctx);
	return NULL;
}

static void test_destroy_with_jobs_in_flight(void)
{
	enum { THREADS = 2, N = 10 };
	struct test_ctx ctx;
	struct job *jobs;
	struct opener o = {&ctx, 100};
	pthread_t opener;
	unsigned ran = 0, dropped = 0;

	ctx_init(&ctx, THREADS, N);
	jobs = jobs_new(&ctx, N);
	for (unsigned i = 0; i < N; i++)
		CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_gated, done_record, &jobs[i]), 0);
	wait_started(&ctx, THREADS); /* jobs 0 and 1 run, 2..9 wait */
	/* destroy must wait for the running jobs, which the gate holds until
	 * another thread opens it while destroy is blocked. */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&opener, NULL, open_gate_later, &o), 0);
	workqueue_destroy(&ctx.wq);
	CU_ASSERT_PTR_NULL(ctx.wq);
	CU_ASSERT_EQUAL(pthread_join(opener, NULL), 0);
	CU_ASSERT_EQUAL(ctx.done_total, N);
	for (unsigned i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(jobs[i].done_calls, 1);
		CU_ASSERT(jobs[i].done_on_loop);
		/* cancelled exactly when work() never ran */
		CU_ASSERT_EQUAL(jobs[i].cancelled, !jobs[i].work_ran);
		ran += jobs[i].work_ran;
		dropped += jobs[i].cancelled;
	}
	CU_ASSERT(jobs[0].work_ran && jobs[1].work_ran);
	/* Normally the gate opens long after destroy took the waiting jobs
	 * away, so only the running ones ran; on a loaded machine destroy may
	 * start later, so assert only what always holds. */
	CU_ASSERT(ran >= THREADS);
	CU_ASSERT_EQUAL(ran + dropped, N);
	ctx_deinit(&ctx);
	free(jobs);
}

/* Signals each completion without ever running the loop. */
static void work_counted(void *arg)
{
	struct job *job = arg;
	struct test_ctx *ctx = job->ctx;

	job->work_ran = true;
	pthread_mutex_lock(&ctx->lock);
	ctx->started++;
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
}

static void test_destroy_delivers_completed_jobs(void)
{
	enum { N = 6 };
	struct test_ctx ctx;
	struct job *jobs;

	ctx_init(&ctx, 3, N);
	jobs = jobs_new(&ctx, N);
	for (unsigned i = 0; i < N; i++)
		CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_counted, done_record, &jobs[i]), 0);
	wait_started(&ctx, N); /* every work() ran; the loop never did */
	CU_ASSERT_EQUAL(ctx.done_total, 0);
	workqueue_destroy(&ctx.wq);
	CU_ASSERT_EQUAL(ctx.done_total, N);
	for (unsigned i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(jobs[i].done_calls, 1);
		CU_ASSERT_FALSE(jobs[i].cancelled);
	}
	ctx_deinit(&ctx);
	free(jobs);
}

/* During destroy, done() may try to submit: it is refused. */
static void done_submit_refused(void *arg, bool cancelled)
{
	struct job *job = arg;

	done_record(arg, cancelled);
	CU_ASSERT_EQUAL(workqueue_submit(job->ctx->wq, work_compute, done_record, job), -1);
}

static void test_submit_refused_during_destroy(void)
{
	struct test_ctx ctx;
	struct job *jobs;
	struct workqueue *wq;

	ctx_init(&ctx, 1, 4);
	jobs = jobs_new(&ctx, 4);
	for (unsigned i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_compute, done_submit_refused, &jobs[i]),
				0);
	/* destroy through a copy, so done() still reaches the queue via ctx */
	wq = ctx.wq;
	workqueue_destroy(&wq);
	ctx.wq = NULL;
	CU_ASSERT_EQUAL(ctx.done_total, 4);
	ctx_deinit(&ctx);
	free(jobs);
}

static void work_nice(void *arg)
{
	struct job *job = arg;

	errno = 0;
	job->result = (unsigned)getpriority(PRIO_PROCESS, (id_t)gettid());
	job->work_ran = errno == 0;
}

static void test_set_nice_lowers_the_threads_only(void)
{
	struct test_ctx ctx;
	struct job jobs[4];
	int before, want;

	errno = 0;
	before = getpriority(PRIO_PROCESS, (id_t)gettid());
	CU_ASSERT_EQUAL_FATAL(errno, 0);
	want = before + 3 > 19 ? 19 : before + 3;
	ctx_init(&ctx, 2, 8);
	CU_ASSERT_EQUAL(workqueue_set_nice(ctx.wq, 0), -1);
	CU_ASSERT_EQUAL(workqueue_set_nice(ctx.wq, 20), -1);
	CU_ASSERT_EQUAL(workqueue_set_nice(ctx.wq, 3), 0);
	memset(jobs, 0, sizeof(jobs));
	for (unsigned i = 0; i < 4; i++) {
		jobs[i].ctx = &ctx;
		CU_ASSERT_EQUAL(workqueue_submit(ctx.wq, work_nice, done_record, &jobs[i]), 0);
	}
	run_loop(&ctx, 4);
	/* Every job, whichever thread ran it, ran at the lower priority,
	 * and only once lower (a thread's second job adds nothing). */
	for (unsigned i = 0; i < 4; i++) {
		CU_ASSERT_TRUE(jobs[i].work_ran);
		CU_ASSERT_EQUAL((int)jobs[i].result, want);
	}
	/* The loop thread is untouched. */
	CU_ASSERT_EQUAL(getpriority(PRIO_PROCESS, (id_t)gettid()), before);
	ctx_deinit(&ctx);
}

static void test_create_arguments(void)
{
	struct event_base *base = event_base_new();
	struct workqueue *wq;
	const char *error = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(base);
	CU_ASSERT_PTR_NULL(workqueue_create(base, 0, 10, &error));
	CU_ASSERT_PTR_NOT_NULL(error);
	CU_ASSERT_PTR_NULL(workqueue_create(base, WORKQUEUE_MAX_THREADS + 1, 10, &error));
	CU_ASSERT_PTR_NULL(workqueue_create(base, 1, 0, &error));
	CU_ASSERT_PTR_NULL(workqueue_create(base, 1, WORKQUEUE_MAX_PENDING + 1, &error));
	wq = workqueue_create(base, 1, WORKQUEUE_MAX_PENDING, &error);
	CU_ASSERT_PTR_NOT_NULL(wq);
	workqueue_destroy(&wq);
	CU_ASSERT_PTR_NULL(wq);
	workqueue_destroy(&wq); /* NULL is a no-op */
	event_base_free(base);
}

static const struct unit_test workqueue_tests[] = {
	{"work off the loop thread, done on it", test_work_off_thread_done_on_loop},
	{"many jobs complete exactly once", test_many_jobs_complete},
	{"queue full at the limit and one past", test_queue_full_at_limit},
	{"done may submit again", test_done_may_submit},
	{"destroy with jobs in flight", test_destroy_with_jobs_in_flight},
	{"destroy delivers completed jobs", test_destroy_delivers_completed_jobs},
	{"submit refused during destroy", test_submit_refused_during_destroy},
	{"create checks its arguments", test_create_arguments},
	{"set_nice lowers the threads only", test_set_nice_lowers_the_threads_only},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"workqueue", workqueue_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
