"""Loader for the openspf YAML suites: scenarios, tests and their zone data as ZoneData.

Follows the rules in shared/conformance/README.md §1: SPF values are served as TXT when a
name has no TXT entry, ``TXT: NONE`` only suppresses that, and ``TIMEOUT`` makes every type
not listed before it time out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from diag.resolver import MX, TXT, MemoryResolver, Record, ZoneData

TIMEOUT = "timeout"
_ALL_TYPES = ("A", "AAAA", "MX", "PTR", "TXT", "SPF", "CNAME")


@dataclass(frozen=True)
class Scenario:
    """One YAML document: its zone and the types that time out per name."""

    description: str
    zone: ZoneData
    timeouts: Mapping[str, tuple[str, ...]]

    def errors(self) -> dict[tuple[str, str], str]:
        """MemoryResolver ``errors`` for the TIMEOUT entries."""
        return {
            (name, rdtype): TIMEOUT for name, types in self.timeouts.items() for rdtype in types
        }

    def resolver(self) -> MemoryResolver:
        return MemoryResolver(self.zone, strict=False, errors=self.errors())


@dataclass(frozen=True)
class SuiteCase:
    """One test: the check_host() inputs and the acceptable results (the first preferred)."""

    name: str
    spec: str
    scenario: Scenario
    host: str
    mailfrom: str
    helo: str
    results: tuple[str, ...]
    explanation: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        """check_host's <domain>: the mailfrom domain, or the HELO name for a null path."""
        return self.mailfrom.rpartition("@")[2] if self.mailfrom else self.helo

    @property
    def sender(self) -> str:
        return self.mailfrom or f"postmaster@{self.helo}"

    @property
    def test_id(self) -> str:
        """The spec clause and the test name: ``4.3/1-longlabel``."""
        return f"{self.spec}-{self.name}"


def load_suite(path: Path) -> Iterator[SuiteCase]:
    """Every test of every scenario in ``path``, in file order."""
    with path.open(encoding="utf-8") as handle:
        for document in yaml.safe_load_all(handle):
            if document:
                yield from _cases(document)


def _cases(document: Mapping[str, Any]) -> Iterator[SuiteCase]:
    scenario = build_scenario(document.get("description", ""), document.get("zonedata") or {})
    for name, test in document["tests"].items():
        result = test["result"]
        yield SuiteCase(
            name=name,
            spec=str(test.get("spec", "")),
            scenario=scenario,
            host=str(test["host"]),
            mailfrom=str(test.get("mailfrom") or ""),
            helo=str(test.get("helo") or ""),
            results=tuple(result) if isinstance(result, list) else (result,),
            explanation=test.get("explanation"),
            raw=test,
        )


def build_scenario(description: str, zonedata: Mapping[str, Any]) -> Scenario:
    zone: dict[str, dict[str, list[Record]]] = {}
    timeouts: dict[str, tuple[str, ...]] = {}
    for owner, entries in zonedata.items():
        name = str(owner).lower().rstrip(".")
        records, timed_out = _owner_records(entries or [])
        zone[name] = records
        if timed_out:
            timeouts[name] = tuple(t for t in _ALL_TYPES if t not in records)
    return Scenario(description, zone, timeouts)


def _owner_records(entries: list[Any]) -> tuple[dict[str, list[Record]], bool]:
    """The records of one owner name, and whether a TIMEOUT entry follows them."""
    records: dict[str, list[Record]] = {}
    has_txt = False
    for entry in entries:
        if entry == "TIMEOUT":
            return _with_spf_as_txt(records, has_txt), True
        ((rdtype, value),) = entry.items()
        has_txt = has_txt or rdtype == "TXT"
        if not (rdtype == "TXT" and value == "NONE"):
            records.setdefault(rdtype, []).append(_record(rdtype, value))
    return _with_spf_as_txt(records, has_txt), False


def _with_spf_as_txt(records: dict[str, list[Record]], has_txt: bool) -> dict[str, list[Record]]:
    if "SPF" in records and not has_txt:
        records["TXT"] = list(records["SPF"])
    return records


def _record(rdtype: str, value: Any) -> Record:
    if rdtype in ("TXT", "SPF"):
        strings = value if isinstance(value, list) else [value]
        return TXT(tuple(str(s).encode("utf-8") for s in strings))
    if rdtype == "MX":
        preference, exchange = value
        return MX(int(preference), str(exchange).lower().rstrip("."))
    return str(value).lower().rstrip(".") if rdtype in ("PTR", "CNAME") else str(value)
