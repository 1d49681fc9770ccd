/* FUZZ-SOURCES: server/imap/imap_parser.c server/lib/pool.c server/lib/buf.c server/lib/log.c
 *
 * libFuzzer target for the IMAP command parser.
 *
 * Input: one control byte, then the client's byte stream. The control byte
 * picks the limits (bits 0-1), whether limits are raised after the first
 * command as after a login (bit 2), and seeds the chunk sizes (all bits).
 * The stream is parsed twice: as one chunk, and in chunks whose sizes come
 * from the control byte, each chunk copied into a buffer of exactly its size
 * so that AddressSanitizer catches a read past it. Both runs must report the
 * same events at the same offsets (the parser must not depend on how input
 * is split), and every command must respect the limits. The strings of each
 * command are also written with imap_quote() and parsed back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_parser.h"
#include "pool.h"

static const struct imap_limits profiles[] = {
	{.max_tag = 8, .max_line = 64, .max_literal = 32, .max_nonsync_literal = 16,
	 .max_literal_total = 48, .max_args = 8, .max_depth = 2, .max_bad = 3},
	{.max_tag = 64, .max_line = 1024, .max_literal = 4096, .max_nonsync_literal = 1024,
	 .max_literal_total = 8192, .max_args = 100, .max_depth = 8, .max_bad = 20},
	{.max_tag = 128, .max_line = 8192, .max_literal = 65536, .max_nonsync_literal = 4096,
	 .max_literal_total = 100000, .max_args = 1000, .max_depth = 16, .max_bad = 1000},
	{.max_tag = 1, .max_line = 16, .max_literal = 0, .max_nonsync_literal = 0,
	 .max_literal_total = 0, .max_args = 1, .max_depth = 0, .max_bad = 0},
};

static const struct imap_limits quote_limits = {
	.max_tag = 8, .max_line = 1 << 20, .max_literal = 1 << 20, .max_nonsync_literal = 0,
	.max_literal_total = 1 << 20, .max_args = 4, .max_depth = 1, .max_bad = 0,
};

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t hash_u64(uint64_t h, uint64_t v)
{
	return hash_bytes(h, &v, sizeof(v));
}

/* What imap_quote() writes must parse back to the same string. */
static void check_quote(const struct imap_arg *a)
{
	struct pool *pool = pool_create(0);
	struct imap_parser *p = imap_parser_create(pool, &quote_limits);
	const struct imap_command *cmd;
	enum imap_parse_result r;
	size_t off = 0, consumed;
	struct buf b;

	buf_init(&b, 0);
	CHECK(buf_append_str(&b, "q X ") == 0);
	CHECK(imap_quote(&b, a->str, a->len) == 0);
	CHECK(buf_append_str(&b, "\r\n") == 0);
	while ((r = imap_parser_feed(p, (const unsigned char *)b.data + off, b.len - off,
				     &consumed)) == IMAP_PARSE_CONTINUE)
		off += consumed;
	CHECK(r == IMAP_PARSE_DONE);
	cmd = imap_parser_command(p);
	CHECK(cmd->argc == 1);
	CHECK(cmd->args[0].type == IMAP_ARG_QUOTED || cmd->args[0].type == IMAP_ARG_LITERAL);
	CHECK(cmd->args[0].len == a->len);
	CHECK(memcmp(cmd->args[0].str, a->str, a->len) == 0);
	buf_free(&b);
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

/* Checks an argument tree against the limits and hashes it. */
static uint64_t check_args(uint64_t h, const struct imap_arg *args, unsigned count,
			   unsigned depth, const struct imap_limits *lim, unsigned *total,
			   unsigned *quotes)
{
	CHECK(depth <= lim->max_depth);
	CHECK((count == 0) == (args == NULL));
	for (unsigned i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];

		CHECK(++*total <= lim->max_args);
		h = hash_u64(h, a->type);
		if (a->type == IMAP_ARG_LIST) {
			CHECK(a->str == NULL);
			h = hash_u64(h, a->list_count);
			h = check_args(h, a->list, a->list_count, depth + 1, lim, total, quotes);
			continue;
		}
		CHECK(a->str != NULL);
		CHECK(a->str[a->len] == '\0');
		CHECK(imap_arg_is_string(a));
		if (a->type != IMAP_ARG_LITERAL)
			CHECK(strlen(a->str) == a->len);
		else
			CHECK(a->len <= (a->nonsync ? lim->max_nonsync_literal : lim->max_literal));
		if (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED)
			CHECK(a->len < lim->max_line);
		h = hash_u64(h, a->len);
		h = hash_bytes(h, a->str, a->len);
		h = hash_u64(h, (uint64_t)a->literal8 << 1 | a->nonsync);
		if (*quotes < 4 && a->type != IMAP_ARG_NIL) {
			++*quotes;
			check_quote(a);
		}
	}
	return h;
}

struct run_result {
	uint64_t hash;
	unsigned events;
};

static uint32_t next_rand(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void run(const unsigned char *data, size_t len, unsigned control, bool chunked,
		struct run_result *res)
{
	const struct imap_limits *lim = &profiles[control & 3];
	struct pool *pool = pool_create(0);
	struct imap_parser *p = imap_parser_create(pool, lim);
	uint32_t rnd = 0x9e3779b9u ^ (control * 0x01000193u);
	bool raised = false;
	size_t start = 0;

	res->hash = 0xcbf29ce484222325ULL;
	res->events = 0;
	while (start < len) {
		size_t chunk = len - start, pos = 0;
		unsigned char *copy;

		if (chunked) {
			uint32_t r = next_rand(&rnd);
			size_t max = (r & 3) == 0 ? 1 : (r & 3) == 1 ? 7 : (r & 3) == 2 ? 64 : 4096;
			size_t want = 1 + (r >> 8) % max;
			if (want < chunk)
				chunk = want;
		}
		/* An exact-size copy: reading past it is an ASan error. */
		copy = malloc(chunk);
		CHECK(copy != NULL);
		memcpy(copy, data + start, chunk);
		while (pos < chunk) {
			size_t consumed = (size_t)-1;
			enum imap_parse_result r = imap_parser_feed(p, copy + pos, chunk - pos,
								    &consumed);
			const struct imap_command *cmd;
			const char *tag;
			unsigned total = 0, quotes = 0;

			CHECK(consumed <= chunk - pos);
			pos += consumed;
			if (r == IMAP_PARSE_MORE) {
				CHECK(pos == chunk);
				break;
			}
			res->events++;
			res->hash = hash_u64(res->hash, r);
			res->hash = hash_u64(res->hash, start + pos);
			tag = imap_parser_tag(p);
			if (tag != NULL) {
				CHECK(strlen(tag) >= 1 && strlen(tag) <= lim->max_tag);
				res->hash = hash_bytes(res->hash, tag, strlen(tag));
			}
			switch (r) {
			case IMAP_PARSE_CONTINUE:
				CHECK(copy[pos - 1] == '\n');
				CHECK(imap_parser_literal_size(p) <= lim->max_literal);
				CHECK(imap_parser_command(p) == NULL);
				res->hash = hash_u64(res->hash, imap_parser_literal_size(p));
				break;
			case IMAP_PARSE_DONE:
				CHECK(copy[pos - 1] == '\n');
				cmd = imap_parser_command(p);
				CHECK(cmd != NULL && cmd->tag == tag && cmd->name != NULL);
				CHECK(imap_parser_error(p) == NULL);
				res->hash = hash_bytes(res->hash, cmd->name, strlen(cmd->name));
				res->hash = check_args(res->hash, cmd->args, cmd->argc, 0, lim, &total,
						       &quotes);
				imap_parser_reset(p);
				if ((control & 4) != 0 && !raised) {
					/* As after LOGIN. */
					lim = &profiles[2];
					imap_parser_set_limits(p, lim);
					raised = true;
				}
				break;
			case IMAP_PARSE_BAD:
				CHECK(imap_parser_error(p) != NULL);
				CHECK(imap_parser_command(p) == NULL);
				res->hash = hash_bytes(res->hash, imap_parser_error(p),
						       strlen(imap_parser_error(p)));
				if ((control & 8) != 0)
					imap_parser_reset(p); /* else the next feed resets */
				break;
			case IMAP_PARSE_FATAL:
				CHECK(imap_parser_error(p) != NULL);
				res->hash = hash_bytes(res->hash, imap_parser_error(p),
						       strlen(imap_parser_error(p)));
				CHECK(imap_parser_feed(p, copy, chunk, &consumed) ==
				      IMAP_PARSE_FATAL);
				CHECK(consumed == 0);
				free(copy);
				goto out;
			case IMAP_PARSE_MORE:
				break;
			}
		}
		free(copy);
		start += chunk;
	}
out:
	imap_parser_destroy(&p);
	CHECK(p == NULL);
	pool_destroy(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_result whole, chunked;

	if (size < 1)
		return 0;
	run(data + 1, size - 1, data[0], false, &whole);
	run(data + 1, size - 1, data[0], true, &chunked);
	CHECK(whole.events == chunked.events);
	CHECK(whole.hash == chunked.hash);
	return 0;
}
