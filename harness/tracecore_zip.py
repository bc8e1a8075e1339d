"""Build ``tracecore.zip``: the core as one file, named by its content hash.

The zip is deterministic (sorted entries, fixed timestamps), so the same
sources always give the same SHA-256, and a guest that already holds that
hash is not sent it again.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

CORE_DIR = Path(__file__).resolve().parent / "tracecore"
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Run as "python3 tracecore.zip serve": the zip's own __main__ hands over.
_TOP_MAIN = b"import sys\nfrom tracecore.__main__ import main\nsys.exit(main())\n"


def _entries() -> list[tuple[str, bytes]]:
    entries = [("__main__.py", _TOP_MAIN)]
    for path in sorted(CORE_DIR.rglob("*.py")):
        rel = path.relative_to(CORE_DIR.parent).as_posix()
        entries.append((rel, path.read_bytes()))
    return entries


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _entries():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def build_zip(dest_dir: Path) -> tuple[Path, str]:
    """Write the zip into ``dest_dir`` as ``tracecore-<sha12>.zip``; return
    its path and full SHA-256.  Reuses an existing file of the same hash."""
    data = zip_bytes()
    digest = hashlib.sha256(data).hexdigest()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / ("tracecore-%s.zip" % digest[:12])
    if not path.exists():
        tmp = path.with_suffix(".tmp%d" % os.getpid())
        tmp.write_bytes(data)
        tmp.replace(path)
    return path, digest
