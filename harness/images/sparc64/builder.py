"""Cross-build the debian-12-sparc64 guest from Debian 12's packages and sources.

Steps (each logged and timed by :class:`StepRunner`):

1. resolve versions: host packages by dpkg-query, source packages from the
   ``Sources`` index of a private apt state (its own deb-src list under the
   cache; the host's apt configuration is never touched);
2. fetch the source packages with ``apt-get source --download-only``;
3. parts, each cached under ``<target>/.parts/<part>-<hash>/`` by a hash of
   its own inputs: the kernel (``sparc64_defconfig`` trimmed by
   ``kernel.config``), zlib + libffi, CPython (cross-compiled against
   them, ``--with-build-python`` the host's python3.11, no test modules),
   busybox, dropbear;
4. assemble the root file system (glibc from ``libc6-sparc64-cross``, the
   parts, the guest files, keys) and pack it with ``mkfs.ext4 -d``.

The finished image directory is renamed into place by
:func:`harness.images.cache.build_cached` under its file lock.

Booting it: the harness's sparc64 profile with the catalog's overrides,
``qemu-system-sparc64 -M sun4u -m 512 -kernel vmlinux -append "root=/dev/vda
ro console=ttyS0"``, the disk as ``virtio-blk-pci`` on ``bus=pciB`` (the
board's CMD646 IDE loses interrupts under QEMU and stalls every request
~30 s), the NIC ``-device e1000,netdev=...,bus=pciB`` (eth0).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from ...errors import ConfigError, HostError
from ..cache import BuiltImage, build_cached, images_root
from ..catalog import CatalogEntry
from ..steps import StepRunner
from . import guest
from .recipe import (
    BUILDER_VERSION,
    CROSS,
    HOST_PACKAGES,
    KERNEL_SOURCE_PACKAGE,
    Recipe,
    Versions,
    config_mismatches,
    drop_module_options,
    fragment_settings,
    kernel_config_fragment,
    recipe_hash,
    stable_hash,
)

DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SPARC64_LIBC = Path("/usr/sparc64-linux-gnu")
KERNEL_TARBALL = Path("/usr/src/%s.tar.xz" % KERNEL_SOURCE_PACKAGE)
# glibc pieces the guest never loads (sanitizer and OpenMP runtimes, C++).
_SKIP_LIBS = re.compile(r"^lib(asan|ubsan|gomp|itm|stdc\+\+|c_malloc_debug|memusage|pcprofile)\b")
# Parts of the CPython standard library nothing in a headless tracing guest
# imports; dropping them keeps the image and the mkfs step small.
_PYTHON_PRUNE = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
                 "distutils/tests", "unittest/test", "sqlite3/test", "ctypes/test")


def recipe_from_entry(entry: CatalogEntry) -> Recipe:
    """A :class:`Recipe` from a catalog entry; keys the entry lacks keep their defaults."""
    if entry.arch != "sparc64":
        raise ConfigError("target %s is not a sparc64 target (arch %r)" % (entry.name, entry.arch))
    settings = entry.settings
    overrides: dict[str, Any] = {"target": entry.name}
    for key in ("mirror", "suite", "kernel_cmdline", "disk_free_mib", "memory_mb"):
        if settings.get(key) is not None:
            overrides[key] = settings[key]
    if settings.get("source_packages"):
        overrides["source_packages"] = tuple(settings["source_packages"])
    return Recipe(**overrides)


def image_hash(target: CatalogEntry | Recipe, cache_dir: Path | None = None) -> str:
    """The recipe hash of the image, which names its cache directory.

    It covers the source package versions, so it refreshes the private
    deb-src index first (falling back to the last index when offline).
    """
    recipe = recipe_from_entry(target) if isinstance(target, CatalogEntry) else target
    apt = PrivateApt((cache_dir or images_root()) / recipe.target / ".apt", recipe)
    return recipe_hash(recipe, resolve_versions(recipe, apt), guest.guest_files(recipe))


def ensure_built(target: CatalogEntry | Recipe, cache_dir: Path | None = None,
                 console: Console | None = None) -> tuple[BuiltImage, bool]:
    """Build (or find in the cache) the sparc64 image: ``(image, built_now)``.

    The image directory holds ``disk.img``, ``vmlinux``, ``ssh_key``,
    ``ssh_key.pub``, ``host_key.pub``, ``build.log`` and ``manifest.json``.
    ``cache_dir`` is the images root (default ``$XDG_CACHE_HOME/trapline/images``).
    """
    recipe = recipe_from_entry(target) if isinstance(target, CatalogEntry) else target
    root = cache_dir or images_root()
    console = console or Console(stderr=True)
    target_dir = root / recipe.target
    apt = PrivateApt(target_dir / ".apt", recipe)
    versions = resolve_versions(recipe, apt)
    digest = recipe_hash(recipe, versions, guest.guest_files(recipe))

    def waiting(lock: Path) -> None:
        console.print("%s: another process is building this image; waiting for %s" % (recipe.target, lock))

    def build_into(work: Path, log: Path) -> dict[str, Any]:
        # Only a real build needs root and the tools; a cached image does not.
        _require_tools(recipe.target)
        with StepRunner(log, target=recipe.target, console=console) as steps:
            return _build(recipe, versions, apt, target_dir / ".parts", work, steps)

    return build_cached(recipe.target, digest, build_into, root=root, on_wait=waiting)


def build(target: CatalogEntry | Recipe, cache_dir: Path | None = None,
          console: Console | None = None) -> Path:
    """:func:`ensure_built`, returning only the image directory."""
    image, _ = ensure_built(target, cache_dir, console)
    return image.directory


def _require_tools(target: str) -> None:
    if os.geteuid() != 0:
        raise HostError("building the sparc64 image needs root: the files in the ext4 image must be "
                        "owned by root (dropbear checks the owner of root's authorized_keys)",
                        target=target, hint="run the build as root")
    for tool, package in (("%s-gcc" % CROSS, "gcc-sparc64-linux-gnu"), ("mkfs.ext4", "e2fsprogs"),
                          ("dpkg-source", "dpkg-dev"), ("apt-get", "apt"), ("make", "make"),
                          ("xz", "xz-utils"), ("bzip2", "bzip2")):
        if shutil.which(tool) is None:
            raise HostError("%s not found" % tool, target=target,
                            hint="install the %s package (scripts/install-system-packages)" % package)
    if not KERNEL_TARBALL.is_file():
        raise HostError("%s not found" % KERNEL_TARBALL, target=target,
                        hint="install %s (scripts/install-system-packages)" % KERNEL_SOURCE_PACKAGE)
    if not (SPARC64_LIBC / "lib64/ld-linux.so.2").is_file():
        raise HostError("the sparc64 glibc is missing (%s)" % (SPARC64_LIBC / "lib64/ld-linux.so.2"),
                        target=target, hint="install libc6-dev-sparc64-cross")


def build_python_path() -> Path:
    """The host python3.11 that runs CPython's build scripts (same minor version as the source)."""
    for candidate in ("/usr/bin/python3.11", shutil.which("python3.11")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise HostError("python3.11 not found on the host; cross-building CPython 3.11 needs it "
                    "(--with-build-python)", hint="install Debian's python3.11 package")


def _host_versions(target: str) -> dict[str, str]:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status} ${Version}\n", *HOST_PACKAGES],
                         check=False, capture_output=True, text=True)
    found = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[1:4] == ["install", "ok", "installed"]:
            found[parts[0]] = parts[4]
    missing = [p for p in HOST_PACKAGES if p not in found]
    if missing:
        raise HostError("host packages missing: %s" % ", ".join(missing), target=target,
                        hint="run scripts/install-system-packages")
    return found


class PrivateApt:
    """apt with its own deb-src list and state under the cache (no root state touched)."""

    def __init__(self, directory: Path, recipe: Recipe) -> None:
        self.directory = directory
        self.recipe = recipe
        self.sources_file = directory / "trapline-src.sources"

    def options(self) -> list[str]:
        return [
            "-o", "Dir::Etc::SourceList=%s" % self.sources_file,
            "-o", "Dir::Etc::SourceParts=%s" % (self.directory / "sources.list.d"),
            "-o", "Dir::State::Lists=%s" % (self.directory / "lists"),
            "-o", "Dir::Cache=%s" % (self.directory / "cache"),
            "-o", "Acquire::Languages=none",
            # The private state is ours alone; the lock files apt would take
            # live in the host's /var/lib/apt otherwise.
            "-o", "Debug::NoLocking=1",
            # apt drops to the _apt user for downloads, which cannot write the cache.
            "-o", "APT::Sandbox::User=root",
        ]

    def update(self) -> None:
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.sources_file.write_text(
            "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n"
            % (self.recipe.mirror, self.recipe.suite, DEBIAN_KEYRING))
        proc = subprocess.run(["apt-get", *self.options(), "update"], check=False,
                              capture_output=True, text=True)
        if proc.returncode != 0 or "\nE: " in "\n" + proc.stdout + proc.stderr:
            if self._sources_indices():
                # Offline: the last index still names versions we may have cached.
                return
            raise HostError("apt-get update of the deb-src index failed",
                            target=self.recipe.target, console_tail=(proc.stdout + proc.stderr).splitlines()[-20:],
                            hint="is %s reachable?" % self.recipe.mirror)

    def _sources_indices(self) -> list[Path]:
        return sorted(p for p in (self.directory / "lists").glob("*_source_Sources*") if p.is_file())

    def source_versions(self, packages: tuple[str, ...]) -> dict[str, str]:
        """The newest version of each source package in the private index."""
        versions: dict[str, str] = {}
        for index in self._sources_indices():
            for stanza in _read_index(index).split("\n\n"):
                fields = dict(re.findall(r"^(Package|Version): (\S+)$", stanza, re.M))
                name = fields.get("Package")
                if name not in packages or "Version" not in fields:
                    continue
                if name not in versions or _version_newer(fields["Version"], versions[name]):
                    versions[name] = fields["Version"]
        missing = [p for p in packages if p not in versions]
        if missing:
            raise HostError("source packages not in %s %s: %s" % (self.recipe.mirror, self.recipe.suite,
                            ", ".join(missing)), target=self.recipe.target,
                            hint="check the source_packages names of the target")
        return versions


def _read_index(path: Path) -> str:
    """An apt list file as text; apt may keep it compressed (lz4, gz, xz: Acquire::GzipIndexes)."""
    proc = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", str(path)], check=False, capture_output=True)
    if proc.returncode != 0:
        raise HostError("cannot read apt index %s: %s" % (path, proc.stderr.decode(errors="replace").strip()),
                        hint="remove %s and build again" % path.parent)
    return proc.stdout.decode(errors="replace")


def _version_newer(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "gt", b], check=False).returncode == 0


def resolve_versions(recipe: Recipe, apt: PrivateApt) -> Versions:
    apt.update()
    python = build_python_path()
    out = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True, check=True)
    if shutil.which("%s-gcc" % CROSS) is None:
        raise HostError("%s-gcc not found" % CROSS, target=recipe.target,
                        hint="install gcc-sparc64-linux-gnu (scripts/install-system-packages)")
    gcc = subprocess.run(["%s-gcc" % CROSS, "-dumpfullversion"], capture_output=True, text=True, check=True)
    return Versions(host=_host_versions(recipe.target), sources=apt.source_versions(recipe.source_packages),
                    build_python=out.stdout.strip(), extra={"cross_gcc": gcc.stdout.strip()})


# ---------------------------------------------------------------- parts


def _part(parts: Path, name: str, inputs: Mapping[str, Any], steps: StepRunner,
          produce: Callable[[Path], None]) -> Path:
    """The cached part ``name`` for ``inputs``, produced into a temp dir and renamed when complete."""
    final = part_dir(parts, name, inputs)
    if (final / ".complete").exists():
        steps.note("part %s: cached at %s" % (name, final))
        steps.console.print("[green]cached[/] %s: %s" % (steps.target, name))
        return final
    parts.mkdir(parents=True, exist_ok=True)
    work = parts / (".tmp-%s-%d" % (final.name, os.getpid()))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        with steps.step(name):
            produce(work)
        (work / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def _make_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # Host-side settings that would leak into a cross build.
    for var in ("CFLAGS", "CPPFLAGS", "LDFLAGS", "PKG_CONFIG_PATH", "PYTHONHOME", "PYTHONPATH", "MAKEFLAGS"):
        env.pop(var, None)
    env["LC_ALL"] = "C"
    env.update(extra)
    return env


def _fetch_sources(apt: PrivateApt, versions: Versions, store: Path, steps: StepRunner) -> dict[str, Path]:
    """Download each source package once; return the path of each ``.dsc``."""
    store.mkdir(parents=True, exist_ok=True)
    dscs = {}
    for package, version in sorted(versions.sources.items()):
        upstream = version.split(":", 1)[-1]
        dsc = store / ("%s_%s.dsc" % (package, upstream))
        if not dsc.exists():
            with steps.step("apt-get source %s=%s" % (package, version)):
                tmp = store / (".tmp-%s-%d" % (package, os.getpid()))
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir()
                steps.run(["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", str(tmp), "apt-get",
                           *apt.options(), "source", "--download-only", "%s=%s" % (package, version)],
                          hint="is %s reachable?" % apt.recipe.mirror)
                for f in tmp.iterdir():
                    f.replace(store / f.name)
                tmp.rmdir()
        dscs[package] = dsc
    return dscs


def _unpack(dsc: Path, into: Path, steps: StepRunner) -> Path:
    """Unpack a source package with its Debian patches applied; return the tree."""
    tree = into / dsc.name.split("_", 1)[0]
    # apt-get verified the files against the signed Release's hashes; the
    # .dsc's own signature key is not in the archive keyring.
    steps.run(["dpkg-source", "--no-check", "-x", str(dsc), str(tree)], env=_make_env())
    return tree


def _kernel(tree_parent: Path, jobs: int, steps: StepRunner) -> Callable[[Path], None]:
    def produce(out: Path) -> None:
        with tarfile.open(KERNEL_TARBALL) as tar:
            steps.note("unpacking %s" % KERNEL_TARBALL)
            tar.extractall(tree_parent, filter="tar") if sys.version_info >= (3, 12) else tar.extractall(tree_parent)
        src = tree_parent / KERNEL_SOURCE_PACKAGE
        obj = tree_parent / "kernel-obj"
        obj.mkdir()
        env = _make_env(ARCH="sparc64", CROSS_COMPILE="%s-" % CROSS)
        make = ["make", "-C", str(src), "O=%s" % obj]
        fragment = tree_parent / "trapline.config"
        fragment.write_text(kernel_config_fragment())
        steps.run([*make, "sparc64_defconfig"], env=env)
        # With CONFIG_MODULES off Kconfig would build every "=m" of the
        # defconfig in (ciphers, RAID, loop, PPP...), doubling the build:
        # drop them instead; what the guest needs is "=y" in kernel.config.
        defconfig = obj / ".config"
        defconfig.write_text(drop_module_options(defconfig.read_text()))
        steps.run([str(src / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(obj), str(obj / ".config"),
                   str(fragment)], env=env)
        steps.run([*make, "olddefconfig"], env=env)
        config = (obj / ".config").read_text()
        problems = config_mismatches(fragment_settings(kernel_config_fragment()), config)
        if problems:
            raise HostError("the kernel config lost options of kernel.config after olddefconfig: %s"
                            % "; ".join(problems), target=steps.target,
                            hint="fix harness/images/sparc64/kernel.config (an option renamed or missing a "
                            "dependency in this kernel)")
        steps.run([*make, "-j%d" % jobs, "vmlinux"], env=env)
        shutil.copyfile(obj / "vmlinux", out / "vmlinux")
        steps.run(["%s-strip" % CROSS, str(out / "vmlinux")])
        (out / "config").write_text(config)
        shutil.rmtree(src)
        shutil.rmtree(obj)
    return produce


def _libraries(dscs: Mapping[str, Path], scratch: Path, jobs: int, steps: StepRunner) -> Callable[[Path], None]:
    """zlib (for zipimport of the pushed core) and libffi (for ctypes), installed under ``out/sysroot``."""
    def produce(out: Path) -> None:
        sysroot = out / "sysroot"
        env = _make_env(CC="%s-gcc" % CROSS, AR="%s-ar" % CROSS, RANLIB="%s-ranlib" % CROSS)
        zlib = _unpack(dscs["zlib"], scratch, steps)
        steps.run(["sh", "-c", 'cd "$1" && CHOST=%s ./configure --prefix=/usr --libdir=/usr/lib' % CROSS,
                   "sh", str(zlib)], env=env)
        steps.run(["make", "-C", str(zlib), "-j%d" % jobs], env=env)
        steps.run(["make", "-C", str(zlib), "install", "DESTDIR=%s" % sysroot], env=env)
        ffi = _unpack(dscs["libffi"], scratch, steps)
        steps.run(["sh", "-c", 'cd "$1" && ./configure --host=%s --prefix=/usr --libdir=/usr/lib '
                   "--disable-static --disable-docs --disable-multi-os-directory" % CROSS, "sh", str(ffi)],
                  env=_make_env())
        steps.run(["make", "-C", str(ffi), "-j%d" % jobs], env=_make_env())
        steps.run(["make", "-C", str(ffi), "install", "DESTDIR=%s" % sysroot], env=_make_env())
        for la in (sysroot / "usr/lib").glob("*.la"):
            la.unlink()
    return produce


def _python(dscs: Mapping[str, Path], versions: Versions, libs: Path, scratch: Path, jobs: int,
            steps: StepRunner) -> Callable[[Path], None]:
    def produce(out: Path) -> None:
        upstream = versions.sources["python3.11"].split("-", 1)[0].split(":", 1)[-1]
        # The upstream tarball as Debian ships it (python3.11_X.orig.tar.gz):
        # Debian's patch series reshapes install paths for dpkg packaging,
        # which this plain /usr prefix install does not want.
        orig = dscs["python3.11"].parent / ("python3.11_%s.orig.tar.gz" % upstream)
        with tarfile.open(orig) as tar:
            tar.extractall(scratch, filter="tar") if sys.version_info >= (3, 12) else tar.extractall(scratch)
        src = scratch / ("Python-%s" % upstream)
        sysroot = libs / "sysroot"
        site = scratch / "config.site"
        # Answers configure cannot find out without running target code.
        site.write_text("ac_cv_file__dev_ptmx=yes\nac_cv_file__dev_ptc=no\nac_cv_buggy_getaddrinfo=no\n")
        env = _make_env(CONFIG_SITE=str(site), PKG_CONFIG_LIBDIR=str(sysroot / "usr/lib/pkgconfig"),
                        PKG_CONFIG_SYSROOT_DIR=str(sysroot))
        steps.run(["sh", "-c", 'cd "$1" && shift && exec ./configure "$@"', "sh", str(src),
                   "--host=%s" % CROSS, "--build=%s" % _build_triplet(), "--prefix=/usr",
                   "--with-build-python=%s" % build_python_path(), "--without-ensurepip",
                   "--disable-test-modules", "--without-doc-strings",
                   "CPPFLAGS=-I%s/usr/include" % sysroot, "LDFLAGS=-L%s/usr/lib" % sysroot,
                   # No -g: the binaries are stripped anyway and debug info slows the build.
                   "OPT=-DNDEBUG -fwrapv -O2"], env=env)
        steps.run(["make", "-C", str(src), "-j%d" % jobs], env=env)
        # A module configure could not find a library for is silently skipped; these two the guest needs.
        missing = _missing_modules(src)
        for module in ("_ctypes", "zlib"):
            if module in missing:
                raise HostError("CPython was built without %s (missing: %s)" % (module, ", ".join(missing)),
                                target=steps.target, hint="see the configure output in the build log")
        steps.run(["make", "-C", str(src), "install", "DESTDIR=%s" % (out / "root"),
                   "COMPILEALL_OPTS=-j%d" % jobs], env=env)
        _prune_python(out / "root", upstream)
        (out / "missing-modules").write_text("\n".join(missing) + "\n")
        shutil.rmtree(src)
    return produce


def _build_triplet() -> str:
    out = subprocess.run(["gcc", "-dumpmachine"], check=False, capture_output=True, text=True)
    return out.stdout.strip() or "x86_64-linux-gnu"


def _missing_modules(src: Path) -> list[str]:
    """Modules the guest's tracing core needs that the build did not produce."""
    shared = {p.name.split(".", 1)[0] for p in (src / "build").glob("lib.*/*.so")}
    wanted = ("_ctypes", "zlib", "_posixsubprocess", "select", "_struct", "math", "binascii", "_json")
    builtin = _builtin_modules(src)
    return sorted(m for m in wanted if m not in shared and m not in builtin)


def _builtin_modules(src: Path) -> set[str]:
    config = src / "Modules/config.c"
    if not config.exists():
        return set()
    return set(re.findall(r'\{"(\w+)", PyInit_', config.read_text()))


def _prune_python(root: Path, upstream: str) -> None:
    minor = ".".join(upstream.split(".")[:2])
    lib = root / "usr/lib" / ("python%s" % minor)
    for rel in _PYTHON_PRUNE:
        shutil.rmtree(lib / rel, ignore_errors=True)
    for pyc in lib.rglob("*.opt-[12].pyc"):
        pyc.unlink()
    for static in (lib / ("config-%s-sparc64-linux-gnu" % minor)).glob("*.a"):
        static.unlink()
    shutil.rmtree(root / "usr/share", ignore_errors=True)
    for binary in [*(root / "usr/bin").glob("python*"), *lib.rglob("*.so")]:
        if binary.is_file() and not binary.is_symlink() and binary.read_bytes()[:4] == b"\x7fELF":
            subprocess.run(["%s-strip" % CROSS, "--strip-unneeded", str(binary)], check=True)


def _busybox(dscs: Mapping[str, Path], scratch: Path, jobs: int, steps: StepRunner) -> Callable[[Path], None]:
    def produce(out: Path) -> None:
        src = _unpack(dscs["busybox"], scratch, steps)
        env = _make_env()
        make = ["make", "-C", str(src), "ARCH=sparc64", "CROSS_COMPILE=%s-" % CROSS]
        steps.run([*make, "defconfig"], env=env)
        steps.run([*make, "-j%d" % jobs], env=env)
        steps.run([*make, "install", "CONFIG_PREFIX=%s" % (out / "root")], env=env)
    return produce


# dropbear's build-time options (its localoptions.h): key logins only, and no
# crypt() in the sparc64 cross glibc, so password auth must be compiled out.
DROPBEAR_LOCAL_OPTIONS = (
    "#define DROPBEAR_SVR_PASSWORD_AUTH 0\n"
    "#define DROPBEAR_CLI_PASSWORD_AUTH 0\n"
    "#define DROPBEAR_X11FWD 0\n"
)


def _dropbear(dscs: Mapping[str, Path], scratch: Path, jobs: int, steps: StepRunner) -> Callable[[Path], None]:
    def produce(out: Path) -> None:
        src = _unpack(dscs["dropbear"], scratch, steps)
        env = _make_env()
        steps.run(["sh", "-c", 'cd "$1" && ./configure --host=%s --prefix=/usr --disable-zlib --disable-pam '
                   "--disable-lastlog --disable-utmp --disable-utmpx --disable-wtmp --disable-wtmpx "
                   "--disable-syslog" % CROSS, "sh", str(src)], env=env)
        (src / "localoptions.h").write_text(DROPBEAR_LOCAL_OPTIONS)
        # Only the server: the harness never runs a client in the guest.
        steps.run(["make", "-C", str(src), "-j%d" % jobs, "PROGRAMS=dropbear"], env=env)
        (out / "usr/sbin").mkdir(parents=True)
        shutil.copyfile(src / "dropbear", out / "usr/sbin/dropbear")
        os.chmod(out / "usr/sbin/dropbear", 0o755)
        steps.run(["%s-strip" % CROSS, str(out / "usr/sbin/dropbear")])
    return produce


# ---------------------------------------------------------------- assembly


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)


def _install_glibc(rootfs: Path) -> None:
    lib = rootfs / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    for path in sorted((SPARC64_LIBC / "lib").iterdir()):
        if ".so." not in path.name or _SKIP_LIBS.match(path.name):
            continue
        if path.is_symlink():
            os.symlink(os.readlink(path), lib / path.name)
        else:
            shutil.copyfile(path, lib / path.name)
            os.chmod(lib / path.name, 0o755)
    (rootfs / "lib64").mkdir(exist_ok=True)
    # The program interpreter path baked into every sparc64 binary.
    shutil.copyfile(SPARC64_LIBC / "lib64/ld-linux.so.2", rootfs / "lib64/ld-linux.so.2")
    os.chmod(rootfs / "lib64/ld-linux.so.2", 0o755)


def _write(rootfs: Path, rel: str, data: bytes, mode: int) -> None:
    path = rootfs / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)


def _disk_usage_mib(path: Path) -> int:
    out = subprocess.run(["du", "-s", "-x", "-B1M", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def part_inputs(versions: Versions) -> dict[str, dict[str, Any]]:
    """What each cached part depends on; a part is rebuilt when its inputs change.

    The ``v`` entries are bumped when a part's build procedure changes.
    """
    host = versions.host
    toolchain = {"gcc": versions.extra["cross_gcc"], "libc": host["libc6-dev-sparc64-cross"],
                 "headers": host["linux-libc-dev-sparc64-cross"]}
    libs = {**toolchain, "zlib": versions.sources["zlib"], "libffi": versions.sources["libffi"], "v": 1}
    return {
        "kernel": {"source": host[KERNEL_SOURCE_PACKAGE], "gcc": versions.extra["cross_gcc"],
                   "binutils": host["binutils-sparc64-linux-gnu"], "fragment": kernel_config_fragment(), "v": 2},
        "libs": libs,
        "python": {**toolchain, "python": versions.sources["python3.11"], "build_python": versions.build_python,
                   "libs": libs, "prune": list(_PYTHON_PRUNE), "v": 1},
        "busybox": {**toolchain, "busybox": versions.sources["busybox"], "v": 1},
        "dropbear": {**toolchain, "dropbear": versions.sources["dropbear"], "options": DROPBEAR_LOCAL_OPTIONS,
                     "v": 1},
    }


def part_dir(parts: Path, name: str, inputs: Mapping[str, Any]) -> Path:
    return parts / ("%s-%s" % (name, stable_hash(dict(inputs))))


def _build(recipe: Recipe, versions: Versions, apt: PrivateApt, parts: Path, work: Path,
           steps: StepRunner) -> dict[str, Any]:
    started = time.monotonic()
    steps.note("versions: %s" % versions.as_dict())
    dscs = _fetch_sources(apt, versions, parts / "sources", steps)
    scratch_root = work / "scratch"
    scratch_root.mkdir()

    def scratch(name: str) -> Path:
        path = scratch_root / name
        path.mkdir()
        return path

    inputs = part_inputs(versions)
    kernel = _part(parts, "kernel", inputs["kernel"], steps, _kernel(scratch("kernel"), recipe.jobs, steps))
    libs = _part(parts, "libs", inputs["libs"], steps, _libraries(dscs, scratch("libs"), recipe.jobs, steps))
    python = _part(parts, "python", inputs["python"], steps,
                   _python(dscs, versions, libs, scratch("python"), recipe.jobs, steps))
    busybox = _part(parts, "busybox", inputs["busybox"], steps, _busybox(dscs, scratch("busybox"), recipe.jobs, steps))
    dropbear = _part(parts, "dropbear", inputs["dropbear"], steps,
                     _dropbear(dscs, scratch("dropbear"), recipe.jobs, steps))
    shutil.rmtree(scratch_root)

    rootfs = work / "rootfs"
    with steps.step("assemble the root file system"):
        for top in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/lib", "etc/dropbear", "dev", "proc", "sys",
                    "run", "tmp", "var/tmp", "root/.ssh", "mnt"):
            (rootfs / top).mkdir(parents=True, exist_ok=True)
        os.chmod(rootfs / "tmp", 0o1777)
        os.chmod(rootfs / "var/tmp", 0o1777)
        os.chmod(rootfs / "root", 0o700)
        os.chmod(rootfs / "root/.ssh", 0o700)
        # dropbear writes its pid file there; /run is a tmpfs (root is read-only).
        os.symlink("../run", rootfs / "var/run")
        _install_glibc(rootfs)
        _copy_tree(busybox / "root", rootfs)
        _copy_tree(dropbear / "usr", rootfs / "usr")
        for so in (libs / "sysroot/usr/lib").glob("lib*.so*"):
            if so.is_symlink():
                os.symlink(os.readlink(so), rootfs / "usr/lib" / so.name)
            else:
                shutil.copyfile(so, rootfs / "usr/lib" / so.name)
                subprocess.run(["%s-strip" % CROSS, "--strip-unneeded", str(rootfs / "usr/lib" / so.name)],
                               check=True)
        _copy_tree(python / "root", rootfs)
        python3 = rootfs / "usr/bin/python3"
        if not python3.exists():
            os.symlink("python3.11", python3)
        for rel, text in guest.guest_files(recipe).items():
            mode = 0o755 if rel in guest.EXECUTABLE_FILES else 0o600 if rel in guest.SECRET_FILES else 0o644
            _write(rootfs, rel, text.encode(), mode)
        _, client_public = guest.write_client_key(work, "trapline@%s" % recipe.target)
        _write(rootfs, "root/.ssh/authorized_keys", client_public.encode(), 0o600)
        host_private, host_public = guest.make_host_key("root@%s" % recipe.target)
        _write(rootfs, guest.DROPBEAR_HOST_KEY, host_private, 0o600)
        (work / "host_key.pub").write_text(host_public)
        shutil.copyfile(kernel / "vmlinux", work / "vmlinux")
        shutil.copyfile(kernel / "config", work / "kernel.config")

    used_mib = _disk_usage_mib(rootfs)
    # ext4 metadata (inode tables, journal) takes a tenth or so beyond the files.
    size_mib = used_mib + used_mib // 8 + 32 + recipe.disk_free_mib
    with steps.step("mkfs.ext4 (%d MiB)" % size_mib):
        steps.run(["mkfs.ext4", "-q", "-F", "-L", "trapline-root", "-E", "root_owner=0:0", "-d", str(rootfs),
                   str(work / "disk.img"), "%dM" % size_mib])
        shutil.rmtree(rootfs)

    return {
        "os": "debian",
        "release": "12",
        "arch": "sparc64",
        "builder": BUILDER_VERSION,
        "recipe": recipe.image_inputs(),
        "versions": versions.as_dict(),
        "python_missing_modules": (python / "missing-modules").read_text().split(),
        "kernel_cmdline": recipe.kernel_cmdline,
        "memory_mb": recipe.memory_mb,
        "ssh_user": "root",
        "ready_marker": guest.READY_MARKER,
        "rootfs_mib": used_mib,
        "disk_mib": size_mib,
        "timings_s": {**steps.timings, "total": round(time.monotonic() - started, 1)},
        "files": {
            "disk": "disk.img",
            "kernel": "vmlinux",
            "kernel_config": "kernel.config",
            "client_key": "ssh_key",
            "client_public_key": "ssh_key.pub",
            "host_public_key": "host_key.pub",
        },
    }
