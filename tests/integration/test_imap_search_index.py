"""The background word index of SEARCH BODY/TEXT (schema/0013_search_index.sql,
server/search_indexer.c).

Messages arrive over LMTP (the real ingest path). Every answer is compared
with the scan the server ran before the index existed (ILIKE over
messages.body_text/headers_text, run here with psql), for indexed and
not-yet-indexed messages alike: mid-word needles, non-ASCII case folding,
punctuation, tokens too long to index, header-only words. Also: expunged
messages leave no index rows, the indexer catches up after a restart and
after its workers are killed mid-batch."""
import imaplib
import itertools
import os
import signal
import smtplib
import subprocess
import time
import unittest

from harness import Instance, wait_for

PASSWORD = "index test 1"
inst = None
imapd = None
_ids = itertools.count(1)


def setUpModule():
    global inst, imapd
    inst = Instance()
    try:
        inst.start_admind()
        imapd = inst.start_imapd()
    except BaseException:
        inst.close()
        raise


def tearDownModule():
    inst.close()


def restart_imapd(*args):
    """Stops the running imapd and starts one with these -o options."""
    global imapd
    imapd.stop()
    inst.daemons.remove(imapd)
    argv = []
    for a in args:
        argv += ["-o", a]
    imapd = inst.start_imapd(*argv)


# -- helpers ---------------------------------------------------------------------


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def q1(sql):
    rows = inst.psql(sql)
    return rows[0][0] if rows else None


def new_account():
    addr = "ix%d@index.test" % next(_ids)
    inst.create_account(addr, PASSWORD)
    acc = int(q1("SELECT account_id FROM addresses WHERE address = '%s'" % addr))
    mb = int(q1("SELECT mailbox_id FROM mailboxes WHERE account_id = %d AND name = 'INBOX'"
                % acc))
    return addr, acc, mb


def deliver(addr, bodies, subject="note"):
    c = smtplib.LMTP("127.0.0.1", inst.lmtp_port, timeout=60)
    try:
        c.ehlo("mta.test")
        for i, body in enumerate(bodies):
            msg = ("From: Sender <sender@example.net>\r\nTo: %s\r\nSubject: %s %d\r\n"
                   "Message-ID: <%d.%f@index.test>\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n"
                   % (addr, subject, i, i, time.time(), body.replace("\n", "\r\n")))
            c.sendmail("sender@example.net", [addr], msg.encode("utf-8"))
    finally:
        c.quit()


def uidnext(acc, mb):
    return int(q1("SELECT uidnext FROM mailboxes WHERE account_id = %d AND mailbox_id = %d"
                  % (acc, mb)))


def function_def(signature):
    """CREATE OR REPLACE text of a function (psql returns it line by line)."""
    return "\n".join(r[0] or "" for r in inst.psql(
        "SELECT pg_get_functiondef('%s'::regprocedure)" % signature))


def assert_failure_backs_off(test, signature, header, warning):
    """Makes the idle worker's function `signature` (declared as `header`)
    fail, delivers and idles three times, and checks the warning came at
    most once per worker (each then backs off for 10 minutes); restores
    the function and restarts the workers, ending their back-off."""
    original = function_def(signature)
    inst.psql("CREATE OR REPLACE FUNCTION %s LANGUAGE plpgsql AS"
              " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$" % header)
    try:
        before = imapd.log_text().count(warning)
        addr, acc, mb = new_account()
        for i in range(3):
            deliver(addr, ["backoff round %d" % i])
            wait_indexed(acc, mb)
            time.sleep(3)  # idle past SEARCH_INDEXER_FLUSH_MS: flush, then prune
        text = imapd.log_text()
        n = text.count(warning) - before
        test.assertIn("refused by the test", text)
        test.assertGreaterEqual(n, 1)
        test.assertLessEqual(n, 2)
    finally:
        inst.psql(original)
        restart_imapd()


def indexed_uid(acc, mb):
    v = q1("SELECT indexed_uid FROM mailbox_search_state WHERE account_id = %d"
           " AND mailbox_id = %d" % (acc, mb))
    return int(v) if v is not None else 0


def wait_indexed(acc, mb, timeout=60):
    wait_for(lambda: indexed_uid(acc, mb) >= uidnext(acc, mb) - 1, timeout=timeout,
             what="the indexer to catch up")


def index_rows(acc):
    return int(q1("SELECT count(*) FROM message_search WHERE account_id = %d" % acc))


def like(needle):
    out = "".join("\\" + ch if ch in "%_\\" else ch for ch in needle)
    return "%" + out + "%"


def reference(acc, mb, key, needle):
    """UIDs that the scan (the server's answer before the index) finds."""
    p = lit(like(needle))
    cond = ("m.body_text ILIKE %s" % p if key == "BODY"
            else "(m.headers_text ILIKE %s OR m.body_text ILIKE %s)" % (p, p))
    rows = inst.psql("SELECT mm.uid FROM mailbox_messages mm JOIN messages m"
                     " ON m.account_id = mm.account_id AND m.message_id = mm.message_id"
                     " WHERE mm.account_id = %d AND mm.mailbox_id = %d AND %s ORDER BY mm.uid"
                     % (acc, mb, cond))
    return [int(r[0]) for r in rows]


class Client:
    def __init__(self, addr, mailbox="INBOX"):
        self.c = imaplib.IMAP4("127.0.0.1", inst.imap_port, timeout=60)
        self.c.login(addr, PASSWORD)
        typ, _ = self.c.select(mailbox)
        assert typ == "OK"

    def search(self, key, needle):
        """UID SEARCH CHARSET UTF-8 key <needle as a literal>."""
        self.c.literal = needle.encode("utf-8")
        typ, data = self.c.uid("SEARCH", "CHARSET", "UTF-8", key)
        assert typ == "OK", data
        return sorted(int(x) for x in data[0].split())

    def close(self):
        try:
            self.c.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


BODIES = [
    "The archipelago lies north. Grüße aus Zürich!",
    "ARCHIPELAGOS and lighthouse-keepers; e-mail: bob.smith@example.org",
    "ÉCOLE Καλημέρα ΣΟΦΟΣ Привет мир 日本語の会議",
    "see https://www.example.com/path?q=archipelago_map&x=1 now",
    "crème brûlée, naïve café; version 2.5.1-rc3 (build #4471)",
    "nothing to see here at all",
    "x" * 300 + "needleinlongtoken" + "y" * 10 + " tail words",
    "under_score and 50% off \\ backslash",
]

NEEDLES = [
    "archipelago", "ARCHIPELAGO", "rchipel", "pelagos", "lighthouse", "lighthouse-keepers",
    "keepers;", "e-mail", "bob.smith@example", "smith", "grüße", "GRÜSSE", "zürich",
    "école", "ÉCOLE", "καλημέρα", "σοφοσ", "σοφος", "ПРИВЕТ", "мир", "会議", "日本",
    "crème brûlée", "brûl", "naive", "café", "2.5.1", "rc3", "4471", "build #",
    "https", "example.com/path", "q=archipelago_map", "needleinlongtoken", "x" * 4 + "needle",
    "x" * 250, "tail", "under_score", "under", "50%", "%", "_", "\\", "e", "ar", "z",
    "sender", "note", "Subject", "index.test", "nothing to", "here at all", "absent",
    "archipelagoes", " ",
]


class SearchIndex(unittest.TestCase):
    def check_all(self, addr, acc, mb, needles=NEEDLES):
        c = Client(addr)
        try:
            for key in ("BODY", "TEXT"):
                for n in needles:
                    self.assertEqual(c.search(key, n), reference(acc, mb, key, n),
                                     "%s %r" % (key, n))
        finally:
            c.close()

    def test_indexed_and_unindexed_messages_match_the_scan(self):
        addr, acc, mb = new_account()
        deliver(addr, BODIES)
        wait_indexed(acc, mb)
        self.assertEqual(index_rows(acc), len(BODIES))
        # Rows are exact, but for the one with a 327-byte token.
        self.assertEqual(q1("SELECT count(*) FROM message_search WHERE account_id = %d"
                            " AND NOT exact" % acc), "1")
        c = Client(addr)
        try:
            self.assertEqual(c.search("TEXT", "rchipel"), [1, 2, 4])
            self.assertEqual(c.search("BODY", "grüsse"), [])  # ß is not ss
            self.assertEqual(c.search("BODY", "GRÜSSE".replace("SS", "ß")), [1])
            self.assertEqual(c.search("BODY", "école"), [3])
            self.assertEqual(c.search("BODY", "καλημέρα"), [3])
            self.assertEqual(c.search("BODY", "needleinlongtoken"), [7])
            self.assertEqual(c.search("TEXT", "sender"), list(range(1, 9)))
            self.assertEqual(c.search("BODY", "sender"), [])
        finally:
            c.close()
        self.check_all(addr, acc, mb)

        # The same bodies again with the indexer off: not indexed, found
        # by the scan part of the same queries.
        restart_imapd("search_index=no")
        w = indexed_uid(acc, mb)
        deliver(addr, BODIES)
        time.sleep(1.5)
        self.assertEqual(indexed_uid(acc, mb), w)
        self.assertEqual(index_rows(acc), len(BODIES))
        c = Client(addr)
        try:
            self.assertEqual(c.search("TEXT", "rchipel"), [1, 2, 4, 9, 10, 12])
            self.assertEqual(c.search("BODY", "école"), [3, 11])
        finally:
            c.close()
        self.check_all(addr, acc, mb)

        # Back on: it catches up after the restart, same answers.
        restart_imapd()
        wait_indexed(acc, mb)
        self.assertEqual(index_rows(acc), 2 * len(BODIES))
        self.check_all(addr, acc, mb)

    def test_expunged_messages_leave_no_index_rows(self):
        addr, acc, mb = new_account()
        deliver(addr, ["alpha one", "beta two", "gamma three"])
        wait_indexed(acc, mb)
        self.assertEqual(index_rows(acc), 3)
        c = Client(addr)
        try:
            # A copy keeps its message (and index row) alive.
            c.c.create("Keep")
            self.assertEqual(c.c.uid("COPY", "2", "Keep")[0], "OK")
            self.assertEqual(c.c.uid("STORE", "1:2", "+FLAGS.SILENT", "(\\Deleted)")[0], "OK")
            self.assertEqual(c.c.expunge()[0], "OK")
            self.assertEqual(index_rows(acc), 2)
            self.assertEqual(c.search("BODY", "alpha"), [])
            self.assertEqual(c.search("BODY", "gamma"), [3])
            c.c.select("Keep")
            self.assertEqual(c.search("BODY", "beta"), [1])
            self.assertEqual(c.c.uid("STORE", "1", "+FLAGS.SILENT", "(\\Deleted)")[0], "OK")
            self.assertEqual(c.c.expunge()[0], "OK")
        finally:
            c.close()
        self.assertEqual(index_rows(acc), 1)
        self.assertEqual(q1("SELECT count(*) FROM message_search s WHERE NOT EXISTS"
                            " (SELECT 1 FROM messages m WHERE m.account_id = s.account_id"
                            " AND m.message_id = s.message_id)"), "0")
        # Deleting the mailbox drops its watermark.
        keep = q1("SELECT mailbox_id FROM mailboxes WHERE account_id = %d AND name = 'Keep'"
                  % acc)
        c = Client(addr)
        try:
            self.assertEqual(c.c.delete("Keep")[0], "OK")
        finally:
            c.close()
        self.assertEqual(q1("SELECT count(*) FROM mailbox_search_state WHERE mailbox_id = %s"
                            % keep), "0")

    def test_catches_up_after_workers_are_killed(self):
        addr, acc, mb = new_account()
        restart_imapd("search_index=no")
        bodies = ["message %d of the backlog, word%d archipelago" % (i, i % 7)
                  for i in range(300)]
        deliver(addr, bodies)
        self.assertEqual(index_rows(acc), 0)
        # Small slow batches, then SIGKILL the workers in the middle.
        restart_imapd("search_index_batch=10", "search_index_pause_ms=100")
        wait_for(lambda: index_rows(acc) > 0, timeout=30, what="indexing to start")
        workers = [int(p) for p in os.listdir("/proc") if p.isdigit() and
                   _ppid(int(p)) == imapd.pid]
        self.assertTrue(workers)
        for p in workers:
            os.kill(p, signal.SIGKILL)
        self.assertLess(index_rows(acc), 300)
        wait_indexed(acc, mb, timeout=120)
        self.assertEqual(index_rows(acc), 300)
        self.check_all(addr, acc, mb, ["archipelago", "word3", "backlog", "ord6", "of the"])
        restart_imapd()


class PendingList(unittest.TestCase):
    """schema/0022: every scan of a GIN index reads its whole pending list.
    The search index's two GIN indexes keep one of at most 1 MB (128
    pages), and the indexer merges both into their trees once it has
    caught up and stayed idle for two seconds (server/search_indexer.c),
    and since schema/0023 the pending lists of the header trigram indexes
    too."""

    def pending_pages(self):
        return dict((r[0], int(r[1])) for r in inst.psql(
            "SELECT c.relname, (pgstatginindex(c.oid)).pending_pages FROM pg_class c"
            " WHERE c.relname IN ('search_words_trgm_idx', 'message_search_words_idx')"
            " OR c.relname LIKE 'messages\\_%\\_trgm\\_idx'"))

    def test_gin_pending_lists_are_bounded_and_flushed(self):
        inst.psql("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        opts = dict((r[0], r[1]) for r in inst.psql(
            "SELECT relname, array_to_string(reloptions, ',') FROM pg_class"
            " WHERE relname IN ('search_words_trgm_idx', 'message_search_words_idx')"))
        self.assertIn("gin_pending_list_limit=1024", opts["message_search_words_idx"])
        self.assertIn("gin_pending_list_limit=1024", opts["search_words_trgm_idx"])
        self.assertIn("fastupdate=on", opts["search_words_trgm_idx"])
        addr, acc, mb = new_account()
        # 300 messages of 120 words no account has had: ~36,000 new
        # entries in the words index, more trigrams in the lexicon's.
        bodies = [" ".join("pend%dx%d" % (i, j) for j in range(120)) for i in range(300)]
        deliver(addr, bodies, subject="pending")
        wait_indexed(acc, mb, timeout=120)
        deadline = time.monotonic() + 30
        while True:
            pages = self.pending_pages()
            # Each within its limit plus at most one message's entries.
            self.assertLessEqual(pages["message_search_words_idx"], 140)
            self.assertLessEqual(pages["search_words_trgm_idx"], 140)
            # 0023: the header trigram indexes (4 MB lists) too.
            self.assertEqual(len(pages), 6, pages)
            if not any(pages.values()):
                break
            self.assertLess(time.monotonic(), deadline, "pending lists never flushed: %r" % pages)
            time.sleep(0.5)
        c = Client(addr)
        try:
            self.assertEqual(c.search("BODY", "pend7x99"), reference(acc, mb, "BODY", "pend7x99"))
            self.assertEqual(len(c.search("BODY", "pend7x99")), 1)
        finally:
            c.close()


    def test_failed_flush_warns_once_and_backs_off(self):
        """A flush that fails (say, a role that does not own the indexes)
        is logged, then not tried again for 10 minutes: not a warning per
        message."""
        assert_failure_backs_off(self, "mail_search_index_flush()",
                                 "mail_search_index_flush() RETURNS bigint",
                                 "cannot flush the pending lists")


class LexiconRebuild(unittest.TestCase):
    """The account lexicon keeps the words of deleted messages; the
    rebuild docs/operations.md gives operators (one transaction: the
    watermarks first, then the index rows and the lexicon) drops them, and
    the workers index the account again with SEARCH answers unchanged."""

    def lexicon_has(self, acc, word):
        return q1("SELECT count(*) FROM search_words WHERE account_id = %d AND word = '%s'"
                  % (acc, word)) == "1"

    def test_rebuild_drops_words_of_deleted_messages(self):
        addr, acc, mb = new_account()
        deliver(addr, ["keeper stays quoinkkeep", "gone soon quoinkgone", "keeper again"])
        wait_indexed(acc, mb)
        c = Client(addr)
        try:
            self.assertEqual(c.c.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)")[0], "OK")
            self.assertEqual(c.c.expunge()[0], "OK")
        finally:
            c.close()
        self.assertTrue(self.lexicon_has(acc, "quoinkgone"))  # kept after the delete
        inst.psql("BEGIN;"
                  " UPDATE mailbox_search_state SET indexed_uid = 0, claimed_until = NULL"
                  "  WHERE account_id = %d;"
                  " DELETE FROM message_search WHERE account_id = %d;"
                  " DELETE FROM search_words WHERE account_id = %d;"
                  " DELETE FROM search_lexicon_state WHERE account_id = %d;"
                  " COMMIT" % (acc, acc, acc, acc))
        self.assertEqual(q1("SELECT count(*) FROM search_lexicon_state WHERE account_id = %d"
                            % acc), "0")
        # The workers notice at their next sweep; a delivery wakes them now.
        deliver(addr, ["a new one quoinknew"])
        wait_indexed(acc, mb)
        self.assertFalse(self.lexicon_has(acc, "quoinkgone"))
        for w in ("quoinkkeep", "quoinknew", "keeper"):
            self.assertTrue(self.lexicon_has(acc, w), w)
        self.assertEqual(int(q1("SELECT count(*) FROM message_search WHERE account_id = %d"
                                % acc)), 3)
        c = Client(addr)
        try:
            for needle in ("quoink", "keeper", "quoinkgone", "new"):
                self.assertEqual(c.search("TEXT", needle), reference(acc, mb, "TEXT", needle),
                                 needle)
        finally:
            c.close()


class LexiconPrune(unittest.TestCase):
    """schema/0024: deleted index rows are counted per account, and an
    idle worker prunes the lexicon of an account with at least
    search_lexicon_prune_min of them: the words no index row holds any
    more go, SEARCH answers do not change. A prune never waits for, nor
    runs beside, a store into the same account's index."""

    def lexicon_has(self, acc, word):
        return q1("SELECT count(*) FROM search_words WHERE account_id = %d AND word = '%s'"
                  % (acc, word)) == "1"

    def deleted(self, acc):
        return int(q1("SELECT coalesce((SELECT deleted FROM search_lexicon_state"
                      " WHERE account_id = %d), 0)" % acc))

    def expunge(self, addr, uids):
        c = Client(addr)
        try:
            self.assertEqual(c.c.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")[0], "OK")
            self.assertEqual(c.c.expunge()[0], "OK")
        finally:
            c.close()

    def test_idle_worker_prunes_words_of_deleted_messages(self):
        restart_imapd("search_lexicon_prune_min=3")
        try:
            addr, acc, mb = new_account()
            deliver(addr, ["one quackgonea", "two quackgoneb", "three quackgonec",
                           "kept quackkeep"])
            wait_indexed(acc, mb)
            self.expunge(addr, "1:3")
            self.assertEqual(self.deleted(acc), 3)
            self.assertTrue(self.lexicon_has(acc, "quackgonea"))
            # New mail makes the indexer work, then idle: flush, prune.
            deliver(addr, ["later quacknew"])
            wait_indexed(acc, mb)
            wait_for(lambda: not self.lexicon_has(acc, "quackgonea"), timeout=30,
                     what="the prune")
            for w in ("quackgoneb", "quackgonec", "one", "two", "three"):
                self.assertFalse(self.lexicon_has(acc, w), w)
            for w in ("quackkeep", "quacknew", "kept", "later"):
                self.assertTrue(self.lexicon_has(acc, w), w)
            self.assertEqual(self.deleted(acc), 0)
            self.assertIn("pruned from the lexicon of account %d" % acc, imapd.log_text())
            c = Client(addr)
            try:
                for needle in ("quack", "quackgone", "keep", "new"):
                    self.assertEqual(c.search("TEXT", needle),
                                     reference(acc, mb, "TEXT", needle), needle)
            finally:
                c.close()
        finally:
            restart_imapd()

    def test_prune_waits_for_a_tenth_of_the_index_rows(self):
        addr, acc, mb = new_account()
        deliver(addr, ["msg %d quacktenth%d" % (i, i) for i in range(12)])
        wait_indexed(acc, mb)
        self.expunge(addr, "1")
        # 1 deletion, 11 index rows: not yet (a pass over 11 rows for 1).
        for _ in range(20):  # every other account qualifying goes first
            rows = inst.psql("SELECT * FROM mail_search_lexicon_prune(1)")
            self.assertNotIn(str(acc), [r[0] for r in rows])
            if not rows:
                break
        self.assertTrue(self.lexicon_has(acc, "quacktenth0"))
        self.expunge(addr, "2")  # 2 deletions, 10 rows: now
        rows = inst.psql("SELECT * FROM mail_search_lexicon_prune(1)")
        self.assertEqual(rows[0][0], str(acc))
        self.assertFalse(self.lexicon_has(acc, "quacktenth0"))
        self.assertFalse(self.lexicon_has(acc, "quacktenth1"))
        self.assertTrue(self.lexicon_has(acc, "quacktenth2"))

    def test_failed_prune_warns_once_and_backs_off(self):
        assert_failure_backs_off(self, "mail_search_lexicon_prune(bigint)",
                                 "mail_search_lexicon_prune(p_min bigint, OUT r_account bigint,"
                                 " OUT r_words bigint) RETURNS SETOF record",
                                 "cannot prune a lexicon")

    def test_prune_skips_an_account_a_store_holds(self):
        addr, acc, mb = new_account()
        deliver(addr, ["alpha quackheld", "beta"])
        wait_indexed(acc, mb)
        self.expunge(addr, "1")
        key = int(q1("SELECT mail_search_lexicon_key(%d)" % acc))
        # A store in flight holds the account's lexicon lock (shared).
        holder = subprocess.Popen(
            ["runuser", "-u", "mailstead", "--", "psql", "-h", inst.rundir, "-U", "mailstead",
             "-d", "mailstead", "-AtqX", "-c",
             "SELECT pg_advisory_xact_lock_shared(1297306456, %d), pg_sleep(4)" % key],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: q1("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                " AND classid = 1297306456 AND objid = %d" % key) == "1",
                     timeout=10, what="the held lock")
            rows = inst.psql("SELECT * FROM mail_search_lexicon_prune(1)")
            self.assertNotIn(str(acc), [r[0] for r in rows])
            self.assertTrue(self.lexicon_has(acc, "quackheld"))
        finally:
            holder.wait(30)
        rows = inst.psql("SELECT * FROM mail_search_lexicon_prune(1)")
        while rows and rows[0][0] != str(acc):  # other tests' accounts first
            rows = inst.psql("SELECT * FROM mail_search_lexicon_prune(1)")
        self.assertEqual(rows[0][0], str(acc))
        self.assertFalse(self.lexicon_has(acc, "quackheld"))
        self.assertTrue(self.lexicon_has(acc, "beta"))


class CombinedKeys(unittest.TestCase):
    """BODY/TEXT for rare, common and mid-word needles, alone and inside
    AND, OR, NOT, with flags and UID sets, over indexed messages and an
    unindexed tail: every answer equals the one computed from the scan's
    answers for each needle (the reference above) and the flags in the
    database."""

    def test_answers_match_the_scan(self):
        addr, acc, mb = new_account()
        common, rare = "archipelago", "zanzibarite"
        bodies = []
        for i in range(60):
            words = ["message %d" % i, "filler text"]
            if i % 4 != 0:
                words.append("the %s lies north" % common)
            if i in (7, 41):
                words.append("a %s stone" % rare)
            if i % 5 == 0:
                words.append("lighthouse%d" % i)
            bodies.append(", ".join(words))
        deliver(addr, bodies)
        wait_indexed(acc, mb)
        # An unindexed tail: the same kinds of bodies with the indexer off.
        restart_imapd("search_index=no")
        try:
            deliver(addr, ["tail %s and %s" % (common, rare), "tail %s only" % common,
                           "tail lighthouse7", "tail nothing"])
            self.assertLess(indexed_uid(acc, mb), uidnext(acc, mb) - 1)
            c = Client(addr)
            try:
                self.assertEqual(c.c.uid("STORE", "1:20", "+FLAGS.SILENT", "(\\Seen)")[0], "OK")
                self.assertEqual(c.c.uid("STORE", "5:9,41,62", "+FLAGS.SILENT",
                                         "(\\Flagged)")[0], "OK")
                self.check(c, acc, mb, common, rare)
            finally:
                c.close()
        finally:
            restart_imapd()

    def check(self, c, acc, mb, common, rare):
        every = set(int(r[0]) for r in inst.psql(
            "SELECT uid FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d"
            % (acc, mb)))

        def flag(bit):
            return set(int(r[0]) for r in inst.psql(
                "SELECT uid FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d"
                " AND flags & %d <> 0" % (acc, mb, bit)))

        def ref(key, needle):
            return set(reference(acc, mb, key, needle))

        seen, flagged = flag(1), flag(4)
        self.assertTrue(ref("TEXT", common) and ref("TEXT", rare) and seen and flagged)
        mid = "rchipel"
        cases = [
            (["TEXT", rare], ref("TEXT", rare)),
            (["BODY", common], ref("BODY", common)),
            (["TEXT", mid], ref("TEXT", mid)),
            (["BODY", "ighthouse7"], ref("BODY", "ighthouse7")),
            (["TEXT", rare, "SEEN"], ref("TEXT", rare) & seen),
            (["BODY", common, "UNSEEN"], ref("BODY", common) - seen),
            (["SEEN", "TEXT", common, "FLAGGED"], ref("TEXT", common) & seen & flagged),
            (["UID", "3:45", "TEXT", common], ref("TEXT", common) & set(range(3, 46))),
            (["TEXT", common, "TEXT", rare], ref("TEXT", common) & ref("TEXT", rare)),
            (["TEXT", common, "NOT", "TEXT", rare], ref("TEXT", common) - ref("TEXT", rare)),
            (["NOT", "BODY", common], every - ref("BODY", common)),
            (["NOT", "TEXT", rare], every - ref("TEXT", rare)),
            (["OR", "TEXT", rare, "FLAGGED"], ref("TEXT", rare) | flagged),
            (["OR", "BODY", rare, "BODY", "lighthouse"],
             ref("BODY", rare) | ref("BODY", "lighthouse")),
            (["OR", "SEEN", "NOT", "BODY", common], seen | (every - ref("BODY", common))),
            (["(", "OR", "TEXT", rare, "SEEN", ")", "BODY", common],
             (ref("TEXT", rare) | seen) & ref("BODY", common)),
            (["FLAGGED", "OR", "TEXT", mid, "TEXT", rare],
             flagged & (ref("TEXT", mid) | ref("TEXT", rare))),
            (["CHARSET", "UTF-8", "TEXT", rare, "NOT", "SEEN"], ref("TEXT", rare) - seen),
            # Not indexable (a space): scanned, ANDed with an indexed key.
            (["TEXT", '"a stone"', "TEXT", rare], ref("TEXT", "a stone") & ref("TEXT", rare)),
        ]
        for args, want in cases:
            # Parentheses as their own arguments: imaplib joins with spaces.
            line = " ".join(args).replace("( ", "(").replace(" )", ")")
            typ, data = c.c.uid("SEARCH", line)
            self.assertEqual(typ, "OK", (line, data))
            self.assertEqual(sorted(int(x) for x in data[0].split()), sorted(want), line)


# A varied corpus for the worker's tokens (schema/0020_search_tokens_c.sql).
TOKEN_BODIES = [
    "Plain ASCII words, MiXeD case; e-mail bob.smith@example.org 2.5.1-rc3",
    "Accents: crème brûlée, naïve café, ÉCOLE, Ångström, Œuvre",
    "German: Straße, GRÜSSE, Maß und Fuß; STRASSE",
    "Turkish: İstanbul ISTANBUL ılık IŞIK iğne İĞNE Kelvin \u212a sign",
    "Greek: ΣΟΦΟΣ σοφος Καλημέρα ΟΔΥΣΣΕΥΣ",
    "CJK: 日本語の会議 中文测试 한국어 텍스트",
    "Emoji: party\U0001F389time 👍🏽 ok",
    "NBSP: foo\u00a0bar and em\u2014dash and en\u2013dash and ellipsis\u2026end",
    "long " + "ab" * 150 + " after",
    "long non-ASCII " + "é" * 150 + " then " + "ü" * 99 + "x" + " done",
    "long mixed " + "x" * 100 + "\u2014" + "y" * 120 + " tail",
    "header-only content here",
]
TOKEN_NEEDLES = [
    "ascii", "mixed", "MIXED", "bob", "smith", "rc3", "crème", "CRÈME", "brûl", "naïve",
    "école", "ångström", "œuvre", "straße", "STRASSE", "strasse", "grüsse", "grüße", "maß",
    "fuß", "istanbul", "İstanbul", "ılık", "işık", "IŞIK", "iğne", "kelvin", "\u212a", "k",
    "σοφος", "ΣΟΦΟΣ", "σοφοσ", "καλημέρα", "οδυσσευσ", "οδυσσευς", "日本", "会議", "测试",
    "한국어", "party", "time", "\U0001F389", "👍", "ok", "foo", "bar", "foo\u00a0bar", "em",
    "dash", "en", "ellipsis", "end", "ab" * 10, "ab" * 101, "after", "é" * 5, "ü" * 99,
    "then", "done", "x" * 100, "y" * 120, "tail", "header", "only", "here", "note",
    "subject", "sender", "absent", "e-mail", " ",
]


class WorkerTokens(unittest.TestCase):
    """The worker's tokens (server/search_tokens.c): every stored token is a
    substring of lower(text), every PostgreSQL token of an exact row lies
    inside a stored token, and SEARCH answers equal the scan's; and
    PostgreSQL tokenises when the database check fails."""

    def check_tokens(self, acc):
        # Every stored token is a substring of the lower() of its text.
        bad = inst.psql(
            "SELECT s.message_id, w FROM message_search s JOIN messages m"
            " ON m.account_id = s.account_id AND m.message_id = s.message_id,"
            " unnest(s.words) AS w"
            " WHERE s.account_id = %d AND w NOT LIKE 'a:%%' AND NOT CASE"
            " WHEN w LIKE 'h:%%' THEN strpos(lower(m.headers_text), substr(w, 3)) > 0"
            " ELSE strpos(lower(m.body_text), w) > 0 END" % acc)
        self.assertEqual(bad, [])
        # Every PostgreSQL token of an exact row is inside a stored token
        # of the same part (body tokens have no ':').
        bad = inst.psql(
            "SELECT s.message_id, t.p, t.w FROM message_search s JOIN messages m"
            " ON m.account_id = s.account_id AND m.message_id = s.message_id,"
            " LATERAL (SELECT '' AS p, b AS w FROM regexp_split_to_table(lower(m.body_text),"
            "  '[^[:alnum:]]+') b WHERE b <> ''"
            "  UNION ALL SELECT 'h:', h FROM regexp_split_to_table(lower(m.headers_text),"
            "  '[^[:alnum:]]+') h WHERE h <> '') t"
            " WHERE s.account_id = %d AND s.exact AND NOT EXISTS (SELECT 1"
            "  FROM unnest(s.words) AS x WHERE CASE WHEN t.p = 'h:'"
            "  THEN x LIKE 'h:%%' AND strpos(substr(x, 3), t.w) > 0"
            "  ELSE strpos(x, ':') = 0 AND strpos(x, t.w) > 0 END)" % acc)
        self.assertEqual(bad, [])
        # No token twice, none over 200 bytes, the account token.
        self.assertEqual(q1(
            "SELECT count(*) FROM message_search s WHERE s.account_id = %d AND"
            " (cardinality(s.words) <> (SELECT count(DISTINCT w) FROM unnest(s.words) w)"
            "  OR EXISTS (SELECT 1 FROM unnest(s.words) w WHERE octet_length(w) > 200)"
            "  OR NOT ('a:%d' = ANY (s.words)))" % (acc, acc)), "0")

    check_all = SearchIndex.check_all

    def has_token(self, acc, word):
        return q1("SELECT count(*) FROM message_search WHERE account_id = %d AND %s = ANY (words)"
                  % (acc, lit(word))) != "0"

    def test_worker_tokens_are_exact(self):
        self.assertEqual(q1("SELECT mail_search_c_tokens_ok()"), "t")
        addr, acc, mb = new_account()
        deliver(addr, TOKEN_BODIES, subject="Sübject Ünïcode — note")
        wait_indexed(acc, mb)
        self.assertEqual(index_rows(acc), len(TOKEN_BODIES))
        # The worker tokenised: PostgreSQL would split at the em dash and
        # NBSP, and lower() applied to tokens with non-ASCII bytes.
        self.assertTrue(self.has_token(acc, "em\u2014dash"))
        self.assertTrue(self.has_token(acc, "foo\u00a0bar"))
        self.assertFalse(self.has_token(acc, "dash"))
        self.assertTrue(self.has_token(acc, "straße"))
        self.assertTrue(self.has_token(acc, "h:sübject"))
        self.assertTrue(self.has_token(acc, "σοφοσ"))
        self.assertFalse(self.has_token(acc, "ΣΟΦΟΣ"))
        # Rows with a token over 200 bytes (after lower()) are not exact.
        self.assertEqual(q1("SELECT string_agg(mm.uid::text, ',' ORDER BY mm.uid)"
                            " FROM message_search s JOIN mailbox_messages mm"
                            " ON mm.account_id = s.account_id AND mm.message_id = s.message_id"
                            " WHERE s.account_id = %d AND NOT s.exact" % acc), "9,10,11")
        self.check_tokens(acc)
        self.check_all(addr, acc, mb, TOKEN_NEEDLES)

    def test_read_is_bounded_by_bytes(self):
        addr, acc, mb = new_account()
        restart_imapd("search_index=no")
        try:
            deliver(addr, ["first " + "a" * 3000, "second", "third"])
            # No NULL in the output: psql's NULL marker reads as a line end.
            rows = inst.psql("SELECT coalesce(r_account, 0), coalesce(r_last, 0),"
                             " coalesce(r_more, false), coalesce(r_message, 0)"
                             " FROM mail_search_index_read(10, 100, %d, %d)" % (acc, mb))
            inst.psql("UPDATE mailbox_search_state SET claimed_until = NULL"
                      " WHERE account_id = %d" % acc)
            # The first message always; the second would start past 100
            # bytes: the watermark is to stop below it.
            self.assertEqual(len(rows), 2, rows)
            self.assertEqual(rows[0][:3], [str(acc), "1", "t"])
            self.assertEqual(rows[1][0], "0")
            self.assertNotEqual(rows[1][3], "0")
            rows = inst.psql("SELECT coalesce(r_last, 0), coalesce(r_more, false), count(*) OVER ()"
                             " FROM mail_search_index_read(10, 1000000, %d, %d)" % (acc, mb))
            inst.psql("UPDATE mailbox_search_state SET claimed_until = NULL"
                      " WHERE account_id = %d" % acc)
            self.assertEqual(rows[0], ["3", "f", "4"])
        finally:
            restart_imapd()
        wait_indexed(acc, mb)
        self.assertEqual(index_rows(acc), 3)

    def test_postgresql_tokenises_when_the_check_fails(self):
        # One line: psql returns rows by line (the body has no comments).
        orig = q1("SELECT replace(pg_get_functiondef('mail_search_c_tokens_ok()'::regprocedure),"
                  " E'\\n', ' ')")
        inst.psql("CREATE OR REPLACE FUNCTION mail_search_c_tokens_ok() RETURNS boolean"
                  " LANGUAGE sql STABLE AS 'SELECT false'")
        try:
            restart_imapd()
            addr, acc, mb = new_account()
            deliver(addr, TOKEN_BODIES)
            wait_indexed(acc, mb)
            self.assertEqual(index_rows(acc), len(TOKEN_BODIES))
            # PostgreSQL's tokens: split at the em dash.
            self.assertFalse(self.has_token(acc, "em\u2014dash"))
            self.assertTrue(self.has_token(acc, "dash"))
            self.assertTrue(self.has_token(acc, "foo"))
            self.check_tokens(acc)
            self.check_all(addr, acc, mb, TOKEN_NEEDLES)
        finally:
            inst.psql(orig)
            restart_imapd()


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


if __name__ == "__main__":
    unittest.main()
