"""The storage quota rule (`stellars.domain.quotas`): usage as the sum of known sizes, unknown
never zero, the states at the exact bounds (90 % warns, more than 100 % is over), the percent
rounded down, the words a user reads, the refusal and warning texts, and the setting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue
from stellars.domain.notifications import MAX_MESSAGE_LENGTH
from stellars.domain.policies import GIB, MIB
from stellars.domain.quotas import (
    WARNING_PERCENT,
    QuotaSettings,
    QuotaState,
    StorageUsage,
    over_quota_reason,
    storage_usage,
    warning_message,
)

#: 4.6 GiB, rounded up to a whole byte: 92 % of 5 GiB.
GIB_4_6 = 4_939_212_391
sizes = st.lists(st.integers(0, 2**50), max_size=5)
quotas = st.integers(1, 2**52)


class TestUsage:
    def test_the_usage_is_the_sum_of_the_sizes(self):
        assert storage_usage([GIB, 2 * GIB, 0], 5 * GIB) == StorageUsage(3 * GIB, 5 * GIB)

    def test_no_volumes_use_nothing(self):
        assert storage_usage([], 5 * GIB) == StorageUsage(0, 5 * GIB)

    @pytest.mark.parametrize("known", [[None], [GIB, None], [None, 0], [0, None, 6 * GIB]])
    def test_a_size_not_known_makes_the_usage_unknown_never_zero(self, known):
        usage = storage_usage(known, 5 * GIB)
        assert usage.used_bytes is None
        assert usage.state is QuotaState.UNKNOWN
        assert not usage.warns

    def test_sizes_may_be_any_iterable(self):
        assert storage_usage(iter([1, 2]), None) == StorageUsage(3, None)

    @given(sizes, st.one_of(st.none(), quotas))
    def test_known_sizes_add_up(self, known, quota):
        usage = storage_usage(known, quota)
        assert usage.used_bytes == sum(known)
        assert usage.quota_bytes == quota

    @given(sizes, st.integers(0, 5), st.one_of(st.none(), quotas))
    def test_any_unknown_size_hides_the_sum(self, known, where, quota):
        mixed: list[int | None] = list(known)
        mixed.insert(min(where, len(mixed)), None)
        assert storage_usage(mixed, quota) == StorageUsage(None, quota)


class TestStates:
    @pytest.mark.parametrize(
        ("used", "quota", "state"),
        [
            (0, 100, QuotaState.UNDER),
            (89, 100, QuotaState.UNDER),
            (90, 100, QuotaState.WARNING),
            (100, 100, QuotaState.WARNING),
            (101, 100, QuotaState.OVER),
            (9, 10, QuotaState.WARNING),  # exactly 90 %
            (8, 10, QuotaState.UNDER),
            (10, 10, QuotaState.WARNING),
            (11, 10, QuotaState.OVER),
            (899, 1000, QuotaState.UNDER),  # 89.9 %
            (900, 1000, QuotaState.WARNING),
            (1000, 1000, QuotaState.WARNING),
            (1001, 1000, QuotaState.OVER),
            (0, 1, QuotaState.UNDER),
            (1, 1, QuotaState.WARNING),
            (2, 1, QuotaState.OVER),
            (5, None, QuotaState.NONE),
            (None, None, QuotaState.NONE),
            (None, 100, QuotaState.UNKNOWN),
        ],
    )
    def test_the_state_at_each_bound(self, used, quota, state):
        assert StorageUsage(used, quota).state is state

    @pytest.mark.parametrize(
        ("used", "quota", "warns"),
        [
            (89, 100, False),
            (90, 100, True),
            (101, 100, True),
            (5, None, False),
            (None, 100, False),
        ],
    )
    def test_warned_at_the_warning_share_and_over(self, used, quota, warns):
        assert StorageUsage(used, quota).warns is warns

    def test_the_warning_share_is_90_percent(self):
        assert WARNING_PERCENT == 90

    @given(st.integers(0, 2**50), quotas)
    def test_the_state_follows_the_exact_shares(self, used, quota):
        state = StorageUsage(used, quota).state
        if used > quota:
            assert state is QuotaState.OVER
        elif used * 10 >= quota * 9:
            assert state is QuotaState.WARNING
        else:
            assert state is QuotaState.UNDER

    @given(st.integers(0, 2**50), quotas)
    def test_the_percent_is_rounded_down(self, used, quota):
        percent = StorageUsage(used, quota).percent
        assert percent is not None
        assert percent * quota <= used * 100 < (percent + 1) * quota

    @pytest.mark.parametrize(
        ("used", "quota", "percent"),
        [(0, 10, 0), (999, 1000, 99), (1000, 1000, 100), (1001, 1000, 100), (25, 10, 250)],
    )
    def test_percents(self, used, quota, percent):
        assert StorageUsage(used, quota).percent == percent

    @pytest.mark.parametrize(("used", "quota"), [(None, 10), (10, None), (None, None)])
    def test_no_percent_without_a_usage_or_a_quota(self, used, quota):
        assert StorageUsage(used, quota).percent is None


class TestWords:
    @pytest.mark.parametrize(
        ("used", "quota", "text"),
        [
            (GIB_4_6, 5 * GIB, "4.6 GiB of 5 GiB (92 %)"),
            (GIB, 5 * GIB, "1 GiB of 5 GiB (20 %)"),
            (0, 5 * GIB, "0 bytes of 5 GiB (0 %)"),
            (5 * GIB, 5 * GIB, "5 GiB of 5 GiB (100 %)"),
            (int(5.5 * GIB), 5 * GIB, "5.5 GiB of 5 GiB (110 %): over the quota"),
            (2 * MIB, MIB, "2 MiB of 1 MiB (200 %): over the quota"),
            (None, 5 * GIB, "usage not known yet (quota 5 GiB)"),
            (3 * GIB, None, "3 GiB used (no quota)"),
            (None, None, "usage not known yet (no quota)"),
        ],
    )
    def test_what_the_user_reads(self, used, quota, text):
        assert StorageUsage(used, quota).text == text

    def test_the_refusal_names_the_usage_the_quota_and_the_reset(self):
        usage = StorageUsage(2 * MIB, MIB)
        reason = over_quota_reason(
            "ann", usage, home_url="/hub/home", reset_url="/hub/api/users/ann/manage-volumes"
        )
        assert reason == (
            "The server of ann cannot start: its volumes use 2 MiB, more than the storage "
            "quota of 1 MiB (200 %). Free space by resetting volumes: Manage volumes on the "
            "home page (/hub/home), or DELETE /hub/api/users/ann/manage-volumes with the "
            "volumes to reset; then start again."
        )

    @pytest.mark.parametrize(
        "usage",
        [
            StorageUsage(MIB, MIB),
            StorageUsage(None, MIB),
            StorageUsage(5, None),
            StorageUsage(0, 1),
        ],
    )
    def test_only_a_usage_over_its_quota_is_a_refusal(self, usage):
        with pytest.raises(InvalidValue) as raised:
            over_quota_reason("ann", usage, home_url="/h", reset_url="/r")
        assert (raised.value.field, raised.value.message) == (
            "usage",
            f"is not over a quota: {usage.text}",
        )

    def test_the_warning_says_the_usage_and_what_happens_over_the_quota(self):
        text = warning_message(StorageUsage(GIB_4_6, 5 * GIB))
        assert text == (
            "Storage: your volumes use 4.6 GiB of 5 GiB (92 %) of your quota. Over it, your "
            "server will not start again: delete files you do not need."
        )
        assert len(text) <= MAX_MESSAGE_LENGTH

    def test_a_warning_too_long_for_a_notification_is_cut_to_the_usage(self):
        usage = StorageUsage(int(1023.99 * 1024 * GIB), 1023 * 1024 * GIB)
        long = (
            f"Storage: your volumes use {usage.text} of your quota. Over it, your server will "
            "not start again: delete files you do not need."
        )
        assert len(long) > MAX_MESSAGE_LENGTH
        assert warning_message(usage) == f"Storage: your volumes use {usage.text} of your quota."

    def test_a_warning_of_exactly_the_longest_length_is_kept_whole(self):
        longest = StorageUsage(4_992_899_482, int(5.5 * GIB))
        assert longest.text == "4.65 GiB of 5.5 GiB (84 %)"
        assert len(warning_message(longest)) == MAX_MESSAGE_LENGTH
        assert warning_message(longest).endswith("delete files you do not need.")
        one_more = StorageUsage(4_992_899_482, int(5.25 * GIB))
        assert one_more.text == "4.65 GiB of 5.25 GiB (88 %)"
        assert warning_message(one_more) == (
            "Storage: your volumes use 4.65 GiB of 5.25 GiB (88 %) of your quota."
        )

    @given(st.integers(0, 2**62), st.integers(1, 2**62))
    def test_every_warning_fits_a_notification(self, used, quota):
        assert len(warning_message(StorageUsage(used, quota))) <= MAX_MESSAGE_LENGTH


class TestValues:
    @pytest.mark.parametrize("used", [-1, 1.5, True, "1"])
    def test_a_usage_is_whole_bytes(self, used):
        with pytest.raises(InvalidValue) as raised:
            StorageUsage(used, 10)
        assert raised.value.field == "used_bytes"
        assert raised.value.message == f"must be a whole number of bytes >= 0, got {used!r}"

    @pytest.mark.parametrize("quota", [0, -1, 2.0, False])
    def test_a_quota_is_at_least_one_byte(self, quota):
        with pytest.raises(InvalidValue) as raised:
            StorageUsage(10, quota)
        assert raised.value.field == "quota_bytes"
        assert raised.value.message == f"must be a whole number of bytes >= 1, got {quota!r}"

    def test_the_least_values(self):
        assert StorageUsage(0, 1).state is QuotaState.UNDER


class TestSetting:
    def test_no_quota_by_default(self):
        assert QuotaSettings().storage_quota == 0
        assert QuotaSettings().quota is None

    def test_0_is_no_quota(self):
        assert QuotaSettings(storage_quota=0).quota is None

    @pytest.mark.parametrize("quota", [MIB, 5 * GIB, 2**62])
    def test_a_quota_in_bytes(self, quota):
        assert QuotaSettings(storage_quota=quota).quota == quota

    @pytest.mark.parametrize(
        ("quota", "message"),
        [
            (MIB - 1, "must be 0 (no quota) or at least 1 MiB, got 1048575 bytes"),
            (1, "must be 0 (no quota) or at least 1 MiB, got 1 bytes"),
            (-1, "must be 0 (no quota) or at least 1 MiB, got -1 bytes"),
            (512 * 1024, "must be 0 (no quota) or at least 1 MiB, got 524288 bytes"),
            (1.5, "must be a whole number, got 1.5"),
            (True, "must be a whole number, got True"),
            ("5", "must be a whole number, got '5'"),
        ],
    )
    def test_refused_values_name_the_field(self, quota, message):
        with pytest.raises(InvalidValue) as raised:
            QuotaSettings(storage_quota=quota)
        assert (raised.value.field, raised.value.message) == ("storage_quota", message)

    def test_the_least_quota_is_a_group_policys(self):
        assert QuotaSettings.LIMITS["storage_quota"] == (MIB, None)
