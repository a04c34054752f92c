"""tortrace: find Tor use in packet captures, from Python.

    import tortrace
    with tortrace.analyze('capture.pcap', relays='consensus/') as rep:
        print(rep.totals['flows'], [h['address'] for h in rep.hosts])
        for flow in rep:                      # streamed, one dict per flow record
            if flow['verdict'] != 'none':
                print(flow['src_ip'], flow['dst_ip'], flow['verdict'], flow['score'])

A binding (ctypes) over libtortrace.so, the engine of the `tortrace` command: analyze()
runs `tortrace analyze` in this process and returns a Report of its report.json and
flows.msgpack. The library is found through $TORTRACE_LIB, else the repository's build
folder (build/ or build-test/ beside python/), else an installed libtortrace.so.0."""
import contextlib
import os
import shutil
import sys
import tempfile
import threading

from . import _lib
from .errors import CaptureError, FlowsError, TortraceError, TortraceUsageError
from .report import Flows, Report, load

__all__ = ['analyze', 'load', 'read_flows', 'Report', 'Flows', 'TortraceError',
           'TortraceUsageError', 'CaptureError', 'FlowsError', 'library_path']
__version__ = '0.1.0'
library_path = _lib.path

_L = _lib.lib
_CAPTURE = threading.Lock()


def read_flows(path):
    """A Flows iterator over any flows.msgpack (dicts, as `tortrace export --jsonl`)."""
    return Flows(path)


@contextlib.contextmanager
def _captured_stderr(box):
    """Standard error (file descriptor 2) into a temporary file while the library runs,
    so that its diagnostics can be put into exceptions; they are then written to
    sys.stderr as well. Captures of concurrent analyses would mix, so one analysis at a
    time runs in a process."""
    with _CAPTURE:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no descriptor 2: nothing to capture
            yield
            return
        tmp = tempfile.TemporaryFile()
        try:
            os.dup2(tmp.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box.append(tmp.read().decode('utf-8', 'replace'))
            tmp.close()


def _paths(paths):
    if isinstance(paths, (str, bytes, os.PathLike)):
        return [paths]
    try:
        return list(paths)
    except TypeError:
        raise TypeError('tortrace.analyze: paths must be a path or a list of paths, not %s'
                        % type(paths).__name__) from None


def _errors_in(text):
    return [l.split('error: ', 1)[1] for l in text.splitlines() if ': error: ' in l]


def _stat(path):
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        return None


def analyze(paths, relays=None, jobs=None, out=None, *, min_score=None, history=None,
            relays_cache=None, filter=None, tcp_timeout=None, udp_timeout=None,
            detect=True, chain=True, sha256=None, command=None, strict=True, resume=False,
            checkpoint=None):
    """Analyse captures as `tortrace analyze` does and return a Report.

    paths         a file, folder (walked recursively), glob or '-' (standard input), or a
                  list of them
    relays        relay data (consensus, exit list, folder of them): --relays
    jobs          worker threads (1-256; None: online CPUs - 1): -j
    out           the output folder (created if missing): -o. None: a new temporary
                  folder owned by the Report, removed by Report.close(), at the end of a
                  `with` block or when the Report is garbage collected
    min_score     the score a verdict needs, in (0, 1] (--min-score; None: 0.5)
    history       an SQLite history database to record the analysis in (--history;
                  None: not recorded, unlike the command)
    relays_cache, filter (a BPF expression), tcp_timeout, udp_timeout (seconds),
    detect=False (--no-detect), chain=False (--no-chain), sha256 (True/False; None: auto),
    command       the command line recorded in the report (None: none)
    resume        True: keep a journal in out/journal/ and, called again with the same
                  arguments after a crash or kill, keep its pieces for unchanged inputs
                  (--resume; needs out); checkpoint: MiB of input per piece (--checkpoint)
    strict        True: raise CaptureError when some input failed (exit status 1);
                  False: return the Report anyway (its .status is 1, .errors says which)

    Raises TortraceUsageError for bad options or when nothing could be analysed (exit
    status 2; nothing is written), CaptureError (strict) when an input failed: it names
    each file and its error with the byte offset, and carries .errors and the partial
    .report. The library's diagnostics are also written to sys.stderr. The call blocks
    (the GIL is released while the analysis runs); one analysis at a time runs in a
    process, since standard error is captured around it."""
    plist = [os.fsencode(p) for p in _paths(paths)]
    if not plist:
        raise TortraceUsageError('tortrace: no input paths')
    opts = [(b'path', p, 'paths') for p in plist]

    def opt(key, value, cli):
        if value is None:
            return
        if isinstance(value, bool):
            v = b'1' if value else b'0'
        elif isinstance(value, (int, float)):
            v = repr(value).encode()
        else:
            v = os.fsencode(value)
        opts.append((key.encode(), v, cli))

    opt('relays', relays, 'relays')
    opt('relays-cache', relays_cache, 'relays_cache')
    opt('jobs', jobs, 'jobs')
    opt('min-score', min_score, 'min_score')
    opt('history', history, 'history')
    opt('filter', filter, 'filter')
    opt('tcp-timeout', tcp_timeout, 'tcp_timeout')
    opt('udp-timeout', udp_timeout, 'udp_timeout')
    opt('no-detect', not detect, 'detect')
    opt('no-chain', not chain, 'chain')
    opt('sha256', sha256, 'sha256')
    opt('command', command, 'command')
    opt('resume', resume or None, 'resume')
    opt('checkpoint', checkpoint, 'checkpoint')

    o = _L.tt_options_new()
    if not o:
        raise MemoryError('tortrace: out of memory')
    owned = out is None
    out_dir = tempfile.mkdtemp(prefix='tortrace-') if owned else os.fspath(out)
    opts.append((b'out', os.fsencode(out_dir), 'out'))
    box = []
    try:
        for key, value, cli in opts:
            rc = _L.tt_options_set(o, key, value)
            if rc == -12:  # ENOMEM
                raise MemoryError('tortrace: out of memory')
            if rc != 0:
                raise TortraceUsageError('tortrace.analyze: bad value for %s: %r' %
                                         (cli, os.fsdecode(value)))
        report_json = os.path.join(out_dir, 'report.json')
        before = _stat(report_json)
        with _captured_stderr(box):
            status = _L.tt_options_analyze(o, None, None, None)
    except BaseException:
        if owned:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        _L.tt_options_free(o)

    diag = box[0] if box else ''
    if diag:
        sys.stderr.write(diag)
    if status == 2 or _stat(report_json) in (None, before):
        if owned:
            shutil.rmtree(out_dir, ignore_errors=True)
        errs = _errors_in(diag)
        if status == 2:
            raise TortraceUsageError('tortrace: nothing was analysed: ' +
                                     ('; '.join(errs) or 'usage error (exit status 2)'))
        raise TortraceError('tortrace: the analysis wrote no report in %s (exit status %d)%s'
                            % (out_dir, status, ': ' + '; '.join(errs) if errs else ''))
    rep = Report(out_dir, status=status, diagnostics=diag, owned=owned)
    if status != 0 and strict:
        if rep.errors:
            msg = 'tortrace: %d of %d inputs failed: %s' % (
                len(rep.errors), len(rep.files),
                '; '.join('%s: %s' % e for e in rep.errors))
        else:
            msg = 'tortrace: the analysis is incomplete (exit status %d)%s' % (
                status, ': ' + '; '.join(_errors_in(diag)) if _errors_in(diag) else '')
        raise CaptureError(msg, rep, rep.errors)
    return rep
