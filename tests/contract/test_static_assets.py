"""Contract of the StaticAssets port: copy file:// assets, pass URLs through, keep stock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from stellars.adapters.files import StaticDirectoryAssets
from stellars.adapters.memory import InMemoryStaticAssets
from stellars.domain.branding import AssetSlot, plan_asset
from stellars.domain.errors import NotFound
from stellars.ports.static_assets import StaticAssets


@dataclass
class Harness:
    assets: StaticAssets
    existing_file: str
    installed: Callable[[str], bytes | None]  # what was installed under a static name


@pytest.fixture(params=["memory", "directory"])
def harness(request, tmp_path: Path) -> Harness:
    if request.param == "memory":
        fake = InMemoryStaticAssets({"/brand/logo.PNG": b"png-bytes"})
        return Harness(fake, "/brand/logo.PNG", lambda name: fake.installed.get(name))
    source = tmp_path / "brand" / "logo.PNG"
    source.parent.mkdir()
    source.write_bytes(b"png-bytes")
    static = tmp_path / "static"

    def installed(name: str) -> bytes | None:
        path = static / name
        return path.read_bytes() if path.exists() else None

    return Harness(StaticDirectoryAssets(static), str(source), installed)


def test_a_file_uri_is_copied_under_a_stable_name(harness):
    result = harness.assets.install(plan_asset(AssetSlot.LOGO, f"file://{harness.existing_file}"))
    assert result.static_name == "stellars-logo.png"
    assert harness.installed("stellars-logo.png") == b"png-bytes"


def test_a_url_is_linked_not_copied(harness):
    result = harness.assets.install(plan_asset(AssetSlot.FAVICON, "https://cdn.example/f.ico"))
    assert (result.url, result.static_name) == ("https://cdn.example/f.ico", None)


def test_empty_keeps_the_stock_asset(harness):
    result = harness.assets.install(plan_asset(AssetSlot.LAB_MAIN_ICON, ""))
    assert (result.url, result.static_name) == (None, None)


def test_a_missing_file_is_not_found(harness):
    with pytest.raises(NotFound, match="logo"):
        harness.assets.install(plan_asset(AssetSlot.LOGO, "file:///nonexistent/logo.png"))
