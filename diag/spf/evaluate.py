"""check_host() of RFC 7208 §4: evaluate a domain's SPF record for a client IP, with a trace.

Owns the evaluation order (§4.6), each mechanism's match (§5), redirect and exp (§6).
All DNS goes through the injected Resolver. Problems in the domain under test become the
result (permerror, temperror, none) with a finding and a trace; nothing here raises for them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from diag.errors import SpfSyntaxError
from diag.resolver import Resolver, normalize_name
from diag.spf.context import Abort, Evaluation, IpAddress, answer_addresses, matches_cidr
from diag.spf.macros import UNKNOWN, MacroContext
from diag.spf.names import fit_domain, is_queryable_name, is_valid_domain
from diag.spf.parse import Mechanism, SpfRecord
from diag.spf.result import QUALIFIER_RESULTS, SpfResult, problem_finding

POSTMASTER = "postmaster"  # RFC 7208 §4.3: the local-part when the sender has none
MAX_MX_NAMES = 10  # RFC 7208 §4.6.4: an mx mechanism with more MX names is a permerror


@dataclass(frozen=True)
class _Outcome:
    """What one record's evaluation produced."""

    result: str
    mechanism: str | None = None
    explanation: str | None = None


async def check_host(
    ip: str,
    domain: str,
    sender: str,
    *,
    helo: str | None = None,
    resolver: Resolver,
    default_explanation: str | None = None,
    receiver: str = "unknown",
) -> SpfResult:
    """Evaluate ``domain``'s SPF policy for a message from ``sender`` at ``ip`` (RFC 7208 §4).

    ``sender`` without '@' is a HELO identity (local-part "postmaster"). An IPv4-mapped IPv6
    address is evaluated as IPv4. Raises ValueError only when ``ip`` is not an IP address.
    """
    address = _client_address(ip)
    ctx = _macro_context(address, domain, sender, helo, receiver)
    evaluation = Evaluation(resolver=resolver, ip=address, ctx=ctx)
    try:
        outcome = await _top_level(evaluation, domain, default_explanation)
    except Abort as abort:
        return _result(evaluation, _Outcome(abort.result), abort.problem, abort.evidence)
    return _result(evaluation, outcome, _none_problem(outcome, domain), {})


def _client_address(ip: str) -> IpAddress:
    address = ipaddress.ip_address(ip.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # RFC 7208 §5: IPv4-mapped addresses are IPv4 clients
    return address


def _macro_context(
    ip: IpAddress, domain: str, sender: str, helo: str | None, receiver: str
) -> MacroContext:
    local, at, sender_domain = sender.rpartition("@")
    if not at:
        local, sender_domain = "", sender or domain
    local = local or POSTMASTER
    return MacroContext(
        sender=f"{local}@{sender_domain}",
        local_part=local,
        sender_domain=sender_domain,
        domain=domain,
        ip=str(ip),
        helo=helo or (sender_domain if not at else UNKNOWN),
        receiver=receiver,
    )


async def _top_level(
    evaluation: Evaluation, domain: str, default_explanation: str | None
) -> _Outcome:
    if not is_valid_domain(domain):
        evaluation.step("record", domain, "invalid-domain")  # RFC 7208 §4.3
        evaluation.step("result", "", "none")
        return _Outcome("none")
    name = normalize_name(domain)
    outcome = await _check(evaluation, name, want_exp=True)
    if outcome.result == "fail" and outcome.explanation is None and default_explanation:
        explanation = await _expand_explanation(evaluation, default_explanation, name)
        return _Outcome("fail", outcome.mechanism, explanation or default_explanation)
    return outcome


def _none_problem(outcome: _Outcome, domain: str) -> str | None:
    if outcome.result != "none":
        return None
    return "spf.no_record" if is_valid_domain(domain) else "spf.invalid_domain"


def _result(
    evaluation: Evaluation, outcome: _Outcome, problem: str | None, evidence: Mapping[str, object]
) -> SpfResult:
    evidence = evidence or {"domain": evaluation.ctx.domain}
    findings = (problem_finding(outcome.result, problem, evidence),) if problem else ()
    return SpfResult(
        result=outcome.result,
        explanation=outcome.explanation,
        mechanism=outcome.mechanism,
        domain=evaluation.ctx.domain,
        lookups=evaluation.lookups,
        void_lookups=evaluation.void_lookups,
        trace=tuple(evaluation.steps),
        problem=problem,
        findings=findings,
    )


async def _check(evaluation: Evaluation, domain: str, *, want_exp: bool) -> _Outcome:
    """check_host() for one domain: fetch, then evaluate its record (RFC 7208 §4.4-§4.7)."""
    evaluation.path.append(domain)
    try:
        record = await evaluation.fetch_record(domain)
        outcome = _Outcome("none")
        if record is not None:
            outcome = await _evaluate_record(evaluation, record, domain, want_exp=want_exp)
        evaluation.step("result", outcome.mechanism or "", outcome.result)
        return outcome
    finally:
        evaluation.path.pop()


async def _evaluate_record(
    evaluation: Evaluation, record: SpfRecord, domain: str, *, want_exp: bool
) -> _Outcome:
    for mechanism in record.mechanisms:
        if await _matches(evaluation, mechanism, domain):
            result = QUALIFIER_RESULTS[mechanism.qualifier]
            wanted = want_exp and result == "fail"  # RFC 7208 §6.2: only for fail
            explanation = await _explain(evaluation, record, domain) if wanted else None
            return _Outcome(result, mechanism.text, explanation)
    if record.redirect is not None:
        return await _redirect(
            evaluation, record.redirect.text, record.redirect.value, domain, want_exp=want_exp
        )
    return _Outcome("neutral")  # RFC 7208 §4.7: no match and no redirect


async def _redirect(
    evaluation: Evaluation, text: str, spec: str, domain: str, *, want_exp: bool
) -> _Outcome:
    """redirect=: the target's result replaces this one; no record there is a permerror (§6.1)."""
    evaluation.count_lookup(text)
    target = await evaluation.target(spec, domain)
    evaluation.step("redirect", text, target)
    outcome = await _check(evaluation, target, want_exp=want_exp)
    if outcome.result == "none":
        raise evaluation.abort("permerror", "spf.redirect_none", term=text, target=target)
    return outcome


async def _matches(evaluation: Evaluation, mechanism: Mechanism, domain: str) -> bool:
    if mechanism.counts_lookup:
        evaluation.count_lookup(mechanism.text)
    matched = await _MATCHERS[mechanism.name](evaluation, mechanism, domain)
    evaluation.step(
        "term",
        mechanism.text,
        "match" if matched else "no-match",
        lookups=evaluation.lookups,
        void_lookups=evaluation.void_lookups,
    )
    return matched


async def _match_all(evaluation: Evaluation, mechanism: Mechanism, domain: str) -> bool:
    return True


async def _match_ip(evaluation: Evaluation, mechanism: Mechanism, domain: str) -> bool:
    network = mechanism.network
    return network is not None and evaluation.ip in network


async def _match_include(evaluation: Evaluation, mechanism: Mechanism, domain: str) -> bool:
    """include: matches on the target's pass; none there is a permerror (RFC 7208 §5.2)."""
    target = await evaluation.target(mechanism.domain_spec, domain)
    if not await _name_usable(evaluation, target, mechanism):
        raise evaluation.abort("permerror", "spf.include_none", term=mechanism.text, target=target)
    outcome = await _check(evaluation, target, want_exp=False)
    evaluation.step("include", mechanism.text, outcome.result, target=target)
    if outcome.result == "none":
        raise evaluation.abort("permerror", "spf.include_none", term=mechanism.text, target=target)
    return outcome.result == "pass"


async def _match_a(evaluation: Evaluation, mechanism: Mechanism, domain: str) -> bool:
    """a: the client IP is one of the target's addresses, at the CIDR length (§5.3)."""
    target = await evaluation.target(mechanism.domain_spec, domain)
    if not await _name_usable(evaluation, target, mechanism):
        return False
    answer = await evaluation.query(target, evaluation.address_type)
    evaluation.note_void(answer, mechanism.text)
    return matches_cidr(evaluation.ip, answer_addresses(answer), mechanism)


async def _match_mx(evaluation: Evaluation, mechanism: Mechanism, domain: str) -> bool:
    """mx: the client IP is an address of one of the target's MX hosts (§5.4)."""
    target = await evaluation.target(mechanism.domain_spec, domain)
    if not await _name_usable(evaluation, target, mechanism):
        return False
    answer = await evaluation.query(target, "MX")
    evaluation.note_void(answer, mechanism.text)
    exchanges = sorted(answer.mx_records, key=lambda mx: mx.preference)
    if len(exchanges) > MAX_MX_NAMES:
        raise evaluation.abort(
            "permerror",
            "spf.too_many_mx",
            term=mechanism.text,
            target=target,
            mx_names=len(exchanges),
        )
    for mx in exchanges:
        if mx.exchange and matches_cidr(
            evaluation.ip, await evaluation.addresses(mx.exchange), mechanism
        ):
            return True
    return False


async def _match_ptr(evaluation: Evaluation, mechanism: Mechanism, domain: str) -> bool:
    """ptr: a validated PTR name equals the target or ends in it (§5.5)."""
    target = (await evaluation.target(mechanism.domain_spec, domain)).lower()
    names = await evaluation.validated_names(void_term=mechanism.text)
    return any(name == target or name.endswith("." + target) for name in names)


async def _match_exists(evaluation: Evaluation, mechanism: Mechanism, domain: str) -> bool:
    """exists: the target has an A record, whatever the client's IP version (§5.7)."""
    target = await evaluation.target(mechanism.domain_spec, domain)
    if not await _name_usable(evaluation, target, mechanism):
        return False
    answer = await evaluation.query(target, "A")
    evaluation.note_void(answer, mechanism.text)
    return bool(answer.strings)


async def _name_usable(evaluation: Evaluation, target: str, mechanism: Mechanism) -> bool:
    """A target that cannot be a DNS name is treated as one that does not exist (§4.3)."""
    if is_queryable_name(target):
        return True
    evaluation.step("lookup", target, "invalid-name")
    if mechanism.name != "include":
        evaluation.note_void(None, mechanism.text)
    return False


_Matcher = Callable[[Evaluation, Mechanism, str], Awaitable[bool]]
_MATCHERS: dict[str, _Matcher] = {
    "all": _match_all,
    "include": _match_include,
    "a": _match_a,
    "mx": _match_mx,
    "ptr": _match_ptr,
    "ip4": _match_ip,
    "ip6": _match_ip,
    "exists": _match_exists,
}


async def _explain(evaluation: Evaluation, record: SpfRecord, domain: str) -> str | None:
    """exp=: the expanded TXT text, or None on any failure; never changes the result (§6.2)."""
    if record.exp is None:
        return None
    try:
        target = fit_domain(await evaluation.expand(record.exp.value, domain))
    except SpfSyntaxError:
        target = ""
    usable = is_queryable_name(target)
    answer = await evaluation.query_soft(target, "TXT") if usable else None
    texts = answer.texts if answer is not None else ()
    if len(texts) != 1:  # §6.2: exactly one TXT record
        evaluation.step("exp", record.exp.text, "unavailable", records=len(texts))
        return None
    return await _expand_explanation(evaluation, texts[0], domain)


async def _expand_explanation(evaluation: Evaluation, text: str, domain: str) -> str | None:
    try:
        expanded = await evaluation.expand(text, domain, explanation=True)
    except SpfSyntaxError:
        expanded = None
    if expanded is None or not expanded.isascii():
        evaluation.step("exp", text, "invalid")
        return None
    evaluation.step("exp", text, "expanded", explanation=expanded)
    return expanded
