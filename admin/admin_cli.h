/* mailstead-admin: the command-line client of the admin socket.
 *
 * admin_cli.c parses the command line into one or two JSON-RPC calls,
 * admin_cli_rpc.c talks to the socket (blocking: it is a tool) and reads
 * passwords, admin_cli_table.c prints results for humans. */
#ifndef MAILSTEAD_ADMIN_CLI_H
#define MAILSTEAD_ADMIN_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit statuses. */
#define CLI_EXIT_OK    0
#define CLI_EXIT_ERROR 1 /* the server refused, or it cannot be reached */
#define CLI_EXIT_USAGE 2

/* Longest response line read from the daemon. */
#define CLI_MAX_RESPONSE (64u * 1024 * 1024)

/* Runs the command line (argv[0] is the program). Returns an exit status. */
int admin_cli_run(int argc, char **argv);

/* The socket path when --socket is not given: $MAILSTEAD_ADMIN_SOCKET,
 * else var/run/admind.sock when it exists (run from a checkout), else
 * /run/mailstead/admind.sock. Returns a static or environment string. */
const char *admin_cli_default_socket(void);

/* An open connection to the daemon. */
struct cli_conn {
	int fd;
	long next_id;
	char *buf; /* bytes read past the last line */
	size_t len;
};

/* Connects to path. Returns 0, or -1 after printing why to stderr. */
int cli_connect(struct cli_conn *conn, const char *path);
void cli_close(struct cli_conn *conn);

/* Sends method with params (reference stolen; NULL = none) and waits for the
 * response. Returns 0 with *result_r (a new reference) on success; -1 with
 * *error_r (a new reference to the error object) when the server answered
 * with an error; -2 after printing to stderr when the exchange failed. */
int cli_call(struct cli_conn *conn, const char *method, json_t *params, json_t **result_r,
             json_t **error_r);

/* Reads a new password: from stdin (one line) when from_stdin, else from
 * the terminal without echo, twice, both must match. Returns a malloc'd
 * string the caller wipes and frees, or NULL after printing why. */
char *cli_read_password(bool from_stdin, const char *prompt);

/* Prints result for humans according to the method that produced it. */
void cli_print_result(const char *method, json_t *result);

/* Parses a size with K/M/G suffix or a plain count; returns 0 or -1. */
int cli_parse_number(const char *s, bool size, json_int_t *value_r);

#endif
