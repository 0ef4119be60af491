"""A real browser for the page tests: Debian's Chromium driven by Playwright,
against Django's live server. The fixtures are registered in ``conftest.py``.
"""

import os
import re
import tempfile
import threading
from pathlib import Path

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread
from django.urls import reverse

from .factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
# `make screenshots` writes them into docs/screenshots/ for the README; a plain
# test run takes them too (a page must render to be shot) but leaves the
# repository's files alone.
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "forensics-screenshots")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class OneRequestAtATime(ThreadedWSGIServer):
    """The live server, running one request through Django at a time.

    With SQLite the test database lives in memory and every server thread
    shares the test's one connection; concurrent requests (a page's images)
    would interleave their transactions on it.
    """

    lock = threading.Lock()

    def set_app(self, application) -> None:
        def in_turn(environ, start_response):
            with self.lock:
                return application(environ, start_response)

        super().set_app(in_turn)


@pytest.fixture(scope="session")
def server(request):
    """pytest-django's live server, answering one request at a time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LiveServerThread, "server_class", OneRequestAtATime)
        yield request.getfixturevalue("live_server")


@pytest.fixture(scope="module")
def browser():
    """Chromium, headless, for one test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


class Session:
    """One signed-in user's browser tab, failing the test on any console error."""

    def __init__(self, browser, server, viewport=DESKTOP):
        self.context = browser.new_context(viewport=viewport, accept_downloads=True)
        self.page = self.context.new_page()
        # The machine may be busy (the live server answers one request at a time).
        self.page.set_default_timeout(60_000)
        self.base = server.url
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def log_in(self, username: str, lands_on: str = "/cases/") -> None:
        """Log in and wait for the page a user of this kind starts on."""
        self.go(reverse("login"))
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(re.compile(re.escape(lands_on) + "$"))

    def shoot(self, name: str, full_page: bool = True) -> None:
        self.page.wait_for_function(
            "() => [...document.images].every(image => image.complete && image.naturalWidth > 0)"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)

    def close(self) -> None:
        # Let every image request finish first: one still in flight when the
        # test ends reaches the live server after its database is gone.
        self.page.wait_for_function("() => [...document.images].every(image => image.complete)")
        self.context.close()
        assert self.errors == [], self.errors
