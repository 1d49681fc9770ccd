/* mailstead-imapd: binds the listeners as root, loads TLS, checks the
 * database schema, drops privileges, then hands over to the master. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "config.h"
#include "listen.h"
#include "log.h"
#include "master.h"
#include "migrate.h"
#include "privdrop.h"
#include "tls.h"
#include "worker.h"

#define MAX_OVERRIDES 64

/* Binds the LMTP unix socket at path (a stale socket file left by a crash is
 * replaced; any other file there is an error). Mode 0666: who may deliver
 * is decided by the permissions of the directory (docs/delivery.md), as the
 * MTA's user differs from ours. Returns the fd or -1 with *error_r. */
static int bind_unix(const char *path, const char **error_r)
{
	static char err[300];
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = "path too long for a unix socket";
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, sizeof(err), "%s exists and is not a socket", path);
			*error_r = err;
			return -1;
		}
		if (unlink(path) < 0) {
			snprintf(err, sizeof(err), "unlink %s: %s", path, strerror(errno));
			*error_r = err;
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, sizeof(err), "socket: %s", strerror(errno));
		*error_r = err;
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 1024) < 0) {
		snprintf(err, sizeof(err), "%s: %s", path, strerror(errno));
		*error_r = err;
		close(fd);
		return -1;
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: mailstead-imapd [-c CONFIG] [-o key=value]... [-t]\n"
			"  -c CONFIG      configuration file (default /etc/mailstead/mailstead.conf)\n"
			"  -o key=value   override one option (repeatable)\n"
			"  -t             check the configuration and exit\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *config_path = "/etc/mailstead/mailstead.conf";
	char *overrides[MAX_OVERRIDES];
	unsigned noverrides = 0;
	struct config cfg;
	struct worker_listener ls[4];
	unsigned nls = 0;
	SSL_CTX *tls = NULL;
	enum log_level lvl;
	const char *err;
	int opt, version, test_only = 0;

	log_init("imapd", LOG_LEVEL_INFO);
	while ((opt = getopt(argc, argv, "c:o:th")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			if (noverrides == MAX_OVERRIDES)
				fatal("too many -o options");
			overrides[noverrides++] = optarg;
			break;
		case 't':
			test_only = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	config_defaults(&cfg);
	if (config_load(&cfg, config_path, &err) < 0)
		fatal("%s", err);
	for (unsigned i = 0; i < noverrides; i++)
		if (config_set(&cfg, overrides[i], &err) < 0)
			fatal("%s", err);
	if (log_level_parse(cfg.log_level, &lvl) < 0)
		fatal("%s: log_level: expected debug, info, warn or error", config_path);
	log_set_level(lvl);
	if (cfg.imap_listen[0] == '\0' && cfg.imaps_listen[0] == '\0' &&
	    cfg.lmtp_listen[0] == '\0' && cfg.lmtp_socket[0] == '\0')
		fatal("%s: neither imap_listen nor imaps_listen (nor lmtp_listen, lmtp_socket) is set",
		      config_path);
	if (cfg.imaps_listen[0] != '\0' && (cfg.tls_cert[0] == '\0' || cfg.tls_key[0] == '\0'))
		fatal("%s: imaps_listen needs tls_cert and tls_key", config_path);
	if ((cfg.tls_cert[0] == '\0') != (cfg.tls_key[0] == '\0'))
		fatal("%s: set both tls_cert and tls_key, or neither", config_path);
	if (cfg.tls_cert[0] != '\0') {
		tls = tls_ctx_create(cfg.tls_cert, cfg.tls_key, &err);
		if (tls == NULL)
			fatal("%s", err);
	}
	if (test_only) {
		printf("%s: configuration OK\n", config_path);
		return 0;
	}

	if (migrate_current(cfg.db_conninfo, &version, &err) < 0)
		fatal("%s", err);
	if (version < MIGRATE_SCHEMA_VERSION)
		fatal("database schema is at version %d, this mailstead-imapd needs %d: "
		      "run `mailstead-admin db migrate` (or start mailstead-admind) first",
		      version, MIGRATE_SCHEMA_VERSION);

	if (cfg.imap_listen[0] != '\0') {
		ls[nls].kind = WORKER_LISTEN_IMAP;
		if ((ls[nls++].fd = listen_bind(cfg.imap_listen, &err)) < 0)
			fatal("imap_listen %s", err);
	}
	if (cfg.imaps_listen[0] != '\0') {
		ls[nls].kind = WORKER_LISTEN_IMAPS;
		if ((ls[nls++].fd = listen_bind(cfg.imaps_listen, &err)) < 0)
			fatal("imaps_listen %s", err);
	}
	if (cfg.lmtp_listen[0] != '\0') {
		ls[nls].kind = WORKER_LISTEN_LMTP;
		if ((ls[nls++].fd = listen_bind(cfg.lmtp_listen, &err)) < 0)
			fatal("lmtp_listen %s", err);
	}
	if (cfg.lmtp_socket[0] != '\0') {
		ls[nls].kind = WORKER_LISTEN_LMTP;
		if ((ls[nls++].fd = bind_unix(cfg.lmtp_socket, &err)) < 0)
			fatal("lmtp_socket %s", err);
	}
	if (privdrop_to_user(cfg.user, &err) < 0)
		fatal("%s", err);
	LOG(INFO, NULL, "listening: imap %s, imaps %s, lmtp %s%s%s",
	    cfg.imap_listen[0] ? cfg.imap_listen : "-",
	    cfg.imaps_listen[0] ? cfg.imaps_listen : "-",
	    cfg.lmtp_listen[0] ? cfg.lmtp_listen : "-", cfg.lmtp_socket[0] ? ", lmtp " : "",
	    cfg.lmtp_socket);
	return master_run(&cfg, config_path, overrides, noverrides, tls, ls, nls);
}
