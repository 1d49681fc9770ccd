#include "imap_flags.h"

#include <string.h>
#include <strings.h>

#include "imap_parser.h"
#include "pool.h"

static const struct {
	const char *name;
	uint32_t bit;
} system_flags[] = {
	{"\\Seen", IMAP_FLAG_SEEN},	  {"\\Answered", IMAP_FLAG_ANSWERED},
	{"\\Flagged", IMAP_FLAG_FLAGGED}, {"\\Deleted", IMAP_FLAG_DELETED},
	{"\\Draft", IMAP_FLAG_DRAFT},
};
#define N_SYSTEM (sizeof(system_flags) / sizeof(system_flags[0]))

int imap_flags_format(struct buf *out, uint32_t bits, const char *keywords, bool recent)
{
	const char *sep = "";

	if (buf_append_str(out, "(") < 0)
		return -1;
	for (size_t i = 0; i < N_SYSTEM; i++) {
		if (bits & system_flags[i].bit) {
			if (buf_append_str(out, sep) < 0 ||
			    buf_append_str(out, system_flags[i].name) < 0)
				return -1;
			sep = " ";
		}
	}
	if (recent) {
		if (buf_append_str(out, sep) < 0 || buf_append_str(out, "\\Recent") < 0)
			return -1;
		sep = " ";
	}
	if (keywords != NULL && keywords[0] != '\0')
		if (buf_append_str(out, sep) < 0 || buf_append_str(out, keywords) < 0)
			return -1;
	return buf_append_str(out, ")");
}

int imap_flags_mailbox(struct buf *out, const char *keywords)
{
	if (buf_append_str(out, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft") < 0)
		return -1;
	if (keywords != NULL && keywords[0] != '\0')
		if (buf_printf(out, " %s", keywords) < 0)
			return -1;
	return buf_append_str(out, ")");
}

/* RFC 3501 atom: no atom-specials (( ) { SP CTL % * " \ ]) and 8-bit. */
static bool valid_keyword(const char *s, size_t len)
{
	if (len == 0 || len > IMAP_MAX_KEYWORD_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

static int add_flag(struct pool *pool, const struct imap_arg *a, uint32_t *bits,
		    const char **kw, unsigned *nkw, const char **error_r)
{
	if (a->type != IMAP_ARG_ATOM) {
		*error_r = "Flags must be atoms";
		return -1;
	}
	if (a->str[0] == '\\') {
		for (size_t i = 0; i < N_SYSTEM; i++) {
			if (strcasecmp(a->str, system_flags[i].name) == 0) {
				*bits |= system_flags[i].bit;
				return 0;
			}
		}
		*error_r = strcasecmp(a->str, "\\Recent") == 0 ? "\\Recent cannot be set"
							       : "Unknown system flag";
		return -1;
	}
	if (!valid_keyword(a->str, a->len)) {
		*error_r = "Invalid keyword";
		return -1;
	}
	for (unsigned i = 0; i < *nkw; i++)
		if (strcasecmp(kw[i], a->str) == 0)
			return 0;
	if (*nkw >= IMAP_MAX_KEYWORDS) {
		*error_r = "Too many keywords";
		return -1;
	}
	kw[(*nkw)++] = pool_strndup(pool, a->str, a->len);
	return 0;
}

int imap_flags_parse(struct pool *pool, const struct imap_arg *arg, bool allow_single,
		     uint32_t *bits_r, const char ***keywords_r, unsigned *nkeywords_r,
		     const char **error_r)
{
	const char **kw = pool_alloc(pool, (IMAP_MAX_KEYWORDS + 1) * sizeof(*kw));
	unsigned nkw = 0;
	uint32_t bits = 0;

	if (arg->type == IMAP_ARG_LIST) {
		for (unsigned i = 0; i < arg->list_count; i++)
			if (add_flag(pool, &arg->list[i], &bits, kw, &nkw, error_r) < 0)
				return -1;
	} else if (allow_single) {
		if (add_flag(pool, arg, &bits, kw, &nkw, error_r) < 0)
			return -1;
	} else {
		*error_r = "Expected a flag list";
		return -1;
	}
	kw[nkw] = NULL;
	*bits_r = bits;
	*keywords_r = kw;
	*nkeywords_r = nkw;
	return 0;
}
