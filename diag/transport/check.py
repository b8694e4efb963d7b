"""``check_transport``: a recipient domain's transport security as our senders meet it.

Looks up, concurrently through the injected Resolver, the ``_mta-sts`` and ``_smtp._tls``
TXT records and each MX host's TLSA records; fetches the MTA-STS policy only through the
fetcher the caller passes (None in the lab: the policy is then reported as not fetched);
and judges the probe's STARTTLS, when the caller ran one, against what the domain demands.
Never raises for a problem of the domain under test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography.x509.verification import Store

from diag.errors import (
    DnsError,
    MtaStsSyntaxError,
    PolicyFetchError,
    TlsaSyntaxError,
    TlsRptSyntaxError,
)
from diag.findings import INFO, OK, WARNING, Finding
from diag.mx import MxReport
from diag.probe import ProbeReport
from diag.resolver import Resolver
from diag.transport import dane, mtasts, tlsrpt
from diag.transport.fetch import PolicyFetcher
from diag.transport.judge import (
    RFC_DANE,
    RFC_STS_FETCH,
    RFC_STS_POLICY,
    RFC_STS_RECORD,
    RFC_TLSRPT,
    dane_findings,
    finding,
    policy_findings,
    temperror,
)
from diag.transport.report import DaneHost, MtaSts, TlsRpt, TransportReport
from diag.transport.starttls import StartTls, judge_starttls, starttls_findings
from diag.transport.trust import default_trust_store


async def check_transport(
    mx: MxReport,
    resolver: Resolver,
    *,
    fetcher: PolicyFetcher | None,
    probe: ProbeReport | None = None,
    now: datetime | None = None,
    trust: Store | None = None,
) -> TransportReport:
    """MTA-STS, TLS-RPT, DANE and STARTTLS for the domain of the MX report ``mx``.

    ``fetcher`` fetches the MTA-STS policy (None: never fetched). ``probe`` is the SMTP
    probe of one of its MX hosts, if one ran; its certificate chain is checked against
    ``trust`` (the public CAs by default) at ``now``. Nothing is looked up for a domain
    that cannot receive mail.
    """
    if not mx.can_receive:
        return TransportReport(mx.domain)
    hosts = _hosts(mx)
    moment = now or datetime.now(UTC)
    starttls = None
    if probe is not None:
        starttls = judge_starttls(probe, now=moment, trust=trust or default_trust_store())
    (mta, mta_found), (rpt, rpt_found), dane_hosts = await asyncio.gather(
        _mta_sts(mx.domain, resolver, fetcher),
        _tlsrpt(mx.domain, resolver),
        asyncio.gather(*(_dane_host(h, resolver, starttls) for h in hosts)),
    )
    findings = [
        *mta_found,
        *policy_findings(mta, hosts, starttls),
        *rpt_found,
        *_dane(dane_hosts, mx.authenticated, starttls),
        *(starttls_findings(starttls) if starttls is not None else ()),
    ]
    daned = tuple(h for h, _ in dane_hosts)
    return TransportReport(mx.domain, True, mta, rpt, daned, starttls, tuple(findings))


def _hosts(mx: MxReport) -> tuple[str, ...]:
    """The MX hosts that have addresses, each once, in preference order."""
    return tuple(dict.fromkeys(h.name for h in mx.hosts if h.addresses))


MAX_AHEAD_HOSTS = 10  # MX hosts whose TLSA records are asked ahead


async def ask_ahead(resolver: Resolver, domain: str) -> None:
    """Ask what ``check_transport`` will ask about ``domain``, as early as each question can
    be asked: its ``_mta-sts`` and ``_smtp._tls`` records at once, and each MX host's TLSA
    record as soon as the MX answer names the hosts (not after their addresses). Asked
    through the same resolver, ``check_transport`` then finds each answer in its cache or its
    lookup in flight instead of waiting a round trip of its own. Failures are left for
    ``check_transport``'s own asking to report."""
    records = (
        (f"{mtasts.RECORD_PREFIX}.{domain}", "TXT"),
        (f"{tlsrpt.RECORD_PREFIX}.{domain}", "TXT"),
    )
    await asyncio.gather(*(_ask(resolver, q) for q in records), _ask_hosts(resolver, domain))


async def _ask(resolver: Resolver, question: tuple[str, str]) -> None:
    with contextlib.suppress(DnsError):
        await resolver.query(*question)


async def _ask_hosts(resolver: Resolver, domain: str) -> None:
    try:
        answer = await resolver.query(domain, "MX")
    except DnsError:
        return
    names = [r.exchange for r in answer.mx_records]
    if "" in names:  # a null MX: nothing to ask
        return
    hosts = list(dict.fromkeys(names))[:MAX_AHEAD_HOSTS] or [domain]  # none: the implicit MX
    await asyncio.gather(*(_ask(resolver, (dane.tlsa_name(h), "TLSA")) for h in hosts))


async def _mta_sts(
    domain: str, resolver: Resolver, fetcher: PolicyFetcher | None
) -> tuple[MtaSts, list[Finding]]:
    """The ``_mta-sts`` record (RFC 8461 §3.1) and, when it is valid, the policy (§3.3)."""
    url = mtasts.policy_url(domain)
    name = f"{mtasts.RECORD_PREFIX}.{domain}"
    try:
        answer = await resolver.query(name, "TXT")
    except DnsError as exc:
        return MtaSts(url), [temperror("mta_sts", exc, RFC_STS_RECORD)]
    records = [text for text in answer.texts if mtasts.is_sts_record(text)]
    if not records:
        return MtaSts(url), [finding("mta_sts.none", INFO, RFC_STS_RECORD, domain=domain)]
    if len(records) > 1:
        found = finding("mta_sts.record_multiple", WARNING, RFC_STS_RECORD, records=records)
        return MtaSts(url, " | ".join(records)), [found]
    record = records[0]
    try:
        parsed = mtasts.parse_record(record)
    except MtaStsSyntaxError as exc:
        return MtaSts(url, record), [_syntax("mta_sts.record_invalid", exc, RFC_STS_RECORD)]
    if fetcher is None:
        found = finding("mta_sts.policy_not_fetched", INFO, RFC_STS_FETCH, url=url, id=parsed.id)
        return MtaSts(url, record, parsed, fetch_error="not_fetched"), [found]
    return await _policy(domain, url, record, parsed, fetcher)


async def _policy(
    domain: str, url: str, record: str, parsed: mtasts.MtaStsRecord, fetcher: PolicyFetcher
) -> tuple[MtaSts, list[Finding]]:
    try:
        body = await fetcher.fetch(domain)
    except PolicyFetchError as exc:
        found = finding(
            "mta_sts.policy_unreachable",
            WARNING,
            RFC_STS_FETCH,
            url=exc.url,
            reason=exc.reason,
            detail=exc.detail,
        )
        return MtaSts(url, record, parsed, fetch_error=exc.reason), [found]
    try:
        policy = mtasts.parse_policy(body)
    except MtaStsSyntaxError as exc:
        found = _syntax("mta_sts.policy_invalid", exc, RFC_STS_POLICY, url=url)
        return MtaSts(url, record, parsed, fetch_error="invalid"), [found]
    return MtaSts(url, record, parsed, policy), []


async def _tlsrpt(domain: str, resolver: Resolver) -> tuple[TlsRpt, list[Finding]]:
    """The ``_smtp._tls`` record (RFC 8460 §3)."""
    try:
        answer = await resolver.query(f"{tlsrpt.RECORD_PREFIX}.{domain}", "TXT")
    except DnsError as exc:
        return TlsRpt(), [temperror("tlsrpt", exc, RFC_TLSRPT)]
    records = [text for text in answer.texts if tlsrpt.is_tlsrpt_record(text)]
    if not records:
        return TlsRpt(), [finding("tlsrpt.none", INFO, RFC_TLSRPT, domain=domain)]
    if len(records) > 1:
        found = finding("tlsrpt.multiple", WARNING, RFC_TLSRPT, records=records)
        return TlsRpt(" | ".join(records)), [found]
    try:
        parsed = tlsrpt.parse_record(records[0])
    except TlsRptSyntaxError as exc:
        return TlsRpt(records[0]), [_syntax("tlsrpt.invalid", exc, RFC_TLSRPT)]
    result = TlsRpt(records[0], parsed)
    if parsed.unsupported:
        found = finding(
            "tlsrpt.rua_unsupported",
            WARNING,
            RFC_TLSRPT,
            rua=list(parsed.rua),
            unsupported=list(parsed.unsupported),
        )
        return result, [found]
    return result, [finding("tlsrpt.ok", OK, RFC_TLSRPT, rua=list(parsed.rua))]


def _syntax(
    code: str, exc: MtaStsSyntaxError | TlsRptSyntaxError, rfc: str, **more: str
) -> Finding:
    """A record (or, with ``url``, a policy body, not repeated) that breaks its grammar."""
    shown = {} if "url" in more else {"record": exc.text}
    return finding(code, WARNING, rfc, **more, **shown, error=exc.message, position=exc.position)


async def _dane_host(
    host: str, resolver: Resolver, starttls: StartTls | None
) -> tuple[DaneHost, Finding | None]:
    """One MX host's TLSA records (RFC 7672 §2.2.3), compared with its probed chain."""
    try:
        answer = await resolver.query(dane.tlsa_name(host), "TLSA")
    except DnsError as exc:
        return DaneHost(host), temperror("dane", exc, RFC_DANE)
    usable: list[dane.Tlsa] = []
    unusable: list[tuple[str, str]] = []
    malformed: list[tuple[str, str]] = []
    for text in answer.strings:
        try:
            record = dane.parse_tlsa(text)
        except TlsaSyntaxError as exc:
            malformed.append((text, exc.message))
            continue
        reason = dane.unusable_reason(record)
        if reason is None:
            usable.append(record)
        else:
            unusable.append((text, reason))
    matched = _matched(host, usable, starttls)
    found = DaneHost(
        host,
        answer.strings,
        answer.authenticated,
        tuple(usable),
        tuple(unusable),
        tuple(malformed),
        matched,
    )
    return found, None


def _matched(host: str, usable: Sequence[dane.Tlsa], starttls: StartTls | None) -> bool | None:
    """Whether a usable record matches the chain the probe saw at ``host`` (None: no chain).
    DANE-TA(2) also needs the certificate to name the host (RFC 7672 §3.2.2)."""
    if not usable or starttls is None or starttls.host != host or not starttls.chain:
        return None
    named = "name_mismatch" not in starttls.problems
    return any(
        dane.matches(r, starttls.chain) and (r.usage == dane.DANE_EE or named) for r in usable
    )


def _dane(
    results: Sequence[tuple[DaneHost, Finding | None]],
    mx_authenticated: bool,
    starttls: StartTls | None,
) -> list[Finding]:
    failed = [f for _, f in results if f is not None]
    looked = [h for h, f in results if f is None]
    if failed and not any(h.records for h in looked):
        return failed
    return [*failed, *dane_findings(looked, mx_authenticated=mx_authenticated, starttls=starttls)]


__all__ = ["ask_ahead", "check_transport"]
