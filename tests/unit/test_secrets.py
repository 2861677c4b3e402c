"""`stellars.domain.secrets.mask_password` on the URLs where a careless parser would leak or
mangle something: every example is also read by SQLAlchemy itself, so the mask is checked to
hide exactly the passwords SQLAlchemy would use and to keep everything else it would read."""

from __future__ import annotations

import pytest
from sqlalchemy.engine.url import make_url

from stellars.domain.secrets import MASK, mask_password


def read(url: str) -> tuple[object, ...]:
    """What SQLAlchemy takes from `url`, with the passwords it would use replaced by MASK."""
    parsed = make_url(url)
    query = {
        name: MASK if "pass" in name.lower() or "pwd" in name.lower() else value
        for name, value in parsed.query.items()
    }
    password = None if parsed.password is None else MASK
    return parsed.username, password, parsed.host, parsed.port, parsed.database, query


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        # A user name with any letter, X included, runs to the ":" before the password.
        ("postgresql://Xavier:pw@db/x", "postgresql://Xavier:***@db/x"),
        ("postgresql://MAX:secret@db:5432/x", "postgresql://MAX:***@db:5432/x"),
        # An empty password is a password SQLAlchemy passes on: masked all the same.
        ("postgresql://hub:@db/x", "postgresql://hub:***@db/x"),
        # No user name before the password: the query after the host is still read.
        ("postgresql://:pw@db/x?password=s", "postgresql://:***@db/x?password=***"),
        # No host: the query starts right after the "@".
        ("postgresql://hub:pw@?password=s", "postgresql://hub:***@?password=***"),
        ("postgresql://hub:pw@/x?host=/run/pg&password=s",
         "postgresql://hub:***@/x?host=/run/pg&password=***"),
        # An "@" or a "?" inside a query value belongs to the value.
        ("postgresql://hub@db/x?password=s3@cret", "postgresql://hub@db/x?password=***"),
        ("postgresql://db/x?password=a@b", "postgresql://db/x?password=***"),
        ("postgresql://db/x?password=a?b", "postgresql://db/x?password=***"),
        ("postgresql://hub:pw@db/x?password=a?b&sslmode=require",
         "postgresql://hub:***@db/x?password=***&sslmode=require"),
        # A "?" in the user name is no query: what follows it is the user name, kept.
        ("postgresql://h?pwd=me:pw@db/x", "postgresql://h?pwd=me:***@db/x"),
        ("postgresql://me?pwd=1@db/x", "postgresql://me?pwd=1@db/x"),
        ("postgresql://u@p?password=1@db/x", "postgresql://u@p?password=1@db/x"),
        ("postgresql://u?:pw@db/passwords?sslmode=require",
         "postgresql://u?:***@db/passwords?sslmode=require"),
        # The host ends the user part at its last "@".
        ("postgresql://a@b@db/x?pwd=1", "postgresql://a@b@db/x?pwd=***"),
        # Names are compared as SQLAlchemy decodes them; empty values are no secret.
        ("postgresql://db/x?PWD=1&sslpassword=&pass%77ord=2",
         "postgresql://db/x?PWD=***&sslpassword=&pass%77ord=***"),
    ],
)  # fmt: skip
def test_the_mask_covers_what_sqlalchemy_reads_as_a_password(url, masked):
    assert mask_password(url) == masked
    assert read(masked) == read(url)
