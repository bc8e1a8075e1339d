"""Repository-wide pytest set-up.

Tests marked ``guest`` boot QEMU: where the QEMU binaries are missing they
skip and say how to install them, instead of failing for a missing tool.
The trapline plugin itself (``--target`` and the suite fixtures) comes
from the package's ``pytest11`` entry point.
"""

from __future__ import annotations

import shutil

import pytest

_QEMU = ("qemu-system-x86_64", "qemu-system-aarch64", "qemu-system-sparc64", "qemu-img")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [tool for tool in _QEMU if shutil.which(tool) is None]
    if not missing:
        return
    skip = pytest.mark.skip(reason="QEMU not installed (%s missing): run scripts/install-system-packages"
                            % ", ".join(missing))
    for item in items:
        if item.get_closest_marker("guest"):
            item.add_marker(skip)
