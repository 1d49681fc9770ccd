/* Recipient resolution and alias expansion (schema/0009 delivery_resolve)
 * against a real throwaway PostgreSQL with every migration applied:
 * accounts, aliases fanning out and nesting, the depth limit, loops that
 * only hand-made data can hold, catch-all, sub-addressing, suspended
 * members. Table-driven: {address, base, expected sorted account names or
 * the reason}. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrate.h"
#include "pgtmp.h"
#include "unit.h"

static struct pgtmp pg;
static PGconn *conn;

static int exec_sql(const char *sql)
{
	PGresult *r = PQexec(conn, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "SQL failed: %s\n%s\n", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

static const char *const fixture[] = {
	"INSERT INTO domains (name) VALUES ('a.test'), ('b.test')",
	"INSERT INTO domains (name, status) VALUES ('off.test', 'suspended')",
	"INSERT INTO accounts (domain_id, localpart, password_hash) SELECT domain_id, l, '{PLAIN}x'"
	"  FROM domains, unnest(ARRAY['ann','bob','cat']) l WHERE name = 'a.test'",
	"INSERT INTO accounts (domain_id, localpart, password_hash) SELECT domain_id, 'dan', '{PLAIN}x'"
	"  FROM domains WHERE name = 'b.test'",
	"INSERT INTO accounts (domain_id, localpart, password_hash, status) SELECT domain_id, 'sus',"
	"  '{PLAIN}x', 'suspended' FROM domains WHERE name = 'a.test'",
	"INSERT INTO accounts (domain_id, localpart, password_hash) SELECT domain_id, 'eve', '{PLAIN}x'"
	"  FROM domains WHERE name = 'off.test'",
	/* INBOXes, as account creation makes them */
	"INSERT INTO mailboxes (account_id, name) SELECT account_id, 'INBOX' FROM accounts",
	/* aliases: fan-out across domains, nesting, a suspended member */
	"INSERT INTO aliases (domain_id, localpart, destinations) SELECT domain_id, 'team',"
	"  ARRAY['ann@a.test','dan@b.test'] FROM domains WHERE name = 'a.test'",
	"INSERT INTO aliases (domain_id, localpart, destinations) SELECT domain_id, 'all',"
	"  ARRAY['team@a.test','bob@a.test','ann@a.test'] FROM domains WHERE name = 'a.test'",
	"INSERT INTO aliases (domain_id, localpart, destinations) SELECT domain_id, 'mixed',"
	"  ARRAY['sus@a.test','cat@a.test'] FROM domains WHERE name = 'a.test'",
	"INSERT INTO aliases (domain_id, localpart, destinations) SELECT domain_id, 'onlysus',"
	"  ARRAY['sus@a.test'] FROM domains WHERE name = 'a.test'",
	/* a loop the admin functions would refuse: only raw data holds it */
	"INSERT INTO aliases (domain_id, localpart, destinations) SELECT domain_id, 'l1',"
	"  ARRAY['l2@a.test'] FROM domains WHERE name = 'a.test'",
	"INSERT INTO aliases (domain_id, localpart, destinations) SELECT domain_id, 'l2',"
	"  ARRAY['l1@a.test'] FROM domains WHERE name = 'a.test'",
	/* a chain of 12 aliases: deeper than the 10 levels allowed */
	"INSERT INTO aliases (domain_id, localpart, destinations) SELECT domain_id, 'd' || i,"
	"  ARRAY[CASE WHEN i = 12 THEN 'ann@a.test' ELSE 'd' || (i + 1) || '@a.test' END]"
	"  FROM domains, generate_series(1, 12) i WHERE name = 'a.test'",
	/* b.test has a catch-all */
	"UPDATE domains SET catchall = 'dan@b.test' WHERE name = 'b.test'",
};

static int suite_init(void)
{
	const char *err;
	int fd, applied;

	log_init("test_alias_expansion", LOG_LEVEL_ERROR);
	if (pgtmp_start(&pg) < 0)
		return -1;
	fd = migrate_open_dir("schema", &err);
	if (fd < 0 || migrate_apply(pg.conninfo, fd, "schema", &applied, &err) < 0) {
		fprintf(stderr, "migrations: %s\n", err);
		pgtmp_destroy(&pg);
		return -1;
	}
	conn = PQconnectdb(pg.conninfo);
	for (size_t i = 0; i < sizeof(fixture) / sizeof(fixture[0]); i++)
		if (PQstatus(conn) != CONNECTION_OK || exec_sql(fixture[i]) < 0) {
			PQfinish(conn);
			pgtmp_destroy(&pg);
			return -1;
		}
	return 0;
}

static int suite_clean(void)
{
	PQfinish(conn);
	pgtmp_destroy(&pg);
	return 0;
}

/* Resolves and renders "ann@a.test,dan@b.test" (sorted) or the reason. */
static void resolve(const char *address, const char *base, char *out, size_t size)
{
	const char *params[2] = {address, base};
	PGresult *r = PQexecParams(
		conn,
		"SELECT coalesce(string_agg(ad.address, ',' ORDER BY ad.address), min(x.r_status)) "
		"FROM delivery_resolve($1, $2, 1000) x "
		"LEFT JOIN addresses ad ON ad.account_id = x.r_account AND x.r_status = 'ok'",
		2, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		snprintf(out, size, "error: %s", PQresultErrorMessage(r));
	else
		snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void test_resolution_table(void)
{
	static const struct {
		const char *address, *base, *want;
	} cases[] = {
		{"ann@a.test", NULL, "ann@a.test"},
		{"team@a.test", NULL, "ann@a.test,dan@b.test"},
		/* nested, and ann reached twice: once */
		{"all@a.test", NULL, "ann@a.test,bob@a.test,dan@b.test"},
		/* sub-addressing: the detail is dropped to find the user */
		{"bob+lists@a.test", "bob@a.test", "bob@a.test"},
		{"team+x@a.test", "team@a.test", "ann@a.test,dan@b.test"},
		{"nobody@a.test", NULL, "unknown_user"},
		{"nobody+x@a.test", "nobody@a.test", "unknown_user"},
		{"x@unknown.test", NULL, "unknown_domain"},
		/* catch-all */
		{"whoever@b.test", NULL, "dan@b.test"},
		{"dan@b.test", NULL, "dan@b.test"},
		/* suspended: the account itself, or an alias with no one else */
		{"sus@a.test", NULL, "suspended"},
		{"mixed@a.test", NULL, "cat@a.test"},
		{"onlysus@a.test", NULL, "suspended"},
		{"eve@off.test", NULL, "suspended"},
		/* broken data: a clean reason, never a hang */
		{"l1@a.test", NULL, "loop"},
		{"d1@a.test", NULL, "too_deep"},
		/* 10 levels are fine */
		{"d3@a.test", NULL, "ann@a.test"},
	};
	char got[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resolve(cases[i].address, cases[i].base, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fprintf(stderr, "\n%s: got %s, want %s\n", cases[i].address, got,
				cases[i].want);
		CU_ASSERT_STRING_EQUAL(got, cases[i].want);
	}
}

static void test_quota_at_resolution(void)
{
	char got[256];

	CU_ASSERT_EQUAL_FATAL(exec_sql("UPDATE accounts SET quota_bytes = 500 WHERE localpart = 'cat'"),
			      0);
	resolve("cat@a.test", NULL, got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "over_quota");
	CU_ASSERT_EQUAL(exec_sql("UPDATE accounts SET quota_bytes = 0 WHERE localpart = 'cat'"), 0);
	resolve("cat@a.test", NULL, got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "cat@a.test");
}

static const struct unit_test tests[] = {
	{"resolution table", test_resolution_table},
	{"quota at resolution", test_quota_at_resolution},
	{NULL, NULL},
};

int main(void)
{
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite("alias expansion", suite_init, suite_clean);
	for (const struct unit_test *t = tests; t->name != NULL; t++)
		CU_add_test(s, t->name, t->fn);
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
	printf("\nUNIT-RESULT %u %u\n", CU_get_number_of_tests_run() - CU_get_number_of_tests_failed(),
	       failed);
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
