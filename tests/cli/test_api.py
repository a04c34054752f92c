#!/usr/bin/env python3
"""The C library API: docs/example.c (built against libtortrace.so) prints the hosts of the
findings callback and the flows with a verdict read back through tt_flows_*; both must
match report.json and `tortrace export`. The example also compiles from the pkg-config
file alone, as a user of an installed tortrace would build it.
usage: test_api.py EXAMPLE TORTRACE SAMPLE_PCAP BUILD_ROOT SOURCE_ROOT"""
import clitest
import json, os, re, shutil, subprocess, sys
import unittest

EXAMPLE = TORTRACE = SAMPLE = BUILD = SRC = None


class Api(clitest.TempDirCase):
    def check_example(self, exe):
        p = subprocess.run([exe, self.out, SAMPLE], capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        rep = self.report()
        hosts = re.findall(r'^host (\S+): (\d+) Tor flows, (\d+) bytes, (\d+) relays',
                           p.stdout, re.M)
        self.assertEqual([(h[0], int(h[1]), int(h[2]), int(h[3])) for h in hosts],
                         [(h['address'], h['tor_flows'], h['tor_bytes'],
                           h['relays_contacted']) for h in rep['hosts']])
        self.assertIn('%d hosts' % rep['hosts_total'], p.stdout)
        jl = subprocess.run([TORTRACE, 'export', '--jsonl',
                             os.path.join(self.out, 'flows.msgpack')],
                            capture_output=True, text=True, check=True).stdout
        want = ['flow %s:%d -> %s:%d %s %.4f in %s' % (f['src_ip'], f['src_port'], f['dst_ip'],
                                                      f['dst_port'], f['verdict'], f['score'],
                                                      f['file'])
                for f in map(json.loads, jl.splitlines()) if f['verdict'] != 'none']
        got = [l for l in p.stdout.splitlines() if l.startswith('flow ')]
        self.assertEqual(got, want)
        self.assertGreater(len(got), 0)
        self.assertIn('read ', p.stderr)  # the progress callback's final call

    def test_example_program(self):
        self.check_example(EXAMPLE)

    def test_compiles_from_pkg_config(self):
        cc = shutil.which('cc')
        pc = os.path.join(BUILD, 'meson-uninstalled')
        if not cc or not shutil.which('pkg-config') or not os.path.isdir(pc):
            self.skipTest('no cc, pkg-config or uninstalled .pc file')
        env = dict(os.environ, PKG_CONFIG_PATH=pc)
        flags = subprocess.run(['pkg-config', '--cflags', '--libs', 'tortrace'], env=env,
                               capture_output=True, text=True, check=True).stdout.split()
        exe = os.path.join(self.dir, 'example')
        sanitize = os.environ.get('TORTRACE_SANITIZE', 'none')
        if sanitize not in ('', 'none'):  # the library's runtime must come first
            flags = ['-fsanitize=' + sanitize] + flags
        c = subprocess.run([cc, '-std=c11', '-Wall', '-Werror',
                            os.path.join(SRC, 'docs', 'example.c'), '-o', exe] + flags,
                           capture_output=True, text=True)
        self.assertEqual(c.returncode, 0, c.stderr)
        libdir = [f[2:] for f in flags if f.startswith('-L')]
        os.environ['LD_LIBRARY_PATH'] = ':'.join(libdir)
        self.check_example(exe)


if __name__ == '__main__':
    EXAMPLE, TORTRACE, SAMPLE, BUILD, SRC = sys.argv[1:6]
    del sys.argv[1:]
    unittest.main(verbosity=2)
