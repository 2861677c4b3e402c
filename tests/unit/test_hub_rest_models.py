"""Parsing JupyterHub REST models into HubUser / ServerSnapshot (stellars.adapters.hub.models)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given

from stellars.adapters.hub import parse_timestamp, user_from_model
from stellars.domain.errors import BackendUnavailable
from tests.strategies import instants

UTC = timezone.utc


class TestParseTimestamp:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-03-04T05:06:07.123456Z", datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)),
            ("2026-03-04T05:06:07Z", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
            ("2026-03-04T05:06:07.5Z", datetime(2026, 3, 4, 5, 6, 7, 500000, tzinfo=UTC)),
            ("2026-03-04T05:06:07.123Z", datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)),
            # more digits than Python keeps: truncated to microseconds
            ("2026-03-04T05:06:07.1234567Z", datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)),
            ("2026-03-04T05:06:07+00:00", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
            ("2026-03-04T07:06:07+0200", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
            ("2026-03-04T00:06:07-05:00", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
            # naive: JupyterHub's own convention is UTC
            ("2026-03-04T05:06:07", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
            ("2026-03-04 05:06", datetime(2026, 3, 4, 5, 6, tzinfo=UTC)),
        ],
    )
    def test_formats_jupyterhub_and_others_write(self, text, expected):
        parsed = parse_timestamp(text)
        assert parsed == expected
        assert parsed.tzinfo is UTC

    def test_none_stays_none(self):
        assert parse_timestamp(None) is None

    @pytest.mark.parametrize("bad", ["", "yesterday", "2026-13-01T00:00:00Z", 1700000000, "T12"])
    def test_garbage_is_refused(self, bad):
        with pytest.raises(ValueError, match="timestamp"):
            parse_timestamp(bad)

    @given(instants())
    def test_round_trips_what_jupyterhub_writes(self, instant):
        # jupyterhub.utils.isoformat: naive UTC isoformat + "Z"
        written = instant.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
        assert parse_timestamp(written) == instant


def model(**overrides):
    base = {
        "kind": "user",
        "name": "alice",
        "admin": False,
        "groups": ["staff", "gpu"],
        "last_activity": "2026-01-02T03:04:05.000006Z",
        "servers": {
            "": {
                "name": "",
                "ready": True,
                "pending": None,
                "started": "2026-01-02T01:00:00Z",
                "last_activity": "2026-01-02T02:00:00.5Z",
                "url": "/user/alice/",
            },
            "gpu": {
                "name": "gpu",
                "ready": False,
                "pending": "spawn",
                "started": "2026-01-02T03:00:00Z",
                "last_activity": None,
                "url": "/user/alice/gpu/",
            },
        },
    }
    base.update(overrides)
    return base


class TestUserFromModel:
    def test_maps_the_user_and_every_server(self):
        user = user_from_model(model())
        assert (user.name, user.admin, user.groups) == ("alice", False, {"staff", "gpu"})
        assert user.last_activity == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        default = user.default_server
        assert default is not None
        assert (default.username, default.name, default.ready, default.pending) == (
            "alice",
            "",
            True,
            None,
        )
        assert default.started == datetime(2026, 1, 2, 1, tzinfo=UTC)
        assert default.last_activity == datetime(2026, 1, 2, 2, 0, 0, 500000, tzinfo=UTC)
        assert default.url == "/user/alice/"
        gpu = user.servers["gpu"]
        assert (gpu.ready, gpu.pending, gpu.last_activity) == (False, "spawn", None)
        assert gpu.active and not gpu.running

    def test_the_latest_server_activity_is_the_servers_not_the_users(self):
        user = user_from_model(model())
        assert user.latest_server_activity() == datetime(2026, 1, 2, 2, 0, 0, 500000, tzinfo=UTC)
        assert user.latest_server_activity() != user.last_activity

    def test_a_user_without_servers_or_without_the_servers_scope(self):
        for servers in ({}, None):
            user = user_from_model(model(servers=servers))
            assert user.servers == {}
            assert not user.has_active_server
        trimmed = {"kind": "user", "name": "bob"}  # e.g. a token with read:users:name only
        user = user_from_model(trimmed)
        assert (user.name, user.admin, user.groups, user.last_activity) == (
            "bob",
            False,
            frozenset(),
            None,
        )

    @pytest.mark.parametrize(
        "bad",
        [
            {"kind": "user"},
            {"name": 7},
            {"name": "x", "last_activity": "soon"},
            {"name": "x", "servers": {"": {"started": "never"}}},
            {"name": "x", "servers": ["not", "a", "dict"]},
        ],
    )
    def test_a_model_jupyterhub_would_not_send_is_a_backend_failure(self, bad):
        with pytest.raises(BackendUnavailable, match="unexpected user model"):
            user_from_model(bad)

    def test_server_times_are_aware_utc(self):
        user = user_from_model(model())
        started = user.default_server.started
        assert started.utcoffset() == timedelta(0)
