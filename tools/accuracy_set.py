#!/usr/bin/env python3
"""Make the compact labelled accuracy set (data/accuracy/) from tornet runs.

usage: tools/accuracy_set.py [--views=client,relay-exit1] OUTDIR RUN_DIR...

Each RUN_DIR is an output folder of ../shared/tools/tornet/make-captures.sh (client.pcap,
client.flows.csv, consensus/, summary.txt). For each run this writes OUTDIR/<run>/:
  VIEW.pcap.zst     a reduced copy of VIEW.pcap (VIEW: client; with --views also others, e.g.
                    relay-exit1: an exit relay's links to the other relays, long-lived
                    tor-link flows), in time order, with original bytes and timestamps: of every Tor-labelled flow its first HEAD packets (the
                    handshake and first records) and MID packets from its middle (what a
                    capture begun mid-connection holds); of every other flow its first
                    OTHER packets
  VIEW.flows.csv    the run's labels for the flows kept, with the packets kept per flow
                    and, for a Tor flow with a middle part, the time it starts (mid_ts)
  consensus/        the run's consensus documents (ns and microdesc flavours)
  README.txt        where the run came from (variant, seed, subnet) and how it was cut
The full captures are ~10 MB a run; a reduced client view is about 0.5 MB. Pure Python (struct), Ethernet or
Linux-cooked IPv4/IPv6 pcap as make-captures.sh writes them; needs the zstd command.
"""
import csv
import os
import shutil
import struct
import subprocess
import sys

HEAD, MID, OTHER = 150, 300, 20
CONSENSUS = ("auth1-cached-consensus", "auth1-cached-microdesc-consensus",
             "client-cached-microdesc-consensus")


def packets(path):
    b = open(path, "rb").read()
    magic = struct.unpack("<I", b[:4])[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(e + "I", b[20:24])[0] & 0xFFFF
    off = 24
    while off + 16 <= len(b):
        caplen = struct.unpack(e + "I", b[off + 8:off + 12])[0]
        yield b[off:off + 16 + caplen], link, b[off + 16:off + 16 + caplen]
        off += 16 + caplen
    yield b[:24], None, None  # the file header, last


def five_tuple(link, f):
    if link == 1:
        et, f = struct.unpack("!H", f[12:14])[0], f[14:]
        while et == 0x8100:
            et, f = struct.unpack("!H", f[2:4])[0], f[4:]
    elif link == 113:
        et, f = struct.unpack("!H", f[14:16])[0], f[16:]
    else:
        return None
    if et == 0x0800 and len(f) >= 20:
        ihl, proto = (f[0] & 15) * 4, f[9]
        src, dst, l4 = f[12:16], f[16:20], f[ihl:]
        fam = 4
    elif et == 0x86DD and len(f) >= 40:
        proto, src, dst, l4, fam = f[6], f[8:24], f[24:40], f[40:], 6
    else:
        return None
    if proto not in (6, 17) or len(l4) < 4:
        return None
    sp, dp = struct.unpack("!HH", l4[:4])
    import ipaddress
    a = (str(ipaddress.ip_address(bytes(src))), sp)
    c = (str(ipaddress.ip_address(bytes(dst))), dp)
    return ("tcp" if proto == 6 else "udp",) + tuple(sorted([a, c]))


def reduce_view(run, out, view):
    """Reduce RUN/VIEW.pcap into OUT/<run>/VIEW.pcap.zst and VIEW.flows.csv."""
    name = os.path.basename(run.rstrip("/"))
    labels = {}
    rows = list(csv.DictReader(open(os.path.join(run, view + ".flows.csv"))))
    for r in rows:
        k = (r["proto"],) + tuple(sorted([(r["src_ip"], int(r["src_port"])),
                                          (r["dst_ip"], int(r["dst_port"]))]))
        labels[k] = r
    recs = list(packets(os.path.join(run, view + ".pcap")))
    header = recs.pop()[0]
    per = {}
    for i, (rec, link, frame) in enumerate(recs):
        k = five_tuple(link, frame)
        per.setdefault(k, []).append(i)
    keep = set()
    kept, mid_ts = {}, {}
    for k, idx in per.items():
        r = labels.get(k)
        if r and r["label"].startswith("tor"):
            sel = idx[:HEAD]
            if len(idx) > HEAD + MID:
                m = len(idx) // 2
                sel += idx[m:m + MID]
                sec, usec = struct.unpack("<II", recs[idx[m]][0][:8])
                mid_ts[k] = f"{sec}.{usec:06d}"
        else:
            sel = idx[:OTHER]
        keep.update(sel)
        kept[k] = len(sel)
    os.makedirs(os.path.join(out, name), exist_ok=True)
    raw = header + b"".join(recs[i][0] for i in sorted(keep))
    subprocess.run(["zstd", "-q", "-19", "-f", "-o",
                    os.path.join(out, name, view + ".pcap.zst")], input=raw, check=True)
    with open(os.path.join(out, name, view + ".flows.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) + ["pkts_kept", "mid_ts"])
        w.writeheader()
        for r in rows:
            k = (r["proto"],) + tuple(sorted([(r["src_ip"], int(r["src_port"])),
                                              (r["dst_ip"], int(r["dst_port"]))]))
            if k in kept:
                w.writerow(dict(r, pkts_kept=kept[k], mid_ts=mid_ts.get(k, "")))
    return len(raw), len(keep), len(recs)


def reduce_run(run, out, views):
    name = os.path.basename(run.rstrip("/"))
    os.makedirs(os.path.join(out, name, "consensus"), exist_ok=True)
    res = [(v,) + reduce_view(run, out, v) for v in views
           if os.path.exists(os.path.join(run, v + ".pcap"))]
    for c in CONSENSUS:
        src = os.path.join(run, "consensus", c)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(out, name, "consensus", c))
    summary = open(os.path.join(run, "summary.txt")).read().splitlines()
    info = [l for l in summary if l.startswith(("variant=", "tor:", "bridge:"))]
    with open(os.path.join(out, name, "README.txt"), "w") as f:
        f.write(f"{name}: reduced from a run of ../shared/tools/tornet/make-captures.sh\n")
        f.write("\n".join(info) + "\n")
        f.write("views: " + ", ".join(r[0] for r in res) + "\n")
        f.write(f"kept: Tor flows' first {HEAD} packets and {MID} from their middle; "
                f"other flows' first {OTHER} (tools/accuracy_set.py)\n")
    return res


def main():
    args = sys.argv[1:]
    views = ("client",)
    if args and args[0].startswith("--views="):
        views = tuple(args.pop(0)[len("--views="):].split(","))
    out = args[0]
    for run in args[1:]:
        if not os.path.exists(os.path.join(run, "summary.txt")):
            continue
        for v, n, k, t in reduce_run(run, out, views):
            print(f"{run}/{v}: kept {k} of {t} packets ({n} bytes before zstd)")


if __name__ == "__main__":
    main()
