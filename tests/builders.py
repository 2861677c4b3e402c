"""Small builders the unit tests share: the pieces a service needs that are not fakes of a
port but domain objects over them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

from stellars.domain.services import Refresher
from stellars.domain.volumes import VolumeInfo
from stellars.ports import Clock, VolumeStore


class VolumeSizes(Refresher[Mapping[str, VolumeInfo]]):
    """The background measurement of every volume, as `platform.build` makes it, counting the
    measurements asked for (`requests`). Not started: a test runs passes with `refresh_now`."""

    def __init__(self, store: VolumeStore, clock: Clock) -> None:
        async def measure() -> Mapping[str, VolumeInfo]:
            return MappingProxyType({info.name: info for info in await store.volumes()})

        super().__init__(
            measure,
            empty=MappingProxyType({}),
            interval=timedelta(hours=1),
            clock=clock,
            name="volume sizes",
        )
        self.requests = 0

    def request_refresh(self) -> None:
        self.requests += 1
        super().request_refresh()
