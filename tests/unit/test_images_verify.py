"""Checksum files and media verification: NetBSD's SHA512, OpenBSD's signed
SHA256.sig, the release keys trapline carries, and what a mismatch leaves."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.images.verify import (
    CHECKSUM_FILE,
    RELEASE_KEYS,
    VerificationError,
    expected_digests,
    parse_checksums,
    release_key,
    verify_file,
)
from tests.fakes.mirror import TestSigner, checksum_lines

ISO = b"an install image" * 1000


def test_checksum_file_names_per_os() -> None:
    assert CHECKSUM_FILE == {"netbsd": "SHA512", "openbsd": "SHA256.sig"}


def test_parse_bsd_style_lines_and_skip_the_rest() -> None:
    text = ("SHA512 (NetBSD-10.1-amd64.iso) = %s\n\nMD5 (NetBSD-10.1-amd64.iso) = %s\n"
            "SHA512 (name with (parens).img) = %s\n" % ("AB" * 64, "cd" * 16, "ef" * 64))
    assert parse_checksums(text, source="SHA512") == {
        "NetBSD-10.1-amd64.iso": ("SHA512", "ab" * 64),
        "name with (parens).img": ("SHA512", "ef" * 64),
    }


def test_digest_of_the_wrong_length_is_refused_with_its_line() -> None:
    with pytest.raises(VerificationError, match=r"SHA512 line 2: a SHA512 digest has 128 hex digits, this one 64"):
        parse_checksums("SHA512 (a) = %s\nSHA512 (b) = %s\n" % ("00" * 64, "11" * 32), source="SHA512")


def test_name_listed_twice_with_different_digests_is_refused() -> None:
    with pytest.raises(VerificationError, match=r"SHA256 lists bsd\.rd twice with different digests"):
        parse_checksums("SHA256 (bsd.rd) = %s\nSHA256 (bsd.rd) = %s\n" % ("00" * 32, "11" * 32), source="SHA256")


def test_file_without_digests_is_refused() -> None:
    with pytest.raises(VerificationError, match=r"index\.html lists no SHA256 or SHA512 digests"):
        parse_checksums("<html>Not Found</html>\n", source="index.html")


@pytest.mark.parametrize(("release", "key_id"), [
    ("7.5", "468f5a51a69ac07e"),
    ("7.6", "e4bb09f899babca2"),
    ("7.7", "9b0825281a973155"),
    ("7.8", "b7fe7bc59a4e1259"),
    ("7.9", "d274d37d037caf58"),
])
def test_release_keys_decode_to_signify_ed25519_keys(release: str, key_id: str) -> None:
    key = release_key(release)
    assert key.key_id_hex == key_id
    assert len(key.key) == 32
    assert key.comment == "openbsd %s base public key" % release


def test_every_catalog_openbsd_release_has_its_key() -> None:
    from harness.images import load_catalog

    releases = {entry.release for entry in load_catalog().values() if entry.os == "openbsd"}
    assert releases and releases <= set(RELEASE_KEYS)


def test_release_without_a_key_says_how_to_give_one() -> None:
    with pytest.raises(ConfigError) as raised:
        release_key("6.0")
    assert "no signify key for OpenBSD 6.0" in str(raised.value)
    assert "--key /etc/signify/openbsd-60-base.pub" in str(raised.value)


def test_netbsd_sha512_file(tmp_path: Path) -> None:
    sums = tmp_path / "SHA512"
    sums.write_bytes(checksum_lines("SHA512", {"boot.iso": ISO}))
    assert expected_digests("netbsd", "10.1", sums) == {"boot.iso": ("SHA512", hashlib.sha512(ISO).hexdigest())}


def test_openbsd_signed_file_is_read_only_after_its_signature(tmp_path: Path) -> None:
    signer = TestSigner("7.9")
    sums = tmp_path / "SHA256.sig"
    sums.write_bytes(signer.sign(checksum_lines("SHA256", {"bsd.rd": ISO})))
    assert expected_digests("openbsd", "7.9", sums, public_key=signer.public_key()) == {
        "bsd.rd": ("SHA256", hashlib.sha256(ISO).hexdigest())}
    # Without a key given, the release's real key is used: the test key's
    # signature is not OpenBSD's.
    with pytest.raises(VerificationError) as raised:
        expected_digests("openbsd", "7.9", sums)
    assert "not by the key it was checked with, d274d37d037caf58 (openbsd 7.9 base public key)" in str(raised.value)


def test_openbsd_file_listing_another_algorithm_is_refused(tmp_path: Path) -> None:
    signer = TestSigner("7.9")
    sums = tmp_path / "SHA256.sig"
    sums.write_bytes(signer.sign(checksum_lines("SHA512", {"bsd.rd": ISO})))
    with pytest.raises(VerificationError, match="lists SHA512 digests; openbsd publishes SHA256 here"):
        expected_digests("openbsd", "7.9", sums, public_key=signer.public_key())


def test_matching_file_gives_its_digest(tmp_path: Path) -> None:
    iso = tmp_path / "boot.iso"
    iso.write_bytes(ISO)
    digests = {"boot.iso": ("SHA512", hashlib.sha512(ISO).hexdigest())}
    assert verify_file(iso, "boot.iso", digests, checksum_path=tmp_path / "SHA512") == hashlib.sha512(ISO).hexdigest()
    assert iso.read_bytes() == ISO


def test_mismatch_deletes_the_file_and_names_both_digests(tmp_path: Path) -> None:
    iso = tmp_path / "boot.iso.part"
    iso.write_bytes(ISO + b"!")
    expected = hashlib.sha512(ISO).hexdigest()
    with pytest.raises(VerificationError) as raised:
        verify_file(iso, "boot.iso", {"boot.iso": ("SHA512", expected)}, checksum_path=tmp_path / "SHA512")
    message = str(raised.value)
    assert "boot.iso does not match %s: SHA512 expected %s, got %s" % (
        tmp_path / "SHA512", expected, hashlib.sha512(ISO + b"!").hexdigest()) in message
    assert not iso.exists()


def test_file_the_checksum_file_does_not_list_is_deleted(tmp_path: Path) -> None:
    iso = tmp_path / "other.iso"
    iso.write_bytes(ISO)
    with pytest.raises(VerificationError, match=r"other\.iso is not listed in"):
        verify_file(iso, "other.iso", {"boot.iso": ("SHA512", "00" * 64)}, checksum_path=tmp_path / "SHA512")
    assert not iso.exists()
