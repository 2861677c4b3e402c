"""The one exception every backend helper raises when its backend cannot be brought up (shared
with the project tooling, which builds the same images for `make run`)."""

from tooling.errors import BackendMissing

__all__ = ["BackendMissing"]
