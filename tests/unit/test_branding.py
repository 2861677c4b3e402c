"""Tests for `stellars.domain.branding`: classifying branding URIs."""

from __future__ import annotations

import pytest

from stellars.domain.branding import AssetKind, AssetSlot, plan_asset, plan_branding
from stellars.domain.errors import InvalidValue


@pytest.mark.parametrize("uri", ["", "   ", None])
def test_empty_keeps_the_stock_asset(uri):
    assert plan_asset(AssetSlot.LOGO, uri).kind is AssetKind.STOCK


def test_a_file_uri_is_copied_with_its_extension():
    plan = plan_asset(AssetSlot.LAB_MAIN_ICON, "file:///srv/brand/Icon%20Main.PNG")
    assert plan.kind is AssetKind.COPY
    assert plan.source_path == "/srv/brand/Icon Main.PNG"
    assert plan.static_name == "stellars-lab-main-icon.png"


def test_a_file_without_extension_gets_the_slots_default():
    assert plan_asset(AssetSlot.FAVICON, "file:///srv/fav").static_name == "stellars-favicon.ico"


@pytest.mark.parametrize("uri", ["https://cdn.example/logo.svg", "http://intranet:8080/x.png"])
def test_urls_are_linked(uri):
    plan = plan_asset(AssetSlot.LOGO, uri)
    assert (plan.kind, plan.url, plan.static_name) == (AssetKind.LINK, uri, None)


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://example/logo.png",
        "/srv/logo.png",
        "logo.png",
        "file://server/share/logo.png",
        "file://relative/path",
        "file:///srv/dir/",
        "https:///nohost",
        "data:image/png;base64,AAAA",
    ],
)
def test_anything_else_is_an_error_naming_the_slot(uri):
    with pytest.raises(InvalidValue) as error:
        plan_asset(AssetSlot.LAB_SPLASH_ICON, uri)
    assert error.value.field == "lab-splash-icon"


def test_a_full_plan_covers_all_four_slots():
    plan = plan_branding(logo_uri="file:///a/logo.svg", favicon_uri="https://x/f.ico")
    assert [a.kind for a in plan.assets] == [
        AssetKind.COPY,
        AssetKind.LINK,
        AssetKind.STOCK,
        AssetKind.STOCK,
    ]
