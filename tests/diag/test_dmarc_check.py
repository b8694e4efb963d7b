"""check_report_uris (R-26, R-27) and check_domain, the sender-domain view; the package surface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType

import pytest
from publicsuffixlist import PublicSuffixList

import diag.dmarc
from diag.dmarc import check_domain, check_report_uris, parse_dmarc
from diag.findings import CheckResult, Finding
from diag.resolver import TXT, MemoryResolver, Record


@pytest.fixture(scope="module")
def psl() -> PublicSuffixList:
    return PublicSuffixList()


def make_zone(records: Mapping[str, str | Sequence[str]]) -> dict[str, dict[str, list[Record]]]:
    return {
        name: {"TXT": [TXT((t.encode(),)) for t in ([v] if isinstance(v, str) else v)]}
        for name, v in records.items()
    }


def by_code(findings: Sequence[Finding]) -> dict[str, list[dict[str, object]]]:
    result: dict[str, list[dict[str, object]]] = {}
    for f in findings:
        result.setdefault(f.code, []).append(dict(f.evidence))
    return result


EXTERNAL = "v=DMARC1; p=reject; rua=mailto:r@thirdparty.example.net"


async def test_external_destination_authorized_r26() -> None:
    """R-26 (RFC 7489 §7.1): <domain>._report._dmarc.<host> TXT starting v=DMARC1 authorizes."""
    resolver = MemoryResolver(
        make_zone(
            {
                "_dmarc.example.com": EXTERNAL,
                "example.com._report._dmarc.thirdparty.example.net": "v=DMARC1",
            }
        ),
        nxdomain=[
            "_dmarc.com",
            "_dmarc.thirdparty.example.net",
            "_dmarc.example.net",
            "_dmarc.net",
        ],
    )
    findings = await check_report_uris("example.com", parse_dmarc(EXTERNAL), resolver)
    assert [f.code for f in findings] == ["dmarc.rua_authorized"]
    assert findings[0].severity == "ok"
    assert (
        dict(findings[0].evidence)["qname"] == "example.com._report._dmarc.thirdparty.example.net"
    )
    assert ("example.com._report._dmarc.thirdparty.example.net", "TXT") in resolver.queries


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="rfc7489[7.1/absent]"),
        pytest.param("v=spf1 -all", id="rfc7489[7.1/not-dmarc]"),
    ],
)
async def test_external_destination_unauthorized_r26(answer: str | None) -> None:
    records: dict[str, str] = {"_dmarc.example.com": EXTERNAL}
    if answer is not None:
        records["example.com._report._dmarc.thirdparty.example.net"] = answer
    resolver = MemoryResolver(make_zone(records), strict=False)
    findings = await check_report_uris("example.com", parse_dmarc(EXTERNAL), resolver)
    assert by_code(findings) == {
        "dmarc.rua_unauthorized": [
            {
                "tag": "rua",
                "uri": "mailto:r@thirdparty.example.net",
                "position": 24,
                "qname": "example.com._report._dmarc.thirdparty.example.net",
                "host": "thirdparty.example.net",
            }
        ]
    }


async def test_internal_destinations_need_no_authorization() -> None:
    text = "v=DMARC1; p=reject; rua=mailto:a@example.com,mailto:b@reports.example.com"
    resolver = MemoryResolver(
        make_zone({"_dmarc.example.com": text}),
        nxdomain=["_dmarc.com", "_dmarc.reports.example.com"],
    )
    assert await check_report_uris("example.com", parse_dmarc(text), resolver) == ()
    assert not [q for q, _ in resolver.queries if "._report." in q]


async def test_authorization_lookup_failure_is_temperror() -> None:
    resolver = MemoryResolver(
        make_zone({"_dmarc.example.com": EXTERNAL}),
        strict=False,
        errors={("example.com._report._dmarc.thirdparty.example.net", "TXT"): "timeout"},
    )
    findings = await check_report_uris("example.com", parse_dmarc(EXTERNAL), resolver)
    assert [(f.code, dict(f.evidence)["reason"]) for f in findings] == [
        ("dmarc.rua_temperror", "timeout")
    ]


async def test_uri_syntax_scheme_and_size_r27() -> None:
    text = (
        "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com,mailto:x@example.com!10m,"
        "https://r.example.com/x; ruf=mailto:bad"
    )
    resolver = MemoryResolver(make_zone({"_dmarc.example.com": text}), strict=False)
    findings = by_code(await check_report_uris("example.com", parse_dmarc(text), resolver))
    assert findings["dmarc.rua_size_limit"][0]["size_limit"] == 10 * 2**20
    assert findings["dmarc.rua_unsupported_scheme"][0]["scheme"] == "https"
    assert findings["dmarc.ruf_invalid"] == [
        {
            "tag": "ruf",
            "uri": "mailto:bad",
            "position": text.index("mailto:bad"),
            "problem": "invalid_address",
        }
    ]
    assert set(findings) == {
        "dmarc.rua_size_limit",
        "dmarc.rua_unsupported_scheme",
        "dmarc.ruf_invalid",
    }


async def run_check(
    records: Mapping[str, str | Sequence[str]], domain: str, psl: PublicSuffixList, **kw: object
) -> CheckResult:
    resolver = MemoryResolver(make_zone(records), strict=False, **kw)  # type: ignore[arg-type]
    return await check_domain(domain, resolver, psl=psl)


async def test_no_record(psl: PublicSuffixList) -> None:
    result = await run_check({}, "example.com", psl)
    codes = by_code(result.findings)
    assert list(codes) == ["dmarc.no_record"]
    assert codes["dmarc.no_record"][0]["queries"] == ["_dmarc.example.com", "_dmarc.com"]
    assert result.worst == "error"


async def test_strong_policy_is_ok(psl: PublicSuffixList) -> None:
    result = await run_check(
        {"_dmarc.example.com": "v=DMARC1; p=reject; rua=mailto:d@example.com"}, "example.com", psl
    )
    assert [f.code for f in result.findings] == ["dmarc.policy_ok"]
    assert result.data["policy"] == "reject"
    assert result.data["policy_domain"] == "example.com"
    assert result.data["organizational_domain"] == "example.com"
    assert result.data["queries"] == ["_dmarc.example.com", "_dmarc.com"]
    assert result.worst == "ok"


async def test_policy_none_and_removed_tag_and_no_rua(psl: PublicSuffixList) -> None:
    result = await run_check({"_dmarc.example.com": "v=DMARC1; p=none; pct=50"}, "example.com", psl)
    codes = by_code(result.findings)
    assert set(codes) == {"dmarc.removed_tag", "dmarc.policy_none", "dmarc.no_rua"}
    assert codes["dmarc.removed_tag"] == [{"tag": "pct", "value": "50", "position": 18}]
    assert result.worst == "warning"


async def test_subdomain_inherits_sp(psl: PublicSuffixList) -> None:
    result = await run_check(
        {"_dmarc.example.com": "v=DMARC1; p=reject; sp=none; rua=mailto:d@example.com"},
        "mail.example.com",
        psl,
    )
    codes = by_code(result.findings)
    assert codes["dmarc.inherited"] == [
        {"policy_domain": "example.com", "public_suffix_domain": False}
    ]
    assert codes["dmarc.policy_none"] == [{"policy": "none"}]


async def test_testing_mode(psl: PublicSuffixList) -> None:
    result = await run_check(
        {"_dmarc.example.com": "v=DMARC1; p=reject; t=y; rua=mailto:d@example.com"},
        "example.com",
        psl,
    )
    assert [f.code for f in result.findings] == ["dmarc.policy_ok", "dmarc.testing"]


async def test_invalid_policy(psl: PublicSuffixList) -> None:
    result = await run_check({"_dmarc.example.com": "v=DMARC1; p=bogus"}, "example.com", psl)
    codes = by_code(result.findings)
    assert "dmarc.policy_invalid" in codes
    assert codes["dmarc.invalid_value"] == [{"tag": "p", "value": "bogus", "position": 12}]
    assert result.data["policy"] is None


async def test_multiple_records(psl: PublicSuffixList) -> None:
    result = await run_check(
        {"_dmarc.example.com": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]}, "example.com", psl
    )
    assert [f.code for f in result.findings] == ["dmarc.multiple_records", "dmarc.no_record"]


async def test_timeout_is_not_no_record(psl: PublicSuffixList) -> None:
    result = await run_check(
        {}, "example.com", psl, errors={("_dmarc.example.com", "TXT"): "timeout"}
    )
    assert [f.code for f in result.findings] == ["dmarc.temperror"]
    assert result.data["error"] == {
        "qname": "_dmarc.example.com",
        "rdtype": "TXT",
        "reason": "timeout",
    }


async def test_org_domain_disagreement(psl: PublicSuffixList) -> None:
    result = await run_check(
        {"_dmarc.mail.example.com": "v=DMARC1; p=reject; psd=n; rua=mailto:d@mail.example.com"},
        "mail.example.com",
        psl,
    )
    codes = by_code(result.findings)
    assert codes["dmarc.org_domain_disagrees"] == [
        {
            "domain": "mail.example.com",
            "tree_walk": "mail.example.com",
            "public_suffix_list": "example.com",
        }
    ]
    assert result.data["rfc7489"] == {
        "organizational_domain": "example.com",
        "policy_domain": "mail.example.com",
        "record": "v=DMARC1; p=reject; psd=n; rua=mailto:d@mail.example.com",
        "outcome": "record",
    }


async def test_external_report_destination_in_check(psl: PublicSuffixList) -> None:
    result = await run_check({"_dmarc.example.com": EXTERNAL}, "example.com", psl)
    assert "dmarc.rua_unauthorized" in by_code(result.findings)


async def test_invalid_domain(psl: PublicSuffixList) -> None:
    result = await run_check({}, "bad domain", psl)
    assert [f.code for f in result.findings] == ["dmarc.invalid_domain"]


def test_public_surface_is_exported() -> None:
    for name in diag.dmarc.__all__:
        assert hasattr(diag.dmarc, name), name
    public = {
        name
        for name, value in vars(diag.dmarc).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name != "annotations"
    }
    assert public == set(diag.dmarc.__all__)


async def test_policy_from_a_public_suffix_domain(psl: PublicSuffixList) -> None:
    """D-11 from the sender side: example.gov has no record; the .gov PSD record's p applies."""
    result = await run_check(
        {
            "_dmarc.gov": "v=DMARC1; p=reject; sp=none; psd=y; rua=mailto:r@dmarc.gov",
            "example.gov": "v=spf1 -all",  # the domain exists, so p (not np) applies
        },
        "example.gov",
        psl,
    )
    codes = by_code(result.findings)
    assert codes["dmarc.inherited"] == [{"policy_domain": "gov", "public_suffix_domain": True}]
    assert codes["dmarc.policy_ok"] == [{"policy": "reject"}]
    assert result.data["psd_domain"] == "gov"
    assert result.data["organizational_domain"] == "example.gov"


async def test_report_host_that_is_not_a_domain() -> None:
    text = "v=DMARC1; p=none; rua=mailto:r@example.net-"
    resolver = MemoryResolver(make_zone({"_dmarc.example.com": text}), strict=False)
    findings = await check_report_uris("example.com", parse_dmarc(text), resolver)
    assert [f.code for f in findings] == ["dmarc.rua_unauthorized"]
