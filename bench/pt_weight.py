#!/usr/bin/env python3
"""The measurements behind the weights of the obfs4 items F1, G1 and F- (src/core/evidence.c).

usage: bench/pt_weight.py [TORTRACE] [CORPUS]     (defaults: build/tortrace, ../shared/corpus)

Positives: every flow labelled tor-obfs4 (data/accuracy and the corpus tornet runs).
Negatives: non-Tor TCP flows with a SYN and payload both ways (the flows F1 can judge) of
the peer captures (nDPI, Zeek, Suricata; Tor files left out), the tornet runs and the
accuracy set, and the held-out synthetic fully encrypted flows of tools/synth_fe.py
(seed 5000, 100 per shape). G1 and F- are only tested on flows with F1, so their rates
are conditional on F1. A rate of 0 in the positives is counted as 0.5 (of n + 1).

One number quoted in G1's reason is not reproduced here: G1 on flows without F1 (14 of
2,075 real non-Tor flows), measured with a build that tests the shape on every flow.
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
    g1n = sum(has(r, 'G1') for r in f1_neg) / len(f1_neg)
    worst = collections.Counter(os.path.basename(r['file']) for r in f1_neg if has(r, 'G1'))
    print(f"G1: pooled ln({g1p:.3f} / {g1n:.4f}) = {ln_lr(g1p, g1n):.2f}")
    for shape, n in worst.items():
        tot = sum(1 for r in f1_neg if os.path.basename(r['file']) == shape)
        print(f"    worst shape {shape}: {n} of {tot}: ln({g1p:.3f} / {n / tot:.4f}) = "
              f"{ln_lr(g1p, n / tot):.2f}")
    n_fneg = sum(has(r, 'F-') for r in f1_pos)
    fpos = (n_fneg or 0.5) / (len(f1_pos) + (0 if n_fneg else 1))
    fneg = sum(has(r, 'F-') for r in f1_neg) / len(f1_neg)
    print(f"F-: ln({fpos:.4f} / {fneg:.3f}) = {ln_lr(fpos, fneg):.2f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
