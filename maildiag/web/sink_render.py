"""Reading captured mail for the sink's pages and API, off the event loop and cached.

What a view of one message costs depends on the message, which anyone who can send mail to
the sink writes: reading its MIME tree, sanitizing its HTML part, listing its header fields.
The MIME tree and the HTML are read in worker processes (pure-Python parsing in a thread
would still hold the GIL the event loop needs), the header fields, bounded by
``smtp_sink.header_block``, in a thread; all within caps that keep the work bounded:
diag.mime's depth and part caps, ``sink_view.MAX_PART_CHARS``, and ``MAX_HTML_DEPTH`` for the
HTML the sanitizer reads (its cost grows with the square of the nesting). Each result is kept
in a bounded LRU cache per stored message, so a repeat view costs nothing.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from markupsafe import escape

from maildiag.web.sink_mask import Masked, masked_view
from maildiag.web.sink_view import Parts, message_parts, sanitize_html
from smtp_sink import CapturedMessage

T = TypeVar("T")

WORKERS = 2  # processes reading untrusted mail (started on first use)
PARENT_POLL = 1.0  # seconds between a render worker's checks that its server still runs
CACHE_ENTRIES = 64  # views kept; one holds at most about 1 MB (MAX_PART_CHARS per part)
MAX_HTML_DEPTH = 512  # elements nested in an HTML part; real mail stays below 100
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,40})")
# Elements that never hold others, and those whose end tag is optional: neither nests in a
# way the sanitizer keeps open (HTML Living Standard §13.1.2, §13.1.2.4).
_VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param")
_VOID_MORE = ("source", "track", "wbr")
_OPTIONAL_END = ("p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody")
_OPTIONAL_MORE = ("tfoot", "colgroup", "caption", "rb", "rt", "rtc", "rp", "html", "head", "body")
_NOT_NESTING = frozenset((*_VOID, *_VOID_MORE, *_OPTIONAL_END, *_OPTIONAL_MORE))


@dataclass(frozen=True)
class HtmlPart:
    """The HTML part as the iframe shows it: sanitized, or refused with its source as text."""

    body: str  # the sanitized HTML; empty when refused
    refused: str = ""  # "depth" when the elements nest deeper than MAX_HTML_DEPTH
    source: str = ""  # the HTML as text, shown escaped when refused


def html_depth(html: str) -> int:
    """How deep ``html``'s elements nest, counted from its tags alone. Pure and linear.

    An end tag closes only an element of its name that is open; elements that cannot or need
    not be closed are not counted. The count is an upper bound for the nesting a browser (or
    the sanitizer) builds, up to elements an HTML parser inserts by itself.
    """
    open_by_name: collections.Counter[str] = collections.Counter()
    depth = deepest = 0
    for match in _TAG.finditer(html):
        name = match[2].lower()
        if name in _NOT_NESTING:
            continue
        if not match[1]:
            open_by_name[name] += 1
            depth += 1
            deepest = max(deepest, depth)
        elif open_by_name[name]:
            open_by_name[name] -= 1
            depth -= 1
    return deepest


def safe_html(html: str) -> HtmlPart:
    """``html`` sanitized, or refused (with its source) when it nests too deep. Pure."""
    if html_depth(html) > MAX_HTML_DEPTH:
        return HtmlPart("", "depth", html)
    return HtmlPart(sanitize_html(html))


def refused_html(part: HtmlPart, note: str) -> str:
    """The iframe's document for a refused HTML part: the note, then the source as text."""
    return f'<p role="note">{escape(note)}</p><pre>{escape(part.source)}</pre>'


_Key = tuple[str, bool, int | None, dt.datetime, int]


class MessageViews:
    """Views of stored messages, made in this object's processes and threads, cached per
    message.

    A message's id, arrival time and size name it: a store that reuses an id after a delete
    still gets a fresh view. Concurrent requests for the same view share one computation.
    """

    def __init__(self, *, workers: int = WORKERS, entries: int = CACHE_ENTRIES) -> None:
        self._workers = workers
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="maildiag-mail-view"
        )
        self._entries = entries
        self._cache: collections.OrderedDict[_Key, asyncio.Future[Any]] = collections.OrderedDict()

    async def masked(self, message: CapturedMessage) -> Masked:
        """The message's values with its reset links masked (``sink_mask.masked_view``), for
        viewers below admin, and how many links it holds."""
        summary = message.summary
        found: Masked = await self._cached(
            "masked",
            message,
            masked_view,
            message.raw,
            message.added_headers,
            summary.subject,
            summary.from_header,
        )
        return found

    async def parts(self, message: CapturedMessage, *, masked: bool) -> Parts:
        """The readable parts (``Parts.refused`` says when the structure was not read).
        ``masked`` says which of the stored message's two forms ``message`` is."""
        found: Parts = await self._cached(
            "parts", message, message_parts, message.raw, masked=masked
        )
        return found

    async def html(self, message: CapturedMessage, *, masked: bool) -> HtmlPart | None:
        """The HTML part, sanitized or refused; None when the message has none."""
        html = (await self.parts(message, masked=masked)).html
        if html is None:
            return None
        found: HtmlPart = await self._cached("html", message, safe_html, html, masked=masked)
        return found

    async def details(
        self,
        message: CapturedMessage,
        describe: Callable[[CapturedMessage], Mapping[str, object]],
        *,
        masked: bool,
    ) -> dict[str, object]:
        """``describe(message)`` (the API's view of it), a copy of its top level: read only."""
        found: Mapping[str, object] = await self._cached(
            "details", message, describe, message, in_thread=True, masked=masked
        )
        return dict(found)

    def _pool(self, in_thread: bool) -> concurrent.futures.Executor:
        if in_thread:
            return self._threads
        if self._processes is None:  # spawned, not forked: the server has threads
            self._processes = concurrent.futures.ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._processes

    async def _cached(
        self,
        kind: str,
        message: CapturedMessage,
        work: Callable[..., T],
        *args: Any,
        in_thread: bool = False,
        masked: bool = False,
    ) -> T:
        # The masked and the unmasked form of one message are two entries: an admin's view
        # must never be served to a viewer below admin.
        key = (kind, masked, message.id, message.received_at, message.size)
        future = self._cache.get(key)
        if future is None:
            pool = self._pool(in_thread)
            future = asyncio.get_running_loop().run_in_executor(pool, work, *args)
            self._cache[key] = future
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        try:
            result: T = await asyncio.shield(future)
        except asyncio.CancelledError:
            raise  # the request went away; the work goes on for the next one
        except BrokenProcessPool:
            self._cache.pop(key, None)
            self._processes = None  # a worker died (killed, out of memory): start anew
            raise
        except Exception:
            self._cache.pop(key, None)
            raise
        return result

    def close(self) -> None:
        """Stop the workers once their work is done; queued work is dropped."""
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
        self._cache.clear()


class ViewsHolder(Protocol):
    """Where an application keeps its ``MessageViews`` (``maildiag.web.deps.AppState``)."""

    sink_views: MessageViews | None


def exit_with_parent(parent: int) -> None:
    """In a render worker: end the process once ``parent`` (the server's PID, passed by the
    server) has gone. A server killed with SIGKILL cannot shut its pool down, and a worker
    blocked waiting for work would stay behind for good; a daemon thread sees the parent change
    (the worker is re-parented) and exits at once. The PID comes from the server, not from
    ``os.getppid()`` at start: a worker still starting when its server ended would read the
    new parent there and wait for it for good. Not ``PR_SET_PDEATHSIG``: that fires when the
    *thread* that started the worker ends, which for a pool started from a request's thread is
    any time."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(0)  # nothing of the worker's to save: it only renders views

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def views_of(holder: ViewsHolder) -> MessageViews:
    """The application's ``MessageViews``, its worker pools made on first view (no await in
    between), so an app that never shows a message starts none."""
    if holder.sink_views is None:
        holder.sink_views = MessageViews()
    return holder.sink_views


def close_views(holder: ViewsHolder) -> None:
    """Stop the views' workers (for the application's shutdown); an app started again makes
    new ones on first view."""
    found, holder.sink_views = holder.sink_views, None
    if found is not None:
        found.close()


__all__ = [
    "MAX_HTML_DEPTH",
    "HtmlPart",
    "MessageViews",
    "ViewsHolder",
    "close_views",
    "exit_with_parent",
    "html_depth",
    "refused_html",
    "safe_html",
    "views_of",
]
