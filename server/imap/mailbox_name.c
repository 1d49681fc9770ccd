#include "mailbox_name.h"

#include <string.h>
#include <strings.h>

#include "imap_parser.h"
#include "mutf7.h"
#include "pool.h"

bool mailbox_name_is_inbox(const char *utf8)
{
	return strcmp(utf8, "INBOX") == 0;
}

int mailbox_name_from_arg(struct pool *pool, const struct imap_arg *arg, char **name_r,
			  const char **error_r)
{
	char *utf8;
	size_t len;
	unsigned depth = 1;

	if (!imap_arg_is_string(arg)) {
		*error_r = "Mailbox name must be a string";
		return -1;
	}
	if (arg->len == 0) {
		*error_r = "Empty mailbox name";
		return -1;
	}
	if (memchr(arg->str, '\0', arg->len) != NULL ||
	    mutf7_to_utf8(pool, arg->str, arg->len, &utf8) < 0) {
		*error_r = "Invalid mailbox name encoding (modified UTF-7 expected)";
		return -1;
	}
	len = strlen(utf8);
	if (len > MAILBOX_NAME_MAX) {
		*error_r = "Mailbox name too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)utf8[i];
		if (c < 0x20 || c == 0x7f) {
			*error_r = "Control characters are not allowed in mailbox names";
			return -1;
		}
		if (c == '/') {
			if (i == 0 || i + 1 == len || utf8[i + 1] == '/') {
				*error_r = "Empty hierarchy level in mailbox name";
				return -1;
			}
			if (++depth > MAILBOX_DEPTH_MAX) {
				*error_r = "Mailbox hierarchy too deep";
				return -1;
			}
		}
	}
	/* RFC 3501 §5.1: INBOX is case-insensitive, also as a parent. */
	if (len >= 5 && strncasecmp(utf8, "INBOX", 5) == 0 && (len == 5 || utf8[5] == '/'))
		memcpy(utf8, "INBOX", 5);
	*name_r = utf8;
	return 0;
}

int mailbox_name_write(struct buf *out, struct pool *pool, const char *utf8)
{
	char *m;

	if (mutf7_from_utf8(pool, utf8, strlen(utf8), &m) < 0)
		return imap_quote(out, utf8, strlen(utf8)); /* stored names are valid */
	return imap_quote(out, m, strlen(m));
}
