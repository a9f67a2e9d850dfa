"""The agent stream's batching: superseded agent states are dropped, nothing else is."""

from __future__ import annotations

import asyncio

from vcc.actors.directory import AgentStream


def test_take_drops_only_states_superseded_by_a_later_state_of_the_same_agent() -> None:
    async def main() -> None:
        s = AgentStream()
        pushes = [
            ("a1", "state", {"state": "reserved"}),
            ("a1", "offer", {"contact_id": "c1"}),
            ("a2", "state", {"state": "ready"}),
            ("a1", "state", {"state": "busy"}),
            ("a1", "result", {"request_id": 7, "state": "busy"}),
            ("a1", "state", {"state": "ready"}),
        ]
        for p in pushes:
            s.push(*p)
        first = await s.updates.get()
        assert first is not None
        batch, more = s.take(first)
        assert more
        assert batch == [pushes[1], pushes[2], pushes[4], pushes[5]]
        assert s.updates.empty()

    asyncio.run(main())


def test_take_reports_the_end_of_the_stream_after_what_came_before_it() -> None:
    async def main() -> None:
        s = AgentStream()
        s.push("a1", "offer", {"contact_id": "c1"})
        s.updates.put_nowait(None)
        first = await s.updates.get()
        assert first is not None
        batch, more = s.take(first)
        assert batch == [("a1", "offer", {"contact_id": "c1"})] and not more

    asyncio.run(main())
