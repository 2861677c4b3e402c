"""The pure parts of `make run` (tooling/run.py) and of the services' start-up signal rule."""

from __future__ import annotations

import stat

import pytest
from tooling import run
from tooling.run import (
    ADMIN_PASSWORD_FILE,
    ADMIN_PASSWORD_MIN_LENGTH,
    admin_password,
    generate_admin_password,
    listen_address,
)

from stellars.entrypoints import started_as_service


def test_a_generated_admin_password_is_five_words_and_long_enough():
    password = generate_admin_password()
    assert len(password.split("-")) == 5
    assert len(password) >= ADMIN_PASSWORD_MIN_LENGTH


def test_the_first_start_stores_a_new_password_privately_and_later_starts_reuse_it(tmp_path):
    first = admin_password({}, tmp_path, generate=lambda: "aaaa-bbbb-cccc-dddd-eeee")
    assert first.new_password == "aaaa-bbbb-cccc-dddd-eeee"
    assert first.path == tmp_path / ADMIN_PASSWORD_FILE
    assert first.path.read_text() == "aaaa-bbbb-cccc-dddd-eeee\n"
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [first.path]  # no partial file left behind
    again = admin_password({}, tmp_path, generate=lambda: pytest.fail("generated again"))
    assert again.path == first.path
    assert again.new_password is None


def test_a_widened_password_file_is_made_private_again(tmp_path):
    path = admin_password({}, tmp_path, generate=lambda: "x" * 24).path
    assert path is not None
    path.chmod(0o644)
    admin_password({}, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_password_file_is_replaced(tmp_path):
    (tmp_path / ADMIN_PASSWORD_FILE).write_text("short\n")
    replaced = admin_password({}, tmp_path, generate=lambda: "y" * 24)
    assert replaced.new_password == "y" * 24


@pytest.mark.parametrize(
    "env",
    [
        {"JUPYTERHUB_ADMIN_PASSWORD": "the-deployers-own"},
        {"JUPYTERHUB_ADMIN_PASSWORD_FILE": "/run/secrets/admin"},
    ],
)
def test_the_deployers_password_wins(tmp_path, env):
    chosen = admin_password(env, tmp_path, generate=lambda: pytest.fail("generated"))
    assert chosen.path is None
    assert not (tmp_path / ADMIN_PASSWORD_FILE).exists()


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://172.17.0.1:8081", "172.17.0.1:8081"),
        ("http://127.0.0.1:45678/", "127.0.0.1:45678"),
        ("https://hub.example", "hub.example:443"),
        ("http://[::1]:8081", "[::1]:8081"),
    ],
)
def test_the_hub_address_is_host_and_port_of_its_bind_url(url, address):
    assert listen_address(url) == address


@pytest.mark.parametrize(
    ("argv", "service"),
    [
        (["/venv/bin/python", "-m", "stellars.entrypoints.activity_sampler", "--db-url=x"], True),
        (["/venv/bin/python", "-X", "dev", "-m", "stellars.entrypoints.idle_culler"], True),
        (["/venv/bin/python", "/venv/bin/jupyterhub", "-f", "deploy/jupyterhub_config.py"], False),
        (["/venv/bin/python", "-m", "stellars.entrypoints.hub"], False),
        (["/venv/bin/python", "-m", "pytest", "stellars.entrypoints.idle_culler"], False),
        ([], False),
    ],
)
def test_only_a_service_process_ends_quietly_on_sigint_while_it_starts(argv, service):
    assert started_as_service(argv) is service


def test_without_an_engine_make_run_as_root_refuses_local_servers(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(run, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(run, "connect", lambda url: None)  # no Docker engine answers
    monkeypatch.setattr(run.os, "geteuid", lambda: 0)
    environment = {"JUPYTERHUB_PORT": "18000"}
    assert run.prepare(environment) == 2
    said = capsys.readouterr().out
    assert "local servers would run as root" in said
    assert environment.get("STELLARS_SPAWNER") != "local"
