#!/usr/bin/env python3
"""IDLE benchmark: N sessions LOGIN, SELECT INBOX and IDLE; then M messages
are delivered one after another and every idling session's "* n EXISTS" is
timed.

Reports the push latency of each (message, session) pair -- from the tagged
OK of the APPEND (or the 250 after LMTP DATA) to the session's EXISTS -- at
the 50th and 99th percentile, the time until the last session of a message
had it, and the resident memory per idle session: the proportional set size
(Pss, /proc/<pid>/smaps_rollup) of the imapd processes plus the PostgreSQL
backends connected to them, after the sessions are idling minus before they
were opened, divided by N (RSS too, which counts shared pages in full). It
asserts nothing about timing: it measures.

By default it starts a throwaway instance with the integration-test harness
(private PostgreSQL, mailstead-admind, mailstead-imapd from bin/, with
max_connections_per_ip raised and the file descriptor limit raised for the
server and itself), creates the accounts, runs, and removes everything. The
sessions are spread round-robin over --accounts accounts; each message goes
to one account, so it wakes N/accounts sessions (--accounts 1: every message
wakes all N, the worst fan-out). With --port it uses a running server
instead (one account, --user/--password; memory only with --pid).

    python3 tests/bench/idle_bench.py -n 1000
    python3 tests/bench/idle_bench.py -n 10000 -m 10 --accounts 100
    python3 tests/bench/idle_bench.py -n 1000 --via lmtp
    python3 tests/bench/idle_bench.py --port 143 --user u@example.test --password pw --pid 1234
"""
import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

PASSWORD = "bench-idle-password"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--sessions", type=int, default=1000, help="idling sessions")
    p.add_argument("-m", "--messages", type=int, default=20, help="messages to deliver")
    p.add_argument("--accounts", type=int, default=1,
                   help="accounts the sessions are spread over (harness mode)")
    p.add_argument("--via", choices=("append", "lmtp"), default="append",
                   help="delivery: APPEND from another session, or LMTP")
    p.add_argument("--size", type=int, default=2000, help="message size in octets (approx.)")
    p.add_argument("--concurrency", type=int, default=200,
                   help="sessions being opened at the same time")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for one message's pushes")
    p.add_argument("--workers", type=int, default=2, help="imapd workers (harness mode)")
    p.add_argument("--db-connections", type=int, default=4,
                   help="database connections per worker (harness mode)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0,
                   help="use a running server's plaintext IMAP port (no harness)")
    p.add_argument("--lmtp-port", type=int, default=0, help="with --port and --via lmtp")
    p.add_argument("--user", help="account for --port mode")
    p.add_argument("--password", help="password for --port mode")
    p.add_argument("--pid", type=int, default=0,
                   help="imapd master pid for memory figures in --port mode")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p.parse_args()


# -- resources -----------------------------------------------------------

def raise_fd_limit(need):
    """Raises RLIMIT_NOFILE (inherited by the daemons started afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    try:
        with open("/proc/sys/fs/nr_open") as f:
            nr_open = int(f.read())
    except OSError:
        nr_open = need
    target = min(need, nr_open)
    if hard < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return target
        except (ValueError, OSError):
            target = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def proc_mem(pid):
    """(Pss, Rss) of a process in KiB; Pss falls back to Rss."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            text = f.read()
        pss = int(re.search(r"(?m)^Pss:\s+(\d+)", text).group(1))
        rss = int(re.search(r"(?m)^Rss:\s+(\d+)", text).group(1))
        return pss, rss
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = int(re.search(r"(?m)^VmRSS:\s+(\d+)", f.read()).group(1))
        return rss, rss
    except (OSError, AttributeError):
        return 0, 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(d))
    return out


def process_tree(pid):
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children(p))
    return out


def unix_peers():
    """{pid: set of pids at the other end of its unix stream sockets}."""
    r = subprocess.run(["ss", "-xpn"], capture_output=True, text=True)
    owner, peer_of = {}, {}
    for line in r.stdout.splitlines():
        m = re.match(r"u_str\s+\S+\s+\d+\s+\d+\s+\S+\s+(\d+)\s+\S+\s+(\d+)\s+users:(.*)", line)
        if not m:
            continue
        local, peer = int(m.group(1)), int(m.group(2))
        pids = [int(x) for x in re.findall(r"pid=(\d+)", m.group(3))]
        owner[local] = pids
        peer_of[local] = peer
    out = {}
    for local, pids in owner.items():
        for p in pids:
            out.setdefault(p, set()).update(owner.get(peer_of[local], []))
    return out


def tcp_peers(pids):
    """PostgreSQL backends reached over TCP from pids (ss -tpn)."""
    r = subprocess.run(["ss", "-tpn"], capture_output=True, text=True)
    by_addr = {}
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"ESTAB\s+\d+\s+\d+\s+(\S+)\s+(\S+)\s+users:(.*)", line)
        if m:
            ps = [int(x) for x in re.findall(r"pid=(\d+)", m.group(3))]
            by_addr[m.group(1)] = ps
            rows.append((m.group(1), m.group(2), ps))
    out = set()
    for local, peer, ps in rows:
        if set(ps) & set(pids):
            for q in by_addr.get(peer, []):
                out.add(q)
    return out


def memory_snapshot(imapd_pid):
    """Pss/Rss (KiB) of the imapd master and workers and of the backends
    (processes at the other end of their unix or TCP sockets, other than
    imapd itself: PostgreSQL)."""
    if not imapd_pid:
        return None
    imapd = process_tree(imapd_pid)
    peers = unix_peers()
    backends = set()
    for p in imapd:
        backends |= peers.get(p, set())
    backends |= tcp_peers(imapd)
    backends -= set(imapd)
    snap = {"imapd_procs": len(imapd), "backends": len(backends),
            "imapd_pss": 0, "imapd_rss": 0, "pg_pss": 0, "pg_rss": 0}
    for p in imapd:
        pss, rss = proc_mem(p)
        snap["imapd_pss"] += pss
        snap["imapd_rss"] += rss
    for p in backends:
        pss, rss = proc_mem(p)
        snap["pg_pss"] += pss
        snap["pg_rss"] += rss
    return snap


# -- sessions --------------------------------------------------------------

class Session:
    """One idling IMAP session on a raw asyncio stream."""

    def __init__(self, idx, account):
        self.idx = idx
        self.account = account
        self.reader = self.writer = None
        self.exists = 0
        self.task = None
        self.login_retries = 0

    async def line(self):
        line = await self.reader.readline()
        if not line:
            raise EOFError("session %d: connection closed" % self.idx)
        return line

    async def command(self, tag, text):
        """Sends a command; returns its tagged reply (raises unless OK,
        except for NO [UNAVAILABLE], which the caller may retry)."""
        self.writer.write(tag + b" " + text + b"\r\n")
        while True:
            line = await self.line()
            m = re.match(rb"\* (\d+) EXISTS", line)
            if m:
                self.exists = int(m.group(1))
            if line.startswith(tag + b" "):
                if line.startswith(tag + b" OK") or line.startswith(tag + b" NO [UNAVAILABLE]"):
                    return line
                raise RuntimeError("session %d: %r" % (self.idx, line))

    async def open(self, host, port, user, password):
        self.reader, self.writer = await asyncio.open_connection(host, port)
        greeting = await self.line()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError("session %d: greeting %r" % (self.idx, greeting))
        # A login storm may find a worker's password queue full: the server
        # answers NO [UNAVAILABLE] and the client tries again, as real
        # clients do; the retries are counted.
        for attempt in range(20):
            line = await self.command(b"a", b'LOGIN "%s" "%s"' % (user.encode(),
                                                                  password.encode()))
            if line.startswith(b"a OK"):
                break
            self.login_retries += 1
            await asyncio.sleep(0.05 * (attempt + 1))
        else:
            raise RuntimeError("session %d: LOGIN stayed unavailable" % self.idx)
        if not (await self.command(b"b", b"SELECT INBOX")).startswith(b"b OK"):
            raise RuntimeError("session %d: SELECT unavailable" % self.idx)
        self.writer.write(b"c IDLE\r\n")
        line = await self.line()
        if not line.startswith(b"+"):
            raise RuntimeError("session %d: IDLE answered %r" % (self.idx, line))

    async def listen(self, bench):
        """Reads pushes until the connection ends; tells bench of EXISTS."""
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    return
                m = re.match(rb"\* (\d+) EXISTS", line)
                if m:
                    n = int(m.group(1))
                    now = time.perf_counter()
                    while self.exists < n:
                        self.exists += 1
                        bench.pushed(self, self.exists, now)
        except (ConnectionError, asyncio.CancelledError):
            return

    def close(self):
        if self.writer is not None:
            self.writer.close()


class Deliverer:
    """APPENDs to one account's INBOX from a session of its own."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.s = Session(-1, None)
        self.tag = 0
        self.literal_plus = False

    async def open(self, host, port):
        self.s.reader, self.s.writer = await asyncio.open_connection(host, port)
        await self.s.line()
        self.s.writer.write(b'l LOGIN "%s" "%s"\r\n' % (self.user.encode(), self.password.encode()))
        while True:
            line = await self.s.line()
            if line.startswith(b"l "):
                if not line.startswith(b"l OK"):
                    raise RuntimeError("deliverer login: %r" % line)
                self.literal_plus = b"LITERAL+" in line
                break

    async def deliver(self, msg):
        """Returns (time sent, time of the tagged OK)."""
        self.tag += 1
        tag = b"d%d" % self.tag
        t_send = time.perf_counter()
        if self.literal_plus:
            self.s.writer.write(b"%s APPEND INBOX {%d+}\r\n%s\r\n" % (tag, len(msg), msg))
        else:
            self.s.writer.write(b"%s APPEND INBOX {%d}\r\n" % (tag, len(msg)))
            while not (await self.s.line()).startswith(b"+"):
                pass
            self.s.writer.write(msg + b"\r\n")
        while True:
            line = await self.s.line()
            if line.startswith(tag + b" "):
                t_ok = time.perf_counter()
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError("APPEND: %r" % line)
                return t_send, t_ok


class LmtpDeliverer:
    """Delivers over LMTP; the 250 after DATA marks the commit."""

    def __init__(self, host, port):
        self.host, self.port = host, port

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        await self.reply()
        self.writer.write(b"LHLO bench.test\r\n")
        await self.reply()

    async def reply(self):
        while True:
            line = await self.reader.readline()
            if not line:
                raise EOFError("LMTP connection closed")
            if line[3:4] != b"-":
                return line

    async def deliver(self, rcpt, msg):
        t_send = time.perf_counter()
        self.writer.write(b"MAIL FROM:<bench@sender.test>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                          % rcpt.encode())
        for what in (b"MAIL", b"RCPT", b"DATA"):
            line = await self.reply()
            if line[:1] not in (b"2", b"3"):
                raise RuntimeError("LMTP %s: %r" % (what.decode(), line))
        body = msg.replace(b"\r\n.", b"\r\n..")
        self.writer.write(body + b"\r\n.\r\n")
        line = await self.reply()
        t_ok = time.perf_counter()
        if not line.startswith(b"250"):
            raise RuntimeError("LMTP delivery: %r" % line)
        return t_send, t_ok


def make_message(i, size):
    head = ("From: Bench <bench@sender.test>\r\nTo: idle@bench.test\r\n"
            "Subject: idle benchmark message %d\r\nMessage-ID: <idle.%d.%d@sender.test>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" % (i, i, time.time_ns()))
    body, n = [], len(head)
    while n < size:
        body.append("The quick brown fox jumps over the lazy dog, message %d.\r\n" % i)
        n += len(body[-1])
    return (head + "".join(body)).encode()


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


class Bench:
    def __init__(self, args, host, port, accounts, imapd_pid, lmtp_port):
        self.args = args
        self.host, self.port = host, port
        self.accounts = accounts  # [(user, password)]
        self.imapd_pid = imapd_pid
        self.lmtp_port = lmtp_port
        self.sessions = []
        self.waiting = {}  # (account index, exists count) -> [remaining, event, times]

    def pushed(self, session, count, now):
        w = self.waiting.get((session.account, count))
        if w is None:
            return
        w[2].append(now)
        w[0] -= 1
        if w[0] == 0:
            w[1].set()

    async def open_sessions(self):
        sem = asyncio.Semaphore(self.args.concurrency)
        failures = []

        async def one(s):
            user, pw = self.accounts[s.account]
            async with sem:
                try:
                    await s.open(self.host, self.port, user, pw)
                except (OSError, EOFError, RuntimeError) as e:
                    failures.append(repr(e))
                    s.close()
                    return
            s.task = asyncio.ensure_future(s.listen(self))

        self.sessions = [Session(i, i % len(self.accounts)) for i in range(self.args.sessions)]
        await asyncio.gather(*(one(s) for s in self.sessions))
        alive = [s for s in self.sessions if s.task is not None]
        return alive, failures

    async def run(self):
        result = {"sessions": self.args.sessions, "accounts": len(self.accounts),
                  "messages": self.args.messages, "via": self.args.via}
        # Delivery connections first: they are not part of the idle set.
        if self.args.via == "lmtp":
            lmtp = LmtpDeliverer(self.host, self.lmtp_port)
            await lmtp.open()
        else:
            deliverers = []
            for user, pw in self.accounts:
                d = Deliverer(user, pw)
                await d.open(self.host, self.port)
                deliverers.append(d)
        await asyncio.sleep(1.0)
        mem0 = memory_snapshot(self.imapd_pid)

        t0 = time.perf_counter()
        alive, failures = await self.open_sessions()
        result["open_seconds"] = round(time.perf_counter() - t0, 2)
        result["sessions_idle"] = len(alive)
        result["open_failures"] = len(failures)
        result["login_retries"] = sum(s.login_retries for s in self.sessions)
        result["first_open_failures"] = failures[:3]
        if not alive:
            raise RuntimeError("no session got to IDLE: %r" % failures[:3])
        await asyncio.sleep(2.0)  # let the server settle
        mem1 = memory_snapshot(self.imapd_pid)

        per_account = {}
        for s in alive:
            per_account.setdefault(s.account, []).append(s)
        delivered = {a: max([s.exists for s in ss]) for a, ss in per_account.items()}
        accounts_used = sorted(per_account)
        lat_ok, lat_send, last_ok, missing = [], [], [], 0
        t_deliver0 = time.perf_counter()
        for i in range(self.args.messages):
            acct = accounts_used[i % len(accounts_used)]
            delivered[acct] += 1
            key = (acct, delivered[acct])
            event = asyncio.Event()
            self.waiting[key] = [len(per_account[acct]), event, []]
            msg = make_message(i, self.args.size)
            if self.args.via == "lmtp":
                t_send, t_ok = await lmtp.deliver(self.accounts[acct][0], msg)
            else:
                t_send, t_ok = await deliverers[acct].deliver(msg)
            try:
                await asyncio.wait_for(event.wait(), self.args.timeout)
            except asyncio.TimeoutError:
                pass
            rem, _, times = self.waiting.pop(key)
            missing += rem
            lat_ok.extend(t - t_ok for t in times)
            lat_send.extend(t - t_send for t in times)
            if times:
                last_ok.append(max(times) - t_ok)
        result["deliver_seconds"] = round(time.perf_counter() - t_deliver0, 2)
        await asyncio.sleep(1.0)
        mem2 = memory_snapshot(self.imapd_pid)

        ms = lambda v: round(v * 1000, 2)  # noqa: E731
        result["pushes"] = len(lat_ok)
        result["pushes_missing"] = missing
        result["latency_from_ok_ms"] = {
            "p50": ms(percentile(lat_ok, 50)), "p99": ms(percentile(lat_ok, 99)),
            "min": ms(min(lat_ok)) if lat_ok else None,
            "max": ms(max(lat_ok)) if lat_ok else None,
            "mean": ms(statistics.mean(lat_ok)) if lat_ok else None}
        result["latency_from_send_ms"] = {
            "p50": ms(percentile(lat_send, 50)), "p99": ms(percentile(lat_send, 99))}
        result["last_session_ms"] = {
            "p50": ms(percentile(last_ok, 50)), "p99": ms(percentile(last_ok, 99)),
            "max": ms(max(last_ok)) if last_ok else None}
        if mem0 and mem1:
            n = len(alive)
            result["memory_kib"] = {"before": mem0, "idle": mem1, "after_delivery": mem2}
            result["per_session_kib"] = {
                "imapd_pss": round((mem1["imapd_pss"] - mem0["imapd_pss"]) / n, 2),
                "pg_pss": round((mem1["pg_pss"] - mem0["pg_pss"]) / n, 2),
                "total_pss": round((mem1["imapd_pss"] + mem1["pg_pss"] - mem0["imapd_pss"]
                                    - mem0["pg_pss"]) / n, 2),
                "total_rss": round((mem1["imapd_rss"] + mem1["pg_rss"] - mem0["imapd_rss"]
                                    - mem0["pg_rss"]) / n, 2),
                "total_pss_after_delivery": round(
                    (mem2["imapd_pss"] + mem2["pg_pss"] - mem0["imapd_pss"]
                     - mem0["pg_pss"]) / n, 2),
            }
        for s in self.sessions:
            if s.task is not None:
                s.task.cancel()
            s.close()
        if self.args.via == "lmtp":
            lmtp.writer.close()
        else:
            for d in deliverers:
                d.s.close()
        return result


def print_table(r):
    print("IDLE benchmark: %d sessions, %d accounts, %d messages via %s"
          % (r["sessions"], r["accounts"], r["messages"], r["via"].upper()))
    print("  %d idling after %.1f s, %d failed to open, %d LOGINs retried after "
          "NO [UNAVAILABLE]" % (r["sessions_idle"], r["open_seconds"], r["open_failures"],
                                r["login_retries"]))
    print("  pushes received %d, missing %d, delivery phase %.1f s"
          % (r["pushes"], r["pushes_missing"], r["deliver_seconds"]))
    print("  %-40s %10s %10s %10s" % ("push latency (ms)", "p50", "p99", "max"))
    lo, ls, last = r["latency_from_ok_ms"], r["latency_from_send_ms"], r["last_session_ms"]
    print("  %-40s %10s %10s %10s" % ("from the delivery's OK to EXISTS", lo["p50"], lo["p99"],
                                      lo["max"]))
    print("  %-40s %10s %10s %10s" % ("from the delivery sent to EXISTS", ls["p50"], ls["p99"], ""))
    print("  %-40s %10s %10s %10s" % ("until the last session of a message", last["p50"],
                                      last["p99"], last["max"]))
    if "per_session_kib" in r:
        m, p = r["memory_kib"], r["per_session_kib"]
        print("  %-40s %10s %10s %10s" % ("memory (KiB, Pss)", "before", "idle", "per session"))
        print("  %-40s %10d %10d %10.1f" % ("imapd (%d processes)" % m["idle"]["imapd_procs"],
                                             m["before"]["imapd_pss"], m["idle"]["imapd_pss"],
                                             p["imapd_pss"]))
        print("  %-40s %10d %10d %10.1f" % ("PostgreSQL backends (%d)" % m["idle"]["backends"],
                                             m["before"]["pg_pss"], m["idle"]["pg_pss"],
                                             p["pg_pss"]))
        print("  %-40s %10s %10s %10.1f" % ("total per idle session (Pss)", "", "",
                                             p["total_pss"]))
        print("  %-40s %10s %10s %10.1f" % ("total per idle session (Rss)", "", "",
                                             p["total_rss"]))
        print("  %-40s %10s %10s %10.1f" % ("total per session after delivery (Pss)", "", "",
                                             p["total_pss_after_delivery"]))


def main():
    args = parse_args()
    if args.sessions < 1 or args.messages < 1 or args.accounts < 1:
        sys.exit("idle_bench: --sessions, --messages and --accounts must be >= 1")
    limit = raise_fd_limit(args.sessions + args.accounts + 4096)
    if limit < args.sessions + args.accounts + 100:
        sys.exit("idle_bench: only %d file descriptors; raise `ulimit -n`" % limit)
    inst = None
    try:
        if args.port:
            if not args.user or not args.password:
                sys.exit("idle_bench: --port needs --user and --password")
            host, port = args.host, args.port
            accounts = [(args.user, args.password)]
            imapd_pid, lmtp_port = args.pid, args.lmtp_port
            if args.via == "lmtp" and not lmtp_port:
                sys.exit("idle_bench: --via lmtp with --port needs --lmtp-port")
        else:
            from harness import AdminClient, Instance
            inst = Instance({"workers": str(args.workers),
                             "db_connections": str(args.db_connections),
                             "max_connections_per_ip": "1000000",
                             "max_connections_per_worker": "1000000",
                             "log_level": "warn"})
            inst.start_admind()
            accounts = []
            with AdminClient(inst.admin_socket, timeout=120) as c:
                r = c.call("domain.create", {"name": "bench.test"})
                if "error" in r:
                    raise RuntimeError("domain.create: %r" % r)
                for i in range(args.accounts):
                    user = "idle%d@bench.test" % i
                    r = c.call("account.create", {"address": user, "password": PASSWORD}, i + 2)
                    if "error" in r:
                        raise RuntimeError("account.create: %r" % r)
                    accounts.append((user, PASSWORD))
            d = inst.start_imapd()
            host, port, imapd_pid, lmtp_port = "127.0.0.1", inst.imap_port, d.pid, inst.lmtp_port
        result = asyncio.run(Bench(args, host, port, accounts, imapd_pid, lmtp_port).run())
    finally:
        if inst is not None:
            inst.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
