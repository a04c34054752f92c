"""Carving: `analyze --write-pcap FILE` writes every packet of the flows with a verdict to
one pcap, in time order, with the original bytes and timestamps.

Each carve is checked against the inputs read here with a small pcap reader: the carved
records are exactly the input records whose 5-tuple and time fall in a flow with a verdict
(from `tortrace export --jsonl`), in time order, byte for byte; their number is the sum of
those flows' pkts_fwd + pkts_rev; tcpdump and tshark open the file. The carve is the same
for -j 1 and -j 3, for the sample cut into rotated files, gzip-compressed, as pcapng and as
a nanosecond pcap (whose carve keeps nanoseconds). A path that cannot be written fails
before the analysis; a write that fails during the carve leaves no file, keeps the
analysis's outputs and a previous FILE, and exits 1.

usage: test_carve.py TORTRACE SAMPLE_PCAP CORPUS [unittest args]"""
import gzip
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import TempDirCase  # noqa: E402

TORTRACE = SAMPLE = CORPUS = None


def read_pcap(path):
    """(is_ns, linktype, [(ts_ns, caplen, wirelen, data)]) of a classic pcap (either byte
    order, microseconds or nanoseconds)."""
    with open(path, 'rb') as f:
        d = f.read()
    magic = struct.unpack('<I', d[:4])[0]
    e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    magic = struct.unpack(e + 'I', d[:4])[0]
    if magic not in (0xa1b2c3d4, 0xa1b23c4d):
        raise ValueError('%s: not a classic pcap' % path)
    ns = magic == 0xa1b23c4d
    linktype = struct.unpack(e + 'I', d[20:24])[0] & 0x03ffffff
    off, recs = 24, []
    while off + 16 <= len(d):
        sec, frac, caplen, wirelen = struct.unpack(e + 'IIII', d[off:off + 16])
        recs.append((sec * 10**9 + (frac if ns else frac * 1000), caplen, wirelen,
                     d[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    if off != len(d):
        raise ValueError('%s: %d trailing bytes' % (path, len(d) - off))
    return ns, linktype, recs


def write_pcap(path, recs, ns=False, linktype=1):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b23c4d if ns else 0xa1b2c3d4, 2, 4, 0, 0, 262144,
                            linktype))
        for ts, caplen, wirelen, data in recs:
            frac = ts % 10**9 if ns else ts % 10**9 // 1000
            f.write(struct.pack('<IIII', ts // 10**9, frac, caplen, wirelen) + data)


def five_tuple(linktype, data):
    """(proto, (ip, port), (ip, port)) of an Ethernet (VLAN too) or raw IP frame carrying
    TCP or UDP, else None."""
    if linktype == 1:
        off, et = 14, data[12:14]
        while et in (b'\x81\x00', b'\x88\xa8'):
            et, off = data[off + 2:off + 4], off + 4
        if et == b'\x08\x00':
            ver = 4
        elif et == b'\x86\xdd':
            ver = 6
        else:
            return None
    elif linktype in (101, 12, 14):
        off, ver = 0, data[0] >> 4
    else:
        return None
    if ver == 4:
        ihl, proto = (data[off] & 15) * 4, data[off + 9]
        src, dst, l4 = data[off + 12:off + 16], data[off + 16:off + 20], off + ihl
    elif ver == 6:
        proto, src, dst, l4 = data[off + 6], data[off + 8:off + 24], data[off + 24:off + 40], \
            off + 40
    else:
        return None
    if proto not in (6, 17) or len(data) < l4 + 4:
        return None
    sp, dp = struct.unpack('>HH', data[l4:l4 + 4])
    return proto, (bytes(src), sp), (bytes(dst), dp)


def ip_bytes(s):
    import ipaddress
    return ipaddress.ip_address(s).packed


class Carve(TempDirCase):
    @classmethod
    def setUpClass(cls):
        cls.ns, cls.linktype, cls.recs = read_pcap(SAMPLE)
        cls.relays = os.path.join(os.path.dirname(SAMPLE), 'consensus')
        if not os.path.isdir(cls.relays):
            cls.relays = None

    def analyze(self, paths, carve, *opts, out=None, relays=None, want_rc=0, **kw):
        out = out or self.out
        args = [TORTRACE, 'analyze', '--no-hash', '-o', out, '--write-pcap', carve]
        relays = relays or self.relays
        if relays:
            args += ['--relays', relays]
        p = subprocess.run(args + list(opts) + list(paths), capture_output=True, text=True,
                           timeout=600, **kw)
        self.assertEqual(p.returncode, want_rc, p.stderr)
        return p

    def verdict_flows(self, out=None):
        p = subprocess.run([TORTRACE, 'export', '--jsonl',
                            os.path.join(out or self.out, 'flows.msgpack')],
                           capture_output=True, text=True, check=True)
        flows = [json.loads(line) for line in p.stdout.splitlines()]
        return [f for f in flows if f['verdict'] != 'none']

    def expected(self, flows, recs, linktype):
        """The records of recs that belong to one of flows, in time order (stable)."""
        keys = {}
        for f in flows:
            a = (ip_bytes(f['src_ip']), f['src_port'])
            b = (ip_bytes(f['dst_ip']), f['dst_port'])
            k = (6 if f['proto'] == 'tcp' else 17,) + tuple(sorted((a, b)))
            keys.setdefault(k, []).append((round(f['first_ts'] * 1e6),
                                           round(f['last_ts'] * 1e6)))
        out = []
        for r in recs:
            t = five_tuple(linktype, r[3])
            if not t:
                continue
            k = (t[0],) + tuple(sorted(t[1:]))
            us = r[0] // 1000
            if any(lo <= us <= hi for lo, hi in keys.get(k, ())):
                out.append(r)
        return sorted(out, key=lambda r: r[0])

    def check_carve(self, carve, flows, recs, linktype=1):
        """The checks every carve must pass; returns its records."""
        ns, lt, got = read_pcap(carve)
        self.assertEqual(lt, linktype)
        self.assertTrue(flows, 'no flow has a verdict: nothing would be checked')
        self.assertEqual(len(got), sum(f['pkts_fwd'] + f['pkts_rev'] for f in flows))
        self.assertEqual([r[0] for r in got], sorted(r[0] for r in got),
                         'timestamps go backwards')
        want = self.expected(flows, recs, linktype)
        if not ns:  # the inputs' nanoseconds (if any) are cut to microseconds
            want = [(r[0] // 1000 * 1000,) + r[1:] for r in want]
        self.assertEqual(len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            self.assertEqual(g, w, 'carved packet %d differs from the input' % i)
        p = subprocess.run(['tcpdump', '-nr', carve], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        if shutil.which('tshark'):
            p = subprocess.run(['tshark', '-n', '-r', carve, '-T', 'fields', '-e',
                                'frame.number'], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(len(p.stdout.split()), len(got))
        self.assertFalse(os.path.exists(carve + '.tmp'))
        return got

    def carve_bytes(self, carve):
        with open(carve, 'rb') as f:
            return f.read()

    def test_sample(self):
        carve = os.path.join(self.dir, 'c.pcap')
        p = self.analyze([SAMPLE], carve)
        flows = self.verdict_flows()
        got = self.check_carve(carve, flows, self.recs)
        self.assertIn('carved %d packets of %d flows to %s' % (len(got), len(flows), carve),
                      p.stderr)
        self.assertEqual(self.report()['options']['write_pcap'], carve)
        # -q: nothing on stderr, the same carve.
        c2 = os.path.join(self.dir, 'q.pcap')
        p = self.analyze([SAMPLE], c2, '-q', out=os.path.join(self.dir, 'o2'))
        self.assertEqual(p.stderr, '')
        self.assertEqual(self.carve_bytes(carve), self.carve_bytes(c2))

    def test_min_score_selects(self):
        """--min-score between the lowest and the highest score of the verdicts: only the
        flows that keep a verdict are carved."""
        self.analyze([SAMPLE], os.path.join(self.dir, 'all.pcap'),
                     out=os.path.join(self.dir, 'oa'))
        before = self.verdict_flows(os.path.join(self.dir, 'oa'))
        scores = [f['score'] for f in before if f['verdict'] != 'tor-exit-side']
        self.assertLess(min(scores), max(scores), 'the sample needs two different scores')
        threshold = (min(scores) + max(scores)) / 2
        carve = os.path.join(self.dir, 'c.pcap')
        self.analyze([SAMPLE], carve, '--min-score', '%.9f' % threshold)
        flows = self.verdict_flows()
        self.assertLess(len(flows), len(before))
        self.assertTrue(all(f['score'] >= threshold or f['verdict'] == 'tor-exit-side'
                            for f in flows))
        self.check_carve(carve, flows, self.recs)

    def test_overlapping_captures_are_merged(self):
        """The sample split by flow into two files that overlap in time (two capture
        sets, as from two sensors): the carve interleaves them in time order and holds the
        packets of the whole file's carve."""
        whole = os.path.join(self.dir, 'whole.pcap')
        self.analyze([SAMPLE], whole, out=os.path.join(self.dir, 'ow'))
        # The flows with a verdict alternate between the halves; the others go by parity of
        # their lower port.
        side = {}
        for i, f in enumerate(sorted(self.verdict_flows(os.path.join(self.dir, 'ow')),
                                     key=lambda f: f['first_ts'])):
            a = (ip_bytes(f['src_ip']), f['src_port'])
            b = (ip_bytes(f['dst_ip']), f['dst_port'])
            side[tuple(sorted((a, b)))] = i % 2
        halves = ([], [])
        for r in self.recs:
            t = five_tuple(1, r[3])
            k = tuple(sorted(t[1:])) if t else None
            halves[side.get(k, k[0][1] % 2) if t else 0].append(r)
        paths = [os.path.join(self.dir, 'side%d.pcap' % i) for i in (0, 1)]
        for path, recs in zip(paths, halves):
            write_pcap(path, recs)
        c = os.path.join(self.dir, 'c.pcap')
        self.analyze(paths, c)
        self.assertEqual(len(self.report()['sets']), 2)
        got = read_pcap(c)[2]
        self.assertEqual([r[0] for r in got], sorted(r[0] for r in got))
        self.assertEqual(sorted(got), sorted(read_pcap(whole)[2]))
        self.assertTrue(any(r in halves[0] for r in got) and any(r in halves[1] for r in got))

    def test_filter(self):
        """-f drops packets from the flows; the carve drops them too."""
        carve = os.path.join(self.dir, 'c.pcap')
        self.analyze([SAMPLE], carve, '-f', 'len > 100')
        flows = self.verdict_flows()
        got = read_pcap(carve)[2]
        self.assertTrue(flows)
        self.assertEqual(len(got), sum(f['pkts_fwd'] + f['pkts_rev'] for f in flows))
        self.assertTrue(all(r[2] > 100 for r in got))

    def test_jobs(self):
        carves = []
        for j in ('1', '3'):
            c = os.path.join(self.dir, 'c%s.pcap' % j)
            self.analyze([SAMPLE], c, '-j', j, out=os.path.join(self.dir, 'o' + j))
            carves.append(self.carve_bytes(c))
        self.assertEqual(carves[0], carves[1])

    def test_rotated_equals_whole(self):
        whole = os.path.join(self.dir, 'whole.pcap')
        self.analyze([SAMPLE], whole, out=os.path.join(self.dir, 'ow'))
        folder = os.path.join(self.dir, 'rot')
        os.makedirs(folder)
        t0, pieces = self.recs[0][0], {}
        for r in self.recs:
            pieces.setdefault((r[0] - t0) // (5 * 10**9), []).append(r)
        for i, k in enumerate(sorted(pieces)):
            write_pcap(os.path.join(folder, 'cap%d.pcap' % i), pieces[k], linktype=1)
        self.assertGreater(len(pieces), 3)
        rot = os.path.join(self.dir, 'rot.pcap')
        for j in ('1', '3'):
            self.analyze([folder], rot, '-j', j, out=os.path.join(self.dir, 'or' + j))
            self.assertEqual(self.carve_bytes(whole), self.carve_bytes(rot))

    def test_gzip_pcapng_and_nanoseconds(self):
        whole = os.path.join(self.dir, 'whole.pcap')
        self.analyze([SAMPLE], whole, out=os.path.join(self.dir, 'ow'))
        gz = os.path.join(self.dir, 'sample.pcap.gz')
        with open(SAMPLE, 'rb') as f, gzip.open(gz, 'wb') as g:
            g.write(f.read())
        c = os.path.join(self.dir, 'gz.pcap')
        self.analyze([gz], c, out=os.path.join(self.dir, 'og'))
        self.assertEqual(self.carve_bytes(whole), self.carve_bytes(c))
        if shutil.which('editcap'):  # pcapng, microsecond resolution: the same carve
            ng = os.path.join(self.dir, 'sample.pcapng')
            subprocess.run(['editcap', '-F', 'pcapng', SAMPLE, ng], check=True)
            c = os.path.join(self.dir, 'ng.pcap')
            self.analyze([ng], c, out=os.path.join(self.dir, 'on'))
            self.assertEqual(self.carve_bytes(whole), self.carve_bytes(c))
        # A nanosecond pcap (timestamps moved by 123 ns): the carve keeps nanoseconds.
        nsrecs = [(r[0] + 123,) + r[1:] for r in self.recs]
        nsp = os.path.join(self.dir, 'sample-ns.pcap')
        write_pcap(nsp, nsrecs, ns=True)
        c = os.path.join(self.dir, 'ns.pcap')
        self.analyze([nsp], c, out=os.path.join(self.dir, 'ons'))
        self.assertTrue(read_pcap(c)[0], 'the carve of a nanosecond pcap is not in ns')
        got = self.check_carve(c, self.verdict_flows(os.path.join(self.dir, 'ons')), nsrecs)
        self.assertTrue(all(r[0] % 1000 == 123 for r in got))

    def test_second_link_type(self):
        """The sample and a copy as raw IP (LINKTYPE_RAW), a day later: one pcap each."""
        raw = os.path.join(self.dir, 'raw.pcap')
        day = 86400 * 10**9
        rawrecs = [(r[0] + day, r[1] - 14, r[2] - 14, r[3][14:]) for r in self.recs
                   if r[3][12:14] in (b'\x08\x00', b'\x86\xdd')]
        write_pcap(raw, rawrecs, linktype=101)
        c = os.path.join(self.dir, 'c.pcap')
        # No relay data: the verdicts then come from the traffic alone, on both days.
        p = self.analyze([SAMPLE, raw], c, relays=None)
        flows = self.verdict_flows()
        first = [f for f in flows if not f['file'].endswith('raw.pcap')]
        second = [f for f in flows if f['file'].endswith('raw.pcap')]
        if not first or not second:
            self.skipTest('no verdict without relay data on one of the days')
        self.check_carve(c, first, self.recs)
        self.check_carve(c + '.101.pcap', second, rawrecs, linktype=101)
        self.assertIn('of link type 101 to %s.101.pcap' % c, p.stderr)

    def test_reused_ports_are_not_carved(self):
        """A flow without a verdict on the 5-tuple of a flow with one, after it (the
        packets of another TCP connection of the sample, moved there): the carve holds
        the first flow only, not the later one on the same ports."""
        subprocess.run([TORTRACE, 'analyze', '-q', '--no-hash', '-o', self.out, SAMPLE],
                       capture_output=True, text=True, check=True)
        flows = [json.loads(line) for line in subprocess.run(
            [TORTRACE, 'export', '--jsonl', os.path.join(self.out, 'flows.msgpack')],
            capture_output=True, text=True, check=True).stdout.splitlines()]
        tor = next(f for f in flows if f['verdict'] != 'none' and f['proto'] == 'tcp' and
                   ':' not in f['src_ip'])
        other = next(f for f in flows if f['verdict'] == 'none' and f['candidate'] == 'none'
                     and f['proto'] == 'tcp' and f['syn_seen'] and ':' not in f['src_ip'])
        ti, tr = (ip_bytes(tor['src_ip']), tor['src_port']), \
            (ip_bytes(tor['dst_ip']), tor['dst_port'])
        oi, orr = (ip_bytes(other['src_ip']), other['src_port']), \
            (ip_bytes(other['dst_ip']), other['dst_port'])
        shift = round(tor['last_ts'] * 1e9) + 30 * 10**9 - round(other['first_ts'] * 1e9)
        moved = []
        for r in self.recs:
            t = five_tuple(1, r[3])
            if not t or t[0] != 6 or sorted(t[1:]) != sorted((oi, orr)):
                continue
            d = bytearray(r[3])
            ihl = (d[14] & 15) * 4
            src, dst = (ti, tr) if t[1] == oi else (tr, ti)
            d[26:30], d[30:34] = src[0], dst[0]
            d[14 + ihl:14 + ihl + 4] = struct.pack('>HH', src[1], dst[1])
            moved.append((r[0] + shift, r[1], r[2], bytes(d)))
        self.assertTrue(moved)
        recs = sorted(self.recs + moved, key=lambda r: r[0])
        path = os.path.join(self.dir, 'reused.pcap')
        write_pcap(path, recs)
        c = os.path.join(self.dir, 'c.pcap')
        out = os.path.join(self.dir, 'o2')
        self.analyze([path], c, '--tcp-timeout', '10', out=out)
        on_tuple = [f for f in self.verdict_flows(out) if f['src_port'] == tor['src_port'] and
                    f['dst_port'] == tor['dst_port']]
        self.assertEqual(len(on_tuple), 1, 'the moved flow must not get a verdict')
        all_flows = subprocess.run(
            [TORTRACE, 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
            capture_output=True, text=True, check=True).stdout.splitlines()
        self.assertEqual(sum(1 for line in all_flows
                             if json.loads(line)['src_port'] == tor['src_port'] and
                             json.loads(line)['dst_port'] == tor['dst_port']), 2)
        got = self.check_carve(c, self.verdict_flows(out), recs)
        self.assertFalse(set(got) & set(moved))

    def test_unwritable_fails_before_the_analysis(self):
        bad = [os.path.join(self.dir, 'no-such-folder', 'c.pcap'),  # missing folder
               os.path.join(SAMPLE, 'c.pcap'),                      # under a file
               self.dir]                                            # a folder
        for path in bad:
            p = self.analyze([SAMPLE], path, want_rc=2)
            self.assertIn(path if path == self.dir else path + '.tmp', p.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.out, 'report.json')))
        # Standard input cannot be read twice.
        with open(SAMPLE, 'rb') as f:
            p = self.analyze(['-'], os.path.join(self.dir, 'c.pcap'), want_rc=2, stdin=f)
        self.assertIn('standard input', p.stderr)
        # The output must not replace an input.
        copy = os.path.join(self.dir, 'in.pcap')
        shutil.copy(SAMPLE, copy)
        p = self.analyze([copy], copy, want_rc=2)
        self.assertIn('is one of the inputs', p.stderr)
        self.assertEqual(read_pcap(copy)[2], self.recs)

    def test_write_error_keeps_outputs(self):
        """A file-size limit below the carve but above the analysis's outputs: the carve
        fails (EFBIG), naming the file and the offset; report.json and flows.msgpack are
        there, a previous FILE is kept, no temporary file is left, exit status 1."""
        carve = os.path.join(self.dir, 'c.pcap')
        with open(carve, 'wb') as f:
            f.write(b'previous')

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))

        p = self.analyze([SAMPLE], carve, want_rc=1, preexec_fn=limit)
        self.assertRegex(p.stderr, r'cannot write %s\.tmp: File too large .*byte offset \d+'
                         % carve)
        self.assertIn('the analysis\'s outputs are kept', p.stderr)
        self.assertTrue(self.report()['files'])
        self.assertTrue(self.verdict_flows())
        with open(carve, 'rb') as f:
            self.assertEqual(f.read(), b'previous')
        self.assertFalse(os.path.exists(carve + '.tmp'))

    def test_corpus_capture(self):
        cap = os.path.join(CORPUS, 'tornet', 'obfs4-s5', 'client.pcap')
        if not os.path.exists(cap):
            self.skipTest('corpus capture %s is missing (../shared/corpus)' % cap)
        relays = os.path.join(os.path.dirname(cap), 'consensus')
        ns, lt, recs = read_pcap(cap)
        carves = []
        for j in ('1', '3'):
            c = os.path.join(self.dir, 'c%s.pcap' % j)
            out = os.path.join(self.dir, 'o' + j)
            self.analyze([cap], c, '-q', '-j', j, out=out, relays=relays)
            carves.append(self.carve_bytes(c))
        self.check_carve(c, self.verdict_flows(out), recs, linktype=lt)
        self.assertEqual(carves[0], carves[1])


if __name__ == '__main__':
    TORTRACE, SAMPLE, CORPUS = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
