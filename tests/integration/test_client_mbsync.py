"""A real sync client against Mailstead: isync's mbsync (Debian package
isync, installed by deploy/dev/deps.sh).

Each test writes a private .mbsyncrc into a temp directory (an IMAPStore on
the instance's loopback port, a MaildirStore beside it, one Channel with
Patterns *, Create Both, Expunge Both, SyncState *) and runs mbsync as a
subprocess with its network debug log (-Dn), which the tests read to see
which commands the client sent. After every run the server is inspected with
imaplib (and the database's highestmodseq), the local Maildir with os.

mbsync stores messages locally with LF line ends and adds an X-TUID header
to messages it copies (on the server side too, when the server lacks
UIDPLUS): message bytes are compared with both normalised away.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import maildir_sync
from harness import Instance
from maildir_sync import attachment_message, letters, message, quote, set_info

PASSWORD = "mbsync pass 1"
inst = None
remote = None
MBSYNC = shutil.which("mbsync")


def setUpModule():
    global inst, remote
    if MBSYNC is None:
        raise unittest.SkipTest("mbsync not installed (deploy/dev/deps.sh installs isync)")
    inst = Instance()
    inst.start_admind()
    inst.start_imapd()
    remote = maildir_sync.Server(inst, PASSWORD)


def tearDownModule():
    if inst is not None:
        inst.close()


def normalise(data):
    """Message bytes with LF line ends and without mbsync's X-TUID header."""
    return maildir_sync.normalise(data, b"X-TUID")


MBSYNC_14_TUID_BUG = "IMAP error: received extraneous data in FETCH response"


def capabilities():
    """What the server advertises after LOGIN."""
    m = remote.login(Mbsync.USER)
    caps = m.capabilities
    m.logout()
    return caps


class Maildir(maildir_sync.Maildir):
    """mbsync's local side: <root>/<mailbox>/{cur,new,tmp}."""

    def folder_names(self, mailbox):
        """mbsync 1.4 keeps a non-ASCII name in modified UTF-7, later
        versions write UTF-8: either is accepted."""
        return (mailbox, maildir_sync.mutf7(mailbox))

    def folders(self):
        out = []
        for dirpath, dirs, _ in os.walk(self.root):
            if "cur" in dirs:
                out.append(os.path.relpath(dirpath, self.root))
        return sorted(out)


class Sync:
    """One mbsync setup: config file, Maildir and log of each run."""

    def __init__(self, user, tls=False, password=PASSWORD):
        self.dir = tempfile.mkdtemp(prefix="mbsync-", dir=inst.dir)
        self.maildir = Maildir(os.path.join(self.dir, "mail"))
        os.makedirs(self.maildir.root)
        self.runs = 0
        self.config = os.path.join(self.dir, "mbsyncrc")
        if tls:
            # The harness certificate is for CN=localhost; mbsync checks
            # the name, so it connects by that name.
            net = ("Host localhost\nPort %d\nSSLType IMAPS\nCertificateFile %s\n"
                   % (inst.imaps_port, inst.tls_cert))
        else:
            # Plaintext LOGIN only on loopback: mbsync wants it spelled out.
            net = "Host 127.0.0.1\nPort %d\nSSLType None\n" % inst.imap_port
        with open(self.config, "w") as f:
            f.write("IMAPAccount remote\n%sUser %s\nPass \"%s\"\nAuthMechs LOGIN\n"
                    "Timeout 20\n\n"
                    "IMAPStore remote\nAccount remote\n\n"
                    "MaildirStore local\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
                    "Channel ch\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\n"
                    "Expunge Both\nSyncState *\n"
                    % (net, user, password, self.maildir.root, self.maildir.root))

    def run(self, expect_ok=True):
        """Runs mbsync once; returns (exit code, log text)."""
        self.runs += 1
        r = subprocess.run([MBSYNC, "-c", self.config, "-Dn", "ch"], capture_output=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        log = (r.stdout + r.stderr).decode("utf-8", "replace")
        with open(os.path.join(self.dir, "run-%d.log" % self.runs), "w") as f:
            f.write(log)
        if expect_ok and r.returncode != 0:
            raise AssertionError("mbsync exited %d:\n%s" % (r.returncode, log[-4000:]))
        return r.returncode, log

    def run_pushing(self):
        """Runs mbsync when it has new local messages to upload; returns
        the commands it sent.

        isync 1.4 cannot read the FETCH of X-TUID it sends to find an
        uploaded message when the server has no UIDPLUS (APPENDUID): its
        imap_find_new_msgs_p3 leaves fetch_sts at FetchNone, so the answer
        is "extraneous data" and it drops the connection (fixed in 1.5).
        Its journal keeps the message's TUID, and the next run finds the
        message while loading the box, as a user's next run would: one more
        run per mailbox that got an upload."""
        cmds = []
        for _ in range(6):
            rc, log = self.run(expect_ok=False)
            cmds += sent_commands(log)
            if rc == 0:
                return cmds
            if MBSYNC_14_TUID_BUG not in log or "UIDPLUS" in capabilities():
                break
        raise AssertionError("mbsync exited %d:\n%s" % (rc, log[-4000:]))


def sent_commands(log):
    """The IMAP commands mbsync sent, without tags: ['LOGIN ...', ...]."""
    out = []
    for line in log.splitlines():
        m = re.match(r"(?:F: )?>>> \d+ (.*)", line)
        if m:
            out.append(m.group(1))
    return out


def changing(cmds):
    return [c for c in cmds if re.match(r"(?i)(UID )?(APPEND|STORE|EXPUNGE|COPY|MOVE|CREATE|"
                                         r"DELETE|RENAME)\b", c)
            or "BODY.PEEK[]" in c]


class Mbsync(unittest.TestCase):
    USER = "sync@example.test"

    @classmethod
    def setUpClass(cls):
        inst.create_account(cls.USER, PASSWORD)
        m = remote.login(cls.USER)
        for name in ("Work", "Work/Reports", "Café"):
            typ, data = m.create(quote(name))
            assert typ == "OK", (name, data)
        cls.seeded = {
            "INBOX": {
                "in1": (message("in1", "seen and flagged"), {"\\Seen", "\\Flagged"}),
                "in2": (message("in2", "unread"), set()),
                "in3": (message("in3", "answered draft"), {"\\Answered", "\\Draft", "\\Seen"}),
                "in4": (message("in4", "to be deleted locally"), {"\\Seen"}),
            },
            "Work/Reports": {
                "att": (attachment_message("att"), {"\\Seen"}),
            },
            "Café": {
                "cafe": (message("cafe", "=?utf-8?q?caf=C3=A9?=",
                                 "Un caf\u00e9, s'il vous pla\u00eet.\r\n",
                                 "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Transfer-Encoding: 8bit\r\n"),
                         {"\\Answered"}),
            },
        }
        for box, msgs in cls.seeded.items():
            for mid, (data, flags) in msgs.items():
                typ, resp = m.append(quote(box), "(%s)" % " ".join(sorted(flags)), None, data)
                assert typ == "OK", resp
        m.logout()

    def assert_in_sync(self, sync, box):
        """Local Maildir and server mailbox hold the same messages with the
        same bytes and flags; returns (server, local)."""
        server = remote.state(self.USER, box)
        local = sync.maildir.files(box)
        self.assertEqual(sorted(server), sorted(local), box)
        for mid, (uid, flags, data) in server.items():
            path, info = local[mid]
            with open(path, "rb") as f:
                self.assertEqual(normalise(f.read()), normalise(data), (box, mid))
            self.assertEqual(info, letters(flags), (box, mid, flags))
            self.assertRegex(os.path.basename(path), r",U=%d(:2,|$)" % uid)
        return server, local

    def test_round_trip(self):
        sync = Sync(self.USER)
        before = remote.modseqs()

        # 1. Full sync server -> local.
        _, log = sync.run()
        cmds = sent_commands(log)
        self.assertTrue(any(c.startswith("LOGIN") for c in cmds), cmds)
        m = remote.login(self.USER)
        typ, listed = m.list()
        m.logout()
        self.assertEqual(typ, "OK")
        self.assertEqual(len(sync.maildir.folders()), len(listed), (sync.maildir.folders(), listed))
        for box in ("INBOX", "Work", "Work/Reports", "Café", "Archive", "Drafts", "Junk", "Sent",
                    "Trash"):
            sync.maildir.folder(box)
        for box, msgs in self.seeded.items():
            server, local = self.assert_in_sync(sync, box)
            self.assertEqual(sorted(local), sorted(msgs))
            for mid, (data, flags) in msgs.items():
                with open(local[mid][0], "rb") as f:
                    self.assertEqual(normalise(f.read()), normalise(data), mid)
                self.assertEqual(server[mid][1], flags, mid)  # pulling changed no flag
                self.assertEqual(server[mid][2], data, mid)
        for box in ("Work", "Archive", "Sent", "Trash"):
            self.assertEqual(sync.maildir.files(box), {})
        self.assertEqual(remote.modseqs(), before, "a pull must not change the server")

        # 2. Local changes: a flag, a deletion, a new message, a new folder.
        local = sync.maildir.files("INBOX")
        set_info(local["in1"][0], local["in1"][1] + "R")      # + \Answered
        set_info(local["in2"][0], "S")                         # new/ -> cur/, \Seen
        os.unlink(local["in4"][0])
        new_local = message("local1", "written locally", "By hand.\r\n").replace(b"\r\n", b"\n")
        inbox_dir = sync.maildir.folder("INBOX")
        with open(os.path.join(inbox_dir, "cur", "1772445600.M1P1.mstest:2,F"), "wb") as f:
            f.write(new_local)
        folder = os.path.join(sync.maildir.root, "Local Project")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(folder, sub))
        with open(os.path.join(folder, "new", "1772445601.M2P1.mstest"), "wb") as f:
            f.write(message("local2", "in a new folder").replace(b"\r\n", b"\n"))

        cmds = sync.run_pushing()
        self.assertTrue(any(re.match(r'(?i)CREATE "?Local Project', c) for c in cmds), cmds)
        self.assertTrue(any(c.upper().startswith("APPEND") for c in cmds), cmds)
        server, _ = self.assert_in_sync(sync, "INBOX")
        self.assertEqual(server["in1"][1], {"\\Seen", "\\Flagged", "\\Answered"})
        self.assertEqual(server["in2"][1], {"\\Seen"})
        self.assertEqual(server["in3"][1], {"\\Answered", "\\Draft", "\\Seen"})
        self.assertNotIn("in4", server)  # expunged, not just \Deleted
        self.assertEqual(server["local1"][1], {"\\Flagged"})
        self.assertEqual(normalise(server["local1"][2]), new_local)
        self.assertTrue(server["local1"][2].endswith(b"\r\n"))  # CRLF on the wire
        server, _ = self.assert_in_sync(sync, "Local Project")
        self.assertEqual(sorted(server), ["local2"])
        self.assertEqual(server["local2"][1], set())
        rows = inst.psql("SELECT count(*) FROM expunged e JOIN mailboxes m "
                         "USING (account_id, mailbox_id) JOIN accounts a USING (account_id) "
                         "WHERE a.localpart = 'sync' AND m.name = 'INBOX'")
        self.assertEqual(rows, [["1"]])

        # 3. Nothing changed: a second run is a no-op on both sides.
        before, files = remote.modseqs(), sync.maildir.snapshot()
        _, log = sync.run()
        cmds = sent_commands(log)
        self.assertTrue(any(re.search(r'(?i)(SELECT|EXAMINE) "?INBOX', c) for c in cmds), cmds)
        self.assertEqual(changing(cmds), [])
        self.assertEqual(remote.modseqs(), before)
        self.assertEqual(sync.maildir.snapshot(), files)

        # 4. Changes on the server arrive at the next sync.
        m = remote.login(self.USER)
        typ, _ = m.append("INBOX", "(\\Seen)", None, message("srv1", "new on the server"))
        self.assertEqual(typ, "OK")
        m.select("INBOX")
        uids = {mid: v[0] for mid, v in remote.state(self.USER, "INBOX").items()}
        self.assertEqual(m.uid("STORE", str(uids["in2"]), "+FLAGS", "(\\Flagged)")[0], "OK")
        self.assertEqual(m.uid("STORE", str(uids["in3"]), "-FLAGS", "(\\Draft)")[0], "OK")
        self.assertEqual(m.uid("STORE", str(uids["local1"]), "+FLAGS", "(\\Deleted)")[0], "OK")
        self.assertEqual(m.expunge()[0], "OK")
        m.select(quote("Café"))
        m.store("1", "+FLAGS", "(\\Seen)")
        m.logout()
        before = remote.modseqs()

        _, log = sync.run()
        server, local = self.assert_in_sync(sync, "INBOX")
        self.assertEqual(sorted(server), ["in1", "in2", "in3", "srv1"])
        self.assertEqual(local["in2"][1], "FS")
        self.assertEqual(local["in3"][1], "RS")
        self.assertEqual(local["srv1"][1], "S")
        server, local = self.assert_in_sync(sync, "Café")
        self.assertEqual(local["cafe"][1], "RS")
        self.assertEqual(remote.modseqs(), before, "pulling server changes changed the server")

        # And once more: nothing to do.
        files = sync.maildir.snapshot()
        _, log = sync.run()
        cmds = sent_commands(log)
        self.assertTrue(any(re.search(r'(?i)(SELECT|EXAMINE) "?INBOX', c) for c in cmds), cmds)
        self.assertEqual(changing(cmds), [])
        self.assertEqual(remote.modseqs(), before)
        self.assertEqual(sync.maildir.snapshot(), files)


class MbsyncTLS(unittest.TestCase):
    USER = "tls@example.test"

    def test_imaps_sync(self):
        inst.create_account(self.USER, PASSWORD)
        m = remote.login(self.USER)
        data = attachment_message("tls1")
        self.assertEqual(m.append("INBOX", "(\\Flagged)", None, data)[0], "OK")
        m.logout()
        sync = Sync(self.USER, tls=True)
        _, log = sync.run()
        self.assertIn("Connection is now encrypted", log)
        local = sync.maildir.files("INBOX")
        self.assertEqual(sorted(local), ["tls1"])
        with open(local["tls1"][0], "rb") as f:
            self.assertEqual(normalise(f.read()), normalise(data))
        self.assertEqual(local["tls1"][1], "F")
        set_info(local["tls1"][0], "FS")
        sync.run()
        self.assertEqual(remote.state(self.USER, "INBOX")["tls1"][1], {"\\Flagged", "\\Seen"})

    def test_untrusted_certificate_is_refused(self):
        """A client that does not trust the certificate gets no session (and
        the check can fail: mbsync really verifies what the server sends)."""
        other = os.path.join(inst.dir, "other-cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", other + ".key", "-out", other],
                       check=True, capture_output=True)
        sync = Sync("nobody@example.test", tls=True)
        with open(sync.config) as f:
            text = f.read()
        with open(sync.config, "w") as f:
            f.write(text.replace(inst.tls_cert, other))
        rc, log = sync.run(expect_ok=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("certificate", log.lower())
        self.assertEqual(sync.maildir.folders(), [])


class MbsyncErrors(unittest.TestCase):
    def test_wrong_password(self):
        inst.create_account("wrong@example.test", PASSWORD)
        sync = Sync("wrong@example.test", password="not the password")
        rc, log = sync.run(expect_ok=False)
        self.assertNotEqual(rc, 0)
        self.assertRegex(log, r"(?m)^(F: )?\d+ NO ")
        self.assertEqual(sync.maildir.folders(), [])


if __name__ == "__main__":
    unittest.main()
