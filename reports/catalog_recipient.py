"""Wording for the recipient (MX and SMTP probe) and headers reports, in Norwegian (nb) and
English (en). Keyed by stable message ids; findings by ``finding.<code>``, header verdict
details by ``detail.<code>``. A missing evidence value shows as ``?`` rather than failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.catalog import translate

CATALOG: dict[str, tuple[str, str]] = {
    # key: (nb, en)
    "recipient.title": ("Mottakerrapport for {subject}", "Recipient report for {subject}"),
    "recipient.provider": ("E-postleverandør", "Mail provider"),
    "recipient.mx": ("E-posttjenere (MX)", "Mail servers (MX)"),
    "recipient.implicit": ("ingen MX; adressen til domenet brukes", "no MX; the domain's address"),
    "recipient.null_mx": ("null-MX: domenet tar ikke imot e-post", "null MX: accepts no mail"),
    "recipient.no_hosts": ("ingen", "none"),
    "recipient.no_address": ("ingen adresse", "no address"),
    "recipient.probe": ("SMTP-test mot {host}", "SMTP probe of {host}"),
    "recipient.not_connected": ("Ingen forbindelse", "No connection"),
    "recipient.banner": ("Velkomst", "Banner"),
    "recipient.tls": ("TLS", "TLS"),
    "recipient.tls_none": ("ikke tilbudt", "not offered"),
    "recipient.certificate": ("Sertifikat", "Certificate"),
    "recipient.transcript": ("SMTP-samtalen", "The SMTP conversation"),
    "recipient.summary_ok": ("Ingen feil funnet.", "No errors found."),
    "recipient.summary_problem": ("Feil funnet: {count}.", "Errors found: {count}."),
    "recipient.provider.generic": ("annen / egen server", "other / own server"),
    "recipient.provider.microsoft365": ("Microsoft 365", "Microsoft 365"),
    "recipient.provider.google": ("Google Workspace", "Google Workspace"),
    "recipient.provider.proofpoint": ("Proofpoint", "Proofpoint"),
    "recipient.provider.mimecast": ("Mimecast", "Mimecast"),
    "recipient.provider.barracuda": ("Barracuda", "Barracuda"),
    "recipient.provider.cisco": ("Cisco Secure Email", "Cisco Secure Email"),
    "headers.title": ("Analyse av e-posthoder", "Header analysis"),
    "headers.hops": ("Veien meldingen tok (eldste først)", "The message's path (oldest first)"),
    "headers.no_hops": ("Ingen Received-felt", "No Received fields"),
    "headers.total_delay": (
        "Total tid underveis: {seconds} s",
        "Total time in transit: {seconds} s",
    ),
    "headers.authentication": ("Autentisering hos mottakerne", "Authentication at the receivers"),
    "headers.verdicts": ("Spamfiltrenes vurdering", "The spam filters' verdicts"),
    "headers.no_verdicts": ("Ingen spamvurdering i hodene", "No spam verdict in the headers"),
    "headers.spam": ("spam", "spam"),
    "headers.not_spam": ("ikke spam", "not spam"),
    "headers.spam_unknown": ("ukjent", "unknown"),
    "headers.not_final": ("(avgjør ikke mappen)", "(does not decide the folder)"),
    "headers.conclusion": ("Konklusjon", "Conclusion"),
    "headers.folder.inbox": ("Innboksen", "The inbox"),
    "headers.folder.junk": ("Søppelpost-mappen", "The junk folder"),
    "headers.folder.quarantine": ("Karantene", "Quarantine"),
    "headers.folder.rejected": ("Avvist", "Rejected"),
    "headers.folder.unknown": ("Ukjent", "Unknown"),
    "headers.reason.spam_filter": ("spamfilteret", "the spam filter"),
    "headers.reason.authentication": (
        "avsenderautentisering (SPF/DKIM/DMARC) feilet",
        "sender authentication (SPF/DKIM/DMARC) failed",
    ),
    "headers.reason.bulk": ("merket som masseutsendelse", "classified as bulk mail"),
    "headers.reason.phish": ("merket som phishing", "classified as phishing"),
    "headers.reason.malware": ("merket som skadevare", "classified as malware"),
    "headers.reason.user_rule": (
        "en blokkeringsregel (blokkerte avsendere)",
        "a blocked-senders rule",
    ),
    "headers.reason.admin_rule": ("en regel satt av administrator", "an administrator's rule"),
    "headers.reason.rejected": ("avvist", "rejected"),
    "headers.reason.allowlisted": ("avsenderen er godkjent", "the sender is allowlisted"),
    "headers.reason.none": ("ingen grunn funnet", "no reason found"),
    # findings: MX
    "finding.mx.ok": ("{domain} har MX: {hosts}", "{domain} has MX: {hosts}"),
    "finding.mx.null_mx": (
        "{domain} har null-MX (RFC 7505): domenet tar ikke imot e-post",
        "{domain} has a null MX (RFC 7505): it accepts no mail",
    ),
    "finding.mx.null_mx_mixed": (
        "{domain} blander null-MX med andre MX-poster",
        "{domain} mixes its null MX with other MX records",
    ),
    "finding.mx.implicit": (
        "{domain} har ingen MX; e-post går til adressen {addresses}",
        "{domain} has no MX; mail goes to its address {addresses}",
    ),
    "finding.mx.no_mail_server": (
        "{domain} har ingen e-posttjener som kan nås",
        "{domain} has no reachable mail server",
    ),
    "finding.mx.domain_missing": ("{domain} finnes ikke i DNS", "{domain} does not exist in DNS"),
    "finding.mx.host_unresolvable": (
        "MX-tjeneren {host} har ingen adresse",
        "MX host {host} has no address",
    ),
    "finding.mx.host_private": (
        "MX-tjeneren {host} peker på ikke-offentlige adresser: {addresses}",
        "MX host {host} points at non-public addresses: {addresses}",
    ),
    "finding.mx.cname": (
        "MX-tjeneren {host} er et alias (CNAME) for {target}",
        "MX host {host} is an alias (CNAME) of {target}",
    ),
    "finding.mx.host_lookup_partial": (
        "Oppslaget {qname} {rdtype} feilet ({error}); de andre adressene brukes",
        "The lookup {qname} {rdtype} failed ({error}); the other addresses are used",
    ),
    "finding.mx.provider": ("E-posten håndteres av {provider}", "Mail is handled by {provider}"),
    "finding.mx.dns_temperror": (
        "DNS-oppslaget {qname} {rdtype} feilet ({error}); prøv igjen senere",
        "The DNS lookup {qname} {rdtype} failed ({error}); try again later",
    ),
    # findings: SMTP probe
    "finding.probe.sender_accepted": ("{sender} godtas", "{sender} is accepted"),
    "finding.probe.rcpt_accepted": ("{rcpt} godtas", "{rcpt} is accepted"),
    "finding.probe.sender_blocked": (
        "Tjeneren blokkerer {sender}: {reply}",
        "The server blocks {sender}: {reply}",
    ),
    "finding.probe.unknown_user": (
        "Tjeneren kjenner ikke {rcpt}: {reply}",
        "The server does not know {rcpt}: {reply}",
    ),
    "finding.probe.greylisted": (
        "Gråliste: tjeneren ber om nytt forsøk senere ({reply})",
        "Greylisting: the server asks to try again later ({reply})",
    ),
    "finding.probe.dmarc_rejected": (
        "Avvist fordi DMARC feilet: {reply}",
        "Rejected for failing DMARC: {reply}",
    ),
    "finding.probe.ip_blocklisted_microsoft": (
        "Microsoft 365 blokkerer avsender-IP-en: {reply}",
        "Microsoft 365 blocks the sending IP: {reply}",
    ),
    "finding.probe.rate_limited": (
        "Tjeneren er opptatt eller begrenser oss: {reply}",
        "The server is busy or rate limiting us: {reply}",
    ),
    "finding.probe.mailbox_full": ("Postkassen er full: {reply}", "The mailbox is full: {reply}"),
    "finding.probe.rcpt_rejected": (
        "Tjeneren avviser {rcpt}: {reply}",
        "The server refuses {rcpt}: {reply}",
    ),
    "finding.probe.rejected": (
        "Permanent avvisning ved {stage}: {reply}",
        "Permanent rejection at {stage}: {reply}",
    ),
    "finding.probe.temporary_failure": (
        "Midlertidig feil ved {stage}: {reply}",
        "Temporary failure at {stage}: {reply}",
    ),
    "finding.probe.could_not_run": (
        "Fikk ikke kontakt med {host} port {port} herfra; port 25 kan være sperret i dette"
        " nettet (ikke mottakerens feil)",
        "Could not connect to {host} port {port} from here; port 25 may be blocked on this"
        " network (not the recipient's fault)",
    ),
    "finding.probe.target_forbidden": (
        "Kobler ikke til {address} ({category}-adresse)",
        "Not connecting to {address} ({category} address)",
    ),
    "finding.probe.dns_temperror": (
        "{host} kunne ikke slås opp ({error})",
        "{host} could not be looked up ({error})",
    ),
    "finding.probe.host_unresolvable": ("{host} har ingen adresse", "{host} has no address"),
    "finding.probe.connection_lost": (
        "Samtalen med {host} stoppet ({reason})",
        "The conversation with {host} ended early ({reason})",
    ),
    "finding.probe.starttls_refused": (
        "STARTTLS tilbys, men avvises: {reply}",
        "STARTTLS is offered but refused: {reply}",
    ),
    "finding.probe.tls_failed": (
        "TLS-forhandlingen feilet: {error}",
        "The TLS handshake failed: {error}",
    ),
    "finding.probe.no_starttls": (
        "{host} tilbyr ikke STARTTLS; e-posten går ukryptert",
        "{host} does not offer STARTTLS; mail travels unencrypted",
    ),
    "finding.probe.connection_refused": (
        "Tjeneren avviser forbindelsen allerede ved hilsenen: {reply}",
        "The server refuses the connection at its greeting: {reply}",
    ),
    "finding.probe.tls_ok": ("STARTTLS virker ({version})", "STARTTLS works ({version})"),
    "finding.probe.tls_certificate_invalid": (
        "STARTTLS virker, men sertifikatet har avvik: {problems}",
        "STARTTLS works, but the certificate has problems: {problems}",
    ),
    "finding.probe.no_target": (
        "{domain} har ingen e-posttjener å teste",
        "{domain} has no mail server to probe",
    ),
    # findings: headers
    "finding.headers.empty": ("Fant ingen header-felt", "No header fields found"),
    "finding.headers.malformed_lines": (
        "{count} linjer er ikke header-felt og ble hoppet over",
        "{count} lines are not header fields and were skipped",
    ),
    "finding.headers.truncated": (
        "Hodene ble kuttet ved størrelsesgrensen",
        "The headers were cut at the size limit",
    ),
    "finding.headers.too_many_hops": (
        "{count} Received-felt; bare de {limit} nyeste er lest",
        "{count} Received fields; only the newest {limit} were read",
    ),
    "finding.headers.hop_undated": (
        "Steg {hop} har ingen lesbar dato",
        "Hop {hop} has no readable date",
    ),
    "finding.headers.clock_skew": (
        "Steg {hop} ({by}) er datert {seconds} s før forrige steg: klokkene går ulikt",
        "Hop {hop} ({by}) is dated {seconds} s before the previous one: clock skew",
    ),
    "finding.headers.slow_hop": (
        "Steg {hop} ({by}) tok {seconds} s",
        "Hop {hop} ({by}) took {seconds} s",
    ),
    "finding.headers.authres_unreadable": (
        "Et Authentication-Results-felt kunne ikke leses",
        "An Authentication-Results field could not be read",
    ),
    "finding.headers.auth_failed": (
        "{receiver} fant {method}={result}",
        "{receiver} found {method}={result}",
    ),
    "finding.headers.inbox": ("Meldingen havnet i innboksen", "The message landed in the inbox"),
    "finding.headers.junk": (
        "Meldingen havnet i søppelpost ({reason})",
        "The message landed in junk ({reason})",
    ),
    "finding.headers.quarantined": (
        "Meldingen ble satt i karantene ({reason})",
        "The message was quarantined ({reason})",
    ),
    "finding.headers.rejected": (
        "Meldingen ble avvist ({reason})",
        "The message was rejected ({reason})",
    ),
    "finding.headers.no_verdict": (
        "Hodene viser ikke hvilken mappe meldingen havnet i",
        "The headers do not show which folder the message landed in",
    ),
    "finding.headers.dkim_verified": (
        "DKIM-signaturen fra {domain} verifiseres",
        "The DKIM signature of {domain} verifies",
    ),
    "finding.headers.dkim_not_verified": (
        "DKIM-signaturen fra {domain} verifiseres ikke nå ({result}, {reason})",
        "The DKIM signature of {domain} does not verify now ({result}, {reason})",
    ),
    # verdict details
    "detail.ms.sfv.spam": ("filteret merket meldingen som spam", "the filter marked it as spam"),
    "detail.ms.sfv.not_spam": ("filteret fant ikke spam", "the filter found no spam"),
    "detail.ms.sfv.marked_spam_by_rule": (
        "merket som spam av en regel før filteret",
        "marked as spam by a rule before filtering",
    ),
    "detail.ms.sfv.marked_not_spam_by_rule": (
        "filteret hoppet over (regel)",
        "filtering skipped by a rule",
    ),
    "detail.ms.sfv.allowed_by_policy": (
        "avsenderen er tillatt i spampolicyen",
        "the sender is allowed in the anti-spam policy",
    ),
    "detail.ms.sfv.blocked_by_policy": (
        "avsenderen er blokkert i spampolicyen",
        "the sender is blocked in the anti-spam policy",
    ),
    "detail.ms.sfv.blocked_by_user": (
        "mottakeren har blokkert avsenderen",
        "the recipient has blocked the sender",
    ),
    "detail.ms.sfv.safe_sender_of_user": (
        "avsenderen er på mottakerens liste over trygge avsendere",
        "the sender is on the recipient's safe senders list",
    ),
    "detail.ms.sfv.intra_organization": (
        "intern melding i organisasjonen",
        "internal to the organization",
    ),
    "detail.ms.sfv.released_from_quarantine": (
        "sluppet ut av karantene",
        "released from quarantine",
    ),
    "detail.ms.cat.none": ("ingen kategori", "no category"),
    "detail.ms.cat.spam": ("kategori: spam", "category: spam"),
    "detail.ms.cat.high_confidence_spam": (
        "kategori: sikker spam",
        "category: high confidence spam",
    ),
    "detail.ms.cat.phish": ("kategori: phishing", "category: phishing"),
    "detail.ms.cat.high_confidence_phish": (
        "kategori: sikker phishing",
        "category: high confidence phishing",
    ),
    "detail.ms.cat.bulk": ("kategori: masseutsendelse", "category: bulk"),
    "detail.ms.cat.malware": ("kategori: skadevare", "category: malware"),
    "detail.ms.cat.spoof": ("kategori: forfalsket avsender", "category: spoofing"),
    "detail.ms.cat.user_impersonation": (
        "kategori: etterligning av bruker",
        "category: user impersonation",
    ),
    "detail.ms.cat.domain_impersonation": (
        "kategori: etterligning av domene",
        "category: domain impersonation",
    ),
    "detail.ms.scl.not_spam": ("SCL: ikke spam", "SCL: not spam"),
    "detail.ms.scl.spam": ("SCL: spam", "SCL: spam"),
    "detail.ms.scl.high_confidence_spam": ("SCL: sikker spam", "SCL: high confidence spam"),
    "detail.ms.scl.filtering_skipped": (
        "SCL -1: filteret ble hoppet over",
        "SCL -1: filtering skipped",
    ),
    "detail.ms.bcl.not_bulk": ("BCL: ikke masseutsendelse", "BCL: not bulk"),
    "detail.ms.bcl.bulk_few_complaints": (
        "BCL: masseutsendelse, få klager",
        "BCL: bulk, few complaints",
    ),
    "detail.ms.bcl.bulk_mixed_complaints": (
        "BCL: masseutsendelse, noen klager",
        "BCL: bulk, mixed complaints",
    ),
    "detail.ms.bcl.bulk_many_complaints": (
        "BCL: masseutsendelse, mange klager",
        "BCL: bulk, many complaints",
    ),
    "detail.ms.dir.inbound": ("innkommende", "inbound"),
    "detail.ms.dir.outbound": ("utgående", "outbound"),
    "detail.ms.dir.internal": ("intern", "internal"),
    "detail.sa.spam": ("SpamAssassin: spam", "SpamAssassin: spam"),
    "detail.sa.not_spam": ("SpamAssassin: ikke spam", "SpamAssassin: not spam"),
    "detail.rspamd.spam": ("rspamd: spam", "rspamd: spam"),
    "detail.rspamd.not_spam": ("rspamd: ikke spam", "rspamd: not spam"),
    "detail.gmail.dmarc_disposition.spam": (
        "Gmail la meldingen i søppelpost etter avsenderens DMARC-policy",
        "Gmail filed it as spam under the sender's DMARC policy",
    ),
    "detail.gmail.dmarc_disposition.quarantine": (
        "Gmail satte meldingen i karantene etter DMARC-policyen",
        "Gmail quarantined it under the DMARC policy",
    ),
    "detail.gmail.dmarc_disposition.none": (
        "DMARC-policyen ble ikke brukt",
        "no DMARC policy applied",
    ),
}


class _Evidence(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _shown(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return "-" if value is None else value


def translate_recipient(key: str, lang: str, **values: Any) -> str:
    """The text for ``key``: this catalog first, then the shared one; the key when unknown."""
    pair = CATALOG.get(key)
    if pair is None:
        return translate(key, lang, **values)
    text = pair[0] if lang == "nb" else pair[1]
    return text.format_map(_Evidence({k: _shown(v) for k, v in values.items()}))


def finding_text(finding: Mapping[str, Any], lang: str) -> str:
    """A finding's sentence from its code and evidence; its own summary when the code is unknown."""
    code = str(finding.get("code", ""))
    evidence = {str(k): v for k, v in dict(finding.get("evidence") or {}).items()}
    if (
        "reason" in evidence
        and code.startswith("headers.")
        and f"headers.reason.{evidence['reason']}" in CATALOG
    ):
        evidence["reason"] = translate_recipient(f"headers.reason.{evidence['reason']}", lang)
    key = f"finding.{code}"
    if key in CATALOG:
        return translate_recipient(key, lang, **evidence)
    return str(finding.get("summary", ""))


def detail_text(code: str, lang: str) -> str:
    """A verdict detail's plain-language meaning; ``""`` when there is no wording for it."""
    key = f"detail.{code}"
    return translate_recipient(key, lang) if key in CATALOG else ""


def recipient_keys() -> frozenset[str]:
    """Every message id in this catalog (tests check both languages are filled)."""
    return frozenset(CATALOG)


__all__ = ["CATALOG", "detail_text", "finding_text", "recipient_keys", "translate_recipient"]
