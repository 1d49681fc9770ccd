"""Smoke test of the benchmark tools (tests/bench/, docs/benchmarks.md):
corpusgen is deterministic, loadgen delivers over LMTP, runs the mixed
scenario (1 client, 5 iterations) against a throwaway instance, and fails
loudly (exit 1, the failing command named) when the server says NO."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import Instance, ROOT

LOADGEN = os.path.join(ROOT, "build", "bench", "loadgen")
CORPUSGEN = os.path.join(ROOT, "build", "bench", "corpusgen")
USER = "smoke1@bench.test"
PASSWORD = "smoke-password"

inst = None
tmp = None


def setUpModule():
    global inst, tmp
    for exe in (LOADGEN, CORPUSGEN):
        if not os.access(exe, os.X_OK):
            raise RuntimeError("%s is missing: `make` builds it" % exe)
    tmp = tempfile.TemporaryDirectory(prefix="bench-smoke-")
    inst = Instance({"log_level": "warn"})
    inst.start_admind()
    inst.create_account(USER, PASSWORD)
    inst.start_imapd()


def tearDownModule():
    if inst is not None:
        inst.close()
    if tmp is not None:
        tmp.cleanup()


def run(prog, *args, timeout=60):
    return subprocess.run([prog] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


class BenchSmokeTest(unittest.TestCase):
    def test_1_corpus_is_deterministic_and_lmtp_delivers_it(self):
        a, b = os.path.join(tmp.name, "a.mbox"), os.path.join(tmp.name, "b.mbox")
        lmtp = os.path.join(tmp.name, "preload.lmtp")
        r = run(CORPUSGEN, "--seed", 5, "--count", 40, "--mbox", a, "--lmtp", lmtp,
                "--rcpt-fmt", "smoke%d@bench.test", "--users", 1, "--rcpts", 1)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("40 messages", r.stderr)
        self.assertEqual(run(CORPUSGEN, "--seed", 5, "--count", 40, "--mbox", b).returncode, 0)
        with open(a, "rb") as fa, open(b, "rb") as fb:
            self.assertEqual(fa.read(), fb.read())

        r = run(LOADGEN, "deliver", "--port", inst.lmtp_port, "--lmtp-file", lmtp,
                "--connections", 2, "--messages", 8)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)
        self.assertEqual(res["errors"], 0)
        self.assertEqual(res["messages"], 8)
        count = inst.psql("SELECT messages FROM mailboxes m JOIN accounts a USING (account_id) "
                          "WHERE a.localpart = 'smoke1' AND m.name = 'INBOX'")
        self.assertEqual(count, [["8"]])

    def test_2_mixed_scenario_runs_every_command(self):
        mbox = os.path.join(tmp.name, "a.mbox")
        r = run(LOADGEN, "mixed", "--port", inst.imap_port, "--clients", 1, "--iterations", 5,
                "--user-fmt", "smoke%d@bench.test", "--password", PASSWORD, "--mbox", mbox,
                "--seed", 3)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)
        self.assertEqual(res["errors"], 0)
        self.assertEqual(res["sessions"], 5)
        cmds = res["commands"]
        expunge = "UID EXPUNGE" if res["uidplus"] else "EXPUNGE"
        for c in ("connect", "LOGIN", "SELECT", "FETCH 1:* (UID FLAGS)",
                  "FETCH (BODY.PEEK[] BODYSTRUCTURE)", "STORE +FLAGS (\\Seen)", "APPEND",
                  "UID STORE +FLAGS (\\Deleted)", expunge, "LOGOUT"):
            self.assertEqual(cmds[c]["n"], 5, c)
            self.assertLessEqual(cmds[c]["p50_ms"], cmds[c]["p99_ms"])
        # One APPEND and one expunge per iteration: the mailbox keeps its size.
        count = inst.psql("SELECT messages FROM mailboxes m JOIN accounts a USING (account_id) "
                          "WHERE a.localpart = 'smoke1' AND m.name = 'INBOX'")
        self.assertEqual(count, [["8"]])

    def test_3_a_refused_login_fails_the_run(self):
        mbox = os.path.join(tmp.name, "a.mbox")
        r = run(LOADGEN, "mixed", "--port", inst.imap_port, "--clients", 1, "--iterations", 1,
                "--user-fmt", "smoke%d@bench.test", "--password", "wrong", "--mbox", mbox)
        self.assertEqual(r.returncode, 1)
        self.assertIn("LOGIN failed", r.stderr)
        self.assertEqual(json.loads(r.stdout)["errors"], 1)

    def test_4_bad_arguments_are_refused(self):
        r = run(LOADGEN, "mixed", "--port", 2024, "--mbox", "/nonexistent")
        self.assertEqual(r.returncode, 2)
        r = run(LOADGEN, "mixed", "--port", inst.imap_port, "--host", "192.0.2.1",
                "--mbox", "/nonexistent")
        self.assertEqual(r.returncode, 2)
        self.assertIn("loopback", r.stderr)


if __name__ == "__main__":
    unittest.main()
