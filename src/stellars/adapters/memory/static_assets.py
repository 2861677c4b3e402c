from __future__ import annotations

from stellars.domain.branding import AssetKind, AssetPlan, InstalledAsset
from stellars.domain.errors import NotFound


class InMemoryStaticAssets:
    """Pretends to copy: `files` are the source paths that exist, `installed` what was copied."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.installed: dict[str, bytes] = {}

    def install(self, plan: AssetPlan) -> InstalledAsset:
        if plan.kind is AssetKind.LINK:
            return InstalledAsset(plan.slot, url=plan.url)
        if plan.kind is AssetKind.STOCK or plan.source_path is None or plan.static_name is None:
            return InstalledAsset(plan.slot)
        if plan.source_path not in self.files:
            raise NotFound(f"{plan.slot.value}: no file at {plan.source_path}")
        self.installed[plan.static_name] = self.files[plan.source_path]
        return InstalledAsset(plan.slot, static_name=plan.static_name)
