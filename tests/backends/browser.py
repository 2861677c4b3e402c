"""Headless Chromium (Debian's, never a downloaded browser) driven by Playwright, for tests of the
platform's pages.

Every page a test visits through `BrowserPage.visit` (and every `snap`) is saved as a PNG under
`.artifacts/screenshots/` (git-ignored), and a test fails when a page logged a JavaScript error:
the fixture checks `errors` after the test.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.errors import INSTALL_HINT

from tests.backends.errors import BackendMissing
from tests.backends.paths import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR = REPO_ROOT / ".artifacts" / "screenshots"
# The flags the measured recipe uses: no sandbox as root, and none of the background traffic
# that a machine without internet access answers with refused connections.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> Path:
    found = CHROMIUM if CHROMIUM.exists() else None
    if found is None:
        which = shutil.which("chromium")
        found = Path(which) if which else None
    if found is None:
        raise BackendMissing(f"Debian's chromium is not installed; {INSTALL_HINT}")
    return found


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright's sync API)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise BackendMissing(f"the playwright package is missing ({exc})") from exc
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "page"


@dataclass
class BrowserPage:
    """One browser page of one test, with its screenshots and the JavaScript errors it saw."""

    page: Any
    base_url: str
    test_name: str
    errors: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        # Chromium drops the loads in flight when the host's interfaces change, and the suites
        # beside this one create and remove Docker networks (a swarm's, a fault run's): the
        # machine's doing, not the page's. Any other failed load still fails the test.
        if "net::ERR_NETWORK_CHANGED" in message.text:
            return
        self.errors.append(f"console error: {message.text} ({message.location})")

    def snap(self, name: str) -> Path:
        """Save a screenshot of the whole page as <test>-<n>-<name>.png."""
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / (
            f"{_slug(self.test_name)}-{len(self.screenshots) + 1:02d}-{_slug(name)}.png"
        )
        self.page.screenshot(path=str(path), full_page=True)
        self.screenshots.append(path)
        return path

    def visit(self, path: str) -> Any:
        """Open `base_url + path`, wait until the network is idle, and take its screenshot."""
        response = self.page.goto(self.base_url + path, wait_until="networkidle")
        self.snap(path)
        return response

    def log_in(self, username: str, password: str) -> None:
        """Through NativeAuthenticator's login form, as a person would."""
        self.visit("/hub/login")
        self.page.fill("#username_input", username)
        self.page.fill("#password_input", password)
        with self.page.expect_navigation(wait_until="networkidle"):
            self.page.click("#login_submit")
        self.snap("after-login")
