"""Agent credentials: salted, slow password hashes, so a cluster file never holds a password.

The format is ``pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>`` (standard base64 without padding),
made with :func:`hashlib.pbkdf2_hmac` only. ``vcc config hash-password`` prints one for an operator to
paste into the ``password_hash`` of an agent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

ALGORITHM = "pbkdf2_sha256"
#: Iterations for new hashes (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
DEFAULT_ITERATIONS = 600_000
#: The fewest iterations a cluster file may carry: below this a stolen file is cheap to crack.
MIN_ITERATIONS = 100_000
SALT_BYTES = 16
HASH_BYTES = 32


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """A parsed ``pbkdf2_sha256$...`` string."""

    iterations: int
    salt: bytes
    digest: bytes

    def __str__(self) -> str:
        return f"{ALGORITHM}${self.iterations}${_b64(self.salt)}${_b64(self.digest)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, dklen=HASH_BYTES)


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """Return a salted ``pbkdf2_sha256$...`` hash of ``password`` (a fresh random salt unless given)."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    return str(PasswordHash(iterations, salt, _derive(password, salt, iterations)))


def parse_password_hash(text: str) -> PasswordHash:
    """Parse a stored hash; raise ``ValueError`` with an operator-readable reason if it is not one."""
    parts = text.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM:
        raise ValueError(
            f"not a {ALGORITHM}$<iterations>$<salt_b64>$<hash_b64> hash "
            "(make one with `vcc config hash-password`)"
        )
    _, iterations_text, salt_text, digest_text = parts
    if not iterations_text.isdigit():
        raise ValueError(f"iterations {iterations_text!r} is not a whole number")
    try:
        salt, digest = _unb64(salt_text), _unb64(digest_text)
    except (binascii.Error, ValueError):
        raise ValueError("salt and hash must be base64") from None
    if len(salt) < 8:
        raise ValueError("salt is shorter than 8 bytes")
    if len(digest) != HASH_BYTES:
        raise ValueError(f"hash is {len(digest)} bytes, expected {HASH_BYTES}")
    return PasswordHash(int(iterations_text), salt, digest)


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches the ``stored`` hash; False for a wrong password or a bad hash."""
    try:
        parsed = parse_password_hash(stored)
    except ValueError:
        return False
    if parsed.iterations < 1:
        return False
    return hmac.compare_digest(_derive(password, parsed.salt, parsed.iterations), parsed.digest)


def looks_like_plain_text(value: str) -> bool:
    """A guess used for error messages: a value that is clearly not any kind of hash."""
    return "$" not in value and len(value) < 40


def password_checker(hashes: dict[str, str]) -> Callable[[str, str], bool]:
    """``check(agent_id, password)`` against the agents' stored hashes. A verified pair is
    remembered (as a digest) so an agent's next login does not pay the PBKDF2 cost again."""
    verified: set[bytes] = set()

    def check(agent_id: str, password: str) -> bool:
        key = hashlib.sha256(f"{agent_id}\0{password}".encode()).digest()
        if key in verified:
            return True
        stored = hashes.get(agent_id)
        if stored is not None and verify_password(password, stored):
            verified.add(key)
            return True
        return False

    return check
