"""signify files: public keys and embedded signatures, against RFC 8032's
Ed25519 test vector wrapped the way signify wraps it, and against keys made
by the test signer."""

from __future__ import annotations

import base64

import pytest

from harness.images.signify import PublicKey, SignifyError, parse_public_key, verify_embedded
from tests.fakes.signify_writer import make_keypair, sign_embedded

# RFC 8032 section 7.1, TEST 1: the empty message.
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24"
    "655141438e7a100b")
KEY_ID = bytes.fromhex("0123456789abcdef")


def signify_file(comment: str, blob: bytes) -> str:
    return "untrusted comment: %s\n%s\n" % (comment, base64.b64encode(blob).decode())


def test_rfc8032_vector_verifies_in_signify_framing() -> None:
    key = parse_public_key(signify_file("rfc 8032 test 1", b"Ed" + KEY_ID + RFC8032_PUBLIC), source="rfc.pub")
    assert key == PublicKey(key_id=KEY_ID, key=RFC8032_PUBLIC, comment="rfc 8032 test 1")
    signed = signify_file("verify with rfc.pub", b"Ed" + KEY_ID + RFC8032_SIGNATURE).encode()
    assert verify_embedded(signed, key, source="empty.sig") == b""


def test_rfc8032_vector_with_one_signature_bit_flipped_is_refused() -> None:
    key = parse_public_key(signify_file("rfc", b"Ed" + KEY_ID + RFC8032_PUBLIC), source="rfc.pub")
    bad = bytearray(RFC8032_SIGNATURE)
    bad[0] ^= 1
    with pytest.raises(SignifyError, match=r"empty\.sig: the signature does not match its contents"):
        verify_embedded(signify_file("c", b"Ed" + KEY_ID + bytes(bad)).encode(), key, source="empty.sig")


def test_embedded_message_is_everything_after_the_second_newline() -> None:
    public_text, private, key_id = make_keypair("test key")
    key = parse_public_key(public_text, source="test.pub")
    message = b"SHA256 (bsd.rd) = " + b"ab" * 32 + b"\n\n\x00binary tail\n"
    assert verify_embedded(sign_embedded(message, private, key_id, "verify with test.pub"), key,
                           source="SHA256.sig") == message


def test_changed_message_is_refused() -> None:
    public_text, private, key_id = make_keypair("test key")
    signed = bytearray(sign_embedded(b"SHA256 (bsd) = " + b"00" * 32 + b"\n", private, key_id, "c"))
    signed[-2] = ord("1")
    with pytest.raises(SignifyError, match="changed or damaged after it was signed"):
        verify_embedded(bytes(signed), parse_public_key(public_text, source="t.pub"), source="SHA256.sig")


def test_signature_by_another_key_names_both_key_numbers() -> None:
    _, private, key_id = make_keypair("signer")
    other_text, _, other_id = make_keypair("openbsd 7.9 base public key")
    signed = sign_embedded(b"x\n", private, key_id, "verify with openbsd-78-base.pub")
    with pytest.raises(SignifyError) as raised:
        verify_embedded(signed, parse_public_key(other_text, source="o.pub"), source="SHA256.sig")
    message = str(raised.value)
    assert "SHA256.sig is signed by key %s (verify with openbsd-78-base.pub)" % key_id.hex() in message
    assert "checked with, %s (openbsd 7.9 base public key)" % other_id.hex() in message


@pytest.mark.parametrize(("text", "problem"), [
    ("", "needs a comment line and a base64 line"),
    ("untrusted comment: only one line\n", "needs a comment line and a base64 line"),
    ("trusted comment: x\nRWQ=\n", "its first line does not start with 'untrusted comment: '"),
    ("untrusted comment: x\nnot base64!\n", "the public key line is not base64"),
    (signify_file("short", b"Ed" + KEY_ID), "a signify public key is 42 bytes, this one is 10"),
    (signify_file("rsa", b"RS" + KEY_ID + RFC8032_PUBLIC), "algorithm is b'RS'; signify knows only b'Ed'"),
    ("untrusted comment: %s\nRWQ=\n" % ("x" * 1025), "longer than signify's 1024 bytes"),
])
def test_malformed_public_keys_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(SignifyError) as raised:
        parse_public_key(text, source="bad.pub")
    assert "bad.pub" in str(raised.value)
    assert problem in str(raised.value)


def test_a_public_key_is_not_a_signature() -> None:
    public_text, _, _ = make_keypair("k")
    key = parse_public_key(public_text, source="k.pub")
    with pytest.raises(SignifyError, match="a signify signature is 74 bytes, this one is 42"):
        verify_embedded(public_text.encode() + b"message", key, source="k.pub as sig")
