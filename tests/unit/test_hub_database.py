"""JupyterHub's own SQLite database runs in WAL mode with synchronous=NORMAL, so its commits on
the hub's event loop do not wait for the disk; other databases are left as JupyterHub makes them."""

from __future__ import annotations

import sqlite3
import threading

from jupyterhub import orm
from sqlalchemy import text

from stellars.adapters.jupyterhub import hub_db_kwargs
from stellars.adapters.jupyterhub.hub_process.hub_database import TunedHubConnection

SYNCHRONOUS_NORMAL = 1


def test_jupyterhubs_session_factory_opens_wal_connections(tmp_path):
    url = f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    db = orm.new_session_factory(url, **hub_db_kwargs(url))()
    try:
        assert db.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.execute(text("PRAGMA synchronous")).scalar() == SYNCHRONOUS_NORMAL
        assert db.execute(text("PRAGMA foreign_keys")).scalar() == 1  # JupyterHub's own pragma
        db.add(orm.User(name="ada"))
        db.commit()
        assert orm.User.find(db, "ada") is not None
    finally:
        db.close()
    # The mode is stored in the file: any later connection, tuned or not, finds it.
    with sqlite3.connect(tmp_path / "jupyterhub.sqlite") as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert plain.execute("SELECT name FROM users").fetchall() == [("ada",)]


def test_connections_may_be_used_from_other_threads(tmp_path):
    # JupyterHub passes check_same_thread=False only when it is given no connect_args.
    url = f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    connection = sqlite3.connect(
        tmp_path / "jupyterhub.sqlite", **hub_db_kwargs(url)["connect_args"]
    )
    assert isinstance(connection, TunedHubConnection)
    answers: list[object] = []
    worker = threading.Thread(
        target=lambda: answers.append(connection.execute("PRAGMA synchronous").fetchone()[0])
    )
    worker.start()
    worker.join()
    connection.close()
    assert answers == [SYNCHRONOUS_NORMAL]


def test_other_databases_keep_jupyterhubs_defaults():
    assert hub_db_kwargs("postgresql://hub@db/hub") == {}
    assert hub_db_kwargs("mysql+pymysql://hub@db/hub") == {}
    assert hub_db_kwargs("sqlite:///:memory:") == {}
    assert hub_db_kwargs("sqlite:///file:hub?mode=memory&uri=true") == {}
