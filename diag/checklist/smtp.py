"""The checklist's SMTP question to the recipient's server, asked through ``diag.probe``: would
it take mail from each of our senders (MAIL FROM) and, for the support and admin audiences,
for this mailbox (RCPT TO)? Never DATA, so nothing is delivered.

This module only turns a ``diag.probe.ProbeReport`` into one ``ProbeResult`` per sender. The
transcript is kept without timings, so the same conversation always reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from diag.checklist.facts import ProbeOptions, ProbeResult, SmtpReply
from diag.mx import MxReport
from diag.probe import ProbeReport, probe
from diag.resolver import Resolver


def _code(entry: Mapping[str, object]) -> int:
    """The reply code of a probe's reply entry (0 when there is none)."""
    return int(str(entry.get("code") or 0))


def _reply(entry: Mapping[str, object]) -> SmtpReply:
    return SmtpReply(
        _code(entry),
        str(entry.get("enhanced") or ""),
        str(entry.get("text") or ""),
    )


def results_from_report(
    report: ProbeReport, senders: Sequence[str], *, rcpt: bool
) -> tuple[ProbeResult, ...]:
    """One ``ProbeResult`` per sender from one probe conversation. Pure."""
    transcript = tuple(f"{t.direction}: {t.line}" for t in report.transcript if t.direction != "*")
    if not report.connected:
        codes = ",".join(f.code for f in report.findings) or "not_connected"
        return tuple(ProbeResult(s, report.host, "", "connect", error=codes) for s in senders)
    results = []
    for sender in senders:
        mail = next((m for m in report.mail_from if m.get("address") == sender), None)
        answer = next((r for r in report.rcpt if r.get("sender") == sender), None)
        if mail is None:
            results.append(
                ProbeResult(
                    sender,
                    report.host,
                    report.address,
                    "greeting",
                    error="no_mail_from",
                    transcript=transcript,
                )
            )
        elif _code(mail) >= 400:
            results.append(
                ProbeResult(
                    sender,
                    report.host,
                    report.address,
                    "mail",
                    _reply(mail),
                    rcpt,
                    "refused",
                    transcript,
                )
            )
        elif answer is not None and _code(answer) >= 400:
            results.append(
                ProbeResult(
                    sender,
                    report.host,
                    report.address,
                    "rcpt",
                    _reply(answer),
                    rcpt,
                    "refused",
                    transcript,
                )
            )
        else:
            final = _reply(answer) if answer is not None else _reply(mail)
            results.append(
                ProbeResult(
                    sender,
                    report.host,
                    report.address,
                    "done",
                    final,
                    answer is not None,
                    "",
                    transcript,
                )
            )
    return tuple(results)


async def probe_recipient(
    address: str,
    senders: Sequence[str],
    mx: MxReport,
    options: ProbeOptions,
    resolver: Resolver,
    *,
    rcpt: bool,
) -> tuple[tuple[ProbeResult, ...], ProbeReport | None]:
    """Probe the first usable MX host of ``address``'s domain as each of ``senders`` (one
    conversation), asking RCPT TO only when ``rcpt``, once ``options.gate`` (if any) lets it.
    Returns one result per sender and the conversation (None when no server was talked to),
    whose STARTTLS the transport check judges. Never raises for the server's answers."""
    host = next((h for h in mx.hosts if h.usable and h.addresses), None)
    if host is None or not senders:
        none = tuple(ProbeResult(s, "", "", "connect", error="no_mail_server") for s in senders)
        return none, None
    held = None if options.gate is None else await options.gate(host.name, host.addresses)
    if held is not None:
        return tuple(ProbeResult(s, host.name, "", "connect", error=held) for s in senders), None
    report = await probe(
        host.name,
        port=options.port,
        sender_addresses=list(senders),
        rcpt=address if rcpt else None,
        ehlo_name=options.helo,
        timeout=options.timeout,
        allow_private=options.allow_private,
        resolver=resolver,
        known=host.addresses,  # just looked up for the MX report
    )
    return results_from_report(report, senders, rcpt=rcpt), report


__all__ = ["probe_recipient", "results_from_report"]
