"""The checklist JSON API and the self-service page, in process through httpx.ASGITransport,
with the app wired to the lab: its DNS server on port 0, the sink as every demo MX, accounts
in a SQLite file. Also the lab harness the other checklist page tests use (``open_lab``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.dependencies.utils
import fastapi.routing
import httpx
import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import sessionmaker

import diag.checklist.build as checklist_build
import reset
from diag.checklist import ITEM_KEYS, STATUSES, split_address
from diag.errors import InputError
from diag.resolver import DnsPythonResolver, ZoneData
from maildiag.db import create_engine, migrate
from maildiag.lab.dns import LabDnsServer
from maildiag.lab.kit import LAB_PASSWORD, LabKey, lab_settings, prepare_lab
from maildiag.services.accounts import build_reset_services
from maildiag.services.inputs import clean_address, clean_domain, domain_target
from maildiag.settings import Settings
from maildiag.sink.service import run_sink
from maildiag.web import create_app, i18n
from maildiag.web.auth import SESSION_COOKIE
from maildiag.web.deps import close_limits
from maildiag.web.routes import checklist_api

SENDERS = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")
ACCOUNTS = (
    ("kari@kunde-ok.example", "user"),
    ("kari@kunde-nullmx.example", "user"),
    ("kari@kunde-blokkerer.example", "user"),
    ("support@visma.example", "support"),
    ("admin@visma.example", "admin"),
)
CHEAP_HASHER = {"time_cost": 1, "memory_cost": 64, "parallelism": 1}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class LabFiles:
    """Made once per test module: DKIM keys, the zone, and a migrated, seeded database."""

    keys: list[LabKey]
    zone: ZoneData
    database: Path


def make_lab_files(root: Path) -> LabFiles:
    keys, zone = prepare_lab(root)
    database = root / "template.sqlite3"
    engine = create_engine(f"sqlite:///{database}")
    migrate(engine)
    hasher = reset.PasswordHasher(**CHEAP_HASHER)
    now = dt.datetime.now(dt.UTC)
    with sessionmaker(engine)() as session, session.begin():
        for address, role in ACCOUNTS:
            reset.create_user(session, address, LAB_PASSWORD, hasher=hasher, now=now, role=role)
    engine.dispose()
    return LabFiles(keys, zone, database)


@dataclass
class Lab:
    client: httpx.AsyncClient
    settings: Settings
    sessions: sessionmaker[Any]
    app: Any

    def login(self, address: str) -> None:
        """Give the client a session cookie for ``address`` (the login page has its own tests)."""
        with self.sessions() as session, session.begin():
            user = reset.find_user(session, address)
            assert user is not None
            secret = reset.start_session(
                session, user, now=dt.datetime.now(dt.UTC), ttl=dt.timedelta(hours=1)
            )
            value = secret.reveal()
        self.client.cookies.set(SESSION_COOKIE, value)

    async def fresh(self) -> None:
        """Start a test on a shared lab: no cookies, no counted requests."""
        self.client.cookies.clear()
        await reset_limits(self.app)

    async def csrf(self, path: str) -> str:
        """Load the form at ``path`` (which sets the CSRF cookie) and return its token."""
        response = await self.client.get(path)
        assert response.status_code == 200, response.text
        match = _CSRF.search(response.text)
        assert match, "no CSRF token in the form"
        return match.group(1)


async def reset_limits(app: Any) -> None:
    found = getattr(app.state.maildiag, "limits", None)
    if found is not None:
        await found.self_service.reset()
        await found.domain_check.reset()
        await found.probe_targets.reset()
        await found.staff_check.reset()


@contextlib.asynccontextmanager
async def open_lab(files: LabFiles, tmp_path: Path, **overrides: Any) -> AsyncIterator[Lab]:
    """The app on the lab: DNS on port 0, the sink (lab policies) on port 0, a fresh copy of
    the seeded database; ``overrides`` change settings (rate limits)."""
    database = tmp_path / "maildiag.sqlite3"
    shutil.copyfile(files.database, database)
    dns = LabDnsServer(files.zone, host="127.0.0.1", port=0)
    await dns.start()
    base = Settings(
        lab=True,
        data_dir=tmp_path,
        database_url=f"sqlite:///{database}",
        dns_port=dns.port,
        smtp_port=0,
        sink_judge=False,
        **overrides,
    )
    settings = lab_settings(base, files.keys)
    engine = create_engine(settings.database)
    try:
        async with run_sink(settings, engine) as sink:
            settings = settings.model_copy(update={"smtp_port": sink.port})
            resolver = DnsPythonResolver([dns.address], timeout=2.0)
            app = create_app(settings, resolver=resolver)
            services = build_reset_services(settings, engine=engine)
            services.hasher = reset.PasswordHasher(**CHEAP_HASHER)
            app.state.maildiag.reset = services
            transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
            base = settings.public_base_url
            async with httpx.AsyncClient(transport=transport, base_url=base) as c:
                try:
                    yield Lab(c, settings, sessionmaker(engine, expire_on_commit=False), app)
                finally:
                    await services.limiter.aclose()
                    await close_limits(app)
    finally:
        engine.dispose()
        await dns.stop()


class _Noting:
    """A resolver that passes every query on and sets ``asked`` at the first."""

    def __init__(self, inner: Any, asked: asyncio.Event) -> None:
        self.inner = inner
        self.asked = asked

    async def query(self, name: str, rdtype: str) -> Any:
        self.asked.set()
        return await self.inner.query(name, rdtype)


def after_first_lookup(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, read: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """``read``, made to wait (5 s at most) until the app has asked its first DNS question:
    called before the lookups start, it waits in vain."""
    asked = asyncio.Event()
    state = lab.app.state.maildiag
    monkeypatch.setattr(state, "resolver", _Noting(state.resolver, asked))

    async def after(*args: Any) -> Any:
        await asyncio.wait_for(asked.wait(), 5)
        return await read(*args)

    return after


def items_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in data["items"]}


def without(text: str, *values: str) -> str:
    """``text`` with each value (and its URL/HTML-escaped forms) replaced by a placeholder."""
    for value in values:
        text = text.replace(value, "ADDRESS").replace(value.replace("@", "%40"), "ADDRESS")
    return _CSRF.sub('name="csrf_token" value="TOKEN"', text)


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("checklist-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_lab(
    lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("checklist-app")) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="module")
async def lab(shared_lab: Lab) -> Lab:
    await shared_lab.fresh()
    return shared_lab


def _post(lab: Lab, body: Any, **kwargs: Any) -> Any:
    return lab.client.post("/api/v1/checklist", json=body, **kwargs)


# --- the self audience ----------------------------------------------------------------------


async def test_self_checklist_json_shape(lab: Lab) -> None:
    response = await _post(lab, {"address": "kari@kunde-nullmx.example", "audience": "self"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) >= {"address", "audience", "items", "findings"}
    assert data["address"] == "kari@kunde-nullmx.example"
    assert data["audience"] == "self"
    for item in data["items"]:
        assert set(item) >= {"key", "status", "title", "evidence", "next_step"}
        assert item["key"] in ITEM_KEYS
        assert item["status"] in STATUSES
        assert item["title"]
    items = items_of(data)
    assert items["recipient.can_receive"]["status"] == "problem"
    assert "reset.requested" not in items
    assert "delivery.sent" not in items
    assert response.headers["cache-control"] == "no-store"


async def test_self_checklist_never_reads_accounts(lab: Lab) -> None:
    """A registered and an unregistered address of one domain get the same answer."""
    answers = []
    for address in ("kari@kunde-ok.example", "nobody@kunde-ok.example"):
        response = await _post(lab, {"address": address, "audience": "self", "lang": "en"})
        assert response.status_code == 200
        answers.append(without(response.text, address))
    assert answers[0] == answers[1]
    item = items_of((await _post(lab, {"address": "kari@kunde-ok.example"})).json())
    assert item["address.registered"]["status"] == "todo"


async def test_self_language(lab: Lab) -> None:
    body = {"address": "kari@kunde-nullmx.example"}
    nb = await _post(lab, {**body, "lang": "nb"})
    en = await _post(lab, {**body, "lang": "en"})
    assert items_of(nb.json()).keys() == items_of(en.json()).keys()
    assert nb.json()["items"][0]["title"] != en.json()["items"][0]["title"]


async def test_self_rate_limit_per_address_is_429_with_reason(
    lab_files: LabFiles, tmp_path: Path
) -> None:
    async with open_lab(lab_files, tmp_path, rate_limit_per_address="2/minute") as lab:
        answers = {}
        for address in ("kari@kunde-ok.example", "nobody@kunde-ok.example"):
            for _ in range(2):
                assert (await _post(lab, {"address": address})).status_code == 200
            over = await _post(lab, {"address": address})
            assert over.status_code == 429
            assert int(over.headers["retry-after"]) >= 1
            data = over.json()
            assert data["error"] == "rate_limited"
            assert data["limited_by"] == "address"
            assert data["reason"]
            answers[address] = (data["error"], data["limited_by"], data["reason"])
        assert answers["kari@kunde-ok.example"] == answers["nobody@kunde-ok.example"]
        # Case and spacing do not make a new address.
        again = await _post(lab, {"address": "  KARI@Kunde-OK.example "})
        assert again.status_code == 429


async def test_self_rate_limit_per_ip(lab_files: LabFiles, tmp_path: Path) -> None:
    async with open_lab(lab_files, tmp_path, rate_limit_per_ip="2/minute") as lab:
        for number in range(2):
            response = await _post(lab, {"address": f"user{number}@kunde-ok.example"})
            assert response.status_code == 200
        over = await _post(lab, {"address": "user9@kunde-ok.example"})
        assert over.status_code == 429
        assert over.json()["limited_by"] == "ip"


# --- roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("audience", ["support", "admin"])
async def test_staff_audiences_need_login(lab: Lab, audience: str) -> None:
    response = await _post(lab, {"address": "kari@kunde-ok.example", "audience": audience})
    assert response.status_code == 401
    assert "login" in response.json()["reason"]


@pytest.mark.parametrize(
    ("who", "audience", "status"),
    [
        ("kari@kunde-ok.example", "support", 403),
        ("kari@kunde-ok.example", "admin", 403),
        ("support@visma.example", "admin", 403),
        ("support@visma.example", "support", 200),
        ("admin@visma.example", "support", 200),
        ("admin@visma.example", "admin", 200),
    ],
)
async def test_staff_audiences_need_the_role(
    lab: Lab, who: str, audience: str, status: int
) -> None:
    lab.login(who)
    response = await _post(lab, {"address": "kari@kunde-ok.example", "audience": audience})
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["audience"] == audience


async def test_support_audience_sees_the_account(lab: Lab) -> None:
    lab.login("support@visma.example")
    known = await _post(lab, {"address": "kari@kunde-ok.example", "audience": "support"})
    unknown = await _post(lab, {"address": "nobody@kunde-ok.example", "audience": "support"})
    assert items_of(known.json())["address.registered"]["status"] == "ok"
    assert items_of(unknown.json())["address.registered"]["status"] == "problem"
    assert "reset.requested" in items_of(known.json())


@pytest.mark.parametrize("read", ["account_facts", "optional_user"])  # the account, the session
async def test_support_audience_reads_while_the_lookups_are_in_flight(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, read: str
) -> None:
    delayed = after_first_lookup(lab, monkeypatch, getattr(checklist_api, read))
    monkeypatch.setattr(checklist_api, read, delayed)
    lab.login("support@visma.example")
    response = await _post(lab, {"address": "kari@kunde-ok.example", "audience": "support"})
    assert response.status_code == 200, response.text
    items = items_of(response.json())
    assert items["address.registered"]["status"] == "ok"
    assert items["recipient.can_receive"]["status"] == "ok"
    assert items["delivery.accepted"]["evidence"]["rcpt_checked"] is True


async def test_a_staff_audience_without_a_session_cookie_asks_no_dns_question(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = asyncio.Event()
    state = lab.app.state.maildiag
    monkeypatch.setattr(state, "resolver", _Noting(state.resolver, asked))
    response = await _post(lab, {"address": "kari@kunde-ok.example", "audience": "support"})
    assert response.status_code == 401
    assert not asked.is_set()


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("kari@kunde-ok.example", 403)])
async def test_a_refused_caller_gets_no_account_read_and_no_probe(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, who: str | None, status: int
) -> None:
    done: list[str] = []

    async def read(*args: Any) -> Any:
        done.append("account")
        raise AssertionError("the account was read")

    async def probe(*args: Any, **kwargs: Any) -> Any:
        done.append("probe")
        raise AssertionError("the recipient was probed")

    monkeypatch.setattr(checklist_api, "account_facts", read)
    monkeypatch.setattr(checklist_build, "probe_recipient", probe)
    if who is None:
        lab.client.cookies.set(SESSION_COOKIE, "not-a-session-of-ours")
    else:
        lab.login(who)
    response = await _post(lab, {"address": "kari@kunde-ok.example", "audience": "support"})
    assert response.status_code == status, response.text
    assert done == []


async def test_the_checklist_api_hands_no_work_to_worker_threads(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[str] = []
    real = fastapi.dependencies.utils.run_in_threadpool

    async def noted(func: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(getattr(func, "__qualname__", repr(func)))
        return await real(func, *args, **kwargs)

    for module in (fastapi.dependencies.utils, fastapi.routing):
        monkeypatch.setattr(module, "run_in_threadpool", noted)
    response = await _post(lab, {"address": "kari@kunde-nullmx.example", "audience": "self"})
    assert response.status_code == 200
    assert handed == []  # each hand-off waits for a worker thread and the GIL, twice


async def test_support_audience_reads_pasted_headers(lab: Lab) -> None:
    lab.login("support@visma.example")
    headers = (
        "X-Forefront-Antispam-Report: CIP:198.51.100.10;SFV:SPM;SCL:5;CAT:SPM\r\n"
        "X-MS-Exchange-Organization-SCL: 5\r\n"
        "From: do.not.reply@platform.visma.com\r\nSubject: Nytt passord\r\n"
    )
    body = {"address": "kari@kunde-ok.example", "audience": "support", "headers": headers}
    response = await _post(lab, body)
    assert response.status_code == 200
    assert items_of(response.json())["spam.folder"]["status"] == "problem"


async def test_self_audience_refuses_pastes(lab: Lab) -> None:
    body = {"address": "kari@kunde-ok.example", "headers": "Subject: x\r\n"}
    response = await _post(lab, body)
    assert response.status_code == 422
    assert "headers" in response.text


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "address"),
        ({"address": ""}, "address"),
        ({"address": "x" * 300 + "@kunde-ok.example"}, "address"),
        ({"address": "not-an-address"}, "address"),
        ({"address": "kari@"}, "address"),
        ({"address": "kari@-bad-.example"}, "address"),
        ({"address": "kari@kunde-ok.example", "audience": "root"}, "audience"),
        ({"address": "kari@kunde-ok.example", "lang": "de"}, "lang"),
        ({"address": "kari@kunde-ok.example", "extra": 1}, "extra"),
        ({"address": ["kari@kunde-ok.example"]}, "address"),
        ({"address": "kari@kunde-ok.example", "headers": "x" * 100_000}, "headers"),
        (["kari@kunde-ok.example"], "dictionary"),
    ],
)
async def test_bad_fields_are_422_with_reason(lab: Lab, body: Any, reason: str) -> None:
    response = await _post(lab, body)
    assert response.status_code == 422, response.text
    data = response.json()
    assert data["error"] == "invalid_input"
    assert any(reason in r for r in data["reasons"]), data


@pytest.mark.parametrize(
    ("content", "kind", "status"),
    [
        (b'{"address": "kari@kunde-ok.example"', "application/json", 422),
        (b"\xff\xfe garbage", "application/json", 422),
        (b"", "application/json", 422),
        (b"address=kari@kunde-ok.example", "application/x-www-form-urlencoded", 415),
        (b'{"address": "kari@kunde-ok.example"}', "text/plain", 415),
    ],
)
async def test_malformed_bodies_are_4xx(lab: Lab, content: bytes, kind: str, status: int) -> None:
    response = await lab.client.post(
        "/api/v1/checklist", content=content, headers={"content-type": kind}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] in ("invalid_input", "http_error")


async def test_oversized_body_is_refused_unread(lab: Lab) -> None:
    big = b'{"address": "kari@kunde-ok.example", "headers": "' + b"a" * 200_000 + b'"}'
    response = await lab.client.post(
        "/api/v1/checklist", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["reason"]


async def test_body_without_length_is_refused(lab: Lab) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"address": "kari@kunde-ok.example"}'

    response = await lab.client.post(
        "/api/v1/checklist", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 411


# --- GET /api/v1/check ----------------------------------------------------------------------


async def test_check_domain_finds_the_sender_block(lab: Lab) -> None:
    lab.login("admin@visma.example")  # the SMTP probe needs an admin
    response = await lab.client.get("/api/v1/check", params={"domain": "kunde-blokkerer.example"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["audience"] == "admin"
    blocks = items_of(data)["recipient.blocks_sender"]
    assert blocks["status"] == "problem"
    assert "5.7.1" in str(blocks["evidence"])
    assert "550" in str(blocks["evidence"])
    assert all(sender in str(blocks["evidence"]) for sender in SENDERS)
    assert "RCPT TO" not in response.text  # a domain check stops after MAIL FROM


async def test_check_domain_healthy(lab: Lab) -> None:
    response = await lab.client.get("/api/v1/check", params={"domain": "Kunde-OK.example."})
    assert response.status_code == 200
    statuses = {i["key"]: i["status"] for i in response.json()["items"]}
    assert "problem" not in statuses.values(), statuses


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "domain"),
        ({"domain": ""}, "domain"),
        ({"domain": "x" * 300}, "domain"),
        ({"domain": "localhost"}, "single_label"),
        ({"domain": "-bad-.example"}, "label"),
        ({"domain": "a..example"}, "label"),
        ({"domain": "<script>.example"}, "label"),
    ],
)
async def test_check_domain_bad_input(lab: Lab, params: dict[str, str], reason: str) -> None:
    response = await lab.client.get("/api/v1/check", params=params)
    assert response.status_code == 422
    assert reason in response.text


async def test_check_domain_rate_limited(lab_files: LabFiles, tmp_path: Path) -> None:
    async with open_lab(lab_files, tmp_path, rate_limit_per_address="1/minute") as lab:
        params = {"domain": "kunde-nullmx.example"}
        assert (await lab.client.get("/api/v1/check", params=params)).status_code == 200
        over = await lab.client.get("/api/v1/check", params=params)
        assert over.status_code == 429
        assert over.json()["limited_by"] == "address"
        assert "retry-after" in over.headers
        # The self-service limits are separate counters.
        body = {"address": "kari@kunde-nullmx.example"}
        assert (await _post(lab, body)).status_code == 200


async def test_openapi_lists_the_api(lab: Lab) -> None:
    paths = (await lab.client.get("/openapi.json")).json()["paths"]
    assert "post" in paths["/api/v1/checklist"]
    assert "get" in paths["/api/v1/check"]


# --- /help/no-email -------------------------------------------------------------------------


async def _help(lab: Lab, address: str, **extra: str) -> httpx.Response:
    token = await lab.csrf("/help/no-email")
    return await lab.client.post(
        "/help/no-email", data={"csrf_token": token, "address": address, **extra}
    )


async def test_help_page_starts_with_the_seed_advice(lab: Lab) -> None:
    response = await lab.client.get("/help/no-email")
    assert response.status_code == 200
    text = response.text
    assert "søppelpost" in text
    assert "lønningsansvarlig" in text
    assert all(sender in text for sender in SENDERS)
    assert text.index("søppelpost") < text.index('name="address"')
    english = await lab.client.get("/help/no-email", params={"lang": "en"})
    assert "junk" in english.text


async def test_help_page_shows_the_self_checklist(lab: Lab) -> None:
    response = await _help(lab, "kari@kunde-nullmx.example")
    assert response.status_code == 200, response.text
    assert "recipient.can_receive" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert 'href="/check?domain=kunde-nullmx.example"' in response.text


async def test_help_page_does_not_tell_whether_an_account_exists(lab: Lab) -> None:
    pages = []
    for address in ("kari@kunde-ok.example", "nobody@kunde-ok.example"):
        response = await _help(lab, address)
        assert response.status_code == 200
        pages.append(without(response.text, address))
    assert pages[0] == pages[1]


async def test_help_page_needs_csrf(lab: Lab) -> None:
    await lab.client.get("/help/no-email")
    response = await lab.client.post("/help/no-email", data={"address": "kari@kunde-ok.example"})
    assert response.status_code == 403
    assert "csrf" in response.text.lower()


@pytest.mark.parametrize(
    "address",
    ["", "no-at-sign", "kari@" + "x" * 260, "kåri@kunde-ok.example", "<script>@x.example"],
)
async def test_help_page_bad_address_is_400(lab: Lab, address: str) -> None:
    response = await _help(lab, address)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert "<script>@" not in response.text


async def test_help_page_rate_limit_is_the_same_for_everyone(
    lab_files: LabFiles, tmp_path: Path
) -> None:
    async with open_lab(lab_files, tmp_path, rate_limit_per_address="1/minute") as lab:
        pages = []
        for address in ("kari@kunde-ok.example", "nobody@kunde-ok.example"):
            assert (await _help(lab, address)).status_code == 200
            over = await _help(lab, address)
            assert over.status_code == 429
            assert "retry-after" in over.headers
            pages.append(without(over.text, address))
        assert pages[0] == pages[1]
        assert 'role="alert"' in pages[0]


async def test_limits_are_made_once_per_app(lab: Lab) -> None:
    await _post(lab, {"address": "kari@kunde-ok.example"})
    first = lab.app.state.maildiag.limits
    await _post(lab, {"address": "kari@kunde-ok.example"})
    assert lab.app.state.maildiag.limits is first


# --- input checks (pure) --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300)
    | st.from_regex(r"[a-zA-Z0-9.<>\"' @-]{0,40}@[a-z0-9.-]{0,40}", fullmatch=True)
)
def _address_property(text: str) -> None:
    try:
        address, reasons = clean_address(text), ()
    except InputError as exc:
        address, reasons = "", (i18n.reason(exc, "en"), i18n.reason(exc, "nb"))
    if not address:
        assert all(reasons)
        return
    assert split_address(address)[1] == address.rpartition("@")[2]
    assert clean_address(address) == address


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.from_regex(r"[a-zA-Z0-9æøå._<>-]{0,70}", fullmatch=True))
def _domain_property(text: str) -> None:
    try:
        domain, reason = clean_domain(text), ""
    except InputError as exc:
        domain, reason = "", i18n.reason(exc, "en")
    if not domain:
        assert reason
        return
    assert domain.isascii()
    assert domain == domain.lower()
    assert len(domain) <= 253
    assert split_address(domain_target(domain))[1] == domain


async def test_clean_address_accepts_only_what_the_checklist_can_use() -> None:
    """Either a reasoned InputError, or an address the checklist engine accepts as is."""
    _address_property()


async def test_clean_domain_gives_a_domain_or_a_reason() -> None:
    _domain_property()
