"""Why a server stopped: the rule that reads a container's end as a stop (out of memory only
when the OOM killer struck and the server did not exit cleanly), the words the user reads, and
the service that records a stop, forgets it at the next start and tells it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.adapters.memory import InMemoryHubDirectory, InMemoryServerStopStore, ManualClock
from stellars.domain.errors import InvalidValue, NotFound
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.policies import GIB, MIB
from stellars.domain.services import LastStop, ServerStopService
from stellars.domain.stops import (
    DETAIL_LIMIT,
    ContainerExit,
    ServerStop,
    StopReason,
    stop_of,
)
from tests.strategies import EPOCH

FINISHED = EPOCH + timedelta(hours=1)
SEEN = EPOCH + timedelta(hours=2)


def ended(code: int = 137, oom: bool = True, **fields: object) -> ContainerExit:
    values: dict[str, object] = {"finished_at": FINISHED, "memory_limit": 4 * GIB, **fields}
    return ContainerExit(exit_code=code, oom_killed=oom, **values)  # type: ignore[arg-type]


def stop(**fields: object) -> ServerStop:
    values: dict[str, object] = {
        "username": "ada",
        "server": "",
        "at": FINISHED,
        "reason": StopReason.OUT_OF_MEMORY,
        **fields,
    }
    return ServerStop(**values)  # type: ignore[arg-type]


class TestTheRule:
    def test_an_oom_kill_that_took_the_server_is_out_of_memory(self):
        got = stop_of("ada", "", ended(137, True), seen_at=SEEN)
        assert got == ServerStop(
            username="ada",
            server="",
            at=FINISHED,
            reason=StopReason.OUT_OF_MEMORY,
            exit_code=137,
            memory_limit=4 * GIB,
            detail="",
        )

    @pytest.mark.parametrize("code", [1, 2, 137, 143, 255])
    def test_any_unclean_exit_after_an_oom_kill_is_out_of_memory(self, code):
        assert stop_of("ada", "", ended(code, True), seen_at=SEEN).reason is (
            StopReason.OUT_OF_MEMORY
        )

    def test_a_clean_exit_after_an_oom_kill_of_another_process_is_an_exit(self):
        # The engine marks the container when the OOM killer took any process in it (a
        # notebook's kernel, say); a server that then shut down cleanly did not run out.
        got = stop_of("ada", "", ended(0, True), seen_at=SEEN)
        assert (got.reason, got.exit_code) == (StopReason.EXITED, 0)

    @pytest.mark.parametrize("code", [0, 1, 137])
    def test_without_an_oom_kill_every_end_is_an_exit_with_its_code(self, code):
        got = stop_of("ada", "gpu", ended(code, False), seen_at=SEEN)
        assert (got.reason, got.exit_code, got.server) == (StopReason.EXITED, code, "gpu")

    @given(code=st.integers(-(2**31), 2**31), oom=st.booleans())
    def test_out_of_memory_exactly_when_oom_killed_and_not_clean(self, code, oom):
        got = stop_of("ada", "", ended(code, oom), seen_at=SEEN)
        assert (got.reason is StopReason.OUT_OF_MEMORY) == (oom and code != 0)
        assert got.exit_code == code

    def test_the_stop_is_when_the_engine_says_it_finished_else_when_it_was_seen(self):
        assert stop_of("ada", "", ended(), seen_at=SEEN).at == FINISHED
        assert stop_of("ada", "", ended(finished_at=None), seen_at=SEEN).at == SEEN

    def test_the_limit_and_the_engines_words_are_kept(self):
        got = stop_of("ada", "", ended(1, False, memory_limit=None, error="boom"), seen_at=SEEN)
        assert (got.memory_limit, got.detail) == (None, "boom")


class TestWhatTheUserReads:
    def test_out_of_memory_names_the_limit(self):
        assert stop(memory_limit=4 * GIB).message == "stopped: ran out of memory (limit 4 GiB)"
        assert stop(memory_limit=256 * MIB).explanation == "ran out of memory (limit 256 MiB)"

    def test_out_of_memory_without_a_limit_says_only_that(self):
        assert stop(memory_limit=None).message == "stopped: ran out of memory"

    def test_an_exit_names_its_code(self):
        got = stop(reason=StopReason.EXITED, exit_code=3, memory_limit=GIB)
        assert got.message == "stopped: exited with code 3"

    def test_the_reasons_are_stable_names(self):
        assert [reason.value for reason in StopReason] == [
            "out_of_memory",
            "exited",
            "culled",
            "max_age",
            "stopped_by_user",
            "stopped_by_admin",
            "stopped_by_service",
            "restarted",
            "engine_lost",
            "node_unavailable",
        ]


class TestTheValue:
    def test_a_naive_time_is_refused(self):
        with pytest.raises(InvalidValue) as refused:
            stop(at=datetime(2026, 1, 1))
        assert (refused.value.field, refused.value.message) == ("at", "must be timezone-aware")

    def test_a_reason_must_be_a_stop_reason(self):
        with pytest.raises(InvalidValue) as refused:
            stop(reason="out_of_memory")
        assert refused.value.field == "reason"
        assert refused.value.message == "must be a StopReason, got 'out_of_memory'"

    def test_the_engines_words_are_cut_to_the_limit(self):
        assert DETAIL_LIMIT == 500
        assert stop(detail="x" * DETAIL_LIMIT).detail == "x" * DETAIL_LIMIT
        long = stop(detail="y" * (DETAIL_LIMIT + 1)).detail
        assert len(long) == DETAIL_LIMIT and long.endswith("...")


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(SEEN)
        self.store = InMemoryServerStopStore()
        self.directory = InMemoryHubDirectory()
        self.service = ServerStopService(
            store=self.store, directory=self.directory, clock=self.clock
        )


@pytest.fixture
def world() -> World:
    return World()


class TestTheService:
    async def test_an_exit_is_recorded_as_the_servers_last_stop(self, world):
        recorded = await world.service.exited("ada", "", ended(finished_at=None))
        assert recorded.at == SEEN  # the service's clock, when the engine does not say
        assert await world.store.last("ada") == recorded

    async def test_the_next_exit_replaces_it(self, world):
        await world.service.exited("ada", "", ended(137, True))
        await world.service.exited("ada", "", ended(1, False))
        assert (await world.store.last("ada")).reason is StopReason.EXITED

    async def test_a_new_start_forgets_the_last_stop_of_that_server_only(self, world):
        await world.service.exited("ada", "", ended())
        await world.service.exited("ada", "gpu", ended())
        await world.service.starting("ada", "")
        assert await world.store.last("ada") is None
        assert await world.store.last("ada", "gpu") is not None

    async def test_the_last_stop_of_a_stopped_server(self, world):
        world.directory.users["ada"] = HubUser(name="ada")
        recorded = await world.service.exited("ada", "", ended())
        assert await world.service.last_stop("ada") == LastStop("ada", "", False, recorded)

    async def test_no_stop_since_the_last_start_is_none(self, world):
        snapshot = ServerSnapshot(username="ada", ready=True, started=EPOCH)
        world.directory.users["ada"] = HubUser(name="ada", servers={"": snapshot})
        assert await world.service.last_stop("ada") == LastStop("ada", "", True, None)

    async def test_a_starting_server_is_active(self, world):
        snapshot = ServerSnapshot(username="ada", name="gpu", pending="spawn")
        world.directory.users["ada"] = HubUser(name="ada", servers={"gpu": snapshot})
        assert (await world.service.last_stop("ada", "gpu")).server_active is True
        assert (await world.service.last_stop("ada")).server_active is False

    async def test_each_server_tells_its_own_stop(self, world):
        world.directory.users["ada"] = HubUser(name="ada")
        recorded = await world.service.exited("ada", "gpu", ended())
        assert await world.service.last_stop("ada", "gpu") == LastStop(
            "ada", "gpu", False, recorded
        )
        assert (await world.service.last_stop("ada")).stop is None

    async def test_an_unknown_user_is_not_found(self, world):
        await world.service.exited("ghost", "", ended())
        with pytest.raises(NotFound, match="No user named 'ghost'"):
            await world.service.last_stop("ghost")
