"""The evaluation's parse cache: a bounded LRU over the pure ``parse_spf``."""

from __future__ import annotations

import pytest

from diag.errors import SpfSyntaxError
from diag.resolver import TXT, MemoryResolver
from diag.spf import check_host, parse_spf
from diag.spf.parse import PARSE_CACHE_SIZE, parse_spf_cached


def test_cached_parse_equals_parse_and_is_reused() -> None:
    text = "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:%{d}.example mx/24//64 -all"
    first = parse_spf_cached(text)
    assert first == parse_spf(text)
    assert parse_spf_cached(text) is first


def test_cache_is_bounded() -> None:
    assert parse_spf_cached.cache_info().maxsize == PARSE_CACHE_SIZE


def test_syntax_errors_are_raised_every_time() -> None:
    text = "v=spf1 ip4:192.0.2.300 -all"
    for _ in range(2):
        with pytest.raises(SpfSyntaxError) as caught:
            parse_spf_cached(text)
        assert caught.value.position == 11


async def test_evaluations_sharing_a_record_give_the_same_result() -> None:
    zone = {"example.com": {"TXT": [TXT((b"v=spf1 ip4:192.0.2.0/24 -all",))]}}
    results = [
        await check_host(ip, "example.com", "a@example.com", resolver=MemoryResolver(zone))
        for ip in ("192.0.2.9", "198.51.100.1", "192.0.2.9")
    ]
    assert [r.result for r in results] == ["pass", "fail", "pass"]
    assert results[0] == results[2]
