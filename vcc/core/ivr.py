"""Sans-IO IVR interpreter: walks a ``vcc.core.flow.Flow`` for one contact, consuming events and
emitting actions. An IVR worker owns the I/O: it plays prompts, arms timers, answers requests and
feeds the outcome back as events.

Protocol::

    session = IvrSession(flow, caller="+4930123")
    actions = session.handle(Started(), now)          # e.g. [PlayPrompt("welcome", False, 1)]
    actions = session.handle(PromptFinished(1), now)  # e.g. [PlayPrompt("main-menu", True, 2)]
    ...                                                # until RouteAction or HangUpAction

Rules the worker can rely on:

* Prompts and timers carry ids. ``PromptFinished`` and ``Timeout`` for any other id than the current
  one are stale and ignored; a new ``CollectDigits``/``StartTimer`` supersedes the previous timer.
* Digits count while the caller is asked for input and while a barge-in prompt (menu, collect,
  callback offer) plays, which the first digit stops (``StopPrompt``). Digits during a plain
  prompt, an announcement or a goodbye are dropped; digits typed while the IVR waits on the worker
  (hours check, wait estimate, callback booking) are kept as type-ahead for the next input node,
  which then skips its prompt.
* ``BookCallback`` waits for ``CallbackResult``: the caller hears the flow's ``accepted`` branch
  (usually "we will call you back") only once the site has the booking safe; when it could not be
  stored, the flow goes on down the ``declined`` branch, as if the caller had declined.
* ``RouteAction`` and ``HangUpAction`` are terminal: after one, every event yields no action.
  ``CallerHungUp`` ends the session at any point, without an action.
* One event may visit at most ``step_budget`` nodes and a session at most ``session_budget``;
  beyond, the session ends with ``HangUpAction("ivr_loop")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from vcc.core.ewt import announce_pieces, announce_text
from vcc.core.flow import (
    AnnounceWait,
    CheckHours,
    Collect,
    Flow,
    HangUp,
    Menu,
    Node,
    OfferCallback,
    Play,
    RouteToQueue,
    SetAttributes,
)

DTMF_DIGITS = frozenset("0123456789*#ABCD")

# --- events (worker -> interpreter) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """The call is answered and the IVR may begin."""


@dataclass(frozen=True, slots=True)
class PromptFinished:
    play_id: int


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str

    def __post_init__(self) -> None:
        if self.digit not in DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {self.digit!r}")


@dataclass(frozen=True, slots=True)
class Timeout:
    timer_id: int


@dataclass(frozen=True, slots=True)
class HoursResult:
    open: bool


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    """Answer to ``RequestWaitEstimate``: ``ewt_s`` ``None`` means unknown (nobody staffed)."""

    ewt_s: float | None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class CallbackResult:
    """Answer to ``BookCallback``: ``booked`` once the site holds the callback durably (etcd), else
    ``False`` with ``reason``."""

    booked: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    pass


IvrEvent = Started | PromptFinished | Digit | Timeout | HoursResult | WaitEstimate | CallbackResult | CallerHungUp

# --- actions (interpreter -> worker) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayPrompt:
    """Play ``prompt``; answer with ``PromptFinished(play_id)``. With ``barge_in`` a digit may cut
    it short (the interpreter then sends ``StopPrompt``)."""

    prompt: str
    barge_in: bool
    play_id: int


@dataclass(frozen=True, slots=True)
class StopPrompt:
    play_id: int


@dataclass(frozen=True, slots=True)
class CollectDigits:
    """Listen for DTMF and arm timer ``timer_id`` for ``timeout_s`` (answer with ``Timeout``)."""

    max_digits: int
    terminator: str
    timeout_s: float
    timer_id: int


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)arm the input timer, e.g. the inter-digit timeout after each digit of a collection."""

    timeout_s: float
    timer_id: int


@dataclass(frozen=True, slots=True)
class CheckHoursRequest:
    """Answer with ``HoursResult`` (the tenant's business hours at the current time)."""


@dataclass(frozen=True, slots=True)
class RequestWaitEstimate:
    """Answer with ``WaitEstimate`` for a contact joining ``queue`` now."""

    queue: str


@dataclass(frozen=True, slots=True)
class Announce:
    """Say the wait: ``text`` for text-to-speech, ``pieces`` for concatenated recordings; answer
    with ``PromptFinished(play_id)``."""

    queue: str
    text: str
    pieces: tuple[str, ...]
    ewt_s: float | None
    position: int | None
    play_id: int


@dataclass(frozen=True, slots=True)
class BookCallback:
    """Book a callback in ``queue`` to ``number`` (the ``callback_number`` variable, else the caller
    id); answer with ``CallbackResult``. The flow goes on (usually to a goodbye) once it is booked.
    The callback is routed as the call would have been: with the priority and extra skills the flow's
    ``set`` nodes gave it; ``path`` and ``variables`` are its screen pop."""

    queue: str
    number: str | None
    variables: dict[str, str] = field(default_factory=dict)
    priority_delta: int = 0
    skills: dict[str, int] = field(default_factory=dict)
    path: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RouteAction:
    """Terminal: queue the contact. ``path`` is the menu choices made, ``variables`` the collected
    digits: what the agent's screen pop shows."""

    queue: str
    priority_delta: int
    skills: dict[str, int]
    variables: dict[str, str]
    path: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class HangUpAction:
    """Terminal: end the call."""

    reason: str


IvrAction = (
    PlayPrompt
    | StopPrompt
    | CollectDigits
    | StartTimer
    | CheckHoursRequest
    | RequestWaitEstimate
    | Announce
    | BookCallback
    | RouteAction
    | HangUpAction
)


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    ts: float
    node: str | None
    what: str


class UnknownNodeError(LookupError):
    """A flow refers to a node it does not have (config validation should have caught it)."""


class _Wait(Enum):
    """What the session waits for."""

    START = "start"
    PROMPT = "prompt"  # a prompt (or announcement) to finish
    INPUT = "input"  # digits or the input timer
    HOURS = "hours"
    ESTIMATE = "estimate"
    BOOKING = "booking"  # a callback booking, until the site says it is stored
    DONE = "done"


_MAX_TYPEAHEAD = 32


class IvrSession:
    """One contact's walk through a flow. Not thread-safe; one instance per contact."""

    def __init__(
        self,
        flow: Flow,
        *,
        caller: str | None = None,
        step_budget: int = 1000,
        session_budget: int = 10_000,
    ) -> None:
        self.flow = flow
        self.caller = caller
        self.step_budget = step_budget
        self.session_budget = session_budget
        self.variables: dict[str, str] = {}
        self.priority_delta = 0
        self.skills: dict[str, int] = {}
        self.outcome: RouteAction | HangUpAction | None = None
        self.caller_hung_up = False
        self._path: list[tuple[str, str]] = []
        self._transcript: list[TranscriptEntry] = []
        self._wait = _Wait.START
        self._node_id: str | None = None
        self._prompts: list[str] = []  # still to play, in order, after the current one
        self._barge_in = False
        self._play_id = 0
        self._timer_id = 0
        self._armed = False  # the input timer of the current wait is running
        self._listening = False  # CollectDigits was sent for the current attempt
        self._failures = 0
        self._digits = ""
        self._typeahead: list[str] = []
        self._steps = 0
        self._visits = 0
        self._now = 0.0
        self._out: list[IvrAction] = []

    # --- public view ----------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._wait is _Wait.DONE

    @property
    def node_id(self) -> str | None:
        """The node the caller is at (``None`` before ``Started``)."""
        return self._node_id

    @property
    def path(self) -> tuple[tuple[str, str], ...]:
        """The choices made so far, in order: ``(node id, digit)`` for menus and callback offers."""
        return tuple(self._path)

    @property
    def transcript(self) -> tuple[TranscriptEntry, ...]:
        return tuple(self._transcript)

    def handle(self, event: IvrEvent, now: float) -> list[IvrAction]:
        """Feed one event; returns the actions to carry out, in order."""
        if self._wait is _Wait.DONE:
            return []
        self._now, self._steps, self._out = now, 0, []
        self._dispatch(event)
        while self._typeahead and self._accepts_digits():
            self._digit(self._typeahead.pop(0))
        if self._wait is _Wait.INPUT and not self._armed:
            self._arm_input()
        return self._out

    # --- event dispatch -------------------------------------------------------------------------

    def _dispatch(self, event: IvrEvent) -> None:
        match event:
            case CallerHungUp():
                self.caller_hung_up = True
                self._wait = _Wait.DONE
                self._log("caller hung up")
            case Started() if self._wait is _Wait.START:
                self._log("started")
                self._goto(self.flow.entry, "ivr_hangup")
            case PromptFinished(play_id=pid) if self._wait is _Wait.PROMPT and pid == self._play_id:
                self._prompt_finished()
            case Digit(digit=d):
                self._digit(d)
            case Timeout(timer_id=tid) if self._wait is _Wait.INPUT and tid == self._timer_id:
                self._log("timeout")
                self._timeout()
            case HoursResult(open=is_open) if self._wait is _Wait.HOURS:
                node = self._current()
                assert isinstance(node, CheckHours)
                self._log("hours open" if is_open else "hours closed")
                self._goto(node.open if is_open else node.closed, "ivr_hangup")
            case WaitEstimate() if self._wait is _Wait.ESTIMATE:
                self._estimate(event)
            case CallbackResult(booked=booked, reason=reason) if self._wait is _Wait.BOOKING:
                node = self._current()
                assert isinstance(node, OfferCallback)
                self._log("callback booked" if booked else f"callback not booked: {reason}")
                self._goto(node.accepted if booked else node.declined, "ivr_hangup")
            case _:
                self._log(f"ignored {type(event).__name__}")

    def _accepts_digits(self) -> bool:
        return self._wait is _Wait.INPUT or (self._wait is _Wait.PROMPT and self._barge_in)

    def _digit(self, digit: str) -> None:
        if self._wait in (_Wait.HOURS, _Wait.ESTIMATE, _Wait.BOOKING):
            if len(self._typeahead) < _MAX_TYPEAHEAD:
                self._typeahead.append(digit)
            return
        if not self._accepts_digits():
            self._log(f"digit {digit} ignored")
            return
        if self._wait is _Wait.PROMPT:  # barge-in: the caller answers before the prompt ends
            self._out.append(StopPrompt(self._play_id))
            self._prompts = []
            self._wait, self._armed = _Wait.INPUT, False
        node = self._current()
        match node:
            case Menu():
                self._menu_digit(node, digit)
            case Collect():
                self._collect_digit(node, digit)
            case OfferCallback():
                self._path.append((self._at(), digit))
                accepted = digit == node.accept_digit
                self._log(f"digit {digit}: callback {'accepted' if accepted else 'declined'}")
                if accepted:  # the accepted branch waits for the site's CallbackResult
                    number = self.variables.get("callback_number", self.caller)
                    self._out.append(BookCallback(node.queue, number, dict(self.variables), self.priority_delta,
                                                  dict(self.skills), self.path))
                    self._wait = _Wait.BOOKING
                else:
                    self._goto(node.declined, "ivr_hangup")
            case _:  # pragma: no cover - only input nodes wait for input
                raise AssertionError(f"input while at {node!r}")

    def _timeout(self) -> None:
        node = self._current()
        match node:
            case Menu():
                self._menu_failed(node)
            case Collect():
                if len(self._digits) >= node.min_digits:
                    self._collect_done(node)
                else:
                    self._collect_failed(node)
            case OfferCallback():
                self._goto(node.declined, "ivr_hangup")
            case _:  # pragma: no cover - only input nodes arm timers
                raise AssertionError(f"timeout while at {node!r}")

    def _prompt_finished(self) -> None:
        if self._prompts:
            self._play(self._prompts, self._barge_in)
            return
        node = self._current()
        match node:
            case Play() | AnnounceWait():
                self._goto(node.next, "ivr_hangup")
            case HangUp():
                self._finish(HangUpAction(node.reason))
            case Menu() | Collect() | OfferCallback():
                self._wait, self._armed = _Wait.INPUT, False
            case _:  # pragma: no cover - other nodes play nothing
                raise AssertionError(f"prompt finished at {node!r}")

    def _estimate(self, estimate: WaitEstimate) -> None:
        node = self._current()
        self._log(f"estimate {estimate.ewt_s} s, position {estimate.position}")
        match node:
            case AnnounceWait():
                position = estimate.position if node.position else None
                self._typeahead.clear()
                self._play_id += 1
                self._out.append(
                    Announce(
                        queue=node.queue,
                        text=announce_text(estimate.ewt_s, position),
                        pieces=announce_pieces(estimate.ewt_s, position),
                        ewt_s=estimate.ewt_s,
                        position=position,
                        play_id=self._play_id,
                    )
                )
                self._wait, self._barge_in, self._prompts = _Wait.PROMPT, False, []
            case OfferCallback():
                if estimate.ewt_s is not None and estimate.ewt_s < node.min_ewt_s:
                    self._log("callback not offered: short wait")
                    self._goto(node.declined, "ivr_hangup")
                else:
                    self._ask([node.prompt])
            case _:  # pragma: no cover - only these nodes request an estimate
                raise AssertionError(f"estimate at {node!r}")

    # --- input nodes ----------------------------------------------------------------------------

    def _menu_digit(self, node: Menu, digit: str) -> None:
        target = node.options.get(digit)
        if target is None:
            self._log(f"digit {digit} invalid")
            self._menu_failed(node)
            return
        self._path.append((self._at(), digit))
        self._log(f"digit {digit} -> {target}")
        self._goto(target, "ivr_hangup")

    def _menu_failed(self, node: Menu) -> None:
        self._failures += 1
        if self._failures > node.retries:
            self._goto(node.on_fail, "ivr_menu_failed")
        else:
            self._ask([node.invalid_prompt, node.prompt] if node.invalid_prompt else [node.prompt])

    def _collect_digit(self, node: Collect, digit: str) -> None:
        if node.terminator and digit == node.terminator:
            self._collect_done(node)
            return
        self._digits += digit
        if len(self._digits) >= node.max_digits:
            self._collect_done(node)
        else:
            self._armed = False  # restart the inter-digit timer

    def _collect_done(self, node: Collect) -> None:
        if len(self._digits) < node.min_digits:
            self._log(f"collected {len(self._digits)} digit(s), fewer than {node.min_digits}")
            self._collect_failed(node)
            return
        self.variables[node.variable] = self._digits
        self._log(f"collected {node.variable}")
        self._goto(node.next, "ivr_hangup")

    def _collect_failed(self, node: Collect) -> None:
        self._failures += 1
        self._digits = ""
        if self._failures > node.retries:
            self._goto(node.on_fail, "ivr_collect_failed")
        else:
            self._ask([node.prompt])

    # --- moves ----------------------------------------------------------------------------------

    def _goto(self, node_id: str | None, reason_if_none: str) -> None:
        """Enter ``node_id`` (``None``: hang up with ``reason_if_none``), passing through attribute
        nodes without recursion."""
        while True:
            if node_id is None:
                self._finish(HangUpAction(reason_if_none))
                return
            self._steps += 1
            self._visits += 1
            if self._steps > self.step_budget or self._visits > self.session_budget:
                self._finish(HangUpAction("ivr_loop"))
                return
            node = self.flow.nodes.get(node_id)
            if node is None:
                raise UnknownNodeError(
                    f"flow {self.flow.id!r}: node {node_id!r} (reached from {self._node_id!r}) does not exist"
                )
            self._node_id, self._failures, self._digits = node_id, 0, ""
            self._log(f"enter {type(node).__name__}")
            if not isinstance(node, SetAttributes):
                break
            self.priority_delta += node.priority_delta
            for skill, level in node.skills.items():
                self.skills[skill] = max(level, self.skills.get(skill, 0))
            node_id = node.next
        self._enter(node)

    def _enter(self, node: Node) -> None:
        match node:
            case Play():
                self._play([node.prompt], barge_in=False)
            case Menu() | Collect():
                self._ask([node.prompt])
            case CheckHours():
                self._out.append(CheckHoursRequest())
                self._wait = _Wait.HOURS
            case AnnounceWait() | OfferCallback():
                self._out.append(RequestWaitEstimate(node.queue))
                self._wait = _Wait.ESTIMATE
            case RouteToQueue():
                route = RouteAction(
                    node.queue, self.priority_delta, dict(self.skills), dict(self.variables), self.path
                )
                self._finish(route)
            case HangUp():
                if node.prompt:
                    self._play([node.prompt], barge_in=False)
                else:
                    self._finish(HangUpAction(node.reason))
            case _:  # pragma: no cover - SetAttributes is handled by _goto
                raise AssertionError(f"cannot enter {node!r}")

    def _ask(self, prompts: list[str]) -> None:
        """Prompt for input with barge-in; type-ahead digits answer it without a prompt."""
        self._listening = False
        if self._typeahead:
            self._wait, self._armed = _Wait.INPUT, False
        else:
            self._play(prompts, barge_in=True)

    def _play(self, prompts: list[str], barge_in: bool) -> None:
        if not barge_in:
            self._typeahead.clear()  # a prompt that cannot be interrupted flushes type-ahead
        self._play_id += 1
        self._out.append(PlayPrompt(prompts[0], barge_in, play_id=self._play_id))
        self._prompts, self._barge_in, self._wait = list(prompts[1:]), barge_in, _Wait.PROMPT

    def _arm_input(self) -> None:
        node = self._current()
        assert isinstance(node, Menu | Collect | OfferCallback)
        self._timer_id += 1
        if self._listening:
            self._out.append(StartTimer(node.timeout_s, timer_id=self._timer_id))
        elif isinstance(node, Collect):
            remaining = node.max_digits - len(self._digits)
            self._out.append(
                CollectDigits(remaining, node.terminator, node.timeout_s, timer_id=self._timer_id)
            )
        else:
            self._out.append(CollectDigits(1, "", node.timeout_s, timer_id=self._timer_id))
        self._armed = self._listening = True

    def _finish(self, action: RouteAction | HangUpAction) -> None:
        self._out.append(action)
        self.outcome = action
        self._wait = _Wait.DONE
        self._log(f"route {action.queue}" if isinstance(action, RouteAction) else f"hangup {action.reason}")

    # --- helpers --------------------------------------------------------------------------------

    def _at(self) -> str:
        assert self._node_id is not None
        return self._node_id

    def _current(self) -> Node:
        return self.flow.nodes[self._at()]

    def _log(self, what: str) -> None:
        self._transcript.append(TranscriptEntry(self._now, self._node_id, what))
