"""The host's HTTP server for an unattended BSD install and provisioning.

A guest on QEMU user networking reaches the host at ``10.0.2.2``; this
server listens on ``127.0.0.1`` at a free port (user networking forwards the
guest's connections to 10.0.2.2 to the host's loopback), so it is never
reachable from the network.  It serves exactly what the builder put in:

* the OpenBSD response file at ``/install.conf`` and at
  ``/<mac>-install.conf``, the two names the installer asks for.  OpenBSD
  ``distrib/miniroot/install.sub`` (``$OpenBSD: install.sub,v 1.814
  2015/03/08``, openbsd/src commit 0004319f), ``get_responsefile()``: it
  tries ``http://<next-server>/<lladdr>-install.conf``, then
  ``.../install.conf``, and failing both asks ``Response file location?``
  (the dialogue answers with :attr:`InstallServer.guest_url` + ``/install.conf``,
  since the server is not on port 80).
* the verified sets from the media cache, under their media path;
* binary packages for ``pkg_add``.

A directory without its own ``index.txt`` gets one generated: the OpenBSD
installer lists the sets of an HTTP directory by fetching ``index.txt``
(install.sub, ``install_http()``); the same path without a file name gets
an HTML list of links, which NetBSD's libfetch reads as a directory listing.

Every request is logged, one line each, to the log file kept with the build
logs; a file that was asked for and is not there shows up there as a 404.
"""

from __future__ import annotations

import html
import http.server
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import ConfigError, HostError

# QEMU user networking: the host as the guest sees it.
GUEST_HOST_ADDRESS = "10.0.2.2"
_MAC_INSTALL_CONF = re.compile(r"^/[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}-install\.conf$")
_CHUNK = 1 << 20
_CLOSE_WAIT = 5.0


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server answered it."""

    client: str
    method: str
    path: str
    status: int
    sent_bytes: int


class InstallServer:
    """A threaded HTTP server on 127.0.0.1 serving a fixed set of files.

    Use as a context manager (or :meth:`start` / :meth:`close`).  Routes are
    URL paths (``/amd64/base76.tgz``) mapped to files on the host or to bytes.
    """

    def __init__(self, log_path: Path, *, bind: str = "127.0.0.1") -> None:
        self.log_path = Path(log_path)
        self.bind = bind
        self._files: dict[str, Path] = {}
        self._blobs: dict[str, bytes] = {}
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        # Requests still being answered; close() lets them finish their log line.
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._log: IO[str] | None = None
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what is served --------------------------------------------------------

    def add_file(self, url_path: str, source: Path) -> str:
        """Serve the host file ``source`` at ``url_path``; returns the normalised path."""
        path = _normalise(url_path)
        source = Path(source)
        if not source.is_file():
            raise HostError("cannot serve %s at %s: no such file" % (source, path),
                            hint="fetch and verify the media first (harness images fetch)")
        with self._lock:
            self._files[path] = source
            self._blobs.pop(path, None)
        return path

    def add_bytes(self, url_path: str, data: bytes) -> str:
        path = _normalise(url_path)
        with self._lock:
            self._blobs[path] = bytes(data)
            self._files.pop(path, None)
        return path

    def set_install_conf(self, text: str) -> None:
        """The OpenBSD response file, at ``/install.conf`` and, through a
        pattern, at every ``/<mac>-install.conf`` (the guest's MAC is QEMU's
        choice, so any address gets the same answers)."""
        self.add_bytes("/install.conf", text.encode())

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    # -- lifecycle -------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise HostError("the install server is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL from the host."""
        return "http://%s:%d" % (self.bind, self.port)

    @property
    def guest_url(self) -> str:
        """The base URL from inside a QEMU user-networking guest."""
        return "http://%s:%d" % (GUEST_HOST_ADDRESS, self.port)

    @property
    def guest_host(self) -> str:
        """``host:port`` as the OpenBSD installer's ``HTTP Server`` question wants it."""
        return "%s:%d" % (GUEST_HOST_ADDRESS, self.port)

    def start(self) -> InstallServer:
        if self._httpd is not None:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115
        handler = _make_handler(self)
        try:
            # Port 0: the kernel picks a free one, so parallel builds never collide.
            self._httpd = http.server.ThreadingHTTPServer((self.bind, 0), handler)
        except OSError as exc:
            self._log.close()
            raise HostError("cannot start the install server on %s: %s" % (self.bind, exc.strerror)) from exc
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="install-server", daemon=True)
        self._thread.start()
        self._write_log("# serving on %s (guest: %s)" % (self.url, self.guest_url))
        return self

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
            with self._idle:
                # A guest that powered off mid-transfer leaves a handler
                # blocked on a dead socket: do not wait for it forever.
                self._idle.wait_for(lambda: self._in_flight == 0, timeout=_CLOSE_WAIT)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> InstallServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering -------------------------------------------------------------

    def _lookup(self, path: str) -> tuple[Path | None, bytes | None]:
        with self._lock:
            if path in self._files:
                return self._files[path], None
            if path in self._blobs:
                return None, self._blobs[path]
            if _MAC_INSTALL_CONF.match(path) and "/install.conf" in self._blobs:
                return None, self._blobs["/install.conf"]
            directory, _, name = path.rpartition("/")
            if name in ("index.txt", ""):
                listing = self._listing(directory + "/", html_links=(name == ""))
                if listing is not None:
                    return None, listing
        return None, None

    def _listing(self, directory: str, *, html_links: bool) -> bytes | None:
        entries: dict[str, int] = {}
        for route, source in self._files.items():
            if route.startswith(directory) and "/" not in route[len(directory):]:
                entries[route[len(directory):]] = source.stat().st_size
        for route, blob in self._blobs.items():
            if route.startswith(directory) and "/" not in route[len(directory):]:
                entries[route[len(directory):]] = len(blob)
        if not entries:
            return None
        if html_links:
            links = "".join('<a href="%s">%s</a>\n' % (html.escape(n), html.escape(n)) for n in sorted(entries))
            return ("<html><body>\n%s</body></html>\n" % links).encode()
        # The shape of 'ls -l': the installer and pkg_add read the last field.
        stamp = time.strftime("%b %d %H:%M", time.gmtime())
        return "".join("-rw-r--r--  1 root  wheel  %d %s %s\n" % (size, stamp, name)
                       for name, size in sorted(entries.items())).encode()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
        self._write_log("%s %s %s %s %d %d" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), record.client,
                                                record.method, record.path, record.status, record.sent_bytes))

    def _write_log(self, line: str) -> None:
        with self._lock:
            if self._log is not None:
                self._log.write(line + "\n")
                self._log.flush()


def _normalise(url_path: str) -> str:
    path = "/" + url_path.lstrip("/")
    parts = path.split("/")
    if any(part in (".", "..") for part in parts) or "//" in path or "?" in path or "#" in path:
        raise ConfigError("install server path %r must be a plain absolute path (no '.', '..', '?', '#')"
                          % url_path)
    return path


def _make_handler(server: InstallServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "trapline-install/1"
        # HTTP/1.1 keep-alive for pkg_add and ftp(1), which fetch many files.
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            with server._idle:
                server._in_flight += 1
            try:
                self._answer_counted(send_body=send_body)
            finally:
                with server._idle:
                    server._in_flight -= 1
                    server._idle.notify_all()

        def _answer_counted(self, *, send_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            source, blob = server._lookup(path)
            if source is None and blob is None:
                body = b"not served here: " + path.encode(errors="replace") + b"\n"
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)
                server._record(RequestRecord(self.client_address[0], self.command, path, 404, 0))
                return
            size = source.stat().st_size if source is not None else len(blob or b"")
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            sent = 0
            try:
                if send_body and source is not None:
                    with open(source, "rb") as f:
                        while chunk := f.read(_CHUNK):
                            self.wfile.write(chunk)
                            sent += len(chunk)
                elif send_body:
                    self.wfile.write(blob or b"")
                    sent = size
            finally:
                # A cut transfer is logged with the bytes that went out.
                server._record(RequestRecord(self.client_address[0], self.command, path, 200, sent))

        def log_message(self, format: str, *args: object) -> None:
            # Our own log line per request replaces http.server's stderr chatter.
            pass

    return Handler


def media_routes(media: dict[str, Path], prefix: str = "") -> dict[str, Path]:
    """URL paths for the verified media files (keyed by media path), under ``prefix``."""
    return {"%s/%s" % (prefix.rstrip("/"), key.lstrip("/")): Path(path) for key, path in media.items()}


def serve_tree(server: InstallServer, root: Path, prefix: str) -> int:
    """Serve every file under ``root`` at ``prefix/<relative path>``; how many."""
    count = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            source = Path(dirpath) / name
            server.add_file("%s/%s" % (prefix.rstrip("/"), source.relative_to(root).as_posix()), source)
            count += 1
    return count
