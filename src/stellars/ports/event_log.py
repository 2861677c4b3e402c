from __future__ import annotations

from datetime import datetime
from typing import Protocol

from stellars.domain.events import PlatformEvent


class EventLog(Protocol):
    """Platform events, shared by the processes of one platform (the sampler and the idle
    culler record, the hub reads).

    Ids are assigned by the log, grow with every event recorded and are never reused, not even
    after a prune; an event is visible to `since` no earlier than every event with a smaller
    id, so a reader that remembers the last id it saw misses nothing.
    Raises BackendUnavailable when its storage cannot be reached.
    """

    async def record(self, event: PlatformEvent) -> PlatformEvent:
        """Store the event (its `id` is ignored); returns it with the id it was given."""
        ...

    async def since(self, after_id: int, *, limit: int = 1000) -> list[PlatformEvent]:
        """At most `limit` (>= 1, else InvalidValue) events with id > after_id, ids ascending."""
        ...

    async def prune(self, *, older_than: datetime) -> int:
        """Delete events with at <= older_than; returns how many were deleted."""
        ...
