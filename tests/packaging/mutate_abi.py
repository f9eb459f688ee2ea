#!/usr/bin/env python3
"""Writes a copy of an abidw baseline with one deliberate difference, for
checking that the ABI gate catches it (tests/packaging/run.sh):

  changed-parameter  criteo_token_source_set_refresh_margin's second
                     parameter has another integer type in the baseline
                     (as if the library had changed its signature);
  removed-function   the baseline has one more function than the library
                     (as if the library had dropped it).

Usage: mutate_abi.py changed-parameter|removed-function BASELINE > COPY
"""

import copy
import sys
import xml.etree.ElementTree as ET

CHANGED = "criteo_token_source_set_refresh_margin"
KEPT = "criteo_version"
REMOVED = "criteo_removed_in_the_abi_test"


def change_parameter(root):
    function = next(f for f in root.iter("function-decl") if f.get("name") == CHANGED)
    parameter = function.findall("parameter")[1]
    current = parameter.get("type-id")
    other = next(
        t.get("id")
        for t in root.iter("type-decl")
        if t.get("name") in ("u64", "u16", "u8", "i64") and t.get("id") != current
    )
    parameter.set("type-id", other)


def add_function(root):
    """Copies KEPT's symbol and declaration under the name REMOVED."""
    for parent in root.iter():
        for index, child in enumerate(list(parent)):
            named = child.tag in ("elf-symbol", "function-decl") and child.get("name") == KEPT
            if named:
                twin = copy.deepcopy(child)
                for attribute, value in twin.attrib.items():
                    twin.set(attribute, value.replace(KEPT, REMOVED))
                parent.insert(index + 1, twin)


def main():
    mutation, baseline = sys.argv[1], sys.argv[2]
    tree = ET.parse(baseline)
    {"changed-parameter": change_parameter, "removed-function": add_function}[mutation](tree.getroot())
    sys.stdout.write(ET.tostring(tree.getroot(), encoding="unicode"))


if __name__ == "__main__":
    main()
