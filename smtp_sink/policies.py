"""Recipient behaviour: per-domain and per-address policies, read from TOML/YAML or set at run time.

A ``Policy`` says what the sink does for one recipient: accept, reject (at MAIL FROM, RCPT or
end of DATA), greylist, disconnect, file as junk unless the sender is allowlisted, or accept
and bounce later. Delay and a temporary-failure probability apply on top of any action.
``PolicyBook`` holds them; an address policy beats its domain's, which beats the default.
Parsing is pure; only ``load_policies`` reads a file.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from smtp_sink.errors import ConfigError

_REPLY = re.compile(r"^([245]\d\d) ([245]\.\d{1,3}\.\d{1,3}) (\S.*)$")


class Action(enum.StrEnum):
    """What the sink does with a recipient."""

    ACCEPT = "accept"
    REJECT = "reject"
    GREYLIST = "greylist"
    DISCONNECT = "disconnect"
    JUNK_UNLESS_ALLOWLISTED = "junk_unless_allowlisted"
    ACCEPT_THEN_BOUNCE = "accept_then_bounce"


class Stage(enum.StrEnum):
    """The point of the SMTP transaction a rejection, disconnect or delay happens at."""

    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"


@dataclass(frozen=True)
class Reply:
    """An SMTP reply with its enhanced status code (RFC 3463)."""

    code: int
    enhanced: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"


def parse_reply(text: str) -> Reply:
    """``"550 5.7.1 sender blocked"`` as a ``Reply``. Raises ``ConfigError``."""
    match = _REPLY.match(text.strip())
    if not match or match.group(1)[0] != match.group(2)[0]:
        raise ConfigError(f"not an SMTP reply with an enhanced code: {text!r}", key="reply")
    return Reply(int(match.group(1)), match.group(2), match.group(3))


SENDER_BLOCKED = Reply(550, "5.7.1", "Sender blocked by recipient policy")  # RFC 3463 §3.8
USER_UNKNOWN = Reply(550, "5.1.1", "User unknown")  # RFC 3463 §3.2
MAILBOX_FULL = Reply(552, "5.2.2", "Mailbox full")  # RFC 3463 §3.3
GREYLISTED = Reply(451, "4.7.1", "Greylisted, please try again later")
TEMPORARY_FAILURE = Reply(451, "4.3.0", "Temporary failure, please try again later")

PRESETS: Mapping[str, tuple[Reply, Stage]] = MappingProxyType(
    {
        "sender_blocked": (SENDER_BLOCKED, Stage.MAIL),
        "user_unknown": (USER_UNKNOWN, Stage.RCPT),
        "mailbox_full": (MAILBOX_FULL, Stage.RCPT),
    }
)


@dataclass(frozen=True)
class Policy:
    """The sink's behaviour for one recipient (domain or address).

    ``senders`` limits a reject or disconnect to those envelope senders: an address, or a
    domain (``example.com`` or ``@example.com``) matching every address at it, so that VERP
    bounce addresses of a sender domain match too (empty: every sender).
    ``allowlist`` holds sender addresses or domains that escape junk filing.
    Times are in seconds.
    """

    action: Action = Action.ACCEPT
    stage: Stage = Stage.RCPT
    reply: Reply = SENDER_BLOCKED
    senders: tuple[str, ...] = ()
    greylist_attempts: int = 1
    greylist_window: float = 300.0
    tempfail_probability: float = 0.0
    delay: float = 0.0
    delay_stage: Stage = Stage.RCPT
    allowlist: tuple[str, ...] = ()
    bounce_delay: float = 60.0
    bounce_reply: Reply = MAILBOX_FULL

    def applies_to_sender(self, sender: str) -> bool:
        """True when the reject/disconnect is meant for ``sender``."""
        if not self.senders:
            return True
        sender = sender.lower()
        domain = sender.rpartition("@")[2]
        for entry in (s.lower() for s in self.senders):
            if entry == sender or ("@" not in entry.lstrip("@") and entry.lstrip("@") == domain):
                return True
        return False

    def allowlisted(self, sender: str) -> bool:
        """True when ``sender`` (address or its domain) is on the allowlist."""
        sender = sender.lower()
        domain = sender.rpartition("@")[2]
        for entry in (e.lower().lstrip("@") for e in self.allowlist):
            if entry == sender or ("@" not in entry and entry == domain):
                return True
        return False

    def as_json(self) -> dict[str, Any]:
        """The policy as plain JSON types (replies as their text)."""
        data = asdict(self)
        data.update(reply=str(self.reply), bounce_reply=str(self.bounce_reply))
        data.update(senders=list(self.senders), allowlist=list(self.allowlist))
        return data


_FIELDS = frozenset(Policy.__dataclass_fields__)


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError("expected a string or a list of strings", key=key)


def _number(value: Any, key: str, *, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError("expected a number", key=key)
    if value < low or (high is not None and value > high):
        raise ConfigError(f"out of range [{low}, {high}]", key=key)
    return float(value)


def parse_policy(entry: Mapping[str, Any], *, key: str = "") -> Policy:
    """One policy from a config mapping. Raises ``ConfigError`` naming the bad key."""
    data = dict(entry)
    unknown = set(data) - _FIELDS - {"preset"}
    if unknown:
        raise ConfigError(f"unknown settings {sorted(unknown)}", key=key)
    policy = Policy()
    if "preset" in data:
        preset = PRESETS.get(str(data.pop("preset")))
        if preset is None:
            raise ConfigError(f"unknown preset; known: {sorted(PRESETS)}", key=f"{key}.preset")
        policy = replace(policy, action=Action.REJECT, reply=preset[0], stage=preset[1])
    try:
        changes: dict[str, Any] = {}
        if "action" in data:
            changes["action"] = Action(data["action"])
        for name in ("stage", "delay_stage"):
            if name in data:
                changes[name] = Stage(data[name])
    except ValueError as error:
        raise ConfigError(str(error), key=key) from error
    for name in ("reply", "bounce_reply"):
        if name in data:
            changes[name] = parse_reply(str(data[name]))
    for name in ("senders", "allowlist"):
        if name in data:
            changes[name] = _strings(data[name], f"{key}.{name}")
    if "greylist_attempts" in data:
        changes["greylist_attempts"] = int(_number(data["greylist_attempts"], key))
    for name in ("greylist_window", "delay", "bounce_delay"):
        if name in data:
            changes[name] = _number(data[name], f"{key}.{name}")
    if "tempfail_probability" in data:
        changes["tempfail_probability"] = _number(data["tempfail_probability"], key, high=1.0)
    return replace(policy, **changes)


@dataclass
class PolicyBook:
    """The sink's policies, mutable at run time (single event loop; no locking needed).

    Domains and addresses are matched case-insensitively.
    """

    default: Policy = field(default_factory=Policy)
    domains: dict[str, Policy] = field(default_factory=dict)
    addresses: dict[str, Policy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.domains = {k.lower(): v for k, v in self.domains.items()}
        self.addresses = {k.lower(): v for k, v in self.addresses.items()}

    def set_domain(self, domain: str, policy: Policy) -> None:
        """Set (or replace) the policy for every address at ``domain``."""
        self.domains[domain.lower().rstrip(".")] = policy

    def set_address(self, address: str, policy: Policy) -> None:
        """Set (or replace) the policy for one address; it beats the domain's."""
        self.addresses[address.lower()] = policy

    def remove_domain(self, domain: str) -> None:
        """Forget the policy for ``domain`` (no error when there is none)."""
        self.domains.pop(domain.lower().rstrip("."), None)

    def remove_address(self, address: str) -> None:
        """Forget the policy for ``address`` (no error when there is none)."""
        self.addresses.pop(address.lower(), None)

    def for_domain(self, domain: str) -> Policy:
        """The policy for a whole domain, or the default."""
        return self.domains.get(domain.lower().rstrip("."), self.default)

    def for_recipient(self, address: str) -> Policy:
        """The policy for ``address``: its own, else its domain's, else the default."""
        address = address.lower()
        if address in self.addresses:
            return self.addresses[address]
        return self.for_domain(address.rpartition("@")[2])

    def as_json(self) -> dict[str, Any]:
        """All policies as plain JSON types."""
        return {
            "default": self.default.as_json(),
            "domains": {k: v.as_json() for k, v in sorted(self.domains.items())},
            "addresses": {k: v.as_json() for k, v in sorted(self.addresses.items())},
        }


def parse_policies(data: Mapping[str, Any], *, source: str = "") -> PolicyBook:
    """A ``PolicyBook`` from ``{default: {...}, domains: {...}, addresses: {...}}``.

    Raises ``ConfigError`` with ``source`` and the key of the first bad entry.
    """
    unknown = set(data) - {"default", "domains", "addresses"}
    try:
        if unknown:
            raise ConfigError(f"unknown sections {sorted(unknown)}")
        book = PolicyBook()
        if "default" in data:
            book.default = parse_policy(_table(data["default"], "default"), key="default")
        for section in ("domains", "addresses"):
            for name, entry in _table(data.get(section, {}), section).items():
                policy = parse_policy(_table(entry, f"{section}.{name}"), key=f"{section}.{name}")
                setter = book.set_domain if section == "domains" else book.set_address
                setter(str(name), policy)
    except ConfigError as error:
        raise ConfigError(error.message, source=source, key=error.key) from error
    return book


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError("expected a table", key=key)
    return value


def load_policies(path: Path) -> PolicyBook:
    """Read policies from a ``.toml`` or ``.yaml``/``.yml`` file. Raises ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError("policy files must be .toml, .yaml or .yml", source=str(path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise ConfigError(str(error), source=str(path)) from error
    return parse_policies(_table(data, "(top level)"), source=str(path))
