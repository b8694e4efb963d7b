"""The sink's API token: the configured ``sink_api_token``, or one made at first start and kept
in ``<data dir>/sink-api-token`` (mode 0600), so a restarted sink keeps its token.

Only the file's path is ever printed or logged, never the token.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr

from maildiag.settings import MIN_TOKEN_CHARS, Settings, SettingsError

log = logging.getLogger(__name__)

TOKEN_FILE = "sink-api-token"  # noqa: S105 - the file name, not a token
TOKEN_BYTES = 32  # 256 bits, 43 characters of URL-safe base64
_MAX_FILE = 4096


def _create(path: Path) -> None:
    """Write a fresh token to ``path``, readable by the owner only; no error when another
    process made the file first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
    log.info("sink.token_created path=%s", path)


def _read(path: Path) -> SecretStr:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)
        log.warning("sink.token_mode_fixed path=%s was=%o", path, mode)
    with path.open(encoding="ascii", errors="replace") as handle:
        token = handle.read(_MAX_FILE).strip()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise SettingsError(
            f"{path} does not hold a usable token (one line of at least {MIN_TOKEN_CHARS} "
            "characters); delete it to have a new one made"
        )
    return SecretStr(token)


def ensure_sink_token(settings: Settings) -> tuple[Settings, Path | None]:
    """``settings`` with ``sink_api_token`` set, and the token file's path when the token is
    kept there (None when it was configured).

    Raises SettingsError when the file cannot be made or read, or holds no usable token.
    """
    if settings.sink_api_token is not None:
        return settings, None
    path = (settings.data_dir / TOKEN_FILE).resolve()
    try:
        _create(path)
        token = _read(path)
    except OSError as exc:
        raise SettingsError(f"cannot keep the sink's API token in {path}: {exc}") from exc
    return settings.model_copy(update={"sink_api_token": token}), path


__all__ = ["TOKEN_FILE", "ensure_sink_token"]
