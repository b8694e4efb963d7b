"""diag.headers.parse_date on RFC 5322 §3.3 dates and the obsolete forms of §4.3: two- and
three-digit years, a leap second, zone names, "-0000" and a missing zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from diag.headers import parse_date, parse_hops


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("Thu, 1 Jan 49 10:00:00 +0000", 2049),  # §4.3: 00-49 is 2000-2049
        ("Sat, 1 Jan 55 10:00:00 +0000", 1955),  # §4.3: 50-99 is 1950-1999
        ("Sun, 1 Jan 68 10:00:00 +0000", 1968),
        ("Thu, 1 Jan 70 10:00:00 +0000", 1970),
        ("Mon, 1 Jan 101 10:00:00 +0000", 2001),  # §4.3: three digits, add 1900
        ("Tue, 1 Dec 2026 10:00:00 +0000", 2026),
    ],
)
def test_obsolete_years(text: str, year: int) -> None:
    parsed = parse_date(text)
    assert parsed is not None
    assert parsed.year == year


def test_leap_second_is_read() -> None:
    assert parse_date("Wed, 31 Dec 2008 23:59:60 +0000") == datetime(
        2008, 12, 31, 23, 59, 59, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("Tue, 1 Dec 2026 04:00:07 EST", timedelta(hours=-5)),  # §4.3 obs-zone
        ("Tue, 1 Dec 2026 04:00:07 PDT", timedelta(hours=-7)),
        ("Tue, 1 Dec 2026 04:00:07 GMT", timedelta(0)),
        ("Tue, 1 Dec 2026 04:00:07 -0000", timedelta(0)),  # §3.3: no zone information
        ("Tue, 1 Dec 2026 04:00:07 +0530 (IST)", timedelta(hours=5, minutes=30)),
    ],
)
def test_zones(text: str, offset: timedelta) -> None:
    parsed = parse_date(text)
    assert parsed is not None
    assert parsed.utcoffset() == offset
    assert parsed.replace(tzinfo=None) == datetime(2026, 12, 1, 4, 0, 7)


@pytest.mark.parametrize("text", ["", "yesterday", "Tue, 1 Dec 2026 25:00:00 +0000"])
def test_unreadable_dates_are_none(text: str) -> None:
    assert parse_date(text) is None


def test_delays_across_zones_and_a_clock_behind() -> None:
    received = [  # top first, as in a message
        "from b by c with LMTP; Tue, 1 Dec 2026 09:00:10 +0000",
        "from a by b with ESMTP; Tue, 1 Dec 2026 09:59:52 +0100",
        "from x by a with ESMTPS; Tue, 1 Dec 2026 04:00:07 EST",
        "from app by x with ESMTP; Tue, 1 Dec 2026 10:00:00 +0100",
    ]
    hops, total, findings = parse_hops(received)
    assert [h.delay_seconds for h in hops] == [None, 7.0, -15.0, 18.0]
    assert total == 10.0
    (skew,) = [f for f in findings if f.code == "headers.clock_skew"]
    assert skew.evidence["hop"] == 3
    assert skew.evidence["skew_seconds"] == 15.0
    assert hops[1].at == datetime(2026, 12, 1, 4, 0, 7, tzinfo=timezone(timedelta(hours=-5)))
