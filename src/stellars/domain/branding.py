"""Branding: logo, favicon and JupyterLab icons given as URIs.

`file:///abs/path` is copied into the hub's static files, `http(s)://...` is linked as a URL, an
empty value keeps the stock asset; anything else is a configuration error that names the slot.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

from .errors import InvalidValue


class AssetSlot(str, Enum):
    LOGO = "logo"
    FAVICON = "favicon"
    LAB_MAIN_ICON = "lab-main-icon"
    LAB_SPLASH_ICON = "lab-splash-icon"


class AssetKind(str, Enum):
    STOCK = "stock"
    COPY = "copy"
    LINK = "link"


_DEFAULT_SUFFIX = MappingProxyType(
    {
        AssetSlot.LOGO: ".png",
        AssetSlot.FAVICON: ".ico",
        AssetSlot.LAB_MAIN_ICON: ".svg",
        AssetSlot.LAB_SPLASH_ICON: ".svg",
    }
)


@dataclass(frozen=True, slots=True)
class AssetPlan:
    """How to provide one branding asset."""

    slot: AssetSlot
    kind: AssetKind
    source_path: str | None = None
    url: str | None = None

    @property
    def static_name(self) -> str | None:
        """File name under the hub's static directory for a copied asset."""
        if self.kind is not AssetKind.COPY or self.source_path is None:
            return None
        suffix = posixpath.splitext(self.source_path)[1].lower() or _DEFAULT_SUFFIX[self.slot]
        return f"stellars-{self.slot.value}{suffix}"


def plan_asset(slot: AssetSlot, uri: str | None) -> AssetPlan:
    """Classify one branding URI. Raises InvalidValue naming the slot for anything unusable."""
    text = (uri or "").strip()
    if not text:
        return AssetPlan(slot, AssetKind.STOCK)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidValue(slot.value, f"file URI must be local (file:///path), got {text!r}")
        path = unquote(parts.path)
        if not path.startswith("/") or path.endswith("/"):
            raise InvalidValue(slot.value, f"file URI must name an absolute file path: {text!r}")
        return AssetPlan(slot, AssetKind.COPY, source_path=path)
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise InvalidValue(slot.value, f"URL has no host: {text!r}")
        return AssetPlan(slot, AssetKind.LINK, url=text)
    raise InvalidValue(
        slot.value, f"must be empty, a file:///absolute/path or an http(s):// URL, got {text!r}"
    )


@dataclass(frozen=True, slots=True)
class BrandingPlan:
    logo: AssetPlan
    favicon: AssetPlan
    lab_main_icon: AssetPlan
    lab_splash_icon: AssetPlan

    @property
    def assets(self) -> tuple[AssetPlan, ...]:
        return (self.logo, self.favicon, self.lab_main_icon, self.lab_splash_icon)


def plan_branding(
    *,
    logo_uri: str = "",
    favicon_uri: str = "",
    lab_main_icon_uri: str = "",
    lab_splash_icon_uri: str = "",
) -> BrandingPlan:
    """Plans for all four assets; the first invalid URI raises."""
    return BrandingPlan(
        logo=plan_asset(AssetSlot.LOGO, logo_uri),
        favicon=plan_asset(AssetSlot.FAVICON, favicon_uri),
        lab_main_icon=plan_asset(AssetSlot.LAB_MAIN_ICON, lab_main_icon_uri),
        lab_splash_icon=plan_asset(AssetSlot.LAB_SPLASH_ICON, lab_splash_icon_uri),
    )


@dataclass(frozen=True, slots=True)
class InstalledAsset:
    """Where an asset ended up: a static file name, a URL, or neither (stock)."""

    slot: AssetSlot
    static_name: str | None = None
    url: str | None = None
