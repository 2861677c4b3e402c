"""Tests for `stellars.domain.notifications`: validation, targets and the report."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.notifications import (
    DEFAULT_AUTO_CLOSE_MS,
    MAX_AUTO_CLOSE_MS,
    MAX_MESSAGE_LENGTH,
    VARIANT_NAMES,
    Broadcast,
    BroadcastReport,
    Delivery,
    TargetResolution,
    Variant,
    resolve_targets,
    summarize,
)
from tests.strategies import usernames


def user(name: str, *servers: ServerSnapshot) -> HubUser:
    return HubUser(name=name, servers={s.name: s for s in servers})


def running(name: str, server: str = "") -> ServerSnapshot:
    return ServerSnapshot(username=name, name=server, ready=True)


def pending(name: str, server: str = "") -> ServerSnapshot:
    return ServerSnapshot(username=name, name=server, pending="spawn")


USERS = [
    user("alice", running("alice"), running("alice", "gpu")),
    user("bob", pending("bob")),
    user("carol", running("carol")),
    user("dave"),
]


class TestBroadcast:
    def test_constants(self):
        assert (MAX_MESSAGE_LENGTH, DEFAULT_AUTO_CLOSE_MS, MAX_AUTO_CLOSE_MS) == (
            140,
            5_000,
            600_000,
        )

    def test_every_variant_by_its_wire_name(self):
        assert [v.value for v in Variant] == [
            "default",
            "info",
            "success",
            "warning",
            "error",
            "in-progress",
        ]
        assert VARIANT_NAMES == "default, info, success, warning, error, in-progress"
        assert Variant("in-progress") is Variant.IN_PROGRESS

    @pytest.mark.parametrize("variant", list(Variant))
    def test_every_variant_is_accepted(self, variant):
        assert Broadcast(message="m", variant=variant).variant is variant

    def test_message_is_stripped_and_defaults_apply(self):
        b = Broadcast(message="  Maintenance at 18:00 \n")
        assert b.message == "Maintenance at 18:00"
        assert (b.variant, b.auto_close_ms, b.recipients) == (Variant.INFO, None, None)
        assert b == Broadcast(message="Maintenance at 18:00")

    def test_a_message_of_exactly_140_characters_is_fine(self):
        assert len(Broadcast(message="x" * 140).message) == 140
        # surrounding blanks do not count
        assert len(Broadcast(message=" " + "x" * 140 + " ").message) == 140

    @pytest.mark.parametrize("ms", [1, 5000, MAX_AUTO_CLOSE_MS])
    def test_auto_close_within_bounds(self, ms):
        assert Broadcast(message="m", auto_close_ms=ms).auto_close_ms == ms

    def test_recipients_keep_their_order_without_duplicates(self):
        b = Broadcast(message="m", recipients=("b", "a", "b", "c", "a"))
        assert b.recipients == ("b", "a", "c")

    @given(st.lists(usernames, min_size=1))
    def test_any_usernames_are_recipients(self, names):
        b = Broadcast(message="m", recipients=tuple(names))
        assert b.recipients == tuple(dict.fromkeys(names))

    @pytest.mark.parametrize(
        ("kwargs", "text"),
        [
            ({"message": 5}, "message: must be a string"),
            ({"message": None}, "message: must be a string"),
            ({"message": ""}, "message: must not be empty"),
            ({"message": "  \t "}, "message: must not be empty"),
            ({"message": "x" * 141}, "message: must be at most 140 characters, got 141"),
            ({"message": "hi", "variant": "info"},
             "variant: must be one of: default, info, success, warning, error, in-progress"),
            ({"message": "hi", "variant": None},
             "variant: must be one of: default, info, success, warning, error, in-progress"),
            ({"message": "hi", "auto_close_ms": 0},
             "autoClose: must be between 1 and 600000, got 0"),
            ({"message": "hi", "auto_close_ms": 600_001},
             "autoClose: must be between 1 and 600000, got 600001"),
            ({"message": "hi", "auto_close_ms": True},
             "autoClose: must be a whole number, got True"),
            ({"message": "hi", "auto_close_ms": 1.5}, "autoClose: must be a whole number, got 1.5"),
            ({"message": "hi", "recipients": ()},
             "recipients: must name at least one user; leave it out to reach every server"),
            ({"message": "hi", "recipients": ["alice"]}, "recipients: must be a list of usernames"),
            ({"message": "hi", "recipients": "alice"}, "recipients: must be a list of usernames"),
            ({"message": "hi", "recipients": ("alice", 3)},
             "recipients: must be a list of usernames"),
        ],
    )  # fmt: skip
    def test_invalid_broadcasts_name_the_field(self, kwargs, text):
        with pytest.raises(InvalidValue) as error:
            Broadcast(**kwargs)
        assert str(error.value) == text


class TestTargets:
    def test_everyone_means_every_running_server(self):
        resolution = resolve_targets(Broadcast(message="m"), USERS)
        assert [(s.username, s.name) for s in resolution.targets] == [
            ("alice", ""),
            ("alice", "gpu"),
            ("carol", ""),
        ]
        assert resolution == TargetResolution(resolution.targets, (), ())

    def test_everyone_is_in_username_order_whatever_the_listing_order(self):
        resolution = resolve_targets(Broadcast(message="m"), list(reversed(USERS)))
        assert [s.username for s in resolution.targets] == ["alice", "alice", "carol"]

    def test_a_users_servers_are_in_server_name_order(self):
        servers = {
            "zeta": running("erin", "zeta"),
            "gpu": running("erin", "gpu"),
            "": running("erin"),
            "off": pending("erin", "off"),
        }
        erin = HubUser(name="erin", servers=servers)
        resolution = resolve_targets(Broadcast(message="m"), [erin])
        assert [s.name for s in resolution.targets] == ["", "gpu", "zeta"]

    def test_named_recipients_that_cannot_be_reached_are_reported(self):
        b = Broadcast(message="m", recipients=("zed", "bob", "carol", "dave", "alice", "yan"))
        resolution = resolve_targets(b, USERS)
        assert [(s.username, s.name) for s in resolution.targets] == [
            ("carol", ""),
            ("alice", ""),
            ("alice", "gpu"),
        ]
        assert resolution.unknown == ("zed", "yan")
        assert resolution.not_running == ("bob", "dave")

    def test_everyone_never_reports_users_without_servers(self):
        resolution = resolve_targets(Broadcast(message="m"), [user("dave"), user("bob")])
        assert resolution == TargetResolution((), (), ())


class TestReport:
    def test_counts_and_message(self):
        resolution = resolve_targets(
            Broadcast(message="m", recipients=("alice", "zed", "dave", "yan", "bob")), USERS
        )
        report = summarize(
            [Delivery("alice", "", True), Delivery("alice", "gpu", False, "HTTP 404")], resolution
        )
        assert report == BroadcastReport(
            (Delivery("alice", "", True, None), Delivery("alice", "gpu", False, "HTTP 404")),
            ("zed", "yan"),
            ("dave", "bob"),
        )
        assert (report.total, report.successful, report.failed) == (2, 1, 1)
        assert report.message == (
            "Delivered to 1 of 2 server(s) (unknown users: zed, yan; not running: dave, bob)"
        )

    def test_all_delivered(self):
        report = BroadcastReport(
            (Delivery("a", "", True), Delivery("b", "", True), Delivery("c", "x", True))
        )
        assert (report.total, report.successful, report.failed) == (3, 3, 0)
        assert report.message == "Delivered to 3 of 3 server(s)"

    def test_only_unknown_or_only_not_running(self):
        unknown = BroadcastReport((Delivery("a", "", False, "x"),), unknown=("zed",))
        assert (unknown.successful, unknown.failed) == (0, 1)
        assert unknown.message == "Delivered to 0 of 1 server(s) (unknown users: zed)"
        idle = BroadcastReport((), not_running=("bob",))
        assert idle.message == "No running servers to notify (not running: bob)"

    def test_nobody_to_notify(self):
        report = summarize([], resolve_targets(Broadcast(message="m"), [user("dave")]))
        assert report.message == "No running servers to notify"
        assert (report.total, report.successful, report.failed) == (0, 0, 0)

    def test_summarize_takes_any_iterable(self):
        deliveries = (d for d in [Delivery("a", "", True)])
        report = summarize(deliveries, TargetResolution((), ("z",), ("y",)))
        assert report == BroadcastReport((Delivery("a", "", True),), ("z",), ("y",))
