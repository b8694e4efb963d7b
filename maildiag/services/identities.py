"""Our sender identities as diag sees them: the configured identities made ``SenderSpec``
values (the DKIM key read from its file), and which of them reset mail is sent as.
"""

from __future__ import annotations

from diag.senders import SenderSpec
from maildiag.settings import SenderIdentity, Settings

MAX_KEY_BYTES = 64 * 1024  # a PEM private key is a few KiB


def sender_spec(identity: SenderIdentity) -> SenderSpec:
    """The diag value for a configured identity, its DKIM key read from ``dkim_key_path``."""
    key, error = None, ""
    if identity.dkim_key_path is not None:
        try:
            with identity.dkim_key_path.open("rb") as handle:
                key = handle.read(MAX_KEY_BYTES + 1)
        except OSError as exc:
            error = f"{identity.dkim_key_path}: {exc.strerror or exc}"
        if key is not None and len(key) > MAX_KEY_BYTES:
            key, error = None, f"{identity.dkim_key_path}: larger than {MAX_KEY_BYTES} bytes"
    return SenderSpec(
        address=identity.address,
        envelope_domain=identity.envelope,
        dkim_domain=identity.signing_domain,
        selectors=tuple(identity.dkim_selectors),
        private_key=key,
        algorithm=identity.dkim_algorithm,
        egress_ips=tuple(identity.egress_ips),
        helo=identity.helo,
        key_error=error,
    )


def reset_identities(settings: Settings) -> list[SenderIdentity]:
    """The configured identities reset mail is sent as (``reset_mail``; the lab's extra
    broken identity is not one of them)."""
    return list(settings.reset_identities)


def sender_addresses(settings: Settings) -> list[str]:
    """The addresses reset mail comes from, for the advice and the allowlisting steps."""
    return [i.address for i in reset_identities(settings)]
