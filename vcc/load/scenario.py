"""A load scenario: what ``vcc load SCENARIO`` offers a running cluster, validated like the cluster file.

Arrival streams per tenant and entry point (Poisson, or replayed from a CSV of timestamps), caller
patience (abandonment), handle-time and wrap-up distributions of the bot agents, how long, and the
random seed. Every model forbids unknown keys; a bad file yields one line per problem with its path
(``arrivals[1].rate_per_s``) and exit code 2, as the cluster file does.
"""

from __future__ import annotations

import csv
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vcc.config.loader import _read_text, parse_yaml
from vcc.config.models import ClusterConfig
from vcc.config.problems import translate
from vcc.errors import ConfigError, Problem
from vcc.web.frontdoor import is_web_widget

NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistKind(StrEnum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


class Duration(_Model):
    """A distribution of seconds. ``fixed``: always ``mean_s``; ``exponential``: mean ``mean_s``;
    ``uniform``: between ``min_s`` and ``max_s``; ``lognormal``: mean ``mean_s``, standard deviation
    ``sd_s``. ``min_s``/``max_s`` also clip the other kinds."""

    dist: DistKind = DistKind.FIXED
    mean_s: NonNegative = 0.0
    sd_s: NonNegative = 0.0
    min_s: NonNegative = 0.0
    max_s: Positive | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Duration:
        if self.max_s is not None and self.max_s < self.min_s:
            raise ValueError(f"max_s ({self.max_s:g}) is below min_s ({self.min_s:g})")
        if self.dist == DistKind.UNIFORM and self.max_s is None:
            raise ValueError("a uniform distribution needs max_s")
        if self.dist == DistKind.LOGNORMAL and (self.mean_s <= 0 or self.sd_s <= 0):
            raise ValueError("a lognormal distribution needs mean_s > 0 and sd_s > 0")
        if self.dist == DistKind.EXPONENTIAL and self.mean_s <= 0:
            raise ValueError("an exponential distribution needs mean_s > 0")
        return self


class ArrivalProcess(StrEnum):
    POISSON = "poisson"
    REPLAY = "replay"


class Arrivals(_Model):
    """One stream of customers: contacts of ``tenant`` on ``entry_point`` (or the tenant's first
    entry point of ``channel``), submitted to ``sites`` (default: the tenant's home sites)."""

    tenant: str
    entry_point: str | None = None
    channel: str | None = None
    process: ArrivalProcess = ArrivalProcess.POISSON
    rate_per_s: NonNegative = 0.0
    replay_csv: str | None = Field(None, description="CSV with a column of seconds since the start (first column "
                                   "or one named offset_s); relative to the scenario file")
    patience_s: Duration | None = Field(None, description="how long a caller waits before hanging up (none: forever)")
    dtmf: str = ""
    sites: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> Arrivals:
        if (self.entry_point is None) == (self.channel is None):
            raise ValueError("give exactly one of entry_point and channel")
        if self.process == ArrivalProcess.POISSON and self.rate_per_s <= 0:
            raise ValueError("a poisson stream needs rate_per_s > 0")
        if self.process == ArrivalProcess.REPLAY and not self.replay_csv:
            raise ValueError("a replay stream needs replay_csv")
        if self.process == ArrivalProcess.POISSON and self.replay_csv:
            raise ValueError("replay_csv is only read with process: replay")
        return self


class Agents(_Model):
    """The bot agents that log in for the run and how they behave."""

    ids: list[str] = Field(default_factory=list, description="agents to log in (empty: every agent)")
    sites: list[str] = Field(default_factory=list, description="only agents homed at these sites")
    password: str = Field("demo-{agent}", description="password template; {agent} is the agent's id")
    answer_delay_s: Duration = Duration()
    handle_s: Duration = Duration(dist=DistKind.EXPONENTIAL, mean_s=1.0)
    handle_s_by_channel: dict[str, Duration] = Field(default_factory=dict)
    wrap_up_s: Duration = Duration()


class Scenario(_Model):
    name: str = "load"
    description: str = ""
    duration_s: Positive
    warmup_s: NonNegative = Field(0.0, description="contacts arriving before this are left out of the figures")
    drain_s: NonNegative = Field(30.0, description="most seconds to wait for contacts still open at the end")
    seed: int = 1
    service_level_threshold_s: Positive | None = Field(
        None, description="threshold of the SL figure (default: each queue's own from the cluster file)")
    media: bool = Field(False, description="voice callers with real audio (aiortc) through the sites' web front "
                        "doors (a web voice widget entry point), bot agents on the agent desktop with audio legs")
    arrivals: list[Arrivals] = Field(min_length=1)
    agents: Agents = Agents()
    soak_report_every_s: NonNegative = Field(0.0, description="sample every site process's RSS this often (0: off)")


def load_scenario(path: str | Path) -> Scenario:
    """A validated scenario; :class:`ConfigError` (one line per problem, with its path) otherwise."""
    source = str(path)
    doc = parse_yaml(_read_text(Path(path), source), source)
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(source, doc.with_lines(translate(exc, doc.data, Scenario))) from None
    problems = []
    for i, a in enumerate(scenario.arrivals):
        if a.replay_csv:
            csv_path = (Path(path).parent / a.replay_csv)
            try:
                read_offsets(csv_path)
            except ValueError as e:
                problems.append(Problem(f"arrivals[{i}].replay_csv", str(e)))
    if problems:
        raise ConfigError(source, doc.with_lines(problems))
    return scenario


def check_against(scenario: Scenario, config: ClusterConfig, source: str) -> None:
    """The scenario's tenants, entry points, channels, sites and agents exist in the cluster file."""
    problems: list[Problem] = []
    tenants = {t.id: t for t in config.tenants}
    sites = {s.id for s in config.sites}
    agents = {a.id for a in config.agents}
    for i, a in enumerate(scenario.arrivals):
        where = f"arrivals[{i}]"
        tenant = tenants.get(a.tenant)
        if tenant is None:
            problems.append(Problem(f"{where}.tenant", f"no tenant {a.tenant!r} in the cluster file "
                                                       f"(tenants: {', '.join(sorted(tenants))})"))
            continue
        points = {e.address: e.channel.value for e in tenant.entry_points}
        if a.entry_point is not None and a.entry_point not in points:
            problems.append(Problem(f"{where}.entry_point", f"tenant {a.tenant} has no entry point "
                                                            f"{a.entry_point!r} (it has: {', '.join(points)})"))
        if a.channel is not None and a.channel not in points.values():
            problems.append(Problem(f"{where}.channel", f"tenant {a.tenant} has no {a.channel} entry point"))
        widgets = [e for e, ch in points.items() if ch == "voice" and is_web_widget(e)]
        if scenario.media and a.entry_point in points and points[a.entry_point] == "voice" \
                and a.entry_point not in widgets:
            problems.append(Problem(f"{where}.entry_point", f"media callers come through a web voice widget, and "
                                    f"{a.entry_point!r} is not one (tenant {a.tenant}'s: "
                                    f"{', '.join(widgets) or 'none'})"))
        if scenario.media and a.channel == "voice" and not widgets:
            problems.append(Problem(f"{where}.channel", f"media callers come through a web voice widget, and "
                                                        f"tenant {a.tenant} has none"))
        for site in a.sites:
            if site not in sites:
                problems.append(Problem(f"{where}.sites", f"no site {site!r} in the cluster file"))
    for agent in scenario.agents.ids:
        if agent not in agents:
            problems.append(Problem("agents.ids", f"no agent {agent!r} in the cluster file"))
    for site in scenario.agents.sites:
        if site not in sites:
            problems.append(Problem("agents.sites", f"no site {site!r} in the cluster file"))
    if problems:
        raise ConfigError(source, problems)


def read_offsets(path: Path) -> list[float]:
    """Seconds since the start, sorted, from a CSV (a header row is allowed: the ``offset_s`` column
    is used if there is one, else the first); ValueError with the line number on a bad value."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    rows = list(csv.reader(text.splitlines()))
    column = 0
    start = 0
    if rows and rows[0] and not _is_number(rows[0][0]):
        header = [h.strip() for h in rows[0]]
        column = header.index("offset_s") if "offset_s" in header else 0
        start = 1
    out = []
    for n, row in enumerate(rows[start:], start=start + 1):
        if not row or not "".join(row).strip():
            continue
        cell = row[column].strip() if column < len(row) else ""
        if not _is_number(cell) or float(cell) < 0:
            raise ValueError(f"{path.name} line {n}: {cell!r} is not a number of seconds >= 0")
        out.append(float(cell))
    if not out:
        raise ValueError(f"{path.name} has no timestamps")
    return sorted(out)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
