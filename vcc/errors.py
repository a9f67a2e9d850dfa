"""The one exception root of vcc.

User errors (a bad config file, a bad API call) print a sentence and exit with a code; bugs keep their
traceback. Whether an error is worth retrying is an attribute, never a guess from the message.
"""

from __future__ import annotations

from dataclasses import dataclass


class VccError(Exception):
    """Root of every error vcc raises on purpose."""

    retryable: bool = False
    exit_code: int = 1


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a user's input: where (a dotted path such as ``tenants[1].queues[0]``,
    or ``line 4, column 7`` for syntax) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(VccError):
    """A configuration file (or API payload) is invalid. Carries one Problem per issue found."""

    exit_code = 2

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)")

    def lines(self) -> list[str]:
        return [f"{self.source}: {p}" for p in self.problems]


class InvalidTransition(VccError):
    """A state machine was asked for a transition its current state does not allow (a bug in the
    caller, or a stale command from the outside world)."""

    def __init__(self, what: str, current: str, requested: str) -> None:
        self.what = what
        self.current = current
        self.requested = requested
        super().__init__(f"{what}: cannot go from {current} to {requested}")


class CapacityError(VccError):
    """An agent was asked to take more than its free capacity on a channel."""


class NotFound(VccError):
    """A referenced contact, agent, queue or tenant does not exist."""


class CoordError(VccError):
    """The coordination store (etcd) could not be reached or did not answer in time. Worth retrying:
    the caller's own site member may be restarting or electing a leader."""

    retryable = True


class FencedError(CoordError):
    """This site cannot prove its session lease is alive, so it must not take work or reserve agents
    until the session rejoins (retryable: it will, once its etcd member is back in the quorum)."""


class CompactedError(CoordError):
    """A watch asked for history etcd has already compacted; re-read the current state and watch on."""

    def __init__(self, compact_revision: int) -> None:
        self.compact_revision = compact_revision
        super().__init__(f"revisions below {compact_revision} were compacted")
