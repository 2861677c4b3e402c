"""Finding a hub user the way every use case needs it: the user, or NotFound naming them."""

from __future__ import annotations

from stellars.domain.errors import NotFound
from stellars.domain.hub import HubUser
from stellars.domain.validation import echo
from stellars.ports.hub_directory import HubDirectory


async def existing_user(directory: HubDirectory, username: str) -> HubUser:
    """The user named `username`. Raises NotFound when the hub has no such user."""
    user = await directory.get_user(username)
    if user is None:
        raise NotFound(f"No user named {echo(username)}")
    return user
