#!/usr/bin/env python3
"""The measurements behind the weights of the obfs4 items F1, G1 and F- (src/core/evidence.c).

usage: bench/pt_weight.py [TORTRACE] [CORPUS]     (defaults: build/tortrace, ../shared/corpus)

Positives: every flow labelled tor-obfs4 (data/accuracy and the corpus tornet runs).
Negatives: non-Tor TCP flows with a SYN and payload both ways (the flows F1 can judge) of
the peer captures (nDPI, Zeek, Suricata; Tor files left out), the tornet runs and the
accuracy set, and the held-out synthetic fully encrypted flows of tools/synth_fe.py
(seed 5000, 100 per shape; seed 9000 is a second held-out set, reported apart, never
looked at while G1's coincidence test was designed). G1 and F- are only tested on flows
with F1, so their rates are conditional on F1. A count of 0 is counted as 0.5 (of n + 1).
G1's weight comes from the worst synthetic shape of seed 5000: the smallest ln ratio over
the shapes (with no G1 at all, the shape with the fewest F1 flows bounds the rate least
tightly, so the weight is the most conservative the measurements allow).
"""
import collections, csv, math, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy as acc  # noqa: E402  (reads TORTRACE and CORPUS from argv like this script)


def has(r, i):
    return any(e['id'] == i for e in r['evidence'])


def eligible(r):
    return r['proto'] == 'tcp' and r['syn_seen'] and r['payload_fwd'] > 0 and r['payload_rev'] > 0


def main():
    pos, neg = [], collections.defaultdict(list)
    for pcap, labels, _ in list(acc.accset_runs()) + list(acc.tornet_runs()):
        flows = {acc.key(r): r for r in acc.analyze([pcap])}
        for f in csv.DictReader(open(labels)):
            r = flows.get(acc.key(f))
            if r is None:
                continue
            if f['label'] == 'tor-obfs4':
                pos.append(r)
            elif not f['label'].startswith('tor') and eligible(r):
                neg['tornet and accuracy set'].append(r)
    for r in acc.analyze([os.path.join(acc.CORPUS, 'peers')]):
        name = os.path.basename(r['file'])
        if eligible(r) and not name.startswith('tor') and 'tor_legacy' not in r['file']:
            neg['peers'].append(r)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, acc.SYNTH, tmp, '100', '5000'], check=True)
        neg['synthetic (held out)'] = [r for r in acc.analyze([tmp]) if eligible(r)]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, acc.SYNTH, tmp, '100', '9000'], check=True)
        extra = [r for r in acc.analyze([tmp]) if eligible(r)]

    def rate(rs, item):
        return sum(has(r, item) for r in rs), len(rs)

    f1_pos = [r for r in pos if has(r, 'F1')]
    print(f"obfs4 flows {len(pos)}: F1 {rate(pos, 'F1')}, G1|F1 {rate(f1_pos, 'G1')}, "
          f"F-|F1 {rate(f1_pos, 'F-')}")
    real = [r for k, rs in neg.items() if not k.startswith('synthetic') for r in rs]
    f1_neg = []
    for name, rs in list(neg.items()) + [('all real', real)]:
        f1 = [r for r in rs if has(r, 'F1')]
        if name != 'all real':
            f1_neg += f1
        shapes = collections.Counter(os.path.basename(r['file']) for r in f1 if has(r, 'G1'))
        print(f"non-Tor {name}: eligible {len(rs)}, F1 {len(f1)}, G1|F1 {rate(f1, 'G1')}, "
              f"F-|F1 {rate(f1, 'F-')}  {dict(shapes)}")

    def ln_lr(p, n):
        return math.log(p / n) if p > 0 and n > 0 else float('nan')

    n_pos = len(pos)
    f1p = len(f1_pos) / n_pos
    f1n = sum(has(r, 'F1') for r in real) / len(real)
    print(f"\nF1: ln({f1p:.3f} / {f1n:.4f}) = {ln_lr(f1p, f1n):.2f}  (real negatives)")
    g1p = sum(has(r, 'G1') for r in f1_pos) / len(f1_pos)

    def zero_half(k, n):
        return (k or 0.5) / (n + (0 if k else 1))

    n_g1 = sum(has(r, 'G1') for r in f1_neg)
    g1n = zero_half(n_g1, len(f1_neg))
    print(f"G1: pooled {n_g1} of {len(f1_neg)}: ln({g1p:.3f} / {g1n:.5f}) = "
          f"{ln_lr(g1p, g1n):.2f}")
    by_shape = collections.defaultdict(list)
    for r in f1_neg:
        if 'synthetic' in r['file']:
            by_shape[os.path.basename(r['file'])].append(r)
    for shape, rs in sorted(by_shape.items()):
        k = sum(has(r, 'G1') for r in rs)
        print(f"    shape {shape}: G1 {k} of {len(rs)} with F1: ln({g1p:.3f} / "
              f"{zero_half(k, len(rs)):.4f}) = {ln_lr(g1p, zero_half(k, len(rs))):.2f}")
    worst = min(ln_lr(g1p, zero_half(sum(has(r, 'G1') for r in rs), len(rs)))
                for rs in by_shape.values())
    print(f"    G1 weight (worst shape): {worst:.2f}")
    ex1 = [r for r in extra if has(r, 'F1')]
    print(f"second held-out seed 9000: eligible {len(extra)}, F1 {len(ex1)}, "
          f"G1|F1 {rate(ex1, 'G1')}, F-|F1 {rate(ex1, 'F-')}, verdicts "
          f"{sum(r['verdict'] != 'none' for r in extra)}")
    for shape in sorted({os.path.basename(r['file']) for r in ex1}):
        rs = [r for r in ex1 if os.path.basename(r['file']) == shape]
        print(f"    shape {shape}: G1 {sum(has(r, 'G1') for r in rs)} of {len(rs)} with F1")
    n_fneg = sum(has(r, 'F-') for r in f1_pos)
    fpos = (n_fneg or 0.5) / (len(f1_pos) + (0 if n_fneg else 1))
    fneg = sum(has(r, 'F-') for r in f1_neg) / len(f1_neg)
    print(f"F-: ln({fpos:.4f} / {fneg:.3f}) = {ln_lr(fpos, fneg):.2f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
