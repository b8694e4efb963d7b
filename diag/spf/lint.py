"""SPF lint: a domain's include tree judged as evaluation would meet it, with stable findings.

Counts DNS-querying terms and void lookups at worst (every term reached, RFC 7208 §4.6.4; void
lookups per client family, macro terms expanded for an unlisted client of each family),
flattens the networks the policy authorizes, and names the path to every problem. It queries
only through the injected Resolver (see ``flatten``) and never raises for problems in the domain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from diag.findings import ERROR, OK, WARNING, Finding, Severity
from diag.jsonvalue import JsonObject
from diag.resolver import QueryFailure, Resolver, normalize_name
from diag.spf.flatten import (
    MAX_DNS_LOOKUPS,
    MAX_MX_RECORDS,
    MAX_VOID_LOOKUPS,
    Network,
    SpfNode,
    SpfWalker,
    TermInfo,
    authorized_networks,
    dedupe_networks,
)

log = logging.getLogger(__name__)

MAX_STRING_LENGTH = 255  # RFC 1035 §3.3.14 (character-string); RFC 7208 §3.3
MAX_RECORD_BYTES = 450  # RFC 7208 §3.4: keep the answer within 512 bytes

Step = tuple[str, str]  # (domain, term text): one hop on the way to a term
_Reached = tuple[SpfNode, TermInfo, tuple[Step, ...]]  # a term, its record, the path to it


@dataclass(frozen=True)
class SpfLint:
    """The lint of one domain: its tree, worst-case counts, flattened networks and findings."""

    domain: str
    tree: SpfNode
    lookups: int
    void_lookups: int
    networks: tuple[Network, ...]
    unresolved: tuple[str, ...]  # terms whose matches depend on the message (macros, ptr)
    findings: tuple[Finding, ...]

    @property
    def record(self) -> str | None:
        return self.tree.record

    def to_dict(self) -> JsonObject:
        return {
            "domain": self.domain,
            "record": self.record,
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "networks": [str(n) for n in self.networks],
            "unresolved": list(self.unresolved),
            "tree": self.tree.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


async def lint_spf(domain: str, resolver: Resolver) -> SpfLint:
    """Lint ``domain``'s SPF policy through ``resolver``.

    Problems in the domain (no record, syntax, limits, DNS failures) become findings; this
    raises only what the resolver raises besides ``DnsError``.
    """
    domain = normalize_name(domain)
    walker = SpfWalker(resolver)
    tree = await walker.node(domain)
    log.debug("spf_lint.walked domain=%s nodes=%d", domain, walker.nodes)
    steps = list(_evaluation_order(tree, ()))
    lookups = sum(1 for _, term, _ in steps if term.lookup)
    voids = list(_void_order(tree, ()))
    void_lookups = max(sum(four for _, four, _ in voids), sum(six for _, _, six in voids))
    findings = _Findings()
    _node_findings(findings, tree, steps)
    _limit_findings(findings, steps, voids, lookups, void_lookups)
    _duplicate_includes(findings, steps)
    if not findings.items:
        findings.add("spf.ok", {"domain": domain})
    return SpfLint(
        domain=domain,
        tree=tree,
        lookups=lookups,
        void_lookups=void_lookups,
        networks=dedupe_networks(authorized_networks(tree)),
        unresolved=tuple(dict.fromkeys(_unresolved(steps))),
        findings=tuple(findings.items),
    )


def _evaluation_order(node: SpfNode, path: tuple[Step, ...]) -> Iterator[_Reached]:
    """Every term in the order check_host reaches it: mechanisms, then redirect (§6.1)."""
    mechanisms = [t for t in node.terms if t.qualifier is not None]
    modifiers = [t for t in node.terms if t.qualifier is None]
    for term in mechanisms + modifiers:
        here = (*path, (node.domain, term.text))
        yield node, term, here
        if term.child is not None:
            yield from _evaluation_order(term.child, here)


def _void_order(
    node: SpfNode, path: tuple[Step, ...], four: bool = True, six: bool = True
) -> Iterator[tuple[tuple[Step, ...], bool, bool]]:
    """Each term in evaluation order with whether it makes a void lookup for an IPv4 and for
    an IPv6 client that reaches it. A record's terms after one that matches every client of a
    family (``all``, ``ip4:0.0.0.0/0``, ``ip6:::/0``) are not reached by that family."""
    mechanisms = [t for t in node.terms if t.qualifier is not None]
    modifiers = [t for t in node.terms if t.qualifier is None]
    for term in mechanisms + modifiers:
        here = (*path, (node.domain, term.text))
        yield here, four and term.void4, six and term.void6
        if term.child is not None:
            yield from _void_order(term.child, here, four, six)
        if term.name in ("all", "ip4", "ip6"):
            whole = {n.version for n in term.networks if n.prefixlen == 0}
            four, six = four and 4 not in whole, six and 6 not in whole


def _nodes(node: SpfNode, path: tuple[Step, ...]) -> Iterator[tuple[SpfNode, tuple[Step, ...]]]:
    yield node, path
    for term in node.terms:
        if term.child is not None:
            yield from _nodes(term.child, (*path, (node.domain, term.text)))


def _path(steps: tuple[Step, ...]) -> list[dict[str, str]]:
    return [{"domain": domain, "term": term} for domain, term in steps]


# code: (severity, summary, rfc, fix). Summaries are fallbacks; reports word their own.
_CATALOG: Mapping[str, tuple[Severity, str, str, str]] = MappingProxyType(
    {
        "spf.ok": (OK, "SPF policy has no problems", "RFC 7208", "no change needed"),
        "spf.no_record": (
            ERROR,
            "the domain publishes no SPF record",
            "RFC 7208 §4.5",
            'publish one TXT record "v=spf1 <your senders> -all"',
        ),
        "spf.include_no_record": (
            ERROR,
            "an include target has no SPF record: evaluation gives permerror",
            "RFC 7208 §5.2",
            "remove the include or publish an SPF record at its target",
        ),
        "spf.redirect_no_record": (
            ERROR,
            "the redirect target has no SPF record: evaluation gives permerror",
            "RFC 7208 §6.1",
            "point redirect= at a domain that publishes an SPF record",
        ),
        "spf.type99_only": (
            ERROR,
            "the SPF record is published only as RR type SPF (99), which receivers ignore",
            "RFC 7208 §3.1, §14.1",
            "publish the same record as TXT",
        ),
        "spf.multiple_records": (
            ERROR,
            "more than one SPF record: evaluation gives permerror",
            "RFC 7208 §4.5",
            "merge them into a single v=spf1 TXT record",
        ),
        "spf.syntax": (
            ERROR,
            "the SPF record has a syntax error: evaluation gives permerror",
            "RFC 7208 §4.6, §12",
            "correct the record at the position shown",
        ),
        "spf.loop": (
            ERROR,
            "an include or redirect leads back to a domain already being evaluated",
            "RFC 7208 §4.6.4, §5.2",
            "remove the include or redirect that closes the loop",
        ),
        "spf.string_too_long": (
            ERROR,
            "a TXT character-string is longer than 255 octets",
            "RFC 7208 §3.3; RFC 1035 §3.3.14",
            'split the record into strings of at most 255 characters: "..." "..."',
        ),
        "spf.record_too_long": (
            WARNING,
            "the SPF record is longer than 450 bytes and may not fit a UDP answer",
            "RFC 7208 §3.4",
            "shorten the record, e.g. with ip4 ranges or fewer includes",
        ),
        "spf.ptr_used": (
            WARNING,
            "the ptr mechanism is slow and unreliable, and some receivers ignore it",
            "RFC 7208 §5.5",
            "replace ptr with ip4/ip6 or a mechanisms",
        ),
        "spf.permissive_all": (
            ERROR,
            "+all authorizes every host on the internet",
            "RFC 7208 §5.1",
            "end the record with -all or ~all",
        ),
        "spf.neutral_all": (
            WARNING,
            "?all gives no verdict for unlisted hosts",
            "RFC 7208 §5.1, §2.6.2",
            "end the record with -all or ~all",
        ),
        "spf.no_all": (
            WARNING,
            "the record has neither all nor redirect: unlisted hosts get neutral",
            "RFC 7208 §4.7",
            "end the record with -all or ~all",
        ),
        "spf.too_many_mx": (
            ERROR,
            "an mx target has more than 10 MX records: evaluation gives permerror",
            "RFC 7208 §4.6.4",
            "use ip4/ip6 ranges instead of mx",
        ),
        "spf.dns_temperror": (
            WARNING,
            "a DNS query failed during the check: evaluation would give temperror",
            "RFC 7208 §2.6.6",
            "check that the domain's name servers answer; retry later",
        ),
        "spf.too_many_lookups": (
            ERROR,
            "evaluation can need more than 10 DNS lookups: permerror",
            "RFC 7208 §4.6.4",
            "flatten includes into ip4/ip6 ranges or drop unused a/mx/include terms",
        ),
        "spf.too_many_void_lookups": (
            ERROR,
            "more than two lookups find no records: permerror",
            "RFC 7208 §4.6.4",
            "remove terms that point at names without records",
        ),
        "spf.duplicate_include": (
            WARNING,
            "the same domain is included more than once; each costs lookups again",
            "RFC 7208 §4.6.4",
            "include each domain once",
        ),
    }
)


class _Findings:
    """Collects findings from the catalog, once per (code, place)."""

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self._seen: set[tuple[str, str]] = set()

    def add(
        self,
        code: str,
        evidence: Mapping[str, object],
        *,
        key: str = "",
        severity: Severity | None = None,
    ) -> None:
        if (code, key) in self._seen:
            return
        self._seen.add((code, key))
        default, summary, rfc, fix = _CATALOG[code]
        self.items.append(Finding(code, severity or default, summary, evidence, rfc, fix))


def _node_findings(out: _Findings, tree: SpfNode, steps: list[_Reached]) -> None:
    for node, path in _nodes(tree, ()):
        _record_problem(out, node, {"domain": node.domain, "path": _path(path)})
        _size(out, node)
    for node, term, path in steps:
        _term_findings(
            out, node, term, {"domain": node.domain, "term": term.text, "path": _path(path)}
        )
    _final_record(out, tree)


def _record_problem(out: _Findings, node: SpfNode, where: Mapping[str, object]) -> None:
    key = node.domain
    for error in node.errors:
        _temperror(out, error, node.domain)
    if node.problem in ("none", "invalid_domain"):
        reason = "invalid_domain" if node.problem == "invalid_domain" else "no_record"
        code = {"include": "spf.include_no_record", "redirect": "spf.redirect_no_record"}.get(
            node.via or "", "spf.no_record"
        )
        out.add(code, {**where, "reason": reason}, key=key)
    if node.type99:
        out.add("spf.type99_only", {**where, "records": list(node.type99)}, key=key)
    if node.problem == "multiple_records":
        out.add("spf.multiple_records", {**where, "records": list(node.spf_records)}, key=key)
    if node.problem == "loop":
        out.add("spf.loop", {**where, "via": node.via}, key=key)
    if node.problem == "syntax" and node.syntax is not None:
        syntax = {
            "record": node.record,
            "position": node.syntax.position,
            "message": node.syntax.message,
        }
        out.add("spf.syntax", {**where, **syntax}, key=key)


def _size(out: _Findings, node: SpfNode) -> None:
    for index, string in enumerate(node.strings):
        if len(string) > MAX_STRING_LENGTH:
            evidence = {"domain": node.domain, "string": index, "length": len(string)}
            out.add("spf.string_too_long", evidence, key=f"{node.domain}#{index}")
    size = sum(len(s) for s in node.strings)
    if size > MAX_RECORD_BYTES:
        evidence = {"domain": node.domain, "length": size, "limit": MAX_RECORD_BYTES}
        out.add("spf.record_too_long", evidence, key=node.domain)


def _term_findings(
    out: _Findings, node: SpfNode, term: TermInfo, where: Mapping[str, object]
) -> None:
    key = f"{node.domain} {term.text}"
    for error in term.errors:
        _temperror(out, error, node.domain, term.text)
    if term.name == "ptr":
        out.add("spf.ptr_used", where, key=key)
    if term.name == "all" and term.qualifier == "+":
        out.add("spf.permissive_all", where, key=key)
    if term.name == "mx" and term.mx_count > MAX_MX_RECORDS:
        evidence = {**where, "mx_records": term.mx_count, "limit": MAX_MX_RECORDS}
        out.add("spf.too_many_mx", evidence, key=key)


def _temperror(out: _Findings, error: QueryFailure, domain: str, term: str | None = None) -> None:
    evidence = {"query": error.to_dict(), "domain": domain, "term": term}
    out.add("spf.dns_temperror", evidence, key=f"{error.qname} {error.rdtype}")


def _final_record(out: _Findings, tree: SpfNode) -> None:
    """The record whose "all" decides: the top one, or the end of its redirect chain."""
    node = tree
    path: tuple[Step, ...] = ()
    while True:
        redirect = next((t for t in node.terms if t.name == "redirect" and not t.ignored), None)
        if redirect is None or redirect.child is None or redirect.child.problem is not None:
            break
        path = (*path, (node.domain, redirect.text))
        node = redirect.child
    if node.problem is not None or (redirect is not None and redirect.macro):
        return
    where = {"domain": node.domain, "path": _path(path)}
    final_all = next((t for t in node.terms if t.name == "all"), None)
    if final_all is not None and final_all.qualifier == "?":
        out.add("spf.neutral_all", {**where, "term": final_all.text}, key=node.domain)
    if final_all is None and redirect is None:
        out.add("spf.no_all", where, key=node.domain)


def _limit_findings(
    out: _Findings,
    steps: list[_Reached],
    voids: list[tuple[tuple[Step, ...], bool, bool]],
    lookups: int,
    void_lookups: int,
) -> None:
    if lookups > MAX_DNS_LOOKUPS:
        eleventh = [path for _, term, path in steps if term.lookup][MAX_DNS_LOOKUPS]
        domain, term = eleventh[-1]
        evidence = {"lookups": lookups, "limit": MAX_DNS_LOOKUPS, "domain": domain, "term": term}
        out.add("spf.too_many_lookups", {**evidence, "path": _path(eleventh)})
    if void_lookups > MAX_VOID_LOOKUPS:
        family, path = _third_void(voids)
        domain, term = path[-1]
        evidence = {"void_lookups": void_lookups, "limit": MAX_VOID_LOOKUPS, "family": family}
        # Past the limit only for IPv6 clients (a/mx hosts without AAAA): a warning, since a
        # sender that connects over IPv4 alone never meets it.
        out.add(
            "spf.too_many_void_lookups",
            {**evidence, "domain": domain, "term": term, "path": _path(path)},
            severity=ERROR if family == "ipv4" else WARNING,
        )


def _third_void(voids: list[tuple[tuple[Step, ...], bool, bool]]) -> tuple[str, tuple[Step, ...]]:
    """The first term at which either client family passes the void limit."""
    four = six = 0
    for path, void4, void6 in voids:
        four += void4
        six += void6
        if four > MAX_VOID_LOOKUPS:
            return "ipv4", path
        if six > MAX_VOID_LOOKUPS:
            return "ipv6", path
    raise AssertionError("void limit not exceeded")  # pragma: no cover - caller checked


def _duplicate_includes(out: _Findings, steps: list[_Reached]) -> None:
    places: dict[str, list[tuple[Step, ...]]] = {}
    for _, term, path in steps:
        if term.name == "include" and term.target and not term.macro:
            places.setdefault(term.target, []).append(path)
    for target, paths in places.items():
        if len(paths) > 1:
            evidence = {"target": target, "count": len(paths), "paths": [_path(p) for p in paths]}
            out.add("spf.duplicate_include", evidence, key=target)


def _unresolved(steps: list[_Reached]) -> Iterator[str]:
    for node, term, _ in steps:
        if term.macro or term.name == "ptr":
            yield f"{node.domain}: {term.text}"
