"""Many generated recipient domains for bulk-scan tests and the scan benchmark:
``c<N>.scan.example``, each with a known shape, so a scan's counts can be checked.

Shapes by ``N % 10``: 0 null MX (a problem), 1 no MX but an A record (implicit MX, a
warning), 2 Microsoft 365 and 3 Google MX hosts (names that fingerprint as those
providers, served here under the lab's own addresses), the rest an MX of the domain's own.
"""

from __future__ import annotations

from collections import Counter

from diag.resolver import MX, Record, ZoneData

SUFFIX = "scan.example"


def bulk_name(n: int) -> str:
    return f"c{n}.{SUFFIX}"


def _shape(n: int) -> str:
    return {0: "null_mx", 1: "implicit", 2: "microsoft365", 3: "google"}.get(n % 10, "own")


def bulk_zone(count: int) -> ZoneData:
    """The zone of domains ``c0`` … ``c<count-1>``."""
    zone: dict[str, dict[str, list[Record]]] = {}
    google = "aspmx.l.google.com"
    zone[google] = {"A": ["192.0.2.25"]}
    for n in range(count):
        name, shape = bulk_name(n), _shape(n)
        address = f"192.0.2.{n % 200 + 20}"
        if shape == "null_mx":
            zone[name] = {"MX": [MX(0, "")], "A": [address]}
        elif shape == "implicit":
            zone[name] = {"A": [address]}
        elif shape == "microsoft365":
            host = f"c{n}-scan-example.mail.protection.outlook.com"
            zone[name] = {"MX": [MX(0, host)]}
            zone[host] = {"A": [address]}
        elif shape == "google":
            zone[name] = {"MX": [MX(1, google)]}
        else:
            zone[name] = {"MX": [MX(10, f"mx.{name}")]}
            zone[f"mx.{name}"] = {"A": [address]}
    return zone


def bulk_expected(count: int) -> dict[str, Counter[str]]:
    """What a scan of the ``count`` domains must count: statuses and providers."""
    shapes = Counter(_shape(n) for n in range(count))
    statuses = Counter({"problem": shapes["null_mx"], "warning": shapes["implicit"]})
    statuses["ok"] = count - statuses["problem"] - statuses["warning"]
    providers = Counter(
        {
            "unknown": shapes["null_mx"],
            "generic": shapes["implicit"] + shapes["own"],
            "microsoft365": shapes["microsoft365"],
            "google": shapes["google"],
        }
    )
    return {"statuses": +statuses, "providers": +providers}


__all__ = ["SUFFIX", "bulk_expected", "bulk_name", "bulk_zone"]
