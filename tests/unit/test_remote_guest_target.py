"""How a built image becomes the VM layer's BootSpec."""

from __future__ import annotations

from pathlib import Path

from harness.images.cache import BuiltImage
from harness.remote.guest_target import boot_spec


def test_boot_spec_from_image_manifest(tmp_path: Path) -> None:
    for name in ("disk.img", "vmlinuz", "initrd.img"):
        (tmp_path / name).write_bytes(b"x")
    image = BuiltImage(tmp_path, {
        "target": "debian-12-aarch64", "recipe_hash": "0123456789abcdef", "arch": "aarch64",
        "kernel_cmdline": "root=/dev/vda rw console=ttyAMA0 net.ifnames=0",
        "files": {"disk": "disk.img", "kernel": "vmlinuz", "initrd": "initrd.img"},
    })
    spec = boot_spec(image, memory_mb=2048, profile_overrides={"cpu": "max"})
    assert (spec.target, spec.arch, spec.recipe_id) == ("debian-12-aarch64", "aarch64", "0123456789abcdef")
    assert (spec.base_disk, spec.disk_format) == (tmp_path / "disk.img", "raw")
    assert (spec.kernel, spec.initrd) == (tmp_path / "vmlinuz", tmp_path / "initrd.img")
    assert spec.append == "root=/dev/vda rw console=ttyAMA0 net.ifnames=0"
    assert spec.memory_mb == 2048
    assert dict(spec.profile_overrides) == {"cpu": "max"}
    assert spec.missing_files() == []
