"""A real HTTP mirror on 127.0.0.1 serving generated NetBSD and OpenBSD release trees.

:class:`FakeMirror` runs ``http.server`` in a thread on an ephemeral port.
:meth:`FakeMirror.publish` fills the tree for a catalog entry: random bytes
for each media file, plus the checksum file of each media directory in the
release's own format (NetBSD ``SHA512``, OpenBSD ``SHA256.sig`` signed by a
:class:`TestSigner`), so the fetcher's real verification runs against it.

It answers ``Range: bytes=N-`` with 206 (416 past the end) and can be told to
misbehave: cut the body of a file after N bytes once (:meth:`cut_after`),
answer every range request with the whole file (:attr:`ignore_range`),
serve a file whose bytes differ from its checksum (:meth:`tamper`), or hold a
request until the test lets it go (:meth:`hold`).  Every request is recorded
with its Range header, so a test can say "downloaded once" or "resumed at
byte N".
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Where each OS keeps its releases on a real mirror (cdn.NetBSD.org/pub/NetBSD,
# cdn.openbsd.org/pub/OpenBSD); the fake serves the same shape.
MIRROR_PREFIX = {"netbsd": "/pub/NetBSD", "openbsd": "/pub/OpenBSD"}
# A gate a test forgets to open must not hang the suite.
_HOLD_LIMIT = 60.0


@dataclass(frozen=True)
class Request:
    """One request as the mirror saw it."""

    path: str
    range: str | None
    status: int


class TestSigner:
    """An OpenBSD-style signify key pair made for the tests (signify_writer)."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, release: str) -> None:
        from tests.fakes.signify_writer import make_keypair

        digits = release.replace(".", "")
        self.key_file = "openbsd-%s-base.pub" % digits
        self.public_text, self._private, self._key_id = make_keypair("openbsd %s base public key" % release)

    def sign(self, message: bytes) -> bytes:
        """``message`` with its embedded signature, as SHA256.sig holds it."""
        from tests.fakes.signify_writer import sign_embedded

        return sign_embedded(message, self._private, self._key_id, "verify with %s" % self.key_file)

    def public_key(self) -> Any:
        """The public key as harness.images.signify parses it."""
        from harness.images.signify import parse_public_key

        return parse_public_key(self.public_text, source="test key %s" % self.key_file)


def checksum_lines(algorithm: str, files: Mapping[str, bytes]) -> bytes:
    """BSD-style ``ALG (name) = hex`` lines, as NetBSD's and OpenBSD's cksum -a write them."""
    hasher = {"SHA512": hashlib.sha512, "SHA256": hashlib.sha256}[algorithm]
    return b"".join(b"%s (%s) = %s\n" % (algorithm.encode(), name.encode(), hasher(data).hexdigest().encode())
                    for name, data in sorted(files.items()))


class FakeMirror:
    """The mirror; use as a context manager (the server stops on exit)."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._tampered: dict[str, bytes] = {}
        self._cuts: dict[str, int] = {}
        self._holds: dict[str, threading.Event] = {}
        self._requests: list[Request] = []
        self._arrivals: dict[str, int] = {}
        self._lock = threading.Lock()
        self.ignore_range = False
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="fake-mirror",
                                        daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for gate in self._holds.values():
            gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def root_url(self) -> str:
        host, port = self._server.server_address[:2]
        return "http://%s:%d" % (host, port)

    def base_url(self, os_name: str) -> str:
        """The URL a catalog's ``mirror`` key names for ``os_name``."""
        return self.root_url + MIRROR_PREFIX[os_name]

    @staticmethod
    def url_path(os_name: str, release_dir: str, path: str) -> str:
        return "%s/%s/%s" % (MIRROR_PREFIX[os_name], release_dir, path)

    # -- content

    def put(self, url_path: str, data: bytes) -> None:
        with self._lock:
            self._files[url_path] = data

    def publish(self, os_name: str, release: str, release_dir: str, media: Iterable[str], *,
                size: int = 200_000, signer: TestSigner | None = None,
                extra: Iterable[str] = ()) -> dict[str, bytes]:
        """Random bytes for every path in ``media`` (and ``extra``, files the
        mirror has but the target does not fetch), and each directory's
        checksum file over all of them.  Returns media path -> bytes."""
        contents = {path: os.urandom(size + i * 1000) for i, path in enumerate([*media, *extra])}
        directories: dict[str, dict[str, bytes]] = {}
        for path, data in contents.items():
            directory, _, name = path.rpartition("/")
            directories.setdefault(directory, {})[name] = data
            self.put(self.url_path(os_name, release_dir, path), data)
        for directory, files in directories.items():
            prefix = directory + "/" if directory else ""
            if os_name == "netbsd":
                self.put(self.url_path(os_name, release_dir, prefix + "SHA512"), checksum_lines("SHA512", files))
            else:
                if signer is None:
                    raise ValueError("an OpenBSD tree needs a TestSigner for its SHA256.sig")
                signed = signer.sign(checksum_lines("SHA256", files))
                self.put(self.url_path(os_name, release_dir, prefix + "SHA256.sig"), signed)
        return {path: contents[path] for path in media}

    def write_tree(self, directory: Path) -> None:
        """Everything published, as files under ``directory`` (for a file:// mirror)."""
        with self._lock:
            files = dict(self._files)
        for url_path, data in files.items():
            dest = directory / url_path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)

    # -- misbehaviour

    def cut_after(self, url_path: str, n: int) -> None:
        """The next GET of ``url_path`` sends only ``n`` bytes of its body, then drops the connection."""
        with self._lock:
            self._cuts[url_path] = n

    def tamper(self, url_path: str) -> bytes:
        """Serve ``url_path`` with one byte changed from now on (same length); returns what is served."""
        with self._lock:
            data = bytearray(self._files[url_path])
            data[len(data) // 2] ^= 0xFF
            self._tampered[url_path] = bytes(data)
            return bytes(data)

    def hold(self, url_path: str) -> threading.Event:
        """Requests of ``url_path`` wait until the returned event is set."""
        gate = threading.Event()
        with self._lock:
            self._holds[url_path] = gate
        return gate

    # -- what happened

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_of(self, url_path: str) -> list[Request]:
        return [r for r in self.requests if r.path == url_path]

    def count(self, url_path: str) -> int:
        return len(self.requests_of(url_path))

    def arrivals(self, url_path: str) -> int:
        """Requests of ``url_path`` that reached the server, held ones included
        (:attr:`requests` lists a request once it is answered)."""
        with self._lock:
            return self._arrivals.get(url_path, 0)

    # -- serving (called by the handler)

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        range_header = handler.headers.get("Range")
        with self._lock:
            self._arrivals[path] = self._arrivals.get(path, 0) + 1
            gate = self._holds.get(path)
        if gate is not None:
            gate.wait(_HOLD_LIMIT)
        with self._lock:
            data = self._tampered.get(path, self._files.get(path))
            cut = self._cuts.pop(path, None) if data is not None else None
        if data is None:
            self._record(path, range_header, 404)
            handler.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header or "")
        if match and not self.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self._record(path, range_header, 416)
                handler.send_response(416)
                handler.send_header("Content-Range", "bytes */%d" % len(data))
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            end = int(match.group(2)) + 1 if match.group(2) else len(data)
            body = data[start:min(end, len(data))]
            status = 206
        else:
            body = data
            status = 200
        self._record(path, range_header, status)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(body)))
        if status == 206:
            handler.send_header("Content-Range", "bytes %d-%d/%d" % (start, start + len(body) - 1, len(data)))
        handler.send_header("Accept-Ranges", "bytes")
        handler.end_headers()
        if cut is not None:
            handler.wfile.write(body[:cut])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)

    def _record(self, path: str, range_header: str | None, status: int) -> None:
        with self._lock:
            self._requests.append(Request(path, range_header, status))


def _handler_for(mirror: FakeMirror) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            mirror._answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request list is the log

    return Handler


# -- catalog entries pointing at a mirror

NETBSD_AMD64 = "netbsd-10.1-amd64"
NETBSD_AARCH64 = "netbsd-10.1-aarch64"
OPENBSD_AMD64 = "openbsd-7.9-amd64"

_TARGETS = {
    NETBSD_AMD64: """\
[targets."netbsd-10.1-amd64"]
release = "10.1"
arch = "amd64"
native_arch = "amd64"
mirror = "{mirror}"
release_dir = "NetBSD-10.1"
media = ["images/NetBSD-10.1-amd64-live.img.gz"]
install = "live-image"
install_media = "images/NetBSD-10.1-amd64-live.img.gz"
disk_mib = 4096
python_package = "python312"
pkg_path = "https://cdn.NetBSD.org/pub/pkgsrc/packages/NetBSD/x86_64/10.0/All"
""",
    NETBSD_AARCH64: """\
[targets."netbsd-10.1-aarch64"]
release = "10.1"
arch = "aarch64"
native_arch = "evbarm-aarch64"
mirror = "{mirror}"
release_dir = "NetBSD-10.1"
media = ["evbarm-aarch64/binary/gzimg/arm64.img.gz", "evbarm-aarch64/binary/kernel/netbsd-GENERIC64.img.gz"]
install = "disk-image"
install_media = "evbarm-aarch64/binary/gzimg/arm64.img.gz"
kernel = "evbarm-aarch64/binary/kernel/netbsd-GENERIC64.img.gz"
kernel_append = "root=NAME=netbsd-root"
disk_mib = 4096
python_package = "python312"
pkg_path = "https://cdn.NetBSD.org/pub/pkgsrc/packages/NetBSD/aarch64/10.0/All"
""",
    OPENBSD_AMD64: """\
[targets."openbsd-7.9-amd64"]
release = "7.9"
arch = "amd64"
native_arch = "amd64"
mirror = "{mirror}"
release_dir = "7.9"
media = ["amd64/cd79.iso", "amd64/bsd.rd", "amd64/base79.tgz"]
install = "autoinstall"
install_media = "amd64/cd79.iso"
disk_mib = 8192
python_package = "python%3.13"
pkg_path = "https://cdn.openbsd.org/pub/OpenBSD/7.9/packages/amd64"
""",
}


def catalog_text(os_name: str, mirrors: Mapping[str, str]) -> str:
    """A catalog file of ``os_name`` holding the targets named in ``mirrors``
    (target -> the URL its ``mirror`` key names)."""
    parts = ['os = "%s"\n' % os_name]
    for target, url in mirrors.items():
        if not target.startswith(os_name + "-"):
            raise ValueError("%s is not a %s target" % (target, os_name))
        parts.append("\n" + _TARGETS[target].format(mirror=url))
    return "".join(parts)


def write_catalog(directory: Path, mirrors: Mapping[str, str]) -> Path:
    """``netbsd.toml`` / ``openbsd.toml`` in ``directory`` for the targets in
    ``mirrors`` (target -> mirror URL); returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for os_name in ("netbsd", "openbsd"):
        mine = {t: u for t, u in mirrors.items() if t.startswith(os_name + "-")}
        if mine:
            (directory / ("%s.toml" % os_name)).write_text(catalog_text(os_name, mine))
    return directory
