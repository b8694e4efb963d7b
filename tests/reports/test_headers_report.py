"""The headers report's hop delays in text, Markdown and HTML: signed whole seconds, so a
server whose clock is behind shows as ``-15 s`` (never ``+-15.0 s``), and the clock-skew
finding's sentence names the skew without a double negative."""

from __future__ import annotations

import pytest

from diag.headers import parse_headers
from reports import headers_view, render_headers

HEADERS = (
    "Received: from b by c with LMTP; Tue, 1 Dec 2026 09:00:10 +0000\r\n"
    "Received: from a by b with ESMTP; Tue, 1 Dec 2026 09:59:52 +0100\r\n"
    "Received: from x by a with ESMTPS; Tue, 1 Dec 2026 04:00:07 EST\r\n"
    "Received: from app by x with ESMTP; Tue, 1 Dec 2026 10:00:00 +0100\r\n"
    "Subject: Tilbakestill passordet ditt\r\n\r\n"
)


def render(fmt: str, lang: str = "en") -> str:
    return render_headers(headers_view(parse_headers(HEADERS), lang=lang), fmt=fmt)


def test_text_delays_are_signed_whole_seconds() -> None:
    text = render("text")
    assert "2026-12-01T04:00:07-05:00 +7 s\n" in text
    assert "2026-12-01T09:59:52+01:00 -15 s\n" in text
    assert "2026-12-01T09:00:10+00:00 +18 s\n" in text
    assert "+-" not in text
    assert ".0 s" not in text


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [
        ("en", "Hop 3 (b) is dated 15 s before the previous one"),
        ("nb", "Steg 3 (b) er datert 15 s før forrige steg"),
    ],
)
def test_clock_skew_sentence(lang: str, sentence: str) -> None:
    assert sentence in render("text", lang)


def test_markdown_and_html_delays() -> None:
    markdown = render("markdown")
    assert "(-15 s)" in markdown
    assert "(+7 s)" in markdown
    html = render("html")
    assert '<span class="delay clock-skew">-15 s</span>' in html
    assert '<span class="delay">+18 s</span>' in html
    assert "+-" not in markdown + html
