"""When must a site fence itself? The sans-IO arithmetic of a session lease.

etcd's leader sets a lease's expiry to *its* now + TTL when it handles a keepalive, so after a
keepalive that was *sent* at ``t`` and answered, the lease lives at least until ``t + TTL``. Other
sites learn of the expiry even later (the leader scans for expired leases every 500 ms, and a new
leader extends every lease by an election timeout). A site that stops claiming agents and taking
contacts at ``t + TTL - margin`` therefore stops before anyone else could act on the expiry, by a
monotonic clock and without asking etcd. The margin absorbs event-loop lag between the deadline and
the last action taken under the lease; writes already in flight are guarded in etcd itself by the
session epoch (see :mod:`vcc.coord.session`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    """The session's timers. ``ttl_s`` is what the site asks etcd for (an integer, ≥ etcd's minimum
    of 1.5 election timeouts); refreshes go out every ``refresh_fraction`` of it, ± ``jitter``."""

    ttl_s: int = 2
    margin_s: float = 0.5
    refresh_fraction: float = 1 / 3
    jitter: float = 0.1
    retry_min_s: float = 0.1
    retry_max_s: float = 0.4

    def __post_init__(self) -> None:
        if self.ttl_s < 1:
            raise ValueError("ttl_s must be at least 1 s")
        if not 0 < self.margin_s < self.ttl_s * (1 - self.refresh_fraction * (1 + self.jitter)):
            raise ValueError("margin_s must leave room for at least one refresh before the deadline")
        if not 0 < self.retry_min_s <= self.retry_max_s:
            raise ValueError("need 0 < retry_min_s <= retry_max_s")


def fence_deadline(last_ok_sent_at: float, ttl_s: float, margin_s: float) -> float:
    """The monotonic time after which the site can no longer prove its lease is alive."""
    return last_ok_sent_at + ttl_s - margin_s


def must_fence(last_ok_sent_at: float | None, ttl_s: float, margin_s: float, now: float) -> bool:
    """True when no grant/refresh has succeeded yet, or the last one was sent too long ago."""
    return last_ok_sent_at is None or now >= fence_deadline(last_ok_sent_at, ttl_s, margin_s)


class LeaseClock:
    """What a session knows about its current lease. Times are monotonic seconds, passed in."""

    def __init__(self, timing: LeaseTiming) -> None:
        self.timing = timing
        self.last_ok_sent_at: float | None = None
        self.ttl_s: float = timing.ttl_s

    def proved(self, sent_at: float, granted_ttl_s: int) -> None:
        """A grant or keepalive sent at ``sent_at`` came back alive with ``granted_ttl_s``.

        The smaller of the asked and granted TTLs is trusted, and an older proof never moves the
        deadline back (answers to concurrent requests may arrive out of order)."""
        self.ttl_s = min(self.timing.ttl_s, granted_ttl_s)
        if self.last_ok_sent_at is None or sent_at > self.last_ok_sent_at:
            self.last_ok_sent_at = sent_at

    def lost(self) -> None:
        """A refresh failed or etcd said the lease is gone: stop trusting it at once."""
        self.last_ok_sent_at = None

    @property
    def deadline(self) -> float | None:
        if self.last_ok_sent_at is None:
            return None
        return fence_deadline(self.last_ok_sent_at, self.ttl_s, self.timing.margin_s)

    def fenced(self, now: float) -> bool:
        return must_fence(self.last_ok_sent_at, self.ttl_s, self.timing.margin_s, now)

    def next_refresh_at(self, u: float) -> float:
        """When to send the next keepalive; ``u`` in [0, 1) picks the jitter. Always before the
        deadline (LeaseTiming guarantees the room). Call only while the lease is proved."""
        if self.last_ok_sent_at is None:
            raise ValueError("no proved lease to refresh")
        t = self.timing
        period = self.ttl_s * t.refresh_fraction * (1 + t.jitter * (2 * u - 1))
        return self.last_ok_sent_at + period

    def refresh_timeout(self, now: float) -> float:
        """How long a keepalive sent now may take before the site must fence anyway."""
        d = self.deadline
        return 0.0 if d is None else max(0.0, d - now)

    def retry_delay(self, u: float) -> float:
        """Jittered pause between attempts to rejoin while fenced."""
        t = self.timing
        return t.retry_min_s + (t.retry_max_s - t.retry_min_s) * u
