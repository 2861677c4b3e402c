"""Tests for `stellars.domain.notifications`: validation, targets and the report."""

from __future__ import annotations

import pytest

from stellars.domain.errors import InvalidValue
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.notifications import (
    Broadcast,
    Delivery,
    Variant,
    parse_broadcast,
    resolve_targets,
    summarize,
)


def user(name: str, *servers: ServerSnapshot) -> HubUser:
    return HubUser(name=name, servers={s.name: s for s in servers})


def running(name: str, server: str = "") -> ServerSnapshot:
    return ServerSnapshot(username=name, name=server, ready=True)


def pending(name: str) -> ServerSnapshot:
    return ServerSnapshot(username=name, pending="spawn")


USERS = [
    user("alice", running("alice"), running("alice", "gpu")),
    user("bob", pending("bob")),
    user("carol", running("carol")),
    user("dave"),
]


class TestParsing:
    def test_message_is_stripped_and_defaults_apply(self):
        b = parse_broadcast({"message": "  Maintenance at 18:00  "})
        assert b == Broadcast(message="Maintenance at 18:00")
        assert b.variant is Variant.INFO and b.auto_close_ms is False and b.recipients is None

    def test_a_message_of_exactly_140_characters_is_fine(self):
        assert len(parse_broadcast({"message": "x" * 140}).message) == 140

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ([], "body"),
            ("hello", "body"),
            ({}, "message"),
            ({"message": 5}, "message"),
            ({"message": "   "}, "message"),
            ({"message": "x" * 141}, "message"),
            ({"message": "hi", "variant": "loud"}, "variant"),
            ({"message": "hi", "variant": None}, "variant"),
            ({"message": "hi", "autoClose": "soon"}, "autoClose"),
            ({"message": "hi", "autoClose": 0}, "autoClose"),
            ({"message": "hi", "autoClose": 10**9}, "autoClose"),
            ({"message": "hi", "recipients": []}, "recipients"),
            ({"message": "hi", "recipients": "alice"}, "recipients"),
            ({"message": "hi", "recipients": ["alice", 3]}, "recipients"),
        ],
    )
    def test_bad_bodies_name_the_field(self, body, field):
        with pytest.raises(InvalidValue) as error:
            parse_broadcast(body)
        assert error.value.field == field

    @pytest.mark.parametrize(("raw", "ms"), [(True, 5000), (False, False), (8000, 8000)])
    def test_auto_close(self, raw, ms):
        assert parse_broadcast({"message": "hi", "autoClose": raw}).auto_close_ms == ms

    def test_every_variant_is_accepted(self):
        for variant in Variant:
            assert parse_broadcast({"message": "m", "variant": variant.value}).variant is variant

    def test_duplicate_recipients_collapse(self):
        b = parse_broadcast({"message": "m", "recipients": ["a", "b", "a"]})
        assert b.recipients == ("a", "b")

    def test_payload_shape_for_the_lab_extension(self):
        payload = Broadcast(message="m", variant=Variant.WARNING, auto_close_ms=3000).payload()
        assert payload["message"] == "m"
        assert payload["type"] == "warning"
        assert payload["autoClose"] == 3000
        assert payload["actions"][0]["label"] == "Dismiss"


class TestTargets:
    def test_everyone_means_every_running_server(self):
        resolution = resolve_targets(Broadcast(message="m"), USERS)
        assert [(s.username, s.name) for s in resolution.targets] == [
            ("alice", ""),
            ("alice", "gpu"),
            ("carol", ""),
        ]
        assert resolution.unknown == () and resolution.not_running == ()

    def test_named_recipients_that_cannot_be_reached_are_reported(self):
        b = Broadcast(message="m", recipients=("carol", "bob", "dave", "zed"))
        resolution = resolve_targets(b, USERS)
        assert [s.username for s in resolution.targets] == ["carol"]
        assert resolution.unknown == ("zed",)
        assert resolution.not_running == ("bob", "dave")


class TestReport:
    def test_counts_and_message(self):
        resolution = resolve_targets(
            Broadcast(message="m", recipients=("alice", "zed", "dave")), USERS
        )
        report = summarize(
            [Delivery("alice", "", True), Delivery("alice", "gpu", False, "HTTP 404")], resolution
        )
        assert (report.total, report.successful, report.failed) == (2, 1, 1)
        assert report.message == (
            "Delivered to 1 of 2 server(s) (unknown users: zed; not running: dave)"
        )

    def test_nobody_to_notify(self):
        report = summarize([], resolve_targets(Broadcast(message="m"), [user("dave")]))
        assert report.message == "No running servers to notify"
