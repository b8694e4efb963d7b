"""The watch on our sender identities, kept in the database: each round's checks, the changes
from pass to fail and back (events), and the questions the ``/watch`` page, its JSON and
``/metrics`` ask of the history.

Running a round is ``maildiag.services.watch``'s; this package stores and reads.
"""

from maildiag.watch.models import metadata
from maildiag.watch.store import (
    FAILED,
    RECOVERED,
    CheckState,
    Round,
    changes,
    event_counts,
    last_judged,
    recent_rounds,
    record_round,
)

__all__ = [
    "FAILED",
    "RECOVERED",
    "CheckState",
    "Round",
    "changes",
    "event_counts",
    "last_judged",
    "metadata",
    "recent_rounds",
    "record_round",
]
