/* account.* methods. Creation and password changes hash the password off
 * the event loop (rpc_call_hash_password) before their SQL call; the rest
 * go through the generic handler. */
#include "rpc.h"
#include "rpc_call.h"

#define MAX_BIGINT INT64_MAX

/* Parameter positions in create_params, used by the handlers. */
enum { CREATE_ADDRESS, CREATE_PASSWORD, CREATE_HASH, CREATE_QUOTA_BYTES, CREATE_QUOTA_MESSAGES };

static const struct rpc_param create_params[] = {
    [CREATE_ADDRESS] = {"address", RPC_P_ADDRESS, RPC_REQUIRED, 0, NULL},
    [CREATE_PASSWORD] = {"password", RPC_P_PASSWORD, 0, 0, NULL},
    [CREATE_HASH] = {"password_hash", RPC_P_HASH, 0, 0, NULL},
    [CREATE_QUOTA_BYTES] = {"quota_bytes", RPC_P_UINT, 0, MAX_BIGINT, NULL},
    [CREATE_QUOTA_MESSAGES] = {"quota_messages", RPC_P_UINT, 0, MAX_BIGINT, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param address_params[] = {
    {"address", RPC_P_ADDRESS, RPC_REQUIRED, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param list_params[] = {
    {"domain", RPC_P_DOMAIN, RPC_NULLABLE, 0, NULL},
    {"offset", RPC_P_UINT, 0, MAX_BIGINT, "0"},
    {"limit", RPC_P_UINT, 0, RPC_MAX_LIST, "100"},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param update_params[] = {
    {"address", RPC_P_ADDRESS, RPC_REQUIRED, 0, NULL},
    {"quota_bytes", RPC_P_UINT, 0, MAX_BIGINT, NULL},
    {"quota_messages", RPC_P_UINT, 0, MAX_BIGINT, NULL},
    {"password_hash", RPC_P_HASH, 0, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param password_params[] = {
    {"address", RPC_P_ADDRESS, RPC_REQUIRED, 0, NULL},
    {"password", RPC_P_PASSWORD, RPC_REQUIRED, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static void create_submit(struct rpc_call *call)
{
	const char *values[4] = {
	    call->vals.text[CREATE_ADDRESS],
	    call->job_result != NULL ? call->job_result : call->vals.text[CREATE_HASH],
	    call->vals.text[CREATE_QUOTA_BYTES],
	    call->vals.text[CREATE_QUOTA_MESSAGES],
	};

	rpc_call_submit(call, "account.create", values, 4);
}

/* account.create: password (hashed here) or password_hash (checked by
 * rpc_params_check), exactly one of them. */
static void account_create(struct rpc_call *call)
{
	if (call->vals.present[CREATE_PASSWORD])
		rpc_call_hash_password(call, call->vals.text[CREATE_PASSWORD], create_submit);
	else
		create_submit(call);
}

static void set_password_submit(struct rpc_call *call)
{
	const char *values[2] = {call->vals.text[0], call->job_result};

	rpc_call_submit(call, "account.set_password", values, 2);
}

static void account_set_password(struct rpc_call *call)
{
	rpc_call_hash_password(call, call->vals.text[1], set_password_submit);
}

const struct rpc_method rpc_account_methods[] = {
    {"account.create",
     create_params,
     account_create,
     "SELECT admin_account_create($1, $2, $3::bigint, $4::bigint)",
     RPC_MUTATION,
     {"password", "password_hash"}},
    {"account.delete",
     address_params,
     rpc_call_sql,
     "SELECT admin_account_delete($1)",
     RPC_MUTATION,
     {NULL, NULL}},
    {"account.get", address_params, rpc_call_sql, "SELECT admin_account_get($1)", 0, {NULL, NULL}},
    {"account.list",
     list_params,
     rpc_call_sql,
     "SELECT admin_account_list($1, $2::bigint, $3::integer)",
     0,
     {NULL, NULL}},
    {"account.resume",
     address_params,
     rpc_call_sql,
     "SELECT admin_account_update($1, NULL, NULL, NULL, 'active')",
     RPC_MUTATION,
     {NULL, NULL}},
    {"account.set_password",
     password_params,
     account_set_password,
     "SELECT admin_account_update($1, NULL, NULL, $2, NULL)",
     RPC_MUTATION,
     {NULL, NULL}},
    {"account.suspend",
     address_params,
     rpc_call_sql,
     "SELECT admin_account_update($1, NULL, NULL, NULL, 'suspended')",
     RPC_MUTATION,
     {NULL, NULL}},
    {"account.update",
     update_params,
     rpc_call_sql,
     "SELECT admin_account_update($1, $2::bigint, $3::bigint, $4, NULL)",
     RPC_MUTATION,
     {NULL, NULL}},
    {NULL, NULL, NULL, NULL, 0, {NULL, NULL}},
};
