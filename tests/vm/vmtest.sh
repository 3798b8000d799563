#!/bin/bash
# Builds the small Debian 12 guest that mamori's end-to-end tests boot under
# QEMU: systemd + udev, a qemu-xhci USB controller, qemu-guest-agent, a 9p host
# share. vmtest.py boots it and drives it.
#
# Adapted from the team's shared vmtest harness (../shared/vmtest, vmtest.sh);
# the project carries its own copy so that it does not depend on ../shared.
# Changes: the cache holds one image per package set (img-<tag>/), so the test
# image and the benchmark image (with usbguard) coexist; the default cache is
# /var/tmp/mamori-vmtest-cache; python3 is in every image (the test collector);
# the guest's apt sources are the host's (bookworm, -updates, -security), so a
# .deb built on the host finds its library versions; usbguard, when asked for,
# is installed but masked.
#
#   vmtest.sh build [CACHE_ROOT]   build (or reuse) the image; prints its directory
#   vmtest.sh clean [CACHE_ROOT]
#
# Environment: VMTEST_EXTRA_PKGS  more guest packages, space separated (e.g. the
#                                 runtime libraries of a .deb installed with dpkg -i)
#              VMTEST_MIRROR      a Debian mirror URL (default: the host's apt sources)
set -Eeuo pipefail

BUILD_VERSION=1          # bump to force a rebuild of existing images
SUITE=bookworm
CACHE_ROOT=${2:-${VMTEST_CACHE:-/var/tmp/mamori-vmtest-cache}}

log() { printf '[vmtest %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# set -e ends the script at the first failing command: say which one (the
# caller captures stdout, so this goes to stderr).
on_err() { local rc=$?; log "ERROR: line $1: \"$2\" exited $rc"; }
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

GUEST_PKGS=(
    systemd systemd-sysv udev dbus kmod
    linux-image-amd64 initramfs-tools zstd
    qemu-guest-agent usbutils procps util-linux python3
)
read -r -a EXTRA_PKGS <<<"${VMTEST_EXTRA_PKGS:-}"
GUEST_PKGS+=("${EXTRA_PKGS[@]}")
PKGS_TAG=$(printf '%s\n' "${GUEST_PKGS[@]}" "v$BUILD_VERSION" | sort -u | md5sum | cut -c1-10)
IMG=$CACHE_ROOT/img-$PKGS_TAG

# The host's own apt sources (deb822 or one-line), as one sources.list for mmdebstrap.
host_sources() {
    local f
    if [ -n "${VMTEST_MIRROR:-}" ]; then
        echo "deb $VMTEST_MIRROR $SUITE main"
        return
    fi
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # a file without such a line (comments only, deb-src) is no error
        grep -E '^deb[[:space:]]' "$f" | grep -E "[[:space:]]$SUITE(-updates|-security)?[[:space:]]" || true
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # one "deb URI SUITE COMPONENTS" line per suite of each stanza
        awk -v want="$SUITE" '
            function flush() { if (t ~ /deb/ && u != "" && s != "") { n = split(s, a, " ");
                for (i = 1; i <= n; i++) if (a[i] ~ "^" want "(-updates|-security)?$") print "deb " u " " a[i] " " c }
                t = u = s = ""; c = "main" }
            BEGIN { c = "main" }
            /^[[:space:]]*$/ { flush(); next }
            /^Types:/ { t = $0 } /^URIs:/ { u = $2 } /^Suites:/ { $1 = ""; s = $0 } /^Components:/ { $1 = ""; c = $0 }
            END { flush() }' "$f"
    done
}

write_hooks() {
    local dir=$1
    # Runs before the kernel is installed: a small initramfs (ext4 root on virtio-blk only).
    cat >"$dir/essential-hook.sh" <<'EOF'
#!/bin/sh
set -e
R=$1
mkdir -p "$R/etc/initramfs-tools/conf.d" "$R/usr/share/initramfs-tools/modules.d"
printf 'MODULES=list\nCOMPRESS=zstd\n' >"$R/etc/initramfs-tools/conf.d/vmtest.conf"
printf '%s\n' virtio_pci virtio_blk crc32c_generic crc32c_intel ext4 \
    >"$R/usr/share/initramfs-tools/modules.d/vmtest"
EOF
    cat >"$dir/customize-hook.sh" <<'EOF'
#!/bin/sh
set -e
R=$1
echo vmtest >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vmtest\n' >"$R/etc/hosts"
chroot "$R" passwd --delete root >/dev/null
# a fixed machine-id: no first-boot logic
echo 5f2e0c6a4b1d4e8f9a7b3c2d1e0f9a8b >"$R/etc/machine-id"
printf '/dev/vda  /  ext4  rw,noatime,errors=remount-ro  0 0\n' >"$R/etc/fstab"
# host share: 9p tag "hostshare" -> /mnt/host; skipped (not failed) without -virtfs
mkdir -p "$R/mnt/host" "$R/etc/systemd/system/local-fs.target.wants"
cat >"$R/etc/systemd/system/mnt-host.mount" <<'UNIT'
[Unit]
Description=vmtest host share (9p mount_tag hostshare)
After=systemd-modules-load.service
ConditionPathExistsGlob=/sys/bus/virtio/drivers/9pnet_virtio/virtio*

[Mount]
What=hostshare
Where=/mnt/host
Type=9p
Options=trans=virtio,version=9p2000.L,msize=262144,cache=none

[Install]
WantedBy=local-fs.target
UNIT
ln -sf /etc/systemd/system/mnt-host.mount "$R/etc/systemd/system/local-fs.target.wants/mnt-host.mount"
# 9p share, guest agent transport, USB host controller
printf '%s\n' 9p 9pnet_virtio virtio_console xhci_pci >"$R/etc/modules-load.d/vmtest.conf"
mkdir -p "$R/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$R/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %I $TERM
UNIT
# things that only cost boot time in a throw-away VM
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
         fstrim.timer systemd-timesyncd.service man-db.timer dpkg-db-backup.timer \
         systemd-firstboot.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"
done
# usbguard is only for the benchmark, which starts it itself
if [ -e "$R/lib/systemd/system/usbguard.service" ]; then
    rm -f "$R/etc/systemd/system/"*.wants/usbguard*.service
    ln -sf /dev/null "$R/etc/systemd/system/usbguard.service"
    ln -sf /dev/null "$R/etc/systemd/system/usbguard-dbus.service"
fi
# PostgreSQL is only for the collector scenario, which starts its cluster itself
rm -f "$R/etc/systemd/system/multi-user.target.wants/postgresql.service"
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$R/etc/systemd/journald.conf.d/vmtest.conf"
# shrink: kernel modules this VM can never use
KVER=$(ls "$R/lib/modules" | sort -V | tail -1)
for d in drivers/gpu drivers/media drivers/net/wireless drivers/net/ethernet drivers/infiniband \
         drivers/staging drivers/iio drivers/bluetooth drivers/isdn drivers/net/can drivers/mtd \
         sound net/wireless net/mac80211 net/bluetooth fs/ocfs2 fs/xfs fs/btrfs fs/gfs2 fs/nfs fs/nfsd \
         fs/smb fs/ceph; do
    rm -rf "$R/lib/modules/$KVER/kernel/$d"
done
chroot "$R" depmod -a "$KVER"
rm -rf "$R/var/cache/apt/"*.bin "$R/var/lib/apt/lists/"* "$R/usr/share/doc/"* \
       "$R/usr/share/man/"* "$R/usr/share/locale/"* 2>/dev/null || true
EOF
    chmod +x "$dir/essential-hook.sh" "$dir/customize-hook.sh"
}

do_build() {
    [ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap, mkfs)"
    local stamp="$IMG/.built"
    if [ -f "$stamp" ]; then
        log "image $IMG is up to date"
        touch "$IMG/.used"
        echo "$IMG"
        return 0
    fi
    # The cache root may not exist yet (a fresh machine): create it before
    # anything looks into it.
    mkdir -p "$IMG"
    # images of other package sets that nothing used for 14 days
    local u
    while IFS= read -r u; do
        [ "${u%/.used}" = "$IMG" ] && continue
        log "removing unused image ${u%/.used}"; rm -rf "${u%/.used}"
    done < <(find "$CACHE_ROOT" -mindepth 2 -maxdepth 2 -name .used -mtime +14)
    # serialize concurrent builds of the same image
    exec 9>"$IMG/.lock"
    timeout 1800 flock 9 || die "could not lock $IMG/.lock"
    if [ -f "$stamp" ]; then echo "$IMG"; return 0; fi
    rm -f "$IMG/rootfs.img" "$IMG/vmlinuz" "$IMG/initrd.img"
    local work="$IMG/build.tmp"
    rm -rf "$work"; mkdir -p "$work"
    write_hooks "$work"
    host_sources | sort -u >"$work/sources.list"
    [ -s "$work/sources.list" ] || die "no $SUITE source in the host's apt sources; set VMTEST_MIRROR"
    local t0=$SECONDS inc
    inc=$(IFS=,; echo "${GUEST_PKGS[*]}")
    log "mmdebstrap $SUITE (minbase + $inc) ..."
    timeout 1800 mmdebstrap --mode=root --variant=minbase --format=directory \
        --aptopt='APT::Install-Recommends "false"' \
        --include="$inc" \
        --essential-hook="$work/essential-hook.sh \"\$1\"" \
        --customize-hook="$work/customize-hook.sh \"\$1\"" \
        "$SUITE" "$work/root" "$work/sources.list" >"$work/mmdebstrap.log" 2>&1 \
        || { tail -30 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $work/mmdebstrap.log)"; }
    log "mmdebstrap done in $((SECONDS - t0))s"
    local kver
    kver=$(basename "$(printf '%s\n' "$work/root/lib/modules/"* | sort -V | tail -1)")
    cp "$work/root/boot/vmlinuz-$kver" "$IMG/vmlinuz.tmp"
    cp "$work/root/boot/initrd.img-$kver" "$IMG/initrd.img.tmp"
    echo "$kver" >"$IMG/kernel-version"
    printf '%s\n' "${GUEST_PKGS[@]}" >"$IMG/packages"
    # QEMU boots the kernel directly; the image does not need it
    rm -f "$work/root/boot/"vmlinuz* "$work/root/boot/"initrd*
    local kb mb size_mb
    kb=$(du -sk "$work/root" | cut -f1)
    mb=$(( kb / 1024 ))
    size_mb=$(( mb * 13 / 10 + 256 ))
    truncate -s "${size_mb}M" "$IMG/rootfs.img.tmp"
    timeout 600 mkfs.ext4 -q -F -L vmroot -E root_owner=0:0 -d "$work/root" "$IMG/rootfs.img.tmp" \
        || die "mkfs.ext4 -d failed"
    mv "$IMG/vmlinuz.tmp" "$IMG/vmlinuz"
    mv "$IMG/initrd.img.tmp" "$IMG/initrd.img"
    mv "$IMG/rootfs.img.tmp" "$IMG/rootfs.img"
    rm -rf "$work"
    date -u +%FT%TZ >"$stamp"
    touch "$IMG/.used"
    log "built $IMG in $((SECONDS - t0))s (kernel $kver, $(du -sh "$IMG" | cut -f1))"
    echo "$IMG"
}

cmd=${1:-}
case "$cmd" in
    build) do_build ;;
    clean) rm -rf "$CACHE_ROOT" ;;
    *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
