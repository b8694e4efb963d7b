"""``json_key`` against the conversion it stands for: two values get equal keys exactly when
their ``jsonable`` forms print the same (property-based, over small alphabets so that equal
and nearly equal values are drawn often)."""

from __future__ import annotations

import datetime as dt
import math

from hypothesis import given
from hypothesis import strategies as st

from diag.findings import WARNING, Finding
from diag.jsonvalue import json_key, jsonable
from diag.senders.report import _dedupe

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, 2]),
    st.sampled_from([0.0, -0.0, 1.0, math.nan, math.inf]),
    st.sampled_from(["", "1", "1.0", "True", "a"]),
    st.sampled_from([b"", b"a", b"\xff"]),
    st.just(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    st.just("2026-01-02T03:04:05+00:00"),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2),
    ),
    max_leaves=6,
)


@given(_VALUES, _VALUES)
def test_equal_keys_exactly_for_equal_json(a: object, b: object) -> None:
    assert (json_key(a) == json_key(b)) == (repr(jsonable(a)) == repr(jsonable(b)))
    hash(json_key(a))


@given(_VALUES)
def test_a_value_and_its_json_form_have_one_key(value: object) -> None:
    assert json_key(value) == json_key(jsonable(value))


def test_findings_repeat_whatever_the_order_of_their_evidence() -> None:
    first = Finding("spf.x", WARNING, "x", {"domain": "a.example", "ips": ("192.0.2.1",)})
    again = Finding("spf.x", WARNING, "x", {"ips": ["192.0.2.1"], "domain": "a.example"})
    other = Finding("spf.x", WARNING, "x", {"domain": "a.example", "ips": ("192.0.2.2",)})
    count = Finding("spf.x", WARNING, "x", {"n": 1})
    flag = Finding("spf.x", WARNING, "x", {"n": True})
    assert _dedupe([first, again, other, count, flag]) == (first, other, count, flag)
