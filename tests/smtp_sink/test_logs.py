"""No message content reaches the logs, even with every logger at DEBUG: aiosmtpd logs each
DATA line at that level, and the sink keeps those records out."""

from __future__ import annotations

import logging

import aiosmtplib
import pytest

from smtp_sink import SinkStore

BODY = "Follow https://konto.example/reset-password?token=Zq81secretBodyToken0123456789abc"


async def test_message_bodies_never_reach_the_logs(
    run_sink, store: SinkStore, caplog: pytest.LogCaptureFixture
) -> None:
    message = (
        f"From: a@sender.example\r\nTo: kari@kunde-ok.example\r\nSubject: reset\r\n\r\n{BODY}\r\n"
    )
    caplog.set_level(logging.DEBUG)
    async with run_sink() as sink:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False)
        async with smtp:
            await smtp.sendmail("a@sender.example", ["kari@kunde-ok.example"], message)
    assert store.count() == 1
    assert any(r.name == "mail.log" for r in caplog.records)  # aiosmtpd did log the session
    assert "secretBodyToken" not in caplog.text
    assert "Follow https" not in caplog.text
