#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Counts the individual test cases of one `meson test` run, not its programs.

meson counts one result per test program, so a pytest file whose cases partly
skip is "OK" to it. Here every case counts: pytest's junit XML and cmocka's XML
(both written to <build>/test-results/ by tests/meson.build), and one case per
test program that writes neither (fuzz replays, vm). Prints
"cases: N run, P passed, F failed, S skipped" and names every skipped and
failed case.

With --required (tools/dev/required-suites), a skipped case in a required test,
a required test that is not registered, or one that did not run is a finding:
it fails the run with --ci (CI=true or MAMORI_CI=1 in tools/dev/test.sh) and is
a loud warning otherwise (a developer's run without root may skip).

  test-summary.py cases BUILD --label L [--exclude-suite S]... [--suite S]...
                  [--required FILE] [--ci]
  test-summary.py coverage SUMMARY_JSON --floor FILE [--ci] [--lowest N]

Exit status: 0 fine, 1 failures (or findings with --ci).
"""
import argparse
import fnmatch
import json
import os
import sys
import xml.etree.ElementTree as ET


def meson_log(build):
    """{test name: (result, its output's last line)} of the last `meson test` in build."""
    results = {}
    path = os.path.join(build, "meson-logs", "testlog.json")
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            # "mamori:unit / test-text" -> "test-text"
            out = ((r.get("stdout") or "") + (r.get("stderr") or "")).strip().splitlines()
            results[r["name"].split(" / ", 1)[-1]] = (r["result"], out[-1].strip() if out else "")
    return results


def registered(build):
    """{test name: [suites]} from meson's introspection (what `meson test --list` shows)."""
    with open(os.path.join(build, "meson-info", "intro-tests.json")) as f:
        return {t["name"]: [s.split(":", 1)[-1] for s in t["suite"]] for t in json.load(f)}


def xml_cases(path):
    """[(case name, 'passed'|'failed'|'skipped', message)] of one junit/cmocka XML file.
    pytest records a test that failed and then failed its teardown twice: one case."""
    cases = {}
    root = ET.parse(path).getroot()
    for tc in root.iter("testcase"):
        name = tc.get("name", "?")
        if tc.get("classname"):
            name = tc.get("classname") + "::" + name
        state, msg = "passed", ""
        for child in tc:
            if child.tag in ("failure", "error"):
                state, msg = "failed", (child.get("message") or child.text or "").strip()
                break
            if child.tag == "skipped":
                state, msg = "skipped", (child.get("message") or child.text or "").strip()
        rank = {"passed": 0, "skipped": 1, "failed": 2}
        if name not in cases or rank[state] > rank[cases[name][1]]:
            cases[name] = (name, state, msg)
    return list(cases.values())


def test_cases(results_dir, test):
    """The cases of one meson test from its XML files, or None when it wrote none.
    pytest writes <test>.xml; cmocka writes <test>.<group>.xml per group."""
    found = None
    if not os.path.isdir(results_dir):
        return None
    for fn in sorted(os.listdir(results_dir)):
        if fn == test + ".xml" or (fn.startswith(test + ".") and fn.endswith(".xml")
                                    and "." not in fn[len(test) + 1:-4]):
            try:
                cases = xml_cases(os.path.join(results_dir, fn))
            except ET.ParseError as e:
                cases = [(fn, "failed", f"unreadable XML: {e}")]
            found = (found or []) + cases
    return found


def read_required(path):
    """[(suite, name or glob)] from tools/dev/required-suites."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if len(line) == 2:
                out.append((line[0], line[1]))
    return out


def cmd_cases(a):
    log = meson_log(a.build)
    reg = registered(a.build)
    results_dir = os.path.join(a.build, "test-results")
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    skipped, failed, findings = [], [], []
    per_test = {}

    for test, (result, last) in sorted(log.items()):
        cases = test_cases(results_dir, test)
        if cases is None:
            # No XML: the program is one case.
            state = {"OK": "passed", "EXPECTEDFAIL": "passed", "SKIP": "skipped"}.get(result, "failed")
            cases = [("(whole program)", state, last if state == "skipped" else
                      "" if state == "passed" else f"meson: {result}")]
        elif result not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(s == "failed" for _, s, _ in cases):
            # Crashed after its cases, or exited non-zero with all cases passed.
            cases.append(("(exit status)", "failed", f"meson: {result}"))
        per_test[test] = cases
        for name, state, msg in cases:
            counts[state] += 1
            if state == "skipped":
                skipped.append((test, name, msg))
            elif state == "failed":
                failed.append((test, name, msg))

    if a.required:
        ran_suites = lambda suites: (not a.suite or any(s in a.suite for s in suites)) \
            and not any(s in a.exclude_suite for s in suites)
        for suite, pat in read_required(a.required):
            if a.suite and suite not in a.suite or suite in a.exclude_suite:
                continue
            matches = [t for t, s in reg.items() if suite in s and fnmatch.fnmatchcase(t, pat)]
            if not any(ch in pat for ch in "*?["):
                if pat not in reg:
                    findings.append(f"{suite}/{pat}: not registered (meson test --list does not have it)")
                    continue
            for t in matches:
                if not ran_suites(reg[t]):
                    continue
                if t not in log:
                    findings.append(f"{suite}/{t}: registered but did not run")
                    continue
                for name, state, msg in per_test[t]:
                    if state == "skipped":
                        findings.append(f"{suite}/{t}: {name} skipped ({msg or 'no reason given'})")
        findings = sorted(set(findings), key=findings.index)

    run = sum(counts.values())
    for test, name, msg in skipped:
        print(f"{a.label}: SKIPPED {test}: {name}" + (f" -- {msg}" if msg else ""))
    for test, name, msg in failed[:40]:
        first = msg.splitlines()[0] if msg else ""
        print(f"{a.label}: FAILED {test}: {name}" + (f" -- {first[:200]}" if first else ""))
    if len(failed) > 40:
        print(f"{a.label}: ... and {len(failed) - 40} more failed cases (meson-logs/testlog.txt)")
    for f in findings:
        if a.ci:
            print(f"{a.label}: FAILED (required in CI): {f}")
        else:
            print(f"{a.label}: WARNING (CI fails on this): {f}")
    if findings and not a.ci:
        print(f"{a.label}: WARNING: {len(findings)} required case(s) did not run; "
              "CI (CI=true or MAMORI_CI=1) fails on this")
    print(f"{a.label}: cases: {run} run, {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['skipped']} skipped ({len(log)} test programs)")
    # For tools/dev/test.sh's last line.
    if a.counts_file:
        with open(a.counts_file, "w") as f:
            f.write(f"{counts['passed']} {counts['failed'] + (len(findings) if a.ci else 0)} "
                    f"{counts['skipped']}\n")
    return 1 if counts["failed"] or (findings and a.ci) else 0


def read_floor(path):
    floor = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if len(line) == 2:
                floor[line[0]] = float(line[1])
    return floor


def pct(c, t):
    return 100.0 * c / t if t else 0.0


def cmd_coverage(a):
    with open(a.summary) as f:
        s = json.load(f)
    lc, lt = s["line_covered"], s["line_total"]
    bc, bt = s["branch_covered"], s["branch_total"]
    print(f"coverage ({a.what}): lines {pct(lc, lt):.1f}% ({lc}/{lt}), "
          f"branches {pct(bc, bt):.1f}% ({bc}/{bt})")
    files = [f for f in s["files"] if f["line_total"]]
    files.sort(key=lambda f: (pct(f["line_covered"], f["line_total"]), f["filename"]))
    for f in files[:a.lowest]:
        print(f"coverage: lowest: {f['filename']}: lines {pct(f['line_covered'], f['line_total']):.1f}% "
              f"({f['line_covered']}/{f['line_total']}), branches "
              f"{pct(f['branch_covered'], f['branch_total']):.1f}% ({f['branch_covered']}/{f['branch_total']})")
    if not lt:
        print("coverage: FAILED: no line was measured (no .gcda written?)")
        return 1
    rc = 0
    floor = read_floor(a.floor)
    for key, value in (("lines", pct(lc, lt)), ("branches", pct(bc, bt))):
        if key in floor and value < floor[key]:
            print(f"coverage: FAILED: {key} {value:.1f}% is below the floor {floor[key]:.1f}% "
                  f"({a.floor}): new code needs its tests")
            rc = 1
    return rc


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cases")
    c.add_argument("build")
    c.add_argument("--label", default="tests")
    c.add_argument("--suite", action="append", default=[], help="only these suites ran")
    c.add_argument("--exclude-suite", action="append", default=[])
    c.add_argument("--required")
    c.add_argument("--ci", action="store_true")
    c.add_argument("--counts-file", help="writes 'passed failed skipped' here")
    v = sub.add_parser("coverage")
    v.add_argument("summary")
    v.add_argument("--floor", required=True)
    v.add_argument("--what", default="agent/ and common/")
    v.add_argument("--lowest", type=int, default=5)
    a = p.parse_args()
    return cmd_cases(a) if a.cmd == "cases" else cmd_coverage(a)


if __name__ == "__main__":
    sys.exit(main())
