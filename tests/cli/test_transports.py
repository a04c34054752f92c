#!/usr/bin/env python3
"""meek and WebTunnel on the corpus captures (transports/meek-s1, webtunnel-s1): the
sessions report.json ties to their host ("transport_sessions") hold exactly the flows the
capture labels meek-front / webtunnel, the server is listed as the transport makes it (a
meek front: no relay, no host; a WebTunnel server: a bridge), and the sessions are the
same for any -j. Skips with a message when the corpus is absent.

usage: test_transports.py TORTRACE [CORPUS]"""
import csv
import json
import os
import struct
import subprocess
import sys
import unittest

import clitest

TORTRACE = CORPUS = None
HOST = '10.88.7.100'


def key(proto, src, sport, dst, dport):
    return (proto, src, str(sport), dst, str(dport))


class Transports(clitest.TempDirCase):
    def run_dir(self, run):
        d = os.path.join(CORPUS or '', 'transports', run)
        if not CORPUS or not os.path.isfile(os.path.join(d, 'client.pcap')):
            self.skipTest('corpus not found (../shared/corpus/transports/%s): '
                          'meek/WebTunnel sessions not checked' % run)
        return d

    def analyze(self, run, *opts):
        d = self.run_dir(run)
        out = os.path.join(self.dir, run + '-'.join(opts))
        p = subprocess.run([TORTRACE, 'analyze', '-q', '--no-hash', '-o', out] + list(opts) +
                           [os.path.join(d, 'client.pcap')],
                           capture_output=True, text=True, timeout=300)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        jl = subprocess.run([TORTRACE, 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
                            capture_output=True, text=True, check=True).stdout
        flows = {}
        for line in jl.splitlines():
            r = json.loads(line)
            flows[key(r['proto'], r['src_ip'], r['src_port'], r['dst_ip'], r['dst_port'])] = r
        return self.report(out), flows

    def labels(self, run):
        with open(os.path.join(self.run_dir(run), 'client.flows.csv')) as f:
            return {key(r['proto'], r['src_ip'], r['src_port'], r['dst_ip'], r['dst_port']):
                    r['label'] for r in csv.DictReader(f)}

    def members(self, session):
        return {key(m['proto'], m['src_ip'], m['src_port'], m['dst_ip'], m['dst_port']): m
                for m in session['flows']}

    def check_session(self, s, flows, transport, server, sni):
        verdict = 'tor-' + transport
        self.assertEqual((s['transport'], s['host'], s['server'], s['server_port'], s['sni']),
                         (transport, HOST, server, 443, sni))
        self.assertEqual(s['verdict'], verdict)
        members = self.members(s)
        self.assertEqual(len(members), len(s['flows']), 'a flow listed twice')
        # time order, and the span over the members
        order = [(m['first_ts'], m['src_port']) for m in s['flows']]
        self.assertEqual(order, sorted(order))
        self.assertAlmostEqual(s['first_ts'], min(m['first_ts'] for m in s['flows']), places=6)
        self.assertAlmostEqual(s['last_ts'], max(m['last_ts'] for m in s['flows']), places=6)
        # evidence: exactly the flows with the verdict or the candidate; the strongest's
        # score is the session's
        evidence = {k for k, r in flows.items() if verdict in (r['verdict'], r['candidate'])}
        self.assertEqual({k for k, m in members.items() if m['role'] == 'evidence'}, evidence)
        best = max(flows[k]['score'] for k in evidence if flows[k]['verdict'] == verdict)
        self.assertAlmostEqual(s['score'], best, places=5)
        for k, m in members.items():
            r = flows[k]
            self.assertEqual(m['label'], verdict)  # inherited
            self.assertEqual((m['verdict'], m['candidate']), (r['verdict'], r['candidate']))
            self.assertAlmostEqual(m['score'], r['score'], places=5)  # its own, not the session's
            self.assertIn(m['role'], ('evidence', 'same-server'))
        return members

    def test_meek_session_is_the_front_flows(self):
        rep, flows = self.analyze('meek-s1')
        labels = self.labels('meek-s1')
        self.assertEqual(rep['transport_sessions_total'], 1)
        (s,) = rep['transport_sessions']
        members = self.check_session(s, flows, 'meek', '10.88.7.90', 'www.front.test')
        front = {k for k, label in labels.items() if label == 'meek-front'}
        self.assertEqual(len(front), 25)
        self.assertEqual(set(members), front)
        roles = [m['role'] for m in s['flows']]
        self.assertEqual((roles.count('evidence'), roles.count('same-server')), (10, 15))
        # the front is a web server that forwards: no relay, no host
        self.assertNotIn('10.88.7.90', [r['address'] for r in rep['relays']])
        hosts = {h['address']: h for h in rep['hosts']}
        self.assertNotIn('10.88.7.90', hosts)
        self.assertEqual(hosts[HOST]['roles'], ['client'])

    def test_webtunnel_session_is_the_labelled_flow(self):
        rep, flows = self.analyze('webtunnel-s1')
        labels = self.labels('webtunnel-s1')
        self.assertEqual(rep['transport_sessions_total'], 1)
        (s,) = rep['transport_sessions']
        members = self.check_session(s, flows, 'webtunnel', '10.88.7.50', 'wt.corp.test')
        self.assertEqual(set(members), {k for k, label in labels.items() if label == 'webtunnel'})
        self.assertEqual(len(members), 1)
        relays = {(r['address'], r['port']): r for r in rep['relays']}
        self.assertEqual(relays[('10.88.7.50', 443)]['kind'], 'bridge')
        self.assertEqual(relays[('10.88.7.50', 443)]['hosts'], [HOST])

    def test_same_server_needs_the_sni_and_the_time(self):
        """meek-s1 edited: one short connection to the front names another SNI (same
        length, in place), and another is moved 300 s after the capture (past the evidence
        flows' span + 60 s): neither is a member; the other 23 still are."""
        with open(os.path.join(self.run_dir('meek-s1'), 'client.pcap'), 'rb') as fh:
            data = fh.read()
        hdr, off, keep, moved = data[:24], 24, [], []
        while off + 16 <= len(data):
            ts, us, incl, orig = struct.unpack_from('<IIII', data, off)
            rec = bytearray(data[off:off + 16 + incl])
            off += 16 + incl
            frame = rec[16:]
            ports = ()
            if len(frame) > 34 and frame[12:14] == b'\x08\x00' and frame[23] == 6:
                ihl = (frame[14] & 15) * 4
                ports = struct.unpack_from('>HH', frame, 14 + ihl)
            if 42028 in ports:
                i = rec.find(b'www.front.test')
                if i >= 0:
                    rec[i:i + 14] = b'www.other.test'
            if 44550 in ports:
                struct.pack_into('<I', rec, 0, ts + 300)
                moved.append(bytes(rec))
            else:
                keep.append(bytes(rec))
        self.assertTrue(moved)
        pcap = os.path.join(self.dir, 'edited.pcap')
        with open(pcap, 'wb') as fh:
            fh.write(hdr + b''.join(keep) + b''.join(moved))
        out = os.path.join(self.dir, 'edited')
        p = subprocess.run([TORTRACE, 'analyze', '-q', '--no-hash', '-o', out, pcap],
                           capture_output=True, text=True, timeout=300)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        (s,) = self.report(out)['transport_sessions']
        ports = {m['src_port'] for m in s['flows']}
        self.assertEqual(len(ports), 23)
        self.assertNotIn(42028, ports)
        self.assertNotIn(44550, ports)
        self.assertEqual(s['sni'], 'www.front.test')
        self.assertEqual([m['role'] for m in s['flows']].count('evidence'), 10)

    def test_no_sessions_without_the_transports(self):
        rep, _ = self.analyze('snowflake-s1')
        self.assertNotIn('transport_sessions', rep)
        self.assertNotIn('transport_sessions_total', rep)

    def test_same_for_any_jobs(self):
        for run in ('meek-s1', 'webtunnel-s1'):
            with self.subTest(run=run):
                one, _ = self.analyze(run, '-j', '1')
                two, _ = self.analyze(run, '-j', '2')
                self.assertTrue(one['transport_sessions'])
                self.assertEqual(one['transport_sessions'], two['transport_sessions'])
                self.assertEqual(one['hosts'], two['hosts'])
                self.assertEqual(one['relays'], two['relays'])


if __name__ == '__main__':
    TORTRACE = sys.argv[1]
    CORPUS = sys.argv[2] if len(sys.argv) > 2 and os.path.isdir(sys.argv[2]) else None
    del sys.argv[1:]
    unittest.main(verbosity=2)
