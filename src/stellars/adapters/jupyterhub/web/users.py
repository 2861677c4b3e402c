"""Users and their credentials and volumes, for admins:

- `POST /hub/api/admin/credentials` `{"usernames": [...]}` (custom:stellars:credentials): the
  generated passphrases of those users, each handed out once (a second call gets none) and
  only within the vault's TTL. It first waits for a passphrase still being hashed for a user
  just created, so the admin page can ask right after creating users.
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
from stellars.domain.errors import InvalidValue
from stellars.domain.volume_ownership import OrphanedVolume
from stellars.domain.volumes import VolumeOutcome

from .activity import iso
from .base import StellarsAPIHandler
from .parsing import string_list
from .servers import volumes_json

#: The most names one request may carry (the admin page creates users in batches).
MAX_NAMES = 1000


def names_from(body: Any, field: str) -> list[str]:
    """A list of distinct names, in request order, at most MAX_NAMES."""
    names = list(dict.fromkeys(string_list(body, field)))
    if len(names) > MAX_NAMES:
        raise InvalidValue(field, f"at most {MAX_NAMES} names per request, got {len(names)}")
    return names


def orphan_json(orphan: OrphanedVolume) -> dict[str, Any]:
    return {
        "name": orphan.name,
        "label": orphan.label,
        "former_username": orphan.former_username,
        "reason": orphan.reason,
        "size_bytes": orphan.size_bytes,
        "created_at": iso(orphan.created_at),
    }


class CredentialsAPI(StellarsAPIHandler):
    async def post(self) -> None:
        self.require_scope(scopes.CREDENTIALS)
        usernames = names_from(self.read_json_object(), "usernames")
        platform = self.platform
        await platform.users.settled(usernames)
        found = platform.credentials.collect(usernames)
        self.log.info(
            "%s collected the passphrases of %s (asked for %d user(s))",
            self.current_user.name,
            ", ".join(sorted(found)) or "nobody",
            len(usernames),
        )
        self.set_header("Cache-Control", "no-store")
        self.write_json(
            {
                "credentials": [
                    {"username": name, "password": found[name]}
                    for name in usernames
                    if name in found
                ]
            }
        )


class VolumesOverviewAPI(StellarsAPIHandler):
    async def get(self) -> None:
        self.require_scope(scopes.VOLUMES)
        platform = self.platform
        users = await platform.directory.list_users()
        snapshot = platform.volume_sizes.snapshot()
        listing = snapshot.value
        self.write_json(
            {
                "measured_at": iso(snapshot.refreshed_at),
                "users": [
                    {
                        "name": user.name,
                        "server_active": user.has_active_server,
                        "volumes": volumes_json(
                            platform, user.name, listing, measured=snapshot.ready
                        ),
                    }
                    for user in users
                ],
                "orphaned": [
                    orphan_json(orphan)
                    for orphan in platform.volumes.orphans_in(listing.values(), users)
                ],
            }
        )


class OrphanedVolumesAPI(StellarsAPIHandler):
    async def get(self) -> None:
        self.require_scope(scopes.VOLUMES)
        platform = self.platform
        snapshot = platform.volume_sizes.snapshot()
        users = await platform.directory.list_users()
        orphans = platform.volumes.orphans_in(snapshot.value.values(), users)
        self.write_json(
            {
                "measured_at": iso(snapshot.refreshed_at),
                "orphaned": [orphan_json(orphan) for orphan in orphans],
            }
        )

    async def delete(self) -> None:
        self.require_scope(scopes.VOLUMES)
        names = names_from(self.read_json_object(), "volumes")
        platform = self.platform
        outcomes = await platform.volumes.remove_orphans(names)
        platform.volume_sizes.request_refresh()
        results = {
            name: "not orphaned" if outcome is None else outcome.value
            for name, outcome in outcomes.items()
        }
        removed = [name for name, outcome in outcomes.items() if outcome is VolumeOutcome.REMOVED]
        problems = [f"{name}: {result}" for name, result in results.items() if name not in removed]
        self.log.info("%s deleted orphaned volumes: %s", self.current_user.name, results)
        self.write_json(
            {
                "message": "; ".join(
                    [f"Deleted {len(removed)} of {len(names)} volume(s)", *problems]
                )
                + ".",
                "deleted": removed,
                "results": [
                    {"volume": name, "outcome": result} for name, result in results.items()
                ],
            }
        )


#: (pattern, handler[, kwargs]) tuples relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/api/admin/credentials", CredentialsAPI),
    (r"/api/admin/volumes", VolumesOverviewAPI),
    (r"/api/admin/orphaned-volumes", OrphanedVolumesAPI),
]
