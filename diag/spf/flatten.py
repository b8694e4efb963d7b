"""The SPF include tree of a domain, walked through the Resolver, with every term resolved.

Owns the DNS walk behind ``lint_spf``: each record, each term's own queries and what they found
(addresses, voids, errors), and the include/redirect children. Judging the tree is ``lint``'s job.
Queries for independent names run concurrently; each (name, type) is asked once per walk.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from diag.errors import DnsError, SpfSyntaxError
from diag.jsonvalue import JsonObject
from diag.names import MAX_LABEL_LENGTH, MAX_NAME_LENGTH
from diag.resolver import Answer, QueryFailure, Rcode, Resolver, normalize_name
from diag.spf.macros import UNKNOWN, MacroContext, expand_macros
from diag.spf.names import fit_domain
from diag.spf.parse import Mechanism, Modifier, SpfRecord, is_spf_record, parse_spf_cached

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_DNS_LOOKUPS = 10  # RFC 7208 §4.6.4: terms that cause DNS queries
MAX_VOID_LOOKUPS = 2  # RFC 7208 §4.6.4: lookups that return NODATA or NXDOMAIN
MAX_MX_RECORDS = 10  # RFC 7208 §4.6.4: the mx mechanism looks up at most 10 exchanges
MAX_NODES = 64  # the walk stops expanding past this many records; far beyond what evaluation allows
EVERYWHERE = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))  # what "all" matches
LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists"})  # RFC 7208 §4.6.4
# The clients a macro term is expanded for: documentation addresses (RFC 5737, RFC 3849) that
# no policy lists, so each stands for an unlisted client of its family. Which name a term asks
# for can depend on the family (%{i}, %{v}, %{c}), and so can whether the answer is void.
LINT_CLIENTS = ("192.0.2.1", "2001:db8::1")
_MACRO_QUERIES = {"a": ("A", "AAAA"), "mx": ("MX", "MX"), "exists": ("A", "A")}  # §5.3, §5.4, §5.7


@dataclass(frozen=True)
class TermInfo:
    """One term of a record and what its own lookups found.

    ``void4``/``void6``: the term's lookup would be void when evaluating for an IPv4/IPv6 client.
    ``networks``: what the term matches (ip4/ip6, a and mx targets' addresses with their CIDR).
    ``macro``: the domain-spec holds macros, so it depends on the message; an a, mx or exists
    term is still looked up for one unlisted client of each family (``LINT_CLIENTS``) to count
    its void lookups, but its networks are not resolved.
    """

    text: str
    name: str
    qualifier: str | None
    position: int
    target: str | None = None
    lookup: bool = False
    void4: bool = False
    void6: bool = False
    networks: tuple[Network, ...] = ()
    mx_count: int = 0
    macro: bool = False
    ignored: bool = False  # a redirect next to an "all" mechanism (RFC 7208 §6.1)
    errors: tuple[QueryFailure, ...] = ()
    child: SpfNode | None = None

    def to_dict(self) -> JsonObject:
        data: JsonObject = {
            "text": self.text,
            "name": self.name,
            "lookup": self.lookup,
            "void4": self.void4,
            "void6": self.void6,
            "networks": [str(n) for n in self.networks],
        }
        if self.target is not None:
            data["target"] = self.target
        if self.macro:
            data["macro"] = True
        if self.ignored:
            data["ignored"] = True
        if self.errors:
            data["errors"] = [e.to_dict() for e in self.errors]
        return data


@dataclass(frozen=True)
class SpfNode:
    """One domain's SPF record in the tree, its terms, and its include/redirect children.

    ``problem`` is set when the record could not be used: ``none`` (no record),
    ``multiple_records``, ``syntax``, ``loop``, ``dns_temperror``, ``invalid_domain`` or
    ``truncated`` (the walk stopped expanding).
    """

    domain: str
    via: str | None = None  # "include" or "redirect"; None at the top
    record: str | None = None
    strings: tuple[bytes, ...] = ()
    spf_records: tuple[str, ...] = ()  # every v=spf1 TXT record found (more than one is an error)
    type99: tuple[str, ...] = ()  # v=spf1 records found as RR type SPF when TXT has none
    terms: tuple[TermInfo, ...] = ()
    problem: str | None = None
    syntax: SpfSyntaxError | None = field(default=None, compare=False)
    errors: tuple[QueryFailure, ...] = ()
    void: bool = False  # the TXT query found NXDOMAIN or NODATA

    @property
    def children(self) -> tuple[SpfNode, ...]:
        """The include and redirect targets, in evaluation order."""
        return tuple(t.child for t in self.terms if t.child is not None)

    @property
    def lookups(self) -> int:
        """This record's own DNS-querying terms (RFC 7208 §4.6.4)."""
        return sum(1 for t in self.terms if t.lookup)

    @property
    def void_lookups(self) -> int:
        """This record's own void lookups, for the worse of the two client address families."""
        return max(sum(t.void4 for t in self.terms), sum(t.void6 for t in self.terms))

    @property
    def has_all(self) -> bool:
        return any(t.name == "all" for t in self.terms)

    def walk(self) -> Iterator[SpfNode]:
        """This node and every node below it, depth first in evaluation order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> JsonObject:
        return {
            "domain": self.domain,
            "via": self.via,
            "record": self.record,
            "problem": self.problem,
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "terms": [t.to_dict() for t in self.terms],
            "children": [c.to_dict() for c in self.children],
        }


def valid_domain(name: str) -> bool:
    """A name check_host can query: RFC 7208 §4.3 makes anything else a "none" result."""
    if not name or len(name) > MAX_NAME_LENGTH:
        return False
    return all(0 < len(label) <= MAX_LABEL_LENGTH for label in name.split("."))


def _void(answer: Answer) -> bool:
    return answer.rcode is not Rcode.NOERROR or not answer.records


def _addresses(answer: Answer, rdtype: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for text in answer.strings:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if (address.version == 4) == (rdtype == "A"):
            found.append(address)
    return found


def _network(address: ipaddress.IPv4Address | ipaddress.IPv6Address, mech: Mechanism) -> Network:
    if address.version == 4:
        prefix = 32 if mech.cidr4 is None else mech.cidr4
    else:
        prefix = 128 if mech.cidr6 is None else mech.cidr6
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


class SpfWalker:
    """One walk of one domain's SPF tree: the query memo and the node budget live here."""

    def __init__(self, resolver: Resolver, *, max_nodes: int = MAX_NODES) -> None:
        self._resolver = resolver
        self._memo: dict[tuple[str, str], asyncio.Task[Answer]] = {}
        self._max_nodes = max_nodes
        self._sender_domain: str | None = None  # the domain walked first: the mail's sender
        self.nodes = 0

    async def query(self, name: str, rdtype: str) -> Answer:
        """Ask once per walk; concurrent askers share one query. Raises ``DnsError``."""
        key = (normalize_name(name), rdtype)
        task = self._memo.get(key)
        if task is None:
            task = asyncio.ensure_future(self._resolver.query(key[0], rdtype))
            self._memo[key] = task
        return await asyncio.shield(task)

    async def node(
        self, domain: str, *, via: str | None = None, path: tuple[str, ...] = ()
    ) -> SpfNode:
        """The node for ``domain`` reached through ``path`` (the domains above it)."""
        domain = normalize_name(domain)
        if self._sender_domain is None:
            self._sender_domain = domain
        if domain in path:
            return SpfNode(domain, via, problem="loop")
        if not valid_domain(domain):
            return SpfNode(domain, via, problem="invalid_domain")
        if self.nodes >= self._max_nodes:
            return SpfNode(domain, via, problem="truncated")
        self.nodes += 1
        try:
            answer = await self.query(domain, "TXT")
        except DnsError as exc:
            return SpfNode(domain, via, problem="dns_temperror", errors=(_error(exc),))
        found = [r for r in answer.txt_records if is_spf_record(r.text)]
        if not found:
            return await self._no_record(domain, via, void=_void(answer))
        if len(found) > 1:
            texts = tuple(r.text for r in found)
            return SpfNode(domain, via, spf_records=texts, problem="multiple_records")
        txt = found[0]
        base = SpfNode(domain, via, txt.text, txt.strings, (txt.text,))
        try:
            record = parse_spf_cached(txt.text)
        except SpfSyntaxError as exc:
            return replace(base, problem="syntax", syntax=exc)
        terms = await self._terms(record, domain, (*path, domain))
        return replace(base, terms=terms)

    async def _no_record(self, domain: str, via: str | None, *, void: bool) -> SpfNode:
        """No v=spf1 TXT record: look at RR type SPF (99) to tell the owner why (RFC 7208 §3.1)."""
        node = SpfNode(domain, via, problem="none", void=void)
        try:
            answer = await self.query(domain, "SPF")
        except DnsError:
            return node  # evaluation never asks for type 99, so its failure is no temperror
        type99 = tuple(r.text for r in answer.txt_records if is_spf_record(r.text))
        return replace(node, type99=type99)

    async def _terms(
        self, record: SpfRecord, domain: str, path: tuple[str, ...]
    ) -> tuple[TermInfo, ...]:
        has_all = any(m.name == "all" for m in record.mechanisms)
        jobs: list[Awaitable[TermInfo]] = []
        for term in record.terms:
            if isinstance(term, Mechanism):
                jobs.append(self._mechanism(term, domain, path))
            else:
                jobs.append(self._modifier(term, path, ignored=has_all))
        return tuple(await asyncio.gather(*jobs))

    async def _mechanism(self, mech: Mechanism, domain: str, path: tuple[str, ...]) -> TermInfo:
        info = TermInfo(
            mech.text, mech.name, mech.qualifier, mech.position, lookup=mech.counts_lookup
        )
        if mech.name in ("ip4", "ip6"):
            return replace(info, networks=(mech.network,) if mech.network else ())
        if mech.name == "all":
            return replace(info, networks=EVERYWHERE)
        if mech.name not in LOOKUP_TERMS:
            return info
        target = normalize_name(mech.domain_spec) if mech.domain_spec else domain
        if "%" in target:
            info = replace(info, target=target, macro=True)
            if mech.name in _MACRO_QUERIES and mech.domain_spec:
                return await self._resolve_macro(info, mech.domain_spec, domain)
            return info
        info = replace(info, target=target)
        if mech.name == "include":
            child = await self.node(target, via="include", path=path)
            return replace(info, child=child)
        if mech.name == "a":
            return await self._resolve_a(info, mech, target)
        if mech.name == "mx":
            return await self._resolve_mx(info, mech, target)
        if mech.name == "exists":
            return await self._resolve_exists(info, target)
        return info  # ptr depends on the client address: counted, not resolved

    async def _modifier(self, mod: Modifier, path: tuple[str, ...], *, ignored: bool) -> TermInfo:
        info = TermInfo(mod.text, mod.name, None, mod.position)
        if mod.name != "redirect":
            return info
        target = normalize_name(mod.value)
        info = replace(info, target=target, lookup=not ignored, ignored=ignored)
        if ignored:
            return info
        if "%" in target:
            return replace(info, macro=True)
        child = await self.node(target, via="redirect", path=path)
        return replace(info, child=child)

    async def _resolve_a(self, info: TermInfo, mech: Mechanism, target: str) -> TermInfo:
        (four, err4), (six, err6) = await asyncio.gather(
            self._try(target, "A"), self._try(target, "AAAA")
        )
        errors = tuple(e for e in (err4, err6) if e is not None)
        networks = tuple(
            _network(a, mech)
            for answer, rdtype in ((four, "A"), (six, "AAAA"))
            if answer is not None
            for a in _addresses(answer, rdtype)
        )
        return replace(
            info,
            networks=networks,
            errors=errors,
            void4=four is not None and _void(four),
            void6=six is not None and _void(six),
        )

    async def _resolve_mx(self, info: TermInfo, mech: Mechanism, target: str) -> TermInfo:
        answer, error = await self._try(target, "MX")
        if answer is None:
            return replace(info, errors=(error,) if error else ())
        exchanges = sorted(answer.mx_records, key=lambda mx: (mx.preference, mx.exchange))
        hosts = [mx.exchange for mx in exchanges if mx.exchange][:MAX_MX_RECORDS]
        lookups = [self._try(host, rdtype) for host in hosts for rdtype in ("A", "AAAA")]
        found = await asyncio.gather(*lookups)
        networks: list[Network] = []
        errors: list[QueryFailure] = []
        for (result, err), rdtype in zip(found, ["A", "AAAA"] * len(hosts), strict=True):
            if err is not None:
                errors.append(err)
            if result is not None:
                networks.extend(_network(a, mech) for a in _addresses(result, rdtype))
        void = _void(answer)
        return replace(
            info,
            networks=tuple(networks),
            errors=tuple(errors),
            mx_count=len(answer.mx_records),
            void4=void,
            void6=void,
        )

    async def _resolve_exists(self, info: TermInfo, target: str) -> TermInfo:
        answer, error = await self._try(target, "A")  # RFC 7208 §5.7: always an A query
        if answer is None:
            return replace(info, errors=(error,) if error else ())
        void = _void(answer)
        return replace(info, void4=void, void6=void)

    async def _resolve_macro(self, info: TermInfo, spec: str, domain: str) -> TermInfo:
        """Void lookups of an a, mx or exists term with macros, per client family: the query
        that evaluation makes for ``LINT_CLIENTS`` (RFC 7208 §4.6.4, §7)."""
        names = [self._expand(spec, domain, ip) for ip in LINT_CLIENTS]
        if None in names:
            return info  # not a macro-string: the record's syntax finding covers it
        found = await asyncio.gather(
            *(
                self._try(name or "", rdtype)
                for name, rdtype in zip(names, _MACRO_QUERIES[info.name], strict=True)
            )
        )
        (four, err4), (six, err6) = found
        return replace(
            info,
            errors=tuple(dict.fromkeys(e for e in (err4, err6) if e is not None)),
            void4=four is not None and _void(four),
            void6=six is not None and _void(six),
        )

    def _expand(self, spec: str, domain: str, ip: str) -> str | None:
        sender_domain = self._sender_domain or domain
        ctx = MacroContext(
            sender=f"postmaster@{sender_domain}",
            local_part="postmaster",
            sender_domain=sender_domain,
            domain=domain,
            ip=ip,
            helo=UNKNOWN,
        )
        try:
            return fit_domain(expand_macros(spec, ctx))
        except SpfSyntaxError:
            return None

    async def _try(self, name: str, rdtype: str) -> tuple[Answer | None, QueryFailure | None]:
        if not valid_domain(name):
            return Answer(name, rdtype, Rcode.NXDOMAIN), None
        try:
            return await self.query(name, rdtype), None
        except DnsError as exc:
            return None, _error(exc)


def _error(exc: DnsError) -> QueryFailure:
    return QueryFailure.of(exc)


def authorized_networks(node: SpfNode) -> Iterator[Network]:
    """Every network that gets "pass" through this node: "+" terms, "+include" and redirect."""
    for term in node.terms:
        if term.qualifier == "+":
            yield from term.networks
        if term.child is not None and term.qualifier in ("+", None):
            yield from authorized_networks(term.child)


def dedupe_networks(networks: Iterable[Network]) -> tuple[Network, ...]:
    """Unique networks, dropping any that a broader one covers, sorted by family and address."""
    unique = sorted(set(networks), key=lambda n: (n.version, n.network_address, n.prefixlen))
    kept: list[Network] = []
    for net in unique:
        if not any(_covers(other, net) for other in kept):
            kept.append(net)
    return tuple(kept)


def _covers(outer: Network, inner: Network) -> bool:
    if isinstance(outer, ipaddress.IPv4Network) and isinstance(inner, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(outer, ipaddress.IPv6Network) and isinstance(inner, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False
