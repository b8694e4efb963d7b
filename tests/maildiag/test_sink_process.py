"""``maildiag sink`` as a real process (every port 0): it makes its API token file (mode 0600)
and prints the file's path, never the token; its pages and API need the token; a rebinding
Host gets 400."""

from __future__ import annotations

import os
import re
import secrets
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BANNER = re.compile(r"maildiag sink: smtp [\d.]+:(?P<smtp>\d+) http (?P<http>http://\S+)")
TOKEN_LINE = re.compile(r"maildiag sink: the API token is in (?P<path>\S+)")


@dataclass(frozen=True)
class SinkProcess:
    base_url: str
    token_file: Path
    output: list[str]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDIAG_")}
    env["MAILDIAG_SECRET_KEY"] = secrets.token_urlsafe(32)  # outside the lab: a real key
    return env


@pytest.fixture
def sink_process(tmp_path: Path) -> Iterator[SinkProcess]:
    data = tmp_path / "data"
    command = [sys.executable, "-m", "maildiag", "sink", "--smtp-port", "0", "--http-port", "0"]
    process = subprocess.Popen(
        [*command, "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=_environment(),
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            found = BANNER.search(line)
            if found:
                break
        else:
            pytest.fail("the sink did not start:\n" + "".join(lines))
        token = TOKEN_LINE.search("".join(lines))
        assert token is not None, lines
        yield SinkProcess(found["http"], Path(token["path"]), lines)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate(timeout=20)
        lines.append(rest)


def test_the_token_file_is_made_private_and_only_its_path_is_printed(
    sink_process: SinkProcess, tmp_path: Path
) -> None:
    path = sink_process.token_file
    assert path == (tmp_path / "data" / "sink-api-token").resolve()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert len(token) >= 43
    assert token not in "".join(sink_process.output)


def test_the_pages_and_api_need_the_token(sink_process: SinkProcess) -> None:
    token = sink_process.token_file.read_text().strip()
    with httpx.Client(base_url=sink_process.base_url, timeout=10) as client:
        assert client.get("/api/v1/sink/messages").status_code == 401
        assert client.get("/api/v1/sink/info").status_code == 401
        page = client.get("/sink")
        assert page.status_code == 303
        assert page.headers["location"] == "/sink/login?next=%2Fsink"
        wrong = client.get("/api/v1/sink/messages", headers={"Authorization": "Bearer x" * 9})
        assert wrong.status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/sink/messages", headers=bearer).json()["messages"] == []
        assert client.get("/sink", headers=bearer).status_code == 200
        rebound = client.get("/sink", headers={**bearer, "Host": "rebind.attacker.example"})
        assert rebound.status_code == 400
