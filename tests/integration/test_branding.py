"""Branding in a real JupyterHub started from deploy/jupyterhub_config.py: file:// assets
copied and served by the hub, http(s):// ones linked, both in the hub's pages (which extend
JupyterHub's own), and a missing file that stops the hub with a line naming its variable."""

from __future__ import annotations

import pytest
import requests

from tests.backends.platform import start_platform

pytestmark = pytest.mark.real

LOGO = b"\x89PNG\r\n\x1a\nstellars-test-logo"
FAVICON = b"\x00\x00\x01\x00stellars-test-favicon"


def test_file_assets_are_copied_and_served_and_urls_are_linked(jupyterhub_factory, tmp_path):
    brand = tmp_path / "brand"
    brand.mkdir()
    (brand / "logo.png").write_bytes(LOGO)
    (brand / "favicon.ico").write_bytes(FAVICON)
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {
            "STELLARS_SPAWNER": "local",
            "JUPYTERHUB_LOGO_URI": f"file://{brand / 'logo.png'}",
            "JUPYTERHUB_FAVICON_URI": f"file://{brand / 'favicon.ico'}",
        },
    )
    login = requests.get(f"{hub.public_url}/hub/login", timeout=10).text
    assert '<link rel="icon" href="/hub/stellars/branding/stellars-favicon.ico">' in login
    assert 'src="/hub/stellars/branding/stellars-logo.png"' in login
    for path, data in (
        ("/hub/stellars/branding/stellars-favicon.ico", FAVICON),
        ("/hub/stellars/branding/stellars-logo.png", LOGO),
        ("/hub/logo", LOGO),  # JupyterHub's own logo handler serves the configured file
    ):
        answer = requests.get(hub.public_url + path, timeout=10)
        assert answer.status_code == 200, path
        assert answer.content == data, path
    missing = requests.get(f"{hub.public_url}/hub/stellars/branding/../x.sqlite", timeout=10)
    assert missing.status_code in {403, 404}


def test_linked_assets_appear_as_given(jupyterhub_factory, tmp_path):
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {
            "STELLARS_SPAWNER": "local",
            "JUPYTERHUB_LOGO_URI": "https://cdn.example.org/logo.png",
            "JUPYTERHUB_FAVICON_URI": "https://cdn.example.org/favicon.ico",
        },
    )
    login = requests.get(f"{hub.public_url}/hub/login", timeout=10).text
    assert 'src="https://cdn.example.org/logo.png"' in login
    assert '<link rel="icon" href="https://cdn.example.org/favicon.ico">' in login


def test_a_missing_file_stops_the_hub_naming_the_variable(jupyterhub_factory, tmp_path):
    with pytest.raises(RuntimeError) as stopped:
        start_platform(
            jupyterhub_factory,
            tmp_path,
            {"STELLARS_SPAWNER": "local", "JUPYTERHUB_FAVICON_URI": "file:///nowhere/fav.ico"},
        )
    assert "JUPYTERHUB_FAVICON_URI: favicon: no file at /nowhere/fav.ico" in str(stopped.value)
