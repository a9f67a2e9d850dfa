"""How the controller calls a site's other actors: through a port, so the same controller runs with
Ray actor handles in a site and with plain in-process objects in a test."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class ActorPort(Protocol):
    name: str

    async def call(self, method: str, *args: Any) -> Any: ...


class LocalPort:
    """Calls a plain object in this process (tests, and a single-process dev run)."""

    def __init__(self, name: str, obj: Any) -> None:
        self.name = name
        self.obj = obj

    async def call(self, method: str, *args: Any) -> Any:
        result = getattr(self.obj, method)(*args)
        if asyncio.iscoroutine(result):
            return await result
        return result


class RayPort:
    """Calls a Ray actor; awaiting an ObjectRef keeps the controller's event loop free."""

    def __init__(self, name: str, handle: Any) -> None:
        self.name = name
        self.handle = handle

    async def call(self, method: str, *args: Any) -> Any:
        return await getattr(self.handle, method).remote(*args)
