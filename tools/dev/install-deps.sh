#!/bin/sh
# Installs what mamori needs on Debian 12 (as root): "build" for building and
# running the agent, "test" for the whole test suite as well.
set -eu
what=${1:-build}

build_pkgs="meson ninja-build pkg-config gcc libc6-dev libudev-dev libsystemd-dev
  libnl-3-dev libnl-route-3-dev libnl-genl-3-dev libconfig-dev libjson-c-dev libcurl4-openssl-dev
  libssl-dev zlib1g-dev libmicrohttpd-dev libgnutls28-dev libsqlite3-dev libpq-dev
  libcrypt-dev"
test_pkgs="$build_pkgs libcmocka-dev umockdev libumockdev-dev gir1.2-umockdev-1.0
  python3 python3-gi python3-dbus python3-dbusmock python3-pytest dbus-daemon dbus openssl iproute2 udev kmod
  systemd clang libclang-rt-14-dev clamav initramfs-tools gcovr clang-format shellcheck
  debhelper dpkg-dev devscripts fakeroot rpm lintian man-db bash-completion desktop-file-utils
  qemu-system-x86 qemu-utils mmdebstrap e2fsprogs zstd clang-tools postgresql"
# the VM test builds the package it upgrades from (a614a22), which linked libkmod
test_pkgs="$test_pkgs libkmod-dev"
# the review console's browser test (tests/integration/test_console_browser.py)
test_pkgs="$test_pkgs chromium chromium-driver python3-selenium libnss3-tools fonts-ipafont-gothic"
# full scans from the journal (test_av_detect.py): journal files made from the export format
test_pkgs="$test_pkgs systemd-journal-remote"

case "$what" in
  build) pkgs=$build_pkgs ;;
  test)  pkgs=$test_pkgs ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

# shellcheck disable=SC2086 # $pkgs is a list of words
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $pkgs 2>/dev/null | awk '$4 != "installed" {print $1}')
# dpkg-query says nothing about packages it has never heard of
for p in $pkgs; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
missing=$(for p in $missing; do echo "$p"; done | sort -u | tr '\n' ' ')
if [ -n "${missing# }" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
