"""DMARC aggregate reports: RFC 7489 Appendix C XML and RFC 9990 (DMARCbis aggregate
reporting, namespace ``urn:ietf:params:xml:ns:dmarc-2.0``) into an AggregateReport.

The XML is read only through defusedxml, with document type declarations forbidden, so no
entity is ever expanded and nothing outside the bytes is fetched. Elements in another
namespace than the report's own are extensions (RFC 9990, "Extensible Reporting") and are
skipped. Pure: bytes in, a frozen value out; every problem is a ReportRefused.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

from diag.errors import ReportRefused
from diag.feedback import values as v
from diag.feedback.limits import DEFAULT_LIMITS, Limits
from diag.feedback.model import (
    AggregateReport,
    DkimResult,
    OverrideReason,
    PolicyPublished,
    Record,
    SpfResult,
)

RFC9990_NAMESPACE = "urn:ietf:params:xml:ns:dmarc-2.0"  # RFC 9990, IANA considerations
DISPOSITIONS = ("none", "pass", "quarantine", "reject")  # RFC 9990 ActionDispositionType
POLICIES = ("none", "quarantine", "reject")  # DispositionType
ALIGNMENT = ("r", "s")
# DKIM results (RFC 8601 §2.7.1) and SPF results (§2.7.2), as both schemas enumerate them.
RESULTS = ("none", "pass", "fail", "policy", "neutral", "softfail", "temperror", "permerror")
# RFC 7489 Appendix C: "TempError commonly implemented as unknown", "PermError ... as error".
_RESULT_ALIASES = {"unknown": "temperror", "error": "permerror"}
SPF_SCOPES = ("mfrom", "helo")
OVERRIDES = (  # PolicyOverrideType of RFC 7489 and of RFC 9990
    "forwarded",
    "sampled_out",
    "trusted_forwarder",
    "mailing_list",
    "local_policy",
    "policy_test_mode",
    "other",
)


class _Node:
    """An element, and lookups of its children in the report's namespace by local name
    (ElementTree's own ``find``, so an extension's elements in another namespace never
    match). ``path`` names the element in refusals."""

    __slots__ = ("element", "path", "prefix")

    def __init__(self, element: Element, prefix: str, path: str) -> None:
        self.element = element
        self.prefix = prefix
        self.path = path

    def all(self, name: str) -> list[Element]:
        return self.element.findall(self.prefix + name)

    def text(self, name: str) -> str | None:
        return self.element.findtext(self.prefix + name)

    def node(self, name: str) -> _Node:
        found = self.element.find(self.prefix + name)
        if found is None:
            raise ReportRefused(reason="missing_field", detail=f"{self.path}/{name}")
        return _Node(found, self.prefix, f"{self.path}/{name}")

    def nodes(self, name: str) -> Iterator[_Node]:
        path = f"{self.path}/{name}"
        for element in self.element.iterfind(self.prefix + name):
            yield _Node(element, self.prefix, path)

    def field(self, name: str) -> str:
        return f"{self.path}/{name}"


def _root(data: bytes) -> Element:
    try:
        root: Element = fromstring(data, forbid_dtd=True)
    except DTDForbidden:
        raise ReportRefused(reason="xml_dtd", detail="a DOCTYPE is not allowed") from None
    except (EntitiesForbidden, ExternalReferenceForbidden) as error:
        raise ReportRefused(reason="xml_entity", detail=type(error).__name__) from None
    except (ParseError, LookupError) as error:  # LookupError: an unknown declared encoding
        raise ReportRefused(reason="xml_malformed", detail=str(error)[:200]) from None
    return root


def _namespace(tag: str) -> tuple[str, str]:
    if tag.startswith("{") and "}" in tag:
        namespace, local = tag[1:].split("}", 1)
        return namespace, local
    return "", tag


def is_aggregate_root(tag: str) -> bool:
    return _namespace(tag)[1] == "feedback"


def parse_aggregate(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> AggregateReport:
    """The aggregate report in ``data`` (XML bytes).

    Raises ReportRefused: ``xml_dtd``, ``xml_entity``, ``xml_malformed``, ``unknown_format``
    (another root than ``feedback``), ``missing_field``, ``bad_value``, ``bad_date``,
    ``too_many_records``.
    """
    root = _root(data)
    namespace, local = _namespace(root.tag)
    if local != "feedback":
        raise ReportRefused(reason="unknown_format", detail=f"XML root {local[:64]!r}")
    prefix = f"{{{namespace}}}" if namespace else ""
    return _feedback(_Node(root, prefix, "feedback"), limits, namespace)


def _feedback(feedback: _Node, limits: Limits, namespace: str) -> AggregateReport:
    meta = feedback.node("report_metadata")
    dates = meta.node("date_range")
    begin = v.epoch(dates.text("begin"), dates.field("begin"))
    end = v.epoch(dates.text("end"), dates.field("end"))
    v.date_range(begin, end)
    elements = feedback.all("record")
    if not elements:
        raise ReportRefused(reason="missing_field", detail="feedback/record")
    if len(elements) > limits.max_records:
        raise ReportRefused(reason="too_many_records", detail=f"more than {limits.max_records}")
    return AggregateReport(
        org_name=v.required_text(meta.text("org_name"), meta.field("org_name")),
        email=v.required_text(meta.text("email"), meta.field("email")),
        report_id=v.required_text(meta.text("report_id"), meta.field("report_id")),
        begin=begin,
        end=end,
        policy=_policy(feedback.node("policy_published")),
        records=tuple(_record(node, limits) for node in feedback.nodes("record")),
        extra_contact_info=v.optional_text(meta.text("extra_contact_info"), limits.max_text),
        errors=tuple(
            text
            for e in meta.all("error")
            if (text := v.optional_text(e.text, limits.max_text)) is not None
        ),
        generator=v.optional_text(meta.text("generator"), limits.max_text),
        version=v.optional_text(feedback.text("version"), 16),
        schema="rfc9990" if namespace == RFC9990_NAMESPACE else "rfc7489",
    )


def _policy(node: _Node) -> PolicyPublished:
    pct = v.optional_text(node.text("pct"), 8)
    percent = v.count(pct, node.field("pct")) if pct is not None else None
    if percent is not None and percent > 100:
        raise ReportRefused(reason="bad_value", detail=f"{node.field('pct')} {percent}")
    return PolicyPublished(
        domain=v.domain(node.text("domain"), node.field("domain")),
        p=v.word(node.text("p"), node.field("p"), POLICIES),
        sp=v.optional_word(node.text("sp"), node.field("sp"), POLICIES),
        np=v.optional_word(node.text("np"), node.field("np"), POLICIES),
        adkim=v.optional_word(node.text("adkim"), node.field("adkim"), ALIGNMENT),
        aspf=v.optional_word(node.text("aspf"), node.field("aspf"), ALIGNMENT),
        pct=percent,
        fo=v.optional_text(node.text("fo"), 16),
        testing=v.optional_word(node.text("testing"), node.field("testing"), ("n", "y")),
        discovery_method=v.optional_word(
            node.text("discovery_method"), node.field("discovery_method"), ("psl", "treewalk")
        ),
    )


def _result(value: str | None, name: str) -> str:
    text = (value or "").strip().lower()
    return v.word(_RESULT_ALIASES.get(text, text), name, RESULTS)


def _record(node: _Node, limits: Limits) -> Record:
    row = node.node("row")
    evaluated = row.node("policy_evaluated")
    ids = node.node("identifiers")
    auth = node.node("auth_results")
    return Record(
        source_ip=v.ip_address(row.text("source_ip"), row.field("source_ip")),
        count=v.count(row.text("count"), row.field("count")),
        disposition=v.word(
            evaluated.text("disposition"), evaluated.field("disposition"), DISPOSITIONS
        ),
        dkim=_result(evaluated.text("dkim"), evaluated.field("dkim")),
        spf=_result(evaluated.text("spf"), evaluated.field("spf")),
        reasons=tuple(_reason(reason, limits) for reason in evaluated.nodes("reason")),
        header_from=v.domain(ids.text("header_from"), ids.field("header_from")),
        envelope_from=v.optional_domain(ids.text("envelope_from"), ids.field("envelope_from")),
        envelope_to=v.optional_domain(ids.text("envelope_to"), ids.field("envelope_to")),
        dkim_results=tuple(
            _dkim(dkim, limits) for dkim in auth.nodes("dkim") if not _no_signature(dkim)
        ),
        spf_results=tuple(_spf(spf, limits) for spf in auth.nodes("spf")),
    )


def _reason(node: _Node, limits: Limits) -> OverrideReason:
    return OverrideReason(
        type=v.word(node.text("type"), node.field("type"), OVERRIDES),
        comment=v.optional_text(node.text("comment"), limits.max_text),
    )


def _no_signature(node: _Node) -> bool:
    """A ``dkim`` entry with no domain and the result none: some reporters write one for an
    unsigned message. It says nothing a missing entry does not, so it is skipped."""
    empty = not (node.text("domain") or "").strip()
    return empty and (node.text("result") or "").strip().lower() == "none"


def _dkim(node: _Node, limits: Limits) -> DkimResult:
    return DkimResult(
        domain=v.domain(node.text("domain"), node.field("domain")),
        selector=v.optional_text(node.text("selector"), v.MAX_NAME),
        result=_result(node.text("result"), node.field("result")),
        human_result=v.optional_text(node.text("human_result"), limits.max_text),
    )


def _spf(node: _Node, limits: Limits) -> SpfResult:
    return SpfResult(
        domain=v.domain(node.text("domain"), node.field("domain")),
        scope=v.optional_word(node.text("scope"), node.field("scope"), SPF_SCOPES),
        result=_result(node.text("result"), node.field("result")),
        human_result=v.optional_text(node.text("human_result"), limits.max_text),
    )
