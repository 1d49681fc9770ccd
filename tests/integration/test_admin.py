"""Integration tests of mailstead-admind and mailstead-admin: the real
binaries against a throwaway PostgreSQL (harness.py), nothing mocked.

Covers every method's success path and its errors, the JSON-RPC framing
and limits, peer credentials, two clients at once, the audit table, the CLI
end to end, and data surviving a restart. Each test uses its own domain
names so the tests do not depend on each other's data."""
import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import threading
import time
import unittest

from harness import AdminClient, Instance, IS_ROOT

inst = None


def setUpModule():
    global inst
    inst = Instance()
    inst.start_admind()


def tearDownModule():
    if inst is not None:
        inst.close()


def rpc(method, params=None, req_id=1):
    return inst.rpc(method, params, req_id)


def ok(method, params=None):
    r = rpc(method, params)
    if "result" not in r:
        raise AssertionError("%s %r failed: %r" % (method, params, r))
    return r["result"]


def err(r):
    """(code, reason, param) of an error response."""
    assert "error" in r, "expected an error, got %r" % (r,)
    data = r["error"].get("data", {})
    return r["error"]["code"], data.get("reason"), data.get("param")


def sql(query):
    return inst.psql(query)


def sql_value(query):
    rows = inst.psql(query)
    return rows[0][0] if rows else None


def sha512_crypt(password):
    out = subprocess.run(["openssl", "passwd", "-6", "-salt", "saltsalt", password],
                         check=True, capture_output=True, text=True).stdout.strip()
    return "{SHA512-CRYPT}" + out


class ProtocolTest(unittest.TestCase):
    def raw(self, data):
        with AdminClient(inst.admin_socket) as c:
            c.send_raw(data)
            return c.read_line()

    def test_parse_error(self):
        r = self.raw(b'{"jsonrpc": "2.0", "id": 1, "method": \n')
        self.assertEqual(r["error"]["code"], -32700)
        self.assertIsNone(r["id"])

    def test_invalid_requests(self):
        cases = [
            (b'[{"jsonrpc":"2.0","id":1,"method":"stats.get"}]', None),  # batch
            (b'42', None),
            (b'{"jsonrpc":"1.0","id":3,"method":"stats.get"}', 3),
            (b'{"id":3,"method":"stats.get"}', 3),
            (b'{"jsonrpc":"2.0","id":{"a":1},"method":"stats.get"}', None),
            (b'{"jsonrpc":"2.0","id":1.5,"method":"stats.get"}', None),
            (b'{"jsonrpc":"2.0","id":4}', 4),
            (b'{"jsonrpc":"2.0","id":4,"method":7}', 4),
            (b'{"jsonrpc":"2.0","id":5,"method":"stats.get","params":"x"}', 5),
            (b'{"jsonrpc":"2.0","id":5,"method":"stats.get","bogus":1}', 5),
        ]
        for line, want_id in cases:
            with self.subTest(line=line):
                r = self.raw(line + b"\n")
                self.assertEqual(r["error"]["code"], -32600)
                self.assertEqual(r["id"], want_id)

    def test_unknown_method(self):
        r = rpc("domain.frobnicate", {})
        self.assertEqual(r["error"]["code"], -32601)

    def test_params_by_position_refused(self):
        r = rpc("domain.get", ["a.test"])
        self.assertEqual(err(r)[:2], (-32602, "invalid"))

    def test_wrong_types_name_the_param(self):
        cases = [
            ("domain.create", {"name": 5}, "name"),
            ("domain.create", {"name": "t-types.test", "quota_bytes": "10"}, "quota_bytes"),
            ("domain.create", {"name": "t-types.test", "quota_bytes": -1}, "quota_bytes"),
            ("domain.create", {"name": "t-types.test", "max_accounts": 1.5}, "max_accounts"),
            ("domain.create", {"name": "t-types.test", "colour": "red"}, "colour"),
            ("domain.create", {}, "name"),
            ("domain.delete", {"name": "t-types.test", "force": "yes"}, "force"),
            ("domain.update", {"name": "t-types.test", "status": "gone"}, "status"),
            ("domain.list", {"limit": 1001}, "limit"),
            ("account.create", {"address": "x@t-types.test", "password": 1}, "password"),
            ("account.list", {"limit": -1}, "limit"),
            ("alias.create", {"address": "x@t-types.test", "destinations": "a@b.test"},
             "destinations"),
            ("alias.create", {"address": "x@t-types.test", "destinations": []}, "destinations"),
            ("quota.get", {"address": ["x@t-types.test"]}, "address"),
        ]
        for method, params, param in cases:
            with self.subTest(method=method, params=params):
                code, reason, p = err(rpc(method, params))
                self.assertEqual((code, reason, p), (-32602, "invalid", param))
        self.assertEqual(sql("SELECT 1 FROM domains WHERE name = 't-types.test'"), [])

    def test_invalid_names(self):
        for name in ["localhost", "-a.test", "a-.test", "a..test", "a.test.", "b\u00fccher.test",
                     "ab--cd.test", "x" * 64 + ".test", "under_score.test", "1.2.3.4"]:
            with self.subTest(name=name):
                self.assertEqual(err(rpc("domain.create", {"name": name}))[2], "name")
        for address in ["nobody", "a..b@x.test", ".a@x.test", "a b@x.test", "\"q\"@x.test",
                        "a@localhost", "x" * 65 + "@x.test"]:
            with self.subTest(address=address):
                r = rpc("account.create", {"address": address, "password": "pw"})
                self.assertEqual(err(r)[2], "address")

    def test_error_keeps_connection(self):
        with AdminClient(inst.admin_socket) as c:
            c.send_raw(b"{nonsense\n")
            self.assertEqual(c.read_line()["error"]["code"], -32700)
            r = c.call("stats.get", {}, 9)
            self.assertEqual(r["id"], 9)
            self.assertIn("result", r)

    def test_notification_gets_no_answer(self):
        with AdminClient(inst.admin_socket) as c:
            c.send_raw(b'{"jsonrpc":"2.0","method":"domain.create","params":{"name":"t-note.test"}}\n')
            c.send_raw(b'{"jsonrpc":"2.0","method":"no.such.method"}\n')
            r = c.call("domain.get", {"name": "t-note.test"}, "after")
            self.assertEqual(r["id"], "after")
            self.assertEqual(r["result"]["name"], "t-note.test")

    def test_pipelined_answered_in_order(self):
        ok("domain.create", {"name": "t-pipe.test"})
        lines = b""
        for i in range(1, 31):
            method = ["domain.get", "stats.get", "domain.list"][i % 3]
            params = {"name": "t-pipe.test"} if method == "domain.get" else {}
            lines += json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                                 "params": params}).encode() + b"\n"
        # Blank lines and CRLF are tolerated.
        lines += b"\r\n" + b'{"jsonrpc":"2.0","id":31,"method":"stats.get"}\r\n'
        with AdminClient(inst.admin_socket) as c:
            c.send_raw(lines)
            ids = [c.read_line()["id"] for _ in range(31)]
        self.assertEqual(ids, list(range(1, 32)))

    def test_answers_after_client_half_close(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(inst.admin_socket)
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"stats.get"}\n'
                  b'{"jsonrpc":"2.0","id":2,"method":"domain.list"}\n')
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertEqual([json.loads(l)["id"] for l in data.splitlines()], [1, 2])

    def test_request_at_the_limit_accepted(self):
        base = b'{"jsonrpc":"2.0","id":1,"method":"domain.get","params":{"name":"t-limit.test"}}'
        line = base[:-1] + b" " * ((1 << 20) - len(base)) + b"}"
        self.assertEqual(len(line), 1 << 20)
        with AdminClient(inst.admin_socket) as c:
            c.send_raw(line + b"\n")
            r = c.read_line()
        self.assertEqual(err(r)[1], "not_found")

    def test_over_long_request_refused_and_closed(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(inst.admin_socket)
        payload = (b'{"jsonrpc":"2.0","id":1,"method":"domain.create","params":{"name":"'
                   + b"a" * (4 << 20) + b'.test"}}\n')
        sent = [0]

        def sender():
            # The daemon stops reading after the limit, so this blocks and
            # then fails when it closes the connection.
            try:
                s.sendall(payload)
                sent[0] = len(payload)
            except OSError:
                pass

        t = threading.Thread(target=sender)
        t.start()
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        t.join(30)
        s.close()
        r = json.loads(data.split(b"\n")[0])
        self.assertEqual(r["error"]["code"], -32600)
        self.assertEqual(r["error"]["data"]["reason"], "limit")
        self.assertEqual(sent[0], 0, "the daemon read the whole over-long request")
        # The daemon is fine afterwards.
        self.assertIn("result", rpc("stats.get"))


class DomainTest(unittest.TestCase):
    def test_create_get_list_update(self):
        r = ok("domain.create", {"name": "T-Dom.TEST", "quota_bytes": 1 << 30,
                                 "max_accounts": 5})
        self.assertEqual(r["name"], "t-dom.test")
        self.assertEqual((r["quota_bytes"], r["max_accounts"], r["status"]),
                         (1 << 30, 5, "active"))
        g = ok("domain.get", {"name": "t-dom.test"})
        self.assertEqual(g["accounts"], 0)
        names = [d["name"] for d in ok("domain.list", {"limit": 1000})["domains"]]
        self.assertIn("t-dom.test", names)
        self.assertEqual(names, sorted(names))
        u = ok("domain.update", {"name": "t-dom.test", "status": "suspended", "max_accounts": 7})
        self.assertEqual((u["status"], u["max_accounts"], u["quota_bytes"]),
                         ("suspended", 7, 1 << 30))
        self.assertEqual(sql_value("SELECT status FROM domains WHERE name = 't-dom.test'"),
                         "suspended")

    def test_list_paging(self):
        for i in range(3):
            ok("domain.create", {"name": "t-page%d.test" % i})
        total = ok("domain.list", {})["total"]
        a = ok("domain.list", {"offset": 0, "limit": 2})
        b = ok("domain.list", {"offset": 2, "limit": 1000})
        self.assertEqual(len(a["domains"]), 2)
        self.assertEqual(a["total"], total)
        self.assertEqual(len(a["domains"]) + len(b["domains"]), total)
        self.assertEqual(ok("domain.list", {"limit": 0})["domains"], [])

    def test_duplicate_is_conflict(self):
        ok("domain.create", {"name": "t-dup.test"})
        self.assertEqual(err(rpc("domain.create", {"name": "T-DUP.test"}))[:2],
                         (-32000, "conflict"))

    def test_unknown_is_not_found(self):
        for method, params in [("domain.get", {"name": "t-none.test"}),
                               ("domain.update", {"name": "t-none.test", "quota_bytes": 1}),
                               ("domain.delete", {"name": "t-none.test"}),
                               ("domain.set_catchall", {"name": "t-none.test",
                                                        "destination": None})]:
            with self.subTest(method=method):
                self.assertEqual(err(rpc(method, params))[:2], (-32000, "not_found"))

    def test_delete_with_accounts_needs_force(self):
        ok("domain.create", {"name": "t-del.test"})
        ok("account.create", {"address": "u@t-del.test", "password": "pw1"})
        code, reason, _ = err(rpc("domain.delete", {"name": "t-del.test"}))
        self.assertEqual((code, reason), (-32000, "conflict"))
        self.assertEqual(ok("domain.get", {"name": "t-del.test"})["accounts"], 1)
        self.assertEqual(err(rpc("domain.delete", {"name": "t-del.test", "force": False}))[1],
                         "conflict")
        r = ok("domain.delete", {"name": "t-del.test", "force": True})
        self.assertTrue(r["deleted"])
        self.assertEqual(err(rpc("domain.get", {"name": "t-del.test"}))[1], "not_found")
        self.assertEqual(sql("SELECT 1 FROM addresses WHERE address = 'u@t-del.test'"), [])
        self.assertEqual(sql("SELECT 1 FROM accounts a LEFT JOIN domains d USING (domain_id) "
                             "WHERE d.domain_id IS NULL"), [])

    def test_delete_empty_domain(self):
        ok("domain.create", {"name": "t-del2.test"})
        self.assertTrue(ok("domain.delete", {"name": "t-del2.test"})["deleted"])

    def test_max_accounts_is_limit(self):
        ok("domain.create", {"name": "t-max.test", "max_accounts": 1})
        ok("account.create", {"address": "a@t-max.test", "password": "pw"})
        self.assertEqual(err(rpc("account.create", {"address": "b@t-max.test",
                                                    "password": "pw"}))[1], "limit")
        self.assertEqual(sql_value("SELECT count(*) FROM accounts a JOIN domains d "
                                   "USING (domain_id) WHERE d.name = 't-max.test'"), "1")

    def test_catchall(self):
        ok("domain.create", {"name": "t-catch.test"})
        ok("domain.create", {"name": "t-catch2.test"})
        ok("account.create", {"address": "box@t-catch.test", "password": "pw"})
        ok("account.create", {"address": "box@t-catch2.test", "password": "pw"})
        r = ok("domain.set_catchall", {"name": "t-catch.test", "destination": "BOX@t-catch.test"})
        self.assertEqual(r["catchall"], "box@t-catch.test")
        self.assertEqual(err(rpc("domain.set_catchall", {"name": "t-catch.test",
                                                         "destination": "box@t-catch2.test"}))[1],
                         "invalid")
        self.assertEqual(err(rpc("domain.set_catchall", {"name": "t-catch.test",
                                                         "destination": "no@t-catch.test"}))[1],
                         "not_found")
        self.assertIsNone(ok("domain.set_catchall", {"name": "t-catch.test",
                                                     "destination": None})["catchall"])


class AccountTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ok("domain.create", {"name": "t-acc.test"})

    def test_create_with_password_hashes_argon2id(self):
        r = ok("account.create", {"address": "Alice@T-Acc.test", "password": "correct horse",
                                  "quota_bytes": 1000, "quota_messages": 10})
        self.assertEqual(r["address"], "alice@t-acc.test")
        self.assertEqual((r["quota_bytes"], r["quota_messages"], r["status"]),
                         (1000, 10, "active"))
        self.assertNotIn("password_hash", r)
        h = sql_value("SELECT password_hash FROM accounts a JOIN addresses ad USING (account_id) "
                      "WHERE ad.address = 'alice@t-acc.test'")
        self.assertTrue(h.startswith("{ARGON2ID}$argon2id$"), h)
        self.assertNotIn("correct horse", h)

    def test_create_makes_special_use_mailboxes_subscribed(self):
        ok("account.create", {"address": "mb@t-acc.test", "password": "pw"})
        rows = sql("SELECT m.name, coalesce(m.special_use, '') FROM mailboxes m "
                   "JOIN addresses ad USING (account_id) WHERE ad.address = 'mb@t-acc.test' "
                   "ORDER BY m.name")
        self.assertEqual(sorted(map(tuple, rows)), sorted([
            ("Archive", "Archive"), ("Drafts", "Drafts"), ("INBOX", ""), ("Junk", "Junk"),
            ("Sent", "Sent"), ("Trash", "Trash")]))
        subs = sql("SELECT s.name FROM subscriptions s JOIN addresses ad USING (account_id) "
                   "WHERE ad.address = 'mb@t-acc.test' ORDER BY 1")
        self.assertEqual([s[0] for s in subs],
                         ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"])

    def test_create_with_existing_hash(self):
        h = sha512_crypt("legacy pw")
        ok("account.create", {"address": "legacy@t-acc.test", "password_hash": h})
        self.assertEqual(sql_value("SELECT password_hash FROM accounts a JOIN addresses ad "
                                   "USING (account_id) WHERE ad.address = 'legacy@t-acc.test'"), h)
        bad = rpc("account.create", {"address": "legacy2@t-acc.test",
                                     "password_hash": "{SHA512-CRYPT}nonsense"})
        self.assertEqual(err(bad)[2], "password_hash")

    def test_password_xor_hash(self):
        for params in [{"address": "x1@t-acc.test"},
                       {"address": "x1@t-acc.test", "password": "a",
                        "password_hash": sha512_crypt("a")}]:
            self.assertEqual(err(rpc("account.create", params))[:2], (-32602, "invalid"))
        self.assertEqual(sql("SELECT 1 FROM addresses WHERE address = 'x1@t-acc.test'"), [])

    def test_duplicates_across_accounts_and_aliases(self):
        ok("account.create", {"address": "dup@t-acc.test", "password": "pw"})
        self.assertEqual(err(rpc("account.create", {"address": "DUP@t-acc.test",
                                                    "password": "pw"}))[1], "conflict")
        ok("alias.create", {"address": "dupalias@t-acc.test", "destinations": ["dup@t-acc.test"]})
        self.assertEqual(err(rpc("account.create", {"address": "dupalias@t-acc.test",
                                                    "password": "pw"}))[1], "conflict")
        self.assertEqual(err(rpc("alias.create", {"address": "dup@t-acc.test",
                                                  "destinations": ["dupalias@t-acc.test"]}))[1],
                         "conflict")

    def test_unknown_domain_not_found(self):
        self.assertEqual(err(rpc("account.create", {"address": "a@t-nodomain.test",
                                                    "password": "pw"}))[1], "not_found")

    def test_get_update_list(self):
        ok("account.create", {"address": "gul@t-acc.test", "password": "pw"})
        g = ok("account.get", {"address": "gul@t-acc.test"})
        self.assertEqual((g["used_bytes"], g["used_messages"]), (0, 0))
        u = ok("account.update", {"address": "gul@t-acc.test", "quota_bytes": 5 << 20,
                                  "quota_messages": 99})
        self.assertEqual((u["quota_bytes"], u["quota_messages"]), (5 << 20, 99))
        self.assertEqual(err(rpc("account.update", {"address": "gul@t-acc.test",
                                                    "quota_bytes": -5}))[2], "quota_bytes")
        listed = ok("account.list", {"domain": "t-acc.test", "limit": 1000})
        self.assertIn("gul@t-acc.test", [a["address"] for a in listed["accounts"]])
        page = ok("account.list", {"domain": "t-acc.test", "limit": 1, "offset": 0})
        self.assertEqual(len(page["accounts"]), 1)
        self.assertEqual(page["total"], listed["total"])
        self.assertIn("gul@t-acc.test",
                      [a["address"] for a in ok("account.list", {"limit": 1000})["accounts"]])
        self.assertEqual(err(rpc("account.list", {"domain": "t-nodomain.test"}))[1], "not_found")
        self.assertEqual(err(rpc("account.get", {"address": "none@t-acc.test"}))[1], "not_found")
        q = ok("quota.get", {"address": "gul@t-acc.test"})
        self.assertEqual((q["quota_bytes"], q["quota_messages"], q["used_bytes"],
                          q["used_messages"]), (5 << 20, 99, 0, 0))
        self.assertIn("domain_quota_bytes", q)
        self.assertEqual(err(rpc("quota.get", {"address": "none@t-acc.test"}))[1], "not_found")

    def test_update_with_hash(self):
        ok("account.create", {"address": "uh@t-acc.test", "password": "pw"})
        h = sha512_crypt("new")
        ok("account.update", {"address": "uh@t-acc.test", "password_hash": h})
        self.assertEqual(sql_value("SELECT password_hash FROM accounts a JOIN addresses ad "
                                   "USING (account_id) WHERE ad.address = 'uh@t-acc.test'"), h)

    def test_set_password(self):
        ok("account.create", {"address": "pw@t-acc.test", "password": "old password"})
        q = ("SELECT password_hash FROM accounts a JOIN addresses ad USING (account_id) "
             "WHERE ad.address = 'pw@t-acc.test'")
        before = sql_value(q)
        ok("account.set_password", {"address": "pw@t-acc.test", "password": "new password"})
        after = sql_value(q)
        self.assertNotEqual(before, after)
        self.assertTrue(after.startswith("{ARGON2ID}"))
        self.assertEqual(err(rpc("account.set_password", {"address": "none@t-acc.test",
                                                          "password": "x"}))[1], "not_found")
        self.assertEqual(err(rpc("account.set_password", {"address": "pw@t-acc.test",
                                                          "password": ""}))[2], "password")

    def test_suspend_resume(self):
        ok("account.create", {"address": "sus@t-acc.test", "password": "pw"})
        self.assertEqual(ok("account.suspend", {"address": "sus@t-acc.test"})["status"],
                         "suspended")
        self.assertEqual(ok("account.get", {"address": "sus@t-acc.test"})["status"], "suspended")
        self.assertEqual(sql_value("SELECT status FROM accounts a JOIN addresses ad "
                                   "USING (account_id) WHERE ad.address = 'sus@t-acc.test'"),
                         "suspended")
        self.assertEqual(ok("account.resume", {"address": "sus@t-acc.test"})["status"], "active")
        self.assertEqual(err(rpc("account.suspend", {"address": "none@t-acc.test"}))[1],
                         "not_found")

    def test_delete_cleans_aliases_and_catchall(self):
        ok("domain.create", {"name": "t-adel.test"})
        ok("account.create", {"address": "gone@t-adel.test", "password": "pw"})
        ok("account.create", {"address": "stay@t-adel.test", "password": "pw"})
        ok("alias.create", {"address": "both@t-adel.test",
                            "destinations": ["gone@t-adel.test", "stay@t-adel.test"]})
        ok("alias.create", {"address": "only@t-adel.test", "destinations": ["gone@t-adel.test"]})
        ok("alias.create", {"address": "outer@t-adel.test", "destinations": ["only@t-adel.test"]})
        ok("domain.set_catchall", {"name": "t-adel.test", "destination": "gone@t-adel.test"})
        self.assertTrue(ok("account.delete", {"address": "gone@t-adel.test"})["deleted"])
        aliases = {a["address"]: a["destinations"]
                   for a in ok("alias.list", {"domain": "t-adel.test"})["aliases"]}
        # "only" lost its one destination and went; "outer" pointed only
        # at "only" and went too; "both" kept the other one.
        self.assertEqual(aliases, {"both@t-adel.test": ["stay@t-adel.test"]})
        self.assertIsNone(ok("domain.get", {"name": "t-adel.test"})["catchall"])
        self.assertEqual(sql("SELECT 1 FROM mailboxes m LEFT JOIN accounts a USING (account_id) "
                             "WHERE a.account_id IS NULL"), [])
        self.assertEqual(err(rpc("account.delete", {"address": "gone@t-adel.test"}))[1],
                         "not_found")


class AliasTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ok("domain.create", {"name": "t-ali.test"})
        ok("account.create", {"address": "target@t-ali.test", "password": "pw"})

    def test_create_list_delete(self):
        r = ok("alias.create", {"address": "Sales@t-ali.test",
                                "destinations": ["TARGET@t-ali.test", "target@t-ali.test"]})
        self.assertEqual(r["address"], "sales@t-ali.test")
        self.assertEqual(r["destinations"], ["target@t-ali.test"])
        listed = ok("alias.list", {"domain": "t-ali.test"})["aliases"]
        self.assertIn("sales@t-ali.test", [a["address"] for a in listed])
        self.assertIn("sales@t-ali.test", [a["address"] for a in ok("alias.list")["aliases"]])
        self.assertTrue(ok("alias.delete", {"address": "sales@t-ali.test"})["deleted"])
        self.assertEqual(err(rpc("alias.delete", {"address": "sales@t-ali.test"}))[1],
                         "not_found")
        # An account is not an alias.
        self.assertEqual(err(rpc("alias.delete", {"address": "target@t-ali.test"}))[1],
                         "not_found")
        self.assertEqual(err(rpc("alias.list", {"domain": "t-nodomain.test"}))[1], "not_found")

    def test_destinations_must_exist(self):
        r = rpc("alias.create", {"address": "x@t-ali.test",
                                 "destinations": ["target@t-ali.test", "nobody@t-ali.test"]})
        self.assertEqual(err(r)[1], "not_found")
        self.assertEqual(sql("SELECT 1 FROM addresses WHERE address = 'x@t-ali.test'"), [])
        self.assertEqual(err(rpc("alias.create", {"address": "x@t-nodomain.test",
                                                  "destinations": ["target@t-ali.test"]}))[1],
                         "not_found")

    def test_loop_refused(self):
        r = rpc("alias.create", {"address": "self@t-ali.test", "destinations": ["self@t-ali.test"]})
        self.assertEqual(err(r)[1], "invalid")
        self.assertIn("loop", r["error"]["message"])

    def test_nesting_limit(self):
        ok("alias.create", {"address": "n1@t-ali.test", "destinations": ["target@t-ali.test"]})
        for i in range(2, 11):
            ok("alias.create", {"address": "n%d@t-ali.test" % i,
                                "destinations": ["n%d@t-ali.test" % (i - 1)]})
        r = rpc("alias.create", {"address": "n11@t-ali.test", "destinations": ["n10@t-ali.test"]})
        self.assertEqual(err(r)[1], "limit")


class StatsTest(unittest.TestCase):
    def test_stats_and_migrate(self):
        ok("domain.create", {"name": "t-stats.test"})
        ok("account.create", {"address": "a@t-stats.test", "password": "pw"})
        ok("account.create", {"address": "b@t-stats.test", "password": "pw"})
        s = ok("stats.get", {"domain": "t-stats.test"})
        self.assertEqual(s["domains"], [{"name": "t-stats.test", "status": "active",
                                         "accounts": 2, "aliases": 0, "messages": 0,
                                         "bytes": 0}])
        everything = ok("stats.get")["domains"]
        self.assertIn("t-stats.test", [d["name"] for d in everything])
        self.assertEqual(err(rpc("stats.get", {"domain": "t-nodomain.test"}))[1], "not_found")
        self.assertEqual(ok("db.migrate", {}), {"applied": 0})


class ConcurrencyTest(unittest.TestCase):
    def test_two_clients_interleaved(self):
        ok("domain.create", {"name": "t-conc.test"})
        with AdminClient(inst.admin_socket) as a, AdminClient(inst.admin_socket) as b:
            for i in range(10):
                a.send_raw(json.dumps({"jsonrpc": "2.0", "id": "a%d" % i,
                                       "method": "account.create",
                                       "params": {"address": "a%d@t-conc.test" % i,
                                                  "password": "pw%d" % i}}).encode() + b"\n")
                b.send_raw(json.dumps({"jsonrpc": "2.0", "id": "b%d" % i,
                                       "method": "domain.get",
                                       "params": {"name": "t-conc.test"}}).encode() + b"\n")
                rb = b.read_line()
                self.assertEqual(rb["id"], "b%d" % i)
                self.assertIn("result", rb)
            for i in range(10):
                ra = a.read_line()
                self.assertEqual(ra["id"], "a%d" % i)
                self.assertIn("result", ra)
        self.assertEqual(ok("domain.get", {"name": "t-conc.test"})["accounts"], 10)

    def test_client_disconnecting_mid_request(self):
        ok("domain.create", {"name": "t-gone.test"})
        with AdminClient(inst.admin_socket) as a:
            a.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "account.create",
                                   "params": {"address": "x@t-gone.test",
                                              "password": "pw"}}).encode() + b"\n")
        # The call completes without its client; the daemon lives on.
        deadline = time.monotonic() + 15
        while "result" not in rpc("account.get", {"address": "x@t-gone.test"}):
            self.assertLess(time.monotonic(), deadline, "account never created")
            time.sleep(0.05)


class AuditTest(unittest.TestCase):
    def test_mutations_audited_without_secrets(self):
        secret = "Sup3r-Secret-%d" % os.getpid()
        h = sha512_crypt("hash-source")
        ok("domain.create", {"name": "t-audit.test"})
        ok("account.create", {"address": "a@t-audit.test", "password": secret})
        ok("account.create", {"address": "b@t-audit.test", "password_hash": h})
        ok("account.set_password", {"address": "a@t-audit.test", "password": secret + "2"})
        rpc("account.create", {"address": "a@t-audit.test", "password": secret + "3"})  # conflict
        rpc("account.create", {"address": "bad@@t-audit.test", "password": secret + "4"})
        ok("domain.get", {"name": "t-audit.test"})
        stored = sql_value("SELECT password_hash FROM accounts a JOIN addresses ad "
                           "USING (account_id) WHERE ad.address = 'a@t-audit.test'")
        everything = sql_value("SELECT string_agg(a::text, ' ') FROM admin_audit a")
        for needle in [secret, stored, h, h.split("$")[-1]]:
            self.assertNotIn(needle, everything)
        self.assertEqual(sql("SELECT 1 FROM admin_audit WHERE params ? 'password' "
                             "OR params ? 'password_hash'"), [])
        rows = sql("SELECT method, outcome, coalesce(error, ''), peer_uid, peer_pid, params::text "
                   "FROM admin_audit WHERE params->>'address' LIKE '%t-audit.test' "
                   "OR params->>'name' = 't-audit.test' ORDER BY audit_id")
        # A success's row commits with the change; a failure's row is
        # written afterwards on any pooled connection, so rows of failures
        # may land in either order.
        self.assertEqual([(r[0], r[1]) for r in rows[:4]], [
            ("domain.create", "ok"), ("account.create", "ok"), ("account.create", "ok"),
            ("account.set_password", "ok")])
        self.assertEqual(sorted(r[2].split(":")[0] for r in rows[4:]),
                         ["Invalid params", "address a@t-audit.test already exists"])
        self.assertEqual(rows[0][3], str(os.geteuid()))
        self.assertEqual(rows[0][4], str(os.getpid()))
        self.assertIn('"address": "a@t-audit.test"', rows[1][5])
        # Reads are not audited.
        self.assertEqual(sql("SELECT 1 FROM admin_audit WHERE method LIKE '%.get'"), [])

    def test_log_has_no_password(self):
        secret = "Log-Secret-%d" % os.getpid()
        ok("domain.create", {"name": "t-log.test"})
        ok("account.create", {"address": "a@t-log.test", "password": secret})
        self.assertNotIn(secret, inst.daemons[0].log_text())


@unittest.skipUnless(IS_ROOT, "needs root to connect as another uid")
class PeerTest(unittest.TestCase):
    def connect_as(self, uid, gid):
        """Connects and reads the first line in a child running as uid/gid;
        returns (first line or None, error string)."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(10)
                s.connect(inst.admin_socket)
                # The daemon speaks first to a peer it refuses.
                data = b""
                while b"\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                os.write(w, b"OK " + data)
            except OSError as e:
                os.write(w, b"ERR " + str(e).encode())
            finally:
                os._exit(0)
        os.close(w)
        out = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
        os.close(r)
        os.waitpid(pid, 0)
        return out

    def test_other_uid_forbidden(self):
        nobody = pwd.getpwnam("nobody")
        st = os.stat(inst.admin_socket)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        # File permissions already keep "nobody" out ...
        self.assertTrue(self.connect_as(nobody.pw_uid, nobody.pw_gid).startswith(b"ERR"))
        # ... and so does the daemon's own check when they would not.
        os.chmod(inst.admin_socket, 0o666)
        try:
            out = self.connect_as(nobody.pw_uid, nobody.pw_gid)
        finally:
            os.chmod(inst.admin_socket, 0o660)
        self.assertTrue(out.startswith(b"OK "), out)
        r = json.loads(out[3:].split(b"\n")[0])
        self.assertEqual(r["error"]["data"]["reason"], "forbidden")
        self.assertIn("refused peer uid=%d" % nobody.pw_uid, inst.daemons[0].log_text())


@unittest.skipUnless(IS_ROOT, "the daemon drops privileges only when started as root")
class PrivilegeTest(unittest.TestCase):
    def test_daemon_runs_as_configured_user(self):
        want = pwd.getpwnam(inst.user)
        with open("/proc/%d/status" % inst.daemons[0].pid) as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        uids = status["Uid"].split()
        gids = status["Gid"].split()
        self.assertEqual(set(uids), {str(want.pw_uid)})  # real, effective, saved, fs
        self.assertEqual(set(gids), {str(want.pw_gid)})
        self.assertNotIn("0", status["Groups"].split())


class CliTest(unittest.TestCase):
    def cli(self, *args, input=None):
        return inst.admin_cli(*args, input=input)

    def test_end_to_end(self):
        r = self.cli("domain", "add", "t-cli.test", "--quota", "1G", "--max-accounts", "10")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("t-cli.test", r.stdout)
        r = self.cli("account", "add", "Carol@t-cli.test", "--password-stdin", "--quota", "500M",
                     input="cli secret\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("carol@t-cli.test", r.stdout)
        self.assertIn("500.0M", r.stdout)
        h = sql_value("SELECT password_hash FROM accounts a JOIN addresses ad USING (account_id) "
                      "WHERE ad.address = 'carol@t-cli.test'")
        self.assertTrue(h.startswith("{ARGON2ID}"))
        r = self.cli("account", "list", "--domain", "t-cli.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split()[0], "ADDRESS")
        self.assertTrue(lines[1].startswith("carol@t-cli.test "))
        r = self.cli("--json", "account", "show", "carol@t-cli.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = json.loads(r.stdout)
        self.assertEqual((shown["address"], shown["quota_bytes"]), ("carol@t-cli.test", 500 << 20))
        r = self.cli("--json", "domain", "list")
        self.assertIn("t-cli.test", [d["name"] for d in json.loads(r.stdout)["domains"]])
        r = self.cli("domain", "list")
        self.assertEqual(r.stdout.splitlines()[0].split()[:2], ["NAME", "STATUS"])
        r = self.cli("domain", "show", "t-cli.test")
        self.assertIn("1.0G", r.stdout)
        r = self.cli("alias", "add", "info@t-cli.test", "carol@t-cli.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("alias", "list", "--domain", "t-cli.test")
        self.assertIn("info@t-cli.test", r.stdout)
        r = self.cli("domain", "set", "t-cli.test", "--catchall", "info@t-cli.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("info@t-cli.test", r.stdout)
        r = self.cli("account", "passwd", "carol@t-cli.test", "--password-stdin", input="new\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(h, sql_value("SELECT password_hash FROM accounts a JOIN addresses ad "
                                         "USING (account_id) WHERE ad.address = "
                                         "'carol@t-cli.test'"))
        for args in [("account", "suspend", "carol@t-cli.test"),
                     ("account", "resume", "carol@t-cli.test"),
                     ("account", "set", "carol@t-cli.test", "--quota-messages", "5"),
                     ("quota", "show", "carol@t-cli.test"), ("stats",), ("db", "migrate")]:
            r = self.cli(*args)
            self.assertEqual(r.returncode, 0, "%s: %s" % (args, r.stderr))
        r = self.cli("domain", "delete", "t-cli.test")
        self.assertEqual(r.returncode, 1)
        self.assertIn("conflict", r.stderr)
        r = self.cli("domain", "delete", "t-cli.test", "--force")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_errors_and_usage(self):
        r = self.cli("domain", "show", "t-cli-none.test")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not_found", r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(self.cli("frobnicate").returncode, 2)
        self.assertEqual(self.cli("domain", "add").returncode, 2)
        self.assertEqual(self.cli("domain", "add", "x.test", "--quota", "12Q").returncode, 2)
        self.assertEqual(self.cli("domain", "add", "x.test", "--bogus").returncode, 2)
        # No terminal and no --password-stdin: refused, nothing sent.
        r = self.cli("account", "add", "nopw@t-cli-none.test", input="")
        self.assertEqual(r.returncode, 2)
        r = self.cli("--socket", os.path.join(inst.dir, "nonexistent.sock"), "stats")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect", r.stderr)


class ZRestartTest(unittest.TestCase):
    """Runs last (unittest orders classes by name): restarts the daemon."""

    def test_data_survives_restart_and_sigterm_is_clean(self):
        ok("domain.create", {"name": "t-restart.test"})
        ok("account.create", {"address": "keep@t-restart.test", "password": "pw"})
        d = inst.daemons[0]
        # A request in flight when SIGTERM arrives is answered; one the
        # daemon had not started yet is not (the connection just closes):
        # which of the two happens here depends on timing.
        with AdminClient(inst.admin_socket) as c:
            c.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "account.create",
                                   "params": {"address": "late@t-restart.test",
                                              "password": "pw"}}).encode() + b"\n")
            d.proc.send_signal(signal.SIGTERM)
            try:
                r = c.read_line()
            except ConnectionResetError:
                r = None
            if r is not None:
                self.assertEqual(r["id"], 1)
                self.assertIn("result", r)
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(inst.admin_socket))
        self.assertIn("stopped", d.log_text())
        inst.daemons.remove(d)
        gid = os.getgid() if os.getgid() != 0 else 100
        inst.start_admind("-o", "admin_allowed_gid=%d" % gid, "-o", "admin_max_clients=3")
        st = os.stat(inst.admin_socket)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        if IS_ROOT:
            self.assertEqual(st.st_gid, gid)
        g = ok("account.get", {"address": "keep@t-restart.test"})
        self.assertEqual(g["status"], "active")
        self.assertEqual(ok("db.migrate"), {"applied": 0})
        # admin_max_clients=3: a fourth client is told so and closed.
        clients = [AdminClient(inst.admin_socket) for _ in range(3)]
        try:
            for c in clients:
                self.assertIn("result", c.call("stats.get"))
            with AdminClient(inst.admin_socket) as extra:
                r = extra.read_line()
                self.assertEqual(r["error"]["data"]["reason"], "limit")
                self.assertIsNone(extra.read_line())
        finally:
            for c in clients:
                c.close()
        time.sleep(0.2)
        self.assertIn("result", rpc("stats.get"))

    def test_stale_socket_replaced_and_live_socket_kept(self):
        d = inst.daemons[-1]
        # A second daemon must not take over a live socket.
        second = inst.start_admind(wait=False)
        second.proc.wait(30)
        inst.daemons.remove(second)
        self.assertEqual(second.proc.returncode, 2)
        self.assertIn("another daemon", second.log_text())
        self.assertIn("result", rpc("stats.get"))
        # Killed without cleanup, it leaves a stale socket: the next start
        # removes it.
        d.stop(signal.SIGKILL)
        inst.daemons.remove(d)
        self.assertTrue(os.path.exists(inst.admin_socket))
        inst.start_admind()
        self.assertIn("result", rpc("stats.get"))


if __name__ == "__main__":
    unittest.main()
