"""Report (an analysis's OUT folder: report.json and flows.msgpack) and Flows (its flow
records, streamed one at a time through the library's reader)."""
import ctypes
import json
import os
import shutil
import threading
import weakref

from . import _lib
from .errors import FlowsError, TortraceError

_L = _lib.lib


class Flows:
    """An iterator over the flow records of a flows.msgpack, each a dict equal to the line
    `tortrace export --jsonl` prints for it (5-tuple, counters, tls, verdict, candidate,
    score, evidence, relay, file, last_file...). Records are read one at a time, never all
    at once. A damaged file yields its records up to the fault, then raises FlowsError
    (the file and the byte offset). Close it, or use it as a context manager, to release
    the file before the end; it closes itself at the end, on an error and when collected.
    Use one iterator from one thread at a time."""

    buffer_size = 16384  # the first JSON buffer; grown when a record needs more

    def __init__(self, path, owner=None):
        self.path = os.fspath(path)
        self._owner = owner  # a Report whose temporary folder must outlive the iterator
        self._lock = threading.Lock()
        self._buf = ctypes.create_string_buffer(self.buffer_size)
        self._rec = ctypes.c_void_p()
        it = ctypes.c_void_p()
        rc = _L.tt_flows_open(os.fsencode(self.path), ctypes.byref(it))
        if not it.value:
            raise MemoryError('tortrace: out of memory opening %s' % self.path)
        self._it = it
        self._finalizer = weakref.finalize(self, _L.tt_flows_close, it)
        if rc < 0:
            msg = self._error() or '%s: %s' % (self.path, os.strerror(-rc))
            self.close()
            raise FlowsError(msg, self.path)
        self.files = [_decode(_L.tt_flows_file(it, i))
                      for i in range(_L.tt_flows_n_files(it))]

    def _error(self):
        e = _L.tt_flows_error(self._it)
        return _decode(e) if e else None

    def close(self):
        self._finalizer()
        self._owner = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            if not self._finalizer.alive:
                raise StopIteration
            rc = _L.tt_flows_next(self._it, ctypes.byref(self._rec))
            if rc == 0:
                self.close()
                raise StopIteration
            if rc < 0:
                msg = self._error() or '%s: %s' % (self.path, os.strerror(-rc))
                self.close()
                raise FlowsError(msg, self.path)
            n = _L.tt_flows_json(self._it, self._rec, self._buf, len(self._buf))
            if n >= len(self._buf):  # cut short: make room and ask again
                self._buf = ctypes.create_string_buffer(n + 1)
                n = _L.tt_flows_json(self._it, self._rec, self._buf, len(self._buf))
            if n == 0:
                raise MemoryError('tortrace: out of memory formatting a flow record')
            return json.loads(self._buf.raw[:n].decode('utf-8', 'surrogateescape'))


def _decode(b):
    return os.fsdecode(b) if b is not None else None


class Report:
    """The outcome of an analysis: its OUT folder's report.json, parsed, and its flow
    records. Attributes:

    .report       the whole report.json (docs/report-schema.md)
    .totals, .files, .hosts, .relays
                  report.json's totals, files[] (one per input, with error, partial,
                  verdicts, confidence...), hosts[] and relays[] (the findings, the first
                  10,000 of each; .report['hosts_total'] counts them all)
    .errors       [(path, error)] for each input with an error (the error names the byte
                  offset)
    .status       0 every input read, 1 some failed (see analyze(strict=False))
    .diagnostics  what the library wrote on standard error during the analysis
    .out_dir      the folder; .flows_path its flows.msgpack

    Iterating over a Report (or report.flows()) streams its flows as dicts; len() is the
    number of flow records. When analyze() made the folder (out=None), the Report owns it:
    it is removed by close(), at the end of a `with` block, or when the Report is garbage
    collected, and kept while any Flows iterator of the Report is alive."""

    def __init__(self, out_dir, *, status=0, diagnostics='', owned=False):
        self.out_dir = os.fspath(out_dir)
        self.status = status
        self.diagnostics = diagnostics
        self._finalizer = (weakref.finalize(self, shutil.rmtree, self.out_dir, True)
                           if owned else None)
        path = os.path.join(self.out_dir, 'report.json')
        try:
            with open(path, encoding='utf-8') as f:
                self.report = json.load(f)
        except (OSError, ValueError) as e:
            self.close()
            raise TortraceError('tortrace: cannot read %s: %s' % (path, e)) from e
        self.flows_path = os.path.join(self.out_dir, 'flows.msgpack')
        self.errors = [(f['path'], f['error']) for f in self.files if f.get('error')]

    @property
    def totals(self):
        return self.report.get('totals', {})

    @property
    def files(self):
        return self.report.get('files', [])

    @property
    def hosts(self):
        return self.report.get('hosts', [])

    @property
    def relays(self):
        return self.report.get('relays', [])

    @property
    def complete(self):
        return bool(self.report.get('complete', True))

    def flows(self):
        """A new Flows iterator over this analysis's flow records."""
        if self._finalizer is not None and not self._finalizer.alive:
            raise ValueError('tortrace: the Report is closed: its folder was removed')
        return Flows(self.flows_path, owner=self)

    def __iter__(self):
        return self.flows()

    def __len__(self):
        return int(self.totals.get('flows', 0))

    def to_dataframe(self):
        """The flow records as a pandas DataFrame, one row per flow, the columns of
        `export --jsonl` in its order (tls, relay and evidence stay dicts and lists).
        Needs pandas (Debian: python3-pandas); ImportError without it."""
        try:
            import pandas
        except ImportError as e:
            raise ImportError('tortrace: Report.to_dataframe() needs pandas '
                              '(Debian: apt install python3-pandas)') from e
        with self.flows() as it:
            rows = list(it)
        if not rows:
            return pandas.DataFrame()
        return pandas.DataFrame.from_records(rows, columns=list(rows[0].keys()))

    def close(self):
        """Remove the folder if the Report owns it (out=None); otherwise nothing."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        t = self.totals
        return '<tortrace.Report %s: %d files, %d flows, %d Tor flows, %d hosts%s>' % (
            self.out_dir, t.get('files', 0), t.get('flows', 0),
            self.report.get('tor_flows_total', 0), self.report.get('hosts_total', 0),
            ', %d errors' % len(self.errors) if self.errors else '')


def load(out_dir):
    """A Report over an existing OUT folder (from `tortrace analyze -o OUT` or analyze(out=
    OUT)); nothing is analysed, and the folder is never removed."""
    return Report(out_dir)
