/* Unit tests for admin/rpc.c: JSON-RPC envelope validation, the method
 * tables, parameter checking (types, ranges, names), audit redaction and
 * response lines. Table-driven: {input, expected code, expected param}. */
#include <stdlib.h>
#include <string.h>

#include "password.h"
#include "pool.h"
#include "rpc.h"
#include "unit.h"

struct envelope_case {
	const char *line;
	int code;       /* 0 = valid */
	const char *id; /* expected id of the error response, as JSON */
};

static void test_envelope_table(void)
{
	static const struct envelope_case cases[] = {
	    /* valid */
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"domain.get\"}", 0, NULL},
	    {"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"m\",\"params\":{}}", 0, NULL},
	    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\"}", 0, NULL},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"m\"}", 0, NULL}, /* notification */
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":[]}", 0, NULL},
	    {" {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"} ", 0, NULL},
	    /* parse errors */
	    {"", RPC_PARSE_ERROR, "null"},
	    {"{", RPC_PARSE_ERROR, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"} x", RPC_PARSE_ERROR, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"m\"}", RPC_PARSE_ERROR, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}", RPC_PARSE_ERROR, "null"},
	    {"{'jsonrpc':'2.0'}", RPC_PARSE_ERROR, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", RPC_PARSE_ERROR, "null"},
	    /* not a request object */
	    {"[]", RPC_INVALID_REQUEST, "null"},
	    {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}]", RPC_INVALID_REQUEST, "null"},
	    {"1", RPC_INVALID_REQUEST, "null"},
	    {"\"x\"", RPC_INVALID_REQUEST, "null"},
	    {"null", RPC_INVALID_REQUEST, "null"},
	    {"true", RPC_INVALID_REQUEST, "null"},
	    /* jsonrpc member */
	    {"{\"id\":1,\"method\":\"m\"}", RPC_INVALID_REQUEST, "1"},
	    {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"m\"}", RPC_INVALID_REQUEST, "1"},
	    {"{\"jsonrpc\":2.0,\"id\":1,\"method\":\"m\"}", RPC_INVALID_REQUEST, "1"},
	    /* id types */
	    {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"m\"}", RPC_INVALID_REQUEST, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"m\"}", RPC_INVALID_REQUEST, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"m\"}", RPC_INVALID_REQUEST, "null"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"m\"}", RPC_INVALID_REQUEST, "null"},
	    /* method */
	    {"{\"jsonrpc\":\"2.0\",\"id\":\"x\"}", RPC_INVALID_REQUEST, "\"x\""},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":1}", RPC_INVALID_REQUEST, "1"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", RPC_INVALID_REQUEST, "1"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", RPC_INVALID_REQUEST, "1"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaa\"}",
	     RPC_INVALID_REQUEST, "1"}, /* 65 bytes */
	    /* params not structured */
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":\"x\"}",
	     RPC_INVALID_REQUEST, "1"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":3}", RPC_INVALID_REQUEST,
	     "1"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":null}", RPC_INVALID_REQUEST,
	     "1"},
	    /* unknown members */
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"extra\":1}", RPC_INVALID_REQUEST,
	     "1"},
	};
	struct rpc_request req;
	struct rpc_error err;
	json_t *id;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct envelope_case *c = &cases[i];
		int ret = rpc_request_parse(c->line, strlen(c->line), &req, &id, &err);

		if (c->code == 0) {
			if (ret != 0)
				fprintf(stderr, "\ncase %zu refused: %s\n", i, err.message);
			CU_ASSERT_EQUAL(ret, 0);
			CU_ASSERT_PTR_NULL(id);
			CU_ASSERT_PTR_NOT_NULL(req.method);
			rpc_request_free(&req);
			continue;
		}
		if (ret != -1 || err.code != c->code)
			fprintf(stderr, "\ncase %zu: ret %d code %d\n", i, ret, err.code);
		CU_ASSERT_EQUAL(ret, -1);
		CU_ASSERT_EQUAL(err.code, c->code);
		CU_ASSERT_PTR_NULL(req.root);
		CU_ASSERT_PTR_NOT_NULL_FATAL(id);
		char *dump = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
		CU_ASSERT_STRING_EQUAL(dump, c->id);
		free(dump);
		json_decref(id);
	}
}

static void test_envelope_fields(void)
{
	static const char line[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"domain.get\",\"params\":{\"name\":\"x\"}}";
	static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"stats.get\"}";
	struct rpc_request req;
	struct rpc_error err;
	json_t *id;

	CU_ASSERT_EQUAL_FATAL(rpc_request_parse(line, strlen(line), &req, &id, &err), 0);
	CU_ASSERT_STRING_EQUAL(req.method, "domain.get");
	CU_ASSERT_EQUAL(json_integer_value(req.id), 7);
	CU_ASSERT_TRUE(json_is_object(req.params));
	CU_ASSERT_FALSE(req.notification);
	rpc_request_free(&req);
	CU_ASSERT_PTR_NULL(req.root);

	CU_ASSERT_EQUAL_FATAL(rpc_request_parse(note, strlen(note), &req, &id, &err), 0);
	CU_ASSERT_TRUE(req.notification);
	CU_ASSERT_PTR_NULL(req.id);
	CU_ASSERT_PTR_NULL(req.params);
	rpc_request_free(&req);
	rpc_request_free(&req); /* safe twice */
}

/* Parses only a prefix: the line need not be NUL-terminated. */
static void test_envelope_uses_len(void)
{
	static const char line[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}GARBAGE";
	struct rpc_request req;
	struct rpc_error err;
	json_t *id;

	CU_ASSERT_EQUAL(rpc_request_parse(line, strlen(line) - 7, &req, &id, &err), 0);
	rpc_request_free(&req);
}

static const char *const issue_methods[] = {
    "domain.create",   "domain.get",          "domain.list",    "domain.update",
    "domain.delete",   "domain.set_catchall", "account.create", "account.get",
    "account.list",    "account.update",      "account.delete", "account.set_password",
    "account.suspend", "account.resume",      "alias.create",   "alias.list",
    "alias.delete",    "quota.get",           "stats.get",      "db.migrate",
};

static void test_methods_exist(void)
{
	for (size_t i = 0; i < sizeof(issue_methods) / sizeof(issue_methods[0]); i++) {
		if (rpc_method_find(issue_methods[i]) == NULL)
			fprintf(stderr, "\nmissing method %s\n", issue_methods[i]);
		CU_ASSERT_PTR_NOT_NULL(rpc_method_find(issue_methods[i]));
	}
	CU_ASSERT_PTR_NULL(rpc_method_find("domain.nope"));
	CU_ASSERT_PTR_NULL(rpc_method_find(""));
	CU_ASSERT_PTR_NULL(rpc_method_find("DOMAIN.GET"));
}

static unsigned methods_seen;

static void check_method(const struct rpc_method *m, void *ctx)
{
	const char *read_only[] = {".get", ".list"};
	bool reader = false;
	unsigned n = 0;

	methods_seen++;
	CU_ASSERT_PTR_EQUAL(rpc_method_find(m->name), m); /* names unique */
	CU_ASSERT_PTR_NOT_NULL(m->handler);
	for (const struct rpc_param *p = m->params; p->name != NULL; p++) {
		n++;
		CU_ASSERT(strlen(p->name) <= RPC_NAME_MAX);
		/* A parameter's name appears once. */
		for (const struct rpc_param *q = p + 1; q->name != NULL; q++)
			CU_ASSERT(strcmp(p->name, q->name) != 0);
	}
	CU_ASSERT(n <= RPC_MAX_PARAMS);
	for (int i = 0; i < 2 && m->one_of[0] != NULL; i++) {
		bool found = false;
		for (const struct rpc_param *p = m->params; p->name != NULL; p++)
			found = found || strcmp(p->name, m->one_of[i]) == 0;
		CU_ASSERT_TRUE(found);
	}
	/* Reads are not audited, everything else is. */
	for (size_t i = 0; i < 2; i++) {
		size_t l = strlen(m->name), s = strlen(read_only[i]);
		reader = reader || (l > s && strcmp(m->name + l - s, read_only[i]) == 0);
	}
	CU_ASSERT_EQUAL(reader, (m->flags & RPC_MUTATION) == 0);
}

static void test_method_tables_consistent(void)
{
	methods_seen = 0;
	rpc_method_foreach(check_method, NULL);
	CU_ASSERT_EQUAL(methods_seen, sizeof(issue_methods) / sizeof(issue_methods[0]));
}

struct params_case {
	const char *method;
	const char *params; /* JSON, or NULL for none */
	const char *bad;    /* NULL = accepted; else data.param ("" = none) */
};

static char *big_password(size_t len)
{
	char *s = malloc(len + 64);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	strcpy(s, "{\"address\":\"a@b.test\",\"password\":\"");
	memset(s + strlen(s), 'p', len);
	strcpy(s + strlen("{\"address\":\"a@b.test\",\"password\":\"") + len, "\"}");
	return s;
}

static int run_params(const char *method, const char *params_json, struct pool *pool,
                      struct rpc_values *vals, struct rpc_error *err)
{
	const struct rpc_method *m = rpc_method_find(method);
	json_t *params = NULL;
	json_error_t jerr;
	int ret;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	if (params_json != NULL) {
		params = json_loads(params_json, 0, &jerr);
		CU_ASSERT_PTR_NOT_NULL_FATAL(params);
	}
	ret = rpc_params_check(m, params, pool, vals, err);
	json_decref(params);
	return ret;
}

static void test_params_table(void)
{
	static const struct params_case cases[] = {
	    /* domain.create */
	    {"domain.create", "{\"name\":\"ex.test\"}", NULL},
	    {"domain.create", "{\"name\":\"ex.test\",\"quota_bytes\":0,\"max_accounts\":0}", NULL},
	    {"domain.create", "{\"name\":\"ex.test\",\"quota_bytes\":9223372036854775807}", NULL},
	    {"domain.create", "{\"name\":\"ex.test\",\"max_accounts\":2147483647}", NULL},
	    {"domain.create", "{\"name\":\"ex.test\",\"max_accounts\":2147483648}", "max_accounts"},
	    {"domain.create", "{}", "name"},
	    {"domain.create", NULL, "name"},
	    {"domain.create", "[]", ""},
	    {"domain.create", "[\"ex.test\"]", ""},
	    {"domain.create", "{\"name\":1}", "name"},
	    {"domain.create", "{\"name\":null}", "name"},
	    {"domain.create", "{\"name\":[\"ex.test\"]}", "name"},
	    {"domain.create", "{\"name\":\"localhost\"}", "name"},
	    {"domain.create", "{\"name\":\"-ex.test\"}", "name"},
	    {"domain.create", "{\"name\":\"b\\u00fccher.test\"}", "name"},
	    {"domain.create", "{\"name\":\"ex.test\",\"quota_bytes\":-1}", "quota_bytes"},
	    {"domain.create", "{\"name\":\"ex.test\",\"quota_bytes\":1.5}", "quota_bytes"},
	    {"domain.create", "{\"name\":\"ex.test\",\"quota_bytes\":\"10\"}", "quota_bytes"},
	    {"domain.create", "{\"name\":\"ex.test\",\"quota_bytes\":true}", "quota_bytes"},
	    {"domain.create", "{\"name\":\"ex.test\",\"quota_bytes\":null}", "quota_bytes"},
	    {"domain.create", "{\"name\":\"ex.test\",\"max_accounts\":-5}", "max_accounts"},
	    {"domain.create", "{\"name\":\"ex.test\",\"extra\":1}", "extra"},
	    {"domain.create", "{\"name\":\"ex.test\",\"Name\":\"x\"}", "Name"},
	    /* domain.update / delete / list / set_catchall */
	    {"domain.update", "{\"name\":\"ex.test\",\"status\":\"suspended\"}", NULL},
	    {"domain.update", "{\"name\":\"ex.test\",\"status\":\"paused\"}", "status"},
	    {"domain.update", "{\"name\":\"ex.test\",\"status\":1}", "status"},
	    {"domain.delete", "{\"name\":\"ex.test\",\"force\":true}", NULL},
	    {"domain.delete", "{\"name\":\"ex.test\",\"force\":\"yes\"}", "force"},
	    {"domain.delete", "{\"name\":\"ex.test\",\"force\":1}", "force"},
	    {"domain.list", "{}", NULL},
	    {"domain.list", "{\"offset\":5,\"limit\":1000}", NULL},
	    {"domain.list", "{\"limit\":1001}", "limit"},
	    {"domain.list", "{\"offset\":-1}", "offset"},
	    {"domain.set_catchall", "{\"name\":\"ex.test\",\"destination\":null}", NULL},
	    {"domain.set_catchall", "{\"name\":\"ex.test\",\"destination\":\"a@ex.test\"}", NULL},
	    {"domain.set_catchall", "{\"name\":\"ex.test\"}", "destination"},
	    {"domain.set_catchall", "{\"name\":\"ex.test\",\"destination\":\"ex.test\"}",
	     "destination"},
	    /* account.* */
	    {"account.create", "{\"address\":\"a@ex.test\",\"password\":\"pw\"}", NULL},
	    {"account.create",
	     "{\"address\":\"a@ex.test\",\"password\":\"pw\","
	     "\"quota_bytes\":1,\"quota_messages\":2}",
	     NULL},
	    {"account.create", "{\"address\":\"a@ex.test\"}", "password"},
	    {"account.create",
	     "{\"address\":\"a@ex.test\",\"password\":\"pw\","
	     "\"password_hash\":\"{X}y\"}",
	     "password_hash"},
	    {"account.create", "{\"address\":\"a@ex.test\",\"password\":\"\"}", "password"},
	    {"account.create", "{\"address\":\"a@ex.test\",\"password\":7}", "password"},
	    {"account.create", "{\"address\":\"a@ex.test\",\"password_hash\":\"plain\"}",
	     "password_hash"},
	    {"account.create", "{\"address\":\"a@ex.test\",\"password_hash\":\"{PLAIN}x\"}",
	     "password_hash"}, /* {PLAIN} is refused unless enabled */
	    {"account.create", "{\"address\":\"a\",\"password\":\"pw\"}", "address"},
	    {"account.create", "{\"address\":\"a..b@ex.test\",\"password\":\"pw\"}", "address"},
	    {"account.create",
	     "{\"address\":\"a@ex.test\",\"password\":\"pw\","
	     "\"quota_messages\":-1}",
	     "quota_messages"},
	    {"account.list", "{\"domain\":null}", NULL},
	    {"account.list", "{\"domain\":\"ex.test\",\"limit\":1000}", NULL},
	    {"account.list", "{\"domain\":\"ex.test\",\"limit\":1001}", "limit"},
	    {"account.list", "{\"domain\":3}", "domain"},
	    {"account.update", "{\"address\":\"a@ex.test\",\"quota_bytes\":5}", NULL},
	    {"account.update", "{\"address\":\"a@ex.test\",\"status\":\"active\"}", "status"},
	    {"account.update", "{\"address\":\"a@ex.test\",\"password\":\"x\"}", "password"},
	    {"account.set_password", "{\"address\":\"a@ex.test\"}", "password"},
	    {"account.set_password", "{\"address\":\"a@ex.test\",\"password\":\"x\"}", NULL},
	    {"account.suspend", "{\"address\":\"a@ex.test\"}", NULL},
	    {"account.suspend", "{}", "address"},
	    {"account.delete", "{\"address\":\"a@ex.test\",\"force\":true}", "force"},
	    /* alias.* */
	    {"alias.create", "{\"address\":\"x@ex.test\",\"destinations\":[\"a@ex.test\"]}", NULL},
	    {"alias.create", "{\"address\":\"x@ex.test\",\"destinations\":[]}", "destinations"},
	    {"alias.create", "{\"address\":\"x@ex.test\",\"destinations\":\"a@ex.test\"}",
	     "destinations"},
	    {"alias.create", "{\"address\":\"x@ex.test\",\"destinations\":[1]}", "destinations"},
	    {"alias.create", "{\"address\":\"x@ex.test\",\"destinations\":[\"nope\"]}",
	     "destinations"},
	    {"alias.create", "{\"address\":\"x@ex.test\",\"destinations\":[null]}", "destinations"},
	    {"alias.create", "{\"address\":\"x@ex.test\"}", "destinations"},
	    {"alias.list", "{}", NULL},
	    {"alias.delete", "{\"address\":\"x@ex.test\"}", NULL},
	    /* quota, stats, db */
	    {"quota.get", "{\"address\":\"a@ex.test\"}", NULL},
	    {"quota.get", "{\"address\":\"\"}", "address"},
	    {"stats.get", NULL, NULL},
	    {"stats.get", "{\"domain\":\"ex.test\"}", NULL},
	    {"db.migrate", "{}", NULL},
	    {"db.migrate", "{\"x\":1}", "x"},
	};
	struct pool *pool = pool_create(0);
	struct rpc_values vals;
	struct rpc_error err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct params_case *c = &cases[i];
		int ret = run_params(c->method, c->params, pool, &vals, &err);

		if (c->bad == NULL) {
			if (ret != 0)
				fprintf(stderr, "\n%s %s refused: %s\n", c->method,
				        c->params ? c->params : "-", err.message);
			CU_ASSERT_EQUAL(ret, 0);
			continue;
		}
		if (ret != -1 || strcmp(err.param, c->bad) != 0)
			fprintf(stderr, "\n%s %s: ret %d param \"%s\" (want \"%s\")\n", c->method,
			        c->params ? c->params : "-", ret, ret < 0 ? err.param : "", c->bad);
		CU_ASSERT_EQUAL(ret, -1);
		CU_ASSERT_EQUAL(err.code, RPC_INVALID_PARAMS);
		CU_ASSERT_STRING_EQUAL(err.reason, "invalid");
		CU_ASSERT_STRING_EQUAL(err.param, c->bad);
	}
	pool_destroy(&pool);
}

static void test_params_values(void)
{
	struct pool *pool = pool_create(0);
	struct rpc_values vals;
	struct rpc_error err;

	/* Normalised, in table order, defaults filled in. */
	CU_ASSERT_EQUAL_FATAL(run_params("domain.create",
	                                 "{\"name\":\"Ex.TEST\",\"max_accounts\":3}", pool, &vals,
	                                 &err),
	                      0);
	CU_ASSERT_EQUAL(vals.n, 3);
	CU_ASSERT_STRING_EQUAL(vals.text[0], "ex.test");
	CU_ASSERT_PTR_NULL(vals.text[1]);
	CU_ASSERT_FALSE(vals.present[1]);
	CU_ASSERT_STRING_EQUAL(vals.text[2], "3");

	CU_ASSERT_EQUAL_FATAL(run_params("domain.list", "{}", pool, &vals, &err), 0);
	CU_ASSERT_STRING_EQUAL(vals.text[0], "0");
	CU_ASSERT_STRING_EQUAL(vals.text[1], "100");

	CU_ASSERT_EQUAL_FATAL(
	    run_params("domain.delete", "{\"name\":\"a.b\",\"force\":true}", pool, &vals, &err), 0);
	CU_ASSERT_STRING_EQUAL(vals.text[1], "true");

	CU_ASSERT_EQUAL_FATAL(run_params("domain.set_catchall",
	                                 "{\"name\":\"a.b\",\"destination\":null}", pool, &vals,
	                                 &err),
	                      0);
	CU_ASSERT_PTR_NULL(vals.text[1]);
	CU_ASSERT_TRUE(vals.present[1]);

	CU_ASSERT_EQUAL_FATAL(run_params("alias.create",
	                                 "{\"address\":\"X@A.B\",\"destinations\":[\"P@A.B\","
	                                 "\"q@a.b\"]}",
	                                 pool, &vals, &err),
	                      0);
	CU_ASSERT_STRING_EQUAL(vals.text[0], "x@a.b");
	CU_ASSERT_STRING_EQUAL(vals.text[1], "[\"p@a.b\",\"q@a.b\"]");

	CU_ASSERT_EQUAL_FATAL(run_params("domain.update",
	                                 "{\"name\":\"a.b\",\"status\":\"active\"}", pool, &vals,
	                                 &err),
	                      0);
	CU_ASSERT_STRING_EQUAL(vals.text[3], "active");
	pool_destroy(&pool);
}

static void test_params_limits(void)
{
	struct pool *pool = pool_create(0);
	struct rpc_values vals;
	struct rpc_error err;
	char *json, dests[120 * 16 + 64];
	size_t len;

	/* Password of PASSWORD_MAX_LEN bytes accepted, one more refused. */
	json = big_password(PASSWORD_MAX_LEN);
	CU_ASSERT_EQUAL(run_params("account.create", json, pool, &vals, &err), 0);
	free(json);
	json = big_password(PASSWORD_MAX_LEN + 1);
	CU_ASSERT_EQUAL(run_params("account.create", json, pool, &vals, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.param, "password");
	free(json);

	/* 100 destinations accepted, 101 refused. */
	for (int n = 100; n <= 101; n++) {
		len = (size_t)snprintf(dests, sizeof(dests),
		                       "{\"address\":\"x@a.b\",\"destinations\":[");
		for (int i = 0; i < n; i++)
			len += (size_t)snprintf(dests + len, sizeof(dests) - len, "%s\"d%d@a.b\"",
			                        i > 0 ? "," : "", i);
		snprintf(dests + len, sizeof(dests) - len, "]}");
		CU_ASSERT_EQUAL(run_params("alias.create", dests, pool, &vals, &err),
		                n == 100 ? 0 : -1);
	}
	pool_destroy(&pool);
}

static void test_params_stored_hash(void)
{
	struct password_cost cost = {64, 1, 1};
	struct pool *pool = pool_create(0);
	struct rpc_values vals;
	struct rpc_error err;
	const char *why;
	char *hash, json[1024];

	CU_ASSERT_EQUAL_FATAL(password_hash("secret", &cost, &hash, &why), 0);
	snprintf(json, sizeof(json), "{\"address\":\"a@ex.test\",\"password_hash\":\"%s\"}", hash);
	CU_ASSERT_EQUAL(run_params("account.create", json, pool, &vals, &err), 0);
	CU_ASSERT_STRING_EQUAL(vals.text[2], hash);
	CU_ASSERT_FALSE(vals.present[1]);
	snprintf(json, sizeof(json), "{\"address\":\"a@ex.test\",\"password_hash\":\"%s\"}",
	         hash + 1); /* "ARGON2ID}...": malformed */
	CU_ASSERT_EQUAL(run_params("account.update", json, pool, &vals, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.param, "password_hash");
	free(hash);
	pool_destroy(&pool);
}

static void test_unknown_param_name_sanitised(void)
{
	struct pool *pool = pool_create(0);
	struct rpc_values vals;
	struct rpc_error err;

	CU_ASSERT_EQUAL(
	    run_params("domain.get", "{\"name\":\"a.b\",\"x\\ny\\u0001\":1}", pool, &vals, &err),
	    -1);
	CU_ASSERT_STRING_EQUAL(err.param, "x?y?");
	CU_ASSERT_PTR_NULL(strchr(err.message, '\n'));
	pool_destroy(&pool);
}

static void check_audit(const char *params_json, const char *expect)
{
	json_error_t jerr;
	json_t *params =
	    params_json != NULL ? json_loads(params_json, JSON_DECODE_ANY, &jerr) : NULL;
	char *out = rpc_audit_params(params);

	CU_ASSERT_STRING_EQUAL(out, expect);
	free(out);
	json_decref(params);
}

static void test_audit_params_redacted(void)
{
	check_audit("{\"address\":\"a@b.c\",\"password\":\"hunter2\"}", "{\"address\":\"a@b.c\"}");
	check_audit("{\"address\":\"a@b.c\",\"password_hash\":\"{ARGON2ID}x\"}",
	            "{\"address\":\"a@b.c\"}");
	check_audit("{\"PassWord\":1,\"old_pass\":[\"x\"],\"secret\":{},\"name\":\"n\"}",
	            "{\"name\":\"n\"}");
	check_audit(NULL, "{}");
	check_audit("[\"hunter2\"]", "null");
	check_audit("\"hunter2\"", "null");
}

static void test_audit_params_truncated(void)
{
	size_t n = 70 * 1024;
	char *big = malloc(n + 32);
	json_t *params;
	char *out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, 'x', n);
	big[n] = '\0';
	params = json_pack("{s:s}", "name", big);
	out = rpc_audit_params(params);
	CU_ASSERT_STRING_EQUAL(out, "{\"truncated\":true}");
	free(out);
	json_decref(params);
	free(big);
}

static void test_responses(void)
{
	struct rpc_error err;
	json_t *id = json_integer(5), *result = json_pack("{s:i}", "applied", 2);
	char *line;

	line = rpc_response_result(id, result);
	CU_ASSERT_STRING_EQUAL(line, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"applied\":2}}");
	free(line);

	rpc_error_set(&err, RPC_INVALID_PARAMS, "invalid", "name", "Invalid params: %s", "x\ny");
	line = rpc_response_error(NULL, &err);
	CU_ASSERT_STRING_EQUAL(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32602,"
	                             "\"message\":\"Invalid params: x\\ny\",\"data\":{\"reason\":"
	                             "\"invalid\",\"param\":\"name\"}}}");
	CU_ASSERT_PTR_NULL(strchr(line, '\n')); /* one line, whatever the text */
	free(line);

	rpc_error_set(&err, RPC_PARSE_ERROR, NULL, NULL, "Parse error");
	line = rpc_response_error(id, &err);
	CU_ASSERT_STRING_EQUAL(line, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32700,"
	                             "\"message\":\"Parse error\"}}");
	free(line);

	/* Invalid UTF-8 in a message cannot break the response. */
	rpc_error_set(&err, RPC_APP_ERROR, "conflict", NULL, "bad \xff byte");
	line = rpc_response_error(id, &err);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "bad ? byte"));
	free(line);
	json_decref(id);
	json_decref(result);
}

static const struct unit_test envelope_tests[] = {
    {"every invalid request shape refused with its code", test_envelope_table},
    {"fields of a valid request and a notification", test_envelope_fields},
    {"only len bytes are parsed", test_envelope_uses_len},
    {NULL, NULL},
};
static const struct unit_test method_tests[] = {
    {"every documented method exists", test_methods_exist},
    {"tables consistent: unique names, flags, one_of", test_method_tables_consistent},
    {NULL, NULL},
};
static const struct unit_test params_tests[] = {
    {"parameter types, ranges and names", test_params_table},
    {"values normalised in table order with defaults", test_params_values},
    {"limits at and one past", test_params_limits},
    {"stored hashes checked", test_params_stored_hash},
    {"unknown parameter names sanitised", test_unknown_param_name_sanitised},
    {NULL, NULL},
};
static const struct unit_test output_tests[] = {
    {"audit params without secrets", test_audit_params_redacted},
    {"audit params truncated when huge", test_audit_params_truncated},
    {"response lines", test_responses},
    {NULL, NULL},
};
static const struct unit_suite suites[] = {
    {"rpc envelope", envelope_tests},
    {"rpc methods", method_tests},
    {"rpc params", params_tests},
    {"rpc output", output_tests},
    {NULL, NULL},
};
UNIT_MAIN(suites)
