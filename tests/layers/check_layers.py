#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The layer rule of docs/hacking.md, checked on the #include lines of common/,
agent/ and tools/ (and on tools/*/meson.build for what the tools link).

Every `#include "x.h"` is resolved to its file by name (file names are unique
across the three folders; that is checked too), then:

  (a) common/ includes nothing of agent/ or tools/.
  (b) a pure module (PURE_MODULES) reaches, through any chain of includes, no
      log.h, no manager.h and no sd-event / sd-bus header.
  (c) a feature folder of agent/ (usb/, lock/, ...) includes only common/, its
      own folder and the interfaces of INTERFACES; anything else of agent/
      (another folder, the top's headers) is a back-reference.
  (d) only agent/ top (main.c, manager.c, manager-posture.c, control-reply.c) includes manager.h.
  (p) a program folder of agent/ (PROGRAMS: agent/uplink/, mamori-uplink) is
      a program of its own: it includes common/, its own folder and its
      interfaces (report/spool.h) only, and nothing of agent/ (top or
      feature folder) includes it; only tests/ and tools/bench may. No
      meson.build of agent/ but the program's own names its library.
  (e) a tool (tools/<name>/) includes and links common/ and its own folder
      only, never agent/; tools/bench may use the agent library.
  (f) collector/ (mamori-collectord, issue 12) includes common/ and collector/
      only; nothing of common/, agent/ or tools/ includes it, and no
      meson.build of agent/ or tools/ links it (tools/bench may).

TOLERATED lists today's violations, each to be removed: they are reported as
"tolerated, to be removed" and do not fail; any other violation fails.

Usage: check_layers.py [--root DIR]   (prints `file:line: includes X: rule ...`,
exits 1 on a violation)."""

import argparse
import os
import re
import sys

# Headers that meson writes into the build directory.
GENERATED = {"config-paths.h"}

# (b) The pure modules: data in (bytes, a policy, at most an fd they are
# handed), a result or -errno out; they open nothing. No logging (the
# caller logs once, where the error is handled), no event loop, no bus, no
# Manager; each has a unit test or a fuzzer that needs no daemon. A module is
# its .c and its .h, wherever they are.
PURE_MODULES = [
    # common/: the parsers, the policy and the formats
    "policy",
    "usb-classify",
    "usb-descriptors",
    "usb-drivers",
    "usb-repeat",
    "usb-modinfo",
    "usb-alias-index",
    "text",
    "av-report",
    "text-bidi",
    "json",
    "timeutil",
    "retry",
    "spool-record",
    "event",
    "config-hint",
    "notice-text",
    "config-notice",
    "url",
    "sha256",
    "uplink-status",
    "dead-letter-parse",  # agent/uplink/: a dead-letter file read back
    "posture",
    "config-site",
    # agent/
    "av-date",
    "av-media",
    "cvd-header",
    "mountinfo",
    "usb-report",
    "notice-ratelimit",
    # tools/
    "allow-entry",
    "allow-renew",
    "notify-text",
    # collector/: event-check, the rate limit, the ingest bounds; what the collector concludes
    "event-check",
    "ratelimit",
    "ingest",
    "findings",
    "seq-gaps",
    # common/: the quarantine's state file (issue 15), mamorid writes, netguard reads
    "quarantine-state",
    # agent/quarantine/: the quarantine's events and netguard's status file (issue 15)
    "quarantine-report",
]
PURE_BANNED_LOCAL = {"log.h", "manager.h"}
PURE_BANNED_SYSTEM = {"systemd/sd-event.h", "systemd/sd-bus.h"}

# (p) The program folders of agent/: each builds a program of its own, not a
# part of mamorid. It includes common/, its own folder and the INTERFACES that
# name it; nothing of agent/ includes it (tests/ and tools/bench may).
PROGRAMS = {
    # mamori-uplink (issue 11): reads mamorid's spool, read-only, and delivers it.
    "uplink",
    # mamori-netguard (issue 15): the quarantine's rules, libnl-route, netlink only.
    "netguard",
}

# (c) The interfaces a feature folder may use in another folder of agent/:
# header (relative to agent/) -> the folders allowed to include it.
INTERFACES = {
    # The system bus connection (reconnected when lost): logind's sessions,
    # the unmount of a blocked stick, the antivirus units, whether boltd runs
    # (devices/thunderbolt.c).
    "glue/sysbus.h": {"lock", "usb", "av", "devices"},
    # A directory watched through inotify: the antivirus pattern files, the
    # uplink's runtime directory (its status file: the collector refuses us),
    # mamori-netguard's runtime directory (its status file: tampering, issue 15).
    "glue/dirwatch.h": {"av", "report", "quarantine"},
    # Who sits at seat0 (logind's state files): the notices name the user.
    "lock/seat.h": {"notice"},
    # How an event leaves a module, and how a sink takes one (agent/ top).
    "event-sink.h": {"usb", "lock", "av", "report", "notice", "control", "glue", "devices", "quarantine"},
    # The unmount of a device in use before it is blocked, through systemd
    # (issue 14: an SD card is unmounted like a USB stick).
    "usb/usb-unmount.h": {"devices"},
    # The spool, opened read-only by mamori-uplink (issue 11: two processes, one spool).
    "report/spool.h": {"uplink"},
}

# Today's violations (issue 10): each line is one include to remove, then
# delete the line. Nothing may be added here; a new violation is fixed, not
# listed. (source file, included header): the reason it will go.
TOLERATED = {
    # The benchmark builds a whole Manager to drive the reporting path
    # (manager_start_reporting()); it will build the reporting module through
    # its constructor instead.
    ("tools/bench/bench-reporting.c", "manager.h"),
}

TOPS = ("common", "agent", "tools", "collector")
# A program's main(): agent/main.c (mamorid), agent/uplink/main.c (mamori-uplink).
# Never included, so the names need not be unique.
PROGRAM_MAINS = {"main.c"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
LINK_RE = re.compile(r"\b(core_dep|libmamori_core|agent_inc)\b")
COLLECTOR_LINK_RE = re.compile(r"\b(collector_dep|libmamori_collector|collector_inc)\b")
# (p) What meson calls a program folder's library: agent/<program>/meson.build
# defines <program>_dep, libmamori_<program> and <program>_inc.


class Violation:
    def __init__(self, path, line, header, rule, why):
        self.path, self.line, self.header, self.rule, self.why = path, line, header, rule, why

    def __str__(self):
        return f"{self.path}:{self.line}: includes {self.header}: rule ({self.rule}) {self.why}"


class Tree:
    """The C files of common/, agent/ and tools/, their includes, by name."""

    def __init__(self, root):
        self.root = root
        self.files = {}  # name -> relative path
        self.duplicates = []  # (relative path, first relative path)
        self.includes = {}  # relative path -> [(line, kind, name)]
        for top in TOPS:
            for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
                dirnames.sort()
                for name in sorted(filenames):
                    if not name.endswith((".c", ".h")):
                        continue
                    rel = os.path.relpath(os.path.join(dirpath, name), root)
                    if name in PROGRAM_MAINS and name in self.files:
                        pass  # never included: one per program folder
                    elif name in self.files:
                        self.duplicates.append((rel, self.files[name]))
                    else:
                        self.files[name] = rel
                    self.includes[rel] = parse_includes(os.path.join(root, rel))

    def resolve(self, name):
        """The relative path of a quoted include, or None."""
        return self.files.get(os.path.basename(name))


def parse_includes(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, text in enumerate(f, 1):
            m = INCLUDE_RE.match(text)
            if m:
                out.append((n, "system" if m.group(1) == "<" else "local", m.group(2)))
    return out


def place(rel):
    """('common', None), ('agent', None) for agent/ top, ('agent', folder),
    ('tools', folder)."""
    parts = rel.split("/")
    if parts[0] == "common":
        return ("common", None)
    if parts[0] == "agent":
        return ("agent", parts[1] if len(parts) > 2 else None)
    if parts[0] == "collector":
        return ("collector", parts[1] if len(parts) > 2 else None)
    return ("tools", parts[1] if len(parts) > 2 else None)


def module_of(rel):
    return os.path.splitext(os.path.basename(rel))[0]


def banned_reach(tree, rel, memo, stack=()):
    """What of the banned set `rel` reaches: {banned: chain of names}."""
    if rel in memo:
        return memo[rel]
    if rel in stack:
        return {}
    found = {}
    for _, kind, name in tree.includes.get(rel, []):
        if kind == "system":
            if name in PURE_BANNED_SYSTEM:
                found.setdefault(name, [name])
            continue
        if os.path.basename(name) in PURE_BANNED_LOCAL:
            found.setdefault(os.path.basename(name), [name])
            continue
        target = tree.resolve(name)
        if target:
            for banned, chain in banned_reach(tree, target, memo, stack + (rel,)).items():
                found.setdefault(banned, [name] + chain)
    memo[rel] = found
    return found


def check_program(src, dst, target, programs, interfaces):
    """(p): an include from or into a program folder of agent/. Returns
    (allowed: bool, why), or (None, None) when neither end is one."""
    if src[0] == "agent" and src[1] in programs:
        if dst[0] == "common" or dst == src:
            return True, None
        if dst[0] == "agent" and src[1] in interfaces.get(target[len("agent/"):], ()):
            return True, None
        allowed = ", ".join(sorted(i for i, users in interfaces.items() if src[1] in users)) or "nothing else"
        return False, (f"agent/{src[1]}/ is a program of its own: it uses common/, its own folder and "
                       f"{allowed} only ({target})")
    if dst[0] == "agent" and dst[1] in programs and src[0] == "agent":
        where = f"agent/{src[1]}/" if src[1] else "agent/ top"
        return False, (f"{where} includes the program folder agent/{dst[1]}/ ({target}): "
                       "nothing uses it but tests/ and tools/bench")
    return None, None


def check_include(tree, rel, line, kind, name, memo, pure_modules, interfaces, programs=None):
    """The first rule one include breaks, or None."""
    if programs is None:
        programs = PROGRAMS
    src = place(rel)
    pure = module_of(rel) in pure_modules
    if kind == "system":
        if pure and name in PURE_BANNED_SYSTEM:
            return Violation(rel, line, name, "b", f"pure module {module_of(rel)} uses no event loop and no bus")
        return None
    if os.path.basename(name) in GENERATED:
        return None
    target = tree.resolve(name)
    if target is None:
        return Violation(rel, line, name, "resolve",
                         "no such file in common/, agent/ or tools/ (a generated header goes in GENERATED)")
    dst = place(target)
    if src[0] == "collector" and dst[0] not in ("common", "collector"):
        return Violation(rel, line, name, "f", f"collector/ uses common/ and collector/ only ({target})")
    if dst[0] == "collector" and src[0] != "collector" and not (src[0] == "tools" and src[1] == "bench"):
        return Violation(rel, line, name, "f", f"nothing of {src[0]}/ includes collector/ ({target})")
    if src[0] == "common" and dst[0] != "common":
        return Violation(rel, line, name, "a", f"common/ includes nothing of {dst[0]}/ ({target})")
    if target == "agent/manager.h" and src != ("agent", None):
        return Violation(rel, line, name, "d", "only agent/ top (main.c, manager.c, manager-posture.c, control-reply.c) includes manager.h")
    if pure:
        for banned, chain in banned_reach(tree, rel, memo).items():
            if chain[0] == name:
                via = " -> ".join(chain)
                return Violation(rel, line, name, "b",
                                 f"pure module {module_of(rel)} reaches {banned} ({via}): no log, no Manager, "
                                 "no event loop or bus")
    allowed, why = check_program(src, dst, target, programs, interfaces)
    if allowed is not None:
        return None if allowed else Violation(rel, line, name, "p", why)
    if src[0] == "agent" and src[1] is not None:
        if dst[0] == "tools":
            return Violation(rel, line, name, "c", f"agent/ includes nothing of tools/ ({target})")
        if dst[0] == "agent" and dst[1] != src[1]:
            iface = target[len("agent/"):]
            if src[1] in interfaces.get(iface, ()):
                return None
            where = f"agent/{dst[1]}/" if dst[1] else "agent/ top"
            return Violation(rel, line, name, "c",
                             f"back-reference from agent/{src[1]}/ into {where} (not an interface for {src[1]}/)")
    if src[0] == "tools":
        if dst[0] == "agent" and src[1] != "bench":
            return Violation(rel, line, name, "e", f"tools/ use common/ only, never agent/ ({target})")
        if dst[0] == "tools" and dst[1] != src[1]:
            return Violation(rel, line, name, "e", f"a tool includes nothing of another tool ({target})")
    if src[0] == "agent" and src[1] is None and dst[0] == "tools":
        return Violation(rel, line, name, "c", f"agent/ includes nothing of tools/ ({target})")
    return None


def program_link_re(programs):
    names = "|".join(sorted(re.escape(p) for p in programs))
    return re.compile(rf"\b((?:{names})_dep|libmamori_(?:{names})|(?:{names})_inc)\b") if programs else None


def scan_build(root, build, regex, rule, why):
    out = []
    with open(build, encoding="utf-8") as f:
        for n, text in enumerate(f, 1):
            m = regex.search(text.split("#", 1)[0])
            if m:
                out.append(Violation(os.path.relpath(build, root), n, m.group(1), rule, why))
    return out


def check_links(root, programs=PROGRAMS):
    """(e) on tools/<name>/meson.build: no tool but bench links the agent or a
    program folder's library. (p) on agent/meson.build and its feature
    folders': mamorid links nothing of a program folder."""
    out = []
    prog_re = program_link_re(programs)
    tools = os.path.join(root, "tools")
    for name in sorted(os.listdir(tools)) if os.path.isdir(tools) else []:
        build = os.path.join(tools, name, "meson.build")
        if name == "bench" or not os.path.isfile(build):
            continue
        out += scan_build(root, build, LINK_RE, "e", "tools/ link common_dep only, never the agent")
        out += scan_build(root, build, COLLECTOR_LINK_RE, "f", "tools/ link common_dep only, never the collector")
        if prog_re:
            out += scan_build(root, build, prog_re, "e", "tools/ link common_dep only, never a program of agent/")
    agent = os.path.join(root, "agent")
    if prog_re and os.path.isdir(agent):
        folders = [""] + sorted(d for d in os.listdir(agent) if os.path.isdir(os.path.join(agent, d)) and d not in programs)
        for folder in folders:
            build = os.path.join(agent, folder, "meson.build")
            if os.path.isfile(build):
                out += scan_build(root, build, prog_re, "p",
                                  "mamorid (libmamori-core) links nothing of a program folder of agent/")
                out += scan_build(root, build, COLLECTOR_LINK_RE, "f", "agent/ links nothing of collector/")
    return out


def check(root, tolerated=TOLERATED, pure_modules=PURE_MODULES, interfaces=INTERFACES, programs=PROGRAMS):
    """(violations, tolerated hits, stale TOLERATED entries)."""
    tree = Tree(root)
    found = []
    for rel, first in tree.duplicates:
        found.append(Violation(rel, 1, os.path.basename(rel), "unique",
                               f"file names are unique across common/, agent/ and tools/ (also {first})"))
    for module in pure_modules:
        if module + ".c" not in tree.files and module + ".h" not in tree.files:
            found.append(Violation("tests/layers/check_layers.py", 1, module, "b",
                                   "PURE_MODULES names a module that is not in the tree"))
    memo = {}
    for rel in sorted(tree.includes):
        for line, kind, name in tree.includes[rel]:
            v = check_include(tree, rel, line, kind, name, memo, pure_modules, interfaces, programs)
            if v:
                found.append(v)
    found += check_links(root, programs)
    violations, hits = [], []
    for v in found:
        (hits if (v.path, os.path.basename(v.header)) in tolerated else violations).append(v)
    used = {(v.path, os.path.basename(v.header)) for v in hits}
    stale = sorted(set(tolerated) - used)
    return violations, hits, stale


def report(violations, hits, stale, out=sys.stdout):
    for v in violations:
        print(v, file=out)
    for v in hits:
        print(f"{v}: tolerated, to be removed", file=out)
    for path, header in stale:
        print(f"{path}: includes {header} no longer: delete its line in TOLERATED (tests/layers/check_layers.py)",
              file=out)
    print(f"layers: {len(violations)} violations, {len(hits)} tolerated, {len(stale)} stale exceptions", file=out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--root", default=os.path.normpath(os.path.join(here, "..", "..")))
    args = parser.parse_args()
    violations, hits, stale = check(args.root)
    report(violations, hits, stale)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
