#include "rpc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "log.h"
#include "password.h"
#include "pool.h"

/* Audit params larger than this are not worth keeping whole. */
#define RPC_AUDIT_MAX (64 * 1024)

void rpc_error_set(struct rpc_error *err, int code, const char *reason, const char *param,
                   const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	err->reason = reason;
	if (param != NULL)
		(void)log_sanitize(err->param, sizeof(err->param), param, strlen(param));
	else
		err->param[0] = '\0';
	va_start(ap, fmt);
	/* Truncation is fine: messages are for humans. */
	(void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* JSON-RPC 2.0 §4: an id is a string, a number (we take integers only:
 * fractional ids are discouraged) or null. */
static bool id_valid(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id) || json_is_null(id);
}

int rpc_request_parse(const char *line, size_t len, struct rpc_request *req, json_t **id_r,
                      struct rpc_error *err)
{
	static const char *const members[] = {"jsonrpc", "id", "method", "params"};
	json_error_t jerr;
	json_t *root, *v;
	const char *key;

	memset(req, 0, sizeof(*req));
	*id_r = json_null();
	/* Duplicate members are refused: which one would count is ambiguous. */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		char why[96];
		rpc_error_set(err, RPC_PARSE_ERROR, NULL, NULL, "Parse error: %s",
		              log_sanitize(why, sizeof(why), jerr.text, strlen(jerr.text)));
		return -1;
	}
	if (json_is_array(root)) {
		rpc_error_set(err, RPC_INVALID_REQUEST, "invalid", NULL,
		              "Invalid request: batch requests are not supported");
		goto bad;
	}
	if (!json_is_object(root)) {
		rpc_error_set(err, RPC_INVALID_REQUEST, "invalid", NULL,
		              "Invalid request: not a JSON object");
		goto bad;
	}
	v = json_object_get(root, "id");
	if (v != NULL) {
		if (!id_valid(v)) {
			rpc_error_set(err, RPC_INVALID_REQUEST, "invalid", "id",
			              "Invalid request: id must be a string, an integer or null");
			goto bad;
		}
		json_decref(*id_r);
		*id_r = json_incref(v);
	}
	v = json_object_get(root, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
		rpc_error_set(err, RPC_INVALID_REQUEST, "invalid", "jsonrpc",
		              "Invalid request: jsonrpc must be \"2.0\"");
		goto bad;
	}
	v = json_object_get(root, "method");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > RPC_NAME_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		rpc_error_set(err, RPC_INVALID_REQUEST, "invalid", "method",
		              "Invalid request: method must be a string of 1..%d bytes",
		              RPC_NAME_MAX);
		goto bad;
	}
	req->method = json_string_value(v);
	v = json_object_get(root, "params");
	if (v != NULL && !json_is_object(v) && !json_is_array(v)) {
		rpc_error_set(err, RPC_INVALID_REQUEST, "invalid", "params",
		              "Invalid request: params must be an object");
		goto bad;
	}
	req->params = v;
	json_object_foreach(root, key, v)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
			known = known || strcmp(key, members[i]) == 0;
		if (!known) {
			rpc_error_set(err, RPC_INVALID_REQUEST, "invalid", key,
			              "Invalid request: unknown member");
			goto bad;
		}
	}
	req->root = root;
	req->id = json_object_get(root, "id");
	req->notification = req->id == NULL;
	json_decref(*id_r);
	*id_r = NULL;
	return 0;
bad:
	json_decref(root);
	memset(req, 0, sizeof(*req));
	return -1;
}

void rpc_request_free(struct rpc_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

static const struct rpc_method *const rpc_tables[] = {
    rpc_domains_methods, rpc_account_methods, rpc_alias_methods, rpc_stats_methods, rpc_db_methods,
};

const struct rpc_method *rpc_method_find(const char *name)
{
	for (size_t t = 0; t < sizeof(rpc_tables) / sizeof(rpc_tables[0]); t++)
		for (const struct rpc_method *m = rpc_tables[t]; m->name != NULL; m++)
			if (strcmp(m->name, name) == 0)
				return m;
	return NULL;
}

void rpc_method_foreach(void (*fn)(const struct rpc_method *m, void *ctx), void *ctx)
{
	for (size_t t = 0; t < sizeof(rpc_tables) / sizeof(rpc_tables[0]); t++)
		for (const struct rpc_method *m = rpc_tables[t]; m->name != NULL; m++)
			fn(m, ctx);
}

static const struct rpc_param *param_find(const struct rpc_method *m, const char *name)
{
	for (const struct rpc_param *p = m->params; p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* A JSON string as a C string of at most max bytes, or NULL (wrong type,
 * too long, or with a NUL inside that a C string would cut short). */
static const char *string_value(const json_t *v, size_t min, size_t max)
{
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	if (json_string_length(v) < min || json_string_length(v) > max ||
	    strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

static int param_invalid(struct rpc_error *err, const struct rpc_param *p, const char *what)
{
	rpc_error_set(err, RPC_INVALID_PARAMS, "invalid", p->name, "Invalid params: %s: %s",
	              p->name, what);
	return -1;
}

/* Checks one present, non-null value and stores its SQL text. */
static int param_convert(const struct rpc_param *p, json_t *v, struct pool *pool,
                         const char **text_r, struct rpc_error *err)
{
	const char *s, *why = NULL;
	char dom[ADDRESS_DOMAIN_MAX + 1], addr[ADDRESS_MAX + 1];

	switch (p->type) {
	case RPC_P_DOMAIN:
		if ((s = string_value(v, 0, ADDRESS_DOMAIN_MAX)) == NULL)
			return param_invalid(
			    err, p, json_is_string(v) ? "domain too long" : "expected a string");
		if (address_domain_normalize(s, strlen(s), dom, &why) < 0)
			return param_invalid(err, p, why);
		*text_r = pool_strdup(pool, dom);
		return 0;
	case RPC_P_ADDRESS:
		if ((s = string_value(v, 0, ADDRESS_MAX)) == NULL)
			return param_invalid(
			    err, p, json_is_string(v) ? "address too long" : "expected a string");
		if (address_normalize(s, addr, &why) < 0)
			return param_invalid(err, p, why);
		*text_r = pool_strdup(pool, addr);
		return 0;
	case RPC_P_ADDRESSES: {
		json_t *out, *item;
		size_t i;
		char *dump;

		if (!json_is_array(v))
			return param_invalid(err, p, "expected an array of addresses");
		if (json_array_size(v) == 0 || json_array_size(v) > RPC_MAX_DESTINATIONS)
			return param_invalid(err, p, "expected 1..100 addresses");
		out = json_array();
		if (out == NULL)
			panic("rpc: out of memory");
		json_array_foreach(v, i, item)
		{
			if ((s = string_value(item, 0, ADDRESS_MAX)) == NULL ||
			    address_normalize(s, addr, &why) < 0) {
				json_decref(out);
				return param_invalid(
				    err, p, why != NULL ? why : "expected address strings");
			}
			if (json_array_append_new(out, json_string(addr)) < 0)
				panic("rpc: out of memory");
		}
		dump = json_dumps(out, JSON_COMPACT);
		json_decref(out);
		if (dump == NULL)
			panic("rpc: out of memory");
		*text_r = pool_strdup(pool, dump);
		free(dump);
		return 0;
	}
	case RPC_P_UINT:
		if (!json_is_integer(v))
			return param_invalid(err, p, "expected an integer");
		if (json_integer_value(v) < 0)
			return param_invalid(err, p, "must not be negative");
		if (json_integer_value(v) > p->max)
			return param_invalid(err, p, "too large");
		*text_r = pool_printf(pool, "%" PRId64, (int64_t)json_integer_value(v));
		return 0;
	case RPC_P_BOOL:
		if (!json_is_boolean(v))
			return param_invalid(err, p, "expected true or false");
		*text_r = json_is_true(v) ? "true" : "false";
		return 0;
	case RPC_P_PASSWORD:
		if (!json_is_string(v))
			return param_invalid(err, p, "expected a string");
		if (json_string_length(v) == 0)
			return param_invalid(err, p, "empty password");
		if (password_check_plain(json_string_value(v), json_string_length(v), &why) < 0)
			return param_invalid(err, p, why);
		/* The secret stays in the request's JSON, which the caller
		 * wipes; it is never copied into the pool. */
		*text_r = json_string_value(v);
		return 0;
	case RPC_P_HASH:
		if ((s = string_value(v, 1, PASSWORD_STORED_MAX_LEN)) == NULL)
			return param_invalid(
			    err, p, json_is_string(v) ? "bad length" : "expected a string");
		if (password_check_stored(s, &why) < 0)
			return param_invalid(err, p, why);
		*text_r = pool_strdup(pool, s);
		return 0;
	case RPC_P_STATUS:
		if ((s = string_value(v, 1, 16)) == NULL ||
		    (strcmp(s, "active") != 0 && strcmp(s, "suspended") != 0))
			return param_invalid(err, p, "expected \"active\" or \"suspended\"");
		*text_r = s[0] == 'a' ? "active" : "suspended";
		return 0;
	}
	panic("rpc: bad parameter type %d", (int)p->type);
}

int rpc_params_check(const struct rpc_method *m, json_t *params, struct pool *pool,
                     struct rpc_values *vals, struct rpc_error *err)
{
	const char *key;
	json_t *v;
	unsigned i;

	memset(vals, 0, sizeof(*vals));
	if (params != NULL && !json_is_object(params)) {
		rpc_error_set(err, RPC_INVALID_PARAMS, "invalid", NULL,
		              "Invalid params: params must be an object (by name)");
		return -1;
	}
	json_object_foreach(params, key, v)
	{
		if (param_find(m, key) == NULL) {
			char name[RPC_NAME_MAX + 4];
			(void)log_sanitize(name, sizeof(name), key, strlen(key));
			rpc_error_set(err, RPC_INVALID_PARAMS, "invalid", name,
			              "Invalid params: unknown parameter %s", name);
			return -1;
		}
	}
	for (i = 0; m->params[i].name != NULL; i++) {
		const struct rpc_param *p = &m->params[i];

		if (i >= RPC_MAX_PARAMS)
			panic("rpc: %s has too many parameters", m->name);
		v = params != NULL ? json_object_get(params, p->name) : NULL;
		vals->present[i] = v != NULL;
		if (v == NULL) {
			if ((p->flags & RPC_REQUIRED) != 0)
				return param_invalid(err, p, "missing");
			vals->text[i] = p->def;
		} else if (json_is_null(v)) {
			if ((p->flags & RPC_NULLABLE) == 0)
				return param_invalid(err, p, "must not be null");
			vals->text[i] = NULL;
		} else if (param_convert(p, v, pool, &vals->text[i], err) < 0) {
			return -1;
		}
	}
	vals->n = i;
	if (m->one_of[0] != NULL) {
		const struct rpc_param *a = param_find(m, m->one_of[0]);
		const struct rpc_param *b = param_find(m, m->one_of[1]);
		bool has_a = vals->present[a - m->params], has_b = vals->present[b - m->params];

		if (has_a == has_b) {
			rpc_error_set(err, RPC_INVALID_PARAMS, "invalid", a->name,
			              "Invalid params: exactly one of %s and %s is required",
			              a->name, b->name);
			return -1;
		}
	}
	return 0;
}

static bool audit_secret(const char *key)
{
	char lower[RPC_NAME_MAX + 1];
	size_t i;

	for (i = 0; key[i] != '\0' && i < RPC_NAME_MAX; i++)
		lower[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] - 'A' + 'a' : key[i]);
	lower[i] = '\0';
	return strstr(lower, "pass") != NULL || strstr(lower, "secret") != NULL;
}

char *rpc_audit_params(json_t *params)
{
	json_t *copy;
	const char *key;
	void *tmp;
	json_t *v;
	char *out;

	if (params == NULL)
		copy = json_object();
	else if (!json_is_object(params))
		copy = json_null();
	else
		copy = json_deep_copy(params);
	if (copy == NULL)
		panic("rpc: out of memory");
	if (json_is_object(copy)) {
		json_object_foreach_safe(copy, tmp, key, v)
		{
			if (audit_secret(key) && json_object_del(copy, key) < 0)
				panic("rpc: cannot delete a member");
		}
	}
	out = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(copy);
	if (out == NULL)
		panic("rpc: out of memory");
	if (strlen(out) > RPC_AUDIT_MAX) {
		free(out);
		out = strdup("{\"truncated\":true}");
		if (out == NULL)
			panic("rpc: out of memory");
	}
	return out;
}

/* A JSON string of s, which should be UTF-8; anything else (it would make
 * json_string fail) is sanitised to ASCII first. */
static json_t *string_new(const char *s)
{
	json_t *v = json_string(s);
	char safe[512];

	if (v == NULL)
		v = json_string(log_sanitize(safe, sizeof(safe), s, strlen(s)));
	if (v == NULL)
		panic("rpc: out of memory");
	return v;
}

static json_t *response_new(json_t *id)
{
	json_t *r = json_object();

	if (r == NULL || json_object_set_new(r, "jsonrpc", json_string("2.0")) < 0 ||
	    json_object_set(r, "id", id != NULL ? id : json_null()) < 0)
		panic("rpc: out of memory");
	return r;
}

static char *response_dump(json_t *r)
{
	/* Compact: no newline can appear outside strings, and inside them
	 * it is escaped, so the response is one line. */
	char *line = json_dumps(r, JSON_COMPACT);

	json_decref(r);
	if (line == NULL)
		panic("rpc: cannot encode a response");
	return line;
}

char *rpc_response_result(json_t *id, json_t *result)
{
	json_t *r = response_new(id);

	if (json_object_set(r, "result", result) < 0)
		panic("rpc: out of memory");
	return response_dump(r);
}

char *rpc_response_error(json_t *id, const struct rpc_error *err)
{
	json_t *r = response_new(id);
	json_t *e = json_object();

	if (e == NULL || json_object_set_new(e, "code", json_integer(err->code)) < 0 ||
	    json_object_set_new(e, "message", string_new(err->message)) < 0)
		panic("rpc: out of memory");
	if (err->reason != NULL) {
		json_t *data = json_object();
		if (data == NULL ||
		    json_object_set_new(data, "reason", json_string(err->reason)) < 0 ||
		    (err->param[0] != '\0' &&
		     json_object_set_new(data, "param", string_new(err->param)) < 0) ||
		    json_object_set_new(e, "data", data) < 0)
			panic("rpc: out of memory");
	}
	if (json_object_set_new(r, "error", e) < 0)
		panic("rpc: out of memory");
	return response_dump(r);
}
