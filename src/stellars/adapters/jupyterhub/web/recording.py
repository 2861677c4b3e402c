"""Where the audit feed is recorded: at one place, the end of every request the hub answers.

JupyterHub hands each finished request to its tornado `log_function` (its access log line and
request metrics). The plug-in wraps that function (`audited`) so that, after the hub's own
line, `record_request` asks what the request did to someone else's state or to the platform,
and hands that to the platform's `AuditTrail`, which stores it in the background: the answer
has already been sent, nothing waits on the store, and nothing the store does can fail the
request. Every entry gets, from the request itself:

- the **actor**: the signed-in user, or "service:<name>" for a service's token. A request
  nobody signed in for is not recorded: it could not act, and a flood of them would flood the
  feed (the hub's own log has them);
- the **address**: the client's address as the hub saw it (behind the proxy, the one the proxy
  forwarded);
- the **outcome** of the answer's status (`outcome_of_status`: 4xx refused, 5xx failed), with
  the refusal's message as its detail when the platform gave one.

What a request did comes from one of two places:

- the platform's own handlers declare it (`PlatformMixin.audit`) before they check scopes or
  act, so a refused or failed attempt is on record too; they add what they learnt on the way
  (a broadcast's report, the volumes removed) to the declared note's details;
- JupyterHub's and NativeAuthenticator's routes are not ours to edit: `jupyterhub_notes` reads
  them from their method, path (relative to the hub's prefix) and JSON body. User created
  (one per name of a bulk creation), renamed, deleted; admin flag changed; a server started
  (by the API or the spawn page's form) or stopped for someone else (one's own server starting
  and stopping is not an audit matter); a group created, deleted, its members or properties
  changed; a sign-up authorised or discarded; a password an admin set for someone.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.client import responses
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from stellars.domain.audit import AuditAction, AuditOutcome, outcome_of_status
from stellars.domain.validation import clip

if TYPE_CHECKING:
    from stellars.domain.services import AuditTrail

log = logging.getLogger(__name__)

#: The most names of one bulk request that get an entry each (JupyterHub's own bulk creation
#: takes its whole body; past this, the rest are named in the last entry's details count).
BULK_LIMIT = 1000


@dataclass
class AuditNote:
    """What one request did (or tried): the action, to whom, on what, and what it found."""

    action: AuditAction
    target: str = ""
    subject: str = ""
    details: dict[str, Any] = field(default_factory=dict)


#: The most names an entry's details list (the rest are counted): the details stay small.
NAMES_SHOWN = 10
#: The most characters of each name shown (two lists of them fit an entry's details).
NAME_CLIP = 120


def some_names(key: str, names: Sequence[str]) -> dict[str, Any]:
    """`{key: the first NAMES_SHOWN names}`, and `{key}_count` when there were more."""
    shown: dict[str, Any] = {key: [clip(name, NAME_CLIP) for name in names[:NAMES_SHOWN]]}
    if len(names) > NAMES_SHOWN:
        shown[f"{key}_count"] = len(names)
    return shown


def _body(raw: bytes | bytearray | None) -> Mapping[str, Any]:
    """A request's body as a JSON object; anything else is {} (JupyterHub refuses it itself)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _names(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


_USER = re.compile(r"api/users/([^/]+)")
_USER_SERVER = re.compile(r"api/users/([^/]+)/(?:server|servers/([^/]*))")
_SPAWN = re.compile(r"spawn/([^/]+)(?:/([^/]+))?")
_GROUPS = re.compile(r"api/groups")
_GROUP = re.compile(r"api/groups/([^/]+)(?:/(users|properties))?")
_AUTHORIZE = re.compile(r"authorize/([^/]+)")
_DISCARD = re.compile(r"discard/([^/]+)")
_PASSWORD = re.compile(r"change-password/([^/]+)")


def jupyterhub_notes(
    method: str, route: str, raw_body: bytes | bytearray | None, actor: str
) -> list[AuditNote]:
    """What a request to one of JupyterHub's (or NativeAuthenticator's) routes did, by its
    method, its path relative to the hub's prefix (no leading slash, %-decoded per part), its
    body and who sent it (see the module's docstring); [] for anything else."""
    if method == "GET":  # NativeAuthenticator changes state on GET links of its admin page
        if found := _AUTHORIZE.fullmatch(route):
            return [AuditNote(AuditAction.SIGNUP_AUTHORISED, unquote(found[1]))]
        if found := _DISCARD.fullmatch(route):
            return [AuditNote(AuditAction.SIGNUP_DISCARDED, unquote(found[1]))]
        return []
    if method not in {"POST", "PUT", "PATCH", "DELETE"}:
        return []
    if route == "api/users" and method == "POST":
        body = _body(raw_body)
        names = _names(body.get("usernames"))[:BULK_LIMIT]
        details = {"admin": True} if body.get("admin") is True else {}
        return [AuditNote(AuditAction.USER_CREATED, name, details=details) for name in names]
    if found := _USER_SERVER.fullmatch(route):
        user = unquote(found[1])
        if user == actor or method not in {"POST", "DELETE"}:
            return []
        action = AuditAction.SERVER_STARTED if method == "POST" else AuditAction.SERVER_STOPPED
        return [AuditNote(action, user, unquote(found[2] or ""))]
    if (found := _SPAWN.fullmatch(route)) and method == "POST":  # the spawn page's form
        user = unquote(found[1])
        if user == actor:
            return []
        return [AuditNote(AuditAction.SERVER_STARTED, user, unquote(found[2] or ""))]
    if found := _USER.fullmatch(route):
        return _user_notes(method, unquote(found[1]), _body(raw_body))
    if _GROUPS.fullmatch(route) and method == "POST":
        groups = _names(_body(raw_body).get("groups"))[:BULK_LIMIT]
        return [AuditNote(AuditAction.GROUP_CHANGED, "", g, {"change": "created"}) for g in groups]
    if found := _GROUP.fullmatch(route):
        return [_group_note(method, unquote(found[1]), found[2], _body(raw_body))]
    if (found := _PASSWORD.fullmatch(route)) and method == "POST":
        return [AuditNote(AuditAction.PASSWORD_CHANGED, unquote(found[1]))]
    return []


def _user_notes(method: str, user: str, body: Mapping[str, Any]) -> list[AuditNote]:
    if method == "POST":
        details = {"admin": True} if body.get("admin") is True else {}
        return [AuditNote(AuditAction.USER_CREATED, user, details=details)]
    if method == "DELETE":
        return [AuditNote(AuditAction.USER_DELETED, user)]
    if method != "PATCH":
        return []
    notes = []
    new_name = body.get("name")
    if isinstance(new_name, str) and new_name != user:
        notes.append(AuditNote(AuditAction.USER_RENAMED, user, details={"new_name": new_name}))
    if isinstance(body.get("admin"), bool):
        notes.append(AuditNote(AuditAction.ADMIN_CHANGED, user, details={"admin": body["admin"]}))
    return notes


def _group_note(method: str, group: str, part: str | None, body: Mapping[str, Any]) -> AuditNote:
    if part == "users":
        change = "members added" if method == "POST" else "members removed"
        users = _names(body.get("users"))[:BULK_LIMIT]
        return AuditNote(AuditAction.GROUP_CHANGED, "", group, {"change": change, "users": users})
    if part == "properties":
        return AuditNote(AuditAction.GROUP_CHANGED, "", group, {"change": "properties"})
    change = {"POST": "created", "DELETE": "deleted"}.get(method, "changed")
    return AuditNote(AuditAction.GROUP_CHANGED, "", group, {"change": change})


def actor_of(handler: Any) -> str:
    """Who sent the request: a username, "service:<name>", or "" (nobody signed in)."""
    try:
        who = handler.current_user
    except Exception:
        return ""
    name = getattr(who, "name", None)
    if not isinstance(name, str) or not name:
        return ""
    return f"service:{name}" if getattr(who, "kind", "user") == "service" else name


def hub_route(handler: Any) -> str:
    """The request's path relative to the hub's prefix ("api/users/alice"), or "" outside it."""
    path = handler.request.path
    hub = handler.settings.get("hub")
    prefix = getattr(hub, "base_url", "/hub/")
    return path[len(prefix) :] if path.startswith(prefix) else ""


def refusal_of(handler: Any, status: int) -> str:
    """The words of a refusal or failure: the platform's message when it gave one, else the
    status's name."""
    if status < 400:
        return ""
    message = getattr(handler, "audit_error", "")
    return message or f"{status} {responses.get(status, 'Error')}"


def _authorisation(handler: Any, username: str) -> str:
    """Whether NativeAuthenticator's toggle left the sign-up authorised ("authorised",
    "withdrawn"), read back from its table as its own handler just did; "" when unknown."""
    get_user = getattr(getattr(handler, "authenticator", None), "get_user", None)
    try:
        info = get_user(username) if get_user is not None else None
    except Exception:
        return ""
    if info is None:
        return ""
    return "authorised" if getattr(info, "is_authorized", False) else "withdrawn"


def record_request(handler: Any, trail: AuditTrail) -> int:
    """Record what a finished request did (see the module's docstring); returns how many
    entries were noted."""
    declared = getattr(handler, "audit_notes", None)
    method = handler.request.method
    if declared is None and method not in {"POST", "PUT", "PATCH", "DELETE", "GET"}:
        return 0
    actor = actor_of(handler)
    if not actor:
        return 0
    if declared is None:
        route = hub_route(handler)
        if not route:
            return 0
        notes = jupyterhub_notes(method, route, getattr(handler.request, "body", b""), actor)
    else:
        notes = declared
    if not notes:
        return 0
    status = handler.get_status()
    for note in notes:
        if note.action is AuditAction.SIGNUP_AUTHORISED and status < 400:
            note.subject = _authorisation(handler, note.target)
    outcome: AuditOutcome = outcome_of_status(status)
    detail = refusal_of(handler, status)
    for note in notes:
        trail.note(
            actor=actor,
            action=note.action,
            target=note.target,
            subject=note.subject,
            address=handler.request.remote_ip or "",
            outcome=outcome,
            detail=detail,
            details=note.details,
        )
    return len(notes)


def audited(log_function: Callable[[Any], None], trail: AuditTrail) -> Callable[[Any], None]:
    """The hub's request log function, then the audit feed's recording of the request; the
    recording can never break the hub's logging nor the request."""

    def log_and_record(handler: Any) -> None:
        log_function(handler)
        try:
            record_request(handler, trail)
        except Exception:
            trail.failed += 1
            log.exception("audit: the request %s could not be recorded", handler.request.path)

    log_and_record.audit_trail = trail  # type: ignore[attr-defined]
    return log_and_record
