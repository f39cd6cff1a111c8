#!/usr/bin/env python3
"""Builds single_include/dbxserve.hpp from include/dbxserve/.

Every project header is inlined once, at its first inclusion, in the order the umbrella header
pulls them in (a depth-first walk, so a header always precedes its users). System includes and
#pragma once lines are dropped where they repeat; each inlined file leaves a marker comment.

    tools/amalgamate.py           write the single header
    tools/amalgamate.py --check   exit 1 when the committed single header is stale
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "include" / "dbxserve"
ENTRY = SOURCE / "dbxserve.hpp"
OUTPUT = ROOT / "single_include" / "dbxserve.hpp"

LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')
SYSTEM_INCLUDE = re.compile(r"^\s*#\s*include\s+<([^>]+)>\s*$")
PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\s*$")

BANNER = """\
// dbxserve {version} - a C++17 client for Databricks Model and Agent Serving endpoints.
//
// GENERATED FILE - DO NOT EDIT. Built by tools/amalgamate.py from include/dbxserve/;
// change the headers there and run the script again.
//
// Needs nlohmann/json, and for the default transport cpp-httplib with OpenSSL.
#ifndef DBXSERVE_SINGLE_INCLUDE_HPP
#define DBXSERVE_SINGLE_INCLUDE_HPP
"""


def read_version():
    text = (SOURCE / "version.hpp").read_text()
    match = re.search(r'#define DBXSERVE_VERSION_STRING "([^"]+)"', text)
    return match.group(1) if match else "unknown"


def inline(path, seen_local, seen_system, out):
    path = path.resolve()
    if path in seen_local:
        return
    seen_local.add(path)
    out.append(f"// ---- begin {path.relative_to(ROOT / 'include').as_posix()}\n")
    for line in path.read_text().splitlines(keepends=True):
        if PRAGMA_ONCE.match(line):
            continue
        local = LOCAL_INCLUDE.match(line)
        if local:
            target = (path.parent / local.group(1)).resolve()
            if not target.is_file():
                sys.exit(f"{path}: included file {local.group(1)} not found")
            inline(target, seen_local, seen_system, out)
            continue
        system = SYSTEM_INCLUDE.match(line)
        if system:
            name = system.group(1)
            if name in seen_system:
                continue
            seen_system.add(name)
        out.append(line)
    out.append(f"// ---- end {path.relative_to(ROOT / 'include').as_posix()}\n")


def build():
    out = [BANNER.format(version=read_version())]
    inline(ENTRY, set(), set(), out)
    out.append("#endif // DBXSERVE_SINGLE_INCLUDE_HPP\n")
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the output is stale")
    args = parser.parse_args()

    text = build()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run tools/amalgamate.py", file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
