/* domain.* methods: tenants. Each is one call of an SQL function of
 * schema/0002_admin.sql through the generic handler. */
#include "rpc.h"
#include "rpc_call.h"

/* Column limits of schema/0001_init.sql: bigint and integer. */
#define MAX_BIGINT INT64_MAX
#define MAX_INT    2147483647

static const struct rpc_param create_params[] = {
    {"name", RPC_P_DOMAIN, RPC_REQUIRED, 0, NULL},
    {"quota_bytes", RPC_P_UINT, 0, MAX_BIGINT, NULL},
    {"max_accounts", RPC_P_UINT, 0, MAX_INT, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param name_params[] = {
    {"name", RPC_P_DOMAIN, RPC_REQUIRED, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param list_params[] = {
    {"offset", RPC_P_UINT, 0, MAX_BIGINT, "0"},
    {"limit", RPC_P_UINT, 0, RPC_MAX_LIST, "100"},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param update_params[] = {
    {"name", RPC_P_DOMAIN, RPC_REQUIRED, 0, NULL},
    {"quota_bytes", RPC_P_UINT, 0, MAX_BIGINT, NULL},
    {"max_accounts", RPC_P_UINT, 0, MAX_INT, NULL},
    {"status", RPC_P_STATUS, 0, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param delete_params[] = {
    {"name", RPC_P_DOMAIN, RPC_REQUIRED, 0, NULL},
    {"force", RPC_P_BOOL, 0, 0, "false"},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param catchall_params[] = {
    {"name", RPC_P_DOMAIN, RPC_REQUIRED, 0, NULL},
    {"destination", RPC_P_ADDRESS, RPC_REQUIRED | RPC_NULLABLE, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

const struct rpc_method rpc_domains_methods[] = {
    {"domain.create",
     create_params,
     rpc_call_sql,
     "SELECT admin_domain_create($1, $2::bigint, $3::integer)",
     RPC_MUTATION,
     {NULL, NULL}},
    {"domain.delete",
     delete_params,
     rpc_call_sql,
     "SELECT admin_domain_delete($1, $2::boolean)",
     RPC_MUTATION,
     {NULL, NULL}},
    {"domain.get", name_params, rpc_call_sql, "SELECT admin_domain_get($1)", 0, {NULL, NULL}},
    {"domain.list",
     list_params,
     rpc_call_sql,
     "SELECT admin_domain_list($1::bigint, $2::integer)",
     0,
     {NULL, NULL}},
    {"domain.set_catchall",
     catchall_params,
     rpc_call_sql,
     "SELECT admin_domain_set_catchall($1, $2)",
     RPC_MUTATION,
     {NULL, NULL}},
    {"domain.update",
     update_params,
     rpc_call_sql,
     "SELECT admin_domain_update($1, $2::bigint, $3::integer, $4)",
     RPC_MUTATION,
     {NULL, NULL}},
    {NULL, NULL, NULL, NULL, 0, {NULL, NULL}},
};
