#!/usr/bin/env python3
"""End-to-end tests of how tortrace writes its outputs: a full disk keeps the previous
outputs, the external merge sort gives the same bytes as an in-memory sort, and the
quick-start script exits 0. usage: test_outputs.py TORTRACE SAMPLE_PCAP SOURCE_ROOT"""
import clitest
import glob, json, os, re, resource, shutil, signal, struct, subprocess, sys, tempfile
import unittest

TORTRACE = SAMPLE = SRCROOT = None


def run(*args, fsize=None, nofile=None, **kw):
    def limit():
        # Writes past the limit fail with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    return subprocess.run([TORTRACE, *args], capture_output=True, text=True, timeout=300,
                          preexec_fn=limit, **kw)


def many_flows_pcap(path, n, seed=0):
    """n distinct one-SYN TCP flows within 60 s of capture time (none expires)."""
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            src = 0x0a000000 | (i // 50000) | (seed << 16)
            ip = struct.pack('!BBHHHBBHII', 0x45, 0, 40, 0, 0x4000, 64, 6, 0, src, 0xc0000201)
            tcp = struct.pack('!HHIIBBHHH', 10000 + i % 50000, 443, i, 0, 0x50, 0x02, 0xffff,
                              0, 0)
            frame = b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00' + ip + tcp
            f.write(struct.pack('<IIII', 1715965200 + i * 60 // n, i % 1000000, len(frame),
                                len(frame)))
            f.write(frame)


def read(path, mode='rb'):
    with open(path, mode) as f:
        return f.read()


def snapshot(d):
    return {n: read(os.path.join(d, n)) for n in sorted(os.listdir(d))}


class Outputs(clitest.TempDirCase):
    def good_first_run(self):
        r = run('analyze', '-q', '--no-progress', '-j1', '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        before = snapshot(self.out)
        self.assertEqual(sorted(before), ['flows.msgpack', 'report.html', 'report.json'])
        return before

    def assert_kept(self, before, r, what):
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(snapshot(self.out), before, 'previous outputs changed')
        self.assertIn('cannot write ' + os.path.join(self.out, what), r.stderr)
        self.assertIn('the previous outputs are kept', r.stderr)

    def test_full_disk_on_flows_keeps_previous_outputs(self):
        before = self.good_first_run()
        big = os.path.join(self.dir, 'big.pcap')
        many_flows_pcap(big, 2000)
        r = run('analyze', '-q', '--no-progress', '-j1', '-o', self.out, big,
                fsize=len(before['flows.msgpack']))
        self.assert_kept(before, r, 'flows.msgpack')
        self.assertIn('File too large', r.stderr)

    def test_full_disk_on_report_keeps_the_pair(self):
        # flows.msgpack fits, report.json does not: the new flows must not be left beside
        # the old report (nor the old flows beside no report). Many captures without
        # packets make a small flows.msgpack and a large report.
        before = self.good_first_run()
        d = os.path.join(self.dir, 'in')
        os.mkdir(d)
        for i in range(60):
            with open(os.path.join(d, 'empty-%02d.pcap' % i), 'wb') as f:
                f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        probe = os.path.join(self.dir, 'probe')
        r = run('analyze', '-q', '--no-progress', '-j1', '-o', probe, d)
        self.assertEqual(r.returncode, 0, r.stderr)
        flows = os.path.getsize(os.path.join(probe, 'flows.msgpack'))
        report = os.path.getsize(os.path.join(probe, 'report.json'))
        self.assertGreater(report, flows + 8192)
        r = run('analyze', '-q', '--no-progress', '-j1', '-o', self.out, d,
                fsize=(flows + report) // 2)
        self.assert_kept(before, r, 'report.json')

    def test_full_disk_while_spilling_keeps_previous_outputs(self):
        before = self.good_first_run()
        big = os.path.join(self.dir, 'big.pcap')
        many_flows_pcap(big, 30000)
        r = run('analyze', '-q', '--no-progress', '-j1', '--sort-budget', '1', '-o', self.out,
                big, fsize=256 * 1024)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(snapshot(self.out), before, 'previous outputs changed')
        self.assertIn('sorted run', r.stderr)
        self.assertIn('the previous outputs are kept', r.stderr)

    def test_failed_rename_leaves_no_temporary_files_and_no_stale_report(self):
        self.good_first_run()
        flows = os.path.join(self.out, 'flows.msgpack')
        os.unlink(flows)
        os.makedirs(os.path.join(flows, 'x'))  # rename(2) onto a non-empty folder fails
        r = run('analyze', '-q', '--no-progress', '-j1', '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 1, r.stderr)
        # no report.json or report.html describing flows that are not there, nothing
        # temporary
        self.assertEqual(sorted(os.listdir(self.out)), ['flows.msgpack'])
        self.assertIn('cannot rename the outputs', r.stderr)

    def test_full_tmpfs(self):
        if os.geteuid() != 0:
            self.skipTest('mounting a small tmpfs needs root')
        mnt = os.path.join(self.dir, 'mnt')
        os.mkdir(mnt)
        m = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt],
                           capture_output=True, text=True)
        if m.returncode != 0:
            self.skipTest('cannot mount a tmpfs: ' + m.stderr.strip())
        try:
            out = os.path.join(mnt, 'o')
            r = run('analyze', '-q', '--no-progress', '-j1', '-o', out, SAMPLE)
            self.assertEqual(r.returncode, 0, r.stderr)
            before = snapshot(out)
            big = os.path.join(self.dir, 'big.pcap')
            many_flows_pcap(big, 30000)
            r = run('analyze', '-q', '--no-progress', '-j1', '-o', out, big)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(snapshot(out), before)
            self.assertIn('cannot write ' + os.path.join(out, 'flows.msgpack') +
                          ': No space left on device; the previous outputs are kept', r.stderr)
            e = subprocess.run([TORTRACE, 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
                               capture_output=True, text=True)
            self.assertEqual(e.returncode, 0, e.stderr)
        finally:
            subprocess.run(['umount', mnt])

    def test_spilled_merge_is_byte_identical_with_few_descriptors(self):
        # --sort-budget 1 (MiB) with 400 k flows (~85 runs) makes well over 64 runs: merged in passes,
        # with at most 64 descriptors for the whole process.
        big = os.path.join(self.dir, 'many.pcap')
        many_flows_pcap(big, 400000)
        a, b = os.path.join(self.dir, 'a'), os.path.join(self.dir, 'b')
        r = run('analyze', '-q', '--no-progress', '-j1', '-o', a, big)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run('analyze', '-v', '-v', '--no-progress', '-j1', '--sort-budget', '1', '-o', b, big,
                nofile=64)
        self.assertEqual(r.returncode, 0, r.stderr)
        runs = [int(x) for x in re.findall(r'merging (\d+) sorted runs', r.stderr)]
        self.assertTrue(runs and max(runs) > 64, r.stderr[-2000:])
        self.assertEqual(read(os.path.join(a, 'flows.msgpack')),
                         read(os.path.join(b, 'flows.msgpack')))
        ra, rb = (json.loads(read(os.path.join(d, 'report.json'), 'r')) for d in (a, b))
        del ra['run'], rb['run']  # times, memory and the command line
        self.assertEqual(ra, rb)
        self.assertEqual(glob.glob(os.path.join(b, '.tortrace-sort-*')), [])

    def test_progress_bar_is_drawn_by_the_cli(self):
        def stderr_of(*args):
            p = subprocess.run([TORTRACE, 'analyze', *args, '-o', self.out, SAMPLE],
                               capture_output=True, timeout=120)  # bytes: keep the \r
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stderr.decode()
        err = stderr_of('--progress')
        self.assertIn('\r\x1b[Kfiles 1/1', err)
        self.assertRegex(err, r'100%[^\n]*/s\n')  # the final line, then the summary
        self.assertIn('1 files', err.splitlines()[-1])
        for quiet in (['--no-progress'], ['-q', '--progress']):
            self.assertNotIn('\r', stderr_of(*quiet), quiet)

    def test_quickstart_exits_0(self):
        # The script in a tree of its own, with a build that is already there.
        t = os.path.join(self.dir, 'tree')
        for d in ('tools', 'build', 'bin', 'samples/tornet-default-s1'):
            os.makedirs(os.path.join(t, d))
        shutil.copy(os.path.join(SRCROOT, 'tools', 'quickstart.sh'), os.path.join(t, 'tools'))
        for stub in ('tools/install-deps.sh', 'bin/ninja'):
            with open(os.path.join(t, stub), 'w') as f:
                f.write('#!/bin/sh\nexit 0\n')
            os.chmod(os.path.join(t, stub), 0o755)
        os.symlink(os.path.abspath(TORTRACE), os.path.join(t, 'build', 'tortrace'))
        os.symlink(os.path.abspath(SAMPLE),
                   os.path.join(t, 'samples', 'tornet-default-s1', 'tornet-client.pcap'))
        env = dict(os.environ, PATH=os.path.join(t, 'bin') + os.pathsep + os.environ['PATH'])
        for _ in range(5):  # SIGPIPE is a race: try a few times
            p = subprocess.run(['bash', os.path.join(t, 'tools', 'quickstart.sh')], env=env,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn('report: out/sample/report.json', p.stdout)
            lines = p.stdout.splitlines()
            first = lines.index('proto,src_ip,src_port,dst_ip,dst_port,first_ts,last_ts,duration_s,'
                                'packets,bytes')
            self.assertEqual(len(lines) - first, 5, p.stdout)


if __name__ == '__main__':
    TORTRACE, SAMPLE, SRCROOT = sys.argv[1], sys.argv[2], sys.argv[3]
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
