"""The sink store's inserts on the driver's cursor, as SQLAlchemy compiled them (SQLite)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smtp_sink.capture import CapturedMessage
from smtp_sink.errors import StoreError
from smtp_sink.schema import SinkTables


def mailbox_rows(ids: list[int], messages: Sequence[CapturedMessage]) -> list[dict[str, object]]:
    """The mailbox rows of ``messages``, stored under ``ids`` (in the same order)."""
    return [
        {"message_pk": new_id, "address": m.address.lower(), "folder": m.folder}
        for new_id, message in zip(ids, messages, strict=True)
        for m in message.mailboxes
    ]


class DriverInserts:
    """The store's two inserts run on the driver's cursor, for SQLite.

    SQLAlchemy's own execution (the statement's cache key, its execution context, the
    insertmanyvalues batch) cost more CPU than the inserts themselves: 0.38 against 0.28 ms a
    message in transactions of two (docs/benchmarks.md, the SMTP sink). Here the statements
    are compiled once, by SQLAlchemy for the engine's dialect, and each value goes through the
    column type's own bind processor, so the rows are those SQLAlchemy would write (the tests
    read them back through SQLAlchemy). The transaction stays SQLAlchemy's. SQLite only: one
    row per statement is free there, while PostgreSQL would pay a round trip per message.
    """

    def __init__(self, dialect: sa.Dialect, tables: SinkTables) -> None:
        self._message = CompiledInsert(dialect, tables.messages, returning=True)
        self._mailbox = CompiledInsert(dialect, tables.mailboxes, returning=False)

    @classmethod
    def for_engine(cls, engine: Engine, tables: SinkTables) -> DriverInserts | None:
        dialect = engine.dialect
        return cls(dialect, tables) if dialect.name == "sqlite" and dialect.positional else None

    def insert(
        self,
        conn: sa.Connection,
        messages: Sequence[CapturedMessage],
        rows: list[dict[str, object]],
    ) -> list[int]:
        cursor = conn.connection.cursor()
        try:
            ids = []
            for row in rows:
                cursor.execute(self._message.sql, self._message.parameters(row))
                returned = cursor.fetchone()
                if returned is None:  # pragma: no cover - RETURNING gives the row's id
                    raise StoreError("a message got no id", operation="save")
                ids.append(int(returned[0]))
            boxes = [self._mailbox.parameters(row) for row in mailbox_rows(ids, messages)]
            if boxes:
                cursor.executemany(self._mailbox.sql, boxes)
        finally:
            cursor.close()
        return ids


class CompiledInsert:
    """An INSERT of every column but ``id`` compiled for ``dialect`` (positional parameters)."""

    def __init__(self, dialect: sa.Dialect, table: sa.Table, *, returning: bool) -> None:
        columns = [column for column in table.c if column.name != "id"]
        statement = table.insert().values(
            {column.name: sa.bindparam(column.name, type_=column.type) for column in columns}
        )
        if returning:
            statement = statement.returning(table.c.id)
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.names = tuple(compiled.positiontup or ())
        types = {column.name: column.type for column in columns}
        self.processors = tuple(
            types[name].dialect_impl(dialect).bind_processor(dialect) for name in self.names
        )

    def parameters(self, row: dict[str, object]) -> list[object]:
        return [
            value if process is None else process(value)
            for process, value in zip(self.processors, (row[n] for n in self.names), strict=True)
        ]
