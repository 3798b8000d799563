# SPDX-License-Identifier: MIT
"""The Debian and RPM packages, built from this tree with the project's own
scripts: what they contain, that every file under /etc/mamori is a conffile
that an upgrade never overwrites, that lintian has nothing to say, and that
their maintainer scripts enable the service on install and remove the state
on purge (run for real, in a private mount namespace)."""

import os
import re
import shutil
import subprocess
import tarfile
import io
import tempfile

import pytest

SOURCE = os.environ["MAMORI_SOURCE_DIR"]
BUILD = os.environ.get("MAMORI_BUILD_DIR", "")
MAMORID = os.environ.get("MAMORID")
MAMORICTL = os.environ.get("MAMORICTL")
MAMORI_UPLINK = os.environ.get("MAMORI_UPLINK") or os.path.join(BUILD, "agent", "uplink", "mamori-uplink")
# as tests/systemd/test_units.py: mamorid off the network, the uplink without privilege
EXPOSURE_MAX = {"mamori.service": 1.6, "mamori-uplink.service": 2.0}  # 1.6: see tests/systemd
UNITS = ("mamori.service", "mamori-uplink.service")
# enabled and started by the package too: the quarantine's rules at boot (docs/quarantine.md)
PACKAGED_UNITS = UNITS + ("mamori-netguard.service",)
UPLINK_BIN = "/usr/sbin/mamori-uplink"


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)  # a package build takes minutes, a hang fails
    p = subprocess.run(cmd, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    if shutil.which("dpkg-buildpackage") is None:
        pytest.skip("dpkg-dev missing")
    out = tmp_path_factory.mktemp("deb")
    run([os.path.join(SOURCE, "tools/dev/build-deb.sh"), str(out)], cwd=SOURCE)
    debs = [f for f in os.listdir(out) if re.match(r"mamori_.*\.deb$", f)]
    assert len(debs) == 1, os.listdir(out)
    return out, out / debs[0]


@pytest.fixture(scope="module")
def rpm(tmp_path_factory):
    if shutil.which("rpmbuild") is None:
        pytest.skip("rpm missing")
    out = tmp_path_factory.mktemp("rpm")
    run([os.path.join(SOURCE, "tools/dev/build-rpm.sh"), str(out)], cwd=SOURCE)
    rpms = [f for f in os.listdir(out) if re.match(r"mamori-\d.*\.rpm$", f)]
    assert len(rpms) == 1, os.listdir(out)
    return out / rpms[0]


def deb_files(path):
    """{path: (mode, type)} of the data archive."""
    lines = run(["dpkg-deb", "-c", str(path)]).stdout.splitlines()
    files = {}
    for line in lines:
        perms, _, _, _, _, name = line.split(None, 5)
        name = name.split(" -> ")[0].lstrip(".")
        files[name.rstrip("/") or "/"] = perms
    return files


def deb_control(path, tmp_path, name):
    d = tmp_path / "control"
    if not d.exists():
        run(["dpkg-deb", "-e", str(path), str(d)])
    f = d / name
    return f.read_text() if f.exists() else ""


EXPECTED = ["/usr/sbin/mamorid", "/usr/bin/mamorictl", "/usr/share/man/man8/mamorictl.8",
            "/usr/share/bash-completion/completions/mamorictl", "/etc/mamori/mamori.conf", "/etc/mamori/allow.d/00-example.conf",
            "/usr/lib/systemd/catalog/mamori.catalog", "/usr/share/man/man8/mamorid.8",
            "/usr/share/man/man5/mamori.conf.5", "/usr/share/man/ja/man5/mamori.conf.5",
            "/usr/share/man/ja/man8/mamorid.8", "/usr/share/man/ja/man8/mamorictl.8",
            # notices for the person at the seat
            "/usr/bin/mamori-notify", "/usr/share/dbus-1/system.d/org.mamori.Notice1.conf",
            "/etc/xdg/autostart/mamori-notify.desktop", "/usr/lib/systemd/user/mamori-notify.service",
            "/usr/share/man/man1/mamori-notify.1", "/usr/share/man/ja/man1/mamori-notify.1",
            # gives the USB devices back on removal (prerm / %preun)
            "/usr/libexec/mamori/mamori-release",
            # the delivery, as its own user (issue 11)
            UPLINK_BIN, "/usr/lib/sysusers.d/mamori.conf", "/usr/lib/tmpfiles.d/mamori.conf",
            "/usr/share/man/man8/mamori-uplink.8", "/usr/share/man/ja/man8/mamori-uplink.8",
            # systemd-networkd leaves the quarantine's rules alone (issue 15)
            "/usr/lib/systemd/networkd.conf.d/60-mamori.conf"]
# the udev rule's helper (storage behind a harmless class), next to udev's own
UDEV_HELPER = {"deb": "/lib/udev/mamori-usb-alias", "rpm": "/usr/lib/udev/mamori-usb-alias"}


def test_deb_contents(deb, tmp_path):
    files = deb_files(deb[1])
    names = set(files)
    for f in EXPECTED + [UDEV_HELPER["deb"]]:
        assert f in names or f + ".gz" in names, f"{f} not in the .deb: {sorted(names)}"
    assert "/lib/systemd/system/mamori.service" in names
    assert "/lib/systemd/system/mamori-uplink.service" in names
    assert files["/etc/mamori/allow.d"].startswith("drwx------")
    assert files["/etc/mamori/allow.d/00-example.conf"].startswith("-rw-------")
    assert files["/usr/sbin/mamorid"].startswith("-rwxr-xr-x")
    assert files[UPLINK_BIN].startswith("-rwxr-xr-x")
    # both programs in the one package: enabled together, upgraded together
    assert run(["dpkg-deb", "-f", str(deb[1]), "Package"]).stdout.strip() == "mamori"
    control = deb_control(deb[1], tmp_path, "control")
    # postinst runs systemd-sysusers
    assert re.search(r"^Depends:.*\bsystemd\b", control, re.M), control
    assert re.search(r"^Depends:.*libsystemd0", control, re.M), control
    # The shipped policy checks ClamAV's pattern and that freshclam runs.
    assert re.search(r"^Recommends:.*\bclamav-freshclam\b", control, re.M), control
    assert files["/usr/libexec/mamori/mamori-release"].startswith("-rwxr-xr-x")


def deb_file_text(path, name):
    data = run(["dpkg-deb", "--fsys-tarfile", str(path)], text=False).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return t.extractfile("." + name).read().decode()


def check_autostart(text):
    """The autostart file starts nothing once the binary is gone."""
    entry = dict(l.split("=", 1) for l in text.splitlines() if "=" in l)
    assert entry.get("TryExec") == "/usr/bin/mamori-notify", text
    assert entry.get("Exec", "").split()[0] == entry["TryExec"], text


def test_deb_autostart_has_tryexec(deb):
    check_autostart(deb_file_text(deb[1], "/etc/xdg/autostart/mamori-notify.desktop"))


def test_deb_every_file_in_etc_is_a_conffile(deb, tmp_path):
    etc = {f for f, perms in deb_files(deb[1]).items() if f.startswith("/etc/") and perms.startswith("-")}
    assert etc
    conffiles = set(deb_control(deb[1], tmp_path, "conffiles").split())
    assert etc == conffiles


def test_deb_lintian_clean(deb):
    if shutil.which("lintian") is None:
        pytest.skip("lintian missing")
    changes = [f for f in os.listdir(deb[0]) if f.endswith(".changes")]
    p = subprocess.run(["lintian", "--pedantic", "--display-info", "--show-overrides", str(deb[0] / changes[0])],
                       capture_output=True, text=True, timeout=600)
    print(p.stdout, p.stderr)
    bad = [l for l in p.stdout.splitlines() if re.match(r"^[EW]: ", l)]
    assert not bad, "lintian:\n" + "\n".join(bad)
    # Every override carries its reason (the comment above it).
    for name in ("mamori", "mamori-collector"):
        text = open(os.path.join(SOURCE, f"packaging/debian/{name}.lintian-overrides")).read()
        for block in text.split("\n\n"):
            lines = block.strip().splitlines()
            if any(not l.startswith("#") for l in lines):
                assert lines[0].startswith("#"), f"override without a reason: {block}"


def test_deb_maintainer_scripts(deb, tmp_path):
    postinst = deb_control(deb[1], tmp_path, "postinst")
    prerm = deb_control(deb[1], tmp_path, "prerm")
    postrm = deb_control(deb[1], tmp_path, "postrm")
    for unit in PACKAGED_UNITS:
        assert f"deb-systemd-helper enable '{unit}'" in postinst, unit
        assert f"deb-systemd-invoke stop '{unit}'" in prerm or \
            re.search(r"deb-systemd-invoke stop .*'%s'" % re.escape(unit), prerm), unit
    start = re.search(r"deb-systemd-invoke \$_dh_action (.*)", postinst)
    assert re.search(r"_dh_action=start", postinst) and start, postinst
    assert sorted(start.group(1).replace(">/dev/null || true", "").split()) == sorted(f"'{u}'" for u in PACKAGED_UNITS), start.group(0)
    # the user and the spool's group before either unit starts
    assert postinst.index("systemd-sysusers") < postinst.index("systemd-tmpfiles") < start.start(), postinst
    assert "rm -rf /var/lib/mamori /var/lib/mamori-uplink /etc/mamori" in postrm
    # stopped first, then the devices given back
    assert prerm.index("deb-systemd-invoke stop") < prerm.index("/usr/libexec/mamori/mamori-release")
    assert "udevadm control --reload" in postrm
    # the initramfs loses the rule on removal: dpkg runs update-initramfs
    assert "activate-noawait update-initramfs" in deb_control(deb[1], tmp_path, "triggers")
    for name in ("postinst", "prerm", "postrm"):
        p = subprocess.run(["sh", "-n"], input=deb_control(deb[1], tmp_path, name), capture_output=True, text=True)
        assert p.returncode == 0, f"{name}: {p.stderr}"


def test_deb_unit_verifies(deb, tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze missing")
    unit = deb_file_text(deb[1], "/lib/systemd/system/mamori.service")
    assert "ExecStart=/usr/sbin/mamorid" in unit
    assert "ExecReload=/usr/bin/mamorictl reload" in unit
    (tmp_path / "mamori.service").write_text(unit.replace("ExecStart=/usr/sbin/mamorid", "ExecStart=" + MAMORID)
                                             .replace("ExecReload=/usr/bin/mamorictl", "ExecReload=" + MAMORICTL))
    unit = deb_file_text(deb[1], "/lib/systemd/system/mamori-uplink.service")
    assert f"ExecStart={UPLINK_BIN}\n" in unit
    (tmp_path / "mamori-uplink.service").write_text(unit.replace(f"ExecStart={UPLINK_BIN}", "ExecStart=" + MAMORI_UPLINK))
    paths = [str(tmp_path / u) for u in UNITS]
    p = subprocess.run(["systemd-analyze", "verify", "--man=no"] + paths, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and p.stderr == "" and p.stdout == "", p.stderr
    for u, path in zip(UNITS, paths):
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes", path], capture_output=True, text=True, timeout=600)
        m = re.search(r"Overall exposure level for %s: (\d+(?:\.\d+)?)" % re.escape(u), p.stdout + p.stderr)
        assert m and float(m.group(1)) <= EXPOSURE_MAX[u], p.stdout + p.stderr
        print(f"{u} (as packaged): exposure {m.group(1)}")


def in_scratch_system(script, units, files):
    """Runs script (sh) in a private mount namespace in which systemd's unit and
    state directories, /var/lib and the host's USB and module attributes are
    empty tmpfs, and systemd does not seem
    to run, so maintainer scripts act for real on nothing that matters."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare")
    etc = tempfile.mkdtemp(prefix="mamori-etc.", dir="/var/tmp")
    os.mkdir(etc + "/upper")
    os.mkdir(etc + "/work")
    setup = """
set -e
# /etc: the host's, with every change going to a scratch directory
mount -t overlay overlay -o lowerdir=/etc,upperdir=%s/upper,workdir=%s/work /etc
# /run (the scripts are written there) and /usr/libexec (mamori-release): scratch too
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd
mount -t tmpfs tmpfs /usr/libexec
mkdir -p /usr/libexec/mamori
for d in /etc/systemd/system /var/lib /run/systemd /lib/systemd/system; do
  mount -t tmpfs tmpfs "$d"
done
# the scripts give root hubs, interfaces and usbcore their defaults back: not
# the host's. An empty sysfs, in which a test makes its own USB devices.
mount -t tmpfs tmpfs /sys
mkdir -p /sys/bus/usb/devices /sys/module
mkdir -p /var/lib/dpkg
mkdir -p /run/sysusers.d /run/tmpfiles.d
""" % (etc, etc)
    for name, text in units.items():
        setup += f"cat > /lib/systemd/system/{name} <<'UNIT'\n{text}\nUNIT\n"
    for name, text in files.items():
        setup += f"cat > {name} <<'SCRIPT'\n{text}\nSCRIPT\nchmod +x {name}\n"
    env = dict(os.environ, DPKG_MAINTSCRIPT_PACKAGE="mamori", DPKG_MAINTSCRIPT_NAME="test")
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", setup + script],
                              capture_output=True, text=True, env=env, timeout=600)
    finally:
        shutil.rmtree(etc, ignore_errors=True)


# A root hub and a blocked interface in the scratch /sys/bus/usb/devices, as the
# rule and mamorid leave them; the interface has its driver already, so that
# nothing is written to the host's drivers_probe.
FAKE_USB = """
d=/sys/bus/usb/devices
mkdir -p $d/usb1 $d/1-1 "$d/1-1:1.0" $d/usb-storage
echo 0 > $d/usb1/interface_authorized_default
echo 0 > "$d/1-1:1.0/authorized"
ln -s $d/usb-storage "$d/1-1:1.0/driver"
"""
GIVEN_BACK = """
test "$(cat $d/usb1/interface_authorized_default)" = 1
test "$(cat "$d/1-1:1.0/authorized")" = 1
echo given-back
"""


def test_deb_install_enables_and_purge_removes_state(deb, tmp_path):
    if shutil.which("deb-systemd-helper") is None:
        pytest.skip("init-system-helpers missing")
    units = {u: deb_file_text(deb[1], "/lib/systemd/system/" + u) for u in PACKAGED_UNITS}
    scripts = {f"/run/{n}": deb_control(deb[1], tmp_path, n) for n in ("postinst", "prerm", "postrm")}
    release = "/usr/libexec/mamori/mamori-release"
    scripts[release] = deb_file_text(deb[1], release)
    # (systemd-sysusers and systemd-tmpfiles find them in /run: the scratch /usr is the host's)
    for d in ("sysusers.d", "tmpfiles.d"):
        scripts[f"/run/{d}/mamori.conf"] = deb_file_text(deb[1], f"/usr/lib/{d}/mamori.conf")
    p = in_scratch_system(UPGRADE_SPOOL + """
/run/postinst configure 0.1.0 >/run/postinst.out
test -L /etc/systemd/system/multi-user.target.wants/mamori.service
test -L /etc/systemd/system/multi-user.target.wants/mamori-uplink.service
test -L /etc/systemd/system/sysinit.target.wants/mamori-netguard.service
echo enabled
""" + UPGRADED_SPOOL + """
mkdir -p /var/lib/mamori && echo x > /var/lib/mamori/events.jsonl
mkdir -p /var/lib/mamori-uplink && echo x > /var/lib/mamori-uplink/cursor
mkdir -p /etc/mamori/allow.d && echo x > /etc/mamori/allow.d/50-admin.conf
""" + FAKE_USB + """
/run/prerm remove > /run/prerm.out
""" + GIVEN_BACK + """
/run/postrm remove
test -e /var/lib/mamori/events.jsonl && test -e /etc/mamori/allow.d/50-admin.conf
echo state-kept-on-remove
/run/postrm purge
test ! -e /var/lib/mamori && test ! -e /var/lib/mamori-uplink
test ! -e /etc/mamori
test ! -e /etc/systemd/system/multi-user.target.wants/mamori.service
test ! -e /etc/systemd/system/multi-user.target.wants/mamori-uplink.service
echo purged
cat /run/prerm.out /run/postinst.out >&2
""", units, scripts)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == ["enabled", "spool-for-the-uplink", "given-back", "state-kept-on-remove", "purged"]
    check_key_notice(p.stderr)
    assert "mamori: 1-1:1.0 (" in p.stderr and "driver usb-storage" in p.stderr, p.stderr
    # the prerm said what a purge deletes
    assert "a purge deletes it entirely" in p.stderr and "/etc/mamori/allow.d/50-admin.conf" in p.stderr, p.stderr


# The one-process version's state before an upgrade: a spool that was root's
# alone, and a client key readable by root only (what its man page asked).
UPGRADE_SPOOL = """
mkdir -p -m 700 /var/lib/mamori/spool
for f in 0000000000000001.seg cursor; do echo x >/var/lib/mamori/spool/$f; chmod 600 /var/lib/mamori/spool/$f; done
mkdir -p /etc/mamori && install -m 600 /dev/null /etc/mamori/client.key
printf 'collector = {\\n  url = "https://c.invalid/";\\n  client_key = "/etc/mamori/client.key";\\n};\\n' >/etc/mamori/mamori.conf
"""
# ...and after it: the user exists, the spool is its group's to read, not the key
UPGRADED_SPOOL = """
getent passwd mamori-uplink >/dev/null
test "$(stat -c %a:%U:%G /var/lib/mamori)" = 711:root:root
test "$(stat -c %a:%U:%G /var/lib/mamori/spool)" = 2750:root:mamori-uplink
test "$(stat -c %a:%U:%G /var/lib/mamori/spool/0000000000000001.seg)" = 640:root:mamori-uplink
test "$(stat -c %a:%U:%G /var/lib/mamori/spool/cursor)" = 640:root:mamori-uplink
runuser -u mamori-uplink -- cat /var/lib/mamori/spool/cursor >/dev/null
test "$(stat -c %a:%G /etc/mamori/client.key)" = 600:root
echo spool-for-the-uplink
"""


def check_key_notice(out):
    # the administrator is told what to do about the key, in both languages
    assert "mamori: /etc/mamori/client.key must be readable by mamori-uplink" in out, out
    assert "chown root:mamori-uplink /etc/mamori/client.key && chmod 0640 /etc/mamori/client.key" in out, out
    assert "mamori-uplink が読める必要があります" in out, out


def rpm_query(path, fmt):
    return run(["rpm", "-qp", "--qf", fmt, str(path)]).stdout


def test_rpm_every_file_in_etc_is_config_noreplace(rpm):
    rows = [l.split(" ", 2) for l in rpm_query(rpm, "[%{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILENAMES}\n]").splitlines()]
    files = {r[2]: (r[0], r[1]) for r in rows}
    for f in EXPECTED + ["/usr/lib/systemd/system/" + u for u in UNITS] + [UDEV_HELPER["rpm"]]:
        assert f in files or f + ".gz" in files, f"{f} not in the rpm"
    etc = {f: v for f, v in files.items() if f.startswith("/etc/") and v[0].startswith("-")}
    assert etc
    for f, (perms, flags) in etc.items():
        assert "c" in flags and "n" in flags, f"{f} is not %config(noreplace): {flags}"
    assert files["/etc/mamori/allow.d"][0] == "drwx------"
    assert files["/etc/mamori/allow.d/00-example.conf"][0] == "-rw-------"


def test_rpm_scripts_enable_start_stop_and_purge(rpm):
    scripts = run(["rpm", "-qp", "--scripts", str(rpm)]).stdout
    pre = scripts.split("preinstall scriptlet")[1].split("scriptlet")[0]
    assert "systemd-sysusers" in pre and "mamori-uplink" in pre
    post = scripts.split("postinstall scriptlet")[1].split("scriptlet")[0]
    assert "systemctl enable mamori.service mamori-uplink.service mamori-netguard.service" in post
    assert "systemctl start mamori.service mamori-uplink.service mamori-netguard.service" in post
    assert post.index("systemd-tmpfiles --create") < post.index("systemctl start")
    preun = scripts.split("preuninstall scriptlet")[1].split("scriptlet")[0]
    assert "systemctl stop mamori.service mamori-uplink.service mamori-netguard.service" in preun
    postun = scripts.split("postuninstall scriptlet")[1]
    assert "rm -rf /var/lib/mamori /var/lib/mamori-uplink /etc/mamori" in postun
    assert preun.index("systemctl stop mamori.service") < preun.index("/usr/libexec/mamori/mamori-release")
    assert "dracut -f" in postun and "udevadm control --reload" in postun
    for part in re.split(r"^\w+ scriptlet \(using /bin/sh\):\n", scripts, flags=re.M)[1:]:
        p = subprocess.run(["sh", "-n"], input=part, capture_output=True, text=True)
        assert p.returncode == 0, f"{part}: {p.stderr}"


def rpm_file_text(rpm, name, tmp_path):
    if shutil.which("rpm2cpio") is None or shutil.which("cpio") is None:
        pytest.skip("rpm2cpio or cpio missing")
    cpio = run(["rpm2cpio", str(rpm)], text=False).stdout
    d = tmp_path / "rpm-files"
    d.mkdir(exist_ok=True)
    run(["cpio", "-idm", "--quiet", "." + name], input=cpio, text=False, cwd=d)
    return (d / name.lstrip("/")).read_text()


def test_rpm_recommends_clamav_and_autostart_has_tryexec(rpm, tmp_path):
    assert "clamav-update" in run(["rpm", "-qp", "--recommends", str(rpm)]).stdout.split()
    check_autostart(rpm_file_text(rpm, "/etc/xdg/autostart/mamori-notify.desktop", tmp_path))


def test_rpm_install_enables_and_erase_removes_state(rpm, tmp_path):
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl missing")
    scripts = run(["rpm", "-qp", "--scripts", str(rpm)]).stdout

    def body(name):
        part = scripts.split(f"{name} scriptlet (using /bin/sh):\n")[1]
        return re.split(r"^\w+ scriptlet \(using", part, flags=re.M)[0]

    units = {u: rpm_file_text(rpm, "/usr/lib/systemd/system/" + u, tmp_path) for u in PACKAGED_UNITS}
    p = in_scratch_system(UPGRADE_SPOOL + """
sh /run/pre 1
sh /run/post 1 >/run/post.out
test -L /etc/systemd/system/multi-user.target.wants/mamori.service
test -L /etc/systemd/system/multi-user.target.wants/mamori-uplink.service
test -L /etc/systemd/system/sysinit.target.wants/mamori-netguard.service
echo enabled
""" + UPGRADED_SPOOL + """
mkdir -p /var/lib/mamori && echo x > /var/lib/mamori/events.jsonl
mkdir -p /etc/mamori/allow.d && echo x > /etc/mamori/allow.d/50-admin.conf
sh /run/postun 1
test -e /var/lib/mamori/events.jsonl && test -e /etc/mamori/allow.d/50-admin.conf
echo state-kept-on-upgrade
""" + FAKE_USB + """
sh /run/preun 0 >&2
""" + GIVEN_BACK + """
test ! -e /etc/systemd/system/multi-user.target.wants/mamori.service
test ! -e /etc/systemd/system/multi-user.target.wants/mamori-uplink.service
test ! -e /etc/systemd/system/sysinit.target.wants/mamori-netguard.service
sh /run/postun 0
test ! -e /var/lib/mamori && test ! -e /etc/mamori
echo erased
cat /run/post.out >&2
""", units, {"/run/pre": body("preinstall"), "/run/post": body("postinstall"), "/run/preun": body("preuninstall"),
               "/run/postun": body("postuninstall"),
               "/run/tmpfiles.d/mamori.conf": rpm_file_text(rpm, "/usr/lib/tmpfiles.d/mamori.conf", tmp_path),
               "/usr/libexec/mamori/mamori-release": rpm_file_text(rpm, "/usr/libexec/mamori/mamori-release", tmp_path)})
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == ["enabled", "spool-for-the-uplink", "state-kept-on-upgrade", "given-back", "erased"]
    check_key_notice(p.stderr)
    assert "mamori: 1-1:1.0 (" in p.stderr and "driver usb-storage" in p.stderr, p.stderr
    assert "allow.d/50-admin.conf" in p.stderr, p.stderr


def test_deb_and_rpm_ship_the_same_files(deb, rpm):
    def norm(f):
        f = re.sub(r"\.gz$", "", f)
        f = f.replace("/usr/lib/udev/", "/lib/udev/")
        return f.replace("/usr/lib/systemd/system/", "/lib/systemd/system/")
    d = {norm(f) for f, perms in deb_files(deb[1]).items() if not perms.startswith("d")}
    r = {norm(f) for f in rpm_query(rpm, "[%{FILENAMES}\n]").split()
         if not f.startswith(("/usr/lib/.build-id", "/usr/share/licenses")) }
    # the docs differ by packaging (changelog, copyright); the examples do not
    example = "/usr/share/doc/mamori/examples/clamd-virusevent.conf"
    assert example in d and example in r, (example in d, example in r)
    d = {f for f in d if not f.startswith(("/usr/share/doc/", "/usr/share/lintian/"))}
    r = {f for f in r if f not in ("/etc/mamori", "/etc/mamori/allow.d", "/usr/libexec/mamori")
         and not f.endswith("/.build-id") and not f.startswith("/usr/share/doc/")}
    # Each distribution builds its initramfs its own way: the same udev rule
    # goes in through an initramfs-tools hook (Debian) or a dracut module (RHEL).
    assert "/usr/share/initramfs-tools/hooks/mamori" in d
    assert "/usr/lib/dracut/modules.d/90mamori/module-setup.sh" in r
    d -= {"/usr/share/initramfs-tools/hooks/mamori"}
    r -= {"/usr/lib/dracut/modules.d/90mamori", "/usr/lib/dracut/modules.d/90mamori/module-setup.sh"}
    assert d == r, f"only in deb: {sorted(d - r)}; only in rpm: {sorted(r - d)}"


def test_initramfs_hook_copies_the_rule(tmp_path):
    """The initramfs-tools hook, run as update-initramfs runs it (DESTDIR set),
    puts the very rule file into the image tree; in a private mount namespace
    where our rule is the one installed."""
    src = os.environ.get("MAMORI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
    assert os.path.exists("/usr/share/initramfs-tools/hook-functions"), "initramfs-tools is a test dependency"
    dest = tmp_path / "initrd"
    dest.mkdir()
    script = """set -e
mount -t tmpfs tmpfs /etc/udev/rules.d
cp "$1/units/70-mamori.rules" /etc/udev/rules.d/
exec sh "$1/units/initramfs/mamori-hook"
"""
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", src],
                       env=dict(os.environ, DESTDIR=str(dest), verbose="n"), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    copied = dest / "lib/udev/rules.d/70-mamori.rules"
    assert copied.read_bytes() == open(os.path.join(src, "units/70-mamori.rules"), "rb").read()
    r = subprocess.run(["sh", os.path.join(src, "units/initramfs/mamori-hook"), "prereqs"], capture_output=True, text=True, timeout=600)
    assert r.stdout.split() == ["udev"]


# ---- mamori-release: the devices given back (prerm / %preun) ----

def fake_sysfs(root, cmdline=""):
    """Two root hubs as 70-mamori.rules leaves them, usbcore's default at 0, a
    blocked stick (no driver), a keyboard, and a dock's device held back whole."""
    devs = root / "bus/usb/devices"
    devs.mkdir(parents=True)

    def node(name, **attrs):
        d = devs / name
        d.mkdir()
        for k, v in attrs.items():
            (d / k).write_text(v + "\n")
        return d

    node("usb1", interface_authorized_default="0", authorized_default="1", authorized="1")
    node("usb2", interface_authorized_default="0", authorized_default="0", authorized="1")
    node("1-2", idVendor="0781", idProduct="5567", product="Cruzer", authorized="1")
    node("1-2:1.0", authorized="0", bInterfaceClass="08", modalias="usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00")
    node("1-3", idVendor="046d", idProduct="c31c", product="Keyboard", authorized="1")
    kbd = node("1-3:1.0", authorized="1", bInterfaceClass="03")
    (root / "drivers/usbhid").mkdir(parents=True)
    (kbd / "driver").symlink_to(root / "drivers/usbhid")
    node("2-1", idVendor="0bda", idProduct="5411", product="Dock hub", authorized="0")
    (root / "bus/usb/drivers_probe").write_text("")
    (root / "module/usbcore/parameters").mkdir(parents=True)
    (root / "module/usbcore/parameters/authorized_default").write_text("0\n")
    (root / "cmdline").write_text(cmdline + "\n")


def release(root):
    return run([os.path.join(SOURCE, "tools/release/mamori-release")],
               env=dict(os.environ, MAMORI_SYSFS=str(root), MAMORI_CMDLINE=str(root / "cmdline"), MODPROBE="true"))


def test_release_gives_the_devices_back(tmp_path):
    fake_sysfs(tmp_path)
    out = release(tmp_path).stdout
    print(out)
    devs = tmp_path / "bus/usb/devices"
    rd = lambda p: (devs / p).read_text().strip()
    assert rd("usb1/interface_authorized_default") == "1" and rd("usb2/interface_authorized_default") == "1"
    assert rd("usb2/authorized_default") == "1"
    assert (tmp_path / "module/usbcore/parameters/authorized_default").read_text().strip() == "-1"
    assert rd("1-2:1.0/authorized") == "1" and rd("2-1/authorized") == "1"
    # authorizing binds nothing: the stick's interface was probed, the bound keyboard left alone
    assert (tmp_path / "bus/usb/drivers_probe").read_text().split() == ["1-2:1.0"]
    assert "mamori: 1-2:1.0 (0781:5567 Cruzer, class 08): authorized" in out, out
    assert "mamori: usb1: new USB interfaces start authorized again" in out, out
    assert "mamori: 2 USB interface(s) or device(s) given back" in out, out

    # Run again (a second removal attempt): nothing left to give back.
    out = release(tmp_path).stdout
    assert out.splitlines()[0] == "mamori: 0 USB interface(s) or device(s) given back", out


def test_release_keeps_the_command_lines_usbcore_default(tmp_path):
    fake_sysfs(tmp_path, cmdline="root=/dev/vda1 usbcore.authorized_default=0")
    release(tmp_path)
    assert (tmp_path / "module/usbcore/parameters/authorized_default").read_text().strip() == "0"
    assert (tmp_path / "bus/usb/devices/2-1/authorized").read_text().strip() == "0"
    assert (tmp_path / "bus/usb/devices/usb1/interface_authorized_default").read_text().strip() == "1"


# ---- mamori-collector: the central side, its own package from the same source (issue 12) ----

COLLECTOR_EXPECTED = ["/usr/sbin/mamori-collectord", "/usr/bin/mamori-collectorctl",
                      "/etc/mamori-collector/collector.conf", "/usr/lib/sysusers.d/mamori-collector.conf",
                      "/usr/share/man/man8/mamori-collectord.8", "/usr/share/man/man8/mamori-collectorctl.8",
                      "/usr/share/man/man5/collector.conf.5", "/usr/share/man/ja/man8/mamori-collectord.8",
                      "/usr/share/man/ja/man8/mamori-collectorctl.8", "/usr/share/man/ja/man5/collector.conf.5"]
# the review console's pages (issue 13)
COLLECTOR_EXPECTED += ["/usr/share/mamori-collector/www/index.html", "/usr/share/mamori-collector/www/js/app.js"]
COLLECTOR_UNIT = "mamori-collectord.service"


@pytest.fixture(scope="module")
def deb_collector(deb):
    debs = [f for f in os.listdir(deb[0]) if re.match(r"mamori-collector_.*\.deb$", f)]
    assert len(debs) == 1, os.listdir(deb[0])
    return deb[0] / debs[0]


@pytest.fixture(scope="module")
def rpm_collector(rpm):
    rpms = [f for f in os.listdir(rpm.parent) if re.match(r"mamori-collector-\d.*\.rpm$", f)]
    assert len(rpms) == 1, os.listdir(rpm.parent)
    return rpm.parent / rpms[0]


def test_deb_collector_contents(deb, deb_collector, tmp_path):
    files = deb_files(deb_collector)
    for f in COLLECTOR_EXPECTED + ["/lib/systemd/system/" + COLLECTOR_UNIT]:
        assert f in files or f + ".gz" in files, f"{f} not in {deb_collector.name}: {sorted(files)}"
    assert files["/usr/sbin/mamori-collectord"].startswith("-rwxr-xr-x")
    assert files["/usr/bin/mamori-collectorctl"].startswith("-rwxr-xr-x")
    assert files["/etc/mamori-collector/collector.conf"].startswith("-rw-r--r--")
    assert run(["dpkg-deb", "-f", str(deb_collector), "Package"]).stdout.strip() == "mamori-collector"
    depends = run(["dpkg-deb", "-f", str(deb_collector), "Depends"]).stdout
    for lib in ("libmicrohttpd", "libgnutls30", "libsqlite3-0", "libpq5"):
        assert lib in depends, depends
    # the configuration is a conffile: an upgrade never overwrites the town's
    (tmp_path / "c").mkdir()
    conffiles = set(deb_control(deb_collector, tmp_path / "c", "conffiles").split())
    etc = {f for f, perms in files.items() if f.startswith("/etc/") and perms.startswith("-")}
    assert etc == conffiles == {"/etc/mamori-collector/collector.conf"}
    # the split: nothing of the collector in the agent's package, and the
    # agent links none of the collector's libraries
    assert not [f for f in deb_files(deb[1]) if "collector" in f], "collector files in the mamori package"
    agent_depends = run(["dpkg-deb", "-f", str(deb[1]), "Depends"]).stdout
    assert "libmicrohttpd" not in agent_depends and "libpq" not in agent_depends, agent_depends
    shipped = deb_file_text(deb_collector, "/etc/mamori-collector/collector.conf")
    assert shipped == open(os.path.join(SOURCE, "policy/collector.conf")).read()


def test_deb_collector_install_makes_user_and_ca_and_purge_keeps_records(deb_collector, tmp_path):
    if shutil.which("deb-systemd-helper") is None:
        pytest.skip("init-system-helpers missing")
    ctl = tmp_path / "bin" / "mamori-collectorctl"
    ctl.parent.mkdir()
    data = run(["dpkg-deb", "--fsys-tarfile", str(deb_collector)], text=False).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:  # the packaged one: postinst runs it
        ctl.write_bytes(t.extractfile("./usr/bin/mamori-collectorctl").read())
    os.chmod(ctl, 0o755)
    os.chmod(tmp_path, 0o755)
    units = {COLLECTOR_UNIT: deb_file_text(deb_collector, "/lib/systemd/system/" + COLLECTOR_UNIT)}
    d = tmp_path / "c"
    d.mkdir()
    scripts = {f"/run/{n}": deb_control(deb_collector, d, n) for n in ("postinst", "postrm")}
    scripts["/run/sysusers.d/mamori-collector.conf"] = deb_file_text(deb_collector, "/usr/lib/sysusers.d/mamori-collector.conf")
    tls = "/etc/mamori-collector/tls"
    p = in_scratch_system(f"""
export PATH={ctl.parent}:$PATH
/run/postinst configure >/run/postinst.out
getent passwd mamori-collector >/dev/null
test -L /etc/systemd/system/multi-user.target.wants/{COLLECTOR_UNIT}
echo enabled
test "$(stat -c %a:%U:%G {tls})" = 750:root:mamori-collector
test "$(stat -c %a:%U:%G {tls}/clients-ca.key)" = 600:root:root
test "$(stat -c %a:%U:%G {tls}/server.key)" = 640:root:mamori-collector
test "$(stat -c %a {tls}/server.crt {tls}/clients-ca.crt | sort -u)" = 644
runuser -u mamori-collector -- cat {tls}/server.key >/dev/null
if runuser -u mamori-collector -- cat {tls}/clients-ca.key >/dev/null 2>&1; then exit 1; fi
openssl verify -CAfile {tls}/clients-ca.crt -purpose sslserver {tls}/server.crt >/dev/null
echo ca-made
sum=$(cat {tls}/clients-ca.key | md5sum)
/run/postinst configure 0.1.0 >>/run/postinst.out
test "$(cat {tls}/clients-ca.key | md5sum)" = "$sum"
echo ca-kept-on-upgrade
mkdir -p /var/lib/mamori-collector && echo x > /var/lib/mamori-collector/collector.db
/run/postrm purge >/run/postrm.out
test -e /var/lib/mamori-collector/collector.db && test -e {tls}/clients-ca.key
test ! -e /etc/systemd/system/multi-user.target.wants/{COLLECTOR_UNIT}
echo records-kept-on-purge
cat /run/postinst.out /run/postrm.out >&2
""", units, scripts)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == ["enabled", "ca-made", "ca-kept-on-upgrade", "records-kept-on-purge"]
    assert "mamori-collector: made a CA and a server certificate for" in p.stderr, p.stderr
    assert "/var/lib/mamori-collector is kept" in p.stderr and "保存記録" in p.stderr, p.stderr


def test_rpm_collector_files_and_scripts(rpm, rpm_collector):
    rows = [l.split(" ", 2) for l in rpm_query(rpm_collector, "[%{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILENAMES}\n]").splitlines()]
    files = {r[2]: (r[0], r[1]) for r in rows}
    for f in COLLECTOR_EXPECTED + ["/usr/lib/systemd/system/" + COLLECTOR_UNIT]:
        assert f in files or f + ".gz" in files, f"{f} not in the collector rpm"
    perms, flags = files["/etc/mamori-collector/collector.conf"]
    assert "c" in flags and "n" in flags, flags
    assert not [f for f in rpm_query(rpm, "[%{FILENAMES}\n]").split() if "collector" in f]
    scripts = run(["rpm", "-qp", "--scripts", str(rpm_collector)]).stdout
    pre = scripts.split("preinstall scriptlet")[1].split("scriptlet")[0]
    assert "systemd-sysusers" in pre and "mamori-collector" in pre
    post = scripts.split("postinstall scriptlet")[1].split("scriptlet")[0]
    assert "init-ca" in post and "systemctl enable mamori-collectord.service" in post
    assert post.index("init-ca") < post.index("systemctl start mamori-collectord.service")
    postun = scripts.split("postuninstall scriptlet")[1]
    assert "rm -rf" not in postun  # the stored events are the policy's records
    for part in re.split(r"^\w+ scriptlet \(using /bin/sh\):\n", scripts, flags=re.M)[1:]:
        p = subprocess.run(["sh", "-n"], input=part, capture_output=True, text=True)
        assert p.returncode == 0, f"{part}: {p.stderr}"


def test_deb_and_rpm_collector_ship_the_same_files(deb_collector, rpm_collector):
    def norm(f):
        return re.sub(r"\.gz$", "", f).replace("/usr/lib/systemd/system/", "/lib/systemd/system/")
    d = {norm(f) for f, perms in deb_files(deb_collector).items()
         if not perms.startswith("d") and not f.startswith(("/usr/share/doc/", "/usr/share/lintian/"))}
    # Files only, on both sides: the RPM owns the directories it ships whole
    # (%{_datadir}/mamori-collector/www), the deb lists them as entries.
    r = set()
    for line in rpm_query(rpm_collector, "[%{FILEMODES:perms} %{FILENAMES}\n]").splitlines():
        perms, _, f = line.partition(" ")
        if perms.startswith("d") or f.startswith(("/usr/lib/.build-id", "/usr/share/licenses")):
            continue
        r.add(norm(f))
    assert d == r, f"only in deb: {sorted(d - r)}; only in rpm: {sorted(r - d)}"
