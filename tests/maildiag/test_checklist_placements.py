"""The checklist uses what the service knows of its own mail: where the lab's sink (the demo
domains' MX) filed our mail to the address under check, and test sends to that address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from diag.resolver import DnsPythonResolver
from maildiag.lab.kit import LabKey, prepare_lab
from maildiag.services.checklist import check, lab_test_sends, probe_options, sink_placements
from tests.maildiag.sink_lab import Lab, lab_sink, make_message

PLATFORM = "do.not.reply@platform.visma.com"
CONNECT = "do.not.reply@connect.visma.com"
OUTSIDER = "news@outsider.example"


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LabKey], Any]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    return data, keys, zone


@pytest.fixture
async def lab(lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path) -> AsyncIterator[Lab]:
    data, keys, zone = lab_data
    async with lab_sink(data, keys, zone, tmp_path) as running:
        yield running


async def _send(lab: Lab, sender: str, to: str, subject: str) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=lab.sink.port, start_tls=False) as c:
        await c.sendmail(sender, [to], make_message(sender, to, subject))


async def _ours(lab: Lab, to: str) -> None:
    """Our real reset mail, signed, from each identity's egress address (as the outbox sends)."""
    run = await lab_test_sends(_State(lab), to)
    assert run is not None
    assert run.error == ""


async def test_placements_are_our_mail_to_the_address_only(lab: Lab) -> None:
    to = "kari@kunde-spam.example"
    await _ours(lab, to)  # junked: kunde-spam has not allowlisted us
    await _send(lab, OUTSIDER, to, "not ours")
    await _ours(lab, "ola@kunde-spam.example")
    placed = await sink_placements(lab.sink.store, to, [PLATFORM, CONNECT])
    assert sorted((p.source, p.sender, p.to, p.folder) for p in placed) == [
        ("sink", CONNECT, to, "junk"),
        ("sink", PLATFORM, to, "junk"),
    ]
    assert all(p.reference.isdigit() for p in placed)


@pytest.mark.parametrize("audience", ["self", "support", "admin"])
async def test_junk_the_sink_saw_is_a_problem_for_every_audience(lab: Lab, audience: str) -> None:
    to = "kari@kunde-spam.example"
    await _ours(lab, to)
    settings = lab.settings
    outcome = await check(
        settings,
        _resolver(lab),
        to,
        audience=audience,
        probe=probe_options(settings, smtp=False),
        sink=lab.sink,
    )
    item = outcome.checklist.item("spam.folder")
    assert item is not None
    assert item.status == "problem"
    assert item.evidence["source"] == "sink"
    assert item.evidence["folder"] == "junk"


async def test_without_the_sink_the_junk_item_stays_advice(lab: Lab) -> None:
    to = "kari@kunde-spam.example"
    await _ours(lab, to)
    settings = lab.settings
    outcome = await check(
        settings, _resolver(lab), to, audience="self", probe=probe_options(settings, smtp=False)
    )
    item = outcome.checklist.item("spam.folder")
    assert item is not None
    assert item.status == "todo"


def _resolver(lab: Lab) -> DnsPythonResolver:
    return DnsPythonResolver(lab.settings.nameservers, timeout=2.0)


class _State:
    def __init__(self, lab: Lab) -> None:
        self.settings = lab.settings
        self.sink = lab.sink


@pytest.mark.parametrize(
    ("to", "folder"),
    [
        ("kari@kunde-spam.example", "junk"),
        ("kari@kunde-ok.example", "inbox"),
        ("kari@kunde-blokkerer.example", "rejected"),
    ],
)
async def test_lab_test_sends_take_the_path_of_the_address_under_check(
    lab: Lab, to: str, folder: str
) -> None:
    run = await lab_test_sends(_State(lab), to)
    assert run is not None
    assert run.error == ""
    assert {result.to for result in run.results} == {to}
    assert {result.folder for result in run.results} == {folder}
