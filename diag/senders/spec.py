"""What a sender identity is, as plain values: the address, the envelope and signing domains,
the DKIM selectors and key, the egress IPs and HELO name. Nothing here does I/O.

The composition root turns its settings into ``SenderSpec`` values; this package never reads
settings or key files itself.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field

# Selectors tried for a domain that has no configured identity: the defaults of common signers
# (OpenDKIM "default", Microsoft 365 "selector1"/"selector2", Google Workspace "google",
# Mailchimp "k1", Amazon SES/others "s1"/"s2", and the generic "dkim" and "mail").
COMMON_SELECTORS = ("default", "selector1", "selector2", "google", "k1", "s1", "s2", "dkim", "mail")
SAMPLE_RECIPIENT = "kari@kunde-ok.example"
SAMPLE_TOKEN = "SAMPLE-not-a-real-token"  # noqa: S105 - a placeholder shown in the sample link


@dataclass(frozen=True)
class SenderSpec:
    """One identity mail is sent as.

    ``private_key`` is the DKIM signing key (PEM for RSA, the base64 seed for Ed25519), or
    ``None`` when none is configured; ``key_error`` says why a configured key could not be read.
    Empty ``envelope_domain``/``dkim_domain`` mean the From address's domain.
    """

    address: str
    envelope_domain: str = ""
    dkim_domain: str = ""
    selectors: tuple[str, ...] = ()
    private_key: bytes | None = field(default=None, repr=False)
    algorithm: str = "rsa-sha256"
    egress_ips: tuple[str, ...] = ()
    helo: str = ""
    key_error: str = ""

    @property
    def domain(self) -> str:
        """The From (author) domain."""
        return self.address.rpartition("@")[2].strip().rstrip(".").lower()

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0] or "postmaster"

    @property
    def envelope(self) -> str:
        """The MAIL FROM domain (SPF's identity, and where bounces go)."""
        return (self.envelope_domain or self.domain).strip().rstrip(".").lower()

    @property
    def mail_from(self) -> str:
        return f"{self.local_part}@{self.envelope}"

    @property
    def signing_domain(self) -> str:
        """The DKIM d= domain."""
        return (self.dkim_domain or self.domain).strip().rstrip(".").lower()


def sample_reset_mail(
    spec: SenderSpec, *, now: float, base_url: str = "https://login.example"
) -> bytes:
    """A password-reset mail as the identity sends it, for signing and verifying. Pure."""
    date = email.utils.formatdate(now, usegmt=True)
    lines = [
        f"From: {spec.address}",
        f"To: {SAMPLE_RECIPIENT}",
        "Subject: Tilbakestill passordet ditt / Reset your password",
        f"Date: {date}",
        f"Message-ID: <sample.{int(now)}@{spec.domain}>",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
        "",
        "Hei,",
        "",
        "Følg lenken for å velge et nytt passord / Follow the link to choose a new password:",
        f"{base_url}/reset-password?token={SAMPLE_TOKEN}",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")
