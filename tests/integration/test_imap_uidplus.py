"""UIDPLUS (RFC 4315), MOVE (RFC 6851), MULTIAPPEND (RFC 3502) and
APPENDLIMIT (RFC 7889) end to end: the responses (APPENDUID, COPYUID, the
order of MOVE's untagged responses, UID EXPUNGE's EXPUNGEs), checked against
what the database holds afterwards (rows, message references, modseqs,
expunged rows, mailbox counters and account usage) and what other sessions
see. Clients: a raw socket where the exact lines or the literal handshake
matter, imaplib as a real client.

The instance runs with max_message_size = 64K (so APPENDLIMIT=65536 and a
MULTIAPPEND may carry 4 x 64K + 64K of literals) and max_nonsync_literal =
1M (so a {n+} literal can exceed APPENDLIMIT and reach the handler)."""
import imaplib
import itertools
import re
import time
import unittest

from harness import Instance, RawImap, assert_counters_exact

PASSWORD = "uidplus test 1"
MAX_MESSAGE = 65536
LITERAL_TOTAL = 4 * MAX_MESSAGE + 64 * 1024
inst = None
_ids = itertools.count(1)


def setUpModule():
    global inst
    inst = Instance({"max_message_size": "64K", "max_nonsync_literal": "1M"})
    inst.start_admind()
    inst.start_imapd()


def tearDownModule():
    inst.close()


# -- helpers -----------------------------------------------------------------


def new_account(**extra):
    """A fresh account (INBOX, Drafts, Sent, Trash, Junk, Archive); returns
    (address, account_id)."""
    addr = "user%d@uidplus.test" % next(_ids)
    inst.create_account(addr, PASSWORD, **extra)
    acc = int(inst.psql("SELECT account_id FROM addresses WHERE address = '%s'" % addr)[0][0])
    return addr, acc


def q1(sql):
    rows = inst.psql(sql)
    return rows[0][0] if rows else None


def mailbox_id(acc, name):
    return int(q1("SELECT mailbox_id FROM mailboxes WHERE account_id = %d AND name = '%s'"
                  % (acc, name)))


def mailbox_row(acc, name):
    """(uidvalidity, uidnext, highestmodseq, messages, unseen, bytes)."""
    return tuple(int(v) for v in inst.psql(
        "SELECT uidvalidity, uidnext, highestmodseq, messages, unseen, bytes FROM mailboxes"
        " WHERE account_id = %d AND name = '%s'" % (acc, name))[0])


def add_messages(acc, mailbox, count, size=1000, flags=0, keywords=()):
    """Inserts count new messages (own content each) the way a delivery
    would; returns their UIDs."""
    mb = mailbox_id(acc, mailbox)
    kw = "ARRAY[%s]::text[]" % ",".join("'%s'" % k for k in keywords)
    rows = inst.psql(
        "WITH a AS MATERIALIZED (SELECT * FROM mail_allocate(%(acc)d, %(mb)d, %(n)d)),"
        " m AS (INSERT INTO messages (account_id, size, sha256, header_size, envelope, body,"
        "        bodystructure, partmap)"
        "       SELECT %(acc)d, %(size)d, sha256(convert_to(gen_random_uuid()::text, 'UTF8')),"
        "              100, 'NIL', '(\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1)',"
        "              '(\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1)', '\\x00'::bytea"
        "         FROM generate_series(1, %(n)d) RETURNING message_id)"
        " INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags,"
        "        keywords, modseq, internaldate)"
        " SELECT %(acc)d, %(mb)d, a.first_uid + row_number() OVER (ORDER BY m.message_id) - 1,"
        "        m.message_id, %(flags)d, %(kw)s, a.modseq, '2021-03-04 05:06:07+00' FROM m, a"
        " RETURNING uid"
        % {"acc": acc, "mb": mb, "n": count, "size": size, "flags": flags, "kw": kw})
    return sorted(int(r[0]) for r in rows)


def rows_of(acc, mailbox):
    """{uid: (message_id, flags, keywords, modseq, internaldate)} of a mailbox."""
    out = {}
    for uid, mid, flags, kw, modseq, idate in inst.psql(
            "SELECT uid, message_id, flags, array_to_string(keywords, ' '), modseq,"
            " internaldate FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d"
            % (acc, mailbox_id(acc, mailbox))):
        out[int(uid)] = (int(mid), int(flags), kw.split() if kw else [], int(modseq), idate)
    return out


def expunged_of(acc, mailbox):
    """{uid: modseq} recorded as expunged in a mailbox."""
    return {int(u): int(m) for u, m in inst.psql(
        "SELECT uid, modseq FROM expunged WHERE account_id = %d AND mailbox_id = %d"
        % (acc, mailbox_id(acc, mailbox)))}


def content_count(acc):
    """(messages rows, message_chunks rows, mailbox_messages rows)."""
    return tuple(int(v) for v in inst.psql(
        "SELECT (SELECT count(*) FROM messages WHERE account_id = %(a)d),"
        " (SELECT count(*) FROM message_chunks WHERE account_id = %(a)d),"
        " (SELECT count(*) FROM mailbox_messages WHERE account_id = %(a)d)" % {"a": acc})[0])


def usage(acc):
    return tuple(int(v) for v in inst.psql(
        "SELECT used_bytes, used_messages FROM accounts WHERE account_id = %d" % acc)[0])


def message(subject, body=b"Hello there.\r\n", size=None):
    """A small RFC 5322 message; padded to exactly size octets if given."""
    m = (b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
         b"Subject: " + subject.encode() + b"\r\nDate: Tue, 4 Mar 2025 12:00:00 +0000\r\n"
         b"\r\n" + body)
    if size is not None:
        assert len(m) <= size
        m += b"x" * (size - len(m))
    return m


def parse_uid_set(text):
    """The UIDs of a uid-set in their order ("3:5,1" -> [3, 4, 5, 1])."""
    out = []
    for part in text.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            step = 1 if b >= a else -1
            out += list(range(a, b + step, step))
        else:
            out.append(int(part))
    return out


COPYUID_RE = re.compile(r"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]")
APPENDUID_RE = re.compile(r"\[APPENDUID (\d+) ([0-9:,]+)\]")


def copyuid(text):
    """(uidvalidity, source uids, target uids) of the COPYUID in text."""
    m = COPYUID_RE.search(text)
    if m is None:
        raise AssertionError("no COPYUID in %r" % text)
    return int(m.group(1)), parse_uid_set(m.group(2)), parse_uid_set(m.group(3))


def appenduid(text):
    m = APPENDUID_RE.search(text)
    if m is None:
        raise AssertionError("no APPENDUID in %r" % text)
    return int(m.group(1)), parse_uid_set(m.group(2))


def expunges(untagged):
    return [int(l.split()[1]) for l in untagged if re.match(r"^\* \d+ EXPUNGE$", l)]


class Raw(RawImap):
    """harness.RawImap on this module's instance, plus append() of
    several messages with or without synchronizing literals."""

    def __init__(self, addr=None, select=None, examine=None):
        super().__init__(inst.imap_port, addr, PASSWORD, select, examine)

    def append(self, mailbox, msgs, nonsync=False):
        """APPEND (MULTIAPPEND when several) of msgs, each bytes or a tuple
        (bytes, flags or None, date or None). Returns (untagged, tagged,
        continuations): continuations counts the "+" received; when the
        server answers instead of a "+", the rest is not sent."""
        tag = self.tag()
        out = (tag + " APPEND " + mailbox).encode()
        conts = 0
        for i, m in enumerate(msgs):
            data, flags, date = (m, None, None) if isinstance(m, bytes) else m
            if flags is not None:
                out += b" (" + flags.encode() + b")"
            if date is not None:
                out += b' "' + date.encode() + b'"'
            out += b" {%d%s}\r\n" % (len(data), b"+" if nonsync else b"")
            if not nonsync:
                self.sock.sendall(out)
                line = self.line()
                if not line.startswith(b"+"):
                    untagged = []
                    while True:
                        l = line.decode("latin-1")
                        if l.startswith(tag + " "):
                            return untagged, l[len(tag) + 1:], conts
                        untagged.append(l)
                        line = self.line()
                conts += 1
                out = b""
            out += data
        self.sock.sendall(out + b"\r\n")
        untagged, tagged = self.until_tagged(tag)
        return untagged, tagged, conts


def wait_untagged(client, pred, timeout=10):
    """NOOPs until pred(all untagged lines so far) holds; returns them."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        u, t = client.ok("NOOP")
        seen += u
        if pred(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


class CountersMixin:
    def assertCountersExact(self, acc):
        assert_counters_exact(self, inst, acc)


# -- CAPABILITY ----------------------------------------------------------------


class Capabilities(unittest.TestCase):
    def test_advertised_after_login(self):
        addr, _ = new_account()
        c = Raw()
        u, t = c.ok("CAPABILITY")
        self.assertNotIn("UIDPLUS", u[0])  # only once logged in
        c.ok('LOGIN %s "%s"' % (addr, PASSWORD))
        u, t = c.ok("CAPABILITY")
        caps = u[0].split()
        for cap in ("UIDPLUS", "MOVE", "MULTIAPPEND", "APPENDLIMIT=%d" % MAX_MESSAGE):
            self.assertEqual(caps.count(cap), 1, (cap, caps))
        self.assertEqual(len([x for x in caps if x.startswith("APPENDLIMIT")]), 1, caps)
        c.close()

    def test_imaplib_sees_them(self):
        addr, _ = new_account()
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(addr, PASSWORD)
        typ, data = m.capability()
        caps = data[0].decode().split()
        self.assertIn("UIDPLUS", caps)
        self.assertIn("MOVE", caps)
        self.assertIn("MULTIAPPEND", caps)
        self.assertIn("APPENDLIMIT=65536", caps)
        m.logout()


# -- APPENDUID and MULTIAPPEND ---------------------------------------------------


class AppendUid(CountersMixin, unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()

    def test_appenduid_matches_uid_fetch(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        uv = mailbox_row(self.acc, "Archive")[0]
        got = []
        for i in range(3):
            typ, data = m.append("Archive", r"(\Flagged)", None, message("n%d" % i))
            self.assertEqual(typ, "OK")
            v, uids = appenduid(data[0].decode())
            self.assertEqual(v, uv)
            self.assertEqual(len(uids), 1)
            got.append(uids[0])
        self.assertEqual(got, [1, 2, 3])
        m.select("Archive")
        # The UIDVALIDITY of SELECT is the one APPENDUID gave.
        self.assertEqual(int(m.response("UIDVALIDITY")[1][0]), uv)
        for i, uid in enumerate(got):
            typ, data = m.uid("FETCH", str(uid), "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual(typ, "OK")
            self.assertIn(("Subject: n%d" % i).encode(), data[0][1])
        # Into the selected mailbox: the APPENDUID and the new EXISTS.
        typ, data = m.append("Archive", None, None, message("selected"))
        v, uids = appenduid(data[0].decode())
        self.assertEqual(uids, [4])
        self.assertEqual(m.response("EXISTS")[1][-1], b"4")
        m.logout()

    def test_multiappend_uid_set_and_order(self):
        c = Raw(self.addr)
        before = mailbox_row(self.acc, "INBOX")
        msgs = [(message("first"), r"\Seen", "05-Mar-2024 10:20:30 +0100"),
                (message("second"), None, None),
                (message("third"), r"\Flagged $Label1", "01-Jan-2020 00:00:00 +0000")]
        u, t, conts = c.append("INBOX", msgs)
        self.assertTrue(t.startswith("OK [APPENDUID"), t)
        self.assertEqual(conts, 3)  # a "+" for every synchronizing literal
        v, uids = appenduid(t)
        self.assertEqual(v, before[0])
        self.assertEqual(uids, [before[1], before[1] + 1, before[1] + 2])
        self.assertRegex(t, r"\[APPENDUID \d+ %d:%d\]" % (before[1], before[1] + 2))
        after = mailbox_row(self.acc, "INBOX")
        self.assertEqual(after[1], before[1] + 3)
        self.assertEqual(after[2], before[2] + 1)  # one modseq for the batch
        rows = rows_of(self.acc, "INBOX")
        self.assertEqual(sorted(rows), uids)
        self.assertEqual({r[3] for r in rows.values()}, {after[2]})
        self.assertEqual(rows[uids[0]][1], 1)
        self.assertEqual(rows[uids[1]][1], 0)
        self.assertEqual((rows[uids[2]][1], rows[uids[2]][2]), (4, ["$Label1"]))
        # Each UID holds the message sent in that position.
        c.ok("SELECT INBOX")
        for uid, subj in zip(uids, ("first", "second", "third")):
            u, t = c.ok("UID FETCH %d (BODY.PEEK[HEADER.FIELDS (SUBJECT)])" % uid)
            self.assertIn("UID %d" % uid, u[0])
            self.assertIn("Subject: " + subj, u)  # the literal's first line
        u, t = c.ok("UID FETCH %d:%d INTERNALDATE" % (uids[0], uids[2]))
        dates = [re.search(r'INTERNALDATE "([^"]+)"', l).group(1) for l in u if "FETCH" in l]
        self.assertEqual(dates[0], "05-Mar-2024 09:20:30 +0000")
        self.assertEqual(dates[2], "01-Jan-2020 00:00:00 +0000")
        c.close()
        self.assertCountersExact(self.acc)

    def test_multiappend_subjects_by_uid(self):
        c = Raw(self.addr)
        msgs = [message("s%d" % i) for i in range(5)]
        u, t, _ = c.append("Drafts", msgs, nonsync=True)  # one round trip
        self.assertTrue(t.startswith("OK"), t)
        v, uids = appenduid(t)
        self.assertEqual(len(uids), 5)
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("Drafts", readonly=True)
        for i, uid in enumerate(uids):
            typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
            self.assertEqual(data[0][1], msgs[i])
        m.logout()
        c.close()

    def test_multiappend_dedup_and_keywords(self):
        c = Raw(self.addr)
        same = message("same", b"identical bytes\r\n" * 50)
        u, t, _ = c.append("Archive", [(same, "Work", None), (same, "work $Later", None),
                                       (message("other"), "$LATER Later", None)])
        self.assertTrue(t.startswith("OK"), t)
        v, uids = appenduid(t)
        rows = rows_of(self.acc, "Archive")
        self.assertEqual(rows[uids[0]][0], rows[uids[1]][0])  # one content row
        self.assertEqual(q1("SELECT refs FROM messages WHERE account_id = %d AND message_id = %d"
                            % (self.acc, rows[uids[0]][0])), "2")
        # Keywords spelt as first used, listed once in the mailbox.
        self.assertEqual(q1("SELECT array_to_string(keywords, ' ') FROM mailboxes"
                            " WHERE account_id = %d AND name = 'Archive'" % self.acc),
                         "Work $Later Later")
        self.assertEqual(rows[uids[1]][2], ["Work", "$Later"])
        self.assertEqual(rows[uids[2]][2], ["$Later", "Later"])
        self.assertCountersExact(self.acc)
        c.close()

    def test_multiappend_into_selected_mailbox_reports_exists(self):
        c = Raw(self.addr, select="Sent")
        u, t, _ = c.append("Sent", [message("a"), message("b")])
        self.assertTrue(t.startswith("OK [APPENDUID"), t)
        self.assertIn("* 2 EXISTS", u)
        other = Raw(self.addr, select="Sent")
        u, t, _ = c.append("Sent", [message("c"), message("d"), message("e")])
        seen = wait_untagged(other, lambda u: "* 5 EXISTS" in u)
        self.assertIn("* 5 EXISTS", seen)
        other.close()
        c.close()

    def test_over_quota_in_second_message_stores_nothing(self):
        addr, acc = new_account(quota_bytes=2400)
        c = Raw(addr)
        c.append("INBOX", [message("existing")])
        before = (content_count(acc), usage(acc), mailbox_row(acc, "INBOX"))
        first = message("fits", size=1000)
        second = message("too much", size=1500)  # first alone fits, both do not
        u, t, conts = c.append("INBOX", [first, second])
        self.assertTrue(t.startswith("NO [OVERQUOTA]"), t)
        self.assertEqual(conts, 2)
        self.assertEqual((content_count(acc), usage(acc), mailbox_row(acc, "INBOX")), before)
        # Either alone still fits.
        u, t, _ = c.append("INBOX", [first])
        self.assertTrue(t.startswith("OK"), t)
        self.assertCountersExact(acc)
        c.close()

    def test_bad_second_message_stores_nothing(self):
        c = Raw(self.addr)
        before = (content_count(self.acc), mailbox_row(self.acc, "INBOX"))
        cases = [
            # A date that does not exist.
            [message("a"), (message("b"), None, "31-Feb-2024 00:00:00 +0000")],
            # \Recent cannot be set.
            [message("a"), (message("b"), r"\Recent", None)],
            # An empty message.
            [message("a"), b""],
            # NUL in the second.
            [message("a"), b"Subject: x\r\n\r\nnul\x00here\r\n"],
        ]
        for msgs in cases:
            u, t, _ = c.append("INBOX", msgs)
            self.assertTrue(t.startswith("BAD") or t.startswith("NO [CANNOT]"), (msgs, t))
        # Something that is not a message after the first.
        for text in ['APPEND INBOX {5+}\r\nHello junk', 'APPEND INBOX {5+}\r\nHello (\\Seen)',
                     'APPEND INBOX {5+}\r\nHello "01-Jan-2024 00:00:00 +0000"',
                     'APPEND INBOX {5+}\r\nHello (\\Seen) {5+}\r\nHello NIL']:
            u, t = c.cmd(text)
            self.assertTrue(t.startswith("BAD"), (text, t))
        self.assertEqual((content_count(self.acc), mailbox_row(self.acc, "INBOX")), before)
        c.close()

    def test_missing_mailbox(self):
        c = Raw(self.addr)
        u, t, _ = c.append("Nowhere", [message("a"), message("b")])
        self.assertTrue(t.startswith("NO [TRYCREATE]"), t)
        c.close()

    def test_message_count_limit(self):
        c = Raw(self.addr)
        before = content_count(self.acc)
        tiny = [b"Subject: %d\r\n\r\nx\r\n" % i for i in range(1001)]
        u, t, _ = c.append("Junk", tiny, nonsync=True)
        self.assertTrue(t.startswith("NO [LIMIT]"), t)
        self.assertEqual(content_count(self.acc), before)
        u, t, _ = c.append("Junk", tiny[:1000], nonsync=True)
        self.assertTrue(t.startswith("OK"), t)
        v, uids = appenduid(t)
        self.assertEqual(uids, list(range(1, 1001)))
        self.assertEqual(mailbox_row(self.acc, "Junk")[3], 1000)
        self.assertCountersExact(self.acc)
        c.close()

    def test_total_literal_limit(self):
        c = Raw(self.addr)
        before = content_count(self.acc)
        size = 60000
        n_fit = LITERAL_TOTAL // size  # 5
        msgs = [message("big%d" % i, size=size) for i in range(n_fit + 1)]
        # The literal that would pass the total is refused before its "+".
        u, t, conts = c.append("INBOX", msgs)
        self.assertTrue(t.startswith("NO [TOOBIG]"), t)
        self.assertEqual(conts, n_fit)
        self.assertEqual(content_count(self.acc), before)
        # The connection goes on; up to the total is fine.
        u, t, conts = c.append("INBOX", msgs[:n_fit])
        self.assertTrue(t.startswith("OK [APPENDUID"), t)
        self.assertEqual(len(appenduid(t)[1]), n_fit)
        c.close()


# -- APPENDLIMIT ------------------------------------------------------------------


class AppendLimit(unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()

    def test_over_limit_refused_before_upload(self):
        c = Raw(self.addr)
        before = content_count(self.acc)
        u, t, conts = c.append("INBOX", [message("big", size=MAX_MESSAGE + 1)])
        self.assertEqual(conts, 0)  # no "+": nothing was uploaded
        self.assertTrue(t.startswith("NO [TOOBIG]"), t)
        c.ok("NOOP")
        # Exactly at the limit is fine.
        u, t, conts = c.append("INBOX", [message("max", size=MAX_MESSAGE)])
        self.assertTrue(t.startswith("OK"), t)
        self.assertEqual(content_count(self.acc), tuple(x + 1 for x in before))
        c.close()

    def test_nonsync_literal_over_limit(self):
        # max_nonsync_literal (1M) lets the octets in; the handler refuses
        # them as RFC 7889 §4 says, and the connection goes on.
        c = Raw(self.addr)
        before = content_count(self.acc)
        u, t, _ = c.append("INBOX", [message("big", size=MAX_MESSAGE + 1)], nonsync=True)
        self.assertTrue(t.startswith("NO [TOOBIG]"), t)
        u, t, _ = c.append("INBOX", [message("ok"), message("big", size=MAX_MESSAGE + 1)],
                           nonsync=True)
        self.assertTrue(t.startswith("NO [TOOBIG]"), t)
        self.assertEqual(content_count(self.acc), before)
        c.ok("NOOP")
        c.close()

    def test_imaplib_gets_no_toobig(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        typ, data = m.append("INBOX", None, None, message("big", size=MAX_MESSAGE + 100))
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TOOBIG]", data[0])
        typ, data = m.append("INBOX", None, None, message("small"))
        self.assertEqual(typ, "OK")
        m.logout()


# -- COPYUID ------------------------------------------------------------------------


class CopyUid(CountersMixin, unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        self.uids = add_messages(self.acc, "INBOX", 8)
        self.c = Raw(self.addr, select="INBOX")

    def tearDown(self):
        self.c.close()

    def check_mapping(self, src_uids, dst_uids, dst="Archive"):
        src = rows_of(self.acc, "INBOX")
        rows = rows_of(self.acc, dst)
        self.assertEqual(len(src_uids), len(dst_uids))
        for s, d in zip(src_uids, dst_uids):
            self.assertEqual(rows[d][0], src[s][0], (s, d))  # same content

    def test_contiguous(self):
        u, t = self.c.ok("COPY 1:3 Archive")
        v, s, d = copyuid(t)
        self.assertEqual(v, mailbox_row(self.acc, "Archive")[0])
        self.assertEqual(s, self.uids[:3])
        self.assertEqual(d, [1, 2, 3])
        self.assertRegex(t, r"^OK \[COPYUID \d+ %d:%d 1:3\] " % (self.uids[0], self.uids[2]))
        self.check_mapping(s, d)

    def test_non_contiguous_and_out_of_order(self):
        u, t = self.c.ok("COPY 6,1,3,7:8 Archive")
        v, s, d = copyuid(t)
        want = [self.uids[i] for i in (0, 2, 5, 6, 7)]
        self.assertEqual(s, want)
        self.assertRegex(t, r"\[COPYUID \d+ %d,%d,%d:%d 1:5\]"
                         % (self.uids[0], self.uids[2], self.uids[5], self.uids[7]))
        self.check_mapping(s, d)
        # A second copy continues the target's UIDs.
        u, t = self.c.ok("UID COPY %d,%d Archive" % (self.uids[4], self.uids[1]))
        v, s, d = copyuid(t)
        self.assertEqual((s, d), ([self.uids[1], self.uids[4]], [6, 7]))
        self.check_mapping(s, d)
        self.assertCountersExact(self.acc)

    def test_uid_copy_skips_missing_uids(self):
        u, t = self.c.ok("UID COPY %d:%d Trash" % (self.uids[6], self.uids[7] + 100))
        v, s, d = copyuid(t)
        self.assertEqual((s, d), (self.uids[6:], [1, 2]))
        u, t = self.c.ok("UID COPY 90000:90010 Trash")
        self.assertEqual(t, "OK COPY completed")  # nothing copied: no COPYUID

    def test_imaplib(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("INBOX")
        typ, data = m.copy("2:4", "Junk")
        self.assertEqual(typ, "OK")
        v, s, d = copyuid(data[0].decode())
        self.assertEqual(s, self.uids[1:4])
        self.check_mapping(s, d, "Junk")
        m.logout()


# -- UID EXPUNGE ----------------------------------------------------------------------


class UidExpunge(CountersMixin, unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        self.uids = add_messages(self.acc, "INBOX", 6, size=100)
        self.c = Raw(self.addr, select="INBOX")
        self.c.ok(r"STORE 2,3,5 +FLAGS.SILENT (\Deleted)")

    def tearDown(self):
        self.c.close()

    def test_only_deleted_within_the_set(self):
        ms0 = mailbox_row(self.acc, "INBOX")[2]
        u, t = self.c.ok("UID EXPUNGE %d:%d" % (self.uids[2], self.uids[5]))
        # uids[2] (seq 3) and uids[4] (seq 5, then 4) go; uids[1] is
        # \Deleted but outside the set, uids[3] and uids[5] are not.
        self.assertEqual(expunges(u), [3, 4])
        self.assertEqual(sorted(rows_of(self.acc, "INBOX")),
                         [self.uids[0], self.uids[1], self.uids[3], self.uids[5]])
        self.assertEqual(expunged_of(self.acc, "INBOX"),
                         {self.uids[2]: ms0 + 1, self.uids[4]: ms0 + 1})
        self.assertEqual(mailbox_row(self.acc, "INBOX")[2], ms0 + 1)
        self.assertCountersExact(self.acc)
        # Sequence numbers followed: 3 is now uids[3].
        u, t = self.c.ok("FETCH 3 (UID)")
        self.assertIn("UID %d" % self.uids[3], u[0])
        # Plain EXPUNGE still works and takes the rest.
        u, t = self.c.ok("EXPUNGE")
        self.assertEqual(expunges(u), [2])

    def test_set_without_deleted_messages(self):
        ms0 = mailbox_row(self.acc, "INBOX")[2]
        u, t = self.c.ok("UID EXPUNGE %d,%d,99999" % (self.uids[0], self.uids[3]))
        self.assertEqual(expunges(u), [])
        u, t = self.c.ok("UID EXPUNGE 99990:99999")
        self.assertEqual(expunges(u), [])
        self.assertEqual(mailbox_row(self.acc, "INBOX")[2], ms0)
        self.assertEqual(len(rows_of(self.acc, "INBOX")), 6)

    def test_star_and_non_contiguous(self):
        u, t = self.c.ok("UID EXPUNGE %d,%d:*" % (self.uids[1], self.uids[4]))
        self.assertEqual(expunges(u), [2, 4])
        self.assertEqual(sorted(expunged_of(self.acc, "INBOX")), [self.uids[1], self.uids[4]])

    def test_errors(self):
        for cmd in ("UID EXPUNGE", "UID EXPUNGE 1 2", "UID EXPUNGE x", "UID EXPUNGE 0",
                    "EXPUNGE 1", "UID EXPUNGE (1)"):
            u, t = self.c.cmd(cmd)
            self.assertTrue(t.startswith("BAD"), (cmd, t))
        self.assertEqual(len(rows_of(self.acc, "INBOX")), 6)
        c = Raw(self.addr, examine="INBOX")
        u, t = c.cmd("UID EXPUNGE 1:*")
        self.assertTrue(t.startswith("NO [READ-ONLY]"), t)
        c.close()
        c = Raw(self.addr)
        u, t = c.cmd("UID EXPUNGE 1:*")
        self.assertTrue(t.startswith("BAD"), t)  # nothing selected
        c.close()
        self.assertEqual(len(rows_of(self.acc, "INBOX")), 6)

    def test_other_session_and_imaplib(self):
        other = Raw(self.addr, select="INBOX")
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("INBOX")
        typ, data = m.uid("EXPUNGE", "%d:%d" % (self.uids[0], self.uids[2]))
        self.assertEqual(typ, "OK")
        self.assertEqual(m.response("EXPUNGE")[1], [b"2", b"2"])
        m.logout()
        seen = wait_untagged(other, lambda u: len(expunges(u)) >= 2)
        self.assertEqual(expunges(seen), [2, 2])
        other.close()


# -- MOVE ----------------------------------------------------------------------------


class Move(CountersMixin, unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        self.uids = add_messages(self.acc, "INBOX", 6, size=1000)
        self.c = Raw(self.addr, select="INBOX")

    def tearDown(self):
        self.c.close()

    def snapshot(self):
        return (content_count(self.acc), usage(self.acc),
                sorted(r[0] for r in rows_of(self.acc, "INBOX").values()) +
                sorted(r[0] for r in rows_of(self.acc, "Archive").values()))

    def test_move_responses_and_rows(self):
        self.c.ok(r"STORE 2 +FLAGS.SILENT (\Seen \Answered $Work)")
        src_before = rows_of(self.acc, "INBOX")
        (n_content, n_chunks, n_rows), used = content_count(self.acc), usage(self.acc)
        inbox0, archive0 = mailbox_row(self.acc, "INBOX"), mailbox_row(self.acc, "Archive")
        u, t = self.c.cmd("MOVE 2:3 Archive")
        self.assertEqual(t, "OK MOVE completed")
        # COPYUID first, in an untagged OK, then the EXPUNGEs.
        self.assertTrue(u[0].startswith("* OK [COPYUID "), u)
        v, s, d = copyuid(u[0])
        self.assertEqual((v, s, d), (archive0[0], self.uids[1:3], [1, 2]))
        self.assertEqual(u[1:], ["* 2 EXPUNGE", "* 2 EXPUNGE"])
        # The rows moved: content, flags, keywords and internaldate kept.
        src = rows_of(self.acc, "INBOX")
        dst = rows_of(self.acc, "Archive")
        self.assertEqual(sorted(src), [self.uids[i] for i in (0, 3, 4, 5)])
        self.assertEqual(sorted(dst), [1, 2])
        for su, du in zip(s, d):
            old, new = src_before[su], dst[du]
            self.assertEqual((new[0], new[1], new[2], new[4]), (old[0], old[1], old[2], old[4]))
        self.assertEqual(dst[1][2], ["$Work"])
        self.assertEqual(q1("SELECT array_to_string(keywords, ' ') FROM mailboxes"
                            " WHERE account_id = %d AND name = 'Archive'" % self.acc), "$Work")
        # Nothing stored twice, nothing charged or refunded.
        self.assertEqual(content_count(self.acc), (n_content, n_chunks, n_rows))
        self.assertEqual(usage(self.acc), used)
        self.assertEqual(inst.psql("SELECT DISTINCT refs FROM messages WHERE account_id = %d"
                                   % self.acc), [["1"]])
        # One new modseq in each mailbox; the expunges recorded with it.
        inbox1, archive1 = mailbox_row(self.acc, "INBOX"), mailbox_row(self.acc, "Archive")
        self.assertEqual(inbox1[2], inbox0[2] + 1)
        self.assertEqual(archive1[2], archive0[2] + 1)
        self.assertEqual({r[3] for r in dst.values()}, {archive1[2]})
        self.assertEqual(expunged_of(self.acc, "INBOX"), {x: inbox1[2] for x in s})
        self.assertEqual(archive1[1], archive0[1] + 2)  # UIDNEXT
        self.assertEqual((inbox1[3], archive1[3]), (4, 2))
        self.assertEqual((inbox1[4], archive1[4]), (4, 1))  # the \Seen one moved
        self.assertEqual((inbox1[5], archive1[5]), (4000, 2000))
        self.assertCountersExact(self.acc)
        # The session's sequence numbers followed.
        u, t = self.c.ok("FETCH 2 (UID)")
        self.assertIn("UID %d" % self.uids[3], u[0])
        u, t = self.c.ok("NOOP")
        self.assertEqual(expunges(u), [])  # not reported twice

    def test_non_contiguous_sets_and_seq_shifting(self):
        u, t = self.c.ok("MOVE 5,1,3 Archive")
        v, s, d = copyuid(u[0])
        self.assertEqual((s, d), ([self.uids[0], self.uids[2], self.uids[4]], [1, 2, 3]))
        self.assertRegex(u[0], r"\[COPYUID \d+ %d,%d,%d 1:3\]"
                         % (self.uids[0], self.uids[2], self.uids[4]))
        # 1 goes; old 3 is then 2; old 5 is then 3.
        self.assertEqual(expunges(u), [1, 2, 3])
        self.assertEqual(u.index("* 1 EXPUNGE"), 1)
        u, t = self.c.ok("FETCH 1:* (UID)")
        self.assertEqual([int(re.search(r"UID (\d+)", l).group(1)) for l in u],
                         [self.uids[1], self.uids[3], self.uids[5]])
        # UID MOVE, with a UID that does not exist.
        u, t = self.c.ok("UID MOVE %d,%d,99999 Archive" % (self.uids[5], self.uids[1]))
        v, s, d = copyuid(u[0])
        self.assertEqual((s, d), ([self.uids[1], self.uids[5]], [4, 5]))
        self.assertEqual(expunges(u), [1, 2])
        self.assertCountersExact(self.acc)

    def test_atomic_counts(self):
        before = self.snapshot()
        self.c.ok("MOVE 1:* Archive")
        after = self.snapshot()
        self.assertEqual(before, after)  # every message in exactly one mailbox
        self.assertEqual(rows_of(self.acc, "INBOX"), {})
        self.assertEqual(len(rows_of(self.acc, "Archive")), 6)
        # And back again.
        c = Raw(self.addr, select="Archive")
        u, t = c.ok("MOVE 1:* INBOX")
        self.assertEqual(expunges(u), [1] * 6)
        c.close()
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(rows_of(self.acc, "Archive"), {})
        # This session sees them come back (new UIDs).
        u, t = self.c.ok("NOOP")
        self.assertIn("* 6 EXISTS", u)
        self.assertCountersExact(self.acc)

    def test_other_sessions_see_expunge_and_exists(self):
        watch_src = Raw(self.addr, select="INBOX")
        watch_dst = Raw(self.addr, select="Archive")
        self.c.ok("MOVE 2,4 Archive")
        seen = wait_untagged(watch_src, lambda u: len(expunges(u)) >= 2)
        self.assertEqual(expunges(seen), [2, 3])
        seen = wait_untagged(watch_dst, lambda u: "* 2 EXISTS" in u)
        self.assertIn("* 2 EXISTS", seen)
        u, t = watch_dst.ok("FETCH 1:2 (UID)")
        self.assertEqual(len(u), 2)
        watch_src.close()
        watch_dst.close()

    def test_move_at_and_over_quota(self):
        used_bytes, used_msgs = usage(self.acc)
        inst.psql("UPDATE accounts SET quota_bytes = %d, quota_messages = %d"
                  " WHERE account_id = %d" % (used_bytes, used_msgs, self.acc))
        try:
            # Exactly at the quota: a copy does not fit...
            u, t = self.c.cmd("COPY 1 Archive")
            self.assertTrue(t.startswith("NO [OVERQUOTA]"), t)
            # ...a move does: it changes no usage.
            u, t = self.c.ok("MOVE 1:2 Archive")
            self.assertEqual(expunges(u), [1, 1])
            self.assertEqual(usage(self.acc), (used_bytes, used_msgs))
            # Over the quota (lowered by an administrator): still.
            inst.psql("UPDATE accounts SET quota_bytes = 100 WHERE account_id = %d" % self.acc)
            u, t = self.c.ok("MOVE 1 Trash")
            self.assertEqual(len(rows_of(self.acc, "Trash")), 1)
            self.assertEqual(usage(self.acc), (used_bytes, used_msgs))
            self.assertCountersExact(self.acc)
        finally:
            inst.psql("UPDATE accounts SET quota_bytes = 0, quota_messages = 0"
                      " WHERE account_id = %d" % self.acc)

    def test_missing_or_noselect_target(self):
        before = self.snapshot()
        ms = mailbox_row(self.acc, "INBOX")[2]
        inst.psql("INSERT INTO mailboxes (account_id, name, noselect) VALUES (%d, 'Ghost', true)"
                  % self.acc)
        for name in ("Nope", "Ghost", "Archive/Sub"):
            u, t = self.c.cmd("MOVE 1:2 " + name)
            self.assertTrue(t.startswith("NO [TRYCREATE]"), (name, t))
            self.assertEqual(expunges(u), [])
            self.assertFalse([l for l in u if "COPYUID" in l], u)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(mailbox_row(self.acc, "INBOX")[2], ms)
        self.assertEqual(expunged_of(self.acc, "INBOX"), {})

    def test_read_only_source(self):
        c = Raw(self.addr, examine="INBOX")
        before = self.snapshot()
        for cmd in ("MOVE 1 Archive", "UID MOVE 1:* Archive"):
            u, t = c.cmd(cmd)
            self.assertTrue(t.startswith("NO [READ-ONLY]"), t)
        self.assertEqual(self.snapshot(), before)
        c.close()

    def test_same_mailbox(self):
        before = self.snapshot()
        uv, uidnext = mailbox_row(self.acc, "INBOX")[:2]
        u, t = self.c.ok("MOVE 1:2 INBOX")
        v, s, d = copyuid(u[0])
        self.assertEqual((v, s, d), (uv, self.uids[:2], [uidnext, uidnext + 1]))
        # The old UIDs are expunged, the new ones announced (EXISTS)
        # before the tagged OK.
        self.assertEqual(expunges(u), [1, 1])
        self.assertIn("* 6 EXISTS", u)
        self.assertLess(u.index("* 1 EXPUNGE"), u.index("* 6 EXISTS"))
        self.assertEqual(self.snapshot()[:2], before[:2])
        self.assertEqual(sorted(rows_of(self.acc, "INBOX")),
                         self.uids[2:] + [uidnext, uidnext + 1])
        u, t = self.c.ok("FETCH 5:6 (UID)")
        self.assertEqual([int(re.search(r"UID (\d+)", l).group(1)) for l in u],
                         [uidnext, uidnext + 1])
        self.assertCountersExact(self.acc)

    def test_nothing_to_move(self):
        u, t = self.c.ok("UID MOVE 90000:90010 Archive")
        self.assertEqual((u, t), ([], "OK MOVE completed"))

    def test_errors(self):
        before = self.snapshot()
        for cmd in ("MOVE", "MOVE 1", "MOVE 7 Archive", "MOVE 0 Archive", "MOVE 1 Archive x",
                    "MOVE x Archive", 'MOVE 1 ""', "UID MOVE", "UID MOVE 1"):
            u, t = self.c.cmd(cmd)
            self.assertTrue(t.startswith("BAD"), (cmd, t))
        c = Raw(self.addr)
        u, t = c.cmd("MOVE 1 Archive")
        self.assertTrue(t.startswith("BAD"), t)  # nothing selected
        c.close()
        self.assertEqual(self.snapshot(), before)

    def test_keyword_limit_of_target(self):
        # The target cannot list the moved messages' keywords: nothing moves.
        inst.psql("UPDATE mailboxes SET keywords = ARRAY(SELECT 'k' || i FROM"
                  " generate_series(1, 256) i) WHERE account_id = %d AND name = 'Archive'"
                  % self.acc)
        self.c.ok(r"STORE 1 +FLAGS.SILENT (NewOne)")
        before = self.snapshot()
        u, t = self.c.cmd("MOVE 1 Archive")
        self.assertTrue(t.startswith("NO [LIMIT]"), t)
        self.assertEqual(self.snapshot(), before)
        self.c.ok("MOVE 2 Archive")  # no new keyword: fine

    def test_qresync_vanished_and_highestmodseq(self):
        c = Raw(self.addr)
        u, t = c.ok("CAPABILITY")
        if "QRESYNC" not in u[0].split():
            c.close()
            self.skipTest("no QRESYNC in this build")
        c.ok("ENABLE QRESYNC")
        c.ok("SELECT INBOX")
        u, t = c.ok("MOVE 1:2,4 Archive")
        # RFC 6851 §4.4: VANISHED instead of EXPUNGE, after the COPYUID,
        # and the source's new HIGHESTMODSEQ in the tagged OK.
        self.assertTrue(u[0].startswith("* OK [COPYUID "), u)
        self.assertEqual(u[1:], ["* VANISHED %d:%d,%d" % (self.uids[0], self.uids[1],
                                                           self.uids[3])])
        self.assertEqual(t, "OK [HIGHESTMODSEQ %d] MOVE completed"
                         % mailbox_row(self.acc, "INBOX")[2])
        c.close()

    def test_imaplib(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("INBOX")
        typ, data = m.uid("MOVE", "%d:%d" % (self.uids[3], self.uids[4]), "Junk")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.response("EXPUNGE")[1], [b"4", b"4"])
        # imaplib files the untagged "OK [COPYUID ...]" under COPYUID.
        typ, data = m.response("COPYUID")
        v, s, d = copyuid("[COPYUID %s]" % data[-1].decode())
        self.assertEqual((s, d), (self.uids[3:5], [1, 2]))
        self.assertEqual(sorted(rows_of(self.acc, "Junk")), [1, 2])
        m.logout()

if __name__ == "__main__":
    unittest.main()
