"""The one Settings object: read from a TOML file and MAILDIAG_* variables, passed down.

Libraries never read settings; this module is where configuration enters the program.
Outside the lab, placeholder secrets are refused.
"""

from __future__ import annotations

import ipaddress
import os
import re
import string
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import limits
from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from diag.names import MAX_NAME_LENGTH
from diag.resolver import parse_nameserver
from smtp_sink import MAX_WINDOW

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the placeholder that is refused outside the lab
SECRET_KEY_BITS = 256  # 32 random bytes: the CSRF, captcha and session keys derive from it
MIN_DISTINCT_HEX = 12  # a random 64-digit hex key has fewer with odds of about 1e-7
MIN_DISTINCT_OTHER = 16  # a random 43-character base64 key has about 31 (fewer than 16: ~1e-9)
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'  # noqa: S105 - advice
_HEX = frozenset(string.hexdigits)
DEFAULT_PROBE_LIMIT = "10/10 minutes"  # SMTP probes of one mail server, by all users together
LAB_PROBE_LIMIT = "120/minute"  # the lab's MX hosts are all its own sink on 127.0.0.1
CONFIG_ENV = "MAILDIAG_CONFIG"
MIN_TOKEN_CHARS = 32  # a bearer token an attacker cannot guess (about 190 bits in base64)
DEFAULT_CONFIG = Path("maildiag.toml")


class SettingsError(ValueError):
    """Configuration that cannot be used; the message names the setting."""


_HOST_NAME = re.compile(r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,62})\.?)+$")


def host_pattern(value: str) -> str:
    """``value`` as an ``allowed_hosts`` entry: lower case, an IPv6 address in brackets, no
    port. Raises ValueError naming the entry for anything else."""
    text = value.strip().lower()
    if text == "*":
        return text
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    if len(text) > MAX_NAME_LENGTH or not _HOST_NAME.match(text):
        raise ValueError(
            f"{value!r} is not a host name, an IP address or '*.domain' "
            "(write it without scheme or port; the port is not compared)"
        )
    return text.rstrip(".")


class SenderIdentity(BaseModel):
    """One identity reset mails are sent as."""

    address: str
    envelope_domain: str = ""
    dkim_domain: str = ""
    dkim_selectors: list[str] = Field(default_factory=list)
    dkim_key_path: Path | None = None
    dkim_algorithm: Literal["rsa-sha256", "ed25519-sha256"] = "rsa-sha256"
    egress_ips: list[str] = Field(default_factory=list)
    helo: str = ""
    # False for identities kept only to demonstrate faults (the lab's legacy sender): they are
    # reported by `maildiag sender` and `test-send --sender`, but the checklist and the
    # default test send cover only the identities that send reset mails.
    reset_mail: bool = True

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    @property
    def envelope(self) -> str:
        return (self.envelope_domain or self.domain).lower()

    @property
    def signing_domain(self) -> str:
        return (self.dkim_domain or self.domain).lower()


def default_senders() -> list[SenderIdentity]:
    return [
        SenderIdentity(address="do.not.reply@platform.visma.com"),
        SenderIdentity(address="do.not.reply@connect.visma.com"),
    ]


class Relay(BaseModel):
    """The SMTP relay the outbox sends through."""

    model_config = ConfigDict(allow_inf_nan=False)

    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: SecretStr = SecretStr("")
    timeout: float = 30.0
    helo: str = ""  # the name given in EHLO/HELO (empty: this machine's name)
    # Declare this source address in a PROXY v1 header after connecting: only for a relay that
    # trusts PROXY headers from us, as the lab's sink does (the lab sets it to the reset sender's
    # egress address, so the sink judges SPF as a receiver would).
    proxy_source: IPvAnyAddress | None = None


class Settings(BaseSettings):
    """Everything the service can be told. Environment variables use the MAILDIAG_ prefix."""

    model_config = SettingsConfigDict(
        env_prefix="MAILDIAG_", env_nested_delimiter="__", extra="forbid", allow_inf_nan=False
    )

    lab: bool = False
    data_dir: Path = Path("data")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    dns_port: int = 5300
    nameservers: list[str] = Field(default_factory=list)
    dns_timeout: float = 2.0
    lang: Literal["nb", "en"] = "nb"
    database_url: str = ""
    redis_url: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    # Host headers the web apps answer (no port; "*.example.no" and "*" allowed); empty: the
    # public_base_url's host and the names of the bound address (see maildiag.web.hosts)
    allowed_hosts: list[str] = Field(default_factory=list)
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    senders: list[SenderIdentity] = Field(default_factory=default_senders)
    reset_sender: str = "do.not.reply@platform.visma.com"
    relay: Relay = Field(default_factory=Relay)
    # The outbox worker: a claim on outbox rows lives this long unless the worker's heartbeat
    # (every third of it) renews it; one claim takes at most outbox_batch_size rows.
    outbox_lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    outbox_batch_size: int = Field(default=20, ge=1, le=1000)
    # Backoff after a 4xx or a failed connection: the first wait, doubled per attempt up to
    # the longest (the lab uses 5 s and 1 minute whatever these say).
    outbox_retry_base_seconds: float = Field(default=60.0, ge=0.1, le=86_400.0)
    outbox_retry_max_seconds: float = Field(default=3600.0, ge=0.1, le=86_400.0)
    allow_private_targets: bool = False
    dnsbl_zones: list[str] = Field(default_factory=list)
    # the watch on our identities (``maildiag watch``, and the worker every interval; 0: the
    # worker does not watch); events (pass to fail, or back) are POSTed to the webhook, if set
    watch_interval_seconds: float = Field(default=3600.0, ge=0, le=7 * 24 * 3600)
    watch_webhook_url: str = ""
    watch_webhook_timeout: float = Field(default=10.0, gt=0, le=120)
    reset_token_minutes: int = 30
    rate_limit_per_ip: str = "30/minute"
    rate_limit_per_address: str = "3/15 minutes"
    login_failures_per_ip: str = "50/15 minutes"
    login_failures_per_address: str = "10/15 minutes"
    # The domain check (/check, GET /api/v1/check) for a signed-in support or admin account,
    # counted per account apart from everyone else's (who keep the two limits above)
    check_limit_staff_per_account: str = "60/minute"
    check_limit_staff_per_domain: str = "30/15 minutes"
    # SMTP probes of one mail server (its MX name and each of its addresses), all users
    # together; None: 10 per 10 minutes (120 per minute in the lab, whose MX are all the sink)
    probe_limit_per_target: str | None = None
    max_input_bytes: int = 1_000_000
    captcha_kind: Literal["altcha", "recaptcha", "hcaptcha", "turnstile"] = "altcha"
    captcha_site_key: str = ""
    captcha_secret: SecretStr = SecretStr("")
    captcha_siteverify_url: str = ""  # empty: the provider's public siteverify URL
    # ALTCHA work: None means 100000 (2000 in the lab, so the demo solves at once).
    altcha_max_number: int | None = Field(default=None, ge=10, le=10_000_000)
    password_min_length: int = Field(default=8, ge=1, le=128)
    password_min_upper: int = Field(default=1, ge=0, le=32)
    password_min_lower: int = Field(default=1, ge=0, le=32)
    password_min_digit: int = Field(default=1, ge=0, le=32)
    password_min_special: int = Field(default=1, ge=0, le=32)
    password_refuse_common: bool = True
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    # The SMTP sink (``maildiag sink``, and inside ``serve --lab``).
    sink_max_message_size: int = Field(default=10 * 1024 * 1024, ge=1024)
    sink_retention_days: float = Field(default=14.0, ge=0, le=36_500)  # 0: keep forever
    sink_retention_count: int = Field(default=100_000, ge=0)  # 0: no cap on the count
    sink_policy_file: Path | None = None  # TOML/YAML policies; in the lab, on top of the demo's
    sink_bounce_addresses: list[str] = Field(default_factory=list)  # empty: bounce+*@<sender>
    # where receivers send DMARC and TLS reports to the sink (fnmatch patterns; mail to them is
    # imported); empty: none, in the lab dmarc-reports@ and tls-reports@visma.example
    sink_report_addresses: list[str] = Field(default_factory=list)
    sink_judge: bool = True  # judge mail as a receiver (SPF, DKIM, DMARC, ARC)
    # judge worker processes; 0: in a thread of the sink; "auto": 1 when there are 2 or more CPUs
    sink_judge_processes: Literal["auto"] | Annotated[int, Field(ge=0, le=64)] = "auto"
    sink_bounce_delay: float = Field(default=60.0, ge=0, le=MAX_WINDOW)  # kunde-sprett, seconds
    sink_proxy_port: int = Field(default=0, ge=0, le=65535)  # PROXY-protocol listener (0: any)
    sink_proxy_trusted: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1"])
    # open SMTP connections per sink listener, in all and per client address (a PROXY
    # listener counts the client its header names); seconds a client may idle before its
    # first command (after it, RFC 5321's five minutes)
    sink_max_connections: int = Field(default=100, ge=1, le=100_000)
    sink_max_connections_per_client: int = Field(default=20, ge=1, le=100_000)
    sink_first_command_timeout: float = Field(default=30.0, gt=0, le=300)
    # Bearer token for the sink's pages and API (acts with the admin role); unset: made once
    # and kept in <data_dir>/sink-api-token, mode 0600 (maildiag.sink.token)
    sink_api_token: SecretStr | None = None
    # reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the web app believes (IPs or
    # networks); empty: the client is the socket's peer
    trusted_proxies: list[str] = Field(default_factory=list)
    # seconds each part (database, Redis, relay) has to answer /readyz and ``maildiag ready``
    readiness_timeout: float = Field(default=2.0, gt=0, le=60)
    # JSON: one JSON object per line per log event, with the request's id (MAILDIAG_LOG_FORMAT)
    log_format: Literal["text", "json"] = "text"
    # client addresses or networks that may read /metrics (others get 404)
    metrics_allow: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1"])

    @field_validator("nameservers")
    @classmethod
    def _nameservers(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_nameserver(entry)  # ValueError: the reason, as the command line shows it
        return value

    @field_validator("watch_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        if value and not urlsplit(value).hostname:
            raise ValueError(f"{value!r} names no host")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (such as 10.0.0.0/8)"
                ) from None
        return value

    @field_validator(
        "rate_limit_per_ip",
        "rate_limit_per_address",
        "login_failures_per_ip",
        "login_failures_per_address",
        "check_limit_staff_per_account",
        "check_limit_staff_per_domain",
        "probe_limit_per_target",
    )
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            limits.parse(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate limit: write it as '30/minute' or '3 per 15 minutes'"
            ) from None
        return value

    @field_validator("sink_api_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("sink_api_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_TOKEN_CHARS:
            raise ValueError(f"the sink's API token must be at least {MIN_TOKEN_CHARS} characters")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, value: list[str]) -> list[str]:
        return [host_pattern(entry) for entry in value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @property
    def database(self) -> str:
        """The SQLAlchemy URL: the configured one, or a SQLite file in the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'maildiag.sqlite3'}"

    @property
    def probe_limit(self) -> str:
        """How often one mail server may be probed: ``probe_limit_per_target`` or its default."""
        if self.probe_limit_per_target is not None:
            return self.probe_limit_per_target
        return LAB_PROBE_LIMIT if self.lab else DEFAULT_PROBE_LIMIT

    @property
    def reset_identities(self) -> list[SenderIdentity]:
        """The identities reset mails are sent as (the checklist's and test send's default)."""
        return [s for s in self.senders if s.reset_mail]

    def sender(self, address: str) -> SenderIdentity | None:
        wanted = address.strip().lower()
        return next((s for s in self.senders if s.address.lower() == wanted), None)

    def require_production_secrets(self) -> None:
        """Raises SettingsError (one line) when, outside the lab, ``secret_key`` is the
        placeholder or weaker than 32 random bytes (see ``secret_key_problem``)."""
        if self.lab:
            return
        value = self.secret_key.get_secret_value()
        if value in ("", PLACEHOLDER_SECRET):
            raise SettingsError(
                "secret_key is the placeholder; set MAILDIAG_SECRET_KEY "
                f"(only the lab may run without one); make one with: {MAKE_SECRET}"
            )
        problem = secret_key_problem(value)
        if problem is not None:
            raise SettingsError(
                f"secret_key is too weak: {problem}; it needs 32 random bytes, "
                f"make one with: {MAKE_SECRET}"
            )


def secret_key_problem(value: str) -> str | None:
    """Why ``value`` is not at least 32 bytes of random key material, or None. Pure.

    The rule: 256 bits counted at 4 bits per character for a key of hex digits (64 or
    more) and at 6 bits per character otherwise, as for base64 (43 or more, which is what
    ``secrets.token_urlsafe(32)`` gives); and it must not look made by hand: at least 12
    different characters in a hex key, 16 in any other, and not a shorter string repeated,
    so ``"a" * 64``, ``"0123456789" * 7`` or ``"0123456789abcdef" * 4`` fail.
    """
    chars = set(value)
    hex_key = chars <= _HEX
    bits_per_char = 4 if hex_key else 6
    needed = -(-SECRET_KEY_BITS // bits_per_char)
    if len(value) < needed:
        kind = "hex digits" if hex_key else "characters"
        return f"it has {len(value)} {kind}, at least {needed} are needed"
    distinct = MIN_DISTINCT_HEX if hex_key else MIN_DISTINCT_OTHER
    if len(chars) < distinct:
        return f"it uses {len(chars)} different characters, at least {distinct} are needed"
    if _repeats(value):
        return "it is a shorter string repeated"
    return None


def _repeats(value: str) -> bool:
    """True when ``value`` is some shorter string written again and again (maybe cut)."""
    return any(value[period:] == value[:-period] for period in range(1, len(value) // 2 + 1))


def load_settings(
    config: Path | None = None, *, running_lab: bool = True, **overrides: Any
) -> Settings:
    """Settings from the TOML file (``config``, $MAILDIAG_CONFIG or ./maildiag.toml), the
    environment, then ``overrides`` (command-line options), later ones winning. Without a
    config file, and when ``running_lab``, a running lab's ``lab.toml`` in the data dir comes
    before the environment.

    Raises SettingsError for an unreadable file or invalid values.
    """
    path = config or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    data: dict[str, Any] = {}
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from exc
    try:
        env_values = Settings().model_dump(exclude_unset=True) if _has_env() else {}
        given = {k: v for k, v in overrides.items() if v is not None}
        data_dir = Path({**data, **env_values, **given}.get("data_dir", "data"))
        lab = _running_lab(data_dir) if path is None and running_lab else {}
        return Settings(**{**data, **lab, **env_values, **given})
    except ValueError as exc:
        first = str(exc).splitlines()
        raise SettingsError("invalid settings: " + " ".join(first[:3])) from exc


def _running_lab(data_dir: Path) -> dict[str, Any]:
    """The settings a running lab wrote into ``data_dir`` (``lab.toml`` beside its marker).

    This lets ``maildiag sender`` and the other commands, run beside ``maildiag serve --lab``,
    check the lab's own identities through the lab's DNS server without further options.
    An explicit ``--config`` file, the environment and command-line options still win.
    """
    config = data_dir / "lab.toml"
    if not (data_dir / "LAB-DATA").is_file() or not config.is_file():
        return {}
    try:
        return tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read the lab's settings {config}: {exc}") from exc


def _has_env() -> bool:
    return any(key.startswith("MAILDIAG_") for key in os.environ)
