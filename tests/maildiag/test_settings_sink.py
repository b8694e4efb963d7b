"""The sink's settings: finite numbers, the Host allowlist and the sink's API token."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from maildiag.settings import Settings, SettingsError, load_settings
from maildiag.sink.token import TOKEN_FILE, ensure_sink_token


@pytest.mark.parametrize(
    "line",
    [
        "sink_bounce_delay = inf",
        "sink_bounce_delay = nan",
        "sink_bounce_delay = 1e300",
        "sink_retention_days = inf",
        "dns_timeout = nan",
        "session_hours = inf",
        "[relay]\ntimeout = inf",
    ],
)
def test_a_number_setting_must_be_finite_and_bounded(tmp_path: Path, line: str) -> None:
    config = tmp_path / "m.toml"
    config.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=line.split()[0].strip("[]")):
        load_settings(config)


def test_the_token_file_is_made_once_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first, path = ensure_sink_token(settings)
    assert path == (tmp_path / "data" / TOKEN_FILE).resolve()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.sink_api_token is not None
    token = first.sink_api_token.get_secret_value()
    assert len(token) >= 43
    assert path.read_text().strip() == token
    again, same = ensure_sink_token(settings)
    assert same == path
    assert again.sink_api_token == first.sink_api_token
    assert token not in repr(again)


def test_a_configured_token_makes_no_file(tmp_path: Path) -> None:
    configured = Settings(data_dir=tmp_path, sink_api_token=SecretStr("c" * 40))
    settings, path = ensure_sink_token(configured)
    assert path is None
    assert settings is configured
    assert not (tmp_path / TOKEN_FILE).exists()


def test_a_token_file_others_can_read_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE
    path.write_text("t" * 43 + "\n")
    path.chmod(0o644)
    settings, _ = ensure_sink_token(Settings(data_dir=tmp_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.sink_api_token == SecretStr("t" * 43)


@pytest.mark.parametrize("content", ["", "short\n", "two words" + "x" * 40])
def test_an_unusable_token_file_is_a_settings_error(tmp_path: Path, content: str) -> None:
    (tmp_path / TOKEN_FILE).write_text(content)
    with pytest.raises(SettingsError, match="delete it"):
        ensure_sink_token(Settings(data_dir=tmp_path))


def test_a_short_configured_token_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(sink_api_token=SecretStr("too-short"))


def test_an_empty_token_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILDIAG_SINK_API_TOKEN", "")
    assert load_settings().sink_api_token is None
