"""The install HTTP server over real HTTP on 127.0.0.1: exact bytes for
install.conf (both names install.sub asks for) and sets, generated listings,
404s, and one log line per request."""

from __future__ import annotations

import http.client
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.errors import ConfigError, HostError
from harness.images.install_server import InstallServer, media_routes, serve_tree

INSTALL_CONF = (
    "System hostname = openbsd-76-amd64\n"
    "Password for root account = *************\n"
    "Location of sets = http\n"
    "HTTP Server = 10.0.2.2:8080\n"
)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture()
def sets(tmp_path: Path) -> dict[str, Path]:
    media = tmp_path / "media" / "7.6" / "amd64"
    media.mkdir(parents=True)
    base = media / "base76.tgz"
    # Every byte value, several times, plus an odd tail: any re-encoding shows.
    base.write_bytes(bytes(range(256)) * 4099 + b"\x00\xff\x1f")
    bsd = media / "bsd"
    bsd.write_bytes(os.urandom(70000))
    sig = media / "SHA256.sig"
    sig.write_bytes(b"untrusted comment: verify with openbsd-76-base.pub\nRWQ=\n")
    return {"amd64/base76.tgz": base, "amd64/bsd": bsd, "amd64/SHA256.sig": sig}


def test_install_conf_is_served_at_both_names_install_sub_asks_for(tmp_path: Path) -> None:
    with InstallServer(tmp_path / "logs" / "install-http.log") as server:
        server.set_install_conf(INSTALL_CONF)
        assert _get(server.url + "/install.conf") == (200, INSTALL_CONF.encode())
        assert _get(server.url + "/52:54:00:12:34:56-install.conf") == (200, INSTALL_CONF.encode())
        assert _get(server.url + "/upgrade.conf")[0] == 404
        assert _get(server.url + "/52:54:00:12:34-install.conf")[0] == 404  # not a MAC


def test_sets_are_served_with_their_exact_bytes(tmp_path: Path, sets: dict[str, Path]) -> None:
    with InstallServer(tmp_path / "install-http.log") as server:
        for route, path in media_routes(sets, "/7.6").items():
            server.add_file(route, path)
        for key, path in sets.items():
            status, body = _get(server.url + "/7.6/" + key)
            assert status == 200
            assert body == path.read_bytes()


def test_a_set_directory_gets_an_index_txt_whose_last_fields_are_the_names(tmp_path: Path,
                                                                         sets: dict[str, Path]) -> None:
    with InstallServer(tmp_path / "install-http.log") as server:
        for route, path in media_routes(sets, "/7.6").items():
            server.add_file(route, path)
        status, body = _get(server.url + "/7.6/amd64/index.txt")
    assert status == 200
    lines = body.decode().splitlines()
    # install.sub install_http(): sed 's/^.* //' keeps the last field.
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["SHA256.sig", "base76.tgz", "bsd"]
    assert lines[1].split()[4] == str(sets["amd64/base76.tgz"].stat().st_size)


def test_a_served_index_txt_wins_over_the_generated_one(tmp_path: Path, sets: dict[str, Path]) -> None:
    with InstallServer(tmp_path / "install-http.log") as server:
        server.add_file("/amd64/bsd", sets["amd64/bsd"])
        server.add_bytes("/amd64/index.txt", b"mine\n")
        assert _get(server.url + "/amd64/index.txt") == (200, b"mine\n")


def test_a_package_directory_lists_links_for_pkg_add(tmp_path: Path) -> None:
    pkg = tmp_path / "python311-3.11.9.tgz"
    pkg.write_bytes(b"pkg")
    with InstallServer(tmp_path / "install-http.log") as server:
        server.add_file("/packages/All/python311-3.11.9.tgz", pkg)
        status, body = _get(server.url + "/packages/All/")
    assert status == 200
    assert b'<a href="python311-3.11.9.tgz">python311-3.11.9.tgz</a>' in body


def test_head_answers_the_size_without_a_body(tmp_path: Path, sets: dict[str, Path]) -> None:
    with InstallServer(tmp_path / "install-http.log") as server:
        server.add_file("/amd64/bsd", sets["amd64/bsd"])
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("HEAD", "/amd64/bsd")
        reply = conn.getresponse()
        assert reply.status == 200
        assert reply.getheader("Content-Length") == "70000"
        assert reply.read() == b""
        conn.close()


def test_every_request_is_logged_to_the_file_and_kept(tmp_path: Path, sets: dict[str, Path]) -> None:
    log = tmp_path / "logs" / "install-http.log"
    with InstallServer(log) as server:
        server.set_install_conf(INSTALL_CONF)
        server.add_file("/amd64/base76.tgz", sets["amd64/base76.tgz"])
        _get(server.url + "/install.conf")
        _get(server.url + "/amd64/base76.tgz")
        _get(server.url + "/amd64/comp76.tgz")
        port = server.port
    # After close: every answered request has its record and its log line.
    records = server.requests
    assert [(r.method, r.path, r.status, r.sent_bytes) for r in records] == [
        ("GET", "/install.conf", 200, len(INSTALL_CONF)),
        ("GET", "/amd64/base76.tgz", 200, sets["amd64/base76.tgz"].stat().st_size),
        ("GET", "/amd64/comp76.tgz", 404, 0),
    ]
    lines = log.read_text().splitlines()
    assert lines[0] == "# serving on http://127.0.0.1:%d (guest: http://10.0.2.2:%d)" % (port, port)
    assert [line.split()[1:] for line in lines[1:]] == [
        ["127.0.0.1", "GET", "/install.conf", "200", str(len(INSTALL_CONF))],
        ["127.0.0.1", "GET", "/amd64/base76.tgz", "200", str(sets["amd64/base76.tgz"].stat().st_size)],
        ["127.0.0.1", "GET", "/amd64/comp76.tgz", "404", "0"],
    ]


def test_parallel_fetches_all_get_the_whole_file(tmp_path: Path, sets: dict[str, Path]) -> None:
    expected = sets["amd64/base76.tgz"].read_bytes()
    results: list[bytes] = []
    with InstallServer(tmp_path / "install-http.log") as server:
        server.add_file("/amd64/base76.tgz", sets["amd64/base76.tgz"])
        threads = [threading.Thread(target=lambda: results.append(_get(server.url + "/amd64/base76.tgz")[1]))
                   for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert results == [expected] * 6


def test_guest_url_is_user_networking_host_address(tmp_path: Path) -> None:
    with InstallServer(tmp_path / "install-http.log") as server:
        assert server.guest_url == "http://10.0.2.2:%d" % server.port
        assert server.guest_host == "10.0.2.2:%d" % server.port
        assert 0 < server.port < 65536


def test_port_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="not started"):
        _ = InstallServer(tmp_path / "l.log").port


def test_paths_that_climb_out_are_refused(tmp_path: Path) -> None:
    server = InstallServer(tmp_path / "l.log")
    with pytest.raises(ConfigError, match=r"'/amd64/../etc/passwd' must be a plain absolute path"):
        server.add_bytes("/amd64/../etc/passwd", b"")


def test_serving_a_missing_file_names_it(tmp_path: Path) -> None:
    server = InstallServer(tmp_path / "l.log")
    with pytest.raises(HostError, match=r"no-such\.tgz at /amd64/no-such\.tgz: no such file"):
        server.add_file("/amd64/no-such.tgz", tmp_path / "no-such.tgz")


def test_serve_tree_maps_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "tree" / "All").mkdir(parents=True)
    (tmp_path / "tree" / "All" / "a.tgz").write_bytes(b"A")
    (tmp_path / "tree" / "pkg_summary.gz").write_bytes(b"S")
    with InstallServer(tmp_path / "l.log") as server:
        assert serve_tree(server, tmp_path / "tree", "/packages") == 2
        assert _get(server.url + "/packages/All/a.tgz") == (200, b"A")
        assert _get(server.url + "/packages/pkg_summary.gz") == (200, b"S")
