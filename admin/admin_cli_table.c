/* Human output of mailstead-admin: aligned tables for lists, "key: value"
 * lines for one object. Scripts use --json instead, which prints the
 * result exactly as the daemon sent it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"

enum col_kind {
	COL_TEXT,
	COL_COUNT,
	COL_SIZE,        /* bytes, shown with a binary unit */
	COL_QUOTA_SIZE,  /* 0 = unlimited */
	COL_QUOTA_COUNT, /* 0 = unlimited */
	COL_LIST,        /* array of strings, comma-separated */
	COL_TIME,        /* ISO timestamp, shown to the second */
};

struct col {
	const char *header;
	const char *key;
	enum col_kind kind;
};

#define CELL_MAX 4096

static void format_size(char *out, size_t size, json_int_t v)
{
	static const char units[] = "KMGTPE";
	double d = (double)v;
	int u = -1;

	if (v < 1024) {
		snprintf(out, size, "%" JSON_INTEGER_FORMAT, v);
		return;
	}
	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	snprintf(out, size, "%.1f%c", d, units[u]);
}

/* Renders one value of kind into out. */
static void format_cell(char *out, size_t size, json_t *v, enum col_kind kind)
{
	size_t i, len = 0;
	json_t *item;

	if (v == NULL || json_is_null(v)) {
		snprintf(out, size, "-");
		return;
	}
	switch (kind) {
	case COL_TEXT:
		if (json_is_string(v))
			snprintf(out, size, "%s", json_string_value(v));
		else if (json_is_boolean(v))
			snprintf(out, size, "%s", json_is_true(v) ? "yes" : "no");
		else if (json_is_integer(v))
			snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else
			snprintf(out, size, "?");
		return;
	case COL_COUNT:
	case COL_QUOTA_COUNT:
		if (kind == COL_QUOTA_COUNT && json_integer_value(v) == 0)
			snprintf(out, size, "unlimited");
		else
			snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return;
	case COL_SIZE:
	case COL_QUOTA_SIZE:
		if (kind == COL_QUOTA_SIZE && json_integer_value(v) == 0)
			snprintf(out, size, "unlimited");
		else
			format_size(out, size, json_integer_value(v));
		return;
	case COL_LIST:
		out[0] = '\0';
		json_array_foreach(v, i, item)
		{
			int n = snprintf(out + len, size - len, "%s%s", i > 0 ? ", " : "",
			                 json_is_string(item) ? json_string_value(item) : "?");
			if (n < 0 || (size_t)n >= size - len)
				break;
			len += (size_t)n;
		}
		return;
	case COL_TIME:
		/* "2026-01-02T03:04:05.123+00:00" -> "2026-01-02 03:04:05" */
		snprintf(out, size, "%.19s", json_is_string(v) ? json_string_value(v) : "?");
		if (strlen(out) > 10 && out[10] == 'T')
			out[10] = ' ';
		return;
	}
}

/* Prints rows (an array of objects) as a table with a header line. */
static void print_table(json_t *rows, const struct col *cols, size_t ncols)
{
	size_t widths[16] = {0}, r, c;
	json_t *row;
	char cell[CELL_MAX];

	if (!json_is_array(rows) || json_array_size(rows) == 0) {
		printf("(none)\n");
		return;
	}
	for (c = 0; c < ncols; c++)
		widths[c] = strlen(cols[c].header);
	json_array_foreach(rows, r, row)
	{
		for (c = 0; c < ncols; c++) {
			format_cell(cell, sizeof(cell), json_object_get(row, cols[c].key),
			            cols[c].kind);
			if (strlen(cell) > widths[c])
				widths[c] = strlen(cell);
		}
	}
	for (c = 0; c < ncols; c++)
		printf("%-*s%s", c + 1 < ncols ? (int)widths[c] : 0, cols[c].header,
		       c + 1 < ncols ? "  " : "\n");
	json_array_foreach(rows, r, row)
	{
		for (c = 0; c < ncols; c++) {
			format_cell(cell, sizeof(cell), json_object_get(row, cols[c].key),
			            cols[c].kind);
			/* Numbers right-aligned, text left-aligned. */
			if (cols[c].kind == COL_TEXT || cols[c].kind == COL_LIST ||
			    cols[c].kind == COL_TIME)
				printf("%-*s", c + 1 < ncols ? (int)widths[c] : 0, cell);
			else
				printf("%*s", (int)widths[c], cell);
			printf("%s", c + 1 < ncols ? "  " : "\n");
		}
	}
}

/* Prints one object as aligned "label: value" lines. */
static void print_object(json_t *obj, const struct col *cols, size_t ncols)
{
	size_t width = 0, c;
	char cell[CELL_MAX];

	for (c = 0; c < ncols; c++)
		if (strlen(cols[c].header) > width)
			width = strlen(cols[c].header);
	for (c = 0; c < ncols; c++) {
		format_cell(cell, sizeof(cell), json_object_get(obj, cols[c].key), cols[c].kind);
		printf("%-*s  %s\n", (int)width + 1, cols[c].header, cell);
	}
}

static void print_paging(json_t *result, const char *key)
{
	json_t *total = json_object_get(result, "total");
	json_t *offset = json_object_get(result, "offset");
	size_t shown = json_array_size(json_object_get(result, key));

	if (json_is_integer(total) && (json_int_t)shown < json_integer_value(total))
		printf("(%zu shown from offset %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
		       "; use --offset and --limit for more)\n",
		       shown, json_is_integer(offset) ? json_integer_value(offset) : 0,
		       json_integer_value(total));
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct col domain_cols[] = {
    {"NAME", "name", COL_TEXT},
    {"STATUS", "status", COL_TEXT},
    {"ACCOUNTS", "accounts", COL_COUNT},
    {"ALIASES", "aliases", COL_COUNT},
    {"QUOTA", "quota_bytes", COL_QUOTA_SIZE},
    {"MAX-ACCOUNTS", "max_accounts", COL_QUOTA_COUNT},
    {"CATCH-ALL", "catchall", COL_TEXT},
};
static const struct col domain_fields[] = {
    {"name:", "name", COL_TEXT},
    {"status:", "status", COL_TEXT},
    {"accounts:", "accounts", COL_COUNT},
    {"aliases:", "aliases", COL_COUNT},
    {"quota:", "quota_bytes", COL_QUOTA_SIZE},
    {"max accounts:", "max_accounts", COL_QUOTA_COUNT},
    {"catch-all:", "catchall", COL_TEXT},
    {"created:", "created_at", COL_TIME},
    {"updated:", "updated_at", COL_TIME},
};
static const struct col account_cols[] = {
    {"ADDRESS", "address", COL_TEXT},         {"STATUS", "status", COL_TEXT},
    {"USED", "used_bytes", COL_SIZE},         {"QUOTA", "quota_bytes", COL_QUOTA_SIZE},
    {"MESSAGES", "used_messages", COL_COUNT}, {"MAX-MESSAGES", "quota_messages", COL_QUOTA_COUNT},
};
static const struct col account_fields[] = {
    {"address:", "address", COL_TEXT},         {"status:", "status", COL_TEXT},
    {"used:", "used_bytes", COL_SIZE},         {"quota:", "quota_bytes", COL_QUOTA_SIZE},
    {"messages:", "used_messages", COL_COUNT}, {"max messages:", "quota_messages", COL_QUOTA_COUNT},
    {"created:", "created_at", COL_TIME},      {"updated:", "updated_at", COL_TIME},
};
static const struct col alias_cols[] = {
    {"ADDRESS", "address", COL_TEXT},
    {"DESTINATIONS", "destinations", COL_LIST},
};
static const struct col alias_fields[] = {
    {"address:", "address", COL_TEXT},
    {"destinations:", "destinations", COL_LIST},
    {"created:", "created_at", COL_TIME},
};
static const struct col quota_fields[] = {
    {"address:", "address", COL_TEXT},
    {"used:", "used_bytes", COL_SIZE},
    {"quota:", "quota_bytes", COL_QUOTA_SIZE},
    {"messages:", "used_messages", COL_COUNT},
    {"max messages:", "quota_messages", COL_QUOTA_COUNT},
    {"domain used:", "domain_used_bytes", COL_SIZE},
    {"domain quota:", "domain_quota_bytes", COL_QUOTA_SIZE},
};
static const struct col stats_cols[] = {
    {"DOMAIN", "name", COL_TEXT},        {"STATUS", "status", COL_TEXT},
    {"ACCOUNTS", "accounts", COL_COUNT}, {"ALIASES", "aliases", COL_COUNT},
    {"MESSAGES", "messages", COL_COUNT}, {"SIZE", "bytes", COL_SIZE},
};

static bool prefix(const char *method, const char *p)
{
	return strncmp(method, p, strlen(p)) == 0;
}

void cli_print_result(const char *method, json_t *result)
{
	json_t *v;

	if (strcmp(method, "domain.list") == 0) {
		print_table(json_object_get(result, "domains"), domain_cols, N(domain_cols));
		print_paging(result, "domains");
	} else if (strcmp(method, "account.list") == 0) {
		print_table(json_object_get(result, "accounts"), account_cols, N(account_cols));
		print_paging(result, "accounts");
	} else if (strcmp(method, "alias.list") == 0) {
		print_table(json_object_get(result, "aliases"), alias_cols, N(alias_cols));
		print_paging(result, "aliases");
	} else if (strcmp(method, "stats.get") == 0) {
		print_table(json_object_get(result, "domains"), stats_cols, N(stats_cols));
	} else if (strcmp(method, "quota.get") == 0) {
		print_object(result, quota_fields, N(quota_fields));
	} else if (strcmp(method, "db.migrate") == 0) {
		v = json_object_get(result, "applied");
		printf("applied %" JSON_INTEGER_FORMAT " migration(s)\n",
		       json_is_integer(v) ? json_integer_value(v) : 0);
	} else if (json_is_true(json_object_get(result, "deleted"))) {
		v = json_object_get(result, "name");
		if (v == NULL)
			v = json_object_get(result, "address");
		printf("deleted %s\n", json_is_string(v) ? json_string_value(v) : "");
	} else if (prefix(method, "domain.")) {
		print_object(result, domain_fields, N(domain_fields));
	} else if (prefix(method, "account.")) {
		print_object(result, account_fields, N(account_fields));
	} else if (prefix(method, "alias.")) {
		print_object(result, alias_fields, N(alias_fields));
	} else {
		char *s = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
		if (s != NULL)
			printf("%s\n", s);
		free(s);
	}
}
