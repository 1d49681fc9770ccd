#include "mime_decode.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Output chunk size for the UTF-8 writers: small enough for the stack. */
#define OUT_CHUNK 4096
/* Longest charset name we pass to iconv; real names are far shorter. */
#define CHARSET_NAME_MAX 40

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

enum mime_cte mime_decode_cte_parse(const char *name, size_t len)
{
	static const struct {
		const char *name;
		enum mime_cte cte;
	} ctes[] = {
	    {"7bit", MIME_CTE_7BIT},           {"8bit", MIME_CTE_8BIT},
	    {"binary", MIME_CTE_BINARY},       {"base64", MIME_CTE_BASE64},
	    {"quoted-printable", MIME_CTE_QP},
	};
	const unsigned char *p = (const unsigned char *)name;

	while (len > 0 && is_wsp(p[0])) {
		p++;
		len--;
	}
	while (len > 0 && is_wsp(p[len - 1]))
		len--;
	if (len == 0)
		return MIME_CTE_7BIT;
	for (size_t i = 0; i < sizeof(ctes) / sizeof(ctes[0]); i++) {
		if (strlen(ctes[i].name) == len &&
		    strncasecmp(ctes[i].name, (const char *)p, len) == 0)
			return ctes[i].cte;
	}
	return MIME_CTE_UNKNOWN;
}

bool mime_decode_cte_is_identity(enum mime_cte cte)
{
	return cte == MIME_CTE_7BIT || cte == MIME_CTE_8BIT || cte == MIME_CTE_BINARY;
}

/* The base64 alphabet (RFC 2045 §6.8): a character's value plus one,
 * 0 for anything else ('=' included). A table instead of comparisons:
 * BINARY.SIZE counts every base64 part at delivery, and attachments are
 * most of a message's bytes (base64_run was a quarter of the worker's CPU
 * in the deliver benchmark before). */
static const unsigned char b64_table[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,
    ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
    ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
    ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
    ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
    ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
    ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
    ['/'] = 64,
};

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10; /* not canonical, but RFC 2045 §6.7 (1) */
	return -1;
}

/* One base64 decoder for both modes; out may be NULL to only count.
 * Returns 0, or -1 (strict mode only) on invalid data. */
static int base64_run(const unsigned char *in, size_t len, unsigned char *out, bool strict,
                      size_t *outlen_r)
{
	uint32_t acc = 0;
	unsigned int n = 0, need_pad = 0;
	bool ended = false; /* a quantum was completed by padding */
	size_t o = 0;

#define EMIT(byte)                                                                                 \
	do {                                                                                       \
		if (out != NULL)                                                                   \
			out[o] = (unsigned char)(byte);                                            \
		o++;                                                                               \
	} while (0)

	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];
		unsigned t = b64_table[c];
		int v = t - 1 < 64 ? (int)t - 1 : -1;

		/* The common case: four alphabet characters starting a quantum
		 * (a line of 76 is 19 of them), decoded without the checks
		 * below. */
		if (n == 0 && need_pad == 0 && !ended && len - i >= 4) {
			unsigned a = t, b = b64_table[in[i + 1]];
			unsigned d = b64_table[in[i + 2]], e = b64_table[in[i + 3]];

			if (a - 1 < 64 && b - 1 < 64 && d - 1 < 64 && e - 1 < 64) {
				acc = (a - 1) << 18 | (b - 1) << 12 | (d - 1) << 6 | (e - 1);
				EMIT(acc >> 16);
				EMIT((acc >> 8) & 0xff);
				EMIT(acc & 0xff);
				acc = 0;
				i += 3;
				continue;
			}
		}

		if (v >= 0) {
			if (need_pad > 0 || ended) {
				/* Data after the padding: concatenated base64
				 * is repaired only in lenient mode. */
				if (strict)
					return -1;
				need_pad = 0;
				ended = false;
			}
			acc = (acc << 6) | (uint32_t)v;
			if (++n == 4) {
				EMIT(acc >> 16);
				EMIT((acc >> 8) & 0xff);
				EMIT(acc & 0xff);
				n = 0;
				acc = 0;
			}
		} else if (c == '=') {
			if (need_pad > 0) {
				need_pad--;
				ended = need_pad == 0;
			} else if (ended) {
				if (strict)
					return -1;
			} else if (n == 2) {
				EMIT(acc >> 4);
				need_pad = 1;
				n = 0;
				acc = 0;
			} else if (n == 3) {
				EMIT(acc >> 10);
				EMIT((acc >> 2) & 0xff);
				ended = true;
				n = 0;
				acc = 0;
			} else if (strict) {
				return -1;
			}
		}
		/* Anything else is skipped: RFC 2045 §6.8 says characters
		 * outside the alphabet are to be ignored. */
	}
	if (need_pad > 0 && strict)
		return -1;
	if (n != 0) {
		if (strict)
			return -1;
		if (n == 2) {
			EMIT(acc >> 4);
		} else if (n == 3) {
			EMIT(acc >> 10);
			EMIT((acc >> 2) & 0xff);
		}
	}
#undef EMIT
	*outlen_r = o;
	return 0;
}

/* One quoted-printable decoder for both modes (RFC 2045 §6.7); out may be
 * NULL to only count. Hard line breaks keep the bytes they had (CRLF or a
 * bare LF). Returns 0, or -1 (strict mode only) on an invalid '='. */
static int qp_run(const unsigned char *in, size_t len, unsigned char *out, bool strict,
                  size_t *outlen_r)
{
	size_t i = 0, o = 0;

	while (i < len) {
		const unsigned char *eol = memchr(in + i, '\n', len - i);
		size_t line_end = eol != NULL ? (size_t)(eol - in) : len;
		size_t brk_end = eol != NULL ? line_end + 1 : len;
		size_t ce = line_end, brk_start;
		bool soft = false;

		if (eol != NULL && ce > i && in[ce - 1] == '\r')
			ce--;
		brk_start = ce;
		/* Rule 3: white space at the end of an encoded line was added
		 * in transport and must be deleted. */
		while (ce > i && (in[ce - 1] == ' ' || in[ce - 1] == '\t'))
			ce--;
		if (ce > i && in[ce - 1] == '=') {
			soft = true;
			ce--;
		}
		for (size_t j = i; j < ce; j++) {
			unsigned char c = in[j];

			if (c == '=') {
				if (j + 2 < ce && hex_value(in[j + 1]) >= 0 &&
				    hex_value(in[j + 2]) >= 0) {
					c = (unsigned char)(hex_value(in[j + 1]) * 16 +
					                    hex_value(in[j + 2]));
					j += 2;
				} else if (strict) {
					return -1;
				}
			}
			if (out != NULL)
				out[o] = c;
			o++;
		}
		if (!soft) {
			for (size_t j = brk_start; j < brk_end; j++) {
				if (out != NULL)
					out[o] = in[j];
				o++;
			}
		}
		i = brk_end;
	}
	*outlen_r = o;
	return 0;
}

int mime_decode_size(enum mime_cte cte, const unsigned char *data, size_t len, size_t *size_r)
{
	switch (cte) {
	case MIME_CTE_7BIT:
	case MIME_CTE_8BIT:
	case MIME_CTE_BINARY:
		*size_r = len;
		return 0;
	case MIME_CTE_BASE64:
		return base64_run(data, len, NULL, true, size_r);
	case MIME_CTE_QP:
		return qp_run(data, len, NULL, true, size_r);
	case MIME_CTE_UNKNOWN:
		break;
	}
	return -1;
}

int mime_decode_part(struct pool *pool, enum mime_cte cte, const unsigned char *data, size_t len,
                     unsigned char **out_r, size_t *outlen_r, const char **error_r)
{
	unsigned char *out;
	int ret;

	if (cte == MIME_CTE_UNKNOWN) {
		*error_r = "Unknown Content-Transfer-Encoding";
		return -1;
	}
	out = pool_alloc(pool, len + 1);
	if (mime_decode_cte_is_identity(cte)) {
		if (len > 0)
			memcpy(out, data, len);
		*outlen_r = len;
		ret = 0;
	} else if (cte == MIME_CTE_BASE64) {
		ret = base64_run(data, len, out, true, outlen_r);
	} else {
		ret = qp_run(data, len, out, true, outlen_r);
	}
	if (ret < 0) {
		*error_r = "Invalid data for its Content-Transfer-Encoding";
		return -1;
	}
	out[*outlen_r] = '\0';
	*out_r = out;
	return 0;
}

size_t mime_decode_base64_lenient(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t n = 0;

	(void)base64_run(in, len, out, false, &n); /* lenient mode cannot fail */
	return n;
}

size_t mime_decode_qp_lenient(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t n = 0;

	(void)qp_run(in, len, out, false, &n); /* lenient mode cannot fail */
	return n;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_seq_len(const unsigned char *p, size_t left)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		n = 2;
	} else if (c < 0xf0) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

size_t mime_decode_utf8_cut(const unsigned char *data, size_t len, size_t max)
{
	size_t n = max < len ? max : len;

	while (n > 0 && n < len && (data[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Appends valid UTF-8 to b, truncated at a character boundary when b's
 * limit is reached. Returns 0, or -1 when truncated. */
static int append_limited(struct buf *b, const unsigned char *data, size_t len)
{
	if (b->limit != 0 && len > b->limit - b->len) {
		size_t cut = mime_decode_utf8_cut(data, len, b->limit - b->len);

		(void)buf_append(b, data, cut); /* fits: cut <= room */
		return -1;
	}
	return buf_append(b, data, len);
}

int mime_decode_utf8_append(struct buf *b, const unsigned char *data, size_t len)
{
	static const unsigned char replacement[] = {0xef, 0xbf, 0xbd}; /* U+FFFD */
	unsigned char out[OUT_CHUNK];
	size_t o = 0, i = 0;

	while (i < len) {
		size_t n;

		if (o + 4 > sizeof(out)) {
			if (append_limited(b, out, o) < 0)
				return -1;
			o = 0;
		}
		if (data[i] == '\0') {
			i++; /* PostgreSQL text cannot hold NUL */
			continue;
		}
		n = utf8_seq_len(data + i, len - i);
		if (n == 0) {
			memcpy(out + o, replacement, sizeof(replacement));
			o += sizeof(replacement);
			i++;
		} else {
			memcpy(out + o, data + i, n);
			o += n;
			i += n;
		}
	}
	return append_limited(b, out, o);
}

/* Copies a charset name into name (NUL-terminated) if it is one we pass to
 * iconv: only letters, digits and ".-_:+", so that a message cannot smuggle
 * iconv options such as "//IGNORE". Returns false otherwise. */
static bool charset_name(const char *charset, size_t len, char *name)
{
	while (len > 0 && is_wsp((unsigned char)charset[0])) {
		charset++;
		len--;
	}
	while (len > 0 && is_wsp((unsigned char)charset[len - 1]))
		len--;
	if (len == 0 || len > CHARSET_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = charset[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == ':' || c == '+'))
			return false;
	}
	memcpy(name, charset, len);
	name[len] = '\0';
	return true;
}

/* Charsets handled as UTF-8 without iconv. US-ASCII is included on purpose:
 * 8-bit text labelled us-ascii is nearly always UTF-8, and valid UTF-8 is
 * a superset of ASCII anyway. */
static bool charset_is_utf8(const char *name)
{
	static const char *const names[] = {"utf-8",          "utf8", "us-ascii", "ascii",
	                                    "ansi_x3.4-1968", "us",   "iso646-us"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i]) == 0)
			return true;
	}
	return false;
}

int mime_decode_to_utf8(struct buf *b, const char *charset, size_t charset_len,
                        const unsigned char *data, size_t len)
{
	static const unsigned char replacement[] = {0xef, 0xbf, 0xbd};
	char name[CHARSET_NAME_MAX + 1];
	char out[OUT_CHUNK];
	iconv_t cd;
	char *in = (char *)data;
	size_t inleft = len;
	bool flushing = false;
	int ret = 0;

	if (charset == NULL || !charset_name(charset, charset_len, name) || charset_is_utf8(name))
		return mime_decode_utf8_append(b, data, len);
	/* A name Microsoft mailers use for what glibc calls CP949. */
	if (strcasecmp(name, "ks_c_5601-1987") == 0)
		strcpy(name, "CP949");
	cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return mime_decode_utf8_append(b, data, len); /* unknown charset */
	for (;;) {
		char *o = out;
		size_t oleft = sizeof(out);
		size_t r;
		int err;

		if (!flushing && inleft > 0) {
			r = iconv(cd, &in, &inleft, &o, &oleft);
		} else {
			flushing = true; /* end of input: write out any shift state */
			r = iconv(cd, NULL, NULL, &o, &oleft);
		}
		err = errno;
		if (o > out &&
		    mime_decode_utf8_append(b, (unsigned char *)out, (size_t)(o - out)) < 0) {
			ret = -1;
			break;
		}
		if (r != (size_t)-1) {
			if (flushing)
				break;
			continue;
		}
		if (err == E2BIG)
			continue;
		/* EILSEQ: a byte that is invalid in the charset; EINVAL: an
		 * incomplete sequence at the end. Either way one replacement
		 * character, then go on after the byte or stop. */
		if (append_limited(b, replacement, sizeof(replacement)) < 0) {
			ret = -1;
			break;
		}
		if (err == EILSEQ && inleft > 0 && !flushing) {
			in++;
			inleft--;
		} else {
			break;
		}
	}
	(void)iconv_close(cd); /* fails only for an invalid descriptor */
	return ret;
}
