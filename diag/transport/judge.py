"""The transport-security findings: what the MTA-STS policy, the TLS-RPT record and the TLSA
records mean for our senders' mail, with stable codes and RFC cites. Pure.

Severity follows what a sender does: ERROR only where a sender that honours the recipient's
policy would not deliver (MTA-STS enforce, DNSSEC-signed DANE records) and no other MX host
is left to try; WARNING for what is broken but ignored (senders fall back to opportunistic
TLS) or skipped for another MX host; INFO for what is absent.
"""

from __future__ import annotations

from collections.abc import Sequence

from diag.errors import DnsError
from diag.findings import ERROR, INFO, OK, WARNING, Finding, Severity
from diag.transport.report import DaneHost, MtaSts
from diag.transport.starttls import StartTls

RFC_STS_RECORD = "RFC 8461 §3.1"
RFC_STS_POLICY = "RFC 8461 §3.2"
RFC_STS_FETCH = "RFC 8461 §3.3"
RFC_STS_MX = "RFC 8461 §4.1"
RFC_STS_APPLY = "RFC 8461 §5"
RFC_TLSRPT = "RFC 8460 §3"
RFC_DANE = "RFC 7672 §2.2"
RFC_DANE_MX = "RFC 7672 §2.2.1"
RFC_DANE_USAGE = "RFC 7672 §3.1"
RFC_TLSA = "RFC 6698 §2.2"
TLS_REFUSALS = frozenset({"no_starttls", "tls_failed"})  # no TLS session at all


def finding(code: str, severity: Severity, rfc: str, **evidence: object) -> Finding:
    """A transport finding; its summary is the code and evidence (reports word it)."""
    shown = ", ".join(f"{k}={v}" for k, v in evidence.items())
    return Finding(code, severity, f"{code}: {shown}", evidence, rfc=rfc)


def temperror(prefix: str, exc: DnsError, rfc: str) -> Finding:
    """``<prefix>.dns_temperror``: a lookup failed, which says nothing about the record."""
    return finding(
        f"{prefix}.dns_temperror",
        WARNING,
        rfc,
        qname=exc.qname,
        rdtype=exc.rdtype,
        error=exc.reason,
    )


def policy_findings(mta: MtaSts, hosts: Sequence[str], starttls: StartTls | None) -> list[Finding]:
    """The fetched policy against the real MX hosts and, when probed, the TLS they offer."""
    policy = mta.policy
    if policy is None:
        return []
    base = {"url": mta.url, "mode": policy.mode, "mx": list(policy.mx)}
    if policy.mode == "none":
        return [finding("mta_sts.mode_none", INFO, RFC_STS_APPLY, **base)]
    enforce = policy.mode == "enforce"
    found: list[Finding] = []
    unmatched = [h for h in hosts if not policy.matches(h)]
    if unmatched:
        blocked = enforce and len(unmatched) == len(hosts)
        severity = ERROR if blocked else WARNING
        found.append(finding("mta_sts.mx_mismatch", severity, RFC_STS_MX, **base, hosts=unmatched))
    if starttls is not None and starttls.problems and policy.matches(starttls.host):
        # senders go on to the next MX host the policy allows (RFC 8461 §5.1): not probed here
        others = [h for h in hosts if h != starttls.host and policy.matches(h)]
        found.append(
            finding(
                "mta_sts.tls_unmet",
                ERROR if enforce and not others else WARNING,
                "RFC 8461 §4.2",
                **base,
                host=starttls.host,
                problems=list(starttls.problems),
                other_hosts=others,
            )
        )
    if policy.mode == "testing":
        found.insert(0, finding("mta_sts.testing", INFO, RFC_STS_APPLY, **base))
    elif not found:
        checked = starttls.host if starttls is not None else ""
        found.append(finding("mta_sts.enforce", OK, RFC_STS_APPLY, **base, probed=checked))
    return found


def dane_findings(
    hosts: Sequence[DaneHost], *, mx_authenticated: bool, starttls: StartTls | None
) -> list[Finding]:
    """What the MX hosts' TLSA records mean: ignored without DNSSEC, unusable, or a demand
    for a certificate that matches them."""
    published = [h for h in hosts if h.records]
    if not published:
        names = [h.host for h in hosts]
        return [finding("dane.none", INFO, RFC_DANE, hosts=names)]
    # a DANE sender that cannot authenticate one MX host goes on to the next (RFC 7672 §2.2)
    blocking = mx_authenticated and len(hosts) == 1
    found: list[Finding] = []
    for host in published:
        found.extend(_dane_host(host, mx_authenticated, blocking, starttls))
    return found


def _dane_host(
    host: DaneHost, mx_authenticated: bool, blocking: bool, starttls: StartTls | None
) -> list[Finding]:
    records = list(host.records)
    if not host.authenticated:
        return [finding("dane.not_authenticated", INFO, RFC_DANE, host=host.host, records=records)]
    found: list[Finding] = []
    if host.malformed:
        texts, errors = [r for r, _ in host.malformed], [e for _, e in host.malformed]
        found.append(
            finding(
                "dane.malformed", WARNING, RFC_TLSA, host=host.host, records=texts, errors=errors
            )
        )
    if host.unusable:
        texts, reasons = [r for r, _ in host.unusable], [why for _, why in host.unusable]
        found.append(
            finding(
                "dane.unusable",
                WARNING,
                RFC_DANE_USAGE,
                host=host.host,
                records=texts,
                reasons=reasons,
                none_usable=not host.usable,
            )
        )
    if not host.usable:
        return found
    if not mx_authenticated:
        found.append(finding("dane.mx_not_authenticated", INFO, RFC_DANE_MX, host=host.host))
    found.append(_dane_match(host, blocking, starttls))
    return found


def _dane_match(host: DaneHost, blocking: bool, starttls: StartTls | None) -> Finding:
    """Whether the probed certificate meets the host's records; a failure is an error when
    DANE surely applies (a signed MX RRset) and there is no other MX host to go to."""
    usable = [f"{r} ({r.label})" for r in host.usable]
    probed = starttls is not None and starttls.host == host.host
    severity = ERROR if blocking else WARNING
    if probed and starttls is not None and TLS_REFUSALS & set(starttls.problems):
        problems = sorted(TLS_REFUSALS & set(starttls.problems))
        return finding(
            "dane.starttls_missing", severity, RFC_DANE, host=host.host, problems=problems
        )
    if host.matched is True:
        return finding("dane.tlsa_match", OK, RFC_DANE_USAGE, host=host.host, records=usable)
    if host.matched is False:
        return finding(
            "dane.tlsa_no_match", severity, RFC_DANE_USAGE, host=host.host, records=usable
        )
    return finding("dane.ok", OK, RFC_DANE, host=host.host, records=usable)


__all__ = ["dane_findings", "finding", "policy_findings", "temperror"]
