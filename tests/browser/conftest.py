"""The real app under uvicorn (``maildiag serve --lab`` in a subprocess, every port 0), driven
by Playwright in Debian's Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MAILDIAG_CHROMIUM", "/usr/bin/chromium")
SPRETT_BOUNCE_DELAY = 3.0  # seconds
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BANNER = re.compile(
    r"maildiag lab: http://(?P<host>[\d.]+):(?P<port>\d+)\s+DNS 127\.0\.0\.1:(?P<dns>\d+)"
)


@dataclass(frozen=True)
class LabProcess:
    base_url: str
    dns_port: int
    data_dir: Path
    process: subprocess.Popen[str]
    sink_token: str  # from the token file whose path the lab printed

    @property
    def bearer(self) -> dict[str, str]:
        """The header that reads the sink's API with the admin role."""
        return {"Authorization": f"Bearer {self.sink_token}"}


@pytest.fixture(scope="session")
def lab_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    data = tmp_path_factory.mktemp("lab-data")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maildiag",
            "serve",
            "--lab",
            "--port",
            "0",
            "--dns-port",
            "0",
            "--smtp-port",
            "0",
            "--data",
            str(data),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # kunde-sprett bounces after 3 s instead of the demo's minute, so a test can see it
        env={**os.environ, "MAILDIAG_SINK_BOUNCE_DELAY": str(SPRETT_BOUNCE_DELAY)},
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
        pytest.fail("the lab did not start:\n" + "".join(lines))
    token_file = data.resolve() / "sink-api-token"
    assert f"the sink's API token is in {token_file}" in "".join(lines)
    token = token_file.read_text().strip()
    assert token not in "".join(lines)
    try:
        yield LabProcess(
            f"http://{match['host']}:{match['port']}", int(match["dns"]), data, process, token
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        process.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module: Playwright's sync API holds an event loop on this thread
    while it runs, so it must be closed before any asyncio test runs (browser modules run
    last, see tests/conftest.py)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}; scripts/setup installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="nb-NO")
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
