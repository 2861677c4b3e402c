"""In a real browser: a copied SVG logo that holds a script is served from the hub's origin, but
opening it directly never runs the script (the sandboxing Content-Security-Policy), while the
hub's pages still show the logo."""

from __future__ import annotations

import pytest

from tests.backends.platform import start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]

SCRIPTED_LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<rect width="64" height="64" fill="#3366cc"/>'
    b"<script>document.documentElement.setAttribute('data-script-ran', 'yes')</script></svg>"
)
LOGO_PATH = "/hub/stellars/branding/stellars-logo.svg"


def test_a_scripted_svg_logo_never_runs_but_still_shows(jupyterhub_factory, tmp_path, browser_page):
    brand = tmp_path / "brand"
    brand.mkdir()
    (brand / "logo.svg").write_bytes(SCRIPTED_LOGO)
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {"STELLARS_SPAWNER": "local", "JUPYTERHUB_LOGO_URI": f"file://{brand / 'logo.svg'}"},
    )
    browser = browser_page(hub.public_url)
    page = browser.page

    # Opened as a document (page.goto, no screenshot: Chromium takes none of a bare SVG).
    answer = page.goto(hub.public_url + LOGO_PATH, wait_until="load")
    assert answer.status == 200
    assert page.locator("svg rect").count() == 1  # the SVG document itself was opened
    assert page.locator("svg").get_attribute("data-script-ran") is None
    # Chromium says why the script did not run; that refusal is the point, not a page fault.
    blocked = [error for error in browser.errors if "sandboxed" in error]
    assert blocked, browser.errors
    browser.errors[:] = [error for error in browser.errors if error not in blocked]

    browser.visit("/hub/login")
    logo = page.locator(f'img[src="{LOGO_PATH}"]')
    assert logo.count() == 1
    assert logo.evaluate("image => image.complete && image.naturalWidth") == 64
