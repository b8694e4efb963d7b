"""The sink as the lab runs it: the real sink on port 0, judging with ``diag.authenticate``
through the lab's DNS server on port 0, each demo domain's behaviour seen by a real client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from maildiag.lab.dns import lab_dns_in_thread
from maildiag.lab.kit import LabKey, prepare_lab
from maildiag.lab.policies import LAB_MX_ADDRESSES, lab_policies
from maildiag.lab.zones import LAB_EGRESS
from maildiag.settings import Settings
from maildiag.sink.pool import JudgeWorkerDied, ProcessJudge, event_loop
from maildiag.sink.service import bounce_patterns, judge_processes, sink_policies
from smtp_sink import Action, CapturedMessage, EnvelopeFacts, Judge, Verdict, summarize_headers
from tests.maildiag.sink_lab import Lab, key_for, lab_sink, make_message, proxied_socket, signed
from tests.maildiag.test_reset_support import SECRET_KEY

PLATFORM = "do.not.reply@platform.visma.com"
CONNECT = "do.not.reply@connect.visma.com"
LEGACY = "do.not.reply@legacy.visma.example"
OUTSIDER = "tester@lab-tests.example"  # no records in the lab: SPF none, DMARC none


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LabKey], Any]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    return data, keys, zone


@pytest.fixture
async def lab(lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path) -> AsyncIterator[Lab]:
    data, keys, zone = lab_data
    async with lab_sink(data, keys, zone, tmp_path, sink_bounce_delay=0.2) as running:
        yield running


async def _send(port: int, sender: str, rcpts: list[str], message: bytes) -> Any:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        return await client.sendmail(sender, rcpts, message)


async def _stored(lab: Lab, to: str) -> list[CapturedMessage]:
    return await asyncio.to_thread(lab.sink.store.list, to=to)


async def test_kunde_ok_accepts_into_the_inbox(lab: Lab) -> None:
    to = "kari@kunde-ok.example"
    await _send(lab.sink.port, OUTSIDER, [to], make_message(OUTSIDER, to))
    [message] = await _stored(lab, to)
    assert message.folder_for(to) == "inbox"
    assert message.verdict["data"]["dmarc"]["result"] == "none"


async def test_kunde_nomx_implicit_mx_accepts(lab: Lab) -> None:
    to = "kari@kunde-nomx.example"
    await _send(lab.sink.port, OUTSIDER, [to], make_message(OUTSIDER, to))
    assert [m.folder_for(to) for m in await _stored(lab, to)] == ["inbox"]


async def test_kunde_blokkerer_through_the_relay_refuses_at_rcpt(lab: Lab) -> None:
    to = "kari@kunde-blokkerer.example"
    for sender in (PLATFORM, CONNECT, "bounce+12@platform.visma.com"):
        async with aiosmtplib.SMTP(
            hostname="127.0.0.1", port=lab.sink.port, start_tls=False
        ) as client:
            await client.mail(sender)
            with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
                await client.rcpt(to)
        assert refused.value.code == 550
        assert refused.value.message.startswith("5.7.1")
    assert await _stored(lab, to) == []


async def test_kunde_blokkerer_mx_refuses_at_mail_from(lab: Lab) -> None:
    mx = LAB_MX_ADDRESSES["kunde-blokkerer.example"]
    for sender in (PLATFORM, CONNECT):
        async with aiosmtplib.SMTP(hostname=mx, port=lab.sink.port, start_tls=False) as client:
            with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
                await client.mail(sender)
        assert (refused.value.code, refused.value.message[:5]) == (550, "5.7.1")
    async with aiosmtplib.SMTP(hostname=mx, port=lab.sink.port, start_tls=False) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused):
            await client.mail("bounce+17@platform.visma.com")  # VERP: the domain is blocked
    async with aiosmtplib.SMTP(hostname=mx, port=lab.sink.port, start_tls=False) as client:
        reply = await client.mail(OUTSIDER)  # only our two sender domains are blocked
    assert reply.code == 250


async def test_kunde_greylist_defers_once_then_accepts(lab: Lab) -> None:
    to = "kari@kunde-greylist.example"
    message = make_message(OUTSIDER, to)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as deferred:
        await _send(lab.sink.port, OUTSIDER, [to], message)
    [refusal] = deferred.value.recipients
    assert (refusal.code, refusal.message[:5]) == (451, "4.7.1")
    await _send(lab.sink.port, OUTSIDER, [to], message)
    assert len(await _stored(lab, to)) == 1


async def test_kunde_ukjent_has_no_kari(lab: Lab) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=lab.sink.port, start_tls=False) as client:
        await client.mail(PLATFORM)
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("kari@kunde-ukjent.example")
        other = await client.rcpt("ola@kunde-ukjent.example")
    assert (refused.value.code, refused.value.message[:5]) == (550, "5.1.1")
    assert other[0] == 250


async def test_kunde_spam_junks_with_microsoft_headers_unless_allowlisted(lab: Lab) -> None:
    to = "kari@kunde-spam.example"
    await _send(lab.sink.port, OUTSIDER, [to], make_message(OUTSIDER, to, "first"))
    [junked] = await _stored(lab, to)
    assert junked.folder_for(to) == "junk"
    assert b"X-MS-Exchange-Organization-SCL: 5" in junked.added_headers
    assert b"SFV:SPM" in junked.added_headers
    policy = lab.sink.policies.for_recipient(to)
    lab.sink.policies.set_domain(
        "kunde-spam.example",
        type(policy)(action=Action.JUNK_UNLESS_ALLOWLISTED, allowlist=(OUTSIDER,)),
    )
    await _send(lab.sink.port, OUTSIDER, [to], make_message(OUTSIDER, to, "second"))
    newest = (await _stored(lab, to))[0]
    assert (newest.summary.subject, newest.folder_for(to)) == ("second", "inbox")
    assert b"SFV:SPM" not in newest.added_headers


async def test_kunde_sprett_bounces_late_into_the_sink_and_reports_it(lab: Lab) -> None:
    to = "kari@kunde-sprett.example"
    verp = "bounce+42@platform.visma.com"
    key = key_for(lab.keys, "platform.visma.com")
    message = signed(key, make_message(PLATFORM, to))
    await _send(lab.sink.port, verp, [to], message)
    assert [m.folder_for(to) for m in await _stored(lab, to)] == ["inbox"]
    for _ in range(100):
        if lab.bounces:
            break
        await asyncio.sleep(0.05)
    [report] = lab.bounces
    assert (report.verp_token, report.status, report.action) == ("42", "5.2.2", "failed")
    assert report.failed_recipients == (to,)
    [dsn] = await _stored(lab, verp)
    assert dsn.mail_from == ""
    assert b"multipart/report" in dsn.raw
    assert b'report-type="delivery-status"' in dsn.raw


async def test_lab_signed_mail_via_proxy_passes_everything(lab: Lab) -> None:
    to = "kari@kunde-ok.example"
    key = key_for(lab.keys, "platform.visma.com")
    message = signed(key, make_message(PLATFORM, to))
    sock = proxied_socket(lab.sink.proxy_port, "platform.visma.com")
    async with aiosmtplib.SMTP(
        sock=sock, start_tls=False, local_hostname="mail-out.platform.visma.com"
    ) as client:
        await client.sendmail("bounce+1@platform.visma.com", [to], message)
    [stored] = await _stored(lab, to)
    assert stored.proxied
    assert stored.peer_ip == "198.51.100.10"
    results = stored.authentication_results
    assert "spf=pass" in results
    assert "dkim=pass" in results
    assert "dmarc=pass" in results
    assert stored.folder_for(to) == "inbox"
    assert stored.delivered_bytes.startswith(b"Authentication-Results: ")


async def test_legacy_identity_is_junked_by_dmarc_quarantine(lab: Lab) -> None:
    to = "kari@kunde-ok.example"
    key = key_for(lab.keys, "legacy.visma.example")
    message = signed(key, make_message(LEGACY, to))
    sock = proxied_socket(lab.sink.proxy_port, "legacy.visma.example")
    async with aiosmtplib.SMTP(sock=sock, start_tls=False) as client:
        await client.sendmail(LEGACY, [to], message)
    [stored] = await _stored(lab, to)
    data = stored.verdict["data"]
    assert data["dkim"][0]["result"] == "fail"
    assert (data["dmarc"]["result"], data["dmarc"]["policy"]) == ("fail", "quarantine")
    assert stored.folder_for(to) == "junk"


async def test_dmarc_reject_refuses_unsigned_mail_from_a_healthy_sender(lab: Lab) -> None:
    to = "kari@kunde-ok.example"
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await _send(lab.sink.port, PLATFORM, [to], make_message(PLATFORM, to))
    assert refused.value.code == 550
    assert "DMARC" in refused.value.message
    assert await _stored(lab, to) == []


async def test_store_and_delete_are_announced(lab: Lab) -> None:
    to = "kari@kunde-ok.example"
    with lab.sink.events.subscribe() as queue:
        await _send(lab.sink.port, OUTSIDER, [to], make_message(OUTSIDER, to))
        stored = await asyncio.wait_for(queue.get(), 5)
        await asyncio.to_thread(lab.sink.store.delete, [stored.data["id"]])
        deleted = await asyncio.wait_for(queue.get(), 5)
    assert stored.name == "stored"
    assert stored.data["mailboxes"] == [{"address": to, "folder": "inbox"}]
    assert (deleted.name, deleted.data) == ("deleted", {"count": 1})


def test_policy_file_entries_go_on_top_of_the_lab_policies(tmp_path: Path) -> None:
    policy_file = tmp_path / "policies.toml"
    policy_file.write_text(
        '[domains."kunde-ok.example"]\npreset = "user_unknown"\n'
        '[addresses."ola@extra.example"]\naction = "greylist"\n',
        encoding="utf-8",
    )
    book = sink_policies(Settings(lab=True, sink_policy_file=policy_file, sink_bounce_delay=5))
    assert book.for_recipient("kari@kunde-ok.example").reply.enhanced == "5.1.1"
    assert book.for_recipient("ola@extra.example").action is Action.GREYLIST
    assert book.for_domain("kunde-sprett.example").bounce_delay == 5
    plain = sink_policies(Settings(lab=False, sink_policy_file=policy_file))
    assert "kunde-sprett.example" not in plain.domains


def test_lab_policies_cover_the_design_table() -> None:
    book = lab_policies(bounce_delay=60)
    assert book.for_domain("kunde-blokkerer.example").reply.code == 550
    assert book.for_domain("kunde-greylist.example").action is Action.GREYLIST
    assert book.for_recipient("kari@kunde-ukjent.example").reply.enhanced == "5.1.1"
    assert book.for_domain("kunde-spam.example").action is Action.JUNK_UNLESS_ALLOWLISTED
    sprett = book.for_domain("kunde-sprett.example")
    assert (sprett.action, sprett.bounce_delay, sprett.bounce_reply.enhanced) == (
        Action.ACCEPT_THEN_BOUNCE,
        60,
        "5.2.2",
    )


def test_bounce_addresses_default_to_every_sender_domain() -> None:
    assert bounce_patterns(Settings()) == (
        "bounce+*@connect.visma.com",
        "bounce+*@platform.visma.com",
    )
    assert bounce_patterns(Settings(sink_bounce_addresses=["b+*@x.example"])) == ("b+*@x.example",)


BANNER = re.compile(
    r"maildiag sink: smtp 127\.0\.0\.1:(?P<smtp>\d+) http http://127\.0\.0\.1:(?P<http>\d+)"
)


def test_maildiag_sink_command_serves_smtp_and_http_on_port_0(
    lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, zone = lab_data
    monkeypatch.setenv("MAILDIAG_SECRET_KEY", SECRET_KEY)
    with lab_dns_in_thread(zone) as dns:
        command = [sys.executable, "-m", "maildiag", "--nameserver", dns.address, "sink"]
        command += ["--smtp-port", "0", "--http-port", "0", "--data", str(tmp_path)]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process:
            try:
                assert process.stdout is not None
                token_line = process.stdout.readline()  # where the API token is kept
                assert token_line.startswith("maildiag sink: the API token is in ")
                line = process.stdout.readline()
                match = BANNER.search(line)
                assert match, line
                to = "kari@kunde-ok.example"
                with smtplib.SMTP("127.0.0.1", int(match["smtp"]), timeout=10) as smtp:
                    smtp.sendmail(OUTSIDER, [to], make_message(OUTSIDER, to, "via the command"))
                url = f"http://127.0.0.1:{match['http']}/api/v1/sink/messages?to={to}"
                token = (tmp_path / "sink-api-token").read_text().strip()
                request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(request, timeout=10) as response:
                    listed = json.load(response)["messages"]
            finally:
                process.terminate()
                process.wait(timeout=15)
    assert [m["subject"] for m in listed] == ["via the command"]
    assert listed[0]["authentication_results"].startswith("sink.maildiag.localhost; spf=none")


async def test_judge_in_a_worker_process_gives_the_same_verdict(
    lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path
) -> None:
    data, keys, zone = lab_data
    async with lab_sink(data, keys, zone, tmp_path, sink_judge_processes=1) as lab:
        to = "kari@kunde-ok.example"
        message = signed(key_for(keys, "connect.visma.com"), make_message(CONNECT, to))
        sock = proxied_socket(lab.sink.proxy_port, "connect.visma.com")
        async with aiosmtplib.SMTP(sock=sock, start_tls=False) as client:
            await client.sendmail(CONNECT, [to], message)
        legacy = signed(key_for(keys, "legacy.visma.example"), make_message(LEGACY, to))
        sock = proxied_socket(lab.sink.proxy_port, "legacy.visma.example")
        async with aiosmtplib.SMTP(sock=sock, start_tls=False) as client:
            await client.sendmail(LEGACY, [to], legacy)
        stored = await _stored(lab, to)
    assert [m.verdict["data"]["dmarc"]["result"] for m in stored] == ["fail", "pass"]
    assert [m.folder_for(to) for m in stored] == ["junk", "inbox"]
    assert "dkim=pass header.d=connect.visma.com" in stored[1].authentication_results


async def test_a_worker_sends_the_header_summary_with_its_verdict(
    lab_data: tuple[Path, list[LabKey], Any],
) -> None:
    """The worker reads the summary beside the verdict, so the sink's loop hands it to no thread."""
    _data, keys, zone = lab_data
    to = "kari@kunde-ok.example"
    raw = signed(
        key_for(keys, "connect.visma.com"), make_message(CONNECT, to, "Nytt =?utf-8?q?passord?=")
    )
    facts = EnvelopeFacts(
        client_ip=LAB_EGRESS["connect.visma.com"], helo="", mail_from=CONNECT, rcpt_tos=()
    )
    with lab_dns_in_thread(zone, port=0) as dns:
        judge = ProcessJudge(
            [f"127.0.0.1:{dns.port}"], timeout=5.0, authserv_id="sink.test", processes=1
        )
        await judge.start()
        try:
            verdict = await judge(raw, facts)
            pids = judge.pids
            maps = [await asyncio.to_thread(Path(f"/proc/{pid}/maps").read_text) for pid in pids]
        finally:
            await judge.aclose()
    assert verdict.dmarc_result == "pass"
    assert verdict.summary == summarize_headers(raw)
    assert verdict.summary.subject == "Nytt passord"
    # the worker runs on uvloop: its loop's extension module is loaded there
    assert maps
    assert all(re.search(r"/uvloop/loop\.[^/\n]*\.so", m) for m in maps)


def test_a_worker_runs_on_uvloop_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where it is not installed
    loop = event_loop()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def judge_workers(marker: str = "") -> list[int]:
    """Live ``maildiag.sink.pool`` worker processes whose command line contains ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"maildiag.sink.pool" in args and marker.encode() in b" ".join(args) and state != "Z":
            found.append(int(cmdline.parent.name))
    return found


async def _wait_for(predicate: Any, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


def test_judge_processes_auto_is_one_worker_on_two_cpus() -> None:
    auto = Settings()
    assert auto.sink_judge_processes == "auto"
    assert judge_processes(auto, cpus=2) == 1
    assert judge_processes(auto, cpus=1) == 0
    assert judge_processes(auto, cpus=None) == (1 if (os.cpu_count() or 1) >= 2 else 0)
    assert judge_processes(auto, cpus=8, in_loop_dns_only=True) == 0
    assert judge_processes(Settings(sink_judge_processes=0), cpus=8) == 0
    assert judge_processes(Settings(sink_judge_processes=3), cpus=1) == 3
    assert judge_processes(Settings(sink_judge=False), cpus=8) == 0


async def test_a_killed_judge_worker_loses_no_message_and_is_replaced(
    lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path
) -> None:
    data, keys, zone = lab_data
    to = "kari@kunde-ok.example"
    key = key_for(keys, "platform.visma.com")
    async with lab_sink(data, keys, zone, tmp_path, sink_judge_processes=1) as lab:
        marker = lab.settings.nameservers[0]
        [worker] = judge_workers(marker)
        os.kill(worker, signal.SIGKILL)
        assert await _wait_for(lambda: not judge_workers(marker))
        for n in range(3):  # judged by the worker started in its place
            sock = proxied_socket(lab.sink.proxy_port, "platform.visma.com")
            async with aiosmtplib.SMTP(
                sock=sock, start_tls=False, local_hostname="mail-out.platform.visma.com"
            ) as client:
                await client.sendmail(
                    PLATFORM, [to], signed(key, make_message(PLATFORM, to, f"m{n}"))
                )
        stored = await _stored(lab, to)
        assert await _wait_for(lambda: len(judge_workers(marker)) == 1)
        assert judge_workers(marker) != [worker]
    assert sorted(m.summary.subject for m in stored) == ["m0", "m1", "m2"]
    assert all("dmarc=pass" in m.authentication_results for m in stored)
    assert all("judge_error" not in m.verdict.get("data", {}) for m in stored)
    assert judge_workers(marker) == []  # stopped with the sink


FACTS = EnvelopeFacts(client_ip="192.0.2.1", helo="x.example", mail_from="", rcpt_tos=())
RAW = b"From: a@x.example\r\nSubject: hi\r\n\r\nhi\r\n"


@contextlib.contextmanager
def silent_dns() -> Iterator[str]:
    """A UDP port that never answers: a judgment there waits for its DNS timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def _kill_while_judging(judge: ProcessJudge) -> asyncio.Task[Verdict]:
    [worker] = judge.pids
    pending = asyncio.create_task(judge(RAW, FACTS))
    await asyncio.sleep(0.3)  # the worker is waiting for DNS
    assert not pending.done()
    os.kill(worker, signal.SIGKILL)
    return pending


async def test_judgment_in_flight_when_its_worker_dies_is_made_in_loop() -> None:
    fallback = Verdict(authentication_results="sink.test; none", data={"in_loop": True})

    async def in_loop(raw: bytes, facts: EnvelopeFacts) -> Verdict:
        return fallback

    async def build() -> Judge:
        return in_loop

    with silent_dns() as dns:
        judge = ProcessJudge(
            [dns], timeout=5.0, authserv_id="sink.test", processes=1, fallback=build
        )
        await judge.start()
        first = judge.pids
        try:
            assert await (await _kill_while_judging(judge)) is fallback
            assert judge.failures == 1
            assert len(judge.pids) == 1
            assert judge.pids != first  # a new worker took its place
        finally:
            await judge.aclose()
    assert judge.pids == []


async def test_process_judge_without_fallback_raises_when_its_worker_dies() -> None:
    with silent_dns() as dns:
        judge = ProcessJudge([dns], timeout=5.0, authserv_id="sink.test", processes=1)
        await judge.start()
        try:
            with pytest.raises(JudgeWorkerDied):
                await (await _kill_while_judging(judge))
        finally:
            await judge.aclose()
    assert judge.pids == []


async def test_connection_limits_come_from_the_settings(
    lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path
) -> None:
    data, keys, zone = lab_data
    limits = {
        "sink_max_connections": 50,
        "sink_max_connections_per_client": 7,
        "sink_first_command_timeout": 12.5,
    }
    async with lab_sink(data, keys, zone, tmp_path, sink_judge=False, **limits) as lab:
        for server in lab.sink.servers:  # the relay, the PROXY listener and every demo MX
            config = server.config
            assert (
                config.max_connections,
                config.max_connections_per_client,
                config.first_command_timeout,
            ) == (50, 7, 12.5)
