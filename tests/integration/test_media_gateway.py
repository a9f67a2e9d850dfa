"""The media gateway with real aiortc peers on loopback: IVR with in-band and RFC 4733 DTMF,
queue music and announcements, bridging both ways, hold, transfer, hang-up and the recording, and a
callback booking that waits for the site. The site's side (position, EWT, bookings) is answered by
``Estimator`` here; the whole path through a real site is tests/integration/test_web_callback.py."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vcc.actors.media_gateway import MediaGateway
from vcc.config import compile_center, load_config_text
from vcc.core.ivr import BookCallback
from vcc.core.model import CenterSpec
from vcc.media.errors import MediaError
from vcc.media.pcm import frequency_power, level_dbfs
from vcc.media.peer import TonePeer

ROOT = Path(__file__).resolve().parents[2]
CALLER_HZ, AGENT_HZ, AGENT2_HZ = 440.0, 1000.0, 1500.0


def center() -> CenterSpec:
    text = (ROOT / "cluster" / "dev.yaml").read_text()
    text = text.replace('      weekly:\n        mon-fri: "07:00-23:00"\n        sat,sun: "09:00-17:00"\n',
                        "      weekly: {}\n")  # fmt: skip  (open all week: the test must not depend on the hour)
    return compile_center(load_config_text(text, "dev.yaml (always open)"))


class Estimator:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []
        self.bookings: list[tuple[str, str, str | None, int]] = []
        self.answer = asyncio.Event()  # the site answers a booking once this is set...
        self.booking_error = ""  # ...with this ('' = stored)

    async def book_callback(self, contact_id: str, booking: BookCallback) -> str:
        self.bookings.append((contact_id, booking.queue, booking.number, booking.priority_delta))
        await self.answer.wait()
        return self.booking_error

    async def wait_estimate(self, contact_id: str, tenant: str, queue: str) -> tuple[float | None, int | None]:
        self.asked.append((contact_id, tenant, queue))
        return 150.0, 3


async def until(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Watcher:
    """Follows the gateway's events with the long-poll, as the front door does."""

    def __init__(self, gw: MediaGateway) -> None:
        self.gw = gw
        self.events: list[dict[str, Any]] = []
        self._next = 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            got = await self.gw.events(self._next, timeout_s=1.0)
            self._next = got["next"]
            self.events += got["events"]

    def kinds(self, contact_id: str) -> list[str]:
        return [e["kind"] for e in self.events if e["contact_id"] == contact_id]

    def count(self, contact_id: str, kind: str) -> int:
        return self.kinds(contact_id).count(kind)

    def find(self, contact_id: str, kind: str, **match: Any) -> dict[str, Any] | None:
        for e in self.events:
            if e["contact_id"] == contact_id and e["kind"] == kind and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    async def wait(self, contact_id: str, kind: str, timeout_s: float = 30.0, **match: Any) -> dict[str, Any]:
        await until(f"{kind} {match} for {contact_id}", lambda: self.find(contact_id, kind, **match) is not None,
                    timeout_s)  # fmt: skip
        event = self.find(contact_id, kind, **match)
        assert event is not None
        return event


def shares(pcm: np.ndarray, freq_hz: float, rate_hz: int = 16000, window_s: float = 0.25) -> list[float]:
    """Per window with sound: the share of its power at ``freq_hz``."""
    n = int(rate_hz * window_s)
    out = []
    for i in range(0, len(pcm) - n + 1, n):
        w = pcm[i : i + n]
        total = float(np.mean((w.astype(np.float64) / 32767.0) ** 2))
        if total > 1e-5:
            out.append(frequency_power(w, freq_hz, rate_hz) / total)
    return out or [0.0]


def hears(peer: TonePeer, freq_hz: float, seconds: float = 0.6) -> bool:
    """The peer's recent audio is mostly ``freq_hz``."""
    pcm = peer.recent(seconds)
    if len(pcm) < 48000 * seconds * 0.5:
        return False
    total = float(np.mean((pcm.astype(np.float64) / 32767.0) ** 2))
    return total > 1e-5 and frequency_power(pcm, freq_hz, 48000) > 0.5 * total


async def connect(offer: Callable[[str], Awaitable[str]], peer: TonePeer) -> None:
    await peer.accept(await offer(await peer.offer()))


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 180))  # type: ignore[arg-type]


def test_ivr_inband_dtmf_queue_bridge_hold_transfer_hangup_recording(tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = MediaGateway("dev", 0, center(), run_dir=str(tmp_path))
        gw.announce_every_s = 1.0
        est = Estimator()
        await gw.set_estimator(est)
        watch = Watcher(gw)
        caller, agent, agent2 = TonePeer(CALLER_HZ), TonePeer(AGENT_HZ), TonePeer(AGENT2_HZ)
        cid = "c-media-1"
        try:
            await connect(lambda sdp: gw.caller_offer(cid, "demo", "demo-main", "+15555550123", sdp), caller)
            assert gw.live() == [cid]
            await watch.wait(cid, "leg_up", leg="caller")
            await watch.wait(cid, "prompt", prompt="Welcome to the demo company.")
            await until("the caller hears the welcome prompt", lambda: level_dbfs(caller.recent(0.5)) > -45)
            await watch.wait(cid, "prompt", prompt="For support press 1, for anything else press 2.")
            caller.track.freq_hz = None  # the caller is quiet while pressing keys
            caller.press_inband("2")
            await watch.wait(cid, "dtmf", digit="2", source="inband")
            ivr = await watch.wait(cid, "ivr", outcome="route")
            assert ivr["queue"] == "demo-general" and ivr["path"] == [["menu", "2"]]
            # queued: music, and the position/EWT from the estimator every announce_every_s
            announce = await watch.wait(cid, "announce")
            assert announce["position"] == 3 and "number 3 in line" in announce["text"]
            assert est.asked[0] == (cid, "demo", "demo-general")
            caller.track.freq_hz = CALLER_HZ

            # the agent accepts: bridged both ways
            await connect(lambda sdp: gw.agent_offer(cid, "dev-01", sdp), agent)
            await watch.wait(cid, "bridged", agent_id="dev-01")
            await until("the caller hears the agent's 1 kHz", lambda: hears(caller, AGENT_HZ))
            await until("the agent hears the caller's 440 Hz", lambda: hears(agent, CALLER_HZ))

            # hold: music to the caller, not the agent's tone; the agent hears silence
            await gw.hold(cid)
            await watch.wait(cid, "held")
            await until("music on hold", lambda: not hears(caller, AGENT_HZ, 0.5)
                        and level_dbfs(caller.recent(0.5)) > -45)  # fmt: skip
            await until("the agent hears silence on hold", lambda: level_dbfs(agent.recent(0.5)) < -60)
            await gw.resume(cid)
            await until("talking again after resume", lambda: hears(caller, AGENT_HZ))

            # transfer to a second agent: the caller's leg stays, the first agent's leg ends
            caller_pc = gw.active[cid].caller.pc
            await connect(lambda sdp: gw.agent_offer(cid, "dev-02", sdp), agent2)
            await until("the second agent's leg", lambda: watch.find(cid, "leg_up", agent_id="dev-02") is not None)
            assert hears(caller, AGENT_HZ)  # not bridged yet: the caller still talks to the first agent
            await gw.transfer(cid, "dev-02")
            await watch.wait(cid, "transferred", from_agent_id="dev-01", to_agent_id="dev-02")
            await watch.wait(cid, "leg_down", agent_id="dev-01", reason="transferred")
            await until("the caller hears the second agent", lambda: hears(caller, AGENT2_HZ))
            await until("the second agent hears the caller", lambda: hears(agent2, CALLER_HZ))
            # long enough for the recording to hold the second agent in several 0.25 s windows
            await until("the caller heard the second agent for 1.5 s", lambda: hears(caller, AGENT2_HZ, 1.5))
            assert gw.active[cid].caller.pc is caller_pc and caller_pc.connectionState == "connected"

            # the caller hangs up
            await caller.close()
            ended = await watch.wait(cid, "ended")
            assert ended["by"] == "caller" and ended["reason"] == "caller_hangup"
            rec = await watch.wait(cid, "recording")
            assert gw.live() == [] and cid not in gw.active
        finally:
            watch.task.cancel()
            for p in (caller, agent, agent2):
                await p.close()
            await gw.close()

        path = Path(rec["path"])
        assert path.is_relative_to(tmp_path / "recordings" / "dev") and path.name == f"{cid}.wav"
        with wave.open(str(path)) as w:
            assert w.getnchannels() == 2 and w.getframerate() == 16000
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        left, right = data[:, 0], data[:, 1]
        assert len(data) / 16000 > 2 and abs(len(data) / 16000 - rec["duration_s"]) < 0.1
        left_share = shares(left, CALLER_HZ)
        assert np.median(left_share) > 0.5  # the caller's tone, window after window
        assert max(shares(left, AGENT_HZ)) < 0.05  # never the agent on the caller's channel
        right_1k, right_1500 = shares(right, AGENT_HZ), shares(right, AGENT2_HZ)
        assert sum(r > 0.5 for r in right_1k) >= 2 and sum(r > 0.5 for r in right_1500) >= 2  # both agents, in turn
        assert max(shares(right, CALLER_HZ)) < 0.05

    run(scenario())


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "not_stored"])
def test_a_callback_booking_plays_music_until_the_site_answers(tmp_path: Path, stored: bool) -> None:
    """The caller accepts the callback offer: music, no goodbye, until the site says the callback is
    stored; then the goodbye. If it could not be stored, the caller stays in line (the flow's
    declined branch routes to the queue)."""

    async def scenario() -> None:
        gw = MediaGateway("dev", 0, center(), run_dir=str(tmp_path))
        est = Estimator()  # EWT 150 s: the offer (min 60 s) is made
        est.booking_error = "" if stored else "etcd did not take it in time"
        await gw.set_estimator(est)
        watch = Watcher(gw)
        caller = TonePeer(CALLER_HZ)
        cid = f"c-book-{stored}"
        try:
            await connect(lambda sdp: gw.caller_offer(cid, "demo", "demo-main", "+15555550123", sdp), caller)
            caller.track.freq_hz = None  # quiet: what it hears is the gateway's
            for prompt, keys in (("For support press 1, for anything else press 2.", "1"),
                                 ("Please enter your account number, then the hash key.", "42#"),
                                 ("Press 1 to be called back instead of waiting.", "1")):  # fmt: skip
                await watch.wait(cid, "prompt", prompt=prompt)
                for key in keys:
                    pressed = watch.count(cid, "dtmf")
                    caller.press_inband(key)
                    await until(f"key {key} heard", lambda n=pressed: watch.count(cid, "dtmf") > n)  # type: ignore[misc]
            await until("the booking reaches the site", lambda: est.bookings != [])
            # priority 1: the flow's set node after the account number (the callback is routed as the call)
            assert est.bookings == [(cid, "demo-support", "+15555550123", 1)]
            await asyncio.sleep(1.5)  # the offer prompt, cut short by the key, is long gone from recent()
            assert level_dbfs(caller.recent(0.5)) > -45, "silence while the site stores the callback"
            assert watch.find(cid, "prompt", prompt="We will call you back. Goodbye.") is None
            assert gw.active[cid].state == "ivr"
            est.answer.set()
            if stored:
                await watch.wait(cid, "prompt", prompt="We will call you back. Goodbye.")
                reported = await watch.wait(cid, "ivr", outcome="callback")
                assert reported["reason"] == "callback_booked"
                ended = await watch.wait(cid, "ended")
                assert ended["reason"] == "callback_booked"
                assert watch.find(cid, "ivr", outcome="hangup") is None  # the booking was the outcome
            else:
                reported = await watch.wait(cid, "ivr", outcome="callback")
                assert reported["reason"].startswith("callback_not_booked: etcd did not take it")
                routed = await watch.wait(cid, "ivr", outcome="route")
                assert routed["queue"] == "demo-support"
                assert ["callback", "1"] in routed["path"]
                assert gw.active[cid].state == "queued"
                assert watch.find(cid, "prompt", prompt="We will call you back. Goodbye.") is None
        finally:
            watch.task.cancel()
            await caller.close()
            await gw.close()

    run(scenario())


def test_rfc4733_dtmf_routes_and_bad_requests_are_clear(tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = MediaGateway("dev", 0, center(), run_dir=str(tmp_path))
        watch = Watcher(gw)
        caller = TonePeer(None)
        cid = "c-media-2"
        try:
            offer = await caller.offer()
            assert "telephone-event/8000" in offer
            answer = await gw.caller_offer(cid, "demo", "demo-main", None, offer)
            assert "telephone-event/8000" in answer  # negotiated: aiortc alone would not
            await caller.accept(answer)
            await watch.wait(cid, "prompt", prompt="For support press 1, for anything else press 2.")
            await caller.press_rfc4733("2")
            await watch.wait(cid, "dtmf", digit="2", source="rfc4733")
            await watch.wait(cid, "ivr", outcome="route", queue="demo-general")
            assert [e["digit"] for e in watch.events if e["kind"] == "dtmf"] == ["2"]  # six packets, one press

            with pytest.raises(MediaError, match="already has a live call"):
                await gw.caller_offer(cid, "demo", "demo-main", None, offer)
            with pytest.raises(MediaError, match="no IVR flow 'nope'"):
                await gw.caller_offer("c-x", "demo", "nope", None, offer)
            with pytest.raises(MediaError, match="no audio m-line"):
                await gw.agent_offer(cid, "dev-01", "v=0 garbage")
            with pytest.raises(MediaError, match="no live call"):
                await gw.hold("c-unknown")
            with pytest.raises(MediaError, match="agent dev-09 has no leg"):
                await gw.bridge(cid, "dev-09")
            assert cid in gw.active  # bad requests did not hurt the call
            await gw.hangup(cid, "agent_hangup")
            await watch.wait(cid, "ended", by="agent")
            assert watch.find(cid, "recording") is None  # never reached an agent: nothing recorded
        finally:
            watch.task.cancel()
            await caller.close()
            await gw.close()

    run(scenario())
