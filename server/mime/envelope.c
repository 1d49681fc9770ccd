#include "envelope.h"

#include <stdbool.h>
#include <string.h>

#include "mime_address.h"
#include "mime_header.h"
#include "mime_imapstr.h"

enum env_list { ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO, ENV_CC, ENV_BCC, ENV_LISTS };

static const char *const env_list_names[ENV_LISTS] = {"From", "Sender", "Reply-To",
                                                      "To",   "Cc",     "Bcc"};

static int append_addresses(struct buf *b, const struct mime_address *a)
{
	int ret = 0;

	if (a == NULL)
		return buf_append(b, "NIL", 3);
	ret |= buf_append(b, "(", 1);
	for (; a != NULL; a = a->next) {
		ret |= buf_append(b, "(", 1);
		if (a->name != NULL)
			ret |= mime_imapstr_human(b, a->name, a->name_len);
		else
			ret |= buf_append(b, "NIL", 3);
		ret |= buf_append(b, " ", 1);
		ret |= mime_imapstr_nstring(b, a->route, a->route_len);
		ret |= buf_append(b, " ", 1);
		ret |= mime_imapstr_nstring(b, a->mailbox, a->mailbox_len);
		ret |= buf_append(b, " ", 1);
		ret |= mime_imapstr_nstring(b, a->domain, a->domain_len);
		ret |= buf_append(b, ")", 1);
	}
	ret |= buf_append(b, ")", 1);
	return ret < 0 ? -1 : 0;
}

/* An nstring field: unfolded, or NIL when absent. */
static int append_unfolded(struct buf *b, struct pool *pool, const struct mime_header_field *f)
{
	size_t len;
	char *s;

	if (f == NULL)
		return buf_append(b, "NIL", 3);
	s = mime_header_unfold(pool, f->value, f->value_len, &len);
	return mime_imapstr_nstring(b, s, len);
}

int envelope_append(struct buf *b, struct pool *pool, const unsigned char *hdr, size_t hdr_len,
                    unsigned int *budget)
{
	struct mime_header_field date, subject, irt, msgid, f;
	bool have_date = false, have_subject = false, have_irt = false, have_msgid = false;
	struct mime_address *lists[ENV_LISTS], **tails[ENV_LISTS];
	struct mime_header_iter iter;
	int ret = 0;

	memset(&date, 0, sizeof(date));
	memset(&subject, 0, sizeof(subject));
	memset(&irt, 0, sizeof(irt));
	memset(&msgid, 0, sizeof(msgid));
	for (int i = 0; i < ENV_LISTS; i++) {
		lists[i] = NULL;
		tails[i] = &lists[i];
	}
	mime_header_iter_init(&iter, hdr, hdr_len);
	while (mime_header_iter_next(&iter, &f) > 0) {
		if (mime_header_field_is(&f, "Date")) {
			date = f;
			have_date = true;
		} else if (mime_header_field_is(&f, "Subject")) {
			subject = f;
			have_subject = true;
		} else if (mime_header_field_is(&f, "In-Reply-To")) {
			irt = f;
			have_irt = true;
		} else if (mime_header_field_is(&f, "Message-ID")) {
			msgid = f;
			have_msgid = true;
		} else {
			for (int i = 0; i < ENV_LISTS; i++) {
				if (!mime_header_field_is(&f, env_list_names[i]))
					continue;
				/* Repeated fields add up (cpython msg_25's two
				 * To: fields both show in the reference). */
				*tails[i] = mime_address_parse(pool, f.value, f.value_len, budget);
				while (*tails[i] != NULL)
					tails[i] = &(*tails[i])->next;
				break;
			}
		}
	}
	/* RFC 3501 §7.4.2: sender and reply-to default to from. */
	if (lists[ENV_SENDER] == NULL)
		lists[ENV_SENDER] = lists[ENV_FROM];
	if (lists[ENV_REPLY_TO] == NULL)
		lists[ENV_REPLY_TO] = lists[ENV_FROM];

	ret |= buf_append(b, "(", 1);
	ret |= append_unfolded(b, pool, have_date ? &date : NULL);
	ret |= buf_append(b, " ", 1);
	if (have_subject)
		ret |= mime_imapstr_human(b, (const char *)subject.value, subject.value_len);
	else
		ret |= buf_append(b, "NIL", 3);
	for (int i = 0; i < ENV_LISTS; i++) {
		ret |= buf_append(b, " ", 1);
		ret |= append_addresses(b, lists[i]);
	}
	ret |= buf_append(b, " ", 1);
	ret |= append_unfolded(b, pool, have_irt ? &irt : NULL);
	ret |= buf_append(b, " ", 1);
	ret |= append_unfolded(b, pool, have_msgid ? &msgid : NULL);
	ret |= buf_append(b, ")", 1);
	return ret < 0 ? -1 : 0;
}

int envelope_write(struct pool *pool, const struct mime_message *msg, const struct mime_part *part,
                   char **out_r, size_t *len_r)
{
	unsigned int budget = ENVELOPE_MAX_ADDRESSES;
	struct buf b;
	int ret;

	buf_init(&b, 0); /* bounded by the header size and the address budget */
	ret = envelope_append(&b, pool, msg->data + part->hdr_off, part->hdr_len, &budget);
	if (ret == 0) {
		*out_r = pool_memdup(pool, b.data, b.len + 1); /* and its NUL */
		*len_r = b.len;
	}
	buf_free(&b);
	return ret;
}
