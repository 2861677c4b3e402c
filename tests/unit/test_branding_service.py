"""Branding as the hub and the lab get it: copies installed at start (a missing file names its
setting), every URL one a browser can load, the lab's icon variables, and the favicon's proxy
route for exactly one file of each server."""

from __future__ import annotations

import re

import pytest

from stellars.adapters.jupyterhub.plugin import favicon_pattern
from stellars.adapters.jupyterhub.web.branding import branding_base
from stellars.adapters.memory import InMemoryStaticAssets
from stellars.domain.branding import AssetKind, AssetPlan, AssetSlot, BrandingPlan
from stellars.domain.errors import InvalidValue
from stellars.domain.routes import lab_favicon_routespec as favicon_routespec
from stellars.domain.services import BrandingService
from stellars.domain.settings import BrandingSettings

BASE = branding_base("/prefix/")


def service(files: dict[str, bytes] | None = None, **uris: str) -> BrandingService:
    assets = InMemoryStaticAssets(files or {})
    return BrandingService(assets=assets, plan=BrandingSettings(**uris).plan)


def test_copies_are_served_under_the_hub_and_links_stay_links():
    branding = service(
        {"/b/fav.ICO": b"icon", "/b/main.svg": b"svg"},
        favicon_uri="file:///b/fav.ICO",
        logo_uri="https://cdn.example/logo.png",
        lab_main_icon_uri="file:///b/main.svg",
    )
    branding.install()
    assert BASE == "/prefix/hub/stellars/branding/"
    assert branding.href(AssetSlot.FAVICON, BASE) == BASE + "stellars-favicon.ico"
    assert branding.href(AssetSlot.LOGO, BASE) == "https://cdn.example/logo.png"
    assert branding.href(AssetSlot.LAB_SPLASH_ICON, BASE) is None
    assert branding.static_name(AssetSlot.FAVICON) == "stellars-favicon.ico"
    assert branding.static_name(AssetSlot.LOGO) is None
    assert branding.kind(AssetSlot.LOGO) is AssetKind.LINK
    assert branding.source_path(AssetSlot.LAB_MAIN_ICON) == "/b/main.svg"


def test_the_lab_gets_variables_for_the_configured_icons_only():
    branding = service(
        {"/b/main.svg": b"svg"},
        lab_main_icon_uri="file:///b/main.svg",
        lab_splash_icon_uri="https://cdn.example/splash.svg",
    )
    assert branding.lab_environment(BASE) == {
        "JUPYTERLAB_MAIN_ICON_URI": BASE + "stellars-lab-main-icon.svg",
        "JUPYTERLAB_SPLASH_ICON_URI": "https://cdn.example/splash.svg",
    }
    assert service().lab_environment(BASE) == {}


def test_a_missing_file_stops_the_start_naming_the_setting():
    branding = service(lab_splash_icon_uri="file:///nowhere/splash.svg")
    with pytest.raises(InvalidValue) as missing:
        branding.install()
    assert missing.value.field == "branding.lab_splash_icon_uri"
    assert "/nowhere/splash.svg" in missing.value.message


@pytest.mark.parametrize(
    ("prefix", "routespec"),
    [
        ("/user/ann/", "/user/ann/static/favicons/favicon.ico/"),
        ("/base/user/ann/gpu/", "/base/user/ann/gpu/static/favicons/favicon.ico/"),
        ("/user/ann", "/user/ann/static/favicons/favicon.ico/"),
    ],
)
def test_the_proxy_route_covers_the_favicon_file_only(prefix, routespec):
    assert favicon_routespec(prefix) == routespec


@pytest.mark.parametrize(
    ("path", "answered"),
    [
        ("/base/user/ann/static/favicons/favicon.ico", True),
        ("/base/user/ann/gpu/static/favicons/favicon.ico", True),
        ("/base/user/ann/static/favicons/favicon-busy-1.ico", False),
        ("/base/user/ann/static/favicons/favicon.icon", False),
        ("/base/hub/static/favicon.ico", False),
        ("/other/user/ann/static/favicons/favicon.ico", False),
    ],
)
def test_the_hub_answers_exactly_the_favicon_paths(path, answered):
    # Tornado anchors a rule's pattern at both ends.
    assert bool(re.fullmatch(favicon_pattern("/base/"), path)) is answered


def hand_made(plan: AssetPlan) -> BrandingService:
    """A service over a plan built by hand: `plan` in the favicon slot, stock elsewhere."""
    stock = {slot: AssetPlan(slot, AssetKind.STOCK) for slot in AssetSlot}
    stock[AssetSlot.FAVICON] = plan
    return BrandingService(
        assets=InMemoryStaticAssets(),
        plan=BrandingPlan(
            logo=stock[AssetSlot.LOGO],
            favicon=stock[AssetSlot.FAVICON],
            lab_main_icon=stock[AssetSlot.LAB_MAIN_ICON],
            lab_splash_icon=stock[AssetSlot.LAB_SPLASH_ICON],
        ),
    )


def test_a_copy_without_a_file_has_no_url():
    branding = hand_made(AssetPlan(AssetSlot.FAVICON, AssetKind.COPY))
    assert branding.href(AssetSlot.FAVICON, BASE) is None
    assert branding.static_name(AssetSlot.FAVICON) is None


def test_only_a_copied_asset_has_a_source_path_whatever_else_its_plan_carries():
    link = AssetPlan(AssetSlot.FAVICON, AssetKind.LINK, source_path="/b/f.ico", url="https://x/f")
    branding = hand_made(link)
    assert branding.source_path(AssetSlot.FAVICON) is None
    assert branding.href(AssetSlot.FAVICON, BASE) == "https://x/f"
    stock = hand_made(AssetPlan(AssetSlot.FAVICON, AssetKind.STOCK, source_path="/b/f.ico"))
    assert stock.source_path(AssetSlot.FAVICON) is None
    assert stock.href(AssetSlot.FAVICON, BASE) is None
