"""Throwaway Mailstead instances for integration tests.

An Instance owns a temp directory with a private PostgreSQL cluster (unix
socket only, started through deploy/dev/pg.sh), a mailstead.conf, and the real
daemons from bin/ started as subprocesses on free loopback ports. Everything
it starts it stops in close(), by pid; the temp directory is removed.

Typical use, one instance per test module:

    from harness import Instance
    def setUpModule():
        global inst
        inst = Instance()
        inst.start_admind()
    def tearDownModule():
        inst.close()
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "bin")
PG_SH = os.path.join(ROOT, "deploy", "dev", "pg.sh")
IS_ROOT = os.geteuid() == 0


def free_port():
    """A loopback TCP port nobody listens on right now (never 2024)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 2024:
            return port


def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise TimeoutError("timed out waiting for " + what)


class Daemon:
    def __init__(self, name, argv, log_path):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=ROOT)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the daemon and waits; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Instance:
    def __init__(self, extra_config=None):
        self.dir = tempfile.mkdtemp(prefix="mailstead-test-")
        os.chmod(self.dir, 0o755)
        self.pgdata = os.path.join(self.dir, "pg")
        self.rundir = os.path.join(self.dir, "run")
        self.admin_socket = os.path.join(self.rundir, "admind.sock")
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.lmtp_port = free_port()
        self.daemons = []
        self.user = subprocess.run(["sh", PG_SH, "user"], check=True, capture_output=True,
                                   text=True).stdout.strip()
        self._pg_started = False
        try:
            self._sh("init", self.pgdata, self.rundir)
            self._sh("start", self.pgdata, self.rundir)
            self._pg_started = True
            self.tls_cert = os.path.join(self.dir, "cert.pem")
            self.tls_key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                            "-subj", "/CN=localhost", "-keyout", self.tls_key,
                            "-out", self.tls_cert], check=True, capture_output=True)
            self.config_path = os.path.join(self.dir, "mailstead.conf")
            self.write_config(extra_config or {})
        except BaseException:
            self.close()
            raise

    def _sh(self, *args):
        r = subprocess.run(["sh", PG_SH] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("pg.sh %s failed: %s%s" % (args[0], r.stdout, r.stderr))

    @property
    def conninfo(self):
        return "host=%s dbname=mailstead user=mailstead" % self.rundir

    def write_config(self, extra):
        cfg = {
            "user": self.user,
            "log_level": "info",
            "db_conninfo": '"%s"' % self.conninfo,
            "db_connections": "2",
            "schema_dir": os.environ.get("MAILSTEAD_TEST_SCHEMA_DIR",
                                         os.path.join(ROOT, "schema")),
            "admin_socket": self.admin_socket,
            "imap_listen": "127.0.0.1:%d" % self.imap_port,
            "imaps_listen": "127.0.0.1:%d" % self.imaps_port,
            "lmtp_listen": "127.0.0.1:%d" % self.lmtp_port,
            "workers": "2",
            "tls_cert": self.tls_cert,
            "tls_key": self.tls_key,
            # Fast tests: the cheapest Argon2id cost the config allows.
            "argon2_memory_kib": "64",
            "argon2_iterations": "1",
            "auth_fail_delay_ms": "100",
        }
        cfg.update(extra)
        with open(self.config_path, "w") as f:
            for k, v in cfg.items():
                f.write("%s = %s\n" % (k, v))

    # -- daemons ---------------------------------------------------------

    def start_admind(self, *extra_args, wait=True):
        log = os.path.join(self.dir, "admind.log")
        d = Daemon("admind", [os.path.join(BIN, "mailstead-admind"), "-c", self.config_path]
                   + list(extra_args), log)
        self.daemons.append(d)
        if wait:
            try:
                wait_for(lambda: self._can_connect_unix(self.admin_socket) or not d.alive(),
                         what="admind socket")
            except TimeoutError:
                raise RuntimeError("admind did not start:\n" + d.log_text())
            if not d.alive():
                raise RuntimeError("admind exited:\n" + d.log_text())
        return d

    def start_imapd(self, *extra_args, wait=True):
        log = os.path.join(self.dir, "imapd-%d.log" % len(self.daemons))
        d = Daemon("imapd", [os.path.join(BIN, "mailstead-imapd"), "-c", self.config_path]
                   + list(extra_args), log)
        self.daemons.append(d)
        if wait:
            try:
                wait_for(lambda: self._can_connect_tcp(self.imap_port) or not d.alive(),
                         what="imapd port")
            except TimeoutError:
                raise RuntimeError("imapd did not start:\n" + d.log_text())
            if not d.alive():
                raise RuntimeError("imapd exited:\n" + d.log_text())
        return d

    def start_second_imapd(self):
        """A second, separate imapd master on its own IMAP port and the same
        database (another host, as far as the protocol is concerned); no
        IMAPS or LMTP listener. Returns its IMAP port."""
        port = free_port()
        d = Daemon("imapd", [os.path.join(BIN, "mailstead-imapd"), "-c", self.config_path,
                             "-o", "imap_listen=127.0.0.1:%d" % port,
                             "-o", "imaps_listen=", "-o", "lmtp_listen="],
                   os.path.join(self.dir, "imapd-2.log"))
        self.daemons.append(d)
        wait_for(lambda: self._can_connect_tcp(port), what="second imapd")
        return port

    @staticmethod
    def _can_connect_unix(path):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
            return True
        except OSError:
            return False

    @staticmethod
    def _can_connect_tcp(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    # -- database --------------------------------------------------------

    def psql(self, sql):
        """Runs SQL as the cluster's superuser; returns rows as lists of
        strings (NULL is None)."""
        cmd = ["psql", "-h", self.rundir, "-U", "mailstead", "-d", "mailstead", "-AtqX",
               "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-P", "null=\x1e", "-c", sql]
        if IS_ROOT:
            cmd = ["runuser", "-u", "mailstead", "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql failed: " + r.stderr)
        rows = []
        for line in r.stdout.splitlines():
            rows.append([None if v == "\x1e" else v for v in line.split("\x1f")])
        return rows

    # -- admin protocol --------------------------------------------------

    def rpc(self, method, params=None, req_id=1):
        """One JSON-RPC call on a fresh connection; returns the response."""
        with AdminClient(self.admin_socket) as c:
            return c.call(method, params, req_id)

    def admin_cli(self, *args, input=None):
        env = dict(os.environ, MAILSTEAD_ADMIN_SOCKET=self.admin_socket)
        return subprocess.run([os.path.join(BIN, "mailstead-admin")] + list(args),
                              input=input, capture_output=True, text=True, env=env,
                              timeout=60)

    def create_account(self, address, password, **extra):
        """Creates the domain if needed and the account; returns the
        account.create response."""
        domain = address.split("@", 1)[1]
        r = self.rpc("domain.create", {"name": domain})
        if "error" in r and r["error"].get("data", {}).get("reason") != "conflict":
            raise RuntimeError("domain.create: %r" % r)
        params = {"address": address, "password": password}
        params.update(extra)
        r = self.rpc("account.create", params)
        if "error" in r:
            raise RuntimeError("account.create: %r" % r)
        return r

    # -- teardown --------------------------------------------------------

    def close(self):
        for d in reversed(self.daemons):
            d.stop()
        self.daemons = []
        if self._pg_started:
            try:
                self._sh("stop", self.pgdata)
            finally:
                self._pg_started = False
        shutil.rmtree(self.dir, ignore_errors=True)


class AdminClient:
    """A line-oriented JSON-RPC client of the admin socket."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_line(self):
        """The next response line decoded as JSON, or None at EOF."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params=None, req_id=1):
        req = {"jsonrpc": "2.0", "method": method, "id": req_id}
        if params is not None:
            req["params"] = params
        self.send_raw(json.dumps(req).encode() + b"\n")
        return self.read_line()


class RawImap:
    """A line-level IMAP client for what imaplib cannot say or show: every
    untagged line a command brings, exact tagged texts, literals.

    cmd() takes str parts (joined by spaces) and bytes parts, which are
    sent as synchronizing literals; it returns (untagged lines, tagged text
    after the tag), decoded as UTF-8 (invalid bytes replaced)."""

    def __init__(self, port, addr=None, password=None, select=None, examine=None,
                 timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        self.n = 0
        self.select_lines = None
        self.greeting = self.line()
        if addr:
            self.ok('LOGIN %s "%s"' % (addr, password))
        if select:
            self.select_lines = self.ok("SELECT " + select)[0]
        if examine:
            self.select_lines = self.ok("EXAMINE " + examine)[0]

    def line(self, timeout=None):
        self.sock.settimeout(timeout or self.timeout)
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf[:200])
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def until_tagged(self, tag):
        untagged = []
        while True:
            line = self.line().decode("utf-8", "replace")
            if line.startswith(tag + " "):
                return untagged, line[len(tag) + 1:]
            untagged.append(line)

    def cmd(self, *parts):
        tag = self.tag()
        out = tag.encode()
        for p in parts:
            out += b" "
            if isinstance(p, bytes):
                self.sock.sendall(out + b"{%d}\r\n" % len(p))
                cont = self.line()
                if not cont.startswith(b"+"):
                    raise AssertionError("no continuation: %r" % cont)
                out = p
            else:
                out += p.encode()
        self.sock.sendall(out + b"\r\n")
        return self.until_tagged(tag)

    def expect(self, status, *parts):
        untagged, tagged = self.cmd(*parts)
        if not tagged.startswith(status):
            raise AssertionError("%r -> %s, expected %s (%r)" % (parts, tagged, status, untagged))
        return untagged, tagged

    def ok(self, *parts):
        return self.expect("OK", *parts)

    def bad(self, *parts):
        return self.expect("BAD", *parts)

    def close(self, logout=False):
        if logout:
            try:
                self.cmd("LOGOUT")
            except (OSError, EOFError):
                pass
        self.sock.close()


def assert_counters_exact(test, inst, acc):
    """Every mailbox's messages/unseen/bytes, the account's usage and
    the messages' reference counts agree with the rows (the 0003
    triggers and the functions of 0015 keep them so)."""
    bad = inst.psql(
        "SELECT b.name, b.messages, b.unseen, b.bytes, c.n, c.u, c.s FROM mailboxes b"
        " LEFT JOIN LATERAL (SELECT count(*) AS n,"
        "   count(*) FILTER (WHERE mm.flags & 1 = 0) AS u, coalesce(sum(m.size), 0) AS s"
        "   FROM mailbox_messages mm JOIN messages m"
        "     ON m.account_id = mm.account_id AND m.message_id = mm.message_id"
        "  WHERE mm.account_id = b.account_id AND mm.mailbox_id = b.mailbox_id) c ON true"
        " WHERE b.account_id = %d"
        "   AND (b.messages <> c.n OR b.unseen <> c.u OR b.bytes <> c.s)" % acc)
    test.assertEqual(bad, [], "mailbox counters drifted")
    used = inst.psql(
        "SELECT a.used_bytes, a.used_messages,"
        " (SELECT coalesce(sum(m.size), 0) FROM mailbox_messages mm JOIN messages m"
        "    ON m.account_id = mm.account_id AND m.message_id = mm.message_id"
        "   WHERE mm.account_id = a.account_id),"
        " (SELECT count(*) FROM mailbox_messages mm WHERE mm.account_id = a.account_id)"
        " FROM accounts a WHERE a.account_id = %d" % acc)[0]
    test.assertEqual((used[0], used[1]), (used[2], used[3]), "account usage drifted")
    refs = inst.psql(
        "SELECT m.message_id FROM messages m WHERE m.account_id = %d AND m.refs <>"
        " (SELECT count(*) FROM mailbox_messages mm WHERE mm.account_id = m.account_id"
        "    AND mm.message_id = m.message_id)" % acc)
    test.assertEqual(refs, [], "message refs drifted")
