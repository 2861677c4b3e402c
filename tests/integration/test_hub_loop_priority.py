"""STELLARS_HUB_LOOP_REALTIME in a real hub: the kernel has the hub's event-loop thread (its main
thread) under SCHED_RR 1 and every other thread of the hub ordinary; without the setting, the
loop thread is ordinary too."""

from __future__ import annotations

import os

import pytest

from tests.backends.platform import start_platform
from tests.unit.test_loop_priority import may_set_realtime

pytestmark = pytest.mark.real


def policies(pid: int) -> dict[int, int]:
    """Each thread of `pid`: its scheduling policy, without the reset-on-fork flag."""
    return {
        int(tid): os.sched_getscheduler(int(tid)) & ~os.SCHED_RESET_ON_FORK
        for tid in os.listdir(f"/proc/{pid}/task")
    }


@pytest.mark.parametrize("realtime", [True, False])
def test_only_the_hubs_loop_thread_runs_under_sched_rr(jupyterhub_factory, tmp_path, realtime):
    env = {"STELLARS_SPAWNER": "local", "STELLARS_HUB_LOOP_REALTIME": "1" if realtime else "0"}
    hub = start_platform(jupyterhub_factory, tmp_path, env)
    assert hub.process is not None
    pid = hub.process.pid  # JupyterHub runs its loop on the main thread: its id is the pid
    threads = policies(pid)
    assert len(threads) > 1
    others = {tid: policy for tid, policy in threads.items() if tid != pid}
    assert set(others.values()) == {os.SCHED_OTHER}
    log = hub.log_path.read_text()
    if realtime and may_set_realtime():
        assert threads[pid] == os.SCHED_RR
        assert os.sched_getparam(pid).sched_priority == 1
        assert "the event loop's thread runs under SCHED_RR 1" in log
    else:
        assert threads[pid] == os.SCHED_OTHER
        assert ("needs CAP_SYS_NICE" in log) is realtime
