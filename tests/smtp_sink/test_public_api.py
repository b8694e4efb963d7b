"""The package's public surface: ``__all__`` is honest and holds what the app builds on."""

from __future__ import annotations

import importlib
import pkgutil

import smtp_sink

EXPECTED = {
    "SinkServer",
    "SinkStore",
    "SinkConfig",
    "metadata",
    "build_metadata",
    "create_store_engine",
    "Policy",
    "PolicyBook",
    "load_policies",
    "parse_policies",
    "Verdict",
    "EnvelopeFacts",
    "TlsFacts",
    "BounceReport",
    "parse_bounce",
    "build_dsn",
    "smtp_deliverer",
    "CapturedMessage",
    "Mailbox",
    "SinkError",
    "ConfigError",
    "StoreError",
}


def test_all_is_honest() -> None:
    assert len(smtp_sink.__all__) == len(set(smtp_sink.__all__))
    assert smtp_sink.__all__ == sorted(smtp_sink.__all__, key=lambda n: (not n.isupper(), n))
    for name in smtp_sink.__all__:
        assert hasattr(smtp_sink, name), name
    assert set(smtp_sink.__all__) >= EXPECTED


def test_every_module_has_a_docstring() -> None:
    for info in pkgutil.iter_modules(smtp_sink.__path__):
        module = importlib.import_module(f"smtp_sink.{info.name}")
        assert (module.__doc__ or "").strip(), info.name
