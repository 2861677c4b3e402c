"""The steps of a server's start as its user watches them, and what a failed start says.

A start goes through these steps, in this order, each an event with a percentage and a message
(JupyterHub's own first event, "Server requested", is 0 %):

- **volumes prepared** (10 %): the user's volumes exist and belong to them;
- **GPUs assigned** (20 %): which GPUs the server gets, or none;
- **image** (30 % to 60 %): the lab image is present (with its size), or is being pulled (with
  what the engine has said of its size: so many bytes of so many; the percentage grows with
  the bytes from 30 % to 60 % when the total is known, and stays at 30 % while it is not);
- **container started** (70 %);
- **waiting for JupyterLab to answer** (80 %): the container runs, the lab is not serving yet;
- **serving** (100 %): the lab answers HTTP; only then is the start ready ("ready means
  serving").

The percentage of a start only grows: an event that would go back (a pull whose engine
announces another layer, so that the known total grows faster than the bytes) keeps the
percentage already shown (`ProgressTrail`).

A start that fails says why in one sentence (the reason) and, when a container ran, the last
lines of its log: at most `LOG_LINES` (50), each at most `LOG_LINE_WIDTH` characters, with
terminal escape sequences and every other control character removed (tabs become spaces), so
that nothing in a lab's output can move a cursor, colour a page or start a forged log line.
The text is plain: HTML-escaping happens where it is rendered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from .errors import InvalidValue
from .limits import describe_bytes
from .validation import clip

#: The most lines of a container's log a failed start shows.
LOG_LINES = 50
#: The most characters of one line of that log.
LOG_LINE_WIDTH = 300
#: The most characters of a failed start's reason.
REASON_LIMIT = 500
#: The percentage of the image step while nothing of its size is known.
IMAGE_FIRST = 30
#: The percentage where a pull ends (the image present).
IMAGE_LAST = 60


class SpawnStep(str, Enum):
    """A step of a start, in the order a start goes through them."""

    VOLUMES = "volumes"
    GPUS = "gpus"
    IMAGE = "image"
    CONTAINER = "container"
    WAITING = "waiting"
    SERVING = "serving"


#: The percentage each step reaches (the image step: where it starts).
STEP_PERCENT: Mapping[SpawnStep, int] = MappingProxyType(
    {
        SpawnStep.VOLUMES: 10,
        SpawnStep.GPUS: 20,
        SpawnStep.IMAGE: IMAGE_FIRST,
        SpawnStep.CONTAINER: 70,
        SpawnStep.WAITING: 80,
        SpawnStep.SERVING: 100,
    }
)


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One event of a start: its step, its percentage (0-100) and what the user reads."""

    step: SpawnStep
    percent: int
    message: str

    def __post_init__(self) -> None:
        if not isinstance(self.step, SpawnStep):
            raise InvalidValue("step", "must be a SpawnStep")
        if isinstance(self.percent, bool) or not isinstance(self.percent, int):
            raise InvalidValue("percent", "must be a whole number")
        if not 0 <= self.percent <= 100:
            raise InvalidValue("percent", f"must be between 0 and 100, got {self.percent}")

    def as_jupyterhub_event(self) -> dict[str, object]:
        """The event as JupyterHub's progress stream carries it (the stream escapes the
        message for HTML); the step travels along for clients that want it."""
        return {"progress": self.percent, "message": self.message, "stellars_step": self.step.value}


def volumes_prepared() -> ProgressEvent:
    return ProgressEvent(
        SpawnStep.VOLUMES, STEP_PERCENT[SpawnStep.VOLUMES], "Your volumes are ready."
    )


def gpus_assigned(devices: int, *, every_gpu: bool = False) -> ProgressEvent:
    """The GPUs the server gets: every GPU of the engine, so many, or none."""
    if every_gpu:
        message = "Every GPU of the machine is assigned to your server."
    elif devices == 0:
        message = "No GPU for this server."
    elif devices == 1:
        message = "1 GPU assigned to your server."
    else:
        message = f"{devices} GPUs assigned to your server."
    return ProgressEvent(SpawnStep.GPUS, STEP_PERCENT[SpawnStep.GPUS], message)


def image_present(image: str, size: int | None = None) -> ProgressEvent:
    """The lab image is on the machine (with its size when the engine says it)."""
    what = (
        f"The image {image} is present"
        if size is None
        else (f"The image {image} ({describe_bytes(size)}) is present")
    )
    return ProgressEvent(SpawnStep.IMAGE, IMAGE_LAST, f"{what}.")


def image_pulling(image: str, done: int = 0, total: int = 0) -> ProgressEvent:
    """The lab image is being pulled: `done` bytes of the `total` the engine announced so far
    (0: nothing announced yet). The percentage goes from IMAGE_FIRST to IMAGE_LAST with the
    bytes, and stays at IMAGE_FIRST while the total is unknown."""
    if total <= 0:
        return ProgressEvent(SpawnStep.IMAGE, IMAGE_FIRST, f"Pulling the image {image}...")
    done = min(max(done, 0), total)
    percent = IMAGE_FIRST + (IMAGE_LAST - IMAGE_FIRST) * done // total
    return ProgressEvent(
        SpawnStep.IMAGE,
        percent,
        f"Pulling the image {image}: {describe_bytes(done)} of {describe_bytes(total)}.",
    )


def container_started(container: str) -> ProgressEvent:
    return ProgressEvent(
        SpawnStep.CONTAINER,
        STEP_PERCENT[SpawnStep.CONTAINER],
        f"The container {container} started.",
    )


def waiting_for_lab() -> ProgressEvent:
    return ProgressEvent(
        SpawnStep.WAITING, STEP_PERCENT[SpawnStep.WAITING], "Waiting for JupyterLab to answer..."
    )


def serving(url: str) -> ProgressEvent:
    return ProgressEvent(
        SpawnStep.SERVING, STEP_PERCENT[SpawnStep.SERVING], f"JupyterLab is serving at {url}."
    )


@dataclass(frozen=True, slots=True)
class ProgressTrail:
    """The percentage a start has shown so far; `shown` gives the event to show next, never
    below it."""

    percent: int = 0

    def shown(self, event: ProgressEvent) -> tuple[ProgressTrail, ProgressEvent]:
        """The trail after `event`, and `event` as shown: with the percentage already reached
        when its own is lower."""
        if event.percent >= self.percent:
            return ProgressTrail(event.percent), event
        return self, ProgressEvent(event.step, self.percent, event.message)


@dataclass(frozen=True, slots=True)
class PullTally:
    """What an image pull has said of its size: per layer, the bytes done and the layer's total
    (the engine announces layers as it goes, so the total grows during a pull)."""

    layers: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))

    def with_layer(self, layer: str, done: int, total: int) -> PullTally:
        """The tally after the engine said that `layer` has `done` of `total` bytes (a
        negative or missing figure counts as 0; done never above total, never going back)."""
        total = max(total, 0)
        before = self.layers.get(layer, (0, 0))[0]
        done = min(max(done, before, 0), total) if total else 0
        return PullTally(MappingProxyType({**self.layers, layer: (done, total)}))

    def completed(self, layer: str) -> PullTally:
        """The tally after the engine said that `layer` is downloaded: all of its bytes done
        (a layer whose size was never announced stays unknown)."""
        total = self.layers.get(layer, (0, 0))[1]
        return self.with_layer(layer, total, total) if total else self

    @property
    def done(self) -> int:
        return sum(done for done, _ in self.layers.values())

    @property
    def total(self) -> int:
        return sum(total for _, total in self.layers.values())


#: A terminal's escape sequences (CSI "ESC [ ... letter", OSC "ESC ] ... BEL or ESC \\", the
#: others "ESC, intermediates, final": "ESC c", "ESC ( B"), removed whole; then every other
#: control character.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC
    r"|\x1b[ -/]*[0-~]"  # the others
    r"|\x9b[0-?]*[ -/]*[@-~]"  # CSI in its one-character form
)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean_line(line: str, width: int = LOG_LINE_WIDTH) -> str:
    """One line of a log as shown: escape sequences and control characters removed, tabs as
    spaces, trailing spaces dropped, clipped to `width` characters."""
    text = _CONTROLS.sub("", _ESCAPES.sub("", line).replace("\t", "    "))
    return clip(text.rstrip(), width)


def log_tail(text: str, lines: int = LOG_LINES, width: int = LOG_LINE_WIDTH) -> tuple[str, ...]:
    """The last `lines` lines of a log as shown (`clean_line`), blank lines at its end left
    out. A carriage return ends a line too (a progress bar's redraws become lines)."""
    if lines <= 0:
        return ()
    cleaned = [clean_line(line, width) for line in re.split(r"\r\n|\r|\n", text)]
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    return tuple(cleaned[-lines:])


@dataclass(frozen=True, slots=True)
class StartFailure:
    """Why a start failed (one sentence, cleaned and clipped to REASON_LIMIT characters) and
    the last lines of its container's log (`log_tail`; none when no container ran)."""

    reason: str
    log: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Its lines joined by spaces, then cleaned, its spaces collapsed.
        joined = " ".join(self.reason.splitlines())
        reason = clip(" ".join(clean_line(joined, len(joined)).split()), REASON_LIMIT)
        if not reason:
            raise InvalidValue("reason", "must say why the start failed")
        object.__setattr__(self, "reason", reason)
        if len(self.log) > LOG_LINES:
            raise InvalidValue("log", f"must be at most {LOG_LINES} lines, got {len(self.log)}")
        object.__setattr__(self, "log", tuple(clean_line(line) for line in self.log))

    @classmethod
    def with_log(cls, reason: str, log_text: str) -> StartFailure:
        """A failure with the tail of `log_text`, the container's whole log as read."""
        return cls(reason, log_tail(log_text))

    @property
    def log_heading(self) -> str:
        """What introduces the log lines: "The last 3 lines of the container's log:"."""
        count = len(self.log)
        if count == 1:
            return "The last line of the container's log:"
        return f"The last {count} lines of the container's log:"

    @property
    def message(self) -> str:
        """The reason, then the log lines under their heading (plain text, one per line)."""
        if not self.log:
            return self.reason
        return "\n".join((self.reason, self.log_heading, *self.log))
