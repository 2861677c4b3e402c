"""The composition root: environment parsed once, bad values stop the hub naming the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub_config.py"


def load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str):
    for name in list(os.environ):
        if name.startswith(("JUPYTERHUB_", "STELLARS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JUPYTERHUB_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()


def test_defaults_give_a_complete_platform(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path)
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    assert c.Authenticator.admin_users == {"admin"}
    assert c.JupyterHub.authenticator_class.endswith("StellarsNativeAuthenticator")
    assert c.DockerSpawner.name_template == "jupyterlab-{username}"
    (sampler,) = c.JupyterHub.services
    assert sampler["command"][1:3] == ["-m", "stellars.entrypoints.activity_sampler"]
    assert f"--db-url=sqlite:///{tmp_path / 'stellars.sqlite'}" in sampler["command"]
    assert "--half-life-hours=72" in sampler["command"]
    (role,) = c.JupyterHub.load_roles
    assert role["services"] == ["activity-sampler"]
    assert "admin:users" not in role["scopes"]


def test_settings_reach_the_sampler(monkeypatch, tmp_path):
    c = load(
        monkeypatch,
        tmp_path,
        JUPYTERHUB_ACTIVITYMON_HALF_LIFE="48",
        JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL="120",
        STELLARS_DB_URL="postgresql+psycopg://u@db/stellars",
    )
    command = c.JupyterHub.services[0]["command"]
    assert "--half-life-hours=48" in command
    assert "--sample-interval-seconds=120" in command
    assert "--db-url=postgresql+psycopg://u@db/stellars" in command


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("JUPYTERHUB_ACTIVITYMON_HALF_LIFE", "500", "between 1 and 168"),
        ("JUPYTERHUB_ACTIVITYMON_RETENTION_DAYS", "seven", "whole number"),
        ("JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL", "5", "between 60 and 86400"),
        ("JUPYTERHUB_SIGNUP_ENABLED", "maybe", "must be 0 or 1"),
        ("JUPYTERHUB_PORT", "80a", "whole number"),
    ],
)
def test_a_bad_value_stops_the_hub_naming_the_variable(
    monkeypatch, tmp_path, variable, value, message
):
    with pytest.raises(SystemExit) as stop:
        load(monkeypatch, tmp_path, **{variable: value})
    assert variable in str(stop.value)
    assert message in str(stop.value)
