from __future__ import annotations

import shutil
from pathlib import Path

from stellars.domain.branding import AssetKind, AssetPlan, InstalledAsset
from stellars.domain.errors import NotFound


class StaticDirectoryAssets:
    """Copies file:// assets into a static directory that the hub serves."""

    def __init__(self, static_dir: Path) -> None:
        self.static_dir = Path(static_dir)

    def install(self, plan: AssetPlan) -> InstalledAsset:
        if plan.kind is AssetKind.LINK:
            return InstalledAsset(plan.slot, url=plan.url)
        if plan.kind is AssetKind.STOCK or plan.source_path is None or plan.static_name is None:
            return InstalledAsset(plan.slot)
        source = Path(plan.source_path)
        if not source.is_file():
            raise NotFound(f"{plan.slot.value}: no file at {source}")
        self.static_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, self.static_dir / plan.static_name)
        return InstalledAsset(plan.slot, static_name=plan.static_name)
