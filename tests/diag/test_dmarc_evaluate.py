"""evaluate(): the cases of README §4.4 (RFC 7489 R-01..R-28, RFC 9989 D-01..D-11), authheaders'
DNS table (README §4.1) with its expected results, and alignment per RFC 7489 Appendix B.1."""

from __future__ import annotations

import email
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import getaddresses
from pathlib import Path

import pytest
from publicsuffixlist import PublicSuffixList

from diag.dmarc import DmarcResult, DmarcVersion, dkim_aligned, evaluate, spf_aligned
from diag.resolver import TXT, MemoryResolver, Record


@pytest.fixture(scope="module")
def psl() -> PublicSuffixList:
    return PublicSuffixList()


def make_zone(
    records: Mapping[str, str | Sequence[str]], hosts: Sequence[str] = ()
) -> dict[str, dict[str, list[Record]]]:
    zone: dict[str, dict[str, list[Record]]] = {}
    for name, value in records.items():
        texts = [value] if isinstance(value, str) else list(value)
        zone[name] = {"TXT": [TXT((t.encode(),)) for t in texts]}
    for host in hosts:
        zone.setdefault(host, {})["A"] = ["192.0.2.1"]
    return zone


class FixedDraw(random.Random):
    """A pct sample that always draws ``value`` (0-99)."""

    def __init__(self, value: int) -> None:
        super().__init__(0)
        self.value = value

    def randrange(self, *args: object, **kwargs: object) -> int:  # type: ignore[override]
        return self.value


@dataclass(frozen=True)
class Case:
    records: Mapping[str, str | Sequence[str]]
    from_domains: Sequence[str]
    result: str
    policy: str = "none"
    disposition: str | None = None  # defaults to policy on fail, else none
    spf: tuple[str, str] = ("none", "")
    dkim: Sequence[tuple[str, str]] = ()
    versions: Sequence[DmarcVersion] = ("rfc7489", "rfc9989")
    hosts: Sequence[str] = ()
    errors: Mapping[tuple[str, str], str] = field(default_factory=dict)
    rng: random.Random | None = None
    policy_domain: str | None = None
    spf_aligned: bool | None = None
    dkim_aligned: bool | None = None


REJECT = {"_dmarc.example.com": "v=DMARC1; p=reject"}

CASES: dict[str, Case] = {
    # RFC 7489 §3.1.1 ¶3
    "R-01-relaxed": Case(
        REJECT, ["news.example.com"], "pass", "reject", dkim=[("pass", "example.com")]
    ),
    "R-01-strict": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; adkim=s"},
        ["news.example.com"],
        "fail",
        "reject",
        dkim=[("pass", "example.com")],
    ),
    # §3.1.1 ¶4: a public suffix is never an Org Domain
    "R-02": Case(REJECT, ["example.com"], "fail", "reject", dkim=[("pass", "com")]),
    "R-03-no-aligned-pass": Case(
        REJECT,
        ["example.com"],
        "fail",
        "reject",
        dkim=[("pass", "example.org"), ("fail", "example.com")],
        dkim_aligned=False,
    ),
    "R-03-one-aligned-pass": Case(
        REJECT,
        ["example.com"],
        "pass",
        "reject",
        dkim=[("pass", "example.org"), ("fail", "example.com"), ("pass", "mail.example.com")],
        dkim_aligned=True,
    ),
    "R-04-relaxed": Case(
        REJECT,
        ["example.com"],
        "pass",
        "reject",
        spf=("pass", "cbg.bounces.example.com"),
        spf_aligned=True,
    ),
    "R-04-strict": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; aspf=s"},
        ["example.com"],
        "fail",
        "reject",
        spf=("pass", "cbg.bounces.example.com"),
        spf_aligned=False,
    ),
    "R-05-softfail": Case(
        REJECT, ["example.com"], "fail", "reject", spf=("softfail", "example.com")
    ),
    "R-05-neutral": Case(REJECT, ["example.com"], "fail", "reject", spf=("neutral", "example.com")),
    "R-05-none": Case(REJECT, ["example.com"], "fail", "reject", spf=("none", "example.com")),
    "R-06-helo": Case(
        REJECT, ["example.com"], "pass", "reject", spf=("pass", "postmaster@mail.example.com")
    ),
    "R-07-co-uk-aligned": Case(
        {"_dmarc.example.co.uk": "v=DMARC1; p=reject"},
        ["mail.example.co.uk"],
        "pass",
        "reject",
        dkim=[("pass", "other.example.co.uk")],
    ),
    "R-07-co-uk-not-aligned": Case(
        {"_dmarc.bar.co.uk": "v=DMARC1; p=reject"},
        ["bar.co.uk"],
        "fail",
        "reject",
        dkim=[("pass", "foo.co.uk")],
    ),
    "R-09-sp": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; sp=quarantine"},
        ["sub.example.com"],
        "fail",
        "quarantine",
        hosts=["sub.example.com"],
    ),
    "R-09-no-sp": Case(REJECT, ["sub.example.com"], "fail", "reject", hosts=["sub.example.com"]),
    "R-10": Case(
        {"_dmarc.sub.example.com": "v=DMARC1; p=none; sp=reject"},
        ["sub.example.com"],
        "fail",
        "none",
    ),
    "R-11": Case(
        {"_dmarc.sub.example.com": "v=DMARC1; p=none", "_dmarc.example.com": "v=DMARC1; p=reject"},
        ["a.sub.example.com"],
        "fail",
        "reject",
        hosts=["a.sub.example.com"],
        policy_domain="example.com",
    ),
    "R-12": Case(
        {"_dmarc.example.com": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]}, ["example.com"], "none"
    ),
    "R-13": Case(
        {
            "_dmarc.sub.example.com": ["v=DMARC1; p=none", "v=DMARC1; p=quarantine"],
            "_dmarc.example.com": "v=DMARC1; p=reject",
        },
        ["sub.example.com"],
        "none",
        versions=["rfc7489"],
    ),
    "R-14": Case(
        {"_dmarc.example.com": ["v=spf1 -all", "v=DMARC1; p=reject"]},
        ["example.com"],
        "fail",
        "reject",
    ),
    "R-15-v-not-first": Case({"_dmarc.example.com": "p=reject; v=DMARC1"}, ["example.com"], "none"),
    "R-15-lower-case": Case({"_dmarc.example.com": "v=dmarc1; p=reject"}, ["example.com"], "none"),
    "R-15-DMARC2": Case({"_dmarc.example.com": "v=DMARC2; p=reject"}, ["example.com"], "none"),
    "R-16": Case(
        {"_dmarc.example.com": "v = DMARC1 ; p = reject"}, ["example.com"], "fail", "reject"
    ),
    "R-17-bad-p-rua": Case(
        {"_dmarc.example.com": "v=DMARC1; p=bogus; rua=mailto:d@example.com"},
        ["example.com"],
        "fail",
        "none",
    ),
    "R-17-bad-p": Case({"_dmarc.example.com": "v=DMARC1; p=bogus"}, ["example.com"], "none"),
    "R-17-no-p-no-rua": Case(
        {"_dmarc.example.com": "v=DMARC1; sp=quarantine"}, ["example.com"], "none"
    ),
    "R-17-bad-sp": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; sp=bogus"}, ["example.com"], "none"
    ),
    "R-17-bad-sp-rua": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com"},
        ["sub.example.com"],
        "fail",
        "none",
    ),
    "R-18": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; foo=bar"}, ["example.com"], "fail", "reject"
    ),
    "R-19-default-relaxed": Case(
        REJECT, ["example.com"], "pass", "reject", spf=("pass", "mail.example.com")
    ),
    "R-20-reject-pct0": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; pct=0"},
        ["example.com"],
        "fail",
        "reject",
        disposition="quarantine",
        versions=["rfc7489"],
    ),
    "R-20-quarantine-pct0": Case(
        {"_dmarc.example.com": "v=DMARC1; p=quarantine; pct=0"},
        ["example.com"],
        "fail",
        "quarantine",
        disposition="none",
        versions=["rfc7489"],
    ),
    "R-20-pct50-sampled": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; pct=50"},
        ["example.com"],
        "fail",
        "reject",
        disposition="reject",
        versions=["rfc7489"],
        rng=FixedDraw(49),
    ),
    "R-20-pct50-not-sampled": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; pct=50"},
        ["example.com"],
        "fail",
        "reject",
        disposition="quarantine",
        versions=["rfc7489"],
        rng=FixedDraw(50),
    ),
    "R-21-pct500": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; pct=500"},
        ["example.com"],
        "fail",
        "reject",
        disposition="reject",
        rng=FixedDraw(99),
    ),
    "R-22-strictest": Case(
        {
            "_dmarc.example.com": "v=DMARC1; p=quarantine",
            "_dmarc.example.org": "v=DMARC1; p=reject",
        },
        ["example.com", "example.org"],
        "fail",
        "reject",
        policy_domain="example.org",
    ),
    "R-22-one-fails": Case(
        {
            "_dmarc.example.com": "v=DMARC1; p=quarantine",
            "_dmarc.example.org": "v=DMARC1; p=reject",
        },
        ["example.com", "example.org"],
        "fail",
        "quarantine",
        dkim=[("pass", "example.org")],
        policy_domain="example.com",
    ),
    "R-22-no-address": Case({}, [], "permerror"),
    "R-23-idn": Case(
        {"_dmarc.xn--bcher-kva.example": "v=DMARC1; p=reject"},
        ["bücher.example"],
        "pass",
        "reject",
        dkim=[("pass", "xn--bcher-kva.example")],
    ),
    "R-24": Case(
        {}, ["example.com"], "temperror", errors={("_dmarc.example.com", "TXT"): "timeout"}
    ),
    "R-25-spf-temperror": Case(
        REJECT, ["example.com"], "temperror", "reject", spf=("temperror", "example.com")
    ),
    "R-25-dkim-temperror": Case(
        REJECT, ["example.com"], "temperror", "reject", dkim=[("temperror", "example.com")]
    ),
    "R-25-aligned-pass-wins": Case(
        REJECT,
        ["example.com"],
        "pass",
        "reject",
        spf=("temperror", "example.com"),
        dkim=[("pass", "example.com")],
    ),
    "R-27-record-domain": Case(
        {
            "_dmarc.test.example.com": "v=DMARC1; p=quarantine; "
            "rua=mailto:dmarc-feedback@example.com,"
            "mailto:tld-test@thirdparty.example.net!10m; pct=25"
        },
        ["test.example.com"],
        "fail",
        "quarantine",
        disposition="quarantine",
        versions=["rfc7489"],
        rng=FixedDraw(0),
    ),
    "R-27-not-covered": Case(
        {"_dmarc.test.example.com": "v=DMARC1; p=quarantine; pct=25"},
        ["other.example.com"],
        "none",
        versions=["rfc7489"],
    ),
    "R-28": Case({}, ["example.com"], "none"),
}

D_CASES: dict[str, Case] = {
    "D-02": Case(
        {
            "_dmarc.example.com": "v=DMARC1; p=reject",
            "_dmarc.signing.example.com": "v=DMARC1; p=none",
        },
        ["example.com"],
        "pass",
        "reject",
        spf=("pass", "example.com"),
        dkim=[("pass", "signing.example.com")],
        spf_aligned=True,
        dkim_aligned=True,
        versions=["rfc9989"],
    ),
    "D-03": Case(
        {
            "_dmarc.example.com": "v=DMARC1; p=reject",
            "_dmarc.signing.example.com": "v=DMARC1; p=none",
        },
        ["a.b.c.d.e.f.g.h.i.j.k.example.com"],
        "pass",
        "reject",
        spf=("pass", "example.com"),
        dkim=[("pass", "signing.example.com")],
        spf_aligned=True,
        dkim_aligned=True,
        versions=["rfc9989"],
        hosts=["a.b.c.d.e.f.g.h.i.j.k.example.com"],
        policy_domain="example.com",
    ),
    "D-04": Case(
        {
            "_dmarc.bank.example": "v=DMARC1; p=reject; psd=y",
            "_dmarc.giant.bank.example": "v=DMARC1; p=quarantine",
        },
        ["giant.bank.example"],
        "pass",
        "quarantine",
        spf=("pass", "mail.giant.bank.example"),
        dkim=[("pass", "mail.mega.bank.example")],
        spf_aligned=True,
        dkim_aligned=False,
        versions=["rfc9989"],
    ),
    "D-04-dkim-only": Case(
        {
            "_dmarc.bank.example": "v=DMARC1; p=reject; psd=y",
            "_dmarc.giant.bank.example": "v=DMARC1; p=quarantine",
        },
        ["giant.bank.example"],
        "fail",
        "quarantine",
        dkim=[("pass", "mail.mega.bank.example")],
        dkim_aligned=False,
        versions=["rfc9989"],
    ),
    "D-06-nxdomain": Case(
        {"_dmarc.example.biz": "v=DMARC1; p=none; sp=quarantine; np=reject"},
        ["nx.example.biz"],
        "fail",
        "reject",
    ),
    "D-06-exists": Case(
        {"_dmarc.example.biz": "v=DMARC1; p=none; sp=quarantine; np=reject"},
        ["sub2.example.biz"],
        "fail",
        "quarantine",
        hosts=["sub2.example.biz"],
    ),
    "D-06-org-itself": Case(
        {"_dmarc.example.biz": "v=DMARC1; p=none; sp=quarantine; np=reject"},
        ["example.biz"],
        "fail",
        "none",
    ),
    "D-07-no-psd": Case(
        {"_dmarc.sub.example.com": "v=DMARC1; p=none", "_dmarc.example.com": "v=DMARC1; p=reject"},
        ["a.sub.example.com"],
        "fail",
        "reject",
        hosts=["a.sub.example.com"],
        policy_domain="example.com",
        versions=["rfc9989"],
    ),
    "D-07-psd-n": Case(
        {
            "_dmarc.sub.example.com": "v=DMARC1; p=none; psd=n",
            "_dmarc.example.com": "v=DMARC1; p=reject",
        },
        ["a.sub.example.com"],
        "fail",
        "none",
        hosts=["a.sub.example.com"],
        policy_domain="sub.example.com",
        versions=["rfc9989"],
    ),
    "D-07-psd-n-under-rfc7489": Case(
        {
            "_dmarc.sub.example.com": "v=DMARC1; p=none; psd=n",
            "_dmarc.example.com": "v=DMARC1; p=reject",
        },
        ["a.sub.example.com"],
        "fail",
        "reject",
        hosts=["a.sub.example.com"],
        policy_domain="example.com",
        versions=["rfc7489"],
    ),
    "D-08": Case(
        {
            "_dmarc.sub.example.com": ["v=DMARC1; p=none", "v=DMARC1; p=quarantine"],
            "_dmarc.example.com": "v=DMARC1; p=reject",
        },
        ["sub.example.com"],
        "fail",
        "reject",
        policy_domain="example.com",
        versions=["rfc9989"],
    ),
    "D-09-pct-ignored": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; pct=0"},
        ["example.com"],
        "fail",
        "reject",
        disposition="reject",
        versions=["rfc9989"],
    ),
    "D-09-t-reject": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; t=y"},
        ["example.com"],
        "fail",
        "reject",
        disposition="quarantine",
        versions=["rfc9989"],
    ),
    "D-09-t-quarantine": Case(
        {"_dmarc.example.com": "v=DMARC1; p=quarantine; t=y"},
        ["example.com"],
        "fail",
        "quarantine",
        disposition="none",
        versions=["rfc9989"],
    ),
    "D-09-t-none": Case(
        {"_dmarc.example.com": "v=DMARC1; p=none; t=y"},
        ["example.com"],
        "fail",
        "none",
        versions=["rfc9989"],
    ),
    "D-09-t-ignored-by-rfc7489": Case(
        {"_dmarc.example.com": "v=DMARC1; p=reject; t=y"},
        ["example.com"],
        "fail",
        "reject",
        disposition="reject",
        versions=["rfc7489"],
    ),
    # D-10: RFC 9989 §4.10.1 decides (see diag.dmarc.evaluate): no p and no rua -> no processing
    "D-10-no-p-no-rua": Case(
        {"_dmarc.example.com": "v=DMARC1; sp=reject"}, ["example.com"], "none"
    ),
    "D-10-no-p-with-rua": Case(
        {"_dmarc.example.com": "v=DMARC1; sp=reject; rua=mailto:d@example.com"},
        ["sub.example.com"],
        "fail",
        "none",
        hosts=["sub.example.com"],
    ),
    # D-11: the PSD's p applies to the Org Domain itself; sp/np below it (see diag.dmarc.evaluate)
    "D-11-org-domain-exists": Case(
        {
            "_dmarc.gov": "v=DMARC1; p=reject; sp=none; np=reject; psd=y",
            "_dmarc.example.gov": "",
        },
        ["example.gov"],
        "fail",
        "reject",
        policy_domain="gov",
        versions=["rfc9989"],
    ),
    "D-11-org-domain-missing": Case(
        {"_dmarc.gov": "v=DMARC1; p=quarantine; sp=none; np=reject; psd=y"},
        ["nx.gov"],
        "fail",
        "reject",
        policy_domain="gov",
        versions=["rfc9989"],
    ),
    "D-11-below-org-domain": Case(
        {"_dmarc.gov": "v=DMARC1; p=reject; sp=none; np=reject; psd=y"},
        ["mail.example.gov"],
        "fail",
        "none",
        hosts=["mail.example.gov"],
        policy_domain="gov",
        versions=["rfc9989"],
    ),
}


def _params(cases: dict[str, Case]) -> list[object]:
    params = []
    for case_id, case in cases.items():
        for version in case.versions:
            params.append(pytest.param(case, version, id=f"{version}[{case_id}]"))
    return params


async def run_case(case: Case, version: DmarcVersion, psl: PublicSuffixList) -> DmarcResult:
    resolver = MemoryResolver(make_zone(case.records, case.hosts), strict=False, errors=case.errors)
    return await evaluate(
        from_header_domains=case.from_domains,
        spf_result=case.spf[0],
        spf_domain=case.spf[1],
        dkim_results=[(result, domain) for result, domain in case.dkim],
        resolver=resolver,
        version=version,
        psl=psl,
        rng=case.rng,
    )


def check(result: DmarcResult, case: Case) -> None:
    assert result.result == case.result, result
    assert result.policy == case.policy, result
    disposition = case.disposition
    if disposition is None:
        disposition = case.policy if case.result == "fail" else "none"
    assert result.disposition == disposition, result
    if case.policy_domain is not None:
        assert result.policy_domain == case.policy_domain
    if case.spf_aligned is not None:
        assert result.spf_aligned is case.spf_aligned
    if case.dkim_aligned is not None:
        assert result.dkim_aligned is case.dkim_aligned


@pytest.mark.parametrize(("case", "version"), _params(CASES))
async def test_rfc7489_cases(case: Case, version: DmarcVersion, psl: PublicSuffixList) -> None:
    check(await run_case(case, version, psl), case)


@pytest.mark.parametrize(("case", "version"), _params(D_CASES))
async def test_rfc9989_cases(case: Case, version: DmarcVersion, psl: PublicSuffixList) -> None:
    check(await run_case(case, version, psl), case)


async def test_to_dict_has_the_documented_keys(psl: PublicSuffixList) -> None:
    result = await run_case(CASES["R-01-relaxed"], "rfc9989", psl)
    data = result.to_dict()
    assert {
        "result": "pass",
        "policy": "reject",
        "disposition": "none",
        "from_domain": "news.example.com",
        "policy_domain": "example.com",
        "organizational_domain": "example.com",
        "spf_aligned": False,
        "dkim_aligned": True,
    }.items() <= data.items()
    assert isinstance(data["findings"], list)


async def test_idn_from_domain_is_an_a_label_r23(psl: PublicSuffixList) -> None:
    result = await run_case(CASES["R-23-idn"], "rfc9989", psl)
    assert result.from_domain == "xn--bcher-kva.example"
    assert result.policy_domain == "xn--bcher-kva.example"


async def test_temperror_carries_the_failed_query_r24(psl: PublicSuffixList) -> None:
    result = await run_case(CASES["R-24"], "rfc9989", psl)
    assert [(f.code, dict(f.evidence)) for f in result.findings] == [
        ("dmarc.temperror", {"qname": "_dmarc.example.com", "rdtype": "TXT", "reason": "timeout"})
    ]


async def test_alignment_walk_failure_is_temperror(psl: PublicSuffixList) -> None:
    resolver = MemoryResolver(
        make_zone(REJECT), strict=False, errors={("_dmarc.signing.example.org", "TXT"): "servfail"}
    )
    result = await evaluate(
        from_header_domains=["example.com"],
        spf_result="fail",
        spf_domain="example.com",
        dkim_results=[("pass", "signing.example.org")],
        resolver=resolver,
        psl=psl,
    )
    assert result.result == "temperror"
    assert result.disposition == "none"


async def test_multiple_from_domains_report_each(psl: PublicSuffixList) -> None:
    result = await run_case(CASES["R-22-strictest"], "rfc9989", psl)
    assert [d.from_domain for d in result.domains] == ["example.com", "example.org"]
    assert [d.policy for d in result.domains] == ["quarantine", "reject"]
    assert "dmarc.multiple_from_domains" in [f.code for f in result.findings]
    assert len(result.to_dict()["domains"]) == 2


async def test_invalid_from_domain_is_permerror(psl: PublicSuffixList) -> None:
    resolver = MemoryResolver({})
    result = await evaluate(
        from_header_domains=["exa mple.com"],
        spf_result="none",
        spf_domain="",
        dkim_results=[],
        resolver=resolver,
        psl=psl,
    )
    assert result.result == "permerror"
    assert resolver.queries == []


async def test_existence_is_asked_only_when_it_matters(psl: PublicSuffixList) -> None:
    """D-06: A, AAAA and MX all NXDOMAIN -> np; the caller can also say whether it exists."""
    records = {"_dmarc.example.biz": "v=DMARC1; p=none; sp=quarantine; np=reject"}
    resolver = MemoryResolver(make_zone(records), strict=False)
    result = await evaluate(
        from_header_domains=["nx.example.biz"],
        spf_result="none",
        spf_domain="",
        dkim_results=[],
        resolver=resolver,
        psl=psl,
    )
    assert result.policy == "reject"
    assert [q for q in resolver.queries if q[1] != "TXT"] == [
        ("nx.example.biz", "A"),
        ("nx.example.biz", "AAAA"),
        ("nx.example.biz", "MX"),
    ]
    told = MemoryResolver(make_zone(records), strict=False)
    result = await evaluate(
        from_header_domains=["nx.example.biz"],
        spf_result="none",
        spf_domain="",
        dkim_results=[],
        resolver=told,
        from_domain_exists=True,
        psl=psl,
    )
    assert result.policy == "quarantine"
    assert all(rdtype == "TXT" for _, rdtype in told.queries)
    same = MemoryResolver(make_zone(REJECT), strict=False)
    await evaluate(
        from_header_domains=["nx.example.com"],
        spf_result="none",
        spf_domain="",
        dkim_results=[],
        resolver=same,
        psl=psl,
    )
    assert all(rdtype == "TXT" for _, rdtype in same.queries)


async def test_malformed_record_is_permerror(psl: PublicSuffixList) -> None:
    resolver = MemoryResolver(
        make_zone({"_dmarc.example.com": "v=DMARC1; p=reject; oops"}), strict=False
    )
    result = await evaluate(
        from_header_domains=["example.com"],
        spf_result="pass",
        spf_domain="example.com",
        dkim_results=[],
        resolver=resolver,
        psl=psl,
    )
    assert (result.result, result.disposition) == ("permerror", "none")
    assert "dmarc.malformed_tag" in [f.code for f in result.findings]


# RFC 7489 Appendix B.1: SPF and DKIM alignment tables, with PSL Organizational Domains.
B1 = [
    ("spf", "example.com", "example.com", True, True),
    ("spf", "child.example.com", "example.com", False, True),
    ("spf", "example.net", "child.example.com", False, False),
    ("dkim", "example.com", "example.com", True, True),
    ("dkim", "example.com", "child.example.com", False, True),
    ("dkim", "example.net", "child.example.com", False, False),
]


@pytest.mark.parametrize(
    ("kind", "identifier", "author", "strict", "relaxed"),
    [pytest.param(*row, id=f"rfc7489[B.1/{row[0]}-{row[1]}-{row[2]}]") for row in B1],
)
def test_alignment_tables_r08(
    kind: str, identifier: str, author: str, strict: bool, relaxed: bool, psl: PublicSuffixList
) -> None:
    orgs = {d: psl.privatesuffix(d) for d in (identifier, author)}
    check_fn = spf_aligned if kind == "spf" else dkim_aligned
    assert check_fn(author, identifier, mode="s", org_domains=orgs) is strict
    assert check_fn(author, identifier, mode="r", org_domains=orgs) is relaxed


def test_alignment_is_case_insensitive() -> None:
    orgs = {"news.example.com": "example.com", "mail.example.com": "example.com"}
    assert spf_aligned("News.Example.COM.", "news.example.com", mode="s", org_domains=orgs)
    assert dkim_aligned("NEWS.example.com", "MAIL.example.com", mode="r", org_domains=orgs)
    assert not dkim_aligned("news.example.com", "mail.example.com", mode="r", org_domains={})


# authheaders 0.16.3 test DNS (README §4.1). A name not listed has no record. The message files
# only carry From fields and prior DKIM results, which are given here as inputs.
AUTHHEADERS_DNS = {
    "_dmarc.example.com": (
        "v=DMARC1; p=reject; rua=mailto:dmarc.reports@valimail.com,mailto:dmarc_agg@vali.email; "
        "ruf=mailto:dmarc.reports@valimail.com,mailto:dmarc_c0cb7153_afrf@vali.email"
    ),
    "_dmarc.example.org": "v=DMARC1; p=none",
    "_dmarc.example.net": "v=DMARC1; p=none; sp=reject",
    "_dmarc.sub.example.net": "",
    "_dmarc.example.biz": "v=DMARC1; p=none; sp=quarantine; np=reject",
    # authheaders also lists _dmarc.sub.example.biz -> "" beside sub.example.biz -> NXDOMAIN; real
    # DNS cannot hold both (RFC 8020), so sub.example.biz is simply absent (NXDOMAIN) here.
    "_dmarc.sub2.example.biz": "",
    "_dmarc.nop.example.org": "v=DMARC1; sp=quarantine; np=reject",
    "_dmarc.bad.example.com": "v=DMARC1; p=none; reject",
    "_dmarc.gov": (
        "v=DMARC1; p=reject; sp=none; np=reject; rua=mailto:dotgov_dmarc@cisa.dhs.gov; psd=y"
    ),
    "_dmarc.example.gov": "",
}

AUTHHEADERS = [
    ("test.message_signed", [("pass", "example.com")], "pass", "reject"),
    ("testcomma.message", [("pass", "example.com")], "pass", "reject"),
    ("test.message_multi", [("fail", "example.com"), ("pass", "example.org")], "fail", "reject"),
    ("test.message_multi2", [("fail", "example.com"), ("pass", "example.org")], "fail", "reject"),
    ("test.message_sub", [("fail", "sub.example.net")], "fail", "reject"),
    ("test.message_np1", [("fail", "sub.example.biz")], "fail", "reject"),
    ("test.message_np2", [("fail", "sub2.example.biz")], "fail", "quarantine"),
    ("test_nop.message", [("fail", "nop.example.org")], "none", "none"),
    ("test.bad.message", [], "permerror", "none"),
    ("test.nofrom.message", [], "permerror", "none"),
    ("test.gov.message", [], "fail", "reject"),
]


def from_domains(path: Path) -> list[str]:
    """The domains of the message's From field (README §4.1 drives evaluate with these)."""
    message = email.message_from_bytes(path.read_bytes())
    fields = message.get_all("From") or []
    return [addr.rpartition("@")[2] for _, addr in getaddresses(fields) if "@" in addr]


@pytest.mark.parametrize(
    ("message", "dkim", "result", "policy"),
    [pytest.param(*row, id=f"authheaders[{row[0]}]") for row in AUTHHEADERS],
)
async def test_authheaders_messages(
    message: str,
    dkim: list[tuple[str, str]],
    result: str,
    policy: str,
    psl: PublicSuffixList,
    conformance_dir: Path,
) -> None:
    domains = from_domains(conformance_dir / "dmarc" / "authheaders-0.16.3" / message)
    zone = make_zone(AUTHHEADERS_DNS, hosts=["sub2.example.biz"])
    outcome = await evaluate(
        from_header_domains=domains,
        spf_result="none",
        spf_domain="",
        dkim_results=dkim,
        resolver=MemoryResolver(zone, strict=False),
        psl=psl,
    )
    assert (outcome.result, outcome.policy) == (result, policy)
    assert outcome.disposition == (policy if result == "fail" else "none")


def test_authheaders_from_fields(conformance_dir: Path) -> None:
    folder = conformance_dir / "dmarc" / "authheaders-0.16.3"
    assert from_domains(folder / "test.message_multi") == ["example.org", "example.com"]
    assert from_domains(folder / "test_nop.message") == ["nop.eXample.org"]
    assert from_domains(folder / "test.nofrom.message") == []


async def test_several_from_domains_without_a_failure(psl: PublicSuffixList) -> None:
    """A passing domain outranks one without a policy; a temperror outranks both."""
    records = {"_dmarc.example.com": "v=DMARC1; p=reject"}
    resolver = MemoryResolver(make_zone(records), strict=False)
    result = await evaluate(
        from_header_domains=["example.org", "example.com", "EXAMPLE.com"],
        spf_result="pass",
        spf_domain="example.com",
        dkim_results=[],
        resolver=resolver,
        psl=psl,
    )
    assert (result.result, result.from_domain) == ("pass", "example.com")
    assert [d.result for d in result.domains] == ["none", "pass"]
    failing = MemoryResolver(
        make_zone(records), strict=False, errors={("_dmarc.example.org", "TXT"): "timeout"}
    )
    result = await evaluate(
        from_header_domains=["example.com", "example.org"],
        spf_result="pass",
        spf_domain="example.com",
        dkim_results=[],
        resolver=failing,
        psl=psl,
    )
    assert (result.result, result.from_domain) == ("temperror", "example.org")


@pytest.mark.parametrize(
    ("dkim", "result"),
    [
        pytest.param([], "temperror", id="fail-becomes-temperror"),
        pytest.param([("pass", "example.biz")], "pass", id="pass-stays"),
    ],
)
async def test_existence_lookup_failure(
    dkim: list[tuple[str, str]], result: str, psl: PublicSuffixList
) -> None:
    records = {"_dmarc.example.biz": "v=DMARC1; p=none; sp=quarantine; np=reject"}
    resolver = MemoryResolver(
        make_zone(records), strict=False, errors={("sub.example.biz", "AAAA"): "servfail"}
    )
    outcome = await evaluate(
        from_header_domains=["sub.example.biz"],
        spf_result="none",
        spf_domain="",
        dkim_results=dkim,
        resolver=resolver,
        psl=psl,
    )
    assert outcome.result == result
    assert outcome.policy == "quarantine"
    assert outcome.disposition == "none"
    temperrors = [dict(f.evidence) for f in outcome.findings if f.code == "dmarc.temperror"]
    assert temperrors == [{"qname": "sub.example.biz", "rdtype": "AAAA", "reason": "servfail"}]


async def test_unusable_identifiers_never_align(psl: PublicSuffixList) -> None:
    resolver = MemoryResolver(make_zone(REJECT), strict=False)
    result = await evaluate(
        from_header_domains=["example.com"],
        spf_result="pass",
        spf_domain="bad..example.com",
        dkim_results=[("pass", "")],
        resolver=resolver,
        psl=psl,
    )
    assert (result.result, result.spf_aligned, result.dkim_aligned) == ("fail", False, False)


@pytest.mark.parametrize(
    ("spf", "dkim"),
    [
        pytest.param(("temperror", "other.example.net"), [], id="rfc7489[R-25/spf-unaligned]"),
        pytest.param(
            ("fail", ""), [("temperror", "other.example.net")], id="rfc7489[R-25/dkim-unaligned]"
        ),
    ],
)
async def test_temperror_of_an_unaligned_identifier_cannot_change_fail(
    spf: tuple[str, str], dkim: list[tuple[str, str]], psl: PublicSuffixList
) -> None:
    resolver = MemoryResolver(make_zone(REJECT), strict=False)
    result = await evaluate(
        from_header_domains=["example.com"],
        spf_result=spf[0],
        spf_domain=spf[1],
        dkim_results=dkim,
        resolver=resolver,
        psl=psl,
    )
    assert (result.result, result.disposition) == ("fail", "reject")
