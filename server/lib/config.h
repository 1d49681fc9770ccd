/* Configuration shared by mailstead-imapd and mailstead-admind.
 *
 * One file of `key = value` lines ('#' starts a comment; values may be
 * double-quoted). Every option lives in one table (config.c) with its type,
 * range and default; an unknown key, a bad value or a duplicate is an error
 * reported as "file:line: reason". Command-line `-o key=value` overrides are
 * applied after the file with the same checks. */
#ifndef MAILSTEAD_CONFIG_H
#define MAILSTEAD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config {
	/* process */
	char *user;      /* unprivileged user to run as after binding */
	char *log_level; /* debug, info, warn, error */

	/* database */
	char *db_conninfo;
	uint64_t db_connections; /* per process */
	char *schema_dir;        /* migrations applied by mailstead-admind */

	/* admin daemon */
	char *admin_socket;
	int64_t admin_allowed_uid; /* besides root; -1 = none */
	int64_t admin_allowed_gid; /* -1 = none */
	uint64_t admin_max_clients;
	uint64_t admin_max_request; /* bytes of one JSON-RPC line */

	/* passwords */
	uint64_t argon2_memory_kib;
	uint64_t argon2_iterations;

	/* imapd: listeners ("" = disabled), "host:port" or "[v6]:port" */
	char *imap_listen;
	char *imaps_listen;
	char *tls_cert;
	char *tls_key;
	uint64_t workers; /* 0 = one per CPU */
	bool allow_plaintext_auth;     /* everywhere, without TLS */
	bool loopback_plaintext_auth;  /* from 127.0.0.0/8 and ::1 without TLS */

	/* LMTP delivery listeners ("" = disabled): TCP "host:port" and/or a
	 * unix socket path (docs/delivery.md) */
	char *lmtp_listen;
	char *lmtp_socket;

	/* imapd limits */
	uint64_t max_line;
	uint64_t max_message_size; /* also the largest literal */
	uint64_t max_nonsync_literal;
	uint64_t preauth_timeout; /* seconds */
	uint64_t autologout;      /* seconds */
	uint64_t max_connections_per_worker;
	uint64_t max_connections_per_ip;
	uint64_t auth_fail_delay_ms;
	uint64_t auth_cache_size; /* verified credentials kept per worker; 0 = off */
	uint64_t auth_cache_ttl;  /* seconds */
	uint64_t max_auth_failures_per_ip;      /* per minute */
	uint64_t max_auth_failures_per_account; /* per minute */
	/* Background word index for SEARCH BODY/TEXT (server/search_indexer.h). */
	bool search_index;             /* workers build it */
	uint64_t search_index_batch;    /* messages per indexing transaction */
	uint64_t search_index_pause_ms; /* least pause between two batches */
	uint64_t search_lexicon_prune_min; /* deleted index rows before a prune */
};

/* Fills cfg with every default. Strings are malloc'd; config_free releases
 * them. */
void config_defaults(struct config *cfg);

/* Reads path over the current values (NULL path: only defaults). Returns 0,
 * or -1 with a "file:line: reason" message in error_r (static buffer,
 * valid until the next call). */
int config_load(struct config *cfg, const char *path, const char **error_r);

/* Applies one "key=value" override. Returns 0 or -1 with error_r. */
int config_set(struct config *cfg, const char *assignment, const char **error_r);

/* Parses a size with an optional K, M or G suffix (binary units). */
int config_parse_size(const char *s, uint64_t *value_r);

/* Writes every option as "key = value" lines to stdout (for -t -v). */
void config_dump(const struct config *cfg);

void config_free(struct config *cfg);

#endif
