#!/usr/bin/env python3
"""tools/check_layers.py: the real tree passes, and each kind of violation in a copy of
it is caught with a message naming the file and the rule.
usage: test_check_layers.py SRC_DIR CHECKER"""
import os
import shutil
import subprocess
import sys
import tempfile

src, checker = sys.argv[1], sys.argv[2]


def run(tree):
    p = subprocess.run([sys.executable, checker, tree], capture_output=True, text=True)
    return p.returncode, p.stdout


rc, out = run(src)
assert rc == 0, f"the tree itself violates the layering:\n{out}"

cases = [
    ("aggregate/json.c", '#include "../workers/workers.h"\n', "never by a path"),
    ("aggregate/json.c", '#include "workers.h"\n', "src/aggregate may not use src/workers"),
    ("core/core.c", '#include "reader.h"\n', "src/core may not use src/reader"),
    ("reader/decode.c", '#include "nosuch.h"\n', "no such internal header"),
]
failed = 0
for path, line, want in cases:
    with tempfile.TemporaryDirectory() as d:
        tree = os.path.join(d, "src")
        shutil.copytree(src, tree)
        with open(os.path.join(tree, path), "a") as f:
            f.write(line)
        rc, out = run(tree)
        ok = rc == 1 and want in out and path in out
        print(f"{'ok' if ok else 'not ok'} - {path} + {line.strip()!r}: {out.strip()}")
        failed += not ok
sys.exit(1 if failed else 0)
