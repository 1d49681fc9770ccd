/* Unit tests for the per-recipient variants of a delivered message
 * (server/lmtp/lmtp_message.c).
 *
 * The promise is that deriving variant i from the one parse of variant 0
 * gives exactly what parsing variant i's whole message would: every test
 * compares against message_ingest() of trace block + message, over the
 * MIME corpus (tests/data/mime/messages) and hand-made edge cases, with
 * trace blocks shorter and longer than the first one. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp/lmtp_message.h"
#include "message_ingest.h"
#include "pool.h"
#include "unit.h"

#define CORPUS "tests/data/mime/messages"

static const char *const rcpts[] = {
	"first.recipient@example.test",
	"a@b.test",
	"a-much-longer-address+with-a-detail-tag@sub.domain.example.test",
	"first.recipient@example.test",
};
#define NRCPTS (sizeof(rcpts) / sizeof(rcpts[0]))

static unsigned checked;

/* Compares every variant of raw with a fresh parse of its whole message. */
static void check_message(const char *name, const unsigned char *raw, size_t len,
			  const char *sender)
{
	struct pool *pool = pool_create(0);
	struct lmtp_message m;
	const char *err = NULL;

	if (lmtp_message_prepare(pool, raw, len, sender, rcpts, NRCPTS, &m, &err) != 0) {
		printf("\n  %s: prepare failed: %s", name, err);
		CU_FAIL("prepare failed");
		pool_destroy(&pool);
		return;
	}
	CU_ASSERT_EQUAL(m.nvariants, NRCPTS);
	for (unsigned i = 0; i < NRCPTS; i++) {
		const struct lmtp_message_variant *v = &m.variants[i];
		struct message_ingest want;
		unsigned char *whole = malloc(v->prefix_len + len + 1);
		char *headers;
		bool ok = true;

		memcpy(whole, v->prefix, v->prefix_len);
		if (len > 0)
			memcpy(whole + v->prefix_len, raw, len);
		CU_ASSERT_EQUAL_FATAL(
			message_ingest(pool, whole, v->prefix_len + len, &want, &err), 0);
		ok &= memcmp(v->sha256, want.sha256, MESSAGE_SHA256_LEN) == 0;
		ok &= v->size == want.size;
		ok &= v->header_size == want.header_size;
		ok &= m.header_base + v->prefix_len == want.header_size;
		ok &= v->partmap_len == want.partmap_len &&
		      memcmp(v->partmap, want.partmap, want.partmap_len) == 0;
		ok &= m.parsed.body_lines == want.body_lines;
		ok &= m.parsed.envelope_len == want.envelope_len &&
		      memcmp(m.parsed.envelope, want.envelope, want.envelope_len) == 0;
		ok &= m.parsed.bodystructure_len == want.bodystructure_len &&
		      memcmp(m.parsed.bodystructure, want.bodystructure, want.bodystructure_len) ==
			      0;
		ok &= m.parsed.body_len == want.body_len &&
		      memcmp(m.parsed.body, want.body, want.body_len) == 0;
		headers = malloc(strlen(v->hdr_prefix) + strlen(m.headers_tail) + 1);
		strcpy(headers, v->hdr_prefix);
		strcat(headers, m.headers_tail);
		ok &= want.search.headers != NULL && strcmp(headers, want.search.headers) == 0;
		if (!ok)
			printf("\n  %s: variant %u differs from its own parse", name, i);
		CU_ASSERT(ok);
		checked++;
		free(headers);
		free(whole);
	}
	/* The trace block: RFC 5321 §4.4 Return-Path, then Delivered-To. */
	CU_ASSERT_EQUAL(m.variants[1].prefix_len, strlen((const char *)m.variants[1].prefix));
	pool_destroy(&pool);
}

static unsigned char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data;
	long size;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (data = malloc((size_t)size + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	if (fread(data, 1, (size_t)size, f) != (size_t)size) {
		free(data);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len_r = (size_t)size;
	return data;
}

static void test_corpus(void)
{
	DIR *dir = opendir(CORPUS);
	struct dirent *de;
	unsigned files = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	checked = 0;
	while ((de = readdir(dir)) != NULL) {
		char path[512];
		unsigned char *data;
		size_t len = 0;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), CORPUS "/%s", de->d_name);
		data = read_file(path, &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(data);
		check_message(de->d_name, data, len, "sender@example.test");
		free(data);
		files++;
	}
	closedir(dir);
	CU_ASSERT(files >= 50);
	printf("\n  corpus: %u messages, %u variants compared", files, checked);
}

static void test_edge_cases(void)
{
	static const struct {
		const char *name, *msg, *sender;
	} cases[] = {
		{"empty", "", "s@example.test"},
		{"null sender", "Subject: x\r\n\r\nbody\r\n", ""},
		{"no header", "\r\njust a body\r\n", "s@example.test"},
		{"no blank line", "Subject: only a header\r\n", "s@example.test"},
		{"no line end", "Subject: x", "s@example.test"},
		{"continuation first", " folded\r\nSubject: x\r\n\r\nb\r\n", "s@example.test"},
		{"not a header", "hello world\r\nmore\r\n", "s@example.test"},
		{"multipart",
		 "Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n"
		 "Content-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
		 "Subject: inner\r\n\r\ninner body\r\n--b--\r\nepilogue\r\n",
		 "s@example.test"},
		{"multipart right after the header",
		 "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
		 "s@example.test"},
		{"base64", "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n", "s@example.test"},
		{"encoded sender", "Subject: x\r\n\r\nb\r\n", "=?utf-8?q?x?=@example.test"},
		/* A sender whose Return-Path the search text decodes (RFC 2047
		 * inside a quoted local part): each variant is parsed on its
		 * own then. */
		{"decoded sender", "Subject: x\r\n\r\nb\r\n", "\"a =?utf-8?q?b?= c\"@example.test"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_message(cases[i].name, (const unsigned char *)cases[i].msg,
			      strlen(cases[i].msg), cases[i].sender);
}

static void test_trace(void)
{
	struct pool *pool = pool_create(0);
	size_t len;
	char *t = lmtp_message_trace(pool, "", "u+tag@example.test", &len);

	CU_ASSERT_STRING_EQUAL(t, "Return-Path: <>\r\nDelivered-To: u+tag@example.test\r\n");
	CU_ASSERT_EQUAL(len, strlen(t));
	t = lmtp_message_trace(pool, "a@b.test", "c@d.test", &len);
	CU_ASSERT_STRING_EQUAL(t, "Return-Path: <a@b.test>\r\nDelivered-To: c@d.test\r\n");
	pool_destroy(&pool);
}

static void test_shift_refuses_bad_maps(void)
{
	struct pool *pool = pool_create(0);
	unsigned char *out;
	size_t olen;
	static const unsigned char v2[] = {2, 10, 1, 0, 0, 5, 0, 5};
	static const unsigned char truncated[] = {1, 10};
	static const unsigned char ok[] = {1, 10, 1, 0, 0, 5, 0, 5};
	static const unsigned char big[] = {1, 200, 1, 1, 0, 0, 130, 1, 0, 5};

	CU_ASSERT_EQUAL(lmtp_message_shift_partmap(pool, v2, sizeof(v2), 1, &out, &olen), -1);
	CU_ASSERT_EQUAL(
		lmtp_message_shift_partmap(pool, truncated, sizeof(truncated), 1, &out, &olen), -1);
	CU_ASSERT_EQUAL(lmtp_message_shift_partmap(pool, ok, sizeof(ok), 0, &out, &olen), 0);
	CU_ASSERT(olen == sizeof(ok) && memcmp(out, ok, olen) == 0);
	/* Shrinking below zero is impossible for a real message. */
	CU_ASSERT_EQUAL(lmtp_message_shift_partmap(pool, ok, sizeof(ok), -6, &out, &olen), -1);
	CU_ASSERT_EQUAL(lmtp_message_shift_partmap(pool, ok, sizeof(ok), 3, &out, &olen), 0);
	CU_ASSERT(olen == sizeof(ok) && out[1] == 13 && out[5] == 8);
	/* Varints of two bytes stay two (200 + 100, 130 + 100); 127 + 1 grows
	 * from one byte to two. */
	CU_ASSERT_EQUAL(lmtp_message_shift_partmap(pool, big, sizeof(big), 100, &out, &olen), 0);
	CU_ASSERT_EQUAL(olen, sizeof(big) + 0);
	{
		static const unsigned char edge[] = {1, 127, 1, 0, 0, 127, 0, 0};
		CU_ASSERT_EQUAL(
			lmtp_message_shift_partmap(pool, edge, sizeof(edge), 1, &out, &olen), 0);
		CU_ASSERT_EQUAL(olen, sizeof(edge) + 2);
		CU_ASSERT(out[1] == 0x80 && out[2] == 1);
	}
	pool_destroy(&pool);
}

static const struct unit_test message_tests[] = {
	{"trace block", test_trace},
	{"variants equal their own parse over the corpus", test_corpus},
	{"variants equal their own parse on edge cases", test_edge_cases},
	{"partmap shift refuses what it cannot read", test_shift_refuses_bad_maps},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"lmtp_message", message_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
