from __future__ import annotations

from stellars.domain.hub import HubUser


class InMemoryHubDirectory:
    """Hub users held in a dict; tests add, change and remove them directly."""

    def __init__(self, users: list[HubUser] | None = None) -> None:
        self.users: dict[str, HubUser] = {user.name: user for user in users or []}

    def put(self, user: HubUser) -> None:
        self.users[user.name] = user

    async def list_users(self) -> list[HubUser]:
        return [self.users[name] for name in sorted(self.users)]

    async def get_user(self, name: str) -> HubUser | None:
        return self.users.get(name)
