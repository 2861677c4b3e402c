"""STELLARS_HUB_LOOP_REALTIME: the thread that asks, and only it, runs under SCHED_RR 1; what it
starts afterwards is ordinary; without permission the hub is told why.

Both sides run on every machine that can grant the policy: a thread without CAP_SYS_NICE is
made by taking the capability out of its own effective set. Where this process cannot grant it
(root in a container, a `docker build` step included), the granting side is skipped with the
reason, or fails when STELLARS_REQUIRE_BACKENDS=1 (CI runs as root on the host, where it can).
"""

from __future__ import annotations

import os
import threading

from stellars.adapters.jupyterhub.hub_process import priority as loop_priority
from stellars.adapters.jupyterhub.hub_process.priority import put_this_thread_ahead
from tests.backends.capabilities import CAP_SYS_NICE, may_set_realtime, without_in_this_thread
from tests.backends.fixtures import require


def policy_of_this_thread() -> int:
    return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK


def ask_in_a_thread(*, without_cap_sys_nice: bool = False) -> dict[str, object]:
    """Call put_this_thread_ahead in a new thread (optionally one without CAP_SYS_NICE), which
    then starts a thread of its own; what each saw."""
    seen: dict[str, object] = {}

    def loop_thread() -> None:
        if without_cap_sys_nice:
            with without_in_this_thread(CAP_SYS_NICE):
                seen["refused"] = put_this_thread_ahead()
        else:
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
    return seen


def test_only_the_asking_thread_runs_under_sched_rr():
    if not may_set_realtime():
        require(
            "CAP_SYS_NICE",
            "this process may not choose a real-time policy (no CAP_SYS_NICE, RLIMIT_RTPRIO 0), "
            "so SCHED_RR cannot be granted here",
        )
    seen = ask_in_a_thread()
    assert seen["refused"] is None
    assert seen["policy"] == os.SCHED_RR and seen["priority"] == 1
    assert seen["later"] == os.SCHED_OTHER  # reset on fork
    assert policy_of_this_thread() == os.SCHED_OTHER  # the test's own thread is untouched


def test_a_thread_without_cap_sys_nice_is_refused_with_the_reason_and_keeps_its_policy():
    seen = ask_in_a_thread(without_cap_sys_nice=True)
    assert "CAP_SYS_NICE" in str(seen["refused"])
    assert seen["policy"] == os.SCHED_OTHER and seen["priority"] == 0
    assert seen["later"] == os.SCHED_OTHER
    assert policy_of_this_thread() == os.SCHED_OTHER


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
