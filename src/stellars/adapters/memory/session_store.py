from __future__ import annotations

from stellars.domain.sessions import SessionDeadline


class InMemorySessionStore:
    """Deadlines in a dict keyed by (username, server name)."""

    def __init__(self) -> None:
        self.deadlines: dict[tuple[str, str], SessionDeadline] = {}

    async def get(self, username: str, server_name: str = "") -> SessionDeadline | None:
        return self.deadlines.get((username, server_name))

    async def put(self, deadline: SessionDeadline) -> None:
        self.deadlines[(deadline.username, deadline.server_name)] = deadline

    async def delete(self, username: str, server_name: str = "") -> bool:
        return self.deadlines.pop((username, server_name), None) is not None

    async def all_deadlines(self) -> list[SessionDeadline]:
        return sorted(self.deadlines.values(), key=lambda d: (d.username, d.server_name))

    async def rename_user(self, old: str, new: str) -> int:
        moving = [key for key in self.deadlines if key[0] == old]
        if old == new:
            return len(moving)
        for key in [key for key in self.deadlines if key[0] == new]:
            del self.deadlines[key]
        for key in moving:
            d = self.deadlines.pop(key)
            self.deadlines[(new, d.server_name)] = SessionDeadline(
                new, d.server_name, d.started, d.cull_at
            )
        return len(moving)

    async def delete_user(self, username: str) -> int:
        doomed = [key for key in self.deadlines if key[0] == username]
        for key in doomed:
            del self.deadlines[key]
        return len(doomed)
