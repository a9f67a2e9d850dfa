"""Signed agent sessions for the web front door (sans-IO: ``now`` is passed in).

A session is ``<agent id>.<expiry epoch s>.<HMAC-SHA256 of both, base64url>``, signed with a secret
shared by every site of a cluster (one file in the cluster's run dir, made by the first front door
that needs it). The cookie is all a front door keeps: an agent whose site dies reloads the desktop
from another site's front door, which checks the same signature, and the controller there accepts
the token in place of the password (``Login.session_token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

COOKIE = "vcc_session"
DEFAULT_TTL_S = 12 * 3600.0
SECRET_FILE = "web-secret"


@dataclass(frozen=True, slots=True)
class Session:
    agent_id: str
    expires_ts: float


class BadSession(ValueError):
    """A token that is malformed, forged or expired (the message says which)."""


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: bytes, agent_id: str, now: float, ttl_s: float = DEFAULT_TTL_S) -> str:
    if not agent_id or "." in agent_id:
        raise ValueError(f"agent id {agent_id!r} cannot be put in a session")
    payload = f"{agent_id}.{int(now + ttl_s)}"
    return f"{payload}.{_mac(secret, payload)}"


def verify(secret: bytes, token: str, now: float) -> Session:
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
        raise BadSession("malformed session")
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_mac(secret, payload), parts[2]):
        raise BadSession("session signature does not match")
    expires = float(parts[1])
    if expires <= now:
        raise BadSession("session expired")
    return Session(parts[0], expires)


def secret_path(site_run_dir: str | Path) -> Path:
    """The cluster's secret: ``<cluster run dir>/web-secret`` (a site's run dir is ``.../sites/<site>``)."""
    return Path(site_run_dir).resolve().parent.parent / SECRET_FILE


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret, creating it (mode 0600) if it does not exist; safe when sites race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    for _ in range(100):  # another site may be writing it right now
        text = path.read_text().strip()
        if len(text) == 64:
            return bytes.fromhex(text)
    raise BadSession(f"{path}: not a session secret (64 hex digits); delete it to make a new one")
