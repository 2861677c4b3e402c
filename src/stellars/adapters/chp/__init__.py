"""configurable-http-proxy REST API adapter."""

from .routes import (
    ChpProxyRoutes,
    check_routespec,
    chp_path,
    route_from_chp,
    routes_from_chp,
    routespec_from_chp,
)

__all__ = [
    "ChpProxyRoutes",
    "check_routespec",
    "chp_path",
    "route_from_chp",
    "routes_from_chp",
    "routespec_from_chp",
]
