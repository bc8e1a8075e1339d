"""The signing half of signify(1), for tests: key pairs and embedded
signatures in the format OpenBSD's release files use (see
harness/images/signify.py for the layout).  trapline itself only verifies."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.images.signify import COMMENT_HEADER, PKALG


def make_keypair(comment: str) -> tuple[str, Ed25519PrivateKey, bytes]:
    """(the ``.pub`` file's text, the private key, the 8-byte key number)."""
    private = Ed25519PrivateKey.generate()
    key_id = os.urandom(8)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    blob = base64.b64encode(PKALG + key_id + public).decode()
    return "%s%s\n%s\n" % (COMMENT_HEADER, comment, blob), private, key_id


def sign_embedded(message: bytes, private: Ed25519PrivateKey, key_id: bytes, comment: str) -> bytes:
    """``message`` with its signature in front, as ``signify -S -e`` writes it."""
    blob = base64.b64encode(PKALG + key_id + private.sign(message)).decode()
    return ("%s%s\n%s\n" % (COMMENT_HEADER, comment, blob)).encode() + message
