#!/bin/sh
# Gets a guest image ready for a mamori .deb: builds the .deb from this tree
# (tools/dev/build-deb.sh) unless MAMORI_VM_DEB names one, and the package to
# upgrade from when MAMORI_VM_UPGRADE_FROM names a commit (or MAMORI_VM_OLD_DEB
# a file), derives the guest packages from their Depends (so that `dpkg -i`
# works offline in the guest: a missing dependency fails the test), and builds
# or reuses the cached image.
# With MAMORI_VM_COLLECTOR=1 (run-e2e.sh) also the mamori-collector .deb of the
# same build (or MAMORI_VM_COLLECTOR_DEB), its Depends and postgresql, openssl
# and sqlite3 (the collector scenario, e2e_collector.py).
# Prints DEB=..., OLD_DEB=... (empty: none), COLLECTOR_DEB=... (empty: none)
# and IMAGE=... for eval; logs go to stderr.
#
#   tests/vm/prepare.sh OUTDIR [EXTRA_GUEST_PACKAGES...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=$1; shift
mkdir -p "$out"

deb=${MAMORI_VM_DEB:-}
if [ -z "$deb" ]; then
  rm -rf "$out/deb"
  # the package build runs no tests (nocheck), so this cannot recurse
  DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" "$top/tools/dev/build-deb.sh" "$out/deb" >"$out/build-deb.log" 2>&1 ||
    { tail -40 "$out/build-deb.log" >&2; echo "prepare: building the .deb failed ($out/build-deb.log)" >&2; exit 1; }
  deb=
  for f in "$out"/deb/mamori_*.deb; do
    case "$f" in *dbgsym*) continue ;; esac
    [ -f "$f" ] && { deb=$f; break; }
  done
  [ -n "$deb" ] ||
    { echo "prepare: tools/dev/build-deb.sh made no mamori_*.deb in $out/deb" >&2; exit 1; }
fi
[ -f "$deb" ] || { echo "prepare: no .deb ($deb)" >&2; exit 1; }

# The collector's package: built with the agent's (one source, two binary packages)
cdeb=
if [ "${MAMORI_VM_COLLECTOR:-0}" = 1 ]; then
  cdeb=${MAMORI_VM_COLLECTOR_DEB:-}
  if [ -z "$cdeb" ]; then
    for f in "$(dirname "$deb")"/mamori-collector_*.deb; do
      case "$f" in *dbgsym*) continue ;; esac
      [ -f "$f" ] && { cdeb=$f; break; }
    done
  fi
  if [ -z "$cdeb" ] || [ ! -f "$cdeb" ]; then
    echo "prepare: no mamori-collector .deb next to $deb (MAMORI_VM_COLLECTOR_DEB=...)" >&2; exit 1
  fi
fi

# The package to upgrade from (vm-e2e's upgrade scenario): MAMORI_VM_OLD_DEB,
# or built once from the commit MAMORI_VM_UPGRADE_FROM names (kept in OUTDIR).
old=${MAMORI_VM_OLD_DEB:-}
if [ -z "$old" ] && [ -n "${MAMORI_VM_UPGRADE_FROM:-}" ]; then
  if commit=$(git -C "$top" rev-parse --verify -q "${MAMORI_VM_UPGRADE_FROM}^{commit}"); then
    olddir=$out/old-$commit
    if ! ls "$olddir"/mamori_*.deb >/dev/null 2>&1; then
      src=$(mktemp -d "${TMPDIR:-/tmp}/mamori-old-src.XXXXXX")
      # outside this checkout: build-deb.sh takes what git tracks when in one
      git -C "$top" archive "$commit" | tar -C "$src" -xf -
      DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" "$src/tools/dev/build-deb.sh" "$olddir" >"$out/build-old-deb.log" 2>&1 ||
        { tail -40 "$out/build-old-deb.log" >&2; rm -rf "$src" "$olddir"
          echo "prepare: building the package of $MAMORI_VM_UPGRADE_FROM failed ($out/build-old-deb.log)" >&2; exit 1; }
      rm -rf "$src"
    fi
    for f in "$olddir"/mamori_*.deb; do old=$f; done
  else
    echo "prepare: $MAMORI_VM_UPGRADE_FROM is not in this clone (a shallow one?): no package to upgrade from" >&2
  fi
fi

# "libc6 (>= 2.34), libfoo1 | libbar1, ..." -> "libc6 libfoo1 ..." (first alternative)
fields=
for d in "$deb" $old $cdeb; do
  fields="$fields
$(dpkg-deb -f "$d" Pre-Depends Depends)" ||
    { echo "prepare: dpkg-deb cannot read the control fields of $d" >&2; exit 1; }
done
deps=$(printf '%s\n' "$fields" | sed 's/^[A-Za-z-]*: //' |
  tr ',' '\n' | sed 's/|.*//; s/([^)]*)//g; s/:any//; s/[[:space:]]//g' | grep -v '^$' | sort -u | tr '\n' ' ')
echo "prepare: $(basename "$deb") depends on: $deps" >&2
# the collector scenario's database, its client certificate request, its checks
if [ -n "$cdeb" ]; then deps="$deps postgresql openssl sqlite3"; fi
# the EICAR scenario (e2e_eicar.py): the real clamd, its AppArmor profile
# loaded as on a Debian PC, and ip for the outside namespace
deps="$deps clamav-daemon clamdscan apparmor iproute2"

# vmtest.sh logs to stderr and prints the image directory on stdout; a
# failure inside a $(...) would end this script without a word (set -e).
rc=0
image=$(VMTEST_EXTRA_PKGS="$deps $*" "$here/vmtest.sh" build) || rc=$?
if [ "$rc" != 0 ] || [ ! -f "$image/.built" ]; then
  echo "prepare: building the guest image failed (vmtest.sh build exited $rc; cache ${VMTEST_CACHE:-/var/tmp/mamori-vmtest-cache}; image '$image')" >&2
  exit 1
fi
echo "DEB=$deb"
echo "OLD_DEB=$old"
echo "COLLECTOR_DEB=$cdeb"
echo "IMAGE=$image"
