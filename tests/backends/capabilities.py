"""Linux capabilities, for tests of what a process may do with one and without it: whether this
process holds one, the calling thread without it for a while, and a command that runs a program
without it (root included).

The tests of STELLARS_HUB_LOOP_REALTIME need both sides on one machine. Root on a host holds
CAP_SYS_NICE and root in a container (a `docker build` step included) does not; either way one
side of the rule can only be seen by taking the capability away, which needs no privilege.

Capabilities are per thread on Linux: `capset` with pid 0 changes the calling thread only.
`RLIMIT_RTPRIO` also lets a process choose a real-time priority up to its value; the helpers
that take CAP_SYS_NICE away set its soft value to 0 as well, so that the kernel's refusal is
what the caller sees.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CAP_SYS_NICE = 23  # its bit in the capability sets (linux/capability.h)

_LINUX_CAPABILITY_VERSION_3 = 0x20080522  # two 32-bit words per set


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def held(capability: int, pid: int | str = "self") -> bool:
    """Whether process `pid` (this one by default) has `capability` in its effective set."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> capability & 1)
    return False


def may_set_realtime() -> bool:
    """Whether the kernel lets this process put a thread under SCHED_RR 1: it holds
    CAP_SYS_NICE, or its RLIMIT_RTPRIO allows priority 1 (root on a host does; root in a
    container, a `docker build` step included, does not by default)."""
    return held(CAP_SYS_NICE) or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] >= 1


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


@contextmanager
def without_in_this_thread(capability: int) -> Iterator[None]:
    """The calling thread without `capability` in its effective set (it stays permitted, and
    is raised again on the way out), and the process's soft RLIMIT_RTPRIO at 0 meanwhile."""
    libc = _libc()
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    word, bit = divmod(capability, 32)
    before = data[word].effective
    data[word].effective = before & ~(1 << bit)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    soft, hard = resource.getrlimit(resource.RLIMIT_RTPRIO)
    resource.setrlimit(resource.RLIMIT_RTPRIO, (0, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_RTPRIO, (soft, hard))
        data[word].effective = before
        libc.capset(ctypes.byref(header), data)


# Runs as `python -c SCRIPT CAPABILITY PROGRAM ARGS...`: takes the capability out of the bounding,
# inheritable and ambient sets (so that exec cannot grant it again, to root either), sets the
# soft RLIMIT_RTPRIO to 0, and execs the program.
_WITHOUT_SCRIPT = """\
import ctypes, ctypes.util, os, resource, sys

class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
capability = int(sys.argv[1])
PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
# Without CAP_SETPCAP the bounding set stays, but then this is not root, and exec grants a
# non-root program nothing beyond the ambient set, cleared below.
if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and os.geteuid() == 0:
    sys.exit("cannot drop capability %d from the bounding set: errno %d"
             % (capability, ctypes.get_errno()))
libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
header, data = Header(0x20080522, 0), (Data * 2)()
libc.capget(ctypes.byref(header), data)
word, bit = divmod(capability, 32)
data[word].inheritable &= ~(1 << bit)
data[word].effective &= ~(1 << bit)
if libc.capset(ctypes.byref(header), data) != 0:
    sys.exit("capset failed: errno %d" % ctypes.get_errno())
resource.setrlimit(resource.RLIMIT_RTPRIO, (0, resource.getrlimit(resource.RLIMIT_RTPRIO)[1]))
os.execv(sys.argv[2], sys.argv[2:])
"""


def command_without(capability: int) -> list[str]:
    """A command prefix: `[*command_without(CAP_SYS_NICE), program, *args]` runs the program
    (an absolute path) without the capability and with a soft RLIMIT_RTPRIO of 0. Dropping it
    from the bounding set needs CAP_SETPCAP, which root holds (root without it exits)."""
    return [sys.executable, "-c", _WITHOUT_SCRIPT, str(capability)]
