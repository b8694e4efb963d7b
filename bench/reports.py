"""Benchmark of report ingest (not a test): run ``python -m bench.reports [--write]``.

Generates DMARC aggregate reports (10,000 by default) on disk in a temporary directory, half
as .xml.gz and half as .zip, each of 1 to 200 records (uniform, fixed seed), and imports them
all with ``maildiag.feedback.ingest`` into a fresh, migrated SQLite file (WAL,
``synchronous=FULL``), reading the files lazily one at a time. Peak RSS is sampled every
20 ms during the import, and at every thousandth report, so a batch that held its reports
would show a climb. Then, on the same files (all of them, or the first ``--sample N``),
parsedmarc (a test-only dependency, offline: no DNS, no downloads) parses each file, and so
does ``diag.feedback.parse_report`` without storing, in ``--rounds`` interleaved rounds;
parsedmarc's rate is given per report and the results as ratios. Every answer is checked: no
report refused or duplicate, the stored messages equal the generated ones, and parsedmarc's
record counts equal ours.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import platform
import random
import statistics
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.spf_report import DOCS, write_docs
from diag.feedback import AggregateReport, parse_report
from maildiag.db import create_engine, migrate
from maildiag.feedback import ingest
from maildiag.feedback import models as m

HEADING = "## Report ingest (bench/reports.py)"
REPORTS = 10_000
SAMPLE = 0  # files parsed by both parsers for the rate comparison (0: every generated file)
ROUNDS = 1  # interleaved rounds of that comparison
MAX_RECORDS = 200
BEGIN = 1764892800  # 2025-12-05T00:00:00Z
DOMAINS = ("platform.visma.com", "connect.visma.com", "legacy.visma.example")
REPORTERS = ("google.com", "Outlook.com", "Yahoo", "Mail.Ru", "comcast.net", "GMX")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- the files -----------------------------------------------------------------------------


def _record(rng: random.Random, domain: str) -> str:
    ip = rng.choice(
        (
            "198.51.100.10",
            "198.51.100.20",
            "203.0.113.30",
            f"192.0.2.{rng.randint(1, 254)}",
            f"2001:db8::{rng.randint(1, 0xFFFF):x}",
        )
    )
    dkim, spf = rng.choice(("pass", "fail")), rng.choice(("pass", "fail"))
    disposition = "none" if "pass" in (dkim, spf) else rng.choice(("quarantine", "reject"))
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{rng.randint(1, 1000)}</count>"
        f"<policy_evaluated><disposition>{disposition}</disposition><dkim>{dkim}</dkim>"
        f"<spf>{spf}</spf></policy_evaluated></row><identifiers>"
        f"<envelope_from>bounce.visma.example</envelope_from><header_from>{domain}</header_from>"
        f"</identifiers><auth_results><dkim><domain>{domain}</domain><selector>reset2026"
        f"</selector><result>{dkim}</result></dkim><spf><domain>bounce.visma.example</domain>"
        f"<scope>mfrom</scope><result>{spf}</result></spf></auth_results></record>"
    )


def _report(rng: random.Random, index: int) -> tuple[bytes, int]:
    """One report's XML and its message count."""
    domain = rng.choice(DOMAINS)
    day = BEGIN + 86_400 * (index % 30)
    records = [_record(rng, domain) for _ in range(rng.randint(1, MAX_RECORDS))]
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><feedback><report_metadata>'
        f"<org_name>{rng.choice(REPORTERS)}</org_name><email>dmarc@receiver.example</email>"
        f"<report_id>bench-{index}</report_id><date_range><begin>{day}</begin>"
        f"<end>{day + 86_399}</end></date_range></report_metadata><policy_published>"
        f"<domain>{domain}</domain><p>reject</p><sp>reject</sp></policy_published>"
        f"{''.join(records)}</feedback>"
    )
    messages = sum(int(r.split("<count>")[1].split("<")[0]) for r in records)
    return xml.encode(), messages


def generate(directory: Path, reports: int, seed: int = 16) -> tuple[list[Path], int]:
    """The report files, alternately .xml.gz and .zip, and their messages in all."""
    rng = random.Random(seed)
    paths, messages = [], 0
    for index in range(reports):
        xml, count = _report(rng, index)
        messages += count
        if index % 2:
            path = directory / f"r{index}.zip"
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(f"r{index}.xml", xml)
            path.write_bytes(buffer.getvalue())
        else:
            path = directory / f"r{index}.xml.gz"
            path.write_bytes(gzip.compress(xml, mtime=0))
        paths.append(path)
    return paths, messages


# -- measuring -----------------------------------------------------------------------------


def rss() -> int:
    """This process's resident set size in bytes."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


class RssSampler:
    """The peak RSS, sampled every ``interval`` seconds on a thread of its own."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


@dataclass(frozen=True)
class IngestRun:
    reports: int
    records: int
    seconds: float
    rss_before: int
    rss_peak: int
    rss_by_thousand: list[int]

    @property
    def rate(self) -> float:
        return self.reports / self.seconds


def run_ingest(paths: list[Path], messages: int, directory: Path) -> IngestRun:
    engine = create_engine(f"sqlite:///{directory / 'bench.sqlite3'}")
    migrate(engine)
    by_thousand: list[int] = []

    def lazily() -> Iterator[Path]:
        for index, path in enumerate(paths):
            if index % 1000 == 0:
                by_thousand.append(rss())
            yield path

    before = rss()
    with RssSampler() as sampler:
        started = time.perf_counter()
        results = ingest(engine, lazily())
        seconds = time.perf_counter() - started
    bad = [r for r in results if r.refused or r.duplicate]
    if bad or len(results) != len(paths):
        raise RuntimeError(f"{len(bad)} reports refused or duplicate: {bad[:1]}")
    with engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.sum(m.records.c.count))).scalar_one()
        records = connection.execute(sa.select(sa.func.count()).select_from(m.records)).scalar_one()
    engine.dispose()
    if stored != messages:
        raise RuntimeError(f"stored {stored} messages, generated {messages}")
    return IngestRun(len(paths), records, seconds, before, sampler.peak, by_thousand)


def _ours(paths: list[Path]) -> tuple[float, int]:
    started = time.perf_counter()
    records = 0
    for path in paths:
        report = parse_report(path.read_bytes())
        assert isinstance(report, AggregateReport)
        records += len(report.records)
    return time.perf_counter() - started, records


def _parsedmarc(paths: list[Path]) -> tuple[float, int]:
    import parsedmarc

    started = time.perf_counter()
    records = 0
    for path in paths:
        parsed = parsedmarc.parse_report_file(str(path), offline=True, always_use_local_files=True)
        records += len(parsed["report"]["records"])
    return time.perf_counter() - started, records


def run_parsers(paths: list[Path], rounds: int) -> tuple[list[float], list[float]]:
    """Seconds per report of ours (parsing only) and of parsedmarc, per interleaved round."""
    ours, theirs = [], []
    for _ in range(rounds):
        ours_seconds, ours_records = _ours(paths)
        their_seconds, their_records = _parsedmarc(paths)
        if ours_records != their_records:
            raise RuntimeError(f"records: ours {ours_records}, parsedmarc {their_records}")
        ours.append(ours_seconds / len(paths))
        theirs.append(their_seconds / len(paths))
    return ours, theirs


# -- reporting -----------------------------------------------------------------------------


def section(
    run: IngestRun, ours: list[float], theirs: list[float], sample: int, load: tuple[float, float]
) -> str:
    mib = 1024 * 1024
    ours_rate = 1 / statistics.median(ours)
    their_rate = 1 / statistics.median(theirs)
    ratios = sorted(t / o for o, t in zip(ours, theirs, strict=True))
    climb = ", ".join(f"{value / mib:.0f}" for value in run.rss_by_thousand)
    thousands = run.rss_by_thousand
    growth = (thousands[-1] - thousands[0]) / max(1000 * (len(thousands) - 1), 1) / 1024
    parse_share = run.rate / ours_rate  # seconds parsing a report / seconds importing one
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
        f" shared with other jobs, load average {load[0]:.1f} before and {load[1]:.1f} after"
    )
    which = "the same" if sample == run.reports else "the first"
    spread = f" ({ratios[0]:.2f}–{ratios[-1]:.2f})" if len(ratios) > 1 else ""
    median = ", median of rounds" if len(ours) > 1 else ""
    rounds = "in one round" if len(ours) == 1 else f"in {len(ours)} interleaved rounds"
    rows = [
        f"| reports/s, parse and store in SQLite ({run.reports:,} reports) | {run.rate:.1f} "
        f"| – | **{run.rate / their_rate:.2f}x** parsedmarc's parse-only rate |",
        f"| reports/s, parse only ({which} {sample:,} files{median}) | {ours_rate:.1f} "
        f"| {their_rate:.1f} | **{statistics.median(ratios):.2f}x**{spread} |",
        f"| peak RSS during the import | {run.rss_peak / mib:.0f} MiB "
        f"({(run.rss_peak - run.rss_before) / mib:.0f} MiB above the start) | – | – |",
    ]
    table = "\n".join(rows)
    return f"""{HEADING}

`python -m bench.reports [--reports N] [--sample N] [--rounds N] [--write]` generates
{run.reports:,} DMARC aggregate reports (half .xml.gz, half .zip, 1–{MAX_RECORDS} records each,
{run.records:,} records in all) in a temporary directory and imports them with
`maildiag.feedback.ingest` into a fresh SQLite file (WAL, `synchronous=FULL`, a commit every
100 reports), reading the files lazily. Peak RSS is sampled every 20 ms. Then {which}
{sample:,} files are parsed by parsedmarc (offline) and by `diag.feedback.parse_report` (parsing
only, no storage), {rounds}. Every answer is checked (nothing refused
or duplicate, the stored message total equals the generated one, the same record counts from
both parsers).

Results on {time.strftime("%Y-%m-%d")}, {machine}:

| measure | ours | parsedmarc | ours / parsedmarc |
|---|---:|---:|---:|
{table}

Parsing is about {parse_share:.0%} of the import's time; the rest is storing (SQLAlchemy Core
inserts, one row per record, and the commits). RSS at every thousandth report (MiB): {climb}.
It grows by about {growth:.1f} KiB a report: the IngestResult each report returns (its counts),
while one report as values takes some 40 KB, so the import does not keep its reports; it holds
one file and one transaction's reports whatever the batch's length (a test,
`tests/maildiag/feedback/test_ingest.py`, holds it to that with tracemalloc).
Offline, parsedmarc still looks each source IP up in its bundled IP database (country
and ASN, cached per address) and has no switch to skip that, so its figure includes it.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--reports", type=int, default=REPORTS)
    parser.add_argument("--sample", type=int, default=SAMPLE)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--write", action="store_true", help=f"update {DOCS}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as name:
        directory = Path(name)
        paths, messages = generate(directory, args.reports)
        load_before = os.getloadavg()[0]
        run = run_ingest(paths, messages, directory)
        ours, theirs = run_parsers(paths[: args.sample or None], args.rounds)
        load = (load_before, os.getloadavg()[0])
    text = section(run, ours, theirs, min(args.sample or len(paths), len(paths)), load)
    print(text)
    if args.write:
        write_docs(text, heading=HEADING)


if __name__ == "__main__":
    main()
