from __future__ import annotations

from pathlib import Path
from typing import Any

import nativeauthenticator
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import LoginHandler
from traitlets import Set, Unicode


def native_templates() -> str:
    """NativeAuthenticator's page templates (login, sign-up, authorize, change password)."""
    return str(Path(nativeauthenticator.__file__).parent / "templates")


class _NoStatsd:
    """Accepts the statsd calls NativeAuthenticator 1.3 makes and does nothing."""

    def timer(self, *args: object, **kwargs: object) -> _NoStatsd:
        return self

    def start(self) -> _NoStatsd:
        return self

    def stop(self, *args: object, **kwargs: object) -> None:
        return None

    def incr(self, *args: object, **kwargs: object) -> None:
        return None


class CompatibleLoginHandler(LoginHandler):
    """NativeAuthenticator's login page without the statsd dependency.

    JupyterHub 6 removed `BaseHandler.statsd` (jupyterhub#5407), but NativeAuthenticator 1.3's
    `LoginHandler.post` still times logins with it, so every login failed with a 500.
    """

    @property
    def statsd(self) -> object:
        return getattr(super(), "statsd", None) or _NoStatsd()


class StellarsNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator whose login works on JupyterHub 5 and 6, and which refuses sign-ups
    under reserved names (the admin's, on a hub exposed beyond this machine)."""

    reserved_usernames = Set(
        Unicode(),
        help="""Names nobody may sign up under; the sign-up page answers that the name is taken.

        The composition root reserves the admin's name on a hub that listens beyond loopback
        while no admin password is configured, so the first visitor cannot become admin.
        """,
    ).tag(config=True)

    def user_exists(self, username: str) -> bool:
        if self.normalize_username(username) in self.reserved_usernames:
            return True
        return bool(super().user_exists(username))

    def get_handlers(self, app: Any) -> list[tuple[Any, ...]]:
        return [
            (route, CompatibleLoginHandler if handler is LoginHandler else handler)
            for route, handler in super().get_handlers(app)
        ]
