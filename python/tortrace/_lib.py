"""Loading libtortrace.so and declaring the C functions the package calls.

Only the opaque parts of the C API are used: tt_options_* (options by name, so the layout
of struct tt_config, which changes, is never mirrored here) and tt_flows_* (flow records,
handed back to C as opaque pointers and turned into JSON there, the line that
`tortrace export --jsonl` prints)."""
import ctypes
import ctypes.util
import os
import pathlib

# Where the build tree's library is, relative to the repository that holds python/.
_REPO = pathlib.Path(__file__).resolve().parent.parent.parent
_BUILD_DIRS = ('build', 'build-test')
_SONAME = 'libtortrace.so.0'


def _candidates():
    """(description, path or name) in the order they are tried."""
    env = os.environ.get('TORTRACE_LIB')
    if env:
        # Set means meant: a wrong $TORTRACE_LIB is an error, not a reason to look on.
        return [('$TORTRACE_LIB', env)]
    out = [('build tree', str(_REPO / d / 'src' / 'lib' / _SONAME)) for d in _BUILD_DIRS]
    out.append(('ctypes.util.find_library("tortrace")', ctypes.util.find_library('tortrace')))
    return out


def _load():
    tried = []
    for what, path in _candidates():
        if not path:
            tried.append('%s: not found' % what)
            continue
        if os.sep in path and not os.path.exists(path):
            tried.append('%s: %s does not exist' % (what, path))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append('%s: %s' % (what, e))
    raise ImportError('tortrace: cannot load libtortrace.so; looked at:\n  ' +
                      '\n  '.join(tried) +
                      '\nBuild it (meson setup build && ninja -C build), install it '
                      '(ninja -C build install), or set TORTRACE_LIB to its path.')


lib, path = _load()

_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_FINDING_CB = ctypes.c_void_p  # the findings callbacks are not used: NULL is passed

_PROTOTYPES = {
    # struct tt_options *tt_options_new(void)
    'tt_options_new': (_vp, []),
    # void tt_options_free(struct tt_options *)
    'tt_options_free': (None, [_vp]),
    # int tt_options_set(struct tt_options *, const char *key, const char *value)
    'tt_options_set': (ctypes.c_int, [_vp, _cp, _cp]),
    # int tt_options_analyze(struct tt_options *, on_host, on_relay, void *ctx)
    'tt_options_analyze': (ctypes.c_int, [_vp, _FINDING_CB, _FINDING_CB, _vp]),
    # int tt_flows_open(const char *path, struct tt_flows **out)
    'tt_flows_open': (ctypes.c_int, [_cp, ctypes.POINTER(_vp)]),
    # int tt_flows_next(struct tt_flows *, const struct tt_flow_record **)
    'tt_flows_next': (ctypes.c_int, [_vp, ctypes.POINTER(_vp)]),
    # const char *tt_flows_error(const struct tt_flows *)
    'tt_flows_error': (_cp, [_vp]),
    # size_t tt_flows_n_files(const struct tt_flows *)
    'tt_flows_n_files': (ctypes.c_size_t, [_vp]),
    # const char *tt_flows_file(const struct tt_flows *, uint32_t file_id)
    'tt_flows_file': (_cp, [_vp, ctypes.c_uint32]),
    # size_t tt_flows_json(const struct tt_flows *, const struct tt_flow_record *,
    #                      char *buf, size_t len)
    'tt_flows_json': (ctypes.c_size_t, [_vp, _vp, ctypes.c_char_p, ctypes.c_size_t]),
    # void tt_flows_close(struct tt_flows *)
    'tt_flows_close': (None, [_vp]),
}

for _name, (_res, _args) in _PROTOTYPES.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        raise ImportError('tortrace: %s does not export %s (an older libtortrace?)' %
                          (path, _name)) from None
    _f.restype = _res
    _f.argtypes = _args
