"""Resolving python3's binary packages: a byte-exact pkg_summary for NetBSD,
generated OpenBSD package .tgz files with @depend lines, dependency order,
a missing dependency and a cycle; fetching through file:// into a cache dir."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from harness.errors import ConfigError, HostError
from harness.images.packages import (
    ResolveError,
    dewey_compare,
    dewey_sort_key,
    fetch_python,
    newest_openbsd,
    openbsd_spec_match,
    parse_openbsd_index,
    parse_pkg_summary,
    pkgsrc_match,
    read_openbsd_contents,
    resolve_netbsd,
    resolve_openbsd,
    split_openbsd,
)

# pkg_summary(5): blank-line separated, multi-line DEPENDS repeat the key.
PKG_SUMMARY = (
    b"BUILD_DATE=2024-12-01 10:00:00 +0000\n"
    b"COMMENT=Interpreted, interactive, object-oriented programming language\n"
    b"DEPENDS=libffi>=3.0.0\n"
    b"DEPENDS=gettext-lib>=0.22\n"
    b"DEPENDS={openssl>=3,libressl-[0-9]*}\n"
    b"FILE_NAME=python311-3.11.11.tgz\n"
    b"FILE_SIZE=5\n"
    b"PKGNAME=python311-3.11.11\n"
    b"PKGPATH=lang/python311\n"
    b"\n"
    b"PKGNAME=python311-3.11.9nb1\n"
    b"FILE_SIZE=5\n"
    b"DEPENDS=libffi>=3.0.0\n"
    b"\n"
    b"COMMENT=Foreign function interface\n"
    b"FILE_SIZE=5\n"
    b"PKGNAME=libffi-3.4.6\n"
    b"\n"
    b"PKGNAME=libffi-2.9\n"
    b"FILE_SIZE=5\n"
    b"\n"
    b"DEPENDS=libiconv>=1.9.1nb4\n"
    b"FILE_SIZE=5\n"
    b"PKGNAME=gettext-lib-0.22.5\n"
    b"\n"
    b"FILE_SIZE=5\n"
    b"PKGNAME=libiconv-1.17nb1\n"
    b"\n"
    b"DEPENDS=mozilla-rootcerts-[0-9]*\n"
    b"FILE_SIZE=5\n"
    b"PKGNAME=openssl-3.0.15\n"
    b"\n"
    b"FILE_SIZE=5\n"
    b"PKGNAME=mozilla-rootcerts-1.0.20241118\n"
    b"\n"
)


def test_pkg_summary_is_parsed_with_multi_line_depends_and_file_names() -> None:
    packages = parse_pkg_summary(PKG_SUMMARY.decode())
    assert sorted(packages) == [
        "gettext-lib-0.22.5", "libffi-2.9", "libffi-3.4.6", "libiconv-1.17nb1",
        "mozilla-rootcerts-1.0.20241118", "openssl-3.0.15", "python311-3.11.11", "python311-3.11.9nb1",
    ]  # fmt: skip
    python = packages["python311-3.11.11"]
    assert python.depends == ("libffi>=3.0.0", "gettext-lib>=0.22", "{openssl>=3,libressl-[0-9]*}")
    assert python.file_name == "python311-3.11.11.tgz"
    assert python.size == 5
    # No FILE_NAME: the file is PKGNAME.tgz.
    assert packages["libffi-3.4.6"].file_name == "libffi-3.4.6.tgz"


def test_netbsd_resolution_picks_the_newest_python_and_orders_dependencies_first() -> None:
    ordered = resolve_netbsd("python311", parse_pkg_summary(PKG_SUMMARY.decode()))
    assert [p.name for p in ordered] == [
        "libffi-3.4.6", "libiconv-1.17nb1", "gettext-lib-0.22.5", "mozilla-rootcerts-1.0.20241118",
        "openssl-3.0.15", "python311-3.11.11",
    ]  # fmt: skip


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("libffi>=3.0.0", "libffi-3.4.6", True),
    ("libffi>=3.0.0", "libffi-2.9", False),
    ("libffi>=3.0.0", "libffi-compat-3.4", False),  # the name must be exactly libffi
    ("python311>=3.11<3.12", "python311-3.11.11", True),
    ("python311>=3.11<3.11.10", "python311-3.11.11", False),
    ("libiconv>=1.9.1nb4", "libiconv-1.9.1nb3", False),
    ("libiconv>=1.9.1nb4", "libiconv-1.9.1nb4", True),
    ("python311-[0-9]*", "python311-3.11.11", True),
    ("python311-[0-9]*", "python311-tkinter-3.11.11", False),
    ("{openssl>=3,libressl-[0-9]*}", "libressl-3.9.2", True),
    ("{openssl>=3,libressl-[0-9]*}", "openssl-1.1.1w", False),
    ("gettext-lib-0.22.5", "gettext-lib-0.22.5", True),
])  # fmt: skip
def test_pkgsrc_patterns(pattern: str, name: str, expected: bool) -> None:
    assert pkgsrc_match(pattern, name) is expected


def test_dewey_order_follows_dewey_c() -> None:
    versions = ["1.0", "1.0alpha1", "1.0beta2", "1.0rc1", "1.0pl1", "1.0nb2", "1.0a", "1.0.1", "0.9"]
    ordered = sorted(versions, key=dewey_sort_key)
    assert ordered == ["0.9", "1.0alpha1", "1.0beta2", "1.0rc1", "1.0", "1.0nb2", "1.0pl1", "1.0a", "1.0.1"]
    # 'pl', '.' and a lone letter after a dot all encode as Dot (0), so these three are equal.
    assert dewey_compare("1.0pl1", "1.0.1") == dewey_compare("1.0a", "1.0.1") == 0
    assert dewey_compare("1.10", "1.9") == 1


def test_netbsd_missing_dependency_names_it_and_who_wants_it() -> None:
    summary = "PKGNAME=python311-3.11.11\nDEPENDS=libffi>=3.0.0\nDEPENDS=sqlite3>=3.40\n\nPKGNAME=libffi-3.4.6\n"
    with pytest.raises(ResolveError, match=r"python311-3\.11\.11 depends on 'sqlite3>=3\.40', which no package"):
        resolve_netbsd("python311", parse_pkg_summary(summary))


def test_netbsd_cycle_is_reported_with_its_path() -> None:
    summary = ("PKGNAME=python311-3.11.11\nDEPENDS=a>=1\n\nPKGNAME=a-1.0\nDEPENDS=b>=1\n\n"
               "PKGNAME=b-1.0\nDEPENDS=a>=1\n")
    with pytest.raises(ResolveError, match=r"dependency cycle: a-1\.0 -> b-1\.0 -> a-1\.0"):
        resolve_netbsd("python311", parse_pkg_summary(summary))


def test_netbsd_unknown_python_name_suggests_close_names() -> None:
    with pytest.raises(ResolveError, match="no package 'python39'") as err:
        resolve_netbsd("python39", parse_pkg_summary(PKG_SUMMARY.decode()))
    assert err.value.hint == "names that start alike: python311"


def test_a_summary_entry_without_pkgname_is_refused() -> None:
    with pytest.raises(ConfigError, match="pkg_summary entry 2 has no PKGNAME"):
        parse_pkg_summary("PKGNAME=a-1\n\nCOMMENT=x\n")


# ---------------------------------------------------------------- OpenBSD


def _openbsd_pkg(directory: Path, name: str, depends: list[str]) -> Path:
    """A package as OpenBSD ships it: a gzipped tar whose first member is +CONTENTS."""
    contents = "@name %s\n@comment pkgpath=lang/x ftp=yes\n" % name
    contents += "".join("@depend %s\n" % d for d in depends)
    contents += "@cwd /usr/local\nbin/%s\n" % name.split("-", maxsplit=1)[0]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member, data in (("+CONTENTS", contents.encode()), ("+DESC", b"test package\n")):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = directory / (name + ".tgz")
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture()
def openbsd_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "mirror" / "7.6" / "packages" / "amd64"
    repo.mkdir(parents=True)
    _openbsd_pkg(repo, "python-3.11.10p1", ["devel/libffi:libffi-*:libffi-3.4.6",
                                            "devel/gettext,-runtime:gettext-runtime->=0.22:gettext-runtime-0.22.5",
                                            "archivers/xz:xz->=5.4:xz-5.6.2"])
    _openbsd_pkg(repo, "python-3.10.15", ["devel/libffi:libffi-*:libffi-3.4.6"])
    _openbsd_pkg(repo, "python-tkinter-3.11.10", ["lang/python/3.11:python-3.11.*:python-3.11.10p1"])
    _openbsd_pkg(repo, "libffi-3.4.6", [])
    _openbsd_pkg(repo, "gettext-runtime-0.22.5", ["converters/libiconv:libiconv-*:libiconv-1.17"])
    _openbsd_pkg(repo, "libiconv-1.17", [])
    # The default named by python (xz-5.6.2) is absent: the spec picks the newest match.
    _openbsd_pkg(repo, "xz-5.4.7", [])
    _openbsd_pkg(repo, "xz-5.6.3", [])
    _openbsd_pkg(repo, "xz-5.2.0", [])
    lines = ["-rw-r--r--  1 1000  1000  %d Oct  1 12:00 %s" % (p.stat().st_size, p.name)
             for p in sorted(repo.glob("*.tgz"))]
    (repo / "index.txt").write_text("\n".join(lines) + "\n")
    return repo


def test_openbsd_index_lists_the_last_field() -> None:
    text = "-rw-r--r--  1 1000  1000  1234 Oct  1 12:00 libffi-3.4.6.tgz\n" \
           "-rw-r--r--  1 1000  1000  99 Oct  1 12:00 SHA256.sig\n"
    assert parse_openbsd_index(text) == ["libffi-3.4.6.tgz"]


def test_openbsd_contents_are_read_from_the_tgz(openbsd_repo: Path) -> None:
    pkg = read_openbsd_contents(openbsd_repo / "gettext-runtime-0.22.5.tgz")
    assert pkg.name == "gettext-runtime-0.22.5"
    assert pkg.depends == ("converters/libiconv:libiconv-*:libiconv-1.17",)


def test_openbsd_resolution_orders_dependencies_first(openbsd_repo: Path) -> None:
    files = parse_openbsd_index((openbsd_repo / "index.txt").read_text())
    fetched: list[str] = []

    def get(name: str) -> Path:
        fetched.append(name)
        return openbsd_repo / name

    ordered = resolve_openbsd("python-3.11", files, get)
    assert [p.name for p in ordered] == [
        "libffi-3.4.6", "libiconv-1.17", "gettext-runtime-0.22.5", "xz-5.6.3", "python-3.11.10p1",
    ]  # fmt: skip
    # Only what the resolution needed was fetched (not python-3.10, tkinter, the other xz).
    assert sorted(fetched) == sorted(p.name + ".tgz" for p in ordered)


def test_openbsd_plain_python_picks_the_newest_python_not_a_subpackage(openbsd_repo: Path) -> None:
    files = parse_openbsd_index((openbsd_repo / "index.txt").read_text())
    assert newest_openbsd("python", files) == "python-3.11.10p1.tgz"
    # The catalog's form: pkg_add's stem%branch.
    assert newest_openbsd("python%3.10", files) == "python-3.10.15.tgz"
    assert newest_openbsd("python%3.11", files) == "python-3.11.10p1.tgz"
    with pytest.raises(ResolveError, match=r"no package 'python%3\.12'") as err:
        newest_openbsd("python%3.12", files)
    assert err.value.hint == "packages of that stem: python-3.10.15, python-3.11.10p1, python-tkinter-3.11.10"


@pytest.mark.parametrize(("spec", "name", "expected"), [
    ("libffi-*", "libffi-3.4.6", True),
    ("xz->=5.4", "xz-5.2.0", False),
    ("xz->=5.4", "xz-5.4.7", True),
    ("python->=3.11,<3.12", "python-3.11.10p1", True),
    ("python->=3.11,<3.12", "python-3.12.1", False),
    ("python-3.11.*", "python-3.11.10p1", True),
])  # fmt: skip
def test_openbsd_specs(spec: str, name: str, expected: bool) -> None:
    assert openbsd_spec_match(spec, name) is expected


def test_openbsd_names_split_into_stem_version_flavor() -> None:
    assert split_openbsd("python-tkinter-3.11.10p1") == ("python-tkinter", "3.11.10p1", "")
    assert split_openbsd("vim-9.1.0707-no_x11") == ("vim", "9.1.0707", "no_x11")


def test_openbsd_missing_dependency_names_it(tmp_path: Path) -> None:
    _openbsd_pkg(tmp_path, "python-3.11.10p1", ["devel/libffi:libffi-*:libffi-3.4.6"])
    with pytest.raises(ResolveError, match=r"python-3\.11\.10p1 depends on 'libffi-\*' \(libffi-3\.4\.6\)"):
        resolve_openbsd("python", ["python-3.11.10p1.tgz"], lambda f: tmp_path / f)


def test_openbsd_cycle_is_reported(tmp_path: Path) -> None:
    _openbsd_pkg(tmp_path, "python-3.11.10p1", ["x/a:a-*:a-1.0"])
    _openbsd_pkg(tmp_path, "a-1.0", ["x/b:b-*:b-1.0"])
    _openbsd_pkg(tmp_path, "b-1.0", ["lang/python:python-3.11.*:python-3.11.10p1"])
    files = ["python-3.11.10p1.tgz", "a-1.0.tgz", "b-1.0.tgz"]
    with pytest.raises(ResolveError, match=r"dependency cycle: python-3\.11\.10p1 -> a-1\.0 -> b-1\.0 -> python"):
        resolve_openbsd("python", files, lambda f: tmp_path / f)


def test_a_file_that_is_not_a_package_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "junk-1.0.tgz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(HostError, match=r"junk-1\.0\.tgz is not an OpenBSD package"):
        read_openbsd_contents(bad)


# ---------------------------------------------------------------- fetching


def test_fetch_python_netbsd_downloads_the_ordered_files(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "All"
    mirror.mkdir(parents=True)
    (mirror / "pkg_summary.gz").write_bytes(gzip.compress(PKG_SUMMARY))
    for pkg in parse_pkg_summary(PKG_SUMMARY.decode()).values():
        (mirror / pkg.file_name).write_bytes(pkg.name[:5].encode())  # FILE_SIZE=5
    cache = tmp_path / "cache"
    result = fetch_python("netbsd", "python311", mirror.as_uri(), cache)
    assert result.names[-1] == "python311-3.11.11"
    assert [p.name for p in result.files] == [
        "libffi-3.4.6.tgz", "libiconv-1.17nb1.tgz", "gettext-lib-0.22.5.tgz",
        "mozilla-rootcerts-1.0.20241118.tgz", "openssl-3.0.15.tgz", "python311-3.11.11.tgz",
    ]  # fmt: skip
    assert all(f.read_bytes() == (mirror / f.name).read_bytes() for f in result.files)
    assert not list(cache.glob(".*.part"))
    assert len(result.index_sha256) == 64


def test_fetch_python_netbsd_rejects_a_short_file(tmp_path: Path) -> None:
    mirror = tmp_path / "All"
    mirror.mkdir()
    (mirror / "pkg_summary.gz").write_bytes(gzip.compress(b"PKGNAME=python311-3.11.11\nFILE_SIZE=10\n"))
    (mirror / "python311-3.11.11.tgz").write_bytes(b"short")
    with pytest.raises(HostError, match="got 5 bytes, the index says 10"):
        fetch_python("netbsd", "python311", mirror.as_uri(), tmp_path / "cache")
    assert not (tmp_path / "cache" / "python311-3.11.11.tgz").exists()


def test_fetch_python_openbsd_through_file_url(openbsd_repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = fetch_python("openbsd", "python-3.11", openbsd_repo.as_uri(), cache)
    assert result.names == ["libffi-3.4.6", "libiconv-1.17", "gettext-runtime-0.22.5", "xz-5.6.3",
                            "python-3.11.10p1"]
    assert (cache / "python-3.11.10p1.tgz").read_bytes() == (openbsd_repo / "python-3.11.10p1.tgz").read_bytes()


def test_a_missing_mirror_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HostError, match=r"cannot download .*/pkg_summary\.gz") as raised:
        fetch_python("netbsd", "python311", (tmp_path / "nowhere").as_uri(), tmp_path / "cache")
    # --mirror does not reach the package fetch, so the fix names what does.
    assert raised.value.hint == (
        "the packages come from the target's pkg_path in images/netbsd.toml or images/openbsd.toml (--mirror and "
        "TRAPLINE_NETBSD_MIRROR / TRAPLINE_OPENBSD_MIRROR do not change it); point pkg_path at a reachable "
        "package directory")


def test_a_package_of_the_wrong_size_points_at_pkg_path(tmp_path: Path) -> None:
    mirror = tmp_path / "All"
    mirror.mkdir()
    (mirror / "python311-3.11.11.tgz").write_bytes(b"short")
    (mirror / "pkg_summary.gz").write_bytes(gzip.compress(b"PKGNAME=python311-3.11.11\nFILE_SIZE=9\n\n"))
    with pytest.raises(HostError, match=r"python311-3\.11\.11\.tgz: got 5 bytes, the index says 9") as raised:
        fetch_python("netbsd", "python311", mirror.as_uri(), tmp_path / "cache")
    assert raised.value.hint is not None
    assert raised.value.hint.startswith("the mirror may be mid-update; try again, or the packages come from the "
                                        "target's pkg_path in images/netbsd.toml or images/openbsd.toml")


def test_an_index_is_fetched_again_and_the_cached_one_used_when_offline(tmp_path: Path) -> None:
    mirror = tmp_path / "All"
    mirror.mkdir()
    cache = tmp_path / "cache"
    (mirror / "pkg_summary.gz").write_bytes(gzip.compress(b"PKGNAME=python311-3.11.9\n"))
    (mirror / "python311-3.11.9.tgz").write_bytes(b"old")
    assert fetch_python("netbsd", "python311", mirror.as_uri(), cache).names == ["python311-3.11.9"]
    # The mirror moved on: the next build sees the new index.
    (mirror / "pkg_summary.gz").write_bytes(gzip.compress(b"PKGNAME=python311-3.11.11\n"))
    (mirror / "python311-3.11.11.tgz").write_bytes(b"new")
    assert fetch_python("netbsd", "python311", mirror.as_uri(), cache).names == ["python311-3.11.11"]
    # Offline: the last index and the packages it named, from the cache.
    offline = (tmp_path / "gone").as_uri()
    assert fetch_python("netbsd", "python311", offline, cache).names == ["python311-3.11.11"]
    assert sorted(p.name for p in cache.iterdir()) == ["pkg_summary.gz", "python311-3.11.11.tgz",
                                                       "python311-3.11.9.tgz"]
