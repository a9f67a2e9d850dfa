"""The extra skills and priority an IVR flow's ``set`` nodes give a contact survive every way out of
the IVR: the scripted worker's route and callback, the router's enqueue, and etcd's record of a
durable contact (what an adopting site routes by)."""

from __future__ import annotations

import json
from pathlib import Path

from vcc.actors.ivr_worker import IvrWorker
from vcc.actors.records import ContactRecord
from vcc.config import compile_center, load_config_text
from vcc.coord.store import DurableContact
from vcc.core.model import Channel, ContactState, merge_skills

ROOT = Path(__file__).resolve().parents[2]


def worker() -> IvrWorker:
    """dev.yaml open all week, its support branch's set node also asking for billing 5."""
    text = (ROOT / "cluster" / "dev.yaml").read_text()
    text = text.replace('      weekly:\n        mon-fri: "07:00-23:00"\n        sat,sun: "09:00-17:00"\n',
                        "      weekly: {}\n")  # fmt: skip
    set_node = "priority: {type: set, priority_delta: 1, next: support_wait}"
    assert set_node in text
    text = text.replace(set_node, "priority: {type: set, priority_delta: 1, skills: {billing: 5}, next: support_wait}")
    return IvrWorker("dev", 0, compile_center(load_config_text(text, "dev.yaml (billing)")))


def caller(cid: str, dtmf: str) -> ContactRecord:
    return ContactRecord(cid, "demo", Channel.VOICE, 1000.0, entry_point="+15555550000", caller_id="+4930999",
                         data={"dtmf": dtmf}, skills={"billing": 2, "english": 3}, flow="demo-main")  # fmt: skip


def test_the_scripted_route_and_callback_carry_the_flows_skills_and_priority() -> None:
    long_wait = {"demo-support": (600.0, 9)}
    # support (1), account 12345#, then 1 at the callback offer / 2: decline and wait
    booked, routed = worker().run([caller("cb", "1 12345# 1"), caller("rt", "1 12345# 2")], 1000.0, long_wait)
    assert booked.outcome == "callback" and routed.outcome == "route"
    for res in (booked, routed):
        # the stricter minimum wins where the contact already needed the skill
        assert res.record.skills == {"billing": 5, "english": 3}, res
        assert res.priority_delta == 1, res
        assert res.record.queue == "demo-support"
    assert booked.record.data["ivr_path"] == "menu:1 callback:1"


def test_merge_skills_keeps_the_stricter_minimum() -> None:
    have = {"billing": 6, "english": 3}
    assert merge_skills(have, {"billing": 3, "french": 4}) == {"billing": 6, "english": 3, "french": 4}
    assert merge_skills(have, {}) is have and have == {"billing": 6, "english": 3}


def test_a_durable_contact_keeps_its_skills_in_etcd_and_reads_records_without_them() -> None:
    c = DurableContact("c1", "demo", Channel.VOICE, "demo-support", 1.5, 3, ContactState.QUEUED, "A",
                       {"callback": "booked"}, skills={"billing": 5})  # fmt: skip
    assert DurableContact.from_json(c.to_json()) == c
    plain = DurableContact("c2", "demo", Channel.EMAIL, "demo-email", 1.5, 0, ContactState.QUEUED, "A")
    assert "skills" not in json.loads(plain.to_json())  # records written before the field read the same
    assert DurableContact.from_json(plain.to_json()).skills == {}
