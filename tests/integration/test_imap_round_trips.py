"""Database round trips of each command of the mixed benchmark's loop
(docs/benchmarks.md): one request of the worker's pool is one implicit
transaction, so PostgreSQL's log (log_statement = all, the virtual
transaction id %v in the prefix) shows how many requests a command made.
Each command of the loop makes exactly one: LOGIN's lookup, SELECT's
snapshot, FETCH's batch with its pre-reply sync (and, for one whole
message, its first chunk of octets), each mutation with its sync; LOGOUT
none. The pg_notify that follows a mutation's commit is batched per
worker across sessions and is not counted."""
import imaplib
import os
import re
import time
import unittest

from harness import Instance

USER = "rt@roundtrips.test"
PASSWORD = "round trips pass 1"
inst = None

# Statements that are not the command's own: the batched notification
# after a commit, the periodic expiry of failure counters.
BACKGROUND = {"notify_publish", "auth_expire"}


def setUpModule():
    global inst
    inst = Instance({"search_index": "no"})
    try:
        inst.start_admind()
        inst.create_account(USER, PASSWORD)
        inst.start_imapd()
        c = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        c.login(USER, PASSWORD)
        for i in range(20):
            c.append("INBOX", None, None, msg(i))
        c.logout()
        with open(inst.pgdata + "/postgresql.conf", "a") as f:
            f.write("log_statement = 'all'\nlog_line_prefix = '%v|'\n")
        inst.psql("SELECT pg_reload_conf()")
    except BaseException:
        inst.close()
        raise


def tearDownModule():
    inst.close()


def msg(i):
    return b"From: a@roundtrips.test\r\nSubject: m %d\r\n\r\nbody %d\r\n" % (i, i)


class RoundTrips(unittest.TestCase):
    def setUp(self):
        self.log = inst.pgdata + "/server.log"
        # The reload reaches every backend before its next statement.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            inst.psql("SELECT 'round trips: logging on'")
            if "round trips: logging on" in self.text(0):
                break
            time.sleep(0.05)

    def text(self, start):
        with open(self.log, "rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")

    def requests(self, fn):
        """Runs fn(); returns the statement names it made PostgreSQL run,
        grouped by request."""
        start = os.path.getsize(self.log)
        fn()
        groups = {}
        for ln in self.text(start).splitlines():
            m = re.match(r"^(\d+/\d+)\|LOG:  execute ([a-z_0-9]+)", ln)
            if m and m.group(2) not in BACKGROUND:
                groups.setdefault(m.group(1), []).append(m.group(2))
        return list(groups.values())

    def test_each_command_of_the_loop_is_one_request(self):
        c = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        self.assertEqual(len(self.requests(lambda: c.login(USER, PASSWORD))), 1)
        self.assertEqual(len(self.requests(lambda: c.select("INBOX"))), 1)
        # FETCH: the sync rides in the batch's request, after its read.
        r = self.requests(lambda: c.fetch("1:*", "(UID FLAGS)"))
        self.assertEqual(len(r), 1, r)
        self.assertEqual(r[0][-1], "mailbox_changes", r)
        # A whole message: its first chunk comes in the same request.
        r = self.requests(lambda: c.fetch("7", "(BODY.PEEK[] BODYSTRUCTURE)"))
        self.assertEqual(len(r), 1, r)
        self.assertIn("fetch_first_chunk", r[0])
        self.assertEqual(r[0][-1], "mailbox_changes", r)
        self.assertEqual(len(self.requests(lambda: c.store("3,5,9", "+FLAGS", "(\\Seen)"))), 1)
        self.assertEqual(len(self.requests(
            lambda: c.append("INBOX", None, None, msg(100)))), 1)
        self.assertEqual(len(self.requests(
            lambda: c.uid("STORE", "1", "+FLAGS.SILENT", "(\\Deleted)"))), 1)
        self.assertEqual(len(self.requests(lambda: c.uid("EXPUNGE", "1"))), 1)
        self.assertEqual(self.requests(lambda: c.logout()), [])

    def test_part_of_a_message_loads_its_chunks_on_its_own(self):
        # A section inside the message needs the partmap first: no chunk
        # is read with the batch (it could be the wrong one).
        c = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        c.login(USER, PASSWORD)
        c.select("INBOX")
        r = self.requests(lambda: c.fetch("4", "(BODY.PEEK[1])"))
        self.assertEqual(len(r), 2, r)
        self.assertNotIn("fetch_first_chunk", r[0])
        self.assertEqual(r[1], ["fetch_chunks"])
        c.logout()


if __name__ == "__main__":
    unittest.main()
