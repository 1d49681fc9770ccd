"""IMAP sessions end to end: greeting, capabilities, LOGIN and AUTHENTICATE,
TLS (STARTTLS and IMAPS), limits, state checks, the master's supervision of
its workers and a graceful stop. The client is Python's imaplib, or a raw
socket where imaplib cannot say what the test needs."""
import base64
import imaplib
import os
import signal
import socket
import ssl
import time
import unittest

from harness import Instance, wait_for

PASSWORD = "correct horse 1"
inst = None


def setUpModule():
    global inst
    inst = Instance({"max_auth_failures_per_account": "3",
                     "max_auth_failures_per_ip": "1000",
                     "preauth_timeout": "5"})
    inst.start_admind()
    inst.create_account("alice@example.test", PASSWORD)
    inst.create_account("mallory@example.test", PASSWORD)
    inst.create_account("limited@example.test", PASSWORD)
    inst.start_imapd()


def tearDownModule():
    inst.close()


def connect():
    return imaplib.IMAP4("127.0.0.1", inst.imap_port)


class Raw:
    """A line-level IMAP client for what imaplib hides."""

    def __init__(self, port=None, tls=False):
        s = socket.create_connection(("127.0.0.1", port or inst.imap_port), timeout=10)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.sock = s
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until_tagged(self, tag):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def closed(self, timeout=5):
        """True when the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, ConnectionResetError):
            return False

    def close(self):
        self.sock.close()


class GreetingAndCapability(unittest.TestCase):
    def test_greeting_carries_capabilities(self):
        r = Raw()
        self.assertTrue(r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 "), r.greeting)
        self.assertIn(b"STARTTLS", r.greeting)
        r.close()

    def test_capability_before_and_after_login(self):
        m = connect()
        typ, caps = m.capability()
        self.assertEqual(typ, "OK")
        caps = caps[0].split()
        self.assertIn(b"IMAP4rev1", caps)
        self.assertIn(b"STARTTLS", caps)
        self.assertIn(b"AUTH=PLAIN", caps)  # loopback: plaintext allowed
        self.assertNotIn(b"LOGINDISABLED", caps)
        m.login("alice@example.test", PASSWORD)
        typ, caps = m.capability()
        self.assertNotIn(b"STARTTLS", caps[0].split())
        self.assertNotIn(b"AUTH=PLAIN", caps[0].split())
        m.logout()

    def test_noop_and_logout(self):
        m = connect()
        self.assertEqual(m.noop()[0], "OK")
        typ, data = m.logout()
        self.assertEqual(typ, "BYE")


class Login(unittest.TestCase):
    def test_login_ok_and_case_insensitive_address(self):
        m = connect()
        typ, data = m.login("Alice@Example.TEST", PASSWORD)
        self.assertEqual(typ, "OK")
        self.assertEqual(m.state, "AUTH")
        m.logout()

    def test_wrong_password_is_delayed_and_refused(self):
        m = connect()
        t0 = time.monotonic()
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login("alice@example.test", "wrong")
        self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))
        self.assertGreaterEqual(time.monotonic() - t0, 0.09)  # auth_fail_delay_ms = 100
        # The connection stays usable.
        self.assertEqual(m.login("alice@example.test", PASSWORD)[0], "OK")
        m.logout()

    def test_unknown_user_and_invalid_name(self):
        for user in ("nobody@example.test", "no-at-sign", "x@nodomain.test", "a@b@c.test"):
            m = connect()
            with self.assertRaises(imaplib.IMAP4.error) as cm:
                m.login(user, PASSWORD)
            self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))
            m.logout()

    def test_suspended_account_and_domain(self):
        inst.create_account("sus@other.test", PASSWORD)
        r = inst.rpc("account.suspend", {"address": "sus@other.test"})
        self.assertNotIn("error", r)
        m = connect()
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login("sus@other.test", PASSWORD)
        self.assertIn("CONTACTADMIN", str(cm.exception))
        m.logout()
        inst.rpc("account.resume", {"address": "sus@other.test"})
        inst.rpc("domain.update", {"name": "other.test", "status": "suspended"})
        m = connect()
        with self.assertRaises(imaplib.IMAP4.error):
            m.login("sus@other.test", PASSWORD)
        m.logout()
        inst.rpc("domain.update", {"name": "other.test", "status": "active"})
        m = connect()
        self.assertEqual(m.login("sus@other.test", PASSWORD)[0], "OK")
        m.logout()

    def test_failures_per_account_are_rate_limited(self):
        for _ in range(3):
            m = connect()
            with self.assertRaises(imaplib.IMAP4.error):
                m.login("limited@example.test", "guess")
            m.logout()
        # Now even the right password is refused for a while; other
        # accounts are not affected.
        m = connect()
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login("limited@example.test", PASSWORD)
        self.assertIn("Too many", str(cm.exception))
        m.logout()
        m = connect()
        self.assertEqual(m.login("mallory@example.test", PASSWORD)[0], "OK")
        m.logout()

    def test_login_in_authenticated_state_is_bad(self):
        m = connect()
        m.login("alice@example.test", PASSWORD)
        r = Raw()
        r.send(b"a LOGIN alice@example.test \"%s\"\r\nb LOGIN x y\r\n" % PASSWORD.encode())
        lines = r.until_tagged(b"a")
        self.assertTrue(lines[-1].startswith(b"a OK"), lines)
        lines = r.until_tagged(b"b")
        self.assertTrue(lines[-1].startswith(b"b BAD"), lines)
        r.close()
        m.logout()


class Authenticate(unittest.TestCase):
    def plain(self, user=b"alice@example.test", pw=PASSWORD.encode(), authz=b""):
        return base64.b64encode(authz + b"\0" + user + b"\0" + pw)

    def test_plain_with_initial_response(self):
        r = Raw()
        r.send(b"a AUTHENTICATE PLAIN " + self.plain() + b"\r\n")
        lines = r.until_tagged(b"a")
        self.assertTrue(lines[-1].startswith(b"a OK"), lines)
        r.close()

    def test_plain_with_continuation(self):
        r = Raw()
        r.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ ")
        r.send(self.plain() + b"\r\n")
        lines = r.until_tagged(b"a")
        self.assertTrue(lines[-1].startswith(b"a OK"), lines)
        r.close()

    def test_plain_with_imaplib(self):
        m = connect()
        typ, _ = m.authenticate("PLAIN", lambda _: b"\0alice@example.test\0" + PASSWORD.encode())
        self.assertEqual(typ, "OK")
        m.logout()

    def test_cancel_bad_base64_and_proxy(self):
        r = Raw()
        r.send(b"a AUTHENTICATE PLAIN\r\n")
        r.line()
        r.send(b"*\r\n")
        self.assertTrue(r.until_tagged(b"a")[-1].startswith(b"a BAD"))
        r.send(b"b AUTHENTICATE PLAIN !!!!\r\n")
        self.assertTrue(r.until_tagged(b"b")[-1].startswith(b"b BAD"))
        r.send(b"c AUTHENTICATE PLAIN " + self.plain(authz=b"mallory@example.test") + b"\r\n")
        self.assertIn(b"AUTHORIZATIONFAILED", r.until_tagged(b"c")[-1])
        r.send(b"d AUTHENTICATE CRAM-MD5\r\n")
        self.assertTrue(r.until_tagged(b"d")[-1].startswith(b"d NO"))
        r.send(b"e AUTHENTICATE PLAIN " + self.plain(pw=b"bad") + b"\r\n")
        self.assertIn(b"AUTHENTICATIONFAILED", r.until_tagged(b"e")[-1])
        r.close()


class Tls(unittest.TestCase):
    def test_starttls_then_login(self):
        m = connect()
        m.starttls(ssl_context=self.ctx())
        typ, caps = m.capability()
        self.assertNotIn(b"STARTTLS", caps[0].split())
        self.assertEqual(m.login("alice@example.test", PASSWORD)[0], "OK")
        m.logout()

    def test_imaps(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", inst.imaps_port, ssl_context=self.ctx())
        self.assertEqual(m.login("alice@example.test", PASSWORD)[0], "OK")
        self.assertEqual(m.select("INBOX")[0], "OK")
        m.logout()

    def test_tls_below_1_2_refused(self):
        ctx = self.ctx()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with self.assertRaises((ssl.SSLError, OSError)):
            imaplib.IMAP4_SSL("127.0.0.1", inst.imaps_port, ssl_context=ctx)

    def test_plaintext_pipelined_after_starttls_is_discarded(self):
        r = Raw()
        # A man in the middle appends a command to the STARTTLS line.
        r.send(b"a STARTTLS\r\nb LOGIN alice@example.test \"" + PASSWORD.encode() + b"\"\r\n")
        self.assertTrue(r.line().startswith(b"a OK"))
        ctx = self.ctx()
        r.sock = ctx.wrap_socket(r.sock)
        r.buf = b""
        r.send(b"c NOOP\r\n")
        lines = r.until_tagged(b"c")
        self.assertFalse(any(l.startswith(b"b ") for l in lines), lines)
        r.send(b"d CAPABILITY\r\n")
        lines = r.until_tagged(b"d")
        self.assertIn(b"AUTH=PLAIN", lines[0])  # still not logged in
        r.close()

    def test_starttls_twice_is_bad(self):
        m = connect()
        m.starttls(ssl_context=self.ctx())
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m._simple_command("STARTTLS")
        self.assertIn("BAD", str(cm.exception))
        m.logout()

    @staticmethod
    def ctx():
        c = ssl.create_default_context()
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        return c


class StateAndSyntax(unittest.TestCase):
    def test_commands_need_the_right_state(self):
        r = Raw()
        r.send(b"a SELECT INBOX\r\nb FOO\r\nc NOOP\r\n")
        self.assertIn(b"a BAD", r.until_tagged(b"a")[-1])
        self.assertIn(b"b BAD", r.until_tagged(b"b")[-1])
        self.assertIn(b"c OK", r.until_tagged(b"c")[-1])
        r.close()

    def test_bad_syntax_then_recovery(self):
        r = Raw()
        r.send(b"a NOOP (\r\n\"unterminated\r\nb NOOP\r\n")
        line = r.line()
        self.assertTrue(line.startswith(b"a BAD"), line)
        line = r.line()
        self.assertTrue(line.startswith(b"* BAD") or line.startswith(b"\"unterminated"), line)
        self.assertIn(b"b OK", r.until_tagged(b"b")[-1])
        r.close()

    def test_long_line_before_login_is_refused(self):
        r = Raw()
        r.send(b"a NOOP " + b"x" * 20000 + b"\r\nb NOOP\r\n")
        lines = r.until_tagged(b"b")
        self.assertTrue(any(l.startswith(b"a BAD") for l in lines), lines[:3])
        self.assertTrue(lines[-1].startswith(b"b OK"))
        r.close()

    def test_oversize_literal_refused_without_reading(self):
        r = Raw()
        r.send(b"a LOGIN {99999999}\r\n")
        line = r.line()
        self.assertTrue(line.startswith(b"a BAD") or line.startswith(b"a NO"), line)
        # No "+" was sent; the server expects a new command.
        r.send(b"b NOOP\r\n")
        self.assertIn(b"b OK", r.until_tagged(b"b")[-1])
        r.close()

    def test_nonsync_literal_over_limit_disconnects(self):
        r = Raw()
        r.send(b"a LOGIN {99999999+}\r\n")
        line = r.line()
        self.assertTrue(line.startswith(b"* BYE"), line)
        self.assertTrue(r.closed())

    def test_preauth_timeout(self):
        r = Raw()
        self.assertTrue(r.closed(timeout=15))
        self.assertIn(b"* BYE", r.buf)


class Limits(unittest.TestCase):
    def test_connections_per_ip(self):
        # max_connections_per_ip is counted per worker: with 2 workers and a
        # limit of 50, at most 100 sessions from one address get through.
        socks, refused = [], 0
        try:
            for _ in range(110):
                s = socket.create_connection(("127.0.0.1", inst.imap_port), timeout=10)
                socks.append(s)
                line = s.recv(200)
                if line.startswith(b"* BYE"):
                    refused += 1
        finally:
            for s in socks:
                s.close()
        self.assertGreaterEqual(refused, 10)
        wait_for(lambda: connect().logout()[0] == "BYE", what="a fresh session")


class DatabaseOutage(unittest.TestCase):
    """PostgreSQL goes away under live sessions and comes back."""

    def test_unavailable_then_recovers(self):
        m = connect()
        m.login("alice@example.test", PASSWORD)
        m.select("INBOX")
        inst._sh("stop", inst.pgdata)
        try:
            # Within a few tries the worker notices: a clean NO, no crash.
            def refused():
                try:
                    typ, data = m.select("Sent")
                except imaplib.IMAP4.error:
                    return False
                return typ == "NO" and b"UNAVAILABLE" in data[-1]
            wait_for(refused, timeout=20, what="NO [UNAVAILABLE]")
            fresh = connect()
            with self.assertRaises(imaplib.IMAP4.error) as cm:
                fresh.login("alice@example.test", PASSWORD)
            self.assertIn("UNAVAILABLE", str(cm.exception))
            fresh.logout()
        finally:
            inst._sh("start", inst.pgdata, inst.rundir)
        wait_for(lambda: m.select("Sent")[0] == "OK", timeout=30, what="recovery")
        m.logout()
        for d in inst.daemons:
            self.assertTrue(d.alive(), d.name + " died:\n" + d.log_text()[-2000:])


class Supervision(unittest.TestCase):
    """The master restarts a killed worker; last in this module."""

    def worker_pids(self):
        master = [d for d in inst.daemons if d.name == "imapd"][0].pid
        out = os.popen("pgrep -P %d" % master).read().split()
        return sorted(int(p) for p in out)

    def test_killed_worker_is_restarted(self):
        before = self.worker_pids()
        self.assertEqual(len(before), 2)
        os.kill(before[0], signal.SIGKILL)
        wait_for(lambda: len(self.worker_pids()) == 2 and self.worker_pids() != before,
                 timeout=20, what="respawned worker")
        for _ in range(4):  # every worker serves
            m = connect()
            self.assertEqual(m.login("alice@example.test", PASSWORD)[0], "OK")
            m.logout()

    def test_sighup_replaces_workers_keeping_the_listener(self):
        before = self.worker_pids()
        r = Raw()
        r.send(b"a LOGIN alice@example.test \"" + PASSWORD.encode() + b"\"\r\n")
        r.until_tagged(b"a")
        imapd = [d for d in inst.daemons if d.name == "imapd"][0]
        os.kill(imapd.pid, signal.SIGHUP)
        wait_for(lambda: len(self.worker_pids()) == 2 and
                 not set(before) & set(self.worker_pids()), timeout=20, what="new workers")
        # The old session was told goodbye; new ones are served at once.
        self.assertTrue(r.closed())
        self.assertIn(b"* BYE", r.buf)
        m = connect()
        self.assertEqual(m.login("alice@example.test", PASSWORD)[0], "OK")
        m.logout()
        self.assertTrue(imapd.alive())

    def test_zz_sigterm_says_bye_to_sessions(self):
        r = Raw()
        r.send(b"a LOGIN alice@example.test \"" + PASSWORD.encode() + b"\"\r\n")
        r.until_tagged(b"a")
        imapd = [d for d in inst.daemons if d.name == "imapd"][0]
        self.assertEqual(imapd.stop(), 0)
        self.assertTrue(r.closed())
        self.assertIn(b"* BYE", r.buf)
        inst.daemons.remove(imapd)
        inst.start_imapd()


if __name__ == "__main__":
    unittest.main()
