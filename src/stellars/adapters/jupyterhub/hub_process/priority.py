"""The hub's event-loop thread ahead of ordinary tasks for a CPU (`STELLARS_HUB_LOOP_REALTIME`).

On a host where labs boot and the engine works on few cores, the loop thread can wait tens of
milliseconds on the run queue with nothing of its own to run (the stall log's split shows it);
niceness does not remove those waits. Under SCHED_RR at priority 1, the lowest real-time
priority, the kernel runs the thread as soon as it is runnable. Only this thread: the policy
is set with reset-on-fork, so the threads and processes it starts later (the Docker and SQL
pools, spawned servers) stay ordinary, and the kernel's real-time throttling still leaves the
other tasks 5% of each CPU should the loop ever spin.
"""

from __future__ import annotations

import os


def put_this_thread_ahead() -> str | None:
    """Put the calling thread under SCHED_RR 1 with reset-on-fork; None when done, else why
    not (no permission, or not Linux)."""
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_RESET_ON_FORK"):
        return "this system has no real-time scheduling policies for threads"
    try:
        # On Linux, 0 is the calling thread, not the whole process.
        os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(1))
    except PermissionError:
        return (
            "not permitted: the hub needs CAP_SYS_NICE (root on the host, or cap_add: "
            "SYS_NICE for its container) or an RLIMIT_RTPRIO of at least 1"
        )
    except OSError as error:
        return f"the kernel refused: {error}"
    return None
