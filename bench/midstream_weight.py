#!/usr/bin/env python3
"""Measure the weight of the mid-stream cell-framing item (tt_tls_midstream_is_tor_like).

Runs bench_midstream over the corpus with each flow's start cut off at several points,
joins the flows with ground truth and reports, per corpus part:
  Tor links with the item / Tor links, non-Tor TLS flows with the item / non-Tor TLS
  flows, how the resync ended on non-TLS TCP flows, the likelihood ratio with a
  conservative bound, and ln(LR).

usage: midstream_weight.py BENCH_MIDSTREAM [CORPUS_DIR] [--grid] [--cache DIR]

Ground truth:
  tornet/*/client.pcap (+ relay-exit1.pcap): the *.flows.csv labels. tor-link and
    tor-bridge are Tor TLS links; non-tor-https and tor-exit-https are non-Tor TLS;
    tor-obfs4, tor-dir, non-tor-http, non-tor-ssh, tor-exit-http are non-TLS TCP.
  peers/: no labels. suricata-verify/tor_bl.pcap: the flows to 79.215.173.109:9001 are
    Tor links. ndpi tor.pcap (2013: TLS 1.0 CBC, 512-byte cells) is reported on its own.
    Every other flow whose first payload (before the cut) is a TLS record header is
    non-Tor TLS; one that starts with SSH-, an HTTP method or anything else is non-TLS
    (flows without a SYN whose start is neither are left out: they may be TLS seen
    mid-stream already).

Statistics. An observation is (flow, cut point); the same flow cut at several points is
not independent, so the headline counts unique flows: a non-Tor flow is a false positive
if the item fired at ANY cut point (conservative), a Tor link a true positive only at the
share of its cut points where it fired (its mean). "Evaluable" means at least N
application-data records in some direction after the resync, the only flows on which the
item can fire. LR_cons = TPR / (95 % Clopper-Pearson upper bound of the FPR)."""
import csv
import glob
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

CUTS = [("pkts", 10), ("pkts", 30), ("pkts", 100), ("pkts", 300), ("pkts", 1000),
        ("s", 5), ("s", 20)]
TOR_LABELS = {"tor-link", "tor-bridge"}
NONTOR_TLS_LABELS = {"non-tor-https", "tor-exit-https"}
NONTLS_LABELS = {"tor-obfs4", "tor-dir", "non-tor-http", "non-tor-ssh", "tor-exit-http"}
N_MIN, PCT = 6, 80  # keep in step with TT_TLS_MS_MIN_RECS / TT_TLS_MS_MIN_FIT_PCT


def binom_cdf(k, n, p):
    # each term in logs: math.comb(n, i) outgrows a float (e.g. n 3,243, i 188)
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    return sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) +
                        i * lp + (n - i) * lq) for i in range(k + 1))


def cp_upper(k, n, alpha=0.05):
    """One-sided 95 % Clopper-Pearson upper bound of a rate k/n."""
    if n == 0:
        return 1.0
    if k >= n:
        return 1.0
    lo, hi = k / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if binom_cdf(k, n, mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


CACHE = None  # --cache DIR: keep each run's output there and reuse it (see run)


def cache_path(path, tag):
    """Where --cache keeps a run's output: keyed by the capture's path, size and
    modification time (a capture made again at the same path is run again) and tag (the
    cut). Delete the folder when bench_midstream changes."""
    st = os.stat(path)
    return os.path.join(CACHE, path.replace("/", "_") +
                        f".{tag}.{st.st_size}-{st.st_mtime_ns}.tsv")


def run(bench, path, cut):
    kind, v = cut
    args = [bench, "--skip-pkts" if kind == "pkts" else "--skip-s", str(v), path]
    text = None
    if CACHE:
        cpath = cache_path(path, f"{kind}{v}")
        if os.path.exists(cpath):
            with open(cpath) as fh:
                text = fh.read()
    if text is None:
        text = subprocess.run(["nice"] + args, capture_output=True, text=True).stdout
        if CACHE:
            with open(cpath, "w") as fh:
                fh.write(text)
    rows = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) < 21:
            continue
        rows.append({
            "cli": (f[0], f[1]), "srv": (f[2], f[3]), "pkts": int(f[4]),
            "bytes": (int(f[5]), int(f[6])), "sync": (f[9], f[10]),
            "fit": (int(f[12]), int(f[15])), "app": (int(f[13]), int(f[16])),
            "ovh": (int(f[11]), int(f[14])), "fired": f[18] == "1",
            "syn": f[19] == "1", "start": f[20]})
    return rows


def fires(r, n_min, pct):
    return any(r["app"][d] >= n_min and r["fit"][d] * 100 >= r["app"][d] * pct
               for d in (0, 1))


def evaluable(r, n_min):
    return max(r["app"]) >= n_min


def labels_of(csv_path):
    lab = {}
    with open(csv_path) as fh:
        for row in csv.DictReader(fh):
            if row["proto"] != "tcp":
                continue
            a = (row["src_ip"], row["src_port"])
            b = (row["dst_ip"], row["dst_port"])
            lab[frozenset((a, b))] = row["label"]
    return lab


def classify_tornet(lab):
    def cls(r):
        label = lab.get(frozenset((r["cli"], r["srv"])))
        if label in TOR_LABELS:
            return "tor"
        if label in NONTOR_TLS_LABELS:
            return "nontor-tls"
        if label in NONTLS_LABELS:
            return "nontls"
        return None
    return cls


def classify_peer(path):
    base = os.path.basename(path)

    def cls(r):
        if base == "tor_bl.pcap" and r["srv"][0] == "79.215.173.109":
            return "tor"
        if base == "tor.pcap" and r["start"] == "tls":
            return "tor-2013"
        if r["start"] == "tls":
            return "nontor-tls"
        if r["start"] in ("ssh", "http"):
            return "nontls"
        if r["start"] == "other" and r["syn"]:
            return "nontls"
        return None
    return cls


def jobs_for(corpus):
    """(part, path, classifier) for every capture."""
    out = []
    for run_dir in sorted(glob.glob(os.path.join(corpus, "tornet", "*"))):
        for name in ("client", "relay-exit1"):
            pcap = os.path.join(run_dir, name + ".pcap")
            lab = os.path.join(run_dir, name + ".flows.csv")
            if os.path.exists(pcap) and os.path.exists(lab):
                part = "tornet-" + ("client" if name == "client" else "relay")
                out.append((part, pcap, classify_tornet(labels_of(lab))))
    peers = os.path.join(corpus, "peers")
    for p in sorted(glob.glob(os.path.join(peers, "ndpi", "pcap", "*"))):
        out.append(("ndpi", p, classify_peer(p)))
    for p in sorted(glob.glob(os.path.join(peers, "zeek", "Traces", "**", "*"),
                              recursive=True)):
        if os.path.isfile(p) and not p.endswith(("README", ".md", ".txt")):
            out.append(("zeek", p, classify_peer(p)))
    p = os.path.join(peers, "suricata-verify", "tor_bl.pcap")
    if os.path.exists(p):
        out.append(("suricata", p, classify_peer(p)))
    return out


def main():
    argv = [a for a in sys.argv[1:] if not a.startswith("--")]
    bench = argv[0]
    corpus = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "corpus")
    grid = "--grid" in sys.argv
    global CACHE
    for i, a in enumerate(sys.argv):
        if a == "--cache" and i + 1 < len(sys.argv):
            CACHE = sys.argv[i + 1]
            os.makedirs(CACHE, exist_ok=True)
            argv = [x for x in argv if x != CACHE]
    jobs = jobs_for(corpus)
    # Pass 1: only captures that hold a classified TCP flow at all (uncut) are cut.
    obs = []  # (part, path, cut, cls, row)
    with ThreadPoolExecutor(max_workers=2) as ex:
        whole = ex.map(lambda j: run(bench, j[1], ("pkts", 0)), jobs)
        jobs = [j for j, rows in zip(jobs, whole) if any(j[2](r) for r in rows)]
        work = [(part, path, cls, cut) for part, path, cls in jobs for cut in CUTS]
        results = ex.map(lambda w: run(bench, w[1], w[3]), work)
        for (part, path, cls, cut), rows in zip(work, results):
            for r in rows:
                c = cls(r)
                if c:
                    obs.append((part, os.path.relpath(path, corpus), cut, c, r))
    parts = ["tornet-client", "tornet-relay", "ndpi", "zeek", "suricata"]

    def flow_id(o):
        return (o[1], o[4]["cli"], o[4]["srv"])

    def summary(sel, n_min=N_MIN, pct=PCT, quiet=False):
        """Unique-flow counts over observations sel."""
        tor, neg = {}, {}
        for part, path, cut, c, r in sel:
            if c == "tor" or c == "tor-2013":
                tor.setdefault(flow_id((part, path, cut, c, r)), []).append(r)
            elif c == "nontor-tls":
                neg.setdefault(flow_id((part, path, cut, c, r)), []).append(r)
        tp = sum(sum(fires(r, n_min, pct) for r in rs) / len(rs) for rs in tor.values())
        tp_any = sum(any(fires(r, n_min, pct) for r in rs) for rs in tor.values())
        fp = sum(any(fires(r, n_min, pct) for r in rs) for rs in neg.values())
        tor_ev = {k: [r for r in rs if evaluable(r, n_min)] for k, rs in tor.items()}
        tor_ev = {k: v for k, v in tor_ev.items() if v}
        neg_ev = {k: [r for r in rs if evaluable(r, n_min)] for k, rs in neg.items()}
        neg_ev = {k: v for k, v in neg_ev.items() if v}
        tp_ev = sum(sum(fires(r, n_min, pct) for r in rs) / len(rs) for rs in tor_ev.values())
        fp_ev = sum(any(fires(r, n_min, pct) for r in rs) for rs in neg_ev.values())
        return dict(n_tor=len(tor), tp=tp, tp_any=tp_any, n_neg=len(neg), fp=fp,
                    n_tor_ev=len(tor_ev), tp_ev=tp_ev, n_neg_ev=len(neg_ev), fp_ev=fp_ev)

    def lr_line(s, ev):
        n_t, t, n_n, f = ((s["n_tor_ev"], s["tp_ev"], s["n_neg_ev"], s["fp_ev"]) if ev
                          else (s["n_tor"], s["tp"], s["n_neg"], s["fp"]))
        if n_t == 0 or n_n == 0:
            return "LR n/a"
        tpr = t / n_t
        fpr = f / n_n
        up = cp_upper(f, n_n)
        add1 = (f + 1) / (n_n + 2)
        lr_c = tpr / up if up > 0 else float("inf")
        lr_a = tpr / add1
        w = math.log(lr_c) if lr_c > 0 else float("-inf")
        return (f"TPR {t:.1f}/{n_t} = {tpr:.3f}  FPR {f}/{n_n} = {fpr:.4f} "
                f"(95% upper {up:.4f}, add-one {add1:.4f})  LR_cons {lr_c:.1f} "
                f"(add-one {lr_a:.1f})  weight ln(LR_cons) = {w:.2f}")

    print(f"rule: some direction >= {N_MIN} application-data records, >= {PCT}% of them "
          f"514n + one overhead (17/24/16/9)")
    print(f"cut points: {', '.join(f'{v} {k}' for k, v in CUTS)}; "
          f"{len(obs)} (flow, cut) observations\n")
    print("== per corpus part (unique flows; Tor TP = mean over its cut points)")
    for part in parts:
        sel = [o for o in obs if o[0] == part and o[3] != "tor-2013"]
        s = summary(sel)
        print(f"{part:14s} Tor {s['tp']:.1f}/{s['n_tor']} (fired at some cut: "
              f"{s['tp_any']}/{s['n_tor']}), non-Tor TLS {s['fp']}/{s['n_neg']}; "
              f"evaluable: Tor {s['tp_ev']:.1f}/{s['n_tor_ev']}, "
              f"non-Tor TLS {s['fp_ev']}/{s['n_neg_ev']}")
    sel2013 = [o for o in obs if o[3] == "tor-2013"]
    s = summary(sel2013)
    print(f"{'ndpi tor.pcap':14s} 2013 Tor (TLS 1.0 CBC, 512-byte cells): "
          f"{s['tp']:.1f}/{s['n_tor']} (not covered by the item)")
    allsel = [o for o in obs if o[3] != "tor-2013"]
    s = summary(allsel)
    print("\n== all parts (tor.pcap 2013 left out)")
    print("all flows with payload after the cut:  " + lr_line(s, False))
    print("evaluable flows (>= N records):        " + lr_line(s, True))

    print("\n== per cut point (observations, all parts)")
    for cut in CUTS:
        sel = [o for o in allsel if o[2] == cut]
        t = [o for o in sel if o[3] == "tor"]
        n = [o for o in sel if o[3] == "nontor-tls"]
        print(f"cut {cut[1]:>5} {cut[0]:4s}: Tor {sum(fires(o[4], N_MIN, PCT) for o in t)}/"
              f"{len(t)} (evaluable {sum(evaluable(o[4], N_MIN) for o in t)}), non-Tor TLS "
              f"{sum(fires(o[4], N_MIN, PCT) for o in n)}/{len(n)} (evaluable "
              f"{sum(evaluable(o[4], N_MIN) for o in n)})")

    print("\n== resync outcome per class (observations; per direction with payload)")
    for c in ("tor", "nontor-tls", "nontls"):
        cnt = {}
        fired = 0
        nobs = 0
        for o in obs:
            if o[3] != c:
                continue
            nobs += 1
            fired += o[4]["fired"]
            for d in (0, 1):
                if o[4]["bytes"][d] == 0:
                    continue
                v = o[4]["sync"][d]
                k = "synced@0" if v == "0" else ("synced>0" if v.isdigit() else v)
                cnt[k] = cnt.get(k, 0) + 1
        print(f"{c:11s} {nobs:5d} obs, item fired {fired}; directions: " +
              ", ".join(f"{k} {v}" for k, v in sorted(cnt.items())))
    nontls = {}
    for o in obs:
        if o[3] == "nontls":
            key = o[4]["start"]
            e = nontls.setdefault(key, [0, 0, 0])
            e[0] += 1
            e[1] += any(v.isdigit() for v in o[4]["sync"])
            e[2] += o[4]["fired"]
    print("non-TLS by first payload: " + "; ".join(
        f"{k}: {v[0]} obs, resynced {v[1]}, fired {v[2]}" for k, v in sorted(nontls.items())))
    resynced = {}
    for o in obs:
        if o[3] == "nontls" and any(v.isdigit() for v in o[4]["sync"]):
            resynced.setdefault(o[1], set()).add((o[4]["srv"][1], o[4]["start"]))
    print("captures where a non-TLS-starting flow resynced (file: server ports):")
    for k, v in sorted(resynced.items()):
        print(f"  {k}: {sorted(v)}")

    # Near misses: the best fitting share of every evaluable non-Tor TLS observation.
    print("\n== near misses: evaluable (>= 3 records in a direction) non-Tor TLS observations"
          " by best fitting share")
    hist = {}
    worst = []
    for o in allsel:
        if o[3] != "nontor-tls":
            continue
        r = o[4]
        best = max((r["fit"][d] / r["app"][d], r["app"][d]) for d in (0, 1)
                   if r["app"][d] >= 3) if max(r["app"]) >= 3 else None
        if best is None:
            continue
        b = min(int(best[0] * 10), 10) * 10
        hist[b] = hist.get(b, 0) + 1
        worst.append((best[0], best[1], o[1], o[2], r["cli"], r["srv"], r["fit"], r["app"],
                      r["ovh"]))
    print("  share >= " + ", ".join(f"{k}%: {v}" for k, v in sorted(hist.items())))
    for w in sorted(worst, reverse=True)[:10]:
        print(f"  {w[0]:.2f} of {w[1]}: {w[2]} cut {w[3]} {w[4]}->{w[5]} fit {w[6]} app {w[7]}"
              f" ovh {w[8]}")

    fired_neg = {flow_id(o): o for o in allsel if o[3] == "nontor-tls" and o[4]["fired"]}
    if fired_neg:
        print("\nnon-Tor TLS flows with the item:")
        for k, o in sorted(fired_neg.items()):
            r = o[4]
            print(f"  {o[1]} {r['cli']} -> {r['srv']} cut {o[2]} fit {r['fit']} "
                  f"app {r['app']} ovh {r['ovh']}")

    if grid:
        print("\n== grid: N (min records) x K/N (min fitting share), unique flows, all parts")
        for n_min in (3, 4, 5, 6, 8, 10):
            for pct in (60, 70, 80, 90, 100):
                s = summary(allsel, n_min, pct)
                print(f"N {n_min:2d} K/N {pct:3d}%: Tor {s['tp']:.1f}/{s['n_tor']}  "
                      f"non-Tor TLS {s['fp']}/{s['n_neg']}  | " + lr_line(s, False))


if __name__ == "__main__":
    main()
