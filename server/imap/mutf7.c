/* Modified UTF-7 <-> UTF-8: see mutf7.h for the contract.
 *
 * RFC 3501 §5.1.3: printable US-ASCII represents itself except '&', which is
 * "&-"; everything else is UTF-16BE in BASE64 with ',' for '/', between '&'
 * and '-', without padding. */
#include "mutf7.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"

static const char mutf7_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static bool is_printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Writes code point cp (valid, not a surrogate) as UTF-8; returns bytes. */
static size_t utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes one UTF-8 character of s[0..len-1] (len >= 1) strictly: no
 * overlong forms, no surrogates, nothing beyond U+10FFFF. Returns its length,
 * or 0 when invalid. */
static size_t utf8_get(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if (s[0] >= 0xc0 && s[0] < 0xe0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] < 0xf0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] < 0xf8) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0; /* a continuation byte, or 0xf8 and above */
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

/* Decodes the shifted sequence starting at in[*pos] (just after '&', not
 * "&-") up to and including its '-', appending UTF-8 to out at *o. */
static int decode_shifted(const unsigned char *in, size_t len, size_t *pos, char *out, size_t *o)
{
	uint32_t bits = 0, high = 0, u;
	unsigned nbits = 0;
	size_t i = *pos;
	int v;

	for (;;) {
		if (i >= len)
			return -1; /* unterminated */
		if (in[i] == '-')
			break;
		if ((v = b64_value(in[i++])) < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1; /* high surrogate without its low half */
			*o += utf8_put(out + *o, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1; /* low surrogate first */
		} else if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
			return -1; /* must represent itself; NUL never */
		} else {
			*o += utf8_put(out + *o, u);
		}
	}
	/* Leftover: fewer than 6 bits, all zero (RFC 2152 padding). A whole
	 * unused character ("&AA-", "&AOQA-") is not canonical. */
	if (high != 0 || nbits >= 6 || bits != 0)
		return -1;
	*pos = i + 1;
	return 0;
}

int mutf7_to_utf8(struct pool *pool, const char *in_str, size_t len, char **out_r)
{
	const unsigned char *in = (const unsigned char *)in_str;
	bool after_shifted = false;
	size_t i = 0, o = 0;
	char *out;

	/* Each BASE64 character carries 6 bits and a UTF-16 unit (16 bits)
	 * becomes at most 3 bytes of UTF-8, a pair (32 bits) 4: k characters
	 * give at most 18k/16 bytes, less than 2k. */
	if (len > (SIZE_MAX - 1) / 2)
		return -1;
	out = pool_alloc(pool, len * 2 + 1);
	while (i < len) {
		if (in[i] != '&') {
			if (!is_printable(in[i]))
				return -1;
			out[o++] = (char)in[i++];
			after_shifted = false;
			continue;
		}
		i++;
		if (i < len && in[i] == '-') {
			out[o++] = '&';
			i++;
			after_shifted = false;
			continue;
		}
		if (after_shifted)
			return -1; /* "&AOQ-&AOQ-" should have been "&AOQA5A-" */
		if (decode_shifted(in, len, &i, out, &o) < 0)
			return -1;
		after_shifted = true;
	}
	out[o] = '\0';
	*out_r = out;
	return 0;
}

static void encode_unit(uint32_t u, uint32_t *bits, unsigned *nbits, char *out, size_t *o)
{
	*bits = (*bits << 16) | u;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		out[(*o)++] = mutf7_b64[(*bits >> *nbits) & 0x3f];
	}
	*bits &= (1u << *nbits) - 1;
}

int mutf7_from_utf8(struct pool *pool, const char *in_str, size_t len, char **out_r)
{
	const unsigned char *in = (const unsigned char *)in_str;
	size_t i = 0, o = 0, n;
	uint32_t cp, bits;
	unsigned nbits;
	char *out;

	/* Worst case: a lone control character, 1 byte -> "&AAE-", 5 bytes. A
	 * run of k input bytes needs at most ceil(16k/6) + 2 <= 5k. */
	if (len > (SIZE_MAX - 1) / 5)
		return -1;
	out = pool_alloc(pool, len * 5 + 1);
	while (i < len) {
		if (is_printable(in[i])) {
			out[o++] = (char)in[i];
			if (in[i++] == '&')
				out[o++] = '-';
			continue;
		}
		out[o++] = '&';
		bits = 0;
		nbits = 0;
		while (i < len && !is_printable(in[i])) {
			if ((n = utf8_get(in + i, len - i, &cp)) == 0 || cp == 0)
				return -1;
			i += n;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				encode_unit(0xd800 | (cp >> 10), &bits, &nbits, out, &o);
				encode_unit(0xdc00 | (cp & 0x3ff), &bits, &nbits, out, &o);
			} else {
				encode_unit(cp, &bits, &nbits, out, &o);
			}
		}
		if (nbits > 0)
			out[o++] = mutf7_b64[(bits << (6 - nbits)) & 0x3f];
		out[o++] = '-';
	}
	out[o] = '\0';
	*out_r = out;
	return 0;
}
