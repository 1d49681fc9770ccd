#include "mime_imapstr.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int append_literal(struct buf *b, const unsigned char *s, size_t len, size_t outlen,
                          bool human)
{
	bool space = true; /* drop leading white space */
	size_t o = 0;

	if (buf_printf(b, "{%zu}\r\n", outlen) < 0)
		return -1;
	for (size_t i = 0; i < len && o < outlen; i++) {
		unsigned char c = s[i];

		if (c == '\0')
			continue;
		if (human && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
			if (space)
				continue;
			space = true;
			c = ' ';
		} else {
			space = false;
		}
		if (buf_append(b, &c, 1) < 0)
			return -1;
		o++;
	}
	return 0;
}

int mime_imapstr_nstring(struct buf *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t nul = 0, start;
	bool literal = false;

	if (s == NULL)
		return buf_append(b, "NIL", 3);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0')
			nul++;
		else if (s[i] >= 0x80 || s[i] == '\r' || s[i] == '\n')
			literal = true;
	}
	if (literal)
		return append_literal(b, s, len, len - nul, false);
	if (buf_append(b, "\"", 1) < 0)
		return -1;
	start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '"' && s[i] != '\\' && s[i] != '\0')
			continue;
		if (buf_append(b, s + start, i - start) < 0)
			return -1;
		if (i < len && s[i] != '\0' && buf_append(b, "\\", 1) < 0)
			return -1;
		start = i < len && s[i] == '\0' ? i + 1 : i;
	}
	return buf_append(b, "\"", 1);
}

int mime_imapstr_human(struct buf *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	bool modified = false, special = false, space = true;
	size_t outlen = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == '\0') {
			modified = true;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (c != ' ' || space)
				modified = true;
			if (!space)
				outlen++;
			space = true;
		} else {
			if (c == '"' || c == '\\' || c >= 0x80)
				special = true;
			space = false;
			outlen++;
		}
	}
	if (space && outlen > 0) {
		outlen--; /* the trailing space */
		modified = true;
	}
	if (outlen == 0)
		return buf_append(b, "\"\"", 2);
	if (modified || special)
		return append_literal(b, s, len, outlen, true);
	if (buf_append(b, "\"", 1) < 0 || buf_append(b, s, len) < 0)
		return -1;
	return buf_append(b, "\"", 1);
}
