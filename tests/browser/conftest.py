"""Browser tests: Playwright drives Debian's Chromium through the real pages, served by
pytest-django's live server (a transactional database: the server's thread sees what a test
commits).

They need /usr/bin/chromium (`apt-get install chromium`). Without it they skip with the reason;
in CI (CI=true) they fail instead, as the CI must run them. Playwright's own browser download
(`playwright install`) is not used: its CDN is out of reach from our machines.

A failing test leaves a screenshot of the page in var/browser-screenshots/<test name>.png and
says so in its report.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
# The password tests.factories.UserFactory gives every user.
PASSWORD = "correct-horse-battery"
# Long enough for a page on a busy 2-core CI machine; a step that waits for a background job says so.
STEP_TIMEOUT_MS = 15_000

# Every module here is marked `pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]`: `-m "not browser"`
# leaves the browser tests out of a quick run. Skipped where Chromium is missing, except in CI,
# where the `page` fixture fails instead.
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists() and not IN_CI,
    reason=f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Chromium through the live server (tests/browser)")


@pytest.fixture
def _async_unsafe_orm_allowed(monkeypatch):
    # Playwright's sync API runs an asyncio event loop in the main thread, the test's thread.
    # Django then refuses ORM calls there (SynchronousOnlyOperation), though nothing here is
    # async: the test only seeds and checks rows while the browser waits. Set for the browser
    # tests only, and taken away after each, so no other test runs without Django's guard.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(_async_unsafe_orm_allowed, live_server) -> Page:
    """A fresh headless Chromium page on the live server, in English; relative URLs go to the server."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(base_url=live_server.url, locale="en-US")
        context.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)
        yield context.new_page()
        # While Playwright's loop runs, the ORM calls of the test get database connections of
        # their own (asgiref's Local keeps them per asyncio context), which nothing else closes:
        # PostgreSQL would then refuse to drop the test database ("accessed by other users").
        connections.close_all()
        context.close()
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    browser_page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and isinstance(browser_page, Page):
        report.sections.append(("browser screenshot", _screenshot(browser_page, item.name)))
    return report


def _screenshot(browser_page: Page, test_name: str) -> str:
    folder = Path(settings.VAR_DIR) / "browser-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', test_name)}.png"
    try:
        browser_page.screenshot(path=path, full_page=True)
    except PlaywrightError as error:  # a crashed browser must not hide the test's own failure
        return f"no screenshot: {error}"
    return f"the page as the test failed: {path}"


def log_in(page: Page, username: str) -> None:
    """Log in through the login page, as a person would."""
    page.goto(reverse("login"))
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
