/* Logging: one entry point, LOG(level, ctx, fmt, ...).
 *
 * Every line carries the process name and pid; a non-NULL context adds the
 * session id, account and client address. Lines go to stderr (journald or
 * the terminal under `make run`). Client-supplied text must pass through
 * log_sanitize() before it is logged. */
#ifndef MAILSTEAD_LOG_H
#define MAILSTEAD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
};

#define DEBUG LOG_LEVEL_DEBUG
#define INFO LOG_LEVEL_INFO
#define WARN LOG_LEVEL_WARN
#define ERROR LOG_LEVEL_ERROR

/* What a log line says about the session it concerns. Owned by the caller. */
struct log_ctx {
	unsigned long session_id;
	const char *account; /* NULL before login */
	const char *client;  /* "ip:port" or NULL */
};

/* Sets the process name shown on every line (e.g. "imapd-worker"). The
 * string must outlive all logging. */
void log_init(const char *process_name, enum log_level min_level);
void log_set_level(enum log_level min_level);

/* Parses "debug", "info", "warn", "error"; returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *level_r);

void log_write(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vwrite(enum log_level level, const struct log_ctx *ctx, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define LOG(level, ctx, ...) log_write((level), (ctx), __VA_ARGS__)

/* Start-up, config or privilege failure: logs and exits with status 2, which
 * the master does not respawn. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* An impossible state: logs and aborts (core dump). */
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Copies at most max bytes of client text into out (size out_size), replacing
 * control and non-ASCII bytes with '?' and marking truncation with "...".
 * Returns out. */
char *log_sanitize(char *out, size_t out_size, const char *in, size_t in_len);

#endif
