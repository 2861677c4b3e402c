"""Whose a volume is: owner keys, the inverse of DockerSpawner's escaping, the ownership rule,
and the orphans of an engine listing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.hub import HubUser
from stellars.domain.volume_ownership import (
    claimed_by,
    find_orphans,
    foreign_volumes,
    owner_key,
    unescape_name,
    volume_matchers,
)
from stellars.domain.volumes import DockerNaming, VolumeInfo, escape_name, user_volumes
from tests.strategies import EPOCH, usernames

NAMING = DockerNaming(prefix="jupyterlab", name_template="jupyterlab-{username}")
VOLUMES = user_volumes(
    {
        "jupyterlab-{username}_home": "/home/jovyan",
        "{prefix}-{username}_cache": {"bind": "/home/jovyan/.cache"},
        "shared": "/mnt/shared",
    }
)
CREATED = EPOCH + timedelta(days=10, microseconds=123_456)


class TestOwnerKeys:
    def test_a_key_names_the_row_and_the_creation_time_in_utc(self):
        naive = datetime(2026, 1, 11, 0, 0, 0, 123_456)
        aware = naive.replace(tzinfo=timezone.utc)
        assert owner_key(7, naive) == "user-7-20260111T000000123456Z"
        assert owner_key(7, aware) == owner_key(7, naive)
        berlin = aware.astimezone(timezone(timedelta(hours=1)))
        assert owner_key(7, berlin) == owner_key(7, aware)

    def test_without_a_creation_time_the_row_alone_and_without_a_row_no_key(self):
        assert owner_key(7, None) == "user-7"
        assert owner_key(None, CREATED) is None

    def test_two_accounts_that_share_a_name_have_different_keys(self):
        assert owner_key(7, CREATED) != owner_key(8, CREATED)
        assert owner_key(7, CREATED) != owner_key(7, CREATED + timedelta(microseconds=1))


class TestUnescaping:
    @given(usernames)
    def test_it_undoes_dockerspawners_escaping(self, name):
        assert unescape_name(escape_name(name)) == name

    @pytest.mark.parametrize("text", ["", "a-", "a-4", "a-zz", "-ff", "-c3"])
    def test_text_that_no_name_escapes_to_is_none(self, text):
        assert unescape_name(text) is None  # cut short, not hex, or not UTF-8

    def test_escaped_upper_case_comes_back(self):
        assert unescape_name("a-41") == "aA"  # DockerSpawner escapes every capital

    @given(st.text(alphabet="abz09-", max_size=12))
    def test_whatever_it_returns_escapes_back(self, text):
        name = unescape_name(text)
        assert name is None or escape_name(name) == text


class TestTemplates:
    @given(usernames)
    def test_each_volume_name_leads_back_to_its_user_and_label(self, name):
        matchers = volume_matchers(VOLUMES, NAMING)
        for matcher, volume in zip(matchers, VOLUMES, strict=True):
            engine_name = volume.name_for(name, NAMING)
            assert matcher.escaped_username(engine_name) == escape_name(name)
            others = [m for m in matchers if m is not matcher]
            assert all(m.escaped_username(engine_name) is None for m in others)

    @pytest.mark.parametrize("name", ["shared", "jupyterlab-_home", "jupyterlab-a_home2"])
    def test_names_of_no_template_match_none(self, name):
        assert all(m.escaped_username(name) is None for m in volume_matchers(VOLUMES, NAMING))


class TestTheRule:
    OWNER = owner_key(7, CREATED)

    def test_a_marked_volume_is_its_owners_alone(self):
        mine = VolumeInfo("v", owner=self.OWNER, created_at=EPOCH)
        assert claimed_by(mine, self.OWNER, CREATED)  # even if created "before" the account
        assert not claimed_by(mine, owner_key(8, CREATED), CREATED)
        assert not claimed_by(mine, None, CREATED)

    @pytest.mark.parametrize(
        ("created_at", "claimed"),
        [
            (CREATED.replace(microsecond=0), True),  # the engine's second of the account
            (CREATED + timedelta(seconds=1), True),
            (CREATED - timedelta(seconds=1), False),  # older than the account: not its own
            (None, True),  # nothing to tell by
        ],
    )
    def test_an_unmarked_volume_is_the_accounts_unless_it_predates_it(self, created_at, claimed):
        assert claimed_by(VolumeInfo("v", created_at=created_at), self.OWNER, CREATED) is claimed

    def test_an_unmarked_volume_is_claimed_when_the_account_has_no_creation_time(self):
        assert claimed_by(VolumeInfo("v", created_at=EPOCH), self.OWNER, None)

    def test_foreign_volumes_are_those_not_claimed(self):
        infos = [
            VolumeInfo("a", owner=self.OWNER),
            VolumeInfo("b", owner="user-1-x"),
            VolumeInfo("c", created_at=CREATED - timedelta(days=1)),
        ]
        assert [i.name for i in foreign_volumes(infos, owner=self.OWNER, created=CREATED)] == [
            "b",
            "c",
        ]


class TestOrphans:
    def listing(self, *infos: VolumeInfo) -> list[VolumeInfo]:
        return [*infos, VolumeInfo("shared", 10), VolumeInfo("unrelated_home", 5)]

    def test_volumes_of_a_name_nobody_has_are_orphaned(self):
        orphans = find_orphans(
            self.listing(VolumeInfo("jupyterlab-gone_home", 42, created_at=EPOCH)),
            [HubUser(name="alice", id=1, created=CREATED)],
            VOLUMES,
            NAMING,
        )
        assert [(o.name, o.label, o.former_username, o.size_bytes) for o in orphans] == [
            ("jupyterlab-gone_home", "home", "gone", 42)
        ]
        assert orphans[0].reason == "no user is named 'gone'"
        assert orphans[0].created_at == EPOCH

    def test_volumes_left_by_an_earlier_holder_of_a_name_are_orphaned(self):
        alice = HubUser(name="alice", id=2, created=CREATED)
        listing = self.listing(
            VolumeInfo("jupyterlab-alice_home", owner=owner_key(1, EPOCH)),
            VolumeInfo("jupyterlab-alice_cache", owner=owner_key(2, CREATED)),
        )
        orphans = find_orphans(listing, [alice], VOLUMES, NAMING)
        assert [(o.name, o.reason) for o in orphans] == [
            ("jupyterlab-alice_home", "left by an earlier user named 'alice'")
        ]

    def test_names_with_escaped_characters_show_the_real_user_name(self):
        name = "Ünïcödé.user"
        engine = VOLUMES[0].name_for(name, NAMING)
        orphans = find_orphans([VolumeInfo(engine)], [], VOLUMES, NAMING)
        assert orphans[0].former_username == name
        assert name in orphans[0].reason

    def test_the_result_is_sorted_by_name(self):
        listing = [VolumeInfo("jupyterlab-b_home"), VolumeInfo("jupyterlab-a_cache")]
        names = [o.name for o in find_orphans(listing, [], VOLUMES, NAMING)]
        assert names == ["jupyterlab-a_cache", "jupyterlab-b_home"]


class TestEveryTemplateField:
    """A matcher fills every field DockerSpawner fills, as `names_for` does for the default
    server, so a template using any of them leads back to its user."""

    IMAGE_NAMING = DockerNaming(prefix="lab", image="quay.io/jupyterhub/singleuser:2026.1")

    @pytest.mark.parametrize(
        ("template", "engine_name"),
        [
            (
                "{prefix}-{imagename}-{username}_img",
                "lab-quay.io-jupyterhub-singleuser-2026.1-ann_img",
            ),
            ("lab-{username}_home-{safe_username}", "lab-ann_home-ann"),
            ("lab-{username}_raw-{raw_username}", "lab-ann_raw-ann"),
            ("lab-{username}_{servername}srv", "lab-ann_srv"),
            ("lab-{username}_{raw_servername}raw", "lab-ann_raw"),
        ],
    )
    def test_each_field_is_filled_as_for_the_default_server(self, template, engine_name):
        [volume] = user_volumes({template: "/mnt"})
        assert volume.name_for("ann", self.IMAGE_NAMING) == engine_name
        [matcher] = volume_matchers([volume], self.IMAGE_NAMING)
        assert matcher.escaped_username(engine_name) == "ann"
        orphans = find_orphans([VolumeInfo(engine_name)], [], [volume], self.IMAGE_NAMING)
        assert [(o.name, o.former_username) for o in orphans] == [(engine_name, "ann")]

    def test_a_template_naming_the_user_twice_needs_the_same_name_twice(self):
        [volume] = user_volumes({"lab-{username}_x{username}": "/mnt"})
        [matcher] = volume_matchers([volume], NAMING)
        assert matcher.escaped_username("lab-ann_xann") == "ann"
        assert matcher.escaped_username("lab-ann_xbob") is None


class TestOrphanReasons:
    def test_a_name_that_unescapes_to_no_user_name_is_shown_as_found(self):
        orphans = find_orphans([VolumeInfo("jupyterlab-a-zz_home", 7)], [], VOLUMES, NAMING)
        assert [(o.name, o.former_username, o.reason) for o in orphans] == [
            ("jupyterlab-a-zz_home", None, "no user is named 'a-zz'")
        ]

    def test_a_volume_of_the_current_holder_is_no_orphan_and_ends_the_search(self):
        alice = HubUser(name="alice", id=2, created=CREATED)
        listing = [VolumeInfo("jupyterlab-alice_home", owner=owner_key(2, CREATED))]
        assert find_orphans(listing, [alice], VOLUMES, NAMING) == []
