"""CONDSTORE and QRESYNC (RFC 7162) end to end: MODSEQ, CHANGEDSINCE,
UNCHANGEDSINCE with [MODIFIED], SEARCH MODSEQ, HIGHESTMODSEQ in SELECT and
STATUS, MODSEQ in every FETCH the server pushes once CONDSTORE is on,
VANISHED instead of EXPUNGE after ENABLE QRESYNC, [CLOSED], SELECT
(QRESYNC ...) and UID FETCH (CHANGEDSINCE n VANISHED), including the
fallback after the record of expunges was pruned (schema/0011). The values
are checked against the database. Clients: imaplib, and a raw socket where
imaplib cannot say it (modifiers, select parameters, exact untagged
lines)."""
import imaplib
import itertools
import re
import time
import unittest

from harness import Instance, RawImap

PASSWORD = "condstore test 1"
MAX_MODSEQ = 9223372036854775807
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


def q1(sql):
    rows = inst.psql(sql)
    return rows[0][0] if rows else None


def new_account():
    """A fresh account; returns (address, account_id)."""
    addr = "cs%d@condstore.test" % next(_ids)
    inst.create_account(addr, PASSWORD)
    acc = int(q1("SELECT account_id FROM addresses WHERE address = '%s'" % addr))
    return addr, acc


def mailbox_row(acc, name):
    """(mailbox_id, uidvalidity, highestmodseq) of a mailbox."""
    r = inst.psql("SELECT mailbox_id, uidvalidity, highestmodseq FROM mailboxes"
                  " WHERE account_id = %d AND name = '%s'" % (acc, name))[0]
    return int(r[0]), int(r[1]), int(r[2])


def highestmodseq(acc, name="INBOX"):
    return mailbox_row(acc, name)[2]


def modseqs(acc, name="INBOX"):
    """{uid: modseq} of a mailbox's messages."""
    mb = mailbox_row(acc, name)[0]
    return {int(u): int(m) for u, m in inst.psql(
        "SELECT uid, modseq FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d"
        % (acc, mb))}


def uids_of(acc, name="INBOX"):
    return sorted(modseqs(acc, name))


MSG = (b"From: a@condstore.test\r\nTo: b@condstore.test\r\nSubject: m %d\r\n"
       b"Message-ID: <%d@condstore.test>\r\n\r\nbody %d\r\n")


def append(addr, n, mailbox="INBOX"):
    """Appends n messages with imaplib; returns nothing (read UIDs from
    the database)."""
    c = imap(addr)
    try:
        for _ in range(n):
            k = next(_ids)
            typ, _ = c.append(mailbox, None, None, MSG % (k, k, k))
            assert typ == "OK"
    finally:
        c.logout()


def imap(addr):
    c = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    c.login(addr, PASSWORD)
    return c


class Raw(RawImap):
    """harness.RawImap on this module's instance; close() logs out."""

    def __init__(self, addr=None):
        super().__init__(inst.imap_port, addr, PASSWORD, timeout=15)

    def close(self):
        super().close(logout=True)


FETCH_RE = re.compile(r"^\* (\d+) FETCH \((.*)\)$")


def fetch_items(line):
    """(seq, {item: value}) of an untagged FETCH line with UID, FLAGS,
    MODSEQ items only."""
    m = FETCH_RE.match(line)
    if not m:
        raise AssertionError("not a FETCH line: " + line)
    rest, items = m.group(2), {}
    while rest:
        name, rest = rest.split(" ", 1)
        if rest.startswith("("):
            val, rest = rest[1:].split(")", 1)
            items[name] = val
        else:
            val, _, rest = rest.partition(" ")
            items[name] = val
        rest = rest.lstrip(" ")
    return int(m.group(1)), items


def fetches(untagged):
    """{seq: items} of the untagged FETCH lines (each seq at most once)."""
    out = {}
    for line in untagged:
        if " FETCH " not in line:
            continue
        seq, items = fetch_items(line)
        if seq in out:
            raise AssertionError("two FETCH responses for %d: %r" % (seq, untagged))
        out[seq] = items
    return out


def uidset(uids):
    """The shortest sequence-set of ascending uids."""
    out, i = [], 0
    uids = sorted(uids)
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(str(uids[i]) if i == j else "%d:%d" % (uids[i], uids[j]))
        i = j + 1
    return ",".join(out)


def expand(s):
    """The numbers of a sequence-set string."""
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def vanished(untagged, earlier):
    prefix = "* VANISHED (EARLIER) " if earlier else "* VANISHED "
    lines = [l for l in untagged if l.startswith("* VANISHED ")
             and l.startswith(prefix) and (earlier or not l.startswith("* VANISHED (EARLIER)"))]
    out = []
    for l in lines:
        out.extend(expand(l[len(prefix):]))
    return out


def code(tagged, name):
    """The value of response code [name value] in a tagged text, or None."""
    m = re.match(r"^(?:OK|NO|BAD) \[%s ?([^\]]*)\]" % name, tagged)
    return m.group(1) if m else None


def untagged_code(untagged, name):
    for l in untagged:
        m = re.match(r"^\* OK \[%s ?([^\]]*)\]" % name, l)
        if m:
            return m.group(1)
    return None


# -- capability and ENABLE -----------------------------------------------------


class Enable(unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()

    def test_capabilities_after_login(self):
        c = imap(self.addr)
        try:
            typ, data = c.capability()
            caps = data[0].decode().split()
            self.assertIn("CONDSTORE", caps)
            self.assertIn("QRESYNC", caps)
        finally:
            c.logout()

    def test_enable_qresync_implies_condstore(self):
        r = Raw(self.addr)
        try:
            u, t = r.ok("ENABLE QRESYNC")
            self.assertEqual(u, ["* ENABLED QRESYNC"])
            # CONDSTORE came with it: nothing new to enable.
            u, t = r.ok("ENABLE CONDSTORE")
            self.assertEqual(u, ["* ENABLED"])
            u, t = r.ok("SELECT INBOX")
            self.assertIsNotNone(untagged_code(u, "HIGHESTMODSEQ"))
        finally:
            r.close()

    def test_enable_both_lists_both(self):
        r = Raw(self.addr)
        try:
            u, t = r.ok("ENABLE CONDSTORE QRESYNC")
            self.assertEqual(u, ["* ENABLED CONDSTORE QRESYNC"])
            u, t = r.ok("ENABLE QRESYNC CONDSTORE")
            self.assertEqual(u, ["* ENABLED"])
        finally:
            r.close()

    def test_enable_after_implicit_condstore(self):
        r = Raw(self.addr)
        try:
            # STATUS (HIGHESTMODSEQ) turns CONDSTORE on; ENABLE still says so.
            r.ok("STATUS INBOX (HIGHESTMODSEQ)")
            u, t = r.ok("ENABLE CONDSTORE")
            self.assertEqual(u, ["* ENABLED CONDSTORE"])
            u, t = r.ok("ENABLE CONDSTORE")
            self.assertEqual(u, ["* ENABLED"])
        finally:
            r.close()


# -- CONDSTORE -------------------------------------------------------------------


class Condstore(unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        append(self.addr, 5)
        self.uids = uids_of(self.acc)

    def test_select_and_examine_send_highestmodseq(self):
        c = imap(self.addr)
        try:
            typ, _ = c.select("INBOX")
            self.assertEqual(typ, "OK")
            typ, data = c.response("HIGHESTMODSEQ")
            self.assertEqual(int(data[0]), highestmodseq(self.acc))
            c.close()
            typ, _ = c.select("INBOX", readonly=True)
            typ, data = c.response("HIGHESTMODSEQ")
            self.assertEqual(int(data[0]), highestmodseq(self.acc))
        finally:
            c.logout()

    def test_status_highestmodseq(self):
        c = imap(self.addr)
        try:
            typ, data = c.status("INBOX", "(MESSAGES HIGHESTMODSEQ UIDNEXT)")
            self.assertEqual(typ, "OK")
            m = re.search(rb"HIGHESTMODSEQ (\d+)", data[0])
            self.assertEqual(int(m.group(1)), highestmodseq(self.acc))
            self.assertIn(b"MESSAGES 5", data[0])
            # A new mailbox starts at 1, and the value moves with changes.
            c.create("Fresh")
            typ, data = c.status("Fresh", "(HIGHESTMODSEQ)")
            self.assertRegex(data[0].decode(), r'^"?Fresh"? \(HIGHESTMODSEQ 1\)$')
            self.assertEqual(highestmodseq(self.acc, "Fresh"), 1)
            before = highestmodseq(self.acc)
            c.select("INBOX")
            c.store("1", "+FLAGS", r"(\Flagged)")
            typ, data = c.status("INBOX", "(HIGHESTMODSEQ)")
            self.assertEqual(int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1)),
                             before + 1)
        finally:
            c.logout()

    def test_fetch_modseq_item(self):
        c = imap(self.addr)
        try:
            c.select("INBOX")
            typ, data = c.fetch("1:*", "(MODSEQ)")
            self.assertEqual(typ, "OK")
            ms = modseqs(self.acc)
            got = {}
            for line in data:
                m = re.match(rb"^(\d+) \(MODSEQ \((\d+)\)\)$", line)
                self.assertIsNotNone(m, line)
                got[self.uids[int(m.group(1)) - 1]] = int(m.group(2))
            self.assertEqual(got, ms)
            typ, data = c.uid("FETCH", "%d" % self.uids[2], "(FLAGS MODSEQ)")
            self.assertRegex(data[0].decode(), r"^3 \(UID %d FLAGS \(.*\) MODSEQ \(%d\)\)$"
                             % (self.uids[2], ms[self.uids[2]]))
        finally:
            c.logout()

    def test_fetch_changedsince(self):
        r = Raw(self.addr)
        try:
            r.ok("SELECT INBOX")
            ms = highestmodseq(self.acc)
            r.ok(r"STORE 2,4 +FLAGS.SILENT (\Answered)")
            u, t = r.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % ms)
            f = fetches(u)
            self.assertEqual(sorted(f), [2, 4])
            now = modseqs(self.acc)
            for seq in (2, 4):
                self.assertEqual(int(f[seq]["MODSEQ"]), now[self.uids[seq - 1]])
                self.assertIn(r"\Answered", f[seq]["FLAGS"])
            # UID FETCH: UID first, MODSEQ implied; a set narrower than
            # the changes.
            u, t = r.ok("UID FETCH %d:%d (FLAGS) (CHANGEDSINCE %d)"
                        % (self.uids[2], self.uids[4], ms))
            f = fetches(u)
            self.assertEqual(list(f), [4])
            self.assertEqual(int(f[4]["UID"]), self.uids[3])
            # Nothing changed after the newest modseq.
            u, t = r.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % highestmodseq(self.acc))
            self.assertEqual(fetches(u), {})
            u, t = r.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % MAX_MODSEQ)
            self.assertEqual(fetches(u), {})
            # CHANGEDSINCE 1: everything (every modseq is above 1 here).
            u, t = r.ok("FETCH 1:* (UID) (CHANGEDSINCE 1)")
            self.assertEqual(len(fetches(u)), 5)
        finally:
            r.close()

    def test_fetch_modifier_errors(self):
        r = Raw(self.addr)
        try:
            r.ok("SELECT INBOX")
            # chgsince-fetch-mod takes a mod-sequence-value: 1 to 2^63-1.
            r.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE 0)")
            r.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % (MAX_MODSEQ + 1))
            r.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE -1)")
            r.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE)")
            r.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE 5 CHANGEDSINCE 6)")
            r.bad("FETCH 1:* (FLAGS) (FOO 5)")
            r.bad("FETCH 1:* (FLAGS) ()")
            r.bad("FETCH 1:* (FLAGS) CHANGEDSINCE 5")
            # VANISHED: UID FETCH only, with CHANGEDSINCE, after ENABLE QRESYNC.
            r.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)")
            r.bad("UID FETCH 1:* (FLAGS) (VANISHED)")
            u, t = r.bad("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)")
            self.assertIn("QRESYNC", t)
        finally:
            r.close()

    def test_store_unchangedsince_conflict(self):
        a, b = Raw(self.addr), Raw(self.addr)
        try:
            a.ok("SELECT INBOX")
            b.ok("SELECT INBOX")
            ms = highestmodseq(self.acc)
            # Another session changes message 2 after A read modseq ms.
            b.ok(r"STORE 2 +FLAGS (\Seen)")
            u, t = a.ok(r"STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\Flagged)" % ms)
            self.assertEqual(code(t, "MODIFIED"), "2")
            now = modseqs(self.acc)
            f = fetches(u)
            # 1 and 3 stored, with UID and their new MODSEQ; 2 not stored.
            for seq in (1, 3):
                self.assertIn(r"\Flagged", f[seq]["FLAGS"])
                self.assertEqual(int(f[seq]["UID"]), self.uids[seq - 1])
                self.assertEqual(int(f[seq]["MODSEQ"]), now[self.uids[seq - 1]])
            flags = {int(uid): int(fl) for uid, fl in inst.psql(
                "SELECT uid, flags FROM mailbox_messages WHERE account_id = %d" % self.acc)}
            self.assertEqual(flags[self.uids[1]] & 4, 0)
            self.assertEqual(flags[self.uids[0]] & 4, 4)
            if 2 in f:  # the other session's change may come as a FETCH
                self.assertNotIn(r"\Flagged", f[2]["FLAGS"])
            # UID STORE: [MODIFIED] holds UIDs; .SILENT still gives MODSEQ.
            ms2 = highestmodseq(self.acc)
            b.ok(r"STORE 5 +FLAGS (\Draft)")
            u, t = a.ok(r"UID STORE %d,%d (UNCHANGEDSINCE %d) +FLAGS.SILENT (\Answered)"
                        % (self.uids[3], self.uids[4], ms2))
            self.assertEqual(code(t, "MODIFIED"), str(self.uids[4]))
            now = modseqs(self.acc)
            f = fetches(u)
            self.assertEqual(f[4], {"UID": str(self.uids[3]), "MODSEQ": str(now[self.uids[3]])})
            # Passing without a change (the flag was set): its MODSEQ too.
            ms3 = now[self.uids[3]]
            u, t = a.ok(r"UID STORE %d (UNCHANGEDSINCE %d) +FLAGS.SILENT (\Answered)"
                        % (self.uids[3], ms3))
            self.assertEqual(t, "OK STORE completed")
            self.assertEqual(fetches(u)[4], {"UID": str(self.uids[3]), "MODSEQ": str(ms3)})
            self.assertEqual(modseqs(self.acc)[self.uids[3]], ms3)
        finally:
            a.close()
            b.close()

    def test_store_unchangedsince_zero_and_all_pass(self):
        r = Raw(self.addr)
        try:
            r.ok("SELECT INBOX")
            before = modseqs(self.acc)
            # UNCHANGEDSINCE 0 fails for every message (RFC 7162 §3.1.3).
            u, t = r.ok(r"STORE 1:5 (UNCHANGEDSINCE 0) +FLAGS (\Flagged)")
            self.assertEqual(expand(code(t, "MODIFIED")), [1, 2, 3, 4, 5])
            self.assertEqual(fetches(u), {})
            self.assertEqual(modseqs(self.acc), before)
            # All pass: no MODIFIED, one new modseq for all.
            ms = highestmodseq(self.acc)
            u, t = r.ok(r"STORE 1:5 (UNCHANGEDSINCE %d) +FLAGS (\Flagged)" % ms)
            self.assertIsNone(code(t, "MODIFIED"))
            self.assertEqual(set(modseqs(self.acc).values()), {ms + 1})
            self.assertEqual({int(i["MODSEQ"]) for i in fetches(u).values()}, {ms + 1})
            # A message flagged already passes and is left as it was.
            u, t = r.ok(r"STORE 1 (UNCHANGEDSINCE %d) +FLAGS (\Flagged)" % (ms + 1))
            self.assertIsNone(code(t, "MODIFIED"))
            self.assertEqual(highestmodseq(self.acc), ms + 1)
            # Largest value; syntax errors.
            r.ok(r"STORE 1 (UNCHANGEDSINCE %d) -FLAGS (\Flagged)" % MAX_MODSEQ)
            r.bad(r"STORE 1 (UNCHANGEDSINCE %d) -FLAGS (\Flagged)" % (MAX_MODSEQ + 1))
            r.bad(r"STORE 1 (UNCHANGEDSINCE) +FLAGS (\Flagged)")
            r.bad(r"STORE 1 (UNCHANGEDSINCE x) +FLAGS (\Flagged)")
            r.bad(r"STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\Flagged)")
            r.bad(r"STORE 1 (FOO 1) +FLAGS (\Flagged)")
            r.bad(r"STORE 1 () +FLAGS (\Flagged)")
            r.bad(r"STORE 1 (UNCHANGEDSINCE 5) +FLAGS")
        finally:
            r.close()

    def test_store_unchangedsince_expunged_meanwhile(self):
        a, b = Raw(self.addr), Raw(self.addr)
        try:
            a.ok("SELECT INBOX")
            b.ok("SELECT INBOX")
            b.ok(r"STORE 3 +FLAGS (\Deleted)")
            b.ok("EXPUNGE")
            ms = highestmodseq(self.acc)
            # A still sees message 3 (no EXPUNGE during STORE): not stored.
            u, t = a.ok(r"STORE 2:4 (UNCHANGEDSINCE %d) +FLAGS (\Seen)" % ms)
            self.assertEqual(code(t, "MODIFIED"), "3")
            self.assertEqual(sorted(fetches(u)), [2, 4])
        finally:
            a.close()
            b.close()

    def test_search_modseq(self):
        c = imap(self.addr)
        try:
            c.select("INBOX")
            ms = highestmodseq(self.acc)
            c.store("2,5", "+FLAGS", r"(\Seen)")
            typ, data = c.search(None, "MODSEQ", str(ms + 1))
            self.assertEqual(data[0], b"2 5 (MODSEQ %d)" % (ms + 1))
            typ, data = c.uid("SEARCH", "MODSEQ", '"/flags/\\\\seen"', "all", str(ms))
            self.assertEqual(data[0], b"%d %d (MODSEQ %d)" % (self.uids[1], self.uids[4], ms + 1))
            # MODSEQ 0: every message; the highest of all of them.
            typ, data = c.search(None, "MODSEQ", "0")
            self.assertEqual(data[0], b"1 2 3 4 5 (MODSEQ %d)" % (ms + 1))
            # Combined with other keys: the highest of those found.
            typ, data = c.search(None, "MODSEQ", "1", "UNSEEN")
            self.assertEqual(data[0], b"1 3 4 (MODSEQ %d)" % max(
                modseqs(self.acc)[self.uids[i]] for i in (0, 2, 3)))
            # Nothing found: no MODSEQ.
            typ, data = c.search(None, "MODSEQ", str(ms + 2))
            self.assertEqual(data[0], b"")
            # Without a MODSEQ key: a plain answer.
            typ, data = c.search(None, "SEEN")
            self.assertEqual(data[0], b"2 5")
            for bad in (["MODSEQ"], ["MODSEQ", "x"], ["MODSEQ", str(MAX_MODSEQ + 1)],
                        ["MODSEQ", '"/flags/\\\\seen"', "5"],
                        ["MODSEQ", '"/flags/\\\\seen"', "nobody", "5"],
                        ["MODSEQ", '"/other"', "all", "5"]):
                with self.assertRaises(imaplib.IMAP4.error):
                    c.search(None, *bad)
        finally:
            c.logout()

    def test_modseq_in_pushed_fetches_once_enabled(self):
        a, b, plain = Raw(self.addr), Raw(self.addr), Raw(self.addr)
        try:
            b.ok("SELECT INBOX")  # first: \Recent is B's
            a.ok("ENABLE CONDSTORE")
            a.ok("SELECT INBOX")
            plain.ok("SELECT INBOX")
            b.ok(r"STORE 2 +FLAGS (\Flagged)")
            ms = modseqs(self.acc)[self.uids[1]]
            u, t = a.ok("NOOP")
            self.assertEqual(fetches(u)[2], {"UID": str(self.uids[1]),
                                             "FLAGS": r"\Flagged", "MODSEQ": str(ms)})
            u, t = plain.ok("NOOP")
            self.assertEqual(fetches(u)[2], {"UID": str(self.uids[1]), "FLAGS": r"\Flagged"})
            # A's own STORE: UID and MODSEQ with the flags.
            u, t = a.ok(r"STORE 3 +FLAGS (\Answered)")
            ms = modseqs(self.acc)[self.uids[2]]
            self.assertEqual(fetches(u)[3], {"UID": str(self.uids[2]),
                                             "FLAGS": r"\Answered", "MODSEQ": str(ms)})
            # And .SILENT: the new MODSEQ still.
            u, t = a.ok(r"STORE 3 -FLAGS.SILENT (\Answered)")
            ms = modseqs(self.acc)[self.uids[2]]
            self.assertEqual(fetches(u)[3], {"UID": str(self.uids[2]), "MODSEQ": str(ms)})
            # FETCH setting \Seen: the flags, UID and MODSEQ come along.
            u, t = a.ok("FETCH 4 (BODY[TEXT])")
            ms = modseqs(self.acc)[self.uids[3]]
            i = [k for k, l in enumerate(u) if " FETCH " in l][0]
            self.assertRegex(u[i], r"^\* 4 FETCH \(BODY\[TEXT\] \{\d+\}$")
            self.assertTrue(u[i + 1].startswith("body "))
            self.assertEqual(u[i + 2], r" FLAGS (\Seen) UID %d MODSEQ (%d))" % (self.uids[3], ms))
            # A FETCH that changes nothing and asks for no MODSEQ: as ever.
            u, t = a.ok("FETCH 4 (FLAGS)")
            self.assertEqual(u, [r"* 4 FETCH (FLAGS (\Seen))"])
        finally:
            a.close()
            b.close()
            plain.close()

    def test_select_condstore_parameter(self):
        a, b = Raw(self.addr), Raw(self.addr)
        try:
            u, t = a.ok("SELECT INBOX (CONDSTORE)")
            self.assertEqual(int(untagged_code(u, "HIGHESTMODSEQ")), highestmodseq(self.acc))
            b.ok("SELECT INBOX")
            b.ok(r"STORE 1 +FLAGS (\Seen)")
            u, t = a.ok("NOOP")
            self.assertEqual(int(fetches(u)[1]["MODSEQ"]), modseqs(self.acc)[self.uids[0]])
            a.ok("EXAMINE INBOX (CONDSTORE)")
            a.bad("SELECT INBOX (CONDSTORE CONDSTORE)")
            a.bad("SELECT INBOX (FOO)")
            a.bad("SELECT INBOX ()")
            a.bad("SELECT INBOX CONDSTORE")
        finally:
            a.close()
            b.close()

    def test_fetch_modseq_enables_condstore(self):
        a, b = Raw(self.addr), Raw(self.addr)
        try:
            a.ok("SELECT INBOX")
            b.ok("SELECT INBOX")
            a.ok("FETCH 1 (MODSEQ)")
            b.ok(r"STORE 1 +FLAGS (\Seen)")
            u, t = a.ok("NOOP")
            self.assertIn("MODSEQ", fetches(u)[1])
        finally:
            a.close()
            b.close()


# -- QRESYNC -------------------------------------------------------------------------


class Qresync(unittest.TestCase):
    def setUp(self):
        self.addr, self.acc = new_account()
        append(self.addr, 10)
        self.uids = uids_of(self.acc)

    def test_qresync_parameter_needs_enable(self):
        r = Raw(self.addr)
        try:
            mb, uv, ms = mailbox_row(self.acc, "INBOX")
            u, t = r.bad("SELECT INBOX (QRESYNC (%d %d))" % (uv, ms))
            self.assertIn("QRESYNC", t)
            r.ok("ENABLE QRESYNC")
            r.ok("SELECT INBOX (QRESYNC (%d %d))" % (uv, ms))
            for bad in ("(QRESYNC)", "(QRESYNC ())", "(QRESYNC (%d))" % uv,
                        "(QRESYNC (%d 0))" % uv, "(QRESYNC (0 %d))" % ms,
                        "(QRESYNC (4294967296 %d))" % ms,
                        "(QRESYNC (%d %d))" % (uv, MAX_MODSEQ + 1),
                        "(QRESYNC (%d %d 1:*))" % (uv, ms),
                        "(QRESYNC (%d %d 1:5 (1:2)))" % (uv, ms),
                        "(QRESYNC (%d %d 1:5 (1:2 3:*)))" % (uv, ms),
                        "(QRESYNC (%d %d 1:5 (1:2 3:4) x))" % (uv, ms),
                        "(QRESYNC (%d %d) QRESYNC (%d %d))" % (uv, ms, uv, ms)):
                r.bad("SELECT INBOX " + bad)
            # A BAD SELECT leaves the mailbox selected.
            r.ok("NOOP")
            r.ok("FETCH 1 (UID)")
            # Well-formed variants.
            r.ok("SELECT INBOX (QRESYNC (%d %d 1:20 (1:3 1:3)))" % (uv, ms))
            r.ok("EXAMINE INBOX (CONDSTORE QRESYNC (%d %d (1 1)))" % (uv, ms))
            r.ok("SELECT INBOX (QRESYNC (%d %d))" % (uv, MAX_MODSEQ))
        finally:
            r.close()

    def test_laptop_resync(self):
        """A selects and goes offline; B expunges, flags and appends; A
        comes back with SELECT (QRESYNC ...) and learns exactly that."""
        a = Raw(self.addr)
        u, t = a.ok("SELECT INBOX")
        uv = int(untagged_code(u, "UIDVALIDITY"))
        ms = int(untagged_code(u, "HIGHESTMODSEQ"))
        self.assertEqual(ms, highestmodseq(self.acc))
        u, t = a.ok("UID FETCH 1:* (FLAGS)")
        known = sorted(int(fetch_items(l)[1]["UID"]) for l in u if " FETCH " in l)
        self.assertEqual(known, self.uids)
        a.close()

        b = imap(self.addr)
        b.select("INBOX")
        gone = [self.uids[1], self.uids[2], self.uids[6]]
        b.uid("STORE", uidset(gone), "+FLAGS", r"(\Deleted)")
        b.expunge()
        flagged = [self.uids[0], self.uids[7]]
        b.uid("STORE", uidset(flagged), "+FLAGS", r"(\Flagged)")
        b.logout()
        append(self.addr, 2)
        now = modseqs(self.acc)
        new = sorted(set(now) - set(self.uids))
        self.assertEqual(len(new), 2)

        a = Raw(self.addr)
        try:
            a.ok("ENABLE QRESYNC")
            u, t = a.ok("SELECT INBOX (QRESYNC (%d %d %s))" % (uv, ms, uidset(known)))
            self.assertEqual(t, "OK [READ-WRITE] SELECT completed")
            self.assertIn("* 9 EXISTS", u)
            self.assertEqual(int(untagged_code(u, "HIGHESTMODSEQ")), highestmodseq(self.acc))
            self.assertEqual(vanished(u, True), gone)
            vi = [i for i, l in enumerate(u) if l.startswith("* VANISHED")]
            fi = [i for i, l in enumerate(u) if " FETCH " in l]
            self.assertEqual(len(vi), 1)
            self.assertLess(vi[0], min(fi))  # VANISHED before the FETCHes
            f = fetches(u)
            view = sorted(now)
            self.assertEqual(sorted(int(i["UID"]) for i in f.values()), flagged)
            for seq, items in f.items():
                uid = int(items["UID"])
                self.assertEqual(view[seq - 1], uid)
                self.assertIn(r"\Flagged", items["FLAGS"])
                self.assertEqual(int(items["MODSEQ"]), now[uid])
            # Nothing else arrives: the tagged reply's sync adds nothing.
            u, t = a.ok("NOOP")
            self.assertEqual(u, [])

            # Without known-uids every change is reported, new messages
            # too (their UIDs were never known: FETCH, not VANISHED).
            u, t = a.ok("SELECT INBOX (QRESYNC (%d %d))" % (uv, ms))
            self.assertEqual(u[0], "* OK [CLOSED] Previous mailbox closed")
            self.assertEqual(vanished(u, True), gone)
            self.assertEqual(sorted(int(i["UID"]) for i in fetches(u).values()),
                             sorted(flagged + new))

            # UID FETCH (CHANGEDSINCE VANISHED): the same, any time.
            u, t = a.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % ms)
            self.assertTrue(u[0].startswith("* VANISHED (EARLIER) "), u)
            self.assertEqual(vanished(u, True), gone)
            self.assertEqual(sorted(int(i["UID"]) for i in fetches(u).values()),
                             sorted(flagged + new))
            for items in fetches(u).values():
                self.assertEqual(int(items["MODSEQ"]), now[int(items["UID"])])
            # Only UIDs of the set.
            u, t = a.ok("UID FETCH %d:%d (FLAGS) (CHANGEDSINCE %d VANISHED)"
                        % (self.uids[2], self.uids[5], ms))
            self.assertEqual(vanished(u, True), [self.uids[2]])
            self.assertEqual(fetches(u), {})
            # After the last expunge: no VANISHED line at all.
            u, t = a.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)"
                        % highestmodseq(self.acc))
            self.assertEqual(u, [])

            # Another UIDVALIDITY: an ordinary SELECT.
            u, t = a.ok("SELECT INBOX (QRESYNC (%d %d %s))" % (uv + 1, ms, uidset(known)))
            self.assertEqual(vanished(u, True), [])
            self.assertEqual(fetches(u), {})
            self.assertIn("* 9 EXISTS", u)
        finally:
            a.close()

    def test_examine_qresync_and_modseq_of_now(self):
        a = Raw(self.addr)
        try:
            a.ok("ENABLE QRESYNC")
            mb, uv, ms = mailbox_row(self.acc, "INBOX")
            u, t = a.ok("EXAMINE INBOX (QRESYNC (%d %d))" % (uv, ms))
            self.assertEqual(t, "OK [READ-ONLY] EXAMINE completed")
            self.assertEqual(vanished(u, True), [])
            self.assertEqual(fetches(u), {})
            u, t = a.ok("EXAMINE INBOX (QRESYNC (%d 1))" % uv)
            # Every message changed since modseq 1 (the appends).
            self.assertEqual(len(fetches(u)), 10)
        finally:
            a.close()

    def test_vanished_instead_of_expunge(self):
        a, b, plain = Raw(self.addr), Raw(self.addr), Raw(self.addr)
        try:
            a.ok("ENABLE QRESYNC")
            a.ok("SELECT INBOX")
            plain.ok("SELECT INBOX")
            b.ok("SELECT INBOX")
            b.ok(r"UID STORE %s +FLAGS.SILENT (\Deleted)"
                 % uidset([self.uids[1], self.uids[2], self.uids[4]]))
            b.ok("EXPUNGE")
            u, t = a.ok("NOOP")
            self.assertEqual(u, ["* VANISHED %d:%d,%d" % (self.uids[1], self.uids[2],
                                                            self.uids[4])])
            u, t = plain.ok("NOOP")
            self.assertEqual(u, ["* 2 EXPUNGE", "* 2 EXPUNGE", "* 3 EXPUNGE"])
            # Not during FETCH by sequence number; after it.
            before = highestmodseq(self.acc)
            b.ok(r"STORE 1 +FLAGS.SILENT (\Deleted)")
            b.ok("EXPUNGE")
            u, t = a.ok("FETCH 1 (UID)")
            self.assertFalse([l for l in u if "VANISHED" in l or " EXPUNGE" in l], u)
            # The client is told a HIGHESTMODSEQ below the pending
            # expunge, whatever MODSEQs it saw meanwhile.
            self.assertEqual(untagged_code(u, "HIGHESTMODSEQ"), str(before))
            u, t = a.ok("NOOP")
            self.assertEqual(u, ["* VANISHED %d" % self.uids[0]])
            # A's own EXPUNGE: VANISHED and the new HIGHESTMODSEQ.
            a.ok(r"STORE 1:2 +FLAGS.SILENT (\Deleted)")
            u, t = a.ok("EXPUNGE")
            self.assertEqual(u, ["* VANISHED %d,%d" % (self.uids[3], self.uids[5])])
            self.assertEqual(code(t, "HIGHESTMODSEQ"), str(highestmodseq(self.acc)))
            self.assertFalse([l for l in u if "EXPUNGE" in l])
            # Nothing expunged: no HIGHESTMODSEQ needed.
            u, t = a.ok("EXPUNGE")
            self.assertEqual((u, t), ([], "OK EXPUNGE completed"))
            # CLOSE says nothing (RFC 7162 §3.2.8).
            a.ok(r"STORE 1 +FLAGS.SILENT (\Deleted)")
            u, t = a.ok("CLOSE")
            self.assertEqual((u, t), ([], "OK CLOSE completed"))
            self.assertEqual(len(uids_of(self.acc)), 3)
        finally:
            a.close()
            b.close()
            plain.close()

    def test_pending_expunge_holds_highestmodseq_back(self):
        """Errata 1810 to RFC 5162 (RFC 7162 §5): MODSEQs seen while a
        VANISHED waits must not let the client skip the expunge."""
        a, b = Raw(self.addr), Raw(self.addr)
        try:
            b.ok("SELECT INBOX")
            a.ok("ENABLE QRESYNC")
            a.ok("SELECT INBOX")
            floor = highestmodseq(self.acc)
            b.ok(r"STORE 2 +FLAGS.SILENT (\Deleted)")
            b.ok("EXPUNGE")
            b.ok(r"UID STORE %d +FLAGS (\Flagged)" % self.uids[2])
            flagged = modseqs(self.acc)[self.uids[2]]
            # A FETCH (no expunge may be reported) sees the later flag
            # change with its MODSEQ (and the sync repeats it) ...
            u, t = a.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % floor)
            self.assertEqual(u[0], "* 3 FETCH (FLAGS (\\Flagged) MODSEQ (%d))" % flagged)
            # ... and then a HIGHESTMODSEQ below the expunge's.
            self.assertEqual(u[-1], "* OK [HIGHESTMODSEQ %d] Expunges pending" % floor)
            u, t = a.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
            self.assertEqual(untagged_code(u, "HIGHESTMODSEQ"), str(floor))
            # Once the VANISHED is out, no more of that.
            u, t = a.ok("NOOP")
            self.assertEqual(u, ["* VANISHED %d" % self.uids[1]])
            u, t = a.ok("FETCH 1 (FLAGS)")
            self.assertIsNone(untagged_code(u, "HIGHESTMODSEQ"))
        finally:
            a.close()
            b.close()

    def test_idle_pushes_vanished_and_modseq(self):
        a, b = Raw(self.addr), Raw(self.addr)
        try:
            b.ok("SELECT INBOX")
            a.ok("ENABLE QRESYNC")
            a.ok("SELECT INBOX")
            a.sock.sendall(b"i1 IDLE\r\n")
            self.assertTrue(a.line().startswith(b"+ "))
            b.ok(r"UID STORE %d +FLAGS.SILENT (\Deleted)" % self.uids[0])
            ms = modseqs(self.acc)[self.uids[0]]
            self.assertEqual(a.line(timeout=5).decode(), "* 1 FETCH (UID %d FLAGS (\\Deleted)"
                             " MODSEQ (%d))" % (self.uids[0], ms))
            b.ok("EXPUNGE")
            self.assertEqual(a.line(timeout=5).decode(), "* VANISHED %d" % self.uids[0])
            b.ok(r"UID STORE %d +FLAGS (\Flagged)" % self.uids[4])
            ms = modseqs(self.acc)[self.uids[4]]
            self.assertEqual(a.line(timeout=5).decode(), "* 4 FETCH (UID %d FLAGS (\\Flagged)"
                             " MODSEQ (%d))" % (self.uids[4], ms))
            a.sock.sendall(b"DONE\r\n")
            self.assertEqual(a.line(), b"i1 OK IDLE terminated")
        finally:
            a.close()
            b.close()

    def test_closed_on_reselect(self):
        a, plain = Raw(self.addr), Raw(self.addr)
        try:
            a.ok("ENABLE QRESYNC")
            u, t = a.ok("SELECT INBOX")
            self.assertFalse([l for l in u if "CLOSED" in l])
            u, t = a.ok("EXAMINE Sent")
            self.assertEqual(u[0], "* OK [CLOSED] Previous mailbox closed")
            self.assertEqual(len([l for l in u if "CLOSED" in l]), 1)
            # A failing SELECT closes too, and says so.
            u, t = a.cmd("SELECT Nonexistent")
            self.assertTrue(t.startswith("NO"))
            self.assertEqual(u, ["* OK [CLOSED] Previous mailbox closed"])
            u, t = a.ok("SELECT INBOX")
            self.assertFalse([l for l in u if "CLOSED" in l])
            # Without QRESYNC: no [CLOSED].
            plain.ok("SELECT INBOX")
            u, t = plain.ok("SELECT Sent")
            self.assertFalse([l for l in u if "CLOSED" in l])
        finally:
            a.close()
            plain.close()

    def test_pruned_record_falls_back(self):
        """After mail_expunged_prune, a modseq below the horizon gets every
        known UID that no longer exists."""
        a = Raw(self.addr)
        try:
            a.ok("ENABLE QRESYNC")
            mb, uv, ms0 = mailbox_row(self.acc, "INBOX")
            a.ok("SELECT INBOX")
            a.ok(r"UID STORE %d +FLAGS.SILENT (\Deleted)" % self.uids[0])
            a.ok("EXPUNGE")
            ms1 = highestmodseq(self.acc)
            a.ok(r"UID STORE %d +FLAGS.SILENT (\Deleted)" % self.uids[3])
            a.ok("EXPUNGE")
            ms2 = highestmodseq(self.acc)
            # Exact while everything is kept.
            u, t = a.ok("UID FETCH 1:* (UID) (CHANGEDSINCE %d VANISHED)" % ms1)
            self.assertEqual(vanished(u, True), [self.uids[3]])
            n = int(q1("SELECT mail_expunged_prune(now() + interval '1 hour')"))
            self.assertGreaterEqual(n, 2)
            self.assertEqual(int(q1("SELECT modseq FROM expunged_horizon WHERE account_id = %d"
                                    " AND mailbox_id = %d" % (self.acc, mb))), ms2)
            # Below the horizon: every UID of the set that is gone.
            u, t = a.ok("UID FETCH 1:* (UID) (CHANGEDSINCE %d VANISHED)" % ms1)
            self.assertEqual(vanished(u, True), [self.uids[0], self.uids[3]])
            u, t = a.ok("UID FETCH %d:%d (UID) (CHANGEDSINCE %d VANISHED)"
                        % (self.uids[2], self.uids[5], ms0))
            self.assertEqual(vanished(u, True), [self.uids[3]])
            u, t = a.ok("SELECT INBOX (QRESYNC (%d %d %s))" % (uv, ms1, uidset(self.uids)))
            self.assertEqual(vanished(u, True), [self.uids[0], self.uids[3]])
            # At the horizon: exact again (nothing since).
            u, t = a.ok("UID FETCH 1:* (UID) (CHANGEDSINCE %d VANISHED)" % ms2)
            self.assertEqual(u, [])
        finally:
            a.close()

    def test_vanished_uid_fetch_respects_view(self):
        """An expunge this session has not been told of yet is reported
        as VANISHED by the sync, not as VANISHED (EARLIER)."""
        a, b = Raw(self.addr), Raw(self.addr)
        try:
            a.ok("ENABLE QRESYNC")
            a.ok("SELECT INBOX")
            ms = highestmodseq(self.acc)
            b.ok("SELECT INBOX")
            b.ok(r"UID STORE %d +FLAGS.SILENT (\Deleted)" % self.uids[9])
            b.ok("EXPUNGE")
            u, t = a.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % ms)
            self.assertEqual(vanished(u, True), [])
            self.assertEqual(vanished(u, False), [self.uids[9]])
            # Now it is known: a second look reports it as EARLIER.
            u, t = a.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % ms)
            self.assertEqual(vanished(u, True), [self.uids[9]])
            self.assertTrue(u[0].startswith("* VANISHED (EARLIER)"))
        finally:
            a.close()
            b.close()


if __name__ == "__main__":
    unittest.main()
