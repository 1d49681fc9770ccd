/* Memory arenas.
 *
 * A pool hands out memory that is released all at once by pool_clear() or
 * pool_destroy(): a connection owns one pool for its lifetime and one per
 * command, so error paths never need to free piecemeal. Allocation failure
 * is fatal (panic): a server that cannot get a few KiB cannot answer anyway,
 * and every client-controlled size is bounded before it reaches a pool. */
#ifndef MAILSTEAD_POOL_H
#define MAILSTEAD_POOL_H

#include <stdarg.h>
#include <stddef.h>

struct pool;

/* Returns a new empty pool; block_size is the size of its usual blocks
 * (0 = 4 KiB). Requests larger than a block get a block of their own. */
struct pool *pool_create(size_t block_size);

/* Frees every block and the pool itself, and sets *pool_r to NULL. */
void pool_destroy(struct pool **pool_r);

/* Releases everything allocated from the pool, keeping its first block for
 * reuse. Pointers into the pool are invalid afterwards. */
void pool_clear(struct pool *pool);

/* Returns size zeroed bytes aligned for any type, owned by the pool. */
void *pool_alloc(struct pool *pool, size_t size);

/* Returns a copy of the size bytes at data, owned by the pool. */
void *pool_memdup(struct pool *pool, const void *data, size_t size);

/* NUL-terminated copies owned by the pool. pool_strndup copies at most n
 * bytes and always terminates. */
char *pool_strdup(struct pool *pool, const char *s);
char *pool_strndup(struct pool *pool, const char *s, size_t n);

/* printf into pool memory. */
char *pool_printf(struct pool *pool, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *pool_vprintf(struct pool *pool, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Total bytes the pool holds from the allocator (for memory accounting). */
size_t pool_size(const struct pool *pool);

#endif
