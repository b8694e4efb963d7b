"""The durable store: save/get byte for byte, search, delete, retention; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from smtp_sink import (
    CapturedMessage,
    Mailbox,
    MessageNotFound,
    SinkStore,
    StoreError,
    TlsFacts,
    build_metadata,
    create_store_engine,
    metadata,
    summarize_headers,
)
from smtp_sink.group_commit import GroupCommit
from tests.smtp_sink.helpers import message

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def captured(
    subject: str,
    *,
    to: tuple[str, ...] = ("kari@kunde-ok.example",),
    sender: str = "do.not.reply@platform.visma.example",
    at: dt.datetime = T0,
    folder: str = "inbox",
    raw: bytes | None = None,
) -> CapturedMessage:
    raw = raw if raw is not None else message(subject)
    return CapturedMessage(
        raw=raw,
        mail_from=sender,
        rcpt_tos=to,
        mailboxes=tuple(Mailbox(a.lower(), folder) for a in to),
        peer_ip="192.0.2.1",
        peer_port=40000,
        received_at=at,
        helo="client.example",
        tls=TlsFacts("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256),
        added_headers=b"Authentication-Results: sink.test; none\r\n",
        authentication_results="sink.test; none",
        verdict={"dmarc_result": "pass", "nested": {"list": [1, 2]}},
        summary=summarize_headers(raw),
    )


def _postgres_store() -> Iterator[SinkStore]:
    url = os.environ.get("MAILDIAG_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MAILDIAG_TEST_POSTGRES_URL is not set")
    engine = create_store_engine(url)
    sink_store = SinkStore(engine, prefix=f"t{uuid.uuid4().hex[:12]}_")
    sink_store.create_schema()
    try:
        yield sink_store
    finally:
        sink_store.drop_schema()
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SinkStore]:
    if request.param == "postgresql":
        yield from _postgres_store()
        return
    engine = create_store_engine(tmp_path / "store.db")
    sink_store = SinkStore(engine)
    sink_store.create_schema()
    yield sink_store
    engine.dispose()


def test_save_and_get_byte_for_byte(any_store: SinkStore) -> None:
    raw = b"Subject: bin\r\n\r\n" + bytes(range(256)) + b"\r\n"
    original = captured("x", raw=raw)
    new_id = any_store.save(original)
    got = any_store.get(new_id)
    assert got.id == new_id
    assert got.raw == raw
    assert got.delivered_bytes == original.added_headers + raw
    assert got.tls == original.tls
    assert got.verdict == {"dmarc_result": "pass", "nested": {"list": [1, 2]}}
    assert got.received_at == T0
    assert got.mailboxes == original.mailboxes
    assert (got.peer_ip, got.peer_port, got.helo) == ("192.0.2.1", 40000, "client.example")
    assert got.size == len(raw)


def test_get_missing_raises(any_store: SinkStore) -> None:
    with pytest.raises(MessageNotFound) as info:
        any_store.get(12345)
    assert info.value.message_id == 12345


def test_list_filters_newest_first(any_store: SinkStore) -> None:
    a = any_store.save(captured("Reset your password", at=T0))
    b = any_store.save(captured("Weekly news", at=T0 + dt.timedelta(minutes=1), folder="junk"))
    c = any_store.save(
        captured(
            "Reset again",
            to=("ola@kunde-spam.example",),
            sender="x@legacy.example",
            at=T0 + dt.timedelta(minutes=2),
            raw=message("Reset again").replace(b"sender@platform.visma", b"x@legacy"),
        )
    )
    assert [m.id for m in any_store.list()] == [c, b, a]
    assert [m.id for m in any_store.list(to="KARI@kunde-ok.example")] == [b, a]
    assert [m.id for m in any_store.list(subject="reset")] == [c, a]
    assert [m.id for m in any_store.list(sender="x@legacy.example")] == [c]
    assert [m.id for m in any_store.list(sender="platform.visma")] == [b, a]  # From header
    assert [m.id for m in any_store.list(sender="SENDER@platform.visma.example")] == [b, a]
    assert [m.id for m in any_store.list(folder="junk")] == [b]
    assert [m.id for m in any_store.list(to="kari@kunde-ok.example", folder="inbox")] == [a]
    assert [m.id for m in any_store.list(since=T0 + dt.timedelta(minutes=1))] == [c, b]
    assert [m.id for m in any_store.list(until=T0 + dt.timedelta(minutes=1))] == [a]
    assert [m.id for m in any_store.list(limit=1, offset=1)] == [b]
    assert any_store.list(subject="100%") == []


def test_delete_by_ids_mailbox_and_all(any_store: SinkStore) -> None:
    a = any_store.save(captured("a"))
    b = any_store.save(captured("b", to=("kari@kunde-ok.example", "ola@kunde-ok.example")))
    c = any_store.save(captured("c", to=("ola@kunde-ok.example",)))
    assert any_store.delete() == 0
    assert any_store.delete([a]) == 1
    # b is still in ola's mailbox, so only its kari copy goes
    assert any_store.delete(mailbox="kari@kunde-ok.example") == 0
    assert [m.id for m in any_store.list(to="kari@kunde-ok.example")] == []
    assert any_store.get(b).mailboxes == (Mailbox("ola@kunde-ok.example"),)
    assert any_store.delete(mailbox="ola@kunde-ok.example") == 2
    any_store.save(captured("d"))
    assert any_store.delete(all_messages=True) == 1
    assert any_store.count() == 0
    assert c


def test_retention_by_count_and_age(any_store: SinkStore) -> None:
    ids = [any_store.save(captured(f"m{i}", at=T0 + dt.timedelta(days=i))) for i in range(6)]
    now = T0 + dt.timedelta(days=6)
    removed = any_store.apply_retention(max_age=dt.timedelta(days=4, hours=12), now=now)
    assert removed == 2  # days 0 and 1 are older than 4.5 days
    assert any_store.apply_retention(max_count=3) == 1
    assert [m.id for m in any_store.list()] == ids[:2:-1]
    assert any_store.apply_retention() == 0


def test_sqlite_engine_is_durable(tmp_path: Path) -> None:
    engine = create_store_engine(tmp_path / "d.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_metadata_for_migrations() -> None:
    assert set(metadata.tables) == {"sink_messages", "sink_mailboxes"}
    other = build_metadata("x_")
    assert set(other.tables) == {"x_messages", "x_mailboxes"}
    columns = set(metadata.tables["sink_messages"].c.keys())
    for needed in (
        "raw",
        "mail_from",
        "rcpt_tos",
        "peer_ip",
        "peer_port",
        "helo",
        "tls_version",
        "tls_cipher",
        "received_at",
        "size",
        "verdict",
        "authentication_results",
        "message_id",
        "subject",
        "from_header",
    ):
        assert needed in columns
    assert isinstance(metadata.tables["sink_messages"].c.raw.type, sa.LargeBinary)


def test_summarize_headers_is_total() -> None:
    assert summarize_headers(b"").subject == ""
    garbage = bytes(range(256)) * 4
    summarize_headers(garbage)  # no exception
    encoded = b"Subject: =?utf-8?q?Tilbakestill_passord?=\r\nFrom: \xc3\x85se <a@b>\r\n\r\n"
    summary = summarize_headers(encoded)
    assert summary.subject == "Tilbakestill passord"
    assert summary.from_header == "Åse <a@b>"


async def test_sink_on_each_database_stores_nasty_text(any_store: SinkStore, judge) -> None:
    """Invalid UTF-8 in HELO and MAIL FROM and a NUL in a header are stored, not refused."""
    from smtp_sink import SinkConfig, SinkServer

    raw = b"From: a@x.example\r\nSubject: nul \x00 here\r\n\r\n\x00\xff body\r\n"
    async with SinkServer(any_store, judge=judge, config=SinkConfig(hostname="s.test")) as sink:
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        await reader.readline()
        writer.write(
            b"EHLO bad\xff\xfehelo\r\nMAIL FROM:<b\xffd@x.example> SMTPUTF8\r\n"
            b"RCPT TO:<K\xc3\xa5ri@kunde-ok.example>\r\nDATA\r\n" + raw + b".\r\nQUIT\r\n"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert b"250 2.0.0 OK queued" in answer
    (stored,) = any_store.list()
    assert stored.raw == raw
    assert "\ufffd" in stored.helo
    assert "\ufffd" in stored.mail_from
    assert stored.summary.subject == "nul \ufffd here"
    assert any_store.list(to="kåri@kunde-ok.example")[0].id == stored.id


def unstorable(subject: str) -> CapturedMessage:
    """A message the database refuses (a lone surrogate cannot be encoded as UTF-8)."""
    return dataclasses.replace(captured(subject), mail_from="\udcff@x.example")


def test_save_many_commits_all_in_order_or_none(store: SinkStore) -> None:
    ids = store.save_many([captured("one"), captured("two", to=("a@x.example", "b@x.example"))])
    assert [store.get(i).summary.subject for i in ids] == ["one", "two"]
    assert [m.address for m in store.get(ids[1]).mailboxes] == ["a@x.example", "b@x.example"]
    with pytest.raises(StoreError):
        store.save_many([captured("three"), unstorable("bad")])
    assert store.count() == 2


def test_saves_keep_one_writer_connection_until_one_fails(any_store: SinkStore) -> None:
    """Each save's transaction runs on the held writer connection, not a fresh pool checkout;
    a failed transaction gives it up and the next save takes another; ``close`` returns it."""
    taken: list[object] = []
    returned: list[object] = []
    sa.event.listen(any_store.engine, "checkout", lambda dbapi, *_: taken.append(dbapi))
    sa.event.listen(any_store.engine, "checkin", lambda dbapi, *_: returned.append(dbapi))
    ids = [any_store.save(captured(f"m{i}")) for i in range(3)]
    ids += any_store.save_many([captured("m3"), captured("m4")])
    assert len(taken) == 1
    with pytest.raises(StoreError):
        any_store.save(unstorable("bad"))
    ids.append(any_store.save(captured("m5")))
    assert len(taken) == 2
    assert [any_store.get(i).summary.subject for i in ids] == [f"m{i}" for i in range(6)]
    any_store.close()
    assert len(returned) >= 3  # the two writers, and the connection get() used
    assert any_store.count() == 6


class GatedStore(SinkStore):
    """Records each transaction's size; the first one waits until ``gate`` is set."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.gate = threading.Event()
        self.transactions: list[int] = []

    def save_many(self, messages: Sequence[CapturedMessage]) -> list[int]:
        if not self.transactions:
            assert self.gate.wait(10)
        ids = super().save_many(messages)
        self.transactions.append(len(messages))
        return ids


async def test_group_commit_answers_each_message_only_after_its_commit(tmp_path: Path) -> None:
    db = tmp_path / "group.db"
    store = GatedStore(create_store_engine(db))
    store.create_schema()
    observer = SinkStore(create_store_engine(db))  # another connection sees committed rows only
    seen: dict[str, bool] = {}
    with ThreadPoolExecutor(1) as executor:
        commits = GroupCommit(store, executor, linger=0)

        async def save(subject: str) -> int:
            new_id = await commits.save(captured(subject))
            seen[subject] = observer.get(new_id).summary.subject == subject
            return new_id

        first = asyncio.create_task(save("first"))
        await asyncio.sleep(0.05)  # the first transaction is now held open in the store thread
        rest = [asyncio.create_task(save(f"m{i}")) for i in range(5)]
        await asyncio.sleep(0.05)
        assert not first.done()
        assert not any(t.done() for t in rest)
        assert observer.count() == 0
        store.gate.set()
        ids = await asyncio.gather(first, *rest)
    assert len(set(ids)) == 6
    assert all(seen.values())
    assert len(seen) == 6
    assert store.transactions == [1, 5]  # the five that waited went in one transaction
    assert commits.batches == 2
    store.engine.dispose()
    observer.engine.dispose()


async def test_group_commit_bounds_the_batch(store: SinkStore) -> None:
    sizes: list[int] = []
    original = store.save_many

    def recording(messages: Sequence[CapturedMessage]) -> list[int]:
        sizes.append(len(messages))
        return original(messages)

    store.save_many = recording  # type: ignore[method-assign]
    commits = GroupCommit(store, max_batch=4, linger=0.001)
    ids = await asyncio.gather(*(commits.save(captured(f"m{i}")) for i in range(10)))
    assert len(set(ids)) == 10
    assert store.count() == 10
    assert max(sizes) <= 4
    assert sum(sizes) == 10


async def test_group_commit_failure_costs_only_the_bad_message(store: SinkStore) -> None:
    commits = GroupCommit(store, linger=0.01)
    results = await asyncio.gather(
        commits.save(captured("good 1")),
        commits.save(unstorable("bad")),
        commits.save(captured("good 2")),
        return_exceptions=True,
    )
    assert isinstance(results[1], StoreError)
    assert [store.get(r).summary.subject for r in (results[0], results[2])] == ["good 1", "good 2"]  # type: ignore[arg-type]
    assert store.count() == 2


def _stored_rows(engine: sa.Engine) -> list[tuple[object, ...]]:
    """Every row of the sink's tables as the driver returns them (no SQLAlchemy types)."""
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        rows: list[tuple[object, ...]] = []
        for table in ("sink_messages", "sink_mailboxes"):
            cursor.execute(f"SELECT * FROM {table} ORDER BY id")
            rows += [tuple(row) for row in cursor.fetchall()]
        cursor.close()
    return rows


def test_sqlite_rows_are_those_sqlalchemy_writes(tmp_path: Path) -> None:
    """On SQLite the inserts run on the driver's cursor; the stored bytes are the same as
    SQLAlchemy's own insert gives, for every column type (dates, JSON, booleans, bytes)."""
    messages = [
        captured("one"),
        dataclasses.replace(captured("två", to=("a@x.example", "B@x.example")), tls=None),
        dataclasses.replace(captured("three", at=T0 + dt.timedelta(microseconds=7)), proxied=True),
    ]
    engines = [create_store_engine(tmp_path / f"{name}.db") for name in ("driver", "core")]
    driver, core = (SinkStore(engine) for engine in engines)
    core._driver = None  # SQLAlchemy's own insertmanyvalues path
    assert driver._driver is not None
    for store in (driver, core):
        store.create_schema()
        assert store.save_many(messages[:2]) == [1, 2]
        assert store.save(messages[2]) == 3
    assert _stored_rows(engines[0]) == _stored_rows(engines[1])
    assert len(_stored_rows(engines[0])) == 3 + 4
    for new_id, original in enumerate(messages, start=1):
        again = driver.get(new_id)
        assert again == dataclasses.replace(original, id=new_id)
    driver.close()
    core.close()
    for engine in engines:
        engine.dispose()


def test_a_driver_error_on_sqlite_is_a_store_error(store: SinkStore) -> None:
    store.save(captured("before"))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE sink_mailboxes")
    with pytest.raises(StoreError, match="sink_mailboxes"):
        store.save_many([captured("one"), captured("two")])
    assert store.count() == 1  # the messages' insert was rolled back with the mailboxes'
