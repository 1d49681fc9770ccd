"""STORE, COPY, EXPUNGE, CLOSE and CHECK (RFC 3501 §6.4) end to end: the
responses, what the database holds afterwards (flags, keywords, modseqs,
expunged rows, message references, mailbox counters and account usage) and
what a second session on the same mailbox sees. Messages are inserted with
SQL (APPEND is not needed). Clients: imaplib, and a raw socket where the
exact untagged lines matter."""
import imaplib
import itertools
import re
import time
import unittest

from harness import Instance, RawImap, assert_counters_exact

PASSWORD = "store test 1"
inst = None
_ids = itertools.count(1)


def setUpModule():
    global inst
    inst = Instance()
    inst.start_admind()
    inst.start_imapd()


def tearDownModule():
    inst.close()


# -- helpers -----------------------------------------------------------------


def new_account():
    """A fresh account (INBOX, Drafts, Sent, Trash, Junk, Archive); returns
    (address, account_id)."""
    addr = "user%d@store.test" % next(_ids)
    inst.create_account(addr, PASSWORD)
    acc = int(inst.psql("SELECT account_id FROM addresses WHERE address = '%s'" % addr)[0][0])
    return addr, acc


def q1(sql):
    """The single value of a one-row, one-column query."""
    rows = inst.psql(sql)
    return rows[0][0] if rows else None


def mailbox_id(acc, name):
    return int(q1("SELECT mailbox_id FROM mailboxes WHERE account_id = %d AND name = '%s'"
                  % (acc, name)))


def add_messages(acc, mailbox, count, size=1000, flags=0, keywords=(),
                 internaldate="2021-03-04 05:06:07+00"):
    """Inserts count new messages (own bytes each) into mailbox the way a
    delivery would: UIDs and modseq from mail_allocate, one statement.
    Returns the new UIDs."""
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
        "        m.message_id, %(flags)d, %(kw)s, a.modseq, '%(date)s' FROM m, a"
        " RETURNING uid"
        % {"acc": acc, "mb": mb, "n": count, "size": size, "flags": flags, "kw": kw,
           "date": internaldate})
    return sorted(int(r[0]) for r in rows)


def rows_of(acc, mailbox):
    """{uid: (flags, keywords list, modseq)} of a mailbox."""
    mb = mailbox_id(acc, mailbox)
    out = {}
    for uid, flags, kw, modseq in inst.psql(
            "SELECT uid, flags, array_to_string(keywords, ' '), modseq FROM mailbox_messages"
            " WHERE account_id = %d AND mailbox_id = %d" % (acc, mb)):
        out[int(uid)] = (int(flags), kw.split() if kw else [], int(modseq))
    return out


def highestmodseq(acc, mailbox):
    return int(q1("SELECT highestmodseq FROM mailboxes WHERE account_id = %d AND name = '%s'"
                  % (acc, mailbox)))


class Raw(RawImap):
    """harness.RawImap on this module's instance."""

    def __init__(self, addr=None, select=None, examine=None):
        super().__init__(inst.imap_port, addr, PASSWORD, select, examine, timeout=15)


FETCH_RE = re.compile(r"^\* (\d+) FETCH \((?:UID (\d+) )?FLAGS \(([^)]*)\)\)$")


def fetches(untagged):
    """{seq: (uid or None, set of flags)} of the untagged FETCH lines."""
    out = {}
    for line in untagged:
        m = FETCH_RE.match(line)
        if m:
            seq = int(m.group(1))
            if seq in out:
                raise AssertionError("two FETCH responses for %d: %r" % (seq, untagged))
            out[seq] = (int(m.group(2)) if m.group(2) else None, set(m.group(3).split()))
        elif " FETCH " in line:
            raise AssertionError("unexpected FETCH syntax: " + line)
    return out


def expunges(untagged):
    return [int(l.split()[1]) for l in untagged if re.match(r"^\* \d+ EXPUNGE$", l)]


class CountersMixin:
    def assertCountersExact(self, acc):
        assert_counters_exact(self, inst, acc)


# -- STORE -------------------------------------------------------------------


class Store(CountersMixin, unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        self.uids = add_messages(self.acc, "INBOX", 5)
        self.c = Raw(self.addr, select="INBOX")

    def tearDown(self):
        self.c.close()

    def test_flags_replace_add_remove(self):
        ms0 = highestmodseq(self.acc, "INBOX")
        u, t = self.c.ok(r"STORE 1 FLAGS (\Seen \Flagged)")
        # The messages arrived before this session: \Recent here.
        self.assertEqual(fetches(u), {1: (None, {r"\Seen", r"\Flagged", r"\Recent"})})
        u, t = self.c.ok(r"STORE 1:2 +FLAGS (\Answered)")
        self.assertEqual(fetches(u), {1: (None, {r"\Seen", r"\Flagged", r"\Answered", r"\Recent"}),
                                      2: (None, {r"\Answered", r"\Recent"})})
        u, t = self.c.ok(r"STORE 1 -FLAGS (\Flagged \Draft)")
        self.assertEqual(fetches(u), {1: (None, {r"\Seen", r"\Answered", r"\Recent"})})
        rows = rows_of(self.acc, "INBOX")
        self.assertEqual(rows[self.uids[0]][0], 1 | 2)
        self.assertEqual(rows[self.uids[1]][0], 2)
        # One new modseq per command that changed something.
        self.assertEqual(highestmodseq(self.acc, "INBOX"), ms0 + 3)
        self.assertEqual(rows[self.uids[0]][2], ms0 + 3)
        self.assertEqual(rows[self.uids[1]][2], ms0 + 2)
        self.assertEqual(q1("SELECT unseen FROM mailboxes WHERE account_id = %d AND name = 'INBOX'"
                            % self.acc), "4")
        self.assertCountersExact(self.acc)

    def test_store_that_changes_nothing_takes_no_modseq(self):
        self.c.ok(r"STORE 1:5 +FLAGS (\Seen)")
        ms = highestmodseq(self.acc, "INBOX")
        before = rows_of(self.acc, "INBOX")
        u, t = self.c.ok(r"STORE 1:5 +FLAGS (\Seen)")
        self.assertEqual(len(fetches(u)), 5)  # still reported (§6.4.6)
        u, t = self.c.ok(r"STORE 2 -FLAGS (\Deleted)")
        self.assertEqual(highestmodseq(self.acc, "INBOX"), ms)
        self.assertEqual(rows_of(self.acc, "INBOX"), before)
        self.assertEqual(q1("SELECT unseen FROM mailboxes WHERE account_id = %d AND name = 'INBOX'"
                            % self.acc), "0")

    def test_silent(self):
        u, t = self.c.ok(r"STORE 2:3 +FLAGS.SILENT (\Seen)")
        self.assertEqual(fetches(u), {})
        u, t = self.c.ok(r"STORE 2 FLAGS.SILENT (\Draft)")
        self.assertEqual(fetches(u), {})
        u, t = self.c.ok(r"STORE 3 -FLAGS.SILENT (\Seen)")
        self.assertEqual(fetches(u), {})
        # Nor does the next command report the session's own change.
        u, t = self.c.ok("NOOP")
        self.assertEqual(fetches(u), {})
        rows = rows_of(self.acc, "INBOX")
        self.assertEqual(rows[self.uids[1]][0], 16)
        self.assertEqual(rows[self.uids[2]][0], 0)
        self.assertCountersExact(self.acc)

    def test_own_changes_are_not_reported_twice(self):
        u, t = self.c.ok(r"STORE 4 +FLAGS (\Flagged)")
        self.assertEqual(len([l for l in u if " FETCH " in l]), 1, u)
        u, t = self.c.ok("NOOP")
        self.assertEqual(fetches(u), {})

    def test_uid_store(self):
        uid = self.uids[2]
        u, t = self.c.ok(r"UID STORE %d +FLAGS (\Flagged)" % uid)
        self.assertEqual(fetches(u), {3: (uid, {r"\Flagged", r"\Recent"})})
        # UIDs that do not exist are skipped, no error.
        u, t = self.c.ok(r"UID STORE %d:%d +FLAGS (\Seen)" % (uid, uid + 1000))
        self.assertEqual(sorted(fetches(u)), [3, 4, 5])
        u, t = self.c.ok(r"UID STORE 999999 +FLAGS (\Seen)")
        self.assertEqual(fetches(u), {})
        u, t = self.c.ok(r"UID STORE %d -FLAGS.SILENT (\Seen)" % uid)
        self.assertEqual(fetches(u), {})
        self.assertEqual(rows_of(self.acc, "INBOX")[uid][0], 4)

    def test_star_and_sets(self):
        u, t = self.c.ok(r"STORE 2,4:* +FLAGS (\Seen)")
        self.assertEqual(sorted(fetches(u)), [2, 4, 5])
        u, t = self.c.ok(r"STORE * -FLAGS (\Seen)")
        self.assertEqual(sorted(fetches(u)), [5])

    def test_flags_without_parentheses(self):
        u, t = self.c.ok(r"STORE 1 +FLAGS \Seen \Draft $Label1")
        self.assertEqual(fetches(u), {1: (None, {r"\Seen", r"\Draft", r"\Recent", "$Label1"})})
        u, t = self.c.ok(r"STORE 1 -FLAGS \Draft")
        self.assertEqual(fetches(u)[1][1], {r"\Seen", r"\Recent", "$Label1"})

    def test_keywords(self):
        u, t = self.c.ok(r"STORE 1 +FLAGS ($Junk Work)")
        self.assertEqual(fetches(u), {1: (None, {r"\Recent", "$Junk", "Work"})})
        # The mailbox learnt new keywords: FLAGS and PERMANENTFLAGS again.
        flags_line = [l for l in u if l.startswith("* FLAGS ")]
        self.assertEqual(len(flags_line), 1, u)
        self.assertIn("$Junk", flags_line[0])
        self.assertIn("Work", flags_line[0])
        perm = [l for l in u if "PERMANENTFLAGS" in l]
        self.assertEqual(len(perm), 1, u)
        self.assertIn("\\*", perm[0])
        # Case-insensitive: the mailbox's spelling wins, no duplicate.
        u, t = self.c.ok(r"STORE 2 +FLAGS ($junk)")
        self.assertEqual(fetches(u), {2: (None, {r"\Recent", "$Junk"})})
        self.assertFalse([l for l in u if l.startswith("* FLAGS ")], u)
        self.assertEqual(q1("SELECT array_to_string(keywords, ' ') FROM mailboxes"
                            " WHERE account_id = %d AND name = 'INBOX'" % self.acc), "$Junk Work")
        u, t = self.c.ok(r"STORE 1 -FLAGS ($JUNK)")
        self.assertEqual(fetches(u), {1: (None, {r"\Recent", "Work"})})
        u, t = self.c.ok(r"STORE 1 FLAGS (\Seen Other)")
        self.assertEqual(fetches(u), {1: (None, {r"\Seen", r"\Recent", "Other"})})
        rows = rows_of(self.acc, "INBOX")
        self.assertEqual(rows[self.uids[0]][:2], (1, ["Other"]))
        self.assertEqual(rows[self.uids[1]][:2], (0, ["$Junk"]))
        # Replacing with the same set in another case changes nothing.
        ms = highestmodseq(self.acc, "INBOX")
        self.c.ok(r"STORE 1 FLAGS (OTHER \Seen)")
        self.assertEqual(highestmodseq(self.acc, "INBOX"), ms)
        # A later SELECT lists them (with imaplib, as a real client).
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("INBOX")
        flags = m.response("FLAGS")[1][0].decode()
        for k in ("$Junk", "Work", "Other"):
            self.assertIn(k, flags)
        typ, data = m.store("2", "-FLAGS", "($Junk)")
        self.assertEqual(typ, "OK")
        self.assertNotIn(b"$Junk", data[0])
        m.logout()

    def test_keyword_limits(self):
        # Per message (IMAP_MAX_KEYWORDS 64): the command itself...
        u, t = self.c.cmd("STORE 1 +FLAGS (%s)" % " ".join("k%d" % i for i in range(65)))
        self.assertTrue(t.startswith("BAD"), t)
        # ...or what the message would end up with.
        self.c.ok("STORE 1 +FLAGS (%s)" % " ".join("a%d" % i for i in range(60)))
        u, t = self.c.cmd("STORE 1 +FLAGS (%s)" % " ".join("b%d" % i for i in range(10)))
        self.assertTrue(t.startswith("NO [LIMIT]"), t)
        self.assertEqual(len(rows_of(self.acc, "INBOX")[self.uids[0]][1]), 60)
        # Per mailbox (256).
        for seq, p in ((2, "c"), (3, "d"), (4, "e")):
            self.c.ok("STORE %d +FLAGS (%s)" % (seq, " ".join("%s%d" % (p, i) for i in range(60))))
        ms = highestmodseq(self.acc, "INBOX")
        u, t = self.c.cmd("STORE 5 +FLAGS (%s)" % " ".join("f%d" % i for i in range(20)))
        self.assertTrue(t.startswith("NO [LIMIT]"), t)
        self.assertEqual(rows_of(self.acc, "INBOX")[self.uids[4]][1], [])
        self.assertEqual(highestmodseq(self.acc, "INBOX"), ms)
        # Known keywords are still fine.
        self.c.ok("STORE 5 +FLAGS (a1 c2)")

    def test_recent_and_bad_flags_refused(self):
        for cmd in (r"STORE 1 +FLAGS (\Recent)", r"STORE 1 FLAGS (\Seen \Recent)",
                    r"STORE 1 +FLAGS (\Bogus)", r"STORE 1 +FLAGS (a(b)",
                    r'STORE 1 +FLAGS ("quoted")', r"STORE 1 FOOFLAGS (\Seen)",
                    r"STORE 1 FLAGS.LOUD (\Seen)", r"STORE 1 +FLAGS", r"STORE 1",
                    r"STORE (\Seen) FLAGS 1", r"STORE 1 +FLAGS (\Seen) (\Draft)"):
            u, t = self.c.cmd(cmd)
            self.assertTrue(t.startswith("BAD"), (cmd, t))
        self.assertEqual({r[0] for r in rows_of(self.acc, "INBOX").values()}, {0})

    def test_invalid_sequence_numbers(self):
        for cmd in (r"STORE 6 +FLAGS (\Seen)", r"STORE 1:6 +FLAGS (\Seen)",
                    r"STORE 0 +FLAGS (\Seen)", r"STORE 1,,2 +FLAGS (\Seen)",
                    r"STORE x +FLAGS (\Seen)"):
            u, t = self.c.cmd(cmd)
            self.assertTrue(t.startswith("BAD"), (cmd, t))
        self.assertEqual({r[0] for r in rows_of(self.acc, "INBOX").values()}, {0})

    def test_read_only(self):
        c = Raw(self.addr, examine="INBOX")
        ms = highestmodseq(self.acc, "INBOX")
        u, t = c.cmd(r"STORE 1 +FLAGS (\Seen)")
        self.assertTrue(t.startswith("NO [READ-ONLY]"), t)
        u, t = c.cmd(r"UID STORE 1:* +FLAGS (\Deleted)")
        self.assertTrue(t.startswith("NO [READ-ONLY]"), t)
        u, t = c.cmd("EXPUNGE")
        self.assertTrue(t.startswith("NO [READ-ONLY]"), t)
        self.assertEqual(highestmodseq(self.acc, "INBOX"), ms)
        c.close()

    def test_not_selected(self):
        c = Raw(self.addr)
        for cmd in (r"STORE 1 +FLAGS (\Seen)", "COPY 1 Archive", "EXPUNGE", "CLOSE", "CHECK"):
            u, t = c.cmd(cmd)
            self.assertTrue(t.startswith("BAD"), (cmd, t))
        c.close()

    def test_with_imaplib(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("INBOX")
        typ, data = m.store("1:2", "+FLAGS", r"(\Seen)")
        self.assertEqual(typ, "OK")
        self.assertEqual(len(data), 2)
        self.assertIn(r"\Seen", data[0].decode())
        typ, data = m.uid("STORE", str(self.uids[4]), "+FLAGS.SILENT", r"(\Flagged)")
        self.assertEqual(typ, "OK")
        self.assertEqual(data, [None])
        self.assertEqual(m.check()[0], "OK")
        m.logout()
        self.assertCountersExact(self.acc)


# -- COPY --------------------------------------------------------------------


class Copy(CountersMixin, unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        self.uids = add_messages(self.acc, "INBOX", 4, size=1000,
                                 internaldate="2020-01-02 03:04:05+00")
        self.c = Raw(self.addr, select="INBOX")

    def tearDown(self):
        self.c.close()

    def nmessages(self):
        return int(q1("SELECT count(*) FROM messages WHERE account_id = %d" % self.acc))

    def test_copy_to_another_mailbox(self):
        self.c.ok(r"STORE 1 +FLAGS.SILENT (\Seen \Flagged $Work)")
        self.c.ok(r"STORE 3 +FLAGS.SILENT (\Answered)")
        n0 = self.nmessages()
        ms0 = highestmodseq(self.acc, "Archive")
        u, t = self.c.ok("COPY 1:3 Archive")
        self.assertRegex(t, r"^OK \[COPYUID \d+ \d+:\d+ 1:3\] COPY completed$")  # RFC 4315
        self.assertEqual(self.nmessages(), n0)  # bytes are not duplicated
        src = rows_of(self.acc, "INBOX")
        dst = rows_of(self.acc, "Archive")
        self.assertEqual(sorted(dst), [1, 2, 3])
        for i, uid in enumerate(self.uids[:3]):
            self.assertEqual(dst[i + 1][:2], src[uid][:2])  # flags and keywords kept
            self.assertEqual(dst[i + 1][2], ms0 + 1)       # one modseq for the batch
        self.assertEqual(highestmodseq(self.acc, "Archive"), ms0 + 1)
        same = inst.psql(
            "SELECT s.message_id = d.message_id, s.internaldate = d.internaldate, m.refs"
            " FROM mailbox_messages s JOIN mailbox_messages d"
            "   ON d.account_id = s.account_id AND d.mailbox_id = %d AND d.uid = s.uid"
            " JOIN messages m ON m.account_id = s.account_id AND m.message_id = s.message_id"
            " WHERE s.account_id = %d AND s.mailbox_id = %d"
            % (mailbox_id(self.acc, "Archive"), self.acc, mailbox_id(self.acc, "INBOX")))
        self.assertEqual(sorted(same), [["t", "t", "2"]] * 3)
        self.assertEqual(q1("SELECT array_to_string(keywords, ' ') FROM mailboxes"
                            " WHERE account_id = %d AND name = 'Archive'" % self.acc), "$Work")
        self.assertEqual(q1("SELECT used_bytes FROM accounts WHERE account_id = %d" % self.acc),
                         "7000")
        self.assertEqual(q1("SELECT uidnext FROM mailboxes WHERE account_id = %d"
                            " AND name = 'Archive'" % self.acc), "4")
        self.assertCountersExact(self.acc)
        # The copies are \Recent for the session that selects the target.
        c2 = Raw(self.addr, select="Archive")
        self.assertIn("* 3 EXISTS", c2.select_lines)
        self.assertIn("* 3 RECENT", c2.select_lines)
        flags = [l for l in c2.select_lines if l.startswith("* FLAGS")][0]
        self.assertIn("$Work", flags)
        c2.close()

    def test_uid_copy_and_utf7_name(self):
        inst.psql("INSERT INTO mailboxes (account_id, name) VALUES (%d, 'Entwürfe')" % self.acc)
        u, t = self.c.ok("UID COPY %d,%d Entw&APw-rfe" % (self.uids[1], self.uids[3]))
        self.assertEqual(sorted(rows_of(self.acc, "Entwürfe")), [1, 2])
        # UIDs that are gone: nothing to do, OK.
        u, t = self.c.ok("UID COPY 90000:90010 Archive")
        self.assertEqual(rows_of(self.acc, "Archive"), {})
        self.assertCountersExact(self.acc)

    def test_copy_to_same_mailbox(self):
        n0 = self.nmessages()
        u, t = self.c.ok("COPY 1:2 INBOX")
        # The new messages are announced before the tagged reply.
        self.assertIn("* 6 EXISTS", u)
        rows = rows_of(self.acc, "INBOX")
        self.assertEqual(sorted(rows), self.uids + [self.uids[-1] + 1, self.uids[-1] + 2])
        self.assertEqual(self.nmessages(), n0)
        self.assertEqual(sorted(r[0] for r in inst.psql(
            "SELECT refs FROM messages WHERE account_id = %d" % self.acc)), ["1", "1", "2", "2"])
        self.assertCountersExact(self.acc)
        # The copies can be addressed at once.
        u, t = self.c.ok(r"STORE 6 +FLAGS (\Seen)")
        self.assertIn(6, fetches(u))

    def test_copy_to_missing_mailbox(self):
        for name in ("Nope", "Archive/Nope", "inbox/x"):
            u, t = self.c.cmd("COPY 1 " + name)
            self.assertTrue(t.startswith("NO [TRYCREATE]"), (name, t))
        inst.psql("INSERT INTO mailboxes (account_id, name, noselect) VALUES (%d, 'Ghost', true)"
                  % self.acc)
        u, t = self.c.cmd("COPY 1 Ghost")
        self.assertTrue(t.startswith("NO [TRYCREATE]"), t)
        # imaplib sees the NO as a result, not an exception.
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("INBOX")
        typ, data = m.copy("1", "Nowhere")
        self.assertEqual(typ, "NO")
        self.assertIn(b"TRYCREATE", data[0])
        m.logout()
        self.assertCountersExact(self.acc)

    def test_copy_over_quota(self):
        inst.psql("UPDATE accounts SET quota_bytes = 5500 WHERE account_id = %d" % self.acc)
        try:
            n0 = self.nmessages()
            before = inst.psql("SELECT uidnext, highestmodseq, messages FROM mailboxes"
                               " WHERE account_id = %d AND name = 'Archive'" % self.acc)
            u, t = self.c.cmd("COPY 1:2 Archive")  # 4000 + 2000 > 5500
            self.assertTrue(t.startswith("NO [OVERQUOTA]"), t)
            self.assertEqual(rows_of(self.acc, "Archive"), {})
            self.assertEqual(inst.psql("SELECT uidnext, highestmodseq, messages FROM mailboxes"
                                       " WHERE account_id = %d AND name = 'Archive'" % self.acc),
                             before)
            self.assertEqual(q1("SELECT used_bytes FROM accounts WHERE account_id = %d"
                                % self.acc), "4000")
            self.assertEqual(self.nmessages(), n0)
            self.assertCountersExact(self.acc)
            # One still fits.
            self.c.ok("COPY 1 Archive")
            self.assertEqual(sorted(rows_of(self.acc, "Archive")), [1])
        finally:
            inst.psql("UPDATE accounts SET quota_bytes = 0 WHERE account_id = %d" % self.acc)

    def test_copy_errors(self):
        for cmd in ("COPY 5 Archive", "COPY 0 Archive", "COPY 1", "COPY 1 Archive extra",
                    "COPY 1 \"\"", "COPY (1) Archive"):
            u, t = self.c.cmd(cmd)
            self.assertTrue(t.startswith("BAD"), (cmd, t))
        self.assertEqual(rows_of(self.acc, "Archive"), {})

    def test_copy_from_read_only_mailbox(self):
        c = Raw(self.addr, examine="INBOX")
        c.ok("COPY 1:* Archive")  # reading is allowed; the target changes
        self.assertEqual(sorted(rows_of(self.acc, "Archive")), [1, 2, 3, 4])
        c.close()
        self.assertCountersExact(self.acc)


# -- EXPUNGE, CLOSE, CHECK ---------------------------------------------------


class Expunge(CountersMixin, unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        self.uids = add_messages(self.acc, "INBOX", 5, size=100)
        self.c = Raw(self.addr, select="INBOX")

    def tearDown(self):
        self.c.close()

    def test_expunge_shifts_sequence_numbers(self):
        self.c.ok(r"STORE 2,4 +FLAGS.SILENT (\Deleted)")
        self.c.ok(r"STORE 1 +FLAGS.SILENT (\Seen)")
        ms0 = highestmodseq(self.acc, "INBOX")
        u, t = self.c.ok("EXPUNGE")
        self.assertEqual([l for l in u if "EXPUNGE" in l], ["* 2 EXPUNGE", "* 3 EXPUNGE"])
        self.assertEqual(sorted(rows_of(self.acc, "INBOX")),
                         [self.uids[0], self.uids[2], self.uids[4]])
        self.assertEqual(highestmodseq(self.acc, "INBOX"), ms0 + 1)
        self.assertEqual(sorted(inst.psql(
            "SELECT uid, modseq FROM expunged WHERE account_id = %d" % self.acc)),
            sorted([[str(self.uids[1]), str(ms0 + 1)], [str(self.uids[3]), str(ms0 + 1)]]))
        # Messages no mailbox holds are gone; usage refunded.
        self.assertEqual(q1("SELECT count(*) FROM messages WHERE account_id = %d" % self.acc), "3")
        self.assertEqual(q1("SELECT used_bytes FROM accounts WHERE account_id = %d" % self.acc),
                         "300")
        self.assertEqual(inst.psql("SELECT messages, unseen FROM mailboxes"
                                   " WHERE account_id = %d AND name = 'INBOX'" % self.acc),
                         [["3", "2"]])
        self.assertCountersExact(self.acc)
        # Sequence numbers follow: 3 is now the old 5.
        u, t = self.c.ok(r"STORE 3 +FLAGS (\Flagged)")
        self.assertEqual(fetches(u), {3: (None, {r"\Flagged", r"\Recent"})})
        self.assertEqual(rows_of(self.acc, "INBOX")[self.uids[4]][0], 4)

    def test_expunge_keeps_copies_elsewhere(self):
        self.c.ok("COPY 1 Trash")
        self.c.ok(r"STORE 1 +FLAGS.SILENT (\Deleted)")
        u, t = self.c.ok("EXPUNGE")
        self.assertEqual(expunges(u), [1])
        self.assertEqual(q1("SELECT count(*) FROM messages WHERE account_id = %d" % self.acc), "5")
        self.assertEqual(q1("SELECT refs FROM messages m JOIN mailbox_messages mm USING"
                            " (account_id, message_id) WHERE mm.account_id = %d"
                            " AND mm.mailbox_id = %d" % (self.acc, mailbox_id(self.acc, "Trash"))),
                         "1")
        self.assertCountersExact(self.acc)

    def test_expunge_nothing(self):
        ms0 = highestmodseq(self.acc, "INBOX")
        u, t = self.c.ok("EXPUNGE")
        self.assertEqual(expunges(u), [])
        self.assertEqual(highestmodseq(self.acc, "INBOX"), ms0)
        u, t = self.c.cmd("EXPUNGE now")
        self.assertTrue(t.startswith("BAD"), t)

    def test_expunge_with_imaplib(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("INBOX")
        m.store("1,5", "+FLAGS", r"(\Deleted)")
        typ, data = m.expunge()
        self.assertEqual(typ, "OK")
        # 1 goes, then the old 5 is 4.
        self.assertEqual(data, [b"1", b"4"])
        m.logout()

    def test_close_expunges_silently(self):
        self.c.ok(r"STORE 1,3 +FLAGS.SILENT (\Deleted)")
        # Another session's change is pending too: still nothing may come
        # before CLOSE's tagged OK.
        other = Raw(self.addr, select="INBOX")
        other.ok(r"STORE 5 +FLAGS (\Flagged)")
        other.close()
        u, t = self.c.cmd("CLOSE")
        self.assertEqual((u, t), ([], "OK CLOSE completed"))
        self.assertEqual(sorted(rows_of(self.acc, "INBOX")),
                         [self.uids[1], self.uids[3], self.uids[4]])
        self.assertEqual(q1("SELECT count(*) FROM expunged WHERE account_id = %d" % self.acc), "2")
        self.assertCountersExact(self.acc)
        # Back in the authenticated state.
        u, t = self.c.cmd(r"STORE 1 +FLAGS (\Seen)")
        self.assertTrue(t.startswith("BAD"), t)
        u, t = self.c.cmd("CLOSE")
        self.assertTrue(t.startswith("BAD"), t)
        self.c.ok("SELECT INBOX")

    def test_close_read_only_expunges_nothing(self):
        self.c.ok(r"STORE 2 +FLAGS.SILENT (\Deleted)")
        c = Raw(self.addr, examine="INBOX")
        u, t = c.cmd("CLOSE")
        self.assertEqual((u, t), ([], "OK CLOSE completed"))
        self.assertEqual(len(rows_of(self.acc, "INBOX")), 5)
        u, t = c.cmd("NOOP")
        self.assertTrue(t.startswith("OK"), t)
        c.close()

    def test_close_with_imaplib(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login(self.addr, PASSWORD)
        m.select("INBOX")
        m.store("2", "+FLAGS", r"(\Deleted)")
        self.assertEqual(m.close()[0], "OK")
        self.assertEqual(m.state, "AUTH")
        m.logout()
        self.assertEqual(len(rows_of(self.acc, "INBOX")), 4)

    def test_check(self):
        u, t = self.c.ok("CHECK")
        self.assertEqual(t, "OK CHECK completed")
        u, t = self.c.cmd("CHECK now")
        self.assertTrue(t.startswith("BAD"), t)


# -- two sessions on one mailbox ---------------------------------------------


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


class TwoSessions(CountersMixin, unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        self.uids = add_messages(self.acc, "INBOX", 5, size=100)
        self.a = Raw(self.addr, select="INBOX")
        self.b = Raw(self.addr, select="INBOX")

    def tearDown(self):
        self.a.close()
        self.b.close()

    def test_flag_change_reaches_other_session(self):
        self.a.ok(r"STORE 2 +FLAGS.SILENT (\Flagged \Deleted $Later)")
        seen = wait_untagged(self.b, lambda u: 2 in fetches(u))
        uid, flags = fetches(seen)[2]
        self.assertEqual(uid, self.uids[1])
        self.assertTrue({r"\Flagged", r"\Deleted", "$Later"} <= flags, flags)
        # B got the messages first: they are \Recent for B, not for A.
        self.assertNotIn(r"\Recent", flags)
        # Reported once.
        u, t = self.b.ok("NOOP")
        self.assertEqual(fetches(u), {})

    def test_expunge_reaches_other_session_but_not_during_store(self):
        self.a.ok(r"STORE 2,4 +FLAGS.SILENT (\Deleted)")
        u, t = self.a.ok("EXPUNGE")
        self.assertEqual(expunges(u), [2, 3])
        time.sleep(0.3)  # let the notification arrive wherever B runs
        # RFC 3501 §7.4.1: no EXPUNGE during STORE; B's sequence numbers
        # are still its own: 5 is the old 5, 4 (expunged) just disappears.
        u, t = self.b.ok(r"STORE 4:5 +FLAGS (\Seen)")
        self.assertEqual(expunges(u), [])
        self.assertEqual(sorted(fetches(u)), [5])
        self.assertEqual(rows_of(self.acc, "INBOX")[self.uids[4]][0], 1)
        seen = wait_untagged(self.b, lambda u: len(expunges(u)) >= 2)
        self.assertEqual(expunges(seen), [2, 3])
        # Now 3 is the old 5 for B as well.
        u, t = self.b.ok(r"STORE 3 -FLAGS (\Seen)")
        self.assertEqual(sorted(fetches(u)), [3])
        self.assertEqual(rows_of(self.acc, "INBOX")[self.uids[4]][0], 0)
        self.assertCountersExact(self.acc)

    def test_silent_store_still_reports_foreign_changes(self):
        self.a.ok(r"STORE 1 +FLAGS (\Flagged)")
        time.sleep(0.1)
        u, t = self.b.ok(r"STORE 1 +FLAGS.SILENT (\Seen)")
        f = fetches(u)
        self.assertEqual(sorted(f), [1])
        self.assertTrue({r"\Flagged", r"\Seen"} <= f[1][1], f)
        u, t = self.b.ok("NOOP")
        self.assertEqual(fetches(u), {})

    def test_copy_into_selected_mailbox_of_other_session(self):
        self.a.ok("COPY 1:2 INBOX")
        seen = wait_untagged(self.b, lambda u: "* 7 EXISTS" in u)
        self.assertIn("* 7 EXISTS", seen)

    def test_concurrent_stores_keep_counters_exact(self):
        for i in range(5):
            self.a.ok(r"STORE 1:* +FLAGS.SILENT (\Seen)")
            self.b.ok(r"STORE 2:4 -FLAGS.SILENT (\Seen)")
        self.assertCountersExact(self.acc)
        self.assertEqual(q1("SELECT unseen FROM mailboxes WHERE account_id = %d AND name = 'INBOX'"
                            % self.acc), "3")


if __name__ == "__main__":
    unittest.main()
