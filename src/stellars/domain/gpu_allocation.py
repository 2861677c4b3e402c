"""GPUs given out one by one: which GPUs a starting server gets, and why none when none.

The inventory is what the probe found (`stellars.domain.gpu.Gpu`: index, name, memory and the
UUID the engine takes as a device id). Every
server that runs holds the GPUs it was given, exclusively or shared. For a server that asks
for `count` GPUs:

1. A server that already holds GPUs keeps them (a restart, or a spawn the hub retries), when
   they still match what it asks for.
2. **Exclusive**: only GPUs nobody holds; the lowest indices first. A GPU held exclusively is
   never given to a second server, shared or not.
3. **Shared**: GPUs nobody holds exclusively, spread by load: those held by the fewest servers
   first, then the lowest index.
4. When fewer than `count` qualify, the start is refused with a message that says who holds
   each GPU, so the user knows whom to ask and the admin what to stop.
5. A stopped server's GPUs are free again (`release`). The holdings are read back from the
   running containers when the hub starts, so a hub restart loses none.

Reading back (`reconcile`): what a server's container was started with is what it really
holds, so the platform's record follows the containers, server by server:

6. A server the hub neither runs nor starts holds nothing.
7. A running server holds what its container names (no container, or one that names no GPU:
   nothing). A container that asked for every GPU (mode 1, or a server started before GPUs were
   given out one by one) holds them all, shared; one whose sharing was not recorded holds its
   GPUs exclusively, so that they are never given twice.
8. A starting (or stopping) server keeps what the platform gave it, since its container may not
   exist yet; given nothing, it holds what its container names (a server the hub is checking
   after its restart).
9. A server whose containers were not read, or whose holding changed while they were read (a
   start or a stop meanwhile), keeps its holding as it is now.

A lab learns its GPUs from its environment (`GpuAssignment.environment`): the UUIDs in
`NVIDIA_VISIBLE_DEVICES` (the NVIDIA container runtime's own variable, which also overrides an
image that sets "all") and `CUDA_VISIBLE_DEVICES` (what binds CUDA in a process outside a
container), and the sharing in `STELLARS_GPU_SHARING`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from .errors import InvalidValue, Refused
from .gpu import Gpu
from .policies import GpuSharing
from .validation import whole_number

#: A server: (username, server name).
ServerKey: TypeAlias = tuple[str, str]

#: The variables of a lab's environment that name its GPUs (see the module's docstring).
NVIDIA_VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
GPU_SHARING_VARIABLE = "STELLARS_GPU_SHARING"
#: NVIDIA_VISIBLE_DEVICES of a server given no GPU: the NVIDIA runtime then exposes none.
NO_GPU = "void"
#: How nvidia-smi and the engine name a GPU (or a MIG slice of one) by UUID.
_DEVICE_PREFIXES = ("GPU-", "MIG-")


def gpu_label(gpu: Gpu) -> str:
    """How a message names a GPU: "GPU 1 (A100)"."""
    return f"GPU {gpu.index}" + (f" ({gpu.name})" if gpu.name else "")


@dataclass(frozen=True, slots=True)
class Holding:
    """The GPUs (by UUID) one server holds, and how."""

    server: ServerKey
    devices: tuple[str, ...]
    sharing: GpuSharing


def _holders(holdings: Mapping[ServerKey, Holding]) -> dict[str, list[Holding]]:
    """device id -> the holdings that hold it."""
    found: dict[str, list[Holding]] = {}
    for holding in holdings.values():
        for device in holding.devices:
            found.setdefault(device, []).append(holding)
    return found


def _who(server: ServerKey) -> str:
    username, name = server
    return f"{username}/{name}" if name else username


def _holders_text(device: Gpu, holders: Sequence[Holding]) -> str:
    if not holders:
        return f"{gpu_label(device)}: free"
    names = ", ".join(sorted(_who(h.server) for h in holders))
    how = "exclusively" if holders[0].sharing is GpuSharing.EXCLUSIVE else "shared"
    return f"{gpu_label(device)}: held {how} by {names}"


def allocate(
    inventory: Sequence[Gpu],
    holdings: Mapping[ServerKey, Holding],
    server: ServerKey,
    count: int,
    sharing: GpuSharing,
) -> Holding:
    """The GPUs `server` gets (see the module rules). Raises Refused naming every GPU's holders
    when fewer than `count` can be given, InvalidValue for a bad count."""
    whole_number("gpus", count, 0)
    if count == 0:
        return Holding(server, (), sharing)
    if count > len(inventory):
        raise Refused(f"{_who(server)} asks for {count} GPU(s) but this host has {len(inventory)}.")
    held = holdings.get(server)
    if held is not None and len(held.devices) == count and held.sharing is sharing:
        return held
    others = {key: holding for key, holding in holdings.items() if key != server}
    holders = _holders(others)

    def taken_exclusively(device: Gpu) -> bool:
        return any(h.sharing is GpuSharing.EXCLUSIVE for h in holders.get(device.uuid, ()))

    if sharing is GpuSharing.EXCLUSIVE:
        candidates = sorted(
            (device for device in inventory if not holders.get(device.uuid)),
            key=lambda device: device.index,
        )
    else:
        candidates = sorted(
            (device for device in inventory if not taken_exclusively(device)),
            key=lambda device: (len(holders.get(device.uuid, ())), device.index),
        )
    if len(candidates) < count:
        state = "; ".join(
            _holders_text(device, holders.get(device.uuid, ()))
            for device in sorted(inventory, key=lambda device: device.index)
        )
        raise Refused(
            f"No {count} GPU(s) free for {_who(server)} ({sharing.value}): {state}. Ask a "
            "holder to stop their server, or an admin."
        )
    return Holding(server, tuple(device.uuid for device in candidates[:count]), sharing)


def check_holdings(
    inventory: Sequence[Gpu], holdings: Mapping[ServerKey, Holding]
) -> tuple[str, ...]:
    """What is wrong with a set of holdings (empty when nothing): a GPU held exclusively by
    more than one server or beside a shared holding, or a holding of a GPU the host lacks.
    The allocator never makes such a set; read-back holdings (containers started by hand, a
    GPU removed) may be one, and the hub logs it."""
    known = {device.uuid for device in inventory}
    problems = []
    for device_id, holders in sorted(_holders(holdings).items()):
        if device_id not in known:
            problems.append(f"{device_id} is held but not on this host")
        exclusive = [h for h in holders if h.sharing is GpuSharing.EXCLUSIVE]
        if exclusive and len(holders) > 1:
            names = ", ".join(sorted(_who(h.server) for h in holders))
            problems.append(f"{device_id} is held exclusively but by {names}")
    return tuple(problems)


@dataclass(frozen=True, slots=True)
class GpuUse:
    """One GPU as the activity page shows it: who holds it, and how."""

    device: Gpu
    holders: tuple[ServerKey, ...]
    sharing: GpuSharing | None


def gpu_use(inventory: Sequence[Gpu], holdings: Mapping[ServerKey, Holding]) -> tuple[GpuUse, ...]:
    """Every GPU of the host, by index, with its holders."""
    holders = _holders(holdings)
    return tuple(
        GpuUse(
            device,
            tuple(sorted(h.server for h in holders.get(device.uuid, ()))),
            holders[device.uuid][0].sharing if holders.get(device.uuid) else None,
        )
        for device in sorted(inventory, key=lambda device: device.index)
    )


def holdings_by_server(holdings: Sequence[Holding]) -> Mapping[ServerKey, Holding]:
    """Holdings keyed by their server (one per server; a second is refused)."""
    found: dict[ServerKey, Holding] = {}
    for holding in holdings:
        if holding.server in found:
            raise InvalidValue("holdings", f"two holdings for {_who(holding.server)}")
        found[holding.server] = holding
    return MappingProxyType(found)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerGpus:
    """The GPUs a server's container (or process) was started with, as read back: the device
    ids it names, or `every_gpu` when it asked for every GPU of the engine instead, and the
    sharing the platform recorded (None when none was)."""

    devices: tuple[str, ...] = ()
    every_gpu: bool = False
    sharing: GpuSharing | None = None


def held_by_container(
    inventory: Sequence[Gpu], server: ServerKey, found: ContainerGpus
) -> Holding | None:
    """The holding a server's container makes (rule 7); None when it holds no GPU."""
    if found.every_gpu:
        every = tuple(device.uuid for device in sorted(inventory, key=lambda device: device.index))
        return Holding(server, every, GpuSharing.SHARED) if every else None
    if not found.devices:
        return None
    return Holding(server, found.devices, found.sharing or GpuSharing.EXCLUSIVE)


def reconcile(
    inventory: Sequence[Gpu],
    holdings: Mapping[ServerKey, Holding],
    servers: Mapping[ServerKey, bool],
    found: Mapping[ServerKey, ContainerGpus | None],
    changed: Collection[ServerKey] = frozenset(),
) -> dict[ServerKey, Holding]:
    """The holdings after reading the containers back (rules 6 to 9).

    `servers`: every server the hub runs (True) or is starting or stopping (False). `found`:
    for each server whose container was read, what it holds (None: no such container).
    `changed`: servers whose holding changed while the containers were read; `holdings` are
    the platform's as they are now."""
    result: dict[ServerKey, Holding] = {}
    for server in sorted({*holdings, *servers, *changed}):
        current = holdings.get(server)
        if server in changed:
            kept = current
        elif server not in servers:
            kept = None
        elif server not in found:
            kept = current
        else:
            container = found[server]
            read = None if container is None else held_by_container(inventory, server, container)
            kept = read if servers[server] else current or read
        if kept is not None:
            result[server] = kept
    return result


def sharing_from_environment(environment: Mapping[str, str]) -> GpuSharing | None:
    """The sharing a lab's environment records (`STELLARS_GPU_SHARING`); None when it records
    none that the platform knows."""
    text = environment.get(GPU_SHARING_VARIABLE)
    if text is None:
        return None
    known = {sharing.value: sharing for sharing in GpuSharing}
    return known.get(text.strip().lower())


def gpus_from_environment(environment: Mapping[str, str]) -> ContainerGpus:
    """The GPUs a lab's environment names (`CUDA_VISIBLE_DEVICES`, by UUID: indices or other
    entries are not the platform's and are left out) and its sharing: how the GPUs of a server
    that runs as a local process are read back."""
    listed = environment.get(CUDA_VISIBLE_DEVICES)
    entries = () if listed is None else (part.strip() for part in listed.split(","))
    devices = tuple(entry for entry in entries if entry.startswith(_DEVICE_PREFIXES))
    return ContainerGpus(devices=devices, sharing=sharing_from_environment(environment))


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuAssignment:
    """What one spawn gets. `enabled`: the platform hands out GPUs at all (the GPU decision);
    then either `every_gpu` (mode 1: every GPU the engine has, none named, since no probe
    listed them) or the `devices` (UUIDs) this server holds, with their `sharing`."""

    enabled: bool = False
    detected: bool = False
    every_gpu: bool = False
    devices: tuple[str, ...] = ()
    sharing: GpuSharing = GpuSharing.EXCLUSIVE

    @property
    def has_gpus(self) -> bool:
        return self.every_gpu or bool(self.devices)

    @property
    def environment(self) -> dict[str, str]:
        """What the lab reads: its GPU tooling on only with a GPU, and, when GPUs are given out
        one by one, which ones (none: `NO_GPU`, and an empty CUDA list) and how."""
        flag = "1" if self.has_gpus else "0"
        environment = {
            "ENABLE_GPU_SUPPORT": flag,
            "ENABLE_GPUSTAT": flag,
            "NVIDIA_DETECTED": "1" if self.detected else "0",
        }
        if self.enabled and not self.every_gpu:
            named = ",".join(self.devices)
            environment[NVIDIA_VISIBLE_DEVICES] = named or NO_GPU
            environment[CUDA_VISIBLE_DEVICES] = named
            if self.devices:
                environment[GPU_SHARING_VARIABLE] = self.sharing.value
        return environment
