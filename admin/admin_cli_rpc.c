/* The CLI's side of the admin socket, and password input. Blocking I/O:
 * a command-line tool has nothing else to do while it waits. */
#include "admin_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "password.h"

const char *admin_cli_default_socket(void)
{
	const char *env = getenv("MAILSTEAD_ADMIN_SOCKET");
	struct stat st;

	if (env != NULL && env[0] != '\0')
		return env;
	if (stat("var/run/admind.sock", &st) == 0 && S_ISSOCK(st.st_mode))
		return "var/run/admind.sock";
	return "/run/mailstead/admind.sock";
}

int cli_connect(struct cli_conn *conn, const char *path)
{
	struct sockaddr_un sun;

	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
	conn->next_id = 1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "mailstead-admin: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	conn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn->fd < 0 || connect(conn->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "mailstead-admin: cannot connect to %s: %s\n", path,
		        strerror(errno));
		if (conn->fd >= 0)
			(void)close(conn->fd);
		conn->fd = -1;
		return -1;
	}
	return 0;
}

void cli_close(struct cli_conn *conn)
{
	if (conn->fd >= 0)
		(void)close(conn->fd); /* nothing left to send */
	conn->fd = -1;
	free(conn->buf);
	conn->buf = NULL;
	conn->len = 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line (without its LF) into a malloc'd string. */
static char *read_line(struct cli_conn *conn)
{
	for (;;) {
		char *nl = conn->len > 0 ? memchr(conn->buf, '\n', conn->len) : NULL;
		ssize_t n;
		char *p;

		if (nl != NULL) {
			size_t linelen = (size_t)(nl - conn->buf);
			char *line = malloc(linelen + 1);
			if (line == NULL)
				return NULL;
			memcpy(line, conn->buf, linelen);
			line[linelen] = '\0';
			memmove(conn->buf, nl + 1, conn->len - linelen - 1);
			conn->len -= linelen + 1;
			return line;
		}
		if (conn->len >= CLI_MAX_RESPONSE) {
			errno = EMSGSIZE;
			return NULL;
		}
		p = realloc(conn->buf, conn->len + 65536);
		if (p == NULL)
			return NULL;
		conn->buf = p;
		n = recv(conn->fd, conn->buf + conn->len, 65536, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return NULL;
		}
		conn->len += (size_t)n;
	}
}

int cli_call(struct cli_conn *conn, const char *method, json_t *params, json_t **result_r,
             json_t **error_r)
{
	json_t *req, *resp, *v;
	json_error_t jerr;
	char *line;
	int ret;

	*result_r = NULL;
	*error_r = NULL;
	req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)conn->next_id,
	                "method", method);
	if (req == NULL || (params != NULL && json_object_set_new(req, "params", params) < 0)) {
		fprintf(stderr, "mailstead-admin: out of memory\n");
		json_decref(req);
		return -2;
	}
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (line == NULL) {
		fprintf(stderr, "mailstead-admin: cannot encode the request\n");
		return -2;
	}
	ret = write_all(conn->fd, line, strlen(line));
	if (ret == 0)
		ret = write_all(conn->fd, "\n", 1);
	/* The line may hold a password. */
	explicit_bzero(line, strlen(line));
	free(line);
	if (ret < 0) {
		fprintf(stderr, "mailstead-admin: cannot send the request: %s\n", strerror(errno));
		return -2;
	}
	line = read_line(conn);
	if (line == NULL) {
		fprintf(stderr, "mailstead-admin: no response from the daemon: %s\n",
		        strerror(errno));
		return -2;
	}
	resp = json_loads(line, 0, &jerr);
	free(line);
	if (resp == NULL || !json_is_object(resp)) {
		fprintf(stderr, "mailstead-admin: unreadable response from the daemon\n");
		json_decref(resp);
		return -2;
	}
	if ((v = json_object_get(resp, "error")) != NULL) {
		*error_r = json_incref(v);
		json_decref(resp);
		return -1;
	}
	v = json_object_get(resp, "id");
	if (!json_is_integer(v) || json_integer_value(v) != conn->next_id ||
	    (v = json_object_get(resp, "result")) == NULL) {
		fprintf(stderr, "mailstead-admin: unexpected response from the daemon\n");
		json_decref(resp);
		return -2;
	}
	conn->next_id++;
	*result_r = json_incref(v);
	json_decref(resp);
	return 0;
}

/* Reads one line of at most PASSWORD_MAX_LEN bytes from f; strips the line
 * end. Returns a malloc'd string or NULL. */
static char *read_secret_line(FILE *f)
{
	char *buf = malloc(PASSWORD_MAX_LEN + 2);
	size_t len;

	if (buf == NULL)
		return NULL;
	if (fgets(buf, PASSWORD_MAX_LEN + 2, f) == NULL) {
		free(buf);
		return NULL;
	}
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (len == PASSWORD_MAX_LEN + 1) {
		/* Too long: refuse rather than truncate. */
		explicit_bzero(buf, len);
		free(buf);
		errno = EMSGSIZE;
		return NULL;
	}
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return buf;
}

/* Prompts on the terminal with echo off. */
static char *read_tty(FILE *tty, const char *prompt)
{
	struct termios old, quiet;
	char *pw;

	fprintf(tty, "%s", prompt);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) < 0)
		return NULL;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(fileno(tty), TCSAFLUSH, &quiet) < 0)
		return NULL;
	pw = read_secret_line(tty);
	/* Echo must come back whatever happened. */
	if (tcsetattr(fileno(tty), TCSAFLUSH, &old) < 0)
		fprintf(stderr, "mailstead-admin: cannot restore terminal echo\n");
	fprintf(tty, "\n");
	return pw;
}

char *cli_read_password(bool from_stdin, const char *prompt)
{
	char *pw, *again;
	FILE *tty;

	if (from_stdin) {
		pw = read_secret_line(stdin);
		if (pw == NULL) {
			fprintf(stderr, "mailstead-admin: no password on stdin%s\n",
			        errno == EMSGSIZE ? " (longer than 1024 bytes)" : "");
			return NULL;
		}
	} else {
		tty = fopen("/dev/tty", "r+");
		if (tty == NULL) {
			fprintf(stderr, "mailstead-admin: no terminal to read the password from; "
			                "use --password-stdin\n");
			return NULL;
		}
		pw = read_tty(tty, prompt);
		again = pw != NULL ? read_tty(tty, "Again: ") : NULL;
		fclose(tty);
		if (pw == NULL || again == NULL || strcmp(pw, again) != 0) {
			fprintf(stderr, "mailstead-admin: %s\n",
			        pw == NULL || again == NULL ? "cannot read the password"
			                                    : "passwords do not match");
			if (pw != NULL)
				explicit_bzero(pw, strlen(pw));
			free(pw);
			pw = NULL;
		}
		if (again != NULL)
			explicit_bzero(again, strlen(again));
		free(again);
		if (pw == NULL)
			return NULL;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "mailstead-admin: empty password\n");
		free(pw);
		return NULL;
	}
	return pw;
}
