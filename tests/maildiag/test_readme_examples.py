"""The README's command examples, run against the lab and compared with what the README shows.

An example is a fenced block whose first line starts with ``$ maildiag``; each ``$`` line is a
command and the lines after it, up to the next ``$`` line, its output. A line ``…`` ends the
shown part: only the lines before it are compared. The block ``<!-- example: lab -->`` marks is
``maildiag serve --lab``: it is started (every port 0, through the environment) in a fresh
directory that holds ``examples/``, its startup lines are compared, and every other example runs
there beside it, in process, reading the lab's ``data/lab.toml`` as a newcomer's commands do. A
block marked ``<!-- example: parse-only -->`` runs until stopped or needs what a test cannot
give; only its arguments are parsed. Ports, the directory the examples run in, the SMTP
transcript's times, the readiness checks' durations and a certificate's expiry are normalised;
nothing else is.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from maildiag.cli import build_parser, main
from tests.conftest import REPO

README = REPO / "README.md"
MARKER = re.compile(r"^<!-- example: (?P<kind>lab|parse-only) -->$")
MORE = "…"  # a line of its own: the output goes on, and the rest is not compared
STARTUP_SECONDS = 180.0
RUN_IN = "~/maildiag"  # how the README shows the directory the examples run in

_NORMALISE = (
    # a port after an IPv4 address or a host name, or in a transcript's "port N"
    (re.compile(r"(?<![\w.])((?:\d{1,3}\.){3}\d{1,3}):\d{1,5}\b"), r"\1:PORT"),
    (re.compile(r"\b((?:[a-z0-9-]+\.)+[a-z]{2,}):\d{1,5}\b"), r"\1:PORT"),
    (re.compile(r"\bport \d{1,5}$", re.MULTILINE), "port PORT"),
    # the SMTP transcript's time since connecting: "     0.6 ms S: 220 …"
    (re.compile(r"^( *)\d+\.\d ms (?=[*SC]: )", re.MULTILINE), r"\1T ms "),
    # how long each of `maildiag ready`'s checks took: "database: ok (7 ms)"
    (re.compile(r"^(\w+: (?:ok|FAILED .*)) \(\d+ ms\)$", re.MULTILINE), r"\1 (T ms)"),
    # the lab certificate's expiry (made when the lab first starts)
    (
        re.compile(r"^(  Certificate: .* \()\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\)$", re.M),
        r"\1DATE)",
    ),
)


@dataclass(frozen=True)
class Example:
    line: int  # in README.md, of the command
    kind: str  # run, lab or parse-only
    command: str
    output: tuple[str, ...]
    partial: bool  # the README shows the beginning only

    @property
    def id(self) -> str:
        return f"L{self.line}:{self.command[:60]}"


def readme_examples(text: str) -> list[Example]:
    """Every example in ``text``. Raises ValueError for a block that has ``$`` lines but does
    not start with one, a marker not followed by a block, or a command that is not maildiag's."""
    lines = text.splitlines()
    examples: list[Example] = []
    number = 0
    while number < len(lines):
        if lines[number].startswith("```"):
            end = _fence_end(lines, number)
            marker = MARKER.match(lines[number - 1]) if number else None
            kind = marker["kind"] if marker else "run"
            examples += _block(lines[number + 1 : end], number + 2, kind)
            number = end
        elif MARKER.match(lines[number]) and not lines[number + 1].startswith("```"):
            raise ValueError(f"README.md:{number + 1}: the marker must stand right above a block")
        number += 1
    return examples


def _fence_end(lines: list[str], start: int) -> int:
    for number in range(start + 1, len(lines)):
        if lines[number].startswith("```"):
            return number
    raise ValueError(f"README.md:{start + 1}: the block is not closed")


def _block(body: list[str], first: int, kind: str) -> list[Example]:
    commands = [n for n, line in enumerate(body) if line.startswith("$ ")]
    if not commands:
        if kind != "run":
            raise ValueError(f"README.md:{first - 1}: a marked block has no $ command")
        return []
    if commands[0] != 0:
        raise ValueError(f"README.md:{first}: an example block starts with its $ command")
    examples = []
    for index, start in enumerate(commands):
        end = commands[index + 1] if index + 1 < len(commands) else len(body)
        shown = body[start + 1 : end]
        partial = MORE in shown
        if partial:
            shown = shown[: shown.index(MORE)]
        command = body[start][2:]
        _argv(command)  # an example every reader can run: maildiag, maybe fed by echo
        examples.append(Example(first + start, kind, command, tuple(shown), partial))
    return examples


def _argv(command: str) -> tuple[list[str], str | None]:
    """maildiag's arguments and the stdin an ``echo … |`` gives it. Raises ValueError."""
    words = shlex.split(command)
    stdin = None
    if "|" in words:
        bar = words.index("|")
        if words[0] != "echo" or bar < 2:
            raise ValueError(f"only `echo … | maildiag …` may feed a command: {command}")
        stdin, words = " ".join(words[1:bar]) + "\n", words[bar + 1 :]
    if not words or words[0] != "maildiag":
        raise ValueError(f"an example runs maildiag: {command}")
    return words[1:], stdin


def normalise(text: str) -> str:
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return text


def _compare(example: Example, output: str) -> None:
    shown = "\n".join(example.output).rstrip()
    lines = output.rstrip().split("\n")
    if example.partial:
        lines = lines[: len(example.output)]
    got = "\n".join(lines).rstrip()
    assert normalise(got) == normalise(shown), (
        f"README.md:{example.line}: `{example.command}` prints (normalised) what the README "
        f"does not show; regenerate the example.\n--- output ---\n{output}"
    )


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))
RUN = [e for e in EXAMPLES if e.kind == "run"]
(LAB,) = [e for e in EXAMPLES if e.kind == "lab"]


@dataclass(frozen=True)
class RunningLab:
    directory: Path
    startup: str  # the lines it printed before it served


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """The README's ``serve --lab`` in a fresh directory with ``examples/``, until the module
    ends; the lines it printed up to the one that names its ports."""
    directory = tmp_path_factory.mktemp("checkout")
    (directory / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    argv, _ = _argv(LAB.command)
    ports = {"MAILDIAG_HTTP_PORT": "0", "MAILDIAG_SMTP_PORT": "0", "MAILDIAG_DNS_PORT": "0"}
    errors = directory / "lab-stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "maildiag", *argv],
            cwd=directory,
            env={**os.environ, **ports},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        shown = _first_lines(lines, len(LAB.output))
        if len(shown) < len(LAB.output):
            pytest.fail(f"the lab did not start:\n{''.join(shown)}{errors.read_text()}")
        yield RunningLab(directory, "".join(shown).replace(str(directory.resolve()), RUN_IN))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        reader.join(timeout=30)
        process.stdout.close()


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Every line of ``stream`` into ``lines``, then None at its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _first_lines(lines: queue.Queue[str | None], count: int) -> list[str]:
    """Up to ``count`` lines, fewer when the stream ends or stays silent for too long."""
    got: list[str] = []
    while len(got) < count:
        try:
            line = lines.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            break
        if line is None:
            break
        got.append(line)
    return got


def test_the_readme_has_its_examples() -> None:
    assert len(RUN) >= 8, [e.command for e in RUN]
    assert LAB.command == "maildiag serve --lab"


def test_the_lab_prints_what_the_readme_shows(lab: RunningLab) -> None:
    _compare(LAB, lab.startup)


@pytest.mark.parametrize("example", RUN, ids=lambda e: e.id)
def test_example(
    example: Example,
    lab: RunningLab,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv, stdin = _argv(example.command)
    monkeypatch.chdir(lab.directory)
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    with contextlib.suppress(SystemExit):  # argparse's own exits (--help, bad usage)
        main(argv)
    out, err = capsys.readouterr()
    _compare(example, (out + err).replace(str(lab.directory), RUN_IN))


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.kind == "parse-only"], ids=lambda e: e.id
)
def test_parse_only_example_parses(example: Example) -> None:
    argv, _ = _argv(example.command)
    args = build_parser().parse_args(argv)
    assert callable(args.run)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("```\nsome text\n$ maildiag spf x --ip 192.0.2.1\n```\n", "starts with its"),
        ("```\n$ rm -rf data\n```\n", "runs maildiag"),
        ("```\n$ cat x | maildiag headers -\n```\n", "echo"),
        ("<!-- example: parse-only -->\n\n```\n$ maildiag worker\n```\n", "right above"),
        ("```\n$ maildiag worker\n", "not closed"),
    ],
)
def test_examples_that_break_the_convention_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        readme_examples(text)


def test_the_shown_part_and_the_normalisation() -> None:
    (example,) = readme_examples(
        "<!-- example: parse-only -->\n```\n$ maildiag serve --lab\nA 127.0.0.1:8000\n…\nB\n```"
    )
    assert (example.kind, example.output, example.partial) == (
        "parse-only",
        ("A 127.0.0.1:8000",),
        True,
    )
    _compare(example, "A 127.0.0.1:41234\nanything\n")
    with pytest.raises(AssertionError):
        _compare(example, "A 127.0.0.2:41234\n")
    assert (
        normalise("at 2001-08-30T12:13:06+01:00 +-15.0 s")
        == "at 2001-08-30T12:13:06+01:00 +-15.0 s"
    )
    assert normalise("database: ok (41 ms)\nrelay: FAILED x (9 ms)") == (
        "database: ok (T ms)\nrelay: FAILED x (T ms)"
    )
    assert normalise("Sent in 41 ms (9 ms)") == "Sent in 41 ms (9 ms)"
