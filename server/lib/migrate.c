#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MIGRATE_MAX_FILES 1000
#define MIGRATE_MAX_SIZE (16 * 1024 * 1024)
/* Arbitrary constant shared by every Mailstead process. */
#define MIGRATE_LOCK_KEY "7462117"

static char migrate_error[1024];

static int fail(const char **error_r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(const char **error_r, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	(void)vsnprintf(migrate_error, sizeof(migrate_error), fmt, ap); /* truncation is fine */
	va_end(ap);
	/* libpq messages end in a newline */
	len = strlen(migrate_error);
	while (len > 0 && migrate_error[len - 1] == '\n')
		migrate_error[--len] = '\0';
	*error_r = migrate_error;
	return -1;
}

static int exec_ok(PGconn *pg, const char *sql, const char **error_r)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	int ret = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		ret = fail(error_r, "%s", PQresultErrorMessage(res));
	PQclear(res);
	return ret;
}

static int read_version(PGconn *pg, int *version_r, const char **error_r)
{
	PGresult *res = PQexec(pg, "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL "
				   "THEN -1 ELSE 0 END");
	int exists;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail(error_r, "reading schema version: %s", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	exists = atoi(PQgetvalue(res, 0, 0)) == 0;
	PQclear(res);
	if (!exists) {
		*version_r = 0;
		return 0;
	}
	res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail(error_r, "reading schema version: %s", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	*version_r = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static PGconn *connect_db(const char *conninfo, const char **error_r)
{
	PGconn *pg = PQconnectdb(conninfo);

	if (PQstatus(pg) != CONNECTION_OK) {
		fail(error_r, "cannot connect to the database: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

int migrate_current(const char *conninfo, int *version_r, const char **error_r)
{
	PGconn *pg = connect_db(conninfo, error_r);
	int ret;

	if (pg == NULL)
		return -1;
	ret = read_version(pg, version_r, error_r);
	PQfinish(pg);
	return ret;
}

static int is_applied(PGconn *pg, int number, int *applied_r, const char **error_r)
{
	char num[16];
	const char *params[1] = {num};
	PGresult *res;

	snprintf(num, sizeof(num), "%d", number);
	res = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
			   params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail(error_r, "reading schema_migrations: %s", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	*applied_r = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A migration file is NNNN_word.sql; returns its number or -1. */
static int migration_number(const char *name)
{
	size_t len = strlen(name);

	if (len < 10 || strcmp(name + len - 4, ".sql") != 0 || name[4] != '_')
		return -1;
	for (int i = 0; i < 4; i++)
		if (name[i] < '0' || name[i] > '9')
			return -1;
	return atoi(name);
}

static char *read_file(int dir_fd, const char *name, const char *path, const char **error_r)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
	char *data;
	size_t len;

	if (f == NULL) {
		fail(error_r, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	data = malloc(MIGRATE_MAX_SIZE + 1);
	if (data == NULL)
		panic("migrate: out of memory");
	len = fread(data, 1, MIGRATE_MAX_SIZE + 1, f);
	if (ferror(f) || len > MIGRATE_MAX_SIZE) {
		fail(error_r, "%s: %s", path, ferror(f) ? "read error" : "file too large");
		fclose(f);
		free(data);
		return NULL;
	}
	fclose(f);
	data[len] = '\0';
	return data;
}

static int apply_one(PGconn *pg, int dir_fd, const char *dir, const char *name, int number,
		     const char **error_r)
{
	char path[4096], num[16];
	char *sql;
	const char *params[2];
	PGresult *res;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	sql = read_file(dir_fd, name, path, error_r);
	if (sql == NULL)
		return -1;
	if (exec_ok(pg, "BEGIN", error_r) < 0) {
		free(sql);
		return -1;
	}
	res = PQexec(pg, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail(error_r, "migration %s failed: %s", name, PQresultErrorMessage(res));
		PQclear(res);
		(void)exec_ok(pg, "ROLLBACK", error_r); /* the first error is the one to report */
		*error_r = migrate_error;
		return -1;
	}
	PQclear(res);
	snprintf(num, sizeof(num), "%d", number);
	params[0] = num;
	params[1] = name;
	res = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
			   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fail(error_r, "recording migration %s: %s", name, PQresultErrorMessage(res));
		PQclear(res);
		(void)exec_ok(pg, "ROLLBACK", error_r);
		*error_r = migrate_error;
		return -1;
	}
	PQclear(res);
	return exec_ok(pg, "COMMIT", error_r);
}

int migrate_open_dir(const char *schema_dir, const char **error_r)
{
	int fd = open(schema_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return fail(error_r, "schema directory %s: %s", schema_dir, strerror(errno));
	return fd;
}

int migrate_apply(const char *conninfo, int dir_fd, const char *schema_dir, int *applied_r,
		  const char **error_r)
{
	PGconn *pg;
	DIR *d;
	struct dirent *de;
	char *names[MIGRATE_MAX_FILES];
	size_t n = 0;
	int version, ret = 0, fd;

	*applied_r = 0;
	/* fdopendir owns the descriptor it gets: give it a copy. */
	fd = dup(dir_fd);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return fail(error_r, "schema directory %s: %s", schema_dir, strerror(errno));
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (migration_number(de->d_name) < 0)
			continue;
		if (n == MIGRATE_MAX_FILES) {
			closedir(d);
			for (size_t i = 0; i < n; i++)
				free(names[i]);
			return fail(error_r, "%s: too many migration files", schema_dir);
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			panic("migrate: out of memory");
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);

	pg = connect_db(conninfo, error_r);
	if (pg == NULL) {
		ret = -1;
		goto out;
	}
	if (exec_ok(pg, "SET client_min_messages = warning", error_r) < 0 ||
	    exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", error_r) < 0 ||
	    read_version(pg, &version, error_r) < 0) {
		ret = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int number = migration_number(names[i]);
		int applied;
		if (i > 0 && number == migration_number(names[i - 1])) {
			ret = fail(error_r, "two migrations numbered like %s", names[i]);
			break;
		}
		/* Applied is what schema_migrations records, not "below the
		 * highest": a migration merged late with a lower number still
		 * runs. */
		if (version > 0 && is_applied(pg, number, &applied, error_r) < 0) {
			ret = -1;
			break;
		}
		if (version > 0 && applied)
			continue;
		if (apply_one(pg, dir_fd, schema_dir, names[i], number, error_r) < 0) {
			ret = -1;
			break;
		}
		LOG(INFO, NULL, "applied migration %s", names[i]);
		(*applied_r)++;
	}
	if (ret == 0 && read_version(pg, &version, error_r) == 0 &&
	    version < MIGRATE_SCHEMA_VERSION)
		ret = fail(error_r, "schema directory %s ends before the version this build needs",
			   schema_dir);
out:
	if (pg != NULL)
		PQfinish(pg); /* releases the advisory lock */
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return ret;
}
