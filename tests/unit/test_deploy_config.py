"""The composition root: environment parsed once into the settings that configure both the hub
and the platform; bad values stop the hub naming the variable."""

from __future__ import annotations

import copy
import inspect
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config.loader import PyFileConfigLoader

from stellars.adapters.auth import StellarsNativeAuthenticator
from stellars.adapters.jupyterhub import PLUGIN_SETTING, HubPlugin, PlatformRoutes, hub_db_kwargs
from stellars.domain.branding import AssetSlot
from stellars.domain.limits import LabLimits
from stellars.entrypoints import activity_sampler, idle_culler
from stellars.platform import Platform

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub_config.py"


def load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str):
    for name in list(os.environ):
        if name.startswith(("JUPYTERHUB_", "STELLARS_", "DOCKER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JUPYTERHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STELLARS_SPAWNER", "local")  # no Docker engine is asked in unit tests
    # CI runs as root: local servers as root are refused unless this throwaway rig says so.
    monkeypatch.setenv("STELLARS_ALLOW_LOCAL_AS_ROOT", "1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()


def platform_of(c) -> Platform:
    return c.JupyterHub.tornado_settings[PLUGIN_SETTING].platform


def test_defaults_give_a_complete_platform(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path)
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.db_kwargs == hub_db_kwargs(c.JupyterHub.db_url)  # WAL connections
    assert c.JupyterHub.ip == "127.0.0.1"  # loopback unless the deployer says otherwise
    assert c.Authenticator.admin_users == {"admin"}
    authenticator = c.JupyterHub.authenticator_class
    assert issubclass(authenticator, PlatformRoutes)
    assert issubclass(authenticator, StellarsNativeAuthenticator)
    plugin = c.JupyterHub.tornado_settings[PLUGIN_SETTING]
    assert isinstance(plugin, HubPlugin)
    assert isinstance(plugin.platform, Platform)
    assert plugin.platform.settings.hub.data_dir == str(tmp_path)
    assert plugin.branding_dir == str(tmp_path / "static")
    # traitlets deep-copies config values: the hub must get this very plugin and hook.
    assert copy.deepcopy(c.JupyterHub.tornado_settings)[PLUGIN_SETTING] is plugin
    hook = c.Spawner.pre_spawn_hook
    assert inspect.iscoroutinefunction(hook)
    assert copy.deepcopy(hook) is hook
    (sampler,) = c.JupyterHub.services
    assert sampler["command"][1:3] == ["-m", "stellars.entrypoints.activity_sampler"]
    assert sampler["environment"] == {
        "STELLARS_DB_URL": f"sqlite:///{tmp_path / 'stellars.sqlite'}"
    }
    assert "--half-life-hours=72" in sampler["command"]
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert roles["activity-sampler-role"]["services"] == ["activity-sampler"]
    assert "admin:users" not in roles["activity-sampler-role"]["scopes"]
    assert "custom:stellars:settings" in roles["stellars-admin"]["scopes"]
    assert {"self", "custom:stellars:sessions!user"} <= set(roles["user"]["scopes"])
    assert set(c.JupyterHub.custom_scopes) >= {"custom:stellars:activity"}


def test_the_names_the_services_use_are_the_names_dockerspawner_gets(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path, STELLARS_SPAWNER="docker", DOCKER_HOST="unix:///nonexistent")
    platform = platform_of(c)
    naming = platform.volumes.naming
    assert c.DockerSpawner.name_template == naming.name_template == "jupyterlab-{username}"
    assert c.DockerSpawner.prefix == naming.prefix
    assert c.DockerSpawner.image == naming.image
    assert dict(c.DockerSpawner.volumes) == dict(platform.settings.spawner.volumes)
    assert [v.label for v in platform.volumes.volumes] == ["home", "workspace", "cache"]


@pytest.mark.parametrize(
    ("setting", "mounted"),
    [
        ({}, {"bind": "/mnt/shared", "mode": "ro"}),
        ({"STELLARS_SHARED_VOLUME": "read-write"}, {"bind": "/mnt/shared", "mode": "rw"}),
        ({"STELLARS_SHARED_VOLUME": "off"}, None),
    ],
)
def test_the_shared_volume_is_mounted_as_set(monkeypatch, tmp_path, setting, mounted):
    c = load(monkeypatch, tmp_path, **setting)
    hook = c.Spawner.pre_spawn_hook.__globals__["SPAWN_HOOK"]  # the hook the function awaits
    spawner = SimpleNamespace(user=SimpleNamespace(groups=[]))
    volumes = hook.settings_for(spawner).volumes
    assert volumes.get("jupyterhub_shared") == mounted
    assert {name: volumes[name] for name in volumes if "{username}" in name} == {
        "jupyterlab-{username}_home": "/home/jovyan",
        "jupyterlab-{username}_workspace": "/home/jovyan/work",
        "jupyterlab-{username}_cache": "/home/jovyan/.cache",
    }


def test_settings_reach_the_sampler(monkeypatch, tmp_path):
    c = load(
        monkeypatch,
        tmp_path,
        JUPYTERHUB_ACTIVITYMON_HALF_LIFE="48",
        JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL="120",
        STELLARS_DB_URL="postgresql+psycopg://u@db/stellars",
    )
    (sampler,) = c.JupyterHub.services
    assert "--half-life-hours=48" in sampler["command"]
    assert "--sample-interval-seconds=120" in sampler["command"]
    assert sampler["environment"] == {"STELLARS_DB_URL": "postgresql+psycopg://u@db/stellars"}


def test_each_service_runs_the_command_line_it_writes_itself(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path, JUPYTERHUB_IDLE_CULLER_ENABLED="1")
    settings = platform_of(c).settings
    services = {service["name"]: service for service in c.JupyterHub.services}
    assert services["activity-sampler"]["command"] == activity_sampler.command(settings.activity)
    assert services["idle-culler"]["command"] == idle_culler.command(settings.sessions)
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert roles["idle-culler-role"]["services"] == ["idle-culler"]


def test_the_database_password_goes_in_the_services_environment_never_in_argv(
    monkeypatch, tmp_path
):
    url = "postgresql+psycopg://hub:pg-pass-4711@db/stellars"
    c = load(monkeypatch, tmp_path, STELLARS_DB_URL=url, JUPYTERHUB_IDLE_CULLER_ENABLED="1")
    assert len(c.JupyterHub.services) == 2
    for service in c.JupyterHub.services:
        assert not [part for part in service["command"] if "pg-pass-4711" in part]
        assert service["environment"] == {"STELLARS_DB_URL": url}


def test_local_servers_when_docker_is_not_used(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path)
    assert c.JupyterHub.spawner_class == "simple"
    assert c.SimpleLocalProcessSpawner.home_dir_template == str(tmp_path / "homes" / "{username}")


def test_a_hub_without_an_admin_password_reserves_the_admins_name(monkeypatch, tmp_path, capsys):
    c = load(monkeypatch, tmp_path)
    assert c.StellarsNativeAuthenticator.reserved_usernames == {"admin"}
    assert "nobody may sign up as 'admin'" in capsys.readouterr().err
    c = load(monkeypatch, tmp_path, JUPYTERHUB_ADMIN_PASSWORD="s3cret-pw")
    assert "reserved_usernames" not in c.StellarsNativeAuthenticator


def test_the_admin_password_comes_from_a_secret_file(monkeypatch, tmp_path):
    secret = tmp_path / "admin-password"
    secret.write_text("from-a-file-123\n")
    c = load(monkeypatch, tmp_path, JUPYTERHUB_ADMIN_PASSWORD_FILE=str(secret))
    platform = platform_of(c)
    assert platform.settings.hub.admin_password == "from-a-file-123"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("JUPYTERHUB_ACTIVITYMON_HALF_LIFE", "500", "between 1 and 168"),
        ("JUPYTERHUB_ACTIVITYMON_RETENTION_DAYS", "seven", "whole number"),
        ("JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL", "5", "between 60 and 86400"),
        ("JUPYTERHUB_SIGNUP_ENABLED", "maybe", "must be 0 or 1"),
        ("JUPYTERHUB_PORT", "80a", "whole number"),
        ("JUPYTERHUB_GPU_ENABLED", "1.5", "must be 0 (off), 1 (forced) or 2 (auto)"),
        ("JUPYTERHUB_AUTOGENERATED_PASSWORD_WORDS", "2", "between 3 and 12"),
        ("JUPYTERHUB_ADMIN_PASSWORD", "short", "at least 8 characters"),
        ("JUPYTERHUB_ADMIN_PASSWORD_FILE", "/nonexistent/secret", "cannot read"),
        ("JUPYTERHUB_LOGO_URI", "ftp://x/logo.png", "file:///absolute/path or an http(s)"),
        ("STELLARS_SPAWNER", "kubernetes", "must be one of auto, docker, local, swarm"),
    ],
)
def test_a_bad_value_stops_the_hub_naming_the_variable(
    monkeypatch, tmp_path, variable, value, message
):
    with pytest.raises(SystemExit) as stop:
        load(monkeypatch, tmp_path, **{variable: value})
    assert variable in str(stop.value)
    assert message in str(stop.value)


def test_a_passphrase_policy_too_weak_for_the_word_list_stops_the_hub(monkeypatch, tmp_path):
    with pytest.raises(SystemExit) as stop:
        load(monkeypatch, tmp_path, JUPYTERHUB_AUTOGENERATED_PASSWORD_WORDS="3")
    assert "words" in str(stop.value)
    assert "bits" in str(stop.value)


class TestAnyAuthenticator:
    """The platform's routes over whichever authenticator the deployer names; passwords and
    passphrases only with NativeAuthenticator."""

    def test_jupyterhubs_dummy_authenticator_serves_the_platform(self, monkeypatch, tmp_path):
        from jupyterhub.auth import DummyAuthenticator

        c = load(monkeypatch, tmp_path, STELLARS_AUTHENTICATOR="dummy")
        authenticator = c.JupyterHub.authenticator_class
        assert issubclass(authenticator, PlatformRoutes)
        assert issubclass(authenticator, DummyAuthenticator)
        assert not issubclass(authenticator, StellarsNativeAuthenticator)
        # Platform routes first, then the authenticator's own (JupyterHub's login page).
        assert authenticator.get_handlers is PlatformRoutes.get_handlers
        platform = platform_of(c)
        assert platform.credentials.keeps_passwords is False
        assert "NativeAuthenticator" not in c  # no sign-up settings for a hub without it
        assert all("nativeauthenticator" not in path for path in c.JupyterHub.template_paths)
        assert "DummyAuthenticator" in platform.facts["Logins"]

    def test_oauthenticators_generic_class_by_entry_point_or_class_path(
        self, monkeypatch, tmp_path
    ):
        from oauthenticator.generic import GenericOAuthenticator

        for name in ("generic-oauth", "oauthenticator.generic.GenericOAuthenticator"):
            c = load(monkeypatch, tmp_path, STELLARS_AUTHENTICATOR=name)
            authenticator = c.JupyterHub.authenticator_class
            assert issubclass(authenticator, GenericOAuthenticator)
            assert authenticator.__mro__[:2] == (authenticator, PlatformRoutes)
            # The deployer's config for the generic class applies to it unchanged.
            c.GenericOAuthenticator.client_id = "platform-client"
            c.GenericOAuthenticator.authorize_url = "https://idp.example.org/authorize"
            assert authenticator(config=c).client_id == "platform-client"
            assert platform_of(c).credentials.keeps_passwords is False

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("ldap-please", "'ldap-please' is no installed authenticator"),
            ("no.such.module.Auth", "cannot load 'no.such.module.Auth'"),
            ("os.path.join", "is not a JupyterHub Authenticator class"),
        ],
    )
    def test_an_unknown_authenticator_stops_the_hub_naming_the_variable(
        self, monkeypatch, tmp_path, name, message
    ):
        with pytest.raises(SystemExit) as stop:
            load(monkeypatch, tmp_path, STELLARS_AUTHENTICATOR=name)
        assert "STELLARS_AUTHENTICATOR" in str(stop.value)
        assert message in str(stop.value)

    def test_an_admin_password_with_another_authenticator_stops_the_hub(
        self, monkeypatch, tmp_path
    ):
        with pytest.raises(SystemExit) as stop:
            load(
                monkeypatch,
                tmp_path,
                STELLARS_AUTHENTICATOR="shared-password",
                JUPYTERHUB_ADMIN_PASSWORD="long-enough",
            )
        assert "JUPYTERHUB_ADMIN_PASSWORD" in str(stop.value)
        assert "only with NativeAuthenticator" in str(stop.value)


def test_generated_passphrases_are_hashed_at_the_cost_their_entropy_allows(monkeypatch, tmp_path):
    from stellars.adapters.auth.credentials import generated_passphrase_cost
    from stellars.adapters.passwords import XkcdPasswordGenerator

    platform = platform_of(load(monkeypatch, tmp_path))
    policy = platform.settings.passphrases
    bits = policy.entropy_bits(XkcdPasswordGenerator().vocabulary_size(policy))
    store = platform.credentials._accounts
    assert store is not None and store.generated_cost == generated_passphrase_cost(bits) < 12


class TestFirstStartAttacks:
    """Security review H1 and M1: a hub must never fall back to unisolated local servers, and
    the first visitor must never become the admin."""

    def test_auto_with_no_engine_refuses_to_start_naming_the_setting(self, monkeypatch, tmp_path):
        with pytest.raises(SystemExit) as stop:
            load(
                monkeypatch,
                tmp_path,
                STELLARS_SPAWNER="auto",
                DOCKER_HOST="unix:///nonexistent/docker.sock",
            )
        assert "STELLARS_SPAWNER" in str(stop.value)
        assert "no Docker engine answers" in str(stop.value)

    def test_local_servers_are_refused_to_a_hub_running_as_root(self, monkeypatch, tmp_path):
        monkeypatch.setattr(os, "geteuid", lambda: 0)
        with pytest.raises(SystemExit) as stop:
            load(monkeypatch, tmp_path, STELLARS_ALLOW_LOCAL_AS_ROOT="0")
        assert "STELLARS_SPAWNER" in str(stop.value) and "root" in str(stop.value)

    @pytest.mark.parametrize(
        ("variable", "value"),
        [("JUPYTERHUB_IP", "0.0.0.0"), ("JUPYTERHUB_HUB_BIND_URL", "http://0.0.0.0:8081")],
    )
    def test_local_servers_are_refused_to_a_hub_reachable_beyond_loopback(
        self, monkeypatch, tmp_path, variable, value
    ):
        with pytest.raises(SystemExit) as stop:
            load(monkeypatch, tmp_path, **{variable: value})
        assert "STELLARS_SPAWNER" in str(stop.value) and "loopback" in str(stop.value)

    def test_without_an_admin_password_the_admins_name_is_reserved_on_loopback_too(
        self, monkeypatch, tmp_path
    ):
        c = load(monkeypatch, tmp_path)  # 127.0.0.1, no admin password
        assert c.StellarsNativeAuthenticator.reserved_usernames == {"admin"}


def test_sign_up_and_login_rules_come_from_the_settings(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path)
    assert c.NativeAuthenticator.minimum_password_length == 8
    assert c.NativeAuthenticator.check_common_password is True
    assert c.NativeAuthenticator.allowed_failed_logins == 20
    assert c.NativeAuthenticator.seconds_before_next_try == 60
    assert c.StellarsNativeAuthenticator.attempts_per_minute == 10
    assert c.StellarsNativeAuthenticator.trusted_proxies == ""
    c = load(
        monkeypatch,
        tmp_path,
        STELLARS_PASSWORD_MIN_LENGTH="12",
        STELLARS_PASSWORD_COMMON_CHECK="0",
        STELLARS_LOGIN_LOCKOUT_FAILURES="0",
        STELLARS_LOGIN_LOCKOUT_SECONDS="300",
        STELLARS_LOGIN_ATTEMPTS_PER_MINUTE="30",
        STELLARS_TRUSTED_PROXIES="172.16.0.0/12",
    )
    assert c.NativeAuthenticator.minimum_password_length == 12
    assert c.NativeAuthenticator.check_common_password is False
    assert c.NativeAuthenticator.allowed_failed_logins == 0
    assert c.NativeAuthenticator.seconds_before_next_try == 300
    assert c.StellarsNativeAuthenticator.attempts_per_minute == 30
    assert c.StellarsNativeAuthenticator.trusted_proxies == "172.16.0.0/12"


def test_the_hubs_own_logo_route_never_serves_an_svg(monkeypatch, tmp_path):
    raster = tmp_path / "logo.png"
    raster.write_bytes(b"\x89PNG\r\n\x1a\n")
    vector = tmp_path / "logo.svg"
    vector.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    c = load(monkeypatch, tmp_path, JUPYTERHUB_LOGO_URI=f"file://{raster}")
    assert c.JupyterHub.logo_file == str(raster)
    c = load(monkeypatch, tmp_path, JUPYTERHUB_LOGO_URI=f"file://{vector}")
    assert "logo_file" not in c.JupyterHub  # the pages show the sandboxed copy
    assert platform_of(c).branding.static_name(AssetSlot.LOGO).endswith(".svg")


def test_lab_limits_the_deployer_set_reach_every_spawn_the_log_and_the_settings_page(
    monkeypatch, tmp_path, capsys
):
    c = load(
        monkeypatch,
        tmp_path,
        STELLARS_SPAWNER="docker",
        DOCKER_HOST="unix:///nonexistent",
        STELLARS_LAB_MEMORY_LIMIT="512MiB",
        STELLARS_LAB_CPU_LIMIT="0.5",
        STELLARS_LAB_PIDS_LIMIT="0",
    )
    platform = platform_of(c)
    limits = LabLimits(cpu_limit=0.5, memory_limit=512 * 2**20, pids_limit=None)
    assert platform.lab_limits.limits == limits
    hook = c.Spawner.pre_spawn_hook.__globals__["SPAWN_HOOK"]
    settings = hook.settings_for(SimpleNamespace(user=SimpleNamespace(groups=[])))
    assert (settings.mem_limit, settings.cpu_limit) == (512 * 2**20, 0.5)
    assert settings.extra_host_config["memswap_limit"] == 512 * 2**20
    assert "pids_limit" not in settings.extra_host_config
    assert platform.facts["Lab memory limit"] == "512 MiB (set by the deployer)"
    assert platform.facts["Lab process limit"] == "no limit (set by the deployer)"
    err = capsys.readouterr().err
    assert "[stellars-hub] Lab CPU limit: 0.5 cores (set by the deployer)" in err


def test_unset_lab_limits_without_an_engine_are_the_fallback_and_say_so(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path, STELLARS_SPAWNER="docker", DOCKER_HOST="unix:///nonexistent")
    platform = platform_of(c)
    assert platform.lab_limits.limits == LabLimits(
        cpu_limit=1.0, memory_limit=2 * 2**30, pids_limit=2048
    )
    assert platform.facts["Lab CPU limit"] == (
        "1 core (the engine's host was unknown at start: the platform's fallback)"
    )
    assert c.JupyterHub.spawner_class.endswith("EngineTolerantDockerSpawner")


def test_local_servers_run_without_limits_and_the_settings_page_says_so(monkeypatch, tmp_path):
    platform = platform_of(load(monkeypatch, tmp_path, STELLARS_LAB_MEMORY_LIMIT="1GiB"))
    assert platform.facts["Lab limits"] == "none: local processes run without limits"
    assert "Lab memory limit" not in platform.facts
    # and what a user's resources say agrees: no limit, whatever STELLARS_LAB_* holds
    assert platform.lab_limits.limits == LabLimits()
