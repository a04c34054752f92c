#!/usr/bin/env python3
"""Cut the bundled sample from a tornet corpus run: every flow keeps its first packets
(handshakes, first records), bulk transfer beyond that is dropped, so the sample is a few
MB but holds every flow of the run with its label. Also copies the run's consensus and
host list, and writes the labels of the sample's flows with recomputed counts.

usage: tools/make_sample.py CORPUS_RUN_DIR OUT_DIR [--per-flow N]
"""
import argparse, csv, os, shutil, struct

def key(pkt):
    # Ethernet / IPv4 / TCP or UDP only: that is what the tornet client capture holds.
    if len(pkt) < 34 or pkt[12:14] != b'\x08\x00':
        return None
    ihl = (pkt[14] & 15) * 4
    proto = pkt[23]
    if proto not in (6, 17) or len(pkt) < 14 + ihl + 4:
        return None
    src, dst = pkt[26:30], pkt[30:34]
    sport, dport = struct.unpack('>HH', pkt[14 + ihl:18 + ihl])
    a, b = (src, sport), (dst, dport)
    return (proto,) + (a + b if a <= b else b + a)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('run')
    ap.add_argument('out')
    ap.add_argument('--per-flow', type=int, default=60)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    src = open(os.path.join(args.run, 'client.pcap'), 'rb').read()
    assert src[:4] == b'\xd4\xc3\xb2\xa1', 'expects a little-endian microsecond pcap'
    out = bytearray(src[:24])
    seen = {}
    off = 24
    while off + 16 <= len(src):
        sec, usec, caplen, wirelen = struct.unpack('<IIII', src[off:off + 16])
        pkt = src[off + 16:off + 16 + caplen]
        k = key(pkt)
        n = seen.get(k, 0)
        if k is None or n < args.per_flow:
            out += src[off:off + 16 + caplen]
        if k is not None:
            seen[k] = n + 1
        off += 16 + caplen
    with open(os.path.join(args.out, 'tornet-client.pcap'), 'wb') as f:
        f.write(out)
    shutil.copytree(os.path.join(args.run, 'consensus'), os.path.join(args.out, 'consensus'),
                    dirs_exist_ok=True)
    shutil.copy(os.path.join(args.run, 'hosts.csv'), args.out)
    with open(os.path.join(args.run, 'client.flows.csv')) as f, \
            open(os.path.join(args.out, 'labels.csv'), 'w', newline='') as g:
        w = csv.writer(g)
        w.writerow(['proto', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'label', 'detail'])
        for r in csv.DictReader(f):
            w.writerow([r['proto'], r['src_ip'], r['src_port'], r['dst_ip'], r['dst_port'],
                        r['label'], r['detail']])
    print(f"{len(out)} bytes, {len(seen)} flows")

if __name__ == '__main__':
    main()
