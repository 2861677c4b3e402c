"""Users and their credentials and volumes, for admins:

- `POST /hub/api/admin/credentials` `{"usernames": [...]}` (custom:stellars:credentials): the
  generated passphrases of those users, each handed out once (a second call gets none) and
  only within the vault's TTL. It first waits for a passphrase still being hashed for a user
  just created, so the admin page can ask right after creating users. Each entry says whether
  the passphrase replaced a sign-up that was waiting under the name (`replaced_sign_up`, and a
  `notice` for the admin, null otherwise).
- `GET /hub/api/admin/volumes` (custom:stellars:volumes): every user's volumes and the orphaned
  ones, from the background measurement.
- `GET|DELETE /hub/api/admin/orphaned-volumes` `{"volumes": [name, ...]}`: the volumes named for
  a user that no current account owns (left by a deleted or renamed user); a deletion checks
  each name on the engine again and removes only those still orphaned.

What follows a rename or a deletion of a user happens in the hub (user_events.py), not here.
"""

from __future__ import annotations

from typing import Any

from stellars.adapters.jupyterhub import scopes
from stellars.domain.audit import AuditAction
from stellars.domain.errors import InvalidValue
from stellars.domain.validation import clip

from .base import LOGGED_MESSAGE_LIMIT, NAME_LIST_BODY_BYTES, StellarsAPIHandler
from .parsing import string_list
from .recording import some_names
from .wire import iso, orphan_json, volumes_json

#: The most names one request may carry (the admin page creates users in batches); their body
#: may be up to base.NAME_LIST_BODY_BYTES long.
MAX_NAMES = 1000


def names_from(body: Any, field: str) -> list[str]:
    """A list of distinct names, in request order, at most MAX_NAMES."""
    names = list(dict.fromkeys(string_list(body, field)))
    if len(names) > MAX_NAMES:
        raise InvalidValue(field, f"at most {MAX_NAMES} names per request, got {len(names)}")
    return names


class CredentialsAPI(StellarsAPIHandler):
    max_body_bytes = NAME_LIST_BODY_BYTES

    async def post(self) -> None:
        attempt = self.audit(AuditAction.PASSPHRASE_ISSUED)
        self.require_scope(scopes.CREDENTIALS)
        usernames = names_from(self.read_json_object(), "usernames")
        found = await self.platform.users.collect_passphrases(usernames)
        self.audit_notes.remove(attempt)  # one entry per passphrase handed out instead
        for name in sorted(found):
            self.audit(AuditAction.PASSPHRASE_ISSUED, name)
        replaced = sorted(name for name, handed in found.items() if handed.replaced_sign_up)
        self.log.info(
            "%s collected the passphrases of %s (asked for %d user(s))%s",
            self.current_user.name,
            clip(", ".join(sorted(found)), LOGGED_MESSAGE_LIMIT) or "nobody",
            len(usernames),
            f"; they replaced the waiting sign-ups of {', '.join(replaced)}" if replaced else "",
        )
        self.set_header("Cache-Control", "no-store")
        self.write_json(
            {
                "credentials": [
                    {
                        "username": name,
                        "password": found[name].password,
                        "replaced_sign_up": found[name].replaced_sign_up,
                        "notice": found[name].notice,
                    }
                    for name in usernames
                    if name in found
                ]
            }
        )


class VolumesOverviewAPI(StellarsAPIHandler):
    async def get(self) -> None:
        self.require_scope(scopes.VOLUMES)
        overview = await self.platform.volumes.overview()
        self.write_json(
            {
                "measured_at": iso(overview.measured_at),
                "users": [
                    {
                        "name": user.username,
                        "server_active": user.server_active,
                        "volumes": volumes_json(user),
                    }
                    for user in overview.users
                ],
                "orphaned": [orphan_json(orphan) for orphan in overview.orphaned],
            }
        )


class OrphanedVolumesAPI(StellarsAPIHandler):
    max_body_bytes = NAME_LIST_BODY_BYTES

    async def get(self) -> None:
        self.require_scope(scopes.VOLUMES)
        listing = await self.platform.volumes.orphans()
        self.write_json(
            {
                "measured_at": iso(listing.measured_at),
                "orphaned": [orphan_json(orphan) for orphan in listing.orphaned],
            }
        )

    async def delete(self) -> None:
        note = self.audit(AuditAction.VOLUME_DELETED)
        self.require_scope(scopes.VOLUMES)
        names = names_from(self.read_json_object(), "volumes")
        note.details.update(some_names("volumes", names))
        removal = await self.platform.volumes.remove_orphans(names)
        note.details.update(some_names("deleted", removal.removed))
        self.log.info(
            "%s deleted orphaned volumes: %s",
            self.current_user.name,
            clip(removal.message, LOGGED_MESSAGE_LIMIT),
        )
        self.write_json(
            {
                "message": removal.message,
                "deleted": list(removal.removed),
                "results": [
                    {"volume": name, "outcome": removal.describe(outcome)}
                    for name, outcome in removal.outcomes.items()
                ],
            }
        )


#: (pattern, handler) pairs relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/api/admin/credentials", CredentialsAPI),
    (r"/api/admin/volumes", VolumesOverviewAPI),
    (r"/api/admin/orphaned-volumes", OrphanedVolumesAPI),
]
