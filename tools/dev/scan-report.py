#!/usr/bin/python3
"""The reports of a scan-build run (its -plist-html output dir, argv[1]) that count.

clang's analyzer (14 to 19 at least) does not see a cleanup attribute run:
to it a variable declared _cleanup_free_ (common/macro.h) dies after its last
use and what it points to "leaks". A unix.Malloc leak report whose memory was
allocated into a _cleanup_ variable (the allocating line declares one, or
assigns to a variable the function declared _cleanup_) is that blind spot and
does not count; every other report does. Prints each counted report as
"file:line: message [checker]", then "scan-build: N reports (M cleanup-
attribute leaks not counted)"; exits 1 when N > 0."""
import glob
import os
import plistlib
import re
import sys

BUILD = "."


def cleanup_leak(files, diag):
    if diag.get("check_name") != "unix.Malloc" or not re.match(r"Potential (memory )?leak", diag["description"]):
        return False
    # The allocation as the function the leak is reported in sees it: the last
    # event at the report's depth that names allocated memory ("Memory is
    # allocated", or "Returned allocated memory" from a call).
    events = [ev for ev in diag.get("path", []) if ev.get("kind") == "event"]
    if not events:
        return False
    depth = events[-1].get("depth", 0)
    alloc = None
    for ev in reversed(events):
        if ev.get("depth", 0) == depth and "llocated" in ev.get("message", ""):
            alloc = ev["location"]
            break
    if alloc is None:
        return False
    path = os.path.join(BUILD, files[alloc["file"]])
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    except OSError:
        return False
    n = alloc["line"] - 1
    text = lines[n]
    if "_cleanup_" in text:
        return True
    # The variables the allocating line stores into: "x = ..." or "&x" (an
    # out parameter), of those the report names if it names any.
    # (The report may name another pointer to the same memory: c.ref = ref.)
    # A member ("parts.host = ...") counts by its struct too: a _cleanup_
    # struct frees its fields.
    targets = re.findall(r"([\w.>-]+)\s*=(?!=)", text) + re.findall(r"&([\w.>-]+)", text)
    names = {n for t in targets for n in re.split(r"\.|->", t) if n}
    m = re.search(r"pointed to by '([\w.>-]+)'", diag["description"])
    if m and names & set(re.split(r"\.|->", m.group(1))):
        names &= set(re.split(r"\.|->", m.group(1)))
    if not names:
        return False
    # Their declaration, in the function (back to the line that opens it).
    for k in range(n - 1, -1, -1):
        line = lines[k]
        for var in names:
            if re.search(r"_cleanup_\w*(\([\w ]*\))?\s.*[\s*]" + re.escape(var) + r"\b", line):
                return True
        if line.startswith("{") or (line and not line[0].isspace() and line.rstrip().endswith("{")):
            return False
    return False


def main():
    global BUILD
    BUILD = os.path.dirname(os.path.abspath(sys.argv[1]))  # the paths are relative to the build dir
    counted, skipped = [], 0
    seen = set()
    for pl in sorted(glob.glob(os.path.join(sys.argv[1], "*", "*.plist"))):
        with open(pl, "rb") as f:
            data = plistlib.load(f)
        files = data.get("files", [])
        for diag in data.get("diagnostics", []):
            loc = diag["location"]
            key = (os.path.normpath(os.path.join(BUILD, files[loc["file"]])), loc["line"], loc["col"], diag["description"])
            if key in seen:  # a file built into two targets is analysed twice
                continue
            seen.add(key)
            if cleanup_leak(files, diag):
                skipped += 1
                continue
            rel = os.path.relpath(key[0])
            counted.append(f"{rel}:{key[1]}: {diag['description']} [{diag.get('check_name', '?')}]")
    for c in sorted(counted):
        print(c)
    print(f"scan-build: {len(counted)} reports ({skipped} cleanup-attribute leaks not counted)")
    return 1 if counted else 0


if __name__ == "__main__":
    sys.exit(main())
