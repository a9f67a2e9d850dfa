"""A media gateway: where a voice contact's media is anchored.

The media plane (WebRTC, SIP/RTP) arrives in later work; today a gateway keeps the set of live
voice contacts anchored on it and answers health checks, so the site knows which calls die with it:
when a site is lost, the voice contacts anchored on its gateways end, recorded as failed.
"""

from __future__ import annotations

import os
from typing import Any


class MediaGateway:
    def __init__(self, site: str, index: int) -> None:
        self.site = site
        self.index = index
        self.anchored: dict[str, float] = {}  # contact id -> anchored at

    def health(self) -> dict[str, Any]:
        return {"index": self.index, "anchored": len(self.anchored), "pid": os.getpid()}

    def anchor(self, contact_ids: list[str], now: float) -> int:
        for cid in contact_ids:
            self.anchored.setdefault(cid, now)
        return len(self.anchored)

    def release(self, contact_ids: list[str]) -> int:
        for cid in contact_ids:
            self.anchored.pop(cid, None)
        return len(self.anchored)

    def live(self) -> list[str]:
        return list(self.anchored)
