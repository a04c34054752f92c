#!/usr/bin/env python3
"""The measurements behind the weights of the items for Tor inside another TLS connection:
W1, W2 (WebTunnel: Tor's records nested), M1, M2 (meek: the poll back-off and the POST
bodies) in src/core/evidence.c.

usage: bench/tunnel_weight.py [TORTRACE] [CORPUS] [NEGATIVES...]
       (defaults: build/tortrace, ../shared/corpus; NEGATIVES: extra folders or captures of
       non-Tor TLS traffic, e.g. /work/ptneg/4 /work/tls-neg*/pcap)

Positives: the TCP flows labelled meek-front and webtunnel in CORPUS/transports/*/.
Negatives: every TLS flow the follower read (tls map with client records) in the non-Tor
captures: CORPUS/peers (nDPI, Zeek; Tor files left out), the non-Tor flows of the
transports and tornet captures (by their labels), and NEGATIVES (all non-Tor by
construction). Tor's own links of the tornet captures are counted apart.

Each item is judged among the flows where it can fire (both classes alike, so the ratio
is a likelihood ratio given that condition):
  W1  at least 8 client records of 65-8192 bytes among the first 64 (nested_app >= 8)
  W2  at least one such record (nested_app >= 1)
  M1  a client record length seen at least 5 times (poll_mode > 0)
  M2  that, and at least 5 records longer than it + 64 (poll_bodies >= 5)
Weight of an item: ln(recall / the one-sided 95 % upper bound of its non-Tor rate) (exact
binomial bound; 0 of n gives 1 - 0.05^(1/n)), as for F1, G1, D4 and S1-S5.
"""
import collections, csv, glob, json, math, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy as acc  # noqa: E402  (reads TORTRACE and CORPUS from argv like this script)
from snowflake_weight import upper95  # noqa: E402

ITEMS = {
    'W1': lambda t: t.get('nested_app', 0) >= 8,
    'W2': lambda t: t.get('nested_app', 0) >= 1,
    'M1': lambda t: t.get('poll_mode', 0) > 0,
    'M2': lambda t: t.get('poll_mode', 0) > 0 and t.get('poll_bodies', 0) >= 5,
}
POSITIVE = {'meek-front': 'meek', 'webtunnel': 'webtunnel'}


def has(r, i):
    return any(e['id'] == i for e in r['evidence'])


def followed(r):
    t = r.get('tls')
    return r['proto'] == 'tcp' and t is not None and t.get('nested_app', 0) + \
        t.get('poll_mode', 0) > 0


def labelled_runs(folder):
    for labels in sorted(glob.glob(os.path.join(acc.CORPUS, folder, '*', '*.flows.csv'))):
        pcap = labels[:-len('.flows.csv')] + '.pcap'
        if os.path.exists(pcap):
            yield pcap, labels


def measure(negative_paths):
    pos, neg, tor = collections.defaultdict(list), collections.defaultdict(list), []
    for folder in ('transports', 'tornet'):
        for pcap, labels in labelled_runs(folder):
            flows = {acc.key(r): r for r in acc.analyze([pcap])}
            for f in csv.DictReader(open(labels)):
                r = acc.either_way(flows, f)
                if r is None or r['proto'] != 'tcp':
                    continue
                if f['label'] in POSITIVE:
                    pos[POSITIVE[f['label']]].append((os.path.relpath(pcap, acc.CORPUS), r))
                elif f['label'].startswith(('tor', 'snowflake', 'meek', 'webtunnel')):
                    if followed(r):
                        tor.append(r)
                elif followed(r):
                    neg[f'{folder} (non-Tor flows)'].append(r)
    for r in acc.analyze([os.path.join(acc.CORPUS, 'peers')]):
        name = os.path.basename(r['file'])
        if followed(r) and not name.startswith('tor') and 'tor_legacy' not in r['file']:
            neg['peers (nDPI, Zeek)'].append(r)
    for p in negative_paths:
        if os.path.exists(p):
            neg[p] = [r for r in acc.analyze([p], extra=['-j', '2']) if followed(r)]
    return pos, neg, tor


def main():
    if not os.path.isdir(acc.CORPUS):
        print(f"SKIP: no corpus at {acc.CORPUS}")
        return 77
    pos, neg, tor = measure(sys.argv[3:])
    for kind, rs in sorted(pos.items()):
        print(f"positives {kind}: {len(rs)} flows")
        for p, r in rs:
            t = r.get('tls') or {}
            print(f"  {p}: {r['src_ip']}:{r['src_port']} -> {r['dst_ip']}:{r['dst_port']} "
                  f"{[e['id'] for e in r['evidence']]} nested {t.get('nested_fit', 0)}/"
                  f"{t.get('nested_app', 0)} hello {t.get('nested_hello', False)} poll "
                  f"mode {t.get('poll_mode', 0)} backoff {t.get('poll_backoff', 0)} cells "
                  f"{t.get('poll_cell', 0)}/{t.get('poll_bodies', 0)} {r['verdict']} "
                  f"{r['score']:.3f}")
    allneg = [r for rs in neg.values() for r in rs]
    for name, rs in neg.items():
        files = len(set(r['file'] for r in rs))
        print(f"negatives {name}: {len(rs)} followed TLS flows in {files} files; "
              + ', '.join(f"{i} {sum(has(r, i) for r in rs if ok(r['tls']))} of "
                          f"{sum(1 for r in rs if ok(r['tls']))}" for i, ok in ITEMS.items()))
        for r in rs:
            ids = [i for i in ITEMS if has(r, i)]
            if ids:
                t = r['tls']
                print(f"    FIRED {os.path.basename(r['file'])} {r['src_ip']}:{r['src_port']} -> "
                      f"{r['dst_ip']}:{r['dst_port']} {ids} {t}")
    print(f"Tor's own links (tornet, not negatives): {len(tor)} followed; "
          + ', '.join(f"{i} {sum(has(r, i) for r in tor)}" for i in ITEMS))
    print(f"\nall negatives: {len(allneg)} followed TLS flows in "
          f"{len(set(r['file'] for r in allneg))} files")
    out = {}
    for i, ok in ITEMS.items():
        kind = 'webtunnel' if i.startswith('W') else 'meek'
        ep = [r for _, r in pos[kind] if ok(r['tls'] or {})]
        en = [r for r in allneg if ok(r['tls'])]
        kp, kn = sum(has(r, i) for r in ep), sum(has(r, i) for r in en)
        ub = upper95(kn, len(en)) if en else 1.0
        rec = kp / len(ep) if ep else 0
        w = math.log(rec / ub) if rec > 0 else float('nan')
        print(f"{i}: {kind} {kp} of {len(ep)} where it can fire ({len(pos[kind])} flows), "
              f"non-Tor {kn} of {len(en)}, 95 % bound {ub:.5f}: ln({rec:.3f} / {ub:.5f}) = "
              f"{w:.2f}")
        out[i] = {'tor': [kp, len(ep)], 'non_tor': [kn, len(en)], 'weight': round(w, 2),
                  'by_source': {name: [sum(has(r, i) for r in rs if ok(r['tls'])),
                                       sum(1 for r in rs if ok(r['tls']))]
                                for name, rs in neg.items()}}
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
