#!/usr/bin/env python3
"""Regenerate tests/golden/ from the shared capture corpus with tshark.

For every capture under the corpus folders peers/ (ndpi/pcap, ndpi/tor_legacy,
zeek/Traces, suricata-verify) and tornet/ this records what tshark/capinfos say:

  tests/golden/peers.tsv
      path  format  linktypes  tshark_packets  tcp_conv  udp_conv  tshark_error
  tests/golden/tornet-flows.tsv
      tshark's TCP/UDP conversations of each tornet pcap compared with the
      corpus's own <name>.flows.csv (count, endpoint pairs, frame counts)
  tests/golden/peers-conv.tsv.gz
      every conversation row tshark printed (endpoints, total frames), per file
  tests/golden/peers-pairs.tsv
      distinct TCP and UDP endpoint pairs (5-tuples) per file
  tests/golden/tshark-warnings.tsv
      "Dissector bug" warnings tshark printed (not read errors), per file

Only tshark/capinfos are needed, and only when regenerating: the tests read
the TSV files.  Standard library only.  See tests/golden/README.md.

Usage: python3 tools/golden_update.py [--corpus DIR] [--jobs 2] [--timeout 600]
"""

import argparse
import concurrent.futures
import csv
import gzip
import io
import ipaddress
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CORPUS = os.path.normpath(os.path.join(REPO, "..", "shared", "corpus"))
GOLDEN = os.path.join(REPO, "tests", "golden")
# Walked for captures (all of peers/, as tortrace's golden test analyses peers/ whole) ...
FOLDERS = ["peers", "tornet"]
# ... and summarised by these subfolders.
GROUPS = ["peers/ndpi/pcap", "peers/ndpi/tor_legacy", "peers/zeek/Traces",
          "peers/suricata-verify", "tornet"]
# Every file under FOLDERS with one of these endings is a capture; the rest
# (README, *.csv, *.log, torrc, pem, consensus ...) are skipped.
CAPTURE_EXT = (".pcap", ".pcapng", ".cap", ".gz", ".trace", ".dump",
               ".pcap.gz", ".pcapng.gz", ".erf", ".snoop")
# ... and so is any other file that starts like a pcap, pcapng or gzip file.
CAPTURE_MAGIC = {bytes.fromhex(h) for h in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1",
                                            "0a0d0d0a", "1f8b")}

TSHARK = "tshark"
CAPINFOS = "capinfos"
# One pass: frame.number per frame (the packet count is the number of lines
# before the statistics), then the UDP and TCP conversation tables.
# -n: no name resolution (addresses and ports stay numeric).
TSHARK_ARGS = ["-n", "-r", "{file}", "-T", "fields", "-e", "frame.number",
               "-z", "conv,tcp", "-z", "conv,udp"]
CAPINFOS_ARGS = ["-T", "-r", "-t", "-E", "-c", "-M", "{file}"]

DISSECTOR_BUG = re.compile(r"^\*\* \(tshark:\d+\) [\d:.]+ \[Epan WARNING\] -- "
                           r"Dissector bug, protocol (.*?), in packet (\d+): (.*)$")
NOISE = re.compile(r'Running as user "[^"]*" and group "[^"]*"\. This could be dangerous\.')


def list_captures(corpus, folders):
    out = []
    for folder in folders:
        top = os.path.join(corpus, folder)
        if not os.path.isdir(top):
            sys.exit("corpus folder missing: %s" % top)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in filenames:
                full = os.path.join(dirpath, name)
                if name.lower().endswith(CAPTURE_EXT) or file_magic(full) in CAPTURE_MAGIC:
                    out.append(os.path.relpath(full, corpus))
    return sorted(set(out))


def run(cmd, cwd, timeout, env):
    """Run cmd, return (rc, stdout, stderr-lines-without-noise, timed_out)."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return None, out, [], True
    err = [l.strip() for l in p.stderr.decode("utf-8", "replace").splitlines()]
    err = [NOISE.sub("", l).strip() for l in err]
    err = [l for l in err if l]
    return p.returncode, p.stdout.decode("utf-8", "replace"), err, False


def clean(text):
    text = re.sub(r"\(tshark:\d+\)", "(tshark)", text)  # pids in GLib warnings
    return re.sub(r"\s+", " ", text.replace("\t", " ")).strip()


def file_magic(path):
    """First 4 bytes, or 2 for gzip."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head[:2] if head[:2] == b"\x1f\x8b" else head


def parse_conv(stdout):
    """Return (frame_lines, {'TCP': [rows], 'UDP': [rows]}, stat_text).

    A row is (endpoint_a, endpoint_b, frames_total)."""
    lines = stdout.splitlines()
    frames = 0
    i = 0
    while i < len(lines) and not lines[i].startswith("====="):
        if lines[i].strip():
            frames += 1
        i += 1
    convs = {"TCP": [], "UDP": []}
    section = None
    for line in lines[i:]:
        m = re.match(r"^(TCP|UDP) Conversations$", line)
        if m:
            section = m.group(1)
            continue
        if section and " <-> " in line:
            t = line.split()
            # a <-> b  frames bytes unit  frames bytes unit  frames bytes unit  start  dur
            if len(t) != 14 or t[1] != "<->":
                raise ValueError("unexpected conversation row: %r" % line)
            convs[section].append((t[0], t[2], int(t[9])))
    return frames, convs


def probe(corpus, rel, timeout, env):
    full = os.path.join(corpus, rel)
    rec = {"path": rel, "format": "", "linktypes": "", "tshark_packets": 0,
           "tcp_conv": 0, "udp_conv": 0, "tshark_error": "", "capinfos_packets": None,
           "convs": {"TCP": [], "UDP": []}, "warnings": {}}
    gz = file_magic(full) == b"\x1f\x8b"

    # File type and link type(s) from capinfos.
    rc, out, err, to = run([CAPINFOS] + [a.replace("{file}", rel) for a in CAPINFOS_ARGS],
                           corpus, timeout, env)
    ftype, encap = "unknown", ""
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) == 4 and f[0] == rel:
            ftype, encap = f[1], f[2]
            try:
                rec["capinfos_packets"] = int(f[3])
            except ValueError:
                pass
    rec["format"] = ("gzip+" if gz else "") + ftype
    if encap == "per-packet":
        # capinfos -I maps long encapsulation names to short ones per interface;
        # "Encapsulation in use by packets" lists the long names actually used.
        rc2, out2, _, _ = run([CAPINFOS, "-E", "-I", rel], corpus, timeout, env)
        longshort = dict(re.findall(r"Encapsulation = (.*) \(\d+ - ([^)]+)\)", out2))
        used = []
        m = re.search(r"Encapsulation in use by packets \(# of pkts\):\n((?:\s{10,}.*\n?)+)", out2)
        if m:
            for l in m.group(1).splitlines():
                n = re.match(r"\s*(.*?) \(\d+\)\s*$", l)
                if n:
                    used.append(longshort.get(n.group(1), n.group(1).replace(" ", "_")))
        encap = ",".join(sorted(set(used))) or "per-packet"
    rec["linktypes"] = encap

    # Packets and conversations from tshark.
    cmd = [TSHARK] + [a.replace("{file}", rel) for a in TSHARK_ARGS]
    rc, out, err, to = run(cmd, corpus, timeout, env)
    if to:
        frames = sum(1 for l in out.splitlines() if l.strip().isdigit())
        rec["tshark_packets"] = frames
        rec["tshark_error"] = "timeout after %ds" % timeout
        return rec
    frames, convs = parse_conv(out)
    rec["tshark_packets"] = frames
    rec["convs"] = convs
    rec["tcp_conv"] = len(convs["TCP"])
    rec["udp_conv"] = len(convs["UDP"])
    # Dissector-bug warnings are not read errors: they go to tshark-warnings.tsv.
    msgs, warns = [], {}
    for l in err:
        m = DISSECTOR_BUG.match(l)
        if m:
            key = (m.group(1), m.group(3))
            warns[key] = warns.get(key, 0) + 1
            continue
        msgs.append(clean(re.sub(r"^tshark: ", "", l).replace('The file "%s" ' % rel, "The file ")))
    rec["warnings"] = warns
    if rc != 0 and not msgs:
        msgs = ["tshark exit status %d" % rc]
    rec["tshark_error"] = " | ".join(msgs)
    if frames == 0 and msgs and ftype == "unknown":
        # tshark could not open it at all: nothing to compare (empty fields).
        rec["tshark_packets"] = rec["tcp_conv"] = rec["udp_conv"] = ""
    return rec


def split_ep(ep):
    host, _, port = ep.rpartition(":")
    return str(ipaddress.ip_address(host)), int(port)


def tornet_check(corpus, recs):
    """Compare tshark conversations with the tornet <name>.flows.csv files."""
    rows = []
    for rec in recs:
        if not rec["path"].startswith("tornet/"):
            continue
        csvp = os.path.join(corpus, rec["path"][:-len(".pcap")] + ".flows.csv")
        if not os.path.exists(csvp):
            continue
        flows = {"TCP": {}, "UDP": {}}
        with open(csvp, newline="") as f:
            for r in csv.DictReader(f):
                key = frozenset([(str(ipaddress.ip_address(r["src_ip"])), int(r["src_port"])),
                                 (str(ipaddress.ip_address(r["dst_ip"])), int(r["dst_port"]))])
                proto = r["proto"].upper()
                flows[proto][key] = flows[proto].get(key, 0) + int(r["pkts_fwd"]) + int(r["pkts_rev"])
        out = {"path": rec["path"]}
        ok = True
        for proto in ("TCP", "UDP"):
            conv = {}
            for a, b, n in rec["convs"][proto]:
                key = frozenset([split_ep(a), split_ep(b)])
                conv[key] = conv.get(key, 0) + n
            csv_n = sum(1 for _ in flows[proto])
            out["csv_" + proto.lower()] = csv_n
            out["tshark_" + proto.lower()] = len(rec["convs"][proto])
            same_pairs = set(conv) == set(flows[proto])
            same_frames = same_pairs and all(conv[k] == flows[proto][k] for k in conv)
            out[proto.lower() + "_pairs_equal"] = "yes" if same_pairs else "no"
            out[proto.lower() + "_frames_equal"] = "yes" if same_frames else "no"
            ok = ok and csv_n == len(rec["convs"][proto]) and same_pairs and same_frames
        out["result"] = "match" if ok else "MISMATCH"
        rows.append(out)
    return rows


def write_tsv(path, header, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(str(r[h]) for h in header) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--out", default=GOLDEN, help="output folder (default tests/golden)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per tool run")
    ap.add_argument("files", nargs="*", help="only these corpus-relative files (print, no write)")
    args = ap.parse_args()

    corpus = os.path.abspath(args.corpus)
    files = args.files or list_captures(corpus, FOLDERS)
    t0 = time.monotonic()
    # Isolate tshark from personal preferences (~/.config/wireshark).
    cfg = tempfile.mkdtemp(prefix="golden-wsconfig-")
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=cfg, LC_ALL="C")
    recs = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = [ex.submit(probe, corpus, rel, args.timeout, env) for rel in files]
        for n, fut in enumerate(concurrent.futures.as_completed(futs), 1):
            recs.append(fut.result())
            if n % 100 == 0:
                print("  %d/%d files, %.0fs" % (n, len(files), time.monotonic() - t0),
                      file=sys.stderr)
    os.rmdir(cfg)
    recs.sort(key=lambda r: r["path"])
    elapsed = time.monotonic() - t0

    header = ["path", "format", "linktypes", "tshark_packets", "tcp_conv", "udp_conv",
              "tshark_error"]
    for r in recs:
        if r["capinfos_packets"] is not None and r["capinfos_packets"] != r["tshark_packets"]:
            print("warning: %s: capinfos counts %d packets, tshark %d"
                  % (r["path"], r["capinfos_packets"], r["tshark_packets"]), file=sys.stderr)
    if args.files:
        print("\t".join(header))
        for r in recs:
            print("\t".join(str(r[h]) for h in header))
        return

    os.makedirs(args.out, exist_ok=True)
    write_tsv(os.path.join(args.out, "peers.tsv"), header, recs)
    check = tornet_check(corpus, recs)
    write_tsv(os.path.join(args.out, "tornet-flows.tsv"),
              ["path", "csv_tcp", "tshark_tcp", "tcp_pairs_equal", "tcp_frames_equal",
               "csv_udp", "tshark_udp", "udp_pairs_equal", "udp_frames_equal", "result"], check)
    # Every conversation row (sorted: tshark orders rows by size, ties unstable).
    buf = io.StringIO()
    buf.write("path\tproto\tendpoint_a\tendpoint_b\tframes\n")
    for r in recs:
        for proto in ("TCP", "UDP"):
            for a, b, n in sorted(r["convs"][proto]):
                buf.write("%s\t%s\t%s\t%s\t%d\n" % (r["path"], proto.lower(), a, b, n))
    with open(os.path.join(args.out, "peers-conv.tsv.gz"), "wb") as raw:
        with gzip.GzipFile("peers-conv.tsv", "wb", fileobj=raw, mtime=0) as g:
            g.write(buf.getvalue().encode())
    # Distinct unordered endpoint pairs (= 5-tuples): tshark's row count minus
    # the splits it makes of one 5-tuple into several conversations.
    prows = []
    for r in recs:
        pr = {"path": r["path"]}
        for proto in ("TCP", "UDP"):
            pr[proto.lower() + "_pairs"] = len({frozenset((a, b)) for a, b, _ in r["convs"][proto]})
        prows.append(pr)
    write_tsv(os.path.join(args.out, "peers-pairs.tsv"), ["path", "tcp_pairs", "udp_pairs"], prows)
    wrows = []
    for r in recs:
        for (proto, msg), n in sorted(r["warnings"].items()):
            wrows.append({"path": r["path"], "protocol": proto, "count": n, "message": clean(msg)})
    write_tsv(os.path.join(args.out, "tshark-warnings.tsv"),
              ["path", "protocol", "count", "message"], wrows)

    # Summary for README.md.
    byfolder = {}
    for r in recs:
        folder = next((g for g in GROUPS if r["path"].startswith(g + "/")),
                      "/".join(r["path"].split("/")[:2]))
        s = byfolder.setdefault(folder, [0, 0, 0, 0])
        s[0] += 1
        s[1] += 0 if r["tshark_packets"] == "" else 1
        s[2] += 1 if r["tshark_error"] else 0
        s[3] += r["tshark_packets"] or 0
    print("folder\tfiles\treadable\twith_error\tpackets")
    for f in sorted(byfolder):
        print("%s\t%s" % (f, "\t".join(map(str, byfolder[f]))))
    print("tornet flows.csv check: %s" % ", ".join("%s %s" % (c["path"], c["result"]) for c in check))
    print("%d files in %.1f s with %d jobs (tshark: %s)" % (
        len(recs), elapsed, args.jobs,
        subprocess.run([TSHARK, "--version"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, env=env)
        .stdout.decode().splitlines()[0]))


if __name__ == "__main__":
    main()
