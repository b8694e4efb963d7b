"""The sink's aiosmtpd handler: policies at each stage, the verdict, the store, bounces.

Order at end of DATA: data-stage faults, the injected judge, the DMARC decision, then the
message is committed through the store (in a worker thread) and only then does the client get
250. Bounces are scheduled and bounce reports handed on after the commit. Never relays. Reading
the message (its header summary, a bounce) happens off the event loop: the header summary comes
with the verdict when the judge read it (the sink's judges do, in their own thread or process),
otherwise from a worker thread, as a bounce does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import re
from collections.abc import Awaitable, Callable, Sequence

from aiosmtpd.proxy_protocol import ProxyData

from smtp_sink.bounces import OnBounce, bounce_token, parse_bounce
from smtp_sink.capture import (
    CapturedMessage,
    Mailbox,
    clean_text,
    summarize_headers,
)
from smtp_sink.config import SinkConfig
from smtp_sink.dsn import Deliver, build_dsn
from smtp_sink.errors import SinkError
from smtp_sink.greylist import Greylist
from smtp_sink.policies import GREYLISTED, TEMPORARY_FAILURE, Action, Policy, PolicyBook, Stage
from smtp_sink.protocol import SinkEnvelope, SinkSession, SinkSMTP
from smtp_sink.proxy import proxied_peer
from smtp_sink.verdicts import EnvelopeFacts, HeaderSummary, Judge, TlsFacts, Verdict
from smtp_sink.verdicts import null_judge as _null_judge

log = logging.getLogger(__name__)

TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"  # RFC 5321 §4.5.3.1.10, RFC 3463 §3.6
INTERNAL_ERROR = "451 4.3.0 Temporary server error, try again later"
NOT_STORED = "451 4.3.0 Message could not be stored, try again later"
DMARC_REJECT = "550 5.7.1 Message rejected: DMARC policy of the From domain is reject"
MS_SPAM_HEADERS = (
    b"X-MS-Exchange-Organization-SCL: 5\r\n"
    b"X-Forefront-Antispam-Report: CIP:{ip};CTRY:;LANG:;SCL:5;SRV:;IPV:NLI;SFV:SPM;"
    b"H:{helo};PTR:;CAT:SPM;SFTY:;SFS:;DIR:INB;\r\n"
)

BAD_ADDRESS = "553 5.1.3 Malformed address"  # RFC 3463 §3.2
_DOMAIN = re.compile(r"\[[^\]\s]+\]|[^\s@\[\]<>()\\,;:\"]+")
_LOCAL = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s@<>()\[\]\\,;:"]+')

_UNSAFE_IN_FIELD = re.compile(rb"[\x00-\x20;\x7f]")

Save = Callable[[CapturedMessage], Awaitable[int]]


def is_mailbox(address: str) -> bool:
    """True for ``local@domain`` as RFC 5321 §4.1.2 allows it (UTF-8 allowed, RFC 6531)."""
    local, at, domain = address.rpartition("@")
    return bool(at and _LOCAL.fullmatch(local) and _DOMAIN.fullmatch(domain))


def _sender(envelope: SinkEnvelope) -> str:
    mail_from = envelope.mail_from or ""
    return "" if mail_from == "<>" else mail_from


def _tls_facts(session: SinkSession) -> TlsFacts | None:
    info = session.ssl
    if not info:
        return None
    ssl_object = info.get("ssl_object")
    if ssl_object is None:
        return None
    name, _proto, bits = ssl_object.cipher()
    return TlsFacts(version=str(ssl_object.version()), cipher=str(name), bits=bits)


class SinkHandler:
    """aiosmtpd hooks for one sink server. ``policies`` may be changed while it runs."""

    def __init__(
        self,
        *,
        config: SinkConfig,
        policies: PolicyBook,
        save: Save,
        judge: Judge | None = None,
        deliver: Deliver | None = None,
        on_bounce: OnBounce | None = None,
        rng: random.Random | None = None,
        greylist: Greylist | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.policies = policies
        self._save = save
        self._judge = judge or _null_judge(config.hostname)
        self._deliver = deliver
        self._on_bounce = on_bounce
        self._rng = rng or random.Random()  # fault injection, not security
        self.greylist = greylist or Greylist()
        self._sleep = sleep
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle_exception(self, error: Exception) -> str:
        """Any unexpected error becomes a temporary failure, so the client keeps the message."""
        log.error("sink.session_error error=%r", error, exc_info=error)
        return INTERNAL_ERROR

    async def handle_PROXY(
        self, server: SinkSMTP, session: SinkSession, envelope: SinkEnvelope, data: ProxyData
    ) -> bool:
        peer = proxied_peer(data)
        if peer is None:
            return False
        if peer.ip is not None:
            session.client_ip, session.client_port, session.proxied = peer.ip, peer.port, True
        log.info("sink.proxy peer=%s client=%s version=%d", session.peer, peer.ip, peer.version)
        return True

    async def handle_HELO(
        self, server: SinkSMTP, session: SinkSession, envelope: SinkEnvelope, hostname: str
    ) -> str:
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_EHLO(
        self,
        server: SinkSMTP,
        session: SinkSession,
        envelope: SinkEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        keep = [r[4:] for r in responses[1:] if not r[4:].startswith(("AUTH", "HELP"))]
        keywords = [*keep, "ENHANCEDSTATUSCODES", "PIPELINING"]  # RFC 2034, RFC 2920
        lines = [f"250-{server.hostname}"]
        lines += [f"250-{k}" for k in keywords[:-1]] + [f"250 {keywords[-1]}"]
        return lines

    async def handle_MAIL(
        self,
        server: SinkSMTP,
        session: SinkSession,
        envelope: SinkEnvelope,
        address: str,
        options: list[str],
    ) -> str | None:
        if address != "<>" and not is_mailbox(address):
            return BAD_ADDRESS
        domain = self.config.local_domains.get(session.local_ip)
        if domain is not None:
            policy = self.policies.for_domain(domain)
            sender = "" if address == "<>" else address
            status = await self._stage(server, policy, Stage.MAIL, sender)
            if status is not None:
                return status
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SinkSMTP,
        session: SinkSession,
        envelope: SinkEnvelope,
        address: str,
        options: list[str],
    ) -> str | None:
        if not is_mailbox(address):
            return BAD_ADDRESS
        if len(envelope.rcpt_tos) >= self.config.max_recipients:
            return TOO_MANY_RECIPIENTS
        sender = _sender(envelope)
        policy = self.policies.for_recipient(address)
        if session.local_ip not in self.config.local_domains:
            status = await self._stage(server, policy, Stage.MAIL, sender)
            if status is not None:
                return status
        status = await self._stage(server, policy, Stage.RCPT, sender)
        if status is not None:
            return status
        if policy.action is Action.GREYLIST:
            triplet = (session.client_ip, sender, address)
            window = policy.greylist_window
            if self.greylist.defer(triplet, attempts=policy.greylist_attempts, window=window):
                return str(GREYLISTED)
        if policy.tempfail_probability and self._rng.random() < policy.tempfail_probability:
            return str(TEMPORARY_FAILURE)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        envelope.policies.append(policy)
        return "250 2.1.5 OK"

    async def _stage(
        self, server: SinkSMTP, policy: Policy, stage: Stage, sender: str
    ) -> str | None:
        """Delay, disconnect or reject at ``stage``; the reply to give, or None to go on."""
        if policy.delay and policy.delay_stage is stage:
            await self._sleep(policy.delay)
        if policy.stage is not stage or not policy.applies_to_sender(sender):
            return None
        if policy.action is Action.DISCONNECT:
            server.drop()
            return "421 4.4.2 Connection dropped"  # never sent: the connection is gone
        if policy.action is Action.REJECT:
            return str(policy.reply)
        return None

    async def handle_DATA(
        self, server: SinkSMTP, session: SinkSession, envelope: SinkEnvelope
    ) -> str:
        sender = _sender(envelope)
        for policy in dict.fromkeys(envelope.policies):  # once per distinct policy
            status = await self._stage(server, policy, Stage.DATA, sender)
            if status is not None:
                return status
        raw = envelope.original_content or b""
        facts = EnvelopeFacts(
            client_ip=session.client_ip,
            helo=clean_text(session.host_name or ""),
            mail_from=clean_text(sender),
            rcpt_tos=tuple(clean_text(a) for a in envelope.rcpt_tos),
            tls=_tls_facts(session),
        )
        verdict = await self._verdict(raw, facts)
        if self._dmarc_rejects(verdict):
            log.info("sink.rejected reason=dmarc client=%s", facts.client_ip)
            return DMARC_REJECT
        summary = verdict.summary
        if summary is None:
            summary = await asyncio.to_thread(summarize_headers, raw)
        message = self._capture(raw, session, envelope, facts, verdict, summary)
        try:
            stored_id = await self._save(message)
        except (SinkError, OSError) as error:
            log.error("sink.store_failed error=%s", error)
            return NOT_STORED
        self._after_commit(raw, envelope, sender)
        await self._bounce_intake(raw, envelope.rcpt_tos)
        return f"250 2.0.0 OK queued as {stored_id}"

    def _dmarc_rejects(self, verdict: Verdict) -> bool:
        enforce = self.config.dmarc.enforce_reject
        return enforce and verdict.dmarc_failed and verdict.dmarc_policy == "reject"

    async def _verdict(self, raw: bytes, facts: EnvelopeFacts) -> Verdict:
        try:
            return await self._judge(raw, facts)
        except Exception as error:  # a broken judge must not lose the message
            log.exception("sink.judge_failed client=%s", facts.client_ip)
            return Verdict(
                authentication_results=f"{self.config.hostname}; none",
                data={"judge_error": repr(error)},
            )

    def _capture(
        self,
        raw: bytes,
        session: SinkSession,
        envelope: SinkEnvelope,
        facts: EnvelopeFacts,
        verdict: Verdict,
        summary: HeaderSummary,
    ) -> CapturedMessage:
        quarantine = (
            verdict.dmarc_failed
            and verdict.dmarc_policy == "quarantine"
            and self.config.dmarc.quarantine_to_junk
        )
        boxes: list[Mailbox] = []
        spam = False
        for address, policy in zip(envelope.rcpt_tos, envelope.policies, strict=True):
            junk = policy.action is Action.JUNK_UNLESS_ALLOWLISTED and not policy.allowlisted(
                facts.mail_from
            )
            spam = spam or junk
            folder = "junk" if junk or quarantine else "inbox"
            boxes.append(Mailbox(clean_text(address.lower()), folder))
        results = clean_text(verdict.authentication_results)
        added = f"Authentication-Results: {results}\r\n".encode()
        if spam:
            helo = _UNSAFE_IN_FIELD.sub(b"_", clean_text(facts.helo).encode())
            added += MS_SPAM_HEADERS.replace(b"{ip}", facts.client_ip.encode())
            added = added.replace(b"{helo}", helo)
        return CapturedMessage(
            raw=raw,
            mail_from=clean_text(facts.mail_from),
            rcpt_tos=tuple(clean_text(a) for a in facts.rcpt_tos),
            mailboxes=tuple(boxes),
            peer_ip=facts.client_ip,
            peer_port=session.client_port,
            received_at=dt.datetime.now(dt.UTC),
            helo=clean_text(facts.helo),
            proxied=session.proxied,
            tls=facts.tls,
            added_headers=added,
            authentication_results=results,
            verdict=verdict.as_json(),
            summary=summary,
        )

    def _after_commit(self, raw: bytes, envelope: SinkEnvelope, sender: str) -> None:
        if not sender:  # never bounce a bounce (RFC 5321 §4.5.5)
            return
        arrival = dt.datetime.now(dt.UTC)
        for address, policy in zip(envelope.rcpt_tos, envelope.policies, strict=True):
            if policy.action is Action.ACCEPT_THEN_BOUNCE:
                job = self._bounce_later(raw, address, sender, policy, arrival)
                task = asyncio.get_running_loop().create_task(job)
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _bounce_later(
        self, raw: bytes, recipient: str, sender: str, policy: Policy, arrival: dt.datetime
    ) -> None:
        await self._sleep(policy.bounce_delay)
        dsn = build_dsn(
            raw,
            reporting_mta=self.config.hostname,
            recipient=recipient,
            envelope_sender=sender,
            reply=policy.bounce_reply,
            arrival=arrival,
        )
        if self._deliver is None:
            log.warning("sink.bounce_dropped reason=no_deliver rcpt=%s", sender)
            return
        try:
            await self._deliver(dsn, mail_from="", rcpt=sender)
        except Exception:  # a failed bounce is logged, never raised into the loop
            log.exception("sink.bounce_failed rcpt=%s", sender)

    async def _bounce_intake(self, raw: bytes, recipients: Sequence[str]) -> None:
        patterns = self.config.bounce_addresses
        for address in recipients:
            token = bounce_token(address, patterns)
            if token is None or self._on_bounce is None:
                continue
            try:
                report = await asyncio.to_thread(parse_bounce, raw, verp_token=token)
                if report is not None:
                    await self._on_bounce(report)
            except Exception:  # the message is stored; a bad bounce is only logged
                log.exception("sink.bounce_intake_failed rcpt=%s", address)
