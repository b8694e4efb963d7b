"""The state of one check_host() evaluation: DNS through the Resolver, limits, trace.

Owns the §4.6.4 counters, record lookup and selection (§4.4, §4.5), target-name expansion and
PTR validation (§5.5). Problems end the evaluation through ``Abort``, which only ``evaluate``
catches; nothing here decides a mechanism's match.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from diag.errors import DnsError, SpfSyntaxError
from diag.resolver import Answer, Rcode, Resolver
from diag.spf.macros import MacroContext, expand_macros, uses_macro
from diag.spf.names import fit_domain, is_queryable_name, reverse_name
from diag.spf.parse import (
    Mechanism,
    SpfRecord,
    check_macro_string,
    is_spf_record,
    parse_spf_cached,
)
from diag.spf.result import TraceStep

log = logging.getLogger(__name__)

MAX_DNS_LOOKUPS = 10  # RFC 7208 §4.6.4: terms that cause DNS queries
MAX_VOID_LOOKUPS = 2  # RFC 7208 §4.6.4: lookups answered NXDOMAIN or NODATA
MAX_PTR_NAMES = 10  # RFC 7208 §4.6.4: only the first 10 PTR names are considered

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Abort(Exception):
    """Ends the whole evaluation with permerror or temperror; check_host turns it into a result."""

    def __init__(self, result: str, problem: str, evidence: Mapping[str, object]) -> None:
        super().__init__(problem)
        self.result = result
        self.problem = problem
        self.evidence = evidence


@dataclass
class Evaluation:
    """The mutable state of one check_host() call: counters, path and trace."""

    resolver: Resolver
    ip: IpAddress
    ctx: MacroContext
    lookups: int = 0
    void_lookups: int = 0
    path: list[str] = field(default_factory=list)
    steps: list[TraceStep] = field(default_factory=list)

    def step(self, kind: str, text: str, outcome: str, **detail: object) -> None:
        path = self.path
        if path:
            self.steps.append(TraceStep(kind, len(path) - 1, path[-1], text, outcome, detail))
        else:
            self.steps.append(TraceStep(kind, 0, self.ctx.domain, text, outcome, detail))

    def abort(self, result: str, problem: str, **evidence: object) -> Abort:
        evidence = {"path": list(self.path), **evidence}
        self.step("error", problem, result, **evidence)
        return Abort(result, problem, evidence)

    @property
    def address_type(self) -> str:
        return "A" if self.ip.version == 4 else "AAAA"

    # -- DNS -------------------------------------------------------------------------------

    async def query(self, name: str, rdtype: str) -> Answer:
        """One lookup, traced; a transport failure aborts with temperror (RFC 7208 §4.4)."""
        answer = await self._ask(name, rdtype)
        if isinstance(answer, DnsError):
            query = f"{name} {rdtype}"
            raise self.abort("temperror", "spf.dns_temperror", query=query, reason=answer.reason)
        return answer

    async def query_soft(self, name: str, rdtype: str) -> Answer | None:
        """A traced lookup whose transport failure is only skipped (RFC 7208 §5.5, §6.2)."""
        answer = await self._ask(name, rdtype)
        return None if isinstance(answer, DnsError) else answer

    async def _ask(self, name: str, rdtype: str) -> Answer | DnsError:
        try:
            answer = await self.resolver.query(name, rdtype)
        except DnsError as exc:
            self.step("lookup", f"{name} {rdtype}", f"error:{exc.reason}")
            return exc
        self.step("lookup", f"{name} {rdtype}", answer.rcode.value, records=_shown(answer))
        return answer

    def count_lookup(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_DNS_LOOKUPS:
            raise self.abort("permerror", "spf.too_many_lookups", term=term, lookups=self.lookups)

    def note_void(self, answer: Answer | None, term: str) -> None:
        if answer is not None and answer.rcode is Rcode.NOERROR and answer.records:
            return
        self.void_lookups += 1
        if self.void_lookups > MAX_VOID_LOOKUPS:
            raise self.abort(
                "permerror", "spf.void_lookup_limit", term=term, void_lookups=self.void_lookups
            )

    async def addresses(self, name: str) -> list[IpAddress]:
        return answer_addresses(await self.query(name, self.address_type))

    # -- records ---------------------------------------------------------------------------

    async def fetch_record(self, domain: str) -> SpfRecord | None:
        """Record lookup and selection (RFC 7208 §4.4, §4.5); None means "none"."""
        if not is_queryable_name(domain):
            self.step("record", domain, "invalid-domain")
            return None
        answer = await self.query(domain, "TXT")
        records = [text for text in answer.texts if is_spf_record(text)]
        if len(records) > 1:
            raise self.abort("permerror", "spf.multiple_records", domain=domain, records=records)
        if not records:
            self.step("record", domain, "none", rcode=answer.rcode.value)
            return None
        return self.parse(domain, records[0])

    def parse(self, domain: str, text: str) -> SpfRecord:
        try:
            record = parse_spf_cached(text)
        except SpfSyntaxError as exc:
            raise self.abort(
                "permerror",
                "spf.syntax",
                domain=domain,
                record=text,
                position=exc.position,
                message=exc.message,
            ) from None
        self.step("record", text, "found")
        return record

    async def target(self, spec: str | None, domain: str) -> str:
        """The target-name of a mechanism or modifier (RFC 7208 §4.8, §7.3 truncation)."""
        if spec is None:
            return domain
        try:
            return fit_domain(await self.expand(spec, domain))
        except SpfSyntaxError as exc:
            raise self.abort(
                "permerror",
                "spf.syntax",
                domain=domain,
                record=spec,
                position=exc.position,
                message=exc.message,
            ) from None

    async def expand(self, spec: str, domain: str, *, explanation: bool = False) -> str:
        """Macro-expand ``spec`` with ``domain`` as %{d}. Raises SpfSyntaxError."""
        if "%" not in spec:  # no macro and no escape: the text is its own expansion
            check_macro_string(spec, explanation=explanation)
            return spec
        ctx = replace(self.ctx, domain=domain)
        if uses_macro(spec, "p"):
            ctx = replace(ctx, validated_ptr=await self.pick_validated_name(domain))
        return expand_macros(spec, ctx, explanation=explanation)

    # -- PTR validation (RFC 7208 §5.5) ----------------------------------------------------

    async def validated_names(self, void_term: str | None = None) -> list[str]:
        """The client's PTR names (the first 10) whose forward lookup includes the client IP.

        A DNS error on the PTR query means no names; on a name's lookup, skips that name.
        ``void_term`` makes an empty PTR answer count as a void lookup for that term.
        """
        answer = await self.query_soft(reverse_name(self.ip), "PTR")
        if answer is None:
            return []
        if void_term is not None:
            self.note_void(answer, void_term)
        names: list[str] = []
        for name in answer.strings[:MAX_PTR_NAMES]:
            forward = await self.query_soft(name, self.address_type)
            if forward is not None and self.ip in answer_addresses(forward):
                names.append(name)
        return names

    async def pick_validated_name(self, domain: str) -> str | None:
        """%{p}: the domain itself, else a subdomain of it, else any validated name (§7.3)."""
        names = await self.validated_names()
        for name in names:
            if name == domain:
                return name
        for name in names:
            if name.endswith("." + domain):
                return name
        return names[0] if names else None


def _shown(answer: Answer) -> list[str]:
    return [str(record) for record in answer.records]


def answer_addresses(answer: Answer) -> list[IpAddress]:
    """The A/AAAA addresses of an answer; unparseable ones are skipped."""
    addresses: list[IpAddress] = []
    for text in answer.strings:
        try:
            addresses.append(ipaddress.ip_address(text))
        except ValueError:
            log.debug("spf.bad_address text=%s", text)
    return addresses


def matches_cidr(ip: IpAddress, addresses: list[IpAddress], mech: Mechanism) -> bool:
    """True when ``ip`` is in any address's network at the mechanism's CIDR length (§5.6)."""
    length = mech.cidr4 if ip.version == 4 else mech.cidr6
    for address in addresses:
        if address.version != ip.version:
            continue
        prefix = address.max_prefixlen if length is None else length
        if ip in ipaddress.ip_network(f"{address}/{prefix}", strict=False):
            return True
    return False
