#!/usr/bin/env python3
"""The measurements behind the weights of the Snowflake items S1-S5 and S- (src/core/evidence.c).

usage: bench/snowflake_weight.py [TORTRACE] [CORPUS] [NEGATIVES...]
       (defaults: build/tortrace, ../shared/corpus; NEGATIVES: extra folders or captures of
       non-Tor WebRTC/DTLS/STUN traffic, e.g. /work/ptneg)

Positives: the UDP flows labelled snowflake-dtls in CORPUS/transports/*/ that carry a DTLS
handshake (the data flows; the other snowflake-dtls flows are ICE-only candidate pairs,
which no per-flow item can judge). The client's and the proxy's captures of one session
both count (the same flow from two vantage points: stated with the counts).
Negatives: every UDP flow with a DTLS ClientHello or ServerHello (tortrace's webrtc map) in the non-Tor
captures: CORPUS/peers (nDPI, Zeek; Tor files left out), the non-Snowflake flows of the
transports captures, and NEGATIVES. Those are the flows the items can fire on.

Weight of a positive item: ln(recall / the one-sided 95 % upper bound of its non-Tor rate)
(exact binomial bound; 0 of n gives 1 - 0.05^(1/n)), as for F1, G1 and D4. S5 is judged
among the flows where it can fire (the DTLS server wrote at least 50 application-data
records over 100 bytes), both classes alike, as the tunnel items are (tunnel_weight.py).
Weight of the negative item S- (media beside DTLS): ln(Tor rate / non-Tor rate), a Tor
count of 0 counted as 0.5 of n + 1, as for F-; a ratio that comes out positive (too few
Snowflake flows to show media rarer in Snowflake than in the negatives) is given 0.
"""
import collections, csv, glob, json, math, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy as acc  # noqa: E402  (reads TORTRACE and CORPUS from argv like this script)

ITEMS = ['S1', 'S2', 'S3', 'S4', 'S5', 'S-']


def has(r, i):
    return any(e['id'] == i for e in r['evidence'])


HELLOS = ('client_hello_fwd', 'client_hello_rev', 'server_hello_fwd', 'server_hello_rev')


def is_dtls(r):
    """A UDP flow with a DTLS ClientHello or ServerHello: every item needs one."""
    w = r.get('webrtc', {})
    return r['proto'] == 'udp' and any(w.get(h, False) for h in HELLOS)


def upper95(k, n):
    """One-sided 95 % upper bound of a binomial rate k/n (Clopper-Pearson), by bisection."""
    if k >= n:
        return 1.0

    def cdf(p):  # in logs: math.comb(n, i) overflows a float for thousands of flows
        return sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) +
                            i * math.log(p) + (n - i) * math.log1p(-p)) for i in range(k + 1))
    lo, hi = k / n, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if cdf(mid) > 0.05:
            lo = mid
        else:
            hi = mid
    return hi


def transports_runs():
    for labels in sorted(glob.glob(os.path.join(acc.CORPUS, 'transports', '*', '*.flows.csv'))):
        pcap = labels[:-len('.flows.csv')] + '.pcap'
        if os.path.exists(pcap):
            yield pcap, labels


def measure(negative_paths):
    pos, neg = [], collections.defaultdict(list)
    for pcap, labels in transports_runs():
        flows = {acc.key(r): r for r in acc.analyze([pcap])}
        labelled = set()
        for f in csv.DictReader(open(labels)):
            r = acc.either_way(flows, f)
            if r is None:
                continue
            labelled.add(acc.key(r))
            if f['label'] == 'snowflake-dtls' and is_dtls(r):
                pos.append((os.path.relpath(pcap, acc.CORPUS), r))
            elif not f['label'].startswith(('tor', 'snowflake', 'meek', 'webtunnel')) and \
                    is_dtls(r):
                neg['transports (non-Tor flows)'].append(r)
    for r in acc.analyze([os.path.join(acc.CORPUS, 'peers')]):
        name = os.path.basename(r['file'])
        if is_dtls(r) and not name.startswith('tor') and 'tor_legacy' not in r['file']:
            neg['peers (nDPI, Zeek)'].append(r)
    for p in negative_paths:
        if os.path.exists(p):
            neg[p] = [r for r in acc.analyze([p]) if is_dtls(r)]
    return pos, neg


def main():
    if not os.path.isdir(acc.CORPUS):
        print(f"SKIP: no corpus at {acc.CORPUS}")
        return 77
    pos, neg = measure(sys.argv[3:])
    n_pos = len(pos)
    print(f"positives: {n_pos} Snowflake DTLS data flows "
          f"({', '.join(sorted(set(p for p, _ in pos)))})")
    for p, r in pos:
        print(f"  {p}: {r['src_ip']}:{r['src_port']} -> {r['dst_ip']}:{r['dst_port']} "
              f"{[e['id'] for e in r['evidence']]} app records {r['webrtc']['dtls_app']}")
    allneg = [r for rs in neg.values() for r in rs]
    for name, rs in neg.items():
        fired = {i: sum(has(r, i) for r in rs) for i in ITEMS}
        files = len(set(r['file'] for r in rs))
        print(f"negatives {name}: {len(rs)} DTLS flows in {files} files; fired {fired}")
        for r in rs:
            ids = [e['id'] for e in r['evidence'] if e['id'] in ITEMS]
            if any(i != 'S-' for i in ids):
                print(f"    {os.path.basename(r['file'])} {r['src_ip']}:{r['src_port']} -> "
                      f"{r['dst_ip']}:{r['dst_port']} {ids} app {r['webrtc']['dtls_app']} "
                      f"rtp {r['webrtc']['rtp']}")
    n = len(allneg)
    print(f"\nall negatives: {n} DTLS flows in {len(set(r['file'] for r in allneg))} files")
    # S5's margin: the largest shares of Tor-cell lengths among the flows where it can fire
    share = sorted(((w['up_quantum'] / w['up_big'], w['up_quantum'], w['up_big'], r['file'])
                    for r in allneg for w in [r.get('webrtc', {})]
                    if w.get('up_big', 0) >= 50), reverse=True)
    print("S5: largest shares among the negatives where it can fire (rule: >= 25 %): " +
          ", ".join(f"{x * 100:.2f} % ({q} of {b}, {os.path.basename(f)})"
                    for x, q, b, f in share[:5]))
    print("S5: the Snowflake flows' shares: " + ", ".join(
        f"{r['webrtc']['up_quantum'] / r['webrtc']['up_big'] * 100:.1f} %"
        for _, r in pos if r['webrtc'].get('up_big')))
    out = {}
    for i in ITEMS:
        ok = (lambda r: r.get('webrtc', {}).get('up_big', 0) >= 50) if i == 'S5' else \
            (lambda r: True)
        ep = [r for _, r in pos if ok(r)]
        en = [r for r in allneg if ok(r)]
        n, n_pos = len(en), len(ep)
        kp = sum(has(r, i) for r in ep)
        kn = sum(has(r, i) for r in en)
        if i == 'S-':
            tor = (kp or 0.5) / (n_pos + (0 if kp else 1))
            w = min(0.0, math.log(tor / (kn / n))) if kn else float('nan')
            print(f"{i}: Tor {kp} of {n_pos}, non-Tor {kn} of {n}: "
                  f"ln({tor:.3f} / {kn / n if n else 0:.3f}) = {w:.2f}")
        else:
            ub = upper95(kn, n)
            rec = kp / n_pos if n_pos else 0
            w = math.log(rec / ub) if rec > 0 else float('nan')
            print(f"{i}: Tor {kp} of {n_pos}, non-Tor {kn} of {n}, 95 % bound {ub:.4f}: "
                  f"ln({rec:.3f} / {ub:.4f}) = {w:.2f}")
        out[i] = {'tor': [kp, n_pos], 'non_tor': [kn, n], 'weight': round(w, 2),
                  'by_source': {name: [sum(has(r, i) for r in rs if ok(r)),
                                       sum(1 for r in rs if ok(r))]
                                for name, rs in neg.items()}}
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
