"""Shards and their merge on corpus captures: `tortrace analyze --shard I/N` over the same
inputs, then `tortrace merge`, must give the flows.msgpack and report.json (but for its
"run" section) of one `tortrace analyze`, byte for byte, for N = 1, 2, 4 and -j 1, -j 2.
The inputs hold a capture rotated into 10-second files with editcap (one capture set of 6
files) whose byte range is split between shards: it must be read whole by one shard.
Parts that are missing, given twice, or made with other options, relay data, inputs or
version, and damaged parts, are refused with a message naming the part.

usage: test_shard.py TORTRACE CORPUS WORKDIR [unittest args]
Exit 77 (skipped) without the corpus or editcap."""
import json
import os
import shutil
import subprocess
import sys
import unittest

TORTRACE = CORPUS = WORK = None
RUN_KEY = '\n  "run": {'


def run(*args, check=True, env=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                       env=env)
    if check and p.returncode != 0:
        raise AssertionError('%s: exit %d\n%s' % (' '.join(map(str, args)), p.returncode,
                                                  p.stderr))
    return p


def report_without_run(out):
    """report.json's bytes up to its "run" section (the last key)."""
    with open(os.path.join(out, 'report.json')) as f:
        text = f.read()
    assert RUN_KEY in text, out
    return text[:text.index(RUN_KEY)]


def load_report(out):
    with open(os.path.join(out, 'report.json')) as f:
        return json.load(f)


def read_files(part):
    """The indexes of the files the part's shard read (its own report.json)."""
    r = load_report(part)
    return [i for i, f in enumerate(r['files']) if f['read']]


class Shards(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = os.path.join(WORK, 'shard-test')
        shutil.rmtree(cls.root, ignore_errors=True)
        inp = os.path.join(cls.root, 'in')
        os.makedirs(os.path.join(inp, 'a'))
        os.makedirs(os.path.join(inp, 'c'))
        tornet = os.path.join(CORPUS, 'tornet')
        os.symlink(os.path.join(tornet, 'bridge-s2', 'client.pcap'),
                   os.path.join(inp, 'a', 'bridge.pcap'))
        # The rotated set: 6 files of 10 s each, between a/ and c/ in input order.
        run('editcap', '-i', '10', os.path.join(tornet, 'default-s1', 'client.pcap'),
            os.path.join(inp, 'b_rot.pcap'))
        os.symlink(os.path.join(tornet, 'default-s1', 'relay-exit1.pcap'),
                   os.path.join(inp, 'c', 'exit.pcap'))
        os.symlink(os.path.join(tornet, 'obfs4-s5', 'client.pcap'),
                   os.path.join(inp, 'c', 'obfs4.pcap'))
        cls.inp = inp
        cls.relays = os.path.join(tornet, 'default-s1', 'consensus')
        cls.rot = sorted(f for f in os.listdir(inp) if f.startswith('b_rot'))
        assert len(cls.rot) >= 4, cls.rot
        cls.n = 0

    def path(self, name):
        Shards.n += 1
        return os.path.join(self.root, '%s-%d' % (name, Shards.n))

    def analyze(self, out, *opts, inputs=None, check=True):
        return run(TORTRACE, 'analyze', '-q', '--no-hash', '--no-history', '--relays',
                   self.relays, '-o', out, *opts, *(inputs or [self.inp]), check=check)

    def shards(self, n, *opts, inputs=None):
        parts = []
        for i in range(n):
            parts.append(self.path('part%d-of-%d' % (i, n)))
            self.analyze(parts[-1], '--shard', '%d/%d' % (i, n), *opts, inputs=inputs)
            self.assertTrue(os.path.exists(os.path.join(parts[-1], 'partial.bin')))
        return parts

    def merge(self, parts, out, *opts, check=True):
        return run(TORTRACE, 'merge', '-q', '-o', out, *opts, *parts, check=check)

    def assert_same(self, single, merged):
        with open(os.path.join(single, 'flows.msgpack'), 'rb') as a, \
                open(os.path.join(merged, 'flows.msgpack'), 'rb') as b:
            fa, fb = a.read(), b.read()
        self.assertGreater(len(fa), 1000)
        self.assertEqual(fa, fb, 'flows.msgpack of the merge differs from the single run')
        self.assertEqual(report_without_run(single), report_without_run(merged),
                         'report.json (but "run") of the merge differs from the single run')

    def test_merge_equals_single_run(self):
        for j in ('1', '2'):
            single = self.path('single-j' + j)
            self.analyze(single, '-j', j)
            r = load_report(single)
            self.assertGreater(r['totals']['verdicts']['tor'], 0)
            rot_set = [s for s in r['sets'] if s['first_path'].endswith(self.rot[0])]
            self.assertEqual(len(rot_set), 1)
            self.assertEqual(rot_set[0]['files'], len(self.rot), 'the rotated files chain')
            for n in (1, 2, 4):
                with self.subTest(j=j, n=n):
                    parts = self.shards(n, '-j', j)
                    merged = self.path('merged-%d-j%s' % (n, j))
                    self.merge(list(reversed(parts)), merged)  # any order
                    self.assert_same(single, merged)
                    self.assertTrue(os.path.exists(os.path.join(merged, 'report.html')))

    def test_compressed_inputs_decoded_ahead(self):
        # gzip and zstd copies, the rotated set among them: a shard's decompression helpers
        # start at its own range, after it has scanned the file before it.
        comp = os.path.join(self.root, 'compressed')
        os.makedirs(comp)
        for name in sorted(os.listdir(self.inp)):
            src = os.path.join(self.inp, name)
            srcs = [os.path.join(src, f) for f in sorted(os.listdir(src))] \
                if os.path.isdir(src) else [src]
            for k, f in enumerate(srcs):
                tool = ('gzip', '.gz') if (len(os.listdir(comp)) + k) % 2 else ('zstd', '.zst')
                dst = os.path.join(comp, os.path.basename(f) + tool[1])
                with open(f, 'rb') as inp, open(dst, 'wb') as out:  # f may be a symlink
                    subprocess.run([tool[0], '-c'], stdin=inp, stdout=out, check=True)
        env = dict(os.environ, TT_DECOMPRESS_AHEAD='2')
        single = self.path('compressed-single')
        run(TORTRACE, 'analyze', '-q', '--no-hash', '--no-history', '--relays', self.relays,
            '-o', single, comp, env=env)
        for n in (2, 3):
            with self.subTest(n=n):
                parts = []
                for i in range(n):
                    parts.append(self.path('compressed-part%d-of-%d' % (i, n)))
                    run(TORTRACE, 'analyze', '-q', '--no-hash', '--no-history', '--relays',
                        self.relays, '--shard', '%d/%d' % (i, n), '-o', parts[-1], comp,
                        env=env)
                merged = self.path('compressed-merged-%d' % n)
                self.merge(parts, merged)
                self.assert_same(single, merged)

    def test_sha256_comes_from_the_shard_that_read_the_file(self):
        single = self.path('single-sha')
        run(TORTRACE, 'analyze', '-q', '--sha256', '--no-history', '--relays', self.relays,
            '-o', single, self.inp)
        self.assertTrue(all(f['sha256'] for f in load_report(single)['files']))
        parts = []
        for i in range(3):
            parts.append(self.path('sha-part%d' % i))
            run(TORTRACE, 'analyze', '-q', '--sha256', '--no-history', '--relays',
                self.relays, '--shard', '%d/3' % i, '-o', parts[-1], self.inp)
        merged = self.path('merged-sha')
        self.merge(parts, merged)
        self.assert_same(single, merged)
        # A part hashed and parts not hashed are not one run.
        nohash = self.path('sha-part-nohash')
        self.analyze(nohash, '--shard', '2/3')
        self.assert_refused(parts[:2] + [nohash], 'sha256 differs')

    def test_relays_given_to_the_merge(self):
        parts = self.shards(2)
        single = self.path('single-relays')
        self.analyze(single)
        copy = self.path('relays-copy')
        shutil.copytree(self.relays, copy)
        merged = self.path('merged-relays-copy')
        self.merge(parts, merged, '--relays', copy)
        self.assert_same(single, merged)
        other = os.path.join(CORPUS, 'tornet', 'bridge-s2', 'consensus')
        p = self.merge(parts, self.path('other-relays'), '--relays', other, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn('other relay data than theirs', p.stderr)

    def test_damaged_input_is_reported_as_in_one_run(self):
        bad = self.path('damaged-inputs')
        os.makedirs(bad)
        src = os.path.join(CORPUS, 'tornet', 'obfs4-s5', 'client.pcap')
        shutil.copy(src, os.path.join(bad, 'a.pcap'))
        with open(src, 'rb') as f:
            data = f.read()
        with open(os.path.join(bad, 'b.pcap'), 'wb') as f:
            f.write(data[:len(data) // 2 + 3])  # cut inside a record
        single = self.path('single-damaged')
        p = self.analyze(single, inputs=[bad], check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        parts = []
        for i in range(2):
            parts.append(self.path('damaged-part%d' % i))
            self.analyze(parts[-1], '--shard', '%d/2' % i, inputs=[bad], check=False)
            self.assertTrue(os.path.exists(os.path.join(parts[-1], 'partial.bin')))
        merged = self.path('merged-damaged')
        p = self.merge(parts, merged, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assert_same(single, merged)
        self.assertIn('byte offset', load_report(merged)['files'][1]['error'])

    def test_file_without_packets_before_a_range(self):
        """Shard 1's range starts after a file without packets (a pcap header only): the
        chain decision looks past it to the last file with packets, as one run does."""
        d = self.path('empty-between')
        os.makedirs(d)
        tornet = os.path.join(CORPUS, 'tornet')
        os.symlink(os.path.join(tornet, 'obfs4-s5', 'client.pcap'), os.path.join(d, 'x0.pcap'))
        with open(os.path.join(tornet, 'obfs4-s5', 'client.pcap'), 'rb') as f:
            header = f.read(24)
        with open(os.path.join(d, 'x1.pcap'), 'wb') as f:
            f.write(header)
        os.symlink(os.path.join(tornet, 'bridge-s2', 'client.pcap'), os.path.join(d, 'x2.pcap'))
        single = self.path('single-empty')
        self.analyze(single, inputs=[d])
        parts = self.shards(2, inputs=[d])
        self.assertEqual(read_files(parts[0]), [0, 1])
        self.assertEqual(read_files(parts[1]), [2])
        merged = self.path('merged-empty')
        self.merge(parts, merged)
        self.assert_same(single, merged)

    def test_rotated_set_is_read_whole_by_one_shard(self):
        single = self.path('single')
        self.analyze(single)
        files = load_report(single)['files']
        rot_ids = [i for i, f in enumerate(files) if os.path.basename(f['path']) in self.rot]
        sizes = [f['size'] for f in files]
        for n in (2, 4):
            parts = self.shards(n)
            readers = [k for k, p in enumerate(parts) if set(rot_ids) & set(read_files(p))]
            self.assertEqual(len(readers), 1, 'n=%d: the set is read by shards %s' % (n, readers))
            self.assertTrue(set(rot_ids) <= set(read_files(parts[readers[0]])))
            # Every file is read by exactly one shard.
            owners = sorted(i for p in parts for i in read_files(p))
            self.assertEqual(owners, list(range(len(files))))
            # The set's bytes were split between byte ranges: the midpoint of its last
            # file is past the first shard's half (so this is a split set kept whole).
            total = sum(sizes)
            before = sum(sizes[:rot_ids[-1]])
            first = sum(sizes[:rot_ids[0]])
            self.assertNotEqual((first * 2 + sizes[rot_ids[0]]) * n // (2 * total),
                                (before * 2 + sizes[rot_ids[-1]]) * n // (2 * total),
                                'n=%d: the rotated set does not straddle a shard boundary' % n)

    def test_no_chain_spreads_the_rotated_files(self):
        single = self.path('single-nochain')
        self.analyze(single, '--no-chain')
        parts = self.shards(4, '--no-chain')
        readers = [p for p in parts if set(read_files(p))]
        self.assertGreater(len(readers), 2)
        merged = self.path('merged-nochain')
        self.merge(parts, merged, '--no-html')
        self.assert_same(single, merged)
        self.assertFalse(os.path.exists(os.path.join(merged, 'report.html')))

    def assert_refused(self, parts, *words):
        p = self.merge(parts, self.path('refused'), check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        for w in words:
            self.assertIn(w, p.stderr)
        return p

    def test_refusals(self):
        parts = self.shards(4)
        self.assert_refused(parts[:3], 'missing shard 3/4')
        self.assert_refused(parts + [parts[1]], 'duplicate shard 1/4', parts[1])
        empty = self.path('not-a-part')
        os.makedirs(empty)
        self.assert_refused(parts[:3] + [empty], empty, 'no partial result')
        # Other options.
        other = self.path('other-timeout')
        self.analyze(other, '--shard', '3/4', '--tcp-timeout', '600')
        self.assert_refused(parts[:3] + [other], other, 'tcp_timeout_ns differs')
        # Other relay data (none).
        norelays = self.path('no-relays')
        run(TORTRACE, 'analyze', '-q', '--no-hash', '--no-history', '-o', norelays,
            '--shard', '3/4', self.inp)
        self.assert_refused(parts[:3] + [norelays], norelays, 'differs')
        # Other inputs: a file grew between the shards' runs.
        mut = self.path('changing-inputs')
        os.makedirs(mut)
        for name in ('a.pcap', 'b.pcap'):
            shutil.copy(os.path.join(CORPUS, 'tornet', 'obfs4-s5', 'client.pcap'),
                        os.path.join(mut, name))
        grown = [self.path('grown0'), self.path('grown1')]
        self.analyze(grown[0], '--shard', '0/2', inputs=[mut])
        with open(os.path.join(mut, 'b.pcap'), 'ab') as f:
            f.write(b'\0' * 16)
        self.analyze(grown[1], '--shard', '1/2', inputs=[mut], check=False)
        self.assert_refused(grown, grown[1], 'other inputs')
        # Another version: the version string in partial.bin changed.
        ver = self.path('other-version')
        shutil.copytree(parts[3], ver)
        with open(os.path.join(ver, 'partial.bin'), 'rb') as f:
            data = f.read()
        with open(os.path.join(ver, 'partial.bin'), 'wb') as f:
            f.write(data.replace(b'\xa50.1.0', b'\xa59.9.9', 1))
        self.assert_refused(parts[:3] + [ver], ver, 'tortrace 9.9.9')
        # A damaged flows.msgpack: cut short, or one byte changed (its size and XXH3 are
        # in partial.bin).
        cut = self.path('cut-flows')
        reader = max(parts, key=lambda p: os.path.getsize(os.path.join(p, 'flows.msgpack')))
        shutil.copytree(reader, cut)
        fl = os.path.join(cut, 'flows.msgpack')
        os.truncate(fl, os.path.getsize(fl) - 7)
        self.assert_refused([cut if x == reader else x for x in parts],
                            fl, 'but the shard wrote', 'changed or damaged')
        flip = self.path('flipped-flows')
        shutil.copytree(reader, flip)
        fl = os.path.join(flip, 'flows.msgpack')
        with open(fl, 'r+b') as f:
            f.seek(os.path.getsize(fl) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x20]))
        self.assert_refused([flip if x == reader else x for x in parts],
                            fl, 'XXH3', 'changed or damaged')
        out = self.path('never-written')
        self.merge(parts[:3], out, check=False)
        self.assertFalse(os.path.exists(os.path.join(out, 'report.json')))

    def test_failing_shard_leaves_no_part(self):
        blocker = self.path('a-file')
        open(blocker, 'w').close()
        p = self.analyze(os.path.join(blocker, 'out'), '--shard', '0/2', check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('cannot create', p.stderr)
        p = self.analyze(self.path('bad-shard'), '--shard', '2/2', check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn('--shard', p.stderr)

    def test_rerun_shard_replaces_its_part(self):
        """A requeued shard writes the same part again (partial.bin is removed first and
        written last)."""
        part = self.path('requeued')
        self.analyze(part, '--shard', '1/2')
        with open(os.path.join(part, 'partial.bin'), 'rb') as f:
            first = f.read()
        self.analyze(part, '--shard', '1/2')
        with open(os.path.join(part, 'partial.bin'), 'rb') as f:
            self.assertEqual(f.read(), first)


def main():
    global TORTRACE, CORPUS, WORK
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    TORTRACE, CORPUS, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
    if not os.path.isdir(os.path.join(CORPUS, 'tornet', 'default-s1')):
        print('skipped: no corpus at %s' % CORPUS)
        sys.exit(77)
    if not shutil.which('editcap'):
        print('skipped: editcap (wireshark-common) is missing')
        sys.exit(77)
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)


if __name__ == '__main__':
    main()
