/* Unit tests for config.c: the option table, defaults, value types, ranges
 * at and past their limits, file errors with file:line, -o overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

/* Exposed by config.c for this test. */
const char *config_option_name(size_t i);

/* Writes text to a new temporary file; returns its path (static). */
/* Appends the six placeholder characters mkstemp/mkdtemp replace. */
static void mkstemp_suffix(char *path, size_t size)
{
	size_t len = strlen(path);

	if (len + 7 <= size) {
		memset(path + len, 'X', 6);
		path[len + 6] = '\0';
	}
}

static const char *write_conf(const char *text)
{
	static char path[64];
	int fd;
	size_t len = strlen(text);

	snprintf(path, sizeof(path), "/tmp/mailstead-test-conf-");
	mkstemp_suffix(path, sizeof(path));
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
	CU_ASSERT_FATAL(close(fd) == 0);
	return path;
}

/* Loads text over the defaults; returns config_load's result and leaves the
 * error message in error_r. The caller frees cfg. */
static int load_text(struct config *cfg, const char *text, const char **error_r)
{
	const char *path = write_conf(text);
	int ret;

	config_defaults(cfg);
	ret = config_load(cfg, path, error_r);
	CU_ASSERT_EQUAL(unlink(path), 0);
	return ret;
}

static void test_table_sorted_and_unique(void)
{
	const char *prev = config_option_name(0), *name;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(prev);
	for (i = 1; (name = config_option_name(i)) != NULL; i++) {
		if (strcmp(prev, name) >= 0) {
			fprintf(stderr, "\nconfig table out of order: %s before %s\n", prev, name);
			CU_FAIL("config option table not sorted");
		}
		prev = name;
	}
	CU_ASSERT(i > 10);
}

static void test_every_option_settable(void)
{
	/* A lookup that fails for a listed option (e.g. because the table is
	 * not sorted for the binary search) shows up here. */
	struct config cfg;
	const char *name, *error;
	char assignment[128];

	config_defaults(&cfg);
	for (size_t i = 0; (name = config_option_name(i)) != NULL; i++) {
		snprintf(assignment, sizeof(assignment), "%s=zzz-not-a-value", name);
		if (config_set(&cfg, assignment, &error) == 0)
			continue; /* a string option takes anything */
		if (strstr(error, "unknown option") != NULL) {
			fprintf(stderr, "\noption %s cannot be set: %s\n", name, error);
			CU_FAIL("listed option not found by lookup");
		}
	}
	config_free(&cfg);
}

static void test_defaults(void)
{
	struct config cfg;

	config_defaults(&cfg);
	CU_ASSERT_STRING_EQUAL(cfg.user, "mailstead");
	CU_ASSERT_STRING_EQUAL(cfg.log_level, "info");
	CU_ASSERT_STRING_EQUAL(cfg.admin_socket, "/run/mailstead/admind.sock");
	CU_ASSERT_STRING_EQUAL(cfg.db_conninfo, "dbname=mailstead");
	CU_ASSERT_EQUAL(cfg.db_connections, 4);
	CU_ASSERT_EQUAL(cfg.admin_allowed_uid, -1);
	CU_ASSERT_EQUAL(cfg.admin_allowed_gid, -1);
	CU_ASSERT_EQUAL(cfg.admin_max_clients, 64);
	CU_ASSERT_EQUAL(cfg.admin_max_request, 1024 * 1024);
	CU_ASSERT_EQUAL(cfg.argon2_memory_kib, 19456);
	CU_ASSERT_EQUAL(cfg.argon2_iterations, 2);
	CU_ASSERT_EQUAL(cfg.allow_plaintext_auth, false);
	CU_ASSERT_EQUAL(cfg.max_line, 64 * 1024);
	CU_ASSERT_EQUAL(cfg.max_message_size, 50 * 1024 * 1024);
	CU_ASSERT_EQUAL(cfg.max_nonsync_literal, 50 * 1024 * 1024);
	CU_ASSERT_EQUAL(cfg.preauth_timeout, 60);
	CU_ASSERT_EQUAL(cfg.autologout, 30 * 60);
	CU_ASSERT_EQUAL(cfg.workers, 0);
	config_free(&cfg);
	CU_ASSERT_PTR_NULL(cfg.user);
}

static void test_parse_size(void)
{
	static const struct {
		const char *in;
		int ret;
		uint64_t value;
	} cases[] = {
	    {"0", 0, 0},
	    {"10", 0, 10},
	    {"1K", 0, 1024},
	    {"1k", 0, 1024},
	    {"64K", 0, 65536},
	    {"1M", 0, 1048576},
	    {"2G", 0, 2147483648ULL},
	    {"7B", 0, 7},
	    {"", -1, 0},
	    {"K", -1, 0},
	    {"-1", -1, 0},
	    {"+1", -1, 0},
	    {" 1", -1, 0},
	    {"1X", -1, 0},
	    {"1KB", -1, 0},
	    {"1.5M", -1, 0},
	    {"18446744073709551615", 0, UINT64_MAX},
	    {"18446744073709551616", -1, 0}, /* overflows before the unit */
	    {"17179869184G", -1, 0},         /* overflows with the unit */
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		CU_ASSERT_EQUAL(config_parse_size(cases[i].in, &v), cases[i].ret);
		if (cases[i].ret == 0)
			CU_ASSERT_EQUAL(v, cases[i].value);
	}
}

struct set_case {
	const char *assignment;
	int ret;
};

static void run_set_cases(const struct set_case *cases, size_t n, struct config *cfg)
{
	const char *error;

	for (size_t i = 0; i < n; i++) {
		int ret = config_set(cfg, cases[i].assignment, &error);
		if (ret != cases[i].ret)
			fprintf(stderr, "\n-o %s: got %d\n", cases[i].assignment, ret);
		CU_ASSERT_EQUAL(ret, cases[i].ret);
	}
}

static void test_durations(void)
{
	struct config cfg;
	const char *error;

	config_defaults(&cfg);
	CU_ASSERT_EQUAL(config_set(&cfg, "autologout=90s", &error), 0);
	CU_ASSERT_EQUAL(cfg.autologout, 90);
	CU_ASSERT_EQUAL(config_set(&cfg, "autologout=2m", &error), 0);
	CU_ASSERT_EQUAL(cfg.autologout, 120);
	CU_ASSERT_EQUAL(config_set(&cfg, "autologout=1h", &error), 0);
	CU_ASSERT_EQUAL(cfg.autologout, 3600);
	CU_ASSERT_EQUAL(config_set(&cfg, "autologout=1d", &error), 0);
	CU_ASSERT_EQUAL(cfg.autologout, 86400);
	CU_ASSERT_EQUAL(config_set(&cfg, "autologout=300", &error), 0);
	CU_ASSERT_EQUAL(cfg.autologout, 300);
	CU_ASSERT_EQUAL(config_set(&cfg, "autologout=5M", &error), 0); /* case-insensitive */
	CU_ASSERT_EQUAL(cfg.autologout, 300);
	CU_ASSERT_EQUAL(config_set(&cfg, "autologout=5w", &error), -1);
	CU_ASSERT_EQUAL(config_set(&cfg, "autologout=m", &error), -1);
	CU_ASSERT_EQUAL(cfg.autologout, 300); /* unchanged by a failure */
	config_free(&cfg);
}

static void test_bools(void)
{
	static const struct {
		const char *value;
		int ret;
		bool expect;
	} cases[] = {
	    {"yes", 0, true}, {"no", 0, false},  {"true", 0, true},    {"false", 0, false},
	    {"on", 0, true},  {"off", 0, false}, {"1", 0, true},       {"0", 0, false},
	    {"YES", 0, true}, {"Off", 0, false}, {"maybe", -1, false}, {"", -1, false},
	    {"2", -1, false},
	};
	struct config cfg;
	const char *error;
	char assignment[64];

	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(assignment, sizeof(assignment), "allow_plaintext_auth=%s", cases[i].value);
		CU_ASSERT_EQUAL(config_set(&cfg, assignment, &error), cases[i].ret);
		if (cases[i].ret == 0)
			CU_ASSERT_EQUAL(cfg.allow_plaintext_auth, cases[i].expect);
	}
	config_free(&cfg);
}

static void test_ranges_at_and_past_limits(void)
{
	static const struct set_case cases[] = {
	    {"admin_max_clients=1", 0},
	    {"admin_max_clients=0", -1},
	    {"admin_max_clients=10000", 0},
	    {"admin_max_clients=10001", -1},
	    {"admin_max_request=1K", 0},
	    {"admin_max_request=1023", -1},
	    {"admin_max_request=64M", 0},
	    {"admin_max_request=67108865", -1},
	    {"admin_allowed_uid=-1", 0},
	    {"admin_allowed_uid=-2", -1},
	    {"admin_allowed_uid=4294967294", 0},
	    {"admin_allowed_uid=4294967295", -1},
	    {"admin_allowed_uid=12x", -1},
	    {"admin_allowed_uid=", -1},
	    {"db_connections=1", 0},
	    {"db_connections=0", -1},
	    {"db_connections=64", 0},
	    {"db_connections=65", -1},
	    {"db_connections=-1", -1},
	    {"preauth_timeout=5", 0},
	    {"preauth_timeout=4", -1},
	    {"preauth_timeout=1h", 0},
	    {"preauth_timeout=3601", -1},
	    {"autologout=1m", 0},
	    {"autologout=59", -1},
	    {"autologout=24h", 0},
	    {"autologout=86401", -1},
	    {"max_message_size=1G", 0},
	    {"max_message_size=1073741825", -1},
	    {"max_nonsync_literal=4K", 0},
	    {"max_nonsync_literal=4095", -1},
	    {"argon2_memory_kib=8", 0},
	    {"argon2_memory_kib=7", -1},
	    {"workers=256", 0},
	    {"workers=257", -1},
	};
	struct config cfg;

	config_defaults(&cfg);
	run_set_cases(cases, sizeof(cases) / sizeof(cases[0]), &cfg);
	config_free(&cfg);
}

static void test_overrides(void)
{
	struct config cfg;
	const char *error;

	config_defaults(&cfg);
	CU_ASSERT_EQUAL(config_set(&cfg, "admin_max_clients=5", &error), 0);
	CU_ASSERT_EQUAL(cfg.admin_max_clients, 5);
	CU_ASSERT_EQUAL(config_set(&cfg, " admin_socket = /tmp/x.sock ", &error), 0);
	CU_ASSERT_STRING_EQUAL(cfg.admin_socket, "/tmp/x.sock");
	CU_ASSERT_EQUAL(config_set(&cfg, "admin_socket=\"/tmp/a b.sock\"", &error), 0);
	CU_ASSERT_STRING_EQUAL(cfg.admin_socket, "/tmp/a b.sock");
	/* A value may contain '=': only the first one splits. */
	CU_ASSERT_EQUAL(config_set(&cfg, "db_conninfo=host=/tmp dbname=x", &error), 0);
	CU_ASSERT_STRING_EQUAL(cfg.db_conninfo, "host=/tmp dbname=x");
	CU_ASSERT_EQUAL(config_set(&cfg, "no_such_option=1", &error), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(error, "no_such_option"));
	CU_ASSERT_PTR_NOT_NULL(strstr(error, "unknown option"));
	CU_ASSERT_EQUAL(config_set(&cfg, "admin_max_clients", &error), -1);
	CU_ASSERT_EQUAL(config_set(&cfg, "admin_max_clients=abc", &error), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(error, "admin_max_clients"));
	/* -o may set an option the file set too (that is its purpose). */
	CU_ASSERT_EQUAL(config_set(&cfg, "admin_max_clients=6", &error), 0);
	CU_ASSERT_EQUAL(cfg.admin_max_clients, 6);
	config_free(&cfg);
}

static void test_file_good(void)
{
	struct config cfg;
	const char *error = NULL;

	CU_ASSERT_EQUAL_FATAL(load_text(&cfg,
	                                "# a comment\n"
	                                "\n"
	                                "   user = mail   # trailing comment\n"
	                                "admin_socket = \"/tmp/with # hash.sock\"\n"
	                                "admin_max_request = 2M\n"
	                                "allow_plaintext_auth = yes\n"
	                                "autologout = 10m\n"
	                                "admin_allowed_gid = 1000\n"
	                                "log_level=debug",
	                                &error),
	                      0);
	CU_ASSERT_STRING_EQUAL(cfg.user, "mail");
	CU_ASSERT_STRING_EQUAL(cfg.admin_socket, "/tmp/with # hash.sock");
	CU_ASSERT_EQUAL(cfg.admin_max_request, 2 * 1024 * 1024);
	CU_ASSERT_EQUAL(cfg.allow_plaintext_auth, true);
	CU_ASSERT_EQUAL(cfg.autologout, 600);
	CU_ASSERT_EQUAL(cfg.admin_allowed_gid, 1000);
	CU_ASSERT_STRING_EQUAL(cfg.log_level, "debug"); /* last line without LF */
	/* Untouched options keep their defaults. */
	CU_ASSERT_EQUAL(cfg.admin_max_clients, 64);
	config_free(&cfg);
}

struct file_error_case {
	const char *text;
	const char *expect; /* substring of the message after "path" */
};

static void test_file_errors_name_file_and_line(void)
{
	static const struct file_error_case cases[] = {
	    {"user = a\nno_such = 1\n", ":2: no_such: unknown option"},
	    {"user = a\n\nuser = b\n", ":3: user: option set twice"},
	    {"# c\nadmin_max_clients = 0\n", ":2: admin_max_clients: value out of range"},
	    {"admin_max_clients = 10001\n", ":1: admin_max_clients: value out of range"},
	    {"admin_max_request = 1Q\n", ":1: admin_max_request: expected a size"},
	    {"allow_plaintext_auth = perhaps\n", ":1: allow_plaintext_auth: expected yes or no"},
	    {"just some words\n", ":1: expected key = value"},
	    {"user = \"unterminated\n", ":1: unterminated quoted value"},
	    {"user = \"a\"b\"\n", ":1: a quoted value cannot contain"},
	    {"autologout = 1w\n", ":1: autologout: expected a duration"},
	};
	struct config cfg;
	const char *error;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		error = NULL;
		CU_ASSERT_EQUAL(load_text(&cfg, cases[i].text, &error), -1);
		CU_ASSERT_PTR_NOT_NULL(error);
		if (error != NULL) {
			if (strstr(error, cases[i].expect) == NULL)
				fprintf(stderr, "\nexpected \"%s\" in \"%s\"\n", cases[i].expect,
				        error);
			CU_ASSERT_PTR_NOT_NULL(strstr(error, cases[i].expect));
			CU_ASSERT_PTR_NOT_NULL(strstr(error, "/tmp/mailstead-test-conf-"));
		}
		config_free(&cfg);
	}
}

static void test_file_line_too_long(void)
{
	struct config cfg;
	const char *error = NULL;
	char *text = malloc(5000);

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	memcpy(text, "user = ", 7);
	memset(text + 7, 'x', 4990);
	text[4997] = '\n';
	text[4998] = '\0';
	CU_ASSERT_EQUAL(load_text(&cfg, text, &error), -1);
	CU_ASSERT_PTR_NOT_NULL(error != NULL ? strstr(error, ":1: line too long") : NULL);
	free(text);
	config_free(&cfg);
}

static void test_missing_file(void)
{
	struct config cfg;
	const char *error = NULL;

	config_defaults(&cfg);
	CU_ASSERT_EQUAL(config_load(&cfg, "/nonexistent/mailstead.conf", &error), -1);
	CU_ASSERT_PTR_NOT_NULL(error != NULL ? strstr(error, "/nonexistent/mailstead.conf") : NULL);
	/* NULL path: defaults only. */
	CU_ASSERT_EQUAL(config_load(&cfg, NULL, &error), 0);
	config_free(&cfg);
}

static const struct unit_test table_tests[] = {
    {"option table sorted and unique", test_table_sorted_and_unique},
    {"every listed option can be looked up", test_every_option_settable},
    {"defaults", test_defaults},
    {NULL, NULL},
};
static const struct unit_test value_tests[] = {
    {"sizes with K/M/G, refusals and overflow", test_parse_size},
    {"durations with s/m/h/d", test_durations},
    {"booleans", test_bools},
    {"ranges at and one past their limits", test_ranges_at_and_past_limits},
    {"-o overrides", test_overrides},
    {NULL, NULL},
};
static const struct unit_test file_tests[] = {
    {"comments, quotes, whitespace", test_file_good},
    {"errors carry file:line", test_file_errors_name_file_and_line},
    {"line too long", test_file_line_too_long},
    {"missing file", test_missing_file},
    {NULL, NULL},
};
static const struct unit_suite suites[] = {
    {"config table", table_tests},
    {"config values", value_tests},
    {"config file", file_tests},
    {NULL, NULL},
};
UNIT_MAIN(suites)
