/* Mail addresses: validation and normalisation of domain names, local parts
 * and whole addresses, shared by the admin daemon and the LMTP server.
 *
 * What is accepted is deliberately narrower than what RFC 5321 allows, so
 * that one spelling maps to one account:
 *
 * - Domain: RFC 1035 §2.3.1 "preferred name syntax" as relaxed by RFC 1123
 *   §2.1 (labels may start with a digit), in its IDNA form (RFC 5890):
 *   ASCII letters, digits and hyphens only, so U-labels must be converted to
 *   A-labels ("xn--...") by the caller. Labels 1..63 bytes, no leading or
 *   trailing hyphen, hyphens in positions 3 and 4 only as "xn--" (RFC 5890 §2.3.1 reserves the
 *   others), at least two labels, at most 253 bytes in all, no trailing dot,
 *   the top-level label not all digits (RFC 3696 §2, and it keeps IP
 *   addresses out). A-labels are checked for LDH syntax only, not decoded.
 * - Local part: RFC 5321 §4.1.2 Dot-string (RFC 5322 dot-atom): atext
 *   characters separated by single dots, no leading or trailing dot, 1..64
 *   bytes (RFC 5321 §4.5.3.1.1). Quoted strings and non-ASCII (SMTPUTF8)
 *   are refused.
 * - Both are lowercased: local parts are case-insensitive here, although
 *   RFC 5321 allows them not to be.
 *
 * Every function writes into caller-provided buffers: nothing is allocated. */
#ifndef MAILSTEAD_ADDRESS_H
#define MAILSTEAD_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define ADDRESS_DOMAIN_MAX 253
#define ADDRESS_LABEL_MAX  63
#define ADDRESS_LOCAL_MAX  64
/* local@domain */
#define ADDRESS_MAX (ADDRESS_LOCAL_MAX + 1 + ADDRESS_DOMAIN_MAX)

/* Validates the domain name in (len bytes, need not be NUL-terminated) and
 * writes it lowercased to out, which must hold ADDRESS_DOMAIN_MAX + 1 bytes.
 * Returns 0, or -1 with the reason in *error_r (a static string). */
int address_domain_normalize(const char *in, size_t len, char out[ADDRESS_DOMAIN_MAX + 1],
                             const char **error_r);

/* Validates the local part in (len bytes) and writes it lowercased to out
 * (ADDRESS_LOCAL_MAX + 1 bytes). Returns 0, or -1 with *error_r. */
int address_localpart_normalize(const char *in, size_t len, char out[ADDRESS_LOCAL_MAX + 1],
                                const char **error_r);

/* The parts of an address. */
struct address_parts {
	char local[ADDRESS_LOCAL_MAX + 1];  /* without the detail */
	char detail[ADDRESS_LOCAL_MAX + 1]; /* "" when there is none */
	char domain[ADDRESS_DOMAIN_MAX + 1];
	bool has_detail; /* a delimiter was present (detail may be "") */
};

/* Validates "local@domain" (NUL-terminated) and writes "local@domain"
 * lowercased to out (ADDRESS_MAX + 1 bytes). The '@' splitting the address
 * is the last one (a valid local part cannot contain '@' anyway). Returns 0,
 * or -1 with *error_r. */
int address_normalize(const char *in, char out[ADDRESS_MAX + 1], const char **error_r);

/* Parses and normalises an address like address_normalize and splits it:
 * with a detail delimiter (e.g. '+', 0 = none), "user+detail@domain" gives
 * local "user", detail "detail" (RFC 5233 sub-addressing). The local part is
 * split at the first delimiter, and only when what comes before it is a
 * non-empty valid local part: "+x@d" keeps local "+x". Returns 0, or -1 with
 * *error_r. */
int address_parse(const char *in, char delimiter, struct address_parts *parts_r,
                  const char **error_r);

#endif
