"""The listeners of ``maildiag serve`` and ``maildiag sink``, run as their commands run them
(``maildiag.runtime.serve``, ``maildiag.commands.sink.run``) in this process on port 0."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import re
import socket
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from maildiag.commands import sink as sink_command
from maildiag.runtime import serve
from maildiag.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

START_TIMEOUT = 60.0  # seconds for a server to print its startup line
SERVE_LINE = re.compile(r"maildiag: http://(?P<host>[\d.]+):(?P<http>\d+)")
SINK_LINE = re.compile(
    r"maildiag sink: smtp [\d.]+:(?P<smtp>\d+) http http://(?P<host>[\d.]+):(?P<http>\d+)"
    r"\s+proxy-smtp [\d.]+:(?P<proxy>\d+)"
)


@contextlib.asynccontextmanager
async def running(
    command: Coroutine[Any, Any, int], line: re.Pattern[str]
) -> AsyncIterator[re.Match[str]]:
    """Run a serving coroutine until its startup line appears; cancel it at the end."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        task = asyncio.create_task(command)
        deadline = time.monotonic() + START_TIMEOUT
        while not (match := line.search(out.getvalue())):
            if task.done() or time.monotonic() > deadline:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                pytest.fail(f"the server did not start: {out.getvalue()!r}")
            await asyncio.sleep(0.05)
    try:
        yield match
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def serve_settings(data: Path) -> Settings:
    return Settings(
        data_dir=data, http_port=0, secret_key=SecretStr("listener-test-secret-0123456789abcdef")
    )


def sink_run(data: Path) -> Coroutine[Any, Any, int]:
    """``maildiag sink --smtp-port 0 --http-port 0 --data DATA`` (without a judge)."""
    args = argparse.Namespace(host=None, smtp_port=0, http_port=0, data=data)
    return sink_command.run(args, Settings(data_dir=data, sink_judge=False))


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_cancelled_serve_closes_its_listener(tmp_path: Path) -> None:
    async with running(serve(serve_settings(tmp_path)), SERVE_LINE) as match:
        assert not refused(int(match["http"]))
    assert refused(int(match["http"]))


async def test_cancelled_sink_closes_its_listeners(tmp_path: Path) -> None:
    async with running(sink_run(tmp_path), SINK_LINE) as match:
        assert not refused(int(match["http"]))
    assert refused(int(match["http"]))
    assert refused(int(match["smtp"]))
