"""Reset links masked in captured mail, whatever the encoding: the real reset mail
(quoted-printable splits its links across lines), base64, 8bit, a bounce carrying the original,
header fields, percent-encoded links; and a message that cannot be masked is refused."""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildiag.web.sink_mask import (
    MASK,
    MaskError,
    mask_json,
    mask_message_bytes,
    mask_text,
)
from tests.maildiag.sink_lab import RESET_TOKEN as TOKEN
from tests.maildiag.sink_lab import reset_mail

BASE = "https://konto.example.no"
LINK = f"{BASE}/reset-password?token={TOKEN}"


def readable(raw: bytes) -> str:
    """Everything a person or program could read out of ``raw``: the bytes with soft line
    breaks undone, every decoded part and every decoded header field."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    texts = [re.sub(rb"=\r?\n", b"", raw).decode("latin-1").replace("=3D", "=")]
    for part in message.walk():
        texts += [str(v) for v in part.values()]
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode("utf-8", "replace"))
    return "\n".join(texts)


def simple(body: bytes, cte: str, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"From: a@b.example\r\nTo: kari@kunde-ok.example\r\nSubject: x\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode() + body


def test_the_real_reset_mail_is_masked_in_both_parts() -> None:
    raw = reset_mail()
    assert TOKEN in readable(raw)
    assert TOKEN not in raw.decode("latin-1")  # quoted-printable split it
    masked, count = mask_message_bytes(raw)
    assert count == 2
    assert TOKEN not in readable(masked)
    assert TOKEN[:12] not in readable(masked)
    message = email.message_from_bytes(masked, policy=email.policy.default)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert f"{BASE}/reset-password?token={MASK}" in text.get_content()
    assert f'href="{BASE}/reset-password?token={MASK}"' in html.get_content()
    assert "Angi nytt passord" in html.get_content()
    assert message["Subject"] == "Tilbakestill passordet ditt"


def test_a_message_without_links_keeps_its_exact_bytes() -> None:
    raw = simple(b"Hei Kari,\r\nlenken kommer senere.\r\n", "8bit")
    assert mask_message_bytes(raw) == (raw, 0)


@pytest.mark.parametrize(
    ("body", "cte"),
    [
        (base64.encodebytes(f"Open {LINK} now\n".encode()), "base64"),
        (f"Open {LINK} now\r\n".encode(), "8bit"),
        (f"Open {LINK} now\r\n".encode(), "7bit"),
        (f"Åpne {LINK} nå\r\n".encode("utf-16"), "binary"),
    ],
)
def test_every_transfer_encoding(body: bytes, cte: str) -> None:
    charset = "utf-16" if cte == "binary" else "utf-8"
    raw = simple(body, cte, f"text/plain; charset={charset}")
    masked, count = mask_message_bytes(raw)
    assert count == 1
    part = email.message_from_bytes(masked, policy=email.policy.default)
    assert part["Content-Transfer-Encoding"] == cte
    assert f"reset-password?token={MASK}" in part.get_content()
    assert TOKEN not in masked.decode("latin-1")
    assert TOKEN.encode("utf-16")[2:] not in masked


def test_a_bounce_carrying_the_original_is_masked_inside() -> None:
    original = reset_mail()
    bounce = (
        b"From: MAILER-DAEMON@kunde-sprett.example\r\nTo: bounce+7@platform.visma.com\r\n"
        b"Subject: Undelivered\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nMailbox full.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.kunde-sprett.example\r\n\r\n"
        b"Final-Recipient: rfc822; kari@kunde-sprett.example\r\nAction: failed\r\n"
        b"Status: 5.2.2\r\n\r\n"
        b"--r\r\nContent-Type: message/rfc822\r\n\r\n" + original + b"\r\n--r--\r\n"
    )
    masked, count = mask_message_bytes(bounce)
    assert count == 2
    assert TOKEN not in readable(masked)
    assert b"Status: 5.2.2" in masked


def test_header_fields_and_encoded_words() -> None:
    encoded = email.header.Header(f"Se {LINK}", "utf-8").encode()
    assert "reset-password?token" not in encoded
    raw = (
        f"From: a@b.example\r\nSubject: {encoded}\r\nX-Link: <{LINK}>\r\n"
        "Content-Type: text/plain\r\n\r\nhei\r\n"
    ).encode()
    masked, count = mask_message_bytes(raw)
    assert count == 2
    assert TOKEN not in readable(masked)
    assert f"X-Link: <{BASE}/reset-password?token={MASK}>" in masked.decode()


@pytest.mark.parametrize(
    "text",
    [
        LINK,
        f"<a href='{BASE}/reset-password?lang=en&amp;token={TOKEN}'>x</a>",
        f"{BASE}/reset-password/?a=1&token={TOKEN}&b=2",
        "https://track.example/r?u="
        + LINK.replace(":", "%3A").replace("/", "%2F").replace("?", "%3F").replace("=", "%3D"),
        f"[reset]({LINK})",
        f"RESET-PASSWORD?TOKEN={TOKEN}",
    ],
)
def test_every_spelling_of_a_reset_link(text: str) -> None:
    masked, count = mask_text(text)
    assert count == 1
    assert TOKEN not in masked
    assert mask_text(masked) == (masked, 0)  # masking again finds nothing new


def test_other_links_are_left_alone() -> None:
    for text in (f"{BASE}/login?token={TOKEN}", f"{BASE}/reset-password?lang=en", "token=abc"):
        assert mask_text(text) == (text, 0)


def test_json_values_are_masked_all_the_way_down() -> None:
    value = {"headers": [{"name": "X-Link", "value": LINK}], "n": 3, "ok": True}
    masked, count = mask_json(value)
    assert count == 1
    assert TOKEN not in str(masked)
    assert masked["n"] == 3


def test_a_part_that_cannot_be_written_back_is_not_shown() -> None:
    uu = b"begin 644 x.txt\r\n" + _uu(f"Open {LINK}\n".encode()) + b"`\r\nend\r\n"
    raw = simple(uu, "x-uuencode")
    masked, count = mask_message_bytes(raw)
    assert count == 1
    assert TOKEN not in readable(masked)
    assert b"not shown" in masked or b"cannot rewrite" in masked


def _uu(data: bytes) -> bytes:
    import binascii

    return b"".join(binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45)).replace(
        b"\n", b"\r\n"
    )


def test_a_link_the_parts_do_not_reach_is_refused() -> None:
    # A link split by a soft line break in a part that claims no transfer encoding: no
    # decoder joins it, but the plain reading of the bytes still shows the link.
    raw = simple(f"{BASE}/reset-pass=\r\nword?token=3D{TOKEN}\r\n".encode(), "8bit")
    with pytest.raises(MaskError):
        mask_message_bytes(raw)


_bytes = st.binary(max_size=300)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=_bytes, after=_bytes, cte=st.sampled_from(["base64", "quoted-printable", "8bit"]))
def test_any_message_is_masked_or_refused(before: bytes, after: bytes, cte: str) -> None:
    body = before + LINK.encode() + after
    if cte == "base64":
        body = base64.encodebytes(body)
    elif cte == "quoted-printable":
        import quopri

        body = quopri.encodestring(body)
    raw = simple(body, cte, "text/plain; charset=utf-8")
    try:
        masked, count = mask_message_bytes(raw)
    except MaskError:
        return
    assert count >= 1
    assert TOKEN not in readable(masked)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_mask_error(raw: bytes) -> None:
    try:
        masked, _ = mask_message_bytes(raw)
    except MaskError:
        return
    assert isinstance(masked, bytes)
