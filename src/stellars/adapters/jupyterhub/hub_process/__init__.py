"""The hub process itself: how its event loop keeps up (lag, stall reports), its scheduling
priority, its garbage collection and its SQLite connections. Nothing here serves a route."""

from .garbage import settle_garbage_collection
from .hub_database import TunedHubConnection, hub_db_kwargs
from .loop_watch import LoopLagMonitor, ThreadTimes, where_the_time_went
from .priority import put_this_thread_ahead

__all__ = [
    "LoopLagMonitor",
    "ThreadTimes",
    "TunedHubConnection",
    "hub_db_kwargs",
    "put_this_thread_ahead",
    "settle_garbage_collection",
    "where_the_time_went",
]
