"""The sink on its own (``maildiag sink``, every port 0) in Chromium: its token sign-in, its
message list and /docs fit every width in nb and en, with no console error, no failed
request, no serious axe violation and no wording from the other language."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_page_matrix import LANGS, Seen, Visit, Walker

pytestmark = pytest.mark.browser

BANNER = re.compile(r"maildiag sink: smtp \S+ http (?P<url>http://[\d.]+:\d+)")


@pytest.fixture(scope="module")
def sink_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The sink's base URL and its API token."""
    data = tmp_path_factory.mktemp("sink-alone")
    env = {**os.environ, "MAILDIAG_SECRET_KEY": secrets.token_urlsafe(32)}
    command = [sys.executable, "-m", "maildiag", "sink", "--http-port", "0", "--smtp-port", "0"]
    process = subprocess.Popen(
        [*command, "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        match = BANNER.search(line)
        if match:
            break
    else:
        process.wait(timeout=10)
        pytest.fail("the sink did not start:\n" + "".join(lines))
    try:
        yield match["url"], (Path(data) / "sink-api-token").read_text().strip()
    finally:
        process.terminate()
        process.wait(timeout=15)
        process.stdout.close()


@pytest.fixture(scope="module")
def walk_alone(browser: Any, sink_alone: tuple[str, str]) -> list[Seen]:
    from axe_playwright_python.sync_playwright import Axe

    base_url, token = sink_alone
    seen: list[Seen] = []
    for lang in LANGS:
        walker = Walker(browser, base_url, "sink-alone", lang, Axe(), main_nav=False)
        try:
            walker.page.goto(walker.url(f"/sink/login?lang={lang}"))  # the language cookie
            seen.append(walker.visit(Visit("/sink/login", lambda p, url: p.goto(url("/sink")))))
            walker.page.fill("#token", token)
            with walker.page.expect_navigation():
                walker.page.click("form[action='/sink/login'] button[type=submit]")
            seen.append(walker.visit(Visit("/sink", lambda p, url: p.goto(url("/sink")))))
            seen.append(
                walker.visit(Visit("/docs", lambda p, url: p.goto(url("/docs")), ready=".opblock"))
            )
        finally:
            walker.close()
    return seen


def test_the_sink_alone_signs_in_and_shows_its_pages(walk_alone: list[Seen]) -> None:
    assert [s.where for s in walk_alone] == [
        f"sink-alone/{lang} {name}" for lang in LANGS for name in ("/sink/login", "/sink", "/docs")
    ]


@pytest.mark.parametrize("attribute", ["overflow", "broken", "errors", "axe", "foreign"])
def test_the_sink_alone_pages_hold(walk_alone: list[Seen], attribute: str) -> None:
    report = "\n".join(
        f"{s.where}: {getattr(s, attribute)}" for s in walk_alone if getattr(s, attribute)
    )
    assert not report, report
