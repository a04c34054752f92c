#!/usr/bin/env python3
"""`tortrace export` on broken flows files: every error names the file, what is wrong and
the byte offset; records before the fault are printed; exit status 1 (0 when all good);
never a crash. usage: test_export.py TORTRACE SAMPLE_PCAP"""
import concurrent.futures, os, struct, subprocess, sys, tempfile, unittest

TORTRACE = SAMPLE = None


def run(*args):
    return subprocess.run([TORTRACE, *args], capture_output=True, timeout=60)


# A minimal msgpack writer and skipper (the test must not depend on a msgpack module).
def mp_uint(v):
    if v < 128:
        return bytes([v])
    for code, fmt, lim in ((0xcc, '>B', 0xff), (0xcd, '>H', 0xffff), (0xce, '>I', 0xffffffff)):
        if v <= lim:
            return bytes([code]) + struct.pack(fmt, v)
    return b'\xcf' + struct.pack('>Q', v)


def mp_str(s):
    b = s.encode() if isinstance(s, str) else s
    if len(b) < 32:
        return bytes([0xa0 | len(b)]) + b
    if len(b) < 256:
        return b'\xd9' + bytes([len(b)]) + b
    return b'\xda' + struct.pack('>H', len(b)) + b


def mp_bin(b):
    return b'\xc4' + bytes([len(b)]) + b


def mp_map(pairs):
    n = len(pairs)
    head = bytes([0x80 | n]) if n < 16 else b'\xde' + struct.pack('>H', n)
    return head + b''.join(mp_str(k) + v for k, v in pairs)


def header(schema=1, files=('a.pcap',)):
    return mp_map([('type', mp_str('tortrace.flows')), ('schema', mp_uint(schema)),
                   ('version', mp_str('0.1.0')),
                   ('files', bytes([0x90 | len(files)]) + b''.join(mp_str(f) for f in files))])


def record(port=443, **extra):
    pairs = [('file', mp_uint(0)), ('proto', mp_uint(6)), ('ipv', mp_uint(4)),
             ('src', mp_bin(b'\x0a\x00\x00\x01')), ('sport', mp_uint(40000)),
             ('dst', mp_bin(b'\x0a\x00\x00\x02')), ('dport', mp_uint(port))]
    pairs += list(extra.items())
    return mp_map(pairs)


def skip(d, i):
    """Offset after the msgpack object at d[i]."""
    c = d[i]
    if c <= 0x7f or c >= 0xe0 or c in (0xc0, 0xc2, 0xc3):
        return i + 1
    if 0x80 <= c <= 0x8f or 0x90 <= c <= 0x9f or c in (0xdc, 0xdd, 0xde, 0xdf):
        if c <= 0x9f:
            n, i = c & 15, i + 1
        else:
            ll = 2 if c in (0xdc, 0xde) else 4
            n, i = int.from_bytes(d[i + 1:i + 1 + ll], 'big'), i + 1 + ll
        for _ in range(n * (2 if c <= 0x8f or c >= 0xde else 1)):
            i = skip(d, i)
        return i
    if 0xa0 <= c <= 0xbf:
        return i + 1 + (c & 31)
    if c in (0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb):
        ll = {0xc4: 1, 0xd9: 1, 0xc5: 2, 0xda: 2, 0xc6: 4, 0xdb: 4}[c]
        return i + 1 + ll + int.from_bytes(d[i + 1:i + 1 + ll], 'big')
    size = {0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4,
            0xd3: 8}[c]
    return i + 1 + size


class Export(unittest.TestCase):
    flows = None  # the sample's flows.msgpack, made once

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        out = os.path.join(cls.tmp.name, 'out')
        r = subprocess.run([TORTRACE, 'analyze', '-q', '-j', '1', '-o', out, SAMPLE],
                           capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        with open(os.path.join(out, 'flows.msgpack'), 'rb') as f:
            cls.flows = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def write(self, data, name='f.msgpack'):
        path = os.path.join(self.tmp.name, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def export(self, data, fmt='--jsonl'):
        path = self.write(data)
        r = run('export', fmt, path)
        self.assertIn(r.returncode, (0, 1), f"{r.returncode}: {r.stderr!r}")
        return path, r, r.stdout.decode().splitlines(), r.stderr.decode()

    def assert_error(self, data, *wanted, lines=0):
        path, r, out, err = self.export(data)
        self.assertEqual(r.returncode, 1, err)
        self.assertEqual(len(out), lines, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(f'{path}: ', err)
        for w in wanted:
            self.assertIn(w, err)
        return err

    def boundaries(self, data):
        offs, i = [], 0
        while i < len(data):
            i = skip(data, i)
            offs.append(i)
        return offs

    def test_good_file_exits_0(self):
        _, r, out, err = self.export(self.flows)
        self.assertEqual((r.returncode, err), (0, ''))
        self.assertEqual(len(out), len(self.boundaries(self.flows)) - 1)

    def test_truncated_header(self):
        ends = self.boundaries(self.flows)
        for cut in (1, 2, ends[0] // 2, ends[0] - 1):
            self.assert_error(self.flows[:cut], 'truncated header',
                                    f'the file ends at byte {cut}')

    def test_truncated_at_every_offset(self):
        # a header and three records: plain, with a tls map, with a relay map
        small = header() + record() + record(
            tls=mp_map([('version', mp_uint(0x0304)), ('cell_app', b'\x92\x01\x02'),
                        ('has_ch', b'\xc3'), ('sni', mp_str('example.org'))]),
            score=b'\xca\x3f\x00\x00\x00') + record(
            relay=mp_map([('fp', mp_str('AB' * 20)), ('nick', mp_str('r1')),
                          ('from_ns', mp_uint(1 << 60))]))
        ends = self.boundaries(small)
        self.assertEqual(len(ends), 4)
        def one(cut):  # each cut in its own file, so they can run at the same time
            path = self.write(small[:cut], f'cut{cut}.msgpack')
            r = run('export', '--jsonl', path)
            return path, r, r.stdout.decode().splitlines(), r.stderr.decode()

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(one, range(1, len(small) + 1)))
        for cut, (path, r, out, err) in enumerate(results, 1):
            self.assertIn(r.returncode, (0, 1), f'{cut}: {err}')
            whole = [e for e in ends if e <= cut]
            if cut in ends:
                self.assertEqual((r.returncode, err), (0, ''), cut)
                self.assertEqual(len(out), len(whole) - 1, cut)
                continue
            self.assertEqual(r.returncode, 1, cut)
            self.assertEqual(len(out), max(len(whole) - 1, 0), f'{cut}: {err}')
            if not whole:
                self.assertIn('truncated header', err)
            else:
                self.assertIn(f'{path}: truncated record at byte offset {whole[-1]} '
                              f'(record {len(whole)}): the file ends at byte {cut}', err)

    def test_oversized_string(self):
        good = header() + record()
        err = self.assert_error(good + record(tls=mp_map([('sni', mp_str('x' * 100))])),
                                'string of 100 bytes in key "tls.sni"', 'exceeds the schema',
                                'at most 63', 'record 2', lines=1)
        self.assertIn('at byte offset', err)
        # a string declared longer than the file: the schema, not the truncation, is named
        data = header() + record(end=b'\xdb\xff\xff\xff\xff' + b'abc')
        self.assert_error(data, 'string of 4294967295 bytes in key "end"', 'exceeds the schema')
        # a relay nickname one byte too long; one at the limit is fine
        self.assert_error(header() + record(relay=mp_map([('nick', mp_str('n' * 20))])),
                          'key "relay.nick"', 'at most 19')
        _, r, out, err = self.export(header() + record(relay=mp_map([('nick', mp_str('n' * 19))])))
        self.assertEqual((r.returncode, len(out)), (0, 1), err)

    def test_oversized_string_offset(self):
        rec = record(tls=mp_map([('ja3', mp_str('a' * 40))]))
        data = header() + rec
        at = data.index(b'\xd9\x28')  # str8 of 40 bytes
        self.assert_error(data, f'key "tls.ja3" at byte offset {at} exceeds the schema')

    def test_wrong_type(self):
        self.assert_error(header() + record() + record(proto=mp_str('tcp')),
                          'record 2 at byte offset', 'is not a flow record',
                          'key "proto" is a string, expected an unsigned integer', lines=1)
        self.assert_error(header() + record(tls=mp_map([('has_ch', mp_uint(1))])),
                          'key "tls.has_ch" is an unsigned integer, expected a boolean')
        self.assert_error(header() + mp_map([('file', mp_uint(0))]), 'no key "proto"')
        self.assert_error(header() + mp_uint(7), 'record 1', 'the record is an unsigned integer, not a map')

    def test_not_msgpack_and_not_flows(self):
        self.assert_error(b'\xc1abc', 'not a tortrace flows file (byte 0: 0xc1')
        self.assert_error(b'hello', 'not a tortrace flows file (byte 0: 0x68 is not a msgpack map)')
        self.assert_error(mp_map([('type', mp_str('other'))]),
                          'not a tortrace flows file (byte 0: a map without "type"')
        self.assert_error(header() + record() + b'\xc1', 'byte 0xc1 at byte offset',
                          'is not msgpack (record 2)', lines=1)

    def test_newer_schema(self):
        self.assert_error(header(schema=2) + record(), 'header schema 2 is newer than this tortrace (1)')

    def test_huge_counts_do_not_allocate(self):
        for tail in (b'\xdd\xff\xff\xff\xff\x01', b'\xdf\xff\xff\xff\xff\xa1a',
                     b'\xde\x00\x05' + mp_str('tls') + b'\xdf\x7f\xff\xff\xff'):
            self.assert_error(header() + tail, 'truncated record at byte offset')
        self.assert_error(header() + b'\x91' * 100 + b'\x01', 'nested too deep')

    def test_record_size_limit(self):
        big = record(future=b'\xc6' + struct.pack('>I', 70000) + b'z' * 70000)
        for tail in (b'', record()):  # wherever the file ends, the same message
            self.assert_error(header() + record() + big + tail,
                              f'record 2 at byte offset {len(header() + record())} '
                              'is larger than 65536 bytes', lines=1)
        # an unknown key with a long string, below the limit, is skipped
        _, r, out, err = self.export(header() + record(future=mp_str('q' * 60000)))
        self.assertEqual((r.returncode, len(out), err), (0, 1, ''))
        # schema keys are found in any str form
        tls = b'\x81\xda\x00\x03sni' + mp_str('s' * 64)
        self.assert_error(header() + record(tls=tls), 'key "tls.sni"', 'at most 63')

    def test_empty_file_and_directory(self):
        self.assert_error(b'', 'empty file, not a tortrace flows file')
        for fmt in ('--jsonl', '--csv'):
            r = run('export', fmt, self.tmp.name)
            self.assertEqual(r.returncode, 1)
            self.assertIn(f'{self.tmp.name}: is a directory', r.stderr.decode())
        r = run('export', '--csv', os.path.join(self.tmp.name, 'missing'))
        self.assertEqual(r.returncode, 1)
        self.assertIn('cannot open', r.stderr.decode())


if __name__ == '__main__':
    TORTRACE, SAMPLE = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
