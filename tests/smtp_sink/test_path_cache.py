"""PathCache: aiosmtpd's reading of MAIL FROM / RCPT TO paths, reused per server, same replies."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP

from smtp_sink.protocol import PATH_CACHE_SIZE, PathCache
from tests.smtp_sink.test_bad_input import raw_session


def test_a_reading_is_reused_for_the_same_text_and_limit() -> None:
    cache = PathCache()
    calls: list[str] = []

    def read(arg: str) -> tuple[str | None, str | None]:
        calls.append(arg)
        return (arg.strip("<>"), "") if "@" in arg else (None, None)

    for _ in range(3):
        assert cache.get("<a@x.example>", 0, read) == ("a@x.example", "")
        assert cache.get("<nonsense", 0, read) == (None, None)  # a refusal is kept too
    cache.get("<a@x.example>", 64, read)  # another local-part limit is another reading
    assert calls == ["<a@x.example>", "<nonsense", "<a@x.example>"]
    assert PathCache().size == PATH_CACHE_SIZE


def test_the_least_recently_used_reading_goes_first() -> None:
    cache = PathCache(size=2)
    calls: list[str] = []

    def read(arg: str) -> tuple[str | None, str | None]:
        calls.append(arg)
        return arg, ""

    for arg in ("a", "b", "a", "c", "a", "b"):
        cache.get(arg, 0, read)
    assert calls == ["a", "b", "c", "b"]


async def test_replies_are_aiosmtpds_and_each_path_is_read_once(
    run_sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    original = SMTP._getaddr

    def counting(self: SMTP, arg: str) -> tuple[str | None, str | None]:
        reads.append(arg)
        return original(self, arg)

    monkeypatch.setattr(SMTP, "_getaddr", counting)
    session = (
        b"EHLO c.example\r\n"
        b"MAIL FROM:<a@x.example> SIZE=10\r\nRCPT TO:<k@kunde-ok.example>\r\nRSET\r\n"
        b"MAIL FROM:<a@x.example> SIZE=10\r\nRCPT TO:<k@kunde-ok.example>\r\nRSET\r\n"
        b"MAIL FROM:<a@@x>\r\nMAIL FROM:<a@@x>\r\n"
    )
    async with run_sink() as sink:
        first = await raw_session(sink.port, session)
        second = await raw_session(sink.port, session)  # another connection, same server
    assert first == second
    replies = [
        line.split(b" ", 1)[0] for line in first.splitlines() if not line.startswith(b"250-")
    ]
    assert replies == [
        b"250",
        b"250",
        b"250",
        b"250",
        b"250",
        b"250",
        b"250",
        b"553",
        b"553",
        b"221",
    ]
    assert sorted(set(reads)) == sorted(reads)  # every distinct argument text read once
