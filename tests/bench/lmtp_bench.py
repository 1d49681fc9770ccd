#!/usr/bin/env python3
"""LMTP delivery benchmark: N messages over K concurrent LMTP connections.

Reports messages per second and the latency of one delivery (MAIL FROM to
the last per-recipient reply, i.e. until the message is committed) at the
50th and 99th percentile. It asserts nothing about timing: it measures.

By default it starts a throwaway instance with the integration-test
harness (private PostgreSQL, mailstead-admind, mailstead-imapd from bin/),
creates the recipient accounts, runs, and removes everything. With --port
it delivers to a running server instead (the recipients must exist there).

    python3 tests/bench/lmtp_bench.py                       # 2000 msgs, 8 conns
    python3 tests/bench/lmtp_bench.py -n 10000 -c 16 --size 20000
    python3 tests/bench/lmtp_bench.py --port 2424 --rcpt 'demo@example.test'
"""
import argparse
import json
import os
import random
import smtplib
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--messages", type=int, default=2000, help="messages to deliver")
    p.add_argument("-c", "--connections", type=int, default=8,
                   help="concurrent LMTP connections")
    p.add_argument("--size", type=int, default=4096, help="message size in octets (approx.)")
    p.add_argument("--rcpts", type=int, default=1, help="recipients per message")
    p.add_argument("--accounts", type=int, default=100,
                   help="recipient accounts (harness mode): bench<i>@bench.test")
    p.add_argument("--per-connection", type=int, default=0,
                   help="messages per connection before reconnecting (0 = never)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0,
                   help="deliver to a running server on this port (no harness)")
    p.add_argument("--rcpt", action="append", default=[],
                   help="recipient address for --port mode (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="imapd workers (harness mode)")
    p.add_argument("--db-connections", type=int, default=4,
                   help="database connections per worker (harness mode)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


def make_message(i, size, rnd):
    head = ("From: Bench <bench@sender.test>\r\nTo: bench@bench.test\r\n"
            "Subject: benchmark message %d\r\nMessage-ID: <bench.%d.%d@sender.test>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" % (i, i, rnd.getrandbits(48)))
    line = "The quick brown fox jumps over the lazy dog %d. " % i
    body = []
    n = len(head)
    while n < size:
        l = (line * 2)[:76] + "\r\n"
        body.append(l)
        n += len(l)
    return (head + "".join(body)).encode()


def deliver_one(conn, sender, rcpts, msg):
    """One transaction; returns the number of recipients accepted in the
    end (250 after the content)."""
    code, _ = conn.mail(sender)
    if code != 250:
        raise RuntimeError("MAIL: %d" % code)
    ok_rcpts = 0
    for r in rcpts:
        code, text = conn.rcpt(r)
        if code == 250:
            ok_rcpts += 1
    if ok_rcpts == 0:
        conn.rset()
        return 0
    replies = [conn.data(msg)] + [conn.getreply() for _ in range(ok_rcpts - 1)]
    return sum(1 for c, _ in replies if c == 250)


def worker(args, host, port, addresses, jobs, lock, latencies, failures, rnd_seed):
    rnd = random.Random(rnd_seed)
    conn = None
    sent_on_conn = 0
    while True:
        with lock:
            if not jobs:
                break
            i = jobs.pop()
        if conn is None:
            conn = smtplib.LMTP(host, port, timeout=120)
            conn.ehlo("bench.test")
            sent_on_conn = 0
        rcpts = rnd.sample(addresses, min(args.rcpts, len(addresses)))
        msg = make_message(i, args.size, rnd)
        t0 = time.perf_counter()
        try:
            delivered = deliver_one(conn, "bench@sender.test", rcpts, msg)
        except (smtplib.SMTPException, OSError, RuntimeError) as e:
            with lock:
                failures.append(repr(e))
            try:
                conn.close()
            finally:
                conn = None
            continue
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)
            if delivered != len(rcpts):
                failures.append("message %d: %d of %d recipients" % (i, delivered, len(rcpts)))
        sent_on_conn += 1
        if args.per_connection and sent_on_conn >= args.per_connection:
            conn.quit()
            conn = None
    if conn is not None:
        conn.quit()


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def run(args, host, port, addresses):
    jobs = list(range(args.messages, 0, -1))
    lock = threading.Lock()
    latencies, failures = [], []
    threads = [threading.Thread(target=worker, args=(args, host, port, addresses, jobs, lock,
                                                     latencies, failures, args.seed * 1000 + k))
               for k in range(args.connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "messages": len(latencies),
        "connections": args.connections,
        "recipients_per_message": args.rcpts,
        "message_size": args.size,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0,
        "deliveries_per_second": round(len(latencies) * args.rcpts / elapsed, 1)
        if elapsed > 0 else 0,
        "latency_ms": {
            "p50": round(percentile(latencies, 50) * 1000, 2),
            "p99": round(percentile(latencies, 99) * 1000, 2),
            "max": round(max(latencies) * 1000, 2) if latencies else None,
            "mean": round(statistics.mean(latencies) * 1000, 2) if latencies else None,
        },
        "failures": len(failures),
        "first_failures": failures[:5],
    }


def main():
    args = parse_args()
    if args.messages < 1 or args.connections < 1 or args.rcpts < 1:
        sys.exit("lmtp_bench: --messages, --connections and --rcpts must be >= 1")
    inst = None
    try:
        if args.port:
            if not args.rcpt:
                sys.exit("lmtp_bench: --port needs at least one --rcpt")
            host, port, addresses = args.host, args.port, args.rcpt
        else:
            from harness import Instance
            inst = Instance({"workers": str(args.workers),
                             "db_connections": str(args.db_connections),
                             "log_level": "warn"})
            inst.start_admind()
            addresses = ["bench%d@bench.test" % i for i in range(args.accounts)]
            for a in addresses:
                inst.create_account(a, "bench-password")
            inst.start_imapd()
            host, port = "127.0.0.1", inst.lmtp_port
        result = run(args, host, port, addresses)
        if inst is not None:
            stored = inst.psql("SELECT count(*), coalesce(sum(size), 0) FROM messages")[0]
            result["stored_messages"] = int(stored[0])
            result["stored_bytes"] = int(stored[1])
    finally:
        if inst is not None:
            inst.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        lat = result["latency_ms"]
        print("LMTP: %d messages (%d octets, %d recipient(s) each) over %d connections in %.2f s"
              % (result["messages"], args.size, args.rcpts, args.connections, result["seconds"]))
        print("  %.1f messages/s, %.1f deliveries/s" % (result["messages_per_second"],
                                                        result["deliveries_per_second"]))
        print("  latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (lat["p50"], lat["p99"],
                                                                   lat["max"] or 0))
        if "stored_messages" in result:
            print("  stored: %d message rows, %d bytes" % (result["stored_messages"],
                                                           result["stored_bytes"]))
        if result["failures"]:
            print("  FAILURES: %d, e.g. %s" % (result["failures"], result["first_failures"]))
    sys.exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    main()
