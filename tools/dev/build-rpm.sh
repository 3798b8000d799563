#!/bin/sh
# Builds the RPM from this checkout: a source tarball of the tree (what git
# tracks, plus new files it does not ignore), then rpmbuild -bb with
# packaging/rpm/mamori.spec in a scratch _topdir. The .rpm lands in OUTDIR.
#
#   tools/dev/build-rpm.sh [OUTDIR]     (default: build-rpm/)
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
out=${1:-$top/build-rpm}
case "$out" in /*) ;; *) out=$top/$out ;; esac

spec=packaging/rpm/mamori.spec
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -1)
spec_version=$(sed -n 's/^Version: *//p' "$spec")
if [ "$spec_version" != "$version" ]; then
  echo "$spec says $spec_version but meson.build says $version" >&2
  exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mamori-rpm.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/SOURCES" "$scratch/src/mamori-$version"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # shellcheck disable=SC2016 # the inner sh expands $f, not this one
  git ls-files -z --cached --others --exclude-standard |
    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
    tar --null -T - -cf - | tar -C "$scratch/src/mamori-$version" -xf -
else
  tar --exclude='./build*' --exclude=./.git -cf - . | tar -C "$scratch/src/mamori-$version" -xf -
fi
tar -C "$scratch/src" -czf "$scratch/SOURCES/mamori-$version.tar.gz" "mamori-$version"

# An rpm database that knows no packages (Debian's rpm) cannot check
# BuildRequires: the build would fail on every one.
nodeps=
rpm -q rpm >/dev/null 2>&1 || nodeps=--nodeps
rpmbuild --define "_topdir $scratch" $nodeps -bb "$spec"

mkdir -p "$out"
find "$scratch/RPMS" -name '*.rpm' -exec cp {} "$out/" \;
ls -1 "$out"/*.rpm
