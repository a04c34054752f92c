"""The exceptions of the tortrace package."""
import re

# "at byte offset N" (records), "byte N: ..." (the header)
_OFFSET = re.compile(r'\bbyte (?:offset )?(\d+)')


class TortraceError(Exception):
    """Any failure of an analysis or of reading its outputs."""


class TortraceUsageError(TortraceError, ValueError):
    """Bad options, or nothing could be analysed at all (the command's exit status 2):
    an unknown option or bad value, no input, an output folder that cannot be created,
    relay data that cannot be loaded, a filter libpcap rejects. Nothing was written."""


class CaptureError(TortraceError):
    """Some input failed or was read only in part (the command's exit status 1). The
    analysis still ran over everything else and wrote its report:

    .errors  [(path, message)] for each input with an error; the message names the byte
             offset where reading stopped (report.json's files[].error)
    .report  the Report of what was read (it owns its temporary folder, if any)"""

    def __init__(self, message, report=None, errors=()):
        super().__init__(message)
        self.report = report
        self.errors = list(errors)


class FlowsError(TortraceError):
    """flows.msgpack is damaged or cannot be read. The records before the fault were
    yielded; the message is the library's (tt_flows_error()): the file, what is wrong and
    its byte offset, also in .path and .offset (None when it names none)."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path
        m = _OFFSET.search(message)
        self.offset = int(m.group(1)) if m else None
