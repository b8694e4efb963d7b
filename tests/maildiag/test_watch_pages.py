"""``/watch`` and ``/api/v1/watch`` in process on the lab: who may see them (support and admin;
a user gets 403, nobody signed in is sent to the login or gets 401), the timeline and the
changes as stored, escaping, and the cap on ``?rounds=``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa

from maildiag.watch import FAILED, CheckState, record_round
from tests.maildiag.test_checklist_api import Lab, LabFiles, make_lab_files, open_lab

LEGACY = "do.not.reply@legacy.visma.example"
HOSTILE = "<script>alert('x')</script>"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("watch-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lab(lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("watch-app")) as opened:
        engine: sa.Engine = opened.sessions.kw["bind"]
        start = dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)
        record_round(engine, start, 40, [CheckState(LEGACY, "dkim", "ok")])
        failed = CheckState(LEGACY, "dkim", "problem", ("dkim.key_mismatch", HOSTILE), FAILED)
        record_round(engine, start + dt.timedelta(hours=1), 41, [failed])
        yield opened


async def test_nobody_signed_in_is_sent_to_login_and_the_api_says_401(lab: Lab) -> None:
    lab.client.cookies.clear()
    page = await lab.client.get("/watch")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fwatch"
    assert (await lab.client.get("/api/v1/watch")).status_code == 401


async def test_a_user_is_refused(lab: Lab) -> None:
    lab.login("kari@kunde-ok.example")
    assert (await lab.client.get("/watch")).status_code == 403
    assert (await lab.client.get("/api/v1/watch")).status_code == 403


@pytest.mark.parametrize("who", ["support@visma.example", "admin@visma.example"])
async def test_staff_see_the_rounds_as_json(lab: Lab, who: str) -> None:
    lab.login(who)
    answer = await lab.client.get("/api/v1/watch")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    rounds = answer.json()["rounds"]
    assert [r["started_at"] for r in rounds] == [
        "2026-12-07T11:00:00+00:00",
        "2026-12-07T10:00:00+00:00",
    ]
    assert rounds[0]["events"] == [
        {
            "identity": LEGACY,
            "check": "dkim",
            "status": "problem",
            "codes": ["dkim.key_mismatch", HOSTILE],
            "change": "failed",
        }
    ]
    assert rounds[1]["events"] == []
    one = await lab.client.get("/api/v1/watch", params={"rounds": 1})
    assert len(one.json()["rounds"]) == 1


async def test_the_page_shows_the_timeline_and_the_change_escaped(lab: Lab) -> None:
    lab.login("support@visma.example")
    page = await lab.client.get("/watch", params={"lang": "en"})
    assert page.status_code == 200
    body = page.text
    assert 'id="watch-events"' in body
    assert "passed before, fails now" in body
    assert HOSTILE not in body
    assert "&lt;script&gt;" in body
    assert body.count('class="watch-cell watch-') == 2  # one check, two rounds
    assert 'class="watch-cell watch-problem watch-change"' in body
    nb = await lab.client.get("/watch", params={"lang": "nb"})
    assert "var i orden, feiler nå" in nb.text


@pytest.mark.parametrize("rounds", ["0", "201", "x"])
async def test_rounds_out_of_range_are_422(lab: Lab, rounds: str) -> None:
    lab.login("admin@visma.example")
    answer = await lab.client.get("/api/v1/watch", params={"rounds": rounds})
    assert answer.status_code == 422
