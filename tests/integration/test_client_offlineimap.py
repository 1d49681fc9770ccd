"""A real sync client against Mailstead: OfflineIMAP 8 (Debian package
offlineimap3, command offlineimap, installed by deploy/dev/deps.sh).

Each test writes a private configuration into a temp directory (a remote
IMAP repository on the instance's loopback port, a local Maildir, its
metadata beside it) and runs `offlineimap -o -u basic` once per sync, with
`-d imap` so the IMAP traffic lands in the run's log, from which the tests
read the commands the client sent. After every run the server is inspected
with imaplib (and the database's highestmodseq), the Maildir with os.

OfflineIMAP writes messages locally with LF line ends; when the server has no
UIDPLUS it adds an X-OfflineIMAP header to messages it uploads, to find their
UID by SEARCH afterwards. Message bytes are compared with both normalised
away, so the tests pass with or without UIDPLUS (and whatever other
extensions the server advertises).
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import maildir_sync
from harness import Instance
from maildir_sync import attachment_message, letters, message, mutf7, quote, set_info

PASSWORD = "offlineimap pass 1"
inst = None
remote = None
OFFLINEIMAP = shutil.which("offlineimap")


def setUpModule():
    global inst, remote
    if OFFLINEIMAP is None:
        raise unittest.SkipTest("offlineimap not installed (deploy/dev/deps.sh installs "
                                "offlineimap3)")
    inst = Instance()
    inst.start_admind()
    inst.start_imapd()
    remote = maildir_sync.Server(inst, PASSWORD)


def tearDownModule():
    if inst is not None:
        inst.close()


def normalise(data):
    """Message bytes with LF line ends and without OfflineIMAP's own header."""
    return maildir_sync.normalise(data, b"X-OfflineIMAP")


class Maildir(maildir_sync.Maildir):
    """OfflineIMAP's local side: folders named with its default local
    separator '.'."""

    def folder_names(self, mailbox):
        return (mailbox.replace("/", "."), mutf7(mailbox).replace("/", "."))

    def folders(self):
        if not os.path.isdir(self.root):
            return []
        return sorted(f for f in os.listdir(self.root)
                      if os.path.isdir(os.path.join(self.root, f, "cur")))


class Sync:
    """One OfflineIMAP setup: configuration, Maildir, metadata, run logs."""

    def __init__(self, user, tls=False, password=PASSWORD, cacert=None, extra_account=""):
        self.dir = tempfile.mkdtemp(prefix="offlineimap-", dir=inst.dir)
        self.maildir = Maildir(os.path.join(self.dir, "mail"))
        self.runs = 0
        self.config = os.path.join(self.dir, "offlineimaprc")
        if tls:
            # The harness certificate is for CN=localhost and OfflineIMAP
            # checks the name, so it connects by that name.
            net = ("remotehost = localhost\nremoteport = %d\nssl = yes\nsslcacertfile = %s\n"
                   % (inst.imaps_port, cacert or inst.tls_cert))
        else:
            net = ("remotehost = 127.0.0.1\nremoteport = %d\nssl = no\nstarttls = no\n"
                   % inst.imap_port)
        with open(self.config, "w") as f:
            f.write("[general]\naccounts = t\nmetadata = %s/meta\nui = basic\n\n"
                    "[Account t]\nlocalrepository = L\nremoterepository = R\n%s\n"
                    "[Repository L]\ntype = Maildir\nlocalfolders = %s\n\n"
                    "[Repository R]\ntype = IMAP\n%sremoteuser = %s\nremotepass = %s\n"
                    "timeout = 20\n"
                    % (self.dir, extra_account, self.maildir.root, net, user, password))

    def run(self, expect_ok=True, debug=True):
        """Runs offlineimap once; returns (exit code, log text)."""
        self.runs += 1
        argv = [OFFLINEIMAP, "-c", self.config, "-o", "-u", "basic"]
        if debug:
            argv += ["-d", "imap"]
        r = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, HOME=self.dir))
        log = (r.stdout + r.stderr).decode("utf-8", "replace")
        with open(os.path.join(self.dir, "run-%d.log" % self.runs), "w") as f:
            f.write(log)
        if expect_ok and (r.returncode != 0 or "ERROR" in log):
            raise AssertionError("offlineimap exited %d:\n%s" % (r.returncode, log[-4000:]))
        return r.returncode, log


def sent_commands(log):
    """The IMAP commands OfflineIMAP sent, without tags (from imaplib2's
    debug lines `writer > b'TAG COMMAND ...\\r\\n'`)."""
    out = []
    for m in re.finditer(r"writer > b['\"]([A-Z]{4}\d+) (.*?)\\r\\n['\"]", log):
        out.append(m.group(2))
    return out


def changing(cmds):
    return [c for c in cmds if re.match(r"(?i)(UID )?(APPEND|STORE|EXPUNGE|COPY|MOVE|CREATE|"
                                         r"DELETE|RENAME)\b", c)
            or "BODY.PEEK[]" in c]


class OfflineImap(unittest.TestCase):
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
            self.assertRegex(os.path.basename(path), r",U=%d(,|:2,|$)" % uid)
        return server, local

    def test_round_trip(self):
        sync = Sync(self.USER)
        before = remote.modseqs()

        # 1. Full sync server -> local.
        _, log = sync.run()
        cmds = sent_commands(log)
        self.assertTrue(any(c.startswith("AUTHENTICATE") or c.startswith("LOGIN")
                            for c in cmds), cmds)
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
        with open(os.path.join(sync.maildir.folder("INBOX"), "cur",
                               "1772445600.M1P1.mstest:2,F"), "wb") as f:
            f.write(new_local)
        folder = os.path.join(sync.maildir.root, "Local Project")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(folder, sub))
        with open(os.path.join(folder, "new", "1772445601.M2P1.mstest"), "wb") as f:
            f.write(message("local2", "in a new folder").replace(b"\r\n", b"\n"))

        _, log = sync.run()
        cmds = sent_commands(log)
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


class OfflineImapTLS(unittest.TestCase):
    USER = "tls@example.test"

    @classmethod
    def setUpClass(cls):
        inst.create_account(cls.USER, PASSWORD)
        m = remote.login(cls.USER)
        assert m.create(quote("Ünïcode/Sub"))[0] == "OK"
        assert m.append("INBOX", "(\\Flagged)", None, attachment_message("tls1"))[0] == "OK"
        assert m.append(quote("Ünïcode/Sub"), "(\\Seen)", None, message("tls2", "x"))[0] == "OK"
        m.logout()

    def test_imaps_sync_with_utf8_folder_names(self):
        # Several connections at once (one per folder thread), UTF-8 local
        # folder names decoded from modified UTF-7.
        sync = Sync(self.USER, tls=True,
                    extra_account="utf8foldernames = yes\n")
        with open(sync.config) as f:
            text = f.read()
        with open(sync.config, "w") as f:
            f.write(text.replace("timeout = 20\n", "timeout = 20\nmaxconnections = 3\n"))
        sync.run(debug=False)
        self.assertIn("Ünïcode.Sub", sync.maildir.folders())
        local = sync.maildir.files("INBOX")
        self.assertEqual(sorted(local), ["tls1"])
        with open(local["tls1"][0], "rb") as f:
            self.assertEqual(normalise(f.read()), normalise(attachment_message("tls1")))
        self.assertEqual(local["tls1"][1], "F")
        sub = os.path.join(sync.maildir.root, "Ünïcode.Sub")
        self.assertEqual(len(os.listdir(os.path.join(sub, "cur"))), 1)
        # A change on each side, over TLS again.
        set_info(local["tls1"][0], "FS")
        with open(os.path.join(sub, "cur", "1772445602.M3P1.mstest:2,S"), "wb") as f:
            f.write(message("tls3", "from the unicode folder").replace(b"\r\n", b"\n"))
        sync.run(debug=False)
        self.assertEqual(remote.state(self.USER, "INBOX")["tls1"][1], {"\\Flagged", "\\Seen"})
        state = remote.state(self.USER, "Ünïcode/Sub")
        self.assertEqual(sorted(state), ["tls2", "tls3"])
        self.assertEqual(state["tls3"][1], {"\\Seen"})

    def test_untrusted_certificate_is_refused(self):
        other = os.path.join(inst.dir, "oi-other-cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", other + ".key", "-out", other],
                       check=True, capture_output=True)
        sync = Sync(self.USER, tls=True, cacert=other)
        rc, log = sync.run(expect_ok=False, debug=False)
        self.assertNotEqual(rc, 0)
        self.assertRegex(log, r"(?i)certificate verify failed|certificate")
        self.assertEqual(sync.maildir.snapshot(), [])


class OfflineImapErrors(unittest.TestCase):
    def test_wrong_password(self):
        inst.create_account("wrong@example.test", PASSWORD)
        sync = Sync("wrong@example.test", password="not the password")
        rc, log = sync.run(expect_ok=False)
        self.assertNotEqual(rc, 0)
        self.assertRegex(log, r"reader < b'[A-Z]{4}\d+ NO ")
        self.assertEqual(sync.maildir.snapshot(), [])


if __name__ == "__main__":
    unittest.main()
