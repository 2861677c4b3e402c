"""HTTPS at the proxy: JUPYTERHUB_SSL_CERT and JUPYTERHUB_SSL_KEY, both or neither, absolute
paths, readable at start; the deploy config hands them to JupyterHub's ssl_cert/ssl_key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from stellars.configuration import BY_NAME, SettingsError, describe, settings_from_environment
from stellars.domain.errors import InvalidValue
from stellars.domain.settings import HubSettings

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub_config.py"
CERT, KEY = "JUPYTERHUB_SSL_CERT", "JUPYTERHUB_SSL_KEY"


def load(env: dict[str, str]):
    return settings_from_environment(env, cwd="/srv/hub")


def refusal(env: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as raised:
        load(env)
    return raised.value


class TestSettings:
    def test_plain_http_by_default(self):
        hub = load({}).hub
        assert (hub.ssl_cert, hub.ssl_key) == ("", "")

    def test_both_paths_are_taken(self):
        hub = load({CERT: " /etc/tls/hub.crt ", KEY: "/etc/tls/hub.key"}).hub
        assert (hub.ssl_cert, hub.ssl_key) == ("/etc/tls/hub.crt", "/etc/tls/hub.key")

    def test_a_certificate_without_its_key_is_refused_naming_the_variable(self):
        error = refusal({CERT: "/etc/tls/hub.crt"})
        assert str(error) == f"{CERT}: is set without its private key: set both or neither"

    def test_a_key_without_its_certificate_is_refused_naming_the_variable(self):
        error = refusal({KEY: "/etc/tls/hub.key"})
        assert str(error) == f"{KEY}: is set without its certificate: set both or neither"

    @pytest.mark.parametrize("variable", [CERT, KEY])
    def test_relative_paths_are_refused(self, variable):
        env = {CERT: "/etc/tls/hub.crt", KEY: "/etc/tls/hub.key", variable: "tls/file.pem"}
        error = refusal(env)
        assert str(error) == f"{variable}: must be an absolute path, got 'tls/file.pem'"

    def test_the_domain_rule_without_the_catalogue(self):
        with pytest.raises(InvalidValue) as raised:
            HubSettings(ssl_key="/k.pem")
        assert raised.value.field == "ssl_key"

    def test_the_settings_page_shows_both_with_their_meaning(self):
        rows = {row.variable: row for row in describe(load({}))}
        assert rows[CERT].category == rows[KEY].category == "JupyterHub"
        assert (rows[CERT].value, rows[CERT].default) == ("", "")
        assert "reverse proxy" in BY_NAME[CERT].description


def deploy_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str):
    for name in list(os.environ):
        if name.startswith(("JUPYTERHUB_", "STELLARS_", "DOCKER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JUPYTERHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STELLARS_SPAWNER", "local")
    monkeypatch.setenv("STELLARS_ALLOW_LOCAL_AS_ROOT", "1")  # CI runs as root
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()


class TestDeployConfig:
    def test_without_tls_jupyterhub_gets_no_certificate(self, monkeypatch, tmp_path):
        c = deploy_config(monkeypatch, tmp_path)
        assert "ssl_cert" not in c.JupyterHub
        assert "ssl_key" not in c.JupyterHub

    def test_the_pair_reaches_jupyterhub(self, monkeypatch, tmp_path):
        cert, key = tmp_path / "hub.crt", tmp_path / "hub.key"
        cert.write_text("certificate")
        key.write_text("key")
        c = deploy_config(monkeypatch, tmp_path, **{CERT: str(cert), KEY: str(key)})
        assert (c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key) == (str(cert), str(key))

    def test_an_unreadable_file_stops_the_hub_naming_the_variable(self, monkeypatch, tmp_path):
        cert = tmp_path / "hub.crt"
        cert.write_text("certificate")
        missing = tmp_path / "missing.key"
        with pytest.raises(SystemExit) as stop:
            deploy_config(monkeypatch, tmp_path, **{CERT: str(cert), KEY: str(missing)})
        assert str(stop.value) == (
            f"stellars-hub: configuration error: {KEY}: cannot read {missing}"
        )

    def test_a_lone_certificate_stops_the_hub(self, monkeypatch, tmp_path):
        with pytest.raises(SystemExit) as stop:
            deploy_config(monkeypatch, tmp_path, **{CERT: "/etc/tls/hub.crt"})
        assert CERT in str(stop.value)
        assert "set both or neither" in str(stop.value)
