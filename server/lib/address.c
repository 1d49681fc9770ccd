#include "address.h"

#include <string.h>

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5322 §3.2.3 atext. */
static bool is_atext(char c)
{
	return is_alpha(c) || is_digit(c) ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Checks one label [start, start+len) of a lowercased name. */
static int label_check(const char *label, size_t len, const char **error_r)
{
	if (len == 0) {
		*error_r = "empty domain label";
		return -1;
	}
	if (len > ADDRESS_LABEL_MAX) {
		*error_r = "domain label longer than 63 bytes";
		return -1;
	}
	if (label[0] == '-' || label[len - 1] == '-') {
		*error_r = "domain label starts or ends with a hyphen";
		return -1;
	}
	/* RFC 5890 §2.3.1: labels with "--" in the third and fourth positions
	 * are reserved; of them only "xn--" (an A-label) is in use. */
	if (len >= 4 && label[2] == '-' && label[3] == '-' && memcmp(label, "xn", 2) != 0) {
		*error_r = "reserved domain label (hyphens in positions 3-4 other than xn--)";
		return -1;
	}
	if (len == 4 && memcmp(label, "xn--", 4) == 0) {
		*error_r = "empty A-label";
		return -1;
	}
	return 0;
}

int address_domain_normalize(const char *in, size_t len, char out[ADDRESS_DOMAIN_MAX + 1],
                             const char **error_r)
{
	size_t i, label_start = 0, labels = 0;
	bool all_digits = true;

	if (len == 0) {
		*error_r = "empty domain";
		return -1;
	}
	if (len > ADDRESS_DOMAIN_MAX) {
		*error_r = "domain longer than 253 bytes";
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = lower(in[i]);

		if (c == '.') {
			if (label_check(out + label_start, i - label_start, error_r) < 0)
				return -1;
			labels++;
			label_start = i + 1;
			all_digits = true;
		} else if (is_alpha(c) || c == '-') {
			all_digits = false;
		} else if (!is_digit(c)) {
			*error_r = (unsigned char)c >= 0x80
			               ? "non-ASCII domain (use the A-label form, xn--)"
			               : "invalid character in domain";
			return -1;
		}
		out[i] = c;
	}
	out[len] = '\0';
	if (label_check(out + label_start, len - label_start, error_r) < 0) {
		if (label_start == len)
			*error_r = "domain ends with a dot";
		return -1;
	}
	if (++labels < 2) {
		*error_r = "domain needs at least two labels";
		return -1;
	}
	if (all_digits) {
		*error_r = "top-level domain label is all digits";
		return -1;
	}
	return 0;
}

int address_localpart_normalize(const char *in, size_t len, char out[ADDRESS_LOCAL_MAX + 1],
                                const char **error_r)
{
	if (len == 0) {
		*error_r = "empty local part";
		return -1;
	}
	if (len > ADDRESS_LOCAL_MAX) {
		*error_r = "local part longer than 64 bytes";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '.') {
			if (i == 0 || i == len - 1 || in[i - 1] == '.') {
				*error_r = "local part has a leading, trailing or double dot";
				return -1;
			}
		} else if (!is_atext(c)) {
			*error_r = (unsigned char)c >= 0x80 ? "non-ASCII local part"
			                                    : "invalid character in local part";
			return -1;
		}
		out[i] = lower(c);
	}
	out[len] = '\0';
	return 0;
}

int address_parse(const char *in, char delimiter, struct address_parts *parts_r,
                  const char **error_r)
{
	const char *at = strrchr(in, '@');
	const char *delim;
	char scratch[ADDRESS_LOCAL_MAX + 1];
	size_t len;

	memset(parts_r, 0, sizeof(*parts_r));
	if (at == NULL) {
		*error_r = "address has no '@'";
		return -1;
	}
	len = strlen(at + 1);
	if (address_localpart_normalize(in, (size_t)(at - in), parts_r->local, error_r) < 0 ||
	    address_domain_normalize(at + 1, len, parts_r->domain, error_r) < 0)
		return -1;
	if (delimiter == '\0' || delimiter == '.' ||
	    (delim = strchr(parts_r->local, delimiter)) == NULL || delim == parts_r->local)
		return 0;
	len = (size_t)(delim - parts_r->local);
	if (address_localpart_normalize(parts_r->local, len, scratch, error_r) < 0)
		return 0; /* "a.+b": no valid base, so the whole is the local part */
	strcpy(parts_r->detail, delim + 1);
	parts_r->local[len] = '\0';
	parts_r->has_detail = true;
	return 0;
}

int address_normalize(const char *in, char out[ADDRESS_MAX + 1], const char **error_r)
{
	struct address_parts parts;

	if (address_parse(in, '\0', &parts, error_r) < 0)
		return -1;
	/* Both parts are bounded by their checks: cannot overflow out. */
	strcpy(out, parts.local);
	strcat(out, "@");
	strcat(out, parts.domain);
	return 0;
}
