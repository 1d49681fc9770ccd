/* mailstead-admin's command line: one table of commands, each mapped to a
 * JSON-RPC method, its positional arguments and options to parameters.
 * The daemon validates everything again; the CLI only checks what it must
 * to build a request (numbers, sizes) so that usage errors exit 2. */
#include "admin_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

enum opt_kind {
	OPT_FLAG,           /* --force: true */
	OPT_STRING,         /* --domain NAME */
	OPT_SIZE,           /* --quota 10G */
	OPT_COUNT,          /* --max-accounts 5 */
	OPT_PASSWORD_STDIN, /* --password-stdin: handled by the command */
	OPT_HASH_STDIN,     /* --password-hash-stdin: a stored hash on stdin */
	OPT_NULL,           /* --no-catchall: the parameter is null */
};

struct cli_opt {
	const char *name;
	enum opt_kind kind;
	const char *param;
};

#define CMD_PASSWORD    0x1u  /* reads a new password into "password" */
#define CMD_DESTS       0x2u  /* extra positional arguments: "destinations" */
#define CMD_CATCHALL    0x4u  /* "destination" goes to domain.set_catchall */
#define CMD_NEED_OPT    0x8u  /* at least one option is required */
#define CMD_PW_OPTIONAL 0x10u /* password may come as a hash instead */

struct cli_cmd {
	const char *group, *verb;
	const char *method;
	const char *positional; /* parameter of the one positional argument, or NULL */
	const struct cli_opt *opts;
	unsigned flags;
	const char *usage;
};

static const struct cli_opt no_opts[] = {{NULL, 0, NULL}};
static const struct cli_opt domain_add_opts[] = {
    {"--quota", OPT_SIZE, "quota_bytes"},
    {"--max-accounts", OPT_COUNT, "max_accounts"},
    {NULL, 0, NULL},
};
static const struct cli_opt paging_opts[] = {
    {"--offset", OPT_COUNT, "offset"},
    {"--limit", OPT_COUNT, "limit"},
    {NULL, 0, NULL},
};
static const struct cli_opt domain_set_opts[] = {
    {"--quota", OPT_SIZE, "quota_bytes"},       {"--max-accounts", OPT_COUNT, "max_accounts"},
    {"--status", OPT_STRING, "status"},         {"--catchall", OPT_STRING, "destination"},
    {"--no-catchall", OPT_NULL, "destination"}, {NULL, 0, NULL},
};
static const struct cli_opt domain_delete_opts[] = {
    {"--force", OPT_FLAG, "force"},
    {NULL, 0, NULL},
};
static const struct cli_opt account_add_opts[] = {
    {"--password-stdin", OPT_PASSWORD_STDIN, NULL},
    {"--password-hash-stdin", OPT_HASH_STDIN, "password_hash"},
    {"--quota", OPT_SIZE, "quota_bytes"},
    {"--quota-messages", OPT_COUNT, "quota_messages"},
    {NULL, 0, NULL},
};
static const struct cli_opt account_list_opts[] = {
    {"--domain", OPT_STRING, "domain"},
    {"--offset", OPT_COUNT, "offset"},
    {"--limit", OPT_COUNT, "limit"},
    {NULL, 0, NULL},
};
static const struct cli_opt account_set_opts[] = {
    {"--quota", OPT_SIZE, "quota_bytes"},
    {"--quota-messages", OPT_COUNT, "quota_messages"},
    {"--password-hash-stdin", OPT_HASH_STDIN, "password_hash"},
    {NULL, 0, NULL},
};
static const struct cli_opt passwd_opts[] = {
    {"--password-stdin", OPT_PASSWORD_STDIN, NULL},
    {NULL, 0, NULL},
};
static const struct cli_opt domain_opt[] = {
    {"--domain", OPT_STRING, "domain"},
    {NULL, 0, NULL},
};

static const struct cli_cmd cli_cmds[] = {
    {"domain", "add", "domain.create", "name", domain_add_opts, 0,
     "domain add NAME [--quota BYTES] [--max-accounts N]"},
    {"domain", "list", "domain.list", NULL, paging_opts, 0, "domain list [--offset N] [--limit N]"},
    {"domain", "show", "domain.get", "name", no_opts, 0, "domain show NAME"},
    {"domain", "set", "domain.update", "name", domain_set_opts, CMD_CATCHALL | CMD_NEED_OPT,
     "domain set NAME [--quota BYTES] [--max-accounts N] [--status active|suspended] "
     "[--catchall ADDRESS | --no-catchall]"},
    {"domain", "delete", "domain.delete", "name", domain_delete_opts, 0,
     "domain delete NAME [--force]"},
    {"account", "add", "account.create", "address", account_add_opts,
     CMD_PASSWORD | CMD_PW_OPTIONAL,
     "account add ADDRESS [--password-stdin | --password-hash-stdin] [--quota BYTES] "
     "[--quota-messages N]"},
    {"account", "list", "account.list", NULL, account_list_opts, 0,
     "account list [--domain NAME] [--offset N] [--limit N]"},
    {"account", "show", "account.get", "address", no_opts, 0, "account show ADDRESS"},
    {"account", "set", "account.update", "address", account_set_opts, CMD_NEED_OPT,
     "account set ADDRESS [--quota BYTES] [--quota-messages N] [--password-hash-stdin]"},
    {"account", "passwd", "account.set_password", "address", passwd_opts, CMD_PASSWORD,
     "account passwd ADDRESS [--password-stdin]"},
    {"account", "suspend", "account.suspend", "address", no_opts, 0, "account suspend ADDRESS"},
    {"account", "resume", "account.resume", "address", no_opts, 0, "account resume ADDRESS"},
    {"account", "delete", "account.delete", "address", no_opts, 0, "account delete ADDRESS"},
    {"alias", "add", "alias.create", "address", no_opts, CMD_DESTS,
     "alias add ADDRESS DESTINATION..."},
    {"alias", "list", "alias.list", NULL, domain_opt, 0, "alias list [--domain NAME]"},
    {"alias", "delete", "alias.delete", "address", no_opts, 0, "alias delete ADDRESS"},
    {"quota", "show", "quota.get", "address", no_opts, 0, "quota show ADDRESS"},
    {"stats", NULL, "stats.get", NULL, domain_opt, 0, "stats [--domain NAME]"},
    {"db", "migrate", "db.migrate", NULL, no_opts, 0, "db migrate"},
};
#define N_CMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static int usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "mailstead-admin: %s\n", why);
	fprintf(stderr, "usage: mailstead-admin [--socket PATH] [--json] COMMAND\n"
	                "commands:\n");
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(stderr, "  %s\n", cli_cmds[i].usage);
	fprintf(stderr, "Sizes take K, M or G suffixes. Passwords are read from the terminal, "
	                "or one line from stdin with --password-stdin.\n");
	return CLI_EXIT_USAGE;
}

int cli_parse_number(const char *s, bool size, json_int_t *value_r)
{
	uint64_t v;
	char *end;

	if (size) {
		if (config_parse_size(s, &v) < 0)
			return -1;
	} else {
		if (s[0] < '0' || s[0] > '9')
			return -1;
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*value_r = (json_int_t)v;
	return 0;
}

static const struct cli_cmd *cmd_find(int argc, char **argv, int *used_r)
{
	for (size_t i = 0; i < N_CMDS; i++) {
		const struct cli_cmd *c = &cli_cmds[i];
		if (strcmp(argv[0], c->group) != 0)
			continue;
		if (c->verb == NULL) {
			*used_r = 1;
			return c;
		}
		if (argc > 1 && strcmp(argv[1], c->verb) == 0) {
			*used_r = 2;
			return c;
		}
	}
	return NULL;
}

static void set_param(json_t *params, const char *name, json_t *v)
{
	if (v == NULL || json_object_set_new(params, name, v) < 0) {
		fprintf(stderr, "mailstead-admin: out of memory\n");
		exit(CLI_EXIT_ERROR);
	}
}

/* Reads a stored hash (one line) from stdin: it is not a password, but it
 * stays off argv all the same (ps shows argv to every user). */
static json_t *read_hash_stdin(void)
{
	char line[1024];
	size_t len;

	if (fgets(line, sizeof(line), stdin) == NULL)
		return NULL;
	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	return len > 0 ? json_string(line) : NULL;
}

/* Parses the command's arguments into params. Returns 0, or an exit status
 * after printing why. */
static int parse_args(const struct cli_cmd *cmd, int argc, char **argv, json_t *params,
                      bool *password_stdin_r)
{
	bool have_positional = false;
	int nopts = 0;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *value = NULL;
		const struct cli_opt *o = NULL;
		size_t namelen;
		json_int_t n;

		if (strncmp(arg, "--", 2) != 0 || strcmp(arg, "--") == 0) {
			if (cmd->positional != NULL && !have_positional) {
				set_param(params, cmd->positional, json_string(arg));
				have_positional = true;
			} else {
				return usage("too many arguments");
			}
			continue;
		}
		namelen = strcspn(arg, "=");
		for (const struct cli_opt *p = cmd->opts; p->name != NULL; p++)
			if (strlen(p->name) == namelen && strncmp(arg, p->name, namelen) == 0)
				o = p;
		if (o == NULL) {
			fprintf(stderr, "mailstead-admin: unknown option %.*s\n", (int)namelen,
			        arg);
			return usage(NULL);
		}
		nopts++;
		if (o->kind == OPT_STRING || o->kind == OPT_SIZE || o->kind == OPT_COUNT) {
			if (arg[namelen] == '=')
				value = arg + namelen + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else
				return usage("option needs a value");
		} else if (arg[namelen] == '=') {
			return usage("option takes no value");
		}
		switch (o->kind) {
		case OPT_FLAG:
			set_param(params, o->param, json_true());
			break;
		case OPT_STRING:
			set_param(params, o->param, json_string(value));
			break;
		case OPT_SIZE:
		case OPT_COUNT:
			if (cli_parse_number(value, o->kind == OPT_SIZE, &n) < 0) {
				fprintf(stderr, "mailstead-admin: %s: not a %s: %s\n", o->name,
				        o->kind == OPT_SIZE ? "size (e.g. 500M, 2G)" : "number",
				        value);
				return CLI_EXIT_USAGE;
			}
			set_param(params, o->param, json_integer(n));
			break;
		case OPT_PASSWORD_STDIN:
			*password_stdin_r = true;
			break;
		case OPT_HASH_STDIN: {
			json_t *h = read_hash_stdin();
			if (h == NULL) {
				fprintf(stderr, "mailstead-admin: no password hash on stdin\n");
				return CLI_EXIT_USAGE;
			}
			set_param(params, o->param, h);
			break;
		}
		case OPT_NULL:
			set_param(params, o->param, json_null());
			break;
		}
	}
	if (cmd->positional != NULL && !have_positional)
		return usage("missing argument");
	if ((cmd->flags & CMD_NEED_OPT) != 0 && nopts == 0)
		return usage("nothing to change");
	return 0;
}

/* Collects the destinations of "alias add ADDRESS DEST...". */
static int parse_alias_add(int argc, char **argv, json_t *params)
{
	json_t *dests;

	if (argc < 2)
		return usage("alias add needs an address and at least one destination");
	for (int i = 0; i < argc; i++)
		if (strncmp(argv[i], "--", 2) == 0)
			return usage("alias add takes no options");
	dests = json_array();
	set_param(params, "address", json_string(argv[0]));
	for (int i = 1; i < argc; i++)
		if (json_array_append_new(dests, json_string(argv[i])) < 0) {
			fprintf(stderr, "mailstead-admin: out of memory\n");
			return CLI_EXIT_ERROR;
		}
	set_param(params, "destinations", dests);
	return 0;
}

static int report_error(json_t *error)
{
	json_t *msg = json_object_get(error, "message");
	json_t *data = json_object_get(error, "data");
	json_t *reason = json_object_get(data, "reason");

	fprintf(stderr, "mailstead-admin: %s%s%s%s\n",
	        json_is_string(msg) ? json_string_value(msg) : "error",
	        json_is_string(reason) ? " (" : "",
	        json_is_string(reason) ? json_string_value(reason) : "",
	        json_is_string(reason) ? ")" : "");
	return CLI_EXIT_ERROR;
}

/* Sends one call and prints its result (unless quiet). Returns an exit
 * status. */
static int run_call(struct cli_conn *conn, const char *method, json_t *params, bool json_out,
                    bool quiet)
{
	json_t *result, *error;
	int ret = cli_call(conn, method, params, &result, &error);

	if (ret == -2)
		return CLI_EXIT_ERROR;
	if (ret == -1) {
		ret = report_error(error);
		json_decref(error);
		return ret;
	}
	if (quiet) {
		/* an intermediate step: the last call's result is shown */
	} else if (json_out) {
		char *s = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s == NULL) {
			json_decref(result);
			return CLI_EXIT_ERROR;
		}
		printf("%s\n", s);
		free(s);
	} else {
		cli_print_result(method, result);
	}
	json_decref(result);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

int admin_cli_run(int argc, char **argv)
{
	const char *socket_path = NULL;
	bool json_out = false, password_stdin = false;
	const struct cli_cmd *cmd;
	struct cli_conn conn;
	json_t *params, *catchall = NULL;
	int i = 1, used, ret;
	char *password = NULL;

	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--json") == 0) {
			json_out = true;
			i++;
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			socket_path = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			socket_path = argv[i] + 9;
			i++;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(NULL);
			return CLI_EXIT_OK;
		} else {
			return usage("unknown global option");
		}
	}
	if (i >= argc)
		return usage(NULL);
	cmd = cmd_find(argc - i, argv + i, &used);
	if (cmd == NULL)
		return usage("unknown command");
	i += used;
	params = json_object();
	if (params == NULL)
		return CLI_EXIT_ERROR;
	if ((cmd->flags & CMD_DESTS) != 0)
		ret = parse_alias_add(argc - i, argv + i, params);
	else
		ret = parse_args(cmd, argc - i, argv + i, params, &password_stdin);
	if (ret != 0) {
		json_decref(params);
		return ret;
	}
	if ((cmd->flags & CMD_CATCHALL) != 0 &&
	    (catchall = json_object_get(params, "destination")) != NULL) {
		json_incref(catchall);
		if (json_object_del(params, "destination") < 0)
			return CLI_EXIT_ERROR;
	}
	if ((cmd->flags & CMD_PASSWORD) != 0 &&
	    !((cmd->flags & CMD_PW_OPTIONAL) != 0 && json_object_get(params, "password_hash"))) {
		password = cli_read_password(password_stdin, "Password: ");
		if (password == NULL) {
			json_decref(params);
			return CLI_EXIT_USAGE;
		}
		set_param(params, "password", json_string(password));
		explicit_bzero(password, strlen(password));
		free(password);
	}

	if (cli_connect(&conn, socket_path != NULL ? socket_path : admin_cli_default_socket()) <
	    0) {
		json_decref(params);
		json_decref(catchall);
		return CLI_EXIT_ERROR;
	}
	ret = CLI_EXIT_OK;
	if (catchall != NULL) {
		/* "domain set" with --catchall: domain.update for the other
		 * options (if any), then domain.set_catchall. */
		json_t *p = json_object();
		set_param(p, "name", json_incref(json_object_get(params, "name")));
		set_param(p, "destination", catchall);
		catchall = NULL;
		if (json_object_size(params) > 1)
			ret = run_call(&conn, cmd->method, json_incref(params), json_out, true);
		if (ret == CLI_EXIT_OK)
			ret = run_call(&conn, "domain.set_catchall", p, json_out, false);
		else
			json_decref(p);
	} else {
		ret = run_call(&conn, cmd->method, json_incref(params), json_out, false);
	}
	json_decref(params);
	json_decref(catchall);
	cli_close(&conn);
	return ret;
}
