"""A real Postfix in front of Mailstead (deploy/postfix/, docs/delivery.md).

A private Postfix instance runs from a temp config directory: SMTP on a
loopback high port (never port 25), chroot off, queue and logs in the temp
directory, nothing in /etc/postfix changed, stopped at the end. It uses the
pgsql: lookup tables and the main.cf settings of deploy/postfix/ as they
are shipped (only the connection lines and paths are filled in), connecting
as the read-only role of deploy/postfix/grants.sql, and hands mail to
mailstead-imapd over LMTP. Mail goes in with smtplib and is read back with
imaplib: each message must arrive intact in the right mailboxes.

Postfix and postfix-pgsql come from Debian (deploy/dev/deps.sh installs
them, with services kept from starting); the master must start as root, so
the module is skipped for other users.
"""
import imaplib
import os
import pwd
import re
import shutil
import signal
import smtplib
import subprocess
import unittest

from harness import IS_ROOT, ROOT, Instance, free_port, wait_for

PASSWORD = "postfix-test-password"
DEPLOY = os.path.join(ROOT, "deploy", "postfix")
MAPS = ("pgsql-virtual-domains.cf", "pgsql-virtual-mailboxes.cf", "pgsql-virtual-aliases.cf",
        "pgsql-recipient-access.cf")

inst = None
pfx = None


def postfix_ready():
    if shutil.which("postfix") is None or shutil.which("postconf") is None:
        return False
    r = subprocess.run(["postconf", "-m"], capture_output=True, text=True)
    return "pgsql" in r.stdout.split()


class PrivatePostfix:
    """A Postfix instance of its own under base/: etc, spool, data."""

    def __init__(self, base, smtp_port, lmtp_port, pg_socket_dir):
        self.base = base
        self.etc = os.path.join(base, "etc")
        self.spool = os.path.join(base, "spool")
        self.data = os.path.join(base, "data")
        self.log = os.path.join(base, "maillog")
        self.port = smtp_port
        for d in (self.etc, self.spool, self.data):
            os.makedirs(d, exist_ok=True)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        for name in MAPS:
            with open(os.path.join(DEPLOY, name)) as f:
                text = f.read()
            # Only the connection settings change; the queries are tested
            # as shipped.
            text = re.sub(r"(?m)^hosts = .*$", "hosts = unix:" + pg_socket_dir, text)
            text = re.sub(r"(?m)^password = .*$", "password = unused-with-trust-auth", text)
            with open(os.path.join(self.etc, name), "w") as f:
                f.write(text)
        with open(os.path.join(DEPLOY, "main.cf")) as f:
            shipped = f.read()
        shipped = shipped.replace("/etc/postfix/mailstead/", self.etc + "/")
        shipped = re.sub(r"(?m)^virtual_transport = .*$",
                         "virtual_transport = lmtp:inet:127.0.0.1:%d" % lmtp_port, shipped)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("""# A private test instance (tests/integration/test_postfix.py).
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
maillog_file = {log}
maillog_file_prefixes = {base}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.mailstead.test
mydomain = mailstead.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery here
alias_maps =
alias_database =
relayhost =
relay_domains =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_relay_restrictions = reject_unauth_destination
smtpd_banner = $myhostname ESMTP
biff = no
# No retry waits in a test: a failed delivery shows at once in the log.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s

# --- deploy/postfix/main.cf as shipped ---
""".format(spool=self.spool, data=self.data, log=self.log, base=base) + shipped)
        services = [
            ("127.0.0.1:%d" % smtp_port, "inet", "n", "-", "n", "-", "-", "smtpd"),
            ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("lmtp", "unix", "-", "-", "n", "-", "-", "lmtp"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            for s in services:
                f.write("%-22s %-10s %s\n" % (s[0], s[1], "  ".join(s[2:])))

    def postfix(self, *args):
        return subprocess.run(["postfix", "-c", self.etc] + list(args), capture_output=True,
                              text=True, timeout=120)

    def master_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def start(self):
        r = self.postfix("check")
        if r.returncode != 0:
            raise RuntimeError("postfix check failed:\n" + r.stdout + r.stderr)
        r = self.postfix("start")
        if r.returncode != 0:
            raise RuntimeError("postfix start failed:\n" + r.stdout + r.stderr + self.log_text())
        wait_for(lambda: Instance._can_connect_tcp(self.port), what="postfix smtpd")

    def stop(self):
        pid = self.master_pid()
        self.postfix("stop")
        if pid is not None:
            try:
                wait_for(lambda: self.master_pid() is None, timeout=20, what="postfix stop")
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def psql_file(path, variables):
    """Runs an SQL file with psql (meta-commands allowed) as the superuser."""
    cmd = ["psql", "-h", inst.rundir, "-U", "mailstead", "-d", "mailstead", "-qX",
           "-v", "ON_ERROR_STOP=1"]
    for k, v in variables.items():
        cmd += ["-v", "%s=%s" % (k, v)]
    if IS_ROOT:
        cmd = ["runuser", "-u", "mailstead", "--"] + cmd
    with open(path) as f:
        r = subprocess.run(cmd, stdin=f, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql -f %s failed: %s" % (path, r.stderr))


def setUpModule():
    global inst, pfx
    if not IS_ROOT:
        raise unittest.SkipTest("a Postfix master needs root")
    if not postfix_ready():
        r = subprocess.run(["sh", os.path.join(ROOT, "deploy", "dev", "deps.sh")],
                           capture_output=True, text=True)
        if r.returncode != 0 or not postfix_ready():
            raise RuntimeError("cannot install postfix and postfix-pgsql:\n"
                               + r.stdout + r.stderr)
    inst = Instance()
    try:
        # Postfix's lookups connect as user postfix, not as the cluster's
        # owner: open the private cluster's socket to local users.
        inst.psql("ALTER SYSTEM SET unix_socket_permissions = '0777'")
        inst._sh("stop", inst.pgdata)
        inst._sh("start", inst.pgdata, inst.rundir)
        inst.start_admind()
        for a in ("alice@a.test", "bob@a.test", "carol@b.test", "catcher@c.test"):
            inst.create_account(a, PASSWORD)
        inst.create_account("sleepy@a.test", PASSWORD)
        for method, params in (
                ("alias.create", {"address": "team@a.test",
                                  "destinations": ["alice@a.test", "carol@b.test"]}),
                ("alias.create", {"address": "nested@b.test",
                                  "destinations": ["team@a.test", "bob@a.test"]}),
                ("domain.set_catchall", {"name": "c.test", "destination": "catcher@c.test"}),
                ("account.suspend", {"address": "sleepy@a.test"})):
            r = inst.rpc(method, params)
            if "error" in r:
                raise RuntimeError("%s: %r" % (method, r))
        # The migrations ran (admind): now the read-only role can be made.
        psql_file(os.path.join(DEPLOY, "grants.sql"), {"pw": "'unused'"})
        inst.start_imapd()
        pfx = PrivatePostfix(os.path.join(inst.dir, "postfix"), free_port(), inst.lmtp_port,
                             inst.rundir)
        pfx.start()
    except BaseException:
        if pfx is not None:
            pfx.stop()
        inst.close()
        raise


def tearDownModule():
    try:
        if pfx is not None:
            pfx.stop()
            assert pfx.master_pid() is None
    finally:
        inst.close()


def imap_inbox(address):
    """Every message of the INBOX as bytes, by UID."""
    m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    m.login(address, PASSWORD)
    try:
        typ, data = m.select("INBOX", readonly=True)
        if int(data[0]) == 0:
            return []
        typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
        return [item[1] for item in data if isinstance(item, tuple)]
    finally:
        m.logout()


def arrived(address, marker, timeout=30):
    """Waits until a message containing marker is in the INBOX; returns it."""
    found = []

    def look():
        for msg in imap_inbox(address):
            if marker in msg:
                found.append(msg)
                return True
        return False
    try:
        wait_for(look, timeout=timeout, what="delivery to " + address)
    except TimeoutError:
        raise AssertionError("nothing for %s; Postfix log:\n%s" % (address, pfx.log_text()[-4000:]))
    return found[0]


def message(marker):
    return ("From: Sender <sender@example.net>\r\n"
            "To: undisclosed-recipients:;\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
            "Subject: %s\r\n"
            "Message-ID: <%s@example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n"
            "Hello from Postfix: %s.\r\n"
            ".a line that starts with a dot\r\n"
            "..and one with two\r\n"
            "\r\n"
            "non-ASCII: gr\xfc\xdfe, \u043f\u0440\u0438\u0432\u0435\u0442\r\n"
            % (marker, marker, marker)).encode("utf-8")


def smtp():
    return smtplib.SMTP("127.0.0.1", pfx.port, timeout=60)


class ThroughPostfix(unittest.TestCase):
    def check_copy(self, stored, sender, rcpt, msg):
        """Our trace block first, Postfix's Received field next, then the
        message exactly as sent."""
        trace = ("Return-Path: <%s>\r\nDelivered-To: %s\r\n" % (sender, rcpt)).encode()
        self.assertTrue(stored.startswith(trace), stored[:200])
        rest = stored[len(trace):]
        self.assertTrue(rest.startswith(b"Received: from "), rest[:200])
        self.assertIn(b"by mx.mailstead.test (Postfix)", rest)
        self.assertTrue(stored.endswith(msg), stored[-300:])
        # Only the Received field is between our trace and the message.
        middle = rest[:len(rest) - len(msg)]
        fields = re.findall(rb"(?m)^[A-Za-z-]+:", middle)
        self.assertEqual(fields, [b"Received:"], middle)

    def test_one_recipient(self):
        msg = message("one-recipient")
        with smtp() as c:
            self.assertEqual(c.sendmail("sender@example.net", ["alice@a.test"], msg), {})
        self.check_copy(arrived("alice@a.test", b"one-recipient"), "sender@example.net",
                        "alice@a.test", msg)

    def test_several_recipients_across_two_domains(self):
        msg = message("two-domains")
        with smtp() as c:
            self.assertEqual(c.sendmail("sender@example.net",
                                        ["alice@a.test", "bob@a.test", "carol@b.test"], msg), {})
        for rcpt in ("alice@a.test", "bob@a.test", "carol@b.test"):
            self.check_copy(arrived(rcpt, b"two-domains"), "sender@example.net", rcpt, msg)

    def test_alias_and_nested_alias(self):
        msg = message("via-alias")
        with smtp() as c:
            self.assertEqual(c.sendmail("sender@example.net", ["nested@b.test"], msg), {})
        # Postfix expands nested -> team + bob -> alice + carol + bob.
        for rcpt in ("alice@a.test", "carol@b.test", "bob@a.test"):
            self.check_copy(arrived(rcpt, b"via-alias"), "sender@example.net", rcpt, msg)

    def test_subaddress_and_catchall(self):
        msg = message("detail-and-catchall")
        with smtp() as c:
            self.assertEqual(c.sendmail("sender@example.net",
                                        ["bob+lists@a.test", "whoever@c.test"], msg), {})
        self.check_copy(arrived("bob@a.test", b"detail-and-catchall"), "sender@example.net",
                        "bob+lists@a.test", msg)
        self.check_copy(arrived("catcher@c.test", b"detail-and-catchall"),
                        "sender@example.net", "catcher@c.test", msg)

    def test_unknown_and_suspended_rejected_at_rcpt(self):
        msg = message("never-delivered")
        with smtp() as c:
            c.ehlo("client.test")
            c.mail("sender@example.net")
            code, text = c.rcpt("nobody@a.test")
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.1.1", text)
            code, text = c.rcpt("sleepy@a.test")
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.2.1", text)
            # Not a hosted domain: not relayed either.
            code, text = c.rcpt("someone@elsewhere.test")
            self.assertIn(code, (454, 554), text)
            self.assertEqual(c.rcpt("alice@a.test")[0], 250)
            code, _ = c.data(msg)
            self.assertEqual(code, 250)
        arrived("alice@a.test", b"never-delivered")
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            with smtp() as c:
                c.sendmail("sender@example.net", ["nobody@b.test"], msg)
        self.assertEqual(cm.exception.recipients["nobody@b.test"][0], 550)
        self.assertIn("lmtp", pfx.log_text())
        self.assertNotIn("status=bounced", pfx.log_text())


if __name__ == "__main__":
    unittest.main()
