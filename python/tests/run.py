#!/usr/bin/env python3
"""Run the Python package's tests (python3 -m pytest -q python/tests) for meson's test
'python' (tests/meson.build), with a Python that has pytest: this one, else Debian's
/usr/bin/python3, where python3-pytest installs it (a python3 earlier in PATH, such as a
pyenv one, does not see Debian's packages). Without pytest the test is skipped (exit 77)
and says why; tools/install-deps.sh installs python3-pytest.

Against a library built with AddressSanitizer/UBSan (TORTRACE_SANITIZE, meson's
b_sanitize), python3 can load it only with the sanitizer runtimes the library links
(read from ldd) preloaded: they are, with leak detection off (the interpreter's own
allocations at exit are not leaks of ours); memory errors in the library still end the
run. Other sanitizers (thread) are skipped."""
import os
import re
import subprocess
import sys

SKIP = 77
here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')  # no __pycache__ in the source tree

sanitize = os.environ.get('TORTRACE_SANITIZE', 'none')
if sanitize not in ('', 'none'):
    lib = os.environ.get('TORTRACE_LIB', '')
    kinds = set(sanitize.split(','))
    ldd = subprocess.run(['ldd', lib], capture_output=True, text=True).stdout if lib else ''
    runtimes = re.findall(r'=>\s*(\S*lib(?:asan|ubsan)\.so[.\d]*)', ldd)
    if not kinds <= {'address', 'undefined'} or not runtimes:
        print('SKIP: libtortrace is built with -Db_sanitize=%s and python3 cannot load it '
              '(no AddressSanitizer/UBSan runtime found in ldd %s); the plain build runs '
              'these tests' % (sanitize, lib or '$TORTRACE_LIB'))
        sys.exit(SKIP)
    env['LD_PRELOAD'] = ' '.join(runtimes + [env.get('LD_PRELOAD', '')]).strip()
    env['ASAN_OPTIONS'] = ':'.join(filter(None, [env.get('ASAN_OPTIONS'), 'detect_leaks=0']))
    print('sanitizer build: LD_PRELOAD=%s ASAN_OPTIONS=%s' % (env['LD_PRELOAD'],
                                                           env['ASAN_OPTIONS']))

pythons = list(dict.fromkeys([sys.executable, '/usr/bin/python3']))
for py in pythons:
    if not os.access(py, os.X_OK):
        continue
    if subprocess.run([py, '-c', 'import pytest'], capture_output=True).returncode == 0:
        print('%s -m pytest -q %s' % (py, here), flush=True)
        os.execve(py, [py, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs', here], env)
print('SKIP: pytest is not installed for %s (Debian: apt install python3-pytest, or run '
      'tools/install-deps.sh)' % ' or '.join(pythons))
sys.exit(SKIP)
