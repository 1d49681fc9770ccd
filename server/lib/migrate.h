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
#define MIGRATE_SCHEMA_VERSION 24

/* Opens schema_dir for later migrate_apply calls. A daemon opens it while
 * still root: afterwards the files are read relative to this descriptor, so
 * the unprivileged user needs no access to the directories above it (a
 * checkout under /root). Returns the fd or -1 with error_r. */
int migrate_open_dir(const char *schema_dir, const char **error_r);

/* Applies every migration in the directory dir_fd (named dir_name in
 * messages) that schema_migrations does not record. Returns 0 with the
 * number applied in *applied_r, or -1 with a message in error_r (static
 * buffer). */
int migrate_apply(const char *conninfo, int dir_fd, const char *dir_name, int *applied_r,
		  const char **error_r);

/* Reads the database's schema version into *version_r (0 for an empty
 * database). Returns 0 or -1 with error_r. */
int migrate_current(const char *conninfo, int *version_r, const char **error_r);

#endif
