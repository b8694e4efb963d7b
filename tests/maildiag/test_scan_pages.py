"""The scan page ``/scans/{id}`` and ``/api/v1/scans/{id}`` in process on the lab: admins
only (a login redirect or 401 without a session, 403 for user and support), the progress
of a scan still queued, the summary with its chart, the result table a page at a time, and
the scan's source escaped."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from diag.resolver import DnsPythonResolver
from maildiag.lab.zones import DEMO_DOMAINS
from maildiag.scans import create_scan
from maildiag.services.scans import PAGE_ROWS, run_recorded
from tests.maildiag.test_checklist_api import Lab, LabFiles, make_lab_files, open_lab

pytestmark = pytest.mark.asyncio(loop_scope="module")
HOSTILE = "<script>alert('x')</script>.txt"


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("scan-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_lab(
    lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("scan-app")) as opened:
        yield opened


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scans(shared_lab: Lab) -> tuple[int, int]:
    """A finished scan of the demo domains (each named twice, some over many pages) and a
    queued one nobody has started."""
    engine = shared_lab.app.state.maildiag.reset.engine
    now = dt.datetime.now(dt.UTC)
    names = [*DEMO_DOMAINS, *(f"nx{n}.kunde-ok.example" for n in range(PAGE_ROWS + 5))]

    def make(queued: bool) -> int:
        return create_scan(
            engine,
            [*names, *DEMO_DOMAINS],
            source=HOSTILE,
            fingerprint=f"test-{queued}",
            chunk_size=20,
            queued=queued,
            now=now,
        )

    done, queued = await asyncio.to_thread(make, False), await asyncio.to_thread(make, True)
    dns = shared_lab.settings.nameservers or [f"127.0.0.1:{shared_lab.settings.dns_port}"]
    await run_recorded(
        engine,
        done,
        lambda: DnsPythonResolver(dns, timeout=2.0),
        concurrency=10,
        allow_private=True,
    )
    return done, queued


@pytest_asyncio.fixture(loop_scope="module")
async def lab(shared_lab: Lab) -> Lab:
    await shared_lab.fresh()
    return shared_lab


@pytest.mark.parametrize("role", [None, "kari@kunde-ok.example", "support@visma.example"])
async def test_only_admins_see_a_scan(lab: Lab, scans: tuple[int, int], role: str | None) -> None:
    if role is not None:
        lab.login(role)
    page = await lab.client.get(f"/scans/{scans[0]}")
    api = await lab.client.get(f"/api/v1/scans/{scans[0]}")
    if role is None:
        assert page.status_code == 303
        assert page.headers["location"] == f"/login?next=%2Fscans%2F{scans[0]}"
        assert api.status_code == 401
    else:
        assert page.status_code == 403
        assert api.status_code == 403
    assert "kunde-nullmx.example" not in page.text + api.text  # a scanned domain


async def test_a_finished_scan_shows_its_summary_and_results(
    lab: Lab, scans: tuple[int, int]
) -> None:
    lab.login("admin@visma.example")
    api = (await lab.client.get(f"/api/v1/scans/{scans[0]}?lang=en")).json()
    total = len(DEMO_DOMAINS) + PAGE_ROWS + 5
    assert api["state"] == "done"
    assert api["total"] == api["done"] == total
    assert api["summary"]["entries"] == total + len(DEMO_DOMAINS)
    assert api["summary"]["problems"]["mx.null_mx"] == 1
    assert api["summary"]["problems"]["mx.domain_missing"] == PAGE_ROWS + 5
    page = await lab.client.get(f"/scans/{scans[0]}?lang=en")
    assert page.status_code == 200
    html = page.text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="scan-chart"' in html
    assert '<title id="scan-chart-title">Domains by mail provider</title>' in html
    assert "no mail server" in html  # the null MX domain, by name not by id
    assert ">generic<" not in html
    assert ">unknown<" not in html
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
    assert html.count('<td data-label="Domain">') == PAGE_ROWS
    assert 'href="?page_no=2"' in html
    second = (await lab.client.get(f"/scans/{scans[0]}?lang=en&page_no=2")).text
    assert second.count('<td data-label="Domain">') == total - PAGE_ROWS
    assert '<script src="/static/scan.js" defer></script>' in html


async def test_a_queued_scan_shows_its_progress(lab: Lab, scans: tuple[int, int]) -> None:
    lab.login("admin@visma.example")
    page = await lab.client.get(f"/scans/{scans[1]}?lang=nb")
    assert page.status_code == 200
    assert 'data-state="queued"' in page.text
    assert "i kø" in page.text
    assert '<progress id="scan-bar" max="' in page.text
    api = (await lab.client.get(f"/api/v1/scans/{scans[1]}")).json()
    assert (api["state"], api["done"]) == ("queued", 0)


async def test_no_such_scan(lab: Lab, scans: tuple[int, int]) -> None:
    lab.login("admin@visma.example")
    assert (await lab.client.get("/scans/999999")).status_code == 404
    assert (await lab.client.get("/api/v1/scans/999999")).status_code == 404
    assert (await lab.client.get("/scans/0")).status_code == 422
    assert (await lab.client.get("/scans/abc")).status_code == 422
