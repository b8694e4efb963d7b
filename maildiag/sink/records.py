"""The sink's records in the app's database: policy changes, kept over the defaults so they
survive a restart, and the audit trail of who changed a policy or saw a reset link unmasked.

Tables on their own ``MetaData`` (the migrations include it). Blocking SQLAlchemy Core calls,
one transaction each: call them from a worker thread. Every change to a policy is written
together with its audit row, so neither is ever kept without the other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from smtp_sink import ConfigError, JsonObject, JsonValue, Policy, PolicyBook, parse_policy

KINDS = ("default", "domains", "addresses")
MAX_ACTOR = 254  # an account's address (RFC 5321 §4.5.3.1.3) or the token's name
MAX_NAME = 320

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_log = sa.Table(
    "sink_audit",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(MAX_ACTOR), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(MAX_NAME + 16), nullable=False),
    sa.Column("message_id", _Id, nullable=True, index=True),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
)
"""One row per policy change (``policy.set``, ``policy.removed``, ``policies.replaced``,
``policies.reset``) and per unmasked view of a message holding reset links
(``message.unmasked``, target: the view)."""

stored_policies = sa.Table(
    "sink_policies",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(MAX_NAME), primary_key=True),
    sa.Column("policy", sa.JSON, nullable=True),  # null: the default entry was removed
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("changed_by", sa.String(MAX_ACTOR), nullable=False),
    sa.CheckConstraint("kind IN ('default', 'domains', 'addresses')", name="kind"),
)
"""The policies set at run time: ``kind`` default (name ""), domains or addresses."""


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    """One audit row, as plain values."""

    at: dt.datetime
    actor: str
    action: str
    target: str
    message_id: int | None
    before: JsonValue
    after: JsonValue


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _audit_row(
    now: dt.datetime, actor: str, action: str, target: str, **extra: JsonValue
) -> sa.Insert:
    return audit_log.insert().values(
        at=now, actor=actor[:MAX_ACTOR], action=action, target=target[: MAX_NAME + 16], **extra
    )


def record_unmasked_view(
    engine: sa.Engine, *, actor: str, message_id: int, view: str, links: int, now: dt.datetime
) -> None:
    """Record that ``actor`` was shown ``links`` reset links of one message unmasked."""
    with engine.begin() as conn:
        conn.execute(
            _audit_row(
                now, actor, "message.unmasked", view, message_id=message_id, after={"links": links}
            )
        )


def audit_entries(engine: sa.Engine, *, limit: int = 100) -> list[AuditEntry]:
    """The newest audit rows first."""
    stmt = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        AuditEntry(
            _utc(r["at"]),
            r["actor"],
            r["action"],
            r["target"],
            r["message_id"],
            r["before"],
            r["after"],
        )
        for r in rows
    ]


def _entries(book: PolicyBook) -> dict[tuple[str, str], Policy]:
    entries = {("default", ""): book.default}
    entries.update({("domains", k): v for k, v in book.domains.items()})
    entries.update({("addresses", k): v for k, v in book.addresses.items()})
    return entries


def _json(policy: Policy | None) -> JsonObject | None:
    return None if policy is None else policy.as_json()


def _put(
    conn: sa.Connection,
    changes: Iterable[tuple[str, str, Policy | None]],
    actor: str,
    now: dt.datetime,
) -> None:
    t = stored_policies
    for kind, name, policy in changes:
        conn.execute(t.delete().where(t.c.kind == kind, t.c.name == name))
        values = {"kind": kind, "name": name, "changed_at": now, "changed_by": actor[:MAX_ACTOR]}
        conn.execute(t.insert().values(policy=_json(policy), **values))


def save_policy(
    engine: sa.Engine,
    *,
    actor: str,
    kind: str,
    name: str,
    before: Policy | None,
    after: Policy | None,
    now: dt.datetime,
) -> None:
    """Keep one entry's new policy (None: removed) and audit the change, in one transaction."""
    action = "policy.removed" if after is None else "policy.set"
    with engine.begin() as conn:
        _put(conn, [(kind, name, after)], actor, now)
        row = _audit_row(now, actor, action, f"{kind}/{name}", before=_json(before))
        conn.execute(row.values(after=_json(after)))


def save_book(
    engine: sa.Engine, *, actor: str, before: PolicyBook, after: PolicyBook, now: dt.datetime
) -> None:
    """Keep a whole new book over the defaults (entries it drops are kept as removed) and
    audit it, in one transaction."""
    old, new = _entries(before), _entries(after)
    changes = [(kind, name, new.get((kind, name))) for kind, name in {**old, **new}]
    with engine.begin() as conn:
        _put(conn, changes, actor, now)
        row = _audit_row(now, actor, "policies.replaced", "*", before=before.as_json())
        conn.execute(row.values(after=after.as_json()))


def forget_policies(
    engine: sa.Engine, *, actor: str, before: PolicyBook, defaults: PolicyBook, now: dt.datetime
) -> None:
    """Drop every kept change (back to the defaults) and audit it, in one transaction."""
    with engine.begin() as conn:
        conn.execute(stored_policies.delete())
        row = _audit_row(now, actor, "policies.reset", "*", before=before.as_json())
        conn.execute(row.values(after=defaults.as_json()))


def apply_stored(engine: sa.Engine, book: PolicyBook) -> int:
    """Lay the kept changes over ``book`` (the defaults); how many entries there were.

    Raises ``smtp_sink.ConfigError`` naming the entry when a kept policy no longer parses.
    """
    t = stored_policies
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.kind, t.c.name, t.c.policy)).all()
    for kind, name, data in rows:
        policy = None if data is None else _parse(data, f"{kind}.{name}")
        _set(book, kind, name, policy)
    return len(rows)


def _parse(data: object, key: str) -> Policy:
    if not isinstance(data, Mapping):
        raise ConfigError("expected a table", source="sink_policies", key=key)
    try:
        return parse_policy(data, key=key)
    except ConfigError as error:
        raise ConfigError(error.message, source="sink_policies", key=error.key) from None


def _set(book: PolicyBook, kind: str, name: str, policy: Policy | None) -> None:
    if kind == "default":
        book.default = policy or Policy()
    elif kind == "domains":
        book.remove_domain(name) if policy is None else book.set_domain(name, policy)
    else:
        book.remove_address(name) if policy is None else book.set_address(name, policy)


__all__ = [
    "KINDS",
    "AuditEntry",
    "apply_stored",
    "audit_entries",
    "audit_log",
    "forget_policies",
    "metadata",
    "record_unmasked_view",
    "save_book",
    "save_policy",
    "stored_policies",
]
