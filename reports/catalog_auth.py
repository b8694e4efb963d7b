"""Wording for the sender report and the authenticate verdict, in Norwegian (nb) and English (en).

Keyed by stable message ids; findings by ``finding.<code>``, formatted with their evidence.
A missing evidence value shows as ``?`` rather than failing the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reports.catalog import translate

CATALOG: dict[str, tuple[str, str]] = {
    # key: (nb, en)
    "sender.title": ("Avsenderrapport", "Sender report"),
    "sender.identity": ("Avsender {subject}", "Sender {subject}"),
    "sender.domain": (
        "Domene {subject} (ingen konfigurert avsender)",
        "Domain {subject} (no configured sender)",
    ),
    "sender.envelope": ("Konvolutt-domene", "Envelope domain"),
    "sender.dkim_domain": ("DKIM-domene", "DKIM domain"),
    "sender.egress": ("Utgående IP", "Egress IPs"),
    "sender.helo": ("HELO-navn", "HELO name"),
    "sender.none": ("ingen", "none"),
    "sender.summary_ok": ("Ingen feil funnet.", "No errors found."),
    "sender.summary_problem": ("Feil funnet: {count}.", "Errors found: {count}."),
    "sender.section.spf": ("SPF", "SPF"),
    "sender.section.dkim": ("DKIM-nøkler", "DKIM keys"),
    "sender.section.dmarc": ("DMARC-policy", "DMARC policy"),
    "sender.section.alignment": (
        "Samsvar med From-domenet (alignment)",
        "Alignment with the From domain",
    ),
    "sender.section.reverse": ("Omvendt DNS og HELO", "Reverse DNS and HELO"),
    "sender.section.dnsbl": ("Blokkeringslister (DNSBL)", "Blocklists (DNSBL)"),
    "sender.section.bounce_mx": ("MX for returmeldinger", "MX for bounces"),
    "sender.section.sample": ("Signert testmelding", "Signed sample mail"),
    "sender.status.ok": ("OK", "OK"),
    "sender.status.problem": ("FEIL", "FAIL"),
    "sender.status.warning": ("ADVARSEL", "WARNING"),
    "sender.status.not_checked": ("IKKE SJEKKET", "NOT CHECKED"),
    # findings from the sender report
    "finding.sender.spf_pass": (
        "SPF godkjenner {ip} for {domain} ({mechanism})",
        "SPF passes {ip} for {domain} ({mechanism})",
    ),
    "finding.sender.spf_not_pass": (
        "SPF gir {result} for {ip} på {domain} {problem}",
        "SPF gives {result} for {ip} on {domain} {problem}",
    ),
    "finding.sender.spf_temperror": (
        "SPF for {ip} kunne ikke evalueres nå",
        "SPF for {ip} could not be evaluated now",
    ),
    "finding.sender.aligned": (
        "SPF- og DKIM-domenene samsvarer med {from_domain}",
        "SPF and DKIM domains align with {from_domain}",
    ),
    "finding.sender.not_aligned": (
        "Verken {envelope_domain} (SPF) eller {dkim_domain} (DKIM) samsvarer med {from_domain}:"
        " DMARC feiler",
        "Neither {envelope_domain} (SPF) nor {dkim_domain} (DKIM) aligns with {from_domain}:"
        " DMARC fails",
    ),
    "finding.sender.dkim_not_aligned": (
        "DKIM-domenet {dkim_domain} samsvarer ikke med {from_domain}; videresending bryter DMARC",
        "DKIM domain {dkim_domain} does not align with {from_domain}; forwarding will break DMARC",
    ),
    "finding.sender.spf_not_aligned": (
        "Konvolutt-domenet {envelope_domain} samsvarer ikke med {from_domain} (DKIM gjør det)",
        "Envelope domain {envelope_domain} does not align with {from_domain} (DKIM does)",
    ),
    "finding.sender.alignment_not_checked": (
        "Samsvar kunne ikke sjekkes ({error})",
        "Alignment could not be checked ({error})",
    ),
    "finding.sender.bounce_mx_ok": (
        "{domain} har MX {mx}: returmeldinger kommer fram",
        "{domain} has MX {mx}: bounces can come back",
    ),
    "finding.sender.bounce_null_mx": (
        "{domain} har null-MX: returmeldinger avvises",
        "{domain} has a null MX: bounces are refused",
    ),
    "finding.sender.bounce_domain_missing": ("{domain} finnes ikke", "{domain} does not exist"),
    "finding.sender.bounce_implicit_mx": (
        "{domain} har ingen MX; returmeldinger går til A-posten",
        "{domain} has no MX; bounces go to its address record",
    ),
    "finding.sender.bounce_no_mail_server": (
        "{domain} kan ikke motta returmeldinger",
        "{domain} cannot receive bounces",
    ),
    "finding.sender.bounce_mx_temperror": (
        "MX-oppslaget for {domain} feilet ({error})",
        "The MX lookup for {domain} failed ({error})",
    ),
    "finding.sender.sample_dkim_pass": (
        "En testmelding signert med vår nøkkel ({selector}) verifiseres",
        "A sample signed with our key ({selector}) verifies",
    ),
    "finding.sender.sample_dkim_fail": (
        "En testmelding signert med vår nøkkel ({selector}) feiler DKIM: {reason}",
        "A sample signed with our key ({selector}) fails DKIM: {reason}",
    ),
    "finding.sender.sample_dkim_temperror": (
        "Testmeldingen kunne ikke verifiseres nå",
        "The sample could not be verified now",
    ),
    "finding.sender.sample_sign_failed": (
        "Nøkkelen kan ikke signere: {reason}",
        "The key cannot sign: {reason}",
    ),
    "finding.sender.key_unreadable": (
        "DKIM-nøkkelen kan ikke leses: {error}",
        "The DKIM key cannot be read: {error}",
    ),
    "finding.sender.no_private_key": (
        "Ingen DKIM-nøkkel konfigurert; ingen testmelding signert",
        "No DKIM key configured; no sample signed",
    ),
    "finding.sender.no_egress_ips": ("Ingen utgående IP konfigurert", "No egress IPs configured"),
    "finding.sender.dkim_no_selector": (
        "Ingen DKIM-selektor konfigurert",
        "No DKIM selector configured",
    ),
    "finding.sender.dkim_no_common_selector": (
        "Ingen DKIM-nøkkel under vanlige selektorer (domenet kan bruke en annen)",
        "No DKIM key under the common selectors (the domain may use another)",
    ),
    "finding.sender.not_checked": (
        "{section}/{check} ble ikke sjekket ({reason})",
        "{section}/{check} was not checked ({reason})",
    ),
    "finding.reverse.ok": (
        "{ip} har bekreftet omvendt DNS: {confirmed}",
        "{ip} has forward-confirmed reverse DNS: {confirmed}",
    ),
    "finding.reverse.no_ptr": ("{ip} har ingen PTR-post", "{ip} has no PTR record"),
    "finding.reverse.not_confirmed": (
        "PTR-navnet til {ip} peker ikke tilbake til adressen",
        "The PTR name of {ip} does not resolve back to it",
    ),
    "finding.reverse.dns_temperror": (
        "Omvendt DNS for {ip} kunne ikke slås opp",
        "Reverse DNS for {ip} could not be looked up",
    ),
    "finding.helo.ok": (
        "HELO-navnet {helo} peker på {ip} og er PTR-navnet",
        "HELO name {helo} resolves to {ip} and is the PTR name",
    ),
    "finding.helo.not_resolving": (
        "HELO-navnet {helo} finnes ikke i DNS",
        "HELO name {helo} does not resolve",
    ),
    "finding.helo.ip_mismatch": (
        "HELO-navnet {helo} peker ikke på {ip}",
        "HELO name {helo} does not resolve to {ip}",
    ),
    "finding.helo.ptr_mismatch": (
        "HELO-navnet {helo} er ikke PTR-navnet {ptr}",
        "HELO name {helo} is not the PTR name {ptr}",
    ),
    "finding.helo.dns_temperror": (
        "HELO-navnet {helo} kunne ikke slås opp",
        "HELO name {helo} could not be looked up",
    ),
    "finding.dnsbl.listed": (
        "{ip} er oppført på {zone}: {reason}",
        "{ip} is listed on {zone}: {reason}",
    ),
    "finding.dnsbl.not_checked": (
        "{zone} kunne ikke spørres om {ip} ({error})",
        "{zone} could not be asked about {ip} ({error})",
    ),
    "finding.dnsbl.clean": ("Ikke oppført på {zones}", "Not listed on {zones}"),
    # codes of the SPF, DKIM and DMARC checks as the sender report shows them
    "finding.spf.ok": ("SPF-posten har ingen problemer", "The SPF record has no problems"),
    "finding.spf.too_many_lookups": (
        "SPF-evalueringen kan trenge mer enn 10 DNS-oppslag: permerror",
        "SPF evaluation can need more than 10 DNS lookups: permerror",
    ),
    "finding.spf.too_many_void_lookups": (
        "Mer enn to SPF-oppslag finner ingen poster: permerror",
        "More than two SPF lookups find no records: permerror",
    ),
    "finding.spf.no_record": ("{domain} har ingen SPF-post", "{domain} publishes no SPF record"),
    "finding.dkim.key_ok": (
        "DKIM-nøkkelen {name} er publisert og brukbar",
        "The DKIM key {name} is published and usable",
    ),
    "finding.dkim.key_mismatch": (
        "Den publiserte nøkkelen {name} hører ikke til vår private nøkkel",
        "The key published at {name} is not the public half of our private key",
    ),
    "finding.dkim.key_missing": ("Ingen DKIM-nøkkel på {name}", "No DKIM key at {name}"),
    "finding.dmarc.policy_ok": ("DMARC-policy {policy}", "DMARC policy {policy}"),
    "finding.dmarc.policy_none": (
        "DMARC-policy none: mottakere beskyttes ikke",
        "DMARC policy none: receivers are not asked to act",
    ),
    "finding.dmarc.no_record": ("Ingen DMARC-post", "No DMARC record"),
    "finding.dmarc.rua_authorized": (
        "Rapportmottakeren er autorisert",
        "The report destination is authorized",
    ),
    "finding.dmarc.org_domain_disagrees": (
        "DNS-treet og Public Suffix List gir ulike organisasjonsdomener",
        "The DNS tree walk and the Public Suffix List give different Organizational Domains",
    ),
    # the authenticate verdict
    "auth.title": ("Mottakers vurdering av meldingen", "A receiver's verdict on the message"),
    "auth.client": ("Klient-IP", "Client IP"),
    "auth.helo": ("HELO", "HELO"),
    "auth.mail_from": ("MAIL FROM", "MAIL FROM"),
    "auth.spf": ("SPF", "SPF"),
    "auth.dkim": ("DKIM", "DKIM"),
    "auth.dkim_unsigned": ("meldingen er ikke signert", "the message is not signed"),
    "auth.dmarc": ("DMARC", "DMARC"),
    "auth.arc": ("ARC", "ARC"),
    "auth.policy": (
        "policy {policy}, handling {disposition}",
        "policy {policy}, disposition {disposition}",
    ),
    "auth.aligned": ("samsvar: SPF {spf}, DKIM {dkim}", "aligned: SPF {spf}, DKIM {dkim}"),
    "auth.header": ("Authentication-Results", "Authentication-Results"),
    "auth.yes": ("ja", "yes"),
    "auth.no": ("nei", "no"),
    "auth.result.spf": ("SPF {result} for {domain}", "SPF {result} for {domain}"),
    "auth.result.dkim": (
        "DKIM {result} for d={domain} s={selector} {reason}",
        "DKIM {result} for d={domain} s={selector} {reason}",
    ),
    "auth.result.dmarc": (
        "DMARC {result} for {from_domain} (policy {policy}, handling {disposition})",
        "DMARC {result} for {from_domain} (policy {policy}, disposition {disposition})",
    ),
    "auth.result.arc": ("ARC-kjeden: {result} ({reason})", "ARC chain: {result} ({reason})"),
    "finding.auth.dkim_none": ("Meldingen er ikke DKIM-signert", "The message is not DKIM signed"),
    "finding.auth.no_from": ("Meldingen har ikke noe From-felt", "The message has no From field"),
    "finding.auth.multiple_from_fields": (
        "Meldingen har flere From-felt",
        "The message has several From fields",
    ),
    "finding.auth.multiple_from_addresses": (
        "From-feltet har flere adresser",
        "The From field holds several addresses",
    ),
    "finding.auth.from_unparseable": (
        "En From-adresse mangler domene",
        "A From address has no domain",
    ),
    "finding.auth.header_limit": (
        "Headerne er for store; DKIM og ARC ble ikke kjørt",
        "The headers exceed the limits; DKIM and ARC were not run",
    ),
    "finding.auth.garbled_line": (
        "En headerlinje er hverken felt eller fortsettelse",
        "A header line is neither a field nor a continuation",
    ),
    "finding.auth.eight_bit": ("Headerne har 8-bits tegn", "The headers hold 8-bit characters"),
    "finding.auth.invalid_utf8": (
        "8-bits tegn i headerne er ikke UTF-8",
        "8-bit header characters are not UTF-8",
    ),
}


_METHOD_RESULT = re.compile(r"auth\.(spf|dkim|dmarc|arc)_(\w+)$")


class _Evidence(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _shown(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else value


def translate_auth(key: str, lang: str, **values: Any) -> str:
    """The text for ``key``: this catalog first, then the shared one; the key when unknown."""
    pair = CATALOG.get(key)
    if pair is None:
        return translate(key, lang, **values)
    text = pair[0] if lang == "nb" else pair[1]
    return text.format_map(_Evidence({k: _shown(v) for k, v in values.items()})) if values else text


def finding_text(finding: Mapping[str, Any], lang: str) -> str:
    """A finding's sentence from its code and evidence; its own summary when the code is unknown."""
    code = str(finding.get("code", ""))
    evidence = {str(k): v for k, v in dict(finding.get("evidence") or {}).items()}
    key = f"finding.{code}"
    if key in CATALOG:
        return translate_auth(key, lang, **evidence)
    method = _METHOD_RESULT.match(code)
    if method is not None:
        return translate_auth(f"auth.result.{method[1]}", lang, **{**evidence, "result": method[2]})
    shared = translate(key, lang)
    return shared if shared != key else str(finding.get("summary", ""))


def auth_keys() -> frozenset[str]:
    """Every message id in this catalog (tests check both languages are filled)."""
    return frozenset(CATALOG)
