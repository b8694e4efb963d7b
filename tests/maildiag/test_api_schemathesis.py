"""The JSON API against its own OpenAPI schema: schemathesis generates requests for every
operation in ``/openapi.json`` (valid and invalid ones) and the app, in process over ASGI,
must never answer 5xx. The app runs on the lab: its DNS server and a sink, each on its own
thread and event loop, so the sink's API is in the schema too. The number of examples per
operation is bounded, so the whole run stays well under a minute."""

from __future__ import annotations

import smtplib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from maildiag.lab.dns import lab_dns_in_thread
from maildiag.lab.kit import lab_settings, prepare_lab
from maildiag.settings import Settings
from maildiag.web import create_app
from tests.maildiag.sink_lab import BEARER, SINK_TOKEN, make_message
from tests.maildiag.test_cli_checklist import sink_in_thread

EXAMPLES = 40  # per operation and generation mode
GENEROUS = "100000/minute"  # limits high enough that every request reaches the handler
EXPECTED_OPERATIONS = {  # at least these, so a schema that lost its paths cannot pass
    "GET /api/v1/spf",
    "GET /api/v1/check",
    "POST /api/v1/checklist",
    "GET /api/v1/sink/messages",
    "GET /api/v1/sink/messages/{message_id}",
    "DELETE /api/v1/sink/messages",
    "GET /api/v1/reports/domains/{domain}",
    "GET /api/v1/reports/records",
    "POST /api/v1/reports",
}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data = tmp_path_factory.mktemp("schemathesis-lab")
    keys, zone = prepare_lab(data)
    with lab_dns_in_thread(zone) as dns:
        base = Settings(
            lab=True,
            data_dir=data,
            database_url=f"sqlite:///{data / 'maildiag.sqlite3'}",
            dns_port=dns.port,
            smtp_port=0,
            sink_judge=False,
            rate_limit_per_ip=GENEROUS,
            rate_limit_per_address=GENEROUS,
            sink_api_token=SINK_TOKEN,
            allowed_hosts=[asgi.HOST],  # the Host schemathesis sends over ASGI
        )
        lab = lab_settings(base, keys)
        with sink_in_thread(lab, dns.address) as sink:
            _capture_some_mail(sink.port)
            app = create_app(lab.model_copy(update={"smtp_port": sink.port}), sink=sink)
            try:
                yield schemathesis.openapi.from_asgi("/openapi.json", app)
            finally:
                asgi.shutdown_lifespans()  # the app's shutdown, before its sink stops


def _capture_some_mail(port: int) -> None:
    """A plain and an HTML message in the sink, so message ids 1 and 2 exist."""
    sender, to = "do.not.reply@platform.visma.com", "kari@kunde-ok.example"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [to], make_message(sender, to))
        client.sendmail(sender, [to], make_message(sender, to, html="<p>Hei <b>Kari</b></p>"))


def _fuzz(strategy: Any, label: str, calls: Counter[str]) -> None:
    """Draw up to EXAMPLES cases from ``strategy``; each answer must not be a 5xx."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case: schemathesis.Case) -> None:
        # the sink's token (admin) on every call, so the sink's operations are reached
        response = case.call_and_validate(headers=BEARER, checks=[not_a_server_error])
        calls[f"{label} {response.status_code}"] += 1

    call()


async def test_the_run_reaches_the_sink_through_its_checks(api_schema: Any) -> None:
    """The fuzz run's token and Host pass the sink's checks, so its operations are reached
    (not only refused with 401 or 400)."""
    transport = httpx.ASGITransport(app=api_schema.app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{asgi.HOST}") as client:
        assert (await client.get("/api/v1/sink/messages", headers=BEARER)).status_code == 200
        assert (await client.get("/api/v1/sink/messages/1", headers=BEARER)).status_code == 200
        assert (await client.get("/api/v1/sink/messages")).status_code == 401


def test_no_operation_answers_5xx(api_schema: Any) -> None:
    """Every operation with its documented examples, then with generated valid and invalid
    input (schemathesis's positive and negative modes). Deletions go last, so the captured
    mail is there for the reads."""
    calls: Counter[str] = Counter()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        for strategy in api_schema.get_strategies_from_examples(operation):
            _fuzz(strategy, operation.label, calls)
        for mode in GenerationMode:
            try:
                _fuzz(operation.as_strategy(generation_mode=mode), operation.label, calls)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # no input to spoil
    assert {label.rsplit(" ", 1)[0] for label in calls} >= EXPECTED_OPERATIONS, calls
    assert all(int(label.rsplit(" ", 1)[1]) < 500 for label in calls)
    assert {label for label in calls if label.endswith(" 200")}, calls
