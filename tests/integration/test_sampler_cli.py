"""The sampler's command line: validation that names the option, `--once`, and both ways of
starting it (`python -m` and the console script)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stellars.entrypoints.activity_sampler import main
from tests.backends import free_port
from tests.backends.hub_helpers import create_users, render_hub_config

MODULE = [sys.executable, "-m", "stellars.entrypoints.activity_sampler"]


@pytest.fixture
def token_env(monkeypatch):
    monkeypatch.delenv("STELLARS_DB_URL", raising=False)  # --db-url, or nothing, as each test says
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t")
    monkeypatch.setenv("JUPYTERHUB_API_URL", f"http://127.0.0.1:{free_port()}/hub/api")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--retention-days", "0"], "argument --retention-days: must be between 1 and 365, got 0"),
        (["--half-life-hours", "169"], "argument --half-life-hours: must be between 1 and 168"),
        (["--inactive-after-minutes", "0"], "argument --inactive-after-minutes: must be between"),
        (
            ["--sample-interval-seconds", "59"],
            "argument --sample-interval-seconds: must be between",
        ),
        (["--sample-interval-seconds", "ten"], "argument --sample-interval-seconds: invalid int"),
    ],
)
def test_a_bad_setting_stops_the_sampler_naming_the_option(
    token_env, tmp_path, capsys, argv, message
):
    with pytest.raises(SystemExit) as stopped:
        main(["--db-url", f"sqlite:///{tmp_path / 'x.sqlite'}", *argv])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/x", "argument --db-url: unsupported database 'mysql'"),
        ("sqlite:///:memory:", "argument --db-url: SQLite needs a file path"),
        ("not a url", "argument --db-url: Could not parse"),
    ],
)
def test_a_bad_database_url_stops_the_sampler_naming_the_option(token_env, capsys, url, message):
    with pytest.raises(SystemExit) as stopped:
        main(["--db-url", url])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_without_the_hubs_token_the_sampler_says_what_it_needs(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main(["--db-url", f"sqlite:///{tmp_path / 'x.sqlite'}"])
    assert stopped.value.code == 2
    assert "JUPYTERHUB_API_TOKEN is not set" in capsys.readouterr().err


def test_the_db_url_is_required(token_env, capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "--db-url" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [MODULE, [str(Path(sys.executable).parent / "stellars-activity-sampler")]]
)
def test_it_starts_as_a_module_and_as_the_console_script(command):
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--sample-interval-seconds" in done.stdout
    assert "SIGUSR1" in done.stdout


def test_once_with_no_hub_logs_the_failure_and_exits_1(tmp_path):
    env = {"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_API_URL": f"http://127.0.0.1:{free_port()}/x"}
    done = subprocess.run(
        [*MODULE, "--db-url", f"sqlite:///{tmp_path / 'x.sqlite'}", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert done.returncode == 1
    assert "Tick failed, retrying at the next tick: hub API" in done.stderr
    assert "unreachable" in done.stderr


def test_the_database_url_comes_from_the_environment_as_the_hub_hands_it(tmp_path):
    database = tmp_path / "from-env.sqlite"
    env = {
        "JUPYTERHUB_API_TOKEN": "t",
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{free_port()}/x",
        "STELLARS_DB_URL": f"sqlite:///{database}",
    }
    done = subprocess.run(
        [*MODULE, "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert done.returncode == 1  # no hub to sample, but the database was the variable's
    assert "Tick failed, retrying at the next tick: hub API" in done.stderr
    assert database.exists()


@pytest.mark.real
def test_once_samples_every_user_and_exits_0(tmp_path, jupyterhub_factory):
    hub = jupyterhub_factory(render_hub_config(tmp_path / "config"))
    create_users(hub, [f"u{index}" for index in range(5)])
    env = {
        "PATH": "/usr/bin:/bin",
        "JUPYTERHUB_API_TOKEN": hub.admin_token,
        "JUPYTERHUB_API_URL": hub.api_url,
    }
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    done = subprocess.run(
        [*MODULE, "--db-url", url, "--once", "--inactive-after-minutes", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Tick: 5 users (active=0, idle=0, offline=5) | levels: none(5) | pruned 0" in (
        done.stderr
    )
