"""Bulk scans kept in the database: the scan, its domains and results (``store``), and its
chunks as jobs for ``maildiag worker`` (``jobs``). Scanning itself is
``maildiag.services.scans``'; this package stores and reads. Blocking SQLAlchemy Core.
"""

from maildiag.scans.jobs import Claim, claim_chunk, complete, open_chunks, renew, start_chunk
from maildiag.scans.models import metadata
from maildiag.scans.store import (
    Outcome,
    Pending,
    ScanInfo,
    Tally,
    create_scan,
    finish_if_done,
    pending,
    results,
    results_in_order,
    save_outcomes,
    scan_info,
    tally,
    unfinished_scan,
)

__all__ = [
    "Claim",
    "Outcome",
    "Pending",
    "ScanInfo",
    "Tally",
    "claim_chunk",
    "complete",
    "create_scan",
    "finish_if_done",
    "metadata",
    "open_chunks",
    "pending",
    "renew",
    "results",
    "results_in_order",
    "save_outcomes",
    "scan_info",
    "start_chunk",
    "tally",
    "unfinished_scan",
]
