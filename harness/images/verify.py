"""Checking downloaded install media against the release's own checksums.

NetBSD publishes a ``SHA512`` file in each media directory (``images/``,
``<port>/binary/...``); OpenBSD a ``SHA256.sig`` per architecture directory,
the ``SHA256`` list with an embedded signify signature by that release's base
key.  Both list files the way ``cksum -a`` prints them::

    SHA512 (NetBSD-10.1-amd64-live.img.gz) = 3f1c...
    SHA256 (bsd.rd) = 9a0b...

A media file is accepted only when its digest equals the listed one; a file
that does not match is deleted on the spot, so nothing unverified stays in
the cache under a media name, let alone boots.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError, TraplineError
from .signify import PublicKey, SignifyError, parse_public_key, verify_embedded

# The checksum file of a media directory, per OS.
CHECKSUM_FILE = {"netbsd": "SHA512", "openbsd": "SHA256.sig"}
# The digest it lists.
ALGORITHM = {"netbsd": "SHA512", "openbsd": "SHA256"}
_HASHERS = {"SHA512": hashlib.sha512, "SHA256": hashlib.sha256}
_HEX_DIGITS = {"SHA512": 128, "SHA256": 64}

# OpenBSD's base signing keys, one per release: the second line of
# openbsd/src etc/signify/openbsd-NN-base.pub, added to the tree a release or
# two ahead of the release it signs and shipped in every later base system.
# 7.5 also matches a copy printed in a published install walk-through, and
# 7.9 the one in www/79.html ("signify(1) pubkeys for this release").
RELEASE_KEYS = {
    "7.5": "RWRGj1pRpprAfgeF/rgld4ubduChLvTkigA1Zj7WLDsVA4qfYSWOEI8q",  # etc/signify/openbsd-75-base.pub
    "7.6": "RWTkuwn4mbq8ouJbfO4VfNH8+FdiZUosz2qIR0V0C9bm6CnVEt7CGkV0",  # etc/signify/openbsd-76-base.pub
    "7.7": "RWSbCCUoGpcxVRmNb/XFYBbthxWMK7G6fNbJhb993Ohuh29WFaT9vhe2",  # etc/signify/openbsd-77-base.pub
    "7.8": "RWS3/nvFmk4SWSmt/5QIk9yB4+uoAGoiYvFhVlDQBG3rWENeeIys0LWB",  # etc/signify/openbsd-78-base.pub
    "7.9": "RWTSdNN9A3yvWNn7mUjXwv9DOCOUnyfuV+mq1iGPIfD+NhN8EYnEQ1at",  # etc/signify/openbsd-79-base.pub
}

_LINE = re.compile(r"(?P<alg>[A-Z0-9]+) \((?P<name>.+)\) = (?P<digest>[0-9a-fA-F]+)")


class VerificationError(TraplineError):
    """A media or checksum file that does not match what the release published."""


def parse_checksums(text: str, *, source: str) -> dict[str, tuple[str, str]]:
    """File name -> (algorithm, lower-case hex digest) of every BSD-style
    line; other lines (a ``MD5`` file's, blank ones) are not digests we use
    and are skipped.  A name listed twice with different digests is refused."""
    digests: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.fullmatch(line.strip())
        if match is None or match["alg"] not in _HASHERS:
            continue
        algorithm, digest = match["alg"], match["digest"].lower()
        if len(digest) != _HEX_DIGITS[algorithm]:
            raise VerificationError("%s line %d: a %s digest has %d hex digits, this one %d"
                                    % (source, number, algorithm, _HEX_DIGITS[algorithm], len(digest)))
        previous = digests.get(match["name"])
        if previous is not None and previous != (algorithm, digest):
            raise VerificationError("%s lists %s twice with different digests" % (source, match["name"]))
        digests[match["name"]] = (algorithm, digest)
    if not digests:
        raise VerificationError("%s lists no SHA256 or SHA512 digests" % source)
    return digests


def release_key(release: str) -> PublicKey:
    """OpenBSD ``release``'s base signing key, as trapline carries it."""
    blob = RELEASE_KEYS.get(release)
    if blob is None:
        raise ConfigError("no signify key for OpenBSD %s in trapline (it has %s)" % (release, ", ".join(RELEASE_KEYS)),
                          hint="pass --key /etc/signify/openbsd-%s-base.pub from an OpenBSD system you trust"
                               % release.replace(".", ""))
    text = "untrusted comment: openbsd %s base public key\n%s\n" % (release, blob)
    return parse_public_key(text, source="openbsd-%s-base.pub" % release.replace(".", ""))


def expected_digests(os_name: str, release: str, checksum_path: Path, *,
                     public_key: PublicKey | None = None) -> dict[str, tuple[str, str]]:
    """The digests ``checksum_path`` (the directory's :data:`CHECKSUM_FILE`)
    lists.  For OpenBSD its signature is checked first, with ``public_key``
    or else the release's own key, and only the signed part is read."""
    if os_name not in CHECKSUM_FILE:
        raise ConfigError("%s publishes no checksum files trapline reads (it knows %s)"
                          % (os_name, ", ".join(CHECKSUM_FILE)))
    data = checksum_path.read_bytes()
    if os_name == "openbsd":
        key = public_key if public_key is not None else release_key(release)
        try:
            data = verify_embedded(data, key, source=str(checksum_path))
        except SignifyError as exc:
            raise VerificationError(exc.message, hint=exc.hint) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError("%s is not text: %s" % (checksum_path, exc)) from exc
    digests = parse_checksums(text, source=str(checksum_path))
    wrong = sorted({alg for alg, _ in digests.values()} - {ALGORITHM[os_name]})
    if wrong:
        raise VerificationError("%s lists %s digests; %s publishes %s here"
                                % (checksum_path, "/".join(wrong), os_name, ALGORITHM[os_name]))
    return digests


def file_digest(path: Path, algorithm: str) -> str:
    hasher = _HASHERS[algorithm]()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def verify_file(path: Path, name: str, digests: Mapping[str, tuple[str, str]], *, checksum_path: Path) -> str:
    """The hex digest of ``path`` when it matches what ``digests`` (read from
    ``checksum_path``) lists for ``name``.  Otherwise ``path`` is deleted and
    :class:`VerificationError` names the file, the expected and the actual
    digest."""
    listed = digests.get(name)
    if listed is None:
        path.unlink(missing_ok=True)
        raise VerificationError("%s is not listed in %s, so it cannot be verified (the mirror's release tree "
                                "and the catalog's media path disagree)" % (name, checksum_path))
    algorithm, expected = listed
    actual = file_digest(path, algorithm)
    if not hmac.compare_digest(actual, expected):
        path.unlink(missing_ok=True)
        raise VerificationError("%s does not match %s: %s expected %s, got %s; the file was deleted"
                                % (name, checksum_path, algorithm, expected, actual),
                                hint="download it again; if it keeps failing, the mirror's copy is bad: "
                                     "try another with --mirror")
    return actual
