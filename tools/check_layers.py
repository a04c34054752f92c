#!/usr/bin/env python3
"""Check the layering of src/: each folder includes only its own headers, the public
headers under include/, and the internal headers of the folders below it.

usage: check_layers.py SRC_DIR [STAMP]   (exit 1 and one line per violation)

The build runs this on every change of a source file (src/meson.build), and each folder
is also compiled with only the include directories it may use, so a wrong include fails
twice: here with a message that names the rule, and in the compiler.
"""
import os
import re
import sys

# folder -> the folders whose internal headers it may include (besides its own).
ALLOWED = {
    "core": set(),
    "relays": {"core"},
    "reader": {"core"},
    "workers": {"core", "relays"},
    "aggregate": {"core", "relays"},
    "lib": {"core", "relays", "reader", "workers", "aggregate"},
    "serve": {"core", "relays", "aggregate", "lib"},
    "cli": {"core", "relays", "reader", "workers", "aggregate", "lib", "serve"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main():
    src = sys.argv[1]
    owner = {}  # header file name -> folder
    for folder in sorted(os.listdir(src)):
        path = os.path.join(src, folder)
        if not os.path.isdir(path):
            continue
        for name in os.listdir(path):
            if name.endswith(".h"):
                if name in owner:
                    print(f"src/{folder}/{name}: header name also in src/{owner[name]}: "
                          "internal header names must be unique")
                owner.setdefault(name, folder)
    bad = []
    for folder in sorted(os.listdir(src)):
        path = os.path.join(src, folder)
        if not os.path.isdir(path):
            continue
        if folder not in ALLOWED:
            bad.append(f"src/{folder}: a folder tools/check_layers.py does not know: "
                       "add it to ALLOWED (and to src/meson.build)")
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            text = open(os.path.join(path, name), encoding="utf-8").read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                where = f"src/{folder}/{name}:{line}"
                if "/" in inc:
                    if inc.startswith("tortrace/") and ".." not in inc:
                        continue  # the public API
                    bad.append(f'{where}: #include "{inc}": include another folder\'s '
                               'header by its name, never by a path')
                    continue
                home = owner.get(inc)
                if home is None:
                    if os.path.exists(os.path.join(path, inc)):
                        continue
                    bad.append(f'{where}: #include "{inc}": no such internal header')
                elif home != folder and home not in ALLOWED[folder]:
                    bad.append(f'{where}: #include "{inc}": src/{folder} may not use '
                               f'src/{home} (allowed: '
                               f'{", ".join(sorted(ALLOWED[folder])) or "nothing"})')
    for b in bad:
        print(b)
    if bad:
        return 1
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
