"""DMARC discovery: the RFC 9989 §4.10 tree walk (exact queries), §4.10.2 Org Domain, the RFC 7489
PSL view beside it, and the PSL project's official vectors for the RFC 7489 Org Domain."""

from __future__ import annotations

from pathlib import Path

import pytest
from publicsuffixlist import PublicSuffixList

from diag.dmarc import (
    InvalidDomainError,
    discover,
    normalize_domain,
    psl_organizational_domain,
    walk_targets,
)
from diag.resolver import TXT, MemoryResolver, normalize_name
from tests.conftest import CONFORMANCE

D01_AUTHOR = "a.b.c.d.e.f.g.h.i.j.mail.example.com"
D01_QUERIES = [
    "_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
    "_dmarc.g.h.i.j.mail.example.com",
    "_dmarc.h.i.j.mail.example.com",
    "_dmarc.i.j.mail.example.com",
    "_dmarc.j.mail.example.com",
    "_dmarc.mail.example.com",
    "_dmarc.example.com",
    "_dmarc.com",
]


def zone(**records: str | list[str]) -> dict[str, dict[str, list[TXT]]]:
    """``zone(example_com="v=DMARC1; p=none")``: keyword names use ``_`` for ``.``."""
    result: dict[str, dict[str, list[TXT]]] = {}
    for key, value in records.items():
        texts = [value] if isinstance(value, str) else value
        result["_dmarc." + key.replace("__", "-").replace("_", ".")] = {
            "TXT": [TXT((t.encode(),)) for t in texts]
        }
    return result


def txt_zone(records: dict[str, str | list[str]]) -> dict[str, dict[str, list[TXT]]]:
    return {
        name: {"TXT": [TXT((t.encode(),)) for t in ([v] if isinstance(v, str) else v)]}
        for name, v in records.items()
    }


@pytest.fixture(scope="module")
def psl() -> PublicSuffixList:
    return PublicSuffixList()


def test_walk_targets_d01() -> None:
    assert [f"_dmarc.{t}" for t in walk_targets(D01_AUTHOR)] == D01_QUERIES
    assert walk_targets("a.mail.example.com") == (
        "a.mail.example.com",
        "mail.example.com",
        "example.com",
        "com",
    )
    eight = "a.b.c.d.e.example.co.uk"
    assert len(walk_targets(eight)) == 8
    assert walk_targets(eight)[1] == "b.c.d.e.example.co.uk"


async def test_deep_walk_makes_exactly_eight_queries_d01(psl: PublicSuffixList) -> None:
    """D-01 (RFC 9989 §4.10 steps 3-4): 13 labels, no records: exactly the eight queries."""
    resolver = MemoryResolver({}, nxdomain=D01_QUERIES)
    found = await discover(D01_AUTHOR, resolver, psl=psl)
    assert resolver.queries == [(q, "TXT") for q in D01_QUERIES]
    assert list(found.queries) == D01_QUERIES
    assert found.record is None
    assert found.policy_domain is None
    assert found.organizational_domain == D01_AUTHOR
    assert found.failure is None
    assert found.rfc7489.organizational_domain == "example.com"
    assert found.rfc7489.outcome == "no_record"


async def test_deep_walk_finds_org_domain_d03(psl: PublicSuffixList) -> None:
    """D-03 (RFC 9989 Appendix B.4.2): skip to 7 labels; Org and policy domain example.com."""
    author = "a.b.c.d.e.f.g.h.i.j.k.example.com"
    expected = [
        f"_dmarc.{n}"
        for n in (
            author,
            "g.h.i.j.k.example.com",
            "h.i.j.k.example.com",
            "i.j.k.example.com",
            "j.k.example.com",
            "k.example.com",
            "example.com",
            "com",
        )
    ]
    resolver = MemoryResolver(
        zone(example_com="v=DMARC1; p=reject", signing_example_com="v=DMARC1; p=none"),
        nxdomain=[q for q in expected if q != "_dmarc.example.com"],
    )
    found = await discover(author, resolver, psl=psl)
    assert resolver.queries == [(q, "TXT") for q in expected]
    assert found.organizational_domain == "example.com"
    assert found.policy_domain == "example.com"
    assert found.record is not None
    assert found.record.p == "reject"
    assert not [f for f in found.findings if f.code == "dmarc.org_domain_disagrees"]


@pytest.mark.parametrize(
    ("records", "org", "policy_domain"),
    [
        pytest.param(
            {
                "_dmarc.mail.example.com": "v=DMARC1; p=none",
                "_dmarc.example.com": "v=DMARC1; p=reject",
            },
            "example.com",
            "example.com",
            id="rfc9989[D-05-i]",
        ),
        pytest.param(
            {
                "_dmarc.mail.example.com": "v=DMARC1; p=none; psd=n",
                "_dmarc.example.com": "v=DMARC1; p=reject",
            },
            "mail.example.com",
            "mail.example.com",
            id="rfc9989[D-05-ii]",
        ),
        pytest.param(
            {"_dmarc.com": "v=DMARC1; p=reject; psd=y"},
            "example.com",
            "com",
            id="rfc9989[D-05-iii]",
        ),
    ],
)
async def test_org_domain_selection_d05(
    records: dict[str, str], org: str, policy_domain: str, psl: PublicSuffixList
) -> None:
    """D-05: the three examples of RFC 9989 §4.10.2, starting at a.mail.example.com."""
    resolver = MemoryResolver(txt_zone(dict(records)), strict=False)
    found = await discover("a.mail.example.com", resolver, psl=psl)
    assert found.organizational_domain == org
    assert found.policy_domain == policy_domain
    assert found.psd_domain == ("com" if policy_domain == "com" else None)


async def test_psd_n_stops_the_walk(psl: PublicSuffixList) -> None:
    resolver = MemoryResolver(
        zone(mail_example_com="v=DMARC1; p=none; psd=n"),
        nxdomain=["_dmarc.a.mail.example.com", "_dmarc.example.com", "_dmarc.com"],
    )
    found = await discover("a.mail.example.com", resolver, psl=psl)
    # every name is asked at once; the walk stops at mail.example.com, and the RFC 7489 view
    # uses the answer for example.com without asking again
    assert resolver.queries == [
        ("_dmarc.a.mail.example.com", "TXT"),
        ("_dmarc.mail.example.com", "TXT"),
        ("_dmarc.example.com", "TXT"),
        ("_dmarc.com", "TXT"),
    ]
    assert [s.domain for s in found.walk.steps] == ["a.mail.example.com", "mail.example.com"]
    assert found.rfc7489.outcome == "no_record"
    disagree = [dict(f.evidence) for f in found.findings if f.code == "dmarc.org_domain_disagrees"]
    assert disagree == [
        {
            "domain": "a.mail.example.com",
            "tree_walk": "mail.example.com",
            "public_suffix_list": "example.com",
        }
    ]


R11 = {"_dmarc.sub.example.com": "v=DMARC1; p=none", "_dmarc.example.com": "v=DMARC1; p=reject"}


async def test_walk_does_not_stop_at_a_record_without_psd_d07(psl: PublicSuffixList) -> None:
    """D-07 / R-11: both views pick example.com (reject) for a.sub.example.com."""
    resolver = MemoryResolver(txt_zone(dict(R11)), strict=False)
    found = await discover("a.sub.example.com", resolver, psl=psl)
    assert (found.organizational_domain, found.policy_domain) == ("example.com", "example.com")
    assert found.rfc7489.policy_domain == "example.com"
    assert found.record is not None
    assert found.record.p == "reject"


async def test_psd_n_below_the_org_domain_changes_only_rfc9989_d07(psl: PublicSuffixList) -> None:
    records = dict(R11, **{"_dmarc.sub.example.com": "v=DMARC1; p=none; psd=n"})
    resolver = MemoryResolver(txt_zone(records), strict=False)
    found = await discover("a.sub.example.com", resolver, psl=psl)
    assert (found.organizational_domain, found.policy_domain) == (
        "sub.example.com",
        "sub.example.com",
    )
    assert found.record is not None
    assert found.record.p == "none"
    assert found.rfc7489.record is not None
    assert found.rfc7489.record.p == "reject"


async def test_multiple_records_are_discarded_and_the_walk_continues_d08_r13(
    psl: PublicSuffixList,
) -> None:
    """D-08 (RFC 9989 §4.10 step 2) vs R-13 (RFC 7489 §6.6.3 step 5)."""
    records = {
        "_dmarc.sub.example.com": ["v=DMARC1; p=none", "v=DMARC1; p=quarantine"],
        "_dmarc.example.com": "v=DMARC1; p=reject",
    }
    resolver = MemoryResolver(txt_zone(records), strict=False)
    found = await discover("sub.example.com", resolver, psl=psl)
    assert found.walk.steps[0].outcome == "multiple"
    assert found.policy_domain == "example.com"
    assert found.rfc7489.outcome == "multiple"
    assert found.rfc7489.record is None
    multiple = [f for f in found.findings if f.code == "dmarc.multiple_records"]
    assert [dict(f.evidence)["qname"] for f in multiple] == ["_dmarc.sub.example.com"]
    assert multiple[0].severity == "error"


async def test_two_records_at_the_org_domain_r12(psl: PublicSuffixList) -> None:
    records = {"_dmarc.example.com": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]}
    resolver = MemoryResolver(txt_zone(records), strict=False)
    found = await discover("example.com", resolver, psl=psl)
    assert found.record is None
    assert found.rfc7489.outcome == "multiple"


async def test_non_dmarc_txt_records_are_discarded_r14_r15(psl: PublicSuffixList) -> None:
    records = {
        "_dmarc.example.com": [
            "v=spf1 -all",
            "v=DMARC1; p=reject",
            "p=reject; v=DMARC1",
            "v=dmarc1; p=none",
            "v=DMARC2; p=none",
        ]
    }
    resolver = MemoryResolver(txt_zone(records), strict=False)
    found = await discover("example.com", resolver, psl=psl)
    assert found.record is not None
    assert found.record.p == "reject"
    assert found.walk.steps[0].outcome == "record"


async def test_dns_error_is_temperror_not_no_record(psl: PublicSuffixList) -> None:
    resolver = MemoryResolver(
        {}, nxdomain=["_dmarc.mail.example.com"], errors={("_dmarc.example.com", "TXT"): "timeout"}
    )
    found = await discover("mail.example.com", resolver, psl=psl)
    assert found.failure is not None
    assert (found.failure.qname, found.failure.reason) == ("_dmarc.example.com", "timeout")
    assert found.record is None
    assert [f.code for f in found.findings] == ["dmarc.temperror"]
    assert found.to_dict()["error"] == {
        "qname": "_dmarc.example.com",
        "rdtype": "TXT",
        "reason": "timeout",
    }


async def test_idn_author_domain_is_queried_as_a_label_r23(psl: PublicSuffixList) -> None:
    asked: list[str] = []
    inner = MemoryResolver(zone(xn____bcher__kva_example="v=DMARC1; p=reject"), strict=False)

    class Recording:
        async def query(self, name: str, rdtype: str):  # type: ignore[no-untyped-def]
            asked.append(name)
            return await inner.query(name, rdtype)

    found = await discover("Bücher.example", Recording(), psl=psl)
    assert asked[0] == "_dmarc.xn--bcher-kva.example"
    assert found.domain == "xn--bcher-kva.example"
    assert found.record is not None


@pytest.mark.parametrize("bad", ["", "a..example", "exa mple.com", "-." * 3, "a" * 64 + ".com"])
def test_invalid_domains(bad: str) -> None:
    with pytest.raises(InvalidDomainError):
        normalize_domain(bad)


def _psl_vectors() -> list[object]:
    path = CONFORMANCE / "dmarc" / "psl" / "tests.txt"
    if not path.is_file():
        return [
            pytest.param("", "", id="psl[absent]", marks=pytest.mark.skip(reason=f"{path} absent"))
        ]
    params = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("//"):
            continue
        given, expected = line.split()
        params.append(pytest.param(given, expected, id=f"psl[tests.txt:{number}-{given}]"))
    return params


@pytest.fixture(scope="module")
def snapshot_psl(conformance_dir: Path) -> PublicSuffixList:
    with (conformance_dir / "dmarc" / "psl" / "public_suffix_list.dat").open(encoding="utf-8") as f:
        return PublicSuffixList(f)


@pytest.mark.parametrize(("given", "expected"), _psl_vectors())
def test_psl_official_vectors_rfc7489_org_domain(
    given: str, expected: str, snapshot_psl: PublicSuffixList
) -> None:
    """RFC 7489 §3.2 Organizational Domain = the PSL "registrable domain" (tests.txt)."""
    domain = "" if given == "null" else given
    want = None if expected == "null" else expected
    assert psl_organizational_domain(domain, snapshot_psl) == want
    if want is not None:  # DMARC works on A-labels (RFC 9989 §5.3.1)
        org = psl_organizational_domain(normalize_domain(domain), snapshot_psl)
        assert org == normalize_name(want)
