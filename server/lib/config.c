#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum config_type {
	CFG_STRING,
	CFG_UINT,
	CFG_INT,
	CFG_SIZE,     /* uint with K/M/G suffix */
	CFG_DURATION, /* seconds, with s/m/h suffix */
	CFG_BOOL,
};

struct config_option {
	const char *name;
	enum config_type type;
	size_t offset;
	int64_t min, max; /* for numbers */
	const char *def;  /* default, as it would be written in the file */
};

#define OPT(name, type, min, max, def) {#name, type, offsetof(struct config, name), min, max, def}
#define KiB 1024LL
#define MiB (1024LL * 1024)
#define GiB (1024LL * 1024 * 1024)

/* Sorted by name: config_find does a binary search and a unit test checks the
 * order. */
static const struct config_option options[] = {
	OPT(admin_allowed_gid, CFG_INT, -1, 4294967294LL, "-1"),
	OPT(admin_allowed_uid, CFG_INT, -1, 4294967294LL, "-1"),
	OPT(admin_max_clients, CFG_UINT, 1, 10000, "64"),
	OPT(admin_max_request, CFG_SIZE, 1024, 64 * MiB, "1M"),
	OPT(admin_socket, CFG_STRING, 0, 0, "/run/mailstead/admind.sock"),
	OPT(allow_plaintext_auth, CFG_BOOL, 0, 1, "no"),
	OPT(argon2_iterations, CFG_UINT, 1, 100, "2"),
	OPT(argon2_memory_kib, CFG_UINT, 8, 4 * 1024 * 1024, "19456"),
	OPT(auth_cache_size, CFG_UINT, 0, 10000000, "10000"),
	OPT(auth_cache_ttl, CFG_DURATION, 1, 86400, "1h"),
	OPT(auth_fail_delay_ms, CFG_UINT, 0, 10000, "1000"),
	OPT(autologout, CFG_DURATION, 60, 86400, "30m"),
	OPT(db_connections, CFG_UINT, 1, 64, "4"),
	OPT(db_conninfo, CFG_STRING, 0, 0, "dbname=mailstead"),
	OPT(imap_listen, CFG_STRING, 0, 0, "0.0.0.0:143"),
	OPT(imaps_listen, CFG_STRING, 0, 0, "0.0.0.0:993"),
	OPT(lmtp_listen, CFG_STRING, 0, 0, ""),
	OPT(lmtp_socket, CFG_STRING, 0, 0, ""),
	OPT(log_level, CFG_STRING, 0, 0, "info"),
	OPT(loopback_plaintext_auth, CFG_BOOL, 0, 1, "yes"),
	OPT(max_auth_failures_per_account, CFG_UINT, 1, 100000, "10"),
	OPT(max_auth_failures_per_ip, CFG_UINT, 1, 100000, "20"),
	OPT(max_connections_per_ip, CFG_UINT, 1, 1000000, "50"),
	OPT(max_connections_per_worker, CFG_UINT, 1, 1000000, "20000"),
	OPT(max_line, CFG_SIZE, 1024, 16 * MiB, "64K"),
	OPT(max_message_size, CFG_SIZE, 1024, 1 * GiB, "50M"),
	OPT(max_nonsync_literal, CFG_SIZE, 4096, 1 * GiB, "50M"),
	OPT(preauth_timeout, CFG_DURATION, 5, 3600, "60"),
	OPT(schema_dir, CFG_STRING, 0, 0, "/usr/share/mailstead/schema"),
	OPT(search_index, CFG_BOOL, 0, 1, "yes"),
	OPT(search_index_batch, CFG_UINT, 1, 10000, "100"),
	OPT(search_index_pause_ms, CFG_UINT, 0, 600000, "50"),
	OPT(search_lexicon_prune_min, CFG_UINT, 1, 1000000000, "1000"),
	OPT(tls_cert, CFG_STRING, 0, 0, ""),
	OPT(tls_key, CFG_STRING, 0, 0, ""),
	OPT(user, CFG_STRING, 0, 0, "mailstead"),
	OPT(workers, CFG_UINT, 0, 256, "0"),
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static char config_error[512];

/* Exposed for the unit test of the table order. */
const char *config_option_name(size_t i);
const char *config_option_name(size_t i)
{
	return i < N_OPTIONS ? options[i].name : NULL;
}

static const struct config_option *config_find(const char *name)
{
	size_t lo = 0, hi = N_OPTIONS;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(name, options[mid].name);
		if (cmp == 0)
			return &options[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int parse_uint(const char *s, uint64_t *value_r, const char *suffixes,
		      const uint64_t *mults)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		const char *p = suffixes ? strchr(suffixes, toupper((unsigned char)*end)) : NULL;
		if (p == NULL || end[1] != '\0')
			return -1;
		mult = mults[p - suffixes];
	}
	if (mult != 1 && v > UINT64_MAX / mult)
		return -1;
	*value_r = v * mult;
	return 0;
}

int config_parse_size(const char *s, uint64_t *value_r)
{
	static const uint64_t mults[] = {1024, 1024 * 1024, 1024 * 1024 * 1024, 1};
	return parse_uint(s, value_r, "KMGB", mults);
}

static int parse_duration(const char *s, uint64_t *value_r)
{
	static const uint64_t mults[] = {1, 60, 3600, 86400};
	char lower[32];
	size_t i;

	for (i = 0; s[i] != '\0' && i < sizeof(lower) - 1; i++)
		lower[i] = (char)toupper((unsigned char)s[i]);
	lower[i] = '\0';
	return parse_uint(lower, value_r, "SMHD", mults);
}

static int parse_bool(const char *s, bool *value_r)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	return -1;
}

/* Stores value into the option; returns 0 or -1 with a reason in why_r. */
static int option_apply(struct config *cfg, const struct config_option *opt, const char *value,
			const char **why_r)
{
	char *field = (char *)cfg + opt->offset;
	uint64_t u;
	int64_t i;
	char *end;

	switch (opt->type) {
	case CFG_STRING: {
		char *copy = strdup(value);
		if (copy == NULL)
			panic("config: out of memory");
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case CFG_BOOL:
		if (parse_bool(value, (bool *)field) < 0) {
			*why_r = "expected yes or no";
			return -1;
		}
		return 0;
	case CFG_INT:
		errno = 0;
		i = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0') {
			*why_r = "expected an integer";
			return -1;
		}
		if (i < opt->min || i > opt->max) {
			*why_r = "value out of range";
			return -1;
		}
		*(int64_t *)field = i;
		return 0;
	case CFG_UINT:
	case CFG_SIZE:
	case CFG_DURATION:
		if ((opt->type == CFG_UINT	  ? parse_uint(value, &u, NULL, NULL)
		     : opt->type == CFG_SIZE ? config_parse_size(value, &u)
					      : parse_duration(value, &u)) < 0) {
			*why_r = opt->type == CFG_SIZE	     ? "expected a size (e.g. 64K, 50M)"
				 : opt->type == CFG_DURATION ? "expected a duration (e.g. 60s, 30m)"
							     : "expected a non-negative integer";
			return -1;
		}
		if (u < (uint64_t)opt->min || u > (uint64_t)opt->max) {
			*why_r = "value out of range";
			return -1;
		}
		*(uint64_t *)field = u;
		return 0;
	}
	panic("config: bad option type");
}

void config_defaults(struct config *cfg)
{
	const char *why;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (option_apply(cfg, &options[i], options[i].def, &why) < 0)
			panic("config: bad default for %s: %s", options[i].name, why);
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Splits "key = value" (value possibly double-quoted) in place. */
static int split_assignment(char *line, char **key_r, char **value_r, const char **why_r)
{
	char *eq = strchr(line, '=');
	char *value;
	size_t len;

	if (eq == NULL) {
		*why_r = "expected key = value";
		return -1;
	}
	*eq = '\0';
	*key_r = trim(line);
	value = trim(eq + 1);
	len = strlen(value);
	if (len > 0 && value[0] == '"') {
		if (len < 2 || value[len - 1] != '"') {
			*why_r = "unterminated quoted value";
			return -1;
		}
		value[len - 1] = '\0';
		value++;
		if (strchr(value, '"') != NULL) {
			*why_r = "a quoted value cannot contain '\"'";
			return -1;
		}
	}
	*value_r = value;
	return 0;
}

int config_load(struct config *cfg, const char *path, const char **error_r)
{
	FILE *f;
	char line[4096];
	unsigned lineno = 0;
	bool seen[N_OPTIONS] = {false};

	if (path == NULL)
		return 0;
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(config_error, sizeof(config_error), "%s: %s", path, strerror(errno));
		*error_r = config_error;
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p, *key, *value, *hash;
		const char *why = NULL;
		const struct config_option *opt;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			why = "line too long";
			goto bad;
		}
		/* '#' starts a comment unless inside a quoted value. */
		hash = strchr(line, '#');
		if (hash != NULL) {
			char *q = strchr(line, '"');
			if (q == NULL || q > hash)
				*hash = '\0';
		}
		p = trim(line);
		if (*p == '\0')
			continue;
		if (split_assignment(p, &key, &value, &why) < 0)
			goto bad;
		opt = config_find(key);
		if (opt == NULL) {
			why = "unknown option";
			goto bad_key;
		}
		if (seen[opt - options]) {
			why = "option set twice";
			goto bad_key;
		}
		seen[opt - options] = true;
		if (option_apply(cfg, opt, value, &why) < 0)
			goto bad_key;
		continue;
	bad_key:
		snprintf(config_error, sizeof(config_error), "%s:%u: %s: %s", path, lineno, key, why);
		*error_r = config_error;
		fclose(f);
		return -1;
	bad:
		snprintf(config_error, sizeof(config_error), "%s:%u: %s", path, lineno, why);
		*error_r = config_error;
		fclose(f);
		return -1;
	}
	if (ferror(f)) {
		snprintf(config_error, sizeof(config_error), "%s: read error", path);
		*error_r = config_error;
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

int config_set(struct config *cfg, const char *assignment, const char **error_r)
{
	char copy[4096];
	char *key, *value;
	const char *why = NULL;
	const struct config_option *opt;

	if (strlen(assignment) >= sizeof(copy)) {
		*error_r = "-o: assignment too long";
		return -1;
	}
	strcpy(copy, assignment);
	if (split_assignment(copy, &key, &value, &why) < 0) {
		snprintf(config_error, sizeof(config_error), "-o %s: %s", assignment, why);
		*error_r = config_error;
		return -1;
	}
	opt = config_find(key);
	if (opt == NULL) {
		snprintf(config_error, sizeof(config_error), "-o: %s: unknown option", key);
		*error_r = config_error;
		return -1;
	}
	if (option_apply(cfg, opt, value, &why) < 0) {
		snprintf(config_error, sizeof(config_error), "-o: %s: %s", key, why);
		*error_r = config_error;
		return -1;
	}
	return 0;
}

void config_dump(const struct config *cfg)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const char *field = (const char *)cfg + options[i].offset;
		switch (options[i].type) {
		case CFG_STRING:
			printf("%s = \"%s\"\n", options[i].name, *(char *const *)field);
			break;
		case CFG_BOOL:
			printf("%s = %s\n", options[i].name, *(const bool *)field ? "yes" : "no");
			break;
		case CFG_INT:
			printf("%s = %" PRId64 "\n", options[i].name, *(const int64_t *)field);
			break;
		default:
			printf("%s = %" PRIu64 "\n", options[i].name, *(const uint64_t *)field);
			break;
		}
	}
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (options[i].type == CFG_STRING) {
			char **field = (char **)((char *)cfg + options[i].offset);
			free(*field);
			*field = NULL;
		}
	}
}
