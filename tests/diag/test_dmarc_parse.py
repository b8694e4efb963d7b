"""parse_dmarc: every tag, defaults, WSP, positions of problems, and never an undocumented error."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.dmarc import DmarcRecord, NotDmarcRecord, parse_dmarc, parse_report_uri
from diag.errors import DmarcSyntaxError


def codes(record: DmarcRecord) -> list[str]:
    return [w.code for w in record.warnings]


def finding(record: DmarcRecord, code: str) -> dict[str, object]:
    matches = [dict(w.evidence) for w in record.warnings if w.code == code]
    assert len(matches) == 1, (code, record.warnings)
    return matches[0]


def test_defaults_rfc7489_r19() -> None:
    """R-19: adkim/aspf r, pct 100, sp = p, fo 0, rf afrf, ri 86400 (RFC 7489 §6.3)."""
    record = parse_dmarc("v=DMARC1; p=quarantine")
    assert (record.adkim, record.aspf, record.pct, record.ri) == ("r", "r", 100, 86400)
    assert record.fo == ("0",)
    assert record.rf == ("afrf",)
    assert record.sp is None
    assert record.effective_sp == "quarantine"
    assert record.effective_np == "quarantine"
    assert (record.psd, record.t) == ("u", False)
    assert record.warnings == ()
    assert record.applies


def test_every_rfc9989_tag() -> None:
    text = (
        "v=DMARC1; p=reject; sp=quarantine; np=none; psd=n; t=y; adkim=s; aspf=s; "
        "rua=mailto:agg@example.com; ruf=mailto:fail@example.com; fo=1:d:s"
    )
    record = parse_dmarc(text)
    assert (record.p, record.sp, record.np) == ("reject", "quarantine", "none")
    assert (record.psd, record.t, record.adkim, record.aspf) == ("n", True, "s", "s")
    assert [u.address for u in record.rua] == ["agg@example.com"]
    assert [u.address for u in record.ruf] == ["fail@example.com"]
    assert record.fo == ("1", "d", "s")
    assert record.warnings == ()
    assert record.effective_np == "none"


def test_removed_rfc7489_tags_are_parsed_and_flagged() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; pct=25; rf=afrf:iodef; ri=3600")
    assert (record.pct, record.rf, record.ri) == (25, ("afrf", "iodef"), 3600)
    assert [dict(w.evidence)["tag"] for w in record.warnings] == ["pct", "rf", "ri"]
    assert set(codes(record)) == {"dmarc.removed_tag"}


def test_wsp_around_equals_and_semicolons_r16() -> None:
    """R-16: RFC 7489 §6.4 / RFC 9989 §4.8 allow *WSP around "=" and ";"."""
    record = parse_dmarc("v = DMARC1 ; p = reject ;\tsp\t=\tnone ; ")
    assert (record.p, record.sp) == ("reject", "none")
    assert record.warnings == ()


def test_keywords_and_tag_names_are_case_insensitive() -> None:
    record = parse_dmarc("V=DMARC1; P=Reject; ADKIM=S")
    assert (record.p, record.adkim) == ("reject", "s")


@pytest.mark.parametrize(
    ("text", "position"),
    [
        pytest.param("p=reject; v=DMARC1", 0, id="rfc7489[6.3/v-not-first]"),
        pytest.param("v=dmarc1; p=reject", 2, id="rfc7489[6.4/v-case-sensitive]"),
        pytest.param("v=DMARC2; p=reject", 2, id="rfc7489[6.3/v-DMARC2]"),
        pytest.param("v=DMARC1p=reject", 8, id="rfc9989[4.8/v-no-separator]"),
        pytest.param("v=DMARC10; p=reject", 8, id="rfc9989[4.8/v-DMARC10]"),
        pytest.param("", 0, id="rfc9989[4.7/empty]"),
        pytest.param("v=spf1 -all", 2, id="rfc9989[4.7/spf]"),
    ],
)
def test_not_a_dmarc_record_r15(text: str, position: int) -> None:
    """R-15: v must be first and exactly DMARC1, else the text is not a DMARC record."""
    with pytest.raises(NotDmarcRecord) as info:
        parse_dmarc(text)
    assert isinstance(info.value, DmarcSyntaxError)
    assert info.value.position == position


@pytest.mark.parametrize(
    ("text", "tag", "value", "position"),
    [
        ("v=DMARC1; p=bogus", "p", "bogus", 12),
        ("v=DMARC1; p=reject; adkim=x", "adkim", "x", 26),
        ("v=DMARC1; p=reject; aspf=relaxed", "aspf", "relaxed", 25),
        ("v=DMARC1; p=reject; psd=z", "psd", "z", 24),
        ("v=DMARC1; p=reject; t=maybe", "t", "maybe", 22),
        ("v=DMARC1; p=reject; fo=0:1", "fo", "0:1", 23),
        ("v=DMARC1; p=reject; fo=x", "fo", "x", 23),
        ("v=DMARC1; p=reject; sp=all", "sp", "all", 23),
        ("v=DMARC1; p=reject; np=", "np", "", 23),
        ("v=DMARC1; p=reject; ri=soon", "ri", "soon", 23),
    ],
)
def test_invalid_values_are_reported_with_position(
    text: str, tag: str, value: str, position: int
) -> None:
    record = parse_dmarc(text)
    assert finding(record, "dmarc.invalid_value") == {
        "tag": tag,
        "value": value,
        "position": position,
    }
    assert text[position:].startswith(value)
    assert not record.malformed


def test_invalid_values_fall_back_to_defaults() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; adkim=x; psd=z; t=maybe; fo=0:1")
    assert (record.adkim, record.psd, record.t, record.fo) == ("r", "u", False, ("0",))


@pytest.mark.parametrize("pct", ["500", "abc", "-1", "1000"])
def test_invalid_pct_means_100_r21(pct: str) -> None:
    """R-21: a syntax error in a non-v tag is discarded in favour of the default (100)."""
    record = parse_dmarc(f"v=DMARC1; p=reject; pct={pct}")
    assert record.pct == 100
    assert finding(record, "dmarc.invalid_value")["tag"] == "pct"


def test_bad_p_with_rua_acts_as_none_r17() -> None:
    record = parse_dmarc("v=DMARC1; p=bogus; rua=mailto:d@example.com")
    assert record.policy_tag_invalid
    assert record.applies
    assert (record.effective_p, record.effective_sp, record.effective_np) == ("none",) * 3


@pytest.mark.parametrize(
    "text",
    [
        "v=DMARC1; p=bogus",
        "v=DMARC1; sp=quarantine",
        "v=DMARC1; p=reject; sp=bogus",
        "v=DMARC1; p=reject; np=bogus",
        "v=DMARC1; sp=quarantine; rua=notauri",
    ],
)
def test_bad_or_missing_policy_without_rua_does_not_apply_r17_d10(text: str) -> None:
    """R-17 / D-10: without a valid p (or with a bad sp/np) and no valid rua: no processing."""
    record = parse_dmarc(text)
    assert record.policy_tag_invalid
    assert not record.applies


def test_missing_p_is_reported_d10() -> None:
    record = parse_dmarc("v=DMARC1; rua=mailto:d@example.com")
    assert "dmarc.missing_p" in codes(record)
    assert record.p is None
    assert record.applies  # treated as p=none (RFC 9989 §4.7 "p" and §4.10.1 agree here)
    assert record.effective_p == "none"


def test_unknown_tag_ignored_but_reported_r18() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; foo=bar")
    assert record.p == "reject"
    assert finding(record, "dmarc.unknown_tag") == {"tag": "foo", "position": 20}
    assert record.applies


def test_duplicate_tag_keeps_first_and_is_reported() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; p=none; v=DMARC1")
    assert record.p == "reject"
    dupes = [dict(w.evidence) for w in record.warnings if w.code == "dmarc.duplicate_tag"]
    assert dupes == [{"tag": "p", "position": 20}, {"tag": "v", "position": 28}]


def test_malformed_term_is_an_error_with_position() -> None:
    """authheaders' bad.example.com record: "reject" is not a tag at all."""
    text = "v=DMARC1; p=none; reject"
    record = parse_dmarc(text)
    assert record.malformed
    assert record.p == "none"
    assert finding(record, "dmarc.malformed_tag") == {"term": "reject", "position": 18}
    assert [w.severity for w in record.warnings] == ["error"]


def test_warnings_come_in_text_order() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; x; foo=1; adkim=q")
    positions = [dict(w.evidence)["position"] for w in record.warnings]
    assert positions == sorted(positions)


def test_leading_whitespace_is_tolerated_with_a_warning() -> None:
    record = parse_dmarc("  v=DMARC1; p=none")
    assert record.p == "none"
    assert codes(record) == ["dmarc.leading_whitespace"]


def test_trailing_separator_and_empty_terms() -> None:
    record = parse_dmarc("v=DMARC1;; p=none;")
    assert record.p == "none"
    assert record.warnings == ()


def test_report_uris_and_size_limit_r27() -> None:
    """R-27 (RFC 7489 Appendix B.2.4): two URIs, the second limited to 10 MiB (§6.2 units)."""
    record = parse_dmarc(
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,"
        "mailto:tld-test@thirdparty.example.net!10m; pct=25"
    )
    first, second = record.rua
    assert (first.address, first.host, first.size_limit) == (
        "dmarc-feedback@example.com",
        "example.com",
        None,
    )
    assert (second.address, second.host) == (
        "tld-test@thirdparty.example.net",
        "thirdparty.example.net",
    )
    assert second.size_limit == 10 * 2**20
    assert record.text[second.position :].startswith("mailto:tld-test")
    assert record.pct == 25


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("mailto:", "not_a_uri"),
        ("reports@example.com", "not_a_uri"),
        ("mailto:no-at-sign", "invalid_address"),
        ("mailto:a@", "invalid_domain"),
        ("mailto:a@exa mple.com", "invalid_characters"),
        ("mailto:a@-bad.example", "invalid_domain"),
        ("mailto:a..b@example.com", "invalid_address"),
        ("mailto:a@example." + "c" * 64, "invalid_domain"),
        ("", "empty"),
    ],
)
def test_invalid_report_uris(uri: str, problem: str) -> None:
    assert parse_report_uri(uri).problem == problem


@pytest.mark.parametrize(
    ("uri", "size"),
    [
        ("mailto:a@example.com!50", 50),
        ("mailto:a@example.com!1k", 1024),
        ("mailto:a@example.com!2G", 2 * 2**30),
    ],
)
def test_size_units(uri: str, size: int) -> None:
    parsed = parse_report_uri(uri)
    assert parsed.valid
    assert parsed.size_limit == size


def test_other_schemes_are_syntactically_valid() -> None:
    parsed = parse_report_uri("https://reports.example.com/dmarc")
    assert (parsed.valid, parsed.scheme) == (True, "https")


def test_uri_list_with_wsp_and_positions() -> None:
    text = "v=DMARC1; p=none; rua=mailto:a@example.com , mailto:b@example.org"
    record = parse_dmarc(text)
    assert [text[u.position :].split(" ")[0] for u in record.rua] == [
        "mailto:a@example.com",
        "mailto:b@example.org",
    ]


def test_record_is_frozen() -> None:
    record = parse_dmarc("v=DMARC1; p=none")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.p = "reject"  # type: ignore[misc]
    assert record.to_dict()["p"] == "none"


_TAGS = st.sampled_from(
    ["p", "sp", "np", "psd", "t", "adkim", "aspf", "rua", "ruf", "fo", "pct", "rf", "ri", "v", "x"]
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_raises_only_documented_errors(text: str) -> None:
    position: int | None = -1
    try:
        record = parse_dmarc(text)
    except NotDmarcRecord as exc:
        position = exc.position
    else:
        assert isinstance(record, DmarcRecord)
        return
    assert position is not None
    assert 0 <= position <= len(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_TAGS, st.text(max_size=30)), max_size=8),
    st.sampled_from([";", " ; ", ";\t"]),
)
def test_arbitrary_tag_lists_parse(tags: list[tuple[str, str]], sep: str) -> None:
    text = "v=DMARC1" + "".join(f"{sep}{name}={value}" for name, value in tags)
    record = parse_dmarc(text)
    for warning in record.warnings:
        position = warning.evidence.get("position")
        assert isinstance(position, int)
        assert 0 <= position <= len(text)
    assert record.p in (None, "none", "quarantine", "reject")
    record.to_dict()


def test_uri_lists_are_bounded() -> None:
    value = ",".join(f"mailto:r{n}@example.com" for n in range(100))
    record = parse_dmarc(f"v=DMARC1; p=none; rua={value}")
    assert 0 < len(record.rua) < 100


def test_a_record_text_is_parsed_once_for_judging() -> None:
    from diag.dmarc.parse import parse_dmarc_cached

    text = "v=DMARC1; p=reject; rua=mailto:d@example.com!10m; fo=1:d; bogus=1"
    first = parse_dmarc_cached(text)
    assert first == parse_dmarc(text)
    assert parse_dmarc_cached(text) is first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.p = "none"  # type: ignore[misc]  # shared between judgments, so it must not change
    with pytest.raises(TypeError):
        first.tags["p"] = "none"  # type: ignore[index]
    for _ in range(2):  # not a DMARC record: refused every time, never kept
        with pytest.raises(NotDmarcRecord):
            parse_dmarc_cached("v=spf1 -all")
