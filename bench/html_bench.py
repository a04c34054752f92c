#!/usr/bin/env python3
"""What report.html costs (a measurement, not a test):

1. A run with 100,000 Tor flows (bench/gen_tor_dir_flows.py: 100,000 real tor-dir verdicts
   from 2,000 clients to 600 caches): report.json's and report.html's sizes, the time
   `tortrace report OUT` takes to render the page again, and the time headless Chromium
   takes to load it (--dump-dom, which waits for the load; Chromium's own start included,
   measured apart on an empty page).
2. The bench capture (bench/run.sh makes it; default /work/bench-data/bench.pcap): runs with
   and without --no-html, alternating which goes first, REPEAT times each; the median
   wall times, their difference, and the render time the run itself logs (-v: "debug:
   report.html: X s") against the run's elapsed time.

usage: python3 bench/html_bench.py [BUILD_DIR=build] [BENCH_PCAP] [REPEAT=5]"""
import os, re, resource, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build')
PCAP = sys.argv[2] if len(sys.argv) > 2 else '/work/bench-data/bench.pcap'
REPEAT = int(sys.argv[3]) if len(sys.argv) > 3 else 5
TT = os.path.join(BUILD, 'tortrace')
CONSENSUS = os.path.join(ROOT, 'samples', 'tornet-default-s1', 'consensus')


CPU = []  # CPU seconds (user + system) of each timed command, all its processes


def cpu_children():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(cmd, **kw):
    """Wall seconds and the result; the command's CPU seconds are appended to CPU (on a
    loaded machine wall time mostly measures the load, CPU time much less so)."""
    c = cpu_children()
    t = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    dt = time.monotonic() - t
    CPU.append(cpu_children() - c)
    if r.returncode != 0:
        sys.exit('failed: %s\n%s' % (' '.join(cmd), r.stderr[-2000:]))
    return dt, r


def cpu_of(n):
    """Median CPU seconds of the last n timed commands."""
    return statistics.median(CPU[-n:])


def chromium_load(path, profile):
    chromium = shutil.which('chromium')
    if not chromium:
        return None
    dt, _ = timed([chromium, '--headless', '--no-sandbox', '--disable-gpu',
                   '--user-data-dir=' + profile, '--dump-dom', 'file://' + path],
                  timeout=600)
    return dt


def main():
    tmp = tempfile.mkdtemp(prefix='tt-html-bench-')
    try:
        print('load average at start: %s' % ' '.join(open('/proc/loadavg').read().split()[:3]))
        # 1. 100,000 Tor flows
        cap = os.path.join(tmp, 'tor-dir-100k.pcap')
        subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'gen_tor_dir_flows.py'),
                        cap, '100000'], check=True)
        out = os.path.join(tmp, 'big')
        dt_run, _ = timed([TT, 'analyze', '-q', '--no-progress', '-o', out, '--relays',
                           CONSENSUS, cap])
        js = os.path.getsize(os.path.join(out, 'report.json'))
        ht = os.path.getsize(os.path.join(out, 'report.html'))
        renders = [timed([TT, 'report', out])[0] for _ in range(REPEAT)]
        render_cpu = cpu_of(REPEAT)
        empty = os.path.join(tmp, 'empty.html')
        with open(empty, 'w') as f:
            f.write('<!DOCTYPE html><title>x</title>')
        base = [chromium_load(empty, os.path.join(tmp, 'prof')) for _ in range(3)]
        base_cpu = cpu_of(3) if None not in base else 0
        loads = [chromium_load(os.path.join(out, 'report.html'), os.path.join(tmp, 'prof'))
                 for _ in range(3)]
        load_cpu = cpu_of(3) if None not in loads else 0
        print('100,000 Tor flows (%s, %.1f MB): run %.2f s' % (os.path.basename(cap),
                                                               os.path.getsize(cap) / 1e6,
                                                               dt_run))
        print('  report.json %.1f MB, report.html %.2f MB' % (js / 1e6, ht / 1e6))
        print('  tortrace report (render): median %.3f s of %d (min %.3f, max %.3f); CPU '
              '%.3f s' % (statistics.median(renders), len(renders), min(renders),
                          max(renders), render_cpu))
        if None not in loads:
            print('  chromium --dump-dom: median %.2f s, CPU %.2f s (an empty page: %.2f s, '
                  'CPU %.2f s)' % (statistics.median(loads), load_cpu,
                                   statistics.median(base), base_cpu))
        else:
            print('  chromium not installed: load time not measured')

        # 2. the bench capture, with and without the page, alternating
        if not os.path.exists(PCAP):
            print('%s not found: the run overhead is not measured (bench/run.sh makes it)'
                  % PCAP)
            return
        subprocess.run(['cat', PCAP], stdout=subprocess.DEVNULL, check=True)  # page cache
        runs = {'html': [], 'no-html': []}
        cpus = {'html': [], 'no-html': []}
        logged = []
        for i in range(REPEAT):
            order = ('html', 'no-html') if i % 2 == 0 else ('no-html', 'html')
            for what in order:
                o = os.path.join(tmp, 'bench-' + what)
                extra = ['--no-html'] if what == 'no-html' else ['-v']
                dt, r = timed([TT, 'analyze', '--no-progress', '-o', o] + extra + [PCAP])
                runs[what].append(dt)
                cpus[what].append(CPU[-1])
                m = re.search(r'report\.html: ([0-9.]+) s', r.stderr)
                if m:
                    logged.append(float(m.group(1)))
        b = os.path.join(tmp, 'bench-html')
        a, n = statistics.median(runs['html']), statistics.median(runs['no-html'])
        print('bench capture %s (%.2f GB), %d runs each, alternating:' % (
            PCAP, os.path.getsize(PCAP) / 1e9, REPEAT))
        print('  report.json %.2f MB, report.html %.2f MB' % (
            os.path.getsize(os.path.join(b, 'report.json')) / 1e6,
            os.path.getsize(os.path.join(b, 'report.html')) / 1e6))
        print('  with report.html: median %.2f s  %s' % (a, ' '.join('%.2f' % x
                                                                      for x in runs['html'])))
        print('  --no-html:        median %.2f s  %s' % (n, ' '.join('%.2f' % x
                                                                      for x in runs['no-html'])))
        print('  difference of medians: %+.2f s (%+.1f %%)' % (a - n, (a - n) / n * 100))
        ca, cn = statistics.median(cpus['html']), statistics.median(cpus['no-html'])
        print('  CPU time, medians: %.2f s with, %.2f s without: %+.1f %%' % (
            ca, cn, (ca - cn) / cn * 100))
        if logged:
            print('  render time logged by the runs: median %.3f s = %.1f %% of the '
                  '--no-html median' % (statistics.median(logged),
                                        statistics.median(logged) / n * 100))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
