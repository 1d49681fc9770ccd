/* db.migrate: applies pending schema migrations (migrate.h) on demand, as
 * admind does at start. migrate_apply blocks, so it runs on the workqueue;
 * only one migration runs at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "migrate.h"
#include "rpc.h"
#include "rpc_call.h"

static const struct rpc_param no_params[] = {
    {NULL, 0, 0, 0, NULL},
};

/* Runs on a workqueue thread: touches only call->job_* and the read-only
 * config. migrate.c's error buffer is static, hence copied at once (and
 * env->migrating keeps a second migration from running meanwhile). */
static void migrate_work(struct rpc_call *call)
{
	const struct config *cfg = call->env->cfg;
	const char *error;
	int applied = 0;

	if (migrate_apply(cfg->db_conninfo, call->env->schema_fd, cfg->schema_dir, &applied,
			  &error) < 0) {
		call->job_result = strdup(error);
		call->job_int = -1;
		return;
	}
	call->job_int = applied;
}

static void migrate_cont(struct rpc_call *call)
{
	json_t *result;

	call->env->migrating = false;
	if (call->job_int < 0) {
		/* A migration failure is the operator's to fix, not a server
		 * fault: report it in full. */
		rpc_call_fail(call, RPC_APP_ERROR, "invalid", "migration failed: %s",
		              call->job_result != NULL ? call->job_result : "out of memory");
		return;
	}
	result = json_pack("{s:i}", "applied", call->job_int);
	if (result == NULL)
		panic("rpc: out of memory");
	rpc_call_result(call, result);
}

static void db_migrate(struct rpc_call *call)
{
	if (call->env->migrating) {
		rpc_call_fail(call, RPC_APP_ERROR, "conflict", "a migration is already running");
		return;
	}
	struct rpc_env *env = call->env;

	env->migrating = true;
	call->job_int = 0;
	if (rpc_call_offload(call, migrate_work, migrate_cont) < 0)
		env->migrating = false; /* call already finished with an error */
}

const struct rpc_method rpc_db_methods[] = {
    {"db.migrate", no_params, db_migrate, NULL, RPC_MUTATION, {NULL, NULL}},
    {NULL, NULL, NULL, NULL, 0, {NULL, NULL}},
};
