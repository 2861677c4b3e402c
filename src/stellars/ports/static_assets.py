from __future__ import annotations

from typing import Protocol

from stellars.domain.branding import AssetPlan, InstalledAsset


class StaticAssets(Protocol):
    """Provides branding assets to the hub's static files."""

    def install(self, plan: AssetPlan) -> InstalledAsset:
        """Copy, link or keep the stock asset. Raises NotFound when a file to copy is missing."""
        ...
