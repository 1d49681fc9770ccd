"""IMAP mailbox commands end to end: CREATE, DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE, LIST, LSUB and STATUS (RFC 3501 §6.3.3-§6.3.10), their error
paths and response codes (RFC 5530), hierarchies, modified UTF-7 names,
per-account limits and isolation between accounts. Messages are put in
place with SQL (mail_allocate + INSERT), so these tests need no APPEND."""
import base64
import imaplib
import re
import socket
import unittest

from harness import Instance

PASSWORD = "mailbox pw 1"
inst = None


def setUpModule():
    global inst
    inst = Instance()
    inst.start_admind()
    for user in ("alice", "bob", "carol", "limits", "rfc", "sub"):
        inst.create_account(user + "@example.test", PASSWORD)
    inst.start_imapd()


def tearDownModule():
    inst.close()


# -- helpers -------------------------------------------------------------------

def mutf7(s):
    """Encodes a str as modified UTF-7 (RFC 3501 §5.1.3)."""
    out, pending = [], []

    def flush():
        if pending:
            b = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def unmutf7(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "&":
            j = s.index("-", i)
            if j == i + 1:
                out.append("&")
            else:
                b64 = s[i + 1:j].replace(",", "/")
                out.append(base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be"))
            i = j + 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def q(name):
    """A quoted IMAP string of name (modified UTF-7 for non-ASCII)."""
    s = mutf7(name)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def login(user):
    m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    m.login(user + "@example.test", PASSWORD)
    return m


LIST_RE = re.compile(rb'^\(([^)]*)\) "/" "((?:[^"\\]|\\.)*)"$')


def parse_list(data):
    """[(set of attributes, decoded name)] from imaplib's LIST/LSUB data."""
    out = []
    for line in data:
        if line is None:
            continue
        m = LIST_RE.match(line)
        if m is None:
            raise AssertionError("unexpected LIST line %r" % (line,))
        attrs = set(m.group(1).decode().split())
        raw = re.sub(rb"\\(.)", rb"\1", m.group(2)).decode("ascii")
        out.append((attrs, unmutf7(raw)))
    return out


def do_list(m, ref, pattern, lsub=False):
    typ, data = (m.lsub if lsub else m.list)(q(ref), q(pattern))
    if typ != "OK":
        raise AssertionError("%s failed: %r" % ("LSUB" if lsub else "LIST", data))
    return parse_list(data)


def names(m, pattern="*", ref=""):
    return [n for _, n in do_list(m, ref, pattern)]


def attrs_of(m, name, pattern=None):
    for a, n in do_list(m, "", pattern or name):
        if n == name:
            return a
    return None


def expect_no(test, result, code):
    typ, data = result
    test.assertEqual(typ, "NO", data)
    test.assertTrue(data[0].startswith(("[%s]" % code).encode()), data)


def expect_bad(test, fn, *args):
    with test.assertRaises(imaplib.IMAP4.error) as cm:
        fn(*args)
    test.assertIn("BAD", str(cm.exception))


def account_id(user):
    return int(inst.psql("SELECT account_id FROM addresses WHERE address = '%s@example.test'"
                         % user)[0][0])


def mailbox_row(user, name):
    rows = inst.psql("SELECT mailbox_id, uidvalidity, noselect, special_use FROM mailboxes "
                     "WHERE account_id = %d AND name = '%s'"
                     % (account_id(user), name.replace("'", "''")))
    return rows[0] if rows else None


def add_messages(user, mailbox, flags_list, size=100):
    """Puts one message per entry of flags_list into mailbox; returns UIDs."""
    acc = account_id(user)
    mb = int(mailbox_row(user, mailbox)[0])
    uids = []
    for flags in flags_list:
        rows = inst.psql(
            "WITH a AS (SELECT * FROM mail_allocate(%d, %d, 1)), "
            "m AS (INSERT INTO messages (account_id, size, sha256, header_size, envelope, body, "
            "      bodystructure, partmap) "
            "      VALUES (%d, %d, sha256(gen_random_uuid()::text::bytea), 10, '', '', '', "
            "      '\\x00') RETURNING message_id) "
            "INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags, "
            "  modseq, internaldate) "
            "SELECT %d, %d, a.first_uid, m.message_id, %d, a.modseq, now() FROM a, m "
            "RETURNING uid" % (acc, mb, acc, size, acc, mb, flags))
        uids.append(int(rows[0][0]))
    return uids


def status(m, name, items="(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"):
    typ, data = m.status(q(name), items)
    if typ != "OK":
        return typ, data
    line = data[0].decode()
    inner = line[line.rindex("(") + 1:line.rindex(")")].split()
    return typ, dict(zip(inner[0::2], map(int, inner[1::2]))), line


class Raw:
    """A line-level client for what imaplib cannot send."""

    def __init__(self, user):
        self.sock = socket.create_connection(("127.0.0.1", inst.imap_port), timeout=10)
        self.buf = b""
        self.line()
        self.cmd(b"L LOGIN %s@example.test \"%s\"" % (user.encode(), PASSWORD.encode()))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        tag = text.split(b" ", 1)[0]
        self.sock.sendall(text + b"\r\n")
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def close(self):
        self.sock.close()


# -- tests ---------------------------------------------------------------------

class ListBasics(unittest.TestCase):
    def setUp(self):
        self.m = login("carol")

    def tearDown(self):
        self.m.logout()

    def test_root_and_delimiter(self):
        typ, data = self.m.list('""', '""')
        self.assertEqual(typ, "OK")
        self.assertEqual(data, [b'(\\Noselect) "/" ""'])
        typ, data = self.m.list('"some/ref"', '""')
        self.assertEqual(data, [b'(\\Noselect) "/" ""'])

    def test_default_mailboxes_inbox_first_with_special_use(self):
        # SPECIAL-USE (RFC 6154 §2): plain LIST carries the attributes too.
        listed = do_list(self.m, "", "*")
        self.assertEqual(listed[0], ({"\\HasNoChildren"}, "INBOX"))
        got = {n: a for a, n in listed}
        for n in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
            self.assertEqual(got[n], {"\\HasNoChildren", "\\" + n})
        self.assertEqual(sorted(n for _, n in listed if n != "INBOX"),
                         [n for _, n in listed if n != "INBOX"])

    def test_children_capability(self):
        typ, caps = self.m.capability()
        self.assertIn(b"CHILDREN", caps[0].split())

    def test_inbox_case_insensitive(self):
        for pat in ("inbox", "InBoX", "INBOX", "i*"):
            self.assertIn("INBOX", names(self.m, pat), pat)
        self.assertEqual(names(self.m, "inbox/%"), [])

    def test_lsub_default_subscriptions(self):
        got = [n for _, n in do_list(self.m, "", "*", lsub=True)]
        self.assertEqual(got[0], "INBOX")
        self.assertEqual(set(got), {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"})

    def test_list_needs_login(self):
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        try:
            for cmd in (b"CREATE x", b"DELETE x", b"RENAME x y", b'LIST "" *', b'LSUB "" *',
                        b"SUBSCRIBE x", b"UNSUBSCRIBE x", b"STATUS INBOX (MESSAGES)"):
                tag = m._new_tag()
                m.send(tag + b" " + cmd + b"\r\n")
                while True:
                    line = m._get_line()
                    if line.startswith(tag):
                        break
                self.assertTrue(line.startswith(tag + b" BAD"), line)
        finally:
            m.logout()


class Create(unittest.TestCase):
    def setUp(self):
        self.m = login("alice")

    def tearDown(self):
        self.m.logout()

    def test_create_select_list(self):
        self.assertEqual(self.m.create(q("Projects"))[0], "OK")
        self.assertEqual(self.m.select(q("Projects"))[0], "OK")
        self.assertEqual(attrs_of(self.m, "Projects"), {"\\HasNoChildren"})
        self.assertFalse(mailbox_row("alice", "Projects")[2] == "t")

    def test_create_existing(self):
        self.assertEqual(self.m.create(q("Dup"))[0], "OK")
        expect_no(self, self.m.create(q("Dup")), "ALREADYEXISTS")
        for n in ("INBOX", "inbox", "Inbox"):
            expect_no(self, self.m.create(q(n)), "ALREADYEXISTS")
        expect_no(self, self.m.create(q("Sent")), "ALREADYEXISTS")

    def test_create_makes_parents(self):
        self.assertEqual(self.m.create(q("a1/b/c"))[0], "OK")
        self.assertEqual(names(self.m, "a1*"), ["a1", "a1/b", "a1/b/c"])
        self.assertEqual(attrs_of(self.m, "a1"), {"\\HasChildren"})
        self.assertEqual(attrs_of(self.m, "a1/b/c"), {"\\HasNoChildren"})
        # Parents are real mailboxes.
        self.assertEqual(self.m.select(q("a1/b"))[0], "OK")
        expect_no(self, self.m.create(q("a1/b")), "ALREADYEXISTS")

    def test_create_trailing_delimiter(self):
        self.assertEqual(self.m.create(q("Folder1/"))[0], "OK")
        self.assertEqual(names(self.m, "Folder1*"), ["Folder1"])
        expect_no(self, self.m.create(q("Folder1")), "ALREADYEXISTS")

    def test_create_under_inbox(self):
        self.assertEqual(self.m.create(q("inbox/Sub"))[0], "OK")
        self.assertIn("INBOX/Sub", names(self.m, "INBOX/*"))
        self.assertEqual(attrs_of(self.m, "INBOX"), {"\\HasChildren"})

    def test_create_invalid_names(self):
        for bad in ('"a//b"', '"/lead"', '""', '"/"', '"&Jjo"', '"&AGE-"', '"x&"', '"a/b//"',
                    "(a)"):
            expect_bad(self, self.m.create, bad)
        expect_bad(self, self.m._simple_command, "CREATE")
        expect_bad(self, self.m._simple_command, "CREATE", "a", "b")
        self.assertEqual(names(self.m, "a//b"), [])

    def test_create_non_ascii(self):
        for name in ("Entwürfe", "台北", "Ünïcödé/子", "a&b", "mail📧", 'quo"te\\back', "NIL"):
            self.assertEqual(self.m.create(q(name))[0], "OK", name)
            self.assertIn(name, names(self.m, "*"))
            self.assertEqual(self.m.select(q(name))[0], "OK", name)
            self.assertIsNotNone(mailbox_row("alice", name), name)
        typ, data = self.m.list('""', '"Entw*"')
        self.assertIn(b'"Entw&APw-rfe"', data[0])
        typ, data = self.m.list('""', q("台%"))
        self.assertEqual(data, [b'(\\HasNoChildren) "/" "&U,BTFw-"'])
        self.assertEqual(names(self.m, "Entw%rfe"), ["Entwürfe"])

    def test_create_reuses_placeholder(self):
        self.assertEqual(self.m.create(q("ph/child"))[0], "OK")
        old_validity = mailbox_row("alice", "ph")[1]
        self.assertEqual(self.m.delete(q("ph"))[0], "OK")
        self.assertEqual(mailbox_row("alice", "ph")[2], "t")
        self.assertEqual(self.m.create(q("ph"))[0], "OK")
        row = mailbox_row("alice", "ph")
        self.assertEqual(row[2], "f")
        self.assertNotEqual(row[1], old_validity)
        self.assertEqual(self.m.select(q("ph"))[0], "OK")


class Delete(unittest.TestCase):
    def setUp(self):
        self.m = login("alice")

    def tearDown(self):
        try:
            self.m.logout()
        except imaplib.IMAP4.abort:
            pass

    def test_delete_simple(self):
        self.m.create(q("Gone"))
        self.assertEqual(self.m.delete(q("Gone"))[0], "OK")
        self.assertEqual(names(self.m, "Gone"), [])
        self.assertIsNone(mailbox_row("alice", "Gone"))
        expect_no(self, self.m.delete(q("Gone")), "NONEXISTENT")
        expect_no(self, self.m.select(q("Gone")), "NONEXISTENT")

    def test_delete_inbox(self):
        for n in ("INBOX", "inbox"):
            expect_no(self, self.m.delete(q(n)), "CANNOT")
        self.assertEqual(self.m.select("INBOX")[0], "OK")

    def test_delete_errors(self):
        expect_no(self, self.m.delete(q("NoSuchBox")), "NONEXISTENT")
        expect_bad(self, self.m.delete, '"a//b"')
        expect_bad(self, self.m._simple_command, "DELETE")

    def test_delete_with_children_rfc_example(self):
        # RFC 3501 §6.3.4, first example.
        self.m.create(q("blurdybloop"))
        self.m.create(q("foo/bar"))
        add_messages("alice", "foo", [0, 1])
        old_id = int(mailbox_row("alice", "foo")[0])
        self.assertEqual(self.m.delete(q("blurdybloop"))[0], "OK")
        self.assertEqual(self.m.delete(q("foo"))[0], "OK")
        self.assertEqual(attrs_of(self.m, "foo"), {"\\Noselect", "\\HasChildren"})
        self.assertEqual(attrs_of(self.m, "foo/bar"), {"\\HasNoChildren"})
        self.assertEqual(inst.psql("SELECT count(*) FROM mailbox_messages WHERE account_id = %d "
                                   "AND mailbox_id = %d" % (account_id("alice"), old_id)),
                         [["0"]])
        expect_no(self, self.m.select(q("foo")), "NONEXISTENT")
        expect_no(self, self.m.delete(q("foo")), "HASCHILDREN")
        typ, _ = self.m.status(q("foo"), "(MESSAGES)")
        self.assertEqual(typ, "NO")
        self.assertEqual(self.m.delete(q("foo/bar"))[0], "OK")
        self.assertEqual(do_list(self.m, "", "foo*"), [({"\\Noselect", "\\HasNoChildren"}, "foo")])
        self.assertEqual(self.m.delete(q("foo"))[0], "OK")
        self.assertEqual(names(self.m, "foo*"), [])

    def test_delete_removes_messages_and_refunds(self):
        self.m.create(q("Heavy"))
        acc = account_id("alice")
        before = inst.psql("SELECT used_messages, used_bytes FROM accounts WHERE account_id = %d"
                           % acc)[0]
        uids = add_messages("alice", "Heavy", [0, 1, 8], size=1000)
        self.assertEqual(uids, [1, 2, 3])
        mid = int(mailbox_row("alice", "Heavy")[0])
        # An expunged row, to see the cascade.
        inst.psql("INSERT INTO expunged VALUES (%d, %d, 99, 1)" % (acc, mid))
        self.assertEqual(self.m.delete(q("Heavy"))[0], "OK")
        after = inst.psql("SELECT used_messages, used_bytes FROM accounts WHERE account_id = %d"
                          % acc)[0]
        self.assertEqual(before, after)
        for table in ("mailbox_messages", "expunged"):
            self.assertEqual(inst.psql("SELECT count(*) FROM %s WHERE account_id = %d AND "
                                       "mailbox_id = %d" % (table, acc, mid)), [["0"]])
        # Re-created: a new UIDVALIDITY, nothing inside.
        self.m.create(q("Heavy"))
        _, st, _ = status(self.m, "Heavy")
        self.assertEqual(st["MESSAGES"], 0)

    def test_delete_selected_by_other_session(self):
        self.m.create(q("Shared"))
        other = login("alice")
        try:
            self.assertEqual(other.select(q("Shared"))[0], "OK")
            self.assertEqual(self.m.delete(q("Shared"))[0], "OK")
            with self.assertRaises(imaplib.IMAP4.abort):
                other.noop()
        finally:
            try:
                other.shutdown()
            except OSError:
                pass

    def test_delete_own_selected(self):
        self.m.create(q("Mine"))
        self.assertEqual(self.m.select(q("Mine"))[0], "OK")
        self.assertEqual(self.m.delete(q("Mine"))[0], "OK")
        # Back in the authenticated state: a command that needs a
        # selected mailbox is refused, the session lives on.
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            self.m._simple_command("CLOSE")
        self.assertIn("Select a mailbox first", str(cm.exception))
        self.assertEqual(self.m.noop()[0], "OK")

    def test_delete_special_use(self):
        m = login("rfc")
        try:
            self.assertEqual(m.delete(q("Junk"))[0], "OK")
            self.assertEqual(names(m, "Junk"), [])
        finally:
            m.logout()


class Rename(unittest.TestCase):
    def setUp(self):
        self.m = login("alice")

    def tearDown(self):
        self.m.logout()

    def test_rename_keeps_uidvalidity_and_uids(self):
        self.m.create(q("R1"))
        add_messages("alice", "R1", [1, 0, 0])
        _, before, _ = status(self.m, "R1")
        self.assertEqual(self.m.rename(q("R1"), q("R2"))[0], "OK")
        self.assertEqual(names(self.m, "R1"), [])
        _, after, _ = status(self.m, "R2")
        self.assertEqual(before, after)
        self.assertEqual(after["MESSAGES"], 3)
        self.assertEqual(after["UNSEEN"], 2)

    def test_rename_with_children_and_subscriptions(self):
        self.m.create(q("rp/c1/d"))
        self.m.create(q("rp/c2"))
        self.m.create(q("rpx"))
        self.m.subscribe(q("rp/c1"))
        self.m.subscribe(q("rpx"))
        ids = {n: mailbox_row("alice", n)[0] for n in ("rp", "rp/c1", "rp/c1/d", "rp/c2")}
        self.assertEqual(self.m.rename(q("rp"), q("np/x"))[0], "OK")
        self.assertEqual(names(self.m, "rp*"), ["rpx"])
        self.assertEqual(names(self.m, "np*"), ["np", "np/x", "np/x/c1", "np/x/c1/d", "np/x/c2"])
        for old, id_ in ids.items():
            self.assertEqual(mailbox_row("alice", "np/x" + old[2:])[0], id_)
        self.assertEqual(self.m.select(q("np"))[0], "OK")  # a created parent
        subs = [n for _, n in do_list(self.m, "", "*", lsub=True)]
        self.assertIn("np/x/c1", subs)
        self.assertIn("rpx", subs)
        self.assertNotIn("rp/c1", subs)

    def test_rename_errors(self):
        self.m.create(q("E1/kid"))
        self.m.create(q("E2"))
        expect_no(self, self.m.rename(q("NoSuch"), q("Other")), "NONEXISTENT")
        expect_no(self, self.m.rename(q("E1"), q("E2")), "ALREADYEXISTS")
        expect_no(self, self.m.rename(q("E1"), q("E1")), "ALREADYEXISTS")
        expect_no(self, self.m.rename(q("E1"), q("inbox")), "ALREADYEXISTS")
        expect_no(self, self.m.rename(q("E1"), q("Sent")), "ALREADYEXISTS")
        expect_no(self, self.m.rename(q("E1"), q("E1/kid/x")), "CANNOT")
        expect_no(self, self.m.rename(q("E1"), q("E1/new")), "CANNOT")
        expect_bad(self, self.m.rename, '"E1"', '"a//b"')
        expect_bad(self, self.m._simple_command, "RENAME", '"E1"')
        self.assertEqual(names(self.m, "E1*"), ["E1", "E1/kid"])
        self.assertEqual(names(self.m, "E2*"), ["E2"])

    def test_rename_moves_children_collision(self):
        self.m.create(q("C1/k"))
        # An orphan where a child would land.
        inst.psql("INSERT INTO mailboxes (account_id, name) VALUES (%d, 'C9/k')"
                  % account_id("alice"))
        expect_no(self, self.m.rename(q("C1"), q("C9")), "ALREADYEXISTS")
        self.assertEqual(names(self.m, "C1*"), ["C1", "C1/k"])

    def test_rename_too_deep(self):
        deep = "/".join(["d"] * 31)
        self.assertEqual(self.m.create(q("Z/" + deep))[0], "OK")
        expect_no(self, self.m.rename(q("Z"), q("Y/Z")), "CANNOT")
        self.assertEqual(self.m.rename(q("Z"), q("Y"))[0], "OK")

    def test_rename_special_use_travels(self):
        m = login("rfc")
        try:
            sid = mailbox_row("rfc", "Sent")[0]
            self.assertEqual(m.rename(q("Sent"), q("Sent Items"))[0], "OK")
            row = mailbox_row("rfc", "Sent Items")
            self.assertEqual((row[0], row[3]), (sid, "Sent"))
            self.assertIsNone(mailbox_row("rfc", "Sent"))
        finally:
            m.logout()

    def test_rename_selected_mailbox_keeps_working(self):
        self.m.create(q("Sel"))
        add_messages("alice", "Sel", [0])
        self.assertEqual(self.m.select(q("Sel"))[0], "OK")
        other = login("alice")
        try:
            self.assertEqual(other.rename(q("Sel"), q("Sel2"))[0], "OK")
        finally:
            other.logout()
        self.assertEqual(self.m.noop()[0], "OK")
        _, st, _ = status(self.m, "Sel2", "(MESSAGES)")
        self.assertEqual(st, {"MESSAGES": 1})

    def test_rename_non_ascii(self):
        self.m.create(q("Brouillons"))
        self.assertEqual(self.m.rename(q("Brouillons"), q("Ablage/Entwürfe"))[0], "OK")
        self.assertEqual(names(self.m, "Ablage/%"), ["Ablage/Entwürfe"])
        self.assertEqual(self.m.rename(q("Ablage"), q("台北2"))[0], "OK")
        self.assertEqual(names(self.m, "台北2*"), ["台北2", "台北2/Entwürfe"])


class RenameInbox(unittest.TestCase):
    def test_rename_inbox_moves_messages(self):
        m = login("bob")
        watcher = login("bob")
        try:
            m.create(q("INBOX/keep"))
            uids = add_messages("bob", "INBOX", [1, 0, 4])
            inbox_validity = mailbox_row("bob", "INBOX")[1]
            self.assertEqual(watcher.select("INBOX")[1], [b"3"])
            self.assertEqual(m.rename(q("inbox"), q("Old Mail"))[0], "OK")
            _, inbox, _ = status(m, "INBOX")
            self.assertEqual((inbox["MESSAGES"], inbox["UNSEEN"]), (0, 0))
            self.assertEqual(inbox["UIDVALIDITY"], int(inbox_validity))
            self.assertEqual(inbox["UIDNEXT"], uids[-1] + 1)
            _, old, _ = status(m, "Old Mail")
            self.assertEqual((old["MESSAGES"], old["UNSEEN"], old["UIDNEXT"]), (3, 2, 4))
            self.assertNotEqual(old["UIDVALIDITY"], int(inbox_validity))
            # INBOX's children stay where they are.
            self.assertIn("INBOX/keep", names(m, "*"))
            self.assertEqual(names(m, "Old Mail*"), ["Old Mail"])
            # The session that had INBOX selected sees the messages go.
            typ, _ = watcher.noop()
            self.assertEqual(typ, "OK")
            self.assertEqual(len(watcher.untagged_responses.get("EXPUNGE", [])), 3)
            acc = account_id("bob")
            rows = inst.psql("SELECT mm.uid, mm.flags FROM mailbox_messages mm JOIN mailboxes b "
                             "USING (account_id, mailbox_id) WHERE b.account_id = %d AND "
                             "b.name = 'Old Mail' ORDER BY uid" % acc)
            self.assertEqual(rows, [["1", "1"], ["2", "0"], ["3", "4"]])
            # Usage unchanged, counters exact, INBOX still usable.
            used = inst.psql("SELECT used_messages FROM accounts WHERE account_id = %d" % acc)
            self.assertEqual(used, [["3"]])
            add_messages("bob", "INBOX", [0])
            _, inbox, _ = status(m, "INBOX")
            self.assertEqual(inbox["MESSAGES"], 1)
            # Renaming an empty INBOX works too, and the target must be new.
            expect_no(self, m.rename(q("INBOX"), q("Old Mail")), "ALREADYEXISTS")
            self.assertEqual(m.rename(q("INBOX"), q("INBOX/old"))[0], "OK")
            _, sub, _ = status(m, "INBOX/old")
            self.assertEqual(sub["MESSAGES"], 1)
            m.delete(q("INBOX/old"))
            self.assertEqual(m.rename(q("INBOX"), q("Empty"))[0], "OK")
            _, e, _ = status(m, "Empty")
            self.assertEqual(e["MESSAGES"], 0)
        finally:
            watcher.logout()
            m.logout()


class Subscriptions(unittest.TestCase):
    def setUp(self):
        self.m = login("sub")

    def tearDown(self):
        self.m.logout()

    def test_subscribe_nonexistent_and_lsub(self):
        self.assertEqual(self.m.subscribe(q("ghost"))[0], "OK")
        self.assertEqual(self.m.subscribe(q("ghost"))[0], "OK")  # twice is fine
        lsub = do_list(self.m, "", "gh*", lsub=True)
        self.assertEqual(lsub, [({"\\Noselect"}, "ghost")])
        self.assertEqual(names(self.m, "gh*"), [])
        self.assertEqual(self.m.unsubscribe(q("ghost"))[0], "OK")
        self.assertEqual(do_list(self.m, "", "gh*", lsub=True), [])
        # RFC 9051 §6.3.8: not subscribed is still OK.
        self.assertEqual(self.m.unsubscribe(q("ghost"))[0], "OK")

    def test_lsub_percent_shows_unsubscribed_parent(self):
        self.m.create(q("news/comp/mail/misc"))
        self.m.subscribe(q("news/comp/mail/misc"))
        self.m.subscribe(q("news/comp/mail/mime"))
        self.assertEqual(do_list(self.m, "news/", "comp/mail/*", lsub=True),
                         [({"\\Noselect"}, "news/comp/mail/mime"), (set(), "news/comp/mail/misc")])
        self.assertEqual(do_list(self.m, "news/", "comp/%", lsub=True),
                         [({"\\Noselect"}, "news/comp/mail")])
        self.assertEqual(do_list(self.m, "", "%", lsub=True)[-1], ({"\\Noselect"}, "news"))

    def test_subscription_survives_delete(self):
        self.m.create(q("Temp"))
        self.m.subscribe(q("Temp"))
        self.m.delete(q("Temp"))
        self.assertEqual(do_list(self.m, "", "Temp", lsub=True), [({"\\Noselect"}, "Temp")])

    def test_subscribe_non_ascii_and_invalid(self):
        self.assertEqual(self.m.subscribe(q("台北"))[0], "OK")
        self.assertEqual(do_list(self.m, "", "台北", lsub=True), [({"\\Noselect"}, "台北")])
        typ, data = self.m.lsub('""', '"&U,BTFw-"')
        self.assertEqual(data, [b'(\\Noselect) "/" "&U,BTFw-"'])
        expect_bad(self, self.m.subscribe, '"&Jjo"')
        expect_bad(self, self.m.unsubscribe, '"a//b"')
        expect_bad(self, self.m._simple_command, "SUBSCRIBE")

    def test_subscription_limit(self):
        acc = account_id("sub")
        have = int(inst.psql("SELECT count(*) FROM subscriptions WHERE account_id = %d"
                             % acc)[0][0])
        inst.psql("INSERT INTO subscriptions SELECT %d, 'bulk' || i FROM "
                  "generate_series(1, %d) i" % (acc, 10000 - have))
        try:
            expect_no(self, self.m.subscribe(q("one-too-many")), "LIMIT")
            self.assertEqual(self.m.subscribe(q("bulk1"))[0], "OK")  # already there
            self.assertEqual(self.m.unsubscribe(q("bulk1"))[0], "OK")
            self.assertEqual(self.m.subscribe(q("one-too-many"))[0], "OK")
        finally:
            inst.psql("DELETE FROM subscriptions WHERE account_id = %d AND "
                      "(name LIKE 'bulk%%' OR name = 'one-too-many')" % acc)


class ListPatterns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        m = login("rfc")
        for n in ("lp/a/b", "lp/c", "lpz", "LP2"):
            m.create(q(n))
        m.logout()
        # A child without its parent (as another tool might leave it).
        inst.psql("INSERT INTO mailboxes (account_id, name) VALUES (%d, 'orph/child')"
                  % account_id("rfc"))

    def setUp(self):
        self.m = login("rfc")

    def tearDown(self):
        self.m.logout()

    def test_percent_and_star(self):
        self.assertEqual(do_list(self.m, "", "lp/%"),
                         [({"\\HasChildren"}, "lp/a"), ({"\\HasNoChildren"}, "lp/c")])
        self.assertEqual(names(self.m, "lp*"), ["lp", "lp/a", "lp/a/b", "lp/c", "lpz"])
        self.assertEqual(names(self.m, "lp%"), ["lp", "lpz"])
        self.assertEqual(names(self.m, "%/%/%"), ["lp/a/b"])
        self.assertEqual(names(self.m, "*/b"), ["lp/a/b"])
        self.assertEqual(names(self.m, "LP/%"), [])  # case-sensitive
        self.assertEqual(names(self.m, "LP*"), ["LP2"])

    def test_reference(self):
        self.assertEqual(names(self.m, "%", ref="lp/"), ["lp/a", "lp/c"])
        self.assertEqual(names(self.m, "/%", ref="lp/"), ["lp/a", "lp/c"])
        self.assertEqual(names(self.m, "/a", ref="lp"), ["lp/a"])
        self.assertEqual(names(self.m, "*", ref="lp/a/"), ["lp/a/b"])
        self.assertEqual(names(self.m, "%", ref="inbox/"), [])

    def test_percent_lists_missing_parent(self):
        # RFC 3501 §6.3.8: "foo/bar" exists, "foo" does not: % shows foo.
        self.assertIn(({"\\Noselect", "\\HasChildren"}, "orph"), do_list(self.m, "", "%"))
        self.assertEqual(do_list(self.m, "", "orph/%"), [({"\\HasNoChildren"}, "orph/child")])
        self.assertEqual(names(self.m, "orph*"), ["orph/child"])
        typ, data = self.m.status(q("orph"), "(MESSAGES)")
        expect_no(self, (typ, data), "NONEXISTENT")

    def test_bad_patterns(self):
        expect_bad(self, self.m.list, '""', '"&Jjo"')
        expect_bad(self, self.m.list, '"&"', '"*"')
        expect_bad(self, self.m._simple_command, "LIST", '""')
        expect_bad(self, self.m._simple_command, "LSUB")
        # LIST-EXTENDED made (SUBSCRIBED) valid; an unknown option is BAD.
        expect_bad(self, self.m._simple_command, "LIST", "(BOGUS)", '""', '"*"')
        expect_bad(self, self.m.list, '""', '"' + "a" * 5000 + '"')

    def test_many_wildcards_and_long_pattern(self):
        self.assertEqual(names(self.m, "%" * 2000 + "*" * 2000), names(self.m, "*"))
        self.assertEqual(names(self.m, "%a" * 1000), [])


class Status(unittest.TestCase):
    def setUp(self):
        self.m = login("carol")

    def tearDown(self):
        self.m.logout()

    def test_status_values(self):
        self.m.create(q("Stat"))
        validity = int(mailbox_row("carol", "Stat")[1])
        typ, st, line = status(self.m, "Stat")
        self.assertEqual(st, {"MESSAGES": 0, "RECENT": 0, "UIDNEXT": 1,
                              "UIDVALIDITY": validity, "UNSEEN": 0})
        self.assertTrue(line.startswith('"Stat" (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY'), line)
        # \Seen, none, \Answered, \Seen \Flagged, \Deleted, \Draft
        add_messages("carol", "Stat", [1, 0, 2, 5, 8, 16])
        typ, st, _ = status(self.m, "Stat")
        self.assertEqual(st, {"MESSAGES": 6, "RECENT": 6, "UIDNEXT": 7,
                              "UIDVALIDITY": validity, "UNSEEN": 4})
        # STATUS does not claim \Recent; SELECT does.
        _, st, _ = status(self.m, "Stat", "(RECENT)")
        self.assertEqual(st, {"RECENT": 6})
        other = login("carol")
        try:
            other.select(q("Stat"))
            _, st, _ = status(self.m, "Stat", "(RECENT MESSAGES)")
            self.assertEqual(st, {"RECENT": 0, "MESSAGES": 6})
            # STATUS of the selected mailbox works.
            _, st, _ = status(other, "Stat", "(MESSAGES UNSEEN)")
            self.assertEqual(st, {"MESSAGES": 6, "UNSEEN": 4})
        finally:
            other.logout()

    def test_status_order_and_case(self):
        typ, data = self.m.status("INBOX", "(uidnext Messages UNSEEN MESSAGES)")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0].decode(), r'^"INBOX" \(UIDNEXT \d+ MESSAGES \d+ UNSEEN \d+\)$')
        typ, data = self.m.status("inbox", "(MESSAGES)")
        self.assertTrue(data[0].startswith(b'"INBOX" '))

    def test_status_errors(self):
        expect_no(self, self.m.status(q("Missing"), "(MESSAGES)"), "NONEXISTENT")
        expect_bad(self, self.m.status, "INBOX", "(MESSAGES BOGUS)")
        expect_bad(self, self.m.status, "INBOX", "()")
        expect_bad(self, self.m.status, "INBOX", "MESSAGES")
        expect_bad(self, self.m.status, '"a//b"', "(MESSAGES)")
        expect_bad(self, self.m._simple_command, "STATUS", "INBOX")

    def test_status_non_ascii(self):
        self.m.create(q("台北"))
        typ, data = self.m.status(q("台北"), "(MESSAGES)")
        self.assertEqual(data, [b'"&U,BTFw-" (MESSAGES 0)'])


class Isolation(unittest.TestCase):
    def test_other_account_sees_nothing(self):
        a = login("alice")
        b = login("bob")
        try:
            a.create(q("secret-alice/inner"))
            a.subscribe(q("secret-alice"))
            add_messages("alice", "secret-alice", [0])
            for pat, ref in (("*", ""), ("%", ""), ("../*", ""), ("%/%", ""), ("*", "../"),
                             ("*secret*", ""), ("*", "alice@example.test/"),
                             ("../alice@example.test/*", ""), ("~alice/*", "")):
                self.assertNotIn("secret", " ".join(names(b, pat, ref)), (pat, ref))
                self.assertNotIn("secret", " ".join(n for _, n in do_list(b, ref, pat, True)))
            expect_no(self, b.status(q("secret-alice"), "(MESSAGES)"), "NONEXISTENT")
            expect_no(self, b.select(q("secret-alice")), "NONEXISTENT")
            expect_no(self, b.rename(q("secret-alice"), q("mine")), "NONEXISTENT")
            expect_no(self, b.delete(q("secret-alice")), "NONEXISTENT")
            expect_no(self, b.delete(q("secret-alice/inner")), "NONEXISTENT")
            # The same name in another account is another mailbox.
            self.assertEqual(b.create(q("secret-alice"))[0], "OK")
            self.assertEqual(b.delete(q("secret-alice"))[0], "OK")
            _, st, _ = status(a, "secret-alice")
            self.assertEqual(st["MESSAGES"], 1)
            self.assertIn("secret-alice/inner", names(a, "secret*"))
        finally:
            a.logout()
            b.logout()


class Limits(unittest.TestCase):
    def test_mailbox_limit(self):
        m = login("limits")
        acc = account_id("limits")
        try:
            have = int(inst.psql("SELECT count(*) FROM mailboxes WHERE account_id = %d"
                                 % acc)[0][0])
            inst.psql("INSERT INTO mailboxes (account_id, name) SELECT %d, 'bulk' || i "
                      "FROM generate_series(1, %d) i" % (acc, 10000 - have - 1))
            # Room for one: "x/y" needs two.
            expect_no(self, m.create(q("x/y")), "LIMIT")
            self.assertEqual(names(m, "x*"), [])
            self.assertEqual(m.create(q("x"))[0], "OK")
            expect_no(self, m.create(q("z")), "LIMIT")
            expect_no(self, m.rename(q("x"), q("p/q")), "LIMIT")
            # The parent exists: no new mailbox needed.
            self.assertEqual(m.rename(q("x"), q("bulk1/x"))[0], "OK")
            expect_no(self, m.rename(q("INBOX"), q("fromInbox")), "LIMIT")
            self.assertEqual(m.delete(q("bulk2"))[0], "OK")
            self.assertEqual(m.create(q("z"))[0], "OK")
        finally:
            inst.psql("DELETE FROM mailboxes WHERE account_id = %d AND name LIKE 'bulk%%'" % acc)
            m.logout()


if __name__ == "__main__":
    unittest.main()
