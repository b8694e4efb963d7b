"""The checklist build's internals that keep it within its DNS critical path: no worker thread
without a paste, each sender report's findings read once, findings listed once however
their evidence was ordered, the reads and the caller's admission started only once the first
DNS questions are out. Results and orders are asserted, never times."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

import diag.checklist.build as build
from diag.checklist import (
    AUDIENCE_ITEMS,
    AccountFacts,
    ChecklistItem,
    Evidence,
    RcptRule,
    checklist_from_evidence,
    read_pastes,
    read_spam_verdict,
)
from diag.findings import ERROR, WARNING, Finding
from diag.resolver import Answer, Rcode
from diag.senders import SenderReport, SenderSpec

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


class _Held:
    """A resolver that holds every answer (NXDOMAIN) until ``release``; ``asked`` lists the
    questions in order."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.released = asyncio.Event()

    async def query(self, name: str, rdtype: str) -> Answer:
        self.asked.append((name, rdtype))
        await self.released.wait()
        return Answer(name, rdtype, Rcode.NXDOMAIN)

    async def release_when_quiet(self) -> None:
        """Release the answers once 20 loop turns in a row asked nothing new."""
        seen, still = -1, 0
        while still < 20:
            await asyncio.sleep(0)
            still = still + 1 if len(self.asked) == seen else 0
            seen = len(self.asked)
        self.released.set()


SENDERS = (
    SenderSpec("do.not.reply@platform.visma.com", selectors=("s1",), egress_ips=("192.0.2.10",)),
)


async def _gather(resolver: _Held, **kwargs: Any) -> Any:
    releasing = asyncio.ensure_future(resolver.release_when_quiet())
    try:
        return await build.gather_evidence(
            "kari@kunde-ok.example", resolver=resolver, senders=SENDERS, now=NOW, **kwargs
        )
    finally:
        releasing.cancel()


async def test_reads_start_once_the_first_questions_are_out() -> None:
    # their worker threads would otherwise take the GIL while the questions are being sent
    resolver = _Held()
    started: dict[str, list[tuple[str, str]]] = {}

    def noting(name: str, value: Any) -> Callable[[], Any]:
        async def read() -> Any:
            started[name] = list(resolver.asked)
            return value

        return read

    evidence = await _gather(
        resolver,
        audience="support",
        account=noting("account", AccountFacts(exists=True, email="kari@kunde-ok.example")),
        placements=noting("placements", ()),
        test_sends=noting("test sends", ()),
    )
    first_wave = resolver.asked[: len(started["account"])]
    assert ("kunde-ok.example", "MX") in first_wave
    assert any(name.startswith("_dmarc.") for name, _ in first_wave)
    assert started == dict.fromkeys(("account", "placements", "test sends"), first_wave)
    assert evidence.account is not None
    assert evidence.account.exists


async def test_a_caller_refused_by_admit_gets_nothing_but_questions_asked() -> None:
    resolver = _Held()
    ran: list[str] = []

    async def refuse() -> None:
        ran.append("admit")
        raise PermissionError("no session")

    async def read() -> AccountFacts:
        ran.append("account")
        return AccountFacts(exists=True, email="kari@kunde-ok.example")

    async def placed() -> tuple[()]:
        ran.append("placements")
        return ()

    with pytest.raises(PermissionError):
        await _gather(resolver, audience="support", account=read, placements=placed, admit=refuse)
    assert "admit" in ran
    assert set(ran) <= {"admit", "placements"}  # what any audience may see may be read beside it
    assert resolver.asked  # the lookups had started; they are cancelled, not awaited


async def test_admit_runs_beside_the_lookups_and_decides_rcpt() -> None:
    resolver = _Held()
    seen: list[int] = []
    rules: list[str] = []

    async def admit() -> None:
        seen.append(len(resolver.asked))

    def rule() -> RcptRule:
        rules.append("asked")
        return True

    evidence = await _gather(resolver, audience="admin", admit=admit, rcpt=rule)
    assert seen
    assert seen[0] > 0
    assert evidence.account is None
    assert rules == []  # NXDOMAIN: no mail server, so no probe and no RCPT decision
