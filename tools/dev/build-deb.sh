#!/bin/sh
# Builds the Debian package from this checkout: copies the source tree (what
# git tracks, plus new files it does not ignore) to a scratch directory, puts
# packaging/debian at its top where Debian wants it, and runs
# `dpkg-buildpackage -us -uc -b`. The .deb (and -dbgsym) land in OUTDIR.
#
#   tools/dev/build-deb.sh [OUTDIR]     (default: build-deb/)
#   LINTIAN=1 tools/dev/build-deb.sh    also runs lintian on the result
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
out=${1:-$top/build-deb}
case "$out" in /*) ;; *) out=$top/$out ;; esac

version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -1)
deb_version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [ "${deb_version%%-*}" != "$version" ]; then
  echo "packaging/debian/changelog says $deb_version but meson.build says $version" >&2
  exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mamori-deb.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
src=$scratch/mamori-$version
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # shellcheck disable=SC2016 # the inner sh expands $f, not this one
  git ls-files -z --cached --others --exclude-standard |
    (cd "$top" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
    tar -C "$top" --null -T - -cf - | tar -C "$src" -xf -
else
  tar -C "$top" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$src" -xf -
fi
rm -rf "$src/debian"
cp -a packaging/debian "$src/debian"

(cd "$src" && dpkg-buildpackage -us -uc -b)

mkdir -p "$out"
for f in "$scratch"/*.deb "$scratch"/*.ddeb "$scratch"/*.changes "$scratch"/*.buildinfo; do
  [ -e "$f" ] && cp "$f" "$out/"
done
if [ "${LINTIAN:-0}" = 1 ]; then
  lintian --info --display-info --pedantic "$out"/mamori_"$version"_*.changes
fi
ls -1 "$out"/*.deb
