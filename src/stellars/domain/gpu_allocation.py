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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from .errors import InvalidValue, Refused
from .gpu import Gpu
from .policies import GpuSharing
from .validation import whole_number

#: A server: (username, server name).
ServerKey: TypeAlias = tuple[str, str]


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
