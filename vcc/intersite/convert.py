"""Protobuf <-> plain values, at the edge only (protobuf never reaches ``vcc.core``)."""

from __future__ import annotations

import math
from typing import Any

from vcc.actors.controller import Submission, Submitted
from vcc.actors.records import ContactRecord
from vcc.actors.site_media import IVR_AT_GATEWAY
from vcc.coord.keys import check_id
from vcc.core.balancer import SiteLoad
from vcc.core.model import Channel
from vcc.proto.v1 import site_pb2 as pb

CHANNEL_TO_PB = {Channel.VOICE: pb.VOICE, Channel.CHAT: pb.CHAT, Channel.EMAIL: pb.EMAIL, Channel.SMS: pb.SMS}
CHANNEL_FROM_PB = {v: k for k, v in CHANNEL_TO_PB.items()}


#: What one submitted contact may carry: its id becomes an etcd key, and its attached data (the
#: screen pop) travels with it to etcd, to agents and to other sites.
MAX_ID_CHARS = 128
MAX_ADDRESS_CHARS = 256  # entry point, caller id
MAX_DATA_BYTES = 64 * 1024


class BadRequest(ValueError):
    """A request that names what is wrong with it (answered as INVALID_ARGUMENT)."""


def submission(msg: pb.ContactSubmission, index: int) -> Submission:
    at = f"contacts[{index}]"
    channel = CHANNEL_FROM_PB.get(msg.channel)
    if channel is None:
        raise BadRequest(f"{at}.channel: must be one of voice, chat, email, sms")
    if msg.contact_id:  # empty: the site gives it one
        try:
            check_id("contact", msg.contact_id)
        except ValueError as e:
            raise BadRequest(f"{at}.contact_id: {e}") from None
        if len(msg.contact_id) > MAX_ID_CHARS:
            raise BadRequest(f"{at}.contact_id: {len(msg.contact_id)} characters, at most {MAX_ID_CHARS}")
    if not msg.entry_point:
        raise BadRequest(f"{at}.entry_point: required")
    for name in ("entry_point", "caller_id"):
        if len(value := getattr(msg, name)) > MAX_ADDRESS_CHARS:
            raise BadRequest(f"{at}.{name}: {len(value)} characters, at most {MAX_ADDRESS_CHARS}")
    if not math.isfinite(msg.patience_s) or msg.patience_s < 0:
        raise BadRequest(f"{at}.patience_s: must be a number of seconds >= 0, not {msg.patience_s}")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in msg.data.items())
    if size > MAX_DATA_BYTES:
        raise BadRequest(f"{at}.data: {size} bytes of attached data, at most {MAX_DATA_BYTES}")
    data = dict(msg.data)
    data.pop(IVR_AT_GATEWAY, None)  # only the flag below says where the IVR runs
    if msg.ivr_at_gateway:
        if channel is not Channel.VOICE:
            raise BadRequest(f"contacts[{index}].ivr_at_gateway: only voice contacts have an IVR")
        data[IVR_AT_GATEWAY] = "gateway"
    return Submission(msg.contact_id, channel, msg.entry_point, msg.caller_id, data, msg.patience_s)


def submitted(res: Submitted) -> pb.SubmitResult:
    return pb.SubmitResult(contact_id=res.contact_id, accepted=res.accepted, site=res.site, error=res.error)


def routed_contact(rec: ContactRecord) -> pb.RoutedContact:
    return pb.RoutedContact(
        contact_id=rec.id, tenant=rec.tenant, channel=CHANNEL_TO_PB[rec.channel], queue=rec.queue or "",
        caller_id=rec.caller_id, arrived_ts=rec.arrived_at, priority=rec.priority,
        data={k: str(v) for k, v in rec.data.items()}, origin_site=rec.origin_site,
        extra_skills=dict(rec.skills), patience_s=rec.patience_s,
    )  # fmt: skip


def record_of(msg: pb.RoutedContact) -> ContactRecord:
    channel = CHANNEL_FROM_PB.get(msg.channel)
    if channel is None or not msg.contact_id or not msg.queue:
        raise BadRequest(f"routed contact {msg.contact_id!r}: channel, contact_id and queue are required")
    return ContactRecord(
        msg.contact_id, msg.tenant, channel, msg.arrived_ts, caller_id=msg.caller_id, data=dict(msg.data),
        priority=msg.priority, queue=msg.queue, skills=dict(msg.extra_skills), enqueued_at=msg.arrived_ts,
        origin_site=msg.origin_site, patience_s=msg.patience_s,
    )  # fmt: skip


def site_load(load: SiteLoad, tenants: dict[str, str]) -> pb.SiteLoad:
    return pb.SiteLoad(
        site=load.site, ts=load.ts, fenced=load.fenced,
        queues=[
            pb.QueueLoad(queue=q, tenant=tenants.get(q, ""), waiting=v.waiting,
                         ewt_s=-1.0 if v.ewt_s is None else v.ewt_s, ready_agents=v.ready_agents,
                         staffed_agents=v.staffed_agents)
            for q, v in sorted(load.queues.items())
        ],
    )  # fmt: skip


def command_args(msg: pb.AgentCommand) -> tuple[str, dict[str, Any]]:
    which = msg.WhichOneof("command")
    if which is None:
        raise BadRequest(f"agent command {msg.request_id}: no command given")
    body = getattr(msg, which)
    args = {f.name: v for f, v in body.ListFields()}
    return which, args
