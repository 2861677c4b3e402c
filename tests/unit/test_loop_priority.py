"""STELLARS_HUB_LOOP_REALTIME: the thread that asks, and only it, runs under SCHED_RR 1; what it
starts afterwards is ordinary; without permission the hub is told why."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from stellars.adapters.jupyterhub.hub_process import priority as loop_priority
from stellars.adapters.jupyterhub.hub_process.priority import put_this_thread_ahead

CAP_SYS_NICE = 23  # its bit in the capability sets (linux/capability.h)


def may_set_realtime() -> bool:
    """Whether this process holds CAP_SYS_NICE (root on a host does; root in a container, a
    `docker build` step included, does not by default)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_NICE & 1)
    return False


def policy_of_this_thread() -> int:
    return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK


def test_only_the_asking_thread_runs_under_sched_rr():
    seen: dict[str, object] = {}

    def loop_thread() -> None:
        seen["refused"] = put_this_thread_ahead()
        seen["policy"] = policy_of_this_thread()
        seen["priority"] = os.sched_getparam(0).sched_priority

        def later() -> None:  # a pool thread the loop starts afterwards
            seen["later"] = policy_of_this_thread()

        child = threading.Thread(target=later)
        child.start()
        child.join()

    asking = threading.Thread(target=loop_thread)
    asking.start()
    asking.join()
    assert policy_of_this_thread() == os.SCHED_OTHER  # the test's own thread is untouched
    assert seen["later"] == os.SCHED_OTHER  # reset on fork
    if may_set_realtime():  # CI and the dev machine run as root on the host: it must take
        assert seen["refused"] is None
        assert seen["policy"] == os.SCHED_RR and seen["priority"] == 1
    else:  # without CAP_SYS_NICE: refused, with the reason, and nothing changed
        assert "CAP_SYS_NICE" in str(seen["refused"])
        assert seen["policy"] == os.SCHED_OTHER


def test_a_refusal_names_what_the_hub_needs(monkeypatch):
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(loop_priority.os, "sched_setscheduler", refuse)
    assert "CAP_SYS_NICE" in (put_this_thread_ahead() or "")


def test_other_kernel_errors_are_reported_not_raised(monkeypatch):
    def fail(*args: object) -> None:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(loop_priority.os, "sched_setscheduler", fail)
    assert "Invalid argument" in (put_this_thread_ahead() or "")
