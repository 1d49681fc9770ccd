/* Schema migrations (schema/NNNN_name.sql).
 *
 * Blocking libpq: used at start-up (before any event loop runs) and by the
 * admin daemon's db.migrate method. Each file is applied in its own
 * transaction together with its schema_migrations row, under an advisory
 * lock so that two processes never migrate at once. */
#ifndef MAILSTEAD_MIGRATE_H
#define MAILSTEAD_MIGRATE_H

/* The schema version this build's code needs (the highest migration number
 * it knows of). mailstead-imapd refuses to start below it. */
#define MIGRATE_SCHEMA_VERSION 8

/* Applies every migration in schema_dir newer than the database's version.
 * Returns 0 with the number applied in *applied_r, or -1 with a message in
 * error_r (static buffer). */
int migrate_apply(const char *conninfo, const char *schema_dir, int *applied_r,
		  const char **error_r);

/* Reads the database's schema version into *version_r (0 for an empty
 * database). Returns 0 or -1 with error_r. */
int migrate_current(const char *conninfo, int *version_r, const char **error_r);

#endif
