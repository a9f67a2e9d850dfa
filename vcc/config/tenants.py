"""Tenants (client companies) and what belongs to each: queues, entry points, hours, caller lists,
billing rates and IVR flows."""

from __future__ import annotations

import difflib
import functools
import zoneinfo
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from vcc.config.base import Address, ConfigModel, Id, Proficiency, id_field
from vcc.config.flows import FlowConfig
from vcc.config.hours import parse_days, parse_window, weekly_windows
from vcc.core.model import AgentSelection, Channel, ServiceLevelFormula

CURRENCY_PATTERN = r"^[A-Z]{3}$"


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone this machine knows; raise ``ValueError`` if not."""
    try:
        zoneinfo.ZoneInfo(name)
        known = name in _known_zones()  # not "localtime" or another file that is not a zone name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        known = False
    if not known:
        close = difflib.get_close_matches(name, sorted(_known_zones()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (use an IANA name such as Europe/Paris)"
        raise ValueError(f"unknown time zone {name!r}{hint}") from None
    return name


def _day_key(key: str) -> str:
    parse_days(key)
    return key


def _windows_list(value: Any) -> Any:
    """One window or a list of them; YAML reads an unquoted ``18:00`` as the number 1080."""
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, int | float) and not isinstance(item, bool):
            raise ValueError(f'YAML read a time as the number {item}: quote hours, e.g. "08:00-18:00"')
    return values


def _window(text: str) -> str:
    parse_window(text)
    return text


DayKey = Annotated[str, AfterValidator(_day_key)]
WindowText = Annotated[str, AfterValidator(_window)]


class HoursConfig(ConfigModel):
    """Opening hours in the tenant's time zone, and holidays on which it is closed all day."""

    weekly: dict[DayKey, Annotated[list[WindowText], BeforeValidator(_windows_list)]] = Field(
        default_factory=dict,
        description='Days -> windows, e.g. `mon-fri: "08:00-18:00"`, `sat: ["09:00-12:00", '
        '"14:00-17:00"]`, `sun: closed`. Days not named are closed; no `weekly` at all means '
        "open 24/7. A window ending before it starts runs past midnight.",
    )
    holidays: list[date] = Field(
        default_factory=list, description="Local dates (YYYY-MM-DD) on which the tenant is closed all day."
    )

    @field_validator("weekly")
    @classmethod
    def _check_weekly(cls, weekly: dict[str, list[str]]) -> dict[str, list[str]]:
        weekly_windows(weekly)
        return weekly


class CallerListsConfig(ConfigModel):
    """Caller ids (phone numbers, e-mail addresses) the tenant blocks or serves first."""

    blocked: list[Address] = Field(default_factory=list, description="Caller ids refused at the entry.")
    vip: list[Address] = Field(default_factory=list, description="Caller ids served ahead of others.")
    vip_priority_boost: int = Field(10, ge=0, le=1000, description="Priority points a VIP contact gets.")


class BillingConfig(ConfigModel):
    """What the operator charges the tenant (used by billing; amounts in ``currency``)."""

    currency: str = Field("EUR", pattern=CURRENCY_PATTERN, description="ISO 4217 code, e.g. `EUR`, `USD`.")
    dedicated_seat_per_hour: Decimal = Field(
        Decimal(0), ge=0, decimal_places=4, description="Price of one dedicated seat per logged-in hour."
    )
    shared_per_handled_minute: Decimal = Field(
        Decimal(0), ge=0, decimal_places=4, description="Price per minute a shared agent handles a contact."
    )
    shared_per_interaction: Decimal = Field(
        Decimal(0), ge=0, decimal_places=4, description="Price per contact a shared agent handles."
    )


class ServiceLevelTarget(ConfigModel):
    """ "``pct`` % of contacts answered within ``threshold_s`` seconds", e.g. 80 % in 20 s."""

    pct: float = Field(80.0, ge=0, le=100, description="Target percentage, 0-100.")
    threshold_s: float = Field(20.0, gt=0, description="Answer threshold T in seconds.")


class QueueConfig(ConfigModel):
    """A queue of one tenant on one channel."""

    id: Id = id_field("queue, across all tenants")
    name: str | None = Field(None, description="Human name shown on wallboards.")
    channel: Channel = Field(description="`voice`, `chat`, `email` or `sms`.")
    skills: dict[Id, Proficiency] = Field(
        default_factory=dict, description="Required skill -> minimum proficiency (1-10), e.g. `{billing: 5}`."
    )
    priority: int = Field(
        0, ge=0, le=1000, description="Base priority of its contacts; higher is served first."
    )
    aging_per_s: float = Field(0.0, ge=0, description="Priority points a contact gains per second waited.")
    service_level: ServiceLevelTarget = Field(
        default_factory=ServiceLevelTarget, description="Service-level target."
    )
    max_wait_s: float | None = Field(
        None, gt=0, description="After this wait a contact moves to `overflow_queue` (if set)."
    )
    overflow_queue: Id | None = Field(
        None, description="Queue of the same tenant and channel that takes contacts after `max_wait_s`."
    )
    callback_offered: bool = Field(False, description="Waiting customers may ask to be called back.")
    selection: AgentSelection = Field(
        AgentSelection.LONGEST_IDLE,
        description="Which free agent gets a contact: `longest_idle` or `least_occupied`.",
    )
    shared_after_s: float = Field(
        0.0, ge=0, description="Shared agents take this queue's contacts only after they waited this long."
    )


class EntryPointConfig(ConfigModel):
    """An address customers use to reach the tenant, and where their contacts start."""

    address: Address = Field(
        description="Phone number (E.164, quoted: `'+33140000001'`) for voice and SMS, a web widget id "
        "for chat or WebRTC voice, an e-mail address for e-mail. Unique across all tenants."
    )
    channel: Channel = Field(description="`voice`, `chat`, `email` or `sms`.")
    flow: Id | None = Field(None, description="IVR flow the contact starts in (required for voice).")
    queue: Id | None = Field(None, description="Queue the contact goes straight into (non-voice only).")


class TenantConfig(ConfigModel):
    """A client company of the operator."""

    id: Id = id_field("tenant")
    name: str = Field(min_length=1, description="Company name.")
    timezone: str = Field(description="IANA time zone of its business hours, e.g. `Europe/Paris`.")
    hours: HoursConfig = Field(default_factory=HoursConfig, description="Business hours and holidays.")
    callers: CallerListsConfig = Field(
        default_factory=CallerListsConfig, description="Blocked and VIP caller ids."
    )
    service_level_formula: ServiceLevelFormula = Field(
        ServiceLevelFormula.ANSWERED_OVER_OFFERED,
        description="How service level is counted: "
        + ", ".join(f"`{f.value}`" for f in ServiceLevelFormula)
        + ".",
    )
    short_abandon_s: float = Field(
        5.0, ge=0, le=120, description="Abandons within this many seconds are not counted against SL."
    )
    home_sites: list[str] = Field(
        min_length=1, description="Sites that normally serve this tenant, preferred first."
    )
    billing: BillingConfig = Field(default_factory=BillingConfig, description="Billing rates.")
    queues: list[QueueConfig] = Field(default_factory=list, description="The tenant's queues.")
    entry_points: list[EntryPointConfig] = Field(
        default_factory=list, description="Phone numbers, widgets, e-mail addresses and SMS numbers."
    )
    flows: list[FlowConfig] = Field(default_factory=list, description="The tenant's IVR flows.")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, name: str) -> str:
        return check_timezone(name)
