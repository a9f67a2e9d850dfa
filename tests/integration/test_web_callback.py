"""A web caller books a callback in the IVR and hangs up as soon as the goodbye ("We will call you
back") starts: what most callers do. On a real one-site cluster (etcd, Ray, the site's actors, its
media gateway and web front door), with an aiortc caller that presses real keys: 1 (support), its
account number, then 1 at the callback offer (nobody is staffed, so the wait is long and the callback
is offered). The callback stays booked: the contact is `callback_requested`, queued in the callback
queue and written to etcd, and the caller's hang-up does not abandon it. (Before: the gateway told
the site about the booking only after the goodbye had played, so a caller who hung up during it was
abandoned and never called back.)

And the goodbye plays only once etcd holds the callback: the site's etcd member is frozen (SIGSTOP)
for 1 s as the caller presses 1 at the offer, so the booking's write waits (the lease TTL is 5 s
here, so the freeze is shorter than a keepalive's timeout and the site never fences over it);
the goodbye must start after the member is resumed, and etcd must hold the callback when it does.
(Before: the goodbye started while the write was in flight, so a site dying then lost a callback the
caller had been promised.)"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.integration.test_load_media import always_open_dev_cluster
from vcc.config import load_config
from vcc.coord.client import EtcdClient
from vcc.coord.keys import CoordKeys
from vcc.coord.store import ContactStore, StoredContact
from vcc.drills.logs import all_events
from vcc.load.media import WebCaller
from vcc.media.peer import TonePeer
from vcc.runtime import launcher

pytestmark = pytest.mark.integration

MENU = "For support press 1, for anything else press 2."
ACCOUNT = "Please enter your account number, then the hash key."
OFFER = "Press 1 to be called back instead of waiting."
GOODBYE = "We will call you back. Goodbye."


class HangsUpOnGoodbye(WebCaller):
    """Presses the keys each prompt asks for, and hangs up the moment the goodbye starts."""

    keys = {MENU: "1", ACCOUNT: "12345#", OFFER: "1"}

    FREEZE_S = 1.0

    def __init__(self, *args: Any, store: ContactStore, etcd_pid: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store, self.etcd_pid = store, etcd_pid
        self.in_etcd_at_goodbye: StoredContact | None = None
        self.resumed_at = self.goodbye_at = 0.0
        self.thaw: asyncio.Task[None] | None = None

    async def _freeze_etcd(self) -> None:
        os.kill(self.etcd_pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(self.FREEZE_S)
        finally:
            os.kill(self.etcd_pid, signal.SIGCONT)
            self.resumed_at = time.time()

    async def _converse(self, ws: aiohttp.ClientWebSocketResponse, peer: TonePeer, listener: Any) -> None:
        self.ws, self.peer = ws, peer
        await super()._converse(ws, peer, listener)

    async def _on_message(self, m: dict[str, Any], peer: TonePeer, listener: Any, keys: list[str]) -> bool:
        e = m.get("event") or {}
        if m.get("type") == "media" and e.get("kind") == "prompt":
            prompt = str(e.get("prompt"))
            if prompt == OFFER:
                self.thaw = asyncio.ensure_future(self._freeze_etcd())
            if prompt == GOODBYE:
                self.goodbye_at = time.time()
                self.in_etcd_at_goodbye = await self.store.get(self.call.contact_id)
                self.call.hung_up = True
                await self.ws.send_json({"op": "hangup"})
                return True
            for digit in self.keys.get(prompt, ""):
                self.call.keys_pressed += digit
                if self.te_payload is not None:
                    await peer.press_rfc4733(digit, self.te_payload)
                else:
                    peer.press_inband(digit, on_ms=120, off_ms=80)
                await asyncio.sleep(0.15)
            return False
        return await super()._on_message(m, peer, listener, keys)


def test_a_caller_who_hangs_up_during_the_goodbye_keeps_the_callback(tmp_path: Path) -> None:
    config_path = always_open_dev_cluster(tmp_path)
    raw = yaml.safe_load(config_path.read_text())
    raw["runtime"]["lease_ttl_s"] = 5  # keepalives time out after 1.25 s: longer than the freeze
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(config_path)
    run_dir = tmp_path / "run"
    site = config.sites[0]

    def story(cid: str) -> list[tuple[str, str | None]]:
        return [(e["state"], e.get("reason")) for e in all_events(run_dir)
                if e.get("kind") == "contact" and e.get("contact_id") == cid]

    async def scenario(etcd_pid: int) -> HangsUpOnGoodbye:
        async with EtcdClient(site.host, site.resolved_ports()["etcd_client"]) as etcd:
            store = ContactStore(etcd, CoordKeys(config.name))
            await store.get("warm-up")  # connected before the member is frozen
            caller = HangsUpOnGoodbye(site.http_url, "demo-web-call", "+4930555", dtmf="", patience_s=None,
                                      key_prompts=set(), on_contact=lambda call: None, max_s=90.0,
                                      store=store, etcd_pid=etcd_pid)
            async with aiohttp.ClientSession() as http:
                await caller.run(http)
            if caller.thaw is not None:
                await caller.thaw
            return caller

    try:
        state = launcher.up(config, config_path, run_dir, log=lambda m: None)
        caller = asyncio.run(scenario(state.sites[site.id].etcd_pid))
        call = caller.call
        assert call.contact_id and not call.error, call
        assert call.hung_up and call.keys_pressed == "1" + "12345#" + "1", call
        deadline = time.monotonic() + 20
        while ("callback_requested", None) not in story(call.contact_id) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3.0)  # the caller's hang-up has reached the site by now
        seen = story(call.contact_id)
    finally:
        launcher.down(run_dir, log=lambda m: None)
    print(f"MEASURE the contact's events: {seen}")
    print(f"MEASURE goodbye started {caller.goodbye_at - caller.resumed_at:+.3f} s after etcd was resumed")
    assert caller.resumed_at and caller.goodbye_at > caller.resumed_at, "the goodbye did not wait for etcd"
    at_goodbye = caller.in_etcd_at_goodbye
    assert at_goodbye is not None, "the goodbye started before etcd held the callback"
    assert at_goodbye.contact.data.get("callback") == "booked" and at_goodbye.contact.state.value == "queued"
    assert ("callback_requested", None) in seen, seen
    assert ("queued", "callback") in seen, seen
    assert not [s for s in seen if s[0] in ("abandoned", "failed", "completed")], seen
