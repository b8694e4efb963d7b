import base64
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from maildiag.settings import (
    PLACEHOLDER_SECRET,
    SettingsError,
    load_settings,
    secret_key_problem,
)


def test_defaults_are_the_two_real_sender_identities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILDIAG_CONFIG", raising=False)
    settings = load_settings()
    assert [s.address for s in settings.senders] == [
        "do.not.reply@platform.visma.com",
        "do.not.reply@connect.visma.com",
    ]
    assert (settings.http_port, settings.smtp_port, settings.dns_port) == (8000, 2525, 5300)
    assert settings.lang == "nb"


def test_file_then_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "maildiag.toml"
    config.write_text('http_port = 8100\nsmtp_port = 2600\nlang = "en"\n', encoding="utf-8")
    monkeypatch.setenv("MAILDIAG_SMTP_PORT", "2700")
    settings = load_settings(config, lang="nb")
    assert settings.http_port == 8100  # file
    assert settings.smtp_port == 2700  # environment beats the file
    assert settings.lang == "nb"  # the command line beats both


def test_unreadable_config_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("http_port = = 1", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"bad\.toml"):
        load_settings(bad)


def test_invalid_value_is_a_settings_error(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text('lang = "de"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="lang"):
        load_settings(config)


@pytest.mark.parametrize("key", ["rate_limit_per_ip", "login_failures_per_address"])
def test_a_rate_limit_that_does_not_parse_is_a_settings_error(tmp_path: Path, key: str) -> None:
    config = tmp_path / "m.toml"
    config.write_text(f'{key} = "ten a minute"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=f"{key}.*is not a rate limit"):
        load_settings(config)
    config.write_text(f'{key} = "10 per 15 minutes"\n', encoding="utf-8")
    assert getattr(load_settings(config), key) == "10 per 15 minutes"


def test_trusted_proxies_are_addresses_or_networks(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text('trusted_proxies = ["10.0.0.0/8", "proxy.example"]\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"proxy\.example.*is not an IP address or network"):
        load_settings(config)
    config.write_text('trusted_proxies = ["10.0.0.0/8", "::1"]\n', encoding="utf-8")
    assert load_settings(config).trusted_proxies == ["10.0.0.0/8", "::1"]


def test_placeholder_secret_refused_outside_the_lab() -> None:
    settings = load_settings()
    assert settings.secret_key.get_secret_value() == PLACEHOLDER_SECRET
    with pytest.raises(SettingsError, match="secret_key"):
        settings.require_production_secrets()
    settings.model_copy(update={"lab": True}).require_production_secrets()


def test_secret_is_not_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "s3cret-value-xyz-" + secrets.token_urlsafe(32)
    monkeypatch.setenv("MAILDIAG_SECRET_KEY", key)
    settings = load_settings()
    assert key not in repr(settings)
    settings.require_production_secrets()


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "a" * 64,
        "ab" * 40,
        "0" * 80,
        "0123456789" * 7,
        "0123456789abcdef" * 4,
        "Kq3-vZ8_pL1x" * 4,
        "a-real-secret-for-this-test",
        secrets.token_hex(31),  # 62 hex digits: 248 bits
        secrets.token_urlsafe(31)[:42],  # 42 base64 characters: 252 bits
    ],
)
def test_weak_secret_key_refused_outside_the_lab(key: str) -> None:
    settings = load_settings().model_copy(update={"secret_key": SecretStr(key)})
    with pytest.raises(SettingsError, match="secret_key is too weak") as caught:
        settings.require_production_secrets()
    assert "\n" not in str(caught.value)
    assert "token_urlsafe(32)" in str(caught.value)
    assert len(key) < 8 or key not in str(caught.value)  # the key itself is never shown
    settings.model_copy(update={"lab": True}).require_production_secrets()


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(32),
        secrets.token_hex(32),
        base64.b64encode(secrets.token_bytes(32)).decode(),
        "correct horse battery staple, then 7 more words: " + secrets.token_urlsafe(8),
    ],
)
def test_strong_secret_key_accepted(key: str) -> None:
    assert secret_key_problem(key) is None
    settings = load_settings().model_copy(update={"secret_key": SecretStr(key)})
    settings.require_production_secrets()


def test_commands_beside_a_running_lab_use_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maildiag.lab.kit import lab_settings, prepare_lab

    data = tmp_path / "data"
    keys, _zone = prepare_lab(data)
    lab_settings(load_settings(data_dir=data).model_copy(update={"dns_port": 5399}), keys)
    monkeypatch.chdir(tmp_path)
    beside = load_settings()
    assert beside.nameservers == ["127.0.0.1:5399"]
    assert [s.address for s in beside.senders][-1] == "do.not.reply@legacy.visma.example"
    key_path = beside.senders[0].dkim_key_path
    assert key_path is not None
    assert key_path.is_file()
    # The command line still wins.
    assert load_settings(nameservers=["127.0.0.1:53"]).nameservers == ["127.0.0.1:53"]


def test_no_lab_marker_no_lab_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lab.toml").write_text('nameservers = ["127.0.0.1:1"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings().nameservers == []


def test_the_lab_legacy_identity_does_not_send_reset_mail(tmp_path: Path) -> None:
    from maildiag.lab.kit import lab_settings, prepare_lab

    keys, _zone = prepare_lab(tmp_path)
    lab = lab_settings(load_settings(data_dir=tmp_path), keys)
    assert [s.address for s in lab.senders][-1] == "do.not.reply@legacy.visma.example"
    assert [s.address for s in lab.reset_identities] == [
        "do.not.reply@platform.visma.com",
        "do.not.reply@connect.visma.com",
    ]


def test_outbox_lease_and_batch_reach_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm import sessionmaker

    from maildiag.outbox import build_worker

    monkeypatch.setenv("MAILDIAG_OUTBOX_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("MAILDIAG_OUTBOX_BATCH_SIZE", "7")
    settings = load_settings(data_dir=tmp_path)
    worker = build_worker(settings, sessionmaker())  # no database: the worker is not run
    assert (worker.lease.total_seconds(), worker.batch_size) == (2.5, 7)


def test_outbox_backoff_reaches_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.orm import sessionmaker

    from maildiag.outbox import build_worker

    monkeypatch.setenv("MAILDIAG_OUTBOX_RETRY_BASE_SECONDS", "1.5")
    monkeypatch.setenv("MAILDIAG_OUTBOX_RETRY_MAX_SECONDS", "4")
    worker = build_worker(load_settings(data_dir=tmp_path), sessionmaker())
    waits = [worker.retry.delay(n).total_seconds() for n in (1, 2, 3)]
    assert waits == [1.5, 3.0, 4.0]


@pytest.mark.parametrize(
    "line",
    [
        "outbox_lease_seconds = 0",
        "outbox_batch_size = 0",
        "outbox_retry_base_seconds = 0",
        "outbox_retry_max_seconds = -1",
    ],
)
def test_outbox_settings_out_of_range_are_settings_errors(tmp_path: Path, line: str) -> None:
    config = tmp_path / "m.toml"
    config.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=line.split()[0]):
        load_settings(config)
