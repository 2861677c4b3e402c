"""Engine options for JupyterHub's own database when it is SQLite (the embedded default).

JupyterHub commits on its event loop: every login, spawn, route change and activity update.
In SQLite's default rollback-journal mode each commit waits for the disk twice (journal and
database), which takes a millisecond on an idle disk and 60 ms and more while the engine
restarts containers and removes volumes beside it: the whole hub stops for that long. In WAL
mode with `synchronous=NORMAL` a commit appends to the log without waiting for the disk; the
database stays consistent after a crash or power loss, where the last commits may be lost.
The platform's own SQLite store in the same data directory already runs this way, so the
constraint it brings (the data directory must be on a local filesystem, WAL needs shared
memory) is one the deployment already has.

`hub_db_kwargs(url)` is passed as `JupyterHub.db_kwargs`, which JupyterHub hands to
SQLAlchemy's `create_engine`: every connection the hub opens is a `TunedHubConnection`.
"""

from __future__ import annotations

import sqlite3
from typing import Any


class TunedHubConnection(sqlite3.Connection):
    """A sqlite3 connection switched to WAL mode with `synchronous=NORMAL` as it opens.

    The journal mode is stored in the file (the first connection switches it; the rest find
    it set); `synchronous` belongs to each connection. On a filesystem where WAL is not
    possible SQLite keeps its old mode and the connection works as before.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            self.execute("PRAGMA journal_mode = WAL")
        self.execute("PRAGMA synchronous = NORMAL")


def hub_db_kwargs(db_url: str) -> dict[str, Any]:
    """`JupyterHub.db_kwargs` for `db_url`: WAL connections for a SQLite file, else nothing."""
    if not db_url.startswith("sqlite") or ":memory:" in db_url or "mode=memory" in db_url:
        return {}
    # JupyterHub sets check_same_thread=False itself only when no connect_args are given.
    return {"connect_args": {"check_same_thread": False, "factory": TunedHubConnection}}
