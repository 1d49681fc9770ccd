"""QUOTA (RFC 9208) end to end: GETQUOTAROOT, GETQUOTA and SETQUOTA, the
account root "" and the domain root "domain", resources only when limited,
error paths, and usage that stays exact while two sessions append, copy and
expunge in parallel (compared with the sum over mailbox_messages)."""
import imaplib
import random
import re
import socket
import threading
import time
import unittest

from harness import Instance

PASSWORD = "quota pw 1"
inst = None


def setUpModule():
    global inst
    inst = Instance()
    inst.start_admind()
    inst.create_account("free@example.test", PASSWORD)
    inst.create_account("limited@example.test", PASSWORD, quota_bytes=1048576,
                        quota_messages=100)
    inst.create_account("msgonly@example.test", PASSWORD, quota_messages=5)
    inst.create_account("bytesonly@example.test", PASSWORD, quota_bytes=10000)
    inst.create_account("over@example.test", PASSWORD, quota_bytes=3000)
    inst.create_account("conc@example.test", PASSWORD, quota_bytes=1 << 30,
                        quota_messages=1000000)
    inst.create_account("a@dq.test", PASSWORD)
    inst.create_account("b@dq.test", PASSWORD, quota_messages=50)
    r = inst.rpc("domain.update", {"name": "dq.test", "quota_bytes": 10485760})
    if "error" in r:
        raise RuntimeError("domain.update: %r" % r)
    inst.start_imapd()


def tearDownModule():
    inst.close()


def account_id(address):
    return int(inst.psql("SELECT account_id FROM addresses WHERE address = '%s'"
                         % address)[0][0])


def message(size, tag=""):
    """An RFC 5322 message of exactly size octets."""
    head = ("From: q@example.test\r\nSubject: quota %s %d\r\n\r\n"
            % (tag, random.getrandbits(48))).encode()
    assert size >= len(head) + 2
    return head + b"x" * (size - len(head) - 2) + b"\r\n"


def login(address):
    m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    m.login(address, PASSWORD)
    return m


class Client:
    """A line-level client, to see the exact responses."""

    def __init__(self, address=None):
        self.sock = socket.create_connection(("127.0.0.1", inst.imap_port), timeout=20)
        self.buf = b""
        self.n = 0
        self.line()
        if address is not None:
            self.ok('LOGIN %s "%s"' % (address, PASSWORD))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.n += 1
        tag = b"Q%d" % self.n
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


def usage_sql(address):
    """(sum of the sizes per mailbox holding a message, number of such rows)
    computed from the mail tables, and the account row's counters."""
    acc = account_id(address)
    total, count = inst.psql(
        "SELECT coalesce(sum(g.size), 0), count(*) FROM mailbox_messages mm JOIN messages g "
        "ON g.account_id = mm.account_id AND g.message_id = mm.message_id "
        "WHERE mm.account_id = %d" % acc)[0]
    used = inst.psql("SELECT used_bytes, used_messages FROM accounts WHERE account_id = %d"
                     % acc)[0]
    return int(total), int(count), int(used[0]), int(used[1])


def kib(n):
    return (n + 1023) // 1024


QUOTA_RE = re.compile(rb'^\* QUOTA "([^"]*)" \(([^)]*)\)$')


def parse_quota(line):
    m = QUOTA_RE.match(line)
    if m is None:
        raise AssertionError("unexpected QUOTA line %r" % line)
    items = m.group(2).decode().split()
    return m.group(1).decode(), {items[i]: (int(items[i + 1]), int(items[i + 2]))
                                 for i in range(0, len(items), 3)}


class Capabilities(unittest.TestCase):
    def test_advertised(self):
        c = Client("free@example.test")
        try:
            caps = c.ok("CAPABILITY")[0].split()
            for cap in (b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE"):
                self.assertIn(cap, caps)
            self.assertNotIn(b"QUOTASET", caps)
        finally:
            c.close()

    def test_needs_login(self):
        c = Client()
        try:
            for cmd in ('GETQUOTA ""', "GETQUOTAROOT INBOX", 'SETQUOTA "" (STORAGE 1)'):
                _, tagged = c.cmd(cmd)
                self.assertTrue(tagged.startswith(b"BAD"), (cmd, tagged))
        finally:
            c.close()


class Roots(unittest.TestCase):
    def test_unlimited_account_has_no_root(self):
        c = Client("free@example.test")
        try:
            self.assertEqual(c.ok("GETQUOTAROOT INBOX"), [b'* QUOTAROOT "INBOX"'])
            lines, tagged = c.cmd('GETQUOTA ""')
            self.assertEqual(lines, [])
            self.assertTrue(tagged.startswith(b"NO [NONEXISTENT]"), tagged)
        finally:
            c.close()

    def test_account_root(self):
        c = Client("limited@example.test")
        try:
            lines = c.ok("GETQUOTAROOT inbox")
            self.assertEqual(lines[0], b'* QUOTAROOT "INBOX" ""')
            self.assertEqual(len(lines), 2)
            root, res = parse_quota(lines[1])
            total, count, _, _ = usage_sql("limited@example.test")
            self.assertEqual(root, "")
            self.assertEqual(res, {"STORAGE": (kib(total), 1024), "MESSAGE": (count, 100)})
            self.assertEqual(c.ok('GETQUOTA ""'), lines[1:])
            # Every mailbox has the same root, also a \Noselect one.
            c.ok("CREATE Deep/Inner")
            c.ok("DELETE Deep")
            self.assertEqual(c.ok("GETQUOTAROOT Deep")[0], b'* QUOTAROOT "Deep" ""')
            self.assertEqual(c.ok("GETQUOTAROOT Sent")[0], b'* QUOTAROOT "Sent" ""')
        finally:
            c.close()

    def test_usage_follows_append_and_expunge(self):
        m = login("limited@example.test")
        c = Client("limited@example.test")
        try:
            self.assertEqual(m.append("INBOX", None, None, message(1500))[0], "OK")
            self.assertEqual(m.append("Sent", None, None, message(700))[0], "OK")
            _, res = parse_quota(c.ok('GETQUOTA ""')[0])
            total, count, used, _ = usage_sql("limited@example.test")
            self.assertEqual(used, total)
            self.assertEqual(res["STORAGE"], (kib(total), 1024))
            self.assertEqual(res["MESSAGE"], (count, 100))
            m.select("Sent")
            m.store("1:*", "+FLAGS", "(\\Deleted)")
            m.expunge()
            _, after = parse_quota(c.ok('GETQUOTA ""')[0])
            self.assertEqual(after["MESSAGE"][0], res["MESSAGE"][0] - 1)
            self.assertEqual(after["STORAGE"][0], kib(usage_sql("limited@example.test")[0]))
        finally:
            c.close()
            m.logout()

    def test_storage_rounds_up(self):
        c = Client("bytesonly@example.test")
        m = login("bytesonly@example.test")
        try:
            # Only limited resources are reported; 10000 octets are 9 KiB.
            self.assertEqual(c.ok('GETQUOTA ""'), [b'* QUOTA "" (STORAGE 0 9)'])
            m.append("INBOX", None, None, message(100))
            self.assertEqual(c.ok('GETQUOTA ""'), [b'* QUOTA "" (STORAGE 1 9)'])
            m.append("INBOX", None, None, message(1024))
            self.assertEqual(c.ok('GETQUOTA ""'), [b'* QUOTA "" (STORAGE 2 9)'])
        finally:
            c.close()
            m.logout()

    def test_messages_only(self):
        c = Client("msgonly@example.test")
        try:
            self.assertEqual(c.ok("GETQUOTAROOT INBOX"),
                             [b'* QUOTAROOT "INBOX" ""', b'* QUOTA "" (MESSAGE 0 5)'])
        finally:
            c.close()

    def test_domain_root(self):
        a, b = Client("a@dq.test"), Client("b@dq.test")
        ma = login("a@dq.test")
        mb = login("b@dq.test")
        try:
            ma.append("INBOX", None, None, message(3000))
            mb.append("INBOX", None, None, message(5000))
            domain_used = usage_sql("a@dq.test")[2] + usage_sql("b@dq.test")[2]
            domain_line = b'* QUOTA "domain" (STORAGE %d 10240)' % kib(domain_used)
            # a has no limit of its own: only the domain's root.
            self.assertEqual(a.ok("GETQUOTAROOT INBOX"),
                             [b'* QUOTAROOT "INBOX" "domain"', domain_line])
            self.assertEqual(a.ok('GETQUOTA "domain"'), [domain_line])
            _, tagged = a.cmd('GETQUOTA ""')
            self.assertTrue(tagged.startswith(b"NO [NONEXISTENT]"), tagged)
            # b has a message limit too: both roots, its own first.
            self.assertEqual(b.ok("GETQUOTAROOT INBOX"),
                             [b'* QUOTAROOT "INBOX" "" "domain"', b'* QUOTA "" (MESSAGE 1 50)',
                              domain_line])
        finally:
            for x in (a, b):
                x.close()
            ma.logout()
            mb.logout()

    def test_errors(self):
        c = Client("limited@example.test")
        try:
            for cmd, want in (("GETQUOTAROOT Nonexistent", b"NO [NONEXISTENT]"),
                              ('GETQUOTA "other"', b"NO [NONEXISTENT]"),
                              ('GETQUOTA "domain"', b"NO [NONEXISTENT]"),
                              ('GETQUOTA "DOMAIN"', b"NO [NONEXISTENT]"),
                              ("GETQUOTAROOT", b"BAD"), ('GETQUOTAROOT "a//b"', b"BAD"),
                              ("GETQUOTAROOT INBOX Sent", b"BAD"), ("GETQUOTA", b"BAD"),
                              ('GETQUOTA "" ""', b"BAD"), ("GETQUOTA (x)", b"BAD"),
                              ('SETQUOTA "" (STORAGE 512)', b"NO [NOPERM]"),
                              ('SETQUOTA "" ()', b"NO [NOPERM]"),
                              ('SETQUOTA "domain" (STORAGE 1 MESSAGE 2)', b"NO [NOPERM]"),
                              ('SETQUOTA "" (STORAGE x)', b"BAD"), ('SETQUOTA "" (STORAGE)', b"BAD"),
                              ('SETQUOTA ""', b"BAD"), ("SETQUOTA", b"BAD"),
                              ('SETQUOTA "" STORAGE 1', b"BAD"),
                              ('SETQUOTA "" ((STORAGE) 1)', b"BAD")):
                lines, tagged = c.cmd(cmd)
                self.assertTrue(tagged.startswith(want), (cmd, tagged))
                self.assertEqual(lines, [], cmd)
            # A root name holding a NUL is no root.
            c.sock.sendall(b"Q99 GETQUOTA {1+}\r\n\x00\r\n")
            while True:
                line = c.line()
                if line.startswith(b"Q99 "):
                    break
            self.assertTrue(line.startswith(b"Q99 NO [NONEXISTENT]"), line)
            # Limits unchanged by SETQUOTA.
            _, res = parse_quota(c.ok('GETQUOTA ""')[0])
            self.assertEqual(res["STORAGE"][1], 1024)
        finally:
            c.close()


class OverQuota(unittest.TestCase):
    def test_append_past_the_limit(self):
        m = login("over@example.test")
        c = Client("over@example.test")
        try:
            self.assertEqual(m.append("INBOX", None, None, message(2000))[0], "OK")
            before = c.ok('GETQUOTA ""')
            typ, data = m.append("INBOX", None, None, message(2000))
            self.assertEqual(typ, "NO")
            self.assertTrue(data[0].startswith(b"[OVERQUOTA]"), data)
            self.assertEqual(c.ok('GETQUOTA ""'), before)
            self.assertEqual(before, [b'* QUOTA "" (STORAGE 2 2)'])
        finally:
            c.close()
            m.logout()


class Concurrency(unittest.TestCase):
    """Two sessions append, copy, flag and expunge at the same time (the
    same INBOX included); afterwards GETQUOTA must agree with the mail
    tables exactly."""

    ROUNDS = 40

    def worker(self, i, errors):
        rnd = random.Random(i)
        try:
            m = login("conc@example.test")
            box = "Box%d" % i
            for k in range(self.ROUNDS):
                for target in ("INBOX", box):
                    typ, data = m.append(target, None, None,
                                         message(rnd.randint(200, 6000), "w%d" % i))
                    if typ != "OK":
                        raise AssertionError("APPEND %s: %r" % (target, data))
                if k % 4 == 3:
                    # Own mailbox: copy one to INBOX, expunge two.
                    m.select(box)
                    typ, data = m.copy("1", "INBOX")
                    if typ != "OK":
                        raise AssertionError("COPY: %r" % (data,))
                    m.store("1:2", "+FLAGS.SILENT", "(\\Deleted)")
                    m.expunge()
                    # Shared INBOX: flag a random message and expunge
                    # whatever is flagged, while the other session may
                    # be doing the same.
                    m.select("INBOX")
                    typ, data = m.uid("SEARCH", "ALL")
                    uids = data[0].split()
                    if uids:
                        m.uid("STORE", rnd.choice(uids).decode(), "+FLAGS.SILENT",
                              "(\\Deleted)")
                    m.expunge()
                    m.close()
            m.logout()
        except Exception as e:  # reported by the main thread
            errors.append("worker %d: %r" % (i, e))

    def test_parallel_usage_is_exact(self):
        c = Client("conc@example.test")
        try:
            c.ok("CREATE Box0")
            c.ok("CREATE Box1")
            errors = []
            threads = [threading.Thread(target=self.worker, args=(i, errors)) for i in range(2)]
            for t in threads:
                t.start()
            # Read the quota while they work: every answer is a snapshot
            # that never exceeds what was put in.
            deadline = time.monotonic() + 120
            while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
                _, res = parse_quota(c.ok('GETQUOTA ""')[0])
                self.assertLessEqual(res["MESSAGE"][0], 2 * 2 * self.ROUNDS + self.ROUNDS)
                time.sleep(0.05)
            for t in threads:
                t.join(120)
            self.assertEqual(errors, [])
            total, count, used_bytes, used_messages = usage_sql("conc@example.test")
            self.assertGreater(count, 0)
            self.assertEqual((used_bytes, used_messages), (total, count))
            _, res = parse_quota(c.ok('GETQUOTA ""')[0])
            self.assertEqual(res, {"STORAGE": (kib(total), (1 << 30) // 1024),
                                   "MESSAGE": (count, 1000000)})
            # The mailbox counters agree as well.
            acc = account_id("conc@example.test")
            rows = inst.psql(
                "SELECT b.name, b.messages, b.bytes, (SELECT count(*) FROM mailbox_messages mm "
                "WHERE mm.account_id = b.account_id AND mm.mailbox_id = b.mailbox_id), "
                "(SELECT coalesce(sum(g.size), 0) FROM mailbox_messages mm JOIN messages g ON "
                "g.account_id = mm.account_id AND g.message_id = mm.message_id WHERE "
                "mm.account_id = b.account_id AND mm.mailbox_id = b.mailbox_id) "
                "FROM mailboxes b WHERE b.account_id = %d" % acc)
            for name, messages, nbytes, real_messages, real_bytes in rows:
                self.assertEqual((messages, nbytes), (real_messages, real_bytes), name)
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
