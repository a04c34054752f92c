#!/usr/bin/env python3
"""Golden tests on the real captures of ../shared/corpus (exit 77 = skipped: no corpus).

  golden.py peers  TORTRACE CORPUS   packet counts equal tshark's for every capture tshark
                                     reads; TCP/UDP flow counts equal tshark's conversation
                                     counts, or the difference is listed with its reason in
                                     peers-differences.tsv (with tortrace's exact numbers)
  golden.py tornet TORTRACE CORPUS   every flow of the tornet captures equals the corpus's
                                     ground truth (5-tuple, packets, frame and payload bytes
                                     per direction)
  golden.py jobs   TORTRACE CORPUS   -j 1 and -j 3 give the same report.json (apart from
                                     "run") and byte-identical flows.msgpack

tshark has no idle timeout, so `peers` runs tortrace with timeouts of a century; the
expected counts come from tshark 4.0 via tools/golden_update.py (tshark is not needed
here). `--update` rewrites peers-differences.tsv, keeping the reasons already written.
"""
import csv, io, json, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CENTURY = str(100 * 365 * 86400)


def skip_without(corpus):
    if not os.path.isdir(corpus):
        print(f"SKIP: corpus not found at {corpus} (tests read ../shared/corpus)")
        sys.exit(77)


def analyze(tortrace, out, paths, *extra):
    cmd = [tortrace, 'analyze', '-q', '-o', out, *extra, *paths]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stderr[-2000:]}")
    with open(os.path.join(out, 'report.json')) as f:
        return json.load(f)


def by_relpath(report, corpus):
    root = os.path.realpath(corpus)
    return {os.path.relpath(os.path.realpath(f['path']), root): f for f in report['files']}


def read_tsv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f, delimiter='\t'))


def peers(tortrace, corpus, update):
    expected = read_tsv(os.path.join(HERE, 'peers.tsv'))
    diff_path = os.path.join(HERE, 'peers-differences.tsv')
    known = {r['path']: r for r in read_tsv(diff_path)} if os.path.exists(diff_path) else {}
    # --no-chain: tshark counts each capture alone, and with timeouts of a century any
    # capture that starts after the one before it ends would continue it (capture sets).
    with tempfile.TemporaryDirectory() as out:
        rep = analyze(tortrace, out, [os.path.join(corpus, 'peers'), os.path.join(corpus, 'tornet')],
                      '-j', '2', '--tcp-timeout', CENTURY, '--udp-timeout', CENTURY,
                      '--no-chain')
    mine = by_relpath(rep, corpus)
    failures, new_known, n_equal, n_known = [], {}, 0, 0
    for row in expected:
        path = row['path']
        if row['tshark_packets'] == '':
            continue  # tshark could not read it at all: nothing to compare
        m = mine.get(path)
        if m is None:
            failures.append(f"{path}: not in tortrace's report")
            continue
        got = (m['packets'], m['flows_tcp'], m['flows_udp'])
        want = (int(row['tshark_packets']), int(row['tcp_conv'] or 0), int(row['udp_conv'] or 0))
        k = known.get(path)
        if got == want:
            n_equal += 1
            if k:
                failures.append(f"{path}: listed in peers-differences.tsv but now equal to "
                                f"tshark; remove the entry")
            continue
        rec = {'path': path, 'tshark_packets': want[0], 'tshark_tcp': want[1],
               'tshark_udp': want[2], 'tortrace_packets': got[0], 'tortrace_tcp': got[1],
               'tortrace_udp': got[2], 'reason': (k or {}).get('reason', 'TODO: explain')}
        new_known[path] = rec
        if k and (int(k['tortrace_packets']), int(k['tortrace_tcp']),
                  int(k['tortrace_udp'])) == got and not k['reason'].startswith('TODO'):
            n_known += 1
            continue
        failures.append(f"{path}: packets/tcp/udp tortrace {got} vs tshark {want}"
                        + (f" (listed as {k['tortrace_packets']}/{k['tortrace_tcp']}/"
                           f"{k['tortrace_udp']}: {k['reason']})" if k else " (not listed)"))
    if update:
        cols = ['path', 'tshark_packets', 'tshark_tcp', 'tshark_udp', 'tortrace_packets',
                'tortrace_tcp', 'tortrace_udp', 'reason']
        with open(diff_path, 'w', newline='') as f:
            w = csv.DictWriter(f, cols, delimiter='\t', lineterminator='\n')
            w.writeheader()
            for p in sorted(new_known):
                w.writerow(new_known[p])
        print(f"wrote {diff_path}: {len(new_known)} differences")
    print(f"golden peers: {len(expected)} captures, {n_equal} equal to tshark, "
          f"{n_known} listed differences, {len(failures)} failures")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


def tornet(tortrace, corpus):
    runs = sorted(d for d in os.listdir(os.path.join(corpus, 'tornet'))
                  if os.path.isdir(os.path.join(corpus, 'tornet', d)))
    failures, n_flows, n_tor_tls = [], 0, 0
    for run in runs:
        for csvf in sorted(os.listdir(os.path.join(corpus, 'tornet', run))):
            if not csvf.endswith('.flows.csv'):
                continue
            pcap = os.path.join(corpus, 'tornet', run, csvf.replace('.flows.csv', '.pcap'))
            if not os.path.exists(pcap):
                continue
            with tempfile.TemporaryDirectory() as out:
                analyze(tortrace, out, [pcap], '-j', '2')
                exp = subprocess.run([tortrace, 'export', '--csv',
                                      os.path.join(out, 'flows.msgpack')],
                                     capture_output=True, text=True, check=True).stdout
                jl = subprocess.run([tortrace, 'export', '--jsonl',
                                     os.path.join(out, 'flows.msgpack')],
                                    capture_output=True, text=True, check=True).stdout
            mine = {(r['proto'], r['src_ip'], r['src_port'], r['dst_ip'], r['dst_port']): r
                    for r in csv.DictReader(io.StringIO(exp))}
            tls = {}
            for line in jl.splitlines():
                r = json.loads(line)
                tls[(r['proto'], r['src_ip'], str(r['src_port']), r['dst_ip'],
                     str(r['dst_port']))] = r.get('tls')
            truth = list(csv.DictReader(open(os.path.join(corpus, 'tornet', run, csvf))))
            if len(mine) != len(truth):
                failures.append(f"{run}/{csvf}: {len(mine)} flows, truth has {len(truth)}")
            for t in truth:
                k = (t['proto'], t['src_ip'], t['src_port'], t['dst_ip'], t['dst_port'])
                m = mine.get(k)
                if m is None:
                    failures.append(f"{run}/{csvf}: flow {k} ({t['label']}) missing")
                    continue
                n_flows += 1
                # TLS inspector: every Tor TLS link shows tor's random SNI and its cell
                # framing (VERSIONS, then the relay's bundle); no ordinary HTTPS does.
                info = tls.get(k)
                tor_tls = bool(info and info['ch_traits'] & 0x18 == 0x18 and info['framing_d1'])
                if t['label'] in ('tor-link', 'tor-bridge') and not tor_tls:
                    failures.append(f"{run}/{csvf}: {t['label']} flow {k}: TLS traits {info}")
                if t['label'] == 'non-tor-https' and tor_tls:
                    failures.append(f"{run}/{csvf}: HTTPS flow {k} looks like Tor: {info}")
                n_tor_tls += tor_tls
                for a, b in (('pkts_fwd', 'pkts_fwd'), ('pkts_rev', 'pkts_rev'),
                             ('frame_bytes_fwd', 'bytes_fwd'), ('frame_bytes_rev', 'bytes_rev'),
                             ('payload_bytes_fwd', 'payload_fwd'),
                             ('payload_bytes_rev', 'payload_rev')):
                    if t[a] != m[b]:
                        failures.append(f"{run}/{csvf}: flow {k}: {b} {m[b]}, truth {t[a]}")
    print(f"golden tornet: {n_flows} labelled flows equal to the ground truth, "
          f"{n_tor_tls} with Tor's TLS traits and framing, {len(failures)} failures")
    for f in failures[:50]:
        print("FAIL:", f)
    return 1 if failures else 0


def jobs(tortrace, corpus):
    paths = [os.path.join(corpus, 'tornet'), os.path.join(corpus, 'peers', 'zeek')]
    outs, reports, flows = [], [], []
    try:
        for j in ('1', '3'):
            out = tempfile.mkdtemp()
            outs.append(out)
            rep = analyze(tortrace, out, paths, '-j', j, '--ring-slots', '256')
            rep.pop('run')
            reports.append(json.dumps(rep, sort_keys=True))
            with open(os.path.join(out, 'flows.msgpack'), 'rb') as f:
                flows.append(f.read())
    finally:
        for o in outs:
            shutil.rmtree(o, ignore_errors=True)
    ok = reports[0] == reports[1] and flows[0] == flows[1]
    print(f"golden jobs: -j 1 and -j 3 reports {'equal' if reports[0] == reports[1] else 'DIFFER'}, "
          f"flows.msgpack {'identical' if flows[0] == flows[1] else 'DIFFERS'} "
          f"({len(flows[0])} bytes)")
    return 0 if ok else 1


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ('peers', 'tornet', 'jobs'):
        sys.exit(__doc__)
    what, tortrace, corpus = sys.argv[1:4]
    skip_without(corpus)
    if what == 'peers':
        return peers(tortrace, corpus, '--update' in sys.argv)
    return tornet(tortrace, corpus) if what == 'tornet' else jobs(tortrace, corpus)


if __name__ == '__main__':
    sys.exit(main())
