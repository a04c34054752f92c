"""What the tests of `tortrace serve` share: a real server on 127.0.0.1 with a free port and
a temporary --data folder, and a small HTTP client on http.client (no mocks)."""
import http.client
import json
import os
import re
import signal
import struct
import subprocess
import tempfile
import time


class Server:
    """`tortrace serve --listen 127.0.0.1:0 --data DIR ...`; the port is read from the
    line it prints on stderr (kept in DIR/../server.log)."""

    def __init__(self, tortrace, *args, data=None, timeout=20):
        self.tmp = None
        if data is None:
            self.tmp = tempfile.TemporaryDirectory(prefix='tt-serve-')
            data = os.path.join(self.tmp.name, 'data')
        self.data = data
        self.log_path = data.rstrip('/') + '.log'
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(
            [tortrace, 'serve', '--listen', '127.0.0.1:0', '--data', data, *args],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        self.port = None
        while time.time() < deadline:
            m = re.search(r'listening on https?://127\.0\.0\.1:(\d+)/', self.log_text())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise RuntimeError('tortrace serve exited %d: %s' %
                                   (self.proc.returncode, self.log_text()))
            time.sleep(0.05)
        if not self.port:
            self.stop()
            raise RuntimeError('tortrace serve did not start: ' + self.log_text())
        self.token = None

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM, then wait (a clean stop is part of what is tested: exit 0)."""
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = 'hung'
        else:
            rc = self.proc.returncode
        self.log.close()
        if self.tmp:
            self.tmp.cleanup()
        return rc

    def alive(self):
        return self.proc.poll() is None

    # ---- HTTP ----
    def conn(self, timeout=60):
        return http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=60):
        h = dict(headers or {})
        if self.token and 'Authorization' not in h:
            h['Authorization'] = 'Bearer ' + self.token
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None, want=200):
        st, h, data = self.request(method, path, body, headers)
        if want is not None and st != want:
            raise AssertionError('%s %s: %d %s' % (method, path, st, data[:300]))
        return json.loads(data) if data else None

    def upload(self, path_or_bytes, name=None, want=202):
        if isinstance(path_or_bytes, bytes):
            body = path_or_bytes
        else:
            with open(path_or_bytes, 'rb') as f:
                body = f.read()
            name = name or os.path.basename(path_or_bytes)
        q = '/api/jobs?name=' + urlquote(name or 'upload')
        return self.json('POST', q, body, {'Content-Type': 'application/octet-stream'},
                         want=want)

    def wait(self, job_id, timeout=120, states=('done', 'failed', 'cancelled')):
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.json('GET', '/api/jobs/%d' % job_id)
            if j['state'] in states:
                return j
            time.sleep(0.05)
        raise AssertionError('job %d still %s after %d s' % (job_id, j['state'], timeout))

    def files_under(self, sub):
        out = []
        for root, _, files in os.walk(os.path.join(self.data, sub)):
            out += [os.path.join(root, f) for f in files]
        return out


def urlquote(s):
    import urllib.parse
    return urllib.parse.quote(s, safe='')


def syn_flood(path, n):
    """A pcap of n TCP SYNs, each a flow of its own: slow enough to analyse (a second or
    more for 500,000) that a job can be cancelled while it runs."""
    eth = b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00'
    out = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    for i in range(n):
        src = 0x0a000000 | (i >> 16 << 8) | 1
        sport = 1024 + (i & 0xffff) % 60000
        ip = struct.pack('!BBHHHBBHII', 0x45, 0, 40, 0, 0, 64, 6, 0, src, 0x0b000001)
        tcp = struct.pack('!HHIIBBHHH', sport, 443, i, 0, 0x50, 0x02, 65535, 0, 0)
        out.append(struct.pack('<IIII', 1700000000 + i // 100000, i % 100000 * 10, 54, 54) +
                   eth + ip + tcp)
    with open(path, 'wb') as f:
        f.write(b''.join(out))


def five_tuple(f):
    return (f['proto'], f['src_ip'], f['src_port'], f['dst_ip'], f['dst_port'],
            round(f['first_ts'], 6))


def post_expect(port, path, body, token=None):
    """POST with `Expect: 100-continue`, as curl sends large bodies: the body goes only
    after the server's 100 Continue, so an early answer (413, 503, 401) arrives whole.
    Returns (status, headers dict with lower-case names, body)."""
    import socket
    sock = socket.create_connection(('127.0.0.1', port), timeout=60)
    head = ('POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n'
            'Content-Type: application/octet-stream\r\nExpect: 100-continue\r\n%s\r\n' %
            (path, len(body), 'Authorization: Bearer %s\r\n' % token if token else ''))
    sock.sendall(head.encode())
    f = sock.makefile('rb')
    while True:
        status = f.readline().decode()
        code = int(status.split()[1])
        headers = {}
        while True:
            line = f.readline().decode().rstrip('\r\n')
            if not line:
                break
            k, v = line.split(':', 1)
            headers[k.strip().lower()] = v.strip()
        if code != 100:
            break
        sock.sendall(body)
    data = f.read(int(headers.get('content-length', 0)))
    sock.close()
    return code, headers, data
