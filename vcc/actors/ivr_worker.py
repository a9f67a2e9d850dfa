"""An IVR worker: runs contacts through their tenant's IVR flow, in batches.

Contacts with live audio get their IVR from the media plane; a signaling-only contact (load, bots,
drills) brings the keys its caller presses in the ``dtmf`` attached data and is walked by the
scripted caller. Either way the outcome is the same: a queue with the priority and skills the flow
set and the choices made (the agent's screen pop), a callback to book, or a hang-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from vcc.actors.records import ContactRecord
from vcc.core.ivr_script import run_scripted
from vcc.core.model import CenterSpec, merge_skills


@dataclass(slots=True)
class IvrResult:
    record: ContactRecord
    outcome: str  # "route" | "callback" | "hangup"
    reason: str = ""
    callback_number: str | None = None
    priority_delta: int = 0
    prompts: list[str] = field(default_factory=list)


class IvrWorker:
    def __init__(self, site: str, index: int, center: CenterSpec) -> None:
        self.site = site
        self.index = index
        self.center = center
        self.handled = 0

    def health(self) -> dict[str, Any]:
        return {"index": self.index, "handled": self.handled, "pid": os.getpid()}

    def reconfigure(self, center: CenterSpec) -> None:
        self.center = center

    def run(
        self, records: list[ContactRecord], now: float, estimates: dict[str, tuple[float | None, int]]
    ) -> list[IvrResult]:
        """Run each contact's flow; ``estimates`` maps a queue to (EWT, contacts waiting) at this site."""
        results = []
        for rec in records:
            rec = ContactRecord(**{f: getattr(rec, f) for f in rec.__dataclass_fields__})  # never alias
            rec.data = dict(rec.data)
            flow = self.center.flows.get(rec.flow or "")
            tenant = self.center.tenants.get(rec.tenant)
            if flow is None or tenant is None:
                reason = f"no IVR flow {rec.flow!r} for tenant {rec.tenant!r}"
                results.append(IvrResult(rec, "hangup", reason))
                continue

            def estimate(queue: str) -> tuple[float | None, int | None]:
                ewt_s, waiting = estimates.get(queue, (None, 0))
                return ewt_s, waiting + 1

            out = run_scripted(
                flow, now=now, dtmf=str(rec.data.get("dtmf", "")), caller=rec.caller_id,
                is_open=tenant.hours.is_open, wait_estimate=estimate,
            )  # fmt: skip
            self.handled += 1
            if out.route is not None:
                rec.queue = out.route.queue
                rec.skills = merge_skills(rec.skills, out.route.skills)
                rec.data.update(out.route.variables)
                rec.data["ivr_path"] = " ".join(f"{node}:{digit}" for node, digit in out.route.path)
                results.append(IvrResult(rec, "route", priority_delta=out.route.priority_delta,
                                         prompts=list(out.prompts)))
            elif out.callback is not None:
                rec.queue = out.callback.queue
                rec.skills = merge_skills(rec.skills, out.callback.skills)
                rec.data.update(out.callback.variables)
                rec.data["ivr_path"] = " ".join(f"{node}:{digit}" for node, digit in out.callback.path)
                results.append(IvrResult(rec, "callback", "callback_requested", out.callback.number,
                                         out.callback.priority_delta, prompts=list(out.prompts)))
            else:
                reason = out.hangup.reason if out.hangup is not None else "ivr_hangup"
                results.append(IvrResult(rec, "hangup", reason, prompts=list(out.prompts)))
        return results
