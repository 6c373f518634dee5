"""The browser world: Debian's headless Chromium through Playwright, the seeded demo, a login helper and a place
for each step's screenshot (``var/screenshots/<test>/``, kept for whoever reads the CI log)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from invoicing.demo import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI (.ci/run installs it)")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # playwright's sync API runs an event loop in this thread
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # While an event loop runs in a thread, Django keeps that thread's database connections apart from the ones it
    # had without it: each side is hidden from the other (and from connections.close_all()) until the loop stops. So
    # the connections are closed before the loop starts and before it stops; else one stays open and the test
    # database cannot be dropped (tests/db_teardown.py).
    connections.close_all()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
        connections.close_all()


@pytest.fixture
def demo_world(transactional_db):
    from invoicing.demo import seed

    seed()


class Shots:
    """Numbered screenshots of one test's steps."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request) -> Shots:
    return Shots(SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name))


@pytest.fixture
def login(browser, live_server):
    """``login("finance")`` → a logged-in page at the admin home (Chinese unless ``locale`` says otherwise)."""
    pages = []

    def _login(username: str, *, locale: str = "zh-CN"):
        context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#content")
        pages.append(context)
        return page

    yield _login
    for context in pages:
        context.close()


def choose_blue_invoice(page, number: str) -> None:
    """The autocomplete: open it, type part of the number, pick the match."""
    page.click(".field-blue_invoice .select2-selection")
    page.fill(".select2-search__field", number[-8:])
    option = page.locator(".select2-results__option", has_text=number)
    option.wait_for()
    page.wait_for_timeout(300)  # select2 re-renders its results while the search settles
    page.locator(".select2-results__option", has_text=number).first.click()
    assert number in page.inner_text(".field-blue_invoice .select2-selection__rendered")
