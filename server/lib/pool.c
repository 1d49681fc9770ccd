#include "pool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define POOL_ALIGN 16
#define POOL_DEFAULT_BLOCK 4096

struct pool_block {
	struct pool_block *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	/* data follows, aligned */
};

struct pool {
	struct pool_block *blocks; /* newest first */
	struct pool_block *first;  /* made by pool_create, kept by pool_clear */
	size_t block_size;
	size_t total;
};

#define BLOCK_HDR ((sizeof(struct pool_block) + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1))

static unsigned char *block_data(struct pool_block *b)
{
	return (unsigned char *)b + BLOCK_HDR;
}

static struct pool_block *block_new(struct pool *pool, size_t size)
{
	struct pool_block *b;

	if (size > SIZE_MAX - BLOCK_HDR)
		panic("pool: allocation of %zu bytes overflows", size);
	b = malloc(BLOCK_HDR + size);
	if (b == NULL)
		panic("pool: out of memory allocating %zu bytes", size);
	b->size = size;
	b->used = 0;
	pool->total += BLOCK_HDR + size;
	return b;
}

struct pool *pool_create(size_t block_size)
{
	struct pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		panic("pool: out of memory");
	pool->block_size = block_size == 0 ? POOL_DEFAULT_BLOCK : block_size;
	pool->blocks = block_new(pool, pool->block_size);
	pool->blocks->next = NULL;
	pool->first = pool->blocks;
	return pool;
}

void pool_destroy(struct pool **pool_r)
{
	struct pool *pool = *pool_r;
	struct pool_block *b, *next;

	if (pool == NULL)
		return;
	for (b = pool->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(pool);
	*pool_r = NULL;
}

void pool_clear(struct pool *pool)
{
	struct pool_block *b, *next;

	for (b = pool->blocks; b != NULL; b = next) {
		next = b->next;
		if (b != pool->first) {
			pool->total -= BLOCK_HDR + b->size;
			free(b);
		}
	}
	pool->first->used = 0;
	pool->first->next = NULL;
	pool->blocks = pool->first;
}

void *pool_alloc(struct pool *pool, size_t size)
{
	struct pool_block *b = pool->blocks;
	size_t need;
	void *p;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - POOL_ALIGN)
		panic("pool: allocation of %zu bytes overflows", size);
	need = (size + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
	if (b->size - b->used < need) {
		b = block_new(pool, need > pool->block_size ? need : pool->block_size);
		if (need > pool->block_size && pool->blocks->size - pool->blocks->used >
						       pool->block_size / 4) {
			/* A big one-off block goes behind the current block so
			 * the current block's free space stays usable. */
			b->next = pool->blocks->next;
			pool->blocks->next = b;
		} else {
			b->next = pool->blocks;
			pool->blocks = b;
		}
	}
	p = block_data(b) + b->used;
	b->used += need;
	memset(p, 0, size);
	return p;
}

void *pool_memdup(struct pool *pool, const void *data, size_t size)
{
	void *p = pool_alloc(pool, size);

	if (size > 0)
		memcpy(p, data, size);
	return p;
}

char *pool_strdup(struct pool *pool, const char *s)
{
	return pool_memdup(pool, s, strlen(s) + 1);
}

char *pool_strndup(struct pool *pool, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = pool_alloc(pool, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *pool_vprintf(struct pool *pool, const char *fmt, va_list ap)
{
	va_list ap2;
	int len;
	char *p;

	va_copy(ap2, ap);
	len = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (len < 0)
		panic("pool_vprintf: bad format");
	p = pool_alloc(pool, (size_t)len + 1);
	(void)vsnprintf(p, (size_t)len + 1, fmt, ap); /* length known: cannot truncate */
	return p;
}

char *pool_printf(struct pool *pool, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = pool_vprintf(pool, fmt, ap);
	va_end(ap);
	return p;
}

size_t pool_size(const struct pool *pool)
{
	return pool->total;
}
