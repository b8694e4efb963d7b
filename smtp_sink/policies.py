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
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smtp_sink.errors import ConfigError
from smtp_sink.verdicts import JsonObject

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

    def as_json(self) -> JsonObject:
        """The policy as plain JSON types (replies as their text)."""
        data = asdict(self)
        data.update(reply=str(self.reply), bounce_reply=str(self.bounce_reply))
        data.update(senders=list(self.senders), allowlist=list(self.allowlist))
        return data


MAX_DELAY = 600.0  # RFC 5321 §4.5.3.2: no client waits longer than 10 minutes for a reply
MAX_WINDOW = 7 * 24 * 3600.0  # greylist window, late bounce: a week (RFC 5321 §4.5.4.1: 4-5 days)
MAX_GREYLIST_ATTEMPTS = 100
MAX_LIST_ENTRIES = 1000  # senders, allowlist
MAX_ENTRY_CHARS = 320  # one address or domain in senders or allowlist
MAX_REPLY_CHARS = 510  # RFC 5321 §4.5.3.1.5: a reply line is 512 octets with its CRLF

_Seconds = Annotated[float, Field(strict=True, ge=0, le=MAX_WINDOW)]
_Entries = Annotated[
    list[Annotated[str, Field(max_length=MAX_ENTRY_CHARS)]], Field(max_length=MAX_LIST_ENTRIES)
]
_Text = Annotated[str, Field(max_length=MAX_REPLY_CHARS)]


class _Entry(BaseModel):
    """One policy entry as written in a file or an API body: every number finite and bounded,
    every list and string bounded; ``"5"`` is not a number and ``true`` is not a count.

    Only the fields an entry sets are used (the defaults here are never read); ``null`` is
    refused like any other value of the wrong type."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    preset: _Text = ""
    action: Action = Action.ACCEPT
    stage: Stage = Stage.RCPT
    reply: _Text = ""
    senders: _Entries = []
    greylist_attempts: Annotated[int, Field(strict=True, ge=0, le=MAX_GREYLIST_ATTEMPTS)] = 1
    greylist_window: _Seconds = 0.0
    tempfail_probability: Annotated[float, Field(strict=True, ge=0, le=1)] = 0.0
    delay: Annotated[float, Field(strict=True, ge=0, le=MAX_DELAY)] = 0.0
    delay_stage: Stage = Stage.RCPT
    allowlist: _Entries = []
    bounce_delay: _Seconds = 0.0
    bounce_reply: _Text = ""

    @field_validator("senders", "allowlist", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


def _checked(entry: Mapping[str, object], key: str) -> dict[str, Any]:
    """The fields ``entry`` sets, validated. Raises ``ConfigError`` naming the first bad key."""
    try:
        return _Entry.model_validate(dict(entry)).model_dump(exclude_unset=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(first["msg"], key=_at(key, where)) from None


def _at(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def parse_policy(entry: Mapping[str, object], *, key: str = "") -> Policy:
    """One policy from a config mapping. Raises ``ConfigError`` naming the bad key."""
    data = _checked(entry, key)
    policy = Policy()
    if "preset" in data:
        preset = PRESETS.get(data.pop("preset"))
        if preset is None:
            known = f"unknown preset; known: {sorted(PRESETS)}"
            raise ConfigError(known, key=_at(key, "preset"))
        policy = replace(policy, action=Action.REJECT, reply=preset[0], stage=preset[1])
    for name in ("reply", "bounce_reply"):
        if name in data:
            try:
                data[name] = parse_reply(data[name])
            except ConfigError as error:
                raise ConfigError(error.message, key=_at(key, name)) from None
    for name in ("senders", "allowlist"):
        if name in data:
            data[name] = tuple(data[name])
    return replace(policy, **data)


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

    def copy(self) -> PolicyBook:
        """A separate book with the same policies (they are frozen, so they are shared)."""
        return PolicyBook(self.default, dict(self.domains), dict(self.addresses))

    def replace_with(self, other: PolicyBook) -> None:
        """Take ``other``'s policies in place (the SMTP listeners hold this object)."""
        self.default = other.default
        self.domains.clear()
        self.domains.update(other.domains)
        self.addresses.clear()
        self.addresses.update(other.addresses)

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

    def as_json(self) -> JsonObject:
        """All policies as plain JSON types."""
        return {
            "default": self.default.as_json(),
            "domains": {k: v.as_json() for k, v in sorted(self.domains.items())},
            "addresses": {k: v.as_json() for k, v in sorted(self.addresses.items())},
        }


def parse_policies(data: Mapping[str, object], *, source: str = "") -> PolicyBook:
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


def _table(value: object, key: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ConfigError("expected a table", key=key)
    return value


def load_policies(path: Path) -> PolicyBook:
    """Read policies from a ``.toml`` or ``.yaml``/``.yml`` file. Raises ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            data: object = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError("policy files must be .toml, .yaml or .yml", source=str(path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise ConfigError(str(error), source=str(path)) from error
    return parse_policies(_table(data, "(top level)"), source=str(path))
