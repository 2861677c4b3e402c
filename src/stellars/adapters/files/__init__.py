"""Branding assets copied into the hub's static directory."""

from .static_assets import StaticDirectoryAssets

__all__ = ["StaticDirectoryAssets"]
