"""Runs every tests/integration/test_*.py module and prints one summary
line that tests/run_all.sh reads: "INTEGRATION-RESULT <passed> <failed> <skipped>"."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
suite = unittest.defaultTestLoader.discover(here, pattern=pattern, top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
print("INTEGRATION-RESULT %d %d %d" % (passed, failed, skipped))
sys.exit(0 if failed == 0 else 1)
