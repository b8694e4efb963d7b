"""The checklist build's internals that keep it within its DNS critical path: no worker thread
without a paste, each sender report's findings read once, findings listed once however
their evidence was ordered. Results are asserted, never times."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

import diag.checklist.build as build
from diag.checklist import (
    AUDIENCE_ITEMS,
    ChecklistItem,
    Evidence,
    checklist_from_evidence,
    read_pastes,
    read_spam_verdict,
)
from diag.findings import ERROR, WARNING, Finding
from diag.senders import SenderReport

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
JUNK = b"X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=7.1 required=5.0\r\n\r\n"


def _no_thread(*args: object, **kwargs: object) -> Any:
    raise AssertionError("a worker thread was started")


async def test_without_a_paste_no_thread_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build.asyncio, "to_thread", _no_thread)
    assert await read_pastes(None, None) == (None, None)
    assert await read_pastes(b"", b"") == (None, None)


async def test_a_paste_is_still_read_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[Callable[[], object]] = []
    real = asyncio.to_thread

    async def counted(func: Callable[[], object]) -> object:
        threads.append(func)
        return await real(func)

    monkeypatch.setattr(build.asyncio, "to_thread", counted)
    spam, bounce = await read_pastes(JUNK, None)
    assert spam == read_spam_verdict(JUNK)
    assert bounce is None
    assert len(threads) == 1


def _evidence(audience: str = "support", **values: Any) -> Evidence:
    return Evidence(
        address="kari@kunde-ok.example",
        audience=audience,
        now=NOW,
        sender_addresses=("do.not.reply@platform.visma.com",),
        **values,
    )


def test_findings_with_equal_evidence_in_another_order_are_listed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = Finding("x.same", WARNING, "one", {"host": "mx.example", "port": 25})
    reordered = Finding("x.same", WARNING, "one", {"port": 25, "host": "mx.example"})
    other = Finding("x.same", WARNING, "one", {"host": "mx.example", "port": 587})
    found = iter([(first,), (reordered, other), ()])

    def item(key: str) -> Callable[[Evidence], ChecklistItem]:
        return lambda _: ChecklistItem(key, "warning", {}, next(found, ()))

    keys = AUDIENCE_ITEMS["self"]
    monkeypatch.setattr(build, "ITEM_FUNCTIONS", {key: item(key) for key in keys})
    result = checklist_from_evidence(_evidence("self"))
    assert [dict(f.evidence) for f in result.findings] == [
        {"host": "mx.example", "port": 25},
        {"host": "mx.example", "port": 587},
    ]


class _CountingReport(SenderReport):
    """A sender report that counts how often its (computed) findings are read."""

    reads: list[str]

    @property
    def findings(self) -> tuple[Finding, ...]:
        self.reads.append(self.subject)
        return super().findings


def test_each_sender_reports_findings_are_read_once() -> None:
    error = Finding("spf.permerror", ERROR, "bad", {"domain": "platform.visma.com"})
    warning = Finding("dmarc.policy_none", WARNING, "weak", {"domain": "platform.visma.com"})
    reports = []
    reads: list[str] = []
    for subject in ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com"):
        report = _CountingReport(
            subject, "identity", "visma.com", {}, (), extra_findings=(error, warning)
        )
        object.__setattr__(report, "reads", reads)
        reports.append(report)
    item = checklist_from_evidence(_evidence(senders=tuple(reports))).item("sender.authentication")
    assert item is not None
    assert item.status == "problem"
    assert [e["codes"] for e in item.evidence["identities"]] == [
        ["dmarc.policy_none", "spf.permerror"],
        ["dmarc.policy_none", "spf.permerror"],
    ]
    assert sorted(reads) == sorted(r.subject for r in reports)
