#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Every Japanese text follows docs/glossary.md (issue 17).

The rules are not copied here: they are read from the table of
docs/glossary.md itself, so the glossary and this test cannot drift. A word
of the "not" column on a Japanese line of a file in scope fails the test,
which names file:line and the word. A self-test on a fake tree runs first,
so a checker that finds nothing (a broken table, a wrong scope) fails too.

Usage: check_glossary.py [--self-test-only] SOURCE_ROOT
"""

import glob
import os
import re
import shutil
import sys
import tempfile

GLOSSARY = os.path.join("docs", "glossary.md")
BEGIN = "<!-- glossary-table: begin"
END = "<!-- glossary-table: end"

# Hiragana, katakana, CJK ideographs, full-width forms: a line with any of
# them is a Japanese line.
JAPANESE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
C_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')

# The texts of issue 17; docs/*.md covers docs/*.ja.md (only Japanese lines
# are read anyway). glossary.md itself names the words it rules out.
SCOPE = [
    "units/mamori.catalog",
    "units/*.desktop.in",
    "units/70-mamori.rules",
    "common/notice-text.c",
    "tools/notify/*.c",
    "man/ja/*",
    "docs/*.md",
    "README.md",
    "policy/*.conf",
    "policy/allow.d/*",
    "collector/console/www/**/*",
]
# What staff read at the PC: the "staff" rows apply here only.
STAFF = ["common/notice-text.c", "tools/notify/*.c", "units/*.desktop.in"]
# English texts whose example approvers must match the Japanese ones: only
# their approved_by lines are checked.
APPROVER_ONLY = ["man/*.[1-8]"]

# The lead's decisions (glossary-terms.md): the table must keep ruling these
# out, so that emptying a row does not silently switch the rule off.
REQUIRED = ["記憶媒体", "保存媒体", "記録媒体", "従業員", "社員", "パソコン", "承認エントリ", "許可リスト項目",
            "ブロック", "集中管理サーバー", "集約サーバー", "収集側", "集中管理側", "心拍", "ハートビート",
            "インタフェース", "インターフェイス", "ルート・ハブ", "サーバ", "強制", "MTP", "PTP"]


class Rule:
    def __init__(self, token, use, scope):
        self.token = token
        self.use = use
        self.scope = scope
        if token.startswith("re:"):
            self.regex = re.compile(token[3:])
        else:
            self.regex = re.compile(re.escape(token))


def split_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip().replace("\\|", "|") for c in cells[1:-1]]


def read_rules(root):
    path = os.path.join(root, GLOSSARY)
    lines = open(path, encoding="utf-8").read().splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith(BEGIN))
        end = next(i for i, l in enumerate(lines) if l.startswith(END))
    except StopIteration:
        raise SystemExit(f"{GLOSSARY}: the table markers are missing")
    header = split_row(lines[start + 1])
    if len(header) != 5 or not header[2].startswith("使わない語"):
        raise SystemExit(f"{GLOSSARY}:{start + 2}: unexpected table header {header}")
    rules = []
    for n in range(start + 3, end):
        cells = split_row(lines[n])
        if len(cells) != 5:
            raise SystemExit(f"{GLOSSARY}:{n + 1}: a row needs 5 cells, found {len(cells)}")
        _, use, never, scope, _ = cells
        if scope not in ("all", "staff"):
            raise SystemExit(f"{GLOSSARY}:{n + 1}: scope must be all or staff, not {scope!r}")
        for token in re.findall(r"`([^`]+)`", never):
            try:
                rules.append(Rule(token, use, scope))
            except re.error as e:
                raise SystemExit(f"{GLOSSARY}:{n + 1}: bad regular expression {token!r}: {e}")
    tokens = " ".join(r.token for r in rules)
    missing = [w for w in REQUIRED if w not in tokens]
    if missing:
        raise SystemExit(f"{GLOSSARY}: the table no longer rules out {missing}")
    return rules


def files_in_scope(root, patterns):
    out = set()
    for pat in patterns:
        for p in glob.glob(os.path.join(root, pat), recursive=True):
            if os.path.isfile(p) and not os.path.islink(p):
                out.add(os.path.relpath(p, root))
    out.discard(GLOSSARY)
    return sorted(out)


def check(root):
    rules = read_rules(root)
    staff = set(files_in_scope(root, STAFF))
    approver_only = set(files_in_scope(root, APPROVER_ONLY))
    findings = []
    for rel in sorted(set(files_in_scope(root, SCOPE)) | approver_only):
        try:
            text = open(os.path.join(root, rel), encoding="utf-8").read()
        except UnicodeDecodeError:
            continue  # an image or other binary file of the console
        for n, line in enumerate(text.splitlines(), 1):
            if rel in approver_only:
                if "approved_by" not in line:
                    continue
            elif not JAPANESE.search(line) and "approved_by" not in line:
                continue
            # In C only the string literals are text: identifiers such as
            # USB_CAT_MTP and the parentheses of calls are not.
            checked = " ".join(C_STRING.findall(line)) if rel.endswith(".c") else line
            for r in rules:
                if r.scope == "staff" and rel not in staff:
                    continue
                for m in r.regex.finditer(checked):
                    findings.append(f"{rel}:{n}: {m.group(0)!r} is ruled out by docs/glossary.md"
                                    f" ({r.token}); use {r.use}")
    return findings


# ---- self-test: a fake tree with bad words must fail, and only on them ----

FAKE = {
    "units/mamori.catalog": "Subject: blocked MTP device\n"          # English: not checked
                            "USB 記憶媒体を遮断しました。\n"            # 1 bad
                            "外部記録媒体 と ブロックデバイス は正しい。\n"  # fine
                            "集中管理サーバーへ送ります (MTP)。\n",       # bad; MTP fine outside staff texts
    "man/ja/mamorid.8": "ポリシーを強制します。\n"                   # bad
                        "プロセスを強制終了します。\n"               # fine
                        "記録媒体 と 収集サーバ。\n",                # two bad
    "common/notice-text.c": '    { USB_CAT_MTP, N_("スマートフォン・デジタルカメラ等") },\n'  # fine
                            '    "この機器 (USBメモリ) は MTP です",\n',   # bracket and MTP bad
    "docs/device-enforcement.md": "An English line with ブロック? no: this line is Japanese.\n",
    "docs/notices.md": "English only: block, heartbeat.\n",
    "policy/allow.d/00-example.conf": "#     approved_by = \"CISO 山田\";\n",  # bad
    "README.md": "許可エントリがこれを承認しました。\n",          # bad
    "collector/console/www/js/i18n.js": "  hb: 'ハートビート',\n",  # bad
}
EXPECTED = {
    ("units/mamori.catalog", 2, "記憶媒体"),
    ("units/mamori.catalog", 4, "集中管理サーバー"),
    ("man/ja/mamorid.8", 1, "強制"),
    ("man/ja/mamorid.8", 3, "記録媒体"),
    ("man/ja/mamorid.8", 3, "サーバ"),
    ("common/notice-text.c", 2, "(USBメモリ)"),
    ("common/notice-text.c", 2, "MTP"),
    ("docs/device-enforcement.md", 1, "ブロック"),
    ("policy/allow.d/00-example.conf", 1, 'approved_by = "CISO'),
    ("README.md", 1, "エントリがこれを承認し"),
    ("collector/console/www/js/i18n.js", 1, "ハートビート"),
}


def self_test(root):
    tmp = tempfile.mkdtemp(prefix="glossary-selftest.")
    try:
        os.makedirs(os.path.join(tmp, "docs"))
        shutil.copy(os.path.join(root, GLOSSARY), os.path.join(tmp, GLOSSARY))
        for rel, text in FAKE.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
                f.write(text)
        got = set()
        for f in check(tmp):
            m = re.match(r"(.+?):(\d+): '(.*?)' is ruled out", f)
            assert m, f"unparsable finding {f!r}"
            got.add((m.group(1), int(m.group(2)), m.group(3)))
        if got != EXPECTED:
            print("self-test FAILED", file=sys.stderr)
            for x in sorted(EXPECTED - got):
                print(f"  not found: {x}", file=sys.stderr)
            for x in sorted(got - EXPECTED):
                print(f"  found but not expected: {x}", file=sys.stderr)
            return False
        # The glossary itself is out of scope: it must name the words.
        assert GLOSSARY not in files_in_scope(tmp, ["docs/*.md"])
        return True
    finally:
        shutil.rmtree(tmp)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.environ.get("MAMORI_SOURCE_DIR", ".")
    if not self_test(root):
        return 1
    print(f"self-test: {len(EXPECTED)} planted words found, nothing else")
    if "--self-test-only" in argv:
        return 0
    findings = check(root)
    for f in findings:
        print(f)
    files = len(files_in_scope(root, SCOPE))
    print(f"{len(findings)} ruled-out word(s) in {files} file(s) checked against {len(read_rules(root))} rules")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
