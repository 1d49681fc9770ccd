/* Dropping root privileges, once, and proving it.
 *
 * A daemon started as root opens what needs privilege (sockets in root-owned
 * directories, TLS keys) and then calls privdrop_to_user(): afterwards it
 * can never regain root, which the function checks rather than assumes
 * (STYLE.md: "privilege drop done once and checked"). */
#ifndef MAILSTEAD_PRIVDROP_H
#define MAILSTEAD_PRIVDROP_H

#include <sys/types.h>

/* Looks up user in the password database; returns 0 with its uid and
 * primary gid, or -1 with the reason in *error_r (a static buffer). */
int privdrop_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, const char **error_r);

/* When the process runs as root (real or effective uid 0): sets the
 * supplementary groups to user's (initgroups), then the real, effective and
 * saved gid and uid to user's, and verifies that every id changed and that
 * setuid(0) now fails. Returns 0, or -1 with *error_r (static buffer); on
 * -1 the caller must exit (a half-dropped process is not safe to run).
 * When not running as root, does nothing and returns 0: a developer may
 * run the daemon as themselves. Refuses a user whose uid is 0. */
int privdrop_to_user(const char *user, const char **error_r);

#endif
