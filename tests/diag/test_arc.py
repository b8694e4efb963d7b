"""verify_arc: the ValiMail ARC validation suite, stalwart messages, and inputs dkimpy trips on.

Data is read in place from ``conformance_dir / "arc"`` and ``/ "headers"`` (README §3, §5).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.dkim import ArcResult, verify_arc
from diag.resolver import TXT, MemoryResolver
from tests.conftest import CONFORMANCE

SUITE_FILE = CONFORMANCE / "arc" / "arc-draft-validation-tests.yml"


def zone(records: dict[str, str], **kwargs: Any) -> MemoryResolver:
    data = {name: {"TXT": [TXT((text.encode(),))]} for name, text in records.items()}
    return MemoryResolver(data, strict=False, **kwargs)


def _suite_cases() -> list[Any]:
    """One param per test of every scenario; the scenario's zone travels with it."""
    if not SUITE_FILE.is_file():
        return [
            pytest.param(
                None,
                None,
                "",
                id="arc-suite-absent",
                marks=pytest.mark.skip(reason=f"{SUITE_FILE} absent"),
            )
        ]
    cases = []
    with SUITE_FILE.open() as handle:
        for scenario in yaml.safe_load_all(handle):
            records = scenario.get("txt-records") or {}
            for test_id, test in scenario["tests"].items():
                cv = str(test.get("cv") or "").strip().lower()
                cases.append(
                    pytest.param(test, records, cv, id=f"arc[{test.get('spec', '-')}-{test_id}]")
                )
    return cases


SUITE_CASES = _suite_cases()


def test_suite_has_all_171_tests() -> None:
    if not SUITE_FILE.is_file():
        pytest.skip(f"ARC suite not found at {SUITE_FILE}")
    assert len(SUITE_CASES) == 171


@pytest.mark.parametrize(("test", "records", "expected"), SUITE_CASES)
async def test_validation_suite(
    test: dict[str, Any], records: dict[str, str], expected: str
) -> None:
    result = await verify_arc(test["message"].encode(), zone(records))
    assert isinstance(result, ArcResult)
    if expected:
        assert result.cv == expected, result
    else:
        # An empty cv in the suite means "a seal reported cv=fail, the chain has ended" (all
        # three such tests). RFC 8617 §5.2 makes that chain's status "fail"; we report
        # it as fail with the distinguishing reason rather than as none.
        assert (result.cv, result.reason) == ("fail", "arc.chain_failed"), result
    if result.cv == "pass":
        assert result.reason == ""
        assert result.instances == len(result.sets) >= 1
        assert result.sets[0].ams_valid  # the most recent AMS must validate (RFC 8617 §5.2)
        assert all(s.seal_valid for s in result.sets)


def stalwart(path: Path) -> tuple[dict[str, str], bytes]:
    head, message = path.read_bytes().split(b"\n\n", 1)
    return dict(line.split(" ", 1) for line in head.decode().splitlines()), message


async def test_stalwart_001_pass(conformance_dir: Path) -> None:
    records, message = stalwart(conformance_dir / "arc" / "stalwart-mail-auth" / "arc-001.txt")
    resolver = zone(records)
    result = await verify_arc(message, resolver)
    assert (result.cv, result.reason) == ("pass", "")
    assert result.instances >= 1
    assert {name for name, _ in resolver.queries} <= {n.lower() for n in records}


async def test_stalwart_002_ed25519_seals_fail_with_reason(conformance_dir: Path) -> None:
    records, message = stalwart(conformance_dir / "arc" / "stalwart-mail-auth" / "arc-002.txt")
    result = await verify_arc(message, zone(records))
    assert (result.cv, result.reason) == ("fail", "arc.unsupported_algorithm")
    assert "ed25519-sha256" in result.detail


def blaze_zone(cache: Path) -> MemoryResolver:
    """blaze's recorded answers: one file per query name, ``txt:<value>`` lines."""
    records: dict[str, dict[str, list[Any]]] = {}
    for path in cache.glob("*.dns"):
        texts = [
            TXT((line[4:].encode(),))
            for line in path.read_text().splitlines()
            if line.startswith("txt:")
        ]
        records[path.name.removesuffix(".dns")] = {"TXT": texts}
    return MemoryResolver(records, strict=False)


@pytest.mark.parametrize(
    "name", ["005.mail", "006.mail"], ids=["blaze[005-lkml]", "blaze[006-lkml-m365]"]
)
async def test_blaze_lkml_chains_do_not_crash(conformance_dir: Path, name: str) -> None:
    headers = conformance_dir / "headers" / "blaze"
    message = (headers / name).read_bytes()
    assert re.search(rb"^ARC-Message-Signature:i=", message, re.MULTILINE)  # the dkimpy trap
    result = await verify_arc(message, blaze_zone(headers / "cache"))
    assert (result.cv, result.reason) == ("fail", "arc.verifier_error")
    assert "IndexError" in result.detail
    assert result.instances == 3


@pytest.mark.parametrize(
    "name", ["002.mail", "004.mail"], ids=["blaze[002-google]", "blaze[004-discourse]"]
)
async def test_blaze_google_arc_passes(conformance_dir: Path, name: str) -> None:
    headers = conformance_dir / "headers" / "blaze"
    result = await verify_arc((headers / name).read_bytes(), blaze_zone(headers / "cache"))
    assert (result.cv, result.instances) == ("pass", 1)
    assert result.sets[0].seal_domain == "google.com"


async def test_unsealed_message_is_none() -> None:
    resolver = zone({})
    result = await verify_arc(b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n", resolver)
    assert (result.cv, result.instances, result.reason) == ("none", 0, "arc.none")
    assert resolver.queries == []
    assert result.to_dict()["cv"] == "none"


async def test_dns_failure_is_reported(conformance_dir: Path) -> None:
    records, message = stalwart(conformance_dir / "arc" / "stalwart-mail-auth" / "arc-001.txt")
    errors = {(name, "TXT"): "timeout" for name in records}
    result = await verify_arc(message, zone(records, errors=errors))
    assert (result.cv, result.reason) == ("fail", "arc.dns_temperror")


@pytest.mark.parametrize(
    "message",
    [
        b"ARC-Seal: i=1; cv=none\r\n\r\n",
        b"ARC-Seal:\r\n\r\n",
        b" ARC-Seal: i=1\r\nFrom: x\r\n\r\n",
        b"ARC-Message-Signature:i=1;\r\n"
        b"ARC-Seal: i=1; a=rsa-sha256; d=e.x; s=s; b=AA==; cv=none\r\n\r\n",
        b"ARC-Seal: i=99999999999999999999; d=a; s=b\r\n\r\n",
        b"\xff\xfe\x00ARC-Seal: i=1; d=\xff; s=\x00\r\n\r\n",
    ],
)
async def test_garbage_never_raises(message: bytes) -> None:
    result = await verify_arc(message, zone({}))
    assert result.cv in ("pass", "fail", "none")
    assert result.cv != "pass"


@settings(max_examples=50, deadline=None)
@given(st.data())
async def test_mutated_chains_never_raise(conformance_dir: Path, data: st.DataObject) -> None:
    records, message = stalwart(conformance_dir / "arc" / "stalwart-mail-auth" / "arc-001.txt")
    start = data.draw(st.integers(0, 6000))
    end = data.draw(st.integers(start, start + 8))
    mutated = message[:start] + data.draw(st.binary(max_size=8)) + message[end:]
    result = await verify_arc(mutated, zone(records))
    assert result.cv in ("pass", "fail", "none")


async def test_arc_fields_without_instance_are_a_broken_chain() -> None:
    message = b"ARC-Seal: cv=none; d=example.org; s=x\r\nFrom: a@example.org\r\n\r\nbody\r\n"
    result = await verify_arc(message, zone({}))
    assert (result.cv, result.reason) == ("fail", "arc.structure")  # RFC 8617 §5.2
    other = await verify_arc(b"Arc-Foo: i=1\r\n\r\n", zone({}))
    assert other.cv == "none"
