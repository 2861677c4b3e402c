"""Tests for `stellars.domain.settings`: the sections and the aggregate of all policies."""

from __future__ import annotations

import dataclasses

import pytest

from stellars.domain.activity import ActivityPolicy
from stellars.domain.branding import AssetKind, AssetPlan, AssetSlot
from stellars.domain.credentials import PassphrasePolicy, VaultPolicy
from stellars.domain.docker_access import DockerAccessGroups
from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import GpuMode
from stellars.domain.sessions import SessionPolicy
from stellars.domain.settings import (
    HUB_DB_FILE,
    STELLARS_DB_FILE,
    BrandingSettings,
    BroadcastPolicy,
    GpuSettings,
    HubProcessSettings,
    HubSettings,
    OrphanVolumePolicy,
    PlatformSettings,
    SharedVolumeMode,
    SpawnerKind,
    SpawnerSettings,
    StatsSettings,
)
from stellars.domain.volumes import DockerNaming, UserVolume


def error_of(build) -> str:
    with pytest.raises(InvalidValue) as error:
        build()
    return str(error.value)


class TestPlatform:
    def test_defaults_are_valid_and_frozen(self):
        settings = PlatformSettings()
        assert settings.hub == HubSettings()
        assert settings.spawner == SpawnerSettings()
        assert settings.activity == ActivityPolicy()
        assert settings.sessions == SessionPolicy()
        assert settings.passphrases == PassphrasePolicy()
        assert settings.vault == VaultPolicy()
        assert settings.docker_access == DockerAccessGroups()
        assert settings.gpu == GpuSettings()
        assert settings.broadcast == BroadcastPolicy()
        assert settings.stats == StatsSettings()
        assert settings.hub_process == HubProcessSettings()
        assert settings.branding == BrandingSettings()
        assert settings.orphan_volumes is OrphanVolumePolicy.KEEP
        with pytest.raises(dataclasses.FrozenInstanceError):
            settings.orphan_volumes = OrphanVolumePolicy.DELETE  # type: ignore[misc]

    def test_the_admin_is_the_hubs(self):
        assert PlatformSettings().admin_username == "admin"
        settings = PlatformSettings(hub=HubSettings(admin_username="root"))
        assert settings.admin_username == "root"

    def test_choice_names(self):
        assert [p.value for p in OrphanVolumePolicy] == ["keep", "delete"]
        assert [k.value for k in SpawnerKind] == ["auto", "docker", "local", "swarm"]
        assert [m.value for m in SharedVolumeMode] == ["off", "read-only", "read-write"]
        assert (HUB_DB_FILE, STELLARS_DB_FILE) == ("jupyterhub.sqlite", "stellars.sqlite")


class TestHub:
    def test_defaults(self):
        hub = HubSettings()
        assert (hub.admin_username, hub.admin_password, hub.signup_enabled) == ("admin", "", True)
        assert (hub.base_url, hub.public_ip, hub.public_port) == ("/", "127.0.0.1", 8000)
        assert (hub.proxy_api_port, hub.hub_bind_url, hub.hub_connect_url) == (
            None,
            "http://127.0.0.1:8081",
            "",
        )
        assert (hub.data_dir, hub.hub_db_url, hub.stellars_db_url) == (".", "", "")
        assert hub.proxy_command == "configurable-http-proxy"

    @pytest.mark.parametrize(
        ("kwargs", "text"),
        [
            ({"admin_username": ""}, "admin_username: must be a non-empty string"),
            ({"admin_username": " "}, "admin_username: must be a non-empty string"),
            ({"admin_username": "Admin"}, "admin_username: must be lower case without "
             "surrounding spaces (JupyterHub normalises user names), got 'Admin'"),
            ({"admin_username": " admin"}, "admin_username: must be lower case without "
             "surrounding spaces (JupyterHub normalises user names), got ' admin'"),
            ({"admin_password": "seven77"}, "admin_password: must be at least 8 characters long"),
            ({"public_port": 0}, "public_port: must be between 1 and 65535, got 0"),
            ({"public_port": 65_536}, "public_port: must be between 1 and 65535, got 65536"),
            ({"public_port": "8000"}, "public_port: must be a whole number, got '8000'"),
            ({"proxy_api_port": 0}, "proxy_api_port: must be between 1 and 65535, got 0"),
            ({"proxy_api_port": 70_000}, "proxy_api_port: must be between 1 and 65535, got 70000"),
            ({"base_url": "hub/"}, "base_url: must start with '/', got 'hub/'"),
            ({"public_ip": ""}, "public_ip: must be a non-empty string"),
            ({"hub_bind_url": ""}, "hub_bind_url: must be a non-empty string"),
            ({"hub_bind_url": "127.0.0.1:8081"},
             "hub_bind_url: must be an http:// or https:// URL, got '127.0.0.1:8081'"),
            ({"hub_connect_url": "ftp://hub"},
             "hub_connect_url: must be an http:// or https:// URL, got 'ftp://hub'"),
            ({"hub_connect_url": " "}, "hub_connect_url: must be a non-empty string"),
            ({"data_dir": ""}, "data_dir: must be a non-empty string"),
            ({"proxy_command": " "}, "proxy_command: must be a non-empty string"),
        ],
    )  # fmt: skip
    def test_bad_values_name_their_field(self, kwargs, text):
        assert error_of(lambda: HubSettings(**kwargs)) == text

    def test_accepted_edge_values(self):
        hub = HubSettings(
            admin_password="eight888", public_port=1, proxy_api_port=65_535, base_url="/"
        )
        assert (hub.admin_password, hub.public_port, hub.proxy_api_port) == ("eight888", 1, 65_535)
        assert HubSettings(public_port=65_535).public_port == 65_535
        assert HubSettings(proxy_api_port=1).proxy_api_port == 1

    def test_urls_lose_surrounding_blanks_and_trailing_slashes(self):
        hub = HubSettings(
            hub_bind_url="  http://0.0.0.0:8081/  ", hub_connect_url="https://hub.example//"
        )
        assert hub.hub_bind_url == "http://0.0.0.0:8081"
        assert hub.hub_connect_url == "https://hub.example"
        kept = HubSettings(hub_bind_url="http://hub/X", hub_connect_url="https://hub/PREFIX")
        assert (kept.hub_bind_url, kept.hub_connect_url) == ("http://hub/X", "https://hub/PREFIX")

    @pytest.mark.parametrize(
        ("ip", "loopback"),
        [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
         ("10.0.0.5", False), ("127.0.0.2", True), ("hub.example", False)],
    )  # fmt: skip
    def test_loopback_only(self, ip, loopback):
        assert HubSettings(public_ip=ip).loopback_only is loopback

    @pytest.mark.parametrize(
        ("bind_url", "loopback"),
        [("http://127.0.0.1:8081", True), ("http://[::1]:8081", True),
         ("http://localhost:8081", True), ("http://0.0.0.0:8081", False),
         ("http://172.17.0.1:8081", False), ("https://hub.example", False)],
    )  # fmt: skip
    def test_the_hubs_own_port_counts_too(self, bind_url, loopback):
        assert HubSettings(hub_bind_url=bind_url).loopback_only is loopback
        assert HubSettings(public_ip="0.0.0.0", hub_bind_url=bind_url).loopback_only is False

    @pytest.mark.parametrize(
        ("base_url", "path"), [("/", "/"), ("/prefix", "/prefix/"), ("/a/b//", "/a/b/")]
    )
    def test_the_base_path_ends_in_one_slash(self, base_url, path):
        assert HubSettings(base_url=base_url).base_path == path

    def test_the_proxy_api_port_defaults_to_the_next_port(self):
        assert HubSettings().effective_proxy_api_port == 8001
        assert HubSettings(public_port=9000).effective_proxy_api_port == 9001
        assert HubSettings(public_port=9000, proxy_api_port=7000).effective_proxy_api_port == 7000

    def test_databases_default_to_sqlite_files_in_the_data_dir(self):
        hub = HubSettings(data_dir="/data/")
        assert hub.effective_hub_db_url == "sqlite:////data/jupyterhub.sqlite"
        assert hub.effective_stellars_db_url == "sqlite:////data/stellars.sqlite"
        here = HubSettings()
        assert here.effective_hub_db_url == "sqlite:///./jupyterhub.sqlite"
        assert here.effective_stellars_db_url == "sqlite:///./stellars.sqlite"

    def test_configured_databases_win(self):
        hub = HubSettings(
            hub_db_url="postgresql://hub@db/hub", stellars_db_url="postgresql://st@db/st"
        )
        assert hub.effective_hub_db_url == "postgresql://hub@db/hub"
        assert hub.effective_stellars_db_url == "postgresql://st@db/st"

    def test_secrets_stay_out_of_the_repr(self):
        hub = HubSettings(
            admin_password="hunter2-hunter2",
            hub_db_url="postgresql://u:dbsecret@db/hub",
            stellars_db_url="postgresql://u:dbsecret2@db/st",
        )
        text = repr(PlatformSettings(hub=hub))
        assert "hunter2" not in text
        assert "dbsecret" not in text


class TestSpawner:
    def test_defaults(self):
        spawner = SpawnerSettings()
        assert spawner.kind is SpawnerKind.AUTO
        assert spawner.image == "stellars-hub-lab:latest"
        assert (spawner.network_name, spawner.docker_url) == (
            "bridge",
            "unix:///var/run/docker.sock",
        )
        assert (spawner.prefix, spawner.name_template) == ("jupyterlab", "jupyterlab-{username}")
        assert dict(spawner.volumes) == {}
        assert spawner.start_timeout_seconds == 120
        assert spawner.user_volumes == ()
        # Every lab runs as one uid: a writable share is opt-in.
        assert spawner.shared_volume is SharedVolumeMode.READ_ONLY

    def test_naming_is_what_dockerspawner_is_configured_with(self):
        spawner = SpawnerSettings(image="org/lab:1", prefix="p", name_template="p-{username}")
        assert spawner.naming == DockerNaming(
            prefix="p", name_template="p-{username}", image="org/lab:1"
        )

    def test_volumes_are_copied_read_only_and_labelled(self):
        volumes = {"jupyterlab-{username}_home": "/home", "shared": "/mnt"}
        spawner = SpawnerSettings(volumes=volumes)
        volumes["jupyterlab-{username}_data"] = "/data"
        assert list(spawner.volumes) == ["jupyterlab-{username}_home", "shared"]
        with pytest.raises(TypeError):
            spawner.volumes["x"] = "/x"  # type: ignore[index]
        assert spawner.user_volumes == (UserVolume("home", "jupyterlab-{username}_home", "/home"),)

    def test_bad_volumes_stop_the_start(self):
        text = error_of(lambda: SpawnerSettings(volumes={"{username}": "/home"}))
        assert text == "volumes: cannot derive a label from '{username}'"

    @pytest.mark.parametrize(
        ("kwargs", "text"),
        [
            ({"kind": "docker"}, "kind: must be one of auto, docker, local, swarm"),
            ({"shared_volume": "read-only"},
             "shared_volume: must be one of off, read-only, read-write"),
            ({"image": ""}, "image: must be a non-empty string"),
            ({"network_name": " "}, "network_name: must be a non-empty string"),
            ({"docker_url": ""}, "docker_url: must be a non-empty string"),
            ({"name_template": ""}, "name_template: must be a non-empty string"),
            ({"start_timeout_seconds": 9},
             "start_timeout_seconds: must be between 10 and 3600, got 9"),
            ({"start_timeout_seconds": 3601},
             "start_timeout_seconds: must be between 10 and 3600, got 3601"),
        ],
    )  # fmt: skip
    def test_bad_values_name_their_field(self, kwargs, text):
        assert error_of(lambda: SpawnerSettings(**kwargs)) == text

    def test_timeout_ends(self):
        assert SpawnerSettings(start_timeout_seconds=10).start_timeout_seconds == 10
        assert SpawnerSettings(start_timeout_seconds=3600).start_timeout_seconds == 3600
        assert SpawnerSettings(kind=SpawnerKind.LOCAL).kind is SpawnerKind.LOCAL
        for mode in SharedVolumeMode:
            assert SpawnerSettings(shared_volume=mode).shared_volume is mode


class TestPolicies:
    def test_defaults(self):
        assert (BroadcastPolicy().concurrency, BroadcastPolicy().timeout_seconds) == (10, 5)
        gpu = GpuSettings()
        assert (gpu.mode, gpu.probe_image, gpu.probe_timeout_seconds) == (
            GpuMode.AUTO,
            "nvidia/cuda:13.0.2-base-ubuntu24.04",
            20,
        )
        stats = StatsSettings()
        assert (stats.container_stats_seconds, stats.volume_sizes_seconds) == (10, 3600)

    @pytest.mark.parametrize(
        ("build", "text"),
        [
            (lambda: BroadcastPolicy(concurrency=0),
             "concurrency: must be between 1 and 200, got 0"),
            (lambda: BroadcastPolicy(concurrency=201),
             "concurrency: must be between 1 and 200, got 201"),
            (lambda: BroadcastPolicy(timeout_seconds=0),
             "timeout_seconds: must be between 1 and 120, got 0"),
            (lambda: BroadcastPolicy(timeout_seconds=500),
             "timeout_seconds: must be between 1 and 120, got 500"),
            (lambda: GpuSettings(probe_timeout_seconds=0),
             "probe_timeout_seconds: must be between 1 and 600, got 0"),
            (lambda: GpuSettings(probe_timeout_seconds=601),
             "probe_timeout_seconds: must be between 1 and 600, got 601"),
            (lambda: StatsSettings(container_stats_seconds=1),
             "container_stats_seconds: must be between 2 and 3600, got 1"),
            (lambda: StatsSettings(container_stats_seconds=3601),
             "container_stats_seconds: must be between 2 and 3600, got 3601"),
            (lambda: StatsSettings(volume_sizes_seconds=5),
             "volume_sizes_seconds: must be between 10 and 86400, got 5"),
            (lambda: StatsSettings(volume_sizes_seconds=86_401),
             "volume_sizes_seconds: must be between 10 and 86400, got 86401"),
            (lambda: HubSettings(admin_username=""), "admin_username: must be a non-empty string"),
        ],
    )  # fmt: skip
    def test_invalid_values_name_their_field(self, build, text):
        assert error_of(build) == text

    def test_gpu_sharing_must_be_parsed_first(self):
        with pytest.raises(InvalidValue) as error:
            GpuSettings(sharing="shared")  # type: ignore[arg-type]
        assert (error.value.field, error.value.message) == (
            "sharing",
            "must be exclusive or shared, got 'shared'",
        )

    def test_range_ends(self):
        assert BroadcastPolicy(concurrency=200, timeout_seconds=120).concurrency == 200
        assert BroadcastPolicy(concurrency=1, timeout_seconds=1).timeout_seconds == 1
        assert GpuSettings(probe_timeout_seconds=600).probe_timeout_seconds == 600
        assert StatsSettings(container_stats_seconds=2, volume_sizes_seconds=10) == StatsSettings(
            container_stats_seconds=2, volume_sizes_seconds=10
        )

    def test_gpu_mode_must_be_parsed_first(self):
        with pytest.raises(TypeError) as error:
            GpuSettings(mode=2)  # type: ignore[arg-type]
        assert str(error.value) == "mode must be a GpuMode; parse it with GpuMode.parse"
        assert GpuSettings(mode=GpuMode.OFF).mode is GpuMode.OFF


class TestHubProcess:
    """The knobs of the hub process itself: the loop-stall report and the real-time loop."""

    def test_defaults(self):
        process = HubProcessSettings()
        assert (process.loop_stall_report_ms, process.loop_thread_realtime) == (1000, False)

    @pytest.mark.parametrize("milliseconds", [0, 1, 60_000])
    def test_the_stall_report_accepts_its_whole_range(self, milliseconds):
        assert HubProcessSettings(loop_stall_report_ms=milliseconds).loop_stall_report_ms == (
            milliseconds
        )

    @pytest.mark.parametrize(
        ("milliseconds", "text"),
        [
            (-1, "loop_stall_report_ms: must be between 0 and 60000, got -1"),
            (60_001, "loop_stall_report_ms: must be between 0 and 60000, got 60001"),
            (True, "loop_stall_report_ms: must be a whole number, got True"),
            (1.5, "loop_stall_report_ms: must be a whole number, got 1.5"),
        ],
    )
    def test_the_stall_report_outside_its_range_names_the_field(self, milliseconds, text):
        assert error_of(lambda: HubProcessSettings(loop_stall_report_ms=milliseconds)) == text

    @pytest.mark.parametrize("flag", [True, False])
    def test_the_real_time_loop_is_a_flag(self, flag):
        assert HubProcessSettings(loop_thread_realtime=flag).loop_thread_realtime is flag

    @pytest.mark.parametrize(("value", "shown"), [("0", "'0'"), (1, "1"), (None, "None")])
    def test_anything_but_a_bool_is_refused_for_the_real_time_loop(self, value, shown):
        # "0" is truthy: taken as it is, it would turn real-time scheduling on.
        assert error_of(lambda: HubProcessSettings(loop_thread_realtime=value)) == (
            f"loop_thread_realtime: must be true or false, got {shown}"
        )

    def test_the_knobs_left_the_stats_section(self):
        fields = {f.name for f in dataclasses.fields(StatsSettings)}
        assert fields == {"container_stats_seconds", "volume_sizes_seconds"}


class TestBranding:
    def test_the_plan_of_each_slot(self):
        branding = BrandingSettings(
            logo_uri="file:///l.png",
            favicon_uri="https://x/f.ico",
            lab_main_icon_uri="file:///m.svg",
            lab_splash_icon_uri="https://x/s.svg",
        )
        assert branding.plan.assets == (
            AssetPlan(AssetSlot.LOGO, AssetKind.COPY, source_path="/l.png"),
            AssetPlan(AssetSlot.FAVICON, AssetKind.LINK, url="https://x/f.ico"),
            AssetPlan(AssetSlot.LAB_MAIN_ICON, AssetKind.COPY, source_path="/m.svg"),
            AssetPlan(AssetSlot.LAB_SPLASH_ICON, AssetKind.LINK, url="https://x/s.svg"),
        )

    @pytest.mark.parametrize(
        "field", ["logo_uri", "favicon_uri", "lab_main_icon_uri", "lab_splash_icon_uri"]
    )
    def test_a_bad_uri_stops_the_start_naming_its_field(self, field):
        text = error_of(lambda: BrandingSettings(**{field: "favicon.ico"}))
        assert text == (
            f"{field}: must be empty, a file:///absolute/path or an http(s):// URL, "
            "got 'favicon.ico'"
        )
