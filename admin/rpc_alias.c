/* alias.* methods. Destinations arrive normalised as a JSON array
 * (RPC_P_ADDRESSES); existence and loops are checked by the SQL function
 * inside its transaction. */
#include "rpc.h"
#include "rpc_call.h"

#define MAX_BIGINT INT64_MAX

static const struct rpc_param create_params[] = {
    {"address", RPC_P_ADDRESS, RPC_REQUIRED, 0, NULL},
    {"destinations", RPC_P_ADDRESSES, RPC_REQUIRED, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param list_params[] = {
    {"domain", RPC_P_DOMAIN, RPC_NULLABLE, 0, NULL},
    {"offset", RPC_P_UINT, 0, MAX_BIGINT, "0"},
    {"limit", RPC_P_UINT, 0, RPC_MAX_LIST, "1000"},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param address_params[] = {
    {"address", RPC_P_ADDRESS, RPC_REQUIRED, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

const struct rpc_method rpc_alias_methods[] = {
    {"alias.create",
     create_params,
     rpc_call_sql,
     "SELECT admin_alias_create($1, $2::jsonb)",
     RPC_MUTATION,
     {NULL, NULL}},
    {"alias.delete",
     address_params,
     rpc_call_sql,
     "SELECT admin_alias_delete($1)",
     RPC_MUTATION,
     {NULL, NULL}},
    {"alias.list",
     list_params,
     rpc_call_sql,
     "SELECT admin_alias_list($1, $2::bigint, $3::integer)",
     0,
     {NULL, NULL}},
    {NULL, NULL, NULL, NULL, 0, {NULL, NULL}},
};
