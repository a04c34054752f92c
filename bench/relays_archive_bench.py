#!/usr/bin/env python3
"""Relay data from a CollecTor-like tarball against the same documents unpacked.

Synthesises hourly microdesc consensuses from a real one (the corpus's
consensus-2024-05-17T17-microdesc): each hour gets its own valid-after / fresh-until /
valid-until, and about 2 % of the relays move to another address each day (a few also
per hour), so the index has intervals to split; a third of the bandwidth weights and 1 in
20 microdescriptor digests change each hour, so that xz does not see near-copies. The
documents are written as an unpacked folder (CollecTor's layout,
microdescs-YYYY-MM/consensus-microdesc/DD/...) and as a tarball compressed with `xz -6`
(CollecTor's script uses -9e, which decompresses at about the same speed), members in
time order, then `tortrace relays info` builds the index from each (no cache), best of N
runs, interleaved. `xz -dc` and `cat` of the same bytes are timed in the same run as
baselines.

usage: relays_archive_bench.py TORTRACE [--hours 168] [--repeat 3] [--dir DIR] [--keep]
  --dir DIR  where to write the data (default: a temporary folder, deleted after)
Prints a Markdown table and the extrapolation to a year (8,760 documents).
Exit status 77 (skip) when the corpus document is missing."""
import argparse
import datetime as dt
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, '..', '..', 'shared', 'corpus')
TEMPLATE = os.path.join(CORPUS, 'relays', 'consensus-2024-05-17T17-microdesc')
START = dt.datetime(2024, 5, 1, 0, 0, 0)
YEAR_DOCS = 8760
B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'


def fmt(t):
    return t.strftime('%Y-%m-%d %H:%M:%S')


def synthesise(folder, hours):
    """Write the documents; returns (paths relative to folder, total bytes)."""
    with open(TEMPLATE, encoding='ascii') as f:
        lines = f.read().split('\n')
    r_idx = [i for i, l in enumerate(lines) if l.startswith('r ')]
    rels, total = [], 0
    for h in range(hours):
        va = START + dt.timedelta(hours=h)
        day_rng = random.Random(h // 24)      # the daily address changes
        hour_rng = random.Random(100000 + h)  # and a few hourly ones
        moved = set(day_rng.sample(range(len(r_idx)), len(r_idx) // 50))
        moved |= set(hour_rng.sample(range(len(r_idx)), 5))
        out = []
        for i, l in enumerate(lines):
            if l.startswith('valid-after '):
                l = 'valid-after ' + fmt(va)
            elif l.startswith('fresh-until '):
                l = 'fresh-until ' + fmt(va + dt.timedelta(hours=1))
            elif l.startswith('valid-until '):
                l = 'valid-until ' + fmt(va + dt.timedelta(hours=3))
            out.append(l)
        # What changes from hour to hour in real consensuses, so that xz does not see
        # near-copies: bandwidth weights (a third of them) and the microdescriptor
        # digests of relays that published a new descriptor (about 1 in 20).
        for i, l in enumerate(out):
            if l.startswith('w Bandwidth=') and hour_rng.random() < 0.3:
                out[i] = f'w Bandwidth={hour_rng.randrange(1, 200000)}'
            elif l.startswith('m ') and hour_rng.random() < 0.05:
                out[i] = 'm ' + ''.join(hour_rng.choice(B64) for _ in range(43))
        for k in moved:
            f = out[r_idx[k]].split(' ')
            if len(f) >= 8 and f[-3].count('.') == 3:
                o = f[-3].split('.')
                o[3] = str((int(o[3]) + 1 + h // 24) % 254 + 1)
                f[-3] = '.'.join(o)
                out[r_idx[k]] = ' '.join(f)
        rel = os.path.join(f'microdescs-{va:%Y-%m}', 'consensus-microdesc', f'{va:%d}',
                           f'{va:%Y-%m-%d-%H-%M-%S}-consensus-microdesc')
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = '\n'.join(out).encode('ascii')
        with open(path, 'wb') as f:
            f.write(data)
        rels.append(rel)
        total += len(data)
    return rels, total


def best(cmds, repeat):
    """Best wall time and best CPU time (user + system) of each command, the commands
    interleaved repeat times. On a loaded VM the CPU time is the steadier of the two."""
    wall = {name: [] for name, _ in cmds}
    cpu = {name: [] for name, _ in cmds}
    for _ in range(repeat):
        for name, argv in cmds:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            wall[name].append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return {k: min(v) for k, v in wall.items()}, {k: min(v) for k, v in cpu.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('tortrace')
    ap.add_argument('--hours', type=int, default=168)
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--dir')
    ap.add_argument('--keep', action='store_true')
    a = ap.parse_args()
    if not os.path.exists(TEMPLATE):
        print(f'{TEMPLATE} not found (needs ../shared/corpus): skipped', file=sys.stderr)
        return 77
    work = a.dir or tempfile.mkdtemp(prefix='tt-relays-archive-')
    try:
        folder = os.path.join(work, 'unpacked')
        tarball = os.path.join(work, f'microdescs-{START:%Y-%m}.tar.xz')
        if not os.path.exists(tarball):
            shutil.rmtree(folder, ignore_errors=True)
            rels, raw = synthesise(folder, a.hours)
            t = time.perf_counter()
            # members in time order (the names sort by time), as a CollecTor tarball
            tar = subprocess.run(['tar', '-C', folder, '--sort=name', '-cf', '-',
                                  f'microdescs-{START:%Y-%m}'], check=True,
                                 capture_output=True).stdout
            with open(tarball, 'wb') as f:
                subprocess.run(['xz', '-6', '-T1'], input=tar, stdout=f, check=True)
            print(f'# xz -6 of {len(tar) / 1e6:.0f} MB took {time.perf_counter() - t:.0f} s',
                  file=sys.stderr)
        raw = sum(os.path.getsize(os.path.join(d, n))
                  for d, _, ns in os.walk(folder) for n in ns)
        n_docs = sum(len(ns) for _, _, ns in os.walk(folder))
        xz_bytes = os.path.getsize(tarball)
        info = [a.tortrace, 'relays', 'info', '--relays']
        t, c = best([('folder', info + [folder]), ('tarball', info + [tarball]),
                     ('xz -dc', ['xz', '-dc', tarball]),
                     ('cat', ['sh', '-c', f'find "{folder}" -type f -exec cat {{}} +'])],
                    a.repeat)
        print(f'{n_docs} documents, {raw / 1e6:.0f} MB unpacked, {xz_bytes / 1e6:.1f} MB '
              f'as .tar.xz (xz -6), best of {a.repeat}; load average '
              f'{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n')
        print('| source | best wall s | best CPU s | MB/s (documents, wall) '
              '| year (8,760 docs), wall s |')
        print('|---|---|---|---|---|')
        for k in ('folder', 'tarball', 'xz -dc', 'cat'):
            print(f'| {k} | {t[k]:.2f} | {c[k]:.2f} | {raw / 1e6 / t[k]:.0f} | '
                  f'{t[k] * YEAR_DOCS / n_docs:.0f} |')
        for what, d in (('wall', t), ('CPU', c)):
            ratio = d['tarball'] / d['folder']
            print(f'\ntarball / folder, {what} time = {ratio:.2f} (target <= 2: '
                  f'{"PASS" if ratio <= 2 else "FAIL"})', end='')
        print(f'\nxz -dc alone / folder (wall) = {t["xz -dc"] / t["folder"]:.2f}; the .tar.xz '
              f'is read at {xz_bytes / 1e6 / t["tarball"]:.1f} MB/s compressed')
    finally:
        if not a.dir and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
