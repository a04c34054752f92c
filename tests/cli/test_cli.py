#!/usr/bin/env python3
"""End-to-end tests of the tortrace command: exit statuses, error lines, outputs, export,
compressed input and Ctrl-C. usage: test_cli.py TORTRACE SAMPLE_PCAP"""
import clitest
import csv, gzip, io, json, os, signal, struct, subprocess, sys, tempfile, threading, time
import unittest

TORTRACE = SAMPLE = None


def run(*args, **kw):
    return subprocess.run([TORTRACE, *args], capture_output=True, text=True, timeout=120, **kw)


def pcap_header(linktype=1):
    return struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, linktype)


class Cli(clitest.TempDirCase):
    def test_usage_errors_exit_2(self):
        for args in ([], ['analyze'], ['analyze', '-j', '0', SAMPLE], ['bogus'],
                     ['analyze', '--ring-slots', '100', SAMPLE], ['export', '--xml', 'x'],
                     ['analyze', '-f', 'not a filter (', '-o', self.out, SAMPLE],
                     ['analyze', '--min-score', '0', SAMPLE],
                     ['analyze', '--min-score', '1.5', SAMPLE],
                     ['analyze', '--min-score', 'half', SAMPLE],
                     ['analyze', '--without-evidence', 'Z9', SAMPLE]):
            r = run(*args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
            self.assertTrue(r.stderr.strip(), f"{args}: no message")

    def test_help_and_version(self):
        r = run('analyze', '--help')
        self.assertEqual(r.returncode, 0)
        for opt in ('--out', '--jobs', '--filter', '--tcp-timeout', '--udp-timeout',
                    '--ring-slots', '--sort-budget', '--progress', '--quiet', '--min-score'):
            self.assertIn(opt, r.stdout)
        self.assertRegex(run('version').stdout, r'^tortrace \d+\.\d+\.\d+')

    def test_sample_reads_clean_and_exports(self):
        r = run('analyze', '-q', '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, '')
        rep = self.report()
        self.assertEqual(rep['schema'], 'tortrace.report/1')
        self.assertTrue(rep['complete'])
        f = rep['files'][0]
        self.assertIsNone(f['error'])
        self.assertFalse(f['partial'])
        self.assertEqual((f['packets'], f['flows']), (rep['totals']['packets'], rep['totals']['flows']))
        flows = os.path.join(self.out, 'flows.msgpack')
        lines = run('export', '--jsonl', flows).stdout.splitlines()
        self.assertEqual(len(lines), rep['totals']['flows'])
        first = json.loads(lines[0])
        for k in ('proto', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'first_ts', 'last_ts',
                  'packets', 'bytes', 'pkts_fwd', 'pkts_rev', 'bytes_fwd', 'bytes_rev'):
            self.assertIn(k, first)
        rows = list(csv.DictReader(io.StringIO(run('export', '--csv', flows).stdout)))
        self.assertEqual(len(rows), len(lines))
        self.assertEqual(sum(int(r['packets']) for r in rows), rep['totals']['tcp_packets'] +
                         rep['totals']['udp_packets'])
        # no temporary files left behind
        self.assertEqual(sorted(os.listdir(self.out)),
                         ['flows.msgpack', 'report.html', 'report.json'])

    def test_min_score_and_candidates_in_the_report(self):
        r = run('analyze', '-q', '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = self.report()
        self.assertEqual(rep['options']['min_score'], 0.5)
        self.assertNotIn('without_evidence', rep['options'])
        for where in (rep['totals'], rep['files'][0]):
            self.assertIn('total', where['candidates'])
            self.assertNotIn('tor-exit-side', where['candidates'])
        self.assertEqual(rep['candidate_flows_total'], len(rep['candidate_flows']))
        line = run('export', '--jsonl', os.path.join(self.out, 'flows.msgpack')).stdout
        self.assertIn('"candidate":', line.splitlines()[0])
        r = run('analyze', '-q', '-o', self.out, '--min-score', '0.9',
                '--without-evidence', 'B3,G1', SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = self.report()
        self.assertEqual(rep['options']['min_score'], 0.9)
        self.assertEqual(rep['options']['without_evidence'], ['B3', 'G1'])

    def test_bad_files_one_line_each_and_exit_1(self):
        d = os.path.join(self.dir, 'in')
        os.mkdir(d)
        good = open(SAMPLE, 'rb').read()
        open(os.path.join(d, '1-good.pcap'), 'wb').write(good)
        open(os.path.join(d, '2-junk.txt'), 'w').write('hello\n')
        open(os.path.join(d, '3-empty.pcap'), 'wb').close()
        open(os.path.join(d, '4-cut.pcap'), 'wb').write(good[:len(good) // 2])
        frame = bytes(14) + bytes([0x45]) + bytes(39)
        open(os.path.join(d, '5-linktype.pcap'), 'wb').write(
            pcap_header(147) + struct.pack('<IIII', 1, 0, len(frame), len(frame)) + frame)
        r = run('analyze', '-q', '-o', self.out, d, os.path.join(self.dir, 'missing.pcap'))
        self.assertEqual(r.returncode, 1)
        errs = r.stderr.strip().splitlines()
        self.assertEqual(len(errs), 5, r.stderr)
        for name in ('2-junk.txt', '3-empty.pcap', '4-cut.pcap', '5-linktype.pcap', 'missing.pcap'):
            self.assertTrue(any(name in e for e in errs), name)
        files = {os.path.basename(f['path']): f for f in self.report()['files']}
        self.assertIsNone(files['1-good.pcap']['error'])
        self.assertIn('byte offset', files['4-cut.pcap']['error'])
        self.assertTrue(files['4-cut.pcap']['partial'])
        self.assertGreater(files['4-cut.pcap']['packets'], 0)
        self.assertIn('link type 147', files['5-linktype.pcap']['error'])
        self.assertEqual(files['5-linktype.pcap']['packets'], 1)
        self.assertIn('No such file', files['missing.pcap']['error'])

    def test_globs_and_folders(self):
        d = os.path.join(self.dir, 'in', 'deeper')
        os.makedirs(d)
        data = open(SAMPLE, 'rb').read()
        for name in ('a.pcap', 'b.pcap', 'notes.txt'):
            open(os.path.join(d, name), 'wb').write(data if name.endswith('.pcap') else b'x')
        r = run('analyze', '-q', '-o', self.out, os.path.join(self.dir, 'in', '*', '*.pcap'))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([os.path.basename(f['path']) for f in self.report()['files']],
                         ['a.pcap', 'b.pcap'])
        r = run('analyze', '-q', '-o', self.out, os.path.join(self.dir, 'in'))
        self.assertEqual(r.returncode, 1)  # notes.txt is not a capture
        self.assertEqual([os.path.basename(f['path']) for f in self.report()['files']],
                         ['a.pcap', 'b.pcap', 'notes.txt'])

    def test_rotated_names_in_natural_order(self):
        # tcpdump -C names rotated files cap, cap1, ..., cap10: cap2 comes before cap10,
        # in a folder and through a glob alike
        d = os.path.join(self.dir, 'rot')
        os.makedirs(d)
        data = open(SAMPLE, 'rb').read()
        names = ['cap.pcap', 'cap1.pcap', 'cap2.pcap', 'cap9.pcap', 'cap10.pcap', 'cap11.pcap']
        for name in reversed(names):
            open(os.path.join(d, name), 'wb').write(data)
        for arg in (d, os.path.join(d, 'cap*.pcap')):
            r = run('analyze', '-q', '-o', self.out, arg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual([os.path.basename(f['path']) for f in self.report()['files']],
                             names)

    def test_standard_input(self):
        data = open(SAMPLE, 'rb').read()
        p = subprocess.run([TORTRACE, 'analyze', '-q', '-o', self.out, '-'], input=data,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        f = self.report()['files'][0]
        self.assertEqual(f['path'], '-')
        out2 = os.path.join(self.dir, 'out2')
        run('analyze', '-q', '-o', out2, SAMPLE)
        b = json.load(open(os.path.join(out2, 'report.json')))['files'][0]
        self.assertEqual((f['packets'], f['flows']), (b['packets'], b['flows']))

    def test_sha256_provenance(self):
        import hashlib
        r = run('analyze', '-q', '--sha256', '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = self.report()
        self.assertTrue(rep['options']['sha256'])
        self.assertEqual(rep['files'][0]['sha256'],
                         hashlib.sha256(open(SAMPLE, 'rb').read()).hexdigest())
        run('analyze', '-q', '--no-hash', '-o', self.out, SAMPLE)
        self.assertIsNone(self.report()['files'][0]['sha256'])

    def test_relays_lookup_at_the_capture_date(self):
        cons = os.path.join(os.path.dirname(SAMPLE), 'consensus')
        r = run('relays', 'lookup', '--relays', cons, '10.77.0.21:9100', '--at',
                '2026-11-26T14:21:30Z')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('EC77878303B41F21C816B38F931B7BED9B17247C', r.stdout)
        self.assertIn('guard1', r.stdout)
        r = run('relays', 'lookup', '--relays', cons, '10.77.0.21:9100', '--at', '2026-12-26')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(run('relays', 'lookup').returncode, 2)

    def test_gzip_input_gives_the_same_flows(self):
        gz = os.path.join(self.dir, 'sample.pcap.gz')
        with gzip.open(gz, 'wb') as f:
            f.write(open(SAMPLE, 'rb').read())
        self.assertEqual(run('analyze', '-q', '-o', self.out, gz).returncode, 0)
        a = self.report()['files'][0]
        self.assertEqual(a['compression'], 'gzip')
        out2 = os.path.join(self.dir, 'out2')
        run('analyze', '-q', '-o', out2, SAMPLE)
        b = json.load(open(os.path.join(out2, 'report.json')))['files'][0]
        for k in ('packets', 'bytes', 'flows', 'flows_tcp', 'flows_udp', 'first_ts', 'last_ts'):
            self.assertEqual(a[k], b[k], k)

    def test_ctrl_c_drains_and_marks_the_report_incomplete(self):
        fifo = os.path.join(self.dir, 'live.pcap')
        os.mkfifo(fifo)
        p = subprocess.Popen([TORTRACE, 'analyze', '-q', '-o', self.out, fifo],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        data = open(SAMPLE, 'rb').read()
        with open(fifo, 'wb') as w:
            w.write(data[:200000])
            w.flush()
            time.sleep(0.3)
            p.send_signal(signal.SIGINT)
            time.sleep(0.2)
            # the reader checks the flag between records: feed it more to notice
            try:
                w.write(data[200000:])
            except BrokenPipeError:
                pass
        p.wait(timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr.read())
        rep = self.report()
        self.assertFalse(rep['complete'])
        self.assertGreater(rep['totals']['packets'], 0)


if __name__ == '__main__':
    TORTRACE, SAMPLE = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
