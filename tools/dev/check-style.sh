#!/bin/sh
# The style check (docs/hacking.md, "Conventions"), run by tools/dev/test.sh:
#  a. clang-format (.clang-format) on the C files changed since the commit in
#     tools/dev/style-base, and on every file listed in tools/dev/style-clean
#     (files already formatted: the list only grows, until it is the tree);
#  b. .editorconfig's basics on the text files changed since that commit
#     (final newline, no trailing whitespace, spaces where it says spaces);
#  c. shellcheck on every shell script of the tree (the RPM scriptlets, inside
#     packaging/rpm/mamori.spec, are not checked);
#  d. commit subjects since that commit: at most 72 characters. A failure in
#     CI (CI=true or MAMORI_CI=1), a warning elsewhere.
# Prints each problem, then one line "style: ok" or "style: N problems"; exits
# 1 on any problem.
set -eu
cd "$(dirname "$0")/../.."
ci=0
if [ "${CI:-}" = true ] || [ "${MAMORI_CI:-0}" = 1 ]; then ci=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
problem() { echo "style: $1"; n=$((n + 1)); }

base=$(grep -v '^#' tools/dev/style-base | head -n1 | tr -cd '0-9a-f')
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null 2>&1; then
  # A shallow clone lacks it: only the listed files and the scripts then.
  problem "the base commit $base (tools/dev/style-base) is not in this clone: changed files not checked"
  base=
fi
# Changed since the base: committed, staged, in the work tree, or new.
if [ -n "$base" ]; then
  { git diff --name-only --diff-filter=d "$base" --; git ls-files --others --exclude-standard; } |
    sort -u >"$tmp/changed"
else
  : >"$tmp/changed"
fi

# a. clang-format
{ grep -E '\.[ch]$' "$tmp/changed" || true; grep -v '^#' tools/dev/style-clean | grep . || true; } |
  sort -u >"$tmp/c-files"
if ! command -v clang-format >/dev/null; then
  problem "clang-format is not installed (tools/dev/install-deps.sh test)"
else
  while read -r f; do
    [ -f "$f" ] || { problem "$f is listed in tools/dev/style-clean but does not exist"; continue; }
    if ! clang-format --dry-run -Werror "$f" >"$tmp/cf.log" 2>&1; then
      problem "$f is not formatted: clang-format -i $f ($(grep -c 'error:' "$tmp/cf.log" || true) places)"
      head -20 "$tmp/cf.log"
    fi
  done <"$tmp/c-files"
fi

# b. .editorconfig's basics
if [ -s "$tmp/changed" ]; then
  tr '\n' '\0' <"$tmp/changed" | xargs -0 /usr/bin/python3 tools/dev/editorconfig-check.py >"$tmp/ec.log" || true
  while read -r line; do problem "$line"; done <"$tmp/ec.log"
fi

# c. shellcheck: *.sh, executables starting with a sh or bash shebang, and
# Debian's maintainer scripts (their #DEBHELPER# token, where debhelper puts
# its code, is a comment to the shell and to shellcheck).
git ls-files --cached --others --exclude-standard | sort -u | while read -r f; do
  [ -f "$f" ] || continue
  case "$f" in
    *.sh | packaging/debian/*.postinst | packaging/debian/*.preinst | packaging/debian/*.prerm | \
      packaging/debian/*.postrm | packaging/debian/*.config) echo "$f"; continue ;;
  esac
  [ -x "$f" ] && head -n1 "$f" | grep -Eq '^#! ?(/usr)?/bin/(env )?(ba|da)?sh\b' && echo "$f"
done >"$tmp/scripts" || true
if ! command -v shellcheck >/dev/null; then
  problem "shellcheck is not installed (tools/dev/install-deps.sh test)"
else
  while read -r f; do
    shellcheck -f gcc "$f" >"$tmp/sc.log" 2>&1 || true
    while read -r line; do problem "$line"; done <"$tmp/sc.log"
  done <"$tmp/scripts"
fi

# d. commit subjects
if [ -n "$base" ]; then
  git log --format='%h %s' "$base..HEAD" | while read -r id subject; do
    len=$(printf '%s' "$subject" | LC_ALL=C.UTF-8 wc -m) # characters, whatever the caller's locale
    [ "$len" -le 72 ] || echo "commit $id: the subject has $len characters (at most 72): $subject"
  done >"$tmp/subjects"
  while read -r line; do
    if [ $ci = 1 ]; then problem "$line"; else echo "style: WARNING: $line (CI fails on this)"; fi
  done <"$tmp/subjects"
fi

if [ $n = 0 ]; then
  echo "style: ok ($(wc -l <"$tmp/c-files") C files formatted, $(wc -l <"$tmp/changed") changed files, $(wc -l <"$tmp/scripts") shell scripts)"
  exit 0
fi
echo "style: $n problems"
exit 1
