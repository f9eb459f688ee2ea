#!/usr/bin/env python3
"""Prints each function the header declares that README's API table does not
name, spelled out (`criteo_token_free`) or as a suffix (`_free`) of a name
spelled out in the same row. Usage: api_table.py README.md FUNCTION..."""
import re
import sys

rows = [line for line in open(sys.argv[1]) if line.startswith("| `criteo_")]


def listed(function):
    for row in rows:
        names = re.findall(r"`(criteo_[a-z0-9_]+)", row)
        suffixes = re.findall(r"`(_[a-z0-9_]+)`", row)
        if function in names:
            return True
        for name in names:
            stems = [name[:cut] for cut, char in enumerate(name) if char == "_"]
            if any(stem + suffix == function for stem in stems for suffix in suffixes):
                return True
    return False


for function in sys.argv[2:]:
    if not listed(function):
        print(function)
