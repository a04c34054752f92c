#!/usr/bin/env python3
"""Detection accuracy at the verdict threshold, section by section.

usage: bench/accuracy.py [TORTRACE] [CORPUS]     (defaults: build/tortrace, ../shared/corpus)

A verdict other than none needs a score of at least the threshold (tortrace --min-score,
default 0.5); flows with evidence below it are candidates, counted apart and never as
detections. Every section prints, per label: flows (the sample size), detected (a verdict),
recall at the threshold, candidates, and the verdicts given; then, per verdict given, its
precision: flows with that verdict whose label is exactly that verdict's kind, and whose
label is any Tor label, each divided by the flows with that verdict.

Sections (each a function taking the shared Results):
  tornet           ../shared/corpus/tornet runs, with and without the run consensus
  accuracy set     data/accuracy (tools/accuracy_set.py; every view: the client's, and an
                   exit relay's for some runs), whole flows, with and without relay data
  mid-stream       the accuracy set cut where its first Tor flow's middle part begins: the
                   Tor flows that began before the cut are links caught mid-stream
  rotated          the accuracy set rotated into 5-second files: must equal the whole
                   capture (capture sets); the pieces read one by one are reported
  without B3       tor-link and tor-bridge recall with evidence B3 (the JA3/JA4 table)
                   left out (tortrace's hidden --without-evidence B3)
  peers            nDPI, Zeek, Suricata captures: their Tor files' flows found, and every
                   other flow without a verdict (no exceptions list)
  synthetic        tools/synth_fe.py: fully encrypted non-Tor flows of other protocols'
                   shapes (a development and a held-out seed); none may have a verdict
  Snowflake        ../shared/corpus/transports/snowflake-* and the run folders of
                   $SNOWFLAKE_RUNS: flows by label, the sessions report.json assembles,
                   and the negative captures of $PT_NEGATIVES
  meek, WebTunnel  ../shared/corpus/transports/meek-*, webtunnel-*: flows by label and the
                   transport sessions report.json assembles

Exit 0 when every target holds, 1 otherwise (77: no corpus). It runs tortrace; it needs
neither tshark nor nDPI.
"""
import collections, csv, glob, json, os, struct, subprocess, sys, tempfile

TT = sys.argv[1] if len(sys.argv) > 1 else 'build/tortrace'
CORPUS = sys.argv[2] if len(sys.argv) > 2 else '../shared/corpus'
HERE = os.path.dirname(os.path.abspath(__file__))
ACCSET = os.path.join(HERE, '..', 'data', 'accuracy')
SYNTH = os.path.join(HERE, '..', 'tools', 'synth_fe.py')

# The verdicts that are right for a label (a listed relay's link is "tor" with relay data,
# "tor-bridge" without: both are right).
# The mid-stream TLS targets without relay data are claimed once D3/D4 can reach a verdict.
MIDSTREAM_CLAIMED = True

RIGHT = {'tor-link': {'tor', 'tor-bridge'}, 'tor-dir': {'tor-dir'},
         'tor-bridge': {'tor-bridge'}, 'tor-obfs4': {'tor-pt'},
         'tor-exit-dns': {'tor-exit-side'}, 'tor-exit-http': {'tor-exit-side'},
         'tor-exit-https': {'tor-exit-side'}, 'snowflake-dtls': {'tor-snowflake'},
         'meek-front': {'tor-meek'}, 'webtunnel': {'tor-webtunnel'}}


def analyze(paths, relays=None, extra=(), with_report=False):
    """tortrace's flow records (export --jsonl) for paths (and report.json)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [TT, 'analyze', '-q', '-o', out] + list(extra) + \
              (['--relays', relays] if relays else []) + paths
        subprocess.run(cmd, stderr=subprocess.DEVNULL, check=False)
        jl = subprocess.run([TT, 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
                            capture_output=True, text=True, check=True).stdout
        report = json.load(open(os.path.join(out, 'report.json'))) if with_report else None
    flows = [json.loads(l) for l in jl.splitlines()]
    return (flows, report) if with_report else flows


def key(r):
    return (r['proto'], r['src_ip'], str(r['src_port']), r['dst_ip'], str(r['dst_port']))


def either_way(flows_by_key, t):
    k = key(t)
    r = flows_by_key.get(k)
    if r is None:  # a mid-stream flow may be oriented the other way round
        r = flows_by_key.get((k[0], k[3], k[4], k[1], k[2]))
    return r


def norm_label(label):
    return label if label.startswith('tor') else 'non-tor'


class Tally:
    """Labelled flows of one section: verdicts and candidates per label."""

    def __init__(self):
        self.verdicts = collections.defaultdict(collections.Counter)
        self.candidates = collections.Counter()

    def add(self, label, r):
        self.verdicts[label][r['verdict'] if r else 'missing'] += 1
        if r and r.get('candidate', 'none') != 'none':
            self.candidates[label] += 1

    def recall(self, label):
        c = self.verdicts.get(label)
        if not c:
            return None
        n = sum(c.values())
        return (n - c['none'] - c['missing']) / n

    def n_detected(self, label):
        c = self.verdicts.get(label, collections.Counter())
        return sum(c.values()) - c['none'] - c['missing']

    def print(self, title):
        print(f"-- {title}")
        print(f"   {'label':15} {'flows':>5} {'detected':>8} {'recall':>6} {'candidates':>10}"
              f"  verdicts")
        for label in sorted(self.verdicts):
            c = self.verdicts[label]
            n = sum(c.values())
            det = self.n_detected(label)
            rc = '' if label == 'non-tor' else f"{det / n:.0%}" if n else '-'
            print(f"   {label:15} {n:5} {det:8} {rc:>6} {self.candidates[label]:10}  "
                  f"{dict(c)}")
        given = collections.Counter()
        exact = collections.Counter()
        anytor = collections.Counter()
        for label, c in self.verdicts.items():
            for v, n in c.items():
                if v in ('none', 'missing'):
                    continue
                given[v] += n
                exact[v] += n if v in RIGHT.get(label, ()) else 0
                anytor[v] += n if label != 'non-tor' else 0
        for v in sorted(given):
            print(f"   verdict {v:14} flows {given[v]:4}  precision {exact[v] / given[v]:.0%}"
                  f" (that label), {anytor[v] / given[v]:.0%} (any Tor label)")


class Results:
    """What the sections found, and the targets checked at the end. A target is claimed
    (the default: the exit status fails when it fails) or open: an issue's target that
    tortrace does not meet yet, printed as OPEN with its number and never counted as met.
    Open targets are few and named in the README; one that passes says so, to be claimed."""

    def __init__(self):
        self.checks = []  # (ok, text, is_open)

    def target(self, ok, text, is_open=False):
        self.checks.append((bool(ok), text, is_open))

    def recall_target(self, tally, label, want, what, is_open=False):
        got = tally.recall(label)
        n = sum(tally.verdicts.get(label, {}).values())
        self.target(got is not None and got >= want,
                    f"{label} {what}: recall {'-' if got is None else f'{got:.0%}'} of {n} "
                    f"(target {want:.0%})", is_open)

    def no_verdicts(self, tally, what):
        n = tally.n_detected('non-tor')
        m = sum(tally.verdicts.get('non-tor', {}).values())
        self.target(n == 0, f"non-Tor flows with a verdict, {what}: {n} of {m} (target 0)")


def tornet_runs():
    root = os.path.join(CORPUS, 'tornet')
    for run in sorted(os.listdir(root)):
        rdir = os.path.join(root, run)
        if not os.path.isdir(rdir):
            continue
        for csvf in sorted(f for f in os.listdir(rdir) if f.endswith('.flows.csv')):
            yield (os.path.join(rdir, csvf.replace('.flows.csv', '.pcap')),
                   os.path.join(rdir, csvf), os.path.join(rdir, 'consensus'))


def accset_runs():
    """(capture, labels, consensus) of every view of every accuracy-set run: the client's,
    and for some runs an exit relay's (relay-exit1: its links to the other relays)."""
    if not os.path.isdir(ACCSET):
        return
    for run in sorted(os.listdir(ACCSET)):
        rdir = os.path.join(ACCSET, run)
        if not os.path.isdir(rdir):
            continue
        for view in sorted(f[:-len('.pcap.zst')] for f in os.listdir(rdir)
                           if f.endswith('.pcap.zst')):
            yield (os.path.join(rdir, view + '.pcap.zst'),
                   os.path.join(rdir, view + '.flows.csv'), os.path.join(rdir, 'consensus'))


def tally_runs(runs, with_relays, extra=()):
    """Whole flows of labelled runs: (pcap, labels csv, consensus) triples."""
    t = Tally()
    for pcap, labels, consensus in runs:
        flows = {key(r): r for r in analyze([pcap], consensus if with_relays else None, extra)}
        for f in csv.DictReader(open(labels)):
            label = 'non-tor' if f['label'] == 'other' else norm_label(f['label'])
            t.add(label, flows.get(key(f)))
    return t


def section_tornet(res):
    print("\n== tornet (../shared/corpus/tornet), whole flows")
    for with_relays in (True, False):
        t = tally_runs(tornet_runs(), with_relays)
        t.print('with the run consensus' if with_relays else 'no relay data')
        what = 'with relay data' if with_relays else 'without relay data'
        res.recall_target(t, 'tor-link', 1.0 if with_relays else 0.95, f"(tornet) {what}")
        if with_relays:
            res.recall_target(t, 'tor-dir', 1.0, f"(tornet) {what}")
        res.no_verdicts(t, f"tornet {what}")


def section_obfs4_all(res):
    """tor-obfs4 over every labelled obfs4 flow: the accuracy set and the corpus runs."""
    t = tally_runs(list(accset_runs()) + list(tornet_runs()), False)
    n = sum(t.verdicts['tor-obfs4'].values())
    print(f"\n== tor-obfs4, accuracy set and tornet corpus together, no relay data: flows {n}, "
          f"detected {t.n_detected('tor-obfs4')}, candidates {t.candidates['tor-obfs4']}")
    res.recall_target(t, 'tor-obfs4', 0.95, "(accuracy set + tornet corpus)")


def section_accuracy_set(res):
    runs = list(accset_runs())
    print(f"\n== accuracy set: {len(runs)} reduced tornet runs (data/accuracy, "
          f"tools/accuracy_set.py), whole flows")
    if not runs:
        return
    for with_relays in (True, False):
        t = tally_runs(runs, with_relays)
        t.print('with the run consensus' if with_relays else 'no relay data')
        what = 'with relay data' if with_relays else 'without relay data'
        res.recall_target(t, 'tor-bridge', 0.95, f"(accuracy set) {what}")
        res.recall_target(t, 'tor-obfs4', 0.95, f"(accuracy set) {what}")
        res.no_verdicts(t, f"accuracy set {what}")


def section_without_b3(res):
    print("\n== without B3 (the JA3/JA4 table left out: --without-evidence B3), whole flows")
    for name, runs in (('tornet', tornet_runs), ('accuracy set', accset_runs)):
        for with_relays in (True, False):
            t = tally_runs(runs(), with_relays, ['--without-evidence', 'B3'])
            for label in ('tor-link', 'tor-bridge'):
                rc = t.recall(label)
                if rc is not None:
                    n = sum(t.verdicts[label].values())
                    print(f"   {name:12} {'with' if with_relays else 'without'} relay data: "
                          f"{label} flows {n:3}  recall without B3 {rc:.0%}  candidates "
                          f"{t.candidates[label]}")


def read_pcap(path):
    """(file header, [(time in microseconds, record bytes)]) of a classic pcap, zstd or not."""
    raw = subprocess.run(['zstd', '-dcf', path], capture_output=True, check=True).stdout
    e = '<' if struct.unpack('<I', raw[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else '>'
    recs, off = [], 24
    while off + 16 <= len(raw):
        sec, usec, caplen = struct.unpack(e + 'III', raw[off:off + 12])
        recs.append((sec * 1000000 + usec, raw[off:off + 16 + caplen]))
        off += 16 + caplen
    return raw[:24], recs


def usec(ts):
    """A flows.csv time (sec.usec) in microseconds."""
    sec, _, frac = ts.partition('.')
    return int(sec) * 1000000 + int((frac + '000000')[:6])


def cut_midstream(src, out, flows):
    """A copy of a reduced accuracy-set capture that begins where the middle part of its
    first Tor flow begins (what a capture started mid-connection holds; mid_ts, written by
    tools/accuracy_set.py): every packet before that time is dropped. Returns the cut time
    (microseconds), or None when no Tor flow has a middle part."""
    header, recs = read_pcap(src)
    mids = [usec(f['mid_ts']) for f in flows if f['label'].startswith('tor') and f['mid_ts']]
    if not mids:
        return None
    cut = min(mids)
    with open(out, 'wb') as f:
        f.write(header + b''.join(r for t, r in recs if t >= cut))
    return cut


def section_midstream(res):
    """The accuracy set cut mid-stream: every long-lived Tor flow (one with a middle part:
    over 450 packets in the full run, tools/accuracy_set.py) that began before the cut is a
    link caught mid-stream (no SYN, no handshake). Tor flows that begin after the cut are
    whole flows, and short ones that end a few packets after it are not long-lived links:
    neither is counted here. Non-Tor flows are counted either way."""
    print("\n== accuracy set cut mid-stream (each capture from the start of its first Tor "
          "flow's middle part)")
    for with_relays in (True, False):
        t = Tally()
        for pcap, labels, consensus in accset_runs():
            rows = list(csv.DictReader(open(labels)))
            with tempfile.TemporaryDirectory() as tmp:
                cap = os.path.join(tmp, 'cut.pcap')
                cut = cut_midstream(pcap, cap, rows)
                if cut is None:
                    continue
                flows = {key(r): r for r in analyze([cap], consensus if with_relays else None)}
            for f in rows:
                r = either_way(flows, f)
                label = norm_label(f['label'])
                if r is None or (label != 'non-tor' and (usec(f['first_ts']) >= cut or
                                                          not f['mid_ts'])):
                    continue  # ended before the cut, a whole Tor flow after it, or short
                t.add(label, r)
        what = 'with relay data' if with_relays else 'without relay data'
        t.print('with the run consensus' if with_relays else 'no relay data')
        # Open (README, "Not met yet"): without relay data a link caught mid-stream has only
        # the framing items (D3, D4), whose weights are bounded by the number of non-Tor
        # flows they were measured on; obfs4 has no mid-stream item at all.
        res.recall_target(t, 'tor-link', 0.95 if with_relays else 0.80, f"mid-stream {what}",
                          is_open=not with_relays and not MIDSTREAM_CLAIMED)
        if not with_relays:  # bridges are unlisted: relay data cannot help them
            res.recall_target(t, 'tor-bridge', 0.80, "mid-stream (unlisted)",
                              is_open=not MIDSTREAM_CLAIMED)
            res.recall_target(t, 'tor-obfs4', 0.80, "mid-stream (unlisted)", is_open=True)
        res.no_verdicts(t, f"mid-stream {what}")


def split_every(src, folder, seconds):
    """src split into files of `seconds` of packets each (as editcap -i does), named so
    that their natural order is their time order. Returns the number of files."""
    header, recs = read_pcap(src)
    pieces = collections.defaultdict(list)
    t0 = recs[0][0] if recs else 0
    for t, r in recs:
        pieces[(t - t0) // (seconds * 1000000)].append(r)
    for i, k in enumerate(sorted(pieces)):
        with open(os.path.join(folder, f"part{i + 1}.pcap"), 'wb') as f:
            f.write(header + b''.join(pieces[k]))
    return len(pieces)


FIELDS = ('proto', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'first_ts', 'last_ts',
          'pkts_fwd', 'pkts_rev', 'bytes_fwd', 'bytes_rev', 'verdict', 'score', 'candidate')


def section_rotated(res):
    """Every accuracy-set capture rotated into 5-second files (a folder of pieces) must give
    the flows of the whole capture: same flows, per-direction packets and bytes, verdicts,
    candidates and scores. Also reported: what the pieces give read one by one
    (--no-chain), the way a capture set was analysed before capture sets."""
    print("\n== accuracy set rotated into 5-second files")
    n_caps = n_files = n_diff = 0
    t = Tally()
    for pcap, labels, consensus in accset_runs():
        rows = list(csv.DictReader(open(labels)))
        with tempfile.TemporaryDirectory() as tmp:
            parts = os.path.join(tmp, 'parts')
            os.mkdir(parts)
            n_files += split_every(pcap, parts, 5)
            whole = sorted(tuple(r.get(k) for k in FIELDS) for r in analyze([pcap], consensus))
            chained = sorted(tuple(r.get(k) for k in FIELDS) for r in analyze([parts], consensus))
            apart = {key(r): r for r in analyze([parts], consensus, ['--no-chain'])}
        n_caps += 1
        if whole != chained:
            n_diff += 1
            print(f"   differs: {pcap}")
        for f in rows:
            t.add(norm_label(f['label']), apart.get(key(f)))
    print(f"   {n_caps} captures, {n_files} files: rotated sets equal to the whole capture: "
          f"{n_caps - n_diff} of {n_caps}")
    t.print("the same files read one by one (--no-chain): each flow's first piece only")
    res.target(n_caps > 0 and n_diff == 0,
               f"rotated into 5 s files equals unrotated: {n_caps - n_diff} of {n_caps} captures")


def section_peers(res):
    print("\n== peers: nDPI, Zeek, Suricata captures (no relay data: their dates are not in "
          "the corpus's relay data)")
    peers = analyze([os.path.join(CORPUS, 'peers')])
    ndpi = {r['pcap']: int(r['ndpiReader4.2_tor_flows'] or 0)
            for r in csv.DictReader(open(os.path.join(CORPUS, 'peers', 'ndpi',
                                                      'ndpi_tor_table.tsv')), delimiter='\t')}
    by_file = collections.defaultdict(collections.Counter)
    cands = collections.defaultdict(collections.Counter)
    for r in peers:
        by_file[r['file']][r['verdict']] += 1
        if r.get('candidate', 'none') != 'none':
            cands[r['file']][r['candidate']] += 1
    tor_files = {'tor.pcap': 7, 'tor_bl.pcap': 2}
    n_other = fp = n_cand = 0
    for f in sorted(by_file):
        name = os.path.basename(f)
        c = by_file[f]
        det = sum(c.values()) - c['none']
        if name in tor_files or 'tor_legacy' in f:
            print(f"  {name:28} Tor flows detected {det} (expected {tor_files.get(name, '-')}); "
                  f"nDPI 4.2: {ndpi.get(name, '-')}")
            if name in tor_files:
                res.target(det >= tor_files[name],
                           f"peers {name}: {det} Tor flows found (target {tor_files[name]})")
            continue
        n_other += sum(c.values())
        n_cand += sum(cands[f].values())
        if det:
            fp += det
            print(f"  FALSE POSITIVE {f}: {dict(c)}")
        if cands[f]:
            print(f"  candidates (no verdict) {name}: {dict(cands[f])}")
    print(f"  non-Tor flows: {n_other}, with a verdict: {fp}, candidates: {n_cand}")
    res.target(fp == 0, f"non-Tor flows with a verdict, peers: {fp} (target 0)")


def section_synthetic(res):
    """tools/synth_fe.py flows: seed 1000 is the set G1's rule was developed on, seed 5000
    is held out (the weights of G1 and F- were measured on it), seed 9000 a second held-out
    set, never looked at while G1's coincidence test was designed."""
    for seed, n, what in ((1000, 30, 'development'), (5000, 100, 'held out'),
                          (9000, 100, 'second held out')):
        print(f"\n== synthetic fully encrypted non-Tor flows (tools/synth_fe.py, seed {seed}, "
              f"{n} per shape, {what})")
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, SYNTH, tmp, str(n), str(seed)], check=True)
            flows = analyze([tmp])
        by_file = collections.defaultdict(collections.Counter)
        cands = collections.Counter()
        for r in flows:
            by_file[os.path.basename(r['file'])][r['verdict']] += 1
            cands[os.path.basename(r['file'])] += r.get('candidate', 'none') != 'none'
        fp = 0
        for name in sorted(by_file):
            c = by_file[name]
            det = sum(c.values()) - c['none']
            fp += det
            print(f"  {name:38} flows {sum(c.values()):3}  with a verdict {det:3}  "
                  f"candidates {cands[name]:3}")
        res.target(fp == 0, f"non-Tor flows with a verdict, synthetic seed {seed}: {fp} "
                            f"(target 0)")


def snowflake_runs():
    """The corpus's Snowflake runs, then those of $SNOWFLAKE_RUNS (folders, colon separated,
    laid out like transports/snowflake-s1: NAME.pcap beside NAME.flows.csv), e.g. fresh
    sessions recorded aside."""
    dirs = sorted(glob.glob(os.path.join(CORPUS, 'transports', 'snowflake-*'))) + \
        [p for p in os.environ.get('SNOWFLAKE_RUNS', '').split(':') if p]
    for d in dirs:
        for labels in sorted(glob.glob(os.path.join(d, '*.flows.csv'))):
            pcap = labels[:-len('.flows.csv')] + '.pcap'
            if os.path.exists(pcap):
                yield pcap, labels


def section_snowflake(res):
    """Snowflake (transports/snowflake-*): every flow by its label, with the verdict or
    candidate it got and whether report.json ties it into a Snowflake session; the sessions
    (one per labelled DTLS data flow) found as tor-snowflake; and the non-Tor flows of those
    captures and of the negative captures named by $PT_NEGATIVES (folders or files, colon
    separated: WebRTC data channels, calls, other DTLS/STUN), none of which may have a
    verdict."""
    print("\n== Snowflake (../shared/corpus/transports/snowflake-*)")
    t = Tally()
    tied = collections.Counter()
    n_sessions = found = found_cand = 0
    scores = []
    for pcap, labels in snowflake_runs():
        flows, report = analyze([pcap], with_report=True)
        by_key = {key(r): r for r in flows}
        members = {}
        for sess in report.get('snowflake_sessions', []):
            for m in sess['flows']:
                members[(m['proto'], m['src_ip'], str(m['src_port']), m['dst_ip'],
                         str(m['dst_port']))] = (m['role'], sess)
        for f in csv.DictReader(open(labels)):
            label = f['label'] if f['label'].startswith('snowflake') else 'non-tor'
            r = either_way(by_key, f)
            t.add(label, r)
            m = members.get(key(r)) if r else None
            tied[label] += m is not None
            if label == 'snowflake-dtls' and r and r.get('webrtc', {}).get('dtls_app', 0):
                n_sessions += 1
                scores.append(r['score'])
                if m and m[1]['verdict'] == 'tor-snowflake':
                    found += 1
                elif m and m[1]['candidate'] == 'tor-snowflake':
                    found_cand += 1
        where = os.path.relpath(pcap, CORPUS) if pcap.startswith(CORPUS) else pcap
        print(f"  {where}: {len(report.get('snowflake_sessions', []))} "
              f"Snowflake session(s) in report.json")
    t.print('flows by label (detected: a verdict; tied: a member of a report.json session)')
    for label in sorted(t.verdicts):
        print(f"   {label:15} tied into a session {tied[label]:3} of "
              f"{sum(t.verdicts[label].values())}")
    print(f"   Snowflake sessions (labelled DTLS data flows, client and proxy views): "
          f"{n_sessions}, found as tor-snowflake {found}, as candidate {found_cand}; their "
          f"scores {', '.join(f'{x:.3f}' for x in sorted(scores))}")
    res.no_verdicts(t, "Snowflake captures")
    wrong = sum(n for label, c in t.verdicts.items() if not label.startswith('snowflake')
                for v, n in c.items() if v == 'tor-snowflake')
    res.target(wrong == 0, f"tor-snowflake verdicts on flows not labelled snowflake: {wrong} "
                           f"(target 0)")
    res.target(n_sessions and found / n_sessions >= 0.9,
               f"Snowflake sessions found as tor-snowflake: {found} of {n_sessions} "
               f"(target 90 %; {found_cand} candidates)")
    negs = [p for p in os.environ.get('PT_NEGATIVES', '').split(':') if p]
    if not negs:
        print("  negatives: $PT_NEGATIVES not set (the corpus's own DTLS/STUN negatives are "
              "in the peers section)")
        return
    flows = analyze(negs)
    c = collections.Counter(r['verdict'] for r in flows)
    cand = collections.Counter(r['candidate'] for r in flows if r.get('candidate', 'none') !=
                               'none')
    n_dtls = sum(1 for r in flows if r.get('webrtc', {}).get('dtls'))
    det = sum(c.values()) - c['none']
    top = max((r['score'] for r in flows), default=0)
    print(f"  negatives {' '.join(negs)}: {len(flows)} flows ({n_dtls} with DTLS), with a "
          f"verdict {det}, candidates {dict(cand)}, highest score {top:.3f}")
    res.target(det == 0, f"non-Tor flows with a verdict, PT negatives: {det} of {len(flows)} "
                         f"(target 0)")


TUNNELS = {'meek': 'meek-front', 'webtunnel': 'webtunnel'}


def section_tunnels(res):
    """meek and WebTunnel (transports/meek-*, webtunnel-*): every flow by its label, with
    the verdict or candidate it got and whether report.json ties it into a transport
    session; a run is one session (one client using one front or bridge), found when
    report.json has a session of that transport with its verdict among whose flows are the
    run's labelled flows; and no verdict on any flow not labelled with the transport."""
    for transport, label_tor in TUNNELS.items():
        print(f"\n== {transport} (../shared/corpus/transports/{transport}-*)")
        t = Tally()
        tied = collections.Counter()
        n_sessions = found = found_cand = 0
        for labels in sorted(glob.glob(os.path.join(CORPUS, 'transports', f'{transport}-*',
                                                    '*.flows.csv'))):
            pcap = labels[:-len('.flows.csv')] + '.pcap'
            if not os.path.exists(pcap):
                continue
            flows, report = analyze([pcap], with_report=True)
            by_key = {key(r): r for r in flows}
            members = {}
            for sess in report.get('transport_sessions', []):
                if sess['transport'] != transport:
                    continue
                for m in sess['flows']:
                    members[(m['proto'], m['src_ip'], str(m['src_port']), m['dst_ip'],
                             str(m['dst_port']))] = sess
            sessions = set()
            for f in csv.DictReader(open(labels)):
                label = f'tor-{transport}' if f['label'] == label_tor else 'non-tor'
                r = either_way(by_key, f)
                t.add(label, r)
                m = members.get(key(r)) if r else None
                tied[label] += m is not None
                if label != 'non-tor' and m is not None:
                    sessions.add((m['host'], m['server'], m['server_port'], m['verdict'],
                                  m['candidate']))
            n_sessions += 1
            if any(v == f'tor-{transport}' for *_, v, _ in sessions):
                found += 1
            elif any(c == f'tor-{transport}' for *_, c in sessions):
                found_cand += 1
            print(f"  {os.path.relpath(pcap, CORPUS)}: "
                  f"{sum(1 for s in report.get('transport_sessions', []) if s['transport'] == transport)} "
                  f"{transport} session(s) in report.json")
        t.print('flows by label (detected: a verdict; tied: a member of a report.json session)')
        for label in sorted(t.verdicts):
            print(f"   {label:15} tied into a session {tied[label]:3} of "
                  f"{sum(t.verdicts[label].values())}")
        res.no_verdicts(t, f"{transport} captures")
        wrong = sum(n for label, c in t.verdicts.items() if label == 'non-tor'
                    for v, n in c.items() if v == f'tor-{transport}')
        res.target(wrong == 0, f"tor-{transport} verdicts on flows not labelled {label_tor}: "
                               f"{wrong} (target 0)")
        res.target(n_sessions and found == n_sessions,
                   f"{transport} sessions found as tor-{transport}: {found} of {n_sessions} "
                   f"({found_cand} as candidates only; the issue's target on held-out "
                   f"sessions is 80 %)")


SECTIONS = [section_tornet, section_accuracy_set, section_obfs4_all, section_without_b3,
            section_peers, section_synthetic, section_midstream, section_rotated,
            section_snowflake, section_tunnels]


def main():
    if not os.path.isdir(CORPUS):
        print(f"SKIP: no corpus at {CORPUS}")
        return 77
    res = Results()
    for section in SECTIONS:
        section(res)
    print("\n== targets (claimed: the exit status; OPEN: not met yet, see README)")
    for ok, text, is_open in res.checks:
        tag = ('OPEN, passes now' if ok else 'OPEN') if is_open else ('PASS' if ok else 'FAIL')
        print(f"{tag:5}  {text}")
    ok = all(ok for ok, _, is_open in res.checks if not is_open)
    n_open = sum(1 for ok, _, is_open in res.checks if is_open and not ok)
    print(f"\naccuracy: {'PASS' if ok else 'FAIL'} (claimed targets); {n_open} open target(s) "
          f"not met")
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
