"""The platform database's URL as log lines name it: no password, wherever the URL holds one."""

from __future__ import annotations

import pytest

from stellars.adapters.sql import SqlDatabase


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://hub:s3cret@db/x", "postgresql+psycopg://hub:***@db/x"),
        ("postgresql+psycopg://hub:pa%2Fss@db/x", "postgresql+psycopg://hub:***@db/x"),
        (
            "postgresql+psycopg://hub@db/x?sslmode=require&password=s3cret",
            "postgresql+psycopg://hub@db/x?password=***&sslmode=require",  # as SQLAlchemy orders
        ),
    ],
)
def test_no_password_reaches_a_message(url, shown):
    database = SqlDatabase.from_url(url)  # the engine connects lazily: no server needed
    try:
        assert database.url_text == shown
        assert "s3cret" not in database.url_text and "pa%2Fss" not in database.url_text
    finally:
        database.close()
