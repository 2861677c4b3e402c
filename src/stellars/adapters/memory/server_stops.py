from __future__ import annotations

from dataclasses import replace

from stellars.domain.stops import ServerStop


class InMemoryServerStopStore:
    """Last stops in a dict keyed by (username, server name)."""

    def __init__(self) -> None:
        self.stops: dict[tuple[str, str], ServerStop] = {}

    async def record(self, stop: ServerStop) -> None:
        self.stops[(stop.username, stop.server)] = stop

    async def last(self, username: str, server_name: str = "") -> ServerStop | None:
        return self.stops.get((username, server_name))

    async def every_last(self, server_name: str = "") -> list[ServerStop]:
        return sorted(
            (stop for (_, server), stop in self.stops.items() if server == server_name),
            key=lambda stop: stop.username,
        )

    async def forget(self, username: str, server_name: str = "") -> bool:
        return self.stops.pop((username, server_name), None) is not None

    async def rename_user(self, old: str, new: str) -> int:
        moving = [key for key in self.stops if key[0] == old]
        if old == new:
            return len(moving)
        for key in [key for key in self.stops if key[0] == new]:
            del self.stops[key]
        for key in moving:
            stop = self.stops.pop(key)
            self.stops[(new, stop.server)] = replace(stop, username=new)
        return len(moving)

    async def delete_user(self, username: str) -> int:
        doomed = [key for key in self.stops if key[0] == username]
        for key in doomed:
            del self.stops[key]
        return len(doomed)
