"""The swarm placement rule (stellars.domain.swarm) and the swarm settings' refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.settings import (
    HubSettings,
    PlatformSettings,
    SpawnerKind,
    SpawnerSettings,
    is_sqlite,
)
from stellars.domain.swarm import Placement, SwarmNode, lab_node_counts, place_lab

#: What a user reads when no node can take their lab, pinned or not.
NO_NODE = "no node of the swarm can take a lab now (every node down or drained)"


def node(
    hostname: str, labs: int = 0, state: str = "ready", availability: str = "active"
) -> SwarmNode:
    return SwarmNode(hostname=hostname, state=state, availability=availability, labs=labs)


class TestNode:
    def test_takes_labs_only_ready_and_active(self):
        assert node("a").takes_labs
        assert not node("a", state="down").takes_labs
        assert not node("a", state="unknown").takes_labs
        assert not node("a", availability="drain").takes_labs
        assert not node("a", availability="pause").takes_labs

    @pytest.mark.parametrize(
        ("state", "availability", "why"),
        [
            ("ready", "active", ""),
            ("down", "active", "is down"),
            ("down", "drain", "is down"),
            ("ready", "drain", "is drained"),
            ("ready", "pause", "is paused"),
            ("ready", "gone", "is gone"),
        ],
    )
    def test_why_not(self, state, availability, why):
        assert node("a", state=state, availability=availability).why_not == why

    @pytest.mark.parametrize("hostname", ["", "  "])
    def test_a_blank_hostname_is_refused(self, hostname):
        with pytest.raises(InvalidValue) as caught:
            node(hostname)
        assert caught.value.field == "hostname"

    def test_labs_are_zero_or_more(self):
        assert node("a", labs=0).labs == 0
        with pytest.raises(InvalidValue) as caught:
            node("a", labs=-1)
        assert caught.value.field == "labs"
        assert "got -1" in caught.value.message


class TestFirstStart:
    def test_the_node_with_the_fewest_labs(self):
        placed = place_lab(
            "ann", None, [node("n1", labs=3), node("n2", labs=1), node("n3", labs=2)]
        )
        assert placed == Placement("n2", "first start: the node with the fewest labs")
        assert placed.constraints == ["node.hostname==n2"]

    def test_a_tie_goes_to_the_first_hostname(self):
        assert place_lab("ann", None, [node("n2", 1), node("n1", 1), node("n3", 1)]).node == "n1"

    def test_an_empty_record_is_no_record(self):
        assert place_lab("ann", "", [node("n2", 0), node("n1", 4)]).node == "n2"

    def test_nodes_that_take_no_labs_are_passed_over_however_idle(self):
        nodes = [
            node("n1", 0, availability="drain"),
            node("n2", 0, state="down"),
            node("n3", 0, availability="pause"),
            node("n4", 9),
        ]
        assert place_lab("ann", None, nodes).node == "n4"

    @pytest.mark.parametrize(
        "nodes", [[], [node("n1", availability="drain"), node("n2", state="down")]]
    )
    def test_no_node_takes_labs(self, nodes):
        with pytest.raises(Refused) as refused:
            place_lab("ann", None, nodes)
        assert refused.value.reason == NO_NODE

    @given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=6))
    def test_always_a_least_loaded_available_node(self, shapes):
        nodes = [
            node(f"n{i}", labs, availability="active" if up else "drain")
            for i, (labs, up) in enumerate(shapes)
        ]
        available = [n for n in nodes if n.takes_labs]
        if not available:
            with pytest.raises(Refused):
                place_lab("ann", None, nodes)
            return
        chosen = place_lab("ann", None, nodes).node
        least = min(n.labs for n in available)
        assert chosen == min(n.hostname for n in available if n.labs == least)


class TestLaterStarts:
    def test_the_recorded_node_whatever_its_load(self):
        placed = place_lab("ann", "n1", [node("n1", labs=9), node("n2", labs=0)])
        assert placed == Placement("n1", "the node with the user's volumes")
        assert placed.constraints == ["node.hostname==n1"]

    @pytest.mark.parametrize(
        ("state", "availability", "why"),
        [
            ("ready", "drain", "is drained"),
            ("down", "active", "is down"),
            ("ready", "pause", "is paused"),
        ],
    )
    def test_a_recorded_node_that_takes_no_labs_refuses_the_start(self, state, availability, why):
        nodes = [node("n1", state=state, availability=availability), node("n2")]
        with pytest.raises(Refused) as caught:
            place_lab("ann", "n1", nodes)
        assert caught.value.reason == (
            f"the files of 'ann' are on node 'n1', which {why}: the lab starts again once an "
            "admin makes that node available"
        )

    def test_a_recorded_node_gone_from_the_swarm_refuses_the_start(self):
        with pytest.raises(Refused) as caught:
            place_lab("ann", "n9", [node("n1"), node("n2")])
        assert caught.value.reason == (
            "the files of 'ann' are on node 'n9', which is no longer in the swarm: an admin "
            "must move them to another node, or bring it back"
        )


class TestPinLifted:
    def test_any_node_and_nothing_recorded(self):
        placed = place_lab(
            "ann", "n1", [node("n1", availability="drain"), node("n2")], pinned=False
        )
        assert placed == Placement(None, "volumes on shared storage: any node")
        assert placed.constraints == []

    def test_refused_when_no_node_takes_labs(self):
        with pytest.raises(Refused) as refused:
            place_lab("ann", None, [node("n1", availability="drain")], pinned=False)
        assert refused.value.reason == NO_NODE


def test_lab_node_counts():
    assert lab_node_counts(["a", "b", "a", "", "a"]) == {"a": 3, "b": 1}
    assert lab_node_counts([]) == {}


class TestSettings:
    @pytest.mark.parametrize(
        ("url", "sqlite"),
        [
            ("sqlite:////data/stellars.sqlite", True),
            # The scheme ends at the first colon (a Windows path has more), the dialect at
            # the first plus.
            ("sqlite:///C:/data/stellars.sqlite", True),
            ("sqlite+pysqlite+extra:///x.db", True),
            ("SQLite+pysqlite:///x.db", True),
            (" sqlite://", True),
            ("postgresql+psycopg://u:p@db/st", False),
            ("postgresql://sqlite@db/sqlite", False),
            ("mysql://db/x", False),
        ],
    )
    def test_is_sqlite(self, url, sqlite):
        assert is_sqlite(url) is sqlite

    def test_swarm_with_sqlite_is_refused_naming_the_setting(self):
        with pytest.raises(InvalidValue) as caught:
            PlatformSettings(spawner=SpawnerSettings(kind=SpawnerKind.SWARM))
        assert caught.value.field == "hub.stellars_db_url"
        assert caught.value.message == (
            "swarm mode needs a database every node reaches (the sampler runs on each node): "
            "set a postgresql:// URL, SQLite is a file on the hub's machine"
        )

    def test_swarm_with_postgresql_is_accepted(self):
        settings = PlatformSettings(
            hub=HubSettings(stellars_db_url="postgresql+psycopg://u:p@db/st"),
            spawner=SpawnerSettings(kind=SpawnerKind.SWARM),
        )
        assert settings.spawner.kind is SpawnerKind.SWARM
        assert settings.spawner.swarm_pin_volumes is True

    @pytest.mark.parametrize("kind", [SpawnerKind.AUTO, SpawnerKind.DOCKER])
    def test_sqlite_stays_fine_on_one_host(self, kind):
        assert PlatformSettings(spawner=SpawnerSettings(kind=kind)).hub.stellars_db_url == ""


def test_swarm_with_the_default_sqlite_names_the_database_variable():
    from stellars.configuration import SettingsError, settings_from_environment

    with pytest.raises(SettingsError) as caught:
        settings_from_environment({"STELLARS_SPAWNER": "swarm"}, cwd="/srv")
    assert caught.value.field == "STELLARS_DB_URL"
    with pytest.raises(SettingsError) as caught:
        settings_from_environment(
            {"STELLARS_SPAWNER": "swarm", "STELLARS_DB_URL": "sqlite:////srv/x.sqlite"}, cwd="/srv"
        )
    assert caught.value.field == "STELLARS_DB_URL"
    settings = settings_from_environment(
        {"STELLARS_SPAWNER": "swarm", "STELLARS_DB_URL": "postgresql://st:pw@db/st"}, cwd="/srv"
    )
    assert settings.spawner.kind is SpawnerKind.SWARM


def test_a_stop_on_an_unavailable_node_names_the_node_and_what_became_of_it():
    from datetime import datetime, timezone

    from stellars.domain.stops import StopReason, stop_on_node

    seen = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
    stop = stop_on_node("ann", "", "n2", "is drained", seen_at=seen)
    assert (stop.username, stop.server, stop.at) == ("ann", "", seen)
    assert stop.reason is StopReason.NODE_UNAVAILABLE
    assert (stop.exit_code, stop.memory_limit) == (None, None)
    assert stop.explanation == (
        "its node n2 is drained; it starts again there once an admin makes the node available"
    )
    assert stop.message == f"stopped: {stop.explanation}"
    assert StopReason.NODE_UNAVAILABLE.value == "node_unavailable"
