"""The platform's DockerSpawner: an unreachable engine during a poll keeps the server's record
(None, "running") instead of raising into the home page, and so does a restart in place by the
platform; other answers pass through."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests
from dockerspawner import DockerSpawner

from stellars.adapters.jupyterhub.plugin.docker_spawner import EngineTolerantDockerSpawner


def spawner_whose_engine(monkeypatch, outcome) -> EngineTolerantDockerSpawner:
    async def poll(self):
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(DockerSpawner, "poll", poll)
    return EngineTolerantDockerSpawner(user=SimpleNamespace(name="ada", id=1))


async def test_an_unreachable_engine_keeps_the_server_running(monkeypatch):
    spawner = spawner_whose_engine(monkeypatch, requests.exceptions.ConnectionError("refused"))
    assert await spawner.poll() is None


@pytest.mark.parametrize("status", [None, 0, 137])
async def test_the_engines_answer_passes_through(monkeypatch, status):
    assert await spawner_whose_engine(monkeypatch, status).poll() == status


async def test_other_errors_still_raise(monkeypatch):
    spawner = spawner_whose_engine(monkeypatch, RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        await spawner.poll()


@pytest.mark.parametrize("status", [0, 137, RuntimeError("a bug")])
async def test_while_the_platform_restarts_the_container_a_poll_says_running(monkeypatch, status):
    spawner = spawner_whose_engine(monkeypatch, status)
    spawner.restart_in_progress = True
    assert await spawner.poll() is None
    spawner.restart_in_progress = False  # the restart is over: the engine's answer again
    if isinstance(status, BaseException):
        with pytest.raises(RuntimeError):
            await spawner.poll()
    else:
        assert await spawner.poll() == status
