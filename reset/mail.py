"""The reset mail and the "password changed" notice: rendering, headers, VERP bounce address.

Owns message construction from the templates in ``reset/templates``, rendered through the
product's one jinja2 Environment (``reports.environment``: autoescape for HTML,
StrictUndefined). Links are built from the configured public base URL,
never from a request's Host header. DKIM signing is a callable passed in; sending is
``reset.delivery``. Pure apart from the clock and Message-ID randomness the caller controls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from types import MappingProxyType
from urllib.parse import quote, urlsplit

from reports import environment
from reset.errors import BounceAddressError
from reset.models import LANGUAGES
from reset.secret import Secret

Signer = Callable[[bytes], bytes]

SENDER_IDENTITIES = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")
RESET_PATH = "/reset-password"
LOGIN_PATH = "/login"
REDACTED = "REDACTED"
SUBJECTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "reset": MappingProxyType(
            {"nb": "Tilbakestill passordet ditt", "en": "Reset your password"}
        ),
        "set_password": MappingProxyType(
            {
                "nb": "Angi passord for den nye kontoen din",
                "en": "Set the password for your new account",
            }
        ),
        "password_changed": MappingProxyType(
            {"nb": "Passordet ditt er endret", "en": "Your password has been changed"}
        ),
    }
)
# VERP: the outbox id travels in the envelope sender's local part (RFC 5321 §4.1.2 Local-part).
_VERP = re.compile(r"^bounce\+(?P<id>[0-9]{1,18})@(?P<domain>[A-Za-z0-9.-]+)$")


def verp_address(outbox_id: int, bounce_domain: str) -> str:
    """The envelope sender that brings a bounce back tagged: ``bounce+<id>@<domain>``."""
    return f"bounce+{int(outbox_id)}@{bounce_domain.lower()}"


def parse_verp_address(address: str) -> int:
    """The outbox id in a VERP bounce address (angle brackets allowed); pure.

    Raises BounceAddressError when ``address`` is not ``bounce+<digits>@domain``.
    """
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    match = _VERP.match(text)
    if match is None:
        raise BounceAddressError(address=address, reason="format")
    return int(match.group("id"))


@dataclasses.dataclass(frozen=True)
class ComposedMail:
    """A rendered message: ``raw`` to send (signed when a signer was given), ``redacted`` to keep.

    ``redacted`` is the same message with the token replaced, unsigned, so the outbox can keep a
    copy for support without keeping a working link.
    """

    raw: bytes = dataclasses.field(repr=False)
    redacted: bytes
    message_id: str
    mail_from: str
    recipient: str


class MailComposer:
    """Builds reset and notification mails for one sender identity.

    ``public_base_url`` is the configured external URL (``https://host[/prefix]``);
    ``sender`` one of the sender identities; ``bounce_domain`` the VERP domain.
    Raises ValueError for a base URL that is not ``http(s)://host[/path]``.
    """

    def __init__(
        self,
        *,
        public_base_url: str,
        sender: str,
        bounce_domain: str,
        sign: Signer | None = None,
        display_name: str = "Visma.net",
    ) -> None:
        parts = urlsplit(public_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"public_base_url must be http(s)://host[/path]: {public_base_url!r}")
        self.public_base_url = public_base_url.rstrip("/")
        self.sender = sender
        self.bounce_domain = bounce_domain
        self.sign = sign
        self.display_name = display_name
        self._env = environment()

    def bounce_address(self, outbox_id: int) -> str:
        """The VERP envelope sender for one outbox row."""
        return verp_address(outbox_id, self.bounce_domain)

    def reset_link(self, token: Secret | str) -> str:
        """``<base>/reset-password?token=...``: the only way a link is made."""
        raw = token.reveal() if isinstance(token, Secret) else token
        return f"{self.public_base_url}{RESET_PATH}?token={quote(raw, safe='')}"

    def reset_mail(
        self,
        *,
        to: str,
        token: Secret,
        language: str,
        outbox_id: int,
        now: dt.datetime,
        valid_for: dt.timedelta,
        kind: str = "reset",
    ) -> ComposedMail:
        """The "Angi nytt passord" mail for ``to``; ``kind="set_password"`` words it for a new
        account (same token and link)."""
        context = {"address": to, "minutes": int(valid_for.total_seconds() // 60)}
        real = {**context, "link": self.reset_link(token)}
        hidden = {**context, "link": self.reset_link(REDACTED)}
        return self._compose(kind, to, language, outbox_id, now, real, hidden)

    def password_changed_mail(
        self, *, to: str, language: str, outbox_id: int, now: dt.datetime, changed_at: dt.datetime
    ) -> ComposedMail:
        """The notice sent after a password change."""
        context = {
            "address": to,
            "changed_at": changed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "login_link": f"{self.public_base_url}{LOGIN_PATH}",
        }
        return self._compose("password_changed", to, language, outbox_id, now, context, context)

    def _compose(
        self,
        kind: str,
        to: str,
        language: str,
        outbox_id: int,
        now: dt.datetime,
        context: Mapping[str, object],
        redacted_context: Mapping[str, object],
    ) -> ComposedMail:
        lang = language if language in LANGUAGES else "nb"
        domain = self.sender.rpartition("@")[2]
        message_id = make_msgid(idstring=f"o{outbox_id}", domain=domain)
        headers = {
            "From": f"{self.display_name} <{self.sender}>",
            "To": to,
            "Subject": SUBJECTS[kind][lang],
            "Date": format_datetime(now.astimezone(dt.UTC)),
            "Message-ID": message_id,
            "Auto-Submitted": "auto-generated",  # RFC 3834 §5
        }
        raw = self._render(kind, lang, headers, context)
        redacted = self._render(kind, lang, headers, redacted_context)
        if self.sign is not None:
            raw = self.sign(raw)
        return ComposedMail(
            raw=raw,
            redacted=redacted,
            message_id=message_id,
            mail_from=verp_address(outbox_id, self.bounce_domain),
            recipient=to,
        )

    def _render(
        self, kind: str, lang: str, headers: dict[str, str], context: Mapping[str, object]
    ) -> bytes:
        values = {**context, "sender": self.sender, "subject": headers["Subject"]}
        msg = EmailMessage(policy=SMTP)
        for name, value in headers.items():
            msg[name] = value
        msg.set_content(
            self._env.get_template(f"reset/{kind}_{lang}.txt").render(values),
            cte="quoted-printable",
        )
        html = self._env.get_template(f"reset/{kind}_{lang}.html").render(values)
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        return msg.as_bytes()
