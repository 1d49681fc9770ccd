/* quota.get and stats.get: read-only reports. */
#include "rpc.h"
#include "rpc_call.h"

static const struct rpc_param quota_params[] = {
    {"address", RPC_P_ADDRESS, RPC_REQUIRED, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct rpc_param stats_params[] = {
    {"domain", RPC_P_DOMAIN, RPC_NULLABLE, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

const struct rpc_method rpc_stats_methods[] = {
    {"quota.get", quota_params, rpc_call_sql, "SELECT admin_quota_get($1)", 0, {NULL, NULL}},
    {"stats.get", stats_params, rpc_call_sql, "SELECT admin_stats_get($1)", 0, {NULL, NULL}},
    {NULL, NULL, NULL, NULL, 0, {NULL, NULL}},
};
