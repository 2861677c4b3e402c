"""The audit feed: every action that changes someone else's state or the platform, who did it,
to whom, when, from which address, and how it ended, so that an admin can answer "who reset
alice's volume on Tuesday?" and a refused attempt is on record as well as a successful one.

An entry is:

- **actor**: who acted, a username (or "service:<name>" for a managed service); never empty.
- **action**: one of a closed enumeration (`AuditAction`); an action the platform does not know
  cannot be recorded, so the feed's filters and the metrics' labels stay a fixed set.
- **target**: the user acted on, or empty for an action on the platform itself (a policy, a
  broadcast to everyone); **subject** names the object within it when there is one (a server's
  name, a group, a volume kind).
- **at**: when, timezone-aware, kept in UTC.
- **address**: the client's IP address as the hub saw it, normalised ("" when unknown).
- **outcome**: ok, refused (the platform said no: 403, 409, any other 4xx it answered) or
  failed (an error on the platform's side), with a short **detail** (at most `DETAIL_LIMIT`
  characters, longer ones clipped).
- **details**: optional JSON-able facts, e.g. a broadcast's report counts; at most
  `DETAILS_LIMIT` characters once serialised.
- **id**: given by the log when it records the entry (0 before); ids only grow and are never
  reused, and break ties between entries of the same instant.

A query filters by a user (as actor or as target), an action, and a time range (since
inclusive, until exclusive), and pages newest first, by time and then id: `before` is the
cursor (`AuditCursor`, the time and id of the last entry of the page before: entries that come
after it in that order), `limit` is 1 to `PAGE_LIMIT`. Entries recorded while a reader pages
never shift the pages after the first: the cursor is a position in the order, not an offset.
The order is by time first because every filter then reads one range of an index, the time
range included (ids follow time only roughly: entries are written in the background).

Names are kept as they were when the action happened: renaming or deleting a user rewrites
nothing in the feed (it is a record of the past), and a query by user matches the name exactly.

Retention: entries at or before `now - retention days` are pruned.

CSV: a cell a spreadsheet would run as a formula (one starting with =, +, -, @, a tab or a
carriage return) gets a leading apostrophe, so a username or a detail cannot smuggle a formula
into the admin's spreadsheet.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from .errors import InvalidValue
from .timeutil import UTC, require_aware
from .validation import clip, echo, whole_number

#: The most characters of a name (actor, target, subject): the hub's own column width.
NAME_LIMIT = 255
#: The most characters of an outcome's detail that are kept.
DETAIL_LIMIT = 200
#: The most characters of an entry's details once serialised as JSON.
DETAILS_LIMIT = 4000
#: The most entries one page holds; DEFAULT_PAGE when the query does not say.
PAGE_LIMIT = 500
DEFAULT_PAGE = 50
#: Bounds of the retention setting, in days.
RETENTION_BOUNDS = (1, 36500)
#: The first characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AuditAction(str, Enum):
    """What was done; the closed set of actions the feed records."""

    SIGNUP_AUTHORISED = "signup-authorised"  # or its authorisation withdrawn: see `subject`
    SIGNUP_DISCARDED = "signup-discarded"
    USER_CREATED = "user-created"
    USER_RENAMED = "user-renamed"
    USER_DELETED = "user-deleted"
    PASSPHRASE_ISSUED = "passphrase-issued"
    PASSWORD_CHANGED = "password-changed"  # by an admin, for someone else
    ADMIN_CHANGED = "admin-changed"
    SERVER_STARTED = "server-started"
    SERVER_STOPPED = "server-stopped"
    SERVER_RESTARTED = "server-restarted"
    VOLUME_RESET = "volume-reset"
    VOLUME_DELETED = "volume-deleted"
    EXTENSION_GRANTED = "extension-granted"
    BROADCAST_SENT = "broadcast-sent"
    POLICY_CHANGED = "policy-changed"
    GROUP_CHANGED = "group-changed"
    ACTIVITY_RESET = "activity-reset"


class AuditOutcome(str, Enum):
    """How an action ended."""

    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"


def outcome_of_status(status: int) -> AuditOutcome:
    """The outcome of an action the platform answered with HTTP `status`: below 400 ok, 4xx
    refused (the platform said no, or the request was bad), anything else failed."""
    if status < 400:
        return AuditOutcome.OK
    if status < 500:
        return AuditOutcome.REFUSED
    return AuditOutcome.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One recorded action (see the module's rule); `at` is normalised to UTC, `address` to
    the IP address's standard form, `details` to what JSON gives back."""

    actor: str
    action: AuditAction
    at: datetime
    target: str = ""
    subject: str = ""
    address: str = ""
    outcome: AuditOutcome = AuditOutcome.OK
    detail: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0

    def __post_init__(self) -> None:
        _name("actor", self.actor, required=True)
        _name("target", self.target, required=False)
        _name("subject", self.subject, required=False)
        if not isinstance(self.action, AuditAction):
            raise InvalidValue("action", f"must be an AuditAction, got {echo(self.action)}")
        if not isinstance(self.outcome, AuditOutcome):
            raise InvalidValue("outcome", f"must be an AuditOutcome, got {echo(self.outcome)}")
        object.__setattr__(self, "at", require_aware(self.at, "at"))
        object.__setattr__(self, "address", normal_address(self.address))
        if not isinstance(self.detail, str):
            raise InvalidValue("detail", f"must be text, got {echo(self.detail)}")
        object.__setattr__(self, "detail", clip(self.detail, DETAIL_LIMIT))
        object.__setattr__(self, "details", details_of(serialise_details(self.details)))
        whole_number("id", self.id, 0)

    @property
    def users(self) -> tuple[str, ...]:
        """The users the entry is about: its actor and its target (when it has one)."""
        return (self.actor, self.target) if self.target else (self.actor,)


def _name(field_name: str, value: object, *, required: bool) -> None:
    if not isinstance(value, str):
        raise InvalidValue(field_name, f"must be text, got {echo(value)}")
    if required and not value.strip():
        raise InvalidValue(field_name, "must be a non-empty string")
    if len(value) > NAME_LIMIT:
        raise InvalidValue(field_name, f"must be at most {NAME_LIMIT} characters, got {len(value)}")


def normal_address(value: object) -> str:
    """A client's address in its standard form ("" stays "": unknown); anything that is not an
    IPv4 or IPv6 address is refused as `address`."""
    if not isinstance(value, str):
        raise InvalidValue("address", f"must be text, got {echo(value)}")
    if value == "":
        return ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidValue("address", f"must be an IP address, got {echo(value)}") from None


def serialise_details(details: object) -> str:
    """`details` as the JSON text a store keeps: an object of JSON values (no NaN or infinity),
    at most DETAILS_LIMIT characters, keys sorted so equal details serialise equally."""
    if not isinstance(details, Mapping):
        raise InvalidValue("details", f"must be a mapping, got {echo(details)}")
    try:
        text = json.dumps(dict(details), sort_keys=True, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise InvalidValue("details", f"must be JSON-able: {clip(str(error))}") from None
    if len(text) > DETAILS_LIMIT:
        raise InvalidValue(
            "details", f"must be at most {DETAILS_LIMIT} characters as JSON, got {len(text)}"
        )
    return text


def details_of(text: str) -> dict[str, Any]:
    """The details a store kept as `text` (see serialise_details)."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise InvalidValue("details", "must be a JSON object")
    return value


@dataclass(frozen=True, slots=True, order=True)
class AuditCursor:
    """A position in the feed's order (newest first by time, then id): the last entry of a
    page. As text, "<id>-<microseconds since the epoch>": digits and a dash, safe in a URL."""

    at: datetime
    id: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_aware(self.at, "before"))
        whole_number("before", self.id, 1)

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditCursor:
        return cls(entry.at, entry.id)

    def passed(self, entry: AuditEntry) -> bool:
        """Whether `entry` comes after this position, newest first (it is older)."""
        return (entry.at, entry.id) < (self.at, self.id)

    @property
    def text(self) -> str:
        micros = (self.at - EPOCH) // timedelta(microseconds=1)
        return f"{self.id}-{micros}"

    @classmethod
    def parse(cls, text: str) -> AuditCursor:
        """A cursor from its text (see the class); anything else is refused as `before`."""
        entry_id, dash, micros = text.partition("-")
        if not (dash and _digits(entry_id) and _digits(micros)):
            raise InvalidValue(
                "before", f"must be a cursor of the feed (a page's next_before), got {echo(text)}"
            )
        try:
            at = EPOCH + timedelta(microseconds=int(micros))
        except OverflowError:
            raise InvalidValue("before", f"is out of range, got {echo(text)}") from None
        return cls(at, int(entry_id))


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 20


#: Where a cursor's microseconds count from.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    """A filtered page of the feed, newest first (see the module's rule)."""

    user: str = ""  # "" any; else entries whose actor or target it is
    action: AuditAction | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    before: AuditCursor | None = None  # only entries after it, newest first
    limit: int = DEFAULT_PAGE

    def __post_init__(self) -> None:
        _name("user", self.user, required=False)
        if self.action is not None and not isinstance(self.action, AuditAction):
            raise InvalidValue("action", f"must be an AuditAction, got {echo(self.action)}")
        if self.since is not None:
            object.__setattr__(self, "since", require_aware(self.since, "since"))
        if self.until is not None:
            object.__setattr__(self, "until", require_aware(self.until, "until"))
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise InvalidValue("until", "must be later than since")
        if self.before is not None and not isinstance(self.before, AuditCursor):
            raise InvalidValue("before", f"must be an AuditCursor, got {echo(self.before)}")
        whole_number("limit", self.limit, 1, PAGE_LIMIT)

    def matches(self, entry: AuditEntry) -> bool:
        """Whether `entry` passes the filters and the cursor (the limit aside)."""
        if self.user and self.user not in entry.users:
            return False
        if self.action is not None and entry.action is not self.action:
            return False
        if self.since is not None and entry.at < self.since:
            return False
        if self.until is not None and entry.at >= self.until:
            return False
        return self.before is None or self.before.passed(entry)


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of the feed, newest first; `next_before` is the cursor of the next page, None
    when this page is the last."""

    entries: tuple[AuditEntry, ...]
    next_before: AuditCursor | None


def page_of(newest_first: Sequence[AuditEntry], limit: int) -> AuditPage:
    """The page made of the first `limit` of `newest_first`, the matching entries a store read
    newest first: at least limit + 1 of them when there are more, so that a full page that is
    the last one says so."""
    entries = tuple(newest_first[:limit])
    more = len(newest_first) > limit
    return AuditPage(entries, AuditCursor.of(entries[-1]) if more and entries else None)


#: Query arguments a request may give, and nothing else.
QUERY_ARGUMENTS = ("user", "action", "since", "until", "before", "limit", "format")


def query_of(arguments: Mapping[str, str]) -> AuditQuery:
    """The query of a request's arguments (text each), naming a bad or unknown one; "format" is
    the caller's to read and ignored here. Times are ISO 8601 with a zone or a date (midnight
    UTC)."""
    unknown = sorted(set(arguments) - set(QUERY_ARGUMENTS))
    if unknown:
        raise InvalidValue(unknown[0], "is not a filter of the audit feed")
    action: AuditAction | None = None
    if arguments.get("action"):
        try:
            action = AuditAction(arguments["action"])
        except ValueError:
            raise InvalidValue(
                "action", f"must be one of {', '.join(a.value for a in AuditAction)}"
            ) from None
    limit = _count("limit", arguments.get("limit", ""))
    return AuditQuery(
        user=arguments.get("user", ""),
        action=action,
        since=_time("since", arguments.get("since", "")),
        until=_time("until", arguments.get("until", "")),
        before=AuditCursor.parse(arguments["before"]) if arguments.get("before") else None,
        limit=DEFAULT_PAGE if limit is None else limit,
    )


def _time(field_name: str, text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue(
            field_name, f"must be an ISO 8601 date or time, got {echo(text)}"
        ) from None
    if len(text) == 10:  # a bare date: midnight UTC
        return value.replace(tzinfo=UTC)
    return require_aware(value, field_name)


def _count(field_name: str, text: str) -> int | None:
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise InvalidValue(field_name, f"must be a whole number, got {echo(text)}")
    return int(text)


def retention_cutoff(now: datetime, days: int) -> datetime:
    """The newest time a prune deletes at `now` with a retention of `days`."""
    whole_number("retention days", days, *RETENTION_BOUNDS)
    return require_aware(now, "now") - timedelta(days=days)


def csv_cell(text: str) -> str:
    """`text` as a CSV cell a spreadsheet shows as text: a leading apostrophe when it starts
    like a formula, and each NUL as U+FFFD (no CSV reader keeps a NUL, and Python 3.10's csv
    module cannot write one; the JSON feed keeps the text as it was)."""
    text = text.replace("\x00", "\ufffd")
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


#: The CSV's columns, in order.
CSV_COLUMNS = (
    "id",
    "at",
    "actor",
    "action",
    "target",
    "subject",
    "address",
    "outcome",
    "detail",
    "details",
)


def csv_row(entry: AuditEntry) -> list[str]:
    """One entry as a CSV row of CSV_COLUMNS, every cell escaped by csv_cell."""
    cells = [
        str(entry.id),
        entry.at.isoformat(),
        entry.actor,
        entry.action.value,
        entry.target,
        entry.subject,
        entry.address,
        entry.outcome.value,
        entry.detail,
        serialise_details(entry.details) if entry.details else "",
    ]
    return [csv_cell(cell) for cell in cells]


def render_csv(entries: Iterable[AuditEntry]) -> str:
    """The entries as CSV text: a header row, then one row each (RFC 4180 quoting, CRLF)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(entry) for entry in entries)
    return out.getvalue()
