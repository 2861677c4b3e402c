"""`stellars.domain.settings`: which hosts only this machine reaches, and the exact words of the
refusals an operator reads when the hub will not start (the field named, the reason, the way
out)."""

from __future__ import annotations

import pytest

from stellars.domain.errors import InvalidValue
from stellars.domain.settings import (
    HubSettings,
    PlatformSettings,
    SpawnerKind,
    SpawnerSettings,
    is_loopback,
)


def refusal(build) -> InvalidValue:
    with pytest.raises(InvalidValue) as error:
        build()
    return error.value


@pytest.mark.parametrize("host", ["[::1]", "[127.0.0.1]", "::1", "LocalHost", "127.9.9.9"])
def test_loopback_hosts_as_an_address_may_be_written(host):
    assert is_loopback(host) is True
    assert HubSettings(public_ip=host).loopback_only is True


@pytest.mark.parametrize(
    "host", ["X127.0.0.1", "127.0.0.1X", "[::1]X", " 127.0.0.1", "localhost.example", "", "0.0.0.0"]
)
def test_a_host_that_is_not_exactly_a_loopback_address_may_be_reached_from_elsewhere(host):
    # A name other than localhost may resolve anywhere; an empty host is every interface.
    assert is_loopback(host) is False


@pytest.mark.parametrize("authenticator", ["", "  "])
def test_the_authenticator_must_be_named(authenticator):
    error = refusal(lambda: HubSettings(authenticator=authenticator))
    assert (error.field, error.message) == ("authenticator", "must be a non-empty string")


def test_an_admin_password_with_an_identity_provider_says_where_passwords_live():
    error = refusal(lambda: HubSettings(authenticator="github", admin_password="long-enough"))
    assert error.field == "admin_password"
    assert error.message == (
        "is kept only with NativeAuthenticator (authenticator 'native'); users of 'github' log "
        "in with their identity provider's passwords"
    )


def test_local_servers_on_a_hub_others_reach_are_refused_with_the_way_out():
    local = SpawnerSettings(kind=SpawnerKind.LOCAL)
    error = refusal(lambda: PlatformSettings(hub=HubSettings(public_ip="0.0.0.0"), spawner=local))
    assert error.field == "spawner.kind"
    assert error.message == (
        "local servers run as the hub's own user, so only a hub that nobody else can reach may "
        "have them: the proxy and the hub must both listen on loopback only; use docker"
    )
    assert PlatformSettings(spawner=local).spawner.kind is SpawnerKind.LOCAL
