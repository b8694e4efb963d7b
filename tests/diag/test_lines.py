"""diag.lines against the regular expressions it stands for."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from diag.lines import header_end, split_lines

PIECES = [b"\r", b"\n", b"\r\n", b"a", b" ", b"\r\r", b"\n\r", b":"]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
@example([])
@example([b"\r"])
@example([b"a", b"\r", b"\r\n"])
def test_split_lines_is_the_split_at_cr_lf(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert split_lines(data) == re.split(rb"\r?\n", data)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
@example([b"\n", b"\n"])
@example([b"\r\n", b"\r\n"])
@example([b"a", b"\r", b"\n", b"\r", b"\r", b"\n"])
@example([b"a", b"\n", b"\r", b"a", b"\n", b"\n"])
def test_header_end_is_the_first_empty_line(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    match = re.search(rb"\r?\n\r?\n", data)
    assert header_end(data) == (None if match is None else match.span())
