"""What the real sync-client tests (mbsync, OfflineIMAP) share: the test
messages, the server's side read with imaplib, the local Maildir read with
os, and the normalisation both clients need (LF line ends, the client's own
tracking header)."""
import base64
import imaplib
import os
import re

# Maildir info letters (maildir spec) <-> IMAP system flags.
FLAG_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S",
                "\\Deleted": "T"}


def message(mid, subject, body="Hello there.\r\n", extra_headers=""):
    return ("From: Sender <sender@example.test>\r\nTo: sync@example.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@example.test>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n%s\r\n%s"
            % (subject, mid, extra_headers, body)).encode("utf-8")


def attachment_message(mid):
    blob = bytes(range(256)) * 8
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n").decode()
    body = ("--XyZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachments.\r\n"
            "--XyZ\r\nContent-Type: application/octet-stream; name=\"blob.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"blob.bin\"\r\n\r\n" + b64 +
            "--XyZ\r\nContent-Type: text/csv; name=\"t.csv\"\r\n"
            "Content-Disposition: attachment; filename=\"t.csv\"\r\n\r\na,b\r\n1,2\r\n"
            "--XyZ--\r\n")
    return message(mid, "with attachments", body,
                   "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XyZ\"\r\n")


def normalise(data, header):
    """Message bytes with LF line ends and without the client's own
    tracking header (e.g. b"X-TUID")."""
    data = data.replace(b"\r\n", b"\n")
    end = data.find(b"\n\n") + 1 or len(data)
    return re.sub(rb"(?m)^" + re.escape(header) + rb": [^\n]*\n", b"", data[:end]) + data[end:]


def message_id(data):
    m = re.search(rb"(?im)^Message-ID: <([^>]*)@", data)
    return m.group(1).decode() if m else None


def mutf7(name):
    """A mailbox name in modified UTF-7 (RFC 3501 §5.1.3)."""
    out, run = [], ""

    def flush():
        if run:
            b = base64.b64encode(run.encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
            out.append("&" + b.decode() + "-")

    for ch in name:
        if 0x20 <= ord(ch) < 0x7f:
            flush()
            run = ""
            out.append("&-" if ch == "&" else ch)
        else:
            run += ch
    flush()
    return "".join(out)


def quote(name):
    """A mailbox name as imaplib wants it (modified UTF-7, quoted)."""
    return '"' + mutf7(name) + '"'


def letters(flags):
    return "".join(sorted(FLAG_LETTERS[f] for f in flags if f in FLAG_LETTERS))


def set_info(path, info):
    """Renames a maildir file to carry new flags (moving new/ to cur/)."""
    d, name = os.path.split(path)
    base = name.split(":2,", 1)[0]
    cur = os.path.join(os.path.dirname(d), "cur")
    new = os.path.join(cur, base + ":2," + "".join(sorted(info)))
    os.rename(path, new)
    return new


class Server:
    """The server side of one test module: logins and state by imaplib,
    the database's highestmodseq by psql."""

    def __init__(self, inst, password):
        self.inst = inst
        self.password = password

    def login(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.inst.imap_port)
        m.login(user, self.password)
        return m

    def state(self, user, mailbox):
        """{message-id: (uid, set of flags, bytes)} of one mailbox."""
        m = self.login(user)
        typ, data = m.select(quote(mailbox))
        assert typ == "OK", (mailbox, data)
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        assert typ == "OK", data
        flags = {}
        for item in data:
            if item is None:
                continue
            mm = re.search(rb"UID (\d+)", item)
            ff = re.search(rb"FLAGS \(([^)]*)\)", item)
            if mm and ff:
                flags[int(mm.group(1))] = set(ff.group(1).decode().split()) - {"\\Recent"}
        out = {}
        for uid, fl in flags.items():
            typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
            assert typ == "OK", data
            body = data[0][1]
            mid = message_id(body)
            assert mid not in out, ("duplicate on the server", mailbox, mid)
            out[mid] = (uid, fl, body)
        m.logout()
        return out

    def modseqs(self):
        """{account/mailbox: highestmodseq} of every mailbox on the server."""
        return dict(self.inst.psql(
            "SELECT a.localpart || '@' || d.name || '/' || m.name, m.highestmodseq "
            "FROM mailboxes m JOIN accounts a USING (account_id) "
            "JOIN domains d USING (domain_id)"))


class Maildir:
    """The local side: <root>/<folder>/{cur,new,tmp}. Each client's
    subclass says how it names a mailbox's folder (folder_names: the
    candidates) and lists its folders (folders)."""

    def __init__(self, root):
        self.root = root

    def folder(self, mailbox):
        for cand in self.folder_names(mailbox):
            p = os.path.join(self.root, cand)
            if os.path.isdir(os.path.join(p, "cur")):
                return p
        raise AssertionError("no local folder for %r; have %r" % (mailbox, self.folders()))

    def files(self, mailbox):
        """{message-id: (path, info letters)}"""
        out = {}
        base = self.folder(mailbox)
        for sub in ("cur", "new"):
            for name in os.listdir(os.path.join(base, sub)):
                path = os.path.join(base, sub, name)
                with open(path, "rb") as f:
                    data = f.read()
                info = name.split(":2,", 1)[1] if ":2," in name else ""
                mid = message_id(data)
                assert mid not in out, ("duplicate in the Maildir", mailbox, mid)
                out[mid] = (path, info)
        return out

    def snapshot(self):
        out = []
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                out.append(os.path.join(dirpath, f))
        return sorted(out)
