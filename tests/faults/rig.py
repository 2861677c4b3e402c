"""Shared pieces of the fault run: a PostgreSQL cluster that can be stopped and started again
on its port with its data, the platform's pages and APIs probed while a backend is away, and
the processes a hub started, found by their command line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.backends.platform import HubClient
from tests.backends.postgres import PostgresCluster
from tests.backends.processes import descendants


class PausablePostgres(PostgresCluster):
    """A throwaway cluster that a test can stop (the database goes away: connections are
    refused) and start again on the same port with the same data."""

    def pause(self) -> None:
        """`pg_ctl stop -m fast`: open connections are closed, new ones refused."""
        assert self.bin_dir is not None
        self._run([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast",
            "-w", "-t", "30", "stop",
        ])  # fmt: skip

    def resume(self) -> None:
        """Start the stopped cluster again on its port, with its data."""
        assert self.bin_dir is not None
        assert self.workdir is not None
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir / 'sock'} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
            "-l", str(self.log_path), "-w", "-t", "30", "-o", options, "start",
        ])  # fmt: skip


#: Pages (under /hub) an admin opens; each answers 200, or 503 with a message.
ADMIN_PAGES = ("/home", "/activity", "/settings", "/notifications", "/policies", "/admin")
#: APIs (under /hub/api) an admin reads; {user} is a signed-up user.
ADMIN_APIS = (
    "/activity",
    "/activity/history?start={today}&end={today}",
    "/activity/gpus",
    "/settings",
    "/policies",
    "/notifications/active-servers",
    "/users/{user}/session-info",
    "/users/{user}/last-stop",
    "/users/{user}/resources",
    "/users/{user}/storage",
    "/users",
)


@dataclass(frozen=True)
class Answer:
    """One probe: the path, its status, and why it does not count as answering (empty when
    it does)."""

    path: str
    status: int
    problem: str = ""


def judge(path: str, response: requests.Response, *, api: bool) -> Answer:
    """200 answers; 503 answers when it carries a message (a JSON `message` for an API, a
    non-empty body for a page); anything else (a 500 above all) does not."""
    status = response.status_code
    if status < 400:
        return Answer(path, status)
    if status != 503:
        return Answer(path, status, f"{status}: {response.text[:300]}")
    if not api:
        return Answer(path, status, "" if response.text.strip() else "503 without a body")
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return Answer(path, status, f"503 without a JSON body: {response.text[:300]}")
    return Answer(path, status, "" if message else f"503 without a message: {response.text}")


def probe(client: HubClient, user: str, today: str) -> list[Answer]:
    """Every admin page and API once."""
    answers = []
    for page in ADMIN_PAGES:
        try:
            answers.append(judge(page, client.page(page), api=False))
        except requests.RequestException as error:
            answers.append(Answer(page, 0, f"no answer: {error}"))
    for template in ADMIN_APIS:
        path = template.format(user=user, today=today)
        try:
            answers.append(judge(path, client.api("GET", path, timeout=30), api=True))
        except requests.RequestException as error:
            answers.append(Answer(path, 0, f"no answer: {error}"))
    return answers


def problems(answers: Iterable[Answer]) -> list[str]:
    return [f"{answer.path}: {answer.problem}" for answer in answers if answer.problem]


def statuses(answers: Iterable[Answer]) -> dict[str, set[int]]:
    """Each path with the statuses it answered."""
    seen: dict[str, set[int]] = {}
    for answer in answers:
        seen.setdefault(answer.path, set()).add(answer.status)
    return seen


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def child_with(root_pid: int, needle: str) -> int | None:
    """The first descendant of `root_pid` whose command line contains `needle`."""
    for pid in sorted(descendants(root_pid)):
        if needle in command_line(pid):
            return pid
    return None
