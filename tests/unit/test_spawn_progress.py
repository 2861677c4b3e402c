"""The steps of a start and what a failed start says: each step's percentage and message, a
percentage that only grows, the pull's tally, and the log tail (at most 50 lines, each clipped,
control characters and terminal escapes removed)."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue
from stellars.domain.spawn_progress import (
    IMAGE_FIRST,
    IMAGE_LAST,
    LOG_LINE_WIDTH,
    LOG_LINES,
    REASON_LIMIT,
    STEP_PERCENT,
    ProgressEvent,
    ProgressTrail,
    PullTally,
    SpawnStep,
    StartFailure,
    clean_line,
    container_started,
    gpus_assigned,
    image_present,
    image_pulling,
    log_tail,
    serving,
    volumes_prepared,
    waiting_for_lab,
)


def test_the_steps_grow_in_the_order_a_start_goes_through_them():
    events = [
        volumes_prepared(),
        gpus_assigned(0),
        image_pulling("lab:1"),
        image_pulling("lab:1", 5, 10),
        image_present("lab:1", 2**30),
        container_started("jupyterlab-ann"),
        waiting_for_lab(),
        serving("/user/ann/"),
    ]
    assert [event.percent for event in events] == [10, 20, 30, 45, 60, 70, 80, 100]
    assert [event.step for event in events] == [
        SpawnStep.VOLUMES,
        SpawnStep.GPUS,
        SpawnStep.IMAGE,
        SpawnStep.IMAGE,
        SpawnStep.IMAGE,
        SpawnStep.CONTAINER,
        SpawnStep.WAITING,
        SpawnStep.SERVING,
    ]
    assert list(STEP_PERCENT) == list(SpawnStep)
    assert list(STEP_PERCENT.values()) == sorted(set(STEP_PERCENT.values()))


def test_each_step_says_what_happened():
    assert volumes_prepared().message == "Your volumes are ready."
    assert gpus_assigned(0).message == "No GPU for this server."
    assert gpus_assigned(1).message == "1 GPU assigned to your server."
    assert gpus_assigned(2).message == "2 GPUs assigned to your server."
    assert gpus_assigned(0, every_gpu=True).message == (
        "Every GPU of the machine is assigned to your server."
    )
    assert image_present("lab:1").message == "The image lab:1 is present."
    assert image_present("lab:1", 3 * 2**29).message == "The image lab:1 (1.5 GiB) is present."
    assert image_pulling("lab:1").message == "Pulling the image lab:1..."
    assert image_pulling("lab:1", 2**20, 2**30).message == (
        "Pulling the image lab:1: 1 MiB of 1 GiB."
    )
    assert container_started("jupyterlab-ann").message == "The container jupyterlab-ann started."
    assert waiting_for_lab().message == "Waiting for JupyterLab to answer..."
    assert serving("/user/ann/").message == "JupyterLab is serving at /user/ann/."


def test_a_pull_goes_from_its_first_to_its_last_percentage_with_the_bytes():
    assert image_pulling("i", 0, 100).percent == IMAGE_FIRST
    assert image_pulling("i", 1, 100).percent == IMAGE_FIRST  # rounded down
    assert image_pulling("i", 50, 100).percent == 45
    assert image_pulling("i", 99, 100).percent == IMAGE_LAST - 1
    assert image_pulling("i", 100, 100).percent == IMAGE_LAST
    assert image_pulling("i", 500, 100).percent == IMAGE_LAST  # never past the total
    assert image_pulling("i", -5, 100).percent == IMAGE_FIRST
    assert image_pulling("i", -5, 100).message == "Pulling the image i: 0 bytes of 100 bytes."
    assert image_pulling("i", 50, 0).percent == IMAGE_FIRST  # total unknown
    assert image_pulling("i", 50, -1).message == "Pulling the image i..."
    # The bytes done default to none: a total announced before any byte came.
    assert image_pulling("i", total=100) == ProgressEvent(
        SpawnStep.IMAGE, IMAGE_FIRST, "Pulling the image i: 0 bytes of 100 bytes."
    )


@given(st.integers(-10, 10**12), st.integers(1, 10**12))
def test_a_pull_percentage_stays_within_the_image_step(done, total):
    percent = image_pulling("i", done, total).percent
    assert IMAGE_FIRST <= percent <= IMAGE_LAST
    assert (percent == IMAGE_LAST) == (done >= total)


def test_an_event_is_checked_and_travels_as_jupyterhub_carries_it():
    event = ProgressEvent(SpawnStep.WAITING, 80, "hi")
    assert event.as_jupyterhub_event() == {
        "progress": 80,
        "message": "hi",
        "stellars_step": "waiting",
    }
    assert ProgressEvent(SpawnStep.VOLUMES, 0, "").percent == 0
    assert ProgressEvent(SpawnStep.VOLUMES, 100, "").percent == 100
    for bad in (-1, 101):
        with pytest.raises(InvalidValue) as raised:
            ProgressEvent(SpawnStep.VOLUMES, bad, "")
        assert (raised.value.field, raised.value.message) == (
            "percent",
            f"must be between 0 and 100, got {bad}",
        )
    for bad in (True, 5.0, "5"):
        with pytest.raises(InvalidValue) as raised:
            ProgressEvent(SpawnStep.VOLUMES, bad, "")  # type: ignore[arg-type]
        assert (raised.value.field, raised.value.message) == ("percent", "must be a whole number")
    with pytest.raises(InvalidValue) as raised:
        ProgressEvent("volumes", 5, "")  # type: ignore[arg-type]
    assert (raised.value.field, raised.value.message) == ("step", "must be a SpawnStep")


def test_the_trail_never_shows_a_percentage_going_back():
    trail = ProgressTrail()
    trail, first = trail.shown(image_pulling("i", 50, 100))
    assert (trail.percent, first.percent) == (45, 45)
    # Another layer announced: 50 of 200 would be 37 %; the trail keeps 45 %, and the words.
    trail, second = trail.shown(image_pulling("i", 50, 200))
    assert (trail.percent, second.percent) == (45, 45)
    assert second.message == "Pulling the image i: 50 bytes of 200 bytes."
    assert second.step is SpawnStep.IMAGE
    trail, third = trail.shown(image_pulling("i", 90, 100))
    assert (trail.percent, third.percent) == (57, 57)
    same, again = trail.shown(ProgressEvent(SpawnStep.IMAGE, 57, "x"))
    assert same.percent == 57 and again.percent == 57


@given(st.lists(st.integers(0, 100), max_size=30))
def test_the_trail_only_grows(percents):
    trail = ProgressTrail()
    shown = []
    for percent in percents:
        trail, event = trail.shown(ProgressEvent(SpawnStep.IMAGE, percent, ""))
        shown.append(event.percent)
    assert shown == sorted(shown)
    assert shown == [max(percents[: i + 1]) for i in range(len(percents))]


def test_the_pull_tally_sums_its_layers_as_they_grow():
    tally = PullTally()
    assert (tally.done, tally.total) == (0, 0)
    tally = tally.with_layer("a", 10, 100).with_layer("b", 0, 50)
    assert (tally.done, tally.total) == (10, 150)
    tally = tally.with_layer("a", 100, 100)
    assert (tally.done, tally.total) == (100, 150)
    assert tally.with_layer("a", 5, 100).done == 100  # a layer's bytes never go back
    assert tally.with_layer("b", 80, 50).layers["b"] == (50, 50)  # never past its total
    assert tally.with_layer("c", 5, 0).layers["c"] == (0, 0)  # no total: nothing known
    assert tally.with_layer("c", -5, -1).layers["c"] == (0, 0)
    assert tally.with_layer("c", -5, 10).layers["c"] == (0, 10)
    assert tally.completed("b").layers["b"] == (50, 50)
    assert tally.completed("c") == tally  # never announced: still unknown
    assert tally.with_layer("c", 0, 0).completed("c").layers["c"] == (0, 0)


def test_a_layer_never_records_negative_bytes_whatever_the_tally_held():
    # A tally built with a negative figure (not by `with_layer`): the next word of the engine
    # still counts a negative done as 0, not as the higher of the two negatives.
    held = PullTally(MappingProxyType({"a": (-5, 10)}))
    assert held.with_layer("a", -3, 10).layers["a"] == (0, 10)
    assert held.with_layer("a", 4, 10).layers["a"] == (4, 10)


def test_a_log_line_loses_its_escapes_and_controls_and_is_clipped():
    assert clean_line("\x1b[31mred\x1b[0m text") == "red text"
    assert clean_line("\x1b]0;title\x07after") == "after"
    assert clean_line("\x1b]0;title\x1b\\after") == "after"
    assert clean_line("\x1bcreset") == "reset"
    assert clean_line("\x9b1mbold") == "bold"
    assert clean_line("a\x00b\x08c\x7fd\x85e\x1b") == "abcde"
    assert clean_line("a\tb   ") == "a    b"
    assert clean_line("<script>alert(1)</script>") == "<script>alert(1)</script>"  # plain text
    assert clean_line("é ü 漢") == "é ü 漢"
    assert clean_line("x" * LOG_LINE_WIDTH) == "x" * LOG_LINE_WIDTH
    assert clean_line("x" * (LOG_LINE_WIDTH + 1)) == "x" * (LOG_LINE_WIDTH - 3) + "..."
    assert clean_line("abcdef", 5) == "ab..."


def test_the_log_tail_keeps_the_last_fifty_lines_without_trailing_blanks():
    text = "".join(f"line {n}\n" for n in range(1, 81)) + "\n\n  \n"
    tail = log_tail(text)
    assert len(tail) == LOG_LINES == 50
    assert tail[0] == "line 31" and tail[-1] == "line 80"
    assert log_tail("a\r\nb\rc\nd") == ("a", "b", "c", "d")
    assert log_tail("") == ()
    assert log_tail("\n\n") == ()
    assert log_tail("a\n\nb") == ("a", "", "b")  # blank lines inside are kept
    assert log_tail("a\nb\nc", lines=2) == ("b", "c")
    assert log_tail("a\nb", lines=0) == ()
    assert log_tail("a\nb", lines=1) == ("b",)
    assert log_tail("abcdef", width=4) == ("a...",)


@given(st.text(max_size=3000), st.integers(0, 60))
def test_a_log_tail_is_short_and_clean(text, lines):
    tail = log_tail(text, lines)
    assert len(tail) <= lines
    for line in tail:
        assert len(line) <= LOG_LINE_WIDTH
        assert not any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in line)
    assert not tail or tail[-1] != ""


def test_a_failure_says_its_reason_then_its_log_lines():
    failure = StartFailure.with_log(
        "Your lab exited with code 3 as it started.", "boom\n<script>x</script>\n"
    )
    assert failure.log == ("boom", "<script>x</script>")
    assert failure.log_heading == "The last 2 lines of the container's log:"
    assert failure.message == (
        "Your lab exited with code 3 as it started.\n"
        "The last 2 lines of the container's log:\nboom\n<script>x</script>"
    )
    one = StartFailure("r", ("only",))
    assert one.log_heading == "The last line of the container's log:"
    assert one.message == "r\nThe last line of the container's log:\nonly"
    assert StartFailure("The image is missing.").message == "The image is missing."
    many = StartFailure.with_log("r", "\n".join(str(n) for n in range(200)))
    assert len(many.log) == LOG_LINES and many.log[-1] == "199"


def test_a_failure_reason_is_one_clean_clipped_sentence():
    assert StartFailure("  a\nb\x1b[1m  c\t d ").reason == "a b c d"
    long = StartFailure("x" * (REASON_LIMIT + 10)).reason
    assert len(long) == REASON_LIMIT and long.endswith("...")
    assert StartFailure("x" * REASON_LIMIT).reason == "x" * REASON_LIMIT
    for empty in ("", "  \n", "\x1b[0m"):
        with pytest.raises(InvalidValue) as raised:
            StartFailure(empty)
        assert (raised.value.field, raised.value.message) == (
            "reason",
            "must say why the start failed",
        )


def test_a_failure_log_is_cleaned_and_bounded():
    assert StartFailure("r", ("a\x1b[2Kb", "y" * 400)).log == ("ab", "y" * 297 + "...")
    assert len(StartFailure("r", ("l",) * LOG_LINES).log) == LOG_LINES
    with pytest.raises(InvalidValue) as raised:
        StartFailure("r", ("l",) * (LOG_LINES + 1))
    assert (raised.value.field, raised.value.message) == ("log", "must be at most 50 lines, got 51")


def test_every_kind_of_escape_sequence_goes_whole():
    assert clean_line("\x1b(Bplain\x1b)0") == "plain"
    assert clean_line("\x1b7saved\x1b8") == "saved"
    assert clean_line("\x1b[?25lhidden cursor\x1b[?25h") == "hidden cursor"
