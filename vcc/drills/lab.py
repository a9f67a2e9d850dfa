"""Drills on a cluster that runs in the network lab (``vcc up --lab``): a partition is the site's
link cut at the hub (every packet to or from it dropped, silently), ``slow`` is WAN delay, jitter
and loss on every link of the site, through the hub's emulator. The site's processes run on
throughout, as behind a real cut or a bad WAN."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from vcc.lab.cluster import LabRecord, control, cut, recorded, set_wan
from vcc.lab.wan import WanParams


def lab_of(run_dir: Path) -> LabRecord | None:
    return recorded(run_dir)


def partition(rec: LabRecord, site: str) -> None:
    cut(rec, site, down=True)


def heal(rec: LabRecord, site: str) -> bool:
    """Set the site's link up again; True if it was cut."""
    paths = control(rec, {"op": "status"})["paths"]
    was_cut = any(p["down"] and site in (p["from"], p["to"]) for p in paths)
    cut(rec, site, down=False)
    return was_cut


def wan_of(rec: LabRecord, site: str) -> dict[str, WanParams]:
    """The site's current WAN settings towards every other end (by the path leaving the site)."""
    paths = control(rec, {"op": "status"})["paths"]
    return {p["to"]: WanParams.from_dict(p) for p in paths if p["from"] == site}


def slow(rec: LabRecord, site: str, for_s: float, params: WanParams) -> threading.Thread:
    """Every link of ``site`` gets ``params`` for ``for_s`` seconds, then its settings from before."""
    before = wan_of(rec, site)
    for other in before:
        set_wan(rec, site, other, **params.to_dict())

    def restore() -> None:
        time.sleep(for_s)
        for other, old in before.items():
            set_wan(rec, site, other, **old.to_dict())

    thread = threading.Thread(target=restore, name=f"slow-{site}", daemon=True)
    thread.start()
    return thread


def describe(params: WanParams) -> dict[str, Any]:
    return {"method": "lab WAN", **params.to_dict()}
