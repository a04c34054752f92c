#!/usr/bin/env python3
"""Measure the weights of the mid-stream framing items over the header follower's window
(each direction's first 256 application-data records after the resync): D3 (whole cells,
now also CBC framings) and D4 (cell-aligned bursts), as bench_midstream reports them.

usage: midstream_burst_weight.py BENCH_MIDSTREAM [CORPUS_DIR] [--runs DIR] [--cache DIR]
                                 [--negatives DIR[,DIR..]]...

Positives (Tor links, unique flows; each flow's rate is its mean over its cut points):
  RUNS/*/client.pcap and RUNS/*/all.pcap (fresh tornet runs, /work/tornet-runs: tor
  0.4.9.x, OpenSSL 3, TLS 1.3), labels tor-link / tor-bridge of *.flows.csv, each cut
  at 5, 10 and 15 s after the flow's first packet; CORPUS/tornet as in midstream_weight.py;
  suricata-verify tor_bl.pcap (2022) and the 2013 nDPI captures (tor.pcap, tor_legacy/)
  are reported on their own (tor-2013: TLS 1.0 CBC, 512-byte cells).
Negatives (non-Tor TLS, unique flows; a flow is a false positive if the item fired at ANY
  cut point): non-tor-https and tor-exit-https of the runs and the corpus, and every TLS
  flow of the nDPI, Zeek and Suricata captures (midstream_weight.py's classification);
  with --negatives DIR also every TLS flow of DIR/pcap/*.pcap (tools/tls_negatives.py:
  real TLS stacks on this machine, labelled by server port in *.flows.csv with stack and
  shape), cut at 10-1000 packets and 5-20 s (NEG_CUTS), reported per stack and shape;
  --negatives may be given more than once (or as a comma list): each folder is reported
  on its own, then all of them together.
An item's weight is ln(TPR / FPR_95), FPR_95 the one-sided 95 % Clopper-Pearson upper
bound of the false-positive rate among the negatives on which the item can fire (N
records in a direction: 6 for D3, 16 for D4); the point estimate is unbounded when no
negative fires, so the bound is what the sample size can defend."""
import glob
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import midstream_weight as mw  # noqa: E402

RUN_CUTS = [("s", 5), ("s", 10), ("s", 15)]
NEG_CUTS = [("pkts", 10), ("pkts", 30), ("pkts", 100), ("pkts", 300), ("pkts", 1000),
            ("s", 5), ("s", 10), ("s", 15), ("s", 20)]
GEN_LABELS = {}  # (pcap, srv_ip, srv_port) -> (stack, shape) of --negatives


def gen_labels(pcap):
    import csv
    lab = {}
    with open(pcap[:-len(".pcap")] + ".flows.csv") as fh:
        for row in csv.DictReader(fh):
            lab[(row["srv_ip"], row["srv_port"])] = (row["stack"], row["shape"])
    GEN_LABELS.update({(pcap,) + k: v for k, v in lab.items()})

    def cls(r):
        if (r["srv"][0], r["srv"][1]) not in lab:
            return None
        return "nontor-tls" if r["start"] == "tls" else None
    return cls


def parse(text):
    rows = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) < 25:
            continue
        rows.append({
            "cli": (f[0], f[1]), "srv": (f[2], f[3]), "pkts": int(f[4]),
            "app": (int(f[13]), int(f[16])), "fit": (int(f[12]), int(f[15])),
            "d3": f[18] == "1", "syn": f[19] == "1", "start": f[20],
            "burst": (int(f[21]), int(f[22])), "d4": f[23] == "1"})
    return rows


def run(bench, path, cut):
    kind, v = cut
    args = [bench]
    if v:
        args += ["--skip-pkts" if kind == "pkts" else "--skip-s", str(v)]
    args.append(path)
    text = None
    cpath = None
    if mw.CACHE:
        cpath = mw.cache_path(path, f"b{kind}{v}")
        if os.path.exists(cpath):
            with open(cpath) as fh:
                text = fh.read()
    if text is None:
        import subprocess
        text = subprocess.run(["nice"] + args, capture_output=True, text=True).stdout
        if cpath:
            with open(cpath, "w") as fh:
                fh.write(text)
    return parse(text)


def jobs(corpus, runs, negatives=()):
    out = []
    for neg in negatives:
        for p in sorted(glob.glob(os.path.join(neg, "pcap", "*.pcap"))):
            if os.path.exists(p[:-len(".pcap")] + ".flows.csv"):
                out.append(("gen", p, gen_labels(p), NEG_CUTS))
    for rdir in sorted(glob.glob(os.path.join(runs, "*"))):
        for name in ("client", "all"):
            pcap, lab = os.path.join(rdir, name + ".pcap"), os.path.join(rdir, name + ".flows.csv")
            if os.path.exists(pcap) and os.path.exists(lab):
                out.append(("runs-" + name, pcap, mw.classify_tornet(mw.labels_of(lab)), RUN_CUTS))
    for part, path, cls in mw.jobs_for(corpus):
        out.append((part, path, cls, mw.CUTS))
    for p in sorted(glob.glob(os.path.join(corpus, "peers", "ndpi", "tor_legacy", "*.pcap"))):
        out.append(("ndpi-legacy", p, lambda r: "tor-2013" if r["start"] == "tls" else None,
                    mw.CUTS))
    return out


def main():
    argv = [a for a in sys.argv[1:]]
    runs = "/work/tornet-runs"
    if "--runs" in argv:
        i = argv.index("--runs")
        runs = argv[i + 1]
        del argv[i:i + 2]
    if "--cache" in argv:
        i = argv.index("--cache")
        mw.CACHE = argv[i + 1]
        os.makedirs(mw.CACHE, exist_ok=True)
        del argv[i:i + 2]
    negatives = []
    while "--negatives" in argv:
        i = argv.index("--negatives")
        negatives += [d.rstrip("/") for d in argv[i + 1].split(",") if d]
        del argv[i:i + 2]
    bench = argv[0]
    corpus = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "corpus")
    work = [(part, path, cls, cut) for part, path, cls, cuts in jobs(corpus, runs, negatives)
            for cut in cuts]
    work = [w for w in work if w[0] == "gen"] + [w for w in work if w[0] != "gen"]
    flows = {}  # (part, path, cli, srv) -> {"cls", "obs": [row...]}
    with ThreadPoolExecutor(max_workers=2) as ex:
        for (part, path, cls, cut), rows in zip(work, ex.map(
                lambda w: run(bench, w[1], w[3]), work)):
            for r in rows:
                c = cls(r)
                if not c:
                    continue
                k = (part, path, r["cli"], r["srv"])
                flows.setdefault(k, {"cls": c, "part": part, "obs": []})["obs"].append(r)

    def ev(r, item):
        n = 6 if item == "d3" else 16
        return max(r["app"]) >= n

    def fired(r, item):
        if item == "both":
            return r["d3"] and r["d4"]
        return r[item]

    print(f"# {len(work)} runs of bench_midstream; unique flows per class and part")
    gen = {k: f for k, f in flows.items() if f["part"] == "gen"}

    def folder(key):  # the --negatives folder of a gen flow's capture
        return os.path.dirname(os.path.dirname(key[1]))
    for f in gen:
        gen[f]["folder"] = folder(f)
    for neg in negatives:
        sel = [k for k in gen if folder(k) == neg]
        print(f"# --negatives {neg}: {len(sel)} non-Tor TLS flows of "
              f"{len({k[1] for k in sel})} captures (tools/tls_negatives.py)")
    weights = {}
    for item in ("d3", "d4", "both"):
        print(f"\n== {item}")
        tor = [f for f in flows.values() if f["cls"] == "tor"]
        neg = [f for f in flows.values() if f["cls"] == "nontor-tls"]
        nontls = [f for f in flows.values() if f["cls"] == "nontls"]
        ev_item = "d4" if item == "both" else item
        for name, sel in (("tor (all parts)", tor),) + tuple(
                (f"tor {p}", [f for f in tor if f["part"] == p])
                for p in sorted({f["part"] for f in tor})):
            if not sel:
                continue
            tpr_all = sum(sum(fired(r, item) for r in f["obs"]) / len(f["obs"]) for f in sel)
            evs = [f for f in sel if any(ev(r, ev_item) for r in f["obs"])]
            tpr_ev = sum(sum(fired(r, item) for r in f["obs"] if ev(r, ev_item)) /
                         max(1, sum(ev(r, ev_item) for r in f["obs"])) for f in evs)
            print(f"  {name}: fired {tpr_all:.1f} of {len(sel)} flows; "
                  f"{tpr_ev:.1f} of {len(evs)} evaluable")
        for cname in ("tor-2013",):
            sel = [f for f in flows.values() if f["cls"] == cname]
            if sel:
                n = sum(sum(fired(r, item) for r in f["obs"]) / len(f["obs"]) for f in sel)
                print(f"  {cname}: fired {n:.1f} of {len(sel)} flows")
        for name, sel in (("non-tor TLS", neg), ("non-TLS TCP", nontls)):
            fp = [f for f in sel if any(fired(r, item) for r in f["obs"])]
            evs = [f for f in sel if any(ev(r, ev_item) for r in f["obs"])]
            print(f"  {name}: fired {len(fp)} of {len(sel)} flows; {len(evs)} evaluable")
            for f in fp[:10]:
                print(f"    FP {f['part']} {os.path.basename(next(iter([k[1] for k, v in flows.items() if v is f])))} {f['obs'][0]['cli']} {f['obs'][0]['srv']}")
        evs_t = [f for f in tor if any(ev(r, ev_item) for r in f["obs"])]
        tpr = (sum(sum(fired(r, item) for r in f["obs"] if ev(r, ev_item)) /
                   max(1, sum(ev(r, ev_item) for r in f["obs"])) for f in evs_t) /
               max(1, len(evs_t)))
        for nd in negatives:
            per = {}
            for key, f in gen.items():
                if f["folder"] != nd:
                    continue
                stack, shape = GEN_LABELS.get((key[1],) + f["obs"][0]["srv"], ("?", "?"))
                for g in (("stack", stack), ("shape", shape)):
                    e = per.setdefault(g, [0, 0, 0])
                    e[0] += 1
                    e[1] += any(ev(r, ev_item) for r in f["obs"])
                    e[2] += any(fired(r, item) for r in f["obs"])
            print(f"  --negatives {nd} per stack / shape: flows, evaluable, fired (any cut)")
            for g, e in sorted(per.items()):
                print(f"    {g[0]:5s} {g[1]:30s} {e[0]:5d} {e[1]:5d} {e[2]:4d}")
            fp = [(key, f) for key, f in gen.items()
                  if f["folder"] == nd and any(fired(r, item) for r in f["obs"])]
            shown = fp if item != "d3" else fp[:40]  # D3's are many: the first 40
            for key, f in shown:
                r0 = f["obs"][0]
                cuts = [r for r in f["obs"] if fired(r, item)]
                print(f"    FP {os.path.basename(key[1])} {r0['srv'][1]} "
                      f"{'/'.join(GEN_LABELS.get((key[1],) + r0['srv'], ('?', '?')))} "
                      f"fired at {len(cuts)} of {len(f['obs'])} cuts")
            if len(shown) < len(fp):
                print(f"    ... and {len(fp) - len(shown)} more")
        for name, sel in (("corpus only (without --negatives)",
                           [f for f in neg + nontls if f["part"] != "gen"]),) + tuple(
                (f"--negatives {nd} only", [f for f in neg if f.get("folder") == nd])
                for nd in negatives) + (
                (("--negatives only (all folders)", [f for f in neg if f["part"] == "gen"]),)
                if len(negatives) > 1 else ()):
            if not gen:
                break
            e = [f for f in sel if any(ev(r, ev_item) for r in f["obs"])]
            kk = sum(1 for f in e if any(fired(r, item) for r in f["obs"]))
            u = mw.cp_upper(kk, len(e))
            print(f"  {name}: FP {kk} of {len(e)} evaluable, FPR_95 {u:.4f}, "
                  f"ln LR >= {math.log(tpr / u) if tpr > 0 else float('nan'):.2f}")
        evs_n = [f for f in neg + nontls if any(ev(r, ev_item) for r in f["obs"])]
        k = sum(1 for f in evs_n if any(fired(r, item) for r in f["obs"]))
        up = mw.cp_upper(k, len(evs_n))
        w = math.log(tpr / up) if tpr > 0 and up > 0 else float("nan")
        weights[item] = w
        print(f"  evaluable: TPR {tpr:.3f} ({len(evs_t)} Tor links), FP {k} of {len(evs_n)} "
              f"non-Tor flows, FPR_95 {up:.4f}: ln LR >= {w:.2f}")
    print("\nweights: " + ", ".join(f"{k} {v:.2f}" for k, v in weights.items()))


if __name__ == "__main__":
    main()
