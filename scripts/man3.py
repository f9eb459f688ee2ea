#!/usr/bin/env python3
"""Writes the criteo_oauth(3) man page from include/criteo_oauth.h.

Every type, status code and function of the header, with its doc comment,
so the page cannot drift from the header: `make man` rewrites
man/criteo_oauth.3, and tests/packaging/run.sh fails when the checked-in
page differs from what this script writes.

Usage: scripts/man3.py include/criteo_oauth.h VERSION > man/criteo_oauth.3
"""

import re
import sys

INTRO = """\
libcriteo_oauth obtains OAuth2 access tokens from Criteo's API
(POST /oauth2/token on https://api.criteo.com), for programs in C, C++ and
any language that can call C.
.PP
A \\fBcriteo_client\\fP holds the settings and a connection pool and is
shared by threads; \\fBcriteo_get_token\\fP makes one token request with
it. A \\fBcriteo_token_source\\fP caches one token for many threads and
refreshes it before it expires. Fallible calls return a
\\fBcriteo_status\\fP and write their results through out-parameters only
on success; the detail of a failure comes back as a \\fBcriteo_error\\fP
through the last argument, when it is not NULL. Strings returned by
accessors are borrowed from their object and valid until it is freed.
Every *_free function accepts NULL. Messages never hold a secret.
"""

DOC_BLOCK = re.compile(r"/\*\*\n(.*?)\n \*/\n(.*?)(?=\n\n|\n#ifdef|\n#endif|\Z)", re.S)


def roff_text(text):
    """Escapes text for roff and turns `code` into bold."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"`([^`]*)`", r"\\fB\1\\fP", text)


def roff_line(line):
    """A line that cannot be read as a roff request."""
    return "\\&" + line if line.startswith((".", "'")) else line


def doc_to_roff(comment):
    """The body of a /** */ comment as roff paragraphs and lists."""
    lines = [re.sub(r"^ \*( |$)", "", line) for line in comment.split("\n")]
    out = []
    for line in lines:
        if not line.strip():
            out.append(".PP")
        elif line.startswith("# "):
            out.append(".PP\n.I " + roff_text(line[2:]))
        elif line.startswith("- "):
            out.append(".IP \\(bu 2\n" + roff_line(roff_text(line[2:])))
        else:
            out.append(roff_line(roff_text(line.strip())))
    return "\n".join(out)


def declarations(header):
    """(kind, name, declaration, comment) for each documented item."""
    for comment, declaration in DOC_BLOCK.findall(header):
        declaration = " ".join(declaration.split())
        if declaration.startswith("#define"):
            yield "status", declaration.split()[1], declaration, comment
        elif declaration.startswith("typedef"):
            name = re.search(r"(\w+)\)?(\(.*\))?;$", declaration.replace("(*", "")).group(1)
            yield "type", name, declaration, comment
        else:
            name = re.search(r"(\w+)\(", declaration).group(1)
            yield "function", name, declaration, comment


def main():
    header_path, version = sys.argv[1], sys.argv[2]
    items = list(declarations(open(header_path, encoding="utf-8").read()))
    functions = [item for item in items if item[0] == "function"]
    page = [
        '.TH CRITEO_OAUTH 3 "" "criteo\\-oauth %s" "Library Functions Manual"' % version,
        ".\\\" Written by scripts/man3.py from include/criteo_oauth.h: do not edit.",
        ".SH NAME",
        "criteo_oauth \\- OAuth2 access tokens from Criteo's API, for C",
        ".SH SYNOPSIS",
        ".nf",
        ".B #include <criteo_oauth.h>",
        ".PP",
    ]
    page += [roff_text(declaration) for _, _, declaration, _ in functions]
    page += [
        ".fi",
        ".PP",
        "Link with \\fB\\-lcriteo_oauth\\fP, or with the flags that "
        "\\fBpkg\\-config \\-\\-cflags \\-\\-libs criteo\\-oauth\\fP gives.",
        ".SH DESCRIPTION",
        INTRO.rstrip("\n"),
    ]
    for title, kind in (("TYPES", "type"), ("STATUS CODES", "status"), ("FUNCTIONS", "function")):
        page.append(".SH " + title)
        for _, name, declaration, comment in (item for item in items if item[0] == kind):
            if kind == "status":
                page += [".TP", ".B %s (%s)" % (name, declaration.split()[2])]
            else:
                page += [".SS " + name, ".nf", roff_text(declaration), ".fi", ".PP"]
            page.append(doc_to_roff(comment))
    page += [
        ".SH SEE ALSO",
        ".BR criteo\\-token (1),",
        ".BR pkg\\-config (1)",
    ]
    print("\n".join(page))


if __name__ == "__main__":
    main()
