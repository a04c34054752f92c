#!/usr/bin/env python3
"""Results must not depend on -j, and caps must not be exhausted cheaply (DESIGN.md:
caps, evictions and timeouts depend only on the packets, in packet time).

  test_determinism.py tls   TORTRACE SAMPLES   >10,000 idle half-open TLS flows before a
                                               Tor capture: -j 1..4 give the same
                                               report.json (apart from "run") and
                                               byte-identical flows.msgpack, evictions are
                                               counted, and Tor is still found (tor-bridge 3;
                                               tor 3 with the sample's consensus)
  test_determinism.py flows TORTRACE GENFLOWS  300,000 one-SYN flows with --flow-memory 16:
                                               flows are evicted and counted, -j 1 and -j 2
                                               agree byte for byte
  test_determinism.py rss   TORTRACE GENFLOWS  3,000,000 one-SYN flows with --flow-memory 64
                                               (and --sort-budget 16): peak RSS below 250 MB,
                                               flows evicted, -j 1 and -j 2 agree

SAMPLES is the repository's samples/tornet-default-s1 folder (tornet-client.pcap, consensus).
"""
import hashlib
import json, os, shutil, struct, subprocess, sys, tempfile

N_FLOOD = 12000


# ---- a TLS flood in front of a Tor capture ---------------------------------------------

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def frame(src, dst, sport, dport, seq, ack, flags, payload=b''):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq & 0xffffffff, ack & 0xffffffff,
                      5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00' + ip + tcp


def rec(data, t):
    return struct.pack('<IIII', int(t), int(round((t % 1) * 1e6)) % 1000000, len(data),
                       len(data)) + data


def partial_client_hello():
    """A TLS record that announces 16 KiB and brings 100 bytes of a ClientHello: the
    inspection stays in progress for as long as the flow lives."""
    sni = b'example.com'
    ext = struct.pack('!HHHBH', 0, len(sni) + 5, len(sni) + 3, 0, len(sni)) + sni
    body = b'\x03\x03' + bytes(range(32)) + b'\x00' + b'\x00\x04\x13\x01\xc0\x2f' + b'\x01\x00'
    body += struct.pack('!H', len(ext)) + ext
    hs = b'\x01' + struct.pack('!I', len(body))[1:] + body
    return (b'\x16\x03\x01\x40\x00' + hs)[:105]


def flood_then(sample, out, n):
    """n idle half-open TLS flows (handshake and a partial ClientHello each, all within
    the 30 s before the sample starts), then every packet of the sample."""
    src = open(sample, 'rb').read()
    t0 = struct.unpack('<I', src[24:28])[0] - 30
    ch = partial_client_hello()
    pk = []
    for i in range(n):
        c, s, cp = [10, 9, i >> 8 & 255, i & 255], [198, 51, 100, 1], 20000 + i % 40000
        t = t0 + i * (25.0 / n)
        pk.append(rec(frame(c, s, cp, 443, 1000, 0, 0x02), t))
        pk.append(rec(frame(s, c, 443, cp, 5000, 1001, 0x12), t))
        pk.append(rec(frame(c, s, cp, 443, 1001, 5001, 0x10), t))
        pk.append(rec(frame(c, s, cp, 443, 1001, 5001, 0x18, ch), t))
    with open(out, 'wb') as f:
        f.write(src[:24] + b''.join(pk) + src[24:])


# ---- running tortrace ------------------------------------------------------------------

def run(tortrace, out, paths, *extra):
    """Analyse; returns (report without "run", (size, SHA-256) of flows.msgpack, peak RSS in
    KiB). The flows are not held in memory here: a forked child counts the parent's pages
    in its peak RSS until it executes tortrace."""
    cmd = [tortrace, 'analyze', '-q', '--no-progress', '-o', out, *extra, *paths]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    err = p.stderr.read().decode(errors='replace')
    p.stdout.close()
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{err[-2000:]}")
    with open(os.path.join(out, 'report.json')) as f:
        rep = json.load(f)
    rep.pop('run')
    digest = hashlib.sha256()
    with open(os.path.join(out, 'flows.msgpack'), 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return rep, (os.path.getsize(os.path.join(out, 'flows.msgpack')), digest.hexdigest()), \
        usage.ru_maxrss


def across_jobs(tortrace, paths, jobs, *extra, keep=None):
    """The runs for each -j; fails unless every one equals the first. keep: where to copy
    the first run's flows.msgpack."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for j in jobs:
            out = os.path.join(tmp, f'j{j}')
            results.append(run(tortrace, out, paths, '-j', str(j), *extra))
            if keep and j == jobs[0]:
                shutil.copy(os.path.join(out, 'flows.msgpack'), keep)
            shutil.rmtree(out)
    first = json.dumps(results[0][0], sort_keys=True)
    for j, (rep, flows, rss) in zip(jobs, results):
        same_rep = json.dumps(rep, sort_keys=True) == first
        same_flows = flows == results[0][1]
        print(f"  -j {j}: report {'equal' if same_rep else 'DIFFERS'}, flows.msgpack "
              f"{'identical' if same_flows else 'DIFFERS'} ({flows[0]} bytes), "
              f"peak RSS {rss // 1024} MB")
        if not (same_rep and same_flows):
            sys.exit(f"FAIL: -j {j} differs from -j {jobs[0]} ({' '.join(extra)})")
    return results


def totals(rep):
    t = rep['totals']
    return t['verdicts'], t['tls_inspections_evicted'], t['flows_evicted']


def check(cond, msg):
    print(('  ok: ' if cond else '  FAIL: ') + msg)
    return 0 if cond else 1


def case_tls(tortrace, samples):
    sample = os.path.join(samples, 'tornet-client.pcap')
    consensus = os.path.join(samples, 'consensus')
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        cap = os.path.join(tmp, 'flood.pcap')
        flood_then(sample, cap, N_FLOOD)
        print(f"tls: {N_FLOOD} idle half-open TLS flows, then {sample}")
        kept = os.path.join(tmp, 'flows-j1.msgpack')
        res = across_jobs(tortrace, [cap], (1, 2, 3, 4), keep=kept)
        verdicts, tls_evicted, _ = totals(res[0][0])
        fails += check(verdicts['tor-bridge'] == 3,
                       f"tor-bridge {verdicts['tor-bridge']} (3 expected) without relays")
        fails += check(tls_evicted > 0, f"tls_inspections_evicted {tls_evicted} > 0")
        fails += check(res[0][0]['files'][0]['tls_inspections_evicted'] == tls_evicted,
                       "the file entry counts the same evictions as the totals")
        exp = subprocess.run([tortrace, 'export', '--jsonl', kept], stdout=subprocess.PIPE,
                             check=True).stdout.decode().splitlines()
        n_flagged = sum('"tls_evicted":true' in l for l in exp)
        fails += check(n_flagged == tls_evicted, f"{n_flagged} flows say tls_evicted")
        print("tls: with --relays", consensus)
        res = across_jobs(tortrace, [cap], (1, 2, 3, 4), '--relays', consensus)
        verdicts, _, _ = totals(res[0][0])
        fails += check(verdicts['tor'] == 3, f"tor {verdicts['tor']} (3 expected) with relays")
    return fails


def case_flows(tortrace, genflows, n, budget, max_rss_mb, *extra):
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        cap = os.path.join(tmp, 'many.pcap')
        with open(cap, 'wb') as f:
            subprocess.run([genflows, str(n)], stdout=f, check=True)
        print(f"flows: {n} one-SYN flows, --flow-memory {budget}")
        res = across_jobs(tortrace, [cap], (1, 2), '--flow-memory', str(budget), *extra)
        _, _, evicted = totals(res[0][0])
        t = res[0][0]['totals']
        fails += check(t['flows'] == n, f"{t['flows']} flows ({n} expected)")
        fails += check(evicted > 0, f"flows_evicted {evicted} > 0")
        fails += check(res[0][0]['files'][0]['flows_evicted'] == evicted,
                       "the file entry counts the same evictions as the totals")
        if max_rss_mb:
            for (_, _, rss), j in zip(res, (1, 2)):
                fails += check(rss < max_rss_mb * 1024,
                               f"-j {j}: peak RSS {rss // 1024} MB < {max_rss_mb} MB")
    return fails


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ('tls', 'flows', 'rss'):
        sys.exit(__doc__)
    what, tortrace, arg = sys.argv[1:]
    if what == 'tls':
        fails = case_tls(tortrace, arg)
    elif what == 'flows':
        fails = case_flows(tortrace, arg, 300000, 16, 0)
    else:
        with open(tortrace, 'rb') as f:
            binary = f.read()
        if b'__asan_init' in binary or b'__tsan_init' in binary:
            # Shadow memory makes RSS meaningless, and 3 M flows take minutes there.
            print("SKIP: tortrace is built with a sanitizer")
            return 77
        fails = case_flows(tortrace, arg, 3000000, 64, 250, '--sort-budget', '16')
    print('PASS' if fails == 0 else f'FAIL: {fails} checks')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
