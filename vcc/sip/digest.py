"""SIP digest authentication, server side (RFC 3261 22.4, RFC 2617 with MD5, ``qop=auth``), sans-IO.

Nonces are stateless: ``<issued at, hex>.<HMAC of it>``, so any process holding the secret checks
them, and a nonce older than ``nonce_ttl_s`` gets a fresh challenge with ``stale=true``."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest username="a", realm="r", ...`` -> ("digest", {"username": "a", ...})."""
    scheme, _, rest = value.strip().partition(" ")
    params = {k.lower(): (v[1:-1].replace('\\"', '"') if v.startswith('"') else v) for k, v in _PARAM.findall(rest)}
    return scheme.lower(), params


def digest_response(username: str, realm: str, password: str, method: str, uri: str, nonce: str,
                    qop: str | None = None, nc: str = "", cnonce: str = "") -> str:  # fmt: skip
    ha1 = md5_hex(f"{username}:{realm}:{password}")
    ha2 = md5_hex(f"{method}:{uri}")
    if qop:
        return md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5_hex(f"{ha1}:{nonce}:{ha2}")


@dataclass(frozen=True)
class DigestCheck:
    ok: bool
    username: str = ""
    stale: bool = False
    reason: str = ""


class DigestAuthenticator:
    def __init__(self, realm: str, secret: bytes, nonce_ttl_s: float = 300.0) -> None:
        self.realm = realm
        self.secret = secret
        self.nonce_ttl_s = nonce_ttl_s

    def nonce(self, now: float) -> str:
        stamp = f"{int(now):x}"
        return f"{stamp}.{hmac.new(self.secret, stamp.encode(), 'sha256').hexdigest()[:32]}"

    def challenge(self, now: float, stale: bool = False) -> str:
        """The WWW-Authenticate value of a 401."""
        return (f'Digest realm="{self.realm}", nonce="{self.nonce(now)}", algorithm=MD5, qop="auth"'
                + (", stale=true" if stale else ""))  # fmt: skip

    def check(self, authorization: str | None, method: str, passwords: dict[str, str], now: float) -> DigestCheck:
        """Check an Authorization header against ``passwords`` (user -> password)."""
        if not authorization:
            return DigestCheck(False, reason="no credentials")
        scheme, p = parse_auth_params(authorization)
        if scheme != "digest":
            return DigestCheck(False, reason=f"auth scheme {scheme!r} is not Digest")
        user, nonce, uri, response = p.get("username", ""), p.get("nonce", ""), p.get("uri", ""), p.get("response", "")
        if not (user and nonce and uri and response):
            return DigestCheck(False, reason="incomplete Digest credentials")
        if p.get("realm") != self.realm:
            return DigestCheck(False, user, reason=f"realm {p.get('realm')!r} is not {self.realm!r}")
        if p.get("algorithm", "MD5").upper() != "MD5":
            return DigestCheck(False, user, reason=f"algorithm {p.get('algorithm')} is not MD5")
        stamp, _, mac = nonce.partition(".")
        expected = hmac.new(self.secret, stamp.encode(), "sha256").hexdigest()[:32]
        if not hmac.compare_digest(mac, expected):
            return DigestCheck(False, user, reason="nonce not issued here")
        try:
            issued = int(stamp, 16)
        except ValueError:
            return DigestCheck(False, user, reason="bad nonce")
        password = passwords.get(user)
        if password is None:
            return DigestCheck(False, user, reason=f"unknown user {user!r}")
        qop = p.get("qop")
        if qop not in (None, "auth"):
            return DigestCheck(False, user, reason=f"qop {qop} not offered")
        want = digest_response(user, self.realm, password, method, uri, nonce, qop, p.get("nc", ""),
                               p.get("cnonce", ""))  # fmt: skip
        if not hmac.compare_digest(want, response.lower()):
            return DigestCheck(False, user, reason="wrong password")
        if now - issued > self.nonce_ttl_s:
            return DigestCheck(False, user, stale=True, reason="nonce expired")
        return DigestCheck(True, user)
