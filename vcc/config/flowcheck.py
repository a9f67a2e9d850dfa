"""Checks of one IVR flow as a graph: every link names a node, every node can be reached from the
entry, and no loop traps a caller (from every reachable node some path leads to a route, a hang-up
or an empty branch, which also hangs up). A menu that loops back to itself on a retry is fine as
long as some path leads out."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator

from vcc.config.flows import FlowConfig, MenuNode, NodeConfig, OfferCallbackNode, SetNode, to_core_node
from vcc.config.tenants import QueueConfig
from vcc.core.flow import successors

AddProblem = Callable[[str, str], None]
#: The fields of a node that name another node of the same flow.
LINK_FIELDS = ("next", "on_fail", "open", "closed", "accepted", "declined")


def _links(node: NodeConfig) -> Iterator[tuple[str, str]]:
    """(field path, target node id) for every link a node has."""
    for name in LINK_FIELDS:
        target = getattr(node, name, None)
        if isinstance(target, str):
            yield name, target
    if isinstance(node, MenuNode):
        for digit, target in node.options.items():
            yield f"options.{digit}", target


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _reach(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def check_flow_graph(flow: FlowConfig, path: str, add: AddProblem) -> None:
    """Dangling links, unreachable nodes and loops with no way out."""
    ids = list(flow.nodes)
    for node_id, node in flow.nodes.items():
        for field, target in _links(node):
            if target not in flow.nodes:
                add(f"{path}.nodes.{node_id}.{field}", f"unknown node {target!r}{_hint(target, ids)}")
        if node.type == "collect" and node.min_digits > node.max_digits:
            add(
                f"{path}.nodes.{node_id}.min_digits",
                f"more than max_digits ({node.min_digits} > {node.max_digits})",
            )
    if flow.entry not in flow.nodes:
        add(f"{path}.entry", f"unknown node {flow.entry!r}{_hint(flow.entry, ids)}")
        return
    # A link to an unknown node is reported above; count it as a way out so it is not reported twice.
    exits: set[str] = set()
    edges: dict[str, list[str]] = {}
    for node_id, node in flow.nodes.items():
        links = successors(to_core_node(node))
        edges[node_id] = [t for t in links if t is not None and t in flow.nodes]
        if not links or any(t is None or t not in flow.nodes for t in links):
            exits.add(node_id)
    reachable = _reach(flow.entry, edges)
    for node_id in ids:
        if node_id not in reachable:
            add(f"{path}.nodes.{node_id}", f"cannot be reached from entry {flow.entry!r}")
    can_exit = set(exits)
    changed = True
    while changed:
        changed = False
        for node_id, targets in edges.items():
            if node_id not in can_exit and any(t in can_exit for t in targets):
                can_exit.add(node_id)
                changed = True
    trapped = [n for n in ids if n in reachable and n not in can_exit]
    reported: set[str] = set()
    trapped_edges = {n: [t for t in edges[n] if t in trapped] for n in trapped}
    for node_id in trapped:
        if node_id in reported:
            continue
        ahead = _reach(node_id, trapped_edges)
        loop = [m for m in trapped if m in ahead and node_id in _reach(m, trapped_edges)]
        if len(loop) == 1 and node_id not in edges[node_id]:
            continue  # leads into a loop, reported with the loop itself
        reported.update(loop)
        add(
            f"{path}.nodes.{node_id}",
            f"nodes {', '.join(loop)} form a loop with no way out "
            "(no route, hangup or empty branch can be reached from them)",
        )


def check_flow_references(
    flow: FlowConfig,
    path: str,
    tenant_id: str,
    queues: dict[str, tuple[str, QueueConfig]],
    skills: set[str],
    add: AddProblem,
) -> None:
    """Queues named by nodes exist and belong to the flow's tenant; skills named by ``set`` exist."""
    for node_id, node in flow.nodes.items():
        node_path = f"{path}.nodes.{node_id}"
        queue_id = getattr(node, "queue", None)
        if isinstance(queue_id, str):
            owner = queues.get(queue_id)
            if owner is None:
                add(f"{node_path}.queue", f"unknown queue {queue_id!r}{_hint(queue_id, sorted(queues))}")
            elif owner[0] != tenant_id:
                add(
                    f"{node_path}.queue",
                    f"queue {queue_id!r} belongs to tenant {owner[0]!r}, "
                    f"not to this flow's tenant {tenant_id!r}",
                )
            elif isinstance(node, OfferCallbackNode) and not owner[1].callback_offered:
                add(
                    f"{node_path}.queue",
                    f"queue {queue_id!r} does not offer callbacks (callback_offered: false)",
                )
        if isinstance(node, SetNode):
            for skill in node.skills:
                if skill not in skills:
                    add(f"{node_path}.skills", f"unknown skill {skill!r}{_hint(skill, sorted(skills))}")
