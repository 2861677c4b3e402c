"""The platform database's password never reaches a managed service's command line (security
review M2): JupyterHub logs each service's command when it starts it and returns it from
`GET /hub/api/services` to every holder of `read:services`, so a password there is a password
in the hub log and in the hands of any helpdesk role.

A real hub from deploy/jupyterhub_config.py, with the stellars database on PostgreSQL behind a
URL that carries a password (the cluster trusts loopback, so any password connects), the
activity sampler and the idle culler both running: the password appears in neither place, and
both services still reach the database."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from stellars.adapters.sql import SqlActivityStore, SqlDatabase
from tests.backends.platform import ADMIN_PASSWORD, HubClient, start_platform
from tests.backends.postgres import PostgresCluster

pytestmark = pytest.mark.real

DB_PASSWORD = "pg-Secret-in-argv-4711"
SERVICES = {"activity-sampler", "idle-culler"}


def with_password(url: str, password: str) -> str:
    """`postgresql+psycopg://postgres@host/db` with `password` in its user part."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def samples_in(url: str) -> int:
    async def count() -> int:
        database = SqlDatabase.from_url(url)
        try:
            return (
                await SqlActivityStore(database, half_life=timedelta(hours=72)).summary()
            ).samples
        finally:
            database.close()

    return asyncio.run(count())


def wait_until(condition, seconds: float, what: str, log) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"no {what} after {seconds:.0f} s; hub log:\n{log()}")


def test_the_database_password_is_in_neither_the_hub_log_nor_the_services_api(
    jupyterhub_factory, tmp_path, postgres: PostgresCluster
):
    url = with_password(postgres.create_database(), DB_PASSWORD)
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {
            "STELLARS_SPAWNER": "local",
            "STELLARS_DB_URL": url,
            "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
        },
    )
    # Both services work: the sampler's first tick writes the admin's sample into PostgreSQL,
    # and the culler started with the platform's arbiter.
    wait_until(lambda: samples_in(url) >= 1, 90, "sample in the database", hub.log_tail)
    wait_until(
        lambda: "idle culler started" in hub.log_path.read_text(errors="replace"),
        90,
        "culler start",
        hub.log_tail,
    )

    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    reader = HubClient(hub.public_url, admin.new_token("admin"))  # all the admin's rights
    answer = reader.api("GET", "/services")
    assert answer.status_code == 200, answer.text
    services = answer.json()
    assert set(services) >= SERVICES
    for name in SERVICES:
        assert services[name]["command"], name  # the command is shown: the attack's channel
    assert DB_PASSWORD not in answer.text

    log = hub.log_path.read_text(errors="replace")
    assert "Starting service 'activity-sampler'" in log
    assert "Starting service 'idle-culler'" in log
    assert DB_PASSWORD not in log
