"""Broadcaster: events published from the store's thread reach subscribers in order."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from maildiag.sink.events import Broadcaster, Event
from maildiag.sink.service import NotifyingStore
from smtp_sink import CapturedMessage, Mailbox, create_store_engine


async def test_publish_all_from_another_thread_in_order_with_one_wake_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    events = Broadcaster()
    events.bind(loop)
    wake_ups = []
    original = loop.call_soon_threadsafe

    def counted(callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        wake_ups.append(callback)
        return original(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    batch = [Event("stored", {"id": i}) for i in range(3)]
    with events.subscribe() as queue:
        await asyncio.to_thread(events.publish_all_threadsafe, batch)
        got = [await asyncio.wait_for(queue.get(), 5) for _ in batch]
        await asyncio.to_thread(events.publish_all_threadsafe, [])
    assert got == batch
    # asyncio.to_thread wakes the loop for its own result; the events add one wake-up
    assert [c.__name__ for c in wake_ups].count("publish_all") == 1


def test_publishing_without_a_loop_drops_the_events() -> None:
    events = Broadcaster()
    events.publish_all_threadsafe([Event("stored", {"id": 1})])  # no loop bound: nothing to do
    events.publish_threadsafe("deleted", count=1)


async def test_store_announces_a_transaction_once(tmp_path: Path) -> None:
    events = Broadcaster()
    events.bind(asyncio.get_running_loop())
    engine = create_store_engine(tmp_path / "sink.db")
    store = NotifyingStore(engine, events)
    store.create_schema()
    messages = [
        CapturedMessage(
            raw=b"Subject: x\r\n\r\nbody\r\n",
            mail_from="a@x.example",
            rcpt_tos=(f"k{i}@kunde-ok.example",),
            mailboxes=(Mailbox(f"k{i}@kunde-ok.example", "junk" if i else "inbox"),),
            peer_ip="192.0.2.1",
            peer_port=None,
            received_at=dt.datetime.now(dt.UTC),
        )
        for i in range(2)
    ]
    try:
        with events.subscribe() as queue:
            ids = await asyncio.to_thread(store.save_many, messages)
            got = [await asyncio.wait_for(queue.get(), 5) for _ in ids]
    finally:
        engine.dispose()
    assert [(e.name, e.data) for e in got] == [
        (
            "stored",
            {"id": ids[0], "mailboxes": [{"address": "k0@kunde-ok.example", "folder": "inbox"}]},
        ),
        (
            "stored",
            {"id": ids[1], "mailboxes": [{"address": "k1@kunde-ok.example", "folder": "junk"}]},
        ),
    ]
