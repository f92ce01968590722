"""The browser fixtures of tests/web (Chromium, login through the form), for the reports and canned-response pages."""

from __future__ import annotations

from tests.web.conftest import api, app, browser, login, pytest_runtest_makereport

__all__ = ["api", "app", "browser", "login", "pytest_runtest_makereport"]
