/* JSON-RPC 2.0 for the admin daemon: request validation, method tables and
 * response lines. Pure functions of their input: nothing here touches a
 * socket or the database (rpc_call.h does), so all of it is unit-tested.
 *
 * Framing is one JSON text per line (docs/admin-protocol.md). Parameters are
 * by name only; each method declares its parameters in a table with their
 * types and limits, and rpc_params_check() turns a params object into the
 * text values of the method's SQL call, already normalised (lowercased
 * names), or into an error naming the offending parameter. */
#ifndef MAILSTEAD_RPC_H
#define MAILSTEAD_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;
struct rpc_call;

/* JSON-RPC 2.0 §5.1 error codes, and ours. */
enum rpc_code {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	/* An application error: data.reason says which (not_found, conflict,
	 * invalid, forbidden, limit). */
	RPC_APP_ERROR = -32000,
};

/* Longest method name and parameter name accepted. */
#define RPC_NAME_MAX 64
/* Most parameters a method has. */
#define RPC_MAX_PARAMS 8
/* Most destinations of an alias (as 0001_init.sql allows). */
#define RPC_MAX_DESTINATIONS 100
/* Most rows one list call returns. */
#define RPC_MAX_LIST 1000

/* An error to send back. message and param are copies (client text in
 * them is truncated and sanitised), so the struct owns everything. */
struct rpc_error {
	int code;
	const char *reason;           /* data.reason, static string, or NULL */
	char param[RPC_NAME_MAX + 4]; /* data.param, "" = none */
	char message[256];
};

/* Fills err. fmt's arguments that come from a client must already be
 * sanitised (rpc_error_set truncates the result to the buffer). */
void rpc_error_set(struct rpc_error *err, int code, const char *reason, const char *param,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A parsed, envelope-valid request. */
struct rpc_request {
	json_t *root;       /* owned: the whole request */
	json_t *id;         /* borrowed from root; NULL when absent */
	const char *method; /* borrowed from root */
	json_t *params;     /* borrowed from root; NULL when absent */
	bool notification;  /* no "id" member: no response at all */
};

/* Parses one request line (len bytes, without the line end). Returns 0 with
 * *req filled (free with rpc_request_free), or -1 with err filled
 * (RPC_PARSE_ERROR or RPC_INVALID_REQUEST) and *id_r set to a new reference
 * to the request's id when one could be read (JSON null otherwise) for the
 * error response, which is always sent. Batches (arrays) are refused with
 * RPC_INVALID_REQUEST. */
int rpc_request_parse(const char *line, size_t len, struct rpc_request *req, json_t **id_r,
                      struct rpc_error *err);

/* Releases what rpc_request_parse allocated; safe on a zeroed request. */
void rpc_request_free(struct rpc_request *req);

/* Parameter types. Each becomes one text value for SQL. */
enum rpc_ptype {
	RPC_P_DOMAIN,    /* string: a domain name (address.h), lowercased */
	RPC_P_ADDRESS,   /* string: local@domain, lowercased */
	RPC_P_ADDRESSES, /* array of 1..RPC_MAX_DESTINATIONS addresses: JSON text */
	RPC_P_UINT,      /* integer 0..max: decimal text */
	RPC_P_BOOL,      /* true or false: "true" / "false" */
	RPC_P_PASSWORD,  /* string of 1..PASSWORD_MAX_LEN bytes: a secret */
	RPC_P_HASH,      /* string: a stored hash password_check_stored accepts */
	RPC_P_STATUS,    /* "active" or "suspended" */
};

#define RPC_REQUIRED 0x1u /* must be present */
#define RPC_NULLABLE 0x2u /* JSON null allowed: SQL NULL */

struct rpc_param {
	const char *name; /* NULL ends a table */
	enum rpc_ptype type;
	unsigned flags;
	int64_t max;     /* RPC_P_UINT: the largest value */
	const char *def; /* text when absent; NULL = SQL NULL */
};

/* The checked parameters of a call, in the order of the method's table,
 * which is the order of the SQL statement's $n. Strings are owned by the
 * pool given to rpc_params_check. */
struct rpc_values {
	const char *text[RPC_MAX_PARAMS]; /* NULL = SQL NULL */
	bool present[RPC_MAX_PARAMS];     /* given by the client (even as null) */
	unsigned n;
};

/* Runs a validated call; completes it with rpc_call_result/rpc_call_fail
 * (rpc_call.h), now or later. */
typedef void rpc_handler(struct rpc_call *call);

#define RPC_MUTATION 0x1u /* changes data: audited */

struct rpc_method {
	const char *name; /* NULL ends a table */
	const struct rpc_param *params;
	rpc_handler *handler;
	const char *sql; /* the statement of rpc_call_sql (prepared as name) */
	unsigned flags;
	/* When set, exactly one of these two parameters must be present. */
	const char *one_of[2];
};

/* The method tables, one per file (rpc_domains.c, ...; not rpc_domain.c:
 * the Makefile takes any file ending in "main.c" for a program). */
extern const struct rpc_method rpc_domains_methods[];
extern const struct rpc_method rpc_account_methods[];
extern const struct rpc_method rpc_alias_methods[];
extern const struct rpc_method rpc_stats_methods[];
extern const struct rpc_method rpc_db_methods[];

/* Returns the method called name, or NULL. */
const struct rpc_method *rpc_method_find(const char *name);

/* Calls fn for every method of every table (admind prepares their
 * statements; the unit tests check the tables). */
void rpc_method_foreach(void (*fn)(const struct rpc_method *m, void *ctx), void *ctx);

/* Checks params (a JSON object, or NULL for none) against m's table and
 * fills vals. Returns 0, or -1 with err (RPC_INVALID_PARAMS, reason
 * "invalid", param naming the culprit): params not an object, an unknown
 * name, a missing required one, a wrong type, a value out of range or not
 * valid for its kind (a domain that is not a domain name). */
int rpc_params_check(const struct rpc_method *m, json_t *params, struct pool *pool,
                     struct rpc_values *vals, struct rpc_error *err);

/* Returns params as compact JSON for the audit table, with every secret
 * removed (any member whose name contains "pass" or "secret", whatever its
 * type), as a malloc'd string the caller frees. Non-object params are
 * recorded as null (they cannot be told apart from secrets); params too big
 * to be worth keeping (over 64 KiB) as {"truncated": true}. */
char *rpc_audit_params(json_t *params);

/* Response lines (no line end), malloc'd, owned by the caller. id may be
 * NULL (written as null). result is borrowed. */
char *rpc_response_result(json_t *id, json_t *result);
char *rpc_response_error(json_t *id, const struct rpc_error *err);

#endif
