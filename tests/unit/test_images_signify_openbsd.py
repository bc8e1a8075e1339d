"""trapline's signify reader and media verification against signatures made
by the real ``signify-openbsd`` (Debian's port of OpenBSD's signify), not by
tests/fakes/signify_writer.py, which borrows its constants from the code
under test: a misread of the format on both sides would pass there, not here.

The release tree is made the way OpenBSD makes ``SHA256.sig`` (the lines
``sha256 -h SHA256 *`` prints, then ``signify -S -e -s openbsd-NN-base.sec
-m SHA256 -x SHA256.sig``: signify(1), ``-e`` embeds the message after the
signature), and real signify's own ``-C`` check must accept it before
trapline's verdict counts.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import cli
from harness.images import fetch, load_catalog
from harness.images.signify import SignifyError, parse_public_key, verify_embedded
from harness.images.verify import RELEASE_KEYS, VerificationError, expected_digests, verify_file

SIGNIFY = shutil.which("signify-openbsd")
pytestmark = pytest.mark.skipif(
    SIGNIFY is None,
    reason="needs the signify-openbsd binary (Debian package signify-openbsd, in scripts/install-system-packages)")

TARGET = "openbsd-7.9-amd64"
# Small stand-ins under the names the catalog lists for the target.
MEDIA = {"cd79.iso": b"an install ISO\n" * 64, "bsd": b"a kernel\n", "bsd.mp": b"an MP kernel\n",
         "bsd.rd": b"a ramdisk kernel\n" * 32, "base79.tgz": b"the base set\n", "comp79.tgz": b"the comp set\n"}


def signify(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SIGNIFY is not None
    return subprocess.run([SIGNIFY, *argv], cwd=cwd, check=False, capture_output=True, text=True, timeout=60)


def make_keypair(directory: Path, name: str, comment: str) -> Path:
    """``<name>.pub`` and ``<name>.sec`` (no passphrase) in ``directory``; the .pub's path."""
    result = signify("-G", "-n", "-c", comment, "-p", name + ".pub", "-s", name + ".sec", cwd=directory)
    assert (result.returncode, result.stderr) == (0, "")
    return directory / (name + ".pub")


def key_number(pub: Path) -> str:
    """The 8-byte key number of a signify .pub, read straight from the file (bytes 2-10 of line 2)."""
    return base64.b64decode(pub.read_text().splitlines()[1])[2:10].hex()


@dataclass
class Release:
    directory: Path  # the architecture directory: the media and SHA256.sig
    public: Path  # the signing key's .pub
    sha256: bytes  # the SHA256 list that was signed


@pytest.fixture
def release(tmp_path: Path) -> Release:
    keys = tmp_path / "keys"
    keys.mkdir()
    public = make_keypair(keys, "openbsd-79-base", "trapline test 79 base")
    directory = tmp_path / "mirror" / "7.9" / "amd64"
    directory.mkdir(parents=True)
    for name, data in MEDIA.items():
        (directory / name).write_bytes(data)
    sha256 = "".join("SHA256 (%s) = %s\n" % (name, hashlib.sha256(data).hexdigest())
                     for name, data in sorted(MEDIA.items())).encode()
    (directory / "SHA256").write_bytes(sha256)
    result = signify("-S", "-e", "-s", str(keys / "openbsd-79-base.sec"), "-m", "SHA256", "-x", "SHA256.sig",
                     cwd=directory)
    assert (result.returncode, result.stderr) == (0, "")
    (directory / "SHA256").unlink()  # a release directory publishes only SHA256.sig
    # The tree is what real signify accepts, so a rejection below is trapline's.
    check = signify("-C", "-p", str(public), "-x", "SHA256.sig", cwd=directory)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == ["Signature Verified"] + ["%s: OK" % n for n in sorted(MEDIA)]
    return Release(directory, public, sha256)


def test_real_signature_verifies_and_yields_exactly_the_signed_list(release: Release) -> None:
    key = parse_public_key(release.public.read_text(), source=str(release.public))
    assert key.key_id_hex == key_number(release.public)
    assert key.comment == "trapline test 79 base public key"
    signed = (release.directory / "SHA256.sig").read_bytes()
    assert signed.startswith(b"untrusted comment: verify with openbsd-79-base.pub\n")
    assert verify_embedded(signed, key, source="SHA256.sig") == release.sha256


def test_every_listed_file_verifies_with_the_key_override(release: Release) -> None:
    sig = release.directory / "SHA256.sig"
    key = parse_public_key(release.public.read_text(), source=str(release.public))
    digests = expected_digests("openbsd", "7.9", sig, public_key=key)
    assert digests == {name: ("SHA256", hashlib.sha256(data).hexdigest()) for name, data in MEDIA.items()}
    for name, data in MEDIA.items():
        assert verify_file(release.directory / name, name, digests, checksum_path=sig) == \
            hashlib.sha256(data).hexdigest()


def test_tampered_media_file_is_rejected_and_deleted(release: Release) -> None:
    sig = release.directory / "SHA256.sig"
    digests = expected_digests("openbsd", "7.9", sig,
                               public_key=parse_public_key(release.public.read_text(), source="t.pub"))
    ramdisk = release.directory / "bsd.rd"
    ramdisk.write_bytes(MEDIA["bsd.rd"] + b"x")
    with pytest.raises(VerificationError) as raised:
        verify_file(ramdisk, "bsd.rd", digests, checksum_path=sig)
    assert raised.value.message == "bsd.rd does not match %s: SHA256 expected %s, got %s; the file was deleted" % (
        sig, hashlib.sha256(MEDIA["bsd.rd"]).hexdigest(), hashlib.sha256(MEDIA["bsd.rd"] + b"x").hexdigest())
    assert not ramdisk.exists()


def test_tampered_signed_list_is_rejected(release: Release) -> None:
    sig = release.directory / "SHA256.sig"
    # Swap one listed digest for the digest of other bytes: the list stays well formed.
    forged = hashlib.sha256(b"a backdoored ramdisk").hexdigest()
    sig.write_bytes(sig.read_bytes().replace(hashlib.sha256(MEDIA["bsd.rd"]).hexdigest().encode(), forged.encode()))
    assert signify("-C", "-p", str(release.public), "-x", "SHA256.sig", cwd=release.directory).returncode != 0
    key = parse_public_key(release.public.read_text(), source="t.pub")
    with pytest.raises(VerificationError) as raised:
        expected_digests("openbsd", "7.9", sig, public_key=key)
    assert raised.value.message == (
        "%s: the signature does not match its contents (key %s, trapline test 79 base public key); the file was "
        "changed or damaged after it was signed" % (sig, key_number(release.public)))


def test_signature_checked_with_another_key_names_both_keys(release: Release, tmp_path: Path) -> None:
    other = make_keypair(tmp_path / "keys", "openbsd-80-base", "trapline test 80 base")
    with pytest.raises(VerificationError) as raised:
        expected_digests("openbsd", "7.9", release.directory / "SHA256.sig",
                         public_key=parse_public_key(other.read_text(), source=str(other)))
    assert raised.value.message == (
        "%s is signed by key %s (verify with openbsd-79-base.pub), not by the key it was checked with, %s "
        "(trapline test 80 base public key)"
        % (release.directory / "SHA256.sig", key_number(release.public), key_number(other)))


def test_another_key_under_the_signers_key_number_fails_the_curve_check(release: Release, tmp_path: Path) -> None:
    """signify matches key numbers first; a key that claims the signer's
    number must still fail on the Ed25519 signature itself."""
    other = make_keypair(tmp_path / "keys", "impostor", "impostor")
    blob = base64.b64decode(other.read_text().splitlines()[1])
    signer_number = base64.b64decode(release.public.read_text().splitlines()[1])[2:10]
    impostor = "untrusted comment: impostor\n%s\n" % base64.b64encode(blob[:2] + signer_number + blob[10:]).decode()
    with pytest.raises(SignifyError) as raised:
        verify_embedded((release.directory / "SHA256.sig").read_bytes(), parse_public_key(impostor, source="i.pub"),
                        source="SHA256.sig")
    assert raised.value.message == ("SHA256.sig: the signature does not match its contents (key %s, impostor); the "
                                    "file was changed or damaged after it was signed" % signer_number.hex())


def test_the_carried_release_key_refuses_a_test_signature(release: Release) -> None:
    with pytest.raises(VerificationError) as raised:
        expected_digests("openbsd", "7.9", release.directory / "SHA256.sig")
    release_number = base64.b64decode(RELEASE_KEYS["7.9"])[2:10].hex()
    assert raised.value.message == (
        "%s is signed by key %s (verify with openbsd-79-base.pub), not by the key it was checked with, %s "
        "(openbsd 7.9 base public key)" % (release.directory / "SHA256.sig", key_number(release.public),
                                           release_number))


def test_cli_fetch_with_key_option_takes_the_real_signed_tree(release: Release, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for variable in fetch.MIRROR_ENV.values():
        monkeypatch.delenv(variable, raising=False)
    entry = load_catalog()[TARGET]
    assert sorted(entry["media"]) == sorted("amd64/" + name for name in MEDIA)
    mirror = (tmp_path / "mirror").as_uri()
    assert cli.main(["images", "fetch", TARGET, "--mirror", mirror, "--key", str(release.public)]) == 0
    cache = fetch.release_cache(entry)
    assert {name: (cache / "amd64" / name).read_bytes() for name in MEDIA} == MEDIA
    # Without the key override the carried 7.9 key refuses the test signature.
    (tmp_path / "xdg").rename(tmp_path / "xdg-first")
    capsys.readouterr()
    assert cli.main(["images", "fetch", TARGET, "--mirror", mirror]) == 2
    sig = fetch.release_cache(entry) / "amd64" / "SHA256.sig"
    assert "harness: [%s] %s is signed by key %s (verify with openbsd-79-base.pub), not by the key it was checked " \
        "with" % (TARGET, sig, key_number(release.public)) in capsys.readouterr().err
    assert not (fetch.release_cache(entry) / "amd64" / "cd79.iso").exists()
