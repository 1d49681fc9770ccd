#include "lmtp_parse.h"

#include <string.h>

#include "pool.h"

static const char *const verb_names[] = {
	[LMTP_CMD_LHLO] = "LHLO", [LMTP_CMD_MAIL] = "MAIL", [LMTP_CMD_RCPT] = "RCPT",
	[LMTP_CMD_DATA] = "DATA", [LMTP_CMD_BDAT] = "BDAT", [LMTP_CMD_RSET] = "RSET",
	[LMTP_CMD_NOOP] = "NOOP", [LMTP_CMD_QUIT] = "QUIT", [LMTP_CMD_VRFY] = "VRFY",
};

const char *lmtp_verb_name(enum lmtp_verb verb)
{
	return (unsigned)verb < sizeof(verb_names) / sizeof(verb_names[0]) ? verb_names[verb] : "?";
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Case-insensitive: does s (n bytes) start with the upper-case word w? */
static bool starts_with_ci(const char *s, size_t n, const char *w)
{
	size_t wl = strlen(w);

	if (n < wl)
		return false;
	for (size_t i = 0; i < wl; i++)
		if (upper(s[i]) != w[i])
			return false;
	return true;
}

static bool eq_ci(const char *s, size_t n, const char *w)
{
	return n == strlen(w) && starts_with_ci(s, n, w);
}

/* A cursor over the line. */
struct cur {
	const char *p, *end;
};

static void skip_spaces(struct cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* Reads a decimal number of at most 20 digits; a value past UINT64_MAX
 * saturates (a SIZE that large is refused by the size check anyway).
 * Returns false when there is no digit. */
static bool read_number(const char *s, size_t n, uint64_t *v_r)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*v_r = v;
	return true;
}

/* Parses "<path>" at c; on success *path_r is a pool copy without the
 * brackets and the source route, and c is after '>'. Returns 0 or -1. */
static int read_path(struct cur *c, struct pool *pool, const char **path_r)
{
	const char *start;
	bool quoted = false;

	if (c->p >= c->end || *c->p != '<')
		return -1;
	c->p++;
	/* RFC 5321 §4.1.2 A-d-l: "@one,@two:" — accepted, then ignored. */
	if (c->p < c->end && *c->p == '@') {
		const char *colon = memchr(c->p, ':', (size_t)(c->end - c->p));
		const char *gt = memchr(c->p, '>', (size_t)(c->end - c->p));
		if (colon == NULL || (gt != NULL && gt < colon))
			return -1;
		c->p = colon + 1;
	}
	start = c->p;
	for (; c->p < c->end; c->p++) {
		char ch = *c->p;

		if (quoted) {
			if (ch == '\\') {
				if (c->p + 1 >= c->end)
					return -1;
				c->p++;
			} else if (ch == '"') {
				quoted = false;
			}
			continue;
		}
		if (ch == '"')
			quoted = true;
		else if (ch == '>')
			break;
		else if (ch == '<' || ch == ' ')
			return -1;
	}
	if (c->p >= c->end || (size_t)(c->p - start) > LMTP_MAX_PATH)
		return -1;
	for (const char *q = start; q < c->p; q++)
		if ((unsigned char)*q >= 0x80)
			return -1; /* SMTPUTF8 is not offered */
	*path_r = pool_strndup(pool, start, (size_t)(c->p - start));
	c->p++;
	return 0;
}

/* RFC 5321 §4.1.2: esmtp-keyword "=" esmtp-value. Returns 0 with the
 * parameter's parts, or -1 on bad syntax. */
static int read_param(struct cur *c, const char **key_r, size_t *klen_r, const char **val_r,
		      size_t *vlen_r)
{
	const char *k = c->p;

	if (c->p >= c->end || !is_alnum(*c->p))
		return -1;
	while (c->p < c->end && (is_alnum(*c->p) || *c->p == '-'))
		c->p++;
	*key_r = k;
	*klen_r = (size_t)(c->p - k);
	*val_r = NULL;
	*vlen_r = 0;
	if (c->p < c->end && *c->p == '=') {
		const char *v = ++c->p;
		while (c->p < c->end && *c->p != ' ' && *c->p != '=')
			c->p++;
		if (c->p == v || (c->p < c->end && *c->p == '='))
			return -1;
		*val_r = v;
		*vlen_r = (size_t)(c->p - v);
	}
	if (c->p < c->end && *c->p != ' ')
		return -1;
	return 0;
}

static int parse_mail(struct cur *c, struct pool *pool, struct lmtp_command *cmd,
		      const char **reply_r)
{
	unsigned nparams = 0;
	bool seen_body = false;

	if (!starts_with_ci(c->p, (size_t)(c->end - c->p), "FROM:")) {
		*reply_r = "501 5.5.4 Syntax: MAIL FROM:<address>";
		return -1;
	}
	c->p += 5;
	skip_spaces(c); /* RFC 5321 has none; some clients send one */
	if (read_path(c, pool, &cmd->path) < 0) {
		*reply_r = "501 5.1.7 Bad sender address syntax";
		return -1;
	}
	if (c->p < c->end && *c->p != ' ') {
		*reply_r = "501 5.5.4 Bad MAIL parameter syntax";
		return -1;
	}
	while (c->p < c->end) {
		const char *k, *v;
		size_t kl, vl;

		skip_spaces(c);
		if (c->p == c->end)
			break;
		if (read_param(c, &k, &kl, &v, &vl) < 0) {
			*reply_r = "501 5.5.4 Bad MAIL parameter syntax";
			return -1;
		}
		if (++nparams > LMTP_MAX_PARAMS) {
			*reply_r = "501 5.5.4 Too many parameters";
			return -1;
		}
		if (eq_ci(k, kl, "SIZE")) {
			if (cmd->has_size || v == NULL || !read_number(v, vl, &cmd->size)) {
				*reply_r = "501 5.5.4 Bad SIZE parameter";
				return -1;
			}
			cmd->has_size = true;
		} else if (eq_ci(k, kl, "BODY")) {
			if (seen_body || v == NULL) {
				*reply_r = "501 5.5.4 Bad BODY parameter";
				return -1;
			}
			seen_body = true;
			if (eq_ci(v, vl, "7BIT")) {
				cmd->body = LMTP_BODY_7BIT;
			} else if (eq_ci(v, vl, "8BITMIME")) {
				cmd->body = LMTP_BODY_8BITMIME;
			} else {
				*reply_r = "555 5.5.4 Unsupported BODY type";
				return -1;
			}
		} else {
			*reply_r = "555 5.5.4 Unsupported MAIL parameter";
			return -1;
		}
	}
	return 0;
}

static int parse_rcpt(struct cur *c, struct pool *pool, struct lmtp_command *cmd,
		      const char **reply_r)
{
	if (!starts_with_ci(c->p, (size_t)(c->end - c->p), "TO:")) {
		*reply_r = "501 5.5.4 Syntax: RCPT TO:<address>";
		return -1;
	}
	c->p += 3;
	skip_spaces(c);
	if (read_path(c, pool, &cmd->path) < 0 || cmd->path[0] == '\0') {
		*reply_r = "501 5.1.3 Bad recipient address syntax";
		return -1;
	}
	if (c->p < c->end && *c->p != ' ') {
		*reply_r = "501 5.5.4 Bad RCPT parameter syntax";
		return -1;
	}
	skip_spaces(c);
	if (c->p < c->end) {
		const char *k, *v;
		size_t kl, vl;
		/* No RCPT parameter is offered (no DSN): any is unknown. */
		*reply_r = read_param(c, &k, &kl, &v, &vl) < 0 ? "501 5.5.4 Bad RCPT parameter syntax"
								: "555 5.5.4 Unsupported RCPT parameter";
		return -1;
	}
	return 0;
}

static int parse_bdat(struct cur *c, struct lmtp_command *cmd, const char **reply_r)
{
	const char *n = c->p;

	while (c->p < c->end && *c->p != ' ')
		c->p++;
	if (!read_number(n, (size_t)(c->p - n), &cmd->chunk_size)) {
		*reply_r = "501 5.5.4 Syntax: BDAT <size> [LAST]";
		return -1;
	}
	skip_spaces(c);
	if (c->p < c->end) {
		const char *w = c->p;
		while (c->p < c->end && *c->p != ' ')
			c->p++;
		if (!eq_ci(w, (size_t)(c->p - w), "LAST")) {
			*reply_r = "501 5.5.4 Syntax: BDAT <size> [LAST]";
			return -1;
		}
		cmd->last = true;
		skip_spaces(c);
		if (c->p < c->end) {
			*reply_r = "501 5.5.4 Syntax: BDAT <size> [LAST]";
			return -1;
		}
	}
	return 0;
}

int lmtp_parse_command(const char *line, size_t len, struct pool *pool,
		       struct lmtp_command *cmd_r, const char **reply_r)
{
	static const struct {
		const char *name;
		enum lmtp_verb verb;
	} verbs[] = {
		{"BDAT", LMTP_CMD_BDAT}, {"DATA", LMTP_CMD_DATA}, {"LHLO", LMTP_CMD_LHLO},
		{"MAIL", LMTP_CMD_MAIL}, {"NOOP", LMTP_CMD_NOOP}, {"QUIT", LMTP_CMD_QUIT},
		{"RCPT", LMTP_CMD_RCPT}, {"RSET", LMTP_CMD_RSET}, {"VRFY", LMTP_CMD_VRFY},
	};
	struct cur c = {line, line + len};
	const char *word;
	size_t wlen;
	size_t i;

	memset(cmd_r, 0, sizeof(*cmd_r));
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x20 || ch == 0x7f) {
			*reply_r = "500 5.5.2 Control characters in command line";
			return -1;
		}
	}
	/* Trailing spaces are tolerated (some clients send them). */
	while (c.end > c.p && c.end[-1] == ' ')
		c.end--;
	word = c.p;
	while (c.p < c.end && *c.p != ' ')
		c.p++;
	wlen = (size_t)(c.p - word);
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (eq_ci(word, wlen, verbs[i].name))
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0])) {
		*reply_r = eq_ci(word, wlen, "HELO") || eq_ci(word, wlen, "EHLO")
				   ? "500 5.5.1 This is LMTP: say LHLO"
				   : "500 5.5.1 Unknown command";
		return -1;
	}
	cmd_r->verb = verbs[i].verb;
	/* Exactly the verb, or the verb and a space before its arguments. */
	if (c.p < c.end)
		c.p++;
	switch (cmd_r->verb) {
	case LMTP_CMD_LHLO:
		skip_spaces(&c);
		if (c.p == c.end) {
			*reply_r = "501 5.5.4 Syntax: LHLO <hostname>";
			return -1;
		}
		cmd_r->arg = pool_strndup(pool, c.p, (size_t)(c.end - c.p));
		return 0;
	case LMTP_CMD_VRFY:
		skip_spaces(&c);
		if (c.p == c.end) {
			*reply_r = "501 5.5.4 Syntax: VRFY <address>";
			return -1;
		}
		cmd_r->arg = pool_strndup(pool, c.p, (size_t)(c.end - c.p));
		return 0;
	case LMTP_CMD_NOOP:
		/* RFC 5321 §4.1.1.9: a string argument is ignored. */
		skip_spaces(&c);
		cmd_r->arg = c.p < c.end ? pool_strndup(pool, c.p, (size_t)(c.end - c.p)) : NULL;
		return 0;
	case LMTP_CMD_MAIL:
		return parse_mail(&c, pool, cmd_r, reply_r);
	case LMTP_CMD_RCPT:
		return parse_rcpt(&c, pool, cmd_r, reply_r);
	case LMTP_CMD_BDAT:
		return parse_bdat(&c, cmd_r, reply_r);
	case LMTP_CMD_DATA:
	case LMTP_CMD_RSET:
	case LMTP_CMD_QUIT:
		if (word + wlen < c.end) {
			*reply_r = "501 5.5.4 No arguments allowed";
			return -1;
		}
		return 0;
	}
	*reply_r = "500 5.5.1 Unknown command";
	return -1;
}
