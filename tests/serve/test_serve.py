#!/usr/bin/env python3
"""tortrace serve against real servers on 127.0.0.1 (random free port, temporary --data):
uploads analysed and compared with their report.json, the API, SSE, cancel, and abuse:
oversized, traversal names, junk, a truncated capture, no token, 20 uploads at once, a
client that goes away mid-upload, relay data reloaded while jobs run.
usage: test_serve.py TORTRACE SAMPLE_DIR CORPUS_DIR ENABLED(yes|no)"""
import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import servetest
from servetest import Server, five_tuple

TORTRACE = SAMPLE_DIR = CORPUS = None
ENABLED = True


def sample():
    return os.path.join(SAMPLE_DIR, 'tornet-client.pcap')


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def consensus():
    return os.path.join(SAMPLE_DIR, 'consensus')


class ServeCase(unittest.TestCase):
    def setUp(self):
        if not ENABLED:
            self.skipTest('tortrace was built without libmicrohttpd/liburcu '
                          '(tools/install-deps.sh installs libmicrohttpd-dev liburcu-dev)')
        self.servers = []
        self.tmp = tempfile.TemporaryDirectory(prefix='tt-serve-test-')
        self.dir = self.tmp.name

    def tearDown(self):
        for s in self.servers:
            rc = s.stop()
            self.assertEqual(rc, 0, 'the server did not stop cleanly: ' + str(rc))
        self.tmp.cleanup()

    def server(self, *args):
        s = Server(TORTRACE, *args, data=os.path.join(self.dir, 'data%d' % len(self.servers)))
        self.servers.append(s)
        return s

    def report(self, s, job_id):
        return s.json('GET', '/api/jobs/%d/report.json' % job_id)

    def all_flows(self, s, job_id, **params):
        out, offset = [], 0
        while True:
            q = '&'.join('%s=%s' % (k, servetest.urlquote(str(v))) for k, v in params.items())
            page = s.json('GET', '/api/jobs/%d/flows?offset=%d&limit=7&%s' % (job_id, offset, q))
            out += page['flows']
            offset += 7
            if offset >= page['total']:
                self.assertEqual(len(out), page['total'])
                return out

    def check_job_against_report(self, s, job):
        """What the API says about a finished job equals its report.json."""
        jid = job['id']
        rep = self.report(s, jid)
        self.assertEqual(job['flows'], rep['totals']['flows'])
        self.assertEqual(job['tor_flows'], rep['tor_flows_total'])
        self.assertEqual(job['hosts'], rep['hosts_total'])
        # every flow, through server-side paging
        flows = self.all_flows(s, jid)
        self.assertEqual(len(flows), rep['totals']['flows'])
        # the Tor flows: the verdict filter against report.json's tor_flows
        tor = self.all_flows(s, jid, verdict='any')
        self.assertEqual(sorted(five_tuple(f) for f in tor),
                         sorted(five_tuple(f) for f in rep['tor_flows']))
        for f in tor:
            self.assertNotEqual(f['verdict'], 'none')
        # by host, for every host of the findings
        for h in rep['hosts']:
            got = self.all_flows(s, jid, host=h['address'], verdict='any')
            self.assertEqual(len(got), h['tor_flows'], h['address'])
            for f in got:
                self.assertIn(h['address'], (f['src_ip'], f['dst_ip']))
        # searched: every flow whose SNI holds the text, and only those
        for f in tor:
            sni = (f.get('tls') or {}).get('sni')
            if sni:
                found = self.all_flows(s, jid, q=sni[4:12])
                self.assertEqual(sorted(five_tuple(x) for x in found),
                                 sorted(five_tuple(x) for x in flows
                                        if sni[4:12] in json.dumps(x)))
                self.assertIn(five_tuple(f), [five_tuple(x) for x in found])
                break
        # by score
        hi = self.all_flows(s, jid, min_score=0.99)
        self.assertEqual(len(hi), sum(1 for f in flows if f['score'] >= 0.99))
        return rep


class Upload(ServeCase):
    def test_sample_analysed_like_the_cli(self):
        s = self.server('--relays', consensus())
        st, h, page = s.request('GET', '/')
        self.assertEqual(st, 200)
        self.assertIn(b'<html', page.lower())
        self.assertIn("script-src 'self'", h['Content-Security-Policy'])
        job = s.upload(sample())
        self.assertIn(job['state'], ('queued', 'running'))
        self.assertEqual(job['format'], 'pcap')
        job = s.wait(job['id'])
        self.assertEqual(job['state'], 'done', job)
        self.assertIsNone(job['error'])
        rep = self.check_job_against_report(s, job)
        self.assertEqual(rep['tor_flows_total'], 4)  # as the CLI finds (README)
        self.assertEqual(job['relay_digest'], rep['options']['relay_data']['digest_xxh3_128'])
        # the same answer as the command on the same file
        out = os.path.join(self.dir, 'cli')
        subprocess.run([TORTRACE, 'analyze', '-q', '--no-history', '-j', '1', '--relays',
                        consensus(), '-o', out, sample()], check=True, timeout=120)
        with open(os.path.join(out, 'report.json')) as f:
            cli = json.load(f)
        self.assertEqual(cli['totals']['verdicts'], rep['totals']['verdicts'])
        self.assertEqual([x['address'] for x in cli['hosts']],
                         [x['address'] for x in rep['hosts']])
        # downloads
        st, h, html = s.request('GET', '/api/jobs/%d/report.html' % job['id'])
        self.assertEqual(st, 200)
        self.assertIn('sandbox', h['Content-Security-Policy'])
        self.assertIn(b'10.77.0.100', html)
        st, h, pcap = s.request('GET', '/api/jobs/%d/tor.pcap' % job['id'])
        self.assertEqual(st, 200)
        self.assertEqual(pcap[:4], b'\xd4\xc3\xb2\xa1')
        self.assertIn('attachment', h['Content-Disposition'])
        # the history database has it, read through the API
        hist = s.json('GET', '/api/history')
        self.assertEqual(len(hist), 1)
        self.assertEqual(hist[0]['tor_flows'], 4)
        self.assertEqual(hist[0]['relay_digest'], job['relay_digest'])
        one = s.json('GET', '/api/history/%d' % hist[0]['id'])
        self.assertEqual(one['id'], hist[0]['id'])
        self.assertEqual(s.request('GET', '/api/history/999')[0], 404)
        # and the job list
        jobs = s.json('GET', '/api/jobs')['jobs']
        self.assertEqual([j['id'] for j in jobs], [job['id']])

    def test_events_stream_progress_to_the_end(self):
        s = self.server('--relays', consensus())
        job = s.upload(sample())
        c = s.conn(timeout=60)
        c.request('GET', '/api/jobs/%d/events' % job['id'])
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader('Content-Type'), 'text/event-stream')
        events, cur = [], {}
        while True:
            line = r.fp.readline().decode()
            if not line:
                break
            line = line.rstrip('\n')
            if line.startswith('event: '):
                cur['event'] = line[7:]
            elif line.startswith('data: '):
                cur['data'] = json.loads(line[6:])
            elif line == '' and cur:
                events.append(cur)
                cur = {}
        c.close()
        self.assertEqual(events[-1]['event'], 'end')
        last = events[-1]['data']
        self.assertEqual(last['state'], 'done')
        self.assertEqual(last['bytes_done'], os.path.getsize(sample()))
        self.assertEqual(last['packets_done'], 1408)  # the sample's packets (README)
        for k in ('bytes_total', 'throughput_bps', 'eta_s', 'elapsed_s'):
            self.assertIn(k, last)

    def test_corpus_capture_with_tor(self):
        cap = os.path.join(CORPUS, 'tornet', 'obfs4-s5', 'client.pcap')
        if not os.path.exists(cap):
            self.skipTest('corpus capture %s is missing (../shared/corpus)' % cap)
        s = self.server('--relays', os.path.join(os.path.dirname(cap), 'consensus'))
        job = s.wait(s.upload(cap)['id'])
        self.assertEqual(job['state'], 'done', job)
        rep = self.check_job_against_report(s, job)
        self.assertGreater(rep['tor_flows_total'], 0)

    def test_several_formats_by_content_not_name(self):
        s = self.server()
        data = read(sample())
        import gzip
        gz = gzip.compress(data)
        zst = subprocess.run(['zstd', '-q', '-c'], input=data, capture_output=True).stdout \
            if shutil.which('zstd') else None
        ng = os.path.join(self.dir, 'x.pcapng')
        made_ng = shutil.which('editcap') and subprocess.run(
            ['editcap', '-F', 'pcapng', sample(), ng]).returncode == 0
        cases = [('capture.txt', gz, 'gzip')]
        if zst:
            cases.append(('noext', zst, 'zstd'))
        if made_ng:
            cases.append(('y.pcap', read(ng), 'pcapng'))
        for name, body, fmt in cases:
            job = s.wait(s.upload(body, name)['id'])
            self.assertEqual(job['format'], fmt)
            self.assertEqual(job['state'], 'done', job)
            self.assertEqual(job['flows'], 39, name)


class Abuse(ServeCase):
    def test_oversized_upload_is_refused_and_leaves_nothing(self):
        s = self.server('--max-upload', '100000')
        # Content-Length over the limit: refused before the body is read
        sock = socket.create_connection(('127.0.0.1', s.port), timeout=30)
        sock.sendall(b'POST /api/jobs?name=big.pcap HTTP/1.1\r\nHost: x\r\n'
                     b'Content-Length: 1239446\r\n\r\n' + read(sample())[:1000])
        answer = b''
        while b'larger than the limit' not in answer:
            more = sock.recv(4096)
            if not more:
                break
            answer += more
        sock.close()
        self.assertTrue(answer.startswith(b'HTTP/1.1 413'), answer)
        self.assertIn(b'larger than the limit', answer)
        # chunked, without a Content-Length: cut while streaming
        c = s.conn()
        c.putrequest('POST', '/api/jobs?name=chunked.pcap')
        c.putheader('Transfer-Encoding', 'chunked')
        c.endheaders()
        data = read(sample())
        for i in range(0, 300000, 30000):
            piece = data[i:i + 30000]
            c.send(b'%x\r\n%s\r\n' % (len(piece), piece))
        c.send(b'0\r\n\r\n')
        r = c.getresponse()
        self.assertEqual(r.status, 413, r.read())
        c.close()
        self.assertEqual(s.files_under('uploads'), [])
        self.assertEqual(s.files_under('jobs'), [])
        self.assertEqual(s.json('GET', '/api/jobs')['jobs'], [])

    def test_traversal_names_are_sanitised_and_never_overwrite(self):
        s = self.server()
        data = read(sample())
        names = ['../../../../tmp/evil.pcap', '..\\..\\win.pcap', '.hidden', '/etc/passwd',
                 'a b<script>.pcap', '', '..', 'same.pcap', 'same.pcap']
        ids = []
        for n in names:
            job = s.upload(data, n)
            self.assertNotIn('/', job['name'])
            self.assertNotIn('\\', job['name'])
            self.assertFalse(job['name'].startswith('.'), job['name'])
            self.assertRegex(job['name'], r'^[A-Za-z0-9._-]+$')
            ids.append(job['id'])
        for i in ids:
            self.assertEqual(s.wait(i)['state'], 'done')
        self.assertFalse(os.path.exists('/tmp/evil.pcap') and
                         os.path.getmtime('/tmp/evil.pcap') > time.time() - 60)
        inputs = s.files_under('jobs')
        real = os.path.realpath(s.data)
        for p in inputs:
            self.assertTrue(os.path.realpath(p).startswith(real + '/jobs/'), p)
        ins = sorted(p for p in inputs if '/input/' in p)
        self.assertEqual(len(ins), len(names))  # the two same.pcap are two files
        for p in ins:
            self.assertEqual(os.path.getsize(p), len(data))
        self.assertEqual(sorted(os.path.basename(p) for p in ins).count('same.pcap'), 2)

    def test_junk_is_refused_by_content(self):
        s = self.server()
        for body in (b'<html>not a capture</html>' * 100, b'', b'\x00\x01'):
            st, _, msg = s.request('POST', '/api/jobs?name=capture.pcap', body)
            self.assertEqual(st, 415, msg)
            self.assertIn(b'not a capture', msg)
        self.assertEqual(s.files_under('uploads'), [])
        self.assertEqual(s.files_under('jobs'), [])

    def test_truncated_capture_names_the_error_and_the_server_goes_on(self):
        s = self.server('--relays', consensus())
        data = read(sample())
        cut = data[:500000] + data[500000:500010]  # ends inside a packet record
        job = s.wait(s.upload(cut, 'cut.pcap')['id'])
        self.assertEqual(job['state'], 'done', job)
        self.assertEqual(job['status'], 1)  # TT_STATUS_PARTIAL: some input failed
        self.assertIn('truncated', job['error'])
        self.assertIn('offset', job['error'])
        rep = self.report(s, job['id'])
        self.assertEqual(rep['files'][0]['error'], job['error'])
        # still serving, and a good capture after it is fine
        job2 = s.wait(s.upload(sample())['id'])
        self.assertEqual(job2['state'], 'done')
        self.assertIsNone(job2['error'])

    def test_token_is_required(self):
        tok = os.path.join(self.dir, 'token')
        with open(tok, 'w') as f:
            f.write('correct-horse-battery-staple-42\n')
        s = self.server('--token-file', tok)
        st, h, body = s.request('GET', '/api/jobs')
        self.assertEqual(st, 401)
        self.assertIn('Bearer', h['WWW-Authenticate'])
        st, _, _ = servetest.post_expect(s.port, '/api/jobs?name=x.pcap',
                                         read(sample()))
        self.assertEqual(st, 401)
        st, _, _ = servetest.post_expect(s.port, '/api/jobs?name=x.pcap', b'\xd4\xc3\xb2\xa1',
                                         token='correct-horse-battery-staple-4')
        self.assertEqual(st, 401)  # a prefix of the token is not the token
        self.assertEqual(s.files_under('uploads') + s.files_under('jobs'), [])
        st, _, _ = s.request('GET', '/api/jobs', headers={'Authorization': 'Bearer wrong'})
        self.assertEqual(st, 401)
        st, _, _ = s.request('GET', '/api/jobs', headers={
            'Authorization': 'Bearer correct-horse-battery-staple-42'})
        self.assertEqual(st, 200)
        # a browser is sent to the login form, which sets a cookie
        st, h, _ = s.request('GET', '/', headers={'Accept': 'text/html'})
        self.assertEqual((st, h['Location']), (303, '/login'))
        self.assertEqual(s.request('GET', '/login')[0], 200)
        form = {'Content-Type': 'application/x-www-form-urlencoded'}
        st, h, _ = s.request('POST', '/login', b'token=nope', form)
        self.assertNotIn('Set-Cookie', h)
        self.assertEqual((st, h['Location']), (303, '/login#failed'))
        st, h, _ = s.request('POST', '/login', b'token=correct-horse-battery-staple-42', form)
        self.assertEqual(st, 303)
        cookie = h['Set-Cookie'].split(';')[0]
        self.assertIn('HttpOnly', h['Set-Cookie'])
        self.assertNotIn('correct-horse', cookie)  # not the token itself
        st, _, _ = s.request('GET', '/api/jobs', headers={'Cookie': cookie})
        self.assertEqual(st, 200)
        # beyond loopback without a token: refused before listening
        r = subprocess.run([TORTRACE, 'serve', '--listen', '0.0.0.0:0', '--data',
                            os.path.join(self.dir, 'x')], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn('--token-file', r.stderr)

    def test_tls(self):
        if not shutil.which('openssl'):
            self.skipTest('openssl (the command) is missing: no certificate to test with')
        cert, key = os.path.join(self.dir, 'c.pem'), os.path.join(self.dir, 'k.pem')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
                        key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1'],
                       check=True, capture_output=True, timeout=60)
        s = self.server('--tls-cert', cert, '--tls-key', key)
        import ssl
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        c = http.client.HTTPSConnection('127.0.0.1', s.port, context=ctx, timeout=30)
        c.request('POST', '/api/jobs?name=tls.pcap', read(sample()))
        r = c.getresponse()
        job = json.loads(r.read())
        self.assertEqual(r.status, 202)
        c.close()
        plain = s.conn()
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            plain.request('GET', '/api/status')
            plain.getresponse().read()
        plain.close()
        deadline = time.time() + 60
        while time.time() < deadline:
            c = http.client.HTTPSConnection('127.0.0.1', s.port, context=ctx, timeout=30)
            c.request('GET', '/api/jobs/%d' % job['id'])
            j = json.loads(c.getresponse().read())
            c.close()
            if j['state'] == 'done':
                break
            time.sleep(0.1)
        self.assertEqual((j['state'], j['flows']), ('done', 39))

    def test_twenty_uploads_at_once(self):
        s = self.server('--relays', consensus(), '--jobs', '2')
        data = read(sample())
        with concurrent.futures.ThreadPoolExecutor(20) as ex:
            jobs = list(ex.map(lambda i: s.upload(data, 'c%02d.pcap' % i), range(20)))
        ids = [j['id'] for j in jobs]
        self.assertEqual(len(set(ids)), 20)
        done = [s.wait(i, timeout=90) for i in ids]
        self.assertEqual([j['state'] for j in done], ['done'] * 20)
        self.assertEqual({j['tor_flows'] for j in done}, {4})
        self.assertEqual(len(s.json('GET', '/api/history')), 20)
        self.assertEqual(s.files_under('uploads'), [])
        st = s.json('GET', '/api/status')
        self.assertEqual(st['jobs']['done'], 20)

    def test_queue_full_answers_503(self):
        s = self.server('--queue', '1')
        big = os.path.join(self.dir, 'flood.pcap')
        servetest.syn_flood(big, 300000)
        data = read(big)
        first = s.upload(data, 'a.pcap')  # running or queued
        codes = []
        for i in range(3):
            st, h, body = servetest.post_expect(s.port, '/api/jobs?name=b.pcap', data)
            codes.append(st)
            if st == 503:
                self.assertEqual(h['retry-after'], '5')
                self.assertIn(b'queue is full', body)
        self.assertIn(503, codes)
        s.wait(first['id'])
        self.assertEqual(s.files_under('uploads'), [])

    def test_client_gone_mid_upload_leaves_no_partial_file(self):
        s = self.server()
        data = read(sample())
        for _ in range(3):
            sock = socket.create_connection(('127.0.0.1', s.port))
            sock.sendall(b'POST /api/jobs?name=gone.pcap HTTP/1.1\r\nHost: x\r\n'
                         b'Content-Length: %d\r\n\r\n' % len(data))
            sock.sendall(data[:400000])
            time.sleep(0.2)
            self.assertEqual(len(s.files_under('uploads')), 1)  # streaming to disk
            sock.close()
            deadline = time.time() + 10
            while s.files_under('uploads') and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(s.files_under('uploads'), [])
        self.assertEqual(s.files_under('jobs'), [])
        self.assertEqual(s.json('GET', '/api/jobs')['jobs'], [])
        job = s.wait(s.upload(data)['id'])  # still serving
        self.assertEqual(job['state'], 'done')

    def test_cancel_running_and_queued_jobs(self):
        s = self.server('--jobs', '1')
        big = os.path.join(self.dir, 'flood.pcap')
        # Large enough that the reader is still at it when the cancel comes (600,000 SYNs
        # and a 0.2 s pause were read whole on a quiet machine once detection got faster:
        # the job was cancelled but complete).
        servetest.syn_flood(big, 2000000)
        data = read(big)
        a = s.upload(data, 'a.pcap')
        b = s.upload(sample())
        s.wait(a['id'], states=('running',), timeout=30)
        st, _, _ = s.request('POST', '/api/jobs/%d/cancel' % a['id'])
        self.assertEqual(st, 202)
        ja = s.wait(a['id'], timeout=30)
        self.assertEqual(ja['state'], 'cancelled', ja)
        self.assertFalse(ja['complete'])
        self.assertEqual(ja['status'], 1)  # stopped: TT_STATUS_PARTIAL
        jb = s.wait(b['id'])
        self.assertEqual(jb['state'], 'done')
        # a queued one: cancelled before it runs
        c1 = s.upload(data, 'c1.pcap')
        c2 = s.upload(sample(), 'c2.pcap')
        s.request('POST', '/api/jobs/%d/cancel' % c2['id'])
        s.request('POST', '/api/jobs/%d/cancel' % c1['id'])
        self.assertEqual(s.wait(c2['id'])['state'], 'cancelled')
        self.assertEqual(s.wait(c1['id'])['state'], 'cancelled')
        self.assertEqual(s.request('POST', '/api/jobs/999/cancel')[0], 404)

    def test_results_survive_a_restart(self):
        data = os.path.join(self.dir, 'keep')
        s = Server(TORTRACE, '--relays', consensus(), data=data)
        job = s.wait(s.upload(sample())['id'])
        # and jobs still queued or running when it stops
        big = os.path.join(self.dir, 'flood.pcap')
        servetest.syn_flood(big, 300000)
        running = s.upload(read(big), 'flood.pcap')
        queued = s.upload(sample(), 'queued.pcap')
        s.wait(running['id'], states=('running', 'done'))
        self.assertEqual(s.stop(), 0)
        s2 = self.server_at(data)
        j = s2.json('GET', '/api/jobs/%d' % job['id'])
        self.assertEqual(j['state'], 'done')
        self.assertEqual(j['tor_flows'], 4)
        self.assertEqual(s2.request('GET', '/api/jobs/%d/report.json' % job['id'])[0], 200)
        q = s2.json('GET', '/api/jobs/%d' % queued['id'])
        self.assertEqual(q['state'], 'cancelled')
        self.assertIn('before this analysis ran', q['error'])
        self.assertIn(s2.json('GET', '/api/jobs/%d' % running['id'])['state'],
                      ('cancelled', 'done'))
        self.assertGreater(s2.upload(sample())['id'], queued['id'])

    def server_at(self, data):
        s = Server(TORTRACE, data=data)
        self.servers.append(s)
        return s


class Relays(ServeCase):
    def test_reload_under_load(self):
        """Jobs run while the relay data is replaced again and again (POST and SIGHUP):
        every job names the index it used, its report agrees, jobs on the same index
        agree with each other, and no reload waits for a job."""
        other = os.path.join(self.dir, 'other')
        os.makedirs(other)
        docs = sorted(os.listdir(consensus()))
        shutil.copy(os.path.join(consensus(), docs[0]), other)  # fewer documents
        s = self.server('--relays', consensus(), '--jobs', '2')
        first = s.json('GET', '/api/relays')
        self.assertTrue(first['loaded'])
        big = os.path.join(self.dir, 'flood.pcap')
        servetest.syn_flood(big, 300000)
        flood = read(big)
        data = read(sample())
        ids = []
        digests = {first['digest']}
        stop = threading.Event()
        reload_times = []
        during = []  # reloads made while some job was running

        def reloader():
            i = 0
            while not stop.is_set():
                path = other if i % 2 == 0 else consensus()
                t = time.time()
                r = s.json('POST', '/api/relays', json.dumps({'path': path}).encode(),
                           {'Content-Type': 'application/json'})
                reload_times.append(time.time() - t)
                digests.add(r['digest'])
                during.append(s.json('GET', '/api/status')['jobs']['running'])
                i += 1
                if i % 3 == 0:
                    s.proc.send_signal(1)  # SIGHUP: --relays again
                time.sleep(0.05)

        th = threading.Thread(target=reloader)
        th.start()
        try:
            for i in range(12):
                ids.append(s.upload(flood if i % 4 == 0 else data, 'j%d.pcap' % i)['id'])
            jobs = [s.wait(i, timeout=90) for i in ids]
        finally:
            stop.set()
            th.join()
        self.assertEqual(len(digests), 2)
        self.assertGreaterEqual(s.json('GET', '/api/relays')['reloads'], 4)
        self.assertGreater(sum(1 for n in during if n > 0), 2)
        # Nothing waits for an analysis: a reload takes far less than the longest job
        # (the flood captures), which it would wait for if readers held the old index in
        # their read-side section through the analysis.
        longest = max(j['elapsed_s'] for j in jobs)
        self.assertGreater(longest, 0.3)
        self.assertLess(max(reload_times), longest / 2, (reload_times, longest))
        by_digest = {}
        for j in jobs:
            self.assertEqual(j['state'], 'done', j)
            rep = self.report(s, j['id'])
            rd = rep['options']['relay_data']
            self.assertEqual(rd['digest_xxh3_128'], j['relay_digest'])
            self.assertIn(j['relay_digest'], digests)
            if j['name'] != 'j0.pcap' and j['size'] == len(data):
                key = (j['relay_digest'], rd['documents'])
                by_digest.setdefault(key, set()).add(
                    json.dumps(rep['totals']['verdicts'], sort_keys=True))
        for key, results in by_digest.items():
            self.assertEqual(len(results), 1, key)  # same index, same answer
        # a relay document uploaded as the body
        with open(os.path.join(consensus(), docs[0]), 'rb') as f:
            r = s.json('POST', '/api/relays?name=' + docs[0], f.read(),
                       {'Content-Type': 'application/octet-stream'})
        self.assertTrue(r['path'].startswith(os.path.realpath(s.data)) or
                        r['path'].startswith(s.data))
        bad = s.request('POST', '/api/relays', b'{"path": "/nonexistent"}',
                        {'Content-Type': 'application/json'})
        self.assertEqual(bad[0], 400)
        self.assertEqual(s.json('GET', '/api/relays')['digest'], r['digest'])  # kept


if __name__ == '__main__':
    TORTRACE, SAMPLE_DIR, CORPUS = sys.argv[1:4]
    ENABLED = sys.argv[4] == 'yes'
    unittest.main(argv=sys.argv[:1] + sys.argv[5:], verbosity=2)
