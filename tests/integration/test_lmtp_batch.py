"""LMTP deliveries coalesced into batches (server/store_delivery.c).

Many LMTP connections end their DATA at the same moment, so the worker
(one worker here) stores the messages that are ready together, in one
transaction (schema/0016 delivery_store_batch). Checked: every reply is the
one each recipient would get alone, every message is stored once with a
UID of its own (consecutive, no gaps), the counters and the quota usage
are exact, a batch holding an over-quota recipient (account or domain) falls back
to storing each message alone (the others still get 250), and messages of one batch
to one INBOX share the batch's modseq (which also shows that batches
formed at all).
"""
import hashlib
import imaplib
import smtplib
import threading
import unittest

from harness import Instance, assert_counters_exact

PASSWORD = "lmtp-batch-password"
# The quota of the dqN.test domains: room for 4 of test_domain_quota's
# messages, not 5. One domain per round (the race it checks did not show
# in every round).
DQ_MESSAGE = 4000
DOMAIN_QUOTA = 4 * (DQ_MESSAGE + 120) + DQ_MESSAGE // 2
DQ_ROUNDS = 4

inst = None


def setUpModule():
    global inst
    inst = Instance({"workers": "1", "db_connections": "4"})
    try:
        inst.start_admind()
        for i in range(8):
            inst.create_account("u%d@batch.test" % i, PASSWORD)
        inst.create_account("hot@batch.test", PASSWORD)
        inst.create_account("tiny@batch.test", PASSWORD, quota_bytes=3000)
        for d in range(DQ_ROUNDS):
            for i in range(4):
                inst.create_account("d%d@dq%d.test" % (i, d), PASSWORD)
            r = inst.rpc("domain.update", {"name": "dq%d.test" % d,
                                           "quota_bytes": DOMAIN_QUOTA})
            if "error" in r:
                raise RuntimeError("domain.update: %r" % r)
        inst.start_imapd()
    except BaseException:
        inst.close()
        raise


def tearDownModule():
    inst.close()


def message(tag, size=600):
    head = ("From: Batch <batch@example.net>\r\nTo: x@batch.test\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.net>\r\n\r\n" % (tag, tag)).encode()
    line = ("%s " % tag).encode() * 8 + b"\r\n"
    body = b""
    while len(head) + len(body) < size:
        body += line
    return head + body


def trace(rcpt):
    return ("Return-Path: <s@example.net>\r\nDelivered-To: %s\r\n" % rcpt).encode()


def account_id(address):
    return int(inst.psql("SELECT account_id FROM addresses WHERE address = '%s'"
                         % address)[0][0])


def q1(sql):
    return inst.psql(sql)[0]


class Sender(threading.Thread):
    """One LMTP connection delivering its jobs [(rcpts, msg)]; each job's
    DATA waits on the barrier so that the connections finish together."""

    def __init__(self, jobs, barrier):
        super().__init__()
        self.jobs, self.barrier = jobs, barrier
        self.replies = []
        self.error = None

    def run(self):
        try:
            c = smtplib.LMTP("127.0.0.1", inst.lmtp_port, timeout=60)
            c.ehlo("mta.test")
            for rcpts, msg in self.jobs:
                self.assertcode(c.mail("s@example.net"), 250)
                for r in rcpts:
                    self.assertcode(c.rcpt(r), 250)
                self.barrier.wait(30)
                got = [c.data(msg)] + [c.getreply() for _ in range(len(rcpts) - 1)]
                self.replies.append([code for code, _ in got])
            c.quit()
        except Exception as e:  # reported by the test thread
            self.error = e
            self.barrier.abort()

    @staticmethod
    def assertcode(reply, code):
        if reply[0] != code:
            raise AssertionError("expected %d, got %r" % (code, reply))


def run_senders(per_sender_jobs):
    barrier = threading.Barrier(len(per_sender_jobs))
    senders = [Sender(jobs, barrier) for jobs in per_sender_jobs]
    for s in senders:
        s.start()
    for s in senders:
        s.join(120)
    for s in senders:
        if s.error is not None:
            raise s.error
    return [s.replies for s in senders]


class Batches(unittest.TestCase):
    def test_one_hot_inbox_gets_every_message_once_in_uid_order(self):
        aid = account_id("hot@batch.test")
        senders, rounds = 12, 10
        jobs = [[(["hot@batch.test"], message("hot-%d-%d" % (s, r))) for r in range(rounds)]
                for s in range(senders)]
        replies = run_senders(jobs)
        self.assertEqual(replies, [[[250]] * rounds] * senders)
        n = senders * rounds
        rows = inst.psql("SELECT mm.uid, mm.modseq, m.size, encode(m.sha256, 'hex')"
                         " FROM mailbox_messages mm JOIN messages m USING (account_id,"
                         " message_id) JOIN mailboxes b USING (account_id, mailbox_id)"
                         " WHERE mm.account_id = %d AND b.name = 'INBOX' ORDER BY mm.uid" % aid)
        self.assertEqual([int(r[0]) for r in rows], list(range(1, n + 1)))
        want = {}
        for js in jobs:
            for _, msg in js:
                stored = trace("hot@batch.test") + msg
                want[hashlib.sha256(stored).hexdigest()] = len(stored)
        self.assertEqual({r[3]: int(r[2]) for r in rows}, want)
        uidnext, hms, msgs, byts = map(int, q1(
            "SELECT uidnext, highestmodseq, messages, bytes FROM mailboxes"
            " WHERE account_id = %d AND name = 'INBOX'" % aid))
        self.assertEqual((uidnext, msgs, byts), (n + 1, n, sum(want.values())))
        used = list(map(int, q1("SELECT used_messages, used_bytes FROM accounts"
                                " WHERE account_id = %d" % aid)))
        self.assertEqual(used, [n, sum(want.values())])
        # Modseqs grow with the UIDs, and a batch shares one: with twelve
        # connections finishing together, fewer modseqs than messages
        # means deliveries were coalesced.
        modseqs = [int(r[1]) for r in rows]
        self.assertEqual(modseqs, sorted(modseqs))
        self.assertLessEqual(max(modseqs), hms)
        self.assertLess(len(set(modseqs)), n, "no two deliveries shared a transaction")
        # What IMAP serves is what was delivered.
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login("hot@batch.test", PASSWORD)
        typ, data = m.select("INBOX", readonly=True)
        self.assertEqual(int(data[0]), n)
        typ, data = m.uid("FETCH", "%d" % n, "(BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        self.assertIn(hashlib.sha256(data[0][1]).hexdigest(), want)
        m.logout()

    def test_over_quota_recipient_fails_alone_inside_a_batch(self):
        """Each connection sends one message to two accounts, and every
        third one names tiny@ (quota 3000 octets; no SIZE, so RCPT cannot
        refuse it), whose copy the quota refuses at delivery: that batch
        fails in the database, and the messages are stored again one by
        one, so only tiny@'s replies are 552."""
        tiny = account_id("tiny@batch.test")
        counts = {}
        for a in ["u%d@batch.test" % i for i in range(8)]:
            counts[a] = int(q1("SELECT used_messages FROM accounts WHERE account_id = %d"
                               % account_id(a))[0])
        fell_back = False
        for attempt in range(5):
            jobs = []
            expect = []
            for s in range(12):
                other = "u%d@batch.test" % (s % 8)
                if s % 3 == 0:
                    rcpts = [other, "tiny@batch.test"]
                    expect.append([[250, 552]])
                else:
                    rcpts = [other, "u%d@batch.test" % ((s + 1) % 8)]
                    expect.append([[250, 250]])
                for r in rcpts:
                    if r in counts:
                        counts[r] += 1 if expect[-1][0][rcpts.index(r)] == 250 else 0
                jobs.append([(rcpts, message("quota-%d-%d" % (attempt, s), 4000))])
            self.assertEqual(run_senders(jobs), expect)
            for a, n in counts.items():
                got = int(q1("SELECT used_messages FROM accounts WHERE account_id = %d"
                             % account_id(a))[0])
                self.assertEqual(got, n, a)
            self.assertEqual(q1("SELECT used_messages, used_bytes FROM accounts"
                                " WHERE account_id = %d" % tiny), ["0", "0"])
            if "storing each alone" in inst.daemons[-1].log_text():
                fell_back = True
                break
        self.assertTrue(fell_back, "no batch ever held the over-quota message")
        # Nothing half-stored: no content without a mailbox row.
        self.assertEqual(q1("SELECT count(*) FROM messages WHERE refs = 0"), ["0"])
        self.assertEqual(q1("SELECT count(*) FROM messages WHERE account_id = %d" % tiny),
                         ["0"])

    def test_domain_quota_inside_batches_is_exact(self):
        """Twelve connections deliver at once to four accounts of a domain
        whose quota holds four of the messages (RCPT cannot refuse them:
        no SIZE, and the domain is empty then). Concurrent batches charge
        different account rows of the domain: each must see the others'
        charges before it compares the domain's sum with its limit, so
        exactly four get 250, the others 552, and every counter agrees
        with a recount. Once per domain dq0..dq3.test."""
        for d in range(DQ_ROUNDS):
            dom = "dq%d.test" % d
            accts = ["d%d@%s" % (i, dom) for i in range(4)]
            jobs = [[([accts[s % 4]], message("dq-%d-%d" % (d, s), DQ_MESSAGE))]
                    for s in range(12)]
            for js in jobs:
                for rcpts, msg in js:
                    self.assertLessEqual(len(trace(rcpts[0]) + msg), DQ_MESSAGE + 120)
                    self.assertGreater(len(trace(rcpts[0]) + msg), DQ_MESSAGE)
            codes = sorted(r[0][0] for r in run_senders(jobs))
            self.assertEqual(codes, [250] * 4 + [552] * 8, dom)
            used = int(q1("SELECT sum(a.used_bytes) FROM accounts a JOIN domains x"
                          " USING (domain_id) WHERE x.name = '%s'" % dom)[0])
            self.assertLessEqual(used, DOMAIN_QUOTA)
            for a in accts:
                assert_counters_exact(self, inst, account_id(a))
            self.assertEqual(q1("SELECT count(*) FROM messages m JOIN accounts a USING"
                                " (account_id) JOIN domains x USING (domain_id)"
                                " WHERE x.name = '%s'" % dom), ["4"])

    def test_row_sizes_and_counters_after_batches(self):
        """Batches set mailbox_messages.size themselves and do the work of
        the insert triggers: every row's size is its message's, and the
        counters, usage and references of every account agree with a
        recount, also after an IMAP COPY (whose insert the triggers count)."""
        jobs = [[(["u%d@batch.test" % (s % 8), "u%d@batch.test" % ((s + 3) % 8)],
                  message("sizes-%d" % s, 500 + 97 * s))] for s in range(8)]
        self.assertEqual(run_senders(jobs), [[[250, 250]]] * 8)
        m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
        m.login("u1@batch.test", PASSWORD)
        m.create("Kept")
        m.select("INBOX")
        self.assertEqual(m.copy("1:*", "Kept")[0], "OK")
        m.logout()
        self.assertEqual(q1("SELECT count(*) FROM mailbox_messages mm JOIN messages x"
                            " USING (account_id, message_id) WHERE mm.size <> x.size"), ["0"])
        for i in range(8):
            assert_counters_exact(self, inst, account_id("u%d@batch.test" % i))

    def test_multi_chunk_messages_in_batches_read_back_whole(self):
        """Messages of one to four 256 KiB chunks, delivered together (a
        batch cuts the chunks of all its new content in one statement):
        each reads back over IMAP exactly as delivered, trace block
        included."""
        sizes = [700, 262144 - 100, 262144 + 100, 600000, 1000000, 3 * 262144]
        jobs = [[(["u%d@batch.test" % (2 + s % 2)], message("chunks-%d" % s, n))]
                for s, n in enumerate(sizes)]
        self.assertEqual(run_senders(jobs), [[[250]]] * len(sizes))
        want = {}
        for js in jobs:
            for rcpts, msg in js:
                want.setdefault(rcpts[0], set()).add(
                    hashlib.sha256(trace(rcpts[0]) + msg).hexdigest())
        for addr, digests in want.items():
            m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
            m.login(addr, PASSWORD)
            m.select("INBOX", readonly=True)
            typ, data = m.uid("SEARCH", "SUBJECT", "chunks-")
            got = set()
            for uid in data[0].split():
                typ, d = m.uid("FETCH", uid, "(BODY.PEEK[])")
                got.add(hashlib.sha256(d[0][1]).hexdigest())
            m.logout()
            self.assertEqual(got, digests, addr)

    def test_same_message_twice_in_one_batch_is_stored_once(self):
        """An MTA retrying on two connections at once: one copy of the
        octets, two INBOX rows."""
        aid = account_id("u7@batch.test")
        c0 = int(q1("SELECT count(*) FROM messages WHERE account_id = %d" % aid)[0])
        r0 = int(q1("SELECT messages FROM mailboxes WHERE account_id = %d"
                    " AND name = 'INBOX'" % aid)[0])
        msg = message("twice")
        jobs = [[(["u7@batch.test"], msg)] for _ in range(6)]
        self.assertEqual(run_senders(jobs), [[[250]]] * 6)
        self.assertEqual(int(q1("SELECT count(*) FROM messages WHERE account_id = %d"
                                % aid)[0]), c0 + 1)
        self.assertEqual(int(q1("SELECT messages FROM mailboxes WHERE account_id = %d"
                                " AND name = 'INBOX'" % aid)[0]), r0 + 6)
        self.assertEqual(q1("SELECT refs FROM messages WHERE account_id = %d"
                            " ORDER BY message_id DESC LIMIT 1" % aid), ["6"])


if __name__ == "__main__":
    unittest.main()
