"""The SSRF guard: every refused class, embedded IPv4 forms, and what the lab may allow."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.netguard import ForbiddenTarget, check_target, classify

REFUSED = [
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"),
    ("fc00::1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.5.5.5", "loopback"),
    ("::1", "loopback"),
    ("169.254.1.1", "link_local"),
    ("fe80::1", "link_local"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("198.18.0.1", "reserved"),
    ("192.0.0.8", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("255.255.255.255", "broadcast"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("2001:db8::25", "documentation"),
    ("0.1.2.3", "this_network"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("2002:c0a8:0101::1", "private"),  # 6to4 of 192.168.1.1
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("192.0.0.192", "metadata"),
    ("2001:10::1", "reserved"),  # ORCHID, caught by the non-global fallback
    ("not-an-ip", "invalid"),
]


@pytest.mark.parametrize(("ip", "category"), REFUSED, ids=[f"{c}-{i}" for i, c in REFUSED])
def test_refused_by_default(ip: str, category: str) -> None:
    with pytest.raises(ForbiddenTarget) as info:
        check_target(ip)
    assert info.value.category == category
    assert info.value.ip == ip
    assert category in str(info.value)


@pytest.mark.parametrize(
    "ip",
    ["8.8.8.8", "2a00:1450:4010:c05::1b", "193.0.14.129", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(ip: str) -> None:
    check_target(ip)
    assert classify(ip) is None


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "192.168.0.10", "fd00::1", "100.64.1.1", "127.0.0.1", "::1", "192.0.2.1"]
)
def test_allow_private_admits_local_ranges(ip: str) -> None:
    check_target(ip, allow_private=True)


@pytest.mark.parametrize(
    "ip",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "100.100.100.200",
        "192.0.0.192",
        "::ffff:169.254.169.254",
    ],
)
def test_metadata_refused_even_when_private_allowed(ip: str) -> None:
    with pytest.raises(ForbiddenTarget) as info:
        check_target(ip, allow_private=True, allow_loopback=True)
    assert info.value.category == "metadata"


@pytest.mark.parametrize("ip", ["224.0.0.1", "255.255.255.255", "0.0.0.0", "::"])
def test_never_allowed_classes(ip: str) -> None:
    with pytest.raises(ForbiddenTarget):
        check_target(ip, allow_private=True, allow_loopback=True)


def test_allow_loopback_alone_admits_only_loopback() -> None:
    check_target("127.0.0.1", allow_loopback=True)
    check_target("::1", allow_loopback=True)
    with pytest.raises(ForbiddenTarget):
        check_target("10.0.0.1", allow_loopback=True)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.integers(min_value=0, max_value=2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
        st.integers(min_value=0, max_value=2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n))),
    ),
    st.booleans(),
)
def test_only_forbidden_target_is_raised(text: str, allow_private: bool) -> None:
    category = None
    try:
        check_target(text, allow_private=allow_private)
    except ForbiddenTarget as exc:
        category = exc.category
    if category is not None and allow_private:
        assert category not in ("private", "cgnat", "loopback", "documentation")
