"""OpenBSD's signify(1) files, read and checked: public keys and embedded
signatures (``signify -V -e``), the scheme OpenBSD signs ``SHA256.sig`` with.

Formats, from usr.bin/signify/signify.c in openbsd/src:

- A key or signature file is two lines: ``untrusted comment: <text>`` (the
  comment at most 1024 bytes, COMMENTMAXLEN) and the base64 of a packed
  struct.  ``struct pubkey`` is ``pkalg[2] = "Ed"``, ``keynum[8]``,
  ``pubkey[32]`` (42 bytes); ``struct sig`` is ``pkalg[2]``, ``keynum[8]``,
  ``sig[64]`` (74 bytes).
- An embedded-signature file is the signature file followed directly by the
  signed message: the message is every byte after the second newline.
- The signature is plain Ed25519 over the message (signify's
  ``crypto_sign_ed25519``), and signify refuses a signature whose ``keynum``
  differs from the key's before it even checks the curve: the message names
  the key that was expected, which is what a user holding the wrong release
  key needs to know.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import TraplineError

COMMENT_HEADER = "untrusted comment: "
COMMENT_MAX = 1024
PKALG = b"Ed"
KEYNUM_BYTES = 8
PUBLIC_KEY_BYTES = 2 + KEYNUM_BYTES + 32
SIGNATURE_BYTES = 2 + KEYNUM_BYTES + 64


class SignifyError(TraplineError):
    """A signify file that cannot be read, or a signature that does not verify."""


@dataclass(frozen=True)
class PublicKey:
    """A signify public key: its 8-byte key number, the Ed25519 key, and the comment."""

    key_id: bytes
    key: bytes
    comment: str

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()


def _header(lines: list[bytes], *, source: str, what: str) -> tuple[str, bytes]:
    """(comment, decoded blob) from the first two lines of a signify file."""
    if len(lines) < 2 or not lines[1].strip():
        raise SignifyError("%s is not a signify %s: it needs a comment line and a base64 line" % (source, what))
    comment_line = lines[0].decode("utf-8", "replace")
    if not comment_line.startswith(COMMENT_HEADER):
        raise SignifyError("%s is not a signify %s: its first line does not start with %r"
                           % (source, what, COMMENT_HEADER))
    comment = comment_line[len(COMMENT_HEADER):]
    if len(comment.encode()) > COMMENT_MAX:
        raise SignifyError("%s: its comment is longer than signify's %d bytes" % (source, COMMENT_MAX))
    try:
        blob = base64.b64decode(lines[1].strip(), validate=True)
    except binascii.Error as exc:
        raise SignifyError("%s: the %s line is not base64 (%s)" % (source, what, exc)) from exc
    return comment, blob


def _check_blob(blob: bytes, size: int, *, source: str, what: str) -> None:
    if len(blob) != size:
        raise SignifyError("%s: a signify %s is %d bytes, this one is %d" % (source, what, size, len(blob)))
    if blob[:2] != PKALG:
        raise SignifyError("%s: the %s's algorithm is %r; signify knows only %r (Ed25519)"
                           % (source, what, blob[:2], PKALG))


def parse_public_key(text: str, *, source: str) -> PublicKey:
    """The key in the text of a ``.pub`` file; ``source`` names it in errors."""
    comment, blob = _header(text.encode().split(b"\n", 2), source=source, what="public key")
    _check_blob(blob, PUBLIC_KEY_BYTES, source=source, what="public key")
    return PublicKey(key_id=blob[2:2 + KEYNUM_BYTES], key=blob[2 + KEYNUM_BYTES:], comment=comment)


def verify_embedded(signed: bytes, key: PublicKey, *, source: str) -> bytes:
    """The message of an embedded-signature file (``signify -V -e``) once its
    signature verified with ``key``; raises :class:`SignifyError` otherwise."""
    parts = signed.split(b"\n", 2)
    comment, blob = _header(parts, source=source, what="signature")
    _check_blob(blob, SIGNATURE_BYTES, source=source, what="signature")
    # signify takes the message to be whatever follows the second newline.
    message = parts[2] if len(parts) == 3 else b""
    key_id = blob[2:2 + KEYNUM_BYTES]
    if key_id != key.key_id:
        raise SignifyError(
            "%s is signed by key %s (%s), not by the key it was checked with, %s (%s)"
            % (source, key_id.hex(), comment, key.key_id_hex, key.comment),
            hint="use the release's own key: OpenBSD names it in the signature's comment")
    try:
        Ed25519PublicKey.from_public_bytes(key.key).verify(blob[2 + KEYNUM_BYTES:], message)
    except InvalidSignature:
        raise SignifyError("%s: the signature does not match its contents (key %s, %s); the file was "
                           "changed or damaged after it was signed" % (source, key.key_id_hex, key.comment)) from None
    return message
