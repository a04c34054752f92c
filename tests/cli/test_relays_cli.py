#!/usr/bin/env python3
"""End-to-end tests of relay data handling in the tortrace command: unusable relay data is
announced and recorded in the report, a FIFO as the relay cache fails fast, a tampered
cache does not hang a lookup, a .tar.xz of consensuses is read as the folder it came from.
usage: test_relays_cli.py TORTRACE SAMPLE_PCAP CORPUS_DIR CACHE_REHASH"""
import clitest
import json, os, random, struct, subprocess, sys, tempfile, unittest

TORTRACE = SAMPLE = CORPUS = REHASH = None
CONSENSUS = 'relays/consensus-2017-03-10T10-microdesc'


def run(*args, timeout=60):
    return subprocess.run([TORTRACE, *args], capture_output=True, text=True, timeout=timeout)


class RelaysCli(clitest.TempDirCase):
    def consensus(self):
        path = os.path.join(CORPUS, CONSENSUS)
        if not os.path.exists(path):
            self.skipTest(f'corpus file {path} not found: skipped (needs ../shared/corpus)')
        return path

    def unusable(self):
        """A folder of files that hold no relay entries: empty, binary, a header only."""
        d = os.path.join(self.dir, 'relays')
        os.mkdir(d)
        open(os.path.join(d, 'empty'), 'wb').close()
        rnd = random.Random(1)
        with open(os.path.join(d, 'garbage.bin'), 'wb') as f:
            f.write(bytes(rnd.getrandbits(8) for _ in range(1 << 16)))
        with open(os.path.join(d, 'notes.txt'), 'w') as f:
            f.write('# no addresses here\n')
        return d

    def test_analyze_with_unusable_relay_data_warns_and_reports_unused(self):
        d = self.unusable()
        r = run('analyze', '-j1', '--relays', d, '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f'relay data {d} holds no relay entries: 3 files, none a consensus, '
                      'exit list or IP list; continuing without relay data', r.stderr)
        rd = self.report()['options']['relay_data']
        self.assertEqual(rd['path'], d)
        self.assertIs(rd['used'], False)
        self.assertTrue(rd['reason'])
        self.assertNotIn('valid_from', rd)  # no 1970-01-01 validity

    def test_analyze_with_relay_data_reports_used(self):
        cons = self.consensus()
        r = run('analyze', '-q', '-j1', '--relays', cons, '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        rd = self.report()['options']['relay_data']
        self.assertIs(rd['used'], True)
        self.assertEqual(rd['path'], cons)
        self.assertGreater(rd['relays'], 1000)

    def test_analyze_without_relay_data_reports_null(self):
        r = run('analyze', '-q', '-j1', '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNone(self.report()['options']['relay_data'])

    def test_relays_info_with_unusable_relay_data_warns(self):
        d = self.unusable()
        r = run('relays', 'info', '--relays', d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f'relay data {d} holds no relay entries: 3 files, none a consensus',
                      r.stderr)
        r = run('relays', 'info', '--relays', self.consensus())
        self.assertNotIn('no relay entries', r.stderr)

    def sample_tarball(self):
        """The sample's consensus folder as a CollecTor-like .tar.xz (members in name order)."""
        folder = os.path.join(os.path.dirname(SAMPLE), 'consensus')
        tarball = os.path.join(self.dir, 'consensuses-2026-11.tar.xz')
        names = sorted(os.listdir(folder))
        tar = subprocess.run(['tar', '-C', os.path.dirname(folder), '-cf', '-',
                              *[os.path.join('consensus', n) for n in names]],
                             capture_output=True, check=True).stdout
        with open(tarball, 'wb') as f:
            f.write(subprocess.run(['xz', '-6'], input=tar, capture_output=True,
                                   check=True).stdout)
        return folder, tarball, names

    def test_relays_info_lists_archive_members(self):
        folder, tarball, names = self.sample_tarball()
        r = run('relays', 'info', '--relays', tarball, '--files')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('documents:  3 (ns 1, microdesc 2, exit-list 0, ip-list 0); 1 files '
                      '(1 compressed or archives), 0 skipped, 0 failed', r.stdout)
        for n in names:
            self.assertIn(f'{tarball}:consensus/{n}\n', r.stdout)
        j = json.loads(run('relays', 'info', '--relays', tarball, '--json', '--files').stdout)
        self.assertEqual((j['files'], j['archives'], j['documents']), (1, 1, 3))
        self.assertEqual([f['path'] for f in j['file_list']],
                         [f'{tarball}:consensus/{n}' for n in names])
        unpacked = json.loads(run('relays', 'info', '--relays', folder, '--json').stdout)
        self.assertEqual(j['digest'], unpacked['digest'], 'digest of the documents, not the xz')

    def test_analyze_with_archive_gives_the_folders_verdicts(self):
        folder, tarball, _ = self.sample_tarball()
        reports = []
        for i, relays in enumerate((folder, tarball)):
            out = os.path.join(self.dir, f'out{i}')
            r = run('analyze', '-q', '-j1', '--relays', relays, '-o', out, SAMPLE)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, 'report.json')) as f:
                reports.append(json.load(f))
        a, b = reports
        self.assertGreater(a['totals']['verdicts']['tor'], 0)
        self.assertEqual(a['totals'], b['totals'])
        self.assertEqual(a['relays'], b['relays'])
        flows = lambda rep: [(f['src_ip'], f['src_port'], f['dst_ip'], f['dst_port'],
                              f['verdict'], f['score'], f.get('relay')) for f in rep['tor_flows']]
        self.assertEqual(flows(a), flows(b))
        ra, rb = a['options']['relay_data'], b['options']['relay_data']
        self.assertEqual(rb['path'], tarball)
        for k in ('used', 'digest_xxh3_128', 'documents', 'relays', 'valid_from', 'valid_until'):
            self.assertEqual(ra[k], rb[k], k)

    def test_fifo_as_relay_cache_exits_promptly(self):
        cons = self.consensus()
        fifo = os.path.join(self.dir, 'cache.fifo')
        os.mkfifo(fifo)
        for args in (['relays', 'info', '--relays', cons, '--cache', fifo],
                     ['relays', 'info', '--cache', fifo],
                     ['relays', 'lookup', '--relays', cons, '--cache', fifo, '192.0.2.1'],
                     ['analyze', '-j1', '--relays', cons, '--relays-cache', fifo,
                      '-o', self.out, SAMPLE]):
            try:
                r = run(*args, timeout=20)
            except subprocess.TimeoutExpired:
                self.fail(f'{args}: still running after 20 s (blocked opening the FIFO)')
            self.assertEqual(r.returncode, 2, f'{args}: {r.stderr}')
            self.assertIn(fifo, r.stderr, args)
            self.assertIn('regular file', r.stderr, args)
        self.assertTrue(os.path.exists(fifo) and not os.path.isfile(fifo), 'FIFO replaced')

    def test_fifo_among_relay_sources_is_skipped(self):
        d = os.path.join(self.dir, 'relays')
        os.mkdir(d)
        with open(os.path.join(d, 'list'), 'w') as f:
            f.write('192.0.2.9\n')
        os.mkfifo(os.path.join(d, 'pipe'))
        try:
            r = run('relays', 'lookup', '--relays', d, '192.0.2.9', timeout=20)
        except subprocess.TimeoutExpired:
            self.fail('blocked on a FIFO among the relay sources')
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_tampered_cache_is_rebuilt_not_hung(self):
        """Every hash slot occupied and the checksum recomputed (reproducer item 1): every
        lookup used to probe forever. Now the cache is refused as corrupt and rebuilt."""
        cons = self.consensus()
        cache = os.path.join(self.dir, 'relays.cache')
        r = run('relays', 'info', '--relays', cons, '--cache', cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(cache, 'rb') as f:
            b = bytearray(f.read())
        off, n = struct.unpack_from('<QQ', b, 104 + 16 * 4)  # sect[SLOTS] = (off, count)
        for i in range(n):
            struct.pack_into('<II', b, off + 8 * i, 0, 1)
        for args in (['relays', 'lookup', '--relays', cons, '--cache', cache, '192.0.2.77:443'],
                     ['analyze', '-j1', '--relays', cons, '--relays-cache', cache,
                      '-o', self.out, SAMPLE]):
            with open(cache, 'wb') as f:
                f.write(b)
            subprocess.run([REHASH, cache], check=True)
            try:
                r = run(*args, timeout=30)
            except subprocess.TimeoutExpired:
                self.fail(f'{args}: still running after 30 s (endless probe)')
            self.assertIn(r.returncode, (0, 1), r.stderr)
            self.assertIn(f'{cache}: corrupt relay cache', r.stderr)
            self.assertIn('rebuilding it from the sources', r.stderr)
            r = run('relays', 'info', '--relays', cons, '--cache', cache)
            self.assertIn('loaded from cache', r.stdout, 'the cache was rewritten')

    def test_cache_of_another_layout_is_named_so_and_rebuilt(self):
        """A cache written by another tortrace (another layout version) is not called
        corrupt: the warning names both versions, and the cache is rebuilt."""
        cons = self.consensus()
        cache = os.path.join(self.dir, 'relays-old.cache')
        self.assertEqual(run('relays', 'info', '--relays', cons, '--cache', cache).returncode, 0)
        with open(cache, 'r+b') as f:
            f.seek(8)
            (version,) = struct.unpack('<I', f.read(4))
            f.seek(8)
            f.write(struct.pack('<I', version - 1))
        r = run('relays', 'info', '--relays', cons, '--cache', cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f'relay cache of layout v{version - 1}, this tortrace reads v{version}',
                      r.stderr)
        self.assertNotIn('corrupt', r.stderr)
        r = run('relays', 'info', '--relays', cons, '--cache', cache)
        self.assertIn('loaded from cache', r.stdout, 'the cache was rewritten')

if __name__ == '__main__':
    TORTRACE, SAMPLE, CORPUS, REHASH = sys.argv[1:5]
    if not os.path.isdir(CORPUS):
        print(f'corpus {CORPUS} not found: corpus-based tests will be skipped', file=sys.stderr)
    unittest.main(argv=sys.argv[:1], verbosity=2)
