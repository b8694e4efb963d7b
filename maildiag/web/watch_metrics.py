"""``maildiag_watch_events_total`` in ``/metrics``: the watch's changes from pass to fail
(``failed``) and back (``recovered``), by identity and check.

Read from the stored history at each scrape, so rounds run by ``maildiag watch`` or by a
worker process count as well as the ones run here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from maildiag.watch import event_counts

log = logging.getLogger(__name__)

NAME = "maildiag_watch_events"
HELP = "changes of a watched sender check: failed (pass to fail) or recovered (fail to pass)"
LABELS = ("identity", "check", "change")


class WatchEvents(Collector):
    """The watch's event counts; ``engine_of`` gives the app's database engine at scrape."""

    def __init__(self, engine_of: Callable[[], sa.Engine]) -> None:
        self._engine_of = engine_of

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(NAME, HELP, labels=LABELS)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(NAME, HELP, labels=LABELS)
        try:
            counts = event_counts(self._engine_of())
        except sa.exc.SQLAlchemyError as exc:
            log.warning("watch.metrics_unavailable error=%s", type(exc).__name__)
            counts = []
        for identity, check, change, count in counts:
            family.add_metric([identity, check, change], count)
        yield family
