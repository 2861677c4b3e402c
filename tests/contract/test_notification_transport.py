"""Contract of the NotificationTransport port: one Delivery per call, never an exception."""

from __future__ import annotations

import pytest

from stellars.adapters.memory import RecordingTransport
from stellars.domain.hub import ServerSnapshot
from stellars.domain.notifications import Broadcast

BROADCAST = Broadcast(message="Maintenance at 18:00")


@pytest.fixture(params=["memory"])
def transport(request):
    if request.param == "memory":
        return RecordingTransport()
    raise AssertionError(request.param)


async def test_a_delivery_names_the_server_it_was_for(transport):
    server = ServerSnapshot(username="alice", name="", ready=True, url="/user/alice/")
    delivery = await transport.deliver(server, BROADCAST)
    assert (delivery.username, delivery.server_name) == ("alice", "")
    assert delivery.ok is True
    assert delivery.error is None
