"""Resumable runs on corpus captures: `tortrace analyze --resume` keeps a journal of pieces
in OUT/journal/ and must give the flows.msgpack and report.json (but for its "run"
section) of one plain run, byte for byte: uninterrupted, after a piece failed, after
SIGINT, after kill -9, and after an input changed (that piece, and only the pieces that
depend on it, read again). With --shard, --resume keeps a complete part for unchanged
inputs and redoes it when the options or inputs changed.

usage: test_resume.py TORTRACE CORPUS WORKDIR [unittest args]
Exit 77 (skipped) without the corpus or editcap."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

from test_shard import load_report, report_without_run, run

TORTRACE = CORPUS = WORK = None


class Resume(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = os.path.join(WORK, 'resume-test')
        shutil.rmtree(cls.root, ignore_errors=True)
        inp = os.path.join(cls.root, 'in')
        os.makedirs(inp)
        tornet = os.path.join(CORPUS, 'tornet')
        # Copies, not links: the test changes modification times.
        shutil.copy(os.path.join(tornet, 'bridge-s2', 'client.pcap'),
                    os.path.join(inp, 'a_bridge.pcap'))
        run('editcap', '-i', '10', os.path.join(tornet, 'default-s1', 'client.pcap'),
            os.path.join(inp, 'b_rot.pcap'))
        shutil.copy(os.path.join(tornet, 'obfs4-s5', 'client.pcap'),
                    os.path.join(inp, 'c_obfs4.pcap'))
        shutil.copy(os.path.join(tornet, 'default-s1', 'relay-exit1.pcap'),
                    os.path.join(inp, 'd_exit.pcap'))
        cls.inp = inp
        cls.files = sorted(os.listdir(inp))
        cls.relays = os.path.join(tornet, 'default-s1', 'consensus')
        cls.single = os.path.join(cls.root, 'single')
        cls.analyze(cls.single)
        r = load_report(cls.single)
        assert r['totals']['verdicts']['tor'] > 0
        cls.n = 0

    @classmethod
    def analyze(cls, out, *opts, check=True):
        return run(TORTRACE, 'analyze', '--no-progress', '--no-hash', '--no-history',
                   '--relays', cls.relays, '-o', out, *opts, cls.inp, check=check)

    def resume(self, out, *opts, check=True):
        # --checkpoint 4: about 70 MB of inputs in pieces of 4 MiB, whole files: 9 pieces.
        return self.analyze(out, '--resume', '--checkpoint', '4', '-j', '1', *opts,
                            check=check)

    def path(self, name):
        Resume.n += 1
        return os.path.join(self.root, '%s-%d' % (name, Resume.n))

    def assert_same(self, out):
        with open(os.path.join(self.single, 'flows.msgpack'), 'rb') as a, \
                open(os.path.join(out, 'flows.msgpack'), 'rb') as b:
            fa, fb = a.read(), b.read()
        self.assertGreater(len(fa), 1000)
        self.assertEqual(fa, fb, 'flows.msgpack of the resumed run differs from one run')
        self.assertEqual(report_without_run(self.single), report_without_run(out),
                         'report.json (but "run") differs from one run')
        self.assertFalse(os.path.exists(os.path.join(out, 'journal')),
                         'the journal is removed once the outputs are written')

    def pieces(self, out):
        j = os.path.join(out, 'journal')
        return sorted(d for d in os.listdir(j)
                      if os.path.exists(os.path.join(j, d, 'partial.bin')))

    def test_uninterrupted_equals_one_run(self):
        out = self.path('whole')
        p = self.resume(out)
        self.assertEqual(p.stderr.count('saved'), 9, p.stderr)
        self.assert_same(out)
        self.assertTrue(os.path.exists(os.path.join(out, 'report.html')))
        # -j 2, and one piece per file (the rotated set's files still read as one set).
        out = self.path('whole-j2')
        self.analyze(out, '--resume', '--checkpoint', '1', '-j', '2')
        self.assert_same(out)

    def test_failed_piece_then_resume(self):
        out = self.path('failed')
        os.makedirs(os.path.join(out, 'journal'))
        # A file where piece 4's folder must go: that piece cannot write, the run stops.
        blocker = os.path.join(out, 'journal', 'part-3-of-9')
        open(blocker, 'w').close()
        p = self.resume(out, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('piece 4 of 9 failed: 3 pieces are saved', p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, 'report.json')))
        self.assertEqual(len(self.pieces(out)), 3)
        os.unlink(blocker)
        p = self.resume(out)
        self.assertIn('3 of 9 pieces kept from an earlier run', p.stderr)
        self.assertEqual(p.stderr.count('saved'), 6, p.stderr)
        self.assert_same(out)

    def test_changed_input_is_read_again(self):
        out = self.path('changed')
        os.makedirs(os.path.join(out, 'journal'))
        blocker = os.path.join(out, 'journal', 'part-8-of-9')
        open(blocker, 'w').close()
        self.resume(out, check=False)
        self.assertEqual(len(self.pieces(out)), 8)
        os.unlink(blocker)
        # Same size, new modification time: the pieces that read it (or depend on it:
        # the file before a piece's first decides where its sets begin) are read again.
        changed = os.path.join(self.inp, 'c_obfs4.pcap')
        st = os.stat(changed)
        os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        try:
            p = self.resume(out)
        finally:
            os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assertIn('c_obfs4.pcap was modified', p.stderr)
        again = p.stderr.count('is analysed again')
        self.assertGreaterEqual(again, 1, p.stderr)
        self.assertLessEqual(again, 3, 'only the pieces that depend on the file: ' + p.stderr)
        self.assert_same(out)
        # Other options: no piece is kept (a merge of mixed pieces would be refused).
        os.makedirs(os.path.join(out, 'journal'))
        open(blocker, 'w').close()
        self.resume(out, check=False)
        os.unlink(blocker)
        p = self.resume(out, '--min-score', '0.6')
        self.assertEqual(p.stderr.count('other options or relay data'), 8, p.stderr)
        self.assertNotIn('kept from an earlier run', p.stderr)

    def interrupt(self, sig):
        """Start a resumable run, send sig once a piece is saved; return the folder."""
        out = self.path('sig%d' % sig)
        proc = subprocess.Popen(
            [TORTRACE, 'analyze', '--no-progress', '--no-hash', '--no-history', '--relays',
             self.relays, '-o', out, '--resume', '--checkpoint', '1', '-j', '1', self.inp],
            stderr=subprocess.PIPE, text=True)
        first = os.path.join(out, 'journal', 'part-0-of-%d' % len(self.files), 'partial.bin')
        deadline = time.time() + 120
        while not os.path.exists(first) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        proc.send_signal(sig)
        err = proc.communicate(timeout=300)[1]
        return out, proc.returncode, err

    def test_sigint_then_resume(self):
        out, rc, err = self.interrupt(signal.SIGINT)
        if rc == 0:
            self.skipTest('the run ended before the signal came: nothing to resume')
        self.assertEqual(rc, 1, err)
        m = re.search(r'stopped: (\d+) of (\d+) pieces are complete', err)
        self.assertTrue(m, err)
        self.assertGreaterEqual(int(m.group(1)), 1)
        p = self.analyze(out, '--resume', '--checkpoint', '1', '-j', '1')
        self.assertIn('%s of %s pieces kept' % m.groups(), p.stderr)
        self.assert_same(out)

    def test_kill_9_then_resume(self):
        out, rc, err = self.interrupt(signal.SIGKILL)
        if rc == 0:
            self.skipTest('the run ended before the signal came: nothing to resume')
        self.assertEqual(rc, -signal.SIGKILL)
        saved = len(self.pieces(out))
        self.assertGreaterEqual(saved, 1)
        p = self.analyze(out, '--resume', '--checkpoint', '1', '-j', '1')
        self.assertIn('pieces kept from an earlier run', p.stderr)
        self.assert_same(out)

    def test_shard_resume_keeps_a_complete_part(self):
        parts = [self.path('shard0'), self.path('shard1')]
        for i, part in enumerate(parts):
            self.analyze(part, '-q', '--shard', '%d/2' % i)
        before = os.stat(os.path.join(parts[0], 'partial.bin')).st_mtime_ns
        p = self.analyze(parts[0], '--shard', '0/2', '--resume')
        self.assertIn('kept (--resume)', p.stderr)
        self.assertEqual(os.stat(os.path.join(parts[0], 'partial.bin')).st_mtime_ns, before)
        p = self.analyze(parts[1], '--shard', '1/2', '--resume', '--min-score', '0.6')
        self.assertIn('is analysed again: other options', p.stderr)
        p = self.analyze(parts[1], '--shard', '1/2', '--resume')
        self.assertIn('is analysed again: other options', p.stderr)
        merged = self.path('shard-merged')
        run(TORTRACE, 'merge', '-q', '-o', merged, *parts)
        self.assert_same(merged)

    def test_kept_shard_keeps_its_exit_status(self):
        # A shard in which an input failed exits 1; kept by --resume, it still does.
        inp = os.path.join(self.root, 'damaged-in')
        os.makedirs(inp)
        shutil.copy(os.path.join(self.inp, 'd_exit.pcap'), inp)
        with open(os.path.join(self.inp, 'c_obfs4.pcap'), 'rb') as f:
            data = f.read()
        with open(os.path.join(inp, 'e_cut.pcap'), 'wb') as f:
            f.write(data[:len(data) // 2 + 7])
        part = self.path('damaged-part')
        args = [TORTRACE, 'analyze', '--no-progress', '--no-hash', '--no-history', '-o', part,
                '--shard', '0/1']
        p = run(*args, inp, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('e_cut.pcap', p.stderr)
        p = run(*args, '--resume', inp, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('kept (--resume)', p.stderr)

    def test_refused(self):
        out = self.path('refused')
        p = self.analyze(out, '--resume', '--write-pcap', os.path.join(self.root, 'x.pcap'),
                         check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn('--resume cannot --write-pcap', p.stderr)


if __name__ == '__main__':
    TORTRACE, CORPUS, WORK = sys.argv[1:4]
    if not os.path.isdir(os.path.join(CORPUS, 'tornet')):
        print('SKIP: no corpus at %s (../shared/corpus beside the project)' % CORPUS)
        sys.exit(77)
    if not shutil.which('editcap'):
        print('SKIP: editcap (wireshark-common) is not installed')
        sys.exit(77)
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
