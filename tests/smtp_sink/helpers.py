"""Test helpers for the sink: a recording fake judge and message builders."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from smtp_sink import EnvelopeFacts, HeaderSummary, Verdict


@dataclass
class FakeJudge:
    """Records what it was asked and answers with a configurable DMARC outcome."""

    dmarc_result: str = "pass"
    dmarc_policy: str = "none"
    fail: bool = False
    summary: HeaderSummary | None = None
    seen: list[tuple[bytes, EnvelopeFacts]] = field(default_factory=list)

    async def __call__(self, raw: bytes, facts: EnvelopeFacts) -> Verdict:
        self.seen.append((raw, facts))
        if self.fail:
            raise RuntimeError("judge broke")
        return Verdict(
            authentication_results=(
                f"sink.test; spf=pass smtp.mailfrom={facts.mail_from or 'null'};"
                f" dmarc={self.dmarc_result} (p={self.dmarc_policy})"
            ),
            dmarc_result=self.dmarc_result,
            dmarc_policy=self.dmarc_policy,
            data={"client_ip": facts.client_ip},
            summary=self.summary,
        )


def message(subject: str = "hello", body: str = "Hello there.\r\n", **headers: str) -> bytes:
    """A small CRLF message as a client would send it."""
    headers.setdefault("Message_ID", f"<{abs(hash(subject + body))}@platform.visma.example>")
    lines = [
        "From: Sender <sender@platform.visma.example>",
        "To: kari@kunde-ok.example",
        f"Subject: {subject}",
        *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def client_tls() -> ssl.SSLContext:
    """A client context that accepts the sink's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
