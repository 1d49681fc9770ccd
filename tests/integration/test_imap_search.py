"""SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8) end to end.

Messages are put in place with SQL, search fields included (the columns
the MIME module fills at APPEND time: hdr_*, headers_text as "Name: value"
lines, body_text, sent_date, size), with UIDs from mail_allocate. Every key
is checked with matching and non-matching messages, sequence numbers against
UIDs (the fixture mailbox has a UID gap), flags after STORE, \\Recent, dates
at UTC day boundaries, CHARSET handling, nesting, errors and limits, a
10,000-message mailbox (result and query plan), and, once APPEND works,
the reference answers of /work/shared/mime-corpus/search-golden.json."""
import imaplib
import itertools
import json
import os
import re
import unittest

from harness import Instance, RawImap

PASSWORD = "search test 1"
CORPUS = "/work/shared/mime-corpus"
inst = None
_ids = itertools.count(1)


def setUpModule():
    global inst
    inst = Instance()
    inst.start_admind()
    inst.start_imapd()


def tearDownModule():
    inst.close()


# -- helpers ---------------------------------------------------------------------


def lit(s):
    """An SQL literal (standard_conforming_strings is on) or NULL."""
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


def q1(sql):
    rows = inst.psql(sql)
    return rows[0][0] if rows else None


def new_account():
    addr = "user%d@search.test" % next(_ids)
    inst.create_account(addr, PASSWORD)
    acc = int(q1("SELECT account_id FROM addresses WHERE address = '%s'" % addr))
    return addr, acc


def mailbox_id(acc, name):
    mb = q1("SELECT mailbox_id FROM mailboxes WHERE account_id = %d AND name = %s"
            % (acc, lit(name)))
    if mb is None:
        mb = q1("INSERT INTO mailboxes (account_id, name) VALUES (%d, %s) RETURNING mailbox_id"
                % (acc, lit(name)))
    return int(mb)


def add_message(acc, mailbox, subject=None, from_="", to="", cc="", bcc="", extra=(),
                body="", size=1000, sent=None, internal="2024-03-01 12:00:00+00", flags=0,
                keywords=()):
    """Inserts one message with these search fields; returns its UID.
    subject None: no Subject field at all; "": an empty one."""
    lines = []
    for name, value in (("From", from_), ("To", to), ("Cc", cc), ("Bcc", bcc)):
        if value:
            lines.append("%s: %s" % (name, value))
    if subject is not None:
        lines.append("Subject: %s" % subject)
    if sent is not None:
        lines.append("Date: %s" % sent)
    lines.extend(extra)
    headers = "".join(l + "\n" for l in lines)
    mid = ""
    for l in extra:
        if l.lower().startswith("message-id:"):
            mid = l.split(":", 1)[1].strip()
    mb = mailbox_id(acc, mailbox)
    kw = "ARRAY[%s]::text[]" % ",".join(lit(k) for k in keywords)
    return int(q1(
        "WITH a AS MATERIALIZED (SELECT * FROM mail_allocate(%(acc)d, %(mb)d, 1)),"
        " m AS (INSERT INTO messages (account_id, size, sha256, header_size, envelope, body,"
        "        bodystructure, partmap, sent_date, hdr_subject, hdr_from, hdr_to, hdr_cc,"
        "        hdr_bcc, hdr_message_id, headers_text, body_text)"
        "       VALUES (%(acc)d, %(size)d, sha256(convert_to(gen_random_uuid()::text, 'UTF8')),"
        "        %(hsize)d, 'NIL', 'NIL', 'NIL', '\\x00'::bytea, %(sent)s, %(subj)s, %(from)s,"
        "        %(to)s, %(cc)s, %(bcc)s, %(mid)s, %(headers)s, %(body)s)"
        "       RETURNING message_id)"
        " INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags,"
        "        keywords, modseq, internaldate)"
        " SELECT %(acc)d, %(mb)d, a.first_uid, m.message_id, %(flags)d, %(kw)s, a.modseq,"
        "        %(internal)s FROM m, a RETURNING uid"
        % {"acc": acc, "mb": mb, "size": size, "hsize": len(headers.encode()),
           "sent": lit(sent), "subj": lit(subject or ""), "from": lit(from_), "to": lit(to),
           "cc": lit(cc), "bcc": lit(bcc), "mid": lit(mid), "headers": lit(headers),
           "body": lit(body), "flags": flags, "kw": kw, "internal": lit(internal)}))


def delete_message(acc, mailbox, uid):
    inst.psql("DELETE FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d"
              " AND uid = %d" % (acc, mailbox_id(acc, mailbox), uid))


class Raw(RawImap):
    """harness.RawImap on this module's instance, plus search()."""

    def __init__(self, addr=None, select=None, examine=None):
        super().__init__(inst.imap_port, addr, PASSWORD, select, examine)

    def search(self, *parts, uid=False):
        """Runs [UID] SEARCH; returns the numbers of its one * SEARCH line."""
        untagged, tagged = self.ok("UID SEARCH" if uid else "SEARCH", *parts)
        found = [l for l in untagged if l == "* SEARCH" or l.startswith("* SEARCH ")]
        if len(found) != 1:
            raise AssertionError("%r: %d SEARCH responses in %r" % (parts, len(found), untagged))
        nums = [int(x) for x in found[0][len("* SEARCH"):].split()]
        if nums != sorted(nums) or len(set(nums)) != len(nums):
            raise AssertionError("%r: not ascending: %r" % (parts, nums))
        return nums


# -- the fixture mailbox -------------------------------------------------------------

class Fixture:
    """Five messages (m1..m5) in INBOX with a UID gap after m2, and a sixth
    with the same subject as m1 in another account."""

    def __init__(self):
        self.addr, self.acc = new_account()
        a = self.acc
        self.uid = {}
        self.uid["m1"] = add_message(
            a, "INBOX", subject="Quarterly report Q1", from_="Alice Smith <alice@example.com>",
            to="bob@example.org", cc="carol@example.net",
            extra=("X-Spam-Flag: YES", "Message-ID: <m1@example.com>"),
            body="Please find the numbers attached.\nRegards\n", size=1200,
            sent="2024-03-01 10:00:00+00", internal="2024-03-02 08:00:00+00", flags=1,
            keywords=("$Work",))
        self.uid["m2"] = add_message(
            a, "INBOX", subject="Lunch?", from_="Bob <bob@example.org>", to="alice@example.com",
            extra=("Message-ID: <m2@example.org>",), body="Pizza at 12? 100% sure_thing\n",
            size=500, sent="2024-03-01 23:30:00-05", internal="2024-03-03 00:00:00+00",
            flags=2 | 4)
        gap = add_message(a, "INBOX", subject="deleted", body="gone")
        delete_message(a, "INBOX", gap)
        self.uid["m3"] = add_message(
            a, "INBOX", subject="Zoë's Ünïcode Straße", from_="Zoë <zoe@example.de>",
            to="Renée <renee@example.fr>", bcc="boss@example.com", body="Grüße aus Köln, abc\n",
            size=3000, sent=None, internal="2024-03-05 12:00:00+00", flags=8,
            keywords=("Junk", "$Work"))
        self.uid["m4"] = add_message(
            a, "INBOX", subject=None, from_="noreply@example.com", to="alice@example.com",
            body="", size=100, sent="2024-02-28 00:00:00+00",
            internal="2024-02-29 23:59:59+00", flags=16)
        self.uid["m5"] = add_message(
            a, "INBOX", subject="", from_="Eve <eve@example.com>", to="bob@example.org",
            cc="alice@example.com", extra=("In-Reply-To: <m1@example.com>",),
            body="wildcards a_c and 50% here\n", size=2000, sent="2024-03-10 00:00:00+00",
            internal="2024-03-10 00:00:00+01", flags=0)
        self.names = sorted(self.uid, key=lambda n: self.uid[n])
        self.seq = {n: i + 1 for i, n in enumerate(self.names)}
        _, other = new_account()
        add_message(other, "INBOX", subject="Quarterly report Q1", from_="Alice <alice@x>",
                    body="numbers", size=1200, internal="2024-03-02 08:00:00+00")


fx = None


def fixture():
    global fx
    if fx is None:
        fx = Fixture()
    return fx


class Keys(unittest.TestCase):
    """Every key, matching and not, as SEARCH (sequence numbers) and UID
    SEARCH (UIDs), on one EXAMINEd mailbox (no flag changes)."""

    @classmethod
    def setUpClass(cls):
        cls.f = fixture()
        cls.c = Raw(cls.f.addr, examine="INBOX")

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def check(self, expected, *parts):
        """expected: message names. Checks both SEARCH and UID SEARCH."""
        f = self.f
        self.assertEqual(self.c.search(*parts), sorted(f.seq[n] for n in expected), parts)
        self.assertEqual(self.c.search(*parts, uid=True), sorted(f.uid[n] for n in expected),
                         parts)

    def test_uid_gap_makes_sequence_numbers_differ(self):
        self.assertEqual([self.f.uid[n] for n in self.f.names], [1, 2, 4, 5, 6])

    def test_all(self):
        self.check(["m1", "m2", "m3", "m4", "m5"], "ALL")

    def test_flags(self):
        every = {"m1", "m2", "m3", "m4", "m5"}
        for key, has in (("SEEN", {"m1"}), ("ANSWERED", {"m2"}), ("FLAGGED", {"m2"}),
                         ("DELETED", {"m3"}), ("DRAFT", {"m4"})):
            self.check(has, key)
            self.check(every - has, "UN" + key)
            self.check(every - has, "NOT", key)
        self.check({"m2"}, "answered flagged")

    def test_keywords(self):
        self.check({"m1", "m3"}, "KEYWORD $Work")
        self.check({"m1", "m3"}, "KEYWORD $work")  # flags are case-insensitive
        self.check({"m3"}, "KEYWORD Junk")
        self.check(set(), "KEYWORD Nonexistent")
        self.check({"m2", "m4", "m5"}, "UNKEYWORD $Work")
        self.check({"m1", "m2", "m4", "m5"}, "UNKEYWORD junk")

    def test_header_columns(self):
        self.check({"m1"}, "SUBJECT quarterly")
        self.check({"m1"}, 'SUBJECT "REPORT Q1"')
        self.check({"m2"}, "SUBJECT lunch?")
        self.check(set(), "SUBJECT pizza")
        self.check({"m1"}, "FROM smith")
        self.check({"m1"}, "FROM alice@example.com")
        self.check({"m2"}, "FROM bob")
        self.check(set(), "FROM renee")
        self.check({"m2", "m4"}, "TO alice")
        self.check({"m3"}, "TO renee@")
        self.check({"m1"}, "CC carol")
        self.check({"m5"}, "CC alice")
        self.check({"m3"}, "BCC boss")
        self.check(set(), "BCC alice")

    def test_empty_string_means_field_present(self):
        self.check({"m1", "m2", "m3", "m5"}, 'SUBJECT ""')  # m4 has no Subject field
        self.check({"m1", "m2", "m3", "m4", "m5"}, 'FROM ""')
        self.check({"m1", "m5"}, 'CC ""')
        self.check({"m3"}, 'BCC ""')
        self.check({"m1", "m2", "m3", "m4", "m5"}, 'BODY ""')
        self.check({"m1", "m2", "m3", "m4", "m5"}, 'TEXT ""')
        self.check({"m1"}, 'HEADER X-Spam-Flag ""')
        self.check({"m5"}, 'HEADER in-reply-to ""')
        self.check(set(), 'HEADER X-Nothing ""')

    def test_body_and_text(self):
        self.check({"m1"}, "BODY numbers")
        self.check({"m1"}, 'BODY "FIND THE"')
        self.check(set(), "BODY x-spam")  # a header, not the body
        self.check({"m1"}, "TEXT x-spam-flag")
        self.check({"m2"}, "TEXT pizza")
        self.check({"m1", "m2", "m4", "m5"}, "TEXT alice")
        self.check(set(), "TEXT nowhere")

    def test_like_wildcards_are_literal(self):
        self.check({"m2"}, 'BODY "100%"')
        self.check({"m2", "m5"}, 'BODY "%"')
        self.check({"m5"}, 'BODY "a_c"')  # m3 has "abc"
        self.check({"m2"}, 'BODY "sure_thing"')
        self.check(set(), 'BODY "sure_thinG%x"')
        self.check(set(), 'BODY "\\\\"')  # a backslash: in no message
        self.check(set(), "BODY \"x') OR TRUE OR ('\"")

    def test_header(self):
        self.check({"m1"}, 'HEADER Message-ID "<m1@"')
        self.check({"m1", "m2"}, "HEADER message-id example")
        self.check({"m5"}, "HEADER In-Reply-To m1@example.com")
        self.check({"m1"}, "HEADER X-SPAM-FLAG yes")
        self.check(set(), "HEADER X-Spam-Flag no")
        self.check(set(), "HEADER Subject alice")  # alice is in other fields
        self.check({"m1"}, "HEADER Subject quarterly")
        self.check({"m1", "m2", "m3", "m5"}, 'HEADER Subject ""')

    def test_unicode_case_insensitive(self):
        self.check({"m3"}, "CHARSET", "UTF-8", "SUBJECT", "straße".encode())
        self.check({"m3"}, "CHARSET", "UTF-8", "SUBJECT", "ÜNÏCODE".encode())
        self.check({"m3"}, "CHARSET", "UTF-8", "FROM", "ZOË".encode())
        self.check({"m3"}, "CHARSET", "UTF-8", "TO", "renée".encode())
        self.check({"m3"}, "CHARSET", "UTF-8", "BODY", "GRÜßE".encode())
        self.check(set(), "CHARSET", "UTF-8", "SUBJECT", "strasse".encode())
        # UTF-8 without CHARSET is taken too; US-ASCII is fine for ASCII.
        self.check({"m3"}, "SUBJECT", "zoë".encode())
        self.check({"m1"}, "CHARSET US-ASCII SUBJECT quarterly")
        self.check({"m1"}, 'CHARSET "utf-8" SUBJECT quarterly')

    def test_internal_dates(self):
        # Internal dates (UTC): m4 2024-02-29 23:59:59, m1 03-02 08:00,
        # m2 03-03 00:00, m3 03-05 12:00, m5 03-09 23:00 (00:00+01).
        self.check({"m4"}, "BEFORE 1-Mar-2024")
        self.check({"m4"}, "ON 29-Feb-2024")
        self.check({"m4", "m1"}, "BEFORE 3-Mar-2024")
        self.check({"m2"}, "ON 3-Mar-2024")
        self.check({"m2", "m3", "m5"}, "SINCE 3-Mar-2024")
        self.check({"m3", "m5"}, "SINCE 4-Mar-2024")
        self.check({"m5"}, "ON 9-Mar-2024")  # the UTC date, documented
        self.check(set(), "ON 10-Mar-2024")
        self.check({"m1", "m2", "m3", "m4", "m5"}, 'SINCE "1-Jan-2000"')
        self.check(set(), "SINCE 01-jan-2025")

    def test_sent_dates(self):
        # Date: fields (UTC): m4 02-28 00:00, m1 03-01 10:00,
        # m2 03-02 04:30 (23:30-05), m5 03-10 00:00; m3 has none.
        self.check({"m4", "m1"}, "SENTBEFORE 2-Mar-2024")
        self.check({"m1"}, "SENTON 1-Mar-2024")
        self.check({"m2"}, "SENTON 2-Mar-2024")
        self.check({"m2", "m5"}, "SENTSINCE 2-Mar-2024")
        self.check({"m4"}, "SENTON 28-Feb-2024")
        # No Date field: no SENT* key matches, so each NOT does.
        self.check({"m3"}, "NOT SENTBEFORE 1-Jan-2100")
        self.check({"m3"}, "NOT SENTSINCE 1-Jan-1970")
        self.check({"m1", "m2", "m3", "m4", "m5"}, "NOT SENTON 1-Jan-1970")

    def test_sizes(self):
        # Sizes: m4 100, m2 500, m1 1200, m5 2000, m3 3000.
        self.check({"m3", "m5"}, "LARGER 1200")
        self.check({"m1", "m3", "m5"}, "LARGER 1199")
        self.check({"m4"}, "SMALLER 500")
        self.check({"m4", "m2"}, "SMALLER 501")
        self.check({"m1"}, "LARGER 1000 SMALLER 2000")
        self.check(set(), "SMALLER 0")
        self.check(set(), "LARGER 9223372036854775807")

    def test_sequence_sets(self):
        f = self.f
        # Sequence numbers 1..5 are UIDs 1 2 4 5 6.
        self.check({"m2", "m3"}, "2:3")
        self.check({"m5"}, "*")
        self.check({"m1", "m5"}, "1,*")
        self.check({"m4", "m5"}, "4:*")
        self.check(set(), "6")  # past the end: nothing, no error
        self.check({"m5"}, "5:9")
        # UID sets: the gap (UID 3) matches nothing.
        self.check({"m2", "m3"}, "UID 2:4")
        self.check(set(), "UID 3")
        self.check({"m5"}, "UID *")
        self.check({"m5"}, "UID 100:*")  # n:* always holds the last UID
        self.check({"m1", "m3", "m4"}, "UID 1,4:5")
        self.check({"m3"}, "UID 4:5 3:3")
        self.check(set(), "UID 7:100")
        self.assertEqual(self.c.search("UID", "1:*"), [1, 2, 3, 4, 5])
        self.assertEqual(self.c.search("2:4", uid=True), [f.uid["m2"], f.uid["m3"], f.uid["m4"]])

    def test_or_not_groups(self):
        self.check({"m1", "m2"}, "OR SEEN FLAGGED")
        self.check({"m1", "m2", "m3"}, "OR OR SEEN FLAGGED DELETED")
        self.check({"m1", "m2", "m3"}, "OR SEEN OR FLAGGED DELETED")
        self.check({"m4", "m5"}, "NOT OR OR SEEN FLAGGED DELETED")
        self.check({"m2"}, "(FLAGGED ANSWERED)")
        self.check({"m1", "m2"}, "OR (SEEN KEYWORD $Work) (FLAGGED FROM bob)")
        self.check({"m3", "m4", "m5"}, "NOT (OR SEEN FLAGGED)")
        self.check({"m5"}, "NOT (OR SEEN FLAGGED) NOT DELETED NOT DRAFT")
        self.check({"m1", "m5"}, "OR (SUBJECT quarterly) (BODY wildcards) UNDELETED")
        self.check({"m1", "m2", "m3", "m4", "m5"}, "OR ALL SEEN")
        self.check(set(), "NOT ALL")
        self.check({"m1"}, "((((SEEN))))")
        self.check({"m2", "m3", "m4", "m5"}, "NOT NOT NOT SEEN")
        self.check({"m1"}, "seen")  # keys are case-insensitive

    def test_account_isolation(self):
        # The other account has a message with m1's subject.
        self.check({"m1"}, 'SUBJECT "Quarterly report Q1"')
        self.check({"m1"}, "BODY numbers")

    def test_with_imaplib(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        try:
            m.login(self.f.addr, PASSWORD)
            m.select("INBOX", readonly=True)
            typ, data = m.search(None, "FROM", '"alice smith"')
            self.assertEqual((typ, data), ("OK", [b"1"]))
            typ, data = m.uid("SEARCH", "OR", "DELETED", "DRAFT")
            self.assertEqual((typ, data), ("OK", [b"4 5"]))
            m.literal = "Straße".encode()
            typ, data = m.search("UTF-8", "SUBJECT")
            self.assertEqual((typ, data), ("OK", [b"3"]))
            typ, data = m.search(None, "KEYWORD", "nothing")
            self.assertEqual((typ, data), ("OK", [b""]))
        finally:
            m.logout()


class Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = fixture()
        cls.c = Raw(cls.f.addr, examine="INBOX")

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def bad(self, *parts):
        untagged, tagged = self.c.cmd("SEARCH", *parts)
        self.assertTrue(tagged.startswith("BAD "), (parts, tagged))
        self.assertFalse([l for l in untagged if l.startswith("* SEARCH")], untagged)
        return tagged

    def test_syntax_errors_are_bad(self):
        for parts in (("FOO",), ("SUBJECT",), ("HEADER", "X-A"), ("OR", "SEEN"), ("NOT",),
                      ("()",), ("BEFORE", "2024-01-01"), ("BEFORE", "30-Feb-2024"),
                      ("LARGER", "-1"), ("LARGER", "x"), ("0",), ("1:x",), ("UID",),
                      ("UID", "SEEN"), ('"SEEN"',), ("KEYWORD", "\\Seen"), ("CHARSET",),
                      ("CHARSET", "UTF-8"), ("HEADER", '""', "x"), ("RETURN", "(MIN)", "ALL"),
                      ("$",)):
            self.bad(*parts)
        untagged, tagged = self.c.cmd("SEARCH")
        self.assertTrue(tagged.startswith("BAD "), tagged)
        untagged, tagged = self.c.cmd("UID SEARCH FOO")
        self.assertTrue(tagged.startswith("BAD "), tagged)
        # The session goes on.
        self.assertEqual(self.c.search("SEEN"), [1])

    def test_bad_utf8_and_nul(self):
        self.bad("SUBJECT", b"\xe9t\xe9")
        self.bad("CHARSET", "UTF-8", "BODY", b"\xc0\xaf")
        self.bad("SUBJECT", b"a\x00b")

    def test_unknown_charset(self):
        for cs in ("KOI8-R", "ISO-8859-1", '"x"'):
            untagged, tagged = self.c.cmd("SEARCH", "CHARSET", cs, "SUBJECT", "x")
            self.assertTrue(tagged.startswith("NO [BADCHARSET (UTF-8 US-ASCII)]"), tagged)
            self.assertFalse([l for l in untagged if l.startswith("* SEARCH")])

    def test_limits(self):
        self.assertEqual(self.c.search(" ".join(["SEEN"] * 1000)), [1])
        untagged, tagged = self.c.cmd("SEARCH", " ".join(["SEEN"] * 1001))
        self.assertTrue(tagged.startswith("NO [LIMIT]"), tagged)
        self.assertEqual(self.c.search("NOT " * 99 + "SEEN"), [2, 3, 4, 5])
        untagged, tagged = self.c.cmd("SEARCH", "NOT " * 100 + "SEEN")
        self.assertTrue(tagged.startswith("NO [LIMIT]"), tagged)
        self.assertEqual(self.c.search("SUBJECT", b"q" * 1024), [])
        untagged, tagged = self.c.cmd("SEARCH", "SUBJECT", b"q" * 1025)
        self.assertTrue(tagged.startswith("NO [LIMIT]"), tagged)

    def test_needs_selected_state(self):
        c = Raw(self.f.addr)
        try:
            untagged, tagged = c.cmd("SEARCH ALL")
            self.assertTrue(tagged.startswith("BAD "), tagged)
            untagged, tagged = c.cmd("UID SEARCH ALL")
            self.assertTrue(tagged.startswith("BAD "), tagged)
        finally:
            c.close()
        c = Raw()
        try:
            untagged, tagged = c.cmd("SEARCH ALL")
            self.assertTrue(tagged.startswith("BAD "), tagged)
        finally:
            c.close()


class Changes(unittest.TestCase):
    """Searches see the database as it is: flags after STORE (own and
    another session's), \\Recent per session, expunges held back."""

    def setUp(self):
        self.addr, self.acc = new_account()
        self.uids = [add_message(self.acc, "INBOX", subject="msg %d" % i, body="b%d" % i,
                                 size=100 * i) for i in range(1, 5)]

    def test_flags_after_store(self):
        c = Raw(self.addr, select="INBOX")
        other = Raw(self.addr, select="INBOX")
        try:
            self.assertEqual(c.search("FLAGGED"), [])
            c.ok("STORE 2 +FLAGS (\\Flagged)")
            self.assertEqual(c.search("FLAGGED"), [2])
            self.assertEqual(c.search("UNFLAGGED"), [1, 3, 4])
            other.ok("STORE 4 +FLAGS (\\Flagged \\Seen)")
            other.ok("STORE 1 +FLAGS (foo)")
            self.assertEqual(c.search("FLAGGED"), [2, 4])
            self.assertEqual(c.search("FLAGGED SEEN"), [4])
            self.assertEqual(c.search("KEYWORD FOO"), [1])
            c.ok("STORE 2 -FLAGS (\\Flagged)")
            self.assertEqual(c.search("FLAGGED", uid=True), [self.uids[3]])
            # A flag set by SQL (another server, a delivery rule).
            inst.psql("UPDATE mailbox_messages SET flags = flags | 16 WHERE account_id = %d"
                      " AND uid = %d" % (self.acc, self.uids[2]))
            self.assertEqual(c.search("DRAFT"), [3])
        finally:
            c.close()
            other.close()

    def test_recent_new_old(self):
        first = Raw(self.addr, select="INBOX")  # claims \Recent for 1..4
        second = Raw(self.addr, select="INBOX")
        try:
            self.assertEqual(first.search("RECENT"), [1, 2, 3, 4])
            self.assertEqual(first.search("OLD"), [])
            first.ok("STORE 2 +FLAGS (\\Seen)")
            self.assertEqual(first.search("NEW"), [1, 3, 4])
            self.assertEqual(second.search("RECENT"), [])
            self.assertEqual(second.search("NEW"), [])
            self.assertEqual(second.search("OLD"), [1, 2, 3, 4])
            # A message arriving now is \Recent in the one session that
            # learns of it first.
            uid = add_message(self.acc, "INBOX", subject="late", body="late")
            untagged, _ = second.ok("NOOP")
            self.assertIn("* 5 EXISTS", untagged)
            first.ok("NOOP")
            self.assertEqual(second.search("RECENT", uid=True), [uid])
            self.assertEqual(second.search("NEW"), [5])
            self.assertEqual(second.search("OLD"), [1, 2, 3, 4])
            self.assertEqual(first.search("RECENT"), [1, 2, 3, 4])
            self.assertEqual(first.search("OR RECENT SUBJECT late"), [1, 2, 3, 4, 5])
        finally:
            first.close()
            second.close()

    def test_messages_the_session_has_not_seen(self):
        c = Raw(self.addr, select="INBOX")
        try:
            add_message(self.acc, "INBOX", subject="msg new", body="new")
            # The new message is not in the session's view yet: not in
            # this answer, announced with EXISTS before the tagged reply.
            untagged, tagged = c.ok("SEARCH SUBJECT msg")
            self.assertIn("* SEARCH 1 2 3 4", untagged)
            self.assertIn("* 5 EXISTS", untagged)
            self.assertLess(untagged.index("* SEARCH 1 2 3 4"), untagged.index("* 5 EXISTS"))
            self.assertEqual(c.search("SUBJECT msg"), [1, 2, 3, 4, 5])
        finally:
            c.close()

    def test_no_expunge_during_search(self):
        c = Raw(self.addr, select="INBOX")
        other = Raw(self.addr, select="INBOX")
        try:
            other.ok("STORE 2 +FLAGS (\\Deleted)")
            other.ok("EXPUNGE")
            # RFC 3501 §7.4.1: no EXPUNGE during SEARCH; numbers as known.
            untagged, tagged = c.ok("SEARCH ALL")
            self.assertFalse([l for l in untagged if l.endswith(" EXPUNGE")], untagged)
            self.assertIn("* SEARCH 1 3 4", untagged)
            untagged, tagged = c.ok("NOOP")
            self.assertIn("* 2 EXPUNGE", untagged)
            self.assertEqual(c.search("ALL"), [1, 2, 3])
            # UID SEARCH may report it at once.
            other.ok("STORE 1 +FLAGS (\\Deleted)")
            other.ok("EXPUNGE")
            untagged, tagged = c.ok("UID SEARCH ALL")
            self.assertIn("* SEARCH %d %d" % (self.uids[2], self.uids[3]), untagged)
        finally:
            c.close()
            other.close()

    def test_empty_mailbox(self):
        inst.psql("INSERT INTO mailboxes (account_id, name) VALUES (%d, 'Empty')" % self.acc)
        c = Raw(self.addr, select="Empty")
        try:
            self.assertEqual(c.search("ALL"), [])
            self.assertEqual(c.search("*"), [])
            self.assertEqual(c.search("UID 1:*", uid=True), [])
            self.assertEqual(c.search("NOT RECENT"), [])
            untagged, tagged = c.cmd("SEARCH FOO")
            self.assertTrue(tagged.startswith("BAD"), tagged)
        finally:
            c.close()


class BigMailbox(unittest.TestCase):
    """10,000 messages: correct answers, and a plan that stays on the
    mailbox's key range and the trigram index."""

    N = 10000

    @classmethod
    def setUpClass(cls):
        cls.addr, cls.acc = new_account()
        mb = mailbox_id(cls.acc, "Big")
        cls.mb = mb
        inst.psql(
            "WITH a AS MATERIALIZED (SELECT * FROM mail_allocate(%(acc)d, %(mb)d, %(n)d)),"
            " m AS (INSERT INTO messages (account_id, size, sha256, header_size, envelope, body,"
            "        bodystructure, partmap, hdr_subject, hdr_from, headers_text, body_text)"
            "       SELECT %(acc)d, 1000 + i, sha256(convert_to('big' || i, 'UTF8')), 100,"
            "              'NIL', 'NIL', 'NIL', '\\x00'::bytea,"
            "              'Message ' || i || CASE WHEN i IN (1234, 8765) THEN ' xylophone' ELSE '' END,"
            "              'sender' || (i %% 50) || '@example.com',"
            "              'Subject: Message ' || i || E'\\n',"
            "              'body text number ' || i || ' lorem ipsum dolor sit amet'"
            "         FROM generate_series(1, %(n)d) i RETURNING message_id, size)"
            " INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags, modseq,"
            "        internaldate)"
            " SELECT %(acc)d, %(mb)d, a.first_uid + m.size - 1001, m.message_id,"
            "        CASE WHEN m.size %% 3 = 0 THEN 1 ELSE 0 END, a.modseq,"
            "        '2024-01-01 00:00:00+00'::timestamptz + (m.size - 1001) * interval '1 minute'"
            "   FROM m, a"
            % {"acc": cls.acc, "mb": mb, "n": cls.N})
        inst.psql("ANALYZE messages; ANALYZE mailbox_messages")
        cls.c = Raw(cls.addr, examine="Big")

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def test_answers(self):
        self.assertEqual(self.c.search("SUBJECT xylophone"), [1234, 8765])
        self.assertEqual(len(self.c.search("ALL")), self.N)
        seen = self.c.search("SEEN")
        self.assertEqual(seen, [u for u in range(1, self.N + 1) if (1000 + u) % 3 == 0])
        self.assertEqual(self.c.search("UID 5000:5010 UNSEEN", uid=True),
                         [u for u in range(5000, 5011) if (1000 + u) % 3 != 0])
        self.assertEqual(self.c.search("BODY", '"number 9999 "'), [9999])
        self.assertEqual(self.c.search("LARGER 10998"), [9999, 10000])
        self.assertEqual(self.c.search("SINCE 7-Jan-2024"), list(range(8641, self.N + 1)))
        self.assertEqual(self.c.search("OR FROM sender7@ FROM sender13@ 1:200"),
                         [u for u in range(1, 201) if u % 50 in (7, 13)])

    @staticmethod
    def explain(acc, mb, max_uid, cond, join=True, prefix=""):
        """The plan of the query store_search.c sends for cond."""
        sql = (prefix + "EXPLAIN SELECT mm.uid FROM mailbox_messages mm"
               + (" JOIN messages m ON m.account_id = mm.account_id"
                  " AND m.message_id = mm.message_id" if join else "")
               + " WHERE mm.account_id = %d AND mm.mailbox_id = %d AND mm.uid <= %d AND (%s)"
               " ORDER BY mm.uid" % (acc, mb, max_uid, cond))
        return "\n".join(r[0] for r in inst.psql(sql))

    def test_plans(self):
        # The trigram index serves the compiled condition. (Whether the
        # planner prefers it over a scan depends on the table's size; this
        # test database is small, so scans are priced out for the check.)
        for col, idx in (("hdr_subject", "messages_subject_trgm_idx"),
                         ("hdr_from", "messages_from_trgm_idx"),
                         ("hdr_to", "messages_to_trgm_idx"), ("hdr_cc", "messages_cc_trgm_idx")):
            plan = self.explain(self.acc, self.mb, self.N, "m.%s ILIKE '%%xylophone%%'" % col,
                                prefix="SET enable_seqscan = off; ")
            self.assertIn(idx, plan)
        # A small mailbox among 10,000 others' rows: its key range, not a
        # scan of every account's messages.
        f = fixture()
        small = mailbox_id(f.acc, "INBOX")
        for cond, join in (("(mm.flags & 1) = 0", False),
                           ("m.body_text ILIKE '%numbers%'", True),
                           ("(m.headers_text ILIKE '%x%' OR m.body_text ILIKE '%x%')", True)):
            plan = self.explain(f.acc, small, 10, cond, join)
            self.assertNotIn("Seq Scan", plan, plan)
            self.assertRegex(plan, r"Index.* on mailbox_messages", plan)


def corpus_available():
    return os.path.isfile(os.path.join(CORPUS, "search-golden.json"))


@unittest.skipUnless(corpus_available(), "MIME corpus not present")
class Golden(unittest.TestCase):
    """The shared corpus APPENDed in file-name order, then every reference
    query: UID sets must match Dovecot's, except where the corpus README
    lists Dovecot's answer as violating RFC 3501 (TEXT/BODY missing visible
    body text), where we must find the message."""

    RFC_OVER_DOVECOT = {"cpython-msg_14.eml", "gen-43-unknown-cte.eml",
                        "gen-54-invalid-content-types.eml"}
    # Where our search fields (server/mime/mime_search.c) deliberately differ
    # from Dovecot's: command -> the UIDs we must answer instead.
    DIFFERENT = {
        # cpython-msg_17 (UID 14): multipart/mixed whose boundary never
        # occurs, so its visible text is all "preamble", which Dovecot
        # skips; RFC 3501 §6.4.4 TEXT asks for text in the body.
        'UID SEARCH TEXT "FILENAME"':
            [6, 11, 14, 17, 20, 33, 34, 38, 39, 43, 51, 61, 62, 63, 64, 75, 77],
        # cpython-msg_25 (UID 19): "localdomain" is in its text/rfc822-headers
        # part, visible body text that Dovecot does not search.
        'UID SEARCH TEXT "Dom"': [16, 18, 19, 21, 23, 24, 26, 27, 46],
        # gen-08 (UID 42): "100 =?UTF-8?Q?_=E2=82?= =?UTF-8?Q?=AC?=" splits the
        # euro sign over two encoded-words (RFC 2047 §5 forbids it); we decode
        # adjacent words together, Dovecot drops the broken character.
        'UID SEARCH CHARSET UTF-8 SUBJECT {7+}\r\n100 \u00e2\u0082\u00ac': [42],
    }

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(CORPUS, "search-golden.json")) as f:
            cls.golden = json.load(f)
        cls.addr, cls.acc = new_account()
        mailbox_id(cls.acc, "Corpus")
        cls.c = Raw(cls.addr)
        for name in cls.golden["files"]:
            with open(os.path.join(CORPUS, "messages", name), "rb") as f:
                data = f.read()
            untagged, tagged = cls.c.cmd('APPEND Corpus () "01-Jan-2025 00:00:00 +0000"', data)
            if not tagged.startswith("OK"):
                cls.c.close()
                raise unittest.SkipTest("APPEND does not work yet: " + tagged)
        cls.c.ok("EXAMINE Corpus")

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def test_reference_queries(self):
        files = self.golden["files"]
        mismatches = []
        for q in self.golden["queries"]:
            raw = q["command"].encode("latin-1")
            # Replay the exact command, literals included (sent {n+}).
            self.c.n += 1
            tag = "g%d" % self.c.n
            self.c.sock.sendall(tag.encode() + b" " + raw + b"\r\n")
            untagged = []
            while True:
                line = self.c.line().decode("utf-8", "replace")
                if line.startswith(tag + " "):
                    tagged = line[len(tag) + 1:]
                    break
                untagged.append(line)
            self.assertEqual(tagged.split()[0], q["status"], (q["command"], tagged))
            got = set()
            for l in untagged:
                if l.startswith("* SEARCH"):
                    got |= {int(x) for x in l[8:].split()}
            want = set(q["uids"])
            src_uid = files.index(q["source_file"]) + 1
            if (q["source_file"] in self.RFC_OVER_DOVECOT and q["criteria"][0] in ("TEXT", "BODY")
                    and src_uid not in want):
                want.add(src_uid)
            if q["command"] in self.DIFFERENT:
                want = set(self.DIFFERENT[q["command"]])
            if got != want:
                mismatches.append((q["command"], sorted(want), sorted(got)))
        self.assertEqual(set(self.DIFFERENT) - {q["command"] for q in self.golden["queries"]},
                         set())
        self.assertEqual(mismatches, [], "%d of %d reference queries differ"
                         % (len(mismatches), len(self.golden["queries"])))


if __name__ == "__main__":
    unittest.main()
