#include "lmtp_data.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

#define LMTP_DATA_INITIAL (64 * 1024)

enum state {
	ST_BOL,        /* at the start of a line */
	ST_BOL_DOT,    /* DATA: "." at the start of a line */
	ST_BOL_DOT_CR, /* DATA: ".\r" at the start of a line */
	ST_MID,        /* inside a line */
	ST_CR,         /* a CR inside a line, not yet known to start CRLF */
	ST_DONE,
};

struct lmtp_data {
	enum lmtp_data_mode mode;
	enum lmtp_nul_policy nul;
	enum state state;
	enum lmtp_data_status status;
	size_t max_size;
	size_t line_len; /* octets of the current line so far */
	unsigned char *buf;
	size_t len, cap; /* len == stats.size while status is OK */
	struct lmtp_data_stats stats;
};

struct lmtp_data *lmtp_data_create(enum lmtp_data_mode mode, size_t max_size,
				   enum lmtp_nul_policy nul)
{
	struct lmtp_data *d = calloc(1, sizeof(*d));

	if (d == NULL)
		panic("lmtp_data: out of memory");
	d->mode = mode;
	d->nul = nul;
	d->max_size = max_size;
	d->state = mode == LMTP_DATA_DOT ? ST_BOL : ST_MID;
	return d;
}

void lmtp_data_destroy(struct lmtp_data **d_r)
{
	struct lmtp_data *d = *d_r;

	if (d == NULL)
		return;
	free(d->buf);
	free(d);
	*d_r = NULL;
}

/* Appends n octets of the decoded message (n <= 2 or a run of plain bytes). */
static void emit(struct lmtp_data *d, const unsigned char *p, size_t n)
{
	d->stats.size += n;
	if (d->status != LMTP_DATA_OK)
		return;
	if (d->len + n > d->max_size) {
		/* Past the limit: keep counting, stop holding memory. */
		d->status = LMTP_DATA_TOO_BIG;
		free(d->buf);
		d->buf = NULL;
		d->len = d->cap = 0;
		return;
	}
	if (d->len + n > d->cap) {
		size_t cap = d->cap ? d->cap : LMTP_DATA_INITIAL;
		unsigned char *nb;

		while (cap < d->len + n)
			cap *= 2;
		if (cap > d->max_size)
			cap = d->max_size;
		nb = realloc(d->buf, cap);
		if (nb == NULL)
			panic("lmtp_data: out of memory");
		d->buf = nb;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, p, n);
	d->len += n;
}

static void end_line(struct lmtp_data *d)
{
	static const unsigned char crlf[2] = {'\r', '\n'};

	emit(d, crlf, 2);
	if (d->line_len > LMTP_DATA_LONG_LINE)
		d->stats.long_lines++;
	if (d->line_len > d->stats.longest)
		d->stats.longest = d->line_len;
	d->line_len = 0;
	d->state = d->mode == LMTP_DATA_DOT ? ST_BOL : ST_MID;
}

static void content_byte(struct lmtp_data *d, unsigned char c)
{
	if (c == '\0') {
		d->stats.nuls++;
		if (d->nul == LMTP_NUL_REPLACE) {
			c = 0x80;
		} else if (d->nul == LMTP_NUL_REJECT && d->status == LMTP_DATA_OK) {
			d->status = LMTP_DATA_HAS_NUL;
			free(d->buf);
			d->buf = NULL;
			d->len = d->cap = 0;
		}
	}
	d->line_len++;
	emit(d, &c, 1);
}

/* One byte in the middle of a line (ST_MID). */
static void mid_byte(struct lmtp_data *d, unsigned char c)
{
	if (c == '\r') {
		d->state = ST_CR;
	} else if (c == '\n') {
		d->stats.bare_lf++;
		end_line(d);
	} else {
		d->state = ST_MID;
		content_byte(d, c);
	}
}

/* Is c one of the bytes the fast path must stop at? */
static bool special(unsigned char c)
{
	return c == '\r' || c == '\n' || c == '\0';
}

enum lmtp_data_result lmtp_data_feed(struct lmtp_data *d, const void *in, size_t len,
				     size_t *used_r)
{
	const unsigned char *p = in;
	size_t i = 0;

	if (d->state == ST_DONE)
		panic("lmtp_data: fed after the end");
	while (i < len) {
		unsigned char c = p[i];

		switch (d->state) {
		case ST_MID: {
			/* Fast path: a run of ordinary bytes is copied at once. */
			size_t j = i;
			while (j < len && !special(p[j]))
				j++;
			if (j > i) {
				emit(d, p + i, j - i);
				d->line_len += j - i;
				i = j;
				continue;
			}
			mid_byte(d, c);
			break;
		}
		case ST_BOL:
			if (c == '.')
				d->state = ST_BOL_DOT;
			else
				mid_byte(d, c);
			break;
		case ST_BOL_DOT:
			if (c == '\r') {
				d->state = ST_BOL_DOT_CR;
			} else if (c == '\n') {
				d->state = ST_DONE; /* ".\n": bare-LF clients */
			} else {
				/* Dot-stuffing: the leading dot goes. */
				mid_byte(d, c);
			}
			break;
		case ST_BOL_DOT_CR:
			if (c == '\n') {
				d->state = ST_DONE;
			} else {
				/* ".\rX": the dot was stuffing, the CR is bare. */
				static const unsigned char cr = '\r';
				d->line_len++;
				emit(d, &cr, 1);
				d->state = ST_MID;
				mid_byte(d, c);
			}
			break;
		case ST_CR:
			if (c == '\n') {
				end_line(d);
			} else {
				/* A bare CR is content. */
				static const unsigned char cr = '\r';
				d->line_len++;
				emit(d, &cr, 1);
				d->state = ST_MID;
				mid_byte(d, c);
			}
			break;
		case ST_DONE:
			break;
		}
		i++;
		if (d->state == ST_DONE) {
			*used_r = i;
			return LMTP_DATA_DONE;
		}
	}
	*used_r = i;
	return LMTP_DATA_MORE;
}

void lmtp_data_finish(struct lmtp_data *d)
{
	static const unsigned char cr = '\r';

	if (d->state == ST_CR) {
		d->line_len++;
		emit(d, &cr, 1);
	}
	if (d->line_len > LMTP_DATA_LONG_LINE)
		d->stats.long_lines++;
	if (d->line_len > d->stats.longest)
		d->stats.longest = d->line_len;
	d->line_len = 0;
	d->state = ST_DONE;
}

enum lmtp_data_status lmtp_data_status(const struct lmtp_data *d)
{
	return d->status;
}

const struct lmtp_data_stats *lmtp_data_stats(const struct lmtp_data *d)
{
	return &d->stats;
}

unsigned char *lmtp_data_take(struct lmtp_data *d, size_t *len_r)
{
	unsigned char *b = d->buf;

	*len_r = d->len;
	d->buf = NULL;
	d->len = d->cap = 0;
	return b;
}
