#!/usr/bin/env python3
"""Detection accuracy on ../shared/corpus, with and without relay data, beside nDPI 4.2.

usage: bench/accuracy.py [TORTRACE] [CORPUS]     (defaults: build/tortrace, ../shared/corpus)

Prints, per label of the tornet ground truth, flows, detected (verdict other than none),
recall and the verdicts given; false positives among the non-Tor flows; the Tor flows of
the peer captures (nDPI's 2013 tor.pcap, Suricata's tor_bl.pcap) and every non-none
verdict anywhere else in the nDPI and Zeek sets, with nDPI 4.2's Tor flow counts
(corpus/peers/ndpi/ndpi_tor_table.tsv) beside ours. Exit 0 when the targets of the
detection issue hold, 1 otherwise. It runs tortrace; it does not need tshark or nDPI.
"""
import collections, csv, json, os, struct, subprocess, sys, tempfile

TT = sys.argv[1] if len(sys.argv) > 1 else 'build/tortrace'
CORPUS = sys.argv[2] if len(sys.argv) > 2 else '../shared/corpus'
TOR_LABELS = ('tor-link', 'tor-dir', 'tor-bridge', 'tor-obfs4')


def analyze(paths, relays=None):
    with tempfile.TemporaryDirectory() as out:
        cmd = [TT, 'analyze', '-q', '-o', out] + (['--relays', relays] if relays else []) + paths
        subprocess.run(cmd, stderr=subprocess.DEVNULL, check=False)
        jl = subprocess.run([TT, 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
                            capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in jl.splitlines()]


def key(r):
    return (r['proto'], r['src_ip'], str(r['src_port']), r['dst_ip'], str(r['dst_port']))


def tornet(with_relays):
    per = collections.defaultdict(collections.Counter)
    root = os.path.join(CORPUS, 'tornet')
    for run in sorted(os.listdir(root)):
        rdir = os.path.join(root, run)
        if not os.path.isdir(rdir):
            continue
        for csvf in sorted(f for f in os.listdir(rdir) if f.endswith('.flows.csv')):
            pcap = os.path.join(rdir, csvf.replace('.flows.csv', '.pcap'))
            flows = {key(r): r for r in analyze([pcap], os.path.join(rdir, 'consensus')
                                                 if with_relays else None)}
            for t in csv.DictReader(open(os.path.join(rdir, csvf))):
                label = t['label']
                if label.startswith('non-tor') or label == 'other':
                    label = 'non-tor'
                r = flows.get(key(t))
                per[label][r['verdict'] if r else 'missing'] += 1
    return per


ACCSET = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'accuracy')


def cut_midstream(src_zst, out, flows):
    """A copy of a reduced accuracy-set capture that begins where the middle part of its
    first Tor flow begins (what a capture started mid-connection holds; mid_ts, written by
    tools/accuracy_set.py): every packet before that time is dropped. Returns False when
    no Tor flow has a middle part."""
    raw = subprocess.run(['zstd', '-dc', src_zst], capture_output=True, check=True).stdout
    e = '<' if struct.unpack('<I', raw[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else '>'
    recs, off = [], 24
    while off + 16 <= len(raw):
        sec, usec, caplen = struct.unpack(e + 'III', raw[off:off + 12])
        recs.append((sec * 1000000 + usec, raw[off:off + 16 + caplen]))
        off += 16 + caplen
    mids = [int(f['mid_ts'].replace('.', '')) for f in flows  # sec.usec as microseconds
            if f['label'].startswith('tor') and f['mid_ts']]
    if not mids:
        return False
    cut = min(mids)
    with open(out, 'wb') as f:
        f.write(raw[:24] + b''.join(r for t, r in recs if t >= cut))
    return True


def either_way(flows_by_key, t):
    k = key(t)
    r = flows_by_key.get(k)
    if r is None:  # a mid-stream flow may be oriented the other way round
        r = flows_by_key.get((k[0], k[3], k[4], k[1], k[2]))
    return r


def accuracy_set():
    """Per label of data/accuracy/ (reduced fresh tornet runs: tools/accuracy_set.py):
    flows, detected, recall, with and without relay data, whole and cut mid-stream. Report
    only: the targets of the issue on mid-stream links and pluggable transports are not
    enforced yet."""
    if not os.path.isdir(ACCSET):
        print(f"\n== accuracy set: none at {ACCSET}")
        return
    runs = sorted(d for d in os.listdir(ACCSET) if os.path.isdir(os.path.join(ACCSET, d)))
    print(f"\n== accuracy set: {len(runs)} reduced tornet runs (data/accuracy, "
          f"tools/accuracy_set.py)")
    for mode in ('whole', 'mid-stream'):
        for with_relays in (True, False):
            per = collections.defaultdict(collections.Counter)
            for run in runs:
                rdir = os.path.join(ACCSET, run)
                labels = list(csv.DictReader(open(os.path.join(rdir, 'client.flows.csv'))))
                with tempfile.TemporaryDirectory() as tmp:
                    cap = os.path.join(rdir, 'client.pcap.zst')
                    if mode == 'mid-stream':
                        cap = os.path.join(tmp, 'cut.pcap')
                        if not cut_midstream(os.path.join(rdir, 'client.pcap.zst'), cap,
                                             labels):
                            continue
                    flows = {key(r): r for r in analyze(
                        [cap], os.path.join(rdir, 'consensus') if with_relays else None)}
                for t in labels:
                    label = 'non-tor' if not t['label'].startswith('tor') else t['label']
                    r = either_way(flows, t)
                    if r is None and mode == 'mid-stream':
                        continue  # the flow ended before the cut
                    per[label][r['verdict'] if r else 'missing'] += 1
            print(f"-- {mode}, {'with the run consensus' if with_relays else 'no relay data'}")
            for label in sorted(per):
                c = per[label]
                n = sum(c.values())
                det = n - c['none'] - c['missing']
                what = 'false positives' if label == 'non-tor' else 'recall'
                val = det if label == 'non-tor' else f"{det / n:.0%}" if n else '-'
                print(f"   {label:14} flows {n:4}  detected {det:4}  {what} {val}  {dict(c)}")


def main():
    if not os.path.isdir(CORPUS):
        print(f"SKIP: no corpus at {CORPUS}")
        return 77
    ok = True
    recall = {}
    for with_relays in (True, False):
        per = tornet(with_relays)
        print(f"\n== tornet, {'with the run consensus' if with_relays else 'no relay data'}")
        print(f"{'label':16} {'flows':>6} {'detected':>9} {'recall':>7}  verdicts")
        for label in sorted(per):
            c = per[label]
            n = sum(c.values())
            det = n - c['none'] - c['missing']
            if label == 'non-tor':
                print(f"{label:16} {n:6} {det:9} {'':>7}  false positives: {det}  {dict(c)}")
                ok &= det == 0
            else:
                rc = det / n if n else 0
                recall[(label, with_relays)] = rc
                print(f"{label:16} {n:6} {det:9} {rc:7.0%}  {dict(c)}")
    targets = [(('tor-link', True), 1.0), (('tor-dir', True), 1.0), (('tor-link', False), 0.95),
               (('tor-bridge', True), 0.95), (('tor-obfs4', True), 0.80)]
    print("\n== targets")
    for (label, rel), want in targets:
        got = recall.get((label, rel), 0)
        good = got >= want
        ok &= good
        print(f"{'PASS' if good else 'FAIL'}  {label} {'with' if rel else 'without'} relay "
              f"data: recall {got:.0%} (target {want:.0%})")

    print("\n== peers (no relay data: their dates are not in the corpus's relay data)")
    peers = analyze([os.path.join(CORPUS, 'peers')])
    ndpi = {r['pcap']: int(r['ndpiReader4.2_tor_flows'] or 0)
            for r in csv.DictReader(open(os.path.join(CORPUS, 'peers', 'ndpi',
                                                      'ndpi_tor_table.tsv')), delimiter='\t')}
    by_file = collections.defaultdict(collections.Counter)
    for r in peers:
        by_file[r['file']][r['verdict']] += 1
    tor_files = {'tor.pcap': 7, 'tor_bl.pcap': 2}
    listed = {}
    for line in open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  'accuracy-exceptions.tsv')):
        if line.strip() and not line.startswith('#'):
            name, verdict, n, reason = line.rstrip('\n').split('\t')
            listed[name] = (verdict, int(n), reason)
    fp = n_listed = 0
    for f in sorted(by_file):
        name = os.path.basename(f)
        c = by_file[f]
        det = sum(c.values()) - c['none']
        if name in tor_files or 'tor_legacy' in f:
            print(f"  {name:28} Tor flows detected {det} (expected {tor_files.get(name, '-')}); "
                  f"nDPI 4.2: {ndpi.get(name, '-')}")
            if name in tor_files:
                ok &= det >= tor_files[name]
        elif det:
            want = listed.get(name)
            if want and c[want[0]] == want[1] and det == want[1]:
                n_listed += det
                print(f"  listed: {name}: {det} {want[0]} ({want[2]})")
            else:
                fp += det
                print(f"  FALSE POSITIVE {f}: {dict(c)}")
    fired = {os.path.basename(f) for f, c in by_file.items() if sum(c.values()) - c['none']}
    for name in sorted(set(listed) - fired):
        print(f"  STALE: {name} is listed in accuracy-exceptions.tsv but no longer flagged")
        ok = False
    n_other = sum(sum(c.values()) for f, c in by_file.items()
                  if os.path.basename(f) not in tor_files and 'tor_legacy' not in f)
    print(f"  non-Tor flows in the nDPI, Zeek and Suricata sets: {n_other}, false positives: {fp}"
          f" (+{n_listed} listed in bench/accuracy-exceptions.tsv with their reason)")
    ok &= fp == 0
    accuracy_set()
    print(f"\naccuracy: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
