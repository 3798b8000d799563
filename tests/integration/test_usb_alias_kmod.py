# SPDX-License-Identifier: MIT
"""common/usb-modalias.c reads depmod's text modules.alias and modprobe.d
without libkmod (issue 11: libkmod links libcrypto). Here its answers are
compared with libkmod's own (modprobe --resolve-alias, the test's only use of
kmod) on a modules directory that depmod built, plus what mamori adds on top:
every built-in driver whose alias matches too (modules.builtin.modinfo), which
libkmod consults only when nothing else matched. And the hostile cases: a FIFO
or a directory where a file belongs never blocks nor crashes the lookup."""

import ctypes
import os
import shutil
import subprocess

import pytest

from mamori_testlib import KERNEL_ALIASES, KERNEL_BUILTIN, make_modules_dir

BUILD = os.environ.get("MAMORI_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
BENCH = os.path.join(BUILD, "tools/bench/bench-usb-alias")
HELPER = os.path.join(BUILD, "tools/udev/mamori-usb-alias")
VERSION = "9.9.9-mamori-test"

LIBC = ctypes.CDLL(None)

# Beyond the kernel's: a dashed module name, a bcdDevice bracket range, two
# modules on one id (both listed, in depmod's order), a vendor-wide alias.
EXTRA = {
    "acme-sd": ["usb:v1234pABCDd*dc*dsc*dp*ic*isc*ip*in*"],
    "qcserial": ["usb:v05C6p9001d0[0-2]*dc*dsc*dp*ic*isc*ip*in*"],
    "option": ["usb:v19D2p*d*dc*dsc*dp*icFFiscFFipFFin*", "usb:v1234pABCDd*dc*dsc*dp*icFFisc*ip*in*"],
}

MODALIASES = [
    "usb:v04B8p0602d0110dc00dsc00dp00ic07isc01ip02in00",  # usblp, and usb_storage by id
    "usb:v04B8p0602d0200dc00dsc00dp00ic07isc01ip02in00",
    "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00",  # usb_storage twice (two aliases)
    "usb:v0BC2p3332d0100dc00dsc00dp00ic03isc01ip01in00",
    "usb:v0BDAp0129d3960dcFFdscFFdpFFicFFisc06ip50in00",
    "usb:v0BDAp0138d0100dc00dsc00dp00ic08isc06ip50in00",
    "usb:v046DpC31Cd6400dc00dsc00dp00ic03isc01ip01in00",
    "usb:v05ACp12A8d0100dc00dsc00dp00icFFiscFDip01in00",
    "usb:v1D6Bp0002d0601dc09dsc00dp01ic09isc00ip00in00",  # a hub: built-in usbcore only
    "usb:v1234pABCDd0100dc00dsc00dp00icFFisc00ip00in00",
    "usb:v05C6p9001d0100dc00dsc00dp00icFFiscFFipFFin00",
    "usb:v05C6p9001d0300dc00dsc00dp00icFFiscFFipFFin00",
    "usb:v19D2p0031d0000dc00dsc00dp00icFFiscFFipFFin03",
    "usb:v1A2Bp3C4Dd0100dc00dsc00dp00icE0isc01ip03in00",
    "usb:v0000p0000d0000dc00dsc00dp00ic00isc00ip00in00",  # nothing
    "usb:v0bdap0129d3960dcFFdscFFdpFFicFFisc06ip50in00",  # lowercase: nothing (fnmatch is case-sensitive)
]


def fnmatch(pattern, s):
    return LIBC.fnmatch(pattern.encode(), s.encode(), 0) == 0


def libkmod(base, d, modalias):
    """libkmod's lookup, deduplicated in order, then the built-in drivers that
    match too (mamori's addition)."""
    r = subprocess.run(["modprobe", "--resolve-alias", "-d", base, "-S", VERSION, "-C", os.path.join(d, "modprobe.d"),
                        modalias], capture_output=True, text=True, timeout=30)
    out = []
    for name in r.stdout.split():
        if name not in out:
            out.append(name)
    for name, aliases in KERNEL_BUILTIN.items():
        if name not in out and any(fnmatch(a, modalias) for a in aliases):
            out.append(name)
    return out


def libkmod_ctx(d, conf_dirs, modalias):
    """libkmod itself (ctypes), with several modprobe.d directories, which
    modprobe's -C cannot give: kmod_new(dir, paths), then the lookup."""
    kmod = ctypes.CDLL("libkmod.so.2")
    kmod.kmod_new.restype = ctypes.c_void_p
    kmod.kmod_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    kmod.kmod_module_new_from_lookup.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    kmod.kmod_list_next.restype = ctypes.c_void_p
    kmod.kmod_list_next.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    kmod.kmod_module_get_module.restype = ctypes.c_void_p
    kmod.kmod_module_get_module.argtypes = [ctypes.c_void_p]
    kmod.kmod_module_get_name.restype = ctypes.c_char_p
    kmod.kmod_module_get_name.argtypes = [ctypes.c_void_p]
    kmod.kmod_module_unref.argtypes = [ctypes.c_void_p]
    kmod.kmod_module_unref_list.argtypes = [ctypes.c_void_p]
    kmod.kmod_unref.argtypes = [ctypes.c_void_p]
    paths = (ctypes.c_char_p * (len(conf_dirs) + 1))(*[c.encode() for c in conf_dirs], None)
    ctx = kmod.kmod_new(d.encode(), paths)
    assert ctx
    lst = ctypes.c_void_p()
    assert kmod.kmod_module_new_from_lookup(ctx, modalias.encode(), ctypes.byref(lst)) == 0
    out = []
    node = lst.value
    while node:
        mod = kmod.kmod_module_get_module(node)
        name = kmod.kmod_module_get_name(mod).decode()
        if name not in out:
            out.append(name)
        kmod.kmod_module_unref(mod)
        node = kmod.kmod_list_next(lst, node)
    kmod.kmod_module_unref_list(lst)
    kmod.kmod_unref(ctx)
    for name, aliases in KERNEL_BUILTIN.items():
        if name not in out and any(fnmatch(a, modalias) for a in aliases):
            out.append(name)
    return out


def ours(d, modaliases, conf_dirs=()):
    conf = [a for c in conf_dirs for a in ("--conf-dir", c)]
    r = subprocess.run([BENCH, "--modules-dir", d] + conf + ["--print"] + modaliases, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    got = {}
    for line in r.stdout.splitlines():
        modalias, _, modules = line.partition("\t")
        got[modalias] = modules.split()
    return got


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    if not shutil.which("modprobe"):
        pytest.fail("modprobe (kmod) is needed to compare with libkmod")
    base = str(tmp_path_factory.mktemp("modules"))
    d = make_modules_dir(base, dict(KERNEL_ALIASES, **EXTRA))
    os.makedirs(os.path.join(d, "modprobe.d"), exist_ok=True)
    return base, d


def test_depmod_writes_the_text_index(modules):
    base, d = modules
    text = open(os.path.join(d, "modules.alias")).read()
    assert "alias usb:v04B8p0602d0110dc*dsc*dp*ic*isc*ip*in* usb_storage" in text
    assert " acme_sd\n" in text


def test_same_modules_as_libkmod(modules):
    base, d = modules
    got = ours(d, MODALIASES)
    for m in MODALIASES:
        assert got[m] == libkmod(base, d, m), m
    # the comparison has teeth: these are not all empty
    assert got[MODALIASES[0]] == ["usblp", "usb_storage"]
    assert got["usb:v1234pABCDd0100dc00dsc00dp00icFFisc00ip00in00"] == ["option", "acme_sd"]  # depmod's module order


def test_modprobe_d_aliases_come_first_as_in_libkmod(modules, tmp_path):
    """An alias line of modprobe.d that matches ends libkmod's lookup: the
    modules' own aliases are not consulted."""
    base = str(tmp_path)
    d = make_modules_dir(base, dict(KERNEL_ALIASES, **EXTRA))
    conf = os.path.join(d, "modprobe.d")
    os.makedirs(conf)
    with open(os.path.join(conf, "10-local.conf"), "w") as f:
        f.write("# the vendor's reader driver\n"
                "alias usb:v1A2Bp3C4D* usb-storage\n"
                "alias usb:v0BDAp0129d*dc*dsc*dp*ic*isc*ip*in* \\\n  acme-sd\n"
                "alias pci:v* not_usb\n")
    with open(os.path.join(conf, "20-other.alias"), "w") as f:  # libkmod 30 reads *.alias too
        f.write("alias usb:v046DpC31C* usbhid_quirk\n")
    with open(os.path.join(conf, "30-ignored.txt"), "w") as f:
        f.write("alias usb:v0781p5567* ignored\n")
    got = ours(d, MODALIASES)
    for m in MODALIASES:
        assert got[m] == libkmod(base, d, m), m
    assert got["usb:v1A2Bp3C4Dd0100dc00dsc00dp00icE0isc01ip03in00"] == ["usb_storage"]
    assert got["usb:v0BDAp0129d3960dcFFdscFFdpFFicFFisc06ip50in00"] == ["acme_sd"]
    assert got["usb:v046DpC31Cd6400dc00dsc00dp00ic03isc01ip01in00"] == ["usbhid_quirk"]


def test_modprobe_d_directories_in_libkmods_order(modules, tmp_path):
    """Several modprobe.d directories (/etc, /run, ... /usr/lib on a system):
    the files of all sorted by name, a name in an earlier directory masking
    the same name in later ones, hidden files, subdirectories and other
    suffixes ignored."""
    base, d = modules
    dirs = [str(tmp_path / n) for n in ("etc", "run", "lib")]
    for x in dirs:
        os.makedirs(x)
    files = {
        "etc/10-a.conf": "alias usb:v1A2Bp3C4D* from_etc\n",
        "run/10-a.conf": "alias usb:v1A2Bp3C4D* masked_by_etc\nalias usb:v0BC2p3332* masked_too\n",
        "run/05-b.conf": "alias usb:v046DpC31C* first_by_name\n",
        "lib/20-c.conf": "alias usb:v046DpC31C* second_by_name\nalias usb:v1A2B* vendor_wide\n",
        "lib/.hidden.conf": "alias usb:v0781p5567* hidden\n",
        "lib/30-x.alias": "alias usb:v05ACp12A8* by_alias_suffix\n",
        "lib/40-y.txt": "alias usb:v0781p5567* other_suffix\n",
    }
    for name, text in files.items():
        with open(str(tmp_path / name), "w") as f:
            f.write(text)
    os.makedirs(str(tmp_path / "lib/50-dir.conf"))
    got = ours(d, MODALIASES, dirs)
    for m in MODALIASES:
        assert got[m] == libkmod_ctx(d, dirs, m), m
    assert got["usb:v1A2Bp3C4Dd0100dc00dsc00dp00icE0isc01ip03in00"] == ["from_etc", "vendor_wide"]
    assert got["usb:v046DpC31Cd6400dc00dsc00dp00ic03isc01ip01in00"] == ["first_by_name", "second_by_name"]
    assert got["usb:v05ACp12A8d0100dc00dsc00dp00icFFiscFDip01in00"] == ["by_alias_suffix"]
    assert got["usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00"] == ["usb_storage"]


def helper(d, modalias):
    return subprocess.run([HELPER, "--modules-dir", d, modalias], capture_output=True, text=True, timeout=10).stdout


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_fifo_or_directory_for_modules_alias_is_refused(tmp_path, kind):
    d = make_modules_dir(str(tmp_path))
    path = os.path.join(d, "modules.alias")
    os.unlink(path)
    os.mkfifo(path) if kind == "fifo" else os.mkdir(path)
    out = helper(d, MODALIASES[0])  # the timeout of helper() fails a blocked open
    assert "MAMORI_MODULE_ALIASES=0" in out


def test_a_fifo_in_modprobe_d_or_for_modinfo_is_skipped(tmp_path):
    d = make_modules_dir(str(tmp_path))
    os.makedirs(os.path.join(d, "modprobe.d"))
    os.mkfifo(os.path.join(d, "modprobe.d", "fifo.conf"))
    os.unlink(os.path.join(d, "modules.builtin.modinfo"))
    os.mkfifo(os.path.join(d, "modules.builtin.modinfo"))
    out = helper(d, MODALIASES[0])
    assert "MAMORI_MODULE_ALIASES=1" in out and "MAMORI_DRIVER=usb_storage" in out


def test_the_system_modules_dir_is_followed_through_a_link(tmp_path):
    """/lib/modules may be a linked tree: the directory's links are followed."""
    d = make_modules_dir(str(tmp_path / "real"))
    link = str(tmp_path / "linked")
    os.symlink(d, link)
    out = helper(link, MODALIASES[0])
    assert "MAMORI_MODULE_ALIASES=1" in out and "MAMORI_DRIVER=usb_storage" in out


def test_a_huge_modules_alias_is_refused(tmp_path):
    """Beyond 64 MiB (Debian's is 0.7 MiB) the file is not mapped at all: the
    rule and mamorid fall back to classes (a sparse file: no disk used)."""
    d = make_modules_dir(str(tmp_path))
    with open(os.path.join(d, "modules.alias"), "r+b") as f:
        f.truncate(64 * 1024 * 1024 + 1)
    assert "MAMORI_MODULE_ALIASES=0" in helper(d, MODALIASES[0])
    with open(os.path.join(d, "modules.alias"), "r+b") as f:
        f.truncate(64 * 1024 * 1024)  # at the bound: read (and mostly NUL bytes)
    assert "MAMORI_MODULE_ALIASES=1" in helper(d, MODALIASES[0])
