"""Tests for `stellars.domain.branding`: classifying branding URIs."""

from __future__ import annotations

import pytest

from stellars.domain.branding import (
    AssetKind,
    AssetPlan,
    AssetSlot,
    BrandingPlan,
    InstalledAsset,
    plan_asset,
    plan_branding,
)
from stellars.domain.errors import InvalidValue

SLOTS = list(AssetSlot)


def test_slot_and_kind_names():
    assert [s.value for s in AssetSlot] == [
        "logo",
        "favicon",
        "lab-main-icon",
        "lab-splash-icon",
    ]
    assert [k.value for k in AssetKind] == ["stock", "copy", "link"]


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize("uri", ["", "   ", None])
def test_empty_keeps_the_stock_asset(slot, uri):
    plan = plan_asset(slot, uri)
    assert plan == AssetPlan(slot, AssetKind.STOCK)
    assert plan.static_name is None


@pytest.mark.parametrize(
    ("slot", "uri", "path", "static_name"),
    [
        (AssetSlot.LOGO, "file:///srv/brand/logo.svg", "/srv/brand/logo.svg", "stellars-logo.svg"),
        (
            AssetSlot.LAB_MAIN_ICON,
            "file:///srv/brand/Icon%20Main.PNG",
            "/srv/brand/Icon Main.PNG",
            "stellars-lab-main-icon.png",
        ),
        (AssetSlot.FAVICON, "FILE:///f.ico", "/f.ico", "stellars-favicon.ico"),
        (AssetSlot.LOGO, "file://localhost/srv/l.png", "/srv/l.png", "stellars-logo.png"),
        (AssetSlot.LOGO, "file://LOCALHOST/srv/l.png", None, None),
        (AssetSlot.LAB_SPLASH_ICON, "  file:///s.svg  ", "/s.svg", "stellars-lab-splash-icon.svg"),
        (AssetSlot.LOGO, "file:///srv/archive.tar.GZ", "/srv/archive.tar.GZ", "stellars-logo.gz"),
    ],
)
def test_a_file_uri_is_copied_with_its_extension(slot, uri, path, static_name):
    if path is None:
        with pytest.raises(InvalidValue):
            plan_asset(slot, uri)
        return
    plan = plan_asset(slot, uri)
    assert plan == AssetPlan(slot, AssetKind.COPY, source_path=path)
    assert plan.static_name == static_name


@pytest.mark.parametrize(
    ("slot", "name"),
    [
        (AssetSlot.LOGO, "stellars-logo.png"),
        (AssetSlot.FAVICON, "stellars-favicon.ico"),
        (AssetSlot.LAB_MAIN_ICON, "stellars-lab-main-icon.svg"),
        (AssetSlot.LAB_SPLASH_ICON, "stellars-lab-splash-icon.svg"),
    ],
)
def test_a_file_without_extension_gets_the_slots_default(slot, name):
    assert plan_asset(slot, "file:///srv/brand/asset").static_name == name


def test_only_copied_assets_have_a_static_name():
    assert AssetPlan(AssetSlot.LOGO, AssetKind.LINK, url="https://x/l.png").static_name is None
    assert AssetPlan(AssetSlot.LOGO, AssetKind.COPY).static_name is None
    assert AssetPlan(AssetSlot.LOGO, AssetKind.STOCK, source_path="/l.png").static_name is None


@pytest.mark.parametrize(
    "uri",
    ["https://cdn.example/logo.svg", "http://intranet:8080/x.png", "HTTPS://cdn.example/L.svg"],
)
@pytest.mark.parametrize("slot", SLOTS)
def test_urls_are_linked(slot, uri):
    plan = plan_asset(slot, uri)
    assert plan == AssetPlan(slot, AssetKind.LINK, url=uri)
    assert plan.static_name is None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "ftp://example/logo.png",
            "must be empty, a file:///absolute/path or an http(s):// URL, "
            "got 'ftp://example/logo.png'",
        ),
        (
            "/srv/logo.png",
            "must be empty, a file:///absolute/path or an http(s):// URL, got '/srv/logo.png'",
        ),
        ("logo.png", "must be empty, a file:///absolute/path or an http(s):// URL, got 'logo.png'"),
        (
            "data:image/png;base64,AAAA",
            "must be empty, a file:///absolute/path or an http(s):// URL, "
            "got 'data:image/png;base64,AAAA'",
        ),
        (
            "file://server/share/logo.png",
            "file URI must be local (file:///path), got 'file://server/share/logo.png'",
        ),
        ("file://relative/path", "file URI must be local (file:///path), got 'file://relative/path'"),
        ("file:relative/logo.png",
         "file URI must name an absolute file path: 'file:relative/logo.png'"),
        ("file:///srv/dir/", "file URI must name an absolute file path: 'file:///srv/dir/'"),
        ("file://", "file URI must name an absolute file path: 'file://'"),
        ("https:///nohost", "URL has no host: 'https:///nohost'"),
        ("http:/x.png", "URL has no host: 'http:/x.png'"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("slot", SLOTS)
def test_anything_else_is_an_error_naming_the_slot(slot, uri, message):
    with pytest.raises(InvalidValue) as error:
        plan_asset(slot, uri)
    assert (error.value.field, error.value.message) == (slot.value, message)


def test_a_full_plan_covers_all_four_slots():
    plan = plan_branding(
        logo_uri="file:///a/logo.svg",
        favicon_uri="https://x/f.ico",
        lab_main_icon_uri="file:///a/main.svg",
        lab_splash_icon_uri="http://y/splash.svg",
    )
    assert plan == BrandingPlan(
        logo=AssetPlan(AssetSlot.LOGO, AssetKind.COPY, source_path="/a/logo.svg"),
        favicon=AssetPlan(AssetSlot.FAVICON, AssetKind.LINK, url="https://x/f.ico"),
        lab_main_icon=AssetPlan(AssetSlot.LAB_MAIN_ICON, AssetKind.COPY, source_path="/a/main.svg"),
        lab_splash_icon=AssetPlan(
            AssetSlot.LAB_SPLASH_ICON, AssetKind.LINK, url="http://y/splash.svg"
        ),
    )
    assert plan.assets == (plan.logo, plan.favicon, plan.lab_main_icon, plan.lab_splash_icon)


def test_the_default_plan_is_all_stock():
    assert [(a.slot, a.kind) for a in plan_branding().assets] == [
        (slot, AssetKind.STOCK) for slot in SLOTS
    ]


@pytest.mark.parametrize(
    ("keyword", "slot"),
    [
        ("logo_uri", "logo"),
        ("favicon_uri", "favicon"),
        ("lab_main_icon_uri", "lab-main-icon"),
        ("lab_splash_icon_uri", "lab-splash-icon"),
    ],
)
def test_a_bad_uri_in_a_plan_names_its_slot(keyword, slot):
    with pytest.raises(InvalidValue) as error:
        plan_branding(**{keyword: "ftp://x/y"})
    assert error.value.field == slot


def test_installed_asset_is_a_plain_value():
    assert InstalledAsset(AssetSlot.LOGO) == InstalledAsset(AssetSlot.LOGO, None, None)
