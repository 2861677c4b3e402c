"""The audit feed's rules: what a valid entry is, how a query filters and pages, retention,
and CSV that a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.audit import (
    CSV_COLUMNS,
    DEFAULT_PAGE,
    DETAIL_LIMIT,
    DETAILS_LIMIT,
    NAME_LIMIT,
    PAGE_LIMIT,
    RETENTION_BOUNDS,
    AuditAction,
    AuditCursor,
    AuditEntry,
    AuditOutcome,
    AuditPage,
    AuditQuery,
    csv_cell,
    csv_row,
    details_of,
    normal_address,
    outcome_of_status,
    page_of,
    query_of,
    render_csv,
    retention_cutoff,
    serialise_details,
)
from stellars.domain.errors import InvalidValue

AT = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def entry(**fields: object) -> AuditEntry:
    values: dict[str, object] = {"actor": "admin", "action": AuditAction.VOLUME_RESET, "at": AT}
    values.update(fields)
    return AuditEntry(**values)  # type: ignore[arg-type]


def field_of(call) -> str:
    with pytest.raises(InvalidValue) as raised:
        call()
    return raised.value.field


# --- entries -------------------------------------------------------------------------------


def test_an_entry_with_defaults():
    made = entry()
    assert (made.target, made.subject, made.address, made.outcome, made.detail) == (
        "",
        "",
        "",
        AuditOutcome.OK,
        "",
    )
    assert (made.details, made.id) == ({}, 0)
    assert made.users == ("admin",)
    assert entry(target="alice").users == ("admin", "alice")


def test_the_actions_and_outcomes_are_a_closed_set():
    assert {a.value for a in AuditAction} == {
        "signup-authorised",
        "signup-discarded",
        "password-changed",
        "user-created",
        "user-renamed",
        "user-deleted",
        "passphrase-issued",
        "admin-changed",
        "server-started",
        "server-stopped",
        "server-restarted",
        "volume-reset",
        "volume-deleted",
        "extension-granted",
        "broadcast-sent",
        "policy-changed",
        "group-changed",
        "activity-reset",
    }
    assert [o.value for o in AuditOutcome] == ["ok", "refused", "failed"]
    assert field_of(lambda: entry(action="volume-reset")) == "action"
    assert field_of(lambda: entry(outcome="ok")) == "outcome"


def test_the_time_is_kept_in_utc_and_must_be_aware():
    local = AT.astimezone(timezone(timedelta(hours=3)))
    assert entry(at=local).at.utcoffset() == timedelta(0)
    assert entry(at=local).at == AT
    assert field_of(lambda: entry(at=AT.replace(tzinfo=None))) == "at"


@pytest.mark.parametrize("name", ["actor", "target", "subject"])
def test_names_are_text_of_at_most_the_hubs_width(name):
    assert getattr(entry(**{name: "n" * NAME_LIMIT}), name) == "n" * NAME_LIMIT
    assert field_of(lambda: entry(**{name: "n" * (NAME_LIMIT + 1)})) == name
    assert field_of(lambda: entry(**{name: 5})) == name


def test_an_actor_is_required_a_target_and_subject_are_not():
    assert field_of(lambda: entry(actor="")) == "actor"
    assert field_of(lambda: entry(actor="  ")) == "actor"
    assert entry(target="", subject="").target == ""


@pytest.mark.parametrize(
    ("given_address", "kept"),
    [
        ("", ""),
        ("10.0.0.7", "10.0.0.7"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:10.0.0.7", "::ffff:a00:7"),
    ],
)
def test_an_address_is_kept_in_its_standard_form(given_address, kept):
    assert entry(address=given_address).address == kept
    assert normal_address(given_address) == kept


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.256", " 10.0.0.1", "10.0.0.1\n", 7, None])
def test_anything_but_an_ip_address_is_refused(bad):
    assert field_of(lambda: entry(address=bad)) == "address"


def test_a_detail_is_clipped_not_refused():
    assert entry(detail="d" * DETAIL_LIMIT).detail == "d" * DETAIL_LIMIT
    clipped = entry(detail="d" * (DETAIL_LIMIT + 1)).detail
    assert clipped == "d" * (DETAIL_LIMIT - 3) + "..."
    assert field_of(lambda: entry(detail=3)) == "detail"


def test_details_are_normalised_to_what_json_gives_back():
    made = entry(details={"names": ("a", "b"), "n": 1, "ok": True, "none": None})
    assert made.details == {"names": ["a", "b"], "n": 1, "ok": True, "none": None}
    assert serialise_details({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    assert details_of('{"a": 2}') == {"a": 2}
    assert serialise_details({"é": "ü"}) == '{"é": "ü"}'


@pytest.mark.parametrize(
    "bad",
    [[1, 2], "text", {"x": float("nan")}, {"x": float("inf")}, {"x": object()}, {"x": {1, 2}}],
)
def test_details_that_are_not_a_json_object_are_refused(bad):
    assert field_of(lambda: entry(details=bad)) == "details"


def test_details_are_limited_in_size():
    fits = {"x": "y" * (DETAILS_LIMIT - len('{"x": ""}'))}
    assert len(serialise_details(fits)) == DETAILS_LIMIT
    assert entry(details=fits).details == fits
    too_big = {"x": "y" * (DETAILS_LIMIT - len('{"x": ""}') + 1)}
    assert field_of(lambda: entry(details=too_big)) == "details"
    assert field_of(lambda: details_of("[1]")) == "details"


def test_an_id_is_a_whole_number_from_zero():
    assert entry(id=0).id == 0
    assert entry(id=9).id == 9
    assert field_of(lambda: entry(id=-1)) == "id"
    assert field_of(lambda: entry(id=True)) == "id"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, AuditOutcome.OK),
        (204, AuditOutcome.OK),
        (399, AuditOutcome.OK),
        (400, AuditOutcome.REFUSED),
        (403, AuditOutcome.REFUSED),
        (409, AuditOutcome.REFUSED),
        (499, AuditOutcome.REFUSED),
        (500, AuditOutcome.FAILED),
        (503, AuditOutcome.FAILED),
    ],
)
def test_the_outcome_of_a_status(status, outcome):
    assert outcome_of_status(status) is outcome


# --- queries -------------------------------------------------------------------------------


def test_a_query_with_defaults_matches_everything():
    query = AuditQuery()
    assert (query.user, query.action, query.since, query.until, query.before, query.limit) == (
        "",
        None,
        None,
        None,
        None,
        DEFAULT_PAGE,
    )
    assert query.matches(entry(id=5))


def test_a_user_matches_the_actor_or_the_target_exactly():
    query = AuditQuery(user="alice")
    assert query.matches(entry(actor="alice"))
    assert query.matches(entry(target="alice"))
    assert not query.matches(entry(actor="bob", target="bob"))
    assert not query.matches(entry(actor="alic", target="alicea"))


def test_an_action_matches_only_itself():
    query = AuditQuery(action=AuditAction.USER_DELETED)
    assert query.matches(entry(action=AuditAction.USER_DELETED))
    assert not query.matches(entry(action=AuditAction.VOLUME_RESET))


def test_since_is_inclusive_and_until_exclusive():
    tick = timedelta(microseconds=1)
    assert AuditQuery(since=AT).matches(entry(at=AT))
    assert not AuditQuery(since=AT).matches(entry(at=AT - tick))
    assert AuditQuery(until=AT).matches(entry(at=AT - tick))
    assert not AuditQuery(until=AT).matches(entry(at=AT))


def test_the_cursor_matches_what_comes_after_it_newest_first_by_time_then_id():
    tick = timedelta(microseconds=1)
    query = AuditQuery(before=AuditCursor(AT, 5))
    assert query.matches(entry(at=AT, id=4))  # same instant, smaller id
    assert not query.matches(entry(at=AT, id=5))  # the cursor's own entry
    assert not query.matches(entry(at=AT, id=6))
    assert query.matches(entry(at=AT - tick, id=99))  # older, whatever its id
    assert not query.matches(entry(at=AT + tick, id=1))  # newer, whatever its id


def test_a_cursor_is_a_time_and_an_id_and_reads_back_from_its_text():
    cursor = AuditCursor(AT.astimezone(timezone(timedelta(hours=2))), 17)
    assert cursor.at == AT and cursor.at.utcoffset() == timedelta(0)
    assert cursor.text == "17-1777636800000000"
    assert AuditCursor.parse(cursor.text) == cursor
    assert AuditCursor.parse("1-0") == AuditCursor(datetime(1970, 1, 1, tzinfo=timezone.utc), 1)
    assert AuditCursor.of(entry(id=3)) == AuditCursor(AT, 3)
    assert field_of(lambda: AuditCursor(AT, 0)) == "before"
    assert field_of(lambda: AuditCursor(AT.replace(tzinfo=None), 1)) == "before"
    assert AuditCursor(AT, 2) < AuditCursor(AT, 3) < AuditCursor(AT + timedelta(1), 1)


@given(st.integers(1, 2**62), st.integers(0, 2**50))
def test_every_cursor_reads_back_from_its_text(entry_id, micros):
    cursor = AuditCursor(
        datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros), entry_id
    )
    assert AuditCursor.parse(cursor.text) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "17",
        "17-",
        "-5",
        "a-5",
        "17-5-6",
        "17--5",
        "\u0661-5",  # a digit, but not an ASCII one
        "0-5",
        "1-" + "9" * 21,
        "1-99999999999999999999",
    ],
)
def test_anything_but_a_cursors_text_is_refused_as_before(text):
    assert field_of(lambda: AuditCursor.parse(text)) == "before"


def test_a_query_refuses_bad_values_naming_them():
    assert field_of(lambda: AuditQuery(limit=0)) == "limit"
    assert field_of(lambda: AuditQuery(limit=PAGE_LIMIT + 1)) == "limit"
    assert AuditQuery(limit=1).limit == 1
    assert AuditQuery(limit=PAGE_LIMIT).limit == PAGE_LIMIT
    assert field_of(lambda: AuditQuery(before=17)) == "before"
    assert AuditQuery(before=AuditCursor(AT, 1)).before == AuditCursor(AT, 1)
    assert field_of(lambda: AuditQuery(since=AT.replace(tzinfo=None))) == "since"
    assert field_of(lambda: AuditQuery(until=AT.replace(tzinfo=None))) == "until"
    assert field_of(lambda: AuditQuery(since=AT, until=AT)) == "until"
    assert AuditQuery(since=AT, until=AT + timedelta(microseconds=1)).until is not None
    assert field_of(lambda: AuditQuery(action="volume-reset")) == "action"
    assert field_of(lambda: AuditQuery(user="u" * (NAME_LIMIT + 1))) == "user"


def test_a_query_of_request_arguments():
    query = query_of(
        {
            "user": "alice",
            "action": "volume-reset",
            "since": "2026-05-01",
            "until": "2026-05-02T10:00:00+02:00",
            "before": "17-1777636800000000",
            "limit": "20",
            "format": "csv",
        }
    )
    assert query == AuditQuery(
        user="alice",
        action=AuditAction.VOLUME_RESET,
        since=datetime(2026, 5, 1, tzinfo=timezone.utc),
        until=datetime(2026, 5, 2, 8, tzinfo=timezone.utc),
        before=AuditCursor(AT, 17),
        limit=20,
    )
    assert query_of({}) == AuditQuery()
    assert query_of({"action": "", "limit": ""}) == AuditQuery()


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"action": "explode"}, "action"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-05-01T10:00"}, "since"),  # no zone: a guess
        ({"until": "2026-13-01"}, "until"),
        ({"before": "-1"}, "before"),
        ({"before": "17"}, "before"),
        ({"before": "0-1777636800000000"}, "before"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": "١٢"}, "limit"),  # digits, but not ASCII ones
        ({"limit": "501"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "until"),
    ],
)
def test_a_bad_argument_is_named(arguments, field):
    assert field_of(lambda: query_of(arguments)) == field


def test_page_of_says_whether_another_page_follows():
    rows = [entry(id=n) for n in (9, 7, 4)]
    assert page_of(rows, 3) == AuditPage(tuple(rows), None)
    assert page_of(rows, 2) == AuditPage(tuple(rows[:2]), AuditCursor(AT, 7))
    assert page_of([], 2) == AuditPage((), None)


# --- retention -----------------------------------------------------------------------------


def test_the_retention_cutoff():
    assert retention_cutoff(AT, 30) == AT - timedelta(days=30)
    low, high = RETENTION_BOUNDS
    assert retention_cutoff(AT, low) == AT - timedelta(days=low)
    assert retention_cutoff(AT, high) == AT - timedelta(days=high)
    with pytest.raises(InvalidValue):
        retention_cutoff(AT, low - 1)
    with pytest.raises(InvalidValue):
        retention_cutoff(AT, high + 1)
    assert field_of(lambda: retention_cutoff(AT.replace(tzinfo=None), 30)) == "now"


# --- CSV -----------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_starting_like_a_formula_gets_an_apostrophe(start):
    assert csv_cell(f"{start}SUM(A1)") == f"'{start}SUM(A1)"


@pytest.mark.parametrize("text", ["", "alice", "'=x", " =x", "a=b", "10.0.0.1", "2026-05-01"])
def test_other_cells_are_kept(text):
    assert csv_cell(text) == text


@given(st.text())
def test_no_escaped_cell_starts_like_a_formula(text):
    escaped = csv_cell(text)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))
    kept = text.replace("\x00", "\ufffd")
    assert escaped in (kept, f"'{kept}")


def test_a_row_has_the_columns_in_order_and_escapes_every_cell():
    made = entry(
        id=3,
        actor="=cmd",
        target="@bob",
        subject="-gpu",
        address="10.0.0.7",
        outcome=AuditOutcome.REFUSED,
        detail="+1",
        details={"failed": 1},
    )
    assert csv_row(made) == [
        "3",
        "2026-05-01T12:00:00+00:00",
        "'=cmd",
        "volume-reset",
        "'@bob",
        "'-gpu",
        "10.0.0.7",
        "refused",
        "'+1",
        '{"failed": 1}',
    ]
    assert csv_row(entry())[-1] == ""
    assert len(CSV_COLUMNS) == len(csv_row(made))


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=20).filter(str.strip),
            st.text(max_size=20),
        ),
        max_size=5,
    )
)
def test_csv_reads_back_as_the_rows(rows):
    # Any text, NUL included (written as U+FFFD, which every Python's csv module writes).
    entries = [
        entry(actor=actor, detail=detail, id=n + 1) for n, (actor, detail) in enumerate(rows)
    ]
    text = render_csv(entries)
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read[0] == list(CSV_COLUMNS)
    assert read[1:] == [csv_row(made) for made in entries]
    assert text.endswith("\r\n")


# --- exact messages --------------------------------------------------------------------------
# A refusal reaches the admin as "<field>: <message>"; each one names the rule and echoes the
# value that broke it.


def message_of(call) -> str:
    with pytest.raises(InvalidValue) as raised:
        call()
    return str(raised.value)


NAIVE = AT.replace(tzinfo=None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"actor": 5}, "actor: must be text, got 5"),
        ({"actor": " "}, "actor: must be a non-empty string"),
        ({"target": 5}, "target: must be text, got 5"),
        ({"subject": "n" * 256}, "subject: must be at most 255 characters, got 256"),
        ({"action": "volume-reset"}, "action: must be an AuditAction, got 'volume-reset'"),
        ({"outcome": "ok"}, "outcome: must be an AuditOutcome, got 'ok'"),
        ({"at": NAIVE}, "at: must be a timezone-aware datetime"),
        ({"address": 7}, "address: must be text, got 7"),
        ({"address": "localhost"}, "address: must be an IP address, got 'localhost'"),
        ({"detail": 3}, "detail: must be text, got 3"),
        ({"details": [1, 2]}, "details: must be a mapping, got [1, 2]"),
        # the JSON encoder's own words, clipped to an echo's width
        (
            {"details": {"x": float("nan")}},
            "details: must be JSON-able: Out of range float values are not JSO...",
        ),
        (
            {"details": {"x": object()}},
            "details: must be JSON-able: Object of type object is not JSON ser...",
        ),
        (
            {"details": {"x": "y" * 3992}},
            "details: must be at most 4000 characters as JSON, got 4001",
        ),
        ({"id": -1}, "id: must be at least 0, got -1"),
    ],
)
def test_a_bad_entry_is_refused_with_its_exact_message(fields, message):
    assert message_of(lambda: entry(**fields)) == message


def test_details_that_are_not_an_object_read_back_with_their_exact_message():
    assert message_of(lambda: details_of("[1]")) == "details: must be a JSON object"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"user": 5}, "user: must be text, got 5"),
        ({"action": "volume-reset"}, "action: must be an AuditAction, got 'volume-reset'"),
        ({"since": AT, "until": AT}, "until: must be later than since"),
        ({"before": 17}, "before: must be an AuditCursor, got 17"),
        ({"limit": 0}, "limit: must be between 1 and 500, got 0"),
    ],
)
def test_a_bad_query_is_refused_with_its_exact_message(fields, message):
    assert message_of(lambda: AuditQuery(**fields)) == message  # type: ignore[arg-type]


def test_a_bad_cursor_is_refused_with_its_exact_message():
    assert message_of(lambda: AuditCursor.parse("17")) == (
        "before: must be a cursor of the feed (a page's next_before), got '17'"
    )
    assert message_of(lambda: AuditCursor.parse("1-99999999999999999999")) == (
        "before: is out of range, got '1-99999999999999999999'"
    )


def test_a_cursors_numbers_are_at_most_twenty_digits():
    twenty, twenty_one = "9" * 20, "9" * 21
    assert AuditCursor.parse(f"{twenty}-0") == AuditCursor(
        datetime(1970, 1, 1, tzinfo=timezone.utc), int(twenty)
    )
    not_a_cursor = "before: must be a cursor of the feed (a page's next_before), got "
    assert message_of(lambda: AuditCursor.parse(f"{twenty_one}-0")) == (
        f"{not_a_cursor}'{twenty_one}-0'"
    )
    # 21 digits are refused as no cursor at all, before their size is ever computed
    assert message_of(lambda: AuditCursor.parse(f"1-{twenty_one}")) == (
        f"{not_a_cursor}'1-{twenty_one}'"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"colour": "red"}, "colour: is not a filter of the audit feed"),
        ({"zone": "utc", "colour": "red"}, "colour: is not a filter of the audit feed"),
        (
            {"action": "explode"},
            "action: must be one of signup-authorised, signup-discarded, user-created, "
            "user-renamed, user-deleted, passphrase-issued, password-changed, admin-changed, "
            "server-started, server-stopped, server-restarted, volume-reset, volume-deleted, "
            "extension-granted, broadcast-sent, policy-changed, group-changed, activity-reset",
        ),
        ({"since": "yesterday"}, "since: must be an ISO 8601 date or time, got 'yesterday'"),
        ({"until": "2026-13-01"}, "until: must be an ISO 8601 date or time, got '2026-13-01'"),
        ({"limit": "1.5"}, "limit: must be a whole number, got '1.5'"),
        ({"before": "17"}, "before: must be a cursor of the feed (a page's next_before), got '17'"),
    ],
)
def test_a_bad_argument_is_refused_with_its_exact_message(arguments, message):
    assert message_of(lambda: query_of(arguments)) == message


def test_a_bad_retention_is_refused_with_its_exact_message():
    assert message_of(lambda: retention_cutoff(AT, 0)) == (
        "retention days: must be between 1 and 36500, got 0"
    )
    assert message_of(lambda: retention_cutoff(NAIVE, 30)) == (
        "now: must be a timezone-aware datetime"
    )


def test_a_nul_in_a_csv_cell_is_written_as_the_replacement_character():
    assert csv_cell("a\x00b\x00") == "a\ufffdb\ufffd"
    assert csv_cell("\x00=1") == "\ufffd=1"
    assert csv_cell("=\x00") == "'=\ufffd"
    text = render_csv([entry(actor="x\x00y", id=1)])
    assert "\x00" not in text
    assert "x\ufffdy" in text
