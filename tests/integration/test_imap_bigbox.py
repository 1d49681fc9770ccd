"""A big mailbox (12,000 messages, more than one metadata batch of FETCH)
next to many small accounts:

- the size copied onto mailbox_messages (schema/0014) is the message's size
  after every way in: APPEND, MULTIAPPEND, LMTP delivery, COPY, MOVE and a
  plain SQL INSERT; an INSERT naming a message that does not exist is a
  foreign key violation as before;
- FETCH 1:* of metadata across batch boundaries, with UID gaps, answers
  every message once, in order, with the stored values;
- SELECT of a mailbox with UID gaps gives the right sequence numbers;
- no statement a command runs on a few messages reads the whole mailbox,
  also once PostgreSQL has switched the prepared statements (and the plans
  cached by the PL/pgSQL functions) to their generic plans after five
  executions: auto_explain logs every plan with its row counts, and the
  test checks them (rows, not timings)."""
import imaplib
import json
import re
import smtplib
import socket
import unittest

from harness import Instance, wait_for

PASSWORD = "bigbox pass 1"
USER = "big@bigbox.test"
N_REAL = 20         # appended over IMAP: real messages with their octets
N_BIG = 12000       # messages of the big INBOX, with UID gaps
N_SMALL_ACCOUNTS = 150
inst = None
acc = None


def setUpModule():
    global inst, acc
    # One database connection per worker: a prepared statement's plan cache
    # is per connection, and the test counts executions on one.
    inst = Instance({"db_connections": "1"})
    try:
        # Appended to the file: ALTER SYSTEM refuses auto_explain's
        # settings in a session that has not loaded it.
        with open(inst.pgdata + "/postgresql.conf", "a") as f:
            f.write("session_preload_libraries = 'auto_explain'\n"
                    "auto_explain.log_min_duration = 0\n"
                    "auto_explain.log_analyze = on\n"
                    "auto_explain.log_timing = off\n"
                    "auto_explain.log_nested_statements = on\n"
                    "auto_explain.log_format = json\n")
        inst.psql("SELECT pg_reload_conf()")
        inst.start_admind()
        inst.create_account(USER, PASSWORD)
        inst.create_account("small@bigbox.test", PASSWORD)
        inst.start_imapd()
        acc = int(q1("SELECT account_id FROM addresses WHERE address = '%s'" % USER))
        load()
    except BaseException:
        inst.close()
        raise


def tearDownModule():
    inst.close()


def q1(sql):
    rows = inst.psql(sql)
    return rows[0][0] if rows else None


def message(i, size_pad=0):
    return ("From: Sender %d <s%d@example.test>\r\nTo: big@bigbox.test\r\n"
            "Subject: message %d\r\nDate: Tue, 4 Mar 2025 12:00:00 +0000\r\n"
            "Message-ID: <m%d@example.test>\r\n\r\nBody %d.\r\n%s"
            % (i, i, i, i, i, "x" * size_pad + ("\r\n" if size_pad else ""))).encode()


def load():
    """20 real messages, then copies of their rows (new message rows, no
    octets) up to N_BIG with a gap every 7 UIDs, and small accounts."""
    c = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    c.login(USER, PASSWORD)
    c.create("Other")
    for i in range(N_REAL):
        typ, _ = c.append("INBOX", None, None, message(i, size_pad=37 * i))
        assert typ == "OK"
    c.logout()
    inst.psql("""
BEGIN;
CREATE TEMP TABLE src AS SELECT row_number() OVER (ORDER BY message_id) AS k, *
  FROM messages WHERE account_id = %(acc)d;
CREATE TEMP TABLE newm AS
 WITH ins AS (
  INSERT INTO messages (account_id, size, sha256, header_size, lines, envelope, body,
    bodystructure, partmap, sent_date, hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc,
    hdr_message_id, headers_text, body_text)
  SELECT %(acc)d, s.size + g %% 1000, sha256(int8send(g)), s.header_size, s.lines,
    s.envelope, s.body, s.bodystructure, s.partmap, s.sent_date, s.hdr_subject, s.hdr_from,
    s.hdr_to, s.hdr_cc, s.hdr_bcc, s.hdr_message_id, s.headers_text, s.body_text
    FROM generate_series(1, %(extra)d) g JOIN src s ON s.k = g %% %(real)d + 1
  RETURNING message_id)
 SELECT message_id, row_number() OVER (ORDER BY message_id) AS k FROM ins;
WITH mb AS (SELECT mailbox_id, highestmodseq FROM mailboxes
             WHERE account_id = %(acc)d AND name = 'INBOX')
INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags, keywords,
                              modseq, internaldate)
SELECT %(acc)d, mb.mailbox_id, %(real)d + n.k + n.k / 6, n.message_id,
       CASE WHEN n.k %% 3 = 0 THEN 1 WHEN n.k %% 5 = 0 THEN 8 ELSE 0 END,
       CASE WHEN n.k %% 11 = 0 THEN ARRAY['$Junk'] ELSE '{}' END,
       mb.highestmodseq + n.k, timestamptz '2025-01-01 00:00:00+00' + n.k * interval '1 min'
  FROM newm n, mb;
UPDATE mailboxes m SET uidnext = x.u + 1, highestmodseq = x.ms
  FROM (SELECT max(uid) AS u, max(modseq) AS ms FROM mailbox_messages
         WHERE account_id = %(acc)d) x
 WHERE m.account_id = %(acc)d AND m.name = 'INBOX';
-- Many small accounts: the planner's generic estimates for one
-- (account, mailbox) become small, as on a real multi-tenant server.
WITH d AS (SELECT domain_id FROM domains WHERE name = 'bigbox.test'),
     a AS (INSERT INTO accounts (domain_id, localpart, password_hash)
           SELECT d.domain_id, 'tenant' || g, '{PLAIN}x' FROM d, generate_series(1, %(na)d) g
           RETURNING account_id),
     mbx AS (INSERT INTO mailboxes (account_id, name) SELECT account_id, 'INBOX' FROM a
             RETURNING account_id, mailbox_id),
     msg AS (INSERT INTO messages (account_id, size, sha256, header_size, envelope, body,
               bodystructure, partmap)
             SELECT mbx.account_id, 100, sha256(int8send(mbx.account_id * 1000 + g)), 10,
                    'NIL', 'NIL', 'NIL', '\\x00'::bytea
               FROM mbx, generate_series(1, 20) g
             RETURNING account_id, message_id)
INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, modseq, internaldate)
SELECT msg.account_id, mbx.mailbox_id,
       row_number() OVER (PARTITION BY msg.account_id ORDER BY msg.message_id), msg.message_id,
       1, now()
  FROM msg JOIN mbx USING (account_id);
UPDATE mailboxes SET uidnext = 21, highestmodseq = 2
 WHERE account_id IN (SELECT account_id FROM accounts WHERE localpart LIKE 'tenant%%');
COMMIT;
ANALYZE;
""" % {"acc": acc, "extra": N_BIG - N_REAL, "real": N_REAL, "na": N_SMALL_ACCOUNTS})


def mailbox_id(name, account=None):
    return int(q1("SELECT mailbox_id FROM mailboxes WHERE account_id = %d AND name = '%s'"
                  % (account or acc, name)))


def size_mismatches():
    """mailbox_messages rows whose size is not their message's."""
    return int(q1("SELECT count(*) FROM mailbox_messages mm JOIN messages m"
                  " USING (account_id, message_id) WHERE mm.size <> m.size"))


class Raw:
    """A line-level IMAP client reading whole responses."""

    def __init__(self, user=USER):
        self.sock = socket.create_connection(("127.0.0.1", inst.imap_port), timeout=120)
        self.buf = b""
        self.n = 0
        self.line()
        self.ok('LOGIN %s "%s"' % (user, PASSWORD))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        """Sends one command; returns (untagged lines, tagged line). Literals
        in responses are kept inline (the tests here only count lines)."""
        self.n += 1
        tag = "B%d" % self.n
        self.sock.sendall(("%s %s\r\n" % (tag, text)).encode())
        lines = []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                need = int(m.group(1))
                while len(self.buf) < need:
                    chunk = self.sock.recv(1 << 20)
                    if not chunk:
                        raise EOFError("connection closed")
                    self.buf += chunk
                line += b"\r\n" + self.buf[:need]
                self.buf = self.buf[need:]
                line += self.line()
            if line.startswith(tag.encode() + b" "):
                return lines, line.decode()
            lines.append(line)

    def ok(self, text):
        lines, tagged = self.cmd(text)
        if " OK" not in tagged:
            raise AssertionError("%s -> %s" % (text, tagged))
        return lines

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, EOFError):
            pass
        self.sock.close()


FETCH_RE = re.compile(rb"^\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\) RFC822\.SIZE (\d+)"
                      rb" INTERNALDATE \"([^\"]+)\" MODSEQ \((\d+)\)\)$")
FLAG_NAMES = [(1, "\\Seen"), (2, "\\Answered"), (4, "\\Flagged"), (8, "\\Deleted"),
              (16, "\\Draft")]


class BigFetch(unittest.TestCase):
    def test_fetch_all_metadata_across_batches(self):
        rows = inst.psql(
            "SELECT uid, flags, array_to_string(keywords, ' '), size,"
            " to_char(internaldate AT TIME ZONE 'UTC', 'DD-Mon-YYYY HH24:MI:SS'), modseq"
            " FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d ORDER BY uid"
            % (acc, mailbox_id("INBOX")))
        self.assertGreater(len(rows), 10000)  # more than one metadata batch
        c = Raw()
        try:
            c.ok("EXAMINE INBOX")
            lines = c.ok("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ)")
        finally:
            c.close()
        fetches = [l for l in lines if b" FETCH " in l]
        self.assertEqual(len(fetches), len(rows))
        for seq, (line, row) in enumerate(zip(fetches, rows), 1):
            m = FETCH_RE.match(line)
            self.assertIsNotNone(m, line)
            uid, flags, kw, size, date, modseq = row
            flag_words = [n for b, n in FLAG_NAMES if int(flags) & b] + (kw.split() if kw
                                                                          else [])
            got_flags = [f for f in m.group(3).decode().split() if f != "\\Recent"]
            self.assertEqual(
                (int(m.group(1)), m.group(2).decode(), sorted(got_flags), m.group(4).decode(),
                 m.group(5).decode(), m.group(6).decode()),
                (seq, uid, sorted(flag_words), size, date + " +0000", modseq))

    def test_uid_fetch_ranges_across_batches(self):
        uids = [int(r[0]) for r in inst.psql(
            "SELECT uid FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d"
            " ORDER BY uid" % (acc, mailbox_id("INBOX")))]
        # Ranges that straddle the 10,000th message and the UID gaps.
        lo, hi = uids[9990], uids[10010]
        want = [u for u in uids if lo <= u <= hi or u < 30 or u > uids[-5]]
        c = Raw()
        try:
            c.ok("EXAMINE INBOX")
            lines = c.ok("UID FETCH 1:29,%d:%d,%d:* (RFC822.SIZE FLAGS)"
                         % (lo, hi, uids[-5] + 1))
        finally:
            c.close()
        got = [int(re.search(rb"UID (\d+)", l).group(1)) for l in lines if b" FETCH " in l]
        self.assertEqual(got, want)
        for l in lines:
            if b" FETCH " in l:
                seq = int(l.split()[1])
                uid = int(re.search(rb"UID (\d+)", l).group(1))
                self.assertEqual(uids[seq - 1], uid)

    def test_select_with_uid_gaps(self):
        uids = [int(r[0]) for r in inst.psql(
            "SELECT uid FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d"
            " ORDER BY uid" % (acc, mailbox_id("INBOX")))]
        first_unseen = int(q1("SELECT min(uid) FROM mailbox_messages WHERE account_id = %d"
                              " AND mailbox_id = %d AND flags & 1 = 0"
                              % (acc, mailbox_id("INBOX"))))
        c = Raw()
        try:
            lines = c.ok("EXAMINE INBOX")
            self.assertIn(("* %d EXISTS" % len(uids)).encode(), lines)
            self.assertIn(("* OK [UNSEEN %d] First unseen" % (uids.index(first_unseen) + 1))
                          .encode(), lines)
            # Sequence numbers map to the UIDs with their gaps.
            for seq in (1, N_REAL, N_REAL + 5, N_REAL + 6, N_REAL + 7, 5000, len(uids)):
                got = c.ok("FETCH %d UID" % seq)
                self.assertEqual(got, [("* %d FETCH (UID %d)" % (seq, uids[seq - 1])).encode()])
            got = c.ok("UID SEARCH ALL")
            self.assertEqual(got[0].split()[2:], [str(u).encode() for u in uids])
        finally:
            c.close()


class SizeColumn(unittest.TestCase):
    def test_size_after_every_way_in(self):
        small = "small@bigbox.test"
        c = Raw(small)
        try:
            c.ok("CREATE Box")
            caps = c.ok("CAPABILITY")[0]
            # APPEND, and MULTIAPPEND when offered
            c.ok("APPEND INBOX {%d+}\r\n%s" % (len(message(1, 10)),
                                               message(1, 10).decode()))
            if b"MULTIAPPEND" in caps:
                m2, m3 = message(2, 200), message(3, 3000)
                c.ok("APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s"
                     % (len(m2), m2.decode(), len(m3), m3.decode()))
            # delivery
            lm = smtplib.LMTP("127.0.0.1", inst.lmtp_port)
            try:
                lm.sendmail("x@example.test", [small], message(4, 5000))
            finally:
                lm.quit()
            c.ok("SELECT INBOX")
            c.ok("COPY 1:* Box")
            if b"MOVE" in caps:
                c.ok("MOVE 1 Box")
            c.ok("SELECT Box")
            lines = c.ok("FETCH 1:* (RFC822.SIZE BODY.PEEK[])")
        finally:
            c.close()
        self.assertEqual(size_mismatches(), 0)
        n = 0
        for l in lines:
            m = re.match(rb"\* \d+ FETCH \(RFC822\.SIZE (\d+) BODY\[\] \{(\d+)\}", l)
            if m:
                n += 1
                self.assertEqual(m.group(1), m.group(2))
        self.assertGreaterEqual(n, 3)

    def test_sql_insert_fills_size(self):
        small = int(q1("SELECT account_id FROM addresses WHERE address = 'small@bigbox.test'"))
        mb = mailbox_id("INBOX", small)
        inst.psql(
            "WITH m AS (INSERT INTO messages (account_id, size, sha256, header_size, envelope,"
            "  body, bodystructure, partmap) VALUES (%d, 4242, sha256('sql insert'), 10,"
            "  'NIL', 'NIL', 'NIL', '\\x00'::bytea) RETURNING message_id),"
            " a AS MATERIALIZED (SELECT * FROM mail_allocate(%d, %d, 1))"
            " INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, modseq,"
            "  internaldate) SELECT %d, %d, a.first_uid, m.message_id, a.modseq, now()"
            " FROM m, a" % (small, small, mb, small, mb))
        self.assertEqual(q1("SELECT mm.size FROM mailbox_messages mm JOIN messages m"
                            " USING (account_id, message_id) WHERE m.sha256 ="
                            " sha256('sql insert')"), "4242")
        with self.assertRaisesRegex(RuntimeError, "does not exist|foreign key"):
            inst.psql("INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id,"
                      " modseq, internaldate) VALUES (%d, %d, 4000000000, -1, 1, now())"
                      % (small, mb))
        self.assertEqual(q1("DO $$ BEGIN INSERT INTO mailbox_messages (account_id, mailbox_id,"
                            " uid, message_id, modseq, internaldate) VALUES (%d, %d, 4000000000,"
                            " -1, 1, now()); EXCEPTION WHEN foreign_key_violation THEN"
                            " RAISE NOTICE 'fk'; END $$; SELECT 'caught'" % (small, mb)),
                         "caught")


def plans_since(offset):
    """(query text, plan) of every plan auto_explain logged after offset."""
    with open(inst.pgdata + "/server.log", "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    out = []
    dec = json.JSONDecoder()
    for m in re.finditer(r"plan:\s*\n?\s*\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.end() - 1)
        except ValueError:
            continue
        out.append((obj.get("Query Text", ""), obj.get("Plan", {})))
    return out


def mailbox_rows_read(node):
    """Rows of mailbox_messages the plan node and its children read, and
    rows thrown away by join filters above them."""
    n = 0
    loops = node.get("Actual Loops", 1)
    idx = node.get("Index Name", "")
    if node.get("Relation Name") == "mailbox_messages" or (
            node.get("Node Type") == "Bitmap Index Scan" and
            idx.startswith("mailbox_messages")):
        n += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) +
              node.get("Rows Removed by Index Recheck", 0)) * loops
    n += node.get("Rows Removed by Join Filter", 0) * loops
    for child in node.get("Plans", []):
        n += mailbox_rows_read(child)
    return n


class GenericPlans(unittest.TestCase):
    maxDiff = None

    """After six executions PostgreSQL may run a prepared statement (or a
    PL/pgSQL function's query) with a generic plan; joined naively to the
    unnest() of UID ranges, that plan scans the whole mailbox for every
    call (docs/benchmarks.md §1). Commands on a few messages of the big
    mailbox must read a few rows, however often they run."""

    def test_few_messages_read_few_rows(self):
        c = Raw()
        try:
            c.ok("ENABLE QRESYNC")
            c.ok("SELECT INBOX")  # reads the whole mailbox once, by design
            since = int(inst.psql("SELECT highestmodseq FROM mailboxes WHERE account_id = %d"
                                  " AND mailbox_id = %d" % (acc, mailbox_id("INBOX")))[0][0])
            uids = [int(r[0]) for r in inst.psql(
                "SELECT uid FROM mailbox_messages WHERE account_id = %d AND mailbox_id = %d"
                " ORDER BY uid" % (acc, mailbox_id("INBOX")))]
            with open(inst.pgdata + "/server.log", "rb") as f:
                offset = f.seek(0, 2)
            for i in range(8):
                c.ok("FETCH 1:50 (UID FLAGS RFC822.SIZE)")
                c.ok("UID FETCH %d:%d ENVELOPE" % (uids[-60], uids[-10]))
                c.ok("FETCH %d BODY[HEADER]" % (1 + i % N_REAL))   # sets \Seen
                c.ok("STORE 1:3 %sFLAGS (\\Flagged)" % "+-"[i % 2])
                c.ok("STORE 4:5 (UNCHANGEDSINCE 999999999) +FLAGS (\\Answered)")
                c.ok("COPY 6:7 Other")
                c.ok("UID MOVE %d Other" % uids[-1 - i])
                c.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uids[-20 - i])
                c.ok("UID EXPUNGE %d" % uids[-20 - i])
                c.ok("UID SEARCH UID 1:50 FLAGGED")
                # mailbox_since: the changed messages through the modseq
                # index, not the mailbox through its primary key.
                c.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % since)
                c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % since)
        finally:
            c.close()
        plans = plans_since(offset)
        self.assertGreater(len(plans), 80)  # auto_explain did log them
        limit = N_BIG // 4
        bad = {}
        for q, p in plans:
            n = mailbox_rows_read(p)
            if n > limit:
                key = " ".join(q.split())[:160]
                bad[key] = max(bad.get(key, 0), n)
        self.assertEqual(bad, {}, "statements that read most of the mailbox (rows read)")


def heap_rows_read(node, rel):
    """Rows of rel the plan node and its children fetched from the heap:
    an index-only scan counts its heap fetches (pages the visibility map
    does not vouch for), any other scan the rows it read."""
    n = 0
    if node.get("Relation Name") == rel:
        loops = node.get("Actual Loops", 1)
        if node.get("Node Type") == "Index Only Scan":
            n += node.get("Heap Fetches", 0)
        else:
            n += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
    for child in node.get("Plans", []):
        n += heap_rows_read(child, rel)
    return n


def index_only_rows(node, rel):
    n = 0
    if node.get("Relation Name") == rel and node.get("Node Type") == "Index Only Scan":
        n += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get(
            "Actual Loops", 1)
    for child in node.get("Plans", []):
        n += index_only_rows(child, rel)
    return n


class SearchWalk(unittest.TestCase):
    """A BODY/TEXT search keeps the mailbox's rows whose message is among
    the word index's hits: it walks every (uid, message_id) of the mailbox.
    It reads them from the primary key (schema/0018 put message_id in it)
    without fetching the rows, which lie scattered over the heap in a
    mailbox filled by concurrent deliveries."""

    def test_body_search_walks_the_index_not_the_rows(self):
        inst.psql("VACUUM mailbox_messages")  # sets the visibility map
        c = Raw()
        try:
            c.ok("SELECT INBOX")
            with open(inst.pgdata + "/server.log", "rb") as f:
                offset = f.seek(0, 2)
            for key in ("BODY", "TEXT"):
                c.ok("UID SEARCH %s nowhereword" % key)
                c.ok("UID SEARCH NOT %s nowhereword" % key)
        finally:
            c.close()
        def searches():
            return [(q, p) for q, p in plans_since(offset)
                    if q.startswith("SELECT mm.uid") and "mail_search_indexable" in q]
        # The logging collector writes the plans a moment after the replies.
        wait_for(lambda: len(searches()) >= 4, what="the plans in the log")
        plans = searches()
        self.assertEqual(len(plans), 4)
        for q, p in plans:
            walked = index_only_rows(p, "mailbox_messages")
            fetched = heap_rows_read(p, "mailbox_messages")
            self.assertGreaterEqual(walked, N_BIG // 2, q[:120])
            self.assertLess(fetched, N_BIG // 4, q[:120])


if __name__ == "__main__":
    unittest.main()
