"""The web adapter's one mapping from domain errors to HTTP statuses, and the roles and scopes
the hub is configured with."""

from __future__ import annotations

import pytest
from jupyterhub.roles import get_default_roles

from stellars.adapters.jupyterhub import custom_scopes, platform_roles
from stellars.adapters.jupyterhub.scopes import ADMIN_ROLE, CUSTOM_SCOPES, USER_SCOPES
from stellars.adapters.jupyterhub.web import status_for
from stellars.domain.errors import (
    BackendUnavailable,
    Conflict,
    ContainerNotFound,
    Forbidden,
    InvalidValue,
    NotFound,
    Refused,
    StellarsError,
    VolumeInUse,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidValue("hours", "must be a whole number"), 400),
        (Forbidden("not yours"), 403),
        (NotFound("no user"), 404),
        (ContainerNotFound("no container"), 404),
        (Conflict("running"), 409),
        (Refused("nothing on offer"), 409),
        (VolumeInUse("in use"), 409),
        (BackendUnavailable("docker down"), 503),
        (StellarsError("a kind the table does not know"), 500),
    ],
)
def test_each_domain_error_has_one_status(error, status):
    assert status_for(error) == status


def test_custom_scopes_are_valid_custom_scope_definitions():
    definitions = custom_scopes()
    assert set(definitions) == {
        "custom:stellars:activity",
        "custom:stellars:broadcast",
        "custom:stellars:credentials",
        "custom:stellars:volumes",
        "custom:stellars:sessions",
        "custom:stellars:settings",
        "custom:stellars:policies",
        "custom:stellars:resources",
        "custom:stellars:audit",
    }
    assert all(definition["description"] for definition in definitions.values())


def test_admins_get_every_platform_scope_and_users_their_own_ones_filtered_to_themselves():
    roles = {role["name"]: role for role in platform_roles()}
    assert roles[ADMIN_ROLE]["scopes"] == list(CUSTOM_SCOPES)
    default_user = next(r for r in get_default_roles() if r["name"] == "user")
    assert roles["user"]["scopes"] == [*default_user["scopes"], *USER_SCOPES]
    assert USER_SCOPES == (
        "custom:stellars:volumes!user",
        "custom:stellars:sessions!user",
        "custom:stellars:resources!user",
    )
    assert "admin" not in roles  # JupyterHub refuses any change to its admin role
