#!/usr/bin/env python3
"""Decompression ahead of the reader (src/reader/ahead.c) must not change any output.

usage: test_ahead.py TORTRACE CORPUS WORKDIR

Builds, under WORKDIR, a folder of gzip and zstd copies of corpus captures (a rotated set
split over compressed files of both kinds among them, an uncompressed capture between
them, and faulty files: a gzip cut short, a zstd with a corrupt block, gzip data that is
not a capture, an empty .gz), then analyses it with read-ahead off (TT_DECOMPRESS_AHEAD=0)
and on with 1, 2 and 5 helpers, with -j 1 and -j 2. report.json (apart from "run") and
flows.msgpack must be byte-identical, and the debug log must show that the helpers, not
the reader, decompressed every compressed file in the runs with read-ahead on.
Exit 77 (skip) when CORPUS is missing.
"""
import gzip, json, os, shutil, struct, subprocess, sys

TORTRACE, CORPUS, WORK = sys.argv[1:4]

CAPTURES = [  # (name in the folder, corpus path, compression)
    ('01-default-client.pcap.gz', 'tornet/default-s1/client.pcap', 'gz'),
    ('02-bridge-client.pcap.zst', 'tornet/bridge-s2/client.pcap', 'zst'),
    ('03-exit1.pcap', 'tornet/default-s1/relay-exit1.pcap', None),
    ('05-firefox.pcap.zst', 'peers/ndpi/pcap/443-firefox.pcap', 'zst'),
    ('06-android.pcap.gz', 'peers/ndpi/pcap/android.pcap', 'gz'),
    ('07-anyconnect.pcap.gz', 'peers/ndpi/pcap/anyconnect-vpn.pcap', 'gz'),
    ('20-default-client-again.pcap.zst', 'tornet/default-s1/client.pcap', 'zst'),
]
ROTATED = 'tornet/obfs4-s5/client.pcap'  # split into 04-obfs4-1 .. 04-obfs4-4


def zstd(data, *opts):
    return subprocess.run(['zstd', '-q', '-c', *opts], input=data, capture_output=True,
                          check=True).stdout


def compress(data, how):
    if how == 'gz':
        return gzip.compress(data, 6)
    if how == 'zst':
        return zstd(data, '--check', '-3')
    return data


def split_pcap(data, n):
    """Classic pcap (either byte order) into n files of consecutive records."""
    magic = data[:4]
    end = '<' if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
    recs, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + 'I', data[off + 8:off + 12])[0]
        recs.append(data[off:off + 16 + caplen])
        off += 16 + caplen
    k = (len(recs) + n - 1) // n
    return [data[:24] + b''.join(recs[i * k:(i + 1) * k]) for i in range(n)]


def build(folder):
    os.makedirs(folder)

    def put(name, data):
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(data)

    for name, rel, how in CAPTURES:
        with open(os.path.join(CORPUS, rel), 'rb') as f:
            put(name, compress(f.read(), how))
    with open(os.path.join(CORPUS, ROTATED), 'rb') as f:
        parts = split_pcap(f.read(), 4)
    for i, part in enumerate(parts):
        put('04-obfs4-%d.pcap.%s' % (i + 1, 'gz' if i % 2 == 0 else 'zst'),
            compress(part, 'gz' if i % 2 == 0 else 'zst'))
    with open(os.path.join(CORPUS, 'tornet/default-s1/relay-exit1.pcap'), 'rb') as f:
        exit1 = f.read()
    g = gzip.compress(exit1)
    put('10-cut.pcap.gz', g[:len(g) * 2 // 5])
    z = bytearray(zstd(exit1, '--check', '-1'))
    z[len(z) // 2:len(z) // 2 + 64] = b'\xff' * 64
    put('11-corrupt.pcap.zst', bytes(z))
    put('12-notcap.gz', gzip.compress(b'not a capture\n' * 1000))
    put('13-empty.pcap.gz', b'')
    return len(CAPTURES) - 1 + len(parts) + 3  # compressed files a helper decodes


def analyze(folder, out, ahead, jobs):
    env = dict(os.environ)
    if ahead is None:
        env.pop('TT_DECOMPRESS_AHEAD', None)
    else:
        env['TT_DECOMPRESS_AHEAD'] = str(ahead)
    p = subprocess.run([TORTRACE, 'analyze', '-vv', '--no-progress', '--no-html', '-j',
                        str(jobs), '-o', out, folder], env=env, capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 1:  # the faulty files make the run partial
        sys.exit('FAIL: ahead=%s -j %d: exit %d\n%s' % (ahead, jobs, p.returncode,
                                                       p.stderr[-2000:]))
    with open(os.path.join(out, 'report.json')) as f:
        rep = json.load(f)
    del rep['run']
    with open(os.path.join(out, 'flows.msgpack'), 'rb') as f:
        flows = f.read()
    n_ahead = None
    for line in p.stderr.splitlines():
        if 'files decompressed ahead' in line:
            n_ahead = int(line.split('reader: ')[1].split()[0])
    return json.dumps(rep, sort_keys=True), flows, rep, n_ahead


def main():
    if not os.path.isdir(CORPUS) or not all(
            os.path.exists(os.path.join(CORPUS, rel)) for _, rel, _ in CAPTURES):
        print('SKIP: corpus %s missing (needs ../shared/corpus)' % CORPUS)
        return 77
    if shutil.which('zstd') is None:
        print('SKIP: the zstd command is not installed')
        return 77
    work = os.path.join(WORK, 'ahead-test')
    shutil.rmtree(work, ignore_errors=True)
    folder = os.path.join(work, 'in')
    n_compressed = build(folder)
    base_json, base_flows, rep, n = analyze(folder, os.path.join(work, 'off'), 0, 1)
    if n is not None:
        sys.exit('FAIL: read-ahead off, yet %d files were decompressed ahead' % n)
    # The baseline is what the checks compare against: make sure it is worth comparing.
    files = {os.path.basename(f['path']): f for f in rep['files']}
    problems = []
    for name in ('10-cut.pcap.gz', '11-corrupt.pcap.zst', '12-notcap.gz', '13-empty.pcap.gz'):
        if not files[name]['error']:
            problems.append('%s has no error' % name)
    if 'compressed offset' not in (files['11-corrupt.pcap.zst']['error'] or ''):
        problems.append('11-corrupt.pcap.zst: %s' % files['11-corrupt.pcap.zst']['error'])
    if files['10-cut.pcap.gz']['packets'] == 0:
        problems.append('10-cut.pcap.gz: nothing kept before the cut')
    for i in (2, 3, 4):
        if not files['04-obfs4-%d.pcap.%s' % (i, 'gz' if i % 2 else 'zst')]['chain'].startswith(
                'chained'):
            problems.append('04-obfs4-%d is not chained' % i)
    if rep['totals']['flows'] < 100:
        problems.append('only %d flows' % rep['totals']['flows'])
    if problems:
        sys.exit('FAIL: baseline: ' + '; '.join(problems))
    ok = True
    for ahead, jobs in ((0, 2), (1, 1), (2, 1), (2, 2), (5, 2), (None, 2)):
        got_json, got_flows, _, n = analyze(
            folder, os.path.join(work, 'ahead%s-j%d' % (ahead, jobs)), ahead, jobs)
        what = 'TT_DECOMPRESS_AHEAD=%s -j %d' % ('(unset)' if ahead is None else ahead, jobs)
        same = got_json == base_json and got_flows == base_flows
        print('%-34s report %s, flows.msgpack %s, %s files decompressed ahead' % (
            what, 'same' if got_json == base_json else 'DIFFERS',
            'same' if got_flows == base_flows else 'DIFFERS', n))
        if not same:
            ok = False
        if ahead and n != n_compressed:
            print('FAIL: %s: %s of %d compressed files were decompressed ahead' % (
                what, n, n_compressed))
            ok = False
    if not ok:
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print('ok: outputs identical with read-ahead off and on, -j 1 and -j 2')
    return 0


if __name__ == '__main__':
    sys.exit(main())
