#!/usr/bin/env python3
"""End-to-end tests of relay data handling in the tortrace command: unusable relay data is
announced and recorded in the report, a FIFO as the relay cache fails fast, a tampered
cache does not hang a lookup.
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
        off, n = struct.unpack_from('<QQ', b, 104 + 16 * 3)  # sect[SLOTS] = (off, count)
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


if __name__ == '__main__':
    TORTRACE, SAMPLE, CORPUS, REHASH = sys.argv[1:5]
    if not os.path.isdir(CORPUS):
        print(f'corpus {CORPUS} not found: corpus-based tests will be skipped', file=sys.stderr)
    unittest.main(argv=sys.argv[:1], verbosity=2)
