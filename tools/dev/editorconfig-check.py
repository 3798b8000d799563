#!/usr/bin/python3
# Checks files against the repository's .editorconfig: a final newline, no
# trailing whitespace, no tab in the indentation where indent_style = space.
# Reads only the plain forms .editorconfig uses (globs with *, **, ? and
# {a,b}; the keys below). Usage: editorconfig-check.py FILE... (paths relative
# to the top of the tree). Prints "path:line: problem" and exits 1 on any.
import os
import re
import sys

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def glob_to_regex(glob):
    """An EditorConfig glob as a regex over a path relative to the top."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            j = glob.index("}", i)
            alts = glob[i + 1:j].split(",")
            out.append("(?:" + "|".join(glob_to_regex(a) for a in alts) + ")")
            i = j + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def load(path):
    sections, current = [], None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                glob = line[1:-1]
                # A glob without a slash matches a file's name in any directory.
                rx = glob_to_regex(glob)
                if "/" not in glob:
                    rx = "(?:.*/)?" + rx
                current = {}
                sections.append((re.compile(rx + r"\Z"), current))
            elif "=" in line and current is not None:
                k, v = line.split("=", 1)
                current[k.strip().lower()] = v.strip().lower()
    return sections


def props(sections, rel):
    p = {}
    for rx, kv in sections:
        if rx.match(rel):
            p.update(kv)
    return {k: v for k, v in p.items() if v != "unset"}


def check(rel, p):
    problems = []
    try:
        with open(os.path.join(TOP, rel), "rb") as f:
            data = f.read()
    except OSError as e:
        return [f"{rel}: cannot read: {e.strerror}"]
    if b"\0" in data:
        return []  # binary: not ours to lay out
    if p.get("insert_final_newline") == "true" and data and not data.endswith(b"\n"):
        problems.append(f"{rel}: no newline at the end of the file")
    lines = data.split(b"\n")
    for n, line in enumerate(lines, 1):
        if p.get("trim_trailing_whitespace") == "true" and line.rstrip(b" \t\r") != line:
            problems.append(f"{rel}:{n}: trailing whitespace")
        if p.get("indent_style") == "space":
            indent = line[:len(line) - len(line.lstrip(b" \t"))]
            if b"\t" in indent:
                problems.append(f"{rel}:{n}: a tab in the indentation (this file is indented with spaces)")
    return problems


def main(argv):
    sections = load(os.path.join(TOP, ".editorconfig"))
    problems = []
    for rel in argv[1:]:
        problems += check(rel, props(sections, rel))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
