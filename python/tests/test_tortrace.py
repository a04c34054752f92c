"""The Python package against the command: tortrace.analyze() must give the report.json and
the flows (`tortrace export --jsonl`) that `tortrace analyze` gives on the same input, and
report failures as the documented exceptions.

Run by meson (tests/meson.build: test 'python', through python/tests/run.py) with
TORTRACE_LIB (the built library), TORTRACE (the built command) and PYTHONPATH=python/;
by hand: PYTHONPATH=python python3 -m pytest -q python/tests"""
import gc
import glob
import json
import os
import shutil
import subprocess
import sys
import weakref

import pytest

import tortrace

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SAMPLE_DIR = os.path.join(REPO, 'samples', 'tornet-default-s1')
SAMPLE = os.path.join(SAMPLE_DIR, 'tornet-client.pcap')
CONSENSUS = os.path.join(SAMPLE_DIR, 'consensus')
CORPUS = os.environ.get('TORTRACE_CORPUS', os.path.join(REPO, '..', 'shared', 'corpus'))


def tortrace_exe():
    exe = os.environ.get('TORTRACE')
    if not exe:  # beside the library in a build tree: build/src/lib/ -> build/tortrace
        exe = os.path.join(os.path.dirname(tortrace.library_path), '..', '..', 'tortrace')
    if not os.access(exe, os.X_OK):
        pytest.skip('no tortrace command to compare with (set TORTRACE): %s' % exe)
    return exe


def cli_analyze(tmp_path, paths, relays, name='cli'):
    out = str(tmp_path / name)
    p = subprocess.run([tortrace_exe(), 'analyze', '-q', '--no-progress', '--no-history',
                        '--no-hash', '-o', out, '--relays', relays] + paths,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    with open(os.path.join(out, 'report.json')) as f:
        report = json.load(f)
    jl = subprocess.run([tortrace_exe(), 'export', '--jsonl', os.path.join(out, 'flows.msgpack')],
                        capture_output=True, text=True, check=True, timeout=900).stdout
    return report, [json.loads(l) for l in jl.splitlines()]


def without_run(report):
    """report.json less what differs between runs (run: timing; the command line)."""
    r = dict(report)
    r.pop('run', None)
    r['options'] = {k: v for k, v in r['options'].items() if k != 'command'}
    return r


def assert_same_as_cli(tmp_path, paths, relays):
    want, want_flows = cli_analyze(tmp_path, paths, relays)
    with tortrace.analyze(paths, relays=relays, jobs=2, sha256=False) as rep:
        assert rep.status == 0 and rep.errors == []
        assert rep.hosts == want['hosts']
        assert rep.relays == want['relays']
        assert rep.files == want['files']
        assert rep.totals == want['totals']
        assert without_run(rep.report) == without_run(want)
        flows = list(rep.flows())
        assert flows == want_flows
        assert len(rep) == len(flows) == want['totals']['flows']
        assert list(rep) == flows  # iter(report) is report.flows()
    return rep, flows


def test_sample_equals_cli(tmp_path):
    rep, flows = assert_same_as_cli(tmp_path, [SAMPLE], CONSENSUS)
    # The sample has Tor in it: the comparison is not one of empty lists.
    assert rep.report['tor_flows_total'] > 0 and len(rep.hosts) > 0 and len(rep.relays) > 0
    assert sum(f['verdict'] != 'none' for f in flows) == rep.report['tor_flows_total']
    assert [f['path'] for f in rep.files] == [SAMPLE]


def test_corpus_capture_equals_cli(tmp_path):
    caps = sorted(glob.glob(os.path.join(CORPUS, 'tornet', '*', 'client.pcap')),
                  key=os.path.getsize)
    if not caps:
        pytest.skip('corpus not found: no %s' % os.path.join(CORPUS, 'tornet', '*', 'client.pcap'))
    cap = caps[0]  # the smallest: the machine is shared
    rep, flows = assert_same_as_cli(tmp_path, [cap], os.path.join(os.path.dirname(cap),
                                                                  'consensus'))
    assert rep.report['tor_flows_total'] > 0


def test_small_json_buffer_grows(monkeypatch):
    """Records longer than the buffer are formatted again into a bigger one, whole."""
    with tortrace.analyze(SAMPLE, relays=CONSENSUS) as rep:
        want = list(rep)
        monkeypatch.setattr(tortrace.Flows, 'buffer_size', 64)
        it = rep.flows()
        assert len(it._buf) == 64
        assert list(it) == want and max(len(json.dumps(f)) for f in want) > 64


def test_path_forms(tmp_path):
    """A PathLike, a folder (walked) and a list give the same flows."""
    d = tmp_path / 'caps'
    d.mkdir()
    shutil.copy(SAMPLE, d / 'a.pcap')
    with tortrace.analyze(d / 'a.pcap') as a, tortrace.analyze(d) as b, \
            tortrace.analyze([str(d / 'a.pcap')]) as c:
        assert len(a) == len(b) == len(c) > 0
        strip = lambda fl: [{k: v for k, v in f.items() if k not in ('file', 'last_file')}
                            for f in fl]
        assert strip(a.flows()) == strip(b.flows()) == strip(c.flows())


def test_resume_equals_one_run(tmp_path):
    """resume=True (pieces of 1 MiB: one per file) gives one run's report and flows, and
    called again after the journal was left by a stop keeps its pieces."""
    d = tmp_path / 'caps'
    d.mkdir()
    for name in ('a.pcap', 'b.pcap', 'c.pcap'):
        shutil.copy(SAMPLE, d / name)
    with tortrace.analyze(d, relays=CONSENSUS, sha256=False) as one:
        want, want_flows = without_run(one.report), list(one.flows())
    out = tmp_path / 'res'
    with tortrace.analyze(d, relays=CONSENSUS, sha256=False, out=out, resume=True,
                          checkpoint=1) as rep:
        assert without_run(rep.report) == want and list(rep.flows()) == want_flows
    assert not (out / 'journal').exists()
    with pytest.raises(tortrace.TortraceUsageError):
        tortrace.analyze(d, out=tmp_path / 'x', resume=True, checkpoint=0)


def truncated_copy(tmp_path):
    data = open(SAMPLE, 'rb').read()
    path = str(tmp_path / 'cut.pcap')
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    return path


def test_truncated_capture_raises(tmp_path):
    cut = truncated_copy(tmp_path)
    with pytest.raises(tortrace.CaptureError) as ei:
        tortrace.analyze([SAMPLE, cut], relays=CONSENSUS)
    e = ei.value
    assert cut in str(e) and 'byte offset' in str(e)
    assert SAMPLE not in str(e)  # only the failed file is named
    assert len(e.errors) == 1 and e.errors[0][0] == cut and 'byte offset' in e.errors[0][1]
    # The partial result came along: both files, the cut one partial, its flows readable.
    rep = e.report
    assert rep.status == 1 and [f['path'] for f in rep.files] == [SAMPLE, cut]
    assert rep.files[1]['partial'] and rep.files[1]['error'] == e.errors[0][1]
    assert len(list(rep.flows())) == rep.totals['flows'] > 0
    rep.close()
    assert not os.path.exists(rep.out_dir)


def test_strict_false_returns_partial_report(tmp_path):
    cut = truncated_copy(tmp_path)
    out = str(tmp_path / 'out')
    rep = tortrace.analyze(cut, out=out, strict=False)
    assert rep.status == 1
    assert rep.errors == [(cut, rep.files[0]['error'])]
    assert 'byte offset' in rep.errors[0][1] and rep.files[0]['partial']
    assert rep.totals['files_failed'] == 1 and len(list(rep)) == rep.totals['flows'] > 0
    assert 'byte offset' in rep.diagnostics  # what the library said on stderr
    rep.close()  # out was given: the folder is the caller's and stays
    assert os.path.exists(os.path.join(out, 'report.json'))
    again = tortrace.load(out)
    assert again.report == rep.report and again.errors == rep.errors


def test_damaged_flows_raise_with_offset(tmp_path):
    out = str(tmp_path / 'out')
    rep = tortrace.analyze(SAMPLE, relays=CONSENSUS, out=out)
    whole = list(rep.flows())
    path = rep.flows_path
    size = os.path.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size * 2 // 3)
    got = []
    with pytest.raises(tortrace.FlowsError) as ei:
        for flow in rep.flows():
            got.append(flow)
    e = ei.value
    assert path in str(e) and 'byte offset' in str(e)
    assert e.path == path and e.offset is not None and 0 < e.offset <= size * 2 // 3
    assert 0 < len(got) < len(whole) and got == whole[:len(got)]  # records up to the fault
    # The same records and the same message as `tortrace export --jsonl`.
    p = subprocess.run([tortrace_exe(), 'export', '--jsonl', path], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 1
    assert [json.loads(l) for l in p.stdout.splitlines()] == got
    assert str(e) in p.stderr
    # Not a flows file at all: the error comes at once.
    junk = tmp_path / 'junk.msgpack'
    junk.write_bytes(b'\x00' * 100)
    with pytest.raises(tortrace.FlowsError) as ei:
        list(tortrace.read_flows(junk))
    assert str(junk) in str(ei.value) and 'byte 0' in str(ei.value)  # the header's fault
    assert ei.value.offset == 0
    with pytest.raises(tortrace.FlowsError):
        tortrace.read_flows(tmp_path / 'missing.msgpack')


@pytest.mark.parametrize('kw, words', [
    (dict(jobs=0), 'jobs'),
    (dict(jobs=1000), 'jobs'),
    (dict(min_score=2), 'min_score'),
    (dict(tcp_timeout=-1), 'tcp_timeout'),
    (dict(filter='tcp port'), "bad filter 'tcp port'"),
    (dict(relays='/nonexistent/consensus'), 'cannot load relay data /nonexistent/consensus'),
])
def test_bad_options_raise_usage_error(tmp_path, kw, words):
    out = tmp_path / 'out'
    with pytest.raises(tortrace.TortraceUsageError) as ei:
        tortrace.analyze(SAMPLE, out=out, **kw)
    assert words in str(ei.value)
    assert not (out / 'report.json').exists()  # nothing was done


def test_no_paths_is_a_usage_error():
    with pytest.raises(tortrace.TortraceUsageError):
        tortrace.analyze([])
    with pytest.raises(TypeError):
        tortrace.analyze(42)


def test_temporary_out_dir_lifetime():
    rep = tortrace.analyze(SAMPLE)
    d = rep.out_dir
    assert os.path.isfile(os.path.join(d, 'report.json'))
    rep.close()
    assert not os.path.exists(d)
    with pytest.raises(ValueError):
        rep.flows()

    with tortrace.analyze(SAMPLE) as rep:
        d = rep.out_dir
        assert os.path.isdir(d)
    assert not os.path.exists(d)

    # Garbage collection removes it, but not while an iterator of the Report is alive.
    rep = tortrace.analyze(SAMPLE)
    d, ref = rep.out_dir, weakref.ref(rep)
    it = rep.flows()
    del rep
    gc.collect()
    assert ref() is not None and os.path.isdir(d)
    assert next(it)['file'] == SAMPLE
    del it
    gc.collect()
    assert ref() is None and not os.path.exists(d)

    # A failed analysis leaves no temporary folder behind.
    before = set(glob.glob(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'tortrace-*')))
    with pytest.raises(tortrace.TortraceUsageError):
        tortrace.analyze(SAMPLE, filter='tcp port')
    assert set(glob.glob(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'tortrace-*'))) <= before


def test_to_dataframe():
    try:
        import pandas  # noqa: F401
    except ImportError:
        pytest.skip('pandas is not installed (Debian: python3-pandas): to_dataframe untested')
    with tortrace.analyze(SAMPLE, relays=CONSENSUS) as rep:
        df = rep.to_dataframe()
        flows = list(rep)
        assert len(df) == len(flows) == rep.totals['flows']
        assert list(df.columns) == list(flows[0].keys())
        assert df['verdict'].value_counts().to_dict() == {
            k: v for k, v in rep.totals['verdicts'].items() if v}
        assert df['bytes'].sum() == sum(f['bytes'] for f in flows)


def test_to_dataframe_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pandas', None)  # import pandas -> ImportError
    with tortrace.analyze(SAMPLE) as rep:
        with pytest.raises(ImportError, match='python3-pandas'):
            rep.to_dataframe()


def test_library_not_found_names_where_it_looked(tmp_path):
    env = dict(os.environ, TORTRACE_LIB=str(tmp_path / 'libtortrace.so.0'))
    p = subprocess.run([sys.executable, '-c', 'import tortrace'], env=env,
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert 'ImportError' in p.stderr and str(tmp_path / 'libtortrace.so.0') in p.stderr
    assert 'TORTRACE_LIB' in p.stderr


def test_offline_install(tmp_path):
    """pip install --no-build-isolation --no-index ./python works without a network (from a
    copy, so the source tree gets no build/ or egg-info), and the installed package runs."""
    for mod in ('pip', 'setuptools', 'wheel'):
        p = subprocess.run([sys.executable, '-c', 'import ' + mod], capture_output=True)
        if p.returncode:
            pytest.skip('%s is not installed for %s (Debian: python3-%s)' %
                        (mod, sys.executable, mod))
    src = tmp_path / 'src'
    shutil.copytree(os.path.join(REPO, 'python'), src,
                    ignore=shutil.ignore_patterns('tests', '__pycache__', 'build', '*.egg-info'))
    target = tmp_path / 'site'
    p = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-build-isolation',
                        '--no-index', '--no-deps', '--target', str(target), str(src)],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1'))
    assert p.returncode == 0, p.stderr
    env = dict(os.environ, PYTHONPATH=str(target), TORTRACE_LIB=tortrace.library_path)
    code = ('import tortrace, sys; assert tortrace.__file__.startswith(sys.argv[1]); '
            'r = tortrace.analyze(sys.argv[2]); print(len(r), len(list(r)))')
    p = subprocess.run([sys.executable, '-c', code, str(target), SAMPLE], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    n, m = p.stdout.split()
    assert n == m and int(n) > 0


def test_outputs_not_written_raise_not_a_stale_report(tmp_path):
    """When the outputs cannot be written (a full disk, here RLIMIT_FSIZE), the analysis
    raises TortraceError with the library's message, and a report.json left by an earlier
    run in the same folder is not passed off as this run's."""
    out = str(tmp_path / 'out')
    tortrace.analyze(SAMPLE, out=out).close()
    code = '''if 1:
        import resource, signal, sys, tortrace
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            tortrace.analyze(sys.argv[1], out=sys.argv[2])
        except tortrace.CaptureError as e:
            print('CaptureError', e)
        except tortrace.TortraceError as e:
            print('TortraceError', e)
        else:
            print('no error')'''
    for where in (out, str(tmp_path / 'fresh')):
        p = subprocess.run([sys.executable, '-c', code, SAMPLE, where], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith('TortraceError tortrace: the analysis wrote no report')
        assert 'cannot write %s/flows.msgpack: File too large' % where in p.stdout
    assert os.path.getsize(os.path.join(out, 'report.json')) > 0  # the earlier one, kept
