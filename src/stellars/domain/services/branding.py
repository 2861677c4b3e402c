"""Branding: the hub's logo and favicon, JupyterLab's favicon and its two icons.

`file:///path` assets are copied, once at start, into the static directory the hub serves;
`http(s)://` ones are linked. Every URL handed out is one a browser can load: a copied asset is
addressed by a path on the hub's own origin (the lab is served through the same proxy, so the
same path works in its pages), never by the hub's internal address.
"""

from __future__ import annotations

from stellars.domain.branding import AssetKind, AssetPlan, AssetSlot, BrandingPlan, InstalledAsset
from stellars.domain.errors import InvalidValue, NotFound
from stellars.ports.static_assets import StaticAssets

#: JupyterLab's environment variables for its icons (read by the lab image).
LAB_ICON_VARIABLES = (
    (AssetSlot.LAB_MAIN_ICON, "JUPYTERLAB_MAIN_ICON_URI"),
    (AssetSlot.LAB_SPLASH_ICON, "JUPYTERLAB_SPLASH_ICON_URI"),
)


def settings_field(slot: AssetSlot) -> str:
    """The PlatformSettings field of a slot ("branding.lab_main_icon_uri")."""
    return f"branding.{slot.value.replace('-', '_')}_uri"


class BrandingService:
    """Installs the branding plan and says where each asset is to be found."""

    def __init__(self, *, assets: StaticAssets, plan: BrandingPlan) -> None:
        self._assets = assets
        self.plan = plan
        self.installed: dict[AssetSlot, InstalledAsset] = {}

    def _plan_of(self, slot: AssetSlot) -> AssetPlan:
        return next(asset for asset in self.plan.assets if asset.slot is slot)

    def install(self) -> dict[AssetSlot, InstalledAsset]:
        """Copy the file assets now. Raises InvalidValue naming the settings field of a file
        that is missing, so the hub stops at start instead of showing a broken image."""
        for asset in self.plan.assets:
            try:
                self.installed[asset.slot] = self._assets.install(asset)
            except NotFound as error:
                raise InvalidValue(settings_field(asset.slot), str(error)) from None
        return dict(self.installed)

    def kind(self, slot: AssetSlot) -> AssetKind:
        return self._plan_of(slot).kind

    def href(self, slot: AssetSlot, static_base: str) -> str | None:
        """Where a browser loads the asset: `static_base` + the copy's name, the linked URL, or
        None for the stock asset. `static_base` is the path the hub serves copies under."""
        asset = self._plan_of(slot)
        if asset.kind is AssetKind.LINK:
            return asset.url
        if asset.kind is AssetKind.COPY and asset.static_name is not None:
            return static_base + asset.static_name
        return None

    def static_name(self, slot: AssetSlot) -> str | None:
        """The file name of a copied asset in the static directory, None otherwise."""
        asset = self._plan_of(slot)
        return asset.static_name if asset.kind is AssetKind.COPY else None

    def source_path(self, slot: AssetSlot) -> str | None:
        """The configured file of a copied asset (the hub's own logo handler serves it)."""
        asset = self._plan_of(slot)
        return asset.source_path if asset.kind is AssetKind.COPY else None

    def lab_environment(self, static_base: str) -> dict[str, str]:
        """The lab's icon variables, for the icons that are configured."""
        environment = {}
        for slot, variable in LAB_ICON_VARIABLES:
            url = self.href(slot, static_base)
            if url is not None:
                environment[variable] = url
        return environment
