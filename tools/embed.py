#!/usr/bin/env python3
"""Embed a text file in C as a NUL-terminated string: embed.py IN OUT SYMBOL."""
import sys

src, out, sym = sys.argv[1:4]
data = open(src, 'rb').read()
with open(out, 'w') as f:
    f.write(f"/* Generated from {src.split('/')[-1]} by tools/embed.py. */\n")
    f.write(f"extern const char {sym}[];\nconst char {sym}[] =\n")
    for i in range(0, len(data), 64):
        chunk = ''.join('\\x%02x' % b for b in data[i:i + 64])
        f.write(f'    "{chunk}"\n')
    f.write(";\n")
