"""LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE and
CREATE-SPECIAL-USE (RFC 6154) end to end, with their error paths. Each test
class works in an account of its own. Messages are put in place with SQL
(mail_allocate + INSERT), as in test_imap_mailboxes.py."""
import imaplib
import re
import socket
import threading
import unittest

from harness import Instance

PASSWORD = "list ext pw 1"
USERS = ("caps", "su", "create", "race", "sub", "rfc9", "kids", "multi", "stat", "iso1", "iso2")
inst = None


def setUpModule():
    global inst
    inst = Instance()
    inst.start_admind()
    for user in USERS:
        inst.create_account(user + "@example.test", PASSWORD)
    inst.start_imapd()


def tearDownModule():
    inst.close()


def account_id(user):
    return int(inst.psql("SELECT account_id FROM addresses WHERE address = '%s@example.test'"
                         % user)[0][0])


def sql_mailbox(user, name):
    # (NULL as '-': harness.psql marks NULL with \x1e, which splitlines()
    # takes for a line end when it is not the last column.)
    rows = inst.psql("SELECT mailbox_id, coalesce(special_use, '-'), noselect FROM mailboxes "
                     "WHERE account_id = %d AND name = '%s'"
                     % (account_id(user), name.replace("'", "''")))
    if not rows:
        return None
    return [rows[0][0], None if rows[0][1] == "-" else rows[0][1], rows[0][2]]


def add_messages(user, mailbox, flags_list, size=100):
    """Puts one message of size octets per entry of flags_list into mailbox."""
    acc = account_id(user)
    mb = int(sql_mailbox(user, mailbox)[0])
    for flags in flags_list:
        inst.psql(
            "WITH a AS (SELECT * FROM mail_allocate(%d, %d, 1)), "
            "m AS (INSERT INTO messages (account_id, size, sha256, header_size, envelope, body, "
            "      bodystructure, partmap) "
            "      VALUES (%d, %d, sha256(gen_random_uuid()::text::bytea), 10, '', '', '', "
            "      '\\x00') RETURNING message_id) "
            "INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags, "
            "  modseq, internaldate) "
            "SELECT %d, %d, a.first_uid, m.message_id, %d, a.modseq, now() FROM a, m"
            % (acc, mb, acc, size, acc, mb, flags))


LIST_RE = re.compile(rb'^\* LIST \(([^)]*)\) "/" "((?:[^"\\]|\\.)*)"(?: (.*))?$')
STATUS_RE = re.compile(rb'^\* STATUS "((?:[^"\\]|\\.)*)" \((.*)\)$')


class Client:
    """A line-level IMAP client: extended LIST is beyond imaplib."""

    def __init__(self, user, login=True):
        self.sock = socket.create_connection(("127.0.0.1", inst.imap_port), timeout=20)
        self.buf = b""
        self.n = 0
        self.line()
        if login:
            self.ok('LOGIN %s@example.test "%s"' % (user, PASSWORD))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        """Sends a command; returns (untagged lines, tagged line)."""
        self.n += 1
        tag = b"T%d" % self.n
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        lines = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return lines, line[len(tag) + 1:]
            lines.append(line)

    def ok(self, text):
        lines, tagged = self.cmd(text)
        if not tagged.startswith(b"OK"):
            raise AssertionError("%s: %r" % (text, tagged))
        return lines

    def close(self):
        self.sock.close()


def parse_list(lines):
    """[(name, set of attributes, extended data or None)] of the LIST lines."""
    out = []
    for line in lines:
        if not line.startswith(b"* LIST "):
            continue
        m = LIST_RE.match(line)
        if m is None:
            raise AssertionError("unexpected LIST line %r" % line)
        name = re.sub(rb"\\(.)", rb"\1", m.group(2)).decode()
        ext = m.group(3).decode() if m.group(3) is not None else None
        out.append((name, set(m.group(1).decode().split()), ext))
    return out


def parse_status(line):
    m = STATUS_RE.match(line)
    if m is None:
        raise AssertionError("unexpected STATUS line %r" % line)
    items = m.group(2).decode().split()
    return m.group(1).decode(), list(zip(items[0::2], map(int, items[1::2])))


CHILDINFO = '("CHILDINFO" ("SUBSCRIBED"))'
SPECIAL = ("Drafts", "Sent", "Trash", "Junk", "Archive")


class Capabilities(unittest.TestCase):
    def test_advertised_after_login(self):
        c = Client("caps", login=False)
        try:
            lines = c.ok("CAPABILITY")
            self.assertNotIn(b"LIST-EXTENDED", lines[0])
            c.ok('LOGIN caps@example.test "%s"' % PASSWORD)
            caps = c.ok("CAPABILITY")[0].split()
            for cap in (b"LIST-EXTENDED", b"LIST-STATUS", b"SPECIAL-USE", b"CREATE-SPECIAL-USE",
                        b"CHILDREN"):
                self.assertIn(cap, caps)
        finally:
            c.close()

    def test_extended_list_needs_login(self):
        c = Client("caps", login=False)
        try:
            _, tagged = c.cmd('LIST (SUBSCRIBED) "" "*" RETURN (STATUS (MESSAGES))')
            self.assertTrue(tagged.startswith(b"BAD"), tagged)
        finally:
            c.close()


class SpecialUse(unittest.TestCase):
    def setUp(self):
        self.c = Client("su")

    def tearDown(self):
        self.c.close()

    def test_plain_list_has_attributes(self):
        got = {n: a for n, a, _ in parse_list(self.c.ok('LIST "" "*"'))}
        self.assertEqual(got["INBOX"], {"\\HasNoChildren"})
        for n in SPECIAL:
            self.assertEqual(got[n], {"\\HasNoChildren", "\\" + n})

    def test_lsub_has_none(self):
        for line in self.c.ok('LSUB "" "*"'):
            self.assertNotIn(b"\\Sent", line)
            self.assertNotIn(b"\\Trash", line)

    def test_selection_option(self):
        self.c.ok("CREATE Plain")
        listed = parse_list(self.c.ok('LIST (SPECIAL-USE) "" "*"'))
        self.assertEqual(sorted(n for n, _, _ in listed), sorted(SPECIAL))
        for n, a, ext in listed:
            self.assertIn("\\" + n, a)
            self.assertIsNone(ext)
        # Patterns still apply; case of the option does not matter.
        listed = parse_list(self.c.ok('list (special-use) "" "S*"'))
        self.assertEqual([n for n, _, _ in listed], ["Sent"])

    def test_return_option(self):
        listed = parse_list(self.c.ok('LIST "" "%" RETURN (SPECIAL-USE)'))
        names = [n for n, _, _ in listed]
        self.assertEqual(names[0], "INBOX")
        for n in SPECIAL:
            self.assertIn(n, names)
        self.assertEqual(dict((n, a) for n, a, _ in listed)["Trash"],
                         {"\\HasNoChildren", "\\Trash"})

    def test_selection_with_subscribed(self):
        self.c.ok("UNSUBSCRIBE Junk")
        try:
            listed = parse_list(self.c.ok('LIST (SPECIAL-USE SUBSCRIBED) "" "*"'))
            self.assertEqual(sorted(n for n, _, _ in listed),
                             sorted(n for n in SPECIAL if n != "Junk"))
            for n, a, _ in listed:
                self.assertEqual(a, {"\\Subscribed", "\\HasNoChildren", "\\" + n})
        finally:
            self.c.ok("SUBSCRIBE Junk")

    def test_special_use_recursivematch(self):
        self.c.ok("CREATE Box/Inner")
        acc = account_id("su")
        inst.psql("UPDATE mailboxes SET special_use = 'Flagged' WHERE account_id = %d "
                  "AND name = 'Box/Inner'" % acc)
        try:
            listed = parse_list(self.c.ok('LIST (SPECIAL-USE RECURSIVEMATCH) "" "B%"'))
            self.assertEqual(listed, [("Box", {"\\HasChildren"},
                                       '("CHILDINFO" ("SPECIAL-USE"))')])
            # \Flagged set by other means is shown.
            self.assertIn(("Box/Inner", {"\\HasNoChildren", "\\Flagged"}, None),
                          parse_list(self.c.ok('LIST (SPECIAL-USE) "" "*"')))
        finally:
            inst.psql("UPDATE mailboxes SET special_use = NULL WHERE account_id = %d "
                      "AND name = 'Box/Inner'" % acc)


class CreateSpecialUse(unittest.TestCase):
    def setUp(self):
        self.c = Client("create")

    def tearDown(self):
        self.c.close()

    def expect(self, cmd, start):
        _, tagged = self.c.cmd(cmd)
        self.assertTrue(tagged.startswith(start.encode()), (cmd, tagged))

    def test_create_with_use(self):
        self.c.ok("DELETE Junk")
        self.c.ok("CREATE Spam (USE (\\Junk))")
        self.assertEqual(sql_mailbox("create", "Spam")[1], "Junk")
        self.assertEqual(parse_list(self.c.ok('LIST "" "Spam"')),
                         [("Spam", {"\\HasNoChildren", "\\Junk"}, None)])
        # Case-insensitive attribute, missing parents created without a use.
        self.c.ok("DELETE Drafts")
        self.c.ok("CREATE Work/Drafts (use (\\dRaFtS))")
        self.assertEqual(sql_mailbox("create", "Work/Drafts")[1], "Drafts")
        self.assertIsNone(sql_mailbox("create", "Work")[1])
        # The same attribute twice is one use.
        self.c.ok("DELETE Archive")
        self.c.ok("CREATE Old (USE (\\Archive \\Archive))")
        self.assertEqual(sql_mailbox("create", "Old")[1], "Archive")

    def test_use_taken(self):
        self.expect("CREATE Sent2 (USE (\\Sent))", "NO [USEATTR]")
        self.assertIsNone(sql_mailbox("create", "Sent2"))
        self.expect("CREATE a/b/c (USE (\\Trash))", "NO [USEATTR]")
        self.assertIsNone(sql_mailbox("create", "a"))

    def test_unsupported_uses(self):
        for use in ("\\All", "\\Flagged", "\\Important", "\\Inbox", "\\Sent \\Trash"):
            self.expect("CREATE Virtual (USE (%s))" % use, "NO [USEATTR]")
            self.assertIsNone(sql_mailbox("create", "Virtual"), use)

    def test_empty_use(self):
        self.c.ok("CREATE Nothing (USE ())")
        self.assertIsNone(sql_mailbox("create", "Nothing")[1])

    def test_syntax_errors(self):
        for cmd in ("CREATE X (USE (Sent))", "CREATE X (USE (\\))", "CREATE X (FOO (\\Sent))",
                    "CREATE X ()", "CREATE X (USE)", "CREATE X (USE \\Sent)",
                    "CREATE X (USE (\\Sent) USE (\\Sent))", "CREATE X USE", "CREATE X (USE ()) Y",
                    'CREATE X (USE ("\\Sent"))'):
            self.expect(cmd, "BAD")
        self.assertIsNone(sql_mailbox("create", "X"))

    def test_inbox_and_existing(self):
        self.expect("CREATE INBOX (USE (\\Trash))", "NO [ALREADYEXISTS]")
        self.expect("CREATE Sent (USE (\\Sent))", "NO [ALREADYEXISTS]")

    def test_placeholder_becomes_special(self):
        self.c.ok("CREATE Bin/inside")
        self.c.ok("DELETE Bin")
        self.assertEqual(sql_mailbox("create", "Bin")[2], "t")
        self.c.ok("DELETE Trash")
        self.c.ok("CREATE Bin (USE (\\Trash))")
        row = sql_mailbox("create", "Bin")
        self.assertEqual((row[1], row[2]), ("Trash", "f"))
        self.assertEqual(parse_list(self.c.ok('LIST (SPECIAL-USE) "" "Bin"')),
                         [("Bin", {"\\HasChildren", "\\Trash"}, None)])


class CreateRace(unittest.TestCase):
    def test_one_of_two_concurrent_creates_wins(self):
        c = Client("race")
        c.ok("DELETE Sent")
        c.close()
        for round_ in range(5):
            results = {}
            clients = [Client("race"), Client("race")]

            def run(i):
                _, results[i] = clients[i].cmd("CREATE S%d-%d (USE (\\Sent))" % (round_, i))
            threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            oks = [i for i in range(2) if results[i].startswith(b"OK")]
            self.assertEqual(len(oks), 1, results)
            self.assertTrue(results[1 - oks[0]].startswith(b"NO [USEATTR]"), results)
            rows = inst.psql("SELECT name FROM mailboxes WHERE account_id = %d AND "
                             "special_use = 'Sent'" % account_id("race"))
            self.assertEqual(rows, [["S%d-%d" % (round_, oks[0])]])
            clients[0].ok("DELETE S%d-%d" % (round_, oks[0]))
            for cl in clients:
                cl.close()


class Subscribed(unittest.TestCase):
    """RFC 5258 §5 example 8's hierarchy and its answers."""

    @classmethod
    def setUpClass(cls):
        c = Client("sub")
        for n in SPECIAL + ("INBOX",):
            c.ok('UNSUBSCRIBE "%s"' % n)
        for n in ("Foo/Bar", "Foo/Baz", "Moo"):
            c.ok('CREATE "%s"' % n)
        c.ok("SUBSCRIBE Foo/Baz")
        c.close()

    def setUp(self):
        self.c = Client("sub")

    def tearDown(self):
        self.c.close()

    def test_subscribed_only(self):
        self.assertEqual(parse_list(self.c.ok('LIST (SUBSCRIBED) "" "*"')),
                         [("Foo/Baz", {"\\Subscribed", "\\HasNoChildren"}, None)])
        self.assertEqual(parse_list(self.c.ok('LIST (SUBSCRIBED) "" "%"')), [])

    def test_recursivematch(self):
        self.assertEqual(parse_list(self.c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')),
                         [("Foo", {"\\HasChildren"}, CHILDINFO)])
        # A1: Foo subscribed too.
        self.c.ok("SUBSCRIBE Foo")
        try:
            self.assertEqual(
                parse_list(self.c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')),
                [("Foo", {"\\Subscribed", "\\HasChildren"}, CHILDINFO)])
        finally:
            self.c.ok("UNSUBSCRIBE Foo")
        # RECURSIVEMATCH with REMOTE too, and in any order.
        self.assertEqual(
            parse_list(self.c.ok('LIST (RECURSIVEMATCH REMOTE SUBSCRIBED) "" "%"')),
            [("Foo", {"\\HasChildren"}, CHILDINFO)])

    def test_recursivematch_nonexistent_parent(self):
        # A2: "Foo2" is no mailbox, "Foo2/x" a subscribed name only.
        self.c.ok("SUBSCRIBE Foo2/x")
        try:
            self.assertIn(("Foo2", {"\\NonExistent"}, CHILDINFO),
                          parse_list(self.c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')))
            self.assertEqual(parse_list(self.c.ok('LIST (SUBSCRIBED) "" "Foo2/*"')),
                             [("Foo2/x", {"\\Subscribed", "\\NonExistent"}, None)])
            # CHILDREN asked for: a name without a mailbox has none below.
            self.assertEqual(
                parse_list(self.c.ok('LIST (SUBSCRIBED) "" "Foo2/*" RETURN (CHILDREN)')),
                [("Foo2/x", {"\\Subscribed", "\\NonExistent", "\\HasNoChildren"}, None)])
        finally:
            self.c.ok("UNSUBSCRIBE Foo2/x")

    def test_no_subscriptions_below(self):
        # C: Foo and Moo subscribed, no children subscribed.
        self.c.ok("UNSUBSCRIBE Foo/Baz")
        self.c.ok("SUBSCRIBE Foo")
        self.c.ok("SUBSCRIBE Moo")
        try:
            self.assertEqual(
                parse_list(self.c.ok(
                    'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)')),
                [("Foo", {"\\HasChildren", "\\Subscribed"}, None),
                 ("Moo", {"\\HasNoChildren", "\\Subscribed"}, None)])
        finally:
            self.c.ok("UNSUBSCRIBE Foo")
            self.c.ok("UNSUBSCRIBE Moo")
            self.c.ok("SUBSCRIBE Foo/Baz")

    def test_return_subscribed(self):
        listed = parse_list(self.c.ok('LIST "" "*" RETURN (SUBSCRIBED)'))
        got = {n: a for n, a, _ in listed}
        self.assertEqual(got["Foo/Baz"], {"\\Subscribed", "\\HasNoChildren"})
        self.assertEqual(got["Foo/Bar"], {"\\HasNoChildren"})
        self.assertEqual(got["Foo"], {"\\HasChildren"})
        # Subscribed names without a mailbox are not selected here.
        self.c.ok("SUBSCRIBE Ghost")
        try:
            self.assertNotIn("Ghost", [n for n, _, _ in
                                       parse_list(self.c.ok('LIST "" "*" RETURN (SUBSCRIBED)'))])
            self.assertIn(("Ghost", {"\\Subscribed", "\\NonExistent"}, None),
                          parse_list(self.c.ok('LIST (SUBSCRIBED) "" "*"')))
        finally:
            self.c.ok("UNSUBSCRIBE Ghost")

    def test_lsub_unchanged(self):
        lines = self.c.ok('LSUB "" "%"')
        self.assertEqual(lines, [b'* LSUB (\\Noselect) "/" "Foo"'])


class Rfc5258Example9(unittest.TestCase):
    """RFC 5258 §5 example 9: CHILDINFO whether or not the children match."""

    @classmethod
    def setUpClass(cls):
        c = Client("rfc9")
        for n in SPECIAL + ("INBOX",):
            c.ok('UNSUBSCRIBE "%s"' % n)
        for n in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222",
                  "eps2/mamba"):
            c.ok("CREATE " + n)
        for n in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2",
                  "eps2/mamba", "qux2/bar2"):
            c.ok("SUBSCRIBE " + n)
        c.close()
        # qux2/bar2 exists without its parent.
        inst.psql("INSERT INTO mailboxes (account_id, name) VALUES (%d, 'qux2/bar2')"
                  % account_id("rfc9"))

    def setUp(self):
        self.c = Client("rfc9")

    def tearDown(self):
        self.c.close()

    def test_star2(self):
        listed = parse_list(self.c.ok('LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"'))
        self.assertEqual([(n, a - {"\\HasChildren", "\\HasNoChildren"}, e)
                          for n, a, e in listed],
                         [("baz2/bar2", {"\\Subscribed"}, None),
                          ("baz2/bar22", {"\\Subscribed"}, None),
                          ("baz2/bar222", {"\\Subscribed"}, None),
                          ("eps2", {"\\Subscribed"}, CHILDINFO),
                          ("foo2", set(), CHILDINFO),
                          ("foo2/bar2", {"\\Subscribed"}, None),
                          ("qux2/bar2", {"\\Subscribed"}, None)])
        self.assertEqual(dict((n, a) for n, a, _ in listed)["eps2"],
                         {"\\Subscribed", "\\HasChildren"})

    def test_percent_levels(self):
        # Plain LIST: a level without a mailbox is \Noselect; the extended
        # syntax says \NonExistent (RFC 5258 example 11).
        self.assertIn(("qux2", {"\\Noselect", "\\HasChildren"}, None),
                      parse_list(self.c.ok('LIST "" "%"')))
        self.assertIn(("qux2", {"\\NonExistent", "\\HasChildren"}, None),
                      parse_list(self.c.ok('LIST () "" "%"')))
        self.assertIn(("qux2", {"\\NonExistent", "\\HasChildren"}, None),
                      parse_list(self.c.ok('LIST (REMOTE) "" "%" RETURN (CHILDREN)')))
        # With a subscription of that name, it says so.
        self.c.ok("SUBSCRIBE qux2")
        try:
            self.assertIn(("qux2", {"\\NonExistent", "\\HasChildren", "\\Subscribed"}, None),
                          parse_list(self.c.ok('LIST "" "%" RETURN (SUBSCRIBED)')))
        finally:
            self.c.ok("UNSUBSCRIBE qux2")
        self.assertNotIn("qux2", [n for n, _, _ in parse_list(self.c.ok('LIST () "" "*"'))])


class Children(unittest.TestCase):
    def setUp(self):
        self.c = Client("kids")

    def tearDown(self):
        self.c.close()

    def test_children_and_placeholders(self):
        self.c.ok("CREATE P/Q")
        self.c.ok("CREATE Leaf")
        self.assertEqual(parse_list(self.c.ok('LIST () "" "P" RETURN (CHILDREN)')),
                         [("P", {"\\HasChildren"}, None)])
        self.c.ok("DELETE P")
        self.assertEqual(parse_list(self.c.ok('LIST "" "P*" RETURN (CHILDREN)')),
                         [("P", {"\\Noselect", "\\HasChildren"}, None),
                          ("P/Q", {"\\HasNoChildren"}, None)])
        self.assertEqual(parse_list(self.c.ok('LIST "" "Leaf" RETURN ()')),
                         [("Leaf", {"\\HasNoChildren"}, None)])


class MultiplePatterns(unittest.TestCase):
    def setUp(self):
        self.c = Client("multi")

    def tearDown(self):
        self.c.close()

    def test_patterns(self):
        self.c.ok("CREATE Sent/2024")
        listed = parse_list(self.c.ok('LIST "" ("INBOX" "Sent*")'))
        self.assertEqual([n for n, _, _ in listed], ["INBOX", "Sent", "Sent/2024"])
        # A name matched by several patterns is listed once.
        listed = parse_list(self.c.ok('LIST "" ("Sent" "Se%" "%nt" "Sent")'))
        self.assertEqual([n for n, _, _ in listed], ["Sent"])
        # With a reference.
        self.c.ok("CREATE Sent/2025")
        listed = parse_list(self.c.ok('LIST "Sent/" ("2024" "%5")'))
        self.assertEqual([n for n, _, _ in listed], ["Sent/2024", "Sent/2025"])

    def test_empty_patterns(self):
        # RFC 5258 §3: no delimiter request in the extended syntax.
        lines, tagged = self.c.cmd('LIST () "" ""')
        self.assertEqual((lines, tagged[:2]), ([], b"OK"))
        lines, tagged = self.c.cmd('LIST "" ("" "")')
        self.assertEqual((lines, tagged[:2]), ([], b"OK"))
        self.assertEqual([n for n, _, _ in parse_list(self.c.ok('LIST "" ("" "INBOX")'))],
                         ["INBOX"])
        # The plain command keeps RFC 3501's meaning.
        self.assertEqual(self.c.ok('LIST "" ""'), [b'* LIST (\\Noselect) "/" ""'])

    def test_errors(self):
        too_long = " ".join('"%s"' % ("x" * 4000) for _ in range(5))
        for cmd in ('LIST "" ()', 'LIST (BOGUS) "" "*"', 'LIST (RECURSIVEMATCH) "" "*"',
                    'LIST (REMOTE RECURSIVEMATCH) "" "*"', 'LIST "" "*" RETURN (BOGUS)',
                    'LIST "" "*" RETURN (STATUS ())', 'LIST "" "*" RETURN (STATUS (BOGUS))',
                    'LIST "" "*" RETURN (STATUS)', 'LIST "" "*" RETURN', 'LIST "" "*" RETURN X',
                    'LIST "" "*" RETURNS ()', 'LIST "" "*" RETURN () ()',
                    'LIST (SUBSCRIBED) ""', 'LIST ((SUBSCRIBED)) "" "*"',
                    'LIST (SUBSCRIBED (x)) "" "*"', 'LIST "" (("a"))', 'LIST "" ("&Jjo")',
                    'LIST "" (%s)' % too_long, 'LIST () () "*"'):
            lines, tagged = self.c.cmd(cmd)
            self.assertTrue(tagged.startswith(b"BAD"), (cmd, tagged))
            self.assertEqual(lines, [], cmd)
        # Options are case-insensitive and may repeat.
        self.assertEqual(parse_list(self.c.ok(
            'LIST (subscribed SUBSCRIBED) "" "INBOX" RETURN (children CHILDREN subscribed)')),
            [("INBOX", {"\\Subscribed", "\\HasNoChildren"}, None)])


class ListStatus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        c = Client("stat")
        c.ok("CREATE Box/Kid")
        c.ok("DELETE Box")  # a \Noselect placeholder
        c.ok("SUBSCRIBE Nowhere")
        c.close()
        # \Seen, none, \Deleted, \Deleted \Seen
        add_messages("stat", "INBOX", [1, 0, 8, 9], size=1500)
        add_messages("stat", "Box/Kid", [0], size=10)

    def setUp(self):
        self.c = Client("stat")

    def tearDown(self):
        self.c.close()

    def test_status_after_each_selectable(self):
        lines = self.c.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
        seen = []
        for i, line in enumerate(lines):
            if line.startswith(b"* STATUS "):
                name, items = parse_status(line)
                prev = parse_list([lines[i - 1]])[0]
                self.assertEqual(prev[0], name)
                seen.append((name, items))
        got = dict(seen)
        self.assertEqual(got["INBOX"], [("MESSAGES", 4), ("UNSEEN", 2)])
        self.assertEqual(got["Box/Kid"], [("MESSAGES", 1), ("UNSEEN", 1)])
        self.assertEqual(got["Sent"], [("MESSAGES", 0), ("UNSEEN", 0)])
        self.assertNotIn("Box", got)  # \Noselect
        self.assertEqual(len(seen), len(parse_list(lines)) - 1)

    def test_status_items_as_status_command(self):
        items = "UIDVALIDITY RECENT UIDNEXT DELETED DELETED-STORAGE MESSAGES UNSEEN"
        lines = self.c.ok('LIST "" "INBOX" RETURN (STATUS (%s))' % items)
        self.assertEqual(len(lines), 2)
        _, via_list = parse_status(lines[1])
        _, via_status = parse_status(self.c.ok("STATUS INBOX (%s)" % items)[0])
        self.assertEqual(via_list, via_status)
        self.assertEqual([k for k, _ in via_list], items.split())
        values = dict(via_list)
        self.assertEqual((values["DELETED"], values["DELETED-STORAGE"], values["RECENT"]),
                         (2, 3, 4))

    def test_status_items_repeat_and_combine(self):
        lines = self.c.ok('LIST "" "INBOX" RETURN (STATUS (MESSAGES) CHILDREN '
                          'STATUS (messages UIDNEXT))')
        self.assertEqual(parse_status(lines[1])[1], [("MESSAGES", 4), ("UIDNEXT", 5)])

    def test_with_subscribed_selection(self):
        lines = self.c.ok('LIST (SUBSCRIBED) "" "*" RETURN (STATUS (MESSAGES))')
        listed = parse_list(lines)
        self.assertIn(("Nowhere", {"\\Subscribed", "\\NonExistent"}, None), listed)
        names = [parse_status(l)[0] for l in lines if l.startswith(b"* STATUS")]
        self.assertIn("INBOX", names)
        self.assertNotIn("Nowhere", names)
        self.assertNotIn("Box/Kid", names)  # not subscribed: not listed

    def test_status_command_deleted(self):
        _, items = parse_status(self.c.ok("STATUS INBOX (DELETED DELETED-STORAGE)")[0])
        # Two \Deleted messages of 1500 octets: 3000 octets, 3 KiB rounded up.
        self.assertEqual(items, [("DELETED", 2), ("DELETED-STORAGE", 3)])
        _, items = parse_status(self.c.ok("STATUS Box/Kid (DELETED-STORAGE DELETED)")[0])
        self.assertEqual(items, [("DELETED-STORAGE", 0), ("DELETED", 0)])


class Isolation(unittest.TestCase):
    def test_other_accounts_names_stay_hidden(self):
        a, b = Client("iso1"), Client("iso2")
        try:
            a.ok("CREATE secret/inner")
            a.ok("SUBSCRIBE secret-ghost")
            for cmd in ('LIST (SUBSCRIBED) "" "*"', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
                        'LIST "" ("*" "%") RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES))',
                        'LIST (SPECIAL-USE) "" "*"'):
                self.assertNotIn(b"secret", b"\n".join(b.ok(cmd)), cmd)
            self.assertIn(("secret-ghost", {"\\Subscribed", "\\NonExistent"}, None),
                          parse_list(a.ok('LIST (SUBSCRIBED) "" "secret*"')))
        finally:
            a.close()
            b.close()


if __name__ == "__main__":
    unittest.main()
