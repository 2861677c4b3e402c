"""VolumeStore on the Docker engine: sizes from the engine's disk-usage data, removal per volume."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Mapping
from datetime import datetime, timezone
from typing import Any

import docker.errors

from stellars.domain.errors import BackendUnavailable
from stellars.domain.volumes import VolumeInfo, VolumeOutcome

from .engine import DockerEngine

#: The label that carries a volume's owner key (stellars.domain.volume_ownership).
OWNER_LABEL = "org.stellars-hub.owner"
_ENGINE_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|z|[+-]\d\d:\d\d)$")

# dockerd 20.10 runs one disk-usage computation at a time and answers any concurrent one with
# HTTP 500 and this message (newer engines share the running computation instead).
DF_BUSY_MESSAGE = "a disk usage operation is already running"
_NOT_MEASURED = -1


def engine_time(text: object) -> datetime | None:
    """A time as the engine writes it (RFC 3339, "Z" or an offset, any fraction), in UTC."""
    if not isinstance(text, str) or not text:
        return None
    match = _ENGINE_TIME.match(text.strip())
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    micros = (fraction or "")[1:7].ljust(6, "0")
    offset = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{whole}.{micros}{offset}").astimezone(timezone.utc)
    except ValueError:
        return None


def volume_info(entry: Mapping[str, Any], *, with_size: bool = True) -> VolumeInfo | None:
    """One volume of an engine answer (`GET /volumes/{name}` or an entry of `/system/df`)."""
    name = entry.get("Name")
    if not isinstance(name, str):
        return None
    size = (entry.get("UsageData") or {}).get("Size") if with_size else None
    measured = isinstance(size, int) and size != _NOT_MEASURED and size >= 0
    owner = (entry.get("Labels") or {}).get(OWNER_LABEL)
    return VolumeInfo(
        name,
        size if measured else None,
        created_at=engine_time(entry.get("CreatedAt")),
        owner=owner if isinstance(owner, str) and owner else None,
    )


def volumes_from_disk_usage(payload: Mapping[str, Any]) -> list[VolumeInfo]:
    """The volumes of a `GET /system/df` answer, sorted by name.

    `UsageData.Size` is -1 while the engine has not measured a volume (and UsageData is absent
    for drivers that cannot be measured): both become size None.
    """
    found = [volume_info(entry) for entry in payload.get("Volumes") or ()]
    return sorted((info for info in found if info is not None), key=lambda volume: volume.name)


class DockerVolumeStore:
    """Named volumes on one Docker engine (the VolumeStore port).

    Listing costs one disk-usage request (`GET /system/df?type=volume`; engines before API 1.42
    ignore `type` and answer the full df, still one request). Concurrent listings in this process
    share one request, and an engine busy with another process's df is asked again up to
    `df_attempts` times, `df_retry_seconds` apart.
    """

    def __init__(
        self, engine: DockerEngine, *, df_attempts: int = 5, df_retry_seconds: float = 0.2
    ) -> None:
        self._engine = engine
        self._df_attempts = max(1, df_attempts)
        self._df_retry_seconds = df_retry_seconds
        self._df_in_flight: asyncio.Task[Mapping[str, Any]] | None = None

    async def volumes(self, names: Collection[str] | None = None) -> list[VolumeInfo]:
        """Existing volumes with sizes (all, or those among `names`), sorted by name."""
        listed = volumes_from_disk_usage(await self._disk_usage())
        if names is None:
            return listed
        wanted = set(names)
        return [volume for volume in listed if volume.name in wanted]

    async def remove(self, names: Collection[str]) -> dict[str, VolumeOutcome]:
        """Remove each volume; removed / not found / in use per name."""
        unique = list(dict.fromkeys(names))
        outcomes = await asyncio.gather(*(self._remove_one(name) for name in unique))
        return dict(zip(unique, outcomes, strict=True))

    async def describe(self, names: Collection[str]) -> list[VolumeInfo]:
        """The existing volumes among `names` (one inspection each), without sizes."""
        unique = sorted(set(names))
        found = await asyncio.gather(*(self._inspect(name) for name in unique))
        return [info for info in found if info is not None]

    async def provision(self, name: str, *, owner: str | None) -> VolumeInfo:
        """Create the volume with the owner label unless it exists; describe it."""

        def provision() -> Mapping[str, Any]:
            api = self._engine.api
            try:
                return api.inspect_volume(name)
            except docker.errors.NotFound:
                pass
            labels = {OWNER_LABEL: owner} if owner else None
            # Creating a name that exists (a spawn racing this one) returns that volume.
            return api.create_volume(name=name, labels=labels)

        answer = await self._engine.run(provision, what=f"creation of volume {name!r}")
        info = volume_info(answer, with_size=False)
        if info is None:
            raise BackendUnavailable(f"the engine did not describe volume {name!r}")
        return info

    async def _inspect(self, name: str) -> VolumeInfo | None:
        def inspect() -> Mapping[str, Any] | None:
            try:
                return self._engine.api.inspect_volume(name)
            except docker.errors.NotFound:
                return None

        answer = await self._engine.run(inspect, what=f"inspection of volume {name!r}")
        return None if answer is None else volume_info(answer, with_size=False)

    async def _remove_one(self, name: str) -> VolumeOutcome:
        def remove() -> VolumeOutcome:
            try:
                self._engine.api.remove_volume(name)
            except docker.errors.NotFound:
                return VolumeOutcome.NOT_FOUND
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # "volume is in use - [container ids]"
                    return VolumeOutcome.IN_USE
                raise
            return VolumeOutcome.REMOVED

        return await self._engine.run(remove, what=f"removal of volume {name!r}")

    async def _disk_usage(self) -> Mapping[str, Any]:
        # Single flight: callers arriving while a df runs await that same df.
        loop = asyncio.get_running_loop()
        shared = self._df_in_flight
        if shared is None or shared.done() or shared.get_loop() is not loop:
            shared = self._df_in_flight = loop.create_task(self._disk_usage_with_retries())
            # Mark the error seen even when every waiter was cancelled before it came.
            shared.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(shared)

    async def _disk_usage_with_retries(self) -> Mapping[str, Any]:
        for attempt in range(1, self._df_attempts + 1):
            status, payload = await self._engine.run(
                self._request_disk_usage, what="a disk-usage request"
            )
            if status == 200:
                return payload
            message = str(payload.get("message", payload))
            if DF_BUSY_MESSAGE not in message or attempt == self._df_attempts:
                raise BackendUnavailable(f"Docker disk usage failed (HTTP {status}): {message}")
            await asyncio.sleep(self._df_retry_seconds * attempt)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _request_disk_usage(self) -> tuple[int, Mapping[str, Any]]:
        # The SDK's df() cannot pass `type`, so the endpoint is called on the low-level client.
        api = self._engine.api
        url = f"{api.base_url}/v{api.api_version}/system/df"
        response = api.get(url, params={"type": "volume"}, timeout=self._engine.timeout_seconds)
        try:
            payload = response.json()
        except ValueError:
            payload = {"message": response.text.strip()[:200] or "an empty answer"}
        if not isinstance(payload, dict):
            payload = {"message": "unexpected disk-usage answer"}
        return response.status_code, payload
