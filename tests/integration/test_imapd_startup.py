"""mailstead-imapd start-up checks: configuration errors and a database
schema older than the binary needs are refused with a clear message and
exit status 2 (which the master and systemd do not retry)."""
import os
import subprocess
import tempfile
import unittest

from harness import BIN, Instance

inst = None


def setUpModule():
    global inst
    inst = Instance()  # no admind: the database has no schema yet


def tearDownModule():
    inst.close()


def imapd(*args):
    return subprocess.run([os.path.join(BIN, "mailstead-imapd")] + list(args),
                          capture_output=True, text=True, timeout=30)


class Startup(unittest.TestCase):
    def test_refuses_an_old_schema(self):
        r = imapd("-c", inst.config_path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("schema is at version 0", r.stderr)
        self.assertIn("db migrate", r.stderr)

    def test_check_only(self):
        r = imapd("-c", inst.config_path, "-t")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_config_errors_name_file_and_line(self):
        cases = [
            ("workers = 1\nbogus_option = 1\n", ":2: bogus_option: unknown option"),
            ("workers = 1000\n", ":1: workers: value out of range"),
            ("workers = 1\nworkers = 2\n", ":2: workers: option set twice"),
            ("max_line = 12Q\n", ":1: max_line: expected a size"),
            ("no equals sign\n", ":1: expected key = value"),
        ]
        for text, want in cases:
            with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
                f.write(text)
            try:
                r = imapd("-c", f.name, "-t")
                self.assertEqual(r.returncode, 2, text)
                self.assertIn(f.name + want, r.stderr)
            finally:
                os.unlink(f.name)

    def test_override_checked_too(self):
        r = imapd("-c", inst.config_path, "-o", "workers=abc", "-t")
        self.assertEqual(r.returncode, 2)
        self.assertIn("workers", r.stderr)

    def test_imaps_without_certificate(self):
        r = imapd("-c", inst.config_path, "-o", "tls_cert=", "-o", "tls_key=", "-t")
        self.assertEqual(r.returncode, 2)
        self.assertIn("imaps_listen needs tls_cert", r.stderr)

    def test_missing_certificate_file(self):
        r = imapd("-c", inst.config_path, "-o", "tls_cert=/nonexistent.pem", "-t")
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent.pem", r.stderr)


if __name__ == "__main__":
    unittest.main()
