"""IDLE (RFC 2177) and the small extensions: changes made by another
session, on another worker or another imapd instance sharing the database,
reach an idling client at once; ENABLE, ID, NAMESPACE, UNSELECT."""
import imaplib
import socket
import time
import unittest

from harness import Instance

PASSWORD = "idle pass 1"
inst = None
second_port = None


def setUpModule():
    global inst, second_port
    inst = Instance()
    inst.start_admind()
    inst.create_account("ida@example.test", PASSWORD)
    inst.start_imapd()
    second_port = inst.start_second_imapd()


def tearDownModule():
    inst.close()


MSG = (b"From: a@example.test\r\nTo: ida@example.test\r\nSubject: ping %d\r\n"
       b"\r\nbody %d\r\n")


class Raw:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.line()

    def send(self, data):
        self.sock.sendall(data)

    def line(self, timeout=10):
        self.sock.settimeout(timeout)
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, tag, text):
        self.send(tag + b" " + text + b"\r\n")
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def login_select(self, mailbox=b"INBOX"):
        self.command(b"l", b"LOGIN ida@example.test \"" + PASSWORD.encode() + b"\"")
        return self.command(b"s", b"SELECT " + mailbox)

    def wait_for_line(self, pred, timeout=1.5):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.line(timeout=max(0.01, deadline - time.monotonic()))
            except socket.timeout:
                break
            seen.append(line)
            if pred(line):
                return line, seen
        raise AssertionError("no matching line within %.1fs; saw %r" % (timeout, seen))

    def close(self):
        self.sock.close()


def other(port=None):
    m = imaplib.IMAP4("127.0.0.1", port or inst.imap_port)
    m.login("ida@example.test", PASSWORD)
    return m


def exists_count(lines):
    for l in lines:
        if l.endswith(b" EXISTS"):
            return int(l.split()[1])
    return None


class Idle(unittest.TestCase):
    def test_push_of_new_message_flags_and_expunge(self):
        r = Raw(inst.imap_port)
        n = exists_count(r.login_select())
        r.send(b"i IDLE\r\n")
        self.assertTrue(r.line().startswith(b"+ "))
        m = other()
        t0 = time.monotonic()
        m.append("INBOX", None, None, MSG % (1, 1))
        r.wait_for_line(lambda l: l == b"* %d EXISTS" % (n + 1))
        self.assertLess(time.monotonic() - t0, 1.5)
        m.select("INBOX")
        m.store(str(n + 1), "+FLAGS", "\\Flagged")
        r.wait_for_line(lambda l: l.startswith(b"* %d FETCH" % (n + 1)) and b"\\Flagged" in l)
        m.store(str(n + 1), "+FLAGS", "\\Deleted")
        m.expunge()
        r.wait_for_line(lambda l: l == b"* %d EXPUNGE" % (n + 1))
        r.send(b"DONE\r\n")
        line, _ = r.wait_for_line(lambda l: l.startswith(b"i "))
        self.assertTrue(line.startswith(b"i OK"), line)
        r.command(b"n", b"NOOP")
        m.logout()
        r.close()

    def test_push_across_imapd_instances(self):
        r = Raw(second_port)
        n = exists_count(r.login_select())
        r.send(b"i IDLE\r\n")
        r.line()
        m = other(inst.imap_port)  # the first instance
        t0 = time.monotonic()
        m.append("INBOX", None, None, MSG % (2, 2))
        r.wait_for_line(lambda l: l == b"* %d EXISTS" % (n + 1))
        self.assertLess(time.monotonic() - t0, 1.5)
        r.send(b"DONE\r\n")
        r.wait_for_line(lambda l: l.startswith(b"i OK"))
        m.logout()
        r.close()

    def test_idle_in_authenticated_state_and_bad_continuation(self):
        r = Raw(inst.imap_port)
        r.command(b"l", b"LOGIN ida@example.test \"" + PASSWORD.encode() + b"\"")
        r.send(b"i IDLE\r\n")
        r.line()
        r.send(b"NOT DONE\r\n")
        line, _ = r.wait_for_line(lambda l: l.startswith(b"i "))
        self.assertTrue(line.startswith(b"i BAD"))
        self.assertTrue(r.command(b"n", b"NOOP")[-1].startswith(b"n OK"))
        r.close()

    def test_client_vanishing_while_idle(self):
        for _ in range(5):
            r = Raw(inst.imap_port)
            r.login_select()
            r.send(b"i IDLE\r\n")
            r.line()
            r.close()
        m = other()
        m.append("INBOX", None, None, MSG % (3, 3))  # wakes views of gone sessions
        self.assertEqual(m.noop()[0], "OK")
        m.logout()
        for d in inst.daemons:
            self.assertTrue(d.alive())

    def test_idle_is_advertised(self):
        m = other()
        caps = m.capability()[1][0].split()
        for c in (b"IDLE", b"ENABLE", b"ID", b"NAMESPACE", b"UNSELECT", b"LITERAL+"):
            self.assertIn(c, caps)
        m.logout()


class AdminEvents(unittest.TestCase):
    """mailstead-admind's account events end live sessions on every worker."""

    def session(self, user, pw, port=None):
        r = Raw(port or inst.imap_port)
        lines = r.command(b"l", b"LOGIN " + user + b" \"" + pw + b"\"")
        self.assertTrue(lines[-1].startswith(b"l OK"), lines)
        return r

    def test_suspend_and_password_change_close_sessions(self):
        inst.create_account("kick@example.test", PASSWORD)
        sessions = [self.session(b"kick@example.test", PASSWORD.encode()) for _ in range(3)]
        sessions.append(self.session(b"kick@example.test", PASSWORD.encode(), second_port))
        bystander = self.session(b"ida@example.test", PASSWORD.encode())
        self.assertNotIn("error", inst.rpc("account.suspend", {"address": "kick@example.test"}))
        for r in sessions:
            line, _ = r.wait_for_line(lambda l: l.startswith(b"* BYE"), timeout=3)
            r.close()
        # Other accounts' sessions stay.
        self.assertTrue(bystander.command(b"n", b"NOOP")[-1].startswith(b"n OK"))
        inst.rpc("account.resume", {"address": "kick@example.test"})
        r = self.session(b"kick@example.test", PASSWORD.encode())
        self.assertNotIn("error", inst.rpc("account.set_password",
                                           {"address": "kick@example.test",
                                            "password": "new pass 2"}))
        line, _ = r.wait_for_line(lambda l: l.startswith(b"* BYE"), timeout=3)
        self.assertIn(b"Password changed", line)
        r.close()
        # The old password was verified (and cached) a moment ago: the
        # credentials cache must not let it in after the change.
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        with self.assertRaises(imaplib.IMAP4.error):
            m.login("kick@example.test", PASSWORD)
        self.assertEqual(m.login("kick@example.test", "new pass 2")[0], "OK")
        m.logout()
        bystander.close()


class SmallExtensions(unittest.TestCase):
    def test_id(self):
        r = Raw(inst.imap_port)
        lines = r.command(b"a", b'ID ("name" "test-client" "version" "1.0")')
        self.assertTrue(lines[0].startswith(b'* ID ("name" "Mailstead"'), lines)
        self.assertTrue(r.command(b"b", b"ID NIL")[-1].startswith(b"b OK"))
        self.assertTrue(r.command(b"c", b'ID ("odd")')[-1].startswith(b"c BAD"))
        r.close()

    def test_namespace(self):
        m = other()
        typ, data = m.namespace()
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0], b'(("" "/")) NIL NIL')
        m.logout()

    def test_enable(self):
        r = Raw(inst.imap_port)
        r.command(b"l", b"LOGIN ida@example.test \"" + PASSWORD.encode() + b"\"")
        lines = r.command(b"e", b"ENABLE X-UNKNOWN")
        self.assertEqual(lines[0], b"* ENABLED")
        self.assertTrue(lines[-1].startswith(b"e OK"))
        r.command(b"s", b"SELECT INBOX")
        self.assertTrue(r.command(b"f", b"ENABLE X-UNKNOWN")[-1].startswith(b"f BAD"))
        r.close()

    def test_unselect_does_not_expunge(self):
        m = other()
        m.append("INBOX", "(\\Deleted)", None, MSG % (4, 4))
        m.select("INBOX")
        typ, data = m.search(None, "DELETED")
        before = len(data[0].split())
        self.assertGreater(before, 0)
        typ, data = m._simple_command("UNSELECT")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.state, "SELECTED")  # imaplib does not know UNSELECT
        m.state = "AUTH"
        m.select("INBOX")
        typ, data = m.search(None, "DELETED")
        self.assertEqual(len(data[0].split()), before)
        m.logout()

    def test_literal_plus_append(self):
        r = Raw(inst.imap_port)
        r.command(b"l", b"LOGIN ida@example.test \"" + PASSWORD.encode() + b"\"")
        msg = MSG % (5, 5)
        lines = r.command(b"a", b"APPEND INBOX {%d+}\r\n" % len(msg) + msg)
        self.assertTrue(lines[-1].startswith(b"a OK"), lines)
        r.close()


if __name__ == "__main__":
    unittest.main()
