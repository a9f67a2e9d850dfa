"""Who may call in, and where a call goes (sans-IO): the trunk an INVITE comes from (address
allowlist and/or digest credentials) and the entry point its dialed number names."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from vcc.config.trunks import TrunkConfig
from vcc.core.model import EntryPoint
from vcc.sip.digest import DigestAuthenticator, parse_auth_params
from vcc.sip.message import SipMessage, uri_user


@dataclass(frozen=True)
class Admission:
    status: int  # 0: admitted; else the response to send (401, 403)
    trunk: str = ""
    reason: str = ""
    challenge: str = ""  # WWW-Authenticate of a 401


class TrunkTable:
    def __init__(self, trunks: list[TrunkConfig], auth: DigestAuthenticator,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.trunks = trunks
        self.auth = auth
        env = dict(os.environ) if env is None else env
        self.passwords: dict[str, dict[str, str]] = {}  # trunk id -> {user: password}
        self.missing: list[str] = []
        for t in trunks:
            if t.username and t.password_env:
                if t.password_env in env:
                    self.passwords[t.id] = {t.username: env[t.password_env]}
                else:
                    self.missing.append(f"trunk {t.id}: environment variable {t.password_env} is not set")
        self._nets = {t.id: [ipaddress.ip_network(a, strict=False) for a in t.allow] for t in trunks}

    def admit(self, request: SipMessage, source_ip: str, now: float) -> Admission:
        try:
            ip = ipaddress.ip_address(source_ip)
        except ValueError:
            return Admission(403, reason=f"bad source address {source_ip}")
        by_address = [t for t in self.trunks if any(ip in n for n in self._nets[t.id])]
        authorization = request.get("Authorization")
        username = parse_auth_params(authorization)[1].get("username", "") if authorization else ""
        candidates = [t for t in self.trunks if t.username and (not t.allow or t in by_address)]
        for t in by_address:
            if not t.username:
                return Admission(0, t.id)
        if not candidates:
            return Admission(403, reason=f"no trunk takes calls from {source_ip}")
        if not authorization:
            return Admission(401, reason="credentials needed", challenge=self.auth.challenge(now))
        for t in candidates:
            if t.username != username:
                continue
            check = self.auth.check(authorization, request.method, self.passwords.get(t.id, {}), now)
            if check.ok:
                return Admission(0, t.id)
            if check.stale:
                return Admission(401, t.id, check.reason, self.auth.challenge(now, stale=True))
            return Admission(403, t.id, f"trunk {t.id}: {check.reason}")
        return Admission(403, reason=f"no trunk with user {username!r} for {source_ip}")

    def allows_tenant(self, trunk_id: str, tenant: str) -> bool:
        t = next((t for t in self.trunks if t.id == trunk_id), None)
        return t is not None and (not t.tenants or tenant in t.tenants)


def dialed_number(request: SipMessage) -> str:
    """The number called: the Request-URI's user part (``sip:+15555550000@gw``), else the To user."""
    return uri_user(request.uri) or uri_user((request.get("To") or "").partition("<")[2].partition(">")[0])


def find_entry(entry_points: dict[str, EntryPoint], number: str) -> EntryPoint | None:
    """The voice entry point of a dialed number: exact, then with or without a leading ``+``."""
    for candidate in (number, f"+{number}", number.lstrip("+")):
        ep = entry_points.get(candidate)
        if ep is not None and ep.channel.value == "voice":
            return ep
    return None
