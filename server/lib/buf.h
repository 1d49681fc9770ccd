/* Growable byte buffers on the heap, with a hard limit.
 *
 * For output and accumulation whose size is not known in advance. Every
 * append checks the buffer's limit: a client can never grow one past it. */
#ifndef MAILSTEAD_BUF_H
#define MAILSTEAD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t limit; /* 0 = no limit (only for server-built data) */
};

/* Initialises an empty buffer that refuses to grow past limit bytes. */
void buf_init(struct buf *b, size_t limit);

/* Appends; returns 0, or -1 (buffer unchanged) when the limit would be
 * exceeded. Out of memory is a panic. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forgets the contents but keeps the memory. */
void buf_reset(struct buf *b);

/* Frees the memory; the buffer may be reused after buf_init. */
void buf_free(struct buf *b);

#endif
