#!/usr/bin/env python3
"""Mailstead benchmarks, alone or side by side with Dovecot (docs/benchmarks.md).

Starts a throwaway Mailstead (tests/integration/harness.py: private
PostgreSQL, mailstead-admind, mailstead-imapd) and, with --compare, a private
Dovecot on loopback high ports with its own config in a temp dir (maildir,
fsync on). Both get the same users and the same corpus (tests/bench/corpusgen.c). Then every scenario runs
against each server, alternating A/B/A/B, with build/bench/loadgen as the
client, while /proc accounting records the CPU seconds and peak memory of
every server-side process: imapd master + workers and the whole private
PostgreSQL cluster for Mailstead, every Dovecot process for Dovecot.

Passwords (--passwords): "defaults" (the default) compares defaults with
defaults, as an ISP would deploy them: Mailstead's Argon2id at its default
cost and Dovecot's SHA512-CRYPT (5,000 rounds), each server with its own
default caching (Mailstead's verified-credentials cache is on, Dovecot's
auth_cache_size is 0). "same" gives both the same cheap Argon2id hash string
(m=64 KiB, t=1, p=1, made by Mailstead, copied into Dovecot's passwd-file),
which keeps hashing out of the comparison.

    python3 tests/bench/bench.py                  # Mailstead, quick settings
    python3 tests/bench/bench.py --compare        # + Dovecot, full sizes
    python3 tests/bench/bench.py --compare --quick --scenarios mixed,idle

Everything it starts it stops (by pid); traffic stays on 127.0.0.1; any
error of the load generator fails the run (exit status 1).
"""
import argparse
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import Instance, AdminClient, free_port, wait_for  # noqa: E402

LOADGEN = os.path.join(ROOT, "build", "bench", "loadgen")
CORPUSGEN = os.path.join(ROOT, "build", "bench", "corpusgen")
PASSWORD = "bench-password"
DOMAIN = "bench.test"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# -- process accounting -------------------------------------------------

def read_stat(pid):
    """(ppid, cpu_seconds incl. reaped children, rss_bytes, comm) or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    r = data.rindex(")")
    comm = data[data.index("(") + 1:r]
    f = data[r + 2:].split()
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) rss(21)
    cpu = (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / CLK_TCK
    return int(f[1]), cpu, int(f[21]) * PAGE, comm


def read_pss(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class ProcGroups:
    """Named groups of process trees, each given by its root pids. A
    sample sums, per group, CPU seconds (utime+stime of every live process
    plus cutime+cstime, so processes that exited and were reaped inside the
    tree still count), RSS and PSS (PSS counts shared pages once)."""

    def __init__(self, groups):
        self.groups = groups  # name -> callable returning root pids

    def sample(self, pss=True):
        stats = {}
        children = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            st = read_stat(int(name))
            if st is None:
                continue
            stats[int(name)] = st
            children.setdefault(st[0], []).append(int(name))
        out = {}
        for g, roots in self.groups.items():
            seen, stack = set(), [p for p in roots() if p in stats]
            while stack:
                p = stack.pop()
                if p in seen:
                    continue
                seen.add(p)
                stack.extend(children.get(p, []))
            by_comm = {}
            for p in seen:
                c = by_comm.setdefault(stats[p][3], {"n": 0, "cpu": 0.0, "pss": 0})
                c["n"] += 1
                c["cpu"] += stats[p][1]
                if pss:
                    c["pss"] += read_pss(p)
            out[g] = {
                "cpu": sum(stats[p][1] for p in seen),
                "rss": sum(stats[p][2] for p in seen),
                "pss": sum(c["pss"] for c in by_comm.values()),
                "procs": len(seen),
                "by_comm": by_comm,
            }
        return out


class Sampler(threading.Thread):
    """Samples a ProcGroups until stopped; keeps the peak RSS and PSS per
    group and the process count at the peak."""

    def __init__(self, groups, interval=0.25):
        super().__init__(daemon=True)
        self.groups = groups
        self.interval = interval
        self.stop_ev = threading.Event()
        self.peak = {}
        self.first = groups.sample()
        self._note(self.first)

    def _note(self, s):
        for g, v in s.items():
            p = self.peak.setdefault(g, {"rss": 0, "pss": 0, "procs": 0})
            p["rss"] = max(p["rss"], v["rss"])
            if v["pss"] > p["pss"]:
                p["pss"] = v["pss"]
                p["procs"] = v["procs"]
                p["by_comm"] = v["by_comm"]

    def run(self):
        while not self.stop_ev.wait(self.interval):
            t0 = time.monotonic()
            self._note(self.groups.sample())
            # Stay under ~20% of one core on big process trees.
            self.interval = max(self.interval, 5 * (time.monotonic() - t0))

    def finish(self):
        self.stop_ev.set()
        self.join()
        last = self.groups.sample()
        self._note(last)
        out = {}
        for g in last:
            # Per process name: processes and PSS at the peak; CPU seconds
            # between the first and last sample (a process that exited in
            # between counts under its parent's name).
            first = self.first[g]["by_comm"]
            comms = {}
            for name, c in self.peak[g].get("by_comm", {}).items():
                comms[name] = {"procs_at_peak": c["n"], "pss_mib_at_peak": round(c["pss"] / 2**20, 1)}
            for name, c in last[g]["by_comm"].items():
                cpu = c["cpu"] - first.get(name, {}).get("cpu", 0.0)
                comms.setdefault(name, {})["cpu_s"] = round(cpu, 2)
            out[g] = {"cpu_s": round(last[g]["cpu"] - self.first[g]["cpu"], 2),
                      "peak_rss_mib": round(self.peak[g]["rss"] / 2**20, 1),
                      "peak_pss_mib": round(self.peak[g]["pss"] / 2**20, 1),
                      "procs": self.peak[g]["procs"], "by_process": comms}
        return out


# -- the servers --------------------------------------------------------

class Mailstead:
    name = "Mailstead"

    def __init__(self, tmp, args):
        conf = {
            "workers": str(args.workers), "db_connections": str(args.db_connections),
            "log_level": "warn", "max_connections_per_ip": "1000000",
            "max_connections_per_worker": "100000",
        }
        if args.passwords == "same":
            conf.update({"argon2_memory_kib": "64", "argon2_iterations": "1"})
        else:  # the shipped defaults (docs/configuration.md); the harness lowers them
            conf.update({"argon2_memory_kib": "19456", "argon2_iterations": "2"})
        self.inst = Instance(conf)
        self.inst.start_admind()
        self.imapd = None

    def create_users(self, users):
        with AdminClient(self.inst.admin_socket, timeout=120) as c:
            r = c.call("domain.create", {"name": DOMAIN})
            if "error" in r and r["error"].get("data", {}).get("reason") != "conflict":
                raise RuntimeError("domain.create: %r" % r)
            one_hash = None
            for i, u in enumerate(users):
                # One hash for everyone (the same password): hashing 10,000
                # accounts at the default Argon2id cost would take minutes.
                p = {"address": u}
                if one_hash is None:
                    p["password"] = PASSWORD
                else:
                    p["password_hash"] = one_hash
                r = c.call("account.create", p, i + 2)
                if "error" in r:
                    raise RuntimeError("account.create %s: %r" % (u, r))
                if one_hash is None:
                    one_hash = self.inst.psql(
                        "SELECT password_hash FROM accounts a JOIN domains d USING (domain_id)"
                        " WHERE a.localpart || '@' || d.name = '%s'" % u)[0][0]
        rows = self.inst.psql("SELECT a.localpart || '@' || d.name, a.password_hash "
                              "FROM accounts a JOIN domains d USING (domain_id)")
        return {r[0]: r[1] for r in rows}

    def start(self):
        self.imapd = self.inst.start_imapd()
        self.imap_port = self.inst.imap_port
        self.imaps_port = self.inst.imaps_port
        self.lmtp_port = self.inst.lmtp_port
        wait_for(lambda: can_connect(self.lmtp_port), what="LMTP port")

    def search_index_backlog(self):
        """Messages not covered yet by the background search index, plus 1
        while a GIN pending list still waits to be merged: the indexer
        merges them once caught up (schema/0022, 0023), and that work
        counts."""
        rows = self.inst.psql(
            "SELECT coalesce(sum(mb.uidnext - 1 - coalesce(st.indexed_uid, 0)), 0)"
            " FROM mailboxes mb LEFT JOIN mailbox_search_state st"
            " ON st.account_id = mb.account_id AND st.mailbox_id = mb.mailbox_id"
            " WHERE mb.uidnext - 1 > coalesce(st.indexed_uid, 0)")
        if not getattr(self, "pgstattuple", False):
            self.inst.psql("CREATE EXTENSION IF NOT EXISTS pgstattuple")
            self.pgstattuple = True
        pending = self.inst.psql(
            "SELECT count(*) FROM (SELECT c.oid FROM pg_class c"
            " WHERE c.relname IN ('search_words_trgm_idx', 'message_search_words_idx',"
            " 'messages_subject_trgm_idx', 'messages_from_trgm_idx', 'messages_to_trgm_idx',"
            " 'messages_cc_trgm_idx') OFFSET 0) x"  # the filter first: only GIN indexes
            " WHERE (pgstatginindex(x.oid)).pending_pages > 0")
        return int(rows[0][0]) + int(pending[0][0])

    def wait_search_index(self, timeout):
        deadline = time.monotonic() + timeout
        while self.search_index_backlog() > 0:  # one psql a second: little CPU
            if time.monotonic() > deadline:
                raise BenchError("the search index did not catch up in %d s" % timeout)
            time.sleep(1)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.inst.pgdata, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def groups(self):
        return ProcGroups({
            "server": lambda: [self.imapd.pid] if self.imapd else [],
            "db": lambda: [p for p in [self.postmaster_pid()] if p],
        })

    def describe(self):
        return ("mailstead-imapd, %s workers, %s db connections per worker; PostgreSQL %s "
                "(private cluster, fsync on, default settings)"
                % (self.args_workers, self.args_db, pg_version()))

    def error_tail(self):
        text = self.imapd.log_text() if self.imapd else ""
        return "\n".join(text.splitlines()[-20:])

    def check_alive(self):
        if self.imapd and not self.imapd.alive():
            raise RuntimeError("mailstead-imapd died:\n" + self.imapd.log_text()[-3000:])

    def close(self):
        self.inst.close()


DOVECOT_CONF = """# Private benchmark instance written by tests/bench/bench.py.
base_dir = {d}/run
state_dir = {d}/state
instance_name = bench-{pid}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:~/Maildir
mail_fsync = always
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
default_client_limit = 12000
default_vsz_limit = 1G
mail_max_userip_connections = 100000
imap_hibernate_timeout = 5s
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
  default_fields = uid={uid} gid={gid} home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
  # Dovecot's documented high-performance mode.
  service_count = 0
  process_min_avail = {ncpu}
}}
service imap {{
  process_limit = 11000
  unix_listener imap-master {{
    user = $default_internal_user
  }}
}}
service imap-hibernate {{
  unix_listener imap-hibernate {{
    mode = 0660
    group = $default_internal_group
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service anvil {{
  client_limit = 12000
}}
service auth {{
  client_limit = 12000
}}
protocol lmtp {{
  postmaster_address = postmaster@{domain}
}}
"""


class Dovecot:
    name = "Dovecot"

    def __init__(self, tmp, args):
        self.dir = os.path.join(tmp, "dovecot")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        os.chmod(tmp, 0o755)
        for sub in ("run", "state", "home"):
            os.makedirs(os.path.join(self.dir, sub))
        pw = pwd.getpwnam("mailstead")  # the unprivileged user of deploy/dev/deps.sh
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        os.chown(os.path.join(self.dir, "home"), self.uid, self.gid)
        self.imap_port, self.imaps_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(d=self.dir, pid=os.getpid(), uid=self.uid, gid=self.gid,
                                        cert=self.cert, key=self.key, imap=self.imap_port,
                                        imaps=self.imaps_port, lmtp=self.lmtp_port,
                                        ncpu=os.cpu_count() or 2, domain=DOMAIN))
        self.proc = None

    def set_users(self, hashes, passwords):
        """passwords "same": Mailstead's hash strings; "defaults": Dovecot's
        default SHA512-CRYPT (one salt for all: the same password)."""
        if passwords == "defaults":
            h = "{SHA512-CRYPT}" + sha512_crypt(PASSWORD)
            hashes = {user: h for user in hashes}
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for user, h in sorted(hashes.items()):
                if not h.startswith("{ARGON2ID}") and not h.startswith("{SHA512-CRYPT}"):
                    raise RuntimeError("unexpected hash scheme for %s" % user)
                f.write("%s:%s::::::\n" % (user, h))
        os.chmod(os.path.join(self.dir, "passwd"), 0o644)

    def home(self, user):
        return os.path.join(self.dir, "home", user)

    def raise_inotify_limit(self, sessions):
        """Every Dovecot imap process of one UID takes an inotify instance;
        past fs.inotify.max_user_instances (128 by default) Dovecot falls
        back to polling every 30 s and IDLE push takes up to 30 s. Hosts
        that run Dovecot raise it; so do we, and put the old value back in
        close()."""
        path = "/proc/sys/fs/inotify/max_user_instances"
        try:
            with open(path) as f:
                old = int(f.read())
            if old < sessions + 1024:
                with open(path, "w") as f:
                    f.write(str(sessions + 1024))
                self.inotify_old = old
                log("fs.inotify.max_user_instances %d -> %d for Dovecot (restored at the end)"
                    % (old, sessions + 1024))
        except OSError as e:
            log("cannot raise %s (%s): Dovecot IDLE may fall back to 30 s polling" % (path, e))

    def start(self):
        self.log = open(os.path.join(self.dir, "master.out"), "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: (can_connect(self.imap_port) and can_connect(self.lmtp_port))
                     or self.proc.poll() is not None, timeout=30, what="dovecot")
        except TimeoutError:
            pass
        if self.proc.poll() is not None or not can_connect(self.imap_port):
            raise RuntimeError("dovecot did not start:\n" + self.log_text())

    def log_text(self):
        out = ""
        for n in ("master.out", "dovecot.log"):
            p = os.path.join(self.dir, n)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out += f.read()[-4000:]
        return out

    def error_tail(self):
        lines = [l for l in self.log_text().splitlines()
                 if any(w in l for w in ("Error", "Fatal", "Panic", "Warning"))]
        return "\n".join(lines[-20:])

    def doveadm(self, *args):
        return subprocess.run(["doveadm", "-c", self.conf] + list(args), capture_output=True,
                              text=True, timeout=3600)

    def groups(self):
        return ProcGroups({"server": lambda: [self.proc.pid] if self.proc else []})

    def check_alive(self):
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("dovecot died:\n" + self.log_text())

    def close(self):
        if getattr(self, "inotify_old", None) is not None:
            with open("/proc/sys/fs/inotify/max_user_instances", "w") as f:
                f.write(str(self.inotify_old))
            self.inotify_old = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def sha512_crypt(password):
    """A SHA512-CRYPT hash ($6$, glibc's default 5,000 rounds) by openssl."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n",
                       capture_output=True, text=True, check=True)
    h = r.stdout.strip()
    if not h.startswith("$6$"):
        raise RuntimeError("openssl passwd -6: unexpected output %r" % h)
    return h


def can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pg_version():
    try:
        r = subprocess.run(["psql", "--version"], capture_output=True, text=True)
        return r.stdout.split()[-1]
    except OSError:
        return "?"


def dovecot_version():
    try:
        return subprocess.run(["dovecot", "--version"], capture_output=True,
                              text=True).stdout.split()[0]
    except (OSError, IndexError):
        return None


# -- running the load generator ------------------------------------------

class BenchError(Exception):
    pass


def loadgen(args_list, timeout, on_ready=None):
    """Runs loadgen; returns its JSON. on_ready(line) is called when an idle
    run prints READY; loadgen continues when it returns."""
    cmd = [LOADGEN] + [str(a) for a in args_list]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE if on_ready else subprocess.DEVNULL, text=True)
    err_lines = []
    t = threading.Thread(target=lambda: err_lines.extend(p.stderr), daemon=True)
    t.start()
    result = None
    deadline = time.monotonic() + timeout
    try:
        for line in p.stdout:
            if line.startswith("READY") and on_ready:
                on_ready(line)
                p.stdin.write("go\n")
                p.stdin.flush()
            elif line.startswith("{"):
                result = json.loads(line)
            if time.monotonic() > deadline:
                raise BenchError("loadgen ran longer than %d s" % timeout)
        p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        t.join(5)
    if p.returncode != 0 or result is None or result.get("errors"):
        raise BenchError("loadgen failed (exit %s): %s\n  command: %s" % (
            p.returncode, "".join(err_lines[-10:]).strip() or (result or {}).get("first_error"),
            " ".join(cmd)))
    return result


def corpus(tmp, name, *args):
    """Runs corpusgen; returns its summary line."""
    r = subprocess.run([CORPUSGEN] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("corpusgen failed: " + r.stderr)
    return r.stderr.strip()


# -- scenarios -----------------------------------------------------------

def users(prefix, n):
    return ["%s%d@%s" % (prefix, i, DOMAIN) for i in range(1, n + 1)]


def fmt(prefix):
    return "%s%%d@%s" % (prefix, DOMAIN)


class Bench:
    def __init__(self, args, tmp):
        self.a = args
        self.tmp = tmp
        self.servers = []
        self.results = []  # (scenario, server, round, metrics)
        self.notes = []
        self.round = 0  # the A/B round being run

    # corpora and accounts
    def prepare(self):
        a, tmp = self.a, self.tmp
        log("generating the corpus (seed %d)" % a.seed)
        self.mix_mbox = os.path.join(tmp, "mixed.mbox")
        s = corpus(tmp, "mixed", "--seed", a.seed, "--count", 2000, "--mbox", self.mix_mbox)
        self.notes.append("APPEND corpus: " + s.replace("corpusgen: ", ""))
        nmix = max(a.mixed_clients)
        self.preload_lmtp = os.path.join(tmp, "preload.lmtp")
        corpus(tmp, "preload", "--seed", a.seed + 1, "--count", a.mailbox_size, "--lmtp",
               self.preload_lmtp, "--rcpt-fmt", fmt("mix"), "--users", nmix, "--rcpts", nmix)
        # Every deliver run gets messages no account has seen: Mailstead
        # stores a message an account already holds as a reference only
        # (measured: 212 msg/s in the first round, 814 in the second, when
        # rounds re-delivered one corpus), and maildir does not. So one
        # corpus per round and recipient count, each with its own seed;
        # both servers get the same one within a round.
        self.dlv = {}
        if "deliver" in a.scenarios:
            for rnd in range(a.rounds):
                for i, r in enumerate(sorted({1, a.deliver_rcpts})):
                    path = os.path.join(tmp, "deliver-%d-%d.lmtp" % (rnd, r))
                    seed = a.seed + 1000 * (rnd + 1) + i
                    s = corpus(tmp, "deliver", "--seed", seed, "--count", a.deliver_messages,
                               "--lmtp", path, "--rcpt-fmt", fmt("dlv"), "--users",
                               a.deliver_users, "--rcpts", r)
                    self.dlv[(rnd, r)] = path
                    self.notes.append("deliver corpus (round %d, %d rcpt): %s"
                                      % (rnd + 1, r, s.replace("corpusgen: ", "")))
        if "bigbox" in a.scenarios:
            log("generating the bigbox corpus: %d messages" % a.bigbox_size)
            self.big_lmtp = os.path.join(tmp, "bigbox.lmtp")
            self.big_maildir = os.path.join(tmp, "bigbox.maildir") if a.compare else None
            extra = ["--maildir", self.big_maildir] if self.big_maildir else []
            s = corpus(tmp, "bigbox", "--seed", a.seed + 3, "--count", a.bigbox_size,
                       "--lmtp", self.big_lmtp, "--rcpt-fmt", fmt("big"), "--users", 1,
                       "--rcpts", 1, *extra)
            self.notes.append("bigbox corpus: " + s.replace("corpusgen: ", ""))
        self.users = (users("mix", nmix) + users("dlv", a.deliver_users) + users("big", 1)
                      + users("idl", max(a.idle_sessions) if "idle" in a.scenarios else 0))

    def start_servers(self):
        a = self.a
        log("starting Mailstead")
        m = Mailstead(self.tmp, a)
        m.args_workers, m.args_db = a.workers, a.db_connections
        self.servers.append(m)
        t0 = time.monotonic()
        hashes = m.create_users(self.users)
        log("created %d accounts in %.1f s" % (len(self.users), time.monotonic() - t0))
        m.start()
        if a.compare:
            log("starting Dovecot %s" % dovecot_version())
            d = Dovecot(self.tmp, a)
            d.set_users(hashes, a.passwords)
            self.servers.append(d)
            if "idle" in a.scenarios:
                d.raise_inotify_limit(max(a.idle_sessions))
            if "bigbox" in a.scenarios:
                self.load_bigbox_maildir(d)
            d.start()
            r = d.doveadm("auth", "test", self.users[0], PASSWORD)
            if r.returncode != 0:
                raise BenchError("doveadm auth test failed: "
                                 + r.stdout + r.stderr)
        for s in self.servers:
            t0 = time.monotonic()
            nmix = max(a.mixed_clients)
            loadgen(["deliver", "--port", s.lmtp_port, "--lmtp-file", self.preload_lmtp,
                     "--connections", 2, "--timeout", 300], 1800)
            log("%s: preloaded %d users x %d messages in %.1f s"
                % (s.name, nmix, a.mailbox_size, time.monotonic() - t0))
            if "bigbox" in a.scenarios and isinstance(s, Mailstead):
                t0 = time.monotonic()
                r = loadgen(["deliver", "--port", s.lmtp_port, "--lmtp-file", self.big_lmtp,
                             "--connections", a.load_connections, "--timeout", 600], 7200)
                log("Mailstead: loaded bigbox (%d messages) over LMTP in %.1f s (%.0f msg/s)"
                    % (r["messages"], time.monotonic() - t0, r["messages_per_sec"]))
                self.notes.append("bigbox load into Mailstead over LMTP (%d connections): "
                                  "%.0f msg/s" % (a.load_connections, r["messages_per_sec"]))
            if isinstance(s, Mailstead):
                # The measured runs see a complete search index, as a
                # mailbox of this size does in service (its backlog is
                # scanned, not lost, meanwhile: docs/operations.md), and
                # the first run does not pay for the load's indexing.
                t0 = time.monotonic()
                s.wait_search_index(7200)
                log("Mailstead: search index caught up in %.1f s" % (time.monotonic() - t0))
                if "bigbox" in a.scenarios:
                    self.notes.append("bigbox search index built by the workers after the "
                                      "load in %.0f s" % (time.monotonic() - t0))

    def load_bigbox_maildir(self, d):
        """Moves the generated maildir into big1's home (Dovecot's own
        format, written directly), then lets Dovecot index it."""
        home = d.home("big1@" + DOMAIN)
        os.makedirs(home)
        shutil.move(self.big_maildir, os.path.join(home, "Maildir"))
        subprocess.run(["chown", "-R", "%d:%d" % (d.uid, d.gid), home], check=True)

    def index_bigbox_dovecot(self, d):
        t0 = time.monotonic()
        r = d.doveadm("mailbox", "status", "-u", "big1@" + DOMAIN, "messages", "INBOX")
        if r.returncode != 0:
            raise BenchError("doveadm mailbox status: " + r.stderr)
        log("Dovecot: indexed bigbox (%s) in %.1f s" % (r.stdout.strip(), time.monotonic() - t0))

    # one measured run
    def measure(self, server, scenario, lg_args, timeout, on_ready=None):
        server.check_alive()
        sampler = Sampler(server.groups())
        sampler.start()
        try:
            res = loadgen(lg_args, timeout, on_ready)
        except BenchError as e:
            # The temp dir goes away with the servers: keep the evidence.
            raise BenchError("%s\n  %s log (last errors):\n%s" % (e, server.name,
                                                                   server.error_tail()))
        finally:
            acct = sampler.finish()
        server.check_alive()
        res["acct"] = acct
        # Mailstead indexes new messages for SEARCH in the background, and
        # yields to delivery bursts: that work is deferred, not saved. Wait
        # for it before the next run (it would take the other server's CPU)
        # and account for it beside the run.
        res["catchup_s"] = res["catchup_cpu_s"] = None
        if hasattr(server, "wait_search_index"):
            t0 = time.monotonic()
            sampler = Sampler(server.groups())
            sampler.start()
            try:
                server.wait_search_index(1800)
            finally:
                catchup = sampler.finish()
            res["catchup_s"] = time.monotonic() - t0
            res["catchup_cpu_s"] = sum(v["cpu_s"] for v in catchup.values())
        return res

    def run_mixed(self, s, k, tls):
        a = self.a
        iters = max(a.min_iterations, a.mixed_sessions // k)
        args = ["mixed", "--port", s.imaps_port if tls else s.imap_port, "--clients", k,
                "--iterations", iters, "--users", k, "--user-fmt", fmt("mix"), "--password",
                PASSWORD, "--mbox", self.mix_mbox, "--seed", a.seed]
        if tls:
            args.append("--tls")
        return self.measure(s, "mixed", args, 3600)

    def run_bigbox(self, s):
        a = self.a
        args = ["bigbox", "--port", s.imap_port, "--user-fmt", fmt("big"), "--password",
                PASSWORD, "--iterations", a.bigbox_iterations, "--warmup", 1, "--timeout", 900]
        return self.measure(s, "bigbox", args, 7200)

    def run_deliver(self, s, rcpts):
        a = self.a
        args = ["deliver", "--port", s.lmtp_port, "--lmtp-file", self.dlv[(self.round, rcpts)],
                "--connections", a.deliver_connections]
        return self.measure(s, "deliver", args, 3600)

    def run_idle(self, s, n):
        a = self.a
        groups = s.groups()
        base = groups.sample()
        ready = {}

        def on_ready(line):
            # Let both servers settle (Dovecot hibernates IDLE sessions
            # after imap_hibernate_timeout = 5 s), then measure.
            time.sleep(a.idle_settle)
            ready.update(groups.sample())

        args = ["idle", "--port", s.imap_port, "--lmtp-port", s.lmtp_port, "--sessions", n,
                "--users", n, "--user-fmt", fmt("idl"), "--password", PASSWORD,
                "--deliveries", a.idle_deliveries, "--wait-stdin", "--timeout", 120,
                "--connect-concurrency", 50]
        res = self.measure(s, "idle", args, 3600, on_ready)
        res["per_session_kib"] = {
            g: round((ready[g]["pss"] - base[g]["pss"]) / n / 1024, 1) for g in ready}
        res["idle_pss_mib"] = {g: round(ready[g]["pss"] / 2**20, 1) for g in ready}
        res["idle_procs"] = {g: ready[g]["procs"] for g in ready}
        return res

    def plan(self):
        a = self.a
        steps = []
        if "mixed" in a.scenarios:
            for k in a.mixed_clients:
                steps.append(("mixed K=%d" % k, lambda s, k=k: self.run_mixed(s, k, False)))
            if a.tls_clients:
                steps.append(("mixed TLS K=%d" % a.tls_clients,
                              lambda s: self.run_mixed(s, a.tls_clients, True)))
        if "bigbox" in a.scenarios:
            steps.append(("bigbox %d" % a.bigbox_size, self.run_bigbox))
        if "deliver" in a.scenarios:
            steps.append(("deliver 1 rcpt", lambda s: self.run_deliver(s, 1)))
            if a.deliver_rcpts != 1:  # one corpus per count: a second run would repeat it
                steps.append(("deliver %d rcpts" % a.deliver_rcpts,
                              lambda s: self.run_deliver(s, a.deliver_rcpts)))
        if "idle" in a.scenarios:
            for n in a.idle_sessions:
                steps.append(("idle %d" % n, lambda s, n=n: self.run_idle(s, n)))
        return steps

    def run(self):
        steps = self.plan()
        if self.a.compare and "bigbox" in self.a.scenarios:
            self.index_bigbox_dovecot(self.servers[1])
        for rnd in range(self.a.rounds):
            self.round = rnd
            for name, fn in steps:
                # A/B/A/B: the server order alternates between rounds.
                order = self.servers if rnd % 2 == 0 else list(reversed(self.servers))
                for s in order:
                    log("round %d: %s on %s" % (rnd + 1, name, s.name))
                    t0 = time.monotonic()
                    res = fn(s)
                    log("  %.1f s: %s" % (time.monotonic() - t0, headline(name, res)))
                    self.results.append((name, s.name, rnd, res))

    def close(self):
        for s in reversed(self.servers):
            try:
                s.close()
            except Exception as e:  # keep stopping the others
                log("stopping %s: %s" % (s.name, e))


# -- the table -----------------------------------------------------------

def cmd(res, name, p="p50_ms"):
    c = res["commands"].get(name)
    return c[p] if c else None


def cpu_total(res):
    return sum(v["cpu_s"] for v in res["acct"].values())


def mem_total(res):
    return sum(v["peak_pss_mib"] for v in res["acct"].values())


def headline(name, res):
    if name.startswith("mixed"):
        return "%.0f ops/s, %d sessions, server CPU %.1f s" % (res["ops_per_sec"], res["sessions"],
                                                                cpu_total(res))
    if name.startswith("deliver"):
        return "%.0f msg/s, server CPU %.1f s" % (res["messages_per_sec"], cpu_total(res))
    if name.startswith("idle"):
        return "push p50 %.1f ms, %s KiB/session" % (cmd(res, "push (IDLE EXISTS)") or -1,
                                                     res["per_session_kib"])
    return "%.0f ops/s, search hits %s" % (res["ops_per_sec"], res.get("search_hits"))


def metrics(name, res):
    """(label, value, unit, better) rows for one scenario result."""
    rows = []
    acct = res["acct"]
    if name.startswith("mixed"):
        rows.append(("operations/s", res["ops_per_sec"], "", "higher"))
        sess = max(1, res["sessions"])
        rows.append(("CPU per session, server+db", 1000 * cpu_total(res) / sess, "ms", "lower"))
        for c in ("connect", "LOGIN", "SELECT", "FETCH 1:* (UID FLAGS)",
                  "FETCH (BODY.PEEK[] BODYSTRUCTURE)", "STORE +FLAGS (\\Seen)", "APPEND",
                  "UID STORE +FLAGS (\\Deleted)", "UID EXPUNGE", "EXPUNGE", "LOGOUT",
                  "all commands"):
            if c in res["commands"]:
                v = res["commands"][c]
                rows.append(("%s p50/p95/p99" % c, (v["p50_ms"], v["p95_ms"], v["p99_ms"]), "ms",
                             "lower"))
    elif name.startswith("bigbox"):
        for c in ("SELECT", "FETCH 1:* (UID FLAGS RFC822.SIZE)", "UID SEARCH SUBJECT",
                  "UID SEARCH FROM", "UID SEARCH TEXT", "UID SEARCH TEXT rare", "STATUS",
                  "FETCH last 50 ENVELOPE"):
            if c in res["commands"]:
                v = res["commands"][c]
                rows.append(("%s p50/p95/p99" % c, (v["p50_ms"], v["p95_ms"], v["p99_ms"]), "ms",
                             "lower"))
        rows.append(("operations/s", res["ops_per_sec"], "", "higher"))
    elif name.startswith("deliver"):
        rows.append(("messages/s", res["messages_per_sec"], "", "higher"))
        v = res["commands"]["delivery"]
        rows.append(("delivery p50/p95/p99", (v["p50_ms"], v["p95_ms"], v["p99_ms"]), "ms", "lower"))
        rows.append(("CPU per message, server+db",
                     1000 * cpu_total(res) / max(1, res["messages"]), "ms", "lower"))
        rows.append(("CPU per message, with the search index catch-up",
                     1000 * (cpu_total(res) + (res.get("catchup_cpu_s") or 0))
                     / max(1, res["messages"]), "ms", "lower"))
    elif name.startswith("idle"):
        per = res["per_session_kib"]
        rows.append(("memory per idle session, server", per.get("server", 0), "KiB", "lower"))
        if "db" in per:
            rows.append(("memory per idle session, db", per.get("db", 0), "KiB", "lower"))
        rows.append(("memory per idle session, total", sum(per.values()), "KiB", "lower"))
        v = res["commands"].get("push (IDLE EXISTS)")
        if v:
            rows.append(("push latency p50/p99", (v["p50_ms"], v["p99_ms"]), "ms", "lower"))
        rows.append(("time to log in N sessions", res["ready_seconds"], "s", "lower"))
        v = res["commands"].get("LOGIN")
        if v:
            rows.append(("LOGIN p50/p99", (v["p50_ms"], v["p99_ms"]), "ms", "lower"))
    for g in sorted(acct):
        label = {"server": "server", "db": "PostgreSQL"}.get(g, g)
        rows.append(("CPU, %s" % label, acct[g]["cpu_s"], "s", "lower"))
        rows.append(("peak PSS MiB, %s (procs)" % label,
                     (acct[g]["peak_pss_mib"], acct[g]["procs"]), "MiB", "lower"))
    rows.append(("CPU, total", cpu_total(res), "s", "lower"))
    if res.get("catchup_s") is not None:
        rows.append(("search index catch-up after the run: time / CPU",
                     (res["catchup_s"], res["catchup_cpu_s"]), "s", "lower"))
    rows.append(("peak PSS MiB, total", mem_total(res), "MiB", "lower"))
    if res.get("client_cpu_s") is not None:
        rows.append(("CPU, load generator (same machine)", res["client_cpu_s"], "s", "lower"))
    return rows


def average(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    if isinstance(vals[0], tuple):
        return tuple(sum(v[i] for v in vals) / len(vals) for i in range(len(vals[0])))
    return sum(vals) / len(vals)


def show(v, unit):
    if v is None:
        return "-"
    if isinstance(v, tuple):
        if unit == "MiB":  # (MiB, processes)
            return "%s (%d)" % (num(v[0]), round(v[1]))
        return " / ".join(num(x) for x in v)
    return num(v)


def num(x):
    if x is None:
        return "-"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return "%.2f" % x


def ratio(m, d):
    if m is None or d is None:
        return "-"
    if isinstance(m, tuple):
        m, d = m[0], d[0]
    if d == 0:
        return "-" if m == 0 else "inf"
    return "%.2f" % (m / d)


def table(bench):
    servers = [s.name for s in bench.servers]
    order, by = [], {}
    for name, server, rnd, res in bench.results:
        if name not in order:
            order.append(name)
        by.setdefault((name, server), []).append(res)
    lines = []
    if len(servers) > 1:
        lines.append("| scenario | metric | Mailstead | Dovecot | Mailstead/Dovecot |")
        lines.append("|---|---|---:|---:|---:|")
    else:
        lines.append("| scenario | metric | Mailstead |")
        lines.append("|---|---|---:|")
    for name in order:
        per = {}
        for srv in servers:
            rows = [metrics(name, r) for r in by.get((name, srv), [])]
            per[srv] = rows
        base = per[servers[0]][0]
        for i, (label, _, unit, _b) in enumerate(base):
            vals = []
            for srv in servers:
                cand = [r for rows in per[srv] for r in rows if r[0] == label]
                vals.append(average([c[1] for c in cand]))
            unit_s = " (%s)" % unit if unit and unit != "MiB" else ""
            cells = [show(v, unit) for v in vals]
            if len(servers) > 1:
                lines.append("| %s | %s%s | %s | %s | %s |" % (name, label, unit_s, cells[0],
                                                             cells[1], ratio(vals[0], vals[1])))
            else:
                lines.append("| %s | %s%s | %s |" % (name, label, unit_s, cells[0]))
        # rows present only for the second server (e.g. EXPUNGE vs UID EXPUNGE)
        if len(servers) > 1:
            labels = {r[0] for r in base}
            extra = [r for rows in per[servers[1]][:1] for r in rows if r[0] not in labels]
            for label, v, unit, _b in extra:
                lines.append("| %s | %s (%s) | - | %s | - |" % (name, label, unit, show(v, unit)))
    return "\n".join(lines)


def breakdown(bench):
    """Per process name, first round: processes and PSS at the peak, CPU."""
    lines = ["| scenario | server | processes at peak: name x count PSS MiB / CPU s |",
             "|---|---|---|"]
    for name, server, rnd, res in bench.results:
        if rnd != 0:
            continue
        parts = []
        for g, acct in sorted(res["acct"].items()):
            procs = acct.get("by_process", {})
            top = sorted(procs.items(), key=lambda kv: -kv[1].get("pss_mib_at_peak", 0))[:6]
            parts += ["%s x%d %s / %s" % (n, v.get("procs_at_peak", 0),
                                         num(v.get("pss_mib_at_peak", 0)), num(v.get("cpu_s", 0)))
                      for n, v in top]
        lines.append("| %s | %s | %s |" % (name, server, "; ".join(parts)))
    return "\n".join(lines)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    return "%d x %s, %.0f GiB RAM, %s, load average at start %.2f" % (
        os.cpu_count(), cpu, mem, os.uname().release, load[0])


# -- main ----------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--compare", action="store_true", help="also run a private Dovecot")
    p.add_argument("--quick", action="store_true", help="small sizes (the default without "
                   "--compare)")
    p.add_argument("--full", action="store_true", help="full sizes even without --compare")
    p.add_argument("--scenarios", default="mixed,bigbox,deliver,idle")
    p.add_argument("--rounds", type=int, help="A/B rounds (default 2 with --compare, else 1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mixed-clients", default=None, help="comma list, default 1,10,50")
    p.add_argument("--mixed-sessions", type=int, help="sessions per mixed run (all clients)")
    p.add_argument("--min-iterations", type=int, default=3)
    p.add_argument("--tls-clients", type=int, help="clients of the TLS mixed run (0: none)")
    p.add_argument("--mailbox-size", type=int, help="messages preloaded per mixed user")
    p.add_argument("--bigbox-size", type=int)
    p.add_argument("--bigbox-iterations", type=int)
    p.add_argument("--deliver-messages", type=int)
    p.add_argument("--deliver-connections", type=int, default=8)
    p.add_argument("--deliver-users", type=int, default=100)
    p.add_argument("--deliver-rcpts", type=int, default=3)
    p.add_argument("--load-connections", type=int, default=4)
    p.add_argument("--idle-sessions", default=None, help="comma list, default 1000,10000")
    p.add_argument("--idle-deliveries", type=int)
    p.add_argument("--idle-settle", type=float, default=8.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--db-connections", type=int, default=4)
    p.add_argument("--passwords", choices=("defaults", "same"), default="defaults",
                   help="defaults: each server's default hash (Mailstead Argon2id, Dovecot "
                   "SHA512-CRYPT); same: one cheap Argon2id hash for both")
    p.add_argument("--json", help="write all results to this file")
    p.add_argument("--markdown", help="write the table (with machine and command) here")
    a = p.parse_args()
    quick = a.quick or not (a.compare or a.full)
    a.quick = quick
    d = dict(mixed_clients="1,10" if quick else "1,10,50", mixed_sessions=40 if quick else 1000,
             tls_clients=2 if quick else 10, mailbox_size=30 if quick else 100,
             bigbox_size=3000 if quick else 100000, bigbox_iterations=2 if quick else 3,
             deliver_messages=300 if quick else 3000, idle_sessions="100" if quick else
             "1000,10000", idle_deliveries=20 if quick else 100,
             rounds=2 if a.compare else 1)
    for k, v in d.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.mixed_clients = [int(x) for x in str(a.mixed_clients).split(",") if x]
    a.idle_sessions = [int(x) for x in str(a.idle_sessions).split(",") if x]
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    for s in a.scenarios:
        if s not in ("mixed", "bigbox", "deliver", "idle"):
            p.error("unknown scenario " + s)
    if a.mailbox_size < 4:
        p.error("--mailbox-size must be >= 4")
    return a


def main():
    a = parse_args()
    for exe in (LOADGEN, CORPUSGEN):
        if not os.access(exe, os.X_OK):
            sys.exit("bench: %s missing: run make" % exe)
    if a.compare and not shutil.which("dovecot"):
        sys.exit("bench: dovecot is not installed (make bench-compare installs it)")
    if os.geteuid() != 0 and a.compare:
        sys.exit("bench: --compare must run as root (Dovecot changes users)")
    # 10,000 sessions: the daemons inherit this limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = max(a.idle_sessions) + 1000 if "idle" in a.scenarios else 0
    if hard < need:
        sys.exit("bench: RLIMIT_NOFILE %d is too low for %d idle sessions" % (
            hard, max(a.idle_sessions)))

    def interrupted(signum, frame):
        raise KeyboardInterrupt()
    # SIGTERM (and SIGINT, which a shell's background job ignores) stop the
    # run cleanly: every server is stopped in the finally below.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    mach = machine()
    tmp = tempfile.mkdtemp(prefix="mailstead-bench-")
    os.chmod(tmp, 0o755)
    bench = Bench(a, tmp)
    ok = False
    try:
        bench.prepare()
        bench.start_servers()
        bench.run()
        ok = True
    except BenchError as e:
        log("FAILED: %s" % e)
    except KeyboardInterrupt:
        log("interrupted: stopping everything, printing what was measured")
    except Exception as e:
        log("FAILED: %r" % e)
        raise
    finally:
        bench.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if not bench.results:
        sys.exit(1)
    cmdline = "make bench-compare" if a.compare else "make bench"
    argv = " ".join(sys.argv[1:])
    out = ["Run %s on %s." % (started, mach),
           "Command: `%s` (tests/bench/bench.py %s)." % (cmdline, argv), ""]
    srv = ["Mailstead (%s)" % bench.servers[0].describe()]
    if a.compare:
        srv.append("Dovecot %s (maildir, mail_fsync=always, imap-login high-performance mode, "
                   "imap_hibernate_timeout=5s)" % dovecot_version())
    out.append("Servers: " + "; ".join(srv) + ".")
    if a.passwords == "same":
        pw = "Same Argon2id hash (m=64 KiB, t=1, p=1) for both."
    else:
        pw = ("Passwords: defaults with defaults, Mailstead's Argon2id (m=19456 KiB, t=2; "
              "verified-credentials cache on, its default) vs Dovecot's SHA512-CRYPT "
              "(5,000 rounds; auth cache off, its default).")
    out.append("%s Figures are the mean of %d round(s)%s."
               % (pw, a.rounds, ", alternating A/B/A/B" if a.compare else ""))
    uidplus = {r[1]: r[3].get("uidplus") for r in bench.results if r[0].startswith("mixed")}
    for s, u in uidplus.items():
        if u is False:
            out.append("%s lacks UIDPLUS: its mixed runs use UID STORE \\Deleted + EXPUNGE "
                       "instead of UID EXPUNGE." % s)
    hits = {}
    for name, s, rnd, res in bench.results:
        if name.startswith("bigbox"):
            hits.setdefault(s, res.get("search_hits"))
    if len(hits) > 1 and len({json.dumps(h, sort_keys=True) for h in hits.values()}) > 1:
        out.append("NOTE: the servers disagree on SEARCH results: %s" % json.dumps(hits))
    elif hits:
        out.append("bigbox SEARCH hits (SUBJECT invoice, FROM alice, TEXT archipelago, "
                   "TEXT rare = zanzibarite): %s"
                   % json.dumps(next(iter(hits.values()))))
    for n in bench.notes:
        out.append(n + ".")
    out.append("")
    out.append(table(bench))
    out.append("")
    out.append(breakdown(bench))
    text = "\n".join(out)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": mach, "started": started, "args": vars(a),
                       "results": [{"scenario": n, "server": s, "round": r, "result": res}
                                   for n, s, r, res in bench.results]}, f, indent=1)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
