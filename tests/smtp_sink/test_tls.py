"""STARTTLS material: a self-signed certificate generated once, or a configured one."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path

import pytest
from cryptography import x509

from smtp_sink import (
    ConfigError,
    SinkConfig,
    SinkServer,
    SinkStore,
    ensure_certificate,
    server_tls_context,
)
from tests.smtp_sink.helpers import client_tls, message


def test_certificate_is_generated_once(tmp_path: Path) -> None:
    cert, key = ensure_certificate(tmp_path / "tls", "mx.sink.example")
    first = cert.read_bytes()
    assert ensure_certificate(tmp_path / "tls", "mx.sink.example") == (cert, key)
    assert cert.read_bytes() == first
    assert key.stat().st_mode & 0o077 == 0
    parsed = x509.load_pem_x509_certificate(first)
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "mx.sink.example" in names.get_values_for_type(x509.DNSName)


def test_unreadable_certificate_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError) as info:
        server_tls_context(bad, bad)
    assert info.value.key == "tls"


async def test_configured_certificate_and_no_tls(tmp_path: Path, store: SinkStore) -> None:
    cert, key = ensure_certificate(tmp_path / "mine", "configured.example")
    configured = SinkConfig(tls_cert=cert, tls_key=key)
    async with SinkServer(store, config=configured) as sink, SinkServer(store) as plain:

        def run() -> tuple[bool, bool]:
            with smtplib.SMTP("127.0.0.1", sink.port) as client:
                client.starttls(context=client_tls())
                client.sendmail("a@x.example", ["k@kunde-ok.example"], message())
                der = client.sock.getpeercert(binary_form=True)
            with smtplib.SMTP("127.0.0.1", plain.port) as other:
                other.ehlo()
                plain_tls = other.has_extn("starttls")
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            return subject == "CN=configured.example", plain_tls

        assert await asyncio.to_thread(run) == (True, False)
    assert store.list()[0].tls is not None
