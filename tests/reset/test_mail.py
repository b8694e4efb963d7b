"""The reset mail and the change notice: parts, headers, link, escaping, VERP, signing."""

from __future__ import annotations

import datetime as dt
import email
from email.message import EmailMessage
from email.policy import default

import jinja2
import pytest

import reports
import reset

SENDER = "do.not.reply@platform.visma.com"


def composer(**kwargs: object) -> reset.MailComposer:
    options: dict[str, object] = {
        "public_base_url": "https://reset.visma.example/",
        "sender": SENDER,
        "bounce_domain": "Bounces.Platform.Visma.com",
    }
    options.update(kwargs)
    return reset.MailComposer(**options)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def reset_mail(c: reset.MailComposer, lang: str = "nb", to: str = "kari@kunde-ok.example"):  # type: ignore[no-untyped-def]
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    token = reset.Secret("tok-ABC_123")
    mail = c.reset_mail(
        to=to,
        token=token,
        language=lang,
        outbox_id=42,
        now=now,
        valid_for=dt.timedelta(minutes=30),
    )
    return mail


def test_norwegian_reset_mail_has_both_parts_and_the_link() -> None:
    mail = reset_mail(composer())
    message = parse(mail.raw)
    assert message["Subject"] == "Tilbakestill passordet ditt"
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message["To"] == "kari@kunde-ok.example"
    assert message["Message-ID"] == mail.message_id
    assert mail.message_id.endswith("@platform.visma.com>")
    assert message["Date"].datetime == dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    assert message.get_content_type() == "multipart/alternative"
    text, html = bodies(message)
    link = "https://reset.visma.example/reset-password?token=tok-ABC_123"
    assert link in text
    assert f'<a href="{link}">Angi nytt passord</a>' in html
    assert "30 minutter" in text


def test_english_mail() -> None:
    message = parse(reset_mail(composer(), lang="en").raw)
    assert message["Subject"] == "Reset your password"
    assert "Set a new password" in bodies(message)[1]


def test_unknown_language_falls_back_to_norwegian() -> None:
    assert parse(reset_mail(composer(), lang="xx").raw)["Subject"] == "Tilbakestill passordet ditt"


def test_envelope_sender_is_a_verp_address() -> None:
    mail = reset_mail(composer())
    assert mail.mail_from == "bounce+42@bounces.platform.visma.com"
    assert reset.parse_verp_address(mail.mail_from) == 42
    assert reset.parse_verp_address("<bounce+7@b.example>") == 7


@pytest.mark.parametrize(
    "address", ["", "bounce@b.example", "bounce+x@b.example", "other+1@b.example", "bounce+1"]
)
def test_foreign_bounce_addresses_are_refused(address: str) -> None:
    with pytest.raises(reset.BounceAddressError):
        reset.parse_verp_address(address)


def test_the_redacted_copy_holds_no_working_link() -> None:
    mail = reset_mail(composer())
    assert b"tok-ABC_123" not in mail.redacted
    assert "tok-ABC_123" not in repr(mail)
    assert "token=REDACTED" in bodies(parse(mail.redacted))[0]
    assert parse(mail.redacted)["Message-ID"] == mail.message_id


def test_html_is_escaped_text_is_not() -> None:
    mail = reset_mail(composer(), to='"<script>x</script>"@kunde-ok.example')
    text, html = bodies(parse(mail.raw))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<script>" in text


def test_the_signer_sees_the_final_message() -> None:
    seen: list[bytes] = []

    def sign(raw: bytes) -> bytes:
        seen.append(raw)
        return b"DKIM-Signature: v=1; test\r\n" + raw

    mail = reset_mail(composer(sign=sign))
    assert mail.raw.startswith(b"DKIM-Signature: v=1; test\r\n")
    assert seen[0] == mail.raw.removeprefix(b"DKIM-Signature: v=1; test\r\n")
    assert not mail.redacted.startswith(b"DKIM")


def test_password_changed_notice() -> None:
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    mail = composer().password_changed_mail(
        to="kari@kunde-ok.example", language="nb", outbox_id=9, now=now, changed_at=now
    )
    message = parse(mail.raw)
    assert message["Subject"] == "Passordet ditt er endret"
    text, html = bodies(message)
    assert "2026-11-26 12:00" in text
    assert "https://reset.visma.example/login" in html
    assert mail.mail_from == "bounce+9@bounces.platform.visma.com"


@pytest.mark.parametrize("base", ["reset.visma.example", "ftp://x.example", "https://x/?a=b", ""])
def test_base_url_must_be_an_http_url(base: str) -> None:
    with pytest.raises(ValueError, match="public_base_url"):
        composer(public_base_url=base)


def test_link_uses_only_the_configured_base() -> None:
    c = composer(public_base_url="https://login.visma.example/app")
    assert c.reset_link(reset.Secret("a/b")) == (
        "https://login.visma.example/app/reset-password?token=a%2Fb"
    )


def test_environment_is_strict_and_autoescapes() -> None:
    env = reports.environment()
    assert isinstance(env.undefined, type)
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("reset/reset_nb.txt").render(
            address="a", minutes=1, sender="s", subject="x"
        )
    assert env.autoescape("x.html") is True  # type: ignore[operator]
    assert env.autoescape("x.txt") is False  # type: ignore[operator]


def test_sender_identities_are_the_seed_ones() -> None:
    assert reset.SENDER_IDENTITIES == (
        "do.not.reply@platform.visma.com",
        "do.not.reply@connect.visma.com",
    )
