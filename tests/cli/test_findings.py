#!/usr/bin/env python3
"""report.json's findings (hosts, relays, activity, per-file confidence) recomputed
independently from the flow records (`export --jsonl`) on the bundled sample and on
corpus captures, for -j 1 and -j 3, and for a rotated copy of the sample.
usage: test_findings.py TORTRACE SAMPLE_DIR [CORPUS]"""
import clitest
import collections, ipaddress, json, math, os, struct, subprocess, sys
import unittest

TORTRACE = SAMPLE_DIR = CORPUS = None
GAP = 300.0  # seconds: Tor intervals closer than this are one active period


def is_private(a):
    ip = ipaddress.ip_address(a)
    if ip.version == 4:
        return ip in ipaddress.ip_network('10.0.0.0/8') or \
            ip in ipaddress.ip_network('172.16.0.0/12') or \
            ip in ipaddress.ip_network('192.168.0.0/16') or \
            ip in ipaddress.ip_network('127.0.0.0/8') or \
            ip in ipaddress.ip_network('169.254.0.0/16') or \
            ip in ipaddress.ip_network('100.64.0.0/10')
    return ip in ipaddress.ip_network('fc00::/7') or ip in ipaddress.ip_network('fe80::/10') \
        or ip == ipaddress.ip_address('::1')


def merge(ivals):
    out = []
    for a, b in sorted(ivals):
        if out and (a <= out[-1][1] or a - out[-1][1] <= GAP):
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def expected(flows):
    """hosts and relays as docs/report-schema.md defines them, from the flow records."""
    hosts = collections.defaultdict(lambda: {'flows': 0, 'bytes': 0, 'cand': 0, 'iv': [],
                                             'verdicts': collections.Counter(),
                                             'relays': set(), 'first': None, 'last': None})
    relays = collections.defaultdict(lambda: {'flows': 0, 'bytes': 0, 'hosts': set()})
    for f in flows:
        v = f['verdict'] if f['verdict'] != 'none' else f['candidate']
        if v == 'none':
            continue
        exit_side = v == 'tor-exit-side'
        near, far = (f['dst_ip'], f['src_ip']) if exit_side else (f['src_ip'], f['dst_ip'])
        if v == 'tor-snowflake':  # the host is the DTLS server; the proxy is no relay
            w = f.get('webrtc', {})
            sh = w.get('server_hello_fwd') or w.get('server_hello_rev')
            is_dst = w.get('server_hello_rev') if sh else w.get('client_hello_fwd')
            near = f['dst_ip'] if is_dst else f['src_ip']
        if f['verdict'] == 'none':
            hosts[near]['cand'] += 1
            continue
        if v in ('tor-snowflake', 'tor-meek'):  # a proxy or a front: no relay, no host
            e = hosts[near]
            e['flows'] += 1
            e['bytes'] += f['bytes_fwd'] + f['bytes_rev']
            e['verdicts'][f['verdict']] += 1
            e['iv'].append((f['first_ts'], f['last_ts']))
            e['first'] = f['first_ts'] if e['first'] is None else min(e['first'], f['first_ts'])
            e['last'] = f['last_ts'] if e['last'] is None else max(e['last'], f['last_ts'])
            continue
        kind = 'exit' if exit_side else \
            ('bridge' if v in ('tor-bridge', 'tor-pt', 'tor-webtunnel') else 'relay')
        port = None if exit_side else f['dst_port']
        nbytes = f['bytes_fwd'] + f['bytes_rev']
        near_hosts = [near] + ([far] if not exit_side and is_private(far) else [])
        for h in near_hosts:
            e = hosts[h]
            e['flows'] += 1
            e['bytes'] += nbytes
            e['verdicts'][f['verdict']] += 1
            e['iv'].append((f['first_ts'], f['last_ts']))
            e['first'] = f['first_ts'] if e['first'] is None else min(e['first'], f['first_ts'])
            e['last'] = f['last_ts'] if e['last'] is None else max(e['last'], f['last_ts'])
        hosts[near]['relays'].add((far, port, kind))
        r = relays[(far, port, kind)]
        r['flows'] += 1
        r['bytes'] += nbytes
        r['hosts'].add(near)
    return hosts, relays


def counted_on(f):
    """The hosts a flow counts on: its near side, and a private far side of a Tor link."""
    v = f['verdict'] if f['verdict'] != 'none' else f['candidate']
    if v == 'none':
        return ()
    if v == 'tor-exit-side':
        return (f['dst_ip'],)
    if v == 'tor-snowflake':
        w = f.get('webrtc', {})
        sh = w.get('server_hello_fwd') or w.get('server_hello_rev')
        is_dst = w.get('server_hello_rev') if sh else w.get('client_hello_fwd')
        return (f['dst_ip'] if is_dst else f['src_ip'],)
    if v == 'tor-meek':
        return (f['src_ip'],)
    if f['verdict'] != 'none' and is_private(f['dst_ip']):
        return (f['src_ip'], f['dst_ip'])
    return (f['src_ip'],)


class Findings(clitest.TempDirCase):
    def analyze(self, paths, out, relays=None, *opts):
        args = [TORTRACE, 'analyze', '-q', '--no-hash', '-o', out] + list(opts)
        if relays:
            args += ['--relays', relays]
        p = subprocess.run(args + list(paths), capture_output=True, text=True, timeout=600)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        jl = subprocess.run([TORTRACE, 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
                            capture_output=True, text=True, timeout=300, check=True).stdout
        return self.report(out), [json.loads(line) for line in jl.splitlines()]

    def check(self, rep, flows, min_flows=1):
        hosts, relays = expected(flows)
        listed = {h: e for h, e in hosts.items() if e['flows']}
        self.assertGreaterEqual(len(listed), min_flows)
        self.assertEqual(rep['hosts_total'], len(listed))
        self.assertEqual(rep['candidate_only_hosts'], len(hosts) - len(listed))
        self.assertEqual(rep['relays_total'], len(relays))
        # order: most Tor flows first, then bytes
        keys = [(-h['tor_flows'], -h['tor_bytes']) for h in rep['hosts']]
        self.assertEqual(keys, sorted(keys))
        for h in rep['hosts']:
            e = listed[h['address']]
            self.assertEqual(h['tor_flows'], e['flows'], h['address'])
            self.assertEqual(h['tor_bytes'], e['bytes'], h['address'])
            self.assertEqual(h['candidates'], e['cand'], h['address'])
            self.assertEqual(h['verdicts'], dict(e['verdicts']), h['address'])
            self.assertAlmostEqual(h['first_ts'], e['first'], places=6)
            self.assertAlmostEqual(h['last_ts'], e['last'], places=6)
            got = [[round(a, 6), round(b, 6)] for a, b in h['active_periods']]
            want = [[round(a, 6), round(b, 6)] for a, b in merge(e['iv'])]
            self.assertEqual(got, want, h['address'])
            self.assertEqual(h['relays_contacted'], len(e['relays']), h['address'])
            names = {(r['endpoint'], r['kind']) for r in h['relays']}
            for far, port, kind in e['relays']:
                ep = far if port is None else ('[%s]:%d' % (far, port) if ':' in far
                                               else '%s:%d' % (far, port))
                if len(e['relays']) <= 20:
                    self.assertIn((ep, kind), names)
            self.assertTrue(h['roles'], h['address'])
            # the strongest flow is the host's highest score
            best = max(f['score'] for f in flows if h['address'] in counted_on(f))
            self.assertAlmostEqual(h['strongest']['score'], best, places=5)
        for r in rep['relays']:
            k = (r['address'], r['port'], r['kind'])
            self.assertIn(k, relays)
            self.assertEqual(r['tor_flows'], relays[k]['flows'], k)
            self.assertEqual(r['tor_bytes'], relays[k]['bytes'], k)
            self.assertEqual(r['hosts_total'], len(relays[k]['hosts']), k)
            self.assertEqual(r['hosts'], sorted(relays[k]['hosts'],
                                                key=ipaddress.ip_address)[:20], k)
        # the activity chart holds every Tor byte (each flow spread over its minutes)
        tor_bytes = sum(f['bytes_fwd'] + f['bytes_rev'] for f in flows if f['verdict'] != 'none')
        bars = sum(b[1] for b in rep['activity']['bars'])
        self.assertLessEqual(abs(bars - tor_bytes), len(rep['activity']['bars']))
        # per file: the strongest flow that started in it, rounded down
        for f in rep['files']:
            scores = [x['score'] for x in flows if x['file'] == f['path'] and
                      (x['verdict'] != 'none' or x['candidate'] != 'none')]
            want = math.floor(max(scores) * 100 + 1e-9) if scores else 0
            near_edge = scores and abs(max(scores) * 100 - round(max(scores) * 100)) < 1e-3
            if not near_edge:
                self.assertEqual(f['confidence'], want, f['path'])
            self.assertTrue(f['confidence_reason'])
            if not scores:
                self.assertIn('no flow with evidence of Tor', f['confidence_reason'])

    def test_sample_with_relay_data(self):
        pcap = os.path.join(SAMPLE_DIR, 'tornet-client.pcap')
        rep, flows = self.analyze([pcap], self.out, os.path.join(SAMPLE_DIR, 'consensus'))
        self.check(rep, flows)
        client = [h for h in rep['hosts'] if 'client' in h['roles']]
        self.assertEqual(len(client), 1)
        self.assertGreaterEqual(client[0]['verdicts'].get('tor', 0), 3)
        # relay data names the relays the client used
        named = [r for r in rep['relays'] if r['listing'] and r['listing']['nickname']]
        self.assertGreaterEqual(len(named), 3)
        self.assertEqual(rep['files'][0]['confidence'], 99)

    def test_same_for_any_jobs_and_rotated(self):
        pcap = os.path.join(SAMPLE_DIR, 'tornet-client.pcap')
        cons = os.path.join(SAMPLE_DIR, 'consensus')
        a, _ = self.analyze([pcap], os.path.join(self.dir, 'j1'), cons, '-j', '1')
        b, _ = self.analyze([pcap], os.path.join(self.dir, 'j3'), cons, '-j', '3')
        keys = ('hosts', 'relays', 'activity', 'hosts_total', 'relays_total')
        self.assertEqual({k: a[k] for k in keys}, {k: b[k] for k in keys})
        # the same capture in 5-second files: the same findings
        with open(pcap, 'rb') as fh:
            data = fh.read()
        hdr, off, recs = data[:24], 24, []
        while off + 16 <= len(data):
            ts, us, incl, orig = struct.unpack_from('<IIII', data, off)
            recs.append((ts, data[off:off + 16 + incl]))
            off += 16 + incl
        rot = os.path.join(self.dir, 'rot')
        os.mkdir(rot)
        pieces = collections.defaultdict(list)
        for ts, r in recs:
            pieces[(ts - recs[0][0]) // 5].append(r)
        for i, k in enumerate(sorted(pieces)):
            with open(os.path.join(rot, 'part%03d.pcap' % i), 'wb') as fh:
                fh.write(hdr + b''.join(pieces[k]))
        c, flows = self.analyze([rot], os.path.join(self.dir, 'rotated'), cons)
        self.check(c, flows)
        self.assertEqual({k: a[k] for k in keys}, {k: c[k] for k in keys})

    def test_no_detect_has_no_findings(self):
        pcap = os.path.join(SAMPLE_DIR, 'tornet-client.pcap')
        rep, _ = self.analyze([pcap], self.out, None, '--no-detect')
        self.assertNotIn('hosts', rep)
        self.assertNotIn('confidence', rep['files'][0])

    def test_corpus(self):
        tornet = os.path.join(CORPUS or '', 'tornet')
        if not CORPUS or not os.path.isdir(tornet):
            self.skipTest('corpus not found (../shared/corpus): corpus findings not checked')
        n = 0
        for run in sorted(os.listdir(tornet)):
            d = os.path.join(tornet, run)
            if not os.path.isdir(d):
                continue
            for pcap in sorted(os.listdir(d)):
                if not pcap.endswith('.pcap'):
                    continue
                for relays in (os.path.join(d, 'consensus'), None):
                    with self.subTest(run=run, pcap=pcap, relays=bool(relays)):
                        out = os.path.join(self.dir, '%s-%s-%d' % (run, pcap, bool(relays)))
                        rep, flows = self.analyze([os.path.join(d, pcap)], out, relays)
                        self.check(rep, flows)
                        n += 1
        self.assertGreaterEqual(n, 4)

    def test_transports_corpus(self):
        """meek and WebTunnel (corpus transports/): the host is the client; a meek front is
        neither a relay nor a host, a WebTunnel server is a bridge."""
        base = os.path.join(CORPUS or '', 'transports')
        want = {'meek-s1': ('10.88.7.90', 'tor-meek', None),
                'webtunnel-s1': ('10.88.7.50', 'tor-webtunnel', 'bridge')}
        for run, (server, verdict, kind) in sorted(want.items()):
            pcap = os.path.join(base, run, 'client.pcap')
            if not os.path.isfile(pcap):
                self.skipTest('corpus not found (../shared/corpus/transports/%s): '
                              'meek/WebTunnel findings not checked' % run)
            with self.subTest(run=run):
                rep, flows = self.analyze([pcap], os.path.join(self.dir, run))
                self.check(rep, flows)
                hosts = {h['address']: h for h in rep['hosts']}
                self.assertEqual(hosts['10.88.7.100']['roles'], ['client'])
                self.assertGreaterEqual(hosts['10.88.7.100']['verdicts'].get(verdict, 0), 1)
                relays = [(r['address'], r['kind']) for r in rep['relays']]
                if kind is None:
                    self.assertNotIn(server, hosts)
                    self.assertNotIn(server, [a for a, _ in relays])
                else:
                    self.assertEqual(relays, [(server, kind)])
                    self.assertEqual(hosts[server]['roles'], [kind])


if __name__ == '__main__':
    TORTRACE, SAMPLE_DIR = sys.argv[1], sys.argv[2]
    CORPUS = sys.argv[3] if len(sys.argv) > 3 and os.path.isdir(sys.argv[3]) else None
    del sys.argv[1:]
    unittest.main(verbosity=2)
