"""Database URLs shown without their passwords: on the settings page, in the settings API, in
docs/configuration.md and in every log line that names a database.

Both URL variables are SQLAlchemy URLs, so the mask hides exactly what SQLAlchemy would read as
a password, not what a web URL parser would. SQLAlchemy's grammar (`sqlalchemy.engine.url`,
`make_url`), after `dialect[+driver]://`:

- the user name runs to the first `:` or `/`; when a `:` ends it and an `@` follows somewhere,
  the password is everything between that `:` and the next `@`, so `/ ? #` are part of it
  (`postgresql://hub:pa/ss@db/x` has the password `pa/ss`; a web parser stops at the `/`);
- without that, the last `@` before the first `:` or `/` ends a user name with no password;
- everything after the first `?` that follows is the query, split at `&`, and every parameter
  goes to the database driver as a connection argument, where `password=` is a password too.

The domain uses only the standard library, so this follows that grammar by hand;
tests/unit/test_configuration.py checks it against SQLAlchemy itself.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

MASK = "***"

_SCHEME = re.compile(r"[\w+]+://")  # dialect[+driver]://
#: Query parameters a driver takes as a secret: password, sslpassword (libpq), passwd, pwd.
_SECRET_PARAMETER = re.compile(r"pass|pwd", re.IGNORECASE)


def mask_password(url: str) -> str:
    """`url` with every password SQLAlchemy would read in it replaced by ***: the one of the
    user part and the value of each password-like query parameter. Text that is not a URL
    (no `scheme://`) holds no password SQLAlchemy could use and is returned as it is."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return url
    rest = url[scheme.end() :]
    user_end = _first_of(rest, ":/")
    at = rest.find("@", user_end + 1) if rest[user_end : user_end + 1] == ":" else -1
    if at != -1:  # user:password@ — the password runs to the next "@", whatever it holds
        rest = f"{rest[: user_end + 1]}{MASK}{rest[at:]}"
        host_start = user_end + 1 + len(MASK) + 1
    else:  # user@ or no user part: the host begins after the last "@" of the user name
        host_start = rest.rfind("@", 0, user_end) + 1
    question = rest.find("?", host_start)
    if question != -1:
        query = rest[question + 1 :]
        masked = _mask_query(query)
        if masked != query:
            # A masked value may have held the first ":" or "/" of the URL, the one that kept an
            # "@" further on out of the user name (`//?password=/&@`); SQLAlchemy decodes the
            # query, so %40 reads as the same "@" and the user part stays where it was.
            masked = masked.replace("@", "%40")
        rest = f"{rest[: question + 1]}{masked}"
    return url[: scheme.end()] + rest


def _first_of(text: str, characters: str) -> int:
    """The index of the first of `characters` in `text`, or len(text) when none is there."""
    return min((i for i in (text.find(c) for c in characters) if i != -1), default=len(text))


def _mask_query(query: str) -> str:
    """The query with the value of every password-like parameter replaced by ***; names are
    compared decoded, as SQLAlchemy decodes them (`pass%77ord` is `password`)."""
    parameters = []
    for parameter in query.split("&"):
        name, equals, value = parameter.partition("=")
        # An empty value is no secret (SQLAlchemy drops the parameter): leave it empty.
        if equals and value and _SECRET_PARAMETER.search(unquote_plus(name)):
            parameter = f"{name}={MASK}"
        parameters.append(parameter)
    return "&".join(parameters)
