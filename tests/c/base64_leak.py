#!/usr/bin/env python3
"""Reads text on stdin; prints "clean", or the first 8 bytes of a secret
(argv[1..]) that some run of base64 characters in it decodes to, read from
any of its first four characters, in either alphabet."""
import base64
import re
import sys

text = sys.stdin.read()
pieces = {s[i:i + 8].encode() for s in sys.argv[1:] for i in range(len(s) - 7)}
for run in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
    for skip in range(4):
        chunk = run[skip:]
        chunk = chunk[: len(chunk) - len(chunk) % 4]
        decoded = base64.b64decode(chunk.translate(str.maketrans("-_", "+/")))
        for piece in pieces:
            if piece in decoded:
                print("leaked:", piece.decode())
                sys.exit(0)
print("clean")
