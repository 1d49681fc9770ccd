"""Consistency between sessions when the pre-reply sync is folded into a
command's own transaction or skipped (docs/architecture.md, "Consistency
between sessions"): a change that session B committed on another imapd
instance (another host, as far as the protocol goes) before session A sends
its next command is in the reply to that very command, for each command
whose sync changed -- STORE, UID STORE, EXPUNGE, UID EXPUNGE, APPEND into
the selected mailbox, FETCH and UID FETCH (the sync rides in their request;
FETCH's in the request of its last batch, after the read, with its answer
reported after the FETCH responses), APPEND elsewhere
and a failing STORE (it runs on its own), the first command after SELECT
(whose view is fresh and skips its own sync). And the mailbox counters the
functions of schema/0015 now keep themselves match a recount."""
import imaplib
import re
import socket
import threading
import unittest

from harness import Instance

PASSWORD = "consistency pass 1"
inst = None
second_port = None
_n = [0]


def setUpModule():
    global inst, second_port
    inst = Instance()
    inst.start_admind()
    inst.start_imapd()
    second_port = inst.start_second_imapd()


def tearDownModule():
    inst.close()


def new_account(messages=5):
    """A fresh account with messages in INBOX (appended through IMAP);
    returns its address."""
    _n[0] += 1
    addr = "c%d@consistency.test" % _n[0]
    inst.create_account(addr, PASSWORD)
    c = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    c.login(addr, PASSWORD)
    for i in range(messages):
        c.append("INBOX", None, None, msg(i))
    c.logout()
    return addr


def msg(i):
    return (b"From: a@consistency.test\r\nSubject: m %d\r\n\r\nbody %d\r\n" % (i, i))


class Raw:
    """Session A: a raw client, so every untagged line of a reply is seen."""

    def __init__(self, addr):
        self.sock = socket.create_connection(("127.0.0.1", inst.imap_port), timeout=15)
        self.buf = b""
        self.tag = 0
        self.line()
        self.cmd("LOGIN %s \"%s\"" % (addr, PASSWORD))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def cmd(self, text, literal=None, ok=True):
        """Sends one command; returns (untagged lines, tagged line)."""
        self.tag += 1
        tag = "a%d" % self.tag
        if literal is None:
            self.sock.sendall(("%s %s\r\n" % (tag, text)).encode())
        else:
            self.sock.sendall(("%s %s {%d+}\r\n" % (tag, text, len(literal))).encode()
                              + literal + b"\r\n")
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + " "):
                if ok:
                    assert line.startswith(tag + " OK"), (text, line, untagged)
                return untagged, line
            untagged.append(line)

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, EOFError):
            pass
        self.sock.close()


def other(addr):
    """Session B, on the second imapd instance, INBOX selected."""
    b = imaplib.IMAP4("127.0.0.1", second_port)
    b.login(addr, PASSWORD)
    b.select("INBOX")
    return b


def has(lines, pattern):
    return any(re.search(pattern, ln) for ln in lines)


class NextReply(unittest.TestCase):
    def setUp(self):
        self.addr = new_account()
        self.a = Raw(self.addr)
        self.a.cmd("SELECT INBOX")
        self.b = other(self.addr)

    def tearDown(self):
        self.a.close()
        self.b.logout()

    def test_first_command_after_select(self):
        # The SELECT's view is fresh for the SELECT only: a NOOP right
        # after must still ask.
        self.b.append("INBOX", None, None, msg(100))
        untagged, _ = self.a.cmd("NOOP")
        self.assertTrue(has(untagged, r"^\* 6 EXISTS$"), untagged)

    def test_store_reports_others_flag_change(self):
        self.b.store("2", "+FLAGS", "(\\Answered)")
        untagged, _ = self.a.cmd("STORE 1 +FLAGS (\\Flagged)")
        self.assertTrue(has(untagged, r"^\* 1 FETCH \(FLAGS \(\\Flagged( \\Recent)?\)\)$"), untagged)
        self.assertTrue(has(untagged, r"^\* 2 FETCH \(UID 2 FLAGS \(\\Answered( \\Recent)?\)\)$"), untagged)
        # Reported once: the next command has nothing more to say of it.
        untagged, _ = self.a.cmd("NOOP")
        self.assertFalse(has(untagged, r"FETCH"), untagged)

    def test_store_holds_expunge_uid_store_reports_it(self):
        self.b.store("3", "+FLAGS", "(\\Deleted)")
        self.b.expunge()
        self.b.append("INBOX", None, None, msg(101))
        # STORE may not report the expunge (RFC 3501 §7.4.1), but the new
        # message; UID STORE must report both.
        untagged, _ = self.a.cmd("STORE 1 +FLAGS.SILENT (\\Flagged)")
        self.assertFalse(has(untagged, r"EXPUNGE"), untagged)
        self.assertTrue(has(untagged, r"^\* 6 EXISTS$"), untagged)
        untagged, _ = self.a.cmd("UID STORE 1 -FLAGS.SILENT (\\Flagged)")
        self.assertTrue(has(untagged, r"^\* 3 EXPUNGE$"), untagged)

    def test_uid_store_sees_expunge_and_new_mail(self):
        self.b.store("5", "+FLAGS", "(\\Deleted)")
        self.b.expunge()
        self.b.append("INBOX", None, None, msg(102))
        untagged, _ = self.a.cmd("UID STORE 1 +FLAGS (\\Seen)")
        self.assertTrue(has(untagged, r"^\* 5 EXPUNGE$"), untagged)
        self.assertTrue(has(untagged, r"^\* 5 EXISTS$"), untagged)

    def test_expunge_reports_others_changes(self):
        self.a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.b.store("4", "+FLAGS", "(\\Flagged)")
        self.b.append("INBOX", None, None, msg(103))
        untagged, _ = self.a.cmd("EXPUNGE")
        self.assertEqual([ln for ln in untagged if "EXPUNGE" in ln], ["* 1 EXPUNGE"])
        # After our expunge message 4 is sequence 3, and B's append is 5.
        self.assertTrue(has(untagged, r"^\* 3 FETCH \(UID 4 FLAGS \(\\Flagged( \\Recent)?\)\)$"), untagged)
        self.assertTrue(has(untagged, r"^\* 5 EXISTS$"), untagged)

    def test_uid_expunge_reports_others_expunge(self):
        self.a.cmd("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.b.store("2", "+FLAGS", "(\\Deleted)")
        self.b.expunge()
        untagged, _ = self.a.cmd("UID EXPUNGE 1")
        self.assertEqual([ln for ln in untagged if "EXPUNGE" in ln],
                         ["* 1 EXPUNGE", "* 1 EXPUNGE"])
        untagged, _ = self.a.cmd("NOOP")
        self.assertEqual(untagged, [])

    def test_append_to_selected_reports_others_changes(self):
        self.b.store("1", "+FLAGS", "(\\Answered)")
        untagged, tagged = self.a.cmd("APPEND INBOX", literal=msg(104))
        self.assertIn("[APPENDUID ", tagged)
        self.assertTrue(has(untagged, r"^\* 6 EXISTS$"), untagged)
        self.assertTrue(has(untagged, r"^\* 1 FETCH \(UID 1 FLAGS \(\\Answered( \\Recent)?\)\)$"), untagged)
        untagged, _ = self.a.cmd("NOOP")
        self.assertEqual(untagged, [])

    def test_append_elsewhere_reports_others_changes(self):
        self.b.store("1", "+FLAGS", "(\\Answered)")
        untagged, _ = self.a.cmd("APPEND Drafts", literal=msg(105))
        self.assertFalse(has(untagged, r"EXISTS"), untagged)
        self.assertTrue(has(untagged, r"^\* 1 FETCH \(UID 1 FLAGS \(\\Answered( \\Recent)?\)\)$"), untagged)

    def test_failed_store_still_reports(self):
        # The STORE fails in the database (too many keywords in the
        # mailbox: its request, sync included, rolls back); the reply
        # still carries B's change, from a sync of its own.
        for k in range(4):
            kws = " ".join("k%d_%d" % (k, i) for i in range(60))
            self.a.cmd("STORE %d +FLAGS.SILENT (%s)" % (k + 1, kws))
        self.b.append("INBOX", None, None, msg(106))
        kws = " ".join("k9_%d" % i for i in range(60))
        untagged, tagged = self.a.cmd("STORE 5 +FLAGS (%s)" % kws, ok=False)
        self.assertIn(" NO [LIMIT]", tagged)
        self.assertTrue(has(untagged, r"^\* 6 EXISTS$"), untagged)

    # FETCH and UID FETCH: the sync rides in the last batch's request,
    # after the rows are read; what it finds is reported after every
    # FETCH response (which cannot then be newer than the report).

    def test_fetch_flags_reports_others_changes(self):
        self.b.store("2", "+FLAGS", "(\\Answered)")
        self.b.store("4", "+FLAGS", "(\\Deleted)")
        self.b.expunge()
        self.b.append("INBOX", None, None, msg(107))
        untagged, _ = self.a.cmd("FETCH 1:* (UID FLAGS)")
        # The expunge waits (RFC 3501 §7.4.1); the view keeps 5 messages
        # and UID 4 is left out of the data (its row is gone).
        self.assertFalse(has(untagged, r"EXPUNGE"), untagged)
        self.assertTrue(has(untagged, r"^\* 2 FETCH \(UID 2 FLAGS \(\\Answered( \\Recent)?\)\)$"),
                        untagged)
        exists = [i for i, ln in enumerate(untagged) if ln == "* 6 EXISTS"]
        last = [i for i, ln in enumerate(untagged) if ln.startswith("* 5 FETCH (UID 5 FLAGS")]
        self.assertEqual(len(exists), 1, untagged)
        self.assertEqual(len(last), 1, untagged)
        self.assertLess(last[0], exists[0], untagged)
        untagged, _ = self.a.cmd("NOOP")
        self.assertEqual(untagged, ["* 4 EXPUNGE"])

    def test_uid_fetch_reports_others_expunge(self):
        self.b.store("3", "+FLAGS", "(\\Deleted)")
        self.b.expunge()
        self.b.append("INBOX", None, None, msg(108))
        untagged, _ = self.a.cmd("UID FETCH 1:* (FLAGS)")
        self.assertTrue(has(untagged, r"^\* 3 EXPUNGE$"), untagged)
        self.assertTrue(has(untagged, r"^\* 5 EXISTS$"), untagged)
        untagged, _ = self.a.cmd("NOOP")
        self.assertEqual(untagged, [])

    def test_fetch_body_reports_others_changes(self):
        # BODY.PEEK[] loads the octets in a request of its own after the
        # batch that carried the sync.
        self.b.store("1", "+FLAGS", "(\\Flagged)")
        self.b.append("INBOX", None, None, msg(109))
        untagged, _ = self.a.cmd("FETCH 3 (BODY.PEEK[] BODYSTRUCTURE)")
        self.assertTrue(has(untagged, r"^\* 3 FETCH \(BODY\[\] \{\d+\}$"), untagged)
        self.assertTrue(has(untagged, r"^body 2$"), untagged)
        self.assertTrue(has(untagged, r"^ BODYSTRUCTURE \("), untagged)
        self.assertTrue(has(untagged, r"^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged( \\Recent)?\)\)$"),
                        untagged)
        self.assertTrue(has(untagged, r"^\* 6 EXISTS$"), untagged)
        untagged, _ = self.a.cmd("NOOP")
        self.assertEqual(untagged, [])

    def test_fetch_setting_seen_reports_own_change_once(self):
        self.b.store("5", "+FLAGS", "(\\Answered)")
        untagged, _ = self.a.cmd("FETCH 2 (BODY[TEXT])")
        self.assertTrue(has(untagged, r"^\* 2 FETCH \(BODY\[TEXT\] \{\d+\}$"), untagged)
        self.assertTrue(has(untagged, r"FLAGS \(\\Seen( \\Recent)?\)\)$"), untagged)
        self.assertTrue(has(untagged, r"^\* 5 FETCH \(UID 5 FLAGS \(\\Answered( \\Recent)?\)\)$"),
                        untagged)
        self.assertFalse(has(untagged, r"^\* 2 FETCH \(UID 2 FLAGS"), untagged)
        untagged, _ = self.a.cmd("NOOP")
        self.assertEqual(untagged, [])

    def test_store_whose_sync_fails_is_not_reported_done(self):
        # The sync rides in the STORE's transaction: when it fails, the
        # STORE is rolled back with it, and the reply must say so (here
        # the expunge record is renamed away for a moment, which only
        # the sync reads).
        inst.psql("ALTER TABLE expunged RENAME TO expunged_away")
        try:
            untagged, tagged = self.a.cmd("STORE 2 +FLAGS (\\Flagged)", ok=False)
        finally:
            inst.psql("ALTER TABLE expunged_away RENAME TO expunged")
        flags = inst.psql("SELECT mm.flags & 4 FROM mailbox_messages mm"
                          " JOIN mailboxes m USING (account_id, mailbox_id)"
                          " JOIN addresses a USING (account_id)"
                          " WHERE a.address = '%s' AND m.name = 'INBOX' AND mm.uid = 2" % self.addr)
        self.assertEqual(flags, [["0"]])
        self.assertRegex(tagged, r"^a\d+ NO ", (untagged, tagged))
        self.assertFalse(has(untagged, r"FETCH"), untagged)
        # The session goes on.
        untagged, _ = self.a.cmd("STORE 2 +FLAGS (\\Flagged)")
        self.assertTrue(has(untagged, r"^\* 2 FETCH \(FLAGS \(\\Flagged( \\Recent)?\)\)$"), untagged)

    def test_fetch_whose_sync_fails_sets_no_seen(self):
        inst.psql("ALTER TABLE expunged RENAME TO expunged_away")
        try:
            untagged, tagged = self.a.cmd("FETCH 2 (BODY[TEXT])", ok=False)
        finally:
            inst.psql("ALTER TABLE expunged_away RENAME TO expunged")
        self.assertRegex(tagged, r"^a\d+ NO ", (untagged, tagged))
        self.assertFalse(has(untagged, r"FETCH"), untagged)
        self.assertEqual(self.b.search(None, "SEEN")[1], [b""])

    def test_append_whose_sync_fails_is_not_reported_done(self):
        inst.psql("ALTER TABLE expunged RENAME TO expunged_away")
        try:
            untagged, tagged = self.a.cmd("APPEND INBOX", literal=msg(111), ok=False)
        finally:
            inst.psql("ALTER TABLE expunged_away RENAME TO expunged")
        self.assertRegex(tagged, r"^a\d+ NO ", (untagged, tagged))
        self.assertNotIn("APPENDUID", tagged)
        self.assertEqual(len(self.b.search(None, "ALL")[1][0].split()), 5)

    def test_expunge_whose_sync_fails_is_not_reported_done(self):
        # Here the sync fails in its claim of \Recent for B's new message
        # (a trigger refuses it), after the expunge succeeded.
        self.a.cmd("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        c = imaplib.IMAP4("127.0.0.1", second_port)  # INBOX not selected:
        c.login(self.addr, PASSWORD)                 # nobody claims \Recent
        c.append("INBOX", None, None, msg(112))
        c.logout()
        inst.psql("CREATE FUNCTION refuse_claim() RETURNS trigger LANGUAGE plpgsql AS"
                  " $$BEGIN RAISE EXCEPTION 'claim refused'; END$$;"
                  " CREATE TRIGGER refuse_claim BEFORE UPDATE OF recent_uid ON mailboxes"
                  " FOR EACH ROW WHEN (NEW.recent_uid <> OLD.recent_uid)"
                  " EXECUTE FUNCTION refuse_claim()")
        try:
            untagged, tagged = self.a.cmd("UID EXPUNGE 1", ok=False)
        finally:
            inst.psql("DROP TRIGGER refuse_claim ON mailboxes; DROP FUNCTION refuse_claim()")
        self.assertRegex(tagged, r"^a\d+ NO ", (untagged, tagged))
        self.assertFalse(has(untagged, r"EXPUNGE"), untagged)
        self.assertIn(b"1", self.b.uid("SEARCH", "ALL")[1][0].split())


class ManyBatches(unittest.TestCase):
    def test_fetch_of_several_batches_reports_others_changes(self):
        # 130 messages with BODYSTRUCTURE: two batches (the first holds
        # 100); the sync rides in the second.
        addr = new_account(130)
        a = Raw(addr)
        a.cmd("SELECT INBOX")
        b = other(addr)
        b.store("7", "+FLAGS", "(\\Flagged)")
        b.append("INBOX", None, None, msg(110))
        untagged, _ = a.cmd("FETCH 1:* (UID BODYSTRUCTURE)")
        self.assertEqual(len([ln for ln in untagged if re.match(r"^\* \d+ FETCH \(UID \d+ BODYSTRUCTURE", ln)]),
                         130)
        self.assertTrue(has(untagged, r"^\* 7 FETCH \(UID 7 FLAGS \(\\Flagged( \\Recent)?\)\)$"), untagged)
        self.assertTrue(has(untagged, r"^\* 131 EXISTS$"), untagged)
        untagged, _ = a.cmd("NOOP")
        self.assertEqual(untagged, [])
        a.close()
        b.logout()


def counters(addr):
    rows = inst.psql(
        "SELECT m.messages, m.unseen, m.bytes,"
        " (SELECT count(*) FROM mailbox_messages x WHERE x.account_id = m.account_id"
        "   AND x.mailbox_id = m.mailbox_id),"
        " (SELECT count(*) FROM mailbox_messages x WHERE x.account_id = m.account_id"
        "   AND x.mailbox_id = m.mailbox_id AND x.flags & 1 = 0),"
        " (SELECT coalesce(sum(g.size), 0) FROM mailbox_messages x JOIN messages g"
        "   ON g.account_id = x.account_id AND g.message_id = x.message_id"
        "   WHERE x.account_id = m.account_id AND x.mailbox_id = m.mailbox_id)"
        " FROM mailboxes m JOIN addresses a ON a.account_id = m.account_id"
        " WHERE a.address = '%s' AND m.name = 'INBOX'" % addr)
    return [int(v) for v in rows[0]]


class Counters(unittest.TestCase):
    def assert_exact(self, addr):
        c = counters(addr)
        self.assertEqual(c[:3], c[3:], "counters (messages, unseen, bytes) vs recount")

    def test_seen_changes_keep_unseen_exact(self):
        addr = new_account(8)
        a = Raw(addr)
        a.cmd("SELECT INBOX")
        a.cmd("STORE 1:3 +FLAGS (\\Seen)")
        self.assert_exact(addr)
        a.cmd("STORE 2:5 -FLAGS (\\Seen)")
        self.assert_exact(addr)
        a.cmd("STORE 4,6 FLAGS (\\Seen \\Flagged)")
        self.assert_exact(addr)
        a.cmd("UID STORE 1:* +FLAGS (\\Deleted)")  # no \Seen change
        self.assert_exact(addr)
        a.cmd("STORE 1:* -FLAGS (\\Deleted)")
        a.cmd("FETCH 7 BODY[]")  # implicit \Seen (RFC 3501 §6.4.5)
        self.assert_exact(addr)
        a.cmd("STORE 8 +FLAGS (\\Seen \\Deleted)")
        a.cmd("EXPUNGE")
        self.assert_exact(addr)
        a.close()

    def test_concurrent_stores_keep_unseen_exact(self):
        addr = new_account(20)
        errors = []

        def worker(port, seed):
            try:
                c = imaplib.IMAP4("127.0.0.1", port)
                c.login(addr, PASSWORD)
                c.select("INBOX")
                for i in range(30):
                    n = (seed * 7 + i * 3) % 20 + 1
                    op = "+FLAGS" if (i + seed) % 2 else "-FLAGS"
                    c.store("%d:%d" % (n, min(n + 2, 20)), op, "(\\Seen)")
                c.logout()
            except Exception as e:  # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=worker,
                                    args=(inst.imap_port if k % 2 else second_port, k))
                   for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assert_exact(addr)


if __name__ == "__main__":
    unittest.main()
