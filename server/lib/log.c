#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_process = "mailstead";
static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal"};

void log_init(const char *process_name, enum log_level min_level)
{
	log_process = process_name;
	log_min = min_level;
}

void log_set_level(enum log_level min_level)
{
	log_min = min_level;
}

int log_level_parse(const char *name, enum log_level *level_r)
{
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_vwrite(enum log_level level, const struct log_ctx *ctx, const char *fmt, va_list ap)
{
	char line[4096], stamp[32];
	size_t len;
	struct timespec ts;
	struct tm tm;
	int n;

	if (level < log_min)
		return;
	(void)clock_gettime(CLOCK_REALTIME, &ts); /* cannot fail for CLOCK_REALTIME */
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld] %s: ", stamp, ts.tv_nsec / 1000000,
		     log_process, (long)getpid(), level_names[level]);
	len = n < 0 ? 0 : (size_t)n;
	if (ctx != NULL && len < sizeof(line)) {
		n = snprintf(line + len, sizeof(line) - len, "[s%lu%s%s%s%s] ", ctx->session_id,
			     ctx->client ? " " : "", ctx->client ? ctx->client : "",
			     ctx->account ? " " : "", ctx->account ? ctx->account : "");
		len += n < 0 ? 0 : (size_t)n;
	}
	if (len < sizeof(line)) {
		n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		len += n < 0 ? 0 : (size_t)n;
	}
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line so lines of concurrent processes do not interleave. */
	(void)!write(STDERR_FILENO, line, len);
}

void log_write(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, ctx, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_FATAL, NULL, fmt, ap);
	va_end(ap);
	exit(2);
}

void panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_FATAL, NULL, fmt, ap);
	va_end(ap);
	abort();
}

char *log_sanitize(char *out, size_t out_size, const char *in, size_t in_len)
{
	size_t i, o = 0;

	if (out_size == 0)
		return out;
	for (i = 0; i < in_len && o + 1 < out_size; i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (i < in_len && out_size >= 4) {
		o = o > out_size - 4 ? out_size - 4 : o;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
