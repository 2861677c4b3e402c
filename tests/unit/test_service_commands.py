"""The managed services own their command lines: the hub starts each with `command(policy)`,
written from the same options table its parser reads, so a rename on one side fails here, not
at a hub start. The database URL comes from the service's environment (STELLARS_DB_URL), never
from the command line the hub logs and shows; `--db-url` wins over it for a run by hand."""

from __future__ import annotations

import dataclasses
import importlib
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.activity import ActivityPolicy
from stellars.domain.busy import BusyPolicy
from stellars.domain.sessions import SessionPolicy
from stellars.entrypoints import activity_sampler, idle_culler
from stellars.entrypoints.service_options import (
    DB_URL_VARIABLE,
    service_environment,
)
from tests.strategies import activity_policies, session_policies, within

DB_URL = "postgresql+psycopg://hub:s3cret-pw@db/stellars"
ENV = {
    DB_URL_VARIABLE: DB_URL,
    "JUPYTERHUB_API_TOKEN": "service-token",
    "JUPYTERHUB_API_URL": "http://hub:8081/hub/api",
}
SERVICES = [activity_sampler, idle_culler]


def on_the_command_line(policy, options) -> object:
    """`policy` as its service gets it: what the command carries, the defaults for the rest."""
    defaults = type(policy)()
    left_out = {
        field.name: getattr(defaults, field.name)
        for field in dataclasses.fields(policy)
        if field.name not in options and field.name != "enabled"
    }
    return dataclasses.replace(policy, **left_out)


@st.composite
def culler_policies(draw: st.DrawFn) -> SessionPolicy:
    """Enabled session policies (the hub runs the culler only then), warnings included."""
    policy = draw(session_policies(enabled=True))
    warning = draw(within(SessionPolicy.LIMITS["warning_minutes"]))
    return dataclasses.replace(policy, warning_minutes=warning)


class TestTheHubsCommandLineIsWhatTheServiceReads:
    @given(activity_policies())
    def test_the_sampler_reads_back_the_policy_it_was_given(self, policy: ActivityPolicy):
        settings = activity_sampler.parse_settings(activity_sampler.command(policy)[3:], ENV)
        assert settings.policy == on_the_command_line(policy, activity_sampler._POLICY_OPTIONS)
        assert settings.db_url == DB_URL

    @given(culler_policies())
    def test_the_culler_reads_back_the_policy_it_was_given(self, policy: SessionPolicy):
        settings = idle_culler.parse_settings(idle_culler.command(policy)[3:], ENV)
        assert settings.policy == on_the_command_line(policy, idle_culler._OPTIONS)
        assert settings.db_url == DB_URL

    def test_every_policy_field_on_the_command_line_changes_what_the_service_reads(self):
        # Not only the defaults read back: each option carries its own field.
        sampler = ActivityPolicy(
            retention_days=30, half_life_hours=24, inactive_after_minutes=15,
            sample_interval_seconds=120,
        )  # fmt: skip
        assert (
            activity_sampler.parse_settings(activity_sampler.command(sampler)[3:], ENV).policy
            == sampler
        )
        culler = SessionPolicy(
            enabled=True, idle_timeout_seconds=7200, cull_every_seconds=60,
            max_extension_hours=3, max_age_seconds=86_400,
        )  # fmt: skip
        assert idle_culler.parse_settings(idle_culler.command(culler)[3:], ENV).policy == culler

    @pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
    def test_the_command_runs_the_service_module_with_the_given_python(self, service):
        policy = ActivityPolicy() if service is activity_sampler else SessionPolicy(enabled=True)
        command = service.command(policy, python="/opt/python")
        assert command[:3] == ["/opt/python", "-m", service.MODULE]
        assert importlib.import_module(service.MODULE) is service
        assert service.command(policy)[0] == sys.executable

    def test_the_commands_spell_each_option_once(self):
        assert activity_sampler.command(ActivityPolicy())[3:] == [
            "--sample-interval-seconds=600",
            "--retention-days=7",
            "--half-life-hours=72",
            "--inactive-after-minutes=60",
        ]
        assert idle_culler.command(SessionPolicy(enabled=True))[3:] == [
            "--timeout=86400",
            "--cull-every=600",
            "--max-extension-hours=24",
            "--max-age=0",
        ]


class TestTheCullersBusyRule:
    @given(
        st.builds(
            BusyPolicy,
            enabled=st.booleans(),
            cpu_percent=within(BusyPolicy.LIMITS["cpu_percent"]),
            gpu_percent=within(BusyPolicy.LIMITS["gpu_percent"]),
            window_seconds=within(BusyPolicy.LIMITS["window_seconds"]),
        )
    )
    def test_the_culler_reads_back_the_busy_rule_it_was_given(self, busy: BusyPolicy):
        policy = SessionPolicy(enabled=True)
        settings = idle_culler.parse_settings(idle_culler.command(policy, busy=busy)[3:], ENV)
        # Off, only the switch matters: the thresholds are left at their defaults.
        assert settings.busy == (busy if busy.enabled else BusyPolicy())
        assert settings.policy == policy

    def test_the_busy_options_are_spelt_once_and_only_when_the_rule_is_on(self):
        policy = SessionPolicy(enabled=True)
        plain = idle_culler.command(policy)
        assert idle_culler.command(policy, busy=BusyPolicy(cpu_percent=80)) == plain
        busy = BusyPolicy(enabled=True, cpu_percent=80, gpu_percent=30, window_seconds=60)
        assert idle_culler.command(policy, busy=busy) == [
            *plain,
            "--spare-busy",
            "--busy-cpu-percent=80",
            "--busy-gpu-percent=30",
            "--busy-window-seconds=60",
        ]
        assert idle_culler.parse_settings([], ENV).busy == BusyPolicy()

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--busy-cpu-percent", "0"], "argument --busy-cpu-percent: must be between 1 and"),
            (["--busy-gpu-percent", "101"], "argument --busy-gpu-percent: must be between 1 and"),
            (["--busy-window-seconds", "9"], "argument --busy-window-seconds: must be between"),
        ],
    )
    def test_a_bad_busy_setting_stops_the_culler_naming_the_option(self, argv, message, capsys):
        with pytest.raises(SystemExit) as stopped:
            idle_culler.parse_settings(["--spare-busy", *argv], ENV)
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err


class TestTheDatabaseUrl:
    @pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
    def test_it_is_never_on_the_command_line(self, service):
        policy = ActivityPolicy() if service is activity_sampler else SessionPolicy(enabled=True)
        command = service.command(policy, python="/py")
        assert not [argument for argument in command if argument.startswith("--db")]

    def test_the_hub_hands_it_in_the_environment_under_the_catalogues_variable(self):
        assert DB_URL_VARIABLE == "STELLARS_DB_URL"
        assert service_environment(DB_URL) == {"STELLARS_DB_URL": DB_URL}

    @pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
    def test_it_comes_from_the_environment_and_the_option_wins(self, service):
        from_env = service.parse_settings([], ENV)
        assert (from_env.db_url, from_env.db_url_origin) == (DB_URL, "STELLARS_DB_URL")
        by_hand = service.parse_settings(["--db-url", "sqlite:////tmp/x.sqlite"], ENV)
        assert (by_hand.db_url, by_hand.db_url_origin) == (
            "sqlite:////tmp/x.sqlite",
            "argument --db-url",
        )

    @pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
    @pytest.mark.parametrize("blank", ["", "  "])
    def test_without_either_the_service_says_what_it_needs(self, service, blank, capsys):
        with pytest.raises(SystemExit) as stopped:
            service.parse_settings([], {**ENV, DB_URL_VARIABLE: blank})
        assert stopped.value.code == 2
        assert "argument --db-url: no database: set STELLARS_DB_URL (the hub does) or pass " in (
            capsys.readouterr().err
        )

    @pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
    def test_help_tells_the_precedence(self, service, capsys):
        with pytest.raises(SystemExit):
            service.parse_settings(["--help"], ENV)
        text = " ".join(capsys.readouterr().out.split())
        assert "Default: the STELLARS_DB_URL environment variable" in text
        assert "--db-url wins over the variable" in text

    @pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
    def test_a_bad_url_from_the_environment_names_the_variable(self, service, monkeypatch, capsys):
        for name, value in {**ENV, DB_URL_VARIABLE: "mysql://db/x"}.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(SystemExit) as stopped:
            service.main([])  # main hands os.environ to parse_settings
        assert stopped.value.code == 2
        assert "STELLARS_DB_URL: unsupported database 'mysql'" in capsys.readouterr().err


class TestTheCullersOwnChecks:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--timeout", "59"], "argument --timeout: must be between 60 and 31536000, got 59"),
            (["--cull-every", "9"], "argument --cull-every: must be between 10 and 86400, got 9"),
            (["--max-extension-hours", "-1"], "argument --max-extension-hours: must be between"),
            (["--max-age", "-5"], "argument --max-age: must be at least 0, got -5"),
            (["--timeout", "day"], "argument --timeout: invalid int value"),
        ],
    )
    def test_a_bad_setting_stops_the_culler_naming_the_option(self, argv, message, capsys):
        with pytest.raises(SystemExit) as stopped:
            idle_culler.parse_settings(argv, ENV)
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err

    def test_without_the_hubs_token_the_culler_says_what_it_needs(self, capsys):
        environ = {DB_URL_VARIABLE: DB_URL}
        with pytest.raises(SystemExit) as stopped:
            idle_culler.parse_settings([], environ)
        assert stopped.value.code == 2
        assert "JUPYTERHUB_API_TOKEN is not set" in capsys.readouterr().err

    def test_the_hubs_address_and_the_concurrency(self):
        settings = idle_culler.parse_settings(["--concurrency", "4"], ENV)
        assert (settings.api_url, settings.api_token, settings.concurrency) == (
            "http://hub:8081/hub/api",
            "service-token",
            4,
        )
        default = idle_culler.parse_settings([], {**ENV, "JUPYTERHUB_API_URL": ""})
        assert (default.api_url, default.concurrency) == (idle_culler.DEFAULT_API_URL, 10)
