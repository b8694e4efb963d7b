"""The receiver's decision on the injected judge's verdict: DMARC quarantine and reject."""

from __future__ import annotations

import aiosmtplib
import pytest

from smtp_sink import (
    DmarcDecision,
    EnvelopeFacts,
    HeaderSummary,
    SinkStore,
    Verdict,
    null_judge,
    summarize_headers,
)
from tests.smtp_sink.helpers import FakeJudge, message


async def send(port: int, rcpts: list[str]) -> None:
    await aiosmtplib.send(
        message(),
        sender="a@legacy.visma.example",
        recipients=rcpts,
        hostname="127.0.0.1",
        port=port,
        start_tls=False,
    )


async def test_verdict_is_stored_with_header(run_sink, store: SinkStore, judge) -> None:
    async with run_sink() as sink:
        await send(sink.port, ["kari@kunde-ok.example"])
    stored = store.list()[0]
    assert stored.authentication_results.startswith("sink.test; spf=pass")
    assert stored.added_headers == (
        b"Authentication-Results: " + stored.authentication_results.encode() + b"\r\n"
    )
    assert stored.verdict["dmarc_result"] == "pass"
    assert stored.verdict["data"] == {"client_ip": "127.0.0.1"}
    facts = judge.seen[0][1]
    assert facts.helo
    assert facts.mail_from == "a@legacy.visma.example"


async def test_a_judge_s_header_summary_is_stored_as_it_gave_it(run_sink, store: SinkStore) -> None:
    """A judge that read the header summary hands it over; the sink does not read its own."""
    given = HeaderSummary("<judged@example>", "as the judge read it", "Judge <j@example>")
    async with run_sink(judge=FakeJudge(summary=given)) as sink:
        await send(sink.port, ["kari@kunde-ok.example"])
    assert store.list()[0].summary == given


async def test_without_a_judge_s_summary_the_sink_reads_it(run_sink, store: SinkStore) -> None:
    async with run_sink(judge=FakeJudge()) as sink:
        await send(sink.port, ["kari@kunde-ok.example"])
    stored = store.list()[0]
    assert stored.summary == summarize_headers(stored.raw)
    assert stored.summary.subject == "hello"


async def test_dmarc_fail_quarantine_goes_to_junk(run_sink, store: SinkStore) -> None:
    judge = FakeJudge(dmarc_result="fail", dmarc_policy="quarantine")
    async with run_sink(judge=judge) as sink:
        await send(sink.port, ["kari@kunde-ok.example", "ola@kunde-ok.example"])
    stored = store.list()[0]
    assert {m.folder for m in stored.mailboxes} == {"junk"}


async def test_dmarc_fail_reject_550_names_dmarc(run_sink, store: SinkStore) -> None:
    judge = FakeJudge(dmarc_result="fail", dmarc_policy="reject")
    async with run_sink(judge=judge) as sink:
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await send(sink.port, ["kari@kunde-ok.example"])
    assert info.value.code == 550
    assert info.value.message.startswith("5.7.1")
    assert "DMARC" in info.value.message
    assert store.count() == 0


async def test_dmarc_decision_is_configurable(run_sink, store: SinkStore) -> None:
    judge = FakeJudge(dmarc_result="fail", dmarc_policy="reject")
    relaxed = DmarcDecision(quarantine_to_junk=False, enforce_reject=False)
    async with run_sink(judge=judge, dmarc=relaxed) as sink:
        await send(sink.port, ["kari@kunde-ok.example"])
        judge.dmarc_policy = "quarantine"
        await send(sink.port, ["kari@kunde-ok.example"])
    assert [m.folder_for("kari@kunde-ok.example") for m in store.list()] == ["inbox", "inbox"]


async def test_dmarc_pass_under_reject_is_delivered(run_sink, store: SinkStore) -> None:
    judge = FakeJudge(dmarc_result="pass", dmarc_policy="reject")
    async with run_sink(judge=judge) as sink:
        await send(sink.port, ["kari@kunde-ok.example"])
    assert store.list()[0].folder_for("kari@kunde-ok.example") == "inbox"


async def test_broken_judge_keeps_the_message(run_sink, store: SinkStore) -> None:
    async with run_sink(judge=FakeJudge(fail=True)) as sink:
        await send(sink.port, ["kari@kunde-ok.example"])
    stored = store.list()[0]
    assert stored.authentication_results == "sink.test; none"
    assert "judge broke" in stored.verdict["data"]["judge_error"]


async def test_null_judge() -> None:
    facts = EnvelopeFacts("192.0.2.1", "h", "a@b", ("c@d",))
    verdict = await null_judge("mx.example")(b"", facts)
    assert verdict == Verdict(authentication_results="mx.example; none")
    assert not verdict.dmarc_failed
    assert verdict.as_json()["dmarc_policy"] == "none"
