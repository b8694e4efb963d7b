"""``maildiag checklist`` in process against the lab: its DNS server and the sink (run_sink with
the lab policies) on loopback, and a migrated database with a demo account for support."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import reset
from diag.resolver import DnsPythonResolver
from maildiag.cli import main
from maildiag.db import create_engine
from maildiag.lab.dns import lab_dns_in_thread
from maildiag.lab.kit import lab_senders, prepare_lab
from maildiag.settings import SenderIdentity, Settings
from maildiag.sink.service import SinkHandle, run_sink

HEALTHY = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")
LEGACY = "do.not.reply@legacy.visma.example"
KARI = "kari@kunde-ok.example"
M365_JUNK = (
    "X-MS-Exchange-Organization-SCL: 5\n"
    "X-Forefront-Antispam-Report: CIP:198.51.100.10;SFV:SPM;CAT:SPM;DIR:INB;\n"
    "From: do.not.reply@platform.visma.com\n\n"
)


@contextlib.contextmanager
def sink_in_thread(settings: Settings, dns_address: str) -> Iterator[SinkHandle]:
    """run_sink on its own event loop in a thread (the CLI runs its own loop in this one)."""
    engine = create_engine(settings.database)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def resolver() -> DnsPythonResolver:
        return DnsPythonResolver([dns_address], timeout=2.0)

    async def serve() -> None:
        holder["stop"] = asyncio.Event()
        try:
            async with run_sink(settings, engine, resolver_factory=resolver) as handle:
                holder["handle"] = handle
                ready.set()
                await holder["stop"].wait()
        finally:
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(60)
    assert "handle" in holder, "the sink did not start"
    try:
        yield holder["handle"]
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(30)
        loop.close()
        engine.dispose()


def write_config(path: Path, settings: Settings, senders: list[SenderIdentity]) -> Path:
    lines = [
        "lab = true",
        f"data_dir = {json.dumps(str(settings.data_dir))}",
        f"smtp_port = {settings.smtp_port}",
        f"sink_proxy_port = {settings.sink_proxy_port}",
        "allow_private_targets = true",
        'lang = "en"',
    ]
    for s in senders:
        lines += [
            "[[senders]]",
            f"address = {json.dumps(s.address)}",
            f"dkim_selectors = {json.dumps(s.dkim_selectors)}",
            f"egress_ips = {json.dumps(s.egress_ips)}",
            f"helo = {json.dumps(s.helo)}",
            f"dkim_key_path = {json.dumps(str(s.dkim_key_path))}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_demo_account(database: str, address: str, now: dt.datetime) -> None:
    """An account with one reset request, its token and a 250 in the delivery log."""
    engine = create_engine(database)
    with Session(engine) as session, session.begin():
        user = reset.create_user(
            session,
            address,
            "Demo#2026lab",
            now=now,
            hasher=reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
        )
        session.flush()
        row = reset.OutboxMessage(
            kind="reset_request",
            recipient=address,
            status="sent",
            attempts=1,
            next_attempt_at=now,
            created=now,
            sent_at=now,
        )
        session.add(row)
        session.add(
            reset.ResetToken(
                token_hash="0" * 64,
                user_id=user.id,
                created=now,
                expires_at=now + dt.timedelta(minutes=30),
            )
        )
        session.flush()
        session.add(
            reset.DeliveryLogEntry(
                outbox_id=row.id,
                at=now,
                relay="127.0.0.1",
                outcome="sent",
                code=250,
                enhanced_status="2.0.0",
                text="OK",
            )
        )
    engine.dispose()


def remove_account(database: str, address: str) -> None:
    engine = create_engine(database)
    with Session(engine) as session, session.begin():
        session.execute(sa.delete(reset.User).where(reset.User.email_key == address.casefold()))
    engine.dispose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    senders = lab_senders(keys)
    with lab_dns_in_thread(zone) as dns:
        settings = Settings(
            lab=True,
            data_dir=data,
            smtp_port=0,
            sink_proxy_port=0,
            nameservers=[dns.address],
            senders=senders,
            allow_private_targets=True,
        )
        with sink_in_thread(settings, dns.address) as handle:
            live = settings.model_copy(
                update={"smtp_port": handle.port, "sink_proxy_port": handle.proxy_port}
            )
            healthy = [s for s in senders if s.address in HEALTHY]
            yield {
                "dns": dns,
                "settings": live,
                "healthy": write_config(data / "healthy.toml", live, healthy),
                "all": write_config(data / "all.toml", live, senders),
                "no_sink": write_config(
                    data / "no-sink.toml",
                    live.model_copy(update={"sink_proxy_port": _closed_port()}),
                    healthy,
                ),
                "data": data,
            }


def run(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any], *argv: str, config: str = "healthy"
) -> tuple[int, str, str]:
    try:
        code = main(["--nameserver", lab["dns"].address, "--config", str(lab[config]), *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def items(out: str) -> dict[str, dict[str, Any]]:
    return {i["key"]: i for i in json.loads(out)["items"]}


def test_healthy_domain_for_support_is_all_ok(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    add_demo_account(lab["settings"].database, KARI, dt.datetime.now(dt.UTC))
    try:
        code, out, err = run(
            capsys, lab, "checklist", KARI, "--audience", "support", "--format", "json"
        )
    finally:
        remove_account(lab["settings"].database, KARI)
    assert code == 0, err
    found = items(out)
    assert found["address.registered"]["evidence"]["exists"] is True
    assert found["delivery.sent"]["status"] == "ok"
    assert found["link.valid"]["status"] == "ok"
    assert found["spam.folder"]["status"] == "todo"
    assert {i["status"] for k, i in found.items() if k != "spam.folder"} == {"ok"}


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_self_output_is_identical_for_registered_and_unregistered(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any], fmt: str
) -> None:
    database = lab["settings"].database
    add_demo_account(database, KARI, dt.datetime.now(dt.UTC))
    try:
        registered = run(capsys, lab, "checklist", KARI, "--audience", "self", "--format", fmt)
    finally:
        remove_account(database, KARI)
    unregistered = run(capsys, lab, "checklist", KARI, "--audience", "self", "--format", fmt)
    assert registered[0] == 0
    assert registered == unregistered


def test_null_mx_for_admin(capsys: pytest.CaptureFixture[str], lab: dict[str, Any]) -> None:
    code, out, _ = run(
        capsys,
        lab,
        "checklist",
        "kari@kunde-nullmx.example",
        "--audience",
        "admin",
        "--format",
        "json",
    )
    assert code == 1
    item = items(out)["recipient.can_receive"]
    assert item["status"] == "problem"
    assert "mx.null_mx" in {f["code"] for f in item["findings"]}


def test_sender_block_for_admin(capsys: pytest.CaptureFixture[str], lab: dict[str, Any]) -> None:
    code, out, _ = run(
        capsys,
        lab,
        "checklist",
        "kari@kunde-blokkerer.example",
        "--audience",
        "admin",
        "--format",
        "json",
    )
    assert code == 1
    item = items(out)["recipient.blocks_sender"]
    assert item["status"] == "problem"
    assert item["evidence"]["reply"].startswith("550 5.7.1")
    assert all(s in item["next_step"] for s in HEALTHY)
    assert set(HEALTHY) <= set(item["evidence"]["allowlist"]["senders"])


def test_unknown_mailbox_for_support(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    code, out, _ = run(
        capsys,
        lab,
        "checklist",
        "kari@kunde-ukjent.example",
        "--audience",
        "support",
        "--format",
        "json",
    )
    assert code == 1
    item = items(out)["address.registered"]
    assert item["status"] == "problem"
    assert item["evidence"]["probe"]["reply"].startswith("550 5.1.1")


def test_legacy_identity_in_the_text_report(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    code, out, _ = run(
        capsys, lab, "--lang", "nb", "checklist", KARI, "--audience", "admin", config="all"
    )
    assert code == 1
    assert "do.not.reply@legacy.visma.example: problem" in out
    assert "dkim.key_mismatch" in out
    assert "spf.too_many_lookups" in out


def test_pasted_headers_and_bounce(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any], tmp_path: Path
) -> None:
    headers = tmp_path / "headers.txt"
    headers.write_text(M365_JUNK, encoding="utf-8")
    code, out, _ = run(
        capsys,
        lab,
        "checklist",
        KARI,
        "--audience",
        "self",
        "--format",
        "json",
        "--headers",
        str(headers),
    )
    assert code == 1
    assert items(out)["spam.folder"]["evidence"]["system"] == "microsoft"
    bounce = tmp_path / "bounce.txt"
    bounce.write_text(
        "Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
    )
    code, out, _ = run(
        capsys,
        lab,
        "checklist",
        KARI,
        "--audience",
        "self",
        "--format",
        "json",
        "--bounce",
        str(bounce),
    )
    assert code == 1
    assert items(out)["delivery.accepted"]["evidence"]["source"] == "bounce"


@pytest.mark.parametrize(
    "argv",
    [
        ["checklist", "not-an-address"],
        ["checklist", KARI, "--audience", "boss"],
        ["checklist", KARI, "--format", "pdf"],
        ["checklist", KARI, "--headers", "/nonexistent/headers.txt"],
    ],
)
def test_bad_usage_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any], argv: list[str]
) -> None:
    code, out, err = run(capsys, lab, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1


def test_test_send_evidence_in_the_sender_item(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    argv = ("checklist", "kari@kunde-nullmx.example", "--audience", "admin", "--format", "json")
    code, out, err = run(capsys, lab, *argv, "--test-send")
    assert code == 1, err  # the null MX is still a problem: the test mail went to the sink
    item = items(out)["sender.authentication"]
    assert item["status"] == "ok"
    sends = item["evidence"]["test_sends"]
    assert [s["identity"] for s in sends] == list(HEALTHY)
    for send in sends:
        assert (send["spf"], send["dkim"], send["dmarc"], send["folder"]) == (
            "pass",
            "pass",
            "pass",
            "inbox",
        )
        assert send["to"] == "kari@kunde-nullmx.example"  # the address under check
    # the sink took it, though the domain has no mail server: the page says why they differ
    assert items(out)["recipient.can_receive"]["evidence"]["conflict"] == "test_unrouted"
    code, out, _ = run(capsys, lab, *argv)
    assert code == 1
    assert items(out)["sender.authentication"]["evidence"]["test_sends"] == []


def test_test_send_to_junk_makes_the_sender_item_a_problem(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    code, out, _ = run(
        capsys,
        lab,
        "checklist",
        KARI,
        "--audience",
        "admin",
        "--format",
        "json",
        "--test-send",
        config="all",
    )
    assert code == 1
    item = items(out)["sender.authentication"]
    assert item["status"] == "problem"
    (legacy,) = [s for s in item["evidence"]["test_sends"] if s["identity"] == LEGACY]
    assert legacy["folder"] == "junk"
    assert legacy["would_reach_inbox"] is False
    from_send = {f["code"] for f in item["findings"] if f["evidence"].get("identity") == LEGACY}
    assert {"testsend.dkim_fail", "testsend.junk"} <= from_send


def test_test_send_without_a_sink_exits_2(
    capsys: pytest.CaptureFixture[str], lab: dict[str, Any]
) -> None:
    code, out, err = run(capsys, lab, "checklist", KARI, "--test-send", config="no_sink")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
