/* Tests of the asynchronous database pool against a real throwaway
 * PostgreSQL: pipelining, per-request transactions, cancellation, and
 * behaviour while the server is down and after it comes back. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pgtmp.h"
#include "unit.h"

static struct pgtmp pg;
static struct event_base *base;
static struct db *db;

static const struct db_statement stmts[] = {
	{"echo", "SELECT $1::text, $2::int + 1"},
	{"create", "TRUNCATE t"},
	{"insert", "INSERT INTO t VALUES ($1::int)"},
	{"count", "SELECT count(*) FROM t"},
	{"fail", "SELECT 1 / 0"},
	{"bytes", "SELECT length($1::bytea)"},
};

struct outcome {
	int done;
	char value[64];
	char error[256];
	ExecStatusType status[4];
	unsigned n;
};

static void on_result(void *ctx, PGresult *const *res, unsigned n, const char *error)
{
	struct outcome *o = ctx;

	o->done++;
	if (error != NULL) {
		snprintf(o->error, sizeof(o->error), "%s", error);
		return;
	}
	o->n = n;
	for (unsigned i = 0; i < n && i < 4; i++)
		o->status[i] = PQresultStatus(res[i]);
	if (n > 0 && PQresultStatus(res[n - 1]) == PGRES_TUPLES_OK && PQntuples(res[n - 1]) > 0)
		snprintf(o->value, sizeof(o->value), "%s", PQgetvalue(res[n - 1], 0, 0));
}

/* Runs the loop until *flag reaches want or 10 s pass. */
static void loop_until(const int *flag, int want)
{
	for (int i = 0; i < 1000 && *flag < want; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void wait_up(void)
{
	for (int i = 0; i < 1000 && !db_is_up(db); i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static int suite_clean(void);

static int suite_init(void)
{
	const char *err;

	log_init("test_db", LOG_LEVEL_FATAL); /* the down test logs errors on purpose */
	if (pgtmp_start(&pg) < 0)
		return -1;
	/* Statements are prepared when a connection comes up, so the tables
	 * they name must exist first (as the schema does for the daemons). */
	PGconn *c = PQconnectdb(pg.conninfo);
	PGresult *r = PQexec(c, "CREATE TABLE t (v int PRIMARY KEY)");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	PQfinish(c);
	base = event_base_new();
	db = ok ? db_create(base, pg.conninfo, 2, stmts, sizeof(stmts) / sizeof(stmts[0]), &err)
		: NULL;
	if (db != NULL)
		wait_up();
	if (db == NULL || !db_is_up(db)) {
		/* CUnit skips the cleanup of a suite whose init failed. */
		suite_clean();
		return -1;
	}
	return 0;
}

static int suite_clean(void)
{
	db_destroy(&db);
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	pgtmp_destroy(&pg);
	return 0;
}

static void test_echo_with_params(void)
{
	struct outcome o = {0};
	const char *vals[] = {"hello", "41"};
	struct db_query q = {"echo", 2, vals, NULL, NULL, 0};
	const char *err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &q, 1, on_result, &o, &err));
	loop_until(&o.done, 1);
	CU_ASSERT_EQUAL(o.done, 1);
	CU_ASSERT_STRING_EQUAL(o.value, "hello");
	CU_ASSERT_EQUAL(o.status[0], PGRES_TUPLES_OK);
}

static void test_many_pipelined_requests_complete(void)
{
	enum { N = 300 };
	static struct outcome o[N];
	int done = 0;
	char num[N][12];
	const char *err;

	memset(o, 0, sizeof(o));
	for (int i = 0; i < N; i++) {
		const char *vals[2];
		struct db_query q = {"echo", 2, vals, NULL, NULL, 0};
		snprintf(num[i], sizeof(num[i]), "%d", i);
		vals[0] = num[i];
		vals[1] = "0";
		CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &q, 1, on_result, &o[i], &err));
	}
	/* Parameters were copied: clobbering them now must not matter. */
	memset(num, 'x', sizeof(num));
	for (int spin = 0; spin < 1000 && done < N; spin++) {
		loop_until(&o[N - 1].done, 1);
		done = 0;
		for (int i = 0; i < N; i++)
			done += o[i].done;
	}
	CU_ASSERT_EQUAL(done, N);
	for (int i = 0; i < N; i++) {
		char want[12];
		snprintf(want, sizeof(want), "%d", i);
		CU_ASSERT_STRING_EQUAL(o[i].value, want);
	}
	CU_ASSERT_EQUAL(db_pending(db), 0);
}

static void test_request_is_one_transaction(void)
{
	struct outcome o1 = {0}, o2 = {0}, o3 = {0};
	const char *one[] = {"1"}, *two[] = {"2"};
	struct db_query create = {"create", 0, NULL, NULL, NULL, 0};
	struct db_query batch[3] = {
		{"insert", 1, one, NULL, NULL, 0},
		{"fail", 0, NULL, NULL, NULL, 0},
		{"insert", 1, two, NULL, NULL, 0},
	};
	struct db_query count = {"count", 0, NULL, NULL, NULL, 0};
	const char *err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &create, 1, on_result, &o1, &err));
	loop_until(&o1.done, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, batch, 3, on_result, &o2, &err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &count, 1, on_result, &o3, &err));
	loop_until(&o3.done, 1);
	loop_until(&o2.done, 1);
	CU_ASSERT_EQUAL(o2.n, 3);
	CU_ASSERT_EQUAL(o2.status[0], PGRES_COMMAND_OK);
	CU_ASSERT_EQUAL(o2.status[1], PGRES_FATAL_ERROR);
	CU_ASSERT_EQUAL(o2.status[2], PGRES_PIPELINE_ABORTED);
	/* The failed request's first insert was rolled back; the other
	 * request did not suffer from its error. */
	CU_ASSERT_STRING_EQUAL(o3.value, "0");
}

static void test_binary_parameter(void)
{
	struct outcome o = {0};
	static const char data[5] = {'a', '\0', 'b', '\0', 'c'};
	const char *vals[] = {data};
	int lens[] = {5}, fmts[] = {1};
	struct db_query q = {"bytes", 1, vals, lens, fmts, 0};
	const char *err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &q, 1, on_result, &o, &err));
	loop_until(&o.done, 1);
	CU_ASSERT_STRING_EQUAL(o.value, "5");
}

static void test_cancelled_callback_never_runs(void)
{
	struct outcome o = {0}, last = {0};
	const char *vals[] = {"x", "1"};
	struct db_query q = {"echo", 2, vals, NULL, NULL, 0};
	struct db_request *req;
	const char *err;

	req = db_submit(db, &q, 1, on_result, &o, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	db_request_cancel(req);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &q, 1, on_result, &last, &err));
	loop_until(&last.done, 1);
	CU_ASSERT_EQUAL(last.done, 1);
	CU_ASSERT_EQUAL(o.done, 0);
	CU_ASSERT_EQUAL(db_pending(db), 0);
}

static void test_server_down_then_back(void)
{
	struct outcome o = {0};
	const char *vals[] = {"back", "1"};
	struct db_query q = {"echo", 2, vals, NULL, NULL, 0};
	struct db_request *req = NULL;
	const char *err = NULL;
	int spins = 0;

	CU_ASSERT_EQUAL_FATAL(pgtmp_stop(&pg), 0);
	/* Until the pool notices, a request fails with an error callback;
	 * once it has, db_submit refuses at once. Either way: no hang. */
	while (spins++ < 200) {
		memset(&o, 0, sizeof(o));
		req = db_submit(db, &q, 1, on_result, &o, &err);
		if (req == NULL)
			break;
		loop_until(&o.done, 1);
		CU_ASSERT_EQUAL(o.done, 1);
		if (o.error[0] == '\0')
			continue; /* answered before the shutdown reached us */
	}
	CU_ASSERT_PTR_NULL(req);
	CU_ASSERT_FALSE(db_is_up(db));

	CU_ASSERT_EQUAL_FATAL(pgtmp_restart(&pg), 0);
	wait_up();
	CU_ASSERT_TRUE_FATAL(db_is_up(db));
	memset(&o, 0, sizeof(o));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &q, 1, on_result, &o, &err));
	loop_until(&o.done, 1);
	CU_ASSERT_STRING_EQUAL(o.value, "back");
}

static void test_unprepared_sql_with_params(void)
{
	struct outcome o = {0};
	const char *vals[] = {"abc"};
	struct db_query q = {NULL, 1, vals, NULL, NULL, 0, "SELECT upper($1::text)"};
	const char *err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &q, 1, on_result, &o, &err));
	loop_until(&o.done, 1);
	CU_ASSERT_STRING_EQUAL(o.value, "ABC");
}

struct notes {
	int resubscribed;
	int got;
	char last[64];
};

static void on_note(void *ctx, const char *payload)
{
	struct notes *n = ctx;

	if (payload == NULL) {
		n->resubscribed++;
		return;
	}
	n->got++;
	snprintf(n->last, sizeof(n->last), "%s", payload);
}

static void test_listen_receives_notifications(void)
{
	struct notes notes = {0};
	struct outcome o = {0};
	struct db *ldb;
	const char *err;
	struct db_query q = {.sql = "SELECT pg_notify('unit_chan', 'hello 1')"};

	ldb = db_create(base, pg.conninfo, 1, stmts, sizeof(stmts) / sizeof(stmts[0]), &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ldb);
	db_listen(ldb, "unit_chan", on_note, &notes);
	loop_until(&notes.resubscribed, 1);
	CU_ASSERT_EQUAL(notes.resubscribed, 1);
	/* Sent from another pool: arrives on the listening connection. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(db_submit(db, &q, 1, on_result, &o, &err));
	loop_until(&notes.got, 1);
	CU_ASSERT_EQUAL(notes.got, 1);
	CU_ASSERT_STRING_EQUAL(notes.last, "hello 1");
	db_destroy(&ldb);
}

static void test_error_reasons(void)
{
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);

	/* An empty result has no SQLSTATE: an internal error. */
	CU_ASSERT_PTR_NULL(db_error_reason(r));
	PQclear(r);
}

static const struct unit_test db_tests[] = {
	{"echo with parameters", test_echo_with_params},
	{"many pipelined requests complete in order", test_many_pipelined_requests_complete},
	{"a request is one transaction", test_request_is_one_transaction},
	{"binary parameter", test_binary_parameter},
	{"cancelled callback never runs", test_cancelled_callback_never_runs},
	{"server down, then back", test_server_down_then_back},
	{"unprepared SQL with parameters", test_unprepared_sql_with_params},
	{"listen receives notifications", test_listen_receives_notifications},
	{"error reasons", test_error_reasons},
	{NULL, NULL},
};

int main(void)
{
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite("db", suite_init, suite_clean);
	for (const struct unit_test *t = db_tests; t->name != NULL; t++)
		CU_add_test(s, t->name, t->fn);
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
	printf("\nUNIT-RESULT %u %u\n", CU_get_number_of_tests_run() - CU_get_number_of_tests_failed(),
	       failed);
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
