#!/usr/bin/env python3
"""Does tortrace serve keep its memory flat? 200 sequential uploads of the bundled sample,
each waited for until its analysis is done; the server's RSS (/proc/PID/status VmRSS) is
sampled after each. Prints the first, last and largest RSS and the least-squares slope
(KiB per upload, over all samples and over the second half, after warm-up), then the upload
throughput of one larger capture over loopback.

usage: bench/serve_memory.py [TORTRACE] [N]   (default ./build/tortrace, 200)
Records: bench/RESULTS.md, "tortrace serve: memory over 200 uploads"."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'serve'))
import servetest  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def slope(ys):
    n = len(ys)
    xs = range(n)
    mx, my = (n - 1) / 2, sum(ys) / n
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    den = sum((x - mx) ** 2 for x in xs)
    return num / den if den else 0.0


def main():
    tortrace = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build', 'tortrace')
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    sample_dir = os.path.join(ROOT, 'samples', 'tornet-default-s1')
    with open(os.path.join(sample_dir, 'tornet-client.pcap'), 'rb') as f:
        data = f.read()
    s = servetest.Server(tortrace, '--relays', os.path.join(sample_dir, 'consensus'))
    try:
        rss = []
        t0 = time.time()
        for i in range(n):
            job = s.upload(data, 'sample-%03d.pcap' % i)
            job = s.wait(job['id'])
            if job['state'] != 'done' or job['tor_flows'] != 4:
                raise SystemExit('job %d: %s' % (job['id'], job))
            rss.append(rss_kib(s.proc.pid))
        wall = time.time() - t0
        half = rss[len(rss) // 2:]
        print('serve_memory: %d sequential uploads of the sample (%d bytes) in %.1f s '
              '(%.1f uploads/s, each analysed)' % (n, len(data), wall, n / wall))
        print('serve_memory: RSS first %d KiB, last %d KiB, max %d KiB' %
              (rss[0], rss[-1], max(rss)))
        print('serve_memory: slope %.2f KiB/upload over all, %.2f KiB/upload over the '
              'second half' % (slope(rss), slope(half)))
        # Upload throughput: one larger capture (SYNs, 60 MB) over loopback.
        big = os.path.join(s.data, '..', 'flood.pcap')
        servetest.syn_flood(big, 1000000)
        with open(big, 'rb') as f:
            body = f.read()
        os.unlink(big)
        t = time.time()
        job = s.upload(body, 'flood.pcap')
        up = time.time() - t
        print('serve_memory: upload of %d bytes in %.3f s = %.0f MB/s (streamed to disk, '
              'sniffed, queued)' % (len(body), up, len(body) / up / 1e6))
        s.wait(job['id'])
        print('serve_memory: RSS after it %d KiB' % rss_kib(s.proc.pid))
    finally:
        s.stop()


if __name__ == '__main__':
    main()
