"""Group policies as JSON documents and stored entries (`stellars.domain.policy_documents`): every
policy survives the trip, every malformed document is refused naming its field, and the
admins' ranks order the policies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue
from stellars.domain.policies import GIB, MIB, GpuSharing, GroupPolicy, Mount
from stellars.domain.policy_documents import (
    DOCUMENT_FIELDS,
    ENTRY_VERSION,
    PROPERTY_KEY,
    entry_rank,
    in_rank_order,
    next_rank,
    policy_document,
    policy_entry,
    policy_from_document,
    policy_from_entry,
    ranks_for_order,
)

FULL = GroupPolicy(
    group="ml",
    cpu_limit=2.5,
    memory_limit=8 * GIB,
    pids_limit=2048,
    gpus=1,
    gpu_sharing=GpuSharing.SHARED,
    images=("lab:cuda", "lab:default"),
    environment={"DATA": "/mnt/data", "TEAM": "ml"},
    mounts=(Mount("ml-data", "/mnt/data", read_only=False), Mount("handbook", "/mnt/handbook")),
    docker_socket=True,
    docker_privileged=True,
    idle_timeout_seconds=7200,
    max_extension_hours=12,
    storage_quota=20 * GIB,
)
FULL_DOCUMENT = {
    "cpu_limit": 2.5,
    "memory_limit": 8 * GIB,
    "pids_limit": 2048,
    "gpus": 1,
    "gpu_sharing": "shared",
    "images": ["lab:cuda", "lab:default"],
    "environment": {"DATA": "/mnt/data", "TEAM": "ml"},
    "mounts": [
        {"volume": "ml-data", "path": "/mnt/data", "read_only": False},
        {"volume": "handbook", "path": "/mnt/handbook", "read_only": True},
    ],
    "docker_socket": True,
    "docker_privileged": True,
    "idle_timeout_seconds": 7200,
    "max_extension_hours": 12,
    "storage_quota": 20 * GIB,
}


def refused(document: object, group: str = "ml") -> InvalidValue:
    with pytest.raises(InvalidValue) as error:
        policy_from_document(group, document)
    return error.value


class TestDocuments:
    def test_a_policy_is_written_with_every_field(self):
        assert policy_document(FULL) == FULL_DOCUMENT
        assert list(policy_document(FULL)) == list(DOCUMENT_FIELDS)

    def test_a_policy_without_opinions_is_written_with_nulls_and_empties(self):
        assert policy_document(GroupPolicy(group="x")) == {
            "cpu_limit": None,
            "memory_limit": None,
            "pids_limit": None,
            "gpus": None,
            "gpu_sharing": "exclusive",
            "images": [],
            "environment": {},
            "mounts": [],
            "docker_socket": False,
            "docker_privileged": False,
            "idle_timeout_seconds": None,
            "max_extension_hours": None,
            "storage_quota": None,
        }

    def test_a_document_is_read_back_as_the_policy_of_its_group(self):
        assert policy_from_document("ml", FULL_DOCUMENT) == FULL
        assert policy_from_document("ml", json.loads(json.dumps(FULL_DOCUMENT))) == FULL

    def test_fields_left_out_or_null_are_no_opinion(self):
        assert policy_from_document("x", {}) == GroupPolicy(group="x")
        nulls = dict.fromkeys(DOCUMENT_FIELDS)
        assert policy_from_document("x", nulls) == GroupPolicy(group="x")

    def test_a_mount_is_read_only_unless_it_says_otherwise(self):
        mounts = [{"volume": "team", "path": "/mnt/team"}]
        assert policy_from_document("x", {"mounts": mounts}).mounts == (Mount("team", "/mnt/team"),)
        writable = [{"volume": "team", "path": "/mnt/team", "read_only": False}]
        got = policy_from_document("x", {"mounts": writable})
        assert got.mounts == (Mount("team", "/mnt/team", read_only=False),)

    @given(
        st.builds(
            GroupPolicy,
            group=st.sampled_from(["a", "ml", "team-x"]),
            cpu_limit=st.one_of(st.none(), st.floats(0.01, 1024)),
            memory_limit=st.one_of(st.none(), st.integers(64 * MIB, 2**50)),
            pids_limit=st.one_of(st.none(), st.integers(64, 4_194_304)),
            gpus=st.one_of(st.none(), st.integers(0, 64)),
            gpu_sharing=st.sampled_from(GpuSharing),
            images=st.lists(st.sampled_from(["a:1", "b", "c/d:e"]), unique=True).map(tuple),
            environment=st.dictionaries(st.sampled_from(["A", "DATA_DIR", "_x"]), st.text()),
            mounts=st.lists(
                st.builds(
                    Mount,
                    st.sampled_from(["v1", "team.data"]),
                    st.sampled_from(["/mnt/a", "/data/b", "/home/jovyan/t"]),
                    read_only=st.booleans(),
                ),
                unique_by=lambda mount: mount.path,
            ).map(tuple),
            docker_socket=st.booleans(),
            docker_privileged=st.booleans(),
            idle_timeout_seconds=st.one_of(st.none(), st.integers(60, 365 * 86_400)),
            max_extension_hours=st.one_of(st.none(), st.integers(0, 24 * 365)),
            storage_quota=st.one_of(st.none(), st.integers(MIB, 2**50)),
        )
    )
    def test_every_policy_survives_the_trip_through_json(self, policy):
        text = json.dumps(policy_document(policy))
        assert policy_from_document(policy.group, json.loads(text)) == policy
        entry = json.loads(json.dumps(policy_entry(policy, 7)))
        assert policy_from_entry(policy.group, entry) == (7, policy)


class TestMalformedDocuments:
    def test_a_document_must_be_an_object(self):
        error = refused(["cpu_limit", 2])
        assert error.field == "policy"
        assert "must be a JSON object" in error.message

    def test_an_unknown_field_is_refused_naming_it_and_the_known_ones(self):
        error = refused({"memory": 4, "cpu": 2, "gpus": 1})
        assert error.field == "cpu"
        assert "'cpu', 'memory'" in error.message
        assert "known: cpu_limit, memory_limit" in error.message
        assert "is not a field of a policy" in error.message

    @pytest.mark.parametrize(
        ("document", "field", "text"),
        [
            ({"gpu_sharing": "sometimes"}, "gpu_sharing", "exclusive or shared, got 'sometimes'"),
            ({"gpu_sharing": 1}, "gpu_sharing", "exclusive or shared"),
            ({"images": "lab:cuda"}, "images", "must be a list of image names, got 'lab:cuda'"),
            ({"images": {"a": 1}}, "images", "must be a list of image names"),
            ({"images": [1]}, "images", "image names"),
            ({"environment": ["A=1"]}, "environment", "object of names and values, got"),
            ({"environment": {"A": 1}}, "environment", "must be text"),
            ({"mounts": {"volume": "v"}}, "mounts", "must be a list of mounts, got"),
            ({"mounts": ["v:/mnt/v"]}, "mounts", "objects with a volume and a path, got"),
            ({"mounts": [{"volume": "v"}]}, "mounts", "needs a volume and a path, as text"),
            ({"mounts": [{"path": "/mnt/v"}]}, "mounts", "needs a volume and a path"),
            ({"mounts": [{"volume": 1, "path": "/mnt/v"}]}, "mounts", "volume and a path"),
            ({"mounts": [{"volume": "v", "path": "/mnt/v", "mode": "rw"}]}, "mounts", "'mode'"),
            (
                {"mounts": [{"volume": "v", "path": "/mnt/v", "read_only": "yes"}]},
                "mounts",
                "read_only must be true or false, got 'yes'",
            ),
            ({"mounts": [{"volume": "v", "path": "/etc"}]}, "mounts", "system path"),
            ({"docker_socket": "yes"}, "docker_socket", "must be true or false, got 'yes'"),
            ({"docker_privileged": 1}, "docker_privileged", "must be true or false, got 1"),
            ({"memory_limit": -1}, "memory_limit", "at least"),
            ({"memory_limit": 1.5e9}, "memory_limit", "whole number"),
            ({"cpu_limit": "2"}, "cpu_limit", "number of cores"),
            ({"pids_limit": True}, "pids_limit", "whole number"),
            ({"gpus": 65}, "gpus", "between"),
            ({"idle_timeout_seconds": 1}, "idle_timeout_seconds", "between"),
            ({"max_extension_hours": -1}, "max_extension_hours", "between"),
            ({"storage_quota": 0}, "storage_quota", "at least"),
            ({"environment": {"JUPYTERHUB_API_TOKEN": "x"}}, "environment", "set by"),
        ],
    )
    def test_a_bad_value_is_refused_naming_its_field(self, document, field, text):
        error = refused(document)
        assert error.field == field
        assert text in error.message

    def test_empty_lists_and_objects_are_no_opinion_too(self):
        got = policy_from_document("x", {"images": [], "environment": {}, "mounts": []})
        assert got == GroupPolicy(group="x")

    def test_the_group_is_checked_too(self):
        assert refused({}, group="").field == "group"


class TestStoredEntries:
    def test_an_entry_holds_the_version_the_rank_and_the_document(self):
        assert policy_entry(FULL, 3) == {
            "version": ENTRY_VERSION,
            "rank": 3,
            "policy": FULL_DOCUMENT,
        }
        assert ENTRY_VERSION == 1
        assert PROPERTY_KEY == "stellars"

    def test_an_entry_is_read_back_with_its_rank(self):
        assert policy_from_entry("ml", policy_entry(FULL, 3)) == (3, FULL)
        assert entry_rank(policy_entry(FULL, -2)) == -2

    @pytest.mark.parametrize(
        ("entry", "field", "text"),
        [
            ("ml", "stellars", "must be a JSON object, got 'ml'"),
            ({"version": 1, "rank": 0, "policy": {}, "extra": 1}, "stellars", "'extra'"),
            ({"rank": 0, "policy": {}}, "version", "must be 1 (this platform's), got None"),
            ({"version": 2, "rank": 0, "policy": {}}, "version", "got 2"),
            ({"version": True, "rank": 0, "policy": {}}, "version", "got True"),
            ({"version": 1.0, "rank": 0, "policy": {}}, "version", "got 1.0"),
            ({"version": 1, "policy": {}}, "rank", "must be a whole number, got None"),
            ({"version": 1, "rank": "1", "policy": {}}, "rank", "whole number, got '1'"),
            ({"version": 1, "rank": True, "policy": {}}, "rank", "whole number, got True"),
            ({"version": 1, "rank": 1.0, "policy": {}}, "rank", "whole number, got 1.0"),
            ({"version": 1, "rank": 0}, "policy", "must be a JSON object, got None"),
            ({"version": 1, "rank": 0, "policy": {"gpus": -1}}, "gpus", "between"),
        ],
    )
    def test_an_entry_the_platform_cannot_read_is_refused_naming_the_field(
        self, entry, field, text
    ):
        with pytest.raises(InvalidValue) as error:
            policy_from_entry("ml", entry)
        assert error.value.field == field
        assert text in error.value.message

    def test_the_rank_alone_needs_a_readable_envelope(self):
        with pytest.raises(InvalidValue) as error:
            entry_rank({"version": 1, "rank": None})
        assert error.value.field == "rank"
        assert entry_rank({"version": 1, "rank": 4, "policy": "not read here"}) == 4


class TestRanks:
    def test_a_new_policy_goes_after_every_stored_one(self):
        assert next_rank([]) == 0
        assert next_rank([0, 5, 2]) == 6
        assert next_rank([-3]) == -2
        assert next_rank(iter([1, 1])) == 2

    def test_an_order_ranks_the_named_groups_by_place_and_the_rest_after_them(self):
        assert ranks_for_order(["a", "b", "c", "d"], ["c", "a"]) == {
            "a": 1,
            "b": 2,
            "c": 0,
            "d": 2,
        }
        assert ranks_for_order(["a"], []) == {"a": 0}
        assert ranks_for_order([], ["x"]) == {}

    def test_policies_come_in_rank_order_ties_by_group(self):
        a, b, c = (GroupPolicy(group=name) for name in "abc")
        assert in_rank_order([(2, a), (0, c), (2, b)]) == [c, a, b]
        assert in_rank_order([(1, b), (1, a), (-1, c)]) == [c, a, b]
        assert in_rank_order([]) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"mounts": ["v:/mnt/v"]}, "must be objects with a volume and a path, got 'v:/mnt/v'"),
        ({"mounts": [{"volume": "v"}]}, "each mount needs a volume and a path, as text"),
        (
            {"mounts": [{"volume": "v", "path": "/v", "size": 1}]},
            "is not a field of a mount (unknown: 'size'; known: volume, path, read_only)",
        ),
        ({"mounts": "v:/mnt/v"}, "must be a list of mounts, got 'v:/mnt/v'"),
        ({"environment": ["A=1"]}, "must be an object of names and values, got ['A=1']"),
        ({"images": "lab"}, "must be a list of image names, got 'lab'"),
        ({"gpu_sharing": "all"}, "must be exclusive or shared, got 'all'"),
        ({"docker_socket": "on"}, "must be true or false, got 'on'"),
    ],
)
def test_the_messages_say_what_was_sent_and_what_is_wanted(document, message):
    assert refused(document).message == message


def test_a_document_that_is_not_an_object_is_echoed():
    assert refused([1, 2]).message == "must be a JSON object, got [1, 2]"


def test_an_entry_with_an_unknown_field_says_so_exactly():
    with pytest.raises(InvalidValue) as error:
        policy_from_entry("ml", {"version": 1, "rank": 0, "policy": {}, "note": "x"})
    assert error.value.field == PROPERTY_KEY
    assert error.value.message == (
        "is not a field of a stored policy (unknown: 'note'; known: version, rank, policy)"
    )
