"""Contract of the NotificationTransport port: one Delivery per call, never an exception; what
is delivered is shown in the lab as it was sent; a server that is stopped or does not answer
gets a failed Delivery with the reason; no credential minted for a delivery outlives it; a server
whose own credential cannot be used (the hub no longer holds it, or the lab refuses it) still gets
the notification.

Two implementations:
- `RecordingTransport`, the in-memory fake (failures are arranged through its `failures`);
- `LabNotificationTransport` in a JupyterHub application started in this process (its API
  server, a real configurable-http-proxy and DockerSpawner), delivering into a lab of the
  project's image with the real `jupyterlab-notifications-extension`; what the lab received is
  read back through the extension's own API. The hub runs on this module's event loop, so
  everything that talks to the lab here awaits: the lab checks each credential with the hub.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio
from jupyterhub import orm, roles
from jupyterhub.app import JupyterHub
from tooling.run import gateway
from tornado.httpclient import AsyncHTTPClient
from traitlets.config import Config

from stellars.adapters.jupyterhub import HubHandle
from stellars.adapters.jupyterhub.hub_objects.notifications import (
    TOKEN_NOTE,
    LabNotificationTransport,
)
from stellars.adapters.memory import RecordingTransport
from stellars.domain.hub import ServerSnapshot
from stellars.domain.notifications import Broadcast, Delivery, Variant
from stellars.ports.notifications import NotificationTransport
from tests.backends.errors import BackendMissing
from tests.backends.fixtures import backend
from tests.backends.paths import node_bin
from tests.backends.processes import free_port, free_ports

pytestmark = pytest.mark.asyncio(loop_scope="module")

BROADCAST = Broadcast(message="Maintenance at 18:00")

#: What a lab shows of a notification: its message, variant, and autoClose (false: stays).
Shown = tuple[str, str, int | bool]


def shown_as_sent(broadcast: Broadcast) -> Shown:
    auto_close = broadcast.auto_close_ms if broadcast.auto_close_ms is not None else False
    return (broadcast.message, broadcast.variant.value, auto_close)


class TransportHarness(Protocol):
    """The transport under test and the servers it delivers to, arranged in its backend."""

    transport: NotificationTransport

    def running(self) -> ServerSnapshot: ...

    def not_running(self, which: str) -> ServerSnapshot: ...

    def not_answering(self) -> contextlib.AbstractAsyncContextManager[ServerSnapshot]: ...

    async def shown(self, server: ServerSnapshot) -> list[Shown]: ...

    async def credentials_left(self, server: ServerSnapshot) -> int: ...

    def own_credential_unusable(
        self, how: str
    ) -> contextlib.AbstractAsyncContextManager[ServerSnapshot]: ...


# --- the in-memory fake ---------------------------------------------------------------------


@dataclass
class MemoryHarness:
    transport: RecordingTransport = field(default_factory=RecordingTransport)
    taken: int = 0

    def running(self) -> ServerSnapshot:
        return ServerSnapshot(username="ann", ready=True, url="/user/ann/")

    def not_running(self, which: str) -> ServerSnapshot:
        name = {"stopped": "bob", "unknown": "ghost"}[which]
        self.transport.failures[name] = "the server is not running"
        return ServerSnapshot(username=name, ready=True, url=f"/user/{name}/")

    @contextlib.asynccontextmanager
    async def not_answering(self) -> AsyncIterator[ServerSnapshot]:
        self.transport.failures["cy"] = "the server did not answer: timeout"
        yield ServerSnapshot(username="cy", ready=True, url="/user/cy/")

    async def shown(self, server: ServerSnapshot) -> list[Shown]:
        delivered = self.transport.delivered[self.taken :]
        self.taken = len(self.transport.delivered)  # taken, as the extension's API takes them
        return [shown_as_sent(b) for s, b in delivered if s.username == server.username]

    async def credentials_left(self, server: ServerSnapshot) -> int:
        return 0  # the fake uses no credentials

    @contextlib.asynccontextmanager
    async def own_credential_unusable(self, how: str) -> AsyncIterator[ServerSnapshot]:
        yield self.running()  # the fake uses no credentials


# --- JupyterHub in this process, a lab in Docker -------------------------------------------------


class HubInThisProcess(JupyterHub):
    """JupyterHub on the test's event loop; SIGINT and SIGTERM stay the test runner's."""

    def init_signal(self) -> None:
        pass


@dataclass
class LabHub:
    app: JupyterHub
    docker_client: Any
    running_user: str = "ann"
    stopped_user: str = "bob"
    reader_token: str = ""

    def spawner(self, name: str) -> Any:
        return self.app.users[orm.User.find(self.app.db, name)].spawners[""]


def hub_config(
    tmp: Path, docker_labels: dict[str, str], lab_image: str, bridge: str, chp: Path
) -> Config:
    public, proxy_api = free_ports(2)
    config = Config()
    config.JupyterHub.ip = "127.0.0.1"
    config.JupyterHub.port = public
    # The labs reach the hub's API on the Docker bridge's gateway (this machine).
    config.JupyterHub.hub_bind_url = f"http://{bridge}:{free_port(bridge)}"
    config.JupyterHub.db_url = f"sqlite:///{tmp / 'jupyterhub.sqlite'}"
    config.JupyterHub.cookie_secret_file = str(tmp / "cookie_secret")
    config.JupyterHub.pid_file = str(tmp / "jupyterhub.pid")
    config.JupyterHub.config_file = str(tmp / "jupyterhub_config.py")
    config.JupyterHub.authenticator_class = "dummy"
    config.JupyterHub.last_activity_interval = 0
    config.ConfigurableHTTPProxy.command = [str(chp)]
    config.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api}"
    config.ConfigurableHTTPProxy.auth_token = secrets.token_hex(32)
    config.ConfigurableHTTPProxy.pid_file = str(tmp / "proxy.pid")
    config.JupyterHub.spawner_class = "docker"
    config.DockerSpawner.image = lab_image
    config.DockerSpawner.prefix = f"stellars-contract-{secrets.token_hex(3)}"
    config.DockerSpawner.remove = True
    config.DockerSpawner.host_ip = "127.0.0.1"
    config.DockerSpawner.extra_create_kwargs = {"labels": docker_labels}
    config.Spawner.start_timeout = 180
    config.Spawner.http_timeout = 180
    return config


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lab_hub(
    tmp_path_factory, docker_client, docker_labels, lab_image
) -> AsyncIterator[LabHub]:
    """A started JupyterHub with two users: ann's lab runs, bob's server is stopped."""
    tmp = tmp_path_factory.mktemp("lab-hub")
    (tmp / "jupyterhub_config.py").write_text("")
    with backend("configurable-http-proxy"):
        chp = node_bin("configurable-http-proxy")
    bridge = gateway(docker_client, "bridge")
    app = HubInThisProcess(config=hub_config(tmp, docker_labels, lab_image, bridge, chp))
    await app.initialize([])
    hub = LabHub(app, docker_client)
    try:
        with backend("jupyterhub"):
            try:
                await app.start()
            except SystemExit as exit_:  # JupyterHub exits when its proxy does not start
                raise BackendMissing(f"the hub did not start (exit {exit_.code})") from None
        for name in (hub.running_user, hub.stopped_user):  # as the hub's API creates users
            orm_user = orm.User(name=name)
            app.db.add(orm_user)
            roles.assign_default_roles(app.db, entity=orm_user)
        app.db.commit()
        stopped = app.users[orm.User.find(app.db, hub.stopped_user)]
        assert not stopped.spawners[""].active  # a server the hub knows, not running
        user = app.users[orm.User.find(app.db, hub.running_user)]
        await user.spawn("")
        hub.reader_token = user.new_api_token(
            note="contract test reader", scopes=[f"access:servers!server={hub.running_user}/"]
        )
        yield hub
    finally:
        await stop(app)


async def stop(app: JupyterHub) -> None:
    """Stop the servers, the API server, the periodic work and the proxy, as JupyterHub's own
    shutdown does, without stopping the event loop (the test runner's)."""
    for user in list(app.users.values()):
        for name, spawner in list(user.spawners.items()):
            if spawner.active:
                await user.stop(name)
    if app.http_server is not None:
        app.http_server.stop()
    for callback in app._periodic_callbacks.values():
        callback.stop()
    app.metrics_collector.stop()
    await app.cleanup()
    app.db.close()


@dataclass
class LabHarness:
    hub: LabHub
    transport: LabNotificationTransport

    def snapshot(self, name: str) -> ServerSnapshot:
        return ServerSnapshot(username=name, ready=True, url=f"/user/{name}/")

    def running(self) -> ServerSnapshot:
        return self.snapshot(self.hub.running_user)

    def not_running(self, which: str) -> ServerSnapshot:
        """bob's server (known to the hub, not running), or a user the hub does not know. The
        snapshot says ready, as a stale one would: the hub's own record decides."""
        return self.snapshot({"stopped": self.hub.stopped_user, "unknown": "ghost"}[which])

    @contextlib.asynccontextmanager
    async def not_answering(self) -> AsyncIterator[ServerSnapshot]:
        """ann's lab, frozen (`docker pause`): it accepts connections and never answers."""
        spawner = self.hub.spawner(self.hub.running_user)
        container = self.hub.docker_client.containers.get(spawner.container_id)
        container.pause()
        try:
            yield self.running()
        finally:
            container.unpause()

    async def shown(self, server: ServerSnapshot) -> list[Shown]:
        """The notifications waiting in the lab, taken through the extension's API."""
        spawner = self.hub.spawner(server.username)
        answer = await AsyncHTTPClient().fetch(
            spawner.server.url.rstrip("/") + "/jupyterlab-notifications-extension/notifications",
            headers={"Authorization": f"token {self.hub.reader_token}"},
            request_timeout=60,
        )
        return [
            (n["message"], n["type"], n["autoClose"])
            for n in json.loads(answer.body)["notifications"]
        ]

    async def credentials_left(self, server: ServerSnapshot) -> int:
        orm_user = orm.User.find(self.hub.app.db, server.username)
        return sum(token.note == TOKEN_NOTE for token in orm_user.api_tokens)

    @contextlib.asynccontextmanager
    async def own_credential_unusable(self, how: str) -> AsyncIterator[ServerSnapshot]:
        """ann's lab, with the hub holding no token of the server's own ("forgotten": as after
        a hub restart, when JupyterHub keeps only its hash) or one the lab refuses ("refused":
        a server token without `access:servers`, as `server_token_scopes` can make it)."""
        spawner = self.hub.spawner(self.hub.running_user)
        own, replacement = spawner.api_token, ""
        if how == "refused":
            user = self.hub.app.users[orm.User.find(self.hub.app.db, self.hub.running_user)]
            replacement = user.new_api_token(
                note="contract test: a server token without access",
                scopes=[f"users:activity!user={self.hub.running_user}"],
            )
        spawner.api_token = replacement
        try:
            yield self.running()
        finally:
            spawner.api_token = own
            if replacement:
                found = orm.APIToken.find(self.hub.app.db, replacement)
                self.hub.app.db.delete(found)
                self.hub.app.db.commit()


@pytest.fixture(params=["memory", pytest.param("lab", marks=[pytest.mark.real, pytest.mark.hub])])
def harness(request) -> TransportHarness:
    if request.param == "memory":
        return MemoryHarness()
    if request.param == "lab":
        hub = request.getfixturevalue("lab_hub")
        handle = HubHandle()
        handle.bind(hub.app)
        return LabHarness(hub, LabNotificationTransport(handle, request_timeout_seconds=3))
    raise AssertionError(request.param)


# --- the contract ---------------------------------------------------------------------------


def assert_names(delivery: Delivery, server: ServerSnapshot) -> None:
    assert (delivery.username, delivery.server_name) == (server.username, server.name)


async def test_a_delivery_names_the_server_it_was_for(harness):
    server = harness.running()
    delivery = await harness.transport.deliver(server, BROADCAST)
    assert_names(delivery, server)
    assert delivery.ok is True
    assert delivery.error is None


async def test_what_is_delivered_is_shown_as_it_was_sent(harness):
    server = harness.running()
    await harness.shown(server)  # take what earlier tests left there
    sent = [
        Broadcast(message="  Save your work: restart at noon  ", variant=Variant.WARNING),
        Broadcast(message="Back up", variant=Variant.SUCCESS, auto_close_ms=8000),
    ]
    for broadcast in sent:
        assert (await harness.transport.deliver(server, broadcast)).ok is True
    assert await harness.shown(server) == [
        ("Save your work: restart at noon", "warning", False),
        ("Back up", "success", 8000),
    ]
    assert await harness.credentials_left(server) == 0


@pytest.mark.parametrize("which", ["stopped", "unknown"])
async def test_a_server_that_is_not_running_gets_a_failed_delivery_with_the_reason(harness, which):
    server = harness.not_running(which)
    delivery = await harness.transport.deliver(server, BROADCAST)
    assert_names(delivery, server)
    assert delivery.ok is False
    assert "not running" in (delivery.error or "")


async def test_a_server_that_does_not_answer_gets_a_failed_delivery_not_an_exception(harness):
    async with harness.not_answering() as server:
        delivery = await harness.transport.deliver(server, BROADCAST)
    assert_names(delivery, server)
    assert delivery.ok is False
    assert "did not answer" in (delivery.error or "")
    assert await harness.credentials_left(server) == 0


@pytest.mark.parametrize("how", ["forgotten", "refused"])
async def test_a_server_whose_own_credential_is_unusable_still_gets_the_notification(harness, how):
    async with harness.own_credential_unusable(how) as server:
        await harness.shown(server)  # take what earlier tests left there
        delivery = await harness.transport.deliver(server, BROADCAST)
        assert_names(delivery, server)
        assert delivery.ok is True, delivery.error
        assert await harness.shown(server) == [shown_as_sent(BROADCAST)]
        assert await harness.credentials_left(server) == 0
