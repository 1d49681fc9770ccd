/* mailstead-admind: the admin daemon (DESIGN.md §1, §6).
 *
 *   mailstead-admind [-c CONFIG] [-o key=value]... [-t] [-f]
 *
 * Runs in the foreground (systemd style; -f is accepted for habit). Start:
 * config, log level, schema migrations (a failure is fatal: the daemon must
 * not serve an older schema than its SQL expects), the socket (as root),
 * the privilege drop, then the event loop until SIGTERM or SIGINT. */
#include <malloc.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admind.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "password.h"
#include "privdrop.h"

static void usage(void)
{
	fprintf(stderr, "usage: mailstead-admind [-c CONFIG] [-o key=value]... [-t] [-f]\n");
	exit(2);
}

/* jansson's allocator for this process: memory is wiped when freed, so a
 * password that passed through a parsed request (or jansson's parser
 * buffers) does not linger in the heap. Admin traffic is small: the cost
 * does not matter. */
static void *wipe_malloc(size_t size)
{
	return malloc(size);
}

static void wipe_free(void *p)
{
	if (p != NULL)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

int main(int argc, char **argv)
{
	struct config cfg;
	const char *config_path = NULL, *error;
	bool check_only = false;
	enum log_level level;
	int opt, applied, fd, schema_fd;
	char **overrides;
	int noverrides = 0;
	struct password_cost cost;

	log_init("admind", LOG_LEVEL_INFO);
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	overrides = calloc((size_t)argc, sizeof(*overrides));
	if (overrides == NULL)
		fatal("out of memory");
	while ((opt = getopt(argc, argv, "c:o:tf")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			overrides[noverrides++] = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'f':
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	config_defaults(&cfg);
	if (config_load(&cfg, config_path, &error) < 0)
		fatal("%s", error);
	for (int i = 0; i < noverrides; i++)
		if (config_set(&cfg, overrides[i], &error) < 0)
			fatal("%s", error);
	free(overrides);
	if (log_level_parse(cfg.log_level, &level) < 0)
		fatal("log_level: expected debug, info, warn or error");
	cost.memory_kib = (uint32_t)cfg.argon2_memory_kib;
	cost.time_cost = (uint32_t)cfg.argon2_iterations;
	cost.parallelism = 1;
	if (password_cost_check(&cost, &error) < 0)
		fatal("argon2_memory_kib, argon2_iterations: %s", error);
	if (check_only) {
		printf("%s: configuration OK\n", config_path != NULL ? config_path : "(defaults)");
		config_free(&cfg);
		return 0;
	}
	log_set_level(level);

	/* Opened as root: db.migrate reads it after the privilege drop. */
	schema_fd = migrate_open_dir(cfg.schema_dir, &error);
	if (schema_fd < 0)
		fatal("%s", error);
	if (migrate_apply(cfg.db_conninfo, schema_fd, cfg.schema_dir, &applied, &error) < 0)
		fatal("schema migration failed: %s", error);
	if (applied > 0)
		LOG(INFO, NULL, "applied %d schema migration(s) from %s", applied, cfg.schema_dir);

	fd = admind_listen(&cfg, &error);
	if (fd < 0)
		fatal("%s", error);
	if (privdrop_to_user(cfg.user, &error) < 0)
		fatal("%s", error);

	if (admind_run(&cfg, fd, schema_fd, &error) < 0)
		fatal("%s", error);
	config_free(&cfg);
	return 0;
}
