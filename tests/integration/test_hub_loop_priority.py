"""STELLARS_HUB_LOOP_REALTIME in a real hub: the kernel has the hub's event-loop thread (its main
thread) under SCHED_RR 1 and every other thread of the hub ordinary; a hub without CAP_SYS_NICE
keeps an ordinary loop thread and logs why; without the setting, the loop thread is ordinary too.

The hub without the capability is started through a launcher that takes it away (root
included), so both sides run on a machine that can grant the policy. Where this process cannot
grant it, the granting case is skipped with the reason, or fails when
STELLARS_REQUIRE_BACKENDS=1."""

from __future__ import annotations

import os

import pytest

from tests.backends.capabilities import CAP_SYS_NICE, command_without, held, may_set_realtime
from tests.backends.fixtures import require
from tests.backends.platform import start_platform

pytestmark = pytest.mark.real


def policies(pid: int) -> dict[int, int]:
    """Each thread of `pid`: its scheduling policy, without the reset-on-fork flag."""
    return {
        int(tid): os.sched_getscheduler(int(tid)) & ~os.SCHED_RESET_ON_FORK
        for tid in os.listdir(f"/proc/{pid}/task")
    }


@pytest.mark.parametrize("case", ["granted", "without-cap-sys-nice", "not-asked"])
def test_only_the_hubs_loop_thread_runs_under_sched_rr(jupyterhub_factory, tmp_path, case):
    if case == "granted" and not may_set_realtime():
        require(
            "CAP_SYS_NICE",
            "this process may not choose a real-time policy (no CAP_SYS_NICE, RLIMIT_RTPRIO 0), "
            "so neither may the hub it starts",
        )
    realtime = case != "not-asked"
    env = {"STELLARS_SPAWNER": "local", "STELLARS_HUB_LOOP_REALTIME": "1" if realtime else "0"}
    launcher = command_without(CAP_SYS_NICE) if case == "without-cap-sys-nice" else []
    hub = start_platform(jupyterhub_factory, tmp_path, env, launcher=launcher)
    assert hub.process is not None
    pid = hub.process.pid  # JupyterHub runs its loop on the main thread: its id is the pid
    if launcher:
        assert not held(CAP_SYS_NICE, pid), "the launcher left the hub its CAP_SYS_NICE"
    threads = policies(pid)
    assert len(threads) > 1
    others = {tid: policy for tid, policy in threads.items() if tid != pid}
    assert set(others.values()) == {os.SCHED_OTHER}
    log = hub.log_path.read_text()
    if case == "granted":
        assert threads[pid] == os.SCHED_RR
        assert os.sched_getparam(pid).sched_priority == 1
        assert "the event loop's thread runs under SCHED_RR 1" in log
    else:
        assert threads[pid] == os.SCHED_OTHER
        assert ("needs CAP_SYS_NICE" in log) is realtime
