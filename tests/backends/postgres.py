"""A throwaway PostgreSQL cluster (initdb into a temp dir, trust auth, loopback only)."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.backends.errors import BackendMissing
from tests.backends.paths import INSTALL_HINT
from tests.backends.processes import free_port, tail

POSTGRES_LIB = Path("/usr/lib/postgresql")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def postgres_bin_dir(root: Path = POSTGRES_LIB) -> Path:
    """The ``bin`` dir of the newest PostgreSQL under /usr/lib/postgresql with initdb and pg_ctl."""
    candidates = []
    for version_dir in root.glob("*"):
        bin_dir = version_dir / "bin"
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            try:
                candidates.append((float(version_dir.name), bin_dir))
            except ValueError:
                continue
    if not candidates:
        raise BackendMissing(f"no initdb/pg_ctl under {root}/*/bin; {INSTALL_HINT}")
    return max(candidates)[1]


class PostgresCluster:
    """initdb + pg_ctl start on 127.0.0.1:<free port>, one database created at start.

    As root, the cluster runs as the ``postgres`` OS user (initdb refuses root).
    ``url`` is a SQLAlchemy URL for psycopg 3.
    """

    def __init__(self, database: str = "stellars", start_attempts: int = 3) -> None:
        self.database = database
        self.start_attempts = start_attempts
        self.port = 0
        self.workdir: Path | None = None
        self.bin_dir: Path | None = None
        self._run_as: list[str] = []
        self._started = False

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL of one database of this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "postgres.log"

    def _run(self, args: Sequence[str], *, as_owner: bool = True) -> None:
        command = [*self._run_as, *args] if as_owner else list(args)
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=self.workdir
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed (rc {done.returncode}):\n{done.stdout}{done.stderr}"
                + (f"\n{tail(self.log_path, 20)}" if self.workdir else "")
            )

    def start(self) -> PostgresCluster:
        """initdb, start and create the database; BackendMissing when PostgreSQL is missing."""
        self.bin_dir = postgres_bin_dir()
        self.workdir = Path(tempfile.mkdtemp(prefix="stellars-pg-"))
        try:
            self._prepare_owner()
            (self.workdir / "sock").mkdir()
            self._chown_workdir()
            self._run([
                str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                "-A", "trust", "--no-sync", "-E", "UTF8",
            ])  # fmt: skip
            self._start_server()
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare_owner(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise BackendMissing("running as root but there is no `postgres` OS user") from exc
        runuser = shutil.which("runuser")
        if runuser is None:
            raise BackendMissing("running as root but `runuser` (util-linux) is missing")
        self._run_as = [runuser, "-u", "postgres", "--"]

    def _chown_workdir(self) -> None:
        if not self._run_as:
            return
        owner = pwd.getpwnam("postgres")
        assert self.workdir is not None
        for path in [self.workdir, *self.workdir.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _start_server(self) -> None:
        assert self.bin_dir is not None
        assert self.workdir is not None
        last_error: RuntimeError | None = None
        for _ in range(self.start_attempts):  # a free port may be taken before we bind it
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir / 'sock'} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._run([
                    str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                    "-l", str(self.log_path), "-w", "-t", "30", "-o", options, "start",
                ])  # fmt: skip
            except RuntimeError as exc:
                last_error = exc
                continue
            self._started = True
            return
        assert last_error is not None
        raise last_error

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a random name when none is given) and return its URL."""
        assert self.bin_dir is not None
        name = name or f"t_{secrets.token_hex(6)}"
        if not _DB_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._run(
            [
                str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                "-U", "postgres", name,
            ],
            as_owner=False,
        )  # fmt: skip
        return self.url_for(name)

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` and remove the cluster's directory."""
        if self._started and self.bin_dir is not None:
            self._started = False
            try:
                self._run([
                    str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast",
                    "-w", "-t", "30", "stop",
                ])  # fmt: skip
            except RuntimeError:
                self._kill_postmaster()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
