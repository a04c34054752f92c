"""What the command-line tests share: a test case with a temporary folder of its own."""
import json
import os
import tempfile
import unittest


class TempDirCase(unittest.TestCase):
    """self.dir: a fresh temporary folder for each test, removed after it; self.out: an
    OUT folder inside it (not created)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.out = os.path.join(self.dir, 'out')

    def tearDown(self):
        self.tmp.cleanup()

    def report(self, out=None):
        with open(os.path.join(out or self.out, 'report.json')) as f:
            return json.load(f)
