/* IMAP string syntax (RFC 3501 §4.3, §9) for the ENVELOPE and BODYSTRUCTURE
 * writers: quoted string where allowed, literal where not.
 *
 * The results are stored and sent as they are, so the choice between
 * quoted and literal is made here once. NUL cannot be sent in either form
 * (CHAR8 excludes it) and is dropped. */
#ifndef MAILSTEAD_MIME_IMAPSTR_H
#define MAILSTEAD_MIME_IMAPSTR_H

#include <stddef.h>

#include "buf.h"

/* Appends an nstring: NIL for s == NULL; a quoted string (with '"' and '\'
 * escaped) when s holds only 7-bit characters other than CR and LF;
 * otherwise a literal {n}CRLF followed by the bytes. Returns 0, or -1 when
 * b's limit was reached. */
int mime_imapstr_nstring(struct buf *b, const char *s, size_t len);

/* Appends text meant for people (ENVELOPE subject and display names) the
 * way the reference server does: CR, LF and TAB become spaces, runs of
 * white space collapse to one, and leading and trailing white space goes.
 * When that changed anything, or the text holds '"', '\' or 8-bit bytes,
 * it goes out as a literal, otherwise quoted. Never NIL. Returns 0 or -1
 * as mime_imapstr_nstring. */
int mime_imapstr_human(struct buf *b, const char *s, size_t len);

#endif
