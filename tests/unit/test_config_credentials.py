"""Agent credentials: salted PBKDF2 hashes in a fixed text format; plain text is never stored."""

from __future__ import annotations

import base64

import pytest

from vcc.config.credentials import (
    ALGORITHM,
    DEFAULT_ITERATIONS,
    hash_password,
    parse_password_hash,
    verify_password,
)

FAST = 1_000  # tests only: real hashes use DEFAULT_ITERATIONS


def test_hash_then_verify() -> None:
    stored = hash_password("correct horse", iterations=FAST)
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert not verify_password("", stored)


def test_format_is_algorithm_iterations_salt_hash() -> None:
    stored = hash_password("pw", iterations=FAST)
    algorithm, iterations, salt, digest = stored.split("$")
    assert algorithm == ALGORITHM == "pbkdf2_sha256"
    assert int(iterations) == FAST
    parsed = parse_password_hash(stored)
    assert len(parsed.salt) == 16 and len(parsed.digest) == 32
    assert str(parsed) == stored


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("pw", iterations=FAST) != hash_password("pw", iterations=FAST)


def test_digest_is_standard_pbkdf2_hmac_sha256() -> None:
    # The well-known vector PBKDF2-HMAC-SHA256(P="password", S="salt", c=1, dkLen=32).
    stored = hash_password("password", iterations=1, salt=b"salt")
    digest_b64 = stored.split("$")[3]
    digest = base64.b64decode(digest_b64 + "=" * (-len(digest_b64) % 4))
    assert digest.hex() == "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"


def test_default_iterations_are_slow_enough() -> None:
    assert DEFAULT_ITERATIONS >= 600_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("hunter2", "not a pbkdf2_sha256"),
        ("bcrypt$10$abc$def", "not a pbkdf2_sha256"),
        ("pbkdf2_sha256$many$AAAAAAAAAAA$AAAA", "is not a whole number"),
        ("pbkdf2_sha256$1000$!!!$AAAA", "must be base64"),
        ("pbkdf2_sha256$1000$AAAA$" + "A" * 43, "salt is shorter than 8 bytes"),
        ("pbkdf2_sha256$1000$AAAAAAAAAAAAAAAAAAAAAA$AAAA", "hash is 3 bytes, expected 32"),
    ],
)
def test_bad_hashes(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_password_hash(text)
    assert not verify_password("anything", text)


def test_empty_password_cannot_be_hashed() -> None:
    with pytest.raises(ValueError):
        hash_password("")
