#!/usr/bin/env python3
"""Snowflake on the corpus captures (transports/snowflake-s1): the items S1-S4 on the
labelled DTLS data flows and on no other flow, the host (the DTLS server, not the proxy
that sent the first datagram), and the sessions report.json ties together, the same for
any -j. Skips with a message when the corpus is absent.

usage: test_snowflake.py TORTRACE [CORPUS]"""
import csv
import json
import os
import subprocess
import sys
import unittest

import clitest

TORTRACE = CORPUS = None
ITEMS = {'S1', 'S2', 'S3', 'S4'}


def key(proto, src, sport, dst, dport):
    return (proto, src, str(sport), dst, str(dport))


class Snowflake(clitest.TempDirCase):
    def setUp(self):
        super().setUp()
        self.run_dir = os.path.join(CORPUS or '', 'transports', 'snowflake-s1')
        if not CORPUS or not os.path.isfile(os.path.join(self.run_dir, 'client.pcap')):
            self.skipTest('corpus not found (../shared/corpus/transports/snowflake-s1): '
                          'Snowflake not checked')

    def analyze(self, view, *opts):
        out = os.path.join(self.dir, view + '-'.join(opts))
        p = subprocess.run([TORTRACE, 'analyze', '-q', '--no-hash', '-o', out] + list(opts) +
                           [os.path.join(self.run_dir, view + '.pcap')],
                           capture_output=True, text=True, timeout=300)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        jl = subprocess.run([TORTRACE, 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
                            capture_output=True, text=True, check=True).stdout
        flows = {}
        for line in jl.splitlines():
            r = json.loads(line)
            flows[key(r['proto'], r['src_ip'], r['src_port'], r['dst_ip'], r['dst_port'])] = r
        return self.report(out), flows

    def labels(self, view):
        with open(os.path.join(self.run_dir, view + '.flows.csv')) as f:
            return {key(r['proto'], r['src_ip'], r['src_port'], r['dst_ip'], r['dst_port']):
                    r['label'] for r in csv.DictReader(f)}

    def test_items_on_the_data_flows_only(self):
        for view in ('client', 'proxy1'):
            rep, flows = self.analyze(view)
            labels = self.labels(view)
            n_data = 0
            for k, r in flows.items():
                ids = {e['id'] for e in r['evidence']}
                label = labels.get(k) or labels.get((k[0], k[3], k[4], k[1], k[2]), 'missing')
                with self.subTest(view=view, flow=k, label=label):
                    if r.get('webrtc', {}).get('dtls_app'):
                        self.assertEqual(label, 'snowflake-dtls')
                        self.assertEqual(ids & ITEMS, ITEMS)
                        self.assertEqual('tor-snowflake', r['verdict'] if r['verdict'] != 'none'
                                         else r['candidate'])
                        n_data += 1
                    else:
                        self.assertFalse(ids & ITEMS)
                        self.assertNotEqual(r['verdict'], 'tor-snowflake')
                        self.assertNotEqual(r['candidate'], 'tor-snowflake')
            self.assertEqual(n_data, 2 if view == 'client' else 1)

    def test_sessions_tie_the_labelled_flows(self):
        rep, flows = self.analyze('client')
        labels = self.labels('client')
        sessions = rep['snowflake_sessions']
        self.assertEqual(len(sessions), 2)
        tied = {}
        for s in sessions:
            self.assertEqual(s['host'], '10.88.7.100')  # the tor-client, the DTLS server
            self.assertIn(s['proxy'], ('10.88.7.81', '10.88.7.82'))
            self.assertNotIn('score', s['flows'][0])
            for m in s['flows']:
                tied[key(m['proto'], m['src_ip'], m['src_port'], m['dst_ip'],
                         m['dst_port'])] = m['role']
        for k, label in labels.items():
            if label in ('snowflake-dtls', 'snowflake-stun', 'snowflake-rendezvous'):
                self.assertIn(k, tied, f'{label} flow {k} not tied')
            elif not label.startswith('snowflake'):
                self.assertNotIn(k, tied, f'{label} flow {k} tied')
        self.assertEqual(sorted(tied.values()).count('rendezvous'), 1)
        # a candidate's host is not listed with a verdict; a verdict's is, as a client
        for s in sessions:
            hosts = {h['address']: h for h in rep['hosts']}
            if s['verdict'] == 'tor-snowflake':
                self.assertIn('client', hosts[s['host']]['roles'])

    def test_proxy_view(self):
        rep, _ = self.analyze('proxy1')
        labels = self.labels('proxy1')
        (s,) = rep['snowflake_sessions']
        self.assertEqual((s['host'], s['proxy'], s['proxy_role']),
                         ('10.88.7.100', '10.88.7.81', 'snowflake-proxy'))
        relay = [m for m in s['flows'] if m['role'] == 'proxy-relay']
        self.assertEqual(len(relay), 1)
        k = key(relay[0]['proto'], relay[0]['src_ip'], relay[0]['src_port'], relay[0]['dst_ip'],
                relay[0]['dst_port'])
        self.assertEqual(labels.get(k), 'snowflake-proxy-relay')

    def test_same_for_any_jobs(self):
        one, _ = self.analyze('client', '-j', '1')
        four, _ = self.analyze('client', '-j', '4')
        self.assertEqual(one['snowflake_sessions'], four['snowflake_sessions'])
        self.assertEqual(one['hosts'], four['hosts'])
        self.assertEqual(one['candidate_only_hosts'], four['candidate_only_hosts'])


if __name__ == '__main__':
    TORTRACE = sys.argv[1]
    CORPUS = sys.argv[2] if len(sys.argv) > 2 and os.path.isdir(sys.argv[2]) else None
    del sys.argv[1:]
    unittest.main(verbosity=2)
