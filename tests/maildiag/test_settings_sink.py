"""The sink's settings: finite numbers, the Host allowlist and the sink's API token."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildiag.settings import SettingsError, load_settings


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
