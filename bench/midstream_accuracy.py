#!/usr/bin/env python3
"""Mid-stream accuracy (issue 7): how tortrace does on captures that begin in the middle
of connections.

For each tornet run (CORPUS/tornet/<run>/client.pcap, labels in client.flows.csv), the
capture is cut with `editcap -A <time>` at several offsets after its first packet, and
each cut is analysed with and without the run's consensus (--relays <run>/consensus).
Output flows are joined to the labelled flows by 5-tuple in either orientation: a
reversed match means the orientation was guessed wrong. A labelled flow is "mid-stream"
in a cut when it started before the cut and has packets after it (its SYN was cut off),
"whole" when it started after the cut.

Per label (tor-link, tor-bridge, tor-dir, tor-obfs4, non-tor) it prints: flows present in
the cuts (mid-stream; summed over cut points, so one flow counts once per cut that
splits it), found in the output, detected (verdict != none), recall, reversed
orientations; and the false positives among non-tor flows.

With --baseline OTHER_TORTRACE it also analyses the peers' captures (nDPI, Zeek,
Suricata under CORPUS/peers) with both binaries and compares the number of non-none
verdicts per file.

usage: python3 bench/midstream_accuracy.py build/tortrace ../shared/corpus [--baseline B]
       [--cuts 5,10,20] [--no-peers]
"""
import argparse
import collections
import csv
import json
import os
import subprocess
import sys
import tempfile

distinct = collections.defaultdict(set)  # the labelled flows behind each row's count


def analyze(tt, paths, relays=None):
    """Records of one run, as export --jsonl prints them (None if analyze failed)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [tt, 'analyze', '-q', '--no-progress', '-o', out]
        cmd += (['--relays', relays] if relays else []) + paths
        r = subprocess.run(cmd, stderr=subprocess.DEVNULL, check=False)
        fm = os.path.join(out, 'flows.msgpack')
        if not os.path.exists(fm):
            return None
        jl = subprocess.run([tt, 'export', '--jsonl', fm], capture_output=True, text=True,
                            check=False).stdout
    del r
    return [json.loads(l) for l in jl.splitlines()]


def first_ts(pcap):
    out = subprocess.run(['capinfos', '-a', '-S', '-T', '-r', pcap], capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()
    return float(out[-1].split('\t')[1])


def norm_label(label):
    if label.startswith('non-tor') or label == 'other':
        return 'non-tor'
    return 'tor-exit-side' if label.startswith('tor-exit') else label


def tornet(tt, corpus, cuts, with_others):
    # per[(with_relays, label, kind)] = Counter(present, found, detected, reversed)
    per = collections.defaultdict(collections.Counter)
    fps = collections.defaultdict(list)
    global distinct
    root = os.path.join(corpus, 'tornet')
    for run in sorted(os.listdir(root)):
        rdir = os.path.join(root, run)
        if not os.path.isdir(rdir):
            continue
        for csvf in sorted(f for f in os.listdir(rdir) if f.endswith('.flows.csv')):
            pcap = os.path.join(rdir, csvf.replace('.flows.csv', '.pcap'))
            if os.path.isfile(pcap) and (csvf == 'client.flows.csv' or with_others):
                cut_one(tt, rdir, run + '/' + csvf.replace('.flows.csv', ''), pcap,
                        os.path.join(rdir, csvf), cuts, per, fps)
    return per, fps


def cut_one(tt, rdir, name, pcap, csvpath, cuts, per, fps):
    if True:
        run = name
        labels = list(csv.DictReader(open(csvpath)))
        t0 = first_ts(pcap)
        for cut in cuts:
            tcut = t0 + cut
            with tempfile.TemporaryDirectory() as tmp:
                cp = os.path.join(tmp, 'cut.pcap')
                subprocess.run(['editcap', '-A', f'{tcut:.6f}', pcap, cp], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for with_relays in (True, False):
                    recs = analyze(tt, [cp], os.path.join(rdir, 'consensus')
                                   if with_relays else None) or []
                    fwd, rev = {}, {}
                    for r in recs:
                        k = (r['proto'], r['src_ip'], int(r['src_port']), r['dst_ip'],
                             int(r['dst_port']))
                        fwd[k] = r
                        rev[(k[0], k[3], k[4], k[1], k[2])] = r
                    for t in labels:
                        f_ts, l_ts = float(t['first_ts']), float(t['last_ts'])
                        if l_ts < tcut:
                            continue  # wholly before the cut: not in it
                        kind = 'mid' if f_ts < tcut else 'whole'
                        label = norm_label(t['label'])
                        c = per[(with_relays, label, kind)]
                        c['present'] += 1
                        distinct[(with_relays, label, kind)].add((run, t['flow_id']))
                        k = (t['proto'], t['src_ip'], int(t['src_port']), t['dst_ip'],
                             int(t['dst_port']))
                        r = fwd.get(k)
                        if r is None and k in rev:
                            r = rev[k]
                            c['reversed'] += 1
                        if r is None:
                            continue
                        c['found'] += 1
                        if kind == 'mid':
                            c['init_' + r.get('initiator', '?')] += 1
                        if r['verdict'] != 'none':
                            c['detected'] += 1
                            c['v_' + r['verdict']] += 1
                            if label == 'non-tor':
                                fps[with_relays].append(
                                    f"{run}+{cut}s {t['label']} {k} {r['verdict']} "
                                    f"{r['evidence']}")
                        ev = r.get('evidence') or ''
                        if 'D3' in str(ev):
                            c['d3'] += 1


def print_tornet(per, fps, cuts):
    for with_relays in (True, False):
        print(f"\n== tornet captures cut at +{','.join(map(str, cuts))} s, "
              f"{'with the run consensus' if with_relays else 'no relay data'}")
        print("present: labelled flows with packets after the cut, summed over the cuts "
              "(mid: begun before the cut, SYN cut off; whole: begun after it); flows: distinct "
              "labelled flows behind them")
        print(f"{'label':13} {'kind':6} {'flows':>5} {'present':>7} {'found':>6} {'detected':>8} "
              f"{'recall':>7} {'D3':>3} {'reversed':>8}  initiator (mid-stream)")
        for (wr, label, kind) in sorted(per):
            if wr != with_relays:
                continue
            c = per[(wr, label, kind)]
            n = c['present']
            inits = {k[5:]: v for k, v in sorted(c.items()) if k.startswith('init_')}
            verdicts = {k[2:]: v for k, v in sorted(c.items()) if k.startswith('v_')}
            if label == 'non-tor':
                rc = f"FP {c['detected']}"
            else:
                rc = f"{c['detected'] / n:.0%}" if n else '-'
            print(f"{label:13} {kind:6} {len(distinct[(wr, label, kind)]):5} {n:7} {c['found']:6} {c['detected']:8} {rc:>7} "
                  f"{c['d3']:3} {c['reversed']:8}  {inits if kind == 'mid' else ''} {verdicts}")
        for line in fps[with_relays]:
            print(f"  false positive: {line}")


def peer_files(corpus):
    root = os.path.join(corpus, 'peers')
    out = []
    for sub in ('ndpi/pcap', 'ndpi/tor_legacy', 'suricata-verify', 'zeek/Traces'):
        for d, _, files in os.walk(os.path.join(root, sub)):
            for f in files:
                if f.endswith(('.pcap', '.pcapng', '.cap', '.trace', '.pcap.gz')):
                    out.append(os.path.join(d, f))
    return sorted(out)


def peer_counts(tt, files, ms=None):
    """Non-none verdicts per file; files are analysed in batches, one by one on failure.
    ms (a Counter), if given, counts the SYN-less TCP flows: inspected mid-stream, with at
    least 6 application-data records one way (D3 can judge them), and D3."""
    counts = {}

    def run(batch):
        recs = analyze(tt, batch)
        if recs is None:
            if len(batch) == 1:
                counts[batch[0]] = None  # rejected by analyze
                return
            for f in batch:
                run([f])
            return
        for f in batch:
            counts[f] = 0
        for r in recs:
            t = r.get('tls') or {}
            if ms is not None and r['proto'] == 'tcp' and not r['syn_seen']:
                ms['syn_less'] += 1
                ms['midstream'] += bool(t.get('midstream'))
                ms['evaluable'] += bool(t.get('midstream')) and max(
                    t.get('midstream_app', [0, 0])) >= 6
                ms['d3'] += bool(t.get('framing_d3'))
            if r['verdict'] != 'none':
                counts[r['file']] = counts.get(r['file'], 0) + 1

    for i in range(0, len(files), 200):
        run(files[i:i + 200])
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('tortrace')
    ap.add_argument('corpus')
    ap.add_argument('--cuts', default='5,10,20,30,40')
    ap.add_argument('--baseline', help='another tortrace binary to compare the peers with')
    ap.add_argument('--no-peers', action='store_true')
    ap.add_argument('--relay-pcaps', action='store_true',
                    help='also the relays\' captures (<run>/relay-*.pcap with their labels)')
    a = ap.parse_args()
    tt = os.path.abspath(a.tortrace)
    if not os.path.isdir(os.path.join(a.corpus, 'tornet')):
        print(f"SKIP: no corpus at {a.corpus}")
        return 77
    cuts = [float(x) for x in a.cuts.split(',')]
    per, fps = tornet(tt, a.corpus, cuts, a.relay_pcaps)
    print_tornet(per, fps, cuts)
    if a.baseline and not a.no_peers:
        files = peer_files(a.corpus)
        ms = collections.Counter()
        mine = peer_counts(tt, files, ms)
        base = peer_counts(os.path.abspath(a.baseline), files)
        changed = [f for f in files if mine.get(f) != base.get(f)]
        print(f"\n== peers: {len(files)} captures, non-none verdicts: baseline "
              f"{sum(v or 0 for v in base.values())}, this build "
              f"{sum(v or 0 for v in mine.values())}; files that differ: {len(changed)}")
        print(f"   SYN-less TCP flows {ms['syn_less']}, inspected mid-stream {ms['midstream']}, "
              f"with >= 6 application records one way {ms['evaluable']}, D3 {ms['d3']}")
        for f in changed:
            print(f"  {os.path.relpath(f, a.corpus)}: {base.get(f)} -> {mine.get(f)}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
