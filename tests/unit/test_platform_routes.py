"""The authenticator mixin's own behaviour, on JupyterHub's DummyAuthenticator: users added one
request at a time still let the loop run between them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from jupyterhub.auth import DummyAuthenticator

from stellars.adapters.jupyterhub import PlatformRoutes, with_platform


def test_the_factory_mixes_in_once_and_keeps_the_class_name_visible():
    authenticator = with_platform(DummyAuthenticator)
    assert authenticator.__name__ == "PlatformDummyAuthenticator"
    assert authenticator.__mro__[1:3] == (PlatformRoutes, DummyAuthenticator)
    assert with_platform(authenticator) is authenticator


async def test_each_added_user_gives_the_loop_a_turn():
    authenticator = with_platform(DummyAuthenticator)(allow_all=True)
    order: list[str] = []

    async def someone_else() -> None:
        order.append("another request")

    waiting = asyncio.ensure_future(someone_else())
    for name in ("u0", "u1", "u2"):
        await authenticator.add_user(SimpleNamespace(name=name))
        order.append(name)
    await waiting
    assert order == ["another request", "u0", "u1", "u2"]
