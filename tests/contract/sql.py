"""The SQL databases the SQL store contracts run on: a SQLite file, or a fresh PostgreSQL one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stellars.adapters.sql import SqlDatabase, create_store_engine

SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.real)]


@contextmanager
def sql_database(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> Iterator[SqlDatabase]:
    """An empty stellars database of `kind`, closed afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'stellars.sqlite'}"
    elif kind == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        raise AssertionError(kind)
    database = SqlDatabase(create_store_engine(url))
    try:
        yield database
    finally:
        database.close()
