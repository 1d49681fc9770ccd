#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char privdrop_error[256];

static int privdrop_fail(const char **error_r, const char *what, const char *user, int err)
{
	snprintf(privdrop_error, sizeof(privdrop_error), "privdrop: %s (user %s)%s%s", what, user,
	         err != 0 ? ": " : "", err != 0 ? strerror(err) : "");
	*error_r = privdrop_error;
	return -1;
}

int privdrop_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, const char **error_r)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int err;

	err = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (err != 0)
		return privdrop_fail(error_r, "getpwnam_r failed", user, err);
	if (res == NULL)
		return privdrop_fail(error_r, "no such user", user, 0);
	*uid_r = pw.pw_uid;
	*gid_r = pw.pw_gid;
	return 0;
}

int privdrop_to_user(const char *user, const char **error_r)
{
	uid_t uid, ruid, euid, suid;
	gid_t gid, rgid, egid, sgid;

	if (getuid() != 0 && geteuid() != 0)
		return 0;
	if (privdrop_lookup(user, &uid, &gid, error_r) < 0)
		return -1;
	if (uid == 0)
		return privdrop_fail(error_r, "refusing to run as a uid-0 user", user, 0);
	/* Groups first: once the uid is gone we may no longer change them. */
	if (initgroups(user, gid) < 0)
		return privdrop_fail(error_r, "initgroups failed", user, errno);
	if (setresgid(gid, gid, gid) < 0)
		return privdrop_fail(error_r, "setresgid failed", user, errno);
	if (setresuid(uid, uid, uid) < 0)
		return privdrop_fail(error_r, "setresuid failed", user, errno);
	/* Prove it rather than trust it. */
	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
		return privdrop_fail(error_r, "getresuid/getresgid failed", user, errno);
	if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid)
		return privdrop_fail(error_r, "ids did not change", user, 0);
	if (setuid(0) == 0 || seteuid(0) == 0)
		return privdrop_fail(error_r, "root could be regained after the drop", user, 0);
	return 0;
}
