"""Capture sets: files that continue each other (rotated captures) are read as one
timeline. The sample capture split into 5-second files must give exactly the flows of the
whole capture (only the file fields differ); overlapping captures, a link-type change, a
gap longer than the TCP timeout and --no-chain keep files apart; -j does not matter.

usage: test_sets.py TORTRACE SAMPLE_PCAP [unittest args]"""
import json
import os
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import TempDirCase  # noqa: E402

TORTRACE = SAMPLE = None


def read_pcap(path):
    """(endianness, global header, [(ts_ns, record header, data)]) of a classic pcap."""
    with open(path, 'rb') as f:
        d = f.read()
    magic = struct.unpack('<I', d[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        e = '<'
    else:
        e = '>'
        magic = struct.unpack('>I', d[:4])[0]
    ns = magic == 0xa1b23c4d
    hdr, off, recs = d[:24], 24, []
    while off + 16 <= len(d):
        sec, frac, caplen, wirelen = struct.unpack(e + 'IIII', d[off:off + 16])
        data = d[off + 16:off + 16 + caplen]
        recs.append((sec * 10**9 + (frac if ns else frac * 1000), (sec, frac, caplen, wirelen),
                     data))
        off += 16 + caplen
    return e, ns, hdr, recs


def write_pcap(path, e, hdr, recs, linktype=None, shift_s=0):
    """Write recs (as read_pcap gives them) with the global header hdr; linktype replaces
    the header's; shift_s moves every timestamp."""
    if linktype is not None:
        hdr = hdr[:20] + struct.pack(e + 'I', linktype)
    with open(path, 'wb') as f:
        f.write(hdr)
        for _, (sec, frac, caplen, wirelen), data in recs:
            f.write(struct.pack(e + 'IIII', sec + shift_s, frac, len(data), wirelen))
            f.write(data)


class Sets(TempDirCase):
    @classmethod
    def setUpClass(cls):
        cls.e, cls.ns, cls.hdr, cls.recs = read_pcap(SAMPLE)
        cls.relays = os.path.join(os.path.dirname(SAMPLE), 'consensus')
        if not os.path.isdir(cls.relays):
            cls.relays = None

    def split(self, folder, seconds=5):
        """The sample cut into files of `seconds` each, named cap0 ... capN (natural order:
        cap2 before cap10). Returns their paths."""
        os.makedirs(folder, exist_ok=True)
        t0 = self.recs[0][0]
        pieces = {}
        for r in self.recs:
            pieces.setdefault((r[0] - t0) // (seconds * 10**9), []).append(r)
        paths = []
        for i, k in enumerate(sorted(pieces)):
            p = os.path.join(folder, 'cap%d.pcap' % i)
            write_pcap(p, self.e, self.hdr, pieces[k])
            paths.append(p)
        return paths

    def analyze(self, paths, out, *opts):
        args = [TORTRACE, 'analyze', '-q', '--no-hash', '-o', out]
        if self.relays:
            args += ['--relays', self.relays]
        p = subprocess.run(args + list(opts) + list(paths), capture_output=True, text=True,
                           timeout=300)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        return self.report(out)

    def flows(self, out, keep_files=False):
        p = subprocess.run([TORTRACE, 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
                           capture_output=True, text=True, timeout=120, check=True)
        rows = [json.loads(line) for line in p.stdout.splitlines()]
        if not keep_files:
            for r in rows:
                del r['file'], r['last_file']
        return rows

    def test_rotated_capture_equals_the_whole(self):
        paths = self.split(os.path.join(self.dir, 'rot'))
        self.assertGreaterEqual(len(paths), 8)
        whole = self.analyze([SAMPLE], os.path.join(self.dir, 'whole'))
        rot = self.analyze([os.path.join(self.dir, 'rot')], self.out)
        a, b = self.flows(os.path.join(self.dir, 'whole')), self.flows(self.out)
        self.assertGreater(len(a), 0)
        self.assertEqual(a, b)
        self.assertEqual(whole['totals']['flows'], rot['totals']['flows'])
        self.assertEqual(whole['totals']['verdicts'], rot['totals']['verdicts'])
        self.assertGreater(sum(whole['totals']['verdicts'].values()) -
                           whole['totals']['verdicts']['none'], 0, 'no Tor verdict to compare')
        self.assertEqual(len(rot['sets']), 1)
        s = rot['sets'][0]
        self.assertEqual((s['first_file'], s['last_file'], s['files']), (0, len(paths) - 1,
                                                                          len(paths)))
        self.assertEqual(s['packets'], whole['totals']['packets'])
        files = rot['files']
        self.assertEqual([f['path'] for f in files], paths)
        for f in files[1:]:
            self.assertEqual(f['set'], 0)
            self.assertRegex(f['chain'], r'^chained: starts [0-9.]+ s after the previous')
        # Each flow is counted in the file where it started.
        self.assertEqual(sum(f['flows'] for f in files), whole['totals']['flows'])
        starts = {}
        for r in self.flows(self.out, keep_files=True):
            starts[r['file']] = starts.get(r['file'], 0) + 1
            self.assertLessEqual(paths.index(r['file']), paths.index(r['last_file']))
        self.assertEqual(starts, {f['path']: f['flows'] for f in files if f['flows']})
        self.assertTrue(any(r['file'] != r['last_file']
                            for r in self.flows(self.out, keep_files=True)))

    def test_jobs_1_to_4_give_the_same_outputs(self):
        paths = self.split(os.path.join(self.dir, 'rot'), seconds=3)
        self.assertGreater(len(paths), 10)
        outs = []
        for j in (1, 2, 3, 4):
            out = os.path.join(self.dir, 'j%d' % j)
            r = self.analyze([os.path.join(self.dir, 'rot')], out, '-j', str(j))
            # Natural name order: cap2 before cap10, one set.
            self.assertEqual([f['path'] for f in r['files']], paths)
            self.assertEqual(len(r['sets']), 1)
            del r['run']
            r['options']['paths'] = None
            with open(os.path.join(out, 'flows.msgpack'), 'rb') as f:
                outs.append((json.dumps(r, sort_keys=True), f.read()))
        for o in outs[1:]:
            self.assertEqual(o[0], outs[0][0])
            self.assertEqual(o[1], outs[0][1])

    def test_no_chain_reads_each_file_alone(self):
        paths = self.split(os.path.join(self.dir, 'rot'))
        whole = self.analyze([SAMPLE], os.path.join(self.dir, 'whole'))
        rot = self.analyze(paths, self.out, '--no-chain')
        self.assertFalse(rot['options']['chain'])
        self.assertEqual(len(rot['sets']), len(paths))
        for i, f in enumerate(rot['files']):
            self.assertEqual(f['set'], i)
            if i:
                self.assertEqual(f['chain'], 'not chained: --no-chain')
        rows = self.flows(self.out, keep_files=True)
        self.assertTrue(all(r['file'] == r['last_file'] for r in rows))
        self.assertGreater(len(rows), whole['totals']['flows'])

    def test_overlapping_captures_are_not_chained(self):
        n = len(self.recs)
        a, b = os.path.join(self.dir, 'a.pcap'), os.path.join(self.dir, 'b.pcap')
        write_pcap(a, self.e, self.hdr, self.recs[:2 * n // 3])
        write_pcap(b, self.e, self.hdr, self.recs[n // 3:])
        rep = self.analyze([a, b], self.out)
        self.assertEqual(len(rep['sets']), 2)
        self.assertEqual(rep['files'][1]['set'], 1)
        self.assertRegex(rep['files'][1]['chain'],
                         r'^not chained: overlaps the previous file by [0-9.]+ s$')

    def test_a_link_type_change_breaks_the_chain(self):
        paths = self.split(os.path.join(self.dir, 'rot'), seconds=20)[:3]
        self.assertEqual(len(paths), 3)
        # The middle file as raw IP (link type 101): the Ethernet headers removed.
        _, _, _, recs = read_pcap(paths[1])
        raw = [(t, h, d[14:]) for t, h, d in recs if d[12:14] in (b'\x08\x00', b'\x86\xdd')]
        write_pcap(paths[1], self.e, self.hdr, raw, linktype=101)
        rep = self.analyze(paths, self.out)
        self.assertEqual([f['set'] for f in rep['files']], [0, 1, 2])
        self.assertEqual(rep['files'][1]['chain'],
                         'not chained: link type differs (101, previous file 1)')
        self.assertEqual(rep['files'][2]['chain'],
                         'not chained: link type differs (1, previous file 101)')

    def test_a_gap_over_the_tcp_timeout_breaks_the_chain_and_empty_files_do_not(self):
        paths = self.split(os.path.join(self.dir, 'rot'), seconds=20)[:3]
        _, _, _, recs = read_pcap(paths[2])
        write_pcap(paths[2], self.e, self.hdr, recs, shift_s=4000)
        empty = os.path.join(self.dir, 'rot', 'cap0b.pcap')  # between cap0 and cap1
        write_pcap(empty, self.e, self.hdr, [])
        rep = self.analyze([paths[0], empty, paths[1], paths[2]], self.out)
        f = rep['files']
        self.assertIsNone(f[1]['set'])
        self.assertEqual(f[1]['chain'], 'not chained: no packets (does not break a chain)')
        self.assertEqual(f[2]['set'], 0)
        self.assertRegex(f[2]['chain'], r'^chained: ')
        self.assertEqual(f[3]['set'], 3)
        self.assertRegex(f[3]['chain'], r'^not chained: gap 40[0-9][0-9](\.[0-9]+)? s > tcp '
                         r'timeout 3600 s$')
        self.assertEqual([(s['first_file'], s['last_file'], s['files']) for s in rep['sets']],
                         [(0, 2, 2), (3, 3, 1)])

    def test_a_file_with_an_error_still_chains_on_its_packets(self):
        paths = self.split(os.path.join(self.dir, 'rot'), seconds=20)[:3]
        with open(paths[1], 'rb') as f:
            data = f.read()
        with open(paths[1], 'wb') as f:
            f.write(data[:-7])  # the last record cut short
        rep = self.analyze(paths, self.out)
        f = rep['files']
        self.assertRegex(f[1]['error'] or '', 'truncated record')
        self.assertTrue(f[1]['partial'])
        self.assertEqual([x['set'] for x in f], [0, 0, 0])
        self.assertRegex(f[2]['chain'], r'^chained: ')

    def test_pcapng_files_chain_on_their_interfaces_link_types(self):
        paths = self.split(os.path.join(self.dir, 'rot'), seconds=20)[:2]
        ng = []
        for p in paths:
            _, _, _, recs = read_pcap(p)
            q = p + 'ng'
            write_pcapng(q, recs, linktype=1)
            ng.append(q)
        whole = self.analyze(paths, os.path.join(self.dir, 'classic'))
        rep = self.analyze(ng, self.out)
        self.assertEqual([x['format'] for x in rep['files']], ['pcapng', 'pcapng'])
        self.assertEqual([x['set'] for x in rep['files']], [0, 0])
        self.assertEqual(self.flows(os.path.join(self.dir, 'classic')), self.flows(self.out))
        self.assertEqual(whole['totals']['flows'], rep['totals']['flows'])


def write_pcapng(path, recs, linktype):
    """A little-endian pcapng file: a section, one interface (microseconds), and an
    enhanced packet block per record."""
    def block(t, body):
        body += b'\0' * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack('<II', t, n) + body + struct.pack('<I', n)
    with open(path, 'wb') as f:
        f.write(block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1)))
        f.write(block(1, struct.pack('<HHI', linktype, 0, 65535)))
        for ts, (_, _, _, wirelen), data in recs:
            us = ts // 1000
            f.write(block(6, struct.pack('<IIIII', 0, us >> 32, us & 0xffffffff, len(data),
                                         wirelen) + data))


if __name__ == '__main__':
    TORTRACE, SAMPLE = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1] + sys.argv[3:], verbosity=2)
