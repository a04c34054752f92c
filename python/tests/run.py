#!/usr/bin/env python3
"""Run the Python package's tests (python3 -m pytest -q python/tests) for meson's test
'python' (tests/meson.build), with a Python that has pytest: this one, else Debian's
/usr/bin/python3, where python3-pytest installs it (a python3 earlier in PATH, such as a
pyenv one, does not see Debian's packages). Without pytest, or against a library built
with sanitizers (which a plain python3 cannot load), the test is skipped (exit 77) and
says why. tools/install-deps.sh installs python3-pytest."""
import os
import subprocess
import sys

SKIP = 77
here = os.path.dirname(os.path.abspath(__file__))

sanitize = os.environ.get('TORTRACE_SANITIZE', 'none')
if sanitize not in ('', 'none'):
    print('SKIP: libtortrace is built with -Db_sanitize=%s; python3 cannot load it without '
          'the sanitizer runtime preloaded (the plain build runs these tests)' % sanitize)
    sys.exit(SKIP)

for py in dict.fromkeys([sys.executable, '/usr/bin/python3']):
    if not os.access(py, os.X_OK):
        continue
    if subprocess.run([py, '-c', 'import pytest'], capture_output=True).returncode == 0:
        print('%s -m pytest -q %s' % (py, here), flush=True)
        # No .pytest_cache or __pycache__ in the source tree.
        os.environ['PYTHONDONTWRITEBYTECODE'] = '1'
        os.execv(py, [py, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs', here])
print('SKIP: pytest is not installed for %s (Debian: apt install python3-pytest, or run '
      'tools/install-deps.sh)' % ' or '.join(dict.fromkeys([sys.executable, '/usr/bin/python3'])))
sys.exit(SKIP)
