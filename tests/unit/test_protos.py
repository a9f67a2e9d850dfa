"""The generated gRPC modules in vcc/proto are what protos/gen.py makes from protos/ today."""

from __future__ import annotations

import filecmp
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_current(tmp_path: Path) -> None:
    gen = runpy.run_path(str(ROOT / "protos" / "gen.py"))
    fresh = gen["generate"](tmp_path)
    assert fresh, "protos/gen.py generated nothing"
    for path in fresh:
        committed = ROOT / path.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run protos/gen.py"
        assert filecmp.cmp(path, committed, shallow=False), f"{committed} is stale: run protos/gen.py"


def test_site_api_round_trips_a_submission() -> None:
    from vcc.proto.v1 import site_pb2

    req = site_pb2.SubmitContactsRequest(
        contacts=[site_pb2.ContactSubmission(contact_id="c1", channel=site_pb2.CHAT, entry_point="w1")]
    )
    back = site_pb2.SubmitContactsRequest.FromString(req.SerializeToString())
    assert back.contacts[0].contact_id == "c1"
    assert back.contacts[0].channel == site_pb2.CHAT
