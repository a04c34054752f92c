#!/usr/bin/env python3
"""End-to-end tests of `tortrace diagnose`: the bundled sample (Tor found, format, link type
and packets as counted here), the sample cut by a snap length of 96, captures without TLS or
TCP, the sample cut mid-stream, relay data of other dates, a truncated file beside a good
one, pcapng and gzip input, --json, usage and exit statuses.
usage: test_diagnose.py TORTRACE SAMPLE_PCAP CORPUS_DIR"""
import clitest
import gzip, json, os, shutil, signal, struct, subprocess, sys, time, unittest

TORTRACE = SAMPLE = CORPUS = None


def run(*args, env=None):
    return subprocess.run([TORTRACE, *args], capture_output=True, text=True, timeout=300,
                          env=env)


def read_pcap(path):
    """(header, [(ts_sec, ts_usec, caplen, wirelen, data, record_offset)]) of a classic
    little-endian pcap."""
    with open(path, 'rb') as f:
        data = f.read()
    assert struct.unpack('<I', data[:4])[0] == 0xa1b2c3d4, 'sample is not a LE pcap'
    recs, off = [], 24
    while off + 16 <= len(data):
        ts, us, cl, wl = struct.unpack('<IIII', data[off:off + 16])
        recs.append((ts, us, cl, wl, data[off + 16:off + 16 + cl], off))
        off += 16 + cl
    return data[:24], recs


def write_pcap(path, recs, snaplen=262144, linktype=1):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, snaplen, linktype))
        for ts, us, cl, wl, pkt, *_ in recs:
            f.write(struct.pack('<IIII', ts, us, len(pkt), wl) + pkt)


def write_pcapng(path, recs, linktype=1):
    """A minimal pcapng: one section, one interface (microseconds), EPBs."""
    def block(kind, body):
        body += b'\0' * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack('<II', kind, n) + body + struct.pack('<I', n)
    with open(path, 'wb') as f:
        f.write(block(0x0a0d0d0a, struct.pack('<IHHq', 0x1a2b3c4d, 1, 0, -1)))
        f.write(block(1, struct.pack('<HHI', linktype, 0, 262144)))
        for ts, us, cl, wl, pkt, *_ in recs:
            t = ts * 1000000 + us
            f.write(block(6, struct.pack('<IIIII', 0, t >> 32, t & 0xffffffff, len(pkt), wl)
                          + pkt))


def tcp_key(pkt):
    """The unordered endpoints of an Ethernet/IPv4/TCP frame, or None."""
    if len(pkt) < 38 or pkt[12:14] != b'\x08\x00' or pkt[23] != 6:
        return None
    ihl = (pkt[14] & 15) * 4
    sp, dp = struct.unpack('>HH', pkt[14 + ihl:18 + ihl])
    return tuple(sorted([(pkt[26:30], sp), (pkt[30:34], dp)]))


def checksum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack(f'>{len(b) // 2}H', b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(src, dst, proto, l4):
    ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                     bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack('>H', checksum(ip)) + ip[12:]
    return b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00' + ip + l4


def udp(sport, dport, payload):
    return struct.pack('>HHHH', sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport, seq, ack, flags, payload=b''):
    return struct.pack('>HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def dns_query(qid):
    return struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0) + b'\x07example\x03com\x00\x00\x01\x00\x01'


def plain_capture(with_http):
    """DNS over UDP, and (with_http) one HTTP connection with its handshake: no TLS."""
    c, s, r = (10, 0, 0, 1), (10, 0, 0, 2), (10, 0, 0, 53)
    pkts = []
    for i in range(4):
        pkts.append(frame(c, r, 17, udp(40000 + i, 53, dns_query(i))))
        pkts.append(frame(r, c, 17, udp(53, 40000 + i, dns_query(i))))
    if with_http:
        req = b'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'
        resp = b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
        pkts += [frame(c, s, 6, tcp(50000, 80, 100, 0, 0x02)),
                 frame(s, c, 6, tcp(80, 50000, 900, 101, 0x12)),
                 frame(c, s, 6, tcp(50000, 80, 101, 901, 0x10)),
                 frame(c, s, 6, tcp(50000, 80, 101, 901, 0x18, req)),
                 frame(s, c, 6, tcp(80, 50000, 901, 101 + len(req), 0x18, resp))]
    return [(1700000000 + i, 0, len(p), len(p), p) for i, p in enumerate(pkts)]


class Diagnose(clitest.TempDirCase):
    @classmethod
    def setUpClass(cls):
        cls.hdr, cls.recs = read_pcap(SAMPLE)

    def path(self, name):
        return os.path.join(self.dir, name)

    def diagnose(self, *args, want_rc=0):
        r = run('diagnose', '--json', *args)
        self.assertEqual(r.returncode, want_rc, r.stderr)
        doc = json.loads(r.stdout)
        self.assertIsInstance(doc, list)
        return doc, r

    @staticmethod
    def codes(d):
        return [f['code'] for f in d['findings']]

    def test_sample_finds_tor_with_right_facts(self):
        (d,), _ = self.diagnose(SAMPLE)
        self.assertEqual(d['format'], 'pcap')
        self.assertEqual(d['compression'], 'none')
        self.assertEqual(d['linktypes'], [{'linktype': 1, 'name': 'ETHERNET',
                                           'packets': len(self.recs)}])
        self.assertEqual(d['packets'], len(self.recs))
        self.assertEqual(d['bytes'], sum(r[3] for r in self.recs))
        self.assertEqual(d['snaplens'], [struct.unpack('<I', self.hdr[16:20])[0]])
        self.assertEqual(d['packets_cut'], 0)
        self.assertAlmostEqual(d['first_ts'], self.recs[0][0] + self.recs[0][1] / 1e6, places=5)
        self.assertAlmostEqual(d['last_ts'], self.recs[-1][0] + self.recs[-1][1] / 1e6, places=5)
        self.assertIsNone(d['error'])
        e = d['engine']
        self.assertGreater(e['tls']['flows'], 0)
        self.assertEqual(e['tls']['hellos_cut'], 0)
        self.assertEqual(e['tls']['handshakes_complete'], e['tls']['client_hellos'])
        self.assertGreater(sum(e['verdicts'].values()), 0)
        self.assertEqual(d['answer'], 'tor-found')
        self.assertEqual(self.codes(d)[0], 'tor-found')
        self.assertIn('no-relay-data', self.codes(d))
        self.assertNotIn('snaplen-cuts-handshakes', self.codes(d))
        self.assertNotIn('midstream-only', self.codes(d))
        if shutil.which('capinfos'):
            out = subprocess.run(['capinfos', '-c', '-M', SAMPLE], capture_output=True,
                                 text=True).stdout
            self.assertIn(f'Number of packets:   {d["packets"]}', out)

    def test_text_output_has_aligned_keys_and_findings(self):
        r = run('diagnose', SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        keys = {}
        for line in lines:
            if line.startswith('  ') or not line:
                continue
            k, _, v = line.partition(':')
            keys[k] = line
        for k in ('file', 'format', 'link types', 'snaplen', 'time span', 'packets',
                  'protocols', 'flows', 'TLS', 'verdicts', 'findings'):
            self.assertIn(k, keys, r.stdout)
        self.assertEqual(len({l.index(l.split(':', 1)[1].strip()) for k, l in keys.items()
                              if k != 'findings'}), 1, r.stdout)
        self.assertIn('ETHERNET (1) 1408 packets', keys['link types'])
        self.assertRegex(r.stdout, r'\n  tor-found +\d+ flows? (is|are) Tor')

    def test_snaplen_96_cuts_handshakes(self):
        cut = self.path('cut96.pcap')
        write_pcap(cut, [(ts, us, min(cl, 96), wl, p[:96]) for ts, us, cl, wl, p, _ in
                         self.recs], snaplen=96)
        cases = [cut]
        if shutil.which('editcap'):  # the recipe (editcap writes pcapng)
            subprocess.run(['editcap', '-s', '96', SAMPLE, self.path('editcap96.pcapng')],
                           check=True)
            cases.append(self.path('editcap96.pcapng'))
        for path in cases:
            (d,), _ = self.diagnose(path)
            self.assertEqual(d['max_caplen'], 96, path)
            self.assertGreater(d['packets_cut'], 0, path)
            tls = d['engine']['tls']
            self.assertGreater(tls['flows'], 0, path)
            self.assertEqual(tls['hellos_cut'], tls['flows'], path)
            self.assertEqual(tls['handshakes_complete'], 0, path)
            self.assertIn('snaplen-cuts-handshakes', self.codes(d), path)
            f = next(f for f in d['findings'] if f['code'] == 'snaplen-cuts-handshakes')
            self.assertIn('snaplen 96 cuts every TLS hello', f['text'])
            self.assertIn(f"0 of {tls['flows']} handshakes complete", f['text'])
        self.assertEqual(d['snaplens'] if len(cases) == 1 else
                         self.diagnose(cut)[0][0]['snaplens'], [96])

    def test_snaplen_without_payload_says_so(self):
        # 54: no TCP payload at all; 68: two bytes of it (the sample's TCP headers are 32)
        for snap in (54, 68):
            cut = self.path(f'cut{snap}.pcap')
            write_pcap(cut, [(ts, us, min(cl, snap), wl, p[:snap])
                             for ts, us, cl, wl, p, _ in self.recs], snaplen=snap)
            (d,), _ = self.diagnose(cut)
            pr = d['protocols']
            if snap == 54:
                self.assertEqual(pr['tcp_payload_missing'], pr['tcp_payload_packets'])
            else:
                self.assertGreater(pr['tcp_payload_cut'], pr['tcp_payload_packets'] * 0.9)
            self.assertEqual(d['answer'], 'snaplen-cuts-handshakes', snap)
            self.assertIn(f'snaplen {snap} leaves too little TCP payload to recognise TLS',
                          d['findings'][0]['text'])
            self.assertNotIn('no-tls', self.codes(d))  # not "no TLS": the payload is gone

    def test_no_tls_and_no_tcp(self):
        write_pcap(self.path('http.pcap'), plain_capture(True))
        write_pcap(self.path('dns.pcap'), plain_capture(False))
        (http, dns), _ = self.diagnose(self.path('http.pcap'), self.path('dns.pcap'))
        self.assertEqual(http['protocols']['tcp'], 5)
        self.assertEqual(http['protocols']['udp'], 8)
        self.assertEqual(http['engine']['tls']['flows'], 0)
        self.assertEqual(http['answer'], 'no-tls')
        self.assertIn('first payloads: http 1', http['findings'][0]['text'])
        self.assertEqual(dns['answer'], 'no-tcp')
        self.assertIn('no TCP among 8 IP packets (UDP 8', dns['findings'][0]['text'])
        self.assertNotIn('tor-found', self.codes(http) + self.codes(dns))

    def test_midstream_cut(self):
        seen, recs = {}, []
        for rec in self.recs:
            k = tcp_key(rec[4])
            if k is not None:
                seen[k] = seen.get(k, 0) + 1
                if seen[k] <= 12:  # handshakes and first cells are gone
                    continue
            recs.append(rec)
        write_pcap(self.path('mid.pcap'), recs)
        (d,), _ = self.diagnose(self.path('mid.pcap'))
        e = d['engine']
        self.assertEqual(e['tcp_from_handshake'], 0)
        self.assertGreater(e['tcp_midstream'], 0)
        self.assertGreater(e['tls']['midstream'], 0)
        self.assertEqual(e['tls']['client_hellos'], 0)
        # D4 (cell bursts) gives the longest link a verdict without its handshake; the
        # capture is still explained as mid-stream only.
        self.assertEqual(d['answer'], 'tor-found')
        mid = [f for f in d['findings'] if f['code'] == 'midstream-only']
        self.assertEqual(len(mid), 1, self.codes(d))
        self.assertIn(f"every one of the {e['tcp_with_data']} TCP connections", mid[0]['text'])

    def test_relay_data_of_other_dates(self):
        cons = os.path.join(os.path.dirname(SAMPLE), 'consensus')
        old = self.path('old-relays')
        os.mkdir(old)
        with open(os.path.join(cons, 'client-cached-microdesc-consensus')) as f:
            text = f.read()
        for k in ('valid-after', 'fresh-until', 'valid-until'):
            text = text.replace(f'\n{k} 2026-11-26', f'\n{k} 2025-11-26')
        with open(os.path.join(old, 'consensus'), 'w') as f:
            f.write(text)
        (d,), _ = self.diagnose('--relays', old, SAMPLE)
        rd = d['relay_data']
        self.assertEqual((rd['coverage'], rd['gap']), ('none', 'before'))
        self.assertAlmostEqual(rd['gap_s'] / 86400, 365, delta=1)
        self.assertIn('relay-data-misses-dates', self.codes(d))
        self.assertNotIn('no-relay-data', self.codes(d))
        self.assertEqual(d['engine']['relay_matches'], 0)
        # the sample's own consensus: valid from 14:21:40, the capture 14:21:07-14:21:56
        (d,), _ = self.diagnose('--relays', cons, SAMPLE)
        rd = d['relay_data']
        self.assertEqual(rd['coverage'], 'partial')
        self.assertAlmostEqual(rd['covered_s'], d['last_ts'] - 1795702900, delta=0.01)
        self.assertIn('relay-data-partly-covers', self.codes(d))
        self.assertGreater(d['engine']['relay_matches'], 0)

    def test_relay_data_from_corpus_years_before(self):
        cons = os.path.join(CORPUS, 'relays', 'consensus-2017-03-10T10-microdesc')
        if not os.path.exists(cons):
            self.skipTest(f'corpus file {cons} not found: skipped (needs ../shared/corpus)')
        (d,), _ = self.diagnose('--relays', cons, SAMPLE)
        self.assertEqual(d['relay_data']['coverage'], 'none')
        self.assertGreater(d['relay_data']['gap_s'] / 86400, 3000)
        f = next(f for f in d['findings'] if f['code'] == 'relay-data-misses-dates')
        self.assertIn('2017-03-10T10:00:00.000Z', f['text'])
        self.assertIn('days before the capture', f['text'])

    def test_truncated_file_named_with_offset_others_diagnosed(self):
        with open(SAMPLE, 'rb') as f:
            data = f.read()
        rec = self.recs[700]
        cut = rec[5] + 16 + rec[2] // 2  # in the middle of record 700's data
        trunc = self.path('trunc.pcap')
        with open(trunc, 'wb') as f:
            f.write(data[:cut])
        (t, good), r = self.diagnose(trunc, SAMPLE, want_rc=1)
        self.assertEqual(t['packets'], 700)
        self.assertEqual(t['error_offset'], rec[5])
        self.assertIn(f'at byte offset {rec[5]}', t['error'])
        self.assertIn('truncated-file', self.codes(t))
        self.assertIn(f'{trunc}: ', r.stderr)
        self.assertIn(f'byte offset {rec[5]}', r.stderr)
        self.assertIsNotNone(t['engine'])  # the packets before the cut were analysed
        self.assertIsNone(good['error'])
        self.assertEqual(good['packets'], len(self.recs))
        self.assertEqual(good['answer'], 'tor-found')

    def test_unreadable_inputs_exit_1(self):
        junk = self.path('notes.txt')
        with open(junk, 'w') as f:
            f.write('not a capture\n' * 10)
        (j, m, s), r = self.diagnose(junk, self.path('missing.pcap'), SAMPLE, want_rc=1)
        for d in (j, m):
            self.assertFalse(d['readable'])
            self.assertEqual(d['answer'], 'unreadable')
            self.assertIsNone(d['engine'])
        self.assertIn('missing.pcap', r.stderr)
        self.assertEqual(s['answer'], 'tor-found')

    def test_pcapng_and_gzip_inputs_match_the_pcap(self):
        write_pcapng(self.path('s.pcapng'), self.recs)
        with open(SAMPLE, 'rb') as f, gzip.open(self.path('s.pcap.gz'), 'wb') as g:
            g.write(f.read())
        with open(self.path('s.pcapng'), 'rb') as f, \
                gzip.open(self.path('s.pcapng.gz'), 'wb') as g:
            g.write(f.read())
        (plain,), _ = self.diagnose(SAMPLE)
        # a folder is walked as for analyze, in natural name order
        sub = self.path('in')
        os.mkdir(sub)
        for n in ('s.pcapng', 's.pcap.gz', 's.pcapng.gz'):
            os.rename(self.path(n), os.path.join(sub, n))
        docs, _ = self.diagnose(sub)
        got = {os.path.basename(d['path']): d for d in docs}
        self.assertEqual(sorted(got), ['s.pcap.gz', 's.pcapng', 's.pcapng.gz'])
        want = {'s.pcapng': ('pcapng', 'none'), 's.pcap.gz': ('pcap', 'gzip'),
                's.pcapng.gz': ('pcapng', 'gzip')}
        for name, d in got.items():
            self.assertEqual((d['format'], d['compression']), want[name], name)
            for k in ('packets', 'bytes', 'first_ts', 'last_ts', 'protocols', 'engine',
                      'answer'):
                self.assertEqual(d[k], plain[k], f'{name}: {k}')

    def test_temporary_folder_is_removed(self):
        tmp = self.path('tmp')
        os.mkdir(tmp)
        env = dict(os.environ, TMPDIR=tmp)
        r = run('diagnose', SAMPLE, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(tmp), [])

    def test_fifo_is_refused_and_others_diagnosed(self):
        fifo = self.path('cap.fifo')
        os.mkfifo(fifo)
        (f, good), r = self.diagnose(fifo, SAMPLE, want_rc=1)
        self.assertFalse(f['readable'])
        self.assertIn('not a regular file', f['error'])
        self.assertEqual(good['answer'], 'tor-found')

    def test_interrupt_removes_the_temporary_folder(self):
        # A capture the engine takes a while over: the sample 40 times, shifted in time.
        big = self.path('big.pcap')
        span = self.recs[-1][0] - self.recs[0][0] + 10
        with open(big, 'wb') as f:
            f.write(self.hdr)
            for k in range(40):
                f.write(b''.join(struct.pack('<IIII', ts + k * span, us, cl, wl) + p
                                 for ts, us, cl, wl, p, _ in self.recs))
        tmp = self.path('tmp')
        os.mkdir(tmp)
        p = subprocess.Popen([TORTRACE, 'diagnose', '--json', big, SAMPLE],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, TMPDIR=tmp))
        deadline = time.monotonic() + 60
        while not os.listdir(tmp) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        if p.poll() is not None:
            p.communicate()
            self.skipTest('diagnose finished before it could be interrupted')
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn(f'interrupted while reading {big}', err)
        self.assertEqual(json.loads(out), [])  # a valid document; the sample was not begun
        self.assertEqual(os.listdir(tmp), [])

    def test_usage_and_help(self):
        for args in (['diagnose'], ['diagnose', '--bogus', SAMPLE],
                     ['diagnose', '--relays-cache', 'x', SAMPLE],
                     ['diagnose', '--relays', self.path('nope'), SAMPLE],
                     ['diagnose', SAMPLE, '-']):
            r = run(*args)
            self.assertEqual(r.returncode, 2, f'{args}: {r.stderr}')
            self.assertTrue(r.stderr.strip(), args)
        r = run('diagnose', '--help')
        self.assertEqual(r.returncode, 0)
        self.assertIn('Exit status: 0 every file was diagnosed, 1 some file', r.stdout)
        r = run('--help')
        self.assertIn('diagnose [--json]', r.stdout)


if __name__ == '__main__':
    TORTRACE, SAMPLE, CORPUS = sys.argv[1:4]
    del sys.argv[1:4]
    unittest.main(verbosity=2)
