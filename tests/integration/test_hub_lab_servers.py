"""HubLabServers and InProcessHubDirectory on a JupyterHub application in this process: while
a restart holds a server, the spawner is marked for JupyterHub's poll and the lab checks reuse
the spawner found at the start; looking up one user reads its row, not its ORM entity, and makes
no wrapper for a user JupyterHub has not loaded."""

from __future__ import annotations

import pytest
import tornado.web
from jupyterhub import orm
from sqlalchemy import event

from stellars.adapters.jupyterhub import HubHandle, HubLabServers, InProcessHubDirectory
from tests.backends.processes import free_port
from tests.contract.test_hub_directory import in_process_hub

pytestmark = [pytest.mark.real, pytest.mark.hub]


class LabApi(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"version": "2.14.0"})  # jupyter_server's unauthenticated version answer


@pytest.fixture
async def hub_with_a_lab(tmp_path):
    app = await in_process_hub(tmp_path)
    port = free_port()
    lab = tornado.web.Application([(r"/user/ada/api", LabApi)]).listen(port, "127.0.0.1")
    orm_user = orm.User(name="ada")
    app.db.add(orm_user)
    app.db.commit()
    user = app.users[orm_user]
    spawner = user.spawners[""]
    spawner.orm_spawner.server = orm.Server(ip="127.0.0.1", port=port, base_url="/user/ada/")
    app.db.commit()
    handle = HubHandle()
    handle.bind(app)
    statements: list[str] = []
    event.listen(
        app.db.get_bind(),
        "before_cursor_execute",
        lambda _conn, _cursor, sql, *_rest: statements.append(sql),
    )
    yield HubLabServers(handle), spawner, statements, app
    lab.stop()
    app.db.close()


async def test_a_held_restart_checks_the_lab_without_asking_the_database(hub_with_a_lab):
    labs, spawner, statements, _ = hub_with_a_lab
    assert await labs.answers("ada")
    assert statements, "outside a restart the user is found through JupyterHub's ORM"
    async with labs.restarting("ada"):
        assert spawner.restart_in_progress
        statements.clear()
        for _ in range(3):
            assert await labs.answers("ada")
        assert not await labs.reconnect("ada")  # a local spawner keeps its address
        assert statements == []
    assert not spawner.restart_in_progress
    statements.clear()
    assert await labs.answers("ada")
    assert statements, "the hold ends with the restart"


async def test_a_failed_restart_releases_the_hold(hub_with_a_lab):
    labs, spawner, statements, _ = hub_with_a_lab
    with pytest.raises(RuntimeError):
        async with labs.restarting("ada"):
            raise RuntimeError("the engine failed")
    assert not spawner.restart_in_progress
    statements.clear()
    assert await labs.answers("ada")
    assert statements


async def test_one_user_is_read_with_its_running_server_and_no_wrapper_is_made(hub_with_a_lab):
    _, _, _, app = hub_with_a_lab
    handle = HubHandle()
    handle.bind(app)
    directory = InProcessHubDirectory(handle)
    ada = await directory.get_user("ada")
    assert ada is not None
    assert set(ada.servers) == {""}
    assert ada.servers[""].url == "/user/ada/"
    app.db.add(orm.User(name="bob"))
    app.db.commit()
    wrappers = len(app.users)
    bob = await directory.get_user("bob")
    assert bob is not None
    assert bob.servers == {}
    assert len(app.users) == wrappers  # JupyterHub makes bob's wrapper when it needs one
    assert await directory.get_user("nobody") is None
    assert [u for u in await directory.list_users() if u.name in {"ada", "bob"}] == [ada, bob]
