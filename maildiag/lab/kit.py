"""The lab's own data: its marker, DKIM keys, sender identities and DNS zone.

The lab's records are its own, never the live ones. Keys are generated once into the data
dir and reused, so a restarted lab keeps verifying mail it captured before. The legacy
identity's published DKIM key is a switch kept in the data dir (``maildiag lab dkim``); a
running lab DNS server follows it (``follow_lab_zone``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from diag.dkim import generate_keypair, public_key_record
from diag.resolver import ZoneData
from maildiag.lab.zones import LAB_EGRESS, build_lab_zone
from maildiag.settings import SenderIdentity, Settings, SettingsError, secret_key_problem

log = logging.getLogger(__name__)

MARKER = "LAB-DATA"
LAB_CONFIG = "lab.toml"  # the running lab's settings, for CLI commands run beside it
LAB_SECRET = "secret-key"  # noqa: S105 - a file name: the lab's own key, made at first start
LAB_SELECTOR = "lab2026"
LAB_PASSWORD = "Demo#2026lab"  # noqa: S105 - documented demo password, refused outside the lab
HEALTHY = ("platform.visma.com", "connect.visma.com")
BROKEN = "legacy.visma.example"
RSA_BITS = 2048
DKIM_RESTORED = "legacy-dkim-restored"  # present: legacy publishes the key it signs with
FOLLOW_SECONDS = 0.5  # how often a running lab DNS server looks at the switch


class LabDataError(SettingsError):
    """The data dir holds lab data but the app is not in lab mode (or the reverse)."""


@dataclass(frozen=True)
class LabKey:
    domain: str
    selector: str
    private_path: Path
    public_txt: str


def is_lab_data(data_dir: Path) -> bool:
    return (data_dir / MARKER).is_file()


def refuse_lab_data(data_dir: Path) -> None:
    """Raises LabDataError when ``data_dir`` holds lab data (outside ``--lab``)."""
    if is_lab_data(data_dir):
        raise LabDataError(
            f"{data_dir} holds the lab's demo data (well-known passwords); "
            "run with --lab or point --data at another directory"
        )


def prepare_lab(data_dir: Path) -> tuple[list[LabKey], ZoneData]:
    """Create (or reuse) the lab's data dir, keys and zone."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("This directory holds maildiag lab data.\n", encoding="utf-8")
    keys = [_ensure_key(data_dir, domain) for domain in (*HEALTHY, BROKEN)]
    published = {k.domain: (k.selector, k.public_txt) for k in keys}
    if not legacy_dkim_restored(data_dir):
        # The broken identity publishes a key that is not the one it signs with.
        wrong = _ensure_key(data_dir, "legacy-published.visma.example")
        published[BROKEN] = (LAB_SELECTOR, wrong.public_txt)
    return keys, build_lab_zone(published)


def legacy_dkim_restored(data_dir: Path) -> bool:
    """Whether the legacy identity publishes the key it signs with (not the planted fault)."""
    return (data_dir / DKIM_RESTORED).is_file()


def set_legacy_dkim(data_dir: Path, *, restored: bool) -> bool:
    """Publish the legacy identity's real key (``restored``) or the mismatched one (the lab's
    default fault) from now on; returns whether that changed anything. A running lab's DNS
    server serves the change within ``FOLLOW_SECONDS``. Raises OSError."""
    switch = data_dir / DKIM_RESTORED
    if restored == switch.is_file():
        return False
    if restored:
        switch.write_text("legacy.visma.example publishes its signing key\n", encoding="utf-8")
    else:
        switch.unlink()
    log.info("lab.legacy_dkim restored=%s", restored)
    return True


class ZoneServer(Protocol):
    def set_zone(self, zone: ZoneData) -> None: ...


async def follow_lab_zone(
    data_dir: Path, server: ZoneServer, every: float = FOLLOW_SECONDS
) -> None:
    """Serve the lab's zone anew on ``server`` whenever the DKIM switch changes; runs until
    cancelled."""
    served = legacy_dkim_restored(data_dir)
    while True:
        await asyncio.sleep(every)
        now = legacy_dkim_restored(data_dir)
        if now != served:
            _, zone = await asyncio.to_thread(prepare_lab, data_dir)
            server.set_zone(zone)
            served = now
            log.info("lab.zone_reloaded legacy_dkim_restored=%s", now)


def lab_senders(keys: list[LabKey]) -> list[SenderIdentity]:
    """The lab's sender identities: the two real ones, then the broken legacy one."""
    return [
        SenderIdentity(
            address=f"do.not.reply@{key.domain}",
            dkim_selectors=[key.selector],
            dkim_key_path=key.private_path,
            egress_ips=[LAB_EGRESS[key.domain]],
            helo=f"mail-out.{key.domain}",
            reset_mail=key.domain != BROKEN,
        )
        for key in keys
    ]


def _ensure_key(data_dir: Path, domain: str) -> LabKey:
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(exist_ok=True)
    path = (keys_dir / f"{domain}.{LAB_SELECTOR}.pem").resolve()
    if not path.is_file():
        path.write_bytes(generate_keypair("rsa-sha256", RSA_BITS).private_pem_or_seed)
        path.chmod(0o600)
        log.info("lab.key_generated domain=%s", domain)
    public_txt = public_key_record(path.read_bytes())
    return LabKey(domain, LAB_SELECTOR, path, public_txt)


def lab_secret_key(data_dir: Path) -> SecretStr:
    """The lab's secret key: made once (``secrets.token_urlsafe(32)``) into
    ``DATA/secret-key``, mode 0600, and read from there after, so a restarted lab keeps its
    sessions. Raises OSError when the file cannot be written or read."""
    path = data_dir / LAB_SECRET
    if not path.is_file():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n", encoding="ascii")
        log.info("lab.secret_key_generated path=%s", path)
    return SecretStr(path.read_text(encoding="ascii").strip())


def lab_settings(settings: Settings, keys: list[LabKey]) -> Settings:
    """``settings`` as the lab runs them: its DNS, its identities, loopback allowed, and its
    own secret key unless a strong one is configured.

    Also writes them to ``DATA/lab.toml`` (see ``write_lab_config``).
    """
    secret = settings.secret_key
    if secret_key_problem(secret.get_secret_value()) is not None:
        secret = lab_secret_key(settings.data_dir)
    lab = settings.model_copy(
        update={
            "lab": True,
            "secret_key": secret,
            "nameservers": [f"127.0.0.1:{settings.dns_port}"],
            "senders": lab_senders(keys),
            "allow_private_targets": True,
            "public_base_url": settings.public_base_url
            if settings.public_base_url != "http://127.0.0.1:8000"
            else f"http://127.0.0.1:{settings.http_port}",
        }
    )
    write_lab_config(lab)
    return lab


def write_lab_config(settings: Settings) -> Path:
    """Write the lab's settings to ``DATA/lab.toml``, so that CLI commands run beside the lab
    (same data dir) check the lab's identities through the lab's DNS server."""
    lines = [
        "# Written by `maildiag serve --lab`: the running lab's settings.",
        "lab = true",
        f"nameservers = [{_toml(settings.nameservers[0])}]",
        "allow_private_targets = true",
        f"smtp_host = {_toml(settings.smtp_host)}",
        f"smtp_port = {settings.smtp_port}",
        f"sink_proxy_port = {settings.sink_proxy_port}",
        f"public_base_url = {_toml(settings.public_base_url)}",
    ]
    for sender in settings.senders:
        lines += [
            "",
            "[[senders]]",
            f"address = {_toml(sender.address)}",
            f"dkim_selectors = [{', '.join(_toml(s) for s in sender.dkim_selectors)}]",
            *(
                [f"dkim_key_path = {_toml(str(sender.dkim_key_path))}"]
                if sender.dkim_key_path
                else []
            ),
            f"egress_ips = [{', '.join(_toml(ip) for ip in sender.egress_ips)}]",
            f"helo = {_toml(sender.helo)}",
            f"reset_mail = {'true' if sender.reset_mail else 'false'}",
        ]
    path = settings.data_dir / LAB_CONFIG
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: str) -> str:
    """A TOML basic string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
