#!/bin/sh
# The meson test 'vm-image-cache' (suite vm): the image build's cache handling
# on a machine that has never built an image, in a few seconds. vmtest.sh and
# prepare.sh run for real, with a stub mmdebstrap first on PATH that makes a
# tiny root tree instead of downloading Debian (mkfs.ext4 still runs).
#
# The real mmdebstrap path runs in vm-e2e whenever its cache is cold (a new CI
# machine, a new package set); a cold build there costs 29-142 s, too much to
# pay on every run just to prove that a missing cache root is handled.
# Checks: a cache root that does not exist yet (two levels deep) is created and
# the image built; the second build reuses it; an image unused for 14 days is
# pruned, a recent one kept; a failing mmdebstrap, a cache root that cannot be
# created, and a failing image build under prepare.sh and run-e2e.sh each end
# with a message that names what failed (not "DEB: parameter not set").
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then echo "vm-image-cache: needs root (vmtest.sh build); skipped"; exit 77; fi
for t in mkfs.ext4 dpkg-deb truncate flock; do
  command -v $t >/dev/null 2>&1 || { echo "vm-image-cache: $t missing; skipped"; exit 77; }
done

tmp=$(mktemp -d /tmp/mamori-vm-image-cache.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # name, then a command
  name=$1; shift
  if "$@"; then pass=$((pass + 1)); echo "CHECK $name OK"
  else fail=$((fail + 1)); echo "CHECK $name FAILED"; fi
}
has() { grep -q -- "$2" "$1"; }
hasnt() { ! grep -q -- "$2" "$1"; }

# the stub: logs its arguments, fails when STUB_FAIL is set, else makes the
# files vmtest.sh takes out of the tree (kernel, initrd, /lib/modules/VER)
mkdir -p "$tmp/bin"
cat >"$tmp/bin/mmdebstrap" <<'EOF'
#!/bin/sh
echo "$*" >>"$STUB_LOG"
[ -z "${STUB_FAIL:-}" ] || { echo "stub mmdebstrap: E: cannot reach the mirror" >&2; exit 1; }
for last; do :; done
n=$#; eval "target=\${$((n - 1))}"
[ -s "$last" ] || { echo "stub mmdebstrap: empty sources list $last" >&2; exit 1; }
mkdir -p "$target/boot" "$target/lib/modules/6.1.0-stub-amd64" "$target/etc"
echo kernel >"$target/boot/vmlinuz-6.1.0-stub-amd64"
echo initrd >"$target/boot/initrd.img-6.1.0-stub-amd64"
echo stub >"$target/etc/hostname"
EOF
chmod +x "$tmp/bin/mmdebstrap"
export PATH="$tmp/bin:$PATH" STUB_LOG="$tmp/stub.log" VMTEST_MIRROR=http://stub.invalid/debian
unset STUB_FAIL VMTEST_CACHE || true

root=$tmp/fresh/cache   # neither fresh/ nor cache/ exists
img=$(VMTEST_CACHE=$root VMTEST_EXTRA_PKGS="libfoo1" "$here/vmtest.sh" build 2>"$tmp/err1"); rc=$?
cat "$tmp/err1"
check "build with a cache root that does not exist yet exits 0" [ "$rc" = 0 ]
check "it prints the image directory, under the new cache root" sh -c "case '$img' in '$root'/img-*) true;; *) false;; esac"
check "the image is complete (stamp, rootfs.img, kernel, initrd)" \
  sh -c "[ -f '$img/.built' ] && [ -s '$img/rootfs.img' ] && [ -s '$img/vmlinuz' ] && [ -s '$img/initrd.img' ]"
check "mmdebstrap was asked for the extra package" has "$STUB_LOG" "libfoo1"

img2=$(VMTEST_CACHE=$root VMTEST_EXTRA_PKGS="libfoo1" "$here/vmtest.sh" build 2>/dev/null); rc=$?
check "a second build reuses the image (no mmdebstrap run)" \
  sh -c "[ '$rc' = 0 ] && [ '$img2' = '$img' ] && [ \$(wc -l <'$STUB_LOG') = 1 ]"

mkdir -p "$root/img-old" "$root/img-recent"
touch -d '20 days ago' "$root/img-old/.used"
touch "$root/img-recent/.used"
touch -d '20 days ago' "$img/.used"   # the image being asked for is never pruned
VMTEST_CACHE=$root VMTEST_EXTRA_PKGS="libbar1" "$here/vmtest.sh" build >/dev/null 2>"$tmp/err2"; rc=$?
check "another package set builds next to it" [ "$rc" = 0 ]
check "an image unused for 14 days is pruned" [ ! -e "$root/img-old" ]
check "a recently used image is kept" [ -d "$root/img-recent" ]
# (img was used 20 days ago: this build, for another package set, prunes it too)

STUB_FAIL=1 VMTEST_CACHE=$tmp/fresh2/cache "$here/vmtest.sh" build >"$tmp/out3" 2>"$tmp/err3"; rc=$?
check "a failing mmdebstrap fails the build" [ "$rc" != 0 ]
check "... and says so on stderr" has "$tmp/err3" "mmdebstrap failed"
check "... and prints no image directory" [ ! -s "$tmp/out3" ]

VMTEST_CACHE=/proc/mamori-no-such-dir/cache "$here/vmtest.sh" build >/dev/null 2>"$tmp/err4"; rc=$?
cat "$tmp/err4"
check "a cache root that cannot be created fails the build" [ "$rc" != 0 ]
check "... naming the command that failed" has "$tmp/err4" "ERROR: line [0-9]*: .*mkdir"

# prepare.sh and run-e2e.sh on a failing image build, with a stub .deb
mkdir -p "$tmp/deb/DEBIAN"
printf 'Package: mamori\nVersion: 0.0-stub\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDepends: libc6 (>= 2.34), libfoo1 | libbar1\nDescription: stub\n' \
  >"$tmp/deb/DEBIAN/control"
dpkg-deb -b "$tmp/deb" "$tmp/mamori_0.0-stub_amd64.deb" >/dev/null
export MAMORI_VM_DEB="$tmp/mamori_0.0-stub_amd64.deb"
VMTEST_CACHE=$tmp/fresh3/cache "$here/prepare.sh" "$tmp/out" >"$tmp/out5" 2>"$tmp/err5"; rc=$?
check "prepare.sh with a fresh cache root prints DEB= and IMAGE=" \
  sh -c "[ '$rc' = 0 ] && grep -q '^DEB=$MAMORI_VM_DEB\$' '$tmp/out5' && grep -q '^IMAGE=$tmp/fresh3/cache/img-' '$tmp/out5'"
check "prepare.sh derived the guest packages from Depends" has "$STUB_LOG" "libc6,libfoo1"
# the collector's package (MAMORI_VM_COLLECTOR=1, as run-e2e.sh sets it): found
# next to the agent's, its Depends and the scenario's database in the image
MAMORI_VM_COLLECTOR=1 VMTEST_CACHE=$tmp/fresh3/cache "$here/prepare.sh" "$tmp/out" >"$tmp/out8" 2>"$tmp/err8"; rc=$?
check "prepare.sh without a mamori-collector .deb next to the agent's fails, saying so" \
  sh -c "[ '$rc' != 0 ] && grep -q 'no mamori-collector .deb' '$tmp/err8' && [ ! -s '$tmp/out8' ]"
mkdir -p "$tmp/cdeb/DEBIAN"
printf 'Package: mamori-collector\nVersion: 0.0-stub\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDepends: libmicrohttpd12, libpq5\nDescription: stub\n' \
  >"$tmp/cdeb/DEBIAN/control"
dpkg-deb -b "$tmp/cdeb" "$tmp/mamori-collector_0.0-stub_amd64.deb" >/dev/null
MAMORI_VM_COLLECTOR=1 VMTEST_CACHE=$tmp/fresh3/cache "$here/prepare.sh" "$tmp/out" >"$tmp/out9" 2>"$tmp/err9"; rc=$?
check "prepare.sh with MAMORI_VM_COLLECTOR=1 prints COLLECTOR_DEB= (the package next to the agent's)" \
  sh -c "[ '$rc' = 0 ] && grep -q '^COLLECTOR_DEB=$tmp/mamori-collector_0.0-stub_amd64.deb\$' '$tmp/out9'"
check "... and the image gets its Depends, postgresql, openssl and sqlite3" \
  sh -c "tail -1 '$STUB_LOG' | grep -q 'libmicrohttpd12,libpq5,postgresql,openssl,sqlite3'"
STUB_FAIL=1 VMTEST_CACHE=$tmp/fresh4/cache "$here/prepare.sh" "$tmp/out" >"$tmp/out6" 2>"$tmp/err6"; rc=$?
cat "$tmp/err6"
check "prepare.sh fails when the image build fails" [ "$rc" != 0 ]
check "... saying so" has "$tmp/err6" "prepare: building the guest image failed"
check "... and prints nothing to eval" [ ! -s "$tmp/out6" ]
if command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null; then
  # (no package to upgrade from: it would be built for real)
  MAMORI_VM_UPGRADE_FROM="" STUB_FAIL=1 VMTEST_CACHE=$tmp/fresh5/cache "$here/run-e2e.sh" "$tmp" >"$tmp/out7" 2>&1; rc=$?
  cat "$tmp/out7"
  check "run-e2e.sh fails when prepare.sh fails" [ "$rc" = 1 ]
  check "... saying so, not 'DEB: parameter not set'" \
    sh -c "grep -q 'vm test: prepare.sh failed' '$tmp/out7' && ! grep -q 'parameter not set' '$tmp/out7'"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
